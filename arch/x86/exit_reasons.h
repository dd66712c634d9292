/* Basic VM-exit reasons (SDM Vol. 3C Appendix C) and exit-qualification
 * layouts (SDM 28.2.1). */
#ifndef ARCH_X86_EXIT_REASONS_H
#define ARCH_X86_EXIT_REASONS_H

#define EXIT_REASON_EXCEPTION_NMI       0
#define EXIT_REASON_EXTERNAL_INTERRUPT  1
#define EXIT_REASON_TRIPLE_FAULT        2
#define EXIT_REASON_INIT_SIGNAL         3
#define EXIT_REASON_SIPI                4
#define EXIT_REASON_IO_SMI              5
#define EXIT_REASON_OTHER_SMI           6
#define EXIT_REASON_INTERRUPT_WINDOW    7
#define EXIT_REASON_NMI_WINDOW          8
#define EXIT_REASON_TASK_SWITCH         9
#define EXIT_REASON_CPUID               10
#define EXIT_REASON_GETSEC              11
#define EXIT_REASON_HLT                 12
#define EXIT_REASON_INVD                13
#define EXIT_REASON_INVLPG              14
#define EXIT_REASON_RDPMC               15
#define EXIT_REASON_RDTSC               16
#define EXIT_REASON_RSM                 17
#define EXIT_REASON_VMCALL              18
#define EXIT_REASON_VMCLEAR             19
#define EXIT_REASON_VMLAUNCH            20
#define EXIT_REASON_VMPTRLD             21
#define EXIT_REASON_VMPTRST             22
#define EXIT_REASON_VMREAD              23
#define EXIT_REASON_VMRESUME            24
#define EXIT_REASON_VMWRITE             25
#define EXIT_REASON_VMXOFF              26
#define EXIT_REASON_VMXON               27
#define EXIT_REASON_CR_ACCESS           28
#define EXIT_REASON_DR_ACCESS           29
#define EXIT_REASON_IO_INSTRUCTION      30
#define EXIT_REASON_MSR_READ            31
#define EXIT_REASON_MSR_WRITE           32
#define EXIT_REASON_INVALID_GUEST_STATE 33
#define EXIT_REASON_MSR_LOADING         34
#define EXIT_REASON_MWAIT               36
#define EXIT_REASON_MONITOR_TRAP_FLAG   37
#define EXIT_REASON_MONITOR             39
#define EXIT_REASON_PAUSE               40
#define EXIT_REASON_MCE_DURING_ENTRY    41
#define EXIT_REASON_TPR_BELOW_THRESHOLD 43
#define EXIT_REASON_APIC_ACCESS         44
#define EXIT_REASON_EOI_INDUCED         45
#define EXIT_REASON_GDTR_IDTR           46
#define EXIT_REASON_LDTR_TR             47
#define EXIT_REASON_EPT_VIOLATION       48
#define EXIT_REASON_EPT_MISCONFIG       49
#define EXIT_REASON_INVEPT              50
#define EXIT_REASON_RDTSCP              51
#define EXIT_REASON_PREEMPTION_TIMER    52
#define EXIT_REASON_INVVPID             53
#define EXIT_REASON_WBINVD              54
#define EXIT_REASON_XSETBV              55
#define EXIT_REASON_APIC_WRITE          56
#define EXIT_REASON_RDRAND              57
#define EXIT_REASON_INVPCID             58
#define EXIT_REASON_VMFUNC              59
#define EXIT_REASON_ENCLS               60
#define EXIT_REASON_RDSEED              61
#define EXIT_REASON_PML_FULL            62
#define EXIT_REASON_XSAVES              63
#define EXIT_REASON_XRSTORS             64
#define EXIT_REASON_UMWAIT              67
#define EXIT_REASON_TPAUSE              68
#define EXIT_REASON_COUNT               70

/* Full exit-reason field (SDM 25.9.1). */
#define EXIT_REASON_BASIC_MASK          0xffffU
#define EXIT_REASON_FAILED_ENTRY        (1U << 31)
#define EXIT_REASON_FROM_VMX_ROOT       (1U << 29)

/* CR access qualification (SDM Table 28-3). */
#define CR_QUAL_NUMBER(q)   ((unsigned)((q) & 0xf))
#define CR_QUAL_TYPE(q)     ((unsigned)(((q) >> 4) & 3))
#define CR_QUAL_LMSW_MEMORY (1U << 6)
#define CR_QUAL_GPR(q)      ((unsigned)(((q) >> 8) & 0xf))
#define CR_QUAL_LMSW_DATA(q) ((unsigned)(((q) >> 16) & 0xffff))
#define CR_ACCESS_MOV_TO_CR   0
#define CR_ACCESS_MOV_FROM_CR 1
#define CR_ACCESS_CLTS        2
#define CR_ACCESS_LMSW        3

/* I/O instruction qualification (SDM Table 28-5). */
#define IO_QUAL_SIZE(q)     ((unsigned)((q) & 7) + 1)
#define IO_QUAL_IN          (1U << 3)
#define IO_QUAL_STRING      (1U << 4)
#define IO_QUAL_REP         (1U << 5)
#define IO_QUAL_IMMEDIATE   (1U << 6)
#define IO_QUAL_PORT(q)     ((unsigned)(((q) >> 16) & 0xffff))

/* EPT violation qualification (SDM Table 28-7). */
#define EPT_QUAL_READ           (1ULL << 0)
#define EPT_QUAL_WRITE          (1ULL << 1)
#define EPT_QUAL_FETCH          (1ULL << 2)
#define EPT_QUAL_PERM_SHIFT     3 /* bits 5:3: the R/W/X of the translation */
#define EPT_QUAL_READABLE       (1ULL << 3)
#define EPT_QUAL_WRITABLE       (1ULL << 4)
#define EPT_QUAL_EXECUTABLE     (1ULL << 5)
#define EPT_QUAL_USER_EXEC      (1ULL << 6)
#define EPT_QUAL_GLA_VALID      (1ULL << 7)
#define EPT_QUAL_GLA_TRANSLATED (1ULL << 8)
#define EPT_QUAL_NMI_UNBLOCKING (1ULL << 12)

/* VM-instruction error numbers (SDM 31.4). */
#define VMXERR_VMCALL_IN_ROOT              1
#define VMXERR_VMCLEAR_INVALID_ADDRESS     2
#define VMXERR_VMCLEAR_VMXON_POINTER       3
#define VMXERR_VMLAUNCH_NONCLEAR_VMCS      4
#define VMXERR_VMRESUME_NONLAUNCHED_VMCS   5
#define VMXERR_VMRESUME_AFTER_VMXOFF       6
#define VMXERR_ENTRY_INVALID_CONTROL_FIELD 7
#define VMXERR_ENTRY_INVALID_HOST_STATE    8
#define VMXERR_VMPTRLD_INVALID_ADDRESS     9
#define VMXERR_VMPTRLD_VMXON_POINTER       10
#define VMXERR_VMPTRLD_INCORRECT_REVISION  11
#define VMXERR_UNSUPPORTED_VMCS_COMPONENT  12
#define VMXERR_VMWRITE_READ_ONLY_COMPONENT 13
#define VMXERR_VMXON_IN_VMX_ROOT           15
#define VMXERR_ENTRY_INVALID_EXECUTIVE_VMCS 16
#define VMXERR_ENTRY_NONLAUNCHED_EXECUTIVE_VMCS 17
#define VMXERR_ENTRY_EXECUTIVE_VMCS_NOT_VMXON 18
#define VMXERR_VMCALL_NONCLEAR_VMCS        19
#define VMXERR_VMCALL_INVALID_EXIT_CONTROL 20
#define VMXERR_VMCALL_INCORRECT_MSEG_REV   22
#define VMXERR_VMXOFF_UNDER_DUAL_MONITOR   23
#define VMXERR_VMCALL_INVALID_SMM_FEATURES 24
#define VMXERR_ENTRY_INVALID_EXEC_CONTROLS_IN_EXECUTIVE 25
#define VMXERR_ENTRY_EVENTS_BLOCKED_BY_MOV_SS 26
#define VMXERR_INVALID_INVEPT_INVVPID_OPERAND 28

/* Entry-failure qualifications for reasons 33/34 (SDM 27.8). */
#define ENTRY_FAIL_DEFAULT      0
#define ENTRY_FAIL_PDPTE        2
#define ENTRY_FAIL_NMI_INJECT   3
#define ENTRY_FAIL_VMCS_LINK    4

#endif
