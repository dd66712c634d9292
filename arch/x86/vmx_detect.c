#include "arch/x86/vmx_detect.h"
#include "arch/x86/cpu.h"
#include "arch/x86/cpu_bits.h"
#include "arch/x86/msr_index.h"
#include "lib/format.h"

bool vmx_detect(struct vmx_caps *caps, char *why, size_t whysz)
{
    struct cpuid_regs r;
    /* CPUID first: under QEMU TCG, CR4.VMXE hangs and VMX MSRs read 0. */
    cpuid_query(CPUID_LEAF_FEATURES, 0, &r);
    if (!(r.ecx & CPUID_1_ECX_VMX)) {
        format(why, whysz, "CPUID.1:ECX.VMX=0 (no VT-x; QEMU TCG? use -enable-kvm -cpu host,+vmx)");
        return false;
    }
    uint64_t fc;
    if (!rdmsr_safe(MSR_IA32_FEATURE_CONTROL, &fc)) {
        format(why, whysz, "IA32_FEATURE_CONTROL cannot be read");
        return false;
    }
    if (!(fc & FEATURE_CONTROL_LOCK)) {
        fc |= FEATURE_CONTROL_VMX_OUTSIDE_SMX | FEATURE_CONTROL_LOCK;
        if (!wrmsr_safe(MSR_IA32_FEATURE_CONTROL, fc)) {
            format(why, whysz, "IA32_FEATURE_CONTROL could not be enabled and locked");
            return false;
        }
    } else if (!(fc & FEATURE_CONTROL_VMX_OUTSIDE_SMX)) {
        format(why, whysz,
               "IA32_FEATURE_CONTROL is locked with VMX disabled (0x%llx): enable VT-x in the firmware setup",
               (unsigned long long)fc);
        return false;
    }
    struct vmx_msrs raw;
    vmx_msrs_read(&raw);
    vmx_caps_decode(&raw, caps);
    if (!caps->revision_id || !caps->vmcs_size) {
        format(why, whysz, "IA32_VMX_BASIC reads 0x%llx: no usable VMX", (unsigned long long)raw.basic);
        return false;
    }
    return true;
}
