/* Model-specific register indices (SDM Vol. 4). Named here once. */
#ifndef ARCH_X86_MSR_INDEX_H
#define ARCH_X86_MSR_INDEX_H

#define MSR_IA32_TSC                   0x00000010
#define MSR_IA32_PLATFORM_ID           0x00000017
#define MSR_IA32_APIC_BASE             0x0000001b
#define MSR_IA32_FEATURE_CONTROL       0x0000003a
#define MSR_IA32_TSC_ADJUST            0x0000003b
#define MSR_IA32_SPEC_CTRL             0x00000048
#define MSR_IA32_PRED_CMD              0x00000049
#define MSR_IA32_BIOS_SIGN_ID          0x0000008b
#define MSR_IA32_SMM_MONITOR_CTL       0x0000009b
#define MSR_IA32_CORE_CAPABILITIES     0x000000cf
#define MSR_IA32_MPERF                 0x000000e7
#define MSR_IA32_APERF                 0x000000e8
#define MSR_IA32_MTRRCAP               0x000000fe
#define MSR_IA32_ARCH_CAPABILITIES     0x0000010a
#define MSR_IA32_FLUSH_CMD             0x0000010b
#define MSR_IA32_SYSENTER_CS           0x00000174
#define MSR_IA32_SYSENTER_ESP          0x00000175
#define MSR_IA32_SYSENTER_EIP          0x00000176
#define MSR_IA32_MCG_CAP               0x00000179
#define MSR_IA32_MCG_STATUS            0x0000017a
#define MSR_IA32_MCG_CTL               0x0000017b
#define MSR_IA32_PERF_STATUS           0x00000198
#define MSR_IA32_PERF_CTL              0x00000199
#define MSR_IA32_THERM_CONTROL         0x0000019a
#define MSR_IA32_THERM_STATUS          0x0000019c
#define MSR_IA32_MISC_ENABLE           0x000001a0
#define MSR_IA32_PACKAGE_THERM_STATUS  0x000001b1
#define MSR_IA32_PM_ENABLE             0x00000770
#define MSR_IA32_DEBUGCTL              0x000001d9
#define MSR_IA32_MTRR_PHYSBASE0        0x00000200
#define MSR_IA32_MTRR_PHYSMASK0        0x00000201
#define MSR_IA32_MTRR_FIX64K_00000     0x00000250
#define MSR_IA32_MTRR_FIX16K_80000     0x00000258
#define MSR_IA32_MTRR_FIX16K_A0000     0x00000259
#define MSR_IA32_MTRR_FIX4K_C0000      0x00000268
#define MSR_IA32_MTRR_FIX4K_F8000      0x0000026f
#define MSR_IA32_PAT                   0x00000277
#define MSR_IA32_MTRR_DEF_TYPE         0x000002ff
#define MSR_IA32_PERF_GLOBAL_CTRL      0x0000038f
#define MSR_IA32_MC0_CTL               0x00000400
#define MSR_IA32_MC_LAST               0x0000047f /* 32 banks of 4 MSRs */
#define MSR_IA32_ENERGY_PERF_BIAS      0x000001b0
#define MSR_IA32_VMX_BASIC             0x00000480
#define MSR_IA32_VMX_PINBASED_CTLS     0x00000481
#define MSR_IA32_VMX_PROCBASED_CTLS    0x00000482
#define MSR_IA32_VMX_EXIT_CTLS         0x00000483
#define MSR_IA32_VMX_ENTRY_CTLS        0x00000484
#define MSR_IA32_VMX_MISC              0x00000485
#define MSR_IA32_VMX_CR0_FIXED0        0x00000486
#define MSR_IA32_VMX_CR0_FIXED1        0x00000487
#define MSR_IA32_VMX_CR4_FIXED0        0x00000488
#define MSR_IA32_VMX_CR4_FIXED1        0x00000489
#define MSR_IA32_VMX_VMCS_ENUM         0x0000048a
#define MSR_IA32_VMX_PROCBASED_CTLS2   0x0000048b
#define MSR_IA32_VMX_EPT_VPID_CAP      0x0000048c
#define MSR_IA32_VMX_TRUE_PINBASED_CTLS  0x0000048d
#define MSR_IA32_VMX_TRUE_PROCBASED_CTLS 0x0000048e
#define MSR_IA32_VMX_TRUE_EXIT_CTLS    0x0000048f
#define MSR_IA32_VMX_TRUE_ENTRY_CTLS   0x00000490
#define MSR_IA32_VMX_VMFUNC            0x00000491
#define MSR_IA32_VMX_PROCBASED_CTLS3   0x00000492
#define MSR_IA32_XSS                   0x00000da0
#define MSR_IA32_TSC_DEADLINE          0x000006e0
#define MSR_X2APIC_FIRST               0x00000800
#define MSR_X2APIC_LAST                0x000008ff
#define MSR_X2APIC_ID                  0x00000802
#define MSR_X2APIC_ICR                 0x00000830
#define MSR_IA32_EFER                  0xc0000080
#define MSR_IA32_STAR                  0xc0000081
#define MSR_IA32_LSTAR                 0xc0000082
#define MSR_IA32_CSTAR                 0xc0000083
#define MSR_IA32_FMASK                 0xc0000084
#define MSR_IA32_FS_BASE               0xc0000100
#define MSR_IA32_GS_BASE               0xc0000101
#define MSR_IA32_KERNEL_GS_BASE        0xc0000102
#define MSR_IA32_TSC_AUX               0xc0000103

/* IA32_BIOS_SIGN_ID: the microcode update signature (SDM Vol. 4 Table 2-2). */
#define BIOS_SIGN_ID_REVISION_MASK     0xffffffff00000000ULL

/* IA32_MISC_ENABLE bits (SDM Vol. 4 Table 2-2). */
#define MISC_ENABLE_FAST_STRING        (1ULL << 0)
#define MISC_ENABLE_BTS_UNAVAILABLE    (1ULL << 11)
#define MISC_ENABLE_PEBS_UNAVAILABLE   (1ULL << 12)

/* IA32_FEATURE_CONTROL bits (SDM 24.7). */
#define FEATURE_CONTROL_LOCK           (1ULL << 0)
#define FEATURE_CONTROL_VMX_IN_SMX     (1ULL << 1)
#define FEATURE_CONTROL_VMX_OUTSIDE_SMX (1ULL << 2)

#endif
