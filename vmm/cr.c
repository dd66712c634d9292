#include "vmm/cr.h"
#include "vmm/vm.h"
#include "arch/x86/cpu_bits.h"
#include "arch/x86/vmx.h"
#include "arch/x86/vmx_bits.h"

#define CR0_RESERVED_HIGH 0xffffffff00000000ULL
#define CR0_LMSW_BITS     (CR0_PE | CR0_MP | CR0_EM | CR0_TS)

bool cr0_write_valid(uint64_t old_cr0, uint64_t new_cr0, uint64_t cr4, uint64_t efer)
{
    (void)old_cr0;
    if (new_cr0 & CR0_RESERVED_HIGH)
        return false;
    if ((new_cr0 & CR0_NW) && !(new_cr0 & CR0_CD))
        return false;
    if ((new_cr0 & CR0_PG) && !(new_cr0 & CR0_PE))
        return false;
    /* Enabling paging with EFER.LME requires PAE (SDM 10.8.5). */
    if ((new_cr0 & CR0_PG) && (efer & EFER_LME) && !(cr4 & CR4_PAE))
        return false;
    /* Paging stays on while CR4.PCIDE is set (Vol. 2B MOV CR). */
    if (!(new_cr0 & CR0_PG) && (cr4 & CR4_PCIDE))
        return false;
    return true;
}

bool cr4_write_valid(uint64_t new_cr4, uint64_t efer, uint64_t allowed)
{
    if (new_cr4 & ~allowed)
        return false;
    if ((efer & EFER_LMA) && !(new_cr4 & CR4_PAE))
        return false;
    return true;
}

/* Applies L1's new CR0, entering or leaving IA-32e mode when paging flips
 * with EFER.LME set (SDM 10.8.5): the VMCS holds EFER.LMA and the "IA-32e
 * mode guest" entry control. */
static uint64_t read_cr(struct vcpu *v, unsigned cr);

static bool write_cr0(struct vcpu *v, uint64_t value)
{
    uint64_t old = read_cr(v, 0);
    uint64_t efer = vmcs_read(VMCS_GUEST_IA32_EFER);
    uint64_t cr4 = vmcs_read(VMCS_GUEST_CR4);
    if (!cr0_write_valid(old, value, cr4, efer))
        return false;
    /* 64-bit code cannot turn paging off (Vol. 2B MOV CR: #GP in 64-bit
     * mode); IA-32e mode is left from compatibility mode (SDM 10.8.5.4). */
    if (!(value & CR0_PG) && (efer & EFER_LMA) && (vmcs_read32(VMCS_GUEST_CS_AR_BYTES) & AR_L))
        return false;
    uint32_t entry = vmcs_read32(VMCS_VM_ENTRY_CONTROLS);
    if ((value & CR0_PG) && !(old & CR0_PG) && (efer & EFER_LME)) {
        efer |= EFER_LMA;
        entry |= ENTRY_IA32E_MODE_GUEST;
        /* A CPU that never loaded TR since INIT (an AP's trampoline) still
         * has the 16-bit busy TSS of the reset state; the CPU does not mind
         * until LTR, but VM entry in IA-32e mode needs type 11 (SDM
         * 27.3.1.2). KVM makes the same fix-up. */
        uint32_t tr = vmcs_read32(VMCS_GUEST_TR_AR_BYTES);
        if ((tr & AR_TYPE_MASK) == SEG_TYPE_TSS_BUSY_16)
            vmcs_write(VMCS_GUEST_TR_AR_BYTES, (tr & ~AR_TYPE_MASK) | SEG_TYPE_TSS_BUSY_32);
    } else if (!(value & CR0_PG) && (old & CR0_PG) && (efer & EFER_LMA)) {
        efer &= ~EFER_LMA;
        entry &= ~ENTRY_IA32E_MODE_GUEST;
    }
    /* Turning on PAE paging loads the PDPTEs; invalid ones #GP (SDM 4.4.1). */
    if ((value & CR0_PG) && !(old & CR0_PG) && (cr4 & CR4_PAE) && !(efer & EFER_LMA) &&
        !vcpu_load_pae_pdptes(vmcs_read(VMCS_GUEST_CR3)))
        return false;
    vmcs_write(VMCS_GUEST_IA32_EFER, efer);
    vmcs_write(VMCS_VM_ENTRY_CONTROLS, entry);
    v->cr0_shadow = value;
    uint64_t required = the_vm.caps->raw.cr0_fixed0 & ~(CR0_PG | CR0_PE);
    vmcs_write(VMCS_GUEST_CR0, value | required);
    vmcs_write(VMCS_CR0_READ_SHADOW, value);
    return true;
}

static uint64_t cr4_allowed(void)
{
    uint64_t allowed = the_vm.caps->raw.cr4_fixed1 & ~CR4_SMXE;
    if (!the_vm.cfg.nested)
        allowed &= ~CR4_VMXE;
    return allowed;
}

static bool write_cr4(struct vcpu *v, uint64_t value)
{
    if (!cr4_write_valid(value, vmcs_read(VMCS_GUEST_IA32_EFER), cr4_allowed()))
        return false;
    v->cr4_shadow = value;
    vmcs_write(VMCS_GUEST_CR4, value | the_vm.caps->raw.cr4_fixed0 | CR4_VMXE);
    vmcs_write(VMCS_CR4_READ_SHADOW, value);
    return true;
}

/* L1's architectural value: host-owned bits from the shadow. */
static uint64_t read_cr(struct vcpu *v, unsigned cr)
{
    switch (cr) {
    case 0: return (vmcs_read(VMCS_GUEST_CR0) & ~v->cr0_mask) | (v->cr0_shadow & v->cr0_mask);
    case 3: return vmcs_read(VMCS_GUEST_CR3);
    case 4: return (vmcs_read(VMCS_GUEST_CR4) & ~v->cr4_mask) | (v->cr4_shadow & v->cr4_mask);
    default: return 0;
    }
}

static uint64_t gpr_value(struct vcpu *v, unsigned n)
{
    return n == 4 ? vmcs_read(VMCS_GUEST_RSP) : *guest_gpr(&v->regs, n);
}

static void set_gpr(struct vcpu *v, unsigned n, uint64_t value)
{
    if (!(vmcs_read32(VMCS_GUEST_CS_AR_BYTES) & AR_L))
        value = (uint32_t)value;
    if (n == 4)
        vmcs_write(VMCS_GUEST_RSP, value);
    else
        *guest_gpr(&v->regs, n) = value;
}

/* An L2 CR access L1 did not ask for: only CR3 moves forced by the CPU's
 * must-be-1 controls can get here; anything else would have faulted on
 * hardware. */
static void l2_cr_access(struct vcpu *v, uint64_t q)
{
    unsigned gpr = CR_QUAL_GPR(q);
    if (CR_QUAL_NUMBER(q) == 3 && CR_QUAL_TYPE(q) == CR_ACCESS_MOV_TO_CR) {
        vmcs_write(VMCS_GUEST_CR3, gpr_value(v, gpr));
        vcpu_skip_instruction(v);
    } else if (CR_QUAL_NUMBER(q) == 3 && CR_QUAL_TYPE(q) == CR_ACCESS_MOV_FROM_CR) {
        set_gpr(v, gpr, vmcs_read(VMCS_GUEST_CR3));
        vcpu_skip_instruction(v);
    } else {
        vcpu_inject_gp(v);
    }
}

void handle_cr_access(struct vcpu *v)
{
    uint64_t q = vmcs_read(VMCS_EXIT_QUALIFICATION);
    if (v->in_l2) {
        l2_cr_access(v, q);
        return;
    }
    unsigned cr = CR_QUAL_NUMBER(q), gpr = CR_QUAL_GPR(q);
    bool ok = true;
    switch (CR_QUAL_TYPE(q)) {
    case CR_ACCESS_MOV_TO_CR: {
        uint64_t value = gpr_value(v, gpr);
        if (!(vmcs_read32(VMCS_GUEST_CS_AR_BYTES) & AR_L))
            value = (uint32_t)value;
        if (cr == 0)
            ok = write_cr0(v, value);
        else if (cr == 4)
            ok = write_cr4(v, value);
        else if (cr == 3)
            vmcs_write(VMCS_GUEST_CR3, value);
        else
            ok = false; /* CR8 exits are not enabled: no TPR to emulate */
        break;
    }
    case CR_ACCESS_MOV_FROM_CR:
        if (cr == 8)
            ok = false;
        else
            set_gpr(v, gpr, read_cr(v, cr));
        break;
    case CR_ACCESS_CLTS:
        ok = write_cr0(v, read_cr(v, 0) & ~CR0_TS);
        break;
    case CR_ACCESS_LMSW: {
        /* LMSW sets PE but never clears it (SDM Vol. 2 LMSW). */
        uint64_t old = read_cr(v, 0);
        uint64_t src = CR_QUAL_LMSW_DATA(q) & CR0_LMSW_BITS;
        ok = write_cr0(v, (old & ~(CR0_LMSW_BITS & ~CR0_PE)) | src);
        break;
    }
    }
    if (ok)
        vcpu_skip_instruction(v);
    else
        vcpu_inject_gp(v);
}
