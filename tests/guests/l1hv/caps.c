/* VMX capabilities: every IA32_VMX_* MSR (SDM Vol. 3D Appendix A). */
#include "l1hv.h"

struct vmx_caps caps;

static bool read_msr(uint32_t msr, uint64_t *v, const char **why)
{
    if (rdmsr_safe(msr, v) == NO_FAULT)
        return true;
    static char buf[64];
    snprintf(buf, sizeof buf, "RDMSR %#x faulted", msr);
    *why = buf;
    return false;
}

bool caps_read(const char **why)
{
    memset(&caps, 0, sizeof caps);
    if (!(cpuid(1).ecx & CPUID1_ECX_VMX)) {
        *why = "CPUID.1:ECX.VMX[5] is 0";
        return false;
    }
    uint64_t fc;
    if (!read_msr(MSR_FEATURE_CONTROL, &fc, why))
        return false;
    if (!(fc & FEATURE_CONTROL_LOCK)) {
        /* Firmware left it open: enable VMX outside SMX and lock, as an OS would. */
        fc |= FEATURE_CONTROL_VMX_OUTSIDE_SMX | FEATURE_CONTROL_LOCK;
        if (wrmsr_safe(MSR_FEATURE_CONTROL, fc) != NO_FAULT) {
            *why = "IA32_FEATURE_CONTROL could not be locked";
            return false;
        }
    } else if (!(fc & FEATURE_CONTROL_VMX_OUTSIDE_SMX)) {
        *why = "IA32_FEATURE_CONTROL is locked with VMX outside SMX disabled";
        return false;
    }

    if (!read_msr(MSR_IA32_VMX_BASIC, &caps.basic, why) ||
        !read_msr(MSR_IA32_VMX_PINBASED_CTLS, &caps.pin, why) ||
        !read_msr(MSR_IA32_VMX_PROCBASED_CTLS, &caps.proc, why) ||
        !read_msr(MSR_IA32_VMX_EXIT_CTLS, &caps.exit, why) ||
        !read_msr(MSR_IA32_VMX_ENTRY_CTLS, &caps.entry, why) ||
        !read_msr(MSR_IA32_VMX_MISC, &caps.misc, why) ||
        !read_msr(MSR_IA32_VMX_CR0_FIXED0, &caps.cr0_fixed0, why) ||
        !read_msr(MSR_IA32_VMX_CR0_FIXED1, &caps.cr0_fixed1, why) ||
        !read_msr(MSR_IA32_VMX_CR4_FIXED0, &caps.cr4_fixed0, why) ||
        !read_msr(MSR_IA32_VMX_CR4_FIXED1, &caps.cr4_fixed1, why) ||
        !read_msr(MSR_IA32_VMX_VMCS_ENUM, &caps.vmcs_enum, why))
        return false;

    caps.ctl_pin = caps.pin;
    caps.ctl_proc = caps.proc;
    caps.ctl_exit = caps.exit;
    caps.ctl_entry = caps.entry;
    if (caps.basic & VMX_BASIC_TRUE_CTLS) {
        if (!read_msr(MSR_IA32_VMX_TRUE_PINBASED_CTLS, &caps.true_pin, why) ||
            !read_msr(MSR_IA32_VMX_TRUE_PROCBASED_CTLS, &caps.true_proc, why) ||
            !read_msr(MSR_IA32_VMX_TRUE_EXIT_CTLS, &caps.true_exit, why) ||
            !read_msr(MSR_IA32_VMX_TRUE_ENTRY_CTLS, &caps.true_entry, why))
            return false;
        caps.ctl_pin = caps.true_pin;
        caps.ctl_proc = caps.true_proc;
        caps.ctl_exit = caps.true_exit;
        caps.ctl_entry = caps.true_entry;
    }
    /* IA32_VMX_PROCBASED_CTLS2 exists only if "activate secondary
     * controls" may be 1; IA32_VMX_EPT_VPID_CAP only if EPT or VPID may be
     * 1; IA32_VMX_VMFUNC only if "enable VM functions" may be 1 (A.3.3,
     * A.10, A.11). */
    if (ctl_may1(caps.proc) & PROC_SECONDARY_CONTROLS) {
        if (!read_msr(MSR_IA32_VMX_PROCBASED_CTLS2, &caps.proc2, why))
            return false;
        caps.ctl_proc2 = caps.proc2;
        if (ctl_may1(caps.proc2) & (PROC2_EPT | PROC2_VPID))
            if (!read_msr(MSR_IA32_VMX_EPT_VPID_CAP, &caps.ept_vpid, why))
                return false;
        if (ctl_may1(caps.proc2) & PROC2_VMFUNC)
            if (!read_msr(MSR_IA32_VMX_VMFUNC, &caps.vmfunc, why))
                return false;
    }
    caps.revision = (uint32_t)(caps.basic & VMX_BASIC_REVISION_MASK);
    caps.phys_bits = 36;
    if (cpuid(0x80000000).eax >= 0x80000008)
        caps.phys_bits = cpuid(0x80000008).eax & 0xff;
    if (VMX_BASIC_REGION_SIZE(caps.basic) > PAGE_SIZE) {
        *why = "VMCS region larger than 4 KiB";
        return false;
    }
    return true;
}

void caps_print(void)
{
    printf("l1hv: VMX basic %#lx (revision %#x, region %lu bytes, memtype %lu, true ctls %d), "
           "phys bits %u\n",
           caps.basic, caps.revision, VMX_BASIC_REGION_SIZE(caps.basic),
           VMX_BASIC_MEMTYPE(caps.basic), (caps.basic & VMX_BASIC_TRUE_CTLS) != 0,
           caps.phys_bits);
    printf("l1hv: pin %#018lx proc %#018lx exit %#018lx entry %#018lx\n", caps.pin, caps.proc,
           caps.exit, caps.entry);
    printf("l1hv: true pin %#018lx proc %#018lx exit %#018lx entry %#018lx\n", caps.true_pin,
           caps.true_proc, caps.true_exit, caps.true_entry);
    printf("l1hv: proc2 %#018lx ept/vpid %#018lx vmfunc %#lx misc %#lx vmcs_enum %#lx\n",
           caps.proc2, caps.ept_vpid, caps.vmfunc, caps.misc, caps.vmcs_enum);
    printf("l1hv: cr0 fixed0 %#lx fixed1 %#lx, cr4 fixed0 %#lx fixed1 %#lx\n", caps.cr0_fixed0,
           caps.cr0_fixed1, caps.cr4_fixed0, caps.cr4_fixed1);
}

static bool offered(uint64_t msr, uint32_t bits)
{
    return (bits & ~ctl_may1(msr)) == 0;
}

bool cap_pin(uint32_t bits) { return offered(caps.ctl_pin, bits); }
bool cap_proc(uint32_t bits) { return offered(caps.ctl_proc, bits); }
bool cap_exit(uint32_t bits) { return offered(caps.ctl_exit, bits); }
bool cap_entry(uint32_t bits) { return offered(caps.ctl_entry, bits); }

bool cap_proc2(uint32_t bits)
{
    return cap_proc(PROC_SECONDARY_CONTROLS) && offered(caps.ctl_proc2, bits);
}
