#include "vmm/exit.h"
#include "vmm/cpuid.h"
#include "vmm/cr.h"
#include "vmm/hypercall.h"
#include "vmm/insn.h"
#include "vmm/io.h"
#include "vmm/memfault.h"
#include "vmm/msr.h"
#include "vmm/nmi.h"
#include "vmm/smp.h"
#include "vmm/sipi.h"
#include "vmm/stats.h"
#include "vmm/vm.h"
#include "vmm/nested/nested.h"
#include "arch/x86/vmx.h"
#include "arch/x86/vmx_bits.h"
#include "arch/x86/cpu_bits.h"
#include "lib/log.h"

static void unexpected_exit(struct vcpu *v);

/* L1's exception bitmap is empty: only NMIs exit (NMI exiting, nmi.c). */
static void handle_exception_nmi(struct vcpu *v)
{
    if ((vmcs_read32(VMCS_VM_EXIT_INTR_INFO) & INTR_INFO_TYPE_MASK) == INTR_TYPE_NMI)
        nmi_exit_l1(v);
    else
        unexpected_exit(v);
}

static exit_handler_fn handlers[EXIT_REASON_COUNT] = {
    [EXIT_REASON_EXCEPTION_NMI] = handle_exception_nmi,
    [EXIT_REASON_NMI_WINDOW] = handle_nmi_window,

    [EXIT_REASON_TRIPLE_FAULT] = handle_triple_fault,
    [EXIT_REASON_INIT_SIGNAL] = handle_init_signal,
    [EXIT_REASON_CPUID] = handle_cpuid,
    [EXIT_REASON_HLT] = handle_hlt,
    [EXIT_REASON_INVD] = handle_invd,
    [EXIT_REASON_VMCALL] = handle_vmcall,
    [EXIT_REASON_VMCLEAR] = handle_vmx_instruction_disabled,
    [EXIT_REASON_VMLAUNCH] = handle_vmx_instruction_disabled,
    [EXIT_REASON_VMPTRLD] = handle_vmx_instruction_disabled,
    [EXIT_REASON_VMPTRST] = handle_vmx_instruction_disabled,
    [EXIT_REASON_VMREAD] = handle_vmx_instruction_disabled,
    [EXIT_REASON_VMRESUME] = handle_vmx_instruction_disabled,
    [EXIT_REASON_VMWRITE] = handle_vmx_instruction_disabled,
    [EXIT_REASON_VMXOFF] = handle_vmx_instruction_disabled,
    [EXIT_REASON_VMXON] = handle_vmx_instruction_disabled,
    [EXIT_REASON_INVEPT] = handle_vmx_instruction_disabled,
    [EXIT_REASON_INVVPID] = handle_vmx_instruction_disabled,
    [EXIT_REASON_VMFUNC] = handle_vmx_instruction_disabled,
    [EXIT_REASON_CR_ACCESS] = handle_cr_access,
    [EXIT_REASON_IO_INSTRUCTION] = handle_io,
    [EXIT_REASON_MSR_READ] = handle_rdmsr,
    [EXIT_REASON_MSR_WRITE] = handle_wrmsr,
    [EXIT_REASON_EPT_VIOLATION] = handle_ept_violation,
    [EXIT_REASON_EPT_MISCONFIG] = handle_ept_misconfig,
    [EXIT_REASON_WBINVD] = handle_wbinvd,
    [EXIT_REASON_XSETBV] = handle_xsetbv,
};

void exit_set_handler(unsigned reason, exit_handler_fn fn)
{
    if (reason < EXIT_REASON_COUNT)
        handlers[reason] = fn;
}

static void unexpected_exit(struct vcpu *v)
{
    uint32_t reason = vmcs_read32(VMCS_VM_EXIT_REASON);
    log_error("unexpected VM exit: reason %u (%s)%s, qualification 0x%llx\n",
              reason & EXIT_REASON_BASIC_MASK, exit_reason_name(reason & EXIT_REASON_BASIC_MASK),
              (reason & EXIT_REASON_FAILED_ENTRY) ? " [VM-entry failure]" : "",
              (unsigned long long)vmcs_read(VMCS_EXIT_QUALIFICATION));
    vcpu_dump(v, "unexpected exit");
    vm_stop(POWER_PANIC, "unexpected VM exit");
}

/* The exits that can interrupt the delivery of an event (SDM 27.2.4). */
#define DURING_DELIVERY_REASONS                                                                    \
    ((1ULL << EXIT_REASON_EXCEPTION_NMI) | (1ULL << EXIT_REASON_TASK_SWITCH) |                     \
     (1ULL << EXIT_REASON_APIC_ACCESS) | (1ULL << EXIT_REASON_EPT_VIOLATION) |                     \
     (1ULL << EXIT_REASON_EPT_MISCONFIG))
_Static_assert(EXIT_REASON_EPT_MISCONFIG < 64, "the set is 64 bits");

/* An exit at whichever level the vCPU is, to L1 (reflected) or to L0's
 * handler. */
static inline void dispatch(struct vcpu *v, struct guest_regs *regs, uint32_t reason, unsigned basic)
{
    unsigned level = NV_LEVEL_L1;
    if (v->in_l2) {
        v->l2_insn_completed = false;
        enum l2_exit_outcome o = nested_l2_exit(v, reason);
        level = o == L2_EXIT_REFLECTED ? NV_LEVEL_L2_TO_L1 : NV_LEVEL_L2_L0;
        v->stats.count[level][basic]++;
        regs->ticks_slot = &v->stats.ticks[level][basic];
        if (o == L2_EXIT_FOR_L0) {
            exit_handler_fn fn = handlers[basic];
            (fn ? fn : unexpected_exit)(v);
        }
        /* An L2 instruction L0 completed (vcpu_skip_bytes): L1's MTF. */
        if (v->l2_insn_completed && v->in_l2)
            nested_l2_instruction_emulated(v);
        return;
    } else {
        if (reason & EXIT_REASON_FAILED_ENTRY) {
            regs->ticks_slot = &v->stats.unknown_ticks;
            unexpected_exit(v);
        }
        v->stats.count[level][basic]++;
        regs->ticks_slot = &v->stats.ticks[level][basic];
    }
    exit_handler_fn fn = handlers[basic];
    (fn ? fn : unexpected_exit)(v);
}

/* An exit that may have interrupted the delivery of an event: if L0
 * handles it without switching levels, the event is delivered again (a
 * reflected one carries it to L1 in vmcs12). Off the hot path. */
static __attribute__((noinline)) void dispatch_during_delivery(struct vcpu *v, struct guest_regs *regs,
                                                               uint32_t reason, unsigned basic)
{
    uint32_t vectoring = vmcs_read32(VMCS_IDT_VECTORING_INFO_FIELD);
    bool was_in_l2 = v->in_l2;
    dispatch(v, regs, reason, basic);
    if (vectoring && v->in_l2 == was_in_l2)
        vcpu_redeliver_event(vectoring);
}

/* vmx_entry.asm: the attention flag was set after vmexit_dispatch looked
 * (an NMI in the entry window). */
void vmexit_late_attention(struct guest_regs *regs);
void vmexit_late_attention(struct guest_regs *regs) { smp_attention(vcpu_of_regs(regs)); }

void vmexit_dispatch(struct guest_regs *regs)
{
    struct vcpu *v = vcpu_of_regs(regs);
    uint32_t reason = vmcs_read32(VMCS_VM_EXIT_REASON);
    unsigned basic = reason & EXIT_REASON_BASIC_MASK;
    if (basic >= EXIT_REASON_COUNT) {
        regs->ticks_slot = &v->stats.unknown_ticks;
        unexpected_exit(v);
    }
    if (basic < 64 && (DURING_DELIVERY_REASONS >> basic & 1))
        dispatch_during_delivery(v, regs, reason, basic);
    else
        dispatch(v, regs, reason, basic);
    /* Another CPU asked something, or an NMI of L1's waits (smp.c). */
    if (__builtin_expect(v->cpu->attention | v->nmi_pending, 0))
        smp_attention(v);
}

void vmx_entry_failed(struct guest_regs *regs)
{
    struct vcpu *v = vcpu_of_regs(regs);
    uint32_t err = vmcs_read32(VMCS_VM_INSTRUCTION_ERROR);
    if (v->in_l2) {
        nested_vmcs02_entry_failed(v, err);
        return;
    }
    log_error("BUG: VM entry of L1 failed with VM-instruction error %u\n", err);
    vcpu_dump(v, "VM-entry failure");
    vm_stop(POWER_PANIC, "VM entry of L1 failed");
}
