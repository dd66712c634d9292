#include "vmm/nmi.h"
#include "vmm/smp.h"
#include "vmm/vm.h"
#include "vmm/nested/nested.h"
#include "arch/x86/cpu.h"
#include "arch/x86/cpu_bits.h"
#include "arch/x86/exit_reasons.h"
#include "arch/x86/vmx.h"
#include "arch/x86/vmx_bits.h"

#define NMI_BLOCKERS (INTERRUPTIBILITY_STI | INTERRUPTIBILITY_MOV_SS | INTERRUPTIBILITY_NMI)

void nmi_exit_l1(struct vcpu *v)
{
    cpu_unblock_nmi();
    if (!smp_nmi_is_l0s(v->cpu))
        v->nmi_pending = true;
}

bool nmi_exit_l2(struct vcpu *v, bool l1_wants)
{
    cpu_unblock_nmi();
    if (smp_nmi_is_l0s(v->cpu))
        return true;
    if (l1_wants)
        return false;
    v->nmi_pending = true;
    return true;
}

static void set_nmi_window(bool on)
{
    uint32_t proc = vmcs_read32(VMCS_CPU_BASED_VM_EXEC_CONTROL);
    proc = on ? proc | PROC_NMI_WINDOW_EXITING : proc & ~PROC_NMI_WINDOW_EXITING;
    vmcs_write(VMCS_CPU_BASED_VM_EXEC_CONTROL, proc);
}

void handle_nmi_window(struct vcpu *v)
{
    (void)v;
    set_nmi_window(false); /* vcpu_deliver_nmi sets it again if still blocked */
}

/* Into the guest the current VMCS runs, if nothing blocks it now
 * (SDM 26.3.1.5: no NMI injection under MOV-SS or (virtual-)NMI blocking;
 * STI blocking blocks NMIs on some processors, 25.4.1). */
static bool inject_now(void)
{
    if ((vmcs_read32(VMCS_VM_ENTRY_INTR_INFO_FIELD) & INTR_INFO_VALID) ||
        (vmcs_read32(VMCS_GUEST_INTERRUPTIBILITY_INFO) & NMI_BLOCKERS)) {
        set_nmi_window(true);
        return false;
    }
    vmcs_write(VMCS_VM_ENTRY_INTR_INFO_FIELD, INTR_INFO_VALID | INTR_TYPE_NMI | VEC_NMI);
    return true;
}

void vcpu_deliver_nmi(struct vcpu *v)
{
    /* Wait-for-SIPI blocks NMIs (SDM 26.6.2): it stays pending. */
    if (!v->nmi_pending || v->wait_for_sipi)
        return;
    if (v->in_l2 && nested_l1_wants_nmi_exits(v)) {
        v->nmi_pending = false;
        nested_vmexit_for_nmi(v);
        return;
    }
    if (inject_now())
        v->nmi_pending = false;
}

void nmi_in_l0(void)
{
    struct percpu *pc = this_cpu();
    if (!pc || !pc->vcpu)
        return;
    if (!smp_nmi_is_l0s(pc)) {
        pc->vcpu->nmi_pending = true;
        /* Before the next VM entry, even one already under way. */
        __atomic_store_n(&pc->attention, 1, __ATOMIC_RELEASE);
    }
}
