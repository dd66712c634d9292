#include "vmm/cpuid.h"
#include "vmm/vm.h"
#include "vmm/hypercall_abi.h"
#include "arch/x86/cpu_bits.h"
#include "arch/x86/vmx.h"

#define CPUID_LEAF_PMU        0x0000000a
#define CPUID_LEAF_PT         0x00000014
#define CPUID_7_ECX_OSPKE     (1U << 4)

void cpuid_filter(uint32_t leaf, uint32_t subleaf, const struct cpuid_view *view,
                  struct cpuid_regs *r)
{
    (void)subleaf;
    if (leaf >= CPUID_LEAF_HV_BASE && leaf <= CPUID_LEAF_HV_LAST) {
        *r = (struct cpuid_regs){0, 0, 0, 0};
        if (leaf == CPUID_LEAF_HV_BASE)
            *r = (struct cpuid_regs){CPUID_LEAF_HV_BASE + 1, NV_CPUID_SIGNATURE_EBX,
                                     NV_CPUID_SIGNATURE_ECX, NV_CPUID_SIGNATURE_EDX};
        else if (leaf == CPUID_LEAF_HV_BASE + 1)
            *r = (struct cpuid_regs){NV_ABI_VERSION, view->hv_features, 0, 0};
        return;
    }
    switch (leaf) {
    case CPUID_LEAF_FEATURES:
        r->ecx |= CPUID_1_ECX_HYPERVISOR;
        r->ecx &= ~(CPUID_1_ECX_SMX | CPUID_1_ECX_OSXSAVE | CPUID_1_ECX_VMX);
        if (view->nested)
            r->ecx |= CPUID_1_ECX_VMX;
        if (view->guest_cr4 & CR4_OSXSAVE)
            r->ecx |= CPUID_1_ECX_OSXSAVE;
        break;
    case CPUID_LEAF_EXT_FEATURES:
        if (subleaf == 0) {
            r->ecx &= ~(CPUID_7_ECX_WAITPKG | CPUID_7_ECX_OSPKE);
            if (view->guest_cr4 & CR4_PKE)
                r->ecx |= CPUID_7_ECX_OSPKE;
        }
        break;
    case CPUID_LEAF_PMU:
    case CPUID_LEAF_PT:
        *r = (struct cpuid_regs){0, 0, 0, 0};
        break;
    default:
        break;
    }
}

void handle_cpuid(struct vcpu *v)
{
    uint32_t leaf = (uint32_t)v->regs.rax, subleaf = (uint32_t)v->regs.rcx;
    struct cpuid_regs r;
    cpuid_query(leaf, subleaf, &r);
    struct cpuid_view view = {
        .nested = the_vm.cfg.nested,
        .guest_cr4 = vmcs_read(VMCS_GUEST_CR4),
        .hv_features = (the_vm.cfg.nested ? NV_FEATURE_NESTED : 0) |
                       (the_vm.cfg.nested && the_vm.cfg.shadow ? NV_FEATURE_SHADOW : 0),
    };
    cpuid_filter(leaf, subleaf, &view, &r);
    v->regs.rax = r.eax;
    v->regs.rbx = r.ebx;
    v->regs.rcx = r.ecx;
    v->regs.rdx = r.edx;
    vcpu_skip_instruction(v);
}
