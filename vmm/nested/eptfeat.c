/* The EPT features L0 emulates for L1 on top of EPT-on-EPT, where the CPU
 * cannot compose them for L2 (docs/nested.md, "PML, EPTP switching and
 * #VE"): vmcs02 never enables them itself.
 *   - page-modification logging (SDM 29.3.6): ept02.c logs as it sets
 *     EPT12's dirty flags; here vmcs12's log is handed to it and the index
 *     kept, and a full log becomes L1's exit 62;
 *   - EPTP switching, VM function 0 (SDM 26.5.6.3): vmcs02 enables VM
 *     functions with none of them on, so every VMFUNC of L2 exits to L0;
 *   - EPT-violation #VE (SDM 26.5.7): a convertible violation of EPT12
 *     becomes a #VE in L2 (or L1's exception exit) instead of L1's EPT
 *     violation exit.
 * Every address L1 names here (log, EPTP list, #VE information area) is
 * reached as L1 reaches it (vm_l1_view), never into L0's memory. */
#include "vmm/nested/nested.h"
#include "vmm/nested/ept02.h"
#include "vmm/nested/vmcs02.h"
#include "vmm/nested/vmx_msrs.h"
#include "vmm/vcpu.h"
#include "vmm/vm.h"
#include "arch/x86/cpu_bits.h"
#include "arch/x86/exit_reasons.h"
#include "arch/x86/vmx.h"
#include "arch/x86/vmx_bits.h"

static uint32_t proc2_of(const struct vmcs12 *c)
{
    return (VMCS12(c, CPU_BASED_VM_EXEC_CONTROL) & PROC_SECONDARY_CONTROLS)
               ? (uint32_t)VMCS12(c, SECONDARY_VM_EXEC_CONTROL)
               : 0;
}

struct ept02_pml *nested_pml_begin(const struct vmcs12 *c, struct ept02_pml *pml)
{
    if (!(proc2_of(c) & PROC2_ENABLE_PML))
        return 0;
    pml->address = VMCS12(c, PML_ADDRESS);
    pml->index = (uint16_t)VMCS12(c, GUEST_PML_INDEX);
    return pml;
}

void nested_pml_end(struct vmcs12 *c, const struct ept02_pml *pml)
{
    if (pml)
        VMCS12(c, GUEST_PML_INDEX) = pml->index;
}

enum l2_exit_outcome nested_vmfunc(struct vcpu *v)
{
    struct nested_vmx *n = v->nested;
    struct vmcs12 *c = n->cache;
    /* vmcs02 enables VM functions only when vmcs12 does (vmcs02.c): else
     * the CPU gave L2 its #UD and there was no exit. */
    if (!(proc2_of(c) & PROC2_ENABLE_VMFUNC)) {
        vcpu_inject_ud(v);
        return L2_EXIT_HANDLED;
    }
    /* EAX > 63 is the CPU's #UD before any exit (SDM ch. 31 VMFUNC). */
    uint32_t function = (uint32_t)v->regs.rax;
    uint64_t eptp12;
    if (function == VMFUNC_FN_EPTP_SWITCHING && (VMCS12(c, VM_FUNCTION_CONTROL) & VMFUNC_EPTP_SWITCHING) &&
        ept02_eptp_list_entry(VMCS12(c, EPTP_LIST_ADDRESS), (uint32_t)v->regs.rcx, &eptp12)) {
        /* SDM 26.5.6.3: the new EPTP into the VMCS and into use; where
         * #VE is supported, ECX[15:0] into the EPTP index. */
        VMCS12(c, EPT_POINTER) = eptp12;
        if (nested_vmx_caps()->proc2.may1 & PROC2_EPT_VIOLATION_VE)
            VMCS12(c, EPTP_INDEX) = (uint16_t)v->regs.rcx;
        vmcs_write(VMCS_EPT_POINTER, ept02_eptp_for(n->ept02, eptp12));
        vcpu_skip_instruction(v);
        nested_l2_instruction_emulated(v);
        return v->in_l2 ? L2_EXIT_HANDLED : L2_EXIT_REFLECTED;
    }
    /* A function L1 did not enable, an index beyond the list, or an entry
     * that is no valid EPTP: the VM exit (reason 59) L1 asked for. */
    nested_vmexit(v, NESTED_EXIT_AS_IS, 0);
    return L2_EXIT_REFLECTED;
}

/* SDM 26.5.7.1-26.5.7.3: a convertible EPT violation is a #VE if CR0.PE =
 * 1, no event was being delivered, and the dword at offset 4 of the
 * information area is 0 (a device there reads as all ones). */
bool nested_ept_violation_ve(struct vcpu *v, uint64_t gpa, uint64_t qualification,
                             enum l2_exit_outcome *outcome)
{
    struct vmcs12 *c = v->nested->cache;
    if (!(proc2_of(c) & PROC2_EPT_VIOLATION_VE) || !(vmcs_read(VMCS_GUEST_CR0) & CR0_PE) ||
        (vmcs_read32(VMCS_IDT_VECTORING_INFO_FIELD) & INTR_INFO_VALID))
        return false;
    uint64_t area = VMCS12(c, VE_INFO_ADDRESS);
    const volatile uint32_t *busy = vm_l1_view(area + VE_INFO_BUSY, sizeof(uint32_t));
    if (!busy || *busy)
        return false;
    /* The information (Table 26-1): what the exit would have saved. */
    uint32_t reason = EXIT_REASON_EPT_VIOLATION, in_use = VE_INFO_BUSY_VALUE;
    uint64_t linear = vmcs_read(VMCS_GUEST_LINEAR_ADDRESS);
    uint16_t index = (uint16_t)VMCS12(c, EPTP_INDEX);
    ept02_store_l1(area + VE_INFO_EXIT_REASON, &reason, sizeof(reason));
    ept02_store_l1(area + VE_INFO_BUSY, &in_use, sizeof(in_use));
    ept02_store_l1(area + VE_INFO_QUALIFICATION, &qualification, sizeof(qualification));
    ept02_store_l1(area + VE_INFO_GUEST_LINEAR, &linear, sizeof(linear));
    ept02_store_l1(area + VE_INFO_GUEST_PHYSICAL, &gpa, sizeof(gpa));
    ept02_store_l1(area + VE_INFO_EPTP_INDEX, &index, sizeof(index));
    /* Then it is an exception like any (vector 20, a fault, no error
     * code): L1's exit if its exception bitmap has bit 20. */
    if (VMCS12(c, EXCEPTION_BITMAP) & (1U << VEC_VE)) {
        nested_vmexit_event(v, EXIT_REASON_EXCEPTION_NMI, 0, INTR_INFO_VALID | INTR_TYPE_HW_EXCEPTION | VEC_VE);
        *outcome = L2_EXIT_REFLECTED;
    } else {
        vcpu_inject_exception(v, VEC_VE);
        *outcome = L2_EXIT_HANDLED;
    }
    return true;
}
