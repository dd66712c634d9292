#include "vmm/nested/nested.h"
#include "vmm/nested/fieldsets.h"
#include "vmm/nested/operand.h"
#include "vmm/nested/vmcs02.h"
#include "vmm/nested/vmx_msrs.h"
#include "vmm/memfault.h"
#include "vmm/gva.h"
#include "vmm/nmi.h"
#include "vmm/nested/ept02.h"
#include "vmm/pmm.h"
#include "vmm/vm.h"
#include "arch/x86/cpu_bits.h"
#include "arch/x86/exit_reasons.h"
#include "arch/x86/physmem.h"
#include "arch/x86/vmx.h"
#include "arch/x86/vmx_bits.h"
#include "lib/log.h"
#include "lib/string.h"

bool nested_l1_wants_nmi_exits(const struct vcpu *v)
{
    return VMCS12(v->nested->cache, PIN_BASED_VM_EXEC_CONTROL) & PIN_NMI_EXITING;
}

void nested_global_init(struct vm *vm)
{
    /* Shared by every vCPU and read on each one's hot path: computed once,
     * here, before any AP runs. */
    fieldsets_init(nested_shadowing_used(vm), vm->caps->vmwrite_any_field,
                   vm->caps->proc2.may1 & PROC2_ENABLE_PML);
    nested_vmx_offer_apicv(vm->cfg.apicv);
    nested_vmx_msrs_init(vm->caps);
    struct ept12_caps ept;
    nested_ept12_caps(vm->host_mtrr.phys_addr_mask | 0xfffULL, &ept);
    ept02_set_caps(&ept);
    nested_install_insn_handlers();
}

uint64_t nested_l2_ept_access(uint64_t eptp12, unsigned access)
{
    uint64_t a = (access & GVA_ACCESS_READ ? EPT_READ : 0) | (access & GVA_ACCESS_WRITE ? EPT_WRITE : 0) |
                 (access & GVA_ACCESS_FETCH ? EPT_EXEC : 0);
    /* With EPT A/D flags, guest paging-structure accesses are writes for
     * EPT (SDM 29.3.5) and reads too (Table 28-7, note 1). */
    if ((access & GVA_ACCESS_WALK) && (eptp12 & EPTP_AD_ENABLE))
        a |= EPT_READ | EPT_WRITE;
    return a;
}

bool nested_l2_guest_phys(uint64_t gpa, unsigned access, uint64_t *l1_gpa)
{
    struct percpu *pc = this_cpu();
    struct vcpu *v = pc ? pc->vcpu : 0;
    *l1_gpa = gpa;
    if (!v || !v->in_l2 || !v->nested || !vmcs12_ept_enabled(v->nested->cache))
        return true;
    struct nested_vmx *n = v->nested;
    uint64_t eptp12 = VMCS12(n->cache, EPT_POINTER);
    struct ept12_walk w;
    struct ept02_pml pml, *log = nested_pml_begin(n->cache, &pml);
    enum ept02_access a = ept02_l2_access(n->ept02, eptp12, gpa, nested_l2_ept_access(eptp12, access), log,
                                          l1_gpa, &w);
    nested_pml_end(n->cache, log);
    return a == EPT02_ACCESS_OK;
}

static void *alloc_zeroed(uint64_t bytes)
{
    uint64_t pa = pmm_alloc((bytes + PAGE_SIZE - 1) / PAGE_SIZE);
    return pa ? phys_to_virt(pa) : 0;
}

bool nested_init(struct vm *vm, struct vcpu *v, unsigned ept02_pages)
{
    struct nested_vmx *n = alloc_zeroed(sizeof(*n));
    if (!n)
        return false;
    n->vcpu = v;
    v->nested = n;
    n->current = VMCS_LINK_NONE;
    nested_bitmaps_init(&n->bitmaps);
    n->cache = alloc_zeroed(PAGE_SIZE);
    n->ept02 = alloc_zeroed(sizeof(*n->ept02));
    return n->cache && n->ept02 && vmcs02_create(v) && shadow_init(vm, n) && ept02_init(n->ept02, ept02_pages);
}

/* The hardware refused to enter vmcs02 with a guest-state failure that
 * L0's checks missed: L1 sees the entry fail. */
static void vmcs02_entry_failure_exit(struct vcpu *v, uint32_t reason)
{
    struct nested_vmx *n = v->nested;
    uint64_t qual = vmcs_read(VMCS_EXIT_QUALIFICATION);
    n->stats.vmcs02_hw_failures++;
    log_error("BUG: vmcs02 entry failed with reason %u, qualification %llu, although vmcs12 passed L0's checks\n",
              reason & EXIT_REASON_BASIC_MASK, (unsigned long long)qual);
    if (n->entry_was_launch)
        n->cache->launch_state = VMCS12_CLEAR;
    n->vmcs02_for_current = false;
    nested_entry_failure(v, reason & EXIT_REASON_BASIC_MASK, qual);
}

/* An EPT violation of L2 running on EPT02 (SDM 29.3.3.2 for EPT12). */
static enum l2_exit_outcome ept02_exit(struct vcpu *v)
{
    struct nested_vmx *n = v->nested;
    uint64_t eptp12 = VMCS12(n->cache, EPT_POINTER);
    uint64_t gpa = vmcs_read(VMCS_GUEST_PHYSICAL_ADDRESS);
    uint64_t q = vmcs_read(VMCS_EXIT_QUALIFICATION);
    struct ept02_fault f;
    struct ept02_pml pml, *log = nested_pml_begin(n->cache, &pml);
    ept02_handle_violation(n->ept02, eptp12, gpa, q, log, &f);
    nested_pml_end(n->cache, log);
    enum l2_exit_outcome outcome;
    switch (f.outcome) {
    case EPT02_FILLED:
        /* A reclaim may have given the shadow a new root. */
        vmcs_write(VMCS_EPT_POINTER, ept02_eptp_for(n->ept02, eptp12));
        return L2_EXIT_HANDLED;
    case EPT02_PML_FULL:
        /* SDM 28.2.1: only bit 12 (NMI unblocking due to IRET) is defined. */
        nested_vmexit(v, EXIT_REASON_PML_FULL, q & EPT_QUAL_NMI_UNBLOCKING);
        return L2_EXIT_REFLECTED;
    case EPT02_REFLECT_VIOLATION:
        if (f.convertible && nested_ept_violation_ve(v, gpa, f.qualification, &outcome))
            return outcome;
        n->prefault.pending = true;
        n->prefault.vmcs12 = n->current;
        n->prefault.gpa = gpa;
        n->prefault.qualification = q;
        n->prefault.rip = vmcs_read(VMCS_GUEST_RIP);
        nested_vmexit(v, EXIT_REASON_EPT_VIOLATION, f.qualification);
        return L2_EXIT_REFLECTED;
    case EPT02_REFLECT_MISCONFIG:
        nested_vmexit(v, EXIT_REASON_EPT_MISCONFIG, 0);
        return L2_EXIT_REFLECTED;
    case EPT02_WRITE_EMULATED: /* into a merged bitmap: done, RIP moved on */
        break;
    case EPT02_L1_HIDDEN:
        memfault_contain(v, f.l1_gpa, q);
    }
    return L2_EXIT_HANDLED;
}

/* L2's VMREAD/VMWRITE: L1's if it asks for it (the rule of reflect.c),
 * else L0 does it against the shadow vmcs12 (shadow12.c; a fault or MTF
 * may still take L1 there). */
static enum l2_exit_outcome l2_vmcs_access(struct vcpu *v, bool write)
{
    struct nested_vmx *n = v->nested;
    struct vmx_access a;
    vmx_access_decode(v, &a);
    const uint8_t *bitmap = write ? n->shadow12.vmwrite_bitmap : n->shadow12.vmread_bitmap;
    if (nested_vmcs_bitmap_exits(n->cache, bitmap, a.encoding)) {
        nested_vmexit(v, NESTED_EXIT_AS_IS, 0);
        return L2_EXIT_REFLECTED;
    }
    if (write)
        nested_l2_vmwrite(v, &a);
    else
        nested_l2_vmread(v, &a);
    return v->in_l2 ? L2_EXIT_HANDLED : L2_EXIT_REFLECTED;
}

enum l2_exit_outcome nested_l2_exit(struct vcpu *v, uint32_t reason)
{
    struct nested_vmx *n = v->nested;
    if (reason & EXIT_REASON_FAILED_ENTRY) {
        vmcs02_entry_failure_exit(v, reason);
        return L2_EXIT_REFLECTED;
    }
    struct l2_exit e = {.reason = reason & EXIT_REASON_BASIC_MASK};
    switch (e.reason) {
    case EXIT_REASON_EXCEPTION_NMI:
        e.intr_info = vmcs_read32(VMCS_VM_EXIT_INTR_INFO);
        e.intr_error = vmcs_read32(VMCS_VM_EXIT_INTR_ERROR_CODE);
        /* L0's nudge, or an NMI of L1's for L2 that L1 does not exit on. */
        if ((e.intr_info & INTR_INFO_TYPE_MASK) == INTR_TYPE_NMI &&
            nmi_exit_l2(v, nested_l1_wants_nmi_exits(v)))
            return L2_EXIT_HANDLED;
        break;
    case EXIT_REASON_NMI_WINDOW:
        /* L0's own window for an NMI it holds (nmi.c), unless L1's too. */
        if (!(VMCS12(n->cache, CPU_BASED_VM_EXEC_CONTROL) & PROC_NMI_WINDOW_EXITING)) {
            handle_nmi_window(v);
            return L2_EXIT_HANDLED;
        }
        break;
    case EXIT_REASON_EPT_VIOLATION:
        return vmcs12_ept_enabled(n->cache) ? ept02_exit(v) : L2_EXIT_FOR_L0;
    case EXIT_REASON_VMFUNC:
        return nested_vmfunc(v);
    case EXIT_REASON_EPT_MISCONFIG:
        if (!vmcs12_ept_enabled(n->cache))
            return L2_EXIT_FOR_L0;
        log_error("BUG: EPT misconfiguration in a shadow EPT02 at 0x%llx; dropping the shadows\n",
                  (unsigned long long)vmcs_read(VMCS_GUEST_PHYSICAL_ADDRESS));
        ept02_flush_all(n->ept02);
        vmcs_write(VMCS_EPT_POINTER, ept02_eptp_for(n->ept02, VMCS12(n->cache, EPT_POINTER)));
        return L2_EXIT_HANDLED;
    case EXIT_REASON_CR_ACCESS:
        e.qualification = vmcs_read(VMCS_EXIT_QUALIFICATION);
        e.cr_source = CR_QUAL_TYPE(e.qualification) == CR_ACCESS_LMSW
                          ? CR_QUAL_LMSW_DATA(e.qualification)
                          : guest_gpr_read(v, CR_QUAL_GPR(e.qualification));
        break;
    case EXIT_REASON_IO_INSTRUCTION:
        e.qualification = vmcs_read(VMCS_EXIT_QUALIFICATION);
        break;
    case EXIT_REASON_MSR_READ:
    case EXIT_REASON_MSR_WRITE:
        e.msr = (uint32_t)v->regs.rcx;
        break;
    case EXIT_REASON_VMREAD:
        return l2_vmcs_access(v, false);
    case EXIT_REASON_VMWRITE:
        return l2_vmcs_access(v, true);
    default:
        break;
    }
    if (!nested_exit_wanted_by_l1(n->cache, &e))
        return L2_EXIT_FOR_L0;
    nested_vmexit(v, NESTED_EXIT_AS_IS, 0);
    return L2_EXIT_REFLECTED;
}

static const char *field_name(unsigned i)
{
    static const char *const names[VMCS_FIELD_COUNT] = {
#define VMCS_FIELD_NAME(name, enc, flags) [VMCS_IDX_##name] = #name,
        VMCS_FIELD_LIST(VMCS_FIELD_NAME)
#undef VMCS_FIELD_NAME
    };
    return names[i];
}

void nested_print_stats(const struct vm *vm)
{
    /* Summed over the vCPUs that have nested state. */
    static struct nested_stats sum;
    struct ept02_stats e = {0};
    const struct nested_vmx *any = 0;
    memset(&sum, 0, sizeof(sum));
    for (unsigned c = 0; c < vm->vcpu_count; c++) {
        const struct nested_vmx *n = vm->vcpus[c].nested;
        if (!n)
            continue;
        any = n;
        for (unsigned i = 0; i < VMCS_FIELD_COUNT; i++) {
            sum.vmread_exits[i] += n->stats.vmread_exits[i];
            sum.vmwrite_exits[i] += n->stats.vmwrite_exits[i];
        }
        sum.vmcs02_hw_failures += n->stats.vmcs02_hw_failures;
        sum.bitmap_writes_emulated += n->stats.bitmap_writes_emulated;
        sum.bitmap_pages_released += n->stats.bitmap_pages_released;
        sum.bitmap_writes_unprotected += n->stats.bitmap_writes_unprotected;
        sum.l2_vmreads += n->stats.l2_vmreads;
        sum.l2_vmwrites += n->stats.l2_vmwrites;
        const struct ept02_stats *s2 = &n->ept02->stats;
        e.fills += s2->fills;
        e.prefaults += s2->prefaults;
        e.reflected += s2->reflected;
        e.misconfigs += s2->misconfigs;
        e.hidden += s2->hidden;
        e.roots_created += s2->roots_created;
        e.roots_reclaimed += s2->roots_reclaimed;
        e.pool_reclaims += s2->pool_reclaims;
    }
    if (!any)
        return;
    log_raw("nested: L1's VMREAD/VMWRITE that exited to L0, per field (shadowing %s):\n",
            any->shadow_enabled ? "on" : "off");
    unsigned shown = 0;
    for (unsigned i = 0; i < VMCS_FIELD_COUNT; i++) {
        if (!sum.vmread_exits[i] && !sum.vmwrite_exits[i])
            continue;
        log_raw("  %-32s %6s VMREAD %10llu  VMWRITE %10llu\n", field_name(i),
                (vmcs12_fields[i].flags & FIELD_SHADOW) ? "hot" : "",
                (unsigned long long)sum.vmread_exits[i], (unsigned long long)sum.vmwrite_exits[i]);
        shown++;
    }
    if (!shown)
        log_raw("  none\n");
    if (e.roots_created)
        log_raw("nested: EPT02 fills %llu (+%llu at VMRESUME), violations reflected %llu, "
                "misconfigurations %llu, hidden %llu, roots %llu (reclaimed %llu), pool reclaims %llu\n",
                (unsigned long long)e.fills, (unsigned long long)e.prefaults,
                (unsigned long long)e.reflected, (unsigned long long)e.misconfigs,
                (unsigned long long)e.hidden, (unsigned long long)e.roots_created,
                (unsigned long long)e.roots_reclaimed, (unsigned long long)e.pool_reclaims);
    if (sum.bitmap_writes_emulated || sum.bitmap_writes_unprotected || sum.bitmap_pages_released)
        log_raw("nested: stores into merged bitmap pages: %llu done by L0, %llu lifted the protection; "
                "%llu pages no longer merged released\n",
                (unsigned long long)sum.bitmap_writes_emulated, (unsigned long long)sum.bitmap_writes_unprotected,
                (unsigned long long)sum.bitmap_pages_released);
    if (sum.l2_vmreads || sum.l2_vmwrites)
        log_raw("nested: L2's VMREAD/VMWRITE done by L0 under L1's VMCS shadowing: %llu VMREAD, %llu VMWRITE\n",
                (unsigned long long)sum.l2_vmreads, (unsigned long long)sum.l2_vmwrites);
    if (sum.vmcs02_hw_failures)
        log_raw("nested: %llu vmcs02 entries refused by the CPU after passing L0's checks (bugs)\n",
                (unsigned long long)sum.vmcs02_hw_failures);
}
