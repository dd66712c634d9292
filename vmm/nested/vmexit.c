/* Nested VM exits: L2 -> L1 (SDM ch. 28), and the VM-entry failures that
 * L1 sees as exits (SDM 27.8). */
#include "vmm/nested/nested.h"
#include "vmm/nested/vmcs02.h"
#include "vmm/nested/msrlist.h"
#include "vmm/vm.h"
#include "arch/x86/cpu_bits.h"
#include "arch/x86/exit_reasons.h"
#include "arch/x86/physmem.h"
#include "arch/x86/vmx.h"
#include "arch/x86/vmx_bits.h"
#include "lib/log.h"

#define VMX_ABORT_LOADING_HOST_MSRS 4 /* SDM 28.7 */
#define VMX_ABORT_SAVING_GUEST_MSRS 1

/* A VMX abort (SDM 28.7): L1's logical processor would shut down. The
 * indicator goes into the vmcs12 region; nestvisor stops L1. */
static __attribute__((noreturn)) void vmx_abort(struct vcpu *v, uint32_t indicator)
{
    struct vmcs12 *r = phys_to_virt(v->nested->current);
    r->abort = indicator;
    vcpu_dump(v, "VMX abort");
    log_error("nested: VMX abort %u while switching from L2 to L1\n", indicator);
    vm_stop(POWER_GUEST_FAULT, "VMX abort in L1");
}

static void finish_exit_to_l1(struct vcpu *v)
{
    struct nested_vmx *n = v->nested;
    /* Leaving before vmcs02's first entry happened (an NMI or INIT taken
     * after VMLAUNCH was emulated): vmcs02 stays clear, vmcs01 resumes. */
    if (v->regs.launch) {
        n->vmcs02_launched = false;
        v->regs.launch = 0;
    }
    vmcs_load(v->vmcs01);
    v->in_l2 = false;
    if (!vmcs12_load_host_state(v))
        vmx_abort(v, VMX_ABORT_LOADING_HOST_MSRS);
    shadow_push_exit(n);
}

void nested_vmexit(struct vcpu *v, uint32_t reason, uint64_t qualification)
{
    struct nested_vmx *n = v->nested;
    vmcs02_sync_to_vmcs12(v);
    if (reason != NESTED_EXIT_AS_IS) {
        VMCS12(n->cache, VM_EXIT_REASON) = reason;
        VMCS12(n->cache, EXIT_QUALIFICATION) = qualification;
    }
    if (msr_list_store(VMCS12(n->cache, VM_EXIT_MSR_STORE_ADDR), VMCS12(n->cache, VM_EXIT_MSR_STORE_COUNT)))
        vmx_abort(v, VMX_ABORT_SAVING_GUEST_MSRS);
    finish_exit_to_l1(v);
}

/* An exit L0 makes up while vmcs02 is current (the hardware's exit fields
 * are those of an older exit): an event L0 was about to inject into L2
 * becomes IDT-vectoring information (SDM 27.2.3, 27.2.4). */
static void synthesized_exit(struct vcpu *v, uint32_t reason, uint64_t qualification, uint32_t intr_info)
{
    struct vmcs12 *c = v->nested->cache;
    uint32_t pending = vmcs_read32(VMCS_VM_ENTRY_INTR_INFO_FIELD);
    uint32_t pending_error = vmcs_read32(VMCS_VM_ENTRY_EXCEPTION_ERROR_CODE);
    vmcs_write(VMCS_VM_ENTRY_INTR_INFO_FIELD, 0);
    vmcs02_sync_to_vmcs12(v);
    VMCS12(c, VM_EXIT_REASON) = reason;
    VMCS12(c, EXIT_QUALIFICATION) = qualification;
    VMCS12(c, VM_EXIT_INTR_INFO) = intr_info;
    VMCS12(c, VM_EXIT_INTR_ERROR_CODE) = 0;
    VMCS12(c, VM_EXIT_INSTRUCTION_LEN) = 0;
    VMCS12(c, IDT_VECTORING_INFO_FIELD) = (pending & INTR_INFO_VALID) ? pending : 0;
    VMCS12(c, IDT_VECTORING_ERROR_CODE) = pending_error;
    VMCS12(c, VM_ENTRY_INTR_INFO_FIELD) &= ~(uint64_t)INTR_INFO_VALID;
    if (msr_list_store(VMCS12(c, VM_EXIT_MSR_STORE_ADDR), VMCS12(c, VM_EXIT_MSR_STORE_COUNT)))
        vmx_abort(v, VMX_ABORT_SAVING_GUEST_MSRS);
    finish_exit_to_l1(v);
}

void nested_vmexit_event(struct vcpu *v, uint32_t reason, uint64_t qualification, uint32_t intr_info)
{
    synthesized_exit(v, reason, qualification, intr_info);
}

void nested_vmexit_for_nmi(struct vcpu *v)
{
    synthesized_exit(v, EXIT_REASON_EXCEPTION_NMI, 0, INTR_INFO_VALID | INTR_TYPE_NMI | VEC_NMI);
}

void nested_vmexit_signal(struct vcpu *v, uint32_t reason, uint64_t qualification)
{
    synthesized_exit(v, reason, qualification, 0);
}

void nested_l2_instruction_emulated(struct vcpu *v)
{
    /* SDM 26.5.2: with the monitor trap flag an instruction that completes
     * is followed by an MTF VM exit; L0 completed this one for the CPU. */
    if (v->in_l2 && (VMCS12(v->nested->cache, CPU_BASED_VM_EXEC_CONTROL) & PROC_MONITOR_TRAP_FLAG))
        synthesized_exit(v, EXIT_REASON_MONITOR_TRAP_FLAG, 0, 0);
}

/* The entry never happened: vmcs12 records the failure, L1 continues from
 * its host state; guest state and launch state are untouched. */
void nested_entry_failure(struct vcpu *v, uint32_t reason, uint64_t qualification)
{
    struct vmcs12 *c = v->nested->cache;
    VMCS12(c, VM_EXIT_REASON) = reason | EXIT_REASON_FAILED_ENTRY;
    VMCS12(c, EXIT_QUALIFICATION) = qualification;
    VMCS12(c, VM_EXIT_INTR_INFO) = 0;
    VMCS12(c, IDT_VECTORING_INFO_FIELD) = 0;
    VMCS12(c, VM_EXIT_INSTRUCTION_LEN) = 0;
    VMCS12(c, VM_ENTRY_INTR_INFO_FIELD) &= ~(uint64_t)INTR_INFO_VALID;
    finish_exit_to_l1(v);
}
