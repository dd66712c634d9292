/* Architectural register bits: CR0, CR4, EFER, RFLAGS, CPUID features. */
#ifndef ARCH_X86_CPU_BITS_H
#define ARCH_X86_CPU_BITS_H

#define CR0_PE (1ULL << 0)
#define CR0_MP (1ULL << 1)
#define CR0_EM (1ULL << 2)
#define CR0_TS (1ULL << 3)
#define CR0_ET (1ULL << 4)
#define CR0_NE (1ULL << 5)
#define CR0_WP (1ULL << 16)
#define CR0_AM (1ULL << 18)
#define CR0_NW (1ULL << 29)
#define CR0_CD (1ULL << 30)
#define CR0_PG (1ULL << 31)

#define CR4_VME        (1ULL << 0)
#define CR4_PVI        (1ULL << 1)
#define CR4_TSD        (1ULL << 2)
#define CR4_DE         (1ULL << 3)
#define CR4_PSE        (1ULL << 4)
#define CR4_PAE        (1ULL << 5)
#define CR4_MCE        (1ULL << 6)
#define CR4_PGE        (1ULL << 7)
#define CR4_PCE        (1ULL << 8)
#define CR4_OSFXSR     (1ULL << 9)
#define CR4_OSXMMEXCPT (1ULL << 10)
#define CR4_UMIP       (1ULL << 11)
#define CR4_LA57       (1ULL << 12)
#define CR4_VMXE       (1ULL << 13)
#define CR4_SMXE       (1ULL << 14)
#define CR4_FSGSBASE   (1ULL << 16)
#define CR4_PCIDE      (1ULL << 17)
#define CR4_OSXSAVE    (1ULL << 18)
#define CR4_SMEP       (1ULL << 20)
#define CR4_SMAP       (1ULL << 21)
#define CR4_PKE        (1ULL << 22)
#define CR4_CET        (1ULL << 23)

#define EFER_SCE (1ULL << 0)
#define EFER_LME (1ULL << 8)
#define EFER_LMA (1ULL << 10)
#define EFER_NXE (1ULL << 11)

#define RFLAGS_CF     (1ULL << 0)
#define RFLAGS_FIXED1 (1ULL << 1)
#define RFLAGS_PF     (1ULL << 2)
#define RFLAGS_AF     (1ULL << 4)
#define RFLAGS_ZF     (1ULL << 6)
#define RFLAGS_SF     (1ULL << 7)
#define RFLAGS_TF     (1ULL << 8)
#define RFLAGS_IF     (1ULL << 9)
#define RFLAGS_DF     (1ULL << 10)
#define RFLAGS_OF     (1ULL << 11)
#define RFLAGS_IOPL   (3ULL << 12)
#define RFLAGS_NT     (1ULL << 14)
#define RFLAGS_RF     (1ULL << 16)
#define RFLAGS_VM     (1ULL << 17)
#define RFLAGS_AC     (1ULL << 18)
#define RFLAGS_VIF    (1ULL << 19)
#define RFLAGS_VIP    (1ULL << 20)
#define RFLAGS_ID     (1ULL << 21)

/* Exception vectors. */
#define VEC_DE 0
#define VEC_DB 1
#define VEC_NMI 2
#define VEC_BP 3
#define VEC_OF 4
#define VEC_BR 5
#define VEC_UD 6
#define VEC_NM 7
#define VEC_DF 8
#define VEC_TS 10
#define VEC_NP 11
#define VEC_SS 12
#define VEC_GP 13
#define VEC_PF 14
#define VEC_MF 16
#define VEC_AC 17
#define VEC_MC 18
#define VEC_XM 19
#define VEC_VE 20
#define VEC_CP 21

/* Page-fault error code bits. */
#define PFEC_P    (1U << 0)
#define PFEC_W    (1U << 1)
#define PFEC_U    (1U << 2)
#define PFEC_RSVD (1U << 3)
#define PFEC_I    (1U << 4)

/* CPUID leaves and feature bits used by nestvisor. */
#define CPUID_LEAF_BASIC         0x00000000
#define CPUID_LEAF_FEATURES      0x00000001
#define CPUID_LEAF_CACHE         0x00000004
#define CPUID_LEAF_MWAIT         0x00000005
#define CPUID_LEAF_THERMAL       0x00000006
#define CPUID_LEAF_EXT_FEATURES  0x00000007
#define CPUID_LEAF_TOPOLOGY      0x0000000b
#define CPUID_LEAF_XSAVE         0x0000000d
#define CPUID_LEAF_TSC           0x00000015
#define CPUID_LEAF_FREQ          0x00000016
#define CPUID_LEAF_HV_BASE       0x40000000
#define CPUID_LEAF_HV_LAST       0x400000ff
#define CPUID_LEAF_EXT_BASE      0x80000000
#define CPUID_LEAF_EXT_FEATURES_1 0x80000001
#define CPUID_LEAF_EXT_ADDR      0x80000008

#define CPUID_1_ECX_VMX        (1U << 5)
#define CPUID_1_ECX_SMX        (1U << 6)
#define CPUID_1_ECX_PCID       (1U << 17)
#define CPUID_1_ECX_X2APIC     (1U << 21)
#define CPUID_1_ECX_MONITOR    (1U << 3)
#define CPUID_1_ECX_TSC_DEADLINE (1U << 24)
#define CPUID_1_ECX_XSAVE      (1U << 26)
#define CPUID_1_ECX_OSXSAVE    (1U << 27)
#define CPUID_1_ECX_HYPERVISOR (1U << 31)
#define CPUID_1_EDX_MSR        (1U << 5)
#define CPUID_1_EDX_PAE        (1U << 6)
#define CPUID_1_EDX_APIC       (1U << 9)
#define CPUID_1_EDX_MTRR       (1U << 12)
#define CPUID_1_EDX_PAT        (1U << 16)
#define CPUID_7_EBX_FSGSBASE   (1U << 0)
#define CPUID_7_EBX_SMEP       (1U << 7)
#define CPUID_7_EBX_SMAP       (1U << 20)
#define CPUID_7_ECX_UMIP       (1U << 2)
#define CPUID_7_ECX_PKU        (1U << 3)
#define CPUID_7_ECX_WAITPKG    (1U << 5)
#define CPUID_7_ECX_LA57       (1U << 16)
#define CPUID_7_EDX_FSRM       (1U << 4)
#define CPUID_7_EDX_ARCH_CAPS  (1U << 29)
#define CPUID_7_EDX_CORE_CAPS  (1U << 30)
#define CPUID_80000001_EDX_NX  (1U << 20)
#define CPUID_80000001_EDX_PDPE1GB (1U << 26)
#define CPUID_80000001_EDX_RDTSCP (1U << 27)
#define CPUID_80000001_EDX_LM  (1U << 29)

#endif
