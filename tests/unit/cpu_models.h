/* The IA32_VMX_* capability MSRs of the Bochs 2.7 CPU models the tests
 * use (read from Bochs with `vmxcaps`), once for every test. */
#ifndef TESTS_UNIT_CPU_MODELS_H
#define TESTS_UNIT_CPU_MODELS_H

#include "arch/x86/vmx_caps.h"

/* Bochs 2.7 "tigerlake": everything nestvisor cares about, incl. VMCS
 * shadowing, 1G EPT pages, EPT A/D bits and EPTP switching. */
static const struct vmx_msrs tigerlake = {
    .basic = 0x01d8100000000004ULL,
    .pinbased = 0x0000007f00000016ULL,
    .procbased = 0xfff9fffe0401e172ULL,
    .exit = 0x107fffff00036dffULL,
    .entry = 0x0010ffff000011ffULL,
    .misc = 0x00000000600401e0ULL,
    .cr0_fixed0 = 0x80000021ULL,
    .cr0_fixed1 = 0xffffffffULL,
    .cr4_fixed0 = 0x2000ULL,
    .cr4_fixed1 = 0xf72fffULL,
    .vmcs_enum = 0x34ULL,
    .procbased2 = 0x02977fff00000000ULL,
    .ept_vpid = 0x00000f0106b34141ULL,
    .true_pinbased = 0x0000007f00000016ULL,
    .true_procbased = 0xfff9fffe04006172ULL,
    .true_exit = 0x107fffff00036dfbULL,
    .true_entry = 0x0010ffff000011fbULL,
    .vmfunc = 0x1ULL,
};

/* "corei7_sandy_bridge_2600k": EPT, VPID, unrestricted guest; no VMCS
 * shadowing, no 1G pages, no A/D bits, no monitor trap flag. */
static const struct vmx_msrs sandy_bridge = {
    .basic = 0x00d810000000002bULL,
    .pinbased = 0x7f00000016ULL,
    .procbased = 0xf7f9fffe0401e172ULL,
    .exit = 0x7fffff00036dffULL,
    .entry = 0xffff000011ffULL,
    .misc = 0x401e0ULL,
    .cr0_fixed0 = 0x80000021ULL,
    .cr0_fixed1 = 0xffffffffULL,
    .cr4_fixed0 = 0x2000ULL,
    .cr4_fixed1 = 0x627ffULL,
    .vmcs_enum = 0x34ULL,
    .procbased2 = 0xff00000000ULL,
    .ept_vpid = 0x00000f0106114141ULL,
    .true_pinbased = 0x7f00000016ULL,
    .true_procbased = 0xf7f9fffe04006172ULL,
    .true_exit = 0x7fffff00036dfbULL,
    .true_entry = 0xffff000011fbULL,
    .vmfunc = 0,
};

/* "core2_penryn_t9600": VMX without EPT, VPID or unrestricted guest (so
 * without IA32_VMX_EPT_VPID_CAP). */
static const struct vmx_msrs penryn = {
    .basic = 0x00d810000000002bULL,
    .pinbased = 0x3f00000016ULL,
    .procbased = 0xf7f9fffe0401e172ULL,
    .exit = 0x3ffff00036dffULL,
    .entry = 0x3fff000011ffULL,
    .misc = 0x401e0ULL,
    .cr0_fixed0 = 0x80000021ULL,
    .cr0_fixed1 = 0xffffffffULL,
    .cr4_fixed0 = 0x2000ULL,
    .cr4_fixed1 = 0x467ffULL,
    .vmcs_enum = 0x34ULL,
    .procbased2 = 0x4100000000ULL,
    .ept_vpid = 0,
    .true_pinbased = 0x3f00000016ULL,
    .true_procbased = 0xf7f9fffe04006172ULL,
    .true_exit = 0x3ffff00036dfbULL,
    .true_entry = 0x3fff000011fbULL,
    .vmfunc = 0,
};

#endif
