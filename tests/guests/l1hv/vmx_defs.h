/* Architectural constants of VMX used by the L1 test hypervisor.
 *
 * Everything here is quoted from the Intel SDM Vol. 3C (and 3D Appendix A-C):
 *   - VMCS field encodings:            Appendix B ("Field Encoding in VMCS")
 *   - encoding layout:                 25.11.2 ("VMREAD, VMWRITE, and Encodings")
 *   - VM-execution/exit/entry controls: 25.6-25.8
 *   - exit reasons:                    Appendix C
 *   - exit qualifications:             28.2.1 (table 28-1 .. 28-7)
 *   - VM-instruction error numbers:    31.4 (table 31-1)
 *   - capability MSRs:                 Appendix A
 * Kept self-contained on purpose: the test must state what the architecture
 * says, independently of nestvisor's own tables in arch/x86/. */
#ifndef L1HV_VMX_DEFS_H
#define L1HV_VMX_DEFS_H

/* ---- capability and control MSRs (Appendix A, Vol. 4) ---- */
#define MSR_IA32_VMX_BASIC              0x480
#define MSR_IA32_VMX_PINBASED_CTLS      0x481
#define MSR_IA32_VMX_PROCBASED_CTLS     0x482
#define MSR_IA32_VMX_EXIT_CTLS          0x483
#define MSR_IA32_VMX_ENTRY_CTLS         0x484
#define MSR_IA32_VMX_MISC               0x485
#define MSR_IA32_VMX_CR0_FIXED0         0x486
#define MSR_IA32_VMX_CR0_FIXED1         0x487
#define MSR_IA32_VMX_CR4_FIXED0         0x488
#define MSR_IA32_VMX_CR4_FIXED1         0x489
#define MSR_IA32_VMX_VMCS_ENUM          0x48a
#define MSR_IA32_VMX_PROCBASED_CTLS2    0x48b
#define MSR_IA32_VMX_EPT_VPID_CAP       0x48c
#define MSR_IA32_VMX_TRUE_PINBASED_CTLS  0x48d
#define MSR_IA32_VMX_TRUE_PROCBASED_CTLS 0x48e
#define MSR_IA32_VMX_TRUE_EXIT_CTLS     0x48f
#define MSR_IA32_VMX_TRUE_ENTRY_CTLS    0x490
#define MSR_IA32_VMX_VMFUNC             0x491
#define MSR_IA32_VMX_PROCBASED_CTLS3    0x492
#define MSR_IA32_DEBUGCTL               0x1d9

/* IA32_FEATURE_CONTROL (0x3a) */
#define FEATURE_CONTROL_LOCK            (1ULL << 0)
#define FEATURE_CONTROL_VMX_OUTSIDE_SMX (1ULL << 2)

/* IA32_VMX_BASIC (A.1) */
#define VMX_BASIC_REVISION_MASK   0x7fffffffULL     /* bits 30:0 */
#define VMX_BASIC_REGION_SIZE(b)  (((b) >> 32) & 0x1fff) /* bits 44:32 */
#define VMX_BASIC_32BIT_ADDR      (1ULL << 48)
#define VMX_BASIC_MEMTYPE(b)      (((b) >> 50) & 0xf) /* bits 53:50 */
#define VMX_BASIC_INOUT_INFO      (1ULL << 54)
#define VMX_BASIC_TRUE_CTLS       (1ULL << 55)
#define VMX_MEMTYPE_WB            6

/* IA32_VMX_MISC (A.6) */
#define VMX_MISC_PREEMPT_RATE(m)  ((m) & 0x1f)      /* timer counts down every 2^N TSC ticks */
#define VMX_MISC_STORE_LMA        (1ULL << 5)
#define VMX_MISC_ACTIVITY_HLT     (1ULL << 6)
#define VMX_MISC_CR3_TARGETS(m)   (((m) >> 16) & 0x1ff)
#define VMX_MISC_VMWRITE_ANY      (1ULL << 29)      /* VMWRITE to read-only exit-information fields */

/* IA32_VMX_VMCS_ENUM (A.9): bits 9:1 the highest index used in any encoding */
#define VMX_VMCS_ENUM_MAX_INDEX(e) (((e) >> 1) & 0x1ff)

/* IA32_VMX_EPT_VPID_CAP (A.10) */
#define EPT_CAP_EXEC_ONLY         (1ULL << 0)  /* entries with X=1, R=W=0 allowed */
#define EPT_CAP_WALK_4            (1ULL << 6)
#define EPT_CAP_WALK_5            (1ULL << 7)
#define EPT_CAP_UC                (1ULL << 8)  /* EPTP memory type UC allowed */
#define EPT_CAP_WB                (1ULL << 14) /* EPTP memory type WB allowed */
#define EPT_CAP_2M_PAGE           (1ULL << 16)
#define EPT_CAP_1G_PAGE           (1ULL << 17)
#define EPT_CAP_INVEPT            (1ULL << 20)
#define EPT_CAP_AD                (1ULL << 21) /* accessed and dirty flags */
#define EPT_CAP_ADV_EXIT_INFO     (1ULL << 22) /* EPT-violation qualification bits 11:9 */
#define EPT_CAP_SSS               (1ULL << 23) /* supervisor shadow-stack control (EPTP bit 7) */
#define EPT_CAP_INVEPT_SINGLE     (1ULL << 25)
#define EPT_CAP_INVEPT_ALL        (1ULL << 26)
#define VPID_CAP_INVVPID          (1ULL << 32)
#define VPID_CAP_INVVPID_ADDR     (1ULL << 40)
#define VPID_CAP_INVVPID_SINGLE   (1ULL << 41)
#define VPID_CAP_INVVPID_ALL      (1ULL << 42)
#define VPID_CAP_INVVPID_SINGLE_NG (1ULL << 43)

/* EPT paging-structure entries (29.3.2, tables 29-1 .. 29-6: PML4E, PDPTE
 * mapping 1 GiB, PDPTE, PDE mapping 2 MiB, PDE, PTE) */
#define EPT_READ                  (1ULL << 0)
#define EPT_WRITE                 (1ULL << 1)
#define EPT_EXEC                  (1ULL << 2) /* supervisor-mode execute with MBEC */
#define EPT_RWX                   (EPT_READ | EPT_WRITE | EPT_EXEC)
#define EPT_MEMTYPE_SHIFT         3          /* leaf entries: bits 5:3 */
#define EPT_MEMTYPE_MASK          (7ULL << EPT_MEMTYPE_SHIFT)
#define EPT_MEMTYPE_UC            0ULL
#define EPT_MEMTYPE_WB            6ULL
#define EPT_MEMTYPE_INVALID       2ULL       /* 2, 3 and 7 are reserved (29.3.7) */
#define EPT_IGNORE_PAT            (1ULL << 6) /* leaf entries */
#define EPT_NONLEAF_RESERVED      (0xfULL << 3) /* bits 6:3 of a non-leaf entry */
#define EPT_LARGE_PAGE            (1ULL << 7) /* PDPTE maps 1 GiB / PDE maps 2 MiB */
#define EPT_ACCESSED              (1ULL << 8) /* with EPTP bit 6 */
#define EPT_DIRTY                 (1ULL << 9) /* leaf entries, with EPTP bit 6 */
#define EPT_SUPPRESS_VE           (1ULL << 63) /* with "EPT-violation #VE" (26.5.7.1) */
#define EPT_ADDR_MASK             0x000ffffffffff000ULL /* bits 51:12 */
#define EPT_ENTRIES               512
/* the EPTP (25.6.11) */
#define EPTP_MEMTYPE_WB           6ULL       /* bits 2:0 */
#define EPTP_MEMTYPE_INVALID      2ULL
#define EPTP_WALK_SHIFT           3          /* bits 5:3 = page-walk length - 1 */
#define EPTP_WALK_4               (3ULL << EPTP_WALK_SHIFT)
#define EPTP_WALK_5               (4ULL << EPTP_WALK_SHIFT)
#define EPTP_AD_ENABLE            (1ULL << 6)
#define EPTP_RESERVED_11_8        (0xfULL << 8)

/* VM functions (25.6.14, 26.5.6): controls bit N enables function N;
 * function 0 is EPTP switching, over a list of 512 EPTPs (ECX the index). */
#define VMFUNC_EPTP_SWITCHING     (1ULL << 0)  /* also IA32_VMX_VMFUNC bit 0 */
#define VMFUNC_FN_EPTP_SWITCHING  0
#define VMFUNC_FN_LIMIT           64           /* EAX above 63: #UD */
#define EPTP_LIST_ENTRIES         512

/* Page-modification logging (29.3.6): 512 entries, the index counts down. */
#define PML_ENTRIES               512
#define PML_INDEX_FULL            0xffffu      /* after logging at index 0 */

/* The virtualization-exception information area (26.5.7.2): offsets. */
#define VE_INFO_REASON            0   /* 32 bits: 48 */
#define VE_INFO_BUSY              4   /* 32 bits: FFFFFFFFH once delivered */
#define VE_INFO_QUALIFICATION     8
#define VE_INFO_LINEAR            16
#define VE_INFO_PHYSICAL          24
#define VE_INFO_EPTP_INDEX        32  /* 16 bits */
#define VE_INFO_BUSY_VALUE        0xffffffffu

/* EPT-violation exit qualification (table 28-7) */
#define QUAL_EPT_READ             (1u << 0)
#define QUAL_EPT_WRITE            (1u << 1)
#define QUAL_EPT_FETCH            (1u << 2)
#define QUAL_EPT_READABLE         (1u << 3) /* AND of bit 0 (R) of the entries walked */
#define QUAL_EPT_WRITABLE         (1u << 4) /* AND of bit 1 (W) */
#define QUAL_EPT_EXECUTABLE       (1u << 5) /* AND of bit 2 (X) */
#define QUAL_EPT_PERM_SHIFT       3
#define QUAL_EPT_USER_EXEC        (1u << 6) /* AND of bit 10, with MBEC only */
#define QUAL_EPT_LINEAR_VALID     (1u << 7)
#define QUAL_EPT_TRANSLATED       (1u << 8) /* the access was to the translated address */
#define QUAL_EPT_ADV_USER         (1u << 9)  /* advanced info (EPT_CAP_ADV_EXIT_INFO): */
#define QUAL_EPT_ADV_WRITABLE     (1u << 10) /* U/S, R/W and XD of the guest's own */
#define QUAL_EPT_ADV_XD           (1u << 11) /* translation of the linear address */
#define QUAL_EPT_NMI_UNBLOCKING   (1u << 12)
#define QUAL_EPT_BASIC_MASK       0x1ffu    /* bits 8:0; bits 9-11 are "advanced" info */

/* INVEPT / INVVPID types (30.3, "INVEPT", "INVVPID") */
#define INVEPT_SINGLE_CONTEXT     1
#define INVEPT_ALL_CONTEXT        2
#define INVVPID_ADDRESS           0
#define INVVPID_SINGLE_CONTEXT    1
#define INVVPID_ALL_CONTEXT       2
#define INVVPID_SINGLE_CONTEXT_NG 3

/* ---- VMCS field encodings (Appendix B) ---- */
/* encoding layout (25.11.2) */
#define VMCS_ENC_HIGH             0x0001u  /* access type: high 32 bits of a 64-bit field */
#define VMCS_ENC_INDEX_SHIFT      1
#define VMCS_ENC_RESERVED_BIT12   0x1000u  /* must be 0 in every valid encoding */
#define VMCS_ENC_TYPE_GUEST       0x0800u  /* bits 11:10 = 2 */
#define VMCS_ENC_WIDTH_16         0x0000u  /* bits 14:13 = 0 */

/* B.1.1 16-bit control fields */
#define VMCS_VPID                       0x0000
#define VMCS_EPTP_INDEX                 0x0004
/* B.1.2 16-bit guest-state fields */
#define VMCS_GUEST_ES_SEL               0x0800
#define VMCS_GUEST_CS_SEL               0x0802
#define VMCS_GUEST_SS_SEL               0x0804
#define VMCS_GUEST_DS_SEL               0x0806
#define VMCS_GUEST_FS_SEL               0x0808
#define VMCS_GUEST_GS_SEL               0x080a
#define VMCS_GUEST_LDTR_SEL             0x080c
#define VMCS_GUEST_TR_SEL               0x080e
#define VMCS_GUEST_PML_INDEX            0x0812
/* B.1.3 16-bit host-state fields */
#define VMCS_HOST_ES_SEL                0x0c00
#define VMCS_HOST_CS_SEL                0x0c02
#define VMCS_HOST_SS_SEL                0x0c04
#define VMCS_HOST_DS_SEL                0x0c06
#define VMCS_HOST_FS_SEL                0x0c08
#define VMCS_HOST_GS_SEL                0x0c0a
#define VMCS_HOST_TR_SEL                0x0c0c
/* B.2.1 64-bit control fields */
#define VMCS_IO_BITMAP_A                0x2000
#define VMCS_IO_BITMAP_B                0x2002
#define VMCS_MSR_BITMAP                 0x2004
#define VMCS_EXIT_MSR_STORE_ADDR        0x2006
#define VMCS_EXIT_MSR_LOAD_ADDR         0x2008
#define VMCS_ENTRY_MSR_LOAD_ADDR        0x200a
#define VMCS_PML_ADDRESS                0x200e
#define VMCS_TSC_OFFSET                 0x2010
#define VMCS_VMFUNC_CONTROLS            0x2018
#define VMCS_EPT_POINTER                0x201a
#define VMCS_EPTP_LIST_ADDRESS          0x2024
#define VMCS_VMREAD_BITMAP              0x2026
#define VMCS_VMWRITE_BITMAP             0x2028
#define VMCS_VE_INFO_ADDRESS            0x202a
/* B.2.2 64-bit read-only data field */
#define VMCS_GUEST_PHYSICAL_ADDR        0x2400
/* B.2.3 64-bit guest-state fields */
#define VMCS_LINK_POINTER               0x2800
#define VMCS_GUEST_DEBUGCTL             0x2802
#define VMCS_GUEST_PAT                  0x2804
#define VMCS_GUEST_EFER                 0x2806
/* B.2.4 64-bit host-state fields */
#define VMCS_HOST_PAT                   0x2c00
#define VMCS_HOST_EFER                  0x2c02
/* B.3.1 32-bit control fields */
#define VMCS_PIN_CONTROLS               0x4000
#define VMCS_PROC_CONTROLS              0x4002
#define VMCS_EXCEPTION_BITMAP           0x4004
#define VMCS_PF_ERROR_MASK              0x4006
#define VMCS_PF_ERROR_MATCH             0x4008
#define VMCS_CR3_TARGET_COUNT           0x400a
#define VMCS_EXIT_CONTROLS              0x400c
#define VMCS_EXIT_MSR_STORE_COUNT       0x400e
#define VMCS_EXIT_MSR_LOAD_COUNT        0x4010
#define VMCS_ENTRY_CONTROLS             0x4012
#define VMCS_ENTRY_MSR_LOAD_COUNT       0x4014
#define VMCS_ENTRY_INTR_INFO            0x4016
#define VMCS_ENTRY_EXCEPTION_ERROR      0x4018
#define VMCS_ENTRY_INSTR_LEN            0x401a
#define VMCS_TPR_THRESHOLD              0x401c
#define VMCS_PROC_CONTROLS2             0x401e
/* B.3.2 32-bit read-only data fields */
#define VMCS_VM_INSTRUCTION_ERROR       0x4400
#define VMCS_EXIT_REASON                0x4402
#define VMCS_EXIT_INTR_INFO             0x4404
#define VMCS_EXIT_INTR_ERROR            0x4406
#define VMCS_IDT_VECTORING_INFO         0x4408
#define VMCS_IDT_VECTORING_ERROR        0x440a
#define VMCS_EXIT_INSTR_LEN             0x440c
#define VMCS_EXIT_INSTR_INFO            0x440e
/* B.3.3 32-bit guest-state fields */
#define VMCS_GUEST_ES_LIMIT             0x4800
#define VMCS_GUEST_CS_LIMIT             0x4802
#define VMCS_GUEST_SS_LIMIT             0x4804
#define VMCS_GUEST_DS_LIMIT             0x4806
#define VMCS_GUEST_FS_LIMIT             0x4808
#define VMCS_GUEST_GS_LIMIT             0x480a
#define VMCS_GUEST_LDTR_LIMIT           0x480c
#define VMCS_GUEST_TR_LIMIT             0x480e
#define VMCS_GUEST_GDTR_LIMIT           0x4810
#define VMCS_GUEST_IDTR_LIMIT           0x4812
#define VMCS_GUEST_ES_AR                0x4814
#define VMCS_GUEST_CS_AR                0x4816
#define VMCS_GUEST_SS_AR                0x4818
#define VMCS_GUEST_DS_AR                0x481a
#define VMCS_GUEST_FS_AR                0x481c
#define VMCS_GUEST_GS_AR                0x481e
#define VMCS_GUEST_LDTR_AR              0x4820
#define VMCS_GUEST_TR_AR                0x4822
#define VMCS_GUEST_INTERRUPTIBILITY     0x4824
#define VMCS_GUEST_ACTIVITY_STATE       0x4826
#define VMCS_GUEST_SYSENTER_CS          0x482a
#define VMCS_PREEMPTION_TIMER           0x482e
/* B.3.4 32-bit host-state field */
#define VMCS_HOST_SYSENTER_CS           0x4c00
/* B.4.1 natural-width control fields */
#define VMCS_CR0_GUEST_HOST_MASK        0x6000
#define VMCS_CR4_GUEST_HOST_MASK        0x6002
#define VMCS_CR0_READ_SHADOW            0x6004
#define VMCS_CR4_READ_SHADOW            0x6006
/* B.4.2 natural-width read-only data fields */
#define VMCS_EXIT_QUALIFICATION         0x6400
#define VMCS_GUEST_LINEAR_ADDR          0x640a
/* B.4.3 natural-width guest-state fields */
#define VMCS_GUEST_CR0                  0x6800
#define VMCS_GUEST_CR3                  0x6802
#define VMCS_GUEST_CR4                  0x6804
#define VMCS_GUEST_ES_BASE              0x6806
#define VMCS_GUEST_CS_BASE              0x6808
#define VMCS_GUEST_SS_BASE              0x680a
#define VMCS_GUEST_DS_BASE              0x680c
#define VMCS_GUEST_FS_BASE              0x680e
#define VMCS_GUEST_GS_BASE              0x6810
#define VMCS_GUEST_LDTR_BASE            0x6812
#define VMCS_GUEST_TR_BASE              0x6814
#define VMCS_GUEST_GDTR_BASE            0x6816
#define VMCS_GUEST_IDTR_BASE            0x6818
#define VMCS_GUEST_DR7                  0x681a
#define VMCS_GUEST_RSP                  0x681c
#define VMCS_GUEST_RIP                  0x681e
#define VMCS_GUEST_RFLAGS               0x6820
#define VMCS_GUEST_PENDING_DBG          0x6822
#define VMCS_GUEST_SYSENTER_ESP         0x6824
#define VMCS_GUEST_SYSENTER_EIP         0x6826
/* B.4.4 natural-width host-state fields */
#define VMCS_HOST_CR0                   0x6c00
#define VMCS_HOST_CR3                   0x6c02
#define VMCS_HOST_CR4                   0x6c04
#define VMCS_HOST_FS_BASE               0x6c06
#define VMCS_HOST_GS_BASE               0x6c08
#define VMCS_HOST_TR_BASE               0x6c0a
#define VMCS_HOST_GDTR_BASE             0x6c0c
#define VMCS_HOST_IDTR_BASE             0x6c0e
#define VMCS_HOST_SYSENTER_ESP          0x6c10
#define VMCS_HOST_SYSENTER_EIP          0x6c12
#define VMCS_HOST_RSP                   0x6c14
#define VMCS_HOST_RIP                   0x6c16

/* ---- VM-execution controls (25.6) ---- */
/* pin-based (table 25-5) */
#define PIN_EXTINT_EXITING        (1u << 0)
#define PIN_NMI_EXITING           (1u << 3)
#define PIN_VIRTUAL_NMIS          (1u << 5)
#define PIN_PREEMPTION_TIMER      (1u << 6)
#define PIN_POSTED_INTERRUPTS     (1u << 7)
/* primary processor-based (table 25-6) */
#define PROC_INTR_WINDOW_EXITING  (1u << 2)
#define PROC_TSC_OFFSETTING       (1u << 3)
#define PROC_HLT_EXITING          (1u << 7)
#define PROC_INVLPG_EXITING       (1u << 9)
#define PROC_MWAIT_EXITING        (1u << 10)
#define PROC_RDPMC_EXITING        (1u << 11)
#define PROC_RDTSC_EXITING        (1u << 12)
#define PROC_CR3_LOAD_EXITING     (1u << 15)
#define PROC_CR3_STORE_EXITING    (1u << 16)
#define PROC_CR8_LOAD_EXITING     (1u << 19)
#define PROC_CR8_STORE_EXITING    (1u << 20)
#define PROC_TPR_SHADOW           (1u << 21)
#define PROC_NMI_WINDOW_EXITING   (1u << 22)
#define PROC_MOV_DR_EXITING       (1u << 23)
#define PROC_UNCOND_IO_EXITING    (1u << 24)
#define PROC_USE_IO_BITMAPS       (1u << 25)
#define PROC_MTF                  (1u << 27)
#define PROC_USE_MSR_BITMAPS      (1u << 28)
#define PROC_MONITOR_EXITING      (1u << 29)
#define PROC_PAUSE_EXITING        (1u << 30)
#define PROC_SECONDARY_CONTROLS   (1u << 31)
/* secondary processor-based (table 25-7) */
#define PROC2_VIRTUALIZE_APIC     (1u << 0)
#define PROC2_EPT                 (1u << 1)
#define PROC2_DESC_TABLE_EXITING  (1u << 2)
#define PROC2_RDTSCP              (1u << 3)
#define PROC2_VPID                (1u << 5)
#define PROC2_WBINVD_EXITING      (1u << 6)
#define PROC2_UNRESTRICTED_GUEST  (1u << 7)
#define PROC2_VMFUNC              (1u << 13)
#define PROC2_VMCS_SHADOWING      (1u << 14)
#define PROC2_PML                 (1u << 17)
#define PROC2_EPT_VIOLATION_VE    (1u << 18)
/* VM-exit controls (table 25-13) */
#define EXIT_SAVE_DEBUG_CONTROLS  (1u << 2)
#define EXIT_HOST_ADDR_SPACE_SIZE (1u << 9)
#define EXIT_ACK_INTR_ON_EXIT     (1u << 15)
#define EXIT_SAVE_PAT             (1u << 18)
#define EXIT_LOAD_PAT             (1u << 19)
#define EXIT_SAVE_EFER            (1u << 20)
#define EXIT_LOAD_EFER            (1u << 21)
#define EXIT_SAVE_PREEMPT_TIMER   (1u << 22)
/* VM-entry controls (table 25-15) */
#define ENTRY_LOAD_DEBUG_CONTROLS (1u << 2)
#define ENTRY_IA32E_MODE_GUEST    (1u << 9)
#define ENTRY_LOAD_PAT            (1u << 14)
#define ENTRY_LOAD_EFER           (1u << 15)

/* ---- exit reasons (Appendix C) ---- */
#define EXIT_REASON_BASIC_MASK        0xffffu
#define EXIT_REASON_ENTRY_FAILURE     (1u << 31)
#define EXIT_EXCEPTION_NMI            0
#define EXIT_EXTERNAL_INTERRUPT       1
#define EXIT_TRIPLE_FAULT             2
#define EXIT_INTERRUPT_WINDOW         7
#define EXIT_CPUID                    10
#define EXIT_HLT                      12
#define EXIT_INVLPG                   14
#define EXIT_RDPMC                    15
#define EXIT_RDTSC                    16
#define EXIT_VMCALL                   18
#define EXIT_VMREAD                   23
#define EXIT_VMRESUME                 24
#define EXIT_VMWRITE                  25
#define EXIT_CR_ACCESS                28
#define EXIT_DR_ACCESS                29
#define EXIT_IO_INSTRUCTION           30
#define EXIT_RDMSR                    31
#define EXIT_WRMSR                    32
#define EXIT_INVALID_GUEST_STATE      33
#define EXIT_MSR_LOADING              34
#define EXIT_EPT_VIOLATION            48
#define EXIT_EPT_MISCONFIG            49
#define EXIT_RDTSCP                   51
#define EXIT_PREEMPTION_TIMER         52
#define EXIT_VMFUNC                   59
#define EXIT_PML_FULL                 62

/* ---- exit qualifications (28.2.1) ---- */
/* control-register accesses (table 28-3) */
#define QUAL_CR_NUMBER(q)         ((q) & 0xf)
#define QUAL_CR_ACCESS_TYPE(q)    (((q) >> 4) & 3)
#define QUAL_CR_GPR(q)            (((q) >> 8) & 0xf)
#define QUAL_CR_TYPE_MOV_TO       0
#define QUAL_CR_TYPE_MOV_FROM     1
#define QUAL_CR_TYPE_CLTS         2
#define QUAL_CR_TYPE_LMSW         3
/* MOV DR (table 28-4) */
#define QUAL_DR_NUMBER(q)         ((q) & 7)
#define QUAL_DR_FROM_DR           (1u << 4) /* direction: 1 = MOV from DR */
#define QUAL_DR_GPR(q)            (((q) >> 8) & 0xf)
/* I/O instructions (table 28-5) */
#define QUAL_IO_SIZE(q)           (((q) & 7) + 1)
#define QUAL_IO_IN                (1u << 3)
#define QUAL_IO_STRING            (1u << 4)
#define QUAL_IO_REP               (1u << 5)
#define QUAL_IO_IMMEDIATE         (1u << 6)
#define QUAL_IO_PORT(q)           (((q) >> 16) & 0xffff)
/* general-purpose register numbers used in qualifications (table 28-3) */
#define GPR_RAX 0
#define GPR_RCX 1
#define GPR_RDX 2
#define GPR_RBX 3

/* ---- VM-exit / VM-entry interruption information (25.9.2, 25.8.3) ---- */
#define INTR_INFO_VECTOR(i)       ((i) & 0xff)
#define INTR_INFO_TYPE(i)         (((i) >> 8) & 7)
#define INTR_INFO_ERROR_VALID     (1u << 11)
#define INTR_INFO_VALID           (1u << 31)
#define INTR_TYPE_EXTERNAL        0
#define INTR_TYPE_NMI             2
#define INTR_TYPE_HW_EXCEPTION    3
#define INTR_TYPE_SW_EXCEPTION    6

/* #PF error code bits (Vol. 3A 4.7) */
#define PFEC_PRESENT              (1u << 0)
#define PFEC_WRITE                (1u << 1)

/* ---- VM-instruction error numbers (31.4, table 31-1) ---- */
#define VMXERR_VMCLEAR_INVALID_ADDR     2
#define VMXERR_VMCLEAR_VMXON_PTR        3
#define VMXERR_VMLAUNCH_NOT_CLEAR       4
#define VMXERR_VMRESUME_NOT_LAUNCHED    5
#define VMXERR_ENTRY_INVALID_CONTROL    7
#define VMXERR_ENTRY_INVALID_HOST       8
#define VMXERR_VMPTRLD_INVALID_ADDR     9
#define VMXERR_VMPTRLD_VMXON_PTR        10
#define VMXERR_VMPTRLD_BAD_REVISION     11
#define VMXERR_UNSUPPORTED_FIELD        12
#define VMXERR_VMWRITE_READONLY         13
#define VMXERR_VMXON_IN_ROOT            15
#define VMXERR_INVALID_INVEPT_INVVPID   28

/* ---- guest state (25.4) ---- */
/* segment access rights: the descriptor's type/S/DPL/P/AVL/L/D/G bits, plus
 * bit 16 "unusable" (25.4.1, table 25-2) */
#define AR_TYPE_DATA_RW_ACCESSED  0x3
#define AR_TYPE_CODE_XR_ACCESSED  0xb
#define AR_TYPE_TSS64_AVAILABLE   0x9
#define AR_TYPE_TSS64_BUSY        0xb
#define AR_S                      (1u << 4)  /* code/data (not system) */
#define AR_DPL3                   (3u << 5)
#define AR_P                      (1u << 7)
#define AR_L                      (1u << 13) /* 64-bit code */
#define AR_DB                     (1u << 14)
#define AR_G                      (1u << 15)
#define AR_UNUSABLE               (1u << 16)
#define AR_TYPE_MASK              0xfu

/* activity states (25.4.2) */
#define ACTIVITY_ACTIVE           0
#define ACTIVITY_HLT              1

#define VMCS_LINK_POINTER_NONE    0xffffffffffffffffULL
#define VMCS_REVISION_SHADOW      (1u << 31) /* bit 31 of the region's first dword (25.2) */
#define NONCANONICAL_ADDR         0x8000000000000000ULL
#define DR7_INIT                  0x400ULL
#define RFLAGS_CF                 (1ULL << 0) /* VMfailInvalid (31.2) */
#define RFLAGS_RESERVED_1         (1ULL << 1)
#define RFLAGS_ZF                 (1ULL << 6) /* VMfailValid */
#define RFLAGS_IF                 (1ULL << 9)

/* VM-exit instruction information for VMREAD and VMWRITE (Table 28-13) */
#define VMRW_INFO_REG1_SHIFT      3            /* bits 6:3: register operand (register form) */
#define VMRW_INFO_ADDR_SIZE_SHIFT 7            /* bits 9:7: 0 16-bit, 1 32-bit, 2 64-bit */
#define VMRW_INFO_REG_FORM        (1u << 10)
#define VMRW_INFO_SEG_SHIFT       15           /* bits 17:15: ES CS SS DS FS GS */
#define VMRW_INFO_NO_INDEX        (1u << 22)
#define VMRW_INFO_BASE_SHIFT      23           /* bits 26:23 */
#define VMRW_INFO_NO_BASE         (1u << 27)
#define VMRW_INFO_REG2_SHIFT      28           /* bits 31:28: the encoding's register */
#define VMRW_INFO_REG_DEFINED     (0xfu << 3 | VMRW_INFO_REG_FORM | 0xfu << 28)
#define VMRW_INFO_MEM_DEFINED     (7u << 7 | VMRW_INFO_REG_FORM | 7u << 15 | VMRW_INFO_NO_INDEX | 0xfu << 23 | \
                                   VMRW_INFO_NO_BASE | 0xfu << 28)
#define VMRW_ADDR_SIZE_64         2
#define VMRW_SEG_DS               3

/* MSR bitmap (25.6.9) and I/O bitmap (25.6.4) layout */
#define MSR_BITMAP_READ_LOW       0      /* MSRs 0x00000000-0x00001fff */
#define MSR_BITMAP_READ_HIGH      1024   /* MSRs 0xc0000000-0xc0001fff */
#define MSR_BITMAP_WRITE_LOW      2048
#define MSR_BITMAP_WRITE_HIGH     3072
#define MSR_HIGH_RANGE_BASE       0xc0000000u
#define IO_BITMAP_B_FIRST_PORT    0x8000u

/* Other architectural bits used by the tests. */
#define CR0_ET                    (1ULL << 4)
#define CR0_NW                    (1ULL << 29)
#define CR0_CD                    (1ULL << 30)
#define CR4_PAE                   (1ULL << 5)
#define CR4_PCE                   (1ULL << 8)
#define EFER_SCE                  (1ULL << 0)
#define EFER_LME                  (1ULL << 8)
#define EFER_LMA                  (1ULL << 10)
#define EFER_NXE                  (1ULL << 11)

#endif
