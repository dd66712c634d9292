/* VMX control bits and capability-MSR fields (SDM Vol. 3C ch. 25 and
 * Appendix A). Named here once. */
#ifndef ARCH_X86_VMX_BITS_H
#define ARCH_X86_VMX_BITS_H

/* IA32_VMX_BASIC (SDM A.1). */
#define VMX_BASIC_REVISION_MASK   0x7fffffffULL
#define VMX_BASIC_SIZE_SHIFT      32
#define VMX_BASIC_SIZE_MASK       0x1fffULL
#define VMX_BASIC_32BIT_ADDR      (1ULL << 48)
#define VMX_BASIC_DUAL_MONITOR    (1ULL << 49)
#define VMX_BASIC_MEMTYPE_SHIFT   50
#define VMX_BASIC_MEMTYPE_MASK    0xfULL
#define VMX_BASIC_INOUT_INFO      (1ULL << 54)
#define VMX_BASIC_TRUE_CTLS       (1ULL << 55)
#define VMX_BASIC_NO_HW_ERRCODE   (1ULL << 56)
#define VMCS_SHADOW_INDICATOR     (1U << 31) /* in the VMCS revision dword */

/* Memory types (SDM 11.11 / 29.3.7). */
#define MEMTYPE_UC 0
#define MEMTYPE_WC 1
#define MEMTYPE_WT 4
#define MEMTYPE_WP 5
#define MEMTYPE_WB 6
#define MEMTYPE_UC_MINUS 7

/* Pin-based VM-execution controls (SDM 25.6.1). */
#define PIN_EXTINT_EXITING        (1U << 0)
#define PIN_NMI_EXITING           (1U << 3)
#define PIN_VIRTUAL_NMIS          (1U << 5)
#define PIN_PREEMPTION_TIMER      (1U << 6)
#define PIN_POSTED_INTERRUPTS     (1U << 7)

/* Primary processor-based VM-execution controls (SDM 25.6.2). */
#define PROC_INTR_WINDOW_EXITING  (1U << 2)
#define PROC_TSC_OFFSETTING       (1U << 3)
#define PROC_HLT_EXITING          (1U << 7)
#define PROC_INVLPG_EXITING       (1U << 9)
#define PROC_MWAIT_EXITING        (1U << 10)
#define PROC_RDPMC_EXITING        (1U << 11)
#define PROC_RDTSC_EXITING        (1U << 12)
#define PROC_CR3_LOAD_EXITING     (1U << 15)
#define PROC_CR3_STORE_EXITING    (1U << 16)
#define PROC_TERTIARY_CONTROLS    (1U << 17)
#define PROC_CR8_LOAD_EXITING     (1U << 19)
#define PROC_CR8_STORE_EXITING    (1U << 20)
#define PROC_TPR_SHADOW           (1U << 21)
#define PROC_NMI_WINDOW_EXITING   (1U << 22)
#define PROC_MOV_DR_EXITING       (1U << 23)
#define PROC_UNCOND_IO_EXITING    (1U << 24)
#define PROC_USE_IO_BITMAPS       (1U << 25)
#define PROC_MONITOR_TRAP_FLAG    (1U << 27)
#define PROC_USE_MSR_BITMAPS      (1U << 28)
#define PROC_MONITOR_EXITING      (1U << 29)
#define PROC_PAUSE_EXITING        (1U << 30)
#define PROC_SECONDARY_CONTROLS   (1U << 31)

/* Secondary processor-based VM-execution controls (SDM 25.6.2). */
#define PROC2_VIRT_APIC_ACCESS    (1U << 0)
#define PROC2_ENABLE_EPT          (1U << 1)
#define PROC2_DESC_TABLE_EXITING  (1U << 2)
#define PROC2_ENABLE_RDTSCP       (1U << 3)
#define PROC2_VIRT_X2APIC_MODE    (1U << 4)
#define PROC2_ENABLE_VPID         (1U << 5)
#define PROC2_WBINVD_EXITING      (1U << 6)
#define PROC2_UNRESTRICTED_GUEST  (1U << 7)
#define PROC2_APIC_REG_VIRT       (1U << 8)
#define PROC2_VIRT_INTR_DELIVERY  (1U << 9)
#define PROC2_PAUSE_LOOP_EXITING  (1U << 10)
#define PROC2_RDRAND_EXITING      (1U << 11)
#define PROC2_ENABLE_INVPCID      (1U << 12)
#define PROC2_ENABLE_VMFUNC       (1U << 13)
#define PROC2_VMCS_SHADOWING      (1U << 14)
#define PROC2_ENCLS_EXITING       (1U << 15)
#define PROC2_RDSEED_EXITING      (1U << 16)
#define PROC2_ENABLE_PML          (1U << 17)
#define PROC2_EPT_VIOLATION_VE    (1U << 18)
#define PROC2_CONCEAL_VMX_FROM_PT (1U << 19)
#define PROC2_ENABLE_XSAVES       (1U << 20)
#define PROC2_MODE_BASED_EPT_EXEC (1U << 22)
#define PROC2_SUBPAGE_WRITE_PERM  (1U << 23)
#define PROC2_PT_USES_GPA         (1U << 24)
#define PROC2_TSC_SCALING         (1U << 25)
#define PROC2_USER_WAIT_PAUSE     (1U << 26)
#define PROC2_ENCLV_EXITING       (1U << 28)

/* VM-exit controls (SDM 25.7.1). */
#define EXIT_SAVE_DEBUG_CONTROLS  (1U << 2)
#define EXIT_HOST_ADDR_SPACE_SIZE (1U << 9)
#define EXIT_LOAD_PERF_GLOBAL_CTRL (1U << 12)
#define EXIT_ACK_INTR_ON_EXIT     (1U << 15)
#define EXIT_SAVE_PAT             (1U << 18)
#define EXIT_LOAD_PAT             (1U << 19)
#define EXIT_SAVE_EFER            (1U << 20)
#define EXIT_LOAD_EFER            (1U << 21)
#define EXIT_SAVE_PREEMPT_TIMER   (1U << 22)
#define EXIT_CLEAR_BNDCFGS        (1U << 23)
#define EXIT_CONCEAL_VMX_FROM_PT  (1U << 24)
#define EXIT_CLEAR_RTIT_CTL       (1U << 25)
#define EXIT_LOAD_CET_STATE       (1U << 28)

/* VM-entry controls (SDM 25.8.1). */
#define ENTRY_LOAD_DEBUG_CONTROLS (1U << 2)
#define ENTRY_IA32E_MODE_GUEST    (1U << 9)
#define ENTRY_SMM                 (1U << 10)
#define ENTRY_DEACT_DUAL_MONITOR  (1U << 11)
#define ENTRY_LOAD_PERF_GLOBAL_CTRL (1U << 13)
#define ENTRY_LOAD_PAT            (1U << 14)
#define ENTRY_LOAD_EFER           (1U << 15)
#define ENTRY_LOAD_BNDCFGS        (1U << 16)
#define ENTRY_CONCEAL_VMX_FROM_PT (1U << 17)
#define ENTRY_LOAD_RTIT_CTL       (1U << 18)
#define ENTRY_LOAD_CET_STATE      (1U << 20)

/* IA32_VMX_MISC (SDM A.6). */
#define VMX_MISC_PREEMPT_RATE_MASK 0x1fULL
#define VMX_MISC_SAVE_EFER_LMA    (1ULL << 5)
#define VMX_MISC_ACTIVITY_HLT     (1ULL << 6)
#define VMX_MISC_ACTIVITY_SHUTDOWN (1ULL << 7)
#define VMX_MISC_ACTIVITY_SIPI    (1ULL << 8)
#define VMX_MISC_PT_IN_VMX        (1ULL << 14)
#define VMX_MISC_RDMSR_SMBASE     (1ULL << 15)
#define VMX_MISC_CR3_TARGETS_SHIFT 16
#define VMX_MISC_CR3_TARGETS_MASK 0x1ffULL
#define VMX_MISC_MSR_LIST_SHIFT   25
#define VMX_MISC_MSR_LIST_MASK    0x7ULL
#define VMX_MISC_VMWRITE_ANY      (1ULL << 29)
#define VMX_MISC_ZERO_LEN_INJECT  (1ULL << 30)
#define VMX_MISC_MSEG_REV_SHIFT   32

/* IA32_VMX_VMCS_ENUM (SDM A.9): bits 9:1 give the highest field index. */
#define VMX_ENUM_INDEX_SHIFT      1

/* IA32_VMX_EPT_VPID_CAP (SDM A.10). */
#define EPT_CAP_EXEC_ONLY         (1ULL << 0)
#define EPT_CAP_PWL4              (1ULL << 6)
#define EPT_CAP_PWL5              (1ULL << 7)
#define EPT_CAP_MEMTYPE_UC        (1ULL << 8)
#define EPT_CAP_MEMTYPE_WB        (1ULL << 14)
#define EPT_CAP_2M_PAGES          (1ULL << 16)
#define EPT_CAP_1G_PAGES          (1ULL << 17)
#define EPT_CAP_INVEPT            (1ULL << 20)
#define EPT_CAP_AD_BITS           (1ULL << 21)
#define EPT_CAP_ADV_EXIT_INFO     (1ULL << 22)
#define EPT_CAP_SUPER_SHADOW      (1ULL << 23)
#define EPT_CAP_INVEPT_SINGLE     (1ULL << 25)
#define EPT_CAP_INVEPT_ALL        (1ULL << 26)
#define VPID_CAP_INVVPID          (1ULL << 32)
#define VPID_CAP_INVVPID_ADDR     (1ULL << 40)
#define VPID_CAP_INVVPID_SINGLE   (1ULL << 41)
#define VPID_CAP_INVVPID_ALL      (1ULL << 42)
#define VPID_CAP_INVVPID_SINGLE_NG (1ULL << 43)

/* IA32_VMX_VMFUNC and the VM-function controls (SDM 25.6.14, 26.5.6):
 * bit N enables function N (EAX of VMFUNC); 0 is EPTP switching, whose
 * list holds 512 EPTPs indexed by ECX. */
#define VMFUNC_EPTP_SWITCHING     (1ULL << 0)
#define VMFUNC_FN_EPTP_SWITCHING  0
#define VMFUNC_FUNCTION_COUNT     64
#define EPTP_LIST_ENTRIES         512
#define EPTP_LIST_ENTRY_SIZE      8

/* VM-exit instruction information (SDM 28.2.5, Tables 28-11 and 28-13):
 * bit 10, the operand is a register, not memory. */
#define VMX_INSN_INFO_REGISTER    (1U << 10)

/* Page-modification logging (SDM 29.3.6): 512 8-byte entries, the PML
 * index counts down from 511; outside 0-511 the log is full. */
#define PML_ENTRIES               512
#define PML_ENTRY_SIZE            8

/* The virtualization-exception information area (SDM 26.5.7.2, Table 26-1
 * in recent editions): byte offsets. */
#define VE_INFO_EXIT_REASON       0
#define VE_INFO_BUSY              4  /* set to all ones by delivery; 0: free */
#define VE_INFO_QUALIFICATION     8
#define VE_INFO_GUEST_LINEAR      16
#define VE_INFO_GUEST_PHYSICAL    24
#define VE_INFO_EPTP_INDEX        32 /* 16 bits */
#define VE_INFO_SIZE              34
#define VE_INFO_BUSY_VALUE        0xffffffffU

/* INVEPT / INVVPID types (SDM 31.3). */
#define INVEPT_SINGLE_CONTEXT     1
#define INVEPT_ALL_CONTEXT        2
#define INVVPID_INDIVIDUAL_ADDR   0
#define INVVPID_SINGLE_CONTEXT    1
#define INVVPID_ALL_CONTEXT       2
#define INVVPID_SINGLE_NON_GLOBAL 3

/* VM-entry/exit interruption information (SDM 25.8.3, 25.9.2). */
#define INTR_INFO_VECTOR_MASK     0xffU
#define INTR_INFO_TYPE_SHIFT      8
#define INTR_INFO_TYPE_MASK       (7U << 8)
#define INTR_INFO_DELIVER_CODE    (1U << 11)
#define INTR_INFO_NMI_UNBLOCK     (1U << 12)
#define INTR_INFO_VALID           (1U << 31)
#define INTR_TYPE_EXT_INTR        (0U << 8)
#define INTR_TYPE_NMI             (2U << 8)
#define INTR_TYPE_HW_EXCEPTION    (3U << 8)
#define INTR_TYPE_SW_INTR         (4U << 8)
#define INTR_TYPE_PRIV_SW_EXCEPTION (5U << 8)
#define INTR_TYPE_SW_EXCEPTION    (6U << 8)
#define INTR_TYPE_OTHER_EVENT     (7U << 8)

/* Guest interruptibility state (SDM 25.4.2). */
#define INTERRUPTIBILITY_STI      (1U << 0)
#define INTERRUPTIBILITY_MOV_SS   (1U << 1)
#define INTERRUPTIBILITY_SMI      (1U << 2)
#define INTERRUPTIBILITY_NMI      (1U << 3)
#define INTERRUPTIBILITY_ENCLAVE  (1U << 4)

/* Guest activity state (SDM 25.4.2). */
#define ACTIVITY_ACTIVE           0
#define ACTIVITY_HLT              1
#define ACTIVITY_SHUTDOWN         2
#define ACTIVITY_WAIT_SIPI        3
#define SIPI_VECTOR_MASK          0xffU /* exit qualification of a SIPI exit (SDM 28.2.1) */

/* Segment access rights in the VMCS (SDM 25.4.1). */
#define AR_TYPE_MASK              0xfU
#define AR_S                      (1U << 4)
#define AR_DPL_SHIFT              5
#define AR_DPL_MASK               (3U << 5)
#define AR_P                      (1U << 7)
#define AR_AVL                    (1U << 12)
#define AR_L                      (1U << 13)
#define AR_DB                     (1U << 14)
#define AR_G                      (1U << 15)
#define AR_UNUSABLE               (1U << 16)
#define AR_RESERVED_MASK          0xfffe0f00U
#define SEG_TYPE_CODE             (1U << 3)
#define SEG_TYPE_ACCESSED         (1U << 0)
#define SEG_TYPE_WRITABLE         (1U << 1) /* data */
#define SEG_TYPE_READABLE         (1U << 1) /* code */
#define SEG_TYPE_CONFORMING       (1U << 2) /* code */
#define SEG_TYPE_EXPAND_DOWN      (1U << 2) /* data */
#define SEG_TYPE_TSS_BUSY_16      3
#define SEG_TYPE_LDT              2
#define SEG_TYPE_TSS_BUSY_32      11

#endif
