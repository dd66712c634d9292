#include "arch/x86/vmx_root.h"
#include "arch/x86/vmx.h"
#include "arch/x86/vmx_bits.h"
#include "arch/x86/cpu.h"
#include "arch/x86/cpu_bits.h"
#include "arch/x86/physmem.h"
#include "lib/format.h"

bool vmx_enter_root(const struct vmx_caps *caps, uint64_t vmxon_pa, char *why, size_t whysz)
{
    /* SDM A.7/A.8: bits set in FIXED0 must be 1, bits clear in FIXED1 must be 0. */
    uint64_t cr0 = (read_cr0() | caps->raw.cr0_fixed0) & caps->raw.cr0_fixed1;
    uint64_t cr4 = (read_cr4() | caps->raw.cr4_fixed0 | CR4_VMXE) & caps->raw.cr4_fixed1;
    /* XSETBV on L1's behalf needs CR4.OSXSAVE in L0 (L0 itself never uses
     * extended state). */
    struct cpuid_regs r;
    cpuid_query(CPUID_LEAF_FEATURES, 0, &r);
    if (r.ecx & CPUID_1_ECX_XSAVE)
        cr4 |= CR4_OSXSAVE;
    write_cr0(cr0);
    write_cr4(cr4);
    *(volatile uint32_t *)phys_to_virt(vmxon_pa) = caps->revision_id;
    if (!vmx_on(vmxon_pa)) {
        format(why, whysz, "VMXON failed (CR0 0x%llx CR4 0x%llx, region 0x%llx)",
               (unsigned long long)cr0, (unsigned long long)cr4, (unsigned long long)vmxon_pa);
        return false;
    }
    return true;
}

bool vmcs_region_init(const struct vmx_caps *caps, uint64_t pa, bool shadow)
{
    *(volatile uint32_t *)phys_to_virt(pa) = caps->revision_id | (shadow ? VMCS_SHADOW_INDICATOR : 0);
    return vmcs_clear(pa);
}
