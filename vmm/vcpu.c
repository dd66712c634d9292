#include "vmm/vcpu.h"
#include "arch/x86/vmx.h"
#include "arch/x86/vmx_bits.h"
#include "arch/x86/cpu_bits.h"
#include "vmm/vm.h"
#include "lib/log.h"

/* The exit stub (arch/x86/vmx_entry.asm) hard-codes these offsets. */
_Static_assert(offsetof(struct guest_regs, rax) == 0, "stub offset");
_Static_assert(offsetof(struct guest_regs, rbx) == 24, "stub offset");
_Static_assert(offsetof(struct guest_regs, r15) == 120, "stub offset");
_Static_assert(offsetof(struct guest_regs, exit_tsc) == 128, "stub offset");
_Static_assert(offsetof(struct guest_regs, ticks_slot) == 136, "stub offset");
_Static_assert(offsetof(struct guest_regs, launch) == 144, "stub offset");
_Static_assert(offsetof(struct vcpu, regs) == 0, "stub finds regs at the vcpu");

static void inject(uint32_t info, bool has_code, uint32_t code)
{
    if (has_code) {
        info |= INTR_INFO_DELIVER_CODE;
        vmcs_write(VMCS_VM_ENTRY_EXCEPTION_ERROR_CODE, code);
    }
    vmcs_write(VMCS_VM_ENTRY_INTR_INFO_FIELD, info | INTR_INFO_VALID);
}

void vcpu_inject_exception(struct vcpu *v, unsigned vector)
{
    (void)v;
    inject(vector | INTR_TYPE_HW_EXCEPTION, false, 0);
}

void vcpu_inject_exception_code(struct vcpu *v, unsigned vector, uint32_t error)
{
    (void)v;
    inject(vector | INTR_TYPE_HW_EXCEPTION, true, error);
}

void vcpu_inject_gp(struct vcpu *v) { vcpu_inject_exception_code(v, VEC_GP, 0); }
void vcpu_inject_ud(struct vcpu *v) { vcpu_inject_exception(v, VEC_UD); }

void vcpu_redeliver_event(uint32_t vectoring)
{
    if (!(vectoring & INTR_INFO_VALID) || (vmcs_read32(VMCS_VM_ENTRY_INTR_INFO_FIELD) & INTR_INFO_VALID))
        return;
    uint32_t type = vectoring & INTR_INFO_TYPE_MASK;
    if (vectoring & INTR_INFO_DELIVER_CODE)
        vmcs_write(VMCS_VM_ENTRY_EXCEPTION_ERROR_CODE, vmcs_read32(VMCS_IDT_VECTORING_ERROR_CODE));
    /* Software events are re-executed by length (SDM 26.6.1.3). */
    if (type == INTR_TYPE_SW_INTR || type == INTR_TYPE_PRIV_SW_EXCEPTION || type == INTR_TYPE_SW_EXCEPTION)
        vmcs_write(VMCS_VM_ENTRY_INSTRUCTION_LEN, vmcs_read32(VMCS_VM_EXIT_INSTRUCTION_LEN));
    /* The NMI was not delivered: it does not block NMIs yet, and an NMI
     * cannot be injected while they are blocked (SDM 26.3.1.5). */
    if (type == INTR_TYPE_NMI) {
        uint32_t intr = vmcs_read32(VMCS_GUEST_INTERRUPTIBILITY_INFO);
        vmcs_write(VMCS_GUEST_INTERRUPTIBILITY_INFO, intr & ~INTERRUPTIBILITY_NMI);
    }
    /* Bit 12 of IDT-vectoring information is undefined; it is reserved
     * in the entry field. */
    vmcs_write(VMCS_VM_ENTRY_INTR_INFO_FIELD, vectoring & ~INTR_INFO_NMI_UNBLOCK);
}

void vcpu_skip_instruction(struct vcpu *v) { vcpu_skip_bytes(v, vmcs_read(VMCS_VM_EXIT_INSTRUCTION_LEN)); }

void vcpu_skip_bytes(struct vcpu *v, uint64_t length)
{
    v->l2_insn_completed = v->in_l2;
    uint64_t rip = vmcs_read(VMCS_GUEST_RIP) + length;
    if (!(vmcs_read(VMCS_GUEST_CS_AR_BYTES) & AR_L))
        rip &= 0xffffffffULL;
    vmcs_write(VMCS_GUEST_RIP, rip);
    uint32_t intr = vmcs_read32(VMCS_GUEST_INTERRUPTIBILITY_INFO);
    if (intr & (INTERRUPTIBILITY_STI | INTERRUPTIBILITY_MOV_SS))
        vmcs_write(VMCS_GUEST_INTERRUPTIBILITY_INFO,
                   intr & ~(INTERRUPTIBILITY_STI | INTERRUPTIBILITY_MOV_SS));
}

unsigned vcpu_cpl(void)
{
    return (vmcs_read32(VMCS_GUEST_SS_AR_BYTES) & AR_DPL_MASK) >> AR_DPL_SHIFT;
}

void vcpu_dump(struct vcpu *v, const char *why)
{
    struct guest_regs *r = &v->regs;
    log_error("%s: %s state\n", why, v->in_l2 ? "L2" : "L1");
    log_error("  RIP %016llx RSP %016llx RFLAGS %016llx CS %04llx SS %04llx\n",
              (unsigned long long)vmcs_read(VMCS_GUEST_RIP), (unsigned long long)vmcs_read(VMCS_GUEST_RSP),
              (unsigned long long)vmcs_read(VMCS_GUEST_RFLAGS),
              (unsigned long long)vmcs_read(VMCS_GUEST_CS_SELECTOR),
              (unsigned long long)vmcs_read(VMCS_GUEST_SS_SELECTOR));
    log_error("  CR0 %016llx CR3 %016llx CR4 %016llx EFER %016llx\n",
              (unsigned long long)vmcs_read(VMCS_GUEST_CR0), (unsigned long long)vmcs_read(VMCS_GUEST_CR3),
              (unsigned long long)vmcs_read(VMCS_GUEST_CR4),
              (unsigned long long)vmcs_read(VMCS_GUEST_IA32_EFER));
    log_error("  RAX %016llx RBX %016llx RCX %016llx RDX %016llx\n", (unsigned long long)r->rax,
              (unsigned long long)r->rbx, (unsigned long long)r->rcx, (unsigned long long)r->rdx);
    log_error("  RSI %016llx RDI %016llx RBP %016llx\n", (unsigned long long)r->rsi,
              (unsigned long long)r->rdi, (unsigned long long)r->rbp);
    log_error("  IDT-vectoring %08x interruptibility %08x activity %u\n",
              vmcs_read32(VMCS_IDT_VECTORING_INFO_FIELD),
              vmcs_read32(VMCS_GUEST_INTERRUPTIBILITY_INFO), vmcs_read32(VMCS_GUEST_ACTIVITY_STATE));
}

#define PAE_PDPTE_COUNT 4
#define PAE_PDPT_MASK   0xffffffe0ULL
#define PDPTE_PRESENT   1ULL
#define PDPTE_RESERVED  0x1e6ULL /* bits 2:1 and 8:5 (SDM 4.4.1) */

bool vcpu_load_pae_pdptes(uint64_t cr3)
{
    static const enum vmcs_field pdpte[PAE_PDPTE_COUNT] = {VMCS_GUEST_PDPTE0, VMCS_GUEST_PDPTE1,
                                                           VMCS_GUEST_PDPTE2, VMCS_GUEST_PDPTE3};
    const uint64_t *table = vm_l1_ram(cr3 & PAE_PDPT_MASK, PAE_PDPTE_COUNT * sizeof(uint64_t));
    if (!table)
        return false;
    uint64_t reserved = PDPTE_RESERVED | ~(the_vm.host_mtrr.phys_addr_mask | 0xfffULL);
    for (unsigned i = 0; i < PAE_PDPTE_COUNT; i++)
        if ((table[i] & PDPTE_PRESENT) && (table[i] & reserved))
            return false;
    for (unsigned i = 0; i < PAE_PDPTE_COUNT; i++)
        vmcs_write(pdpte[i], table[i]);
    return true;
}
