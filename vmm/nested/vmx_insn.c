/* L1's VMX instructions, emulated in the SDM's order of checks (SDM Vol.
 * 3C ch. 31): faults first (#UD, #GP), then VMfailInvalid / VMfailValid
 * with the VM-instruction error numbers of SDM 31.4. VMLAUNCH/VMRESUME
 * are in entry.c. */
#include "vmm/nested/nested.h"
#include "vmm/nested/operand.h"
#include "vmm/nested/vmx_msrs.h"
#include "vmm/nested/ept02.h"
#include "vmm/vm.h"
#include "vmm/sipi.h"
#include "vmm/exit.h"
#include "arch/x86/cpu_bits.h"
#include "arch/x86/exit_reasons.h"
#include "arch/x86/physmem.h"
#include "arch/x86/vmx.h"
#include "arch/x86/vmx_bits.h"
#include "lib/string.h"

#define RFLAGS_ARITH (RFLAGS_CF | RFLAGS_PF | RFLAGS_AF | RFLAGS_ZF | RFLAGS_SF | RFLAGS_OF)
#define INV_DESC_SIZE 16
#define INVVPID_VPID_MASK 0xffffULL
#define CANONICAL_BITS 48

static struct nested_vmx *nested_of(struct vcpu *v) { return v->nested; }

bool nested_has_current(const struct vcpu *v) { return v->nested->current != VMCS_LINK_NONE; }

static void set_arith_flags(uint64_t set)
{
    uint64_t rflags = vmcs_read(VMCS_GUEST_RFLAGS);
    vmcs_write(VMCS_GUEST_RFLAGS, (rflags & ~RFLAGS_ARITH) | set);
}

void nested_vmsucceed(struct vcpu *v)
{
    set_arith_flags(0);
    vcpu_skip_instruction(v);
}

bool nested_vmwrite_allowed(struct vcpu *v, enum vmcs12_status status)
{
    switch (status) {
    case VMCS12_UNSUPPORTED:
        nested_vmfail_valid(v, VMXERR_UNSUPPORTED_VMCS_COMPONENT);
        return false;
    case VMCS12_READ_ONLY:
        nested_vmfail_valid(v, VMXERR_VMWRITE_READ_ONLY_COMPONENT);
        return false;
    case VMCS12_OK:
        break;
    }
    return true;
}

void nested_vmfail_invalid(struct vcpu *v)
{
    set_arith_flags(RFLAGS_CF);
    vcpu_skip_instruction(v);
}

/* The error goes into the current VMCS (SDM 31.2): for L2's VMREAD/VMWRITE
 * under L1's shadowing that is vmcs12, not the shadow vmcs12; L1 sees it
 * after the next nested exit (its shadow field is pushed then). */
void nested_vmfail_valid(struct vcpu *v, uint32_t error)
{
    struct nested_vmx *n = nested_of(v);
    VMCS12(n->cache, VM_INSTRUCTION_ERROR) = error;
    if (!v->in_l2)
        shadow_push_field(n, VMCS_IDX_VM_INSTRUCTION_ERROR);
    set_arith_flags(RFLAGS_ZF);
    vcpu_skip_instruction(v);
}

void nested_vmfail(struct vcpu *v, uint32_t error)
{
    if (nested_has_current(v))
        nested_vmfail_valid(v, error);
    else
        nested_vmfail_invalid(v);
}

/* #UD outside VMX operation, in real/virtual-8086/compatibility mode; #GP
 * at CPL > 0 (SDM 31.3, every VMX instruction's "Operation"). */
bool nested_mode_allows_vmx(void)
{
    uint64_t cr0 = vmcs_read(VMCS_GUEST_CR0);
    uint64_t efer = vmcs_read(VMCS_GUEST_IA32_EFER);
    if (!(cr0 & CR0_PE) || (vmcs_read(VMCS_GUEST_RFLAGS) & RFLAGS_VM))
        return false;
    return !((efer & EFER_LMA) && !(vmcs_read32(VMCS_GUEST_CS_AR_BYTES) & AR_L));
}

bool nested_vmx_insn_allowed(struct vcpu *v)
{
    if (!v->nested->vmxon || !nested_mode_allows_vmx()) {
        vcpu_inject_ud(v);
        return false;
    }
    if (vcpu_cpl() > 0) {
        vcpu_inject_gp(v);
        return false;
    }
    return true;
}

/* A VMCS region address L1 may use: 4 KiB aligned, within the physical
 * address width, and L1's own RAM (SDM 31.3 "invalid physical address"). */
static bool region_address_valid(uint64_t pa)
{
    uint64_t width_mask = the_vm.host_mtrr.phys_addr_mask | 0xfffULL;
    return !(pa & 0xfff) && !(pa & ~width_mask) && vm_l1_ram_range(pa, VMCS12_SIZE);
}

static struct vmcs12 *region(uint64_t pa) { return phys_to_virt(pa); }

/* The cache goes back into L1's region (VMCLEAR, VMPTRLD of another). */
static void flush_current(struct nested_vmx *n)
{
    if (n->current == VMCS_LINK_NONE)
        return;
    nested_sync_rare(n->vcpu);
    shadow_pull(n);
    struct vmcs12 *r = region(n->current);
    r->magic = VMCS12_MAGIC;
    r->launch_state = n->cache->launch_state;
    memcpy(r->field, n->cache->field, sizeof(r->field));
}

static void load_current(struct nested_vmx *n, uint64_t pa)
{
    struct vmcs12 *r = region(pa);
    n->cache->revision_id = r->revision_id;
    if (r->magic == VMCS12_MAGIC) {
        n->cache->launch_state = r->launch_state == VMCS12_LAUNCHED ? VMCS12_LAUNCHED : VMCS12_CLEAR;
        memcpy(n->cache->field, r->field, sizeof(r->field));
    } else { /* never VMCLEARed: treat as clear and empty */
        n->cache->launch_state = VMCS12_CLEAR;
        memset(n->cache->field, 0, sizeof(n->cache->field));
    }
    n->current = pa;
    n->vmcs02_for_current = false;
    shadow_activate(n);
}

static void drop_current(struct nested_vmx *n)
{
    flush_current(n);
    n->current = VMCS_LINK_NONE;
    shadow_deactivate(n);
}

/* Reads the 64-bit physical-address operand of VMXON/VMCLEAR/VMPTRLD. */
static bool read_pointer_operand(struct vcpu *v, uint64_t *pa)
{
    struct vmx_insn_info ii;
    vmx_insn_info_decode(vmcs_read32(VMCS_VMX_INSTRUCTION_INFO), &ii);
    return operand_read(v, &ii, pa, sizeof(*pa));
}

static void handle_vmxon(struct vcpu *v)
{
    struct nested_vmx *n = nested_of(v);
    if (!(v->cr4_shadow & CR4_VMXE) || !nested_mode_allows_vmx()) {
        vcpu_inject_ud(v);
        return;
    }
    if (vcpu_cpl() > 0) {
        vcpu_inject_gp(v);
        return;
    }
    if (n->vmxon) { /* SDM 31.3 VMXON: in VMX root operation */
        nested_vmfail(v, VMXERR_VMXON_IN_VMX_ROOT);
        return;
    }
    /* Outside VMX operation: CR0/CR4 must honour the fixed bits L1 was
     * offered (SDM 24.8), else #GP. */
    const struct vmx_msrs *caps = &nested_vmx_caps()->raw;
    uint64_t cr0 = (vmcs_read(VMCS_GUEST_CR0) & ~v->cr0_mask) | (v->cr0_shadow & v->cr0_mask);
    if ((cr0 & caps->cr0_fixed0) != caps->cr0_fixed0 || (cr0 & ~caps->cr0_fixed1) ||
        (v->cr4_shadow & caps->cr4_fixed0) != caps->cr4_fixed0) {
        vcpu_inject_gp(v);
        return;
    }
    uint64_t pa;
    if (!read_pointer_operand(v, &pa))
        return;
    if (!region_address_valid(pa) ||
        region(pa)->revision_id != nested_vmx_caps()->revision_id) {
        nested_vmfail_invalid(v);
        return;
    }
    n->vmxon = true;
    n->vmxon_ptr = pa;
    n->current = VMCS_LINK_NONE;
    shadow_set_vmx_operation(n, true);
    nested_vmsucceed(v);
}

static void handle_vmxoff(struct vcpu *v)
{
    struct nested_vmx *n = nested_of(v);
    if (!nested_vmx_insn_allowed(v))
        return;
    drop_current(n);
    n->vmxon = false;
    shadow_set_vmx_operation(n, false);
    nested_vmsucceed(v);
    sipi_after_vmxoff(v);
}

/* The VMCS pointer of VMCLEAR/VMPTRLD (SDM 31.3): the instruction's own
 * VMfail numbers for a bad address and for the VMXON pointer. False once
 * the fault or VMfail is delivered. */
static bool vmcs_pointer_operand(struct vcpu *v, uint32_t err_address, uint32_t err_vmxon, uint64_t *pa)
{
    if (!nested_vmx_insn_allowed(v) || !read_pointer_operand(v, pa))
        return false;
    if (!region_address_valid(*pa)) {
        nested_vmfail(v, err_address);
        return false;
    }
    if (*pa == nested_of(v)->vmxon_ptr) {
        nested_vmfail(v, err_vmxon);
        return false;
    }
    return true;
}

static void handle_vmclear(struct vcpu *v)
{
    struct nested_vmx *n = nested_of(v);
    uint64_t pa;
    if (!vmcs_pointer_operand(v, VMXERR_VMCLEAR_INVALID_ADDRESS, VMXERR_VMCLEAR_VMXON_POINTER, &pa))
        return;
    if (pa == n->current)
        drop_current(n);
    /* The region's launch state becomes clear; its data stays. */
    struct vmcs12 *r = region(pa);
    if (r->magic != VMCS12_MAGIC) {
        r->magic = VMCS12_MAGIC;
        memset(r->field, 0, sizeof(r->field));
    }
    r->launch_state = VMCS12_CLEAR;
    nested_vmsucceed(v);
}

static void handle_vmptrld(struct vcpu *v)
{
    struct nested_vmx *n = nested_of(v);
    uint64_t pa;
    if (!vmcs_pointer_operand(v, VMXERR_VMPTRLD_INVALID_ADDRESS, VMXERR_VMPTRLD_VMXON_POINTER, &pa))
        return;
    /* SDM 31.3 VMPTRLD: bits 30:0 hold the revision identifier; bit 31 (a
     * shadow VMCS, 25.10) is allowed only where "VMCS shadowing" is. */
    const struct vmx_caps *caps = nested_vmx_caps();
    uint32_t rev = region(pa)->revision_id;
    if ((rev & ~VMCS_SHADOW_INDICATOR) != caps->revision_id ||
        ((rev & VMCS_SHADOW_INDICATOR) && !caps->shadow_vmcs)) {
        nested_vmfail(v, VMXERR_VMPTRLD_INCORRECT_REVISION);
        return;
    }
    if (pa != n->current) {
        flush_current(n);
        load_current(n, pa);
    }
    nested_vmsucceed(v);
}

static void handle_vmptrst(struct vcpu *v)
{
    struct nested_vmx *n = nested_of(v);
    struct vmx_insn_info ii;
    if (!nested_vmx_insn_allowed(v))
        return;
    vmx_insn_info_decode(vmcs_read32(VMCS_VMX_INSTRUCTION_INFO), &ii);
    if (operand_write(v, &ii, &n->current, sizeof(n->current)))
        nested_vmsucceed(v);
}


/* The hot fields (FIELD_SHADOW): synced on every nested exit and rewritten
 * on every nested entry, shadowing or not. */
static bool hot_field(uint64_t encoding)
{
    int i = vmcs_field_index((uint32_t)encoding & ~VMCS_ENC_HIGH_ACCESS);
    return i >= 0 && !(encoding >> 32) && (vmcs12_fields[i].flags & FIELD_SHADOW);
}

static void count_field(uint64_t *table, uint64_t encoding)
{
    int i = vmcs_field_index((uint32_t)(encoding & ~(uint64_t)VMCS_ENC_HIGH_ACCESS));
    if (i >= 0 && !(encoding >> 32))
        table[i]++;
}

static void handle_vmread(struct vcpu *v)
{
    struct nested_vmx *n = nested_of(v);
    struct vmx_insn_info ii;
    if (!nested_vmx_insn_allowed(v))
        return;
    if (!nested_has_current(v)) {
        nested_vmfail_invalid(v);
        return;
    }
    vmx_insn_info_decode(vmcs_read32(VMCS_VMX_INSTRUCTION_INFO), &ii);
    uint64_t enc = vmx_field_operand(v, &ii);
    count_field(n->stats.vmread_exits, enc);
    if (!hot_field(enc))
        nested_sync_rare(v);
    uint64_t value;
    if (vmcs12_read(n->cache, enc, &value) != VMCS12_OK) {
        nested_vmfail_valid(v, VMXERR_UNSUPPORTED_VMCS_COMPONENT);
        return;
    }
    unsigned size = vmx_operand_bytes();
    if (size == 4)
        value = (uint32_t)value;
    if (ii.is_register)
        guest_gpr_write(v, ii.reg1, value);
    else if (!operand_write(v, &ii, &value, size))
        return;
    nested_vmsucceed(v);
}

static void handle_vmwrite(struct vcpu *v)
{
    struct nested_vmx *n = nested_of(v);
    struct vmx_insn_info ii;
    if (!nested_vmx_insn_allowed(v))
        return;
    if (!nested_has_current(v)) {
        nested_vmfail_invalid(v);
        return;
    }
    vmx_insn_info_decode(vmcs_read32(VMCS_VMX_INSTRUCTION_INFO), &ii);
    unsigned size = vmx_operand_bytes();
    uint64_t value = 0;
    if (ii.is_register)
        value = guest_gpr_read(v, ii.reg1);
    else if (!operand_read(v, &ii, &value, size))
        return;
    if (size == 4)
        value = (uint32_t)value;
    uint64_t enc = vmx_field_operand(v, &ii);
    count_field(n->stats.vmwrite_exits, enc);
    bool hot = hot_field(enc);
    if (!hot)
        nested_sync_rare(v);
    bool any = nested_vmx_caps()->vmwrite_any_field;
    if (!nested_vmwrite_allowed(v, vmcs12_write(n->cache, enc, value, any)))
        return;
    /* A field the hardware shadow VMCS serves to L1's VMREAD but whose
     * VMWRITE exits (read-only exit information, written under MISC[29]):
     * the shadow must show the new value. */
    int i = vmcs_field_index((uint32_t)enc & ~VMCS_ENC_HIGH_ACCESS);
    if (i >= 0)
        shadow_push_field(n, (enum vmcs_field_index)i);
    /* Hot fields are rewritten (and re-checked) on every entry; any other
     * change needs vmcs02 rebuilt and the static checks run again. */
    if (!hot)
        n->vmcs02_for_current = false;
    nested_vmsucceed(v);
}

static bool canonical(uint64_t a)
{
    int64_t s = (int64_t)(a << (64 - CANONICAL_BITS)) >> (64 - CANONICAL_BITS);
    return (uint64_t)s == a;
}

static bool invvpid_type_offered(uint64_t type)
{
    const struct vmx_caps *c = nested_vmx_caps();
    switch (type) {
    case INVVPID_INDIVIDUAL_ADDR: return c->invvpid_addr;
    case INVVPID_SINGLE_CONTEXT: return c->invvpid_single;
    case INVVPID_ALL_CONTEXT: return c->invvpid_all;
    case INVVPID_SINGLE_NON_GLOBAL: return c->invvpid_single_ng;
    default: return false;
    }
}

static void handle_invvpid(struct vcpu *v)
{
    struct vmx_insn_info ii;
    if (!nested_vmx_caps()->invvpid) {
        vcpu_inject_ud(v);
        return;
    }
    if (!nested_vmx_insn_allowed(v))
        return;
    vmx_insn_info_decode(vmcs_read32(VMCS_VMX_INSTRUCTION_INFO), &ii);
    uint64_t type = guest_gpr_read(v, ii.reg2);
    if (!guest_in_64bit_mode())
        type = (uint32_t)type;
    uint64_t desc[2];
    if (!operand_read(v, &ii, desc, INV_DESC_SIZE))
        return;
    uint64_t vpid = desc[0] & INVVPID_VPID_MASK;
    /* SDM 31.3 INVVPID: type offered, reserved bits clear, VPID non-zero
     * except for all-context, canonical address for individual-address. */
    if (!invvpid_type_offered(type) || (desc[0] & ~INVVPID_VPID_MASK) ||
        (type != INVVPID_ALL_CONTEXT && vpid == 0) ||
        (type == INVVPID_INDIVIDUAL_ADDR && !canonical(desc[1]))) {
        nested_vmfail(v, VMXERR_INVALID_INVEPT_INVVPID_OPERAND);
        return;
    }
    /* Every vpid12 shares vpid02: flushing it covers all scopes. */
    invvpid(INVVPID_SINGLE_CONTEXT, NESTED_VPID02, 0);
    nested_vmsucceed(v);
}

static bool invept_type_offered(uint64_t type)
{
    const struct vmx_caps *c = nested_vmx_caps();
    return (type == INVEPT_SINGLE_CONTEXT && c->invept_single) ||
           (type == INVEPT_ALL_CONTEXT && c->invept_all);
}

static void handle_invept(struct vcpu *v)
{
    struct vmx_insn_info ii;
    if (!nested_vmx_caps()->invept) {
        vcpu_inject_ud(v);
        return;
    }
    if (!nested_vmx_insn_allowed(v))
        return;
    vmx_insn_info_decode(vmcs_read32(VMCS_VMX_INSTRUCTION_INFO), &ii);
    uint64_t type = guest_gpr_read(v, ii.reg2);
    if (!guest_in_64bit_mode())
        type = (uint32_t)type;
    uint64_t desc[2];
    if (!operand_read(v, &ii, desc, INV_DESC_SIZE))
        return;
    struct ept12_caps caps;
    nested_ept12_caps(the_vm.host_mtrr.phys_addr_mask | 0xfffULL, &caps);
    /* SDM 31.3 INVEPT: an offered type; a valid EPTP for single-context. */
    if (!invept_type_offered(type) ||
        (type == INVEPT_SINGLE_CONTEXT && !ept12_eptp_valid(desc[0], &caps))) {
        nested_vmfail(v, VMXERR_INVALID_INVEPT_INVVPID_OPERAND);
        return;
    }
    ept02_invalidate(v->nested->ept02, type == INVEPT_SINGLE_CONTEXT ? desc[0] : EPT02_ALL_CONTEXTS);
    nested_vmsucceed(v);
}

void nested_install_insn_handlers(void)
{
    exit_set_handler(EXIT_REASON_INVEPT, handle_invept);
    exit_set_handler(EXIT_REASON_VMXON, handle_vmxon);
    exit_set_handler(EXIT_REASON_VMXOFF, handle_vmxoff);
    exit_set_handler(EXIT_REASON_VMCLEAR, handle_vmclear);
    exit_set_handler(EXIT_REASON_VMPTRLD, handle_vmptrld);
    exit_set_handler(EXIT_REASON_VMPTRST, handle_vmptrst);
    exit_set_handler(EXIT_REASON_VMREAD, handle_vmread);
    exit_set_handler(EXIT_REASON_VMWRITE, handle_vmwrite);
    exit_set_handler(EXIT_REASON_INVVPID, handle_invvpid);
    exit_set_handler(EXIT_REASON_VMLAUNCH, handle_vmlaunch);
    exit_set_handler(EXIT_REASON_VMRESUME, handle_vmresume);
}
