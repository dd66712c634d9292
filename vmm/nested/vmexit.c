/* Nested VM exits: L2 -> L1 (SDM ch. 28), and the VM-entry failures that
 * L1 sees as exits (SDM 27.8). */
#include "vmm/nested/nested.h"
#include "vmm/nested/vmcs02.h"
#include "vmm/nested/msrlist.h"
#include "vmm/nested/ept02.h"
#include "vmm/gva.h"
#include "vmm/ept.h"
#include "arch/x86/cpu.h"
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

/* What an exit L0 makes up carries besides the state of L2. */
struct made_exit {
    uint32_t reason;
    uint64_t qualification;
    uint32_t intr_info, intr_error;
    bool addresses;     /* guest-linear and guest-physical address valid */
    uint64_t gla, gpa;
};

/* An exit L0 makes up while vmcs02 is current (the hardware's exit fields
 * are those of an older exit): an event L0 was about to inject into L2
 * becomes IDT-vectoring information (SDM 27.2.3, 27.2.4). */
static void synthesized_exit(struct vcpu *v, const struct made_exit *x)
{
    struct vmcs12 *c = v->nested->cache;
    uint32_t pending = vmcs_read32(VMCS_VM_ENTRY_INTR_INFO_FIELD);
    uint32_t pending_error = vmcs_read32(VMCS_VM_ENTRY_EXCEPTION_ERROR_CODE);
    vmcs_write(VMCS_VM_ENTRY_INTR_INFO_FIELD, 0);
    vmcs02_sync_to_vmcs12(v);
    VMCS12(c, VM_EXIT_REASON) = x->reason;
    VMCS12(c, EXIT_QUALIFICATION) = x->qualification;
    VMCS12(c, VM_EXIT_INTR_INFO) = x->intr_info;
    VMCS12(c, VM_EXIT_INTR_ERROR_CODE) = x->intr_error;
    VMCS12(c, VM_EXIT_INSTRUCTION_LEN) = 0;
    VMCS12(c, IDT_VECTORING_INFO_FIELD) = (pending & INTR_INFO_VALID) ? pending : 0;
    VMCS12(c, IDT_VECTORING_ERROR_CODE) = pending_error;
    if (x->addresses) {
        VMCS12(c, GUEST_LINEAR_ADDRESS) = x->gla;
        VMCS12(c, GUEST_PHYSICAL_ADDRESS) = x->gpa;
    }
    VMCS12(c, VM_ENTRY_INTR_INFO_FIELD) &= ~(uint64_t)INTR_INFO_VALID;
    if (msr_list_store(VMCS12(c, VM_EXIT_MSR_STORE_ADDR), VMCS12(c, VM_EXIT_MSR_STORE_COUNT)))
        vmx_abort(v, VMX_ABORT_SAVING_GUEST_MSRS);
    finish_exit_to_l1(v);
}

void nested_vmexit_event(struct vcpu *v, uint32_t reason, uint64_t qualification, uint32_t intr_info)
{
    synthesized_exit(v, &(struct made_exit){.reason = reason, .qualification = qualification, .intr_info = intr_info});
}

void nested_vmexit_for_nmi(struct vcpu *v)
{
    synthesized_exit(v, &(struct made_exit){.reason = EXIT_REASON_EXCEPTION_NMI,
                                            .intr_info = INTR_INFO_VALID | INTR_TYPE_NMI | VEC_NMI});
}

void nested_vmexit_signal(struct vcpu *v, uint32_t reason, uint64_t qualification)
{
    synthesized_exit(v, &(struct made_exit){.reason = reason, .qualification = qualification});
}

void nested_l2_instruction_emulated(struct vcpu *v)
{
    /* SDM 26.5.2: with the monitor trap flag an instruction that completes
     * is followed by an MTF VM exit; L0 completed this one for the CPU. */
    if (v->in_l2 && (VMCS12(v->nested->cache, CPU_BASED_VM_EXEC_CONTROL) & PROC_MONITOR_TRAP_FLAG))
        synthesized_exit(v, &(struct made_exit){.reason = EXIT_REASON_MONITOR_TRAP_FLAG});
}

void nested_l2_exception(struct vcpu *v, unsigned vector, bool has_error, uint32_t error, uint64_t cr2)
{
    uint32_t info = INTR_INFO_VALID | INTR_TYPE_HW_EXCEPTION | vector | (has_error ? INTR_INFO_DELIVER_CODE : 0);
    struct l2_exit e = {.reason = EXIT_REASON_EXCEPTION_NMI, .intr_info = info, .intr_error = error};
    if (nested_exit_wanted_by_l1(v->nested->cache, &e)) {
        /* SDM 28.2.1: a #PF that exits leaves CR2 alone; its linear
         * address is the exit qualification. */
        synthesized_exit(v, &(struct made_exit){.reason = EXIT_REASON_EXCEPTION_NMI,
                                                .qualification = vector == VEC_PF ? cr2 : 0,
                                                .intr_info = info,
                                                .intr_error = has_error ? error : 0});
        return;
    }
    if (vector == VEC_PF)
        write_cr2(cr2); /* CR2 is not in the VMCS: L2 sees the CPU's */
    if (has_error)
        vcpu_inject_exception_code(v, vector, error);
    else
        vcpu_inject_exception(v, vector);
}

/* A refused access to L2-physical memory under EPT12: the EPT violation or
 * misconfiguration L1 would see (SDM 29.3.3, Table 28-7), L2 left at the
 * instruction. */
static void l2_guest_phys_fault(struct vcpu *v, const struct gva_fault *f)
{
    struct nested_vmx *n = v->nested;
    uint64_t eptp12 = VMCS12(n->cache, EPT_POINTER);
    uint64_t access = nested_l2_ept_access(eptp12, f->access), l1_gpa;
    struct ept12_walk w;
    struct ept02_pml pml, *log = nested_pml_begin(n->cache, &pml);
    enum ept02_access a = ept02_l2_access(n->ept02, eptp12, f->gpa, access, log, &l1_gpa, &w);
    nested_pml_end(n->cache, log);
    if (a == EPT02_ACCESS_OK)
        return; /* EPT12 changed meanwhile (another CPU of L1): L2 retries */
    if (a == EPT02_ACCESS_PML_FULL) {
        /* SDM 29.3.6: the access that would set a flag with the log full
         * is a page-modification log-full exit instead. */
        synthesized_exit(v, &(struct made_exit){.reason = EXIT_REASON_PML_FULL});
        return;
    }
    if (w.status == EPT12_MISCONFIG) {
        synthesized_exit(v, &(struct made_exit){.reason = EXIT_REASON_EPT_MISCONFIG, .addresses = true,
                                                .gla = f->address, .gpa = f->gpa});
        return;
    }
    uint64_t q = (access & EPT_READ ? EPT_QUAL_READ : 0) | (access & EPT_WRITE ? EPT_QUAL_WRITE : 0) |
                 (access & EPT_EXEC ? EPT_QUAL_FETCH : 0) | (w.perms & EPT_RWX) << EPT_QUAL_PERM_SHIFT |
                 EPT_QUAL_GLA_VALID | (f->access & GVA_ACCESS_WALK ? 0 : EPT_QUAL_GLA_TRANSLATED);
    synthesized_exit(v, &(struct made_exit){.reason = EXIT_REASON_EPT_VIOLATION, .qualification = q,
                                            .addresses = true, .gla = f->address, .gpa = f->gpa});
}

void nested_l2_fault(struct vcpu *v, const struct gva_fault *f)
{
    if (f->vector == GVA_FAULT_GUEST_PHYS)
        l2_guest_phys_fault(v, f);
    else
        nested_l2_exception(v, f->vector, f->vector == VEC_PF || f->vector == VEC_GP || f->vector == VEC_SS,
                            f->error, f->address);
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
