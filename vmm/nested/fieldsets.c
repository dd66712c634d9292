#include "vmm/nested/fieldsets.h"
#include "vmm/nested/vmcs12.h"
#include "arch/x86/vmx.h"

struct field_sets fieldsets;

static void add(struct field_set *s, unsigned i) { s->idx[s->count++] = (uint8_t)i; }

/* The nested hot path's copies: counts and pointers in locals, so that the
 * stores into vmcs12 do not make the compiler reload them every field. */
void fieldset_read(struct vmcs12 *c, const struct field_set *s)
{
    const unsigned count = s->count;
    const uint8_t *idx = s->idx;
    for (unsigned i = 0; i < count; i++) {
        unsigned f = idx[i];
        c->field[f] = vmcs_read((enum vmcs_field)vmcs12_fields[f].encoding);
    }
}

void fieldset_write(const struct vmcs12 *c, const struct field_set *s)
{
    const unsigned count = s->count;
    const uint8_t *idx = s->idx;
    for (unsigned i = 0; i < count; i++) {
        unsigned f = idx[i];
        vmcs_write((enum vmcs_field)vmcs12_fields[f].encoding, c->field[f]);
    }
}

bool field_in_set(const struct field_set *s, unsigned idx)
{
    for (unsigned i = 0; i < s->count; i++)
        if (s->idx[i] == idx)
            return true;
    return false;
}

/* Guest-state fields that pass between vmcs12 and vmcs02 as they are;
 * EFER, PAT, debug state and PDPTEs follow the entry/exit controls, the
 * link pointer is L0's, and the guest PML index is vmcs12's alone: L0
 * logs for L1 (eptfeat.c) and never enables PML in vmcs02. */
static bool plain_guest_field(unsigned i)
{
    const struct vmcs12_field_info *f = &vmcs12_fields[i];
    if (vmcs_enc_type(f->encoding) != VMCS_TYPE_GUEST || (f->flags & FIELD_L0_ONLY))
        return false;
    switch (i) {
    case VMCS_IDX_VMCS_LINK_POINTER:
    case VMCS_IDX_GUEST_IA32_EFER:
    case VMCS_IDX_GUEST_IA32_PAT:
    case VMCS_IDX_GUEST_IA32_DEBUGCTL:
    case VMCS_IDX_GUEST_DR7:
    case VMCS_IDX_GUEST_IA32_PERF_GLOBAL_CTRL:
    case VMCS_IDX_GUEST_PDPTE0:
    case VMCS_IDX_GUEST_PDPTE1:
    case VMCS_IDX_GUEST_PDPTE2:
    case VMCS_IDX_GUEST_PDPTE3:
    case VMCS_IDX_GUEST_PML_INDEX:
        return false;
    default:
        return true;
    }
}

/* Not shadowed, but read by the entry checks that run on every VMRESUME
 * (CS/SS selectors and limits, SS base, pending debug exceptions): L2
 * changes them without L1 seeing it, so every exit brings them back and
 * the checks never combine new hot values with an older copy. vmcs02 needs
 * them only when rebuilt: L1 cannot change them without a trapped VMWRITE,
 * which forces that. */
static bool checked_every_entry(unsigned i)
{
    switch (i) {
    case VMCS_IDX_GUEST_CS_SELECTOR:
    case VMCS_IDX_GUEST_CS_LIMIT:
    case VMCS_IDX_GUEST_SS_SELECTOR:
    case VMCS_IDX_GUEST_SS_BASE:
    case VMCS_IDX_GUEST_SS_LIMIT:
    case VMCS_IDX_GUEST_PENDING_DBG_EXCEPTIONS:
        return true;
    default:
        return false;
    }
}

void fieldsets_init(bool shadow, bool ro_shadowable, bool pml_field)
{
    struct field_sets *fs = &fieldsets;
    *fs = (struct field_sets){0};
    for (unsigned i = 0; i < VMCS_FIELD_COUNT; i++) {
        const struct vmcs12_field_info *f = &vmcs12_fields[i];
        bool hot = (f->flags & FIELD_SHADOW) && !(f->flags & FIELD_L0_ONLY);
        /* The guest PML index exists in a (shadow) VMCS only on a CPU with
         * PML; L0 logs for L1 (eptfeat.c) while L2 runs, so a nested exit
         * changes it. */
        bool pml_index = i == VMCS_IDX_GUEST_PML_INDEX;
        hot = hot && (!pml_index || pml_field);
        bool ro = vmcs_enc_type(f->encoding) == VMCS_TYPE_READONLY;
        if (shadow && hot && (!ro || ro_shadowable))
            add(&fs->shadow_read, i);
        if (shadow && hot && !ro)
            add(&fs->shadow_write, i);
        if (plain_guest_field(i))
            add(hot ? &fs->guest_hot : &fs->guest_rare, i);
        if (plain_guest_field(i) && !hot && checked_every_entry(i))
            add(&fs->guest_checked, i);
        /* A nested exit changes exit information, hot guest state, the
         * entry interruption info (valid bit cleared) and entry controls
         * (IA-32e mode). */
        bool changed_by_exit = ro || (hot && plain_guest_field(i)) || pml_index ||
                               i == VMCS_IDX_VM_ENTRY_INTR_INFO_FIELD || i == VMCS_IDX_VM_ENTRY_CONTROLS;
        if (shadow && hot && (!ro || ro_shadowable) && changed_by_exit)
            add(&fs->exit_push, i);
    }
}
