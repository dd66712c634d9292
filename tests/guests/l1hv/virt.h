/* l1hv: APIC virtualization and the later VM-execution controls (issue 13):
 * TPR shadow, virtualize APIC accesses / x2APIC mode, APIC-register
 * virtualization, virtual-interrupt delivery, posted interrupts (apicv.c),
 * the monitor trap flag, PAUSE-loop exiting, RDRAND/RDSEED exiting,
 * XSAVES/XRSTORS and TSC scaling (ctrls.c), their L2 code (virt_l2.asm).
 * Architectural constants quoted from the Intel SDM Vol. 3C (ch. 25-30,
 * Appendices A-C) and Vol. 3A ch. 11 (the local APIC); kept apart from
 * vmx_defs.h, which they extend. */
#ifndef L1HV_VIRT_H
#define L1HV_VIRT_H

#include "l1hv.h"

/* ---- VMCS fields (Appendix B) ---- */
#define VMCS_POSTED_INTR_NV        0x0002 /* B.1.1 */
#define VMCS_GUEST_INTR_STATUS     0x0810 /* B.1.2: RVI bits 7:0, SVI bits 15:8 */
#define VMCS_VIRTUAL_APIC_ADDR     0x2012 /* B.2.1 */
#define VMCS_APIC_ACCESS_ADDR      0x2014
#define VMCS_POSTED_INTR_DESC      0x2016
#define VMCS_EOI_EXIT_BITMAP0      0x201c /* 1, 2, 3 follow every 2 */
#define VMCS_XSS_EXIT_BITMAP       0x202c
#define VMCS_TSC_MULTIPLIER        0x2032
#define VMCS_PLE_GAP               0x4020 /* B.3.1 */
#define VMCS_PLE_WINDOW            0x4022
#define EOI_EXIT_BITMAP_FIELDS     4
#define EOI_EXIT_BITMAP_STRIDE     2
#define GUEST_INTR_STATUS(rvi, svi) ((uint16_t)((rvi) | ((svi) << 8)))
#define GUEST_INTR_RVI(s)          ((s) & 0xff)
#define GUEST_INTR_SVI(s)          (((s) >> 8) & 0xff)

/* ---- controls (25.6.1, 25.6.2) ---- */
#define PROC2_VIRT_X2APIC          (1u << 4)
#define PROC2_APIC_REG_VIRT        (1u << 8)
#define PROC2_VIRT_INTR_DELIVERY   (1u << 9)
#define PROC2_PAUSE_LOOP_EXITING   (1u << 10)
#define PROC2_RDRAND_EXITING       (1u << 11)
#define PROC2_RDSEED_EXITING       (1u << 16)
#define PROC2_XSAVES               (1u << 20)
#define PROC2_TSC_SCALING          (1u << 25)
#define TPR_THRESHOLD_MASK         0xfu   /* bits 3:0; 31:4 must be 0 without VID */

/* ---- exit reasons (Appendix C) ---- */
#define EXIT_MTF                   37
#define EXIT_PAUSE                 40
#define EXIT_TPR_BELOW_THRESHOLD   43
#define EXIT_APIC_ACCESS           44
#define EXIT_VIRTUALIZED_EOI       45
#define EXIT_APIC_WRITE            56
#define EXIT_RDRAND                57
#define EXIT_RDSEED                61
#define EXIT_XSAVES                63
#define EXIT_XRSTORS               64

/* APIC-access exit qualification (28.2.1, table 28-6): offset bits 11:0,
 * access type bits 15:12. */
#define QUAL_APIC_OFFSET(q)        ((q) & 0xfff)
#define QUAL_APIC_TYPE(q)          (((q) >> 12) & 0xf)
#define APIC_ACCESS_LINEAR_READ    0
#define APIC_ACCESS_LINEAR_WRITE   1
#define APIC_ACCESS_QUAL(off, type) ((uint64_t)(off) | ((uint64_t)(type) << 12))

/* Instruction information for RDRAND/RDSEED (28.2.5, table 28-12):
 * destination register bits 6:3, operand size bits 12:11. */
#define INSN_INFO_RNG_REG(i)       (((i) >> 3) & 0xf)
#define INSN_INFO_RNG_SIZE(i)      (((i) >> 11) & 3)
#define INSN_OPSIZE_16             0
#define INSN_OPSIZE_32             1
#define INSN_OPSIZE_64             2
/* ... for XSAVES/XRSTORS (table 28-13): scaling 1:0, address size 9:7,
 * bit 10 = 0, segment 17:15, index 21:18 (+ invalid 22), base 26:23 (+
 * invalid 27). */
#define INSN_INFO_MEM_NOINDEX_MASK 0x0fc38780u /* the bits defined without an index */
#define INSN_INFO_ADDR64           (2u << 7)
#define INSN_INFO_SEG_DS           (3u << 15)
#define INSN_INFO_INDEX_INVALID    (1u << 22)
#define INSN_INFO_BASE(r)          ((uint32_t)(r) << 23)
#define GPR_RSP 4
#define GPR_RBP 5
#define GPR_RSI 6
#define GPR_RDI 7
#define GPR_R8  8
#define GPR_R9  9
#define GPR_R12 12

/* ---- the local APIC (Vol. 3A ch. 11) and its virtualization (ch. 30) ---- */
#define APIC_ID        0x020
#define APIC_VERSION   0x030
#define APIC_TPR       0x080
#define APIC_PPR       0x0a0
#define APIC_EOI       0x0b0
#define APIC_LDR       0x0d0
#define APIC_SVR       0x0f0
#define APIC_ISR       0x100 /* 8 registers, 16 bytes apart */
#define APIC_IRR       0x200
#define APIC_ICR_LO    0x300
#define APIC_LVT_TIMER 0x320
#define APIC_TMR_INIT  0x380
#define APIC_TMR_CUR   0x390 /* not virtualized (30.4.2.1) */
#define APIC_REG_STRIDE 16
#define APIC_VEC_PER_REG 32
#define X2APIC_MSR_BASE 0x800 /* MSR = 0x800 + (offset >> 4) (Vol. 3A 11.12.1.2) */
#define X2APIC_MSR(off) (X2APIC_MSR_BASE + ((off) >> 4))
#define X2APIC_SELF_IPI_MSR 0x83f
#define MSR_APIC_BASE_X2APIC (1ULL << 10) /* IA32_APIC_BASE.EXTD */
#define MSR_APIC_BASE_ADDR   0xfffff000ULL
#define ICR_SELF             (1u << 18) /* destination shorthand 01 */
#define ICR_DELIVERY_PENDING (1u << 12)

/* The posted-interrupt descriptor (30.6): PIR bits 255:0, ON bit 256. */
#define PID_PIR_QWORDS 4
#define PID_ON_QWORD   4
#define PID_ON_BIT     (1ULL << 0)
#define PID_ALIGN      64

/* IA32_XSS (Vol. 4) and XSAVE enumeration (CPUID leaf 0DH, Vol. 1 13.2). */
#define MSR_IA32_XSS            0xda0
#define CPUID_XSAVE_LEAF        0xd
#define CPUID_D1_EAX_XSAVES     (1u << 3)
#define CPUID1_ECX_RDRAND       (1u << 30)
#define CPUID7_EBX_RDSEED       (1u << 18)
#define XCR0_X87                (1ULL << 0)
#define XCR0_SSE                (1ULL << 1)
#define XSAVE_AREA_ALIGN        64
#define XSAVE_COMPACTED         (1ULL << 63) /* XCOMP_BV bit 63 */

/* ---- shared helpers ---- */
/* The capability MSR a control's offer comes from (A.3), for messages. */
#define TRUE_PREFIX ((caps.basic & VMX_BASIC_TRUE_CTLS) ? "TRUE_" : "")
static inline uint64_t exit_qual(void) { return vmr(VMCS_EXIT_QUALIFICATION); }
static inline uint64_t exit_rip(void) { return vmr(VMCS_GUEST_RIP); }
static inline uint64_t exit_len(void) { return vmr(VMCS_EXIT_INSTR_LEN); }
static inline uint64_t addr_of(const void *p) { return (uintptr_t)p; }
/* Clears a bitmap page writing only the qwords that are not 0: under
 * nestvisor every store into a bitmap page exits (L0 watches it). */
static inline void bitmap_zero(uint8_t *page)
{
    volatile uint64_t *q = (volatile uint64_t *)page;
    for (unsigned i = 0; i < PAGE_SIZE / sizeof *q; i++)
        if (q[i])
            q[i] = 0;
}
static inline void msr_bitmap_zero(void) { bitmap_zero(msr_bitmap); }
/* A 256-vector IDT for L2: its exception stubs, and for vectors 32-255
 * l2_vec_stubs (which log the vector and EOI as l2_eoi_mode says). */
void virt_l2_idt_install(void);
/* Resets the interrupt log and sets how L2's handlers EOI. */
void virt_l2_intr_reset(unsigned eoi_mode, uint64_t eoi_addr);

/* ---- the L2 code (virt_l2.asm) ---- */
/* l2_apic_access: one access per step, VMCALL after each. EDX = 0: R8 <-
 * dword [RBX]; EDX = 1: dword [RBX] <- ECX. Labels: the instruction and
 * the one after it (APIC-access exits give no instruction length). */
void l2_apic_access(void);
extern const uint8_t l2_apic_read_insn[], l2_apic_read_next[];
extern const uint8_t l2_apic_write_insn[], l2_apic_write_next[];
/* l2_msr_step: R10 = 0: RDMSR ECX -> R8 (EDX:EAX); R10 = 1: WRMSR ECX <- EDX:EAX. */
void l2_msr_step(void);
extern const uint8_t l2_msr_rd_insn[], l2_msr_rd_next[], l2_msr_wr_insn[], l2_msr_wr_next[];
/* l2_cr8: R8 <- CR8; CR8 <- RBX; CR8 <- RCX; R9 <- CR8. */
void l2_cr8(void);
extern const uint8_t l2_cr8_first_write_next[], l2_cr8_second_write_next[];
/* l2_sti_spin: STI, RCX iterations, R8 = interrupts logged, VMCALL. */
void l2_sti_spin(void);
/* l2_steps: MOV R8D, 1 / MOV R9D, 2 / NOP / then the l2_spin loop (RCX). */
void l2_steps(void);
extern const uint8_t l2_steps_1[], l2_steps_2[], l2_steps_3[], l2_steps_loop[];
/* l2_store_steps: LOCK BTS [RDI], ESI / NOP / VMCALL (a store into a page
 * L0 may emulate). */
void l2_store_steps(void);
extern const uint8_t l2_store_next[], l2_store_nop_next[];
/* l2_in_steps: IN AL, DX / NOP / VMCALL. */
void l2_in_steps(void);
extern const uint8_t l2_in_next[], l2_in_nop_next[];
/* l2_pause_loop: R12 <- TSC, then PAUSE; DEC RCX; JNZ. R8 = 1 when RCX ran out. */
void l2_pause_loop(void);
extern const uint8_t l2_pause_insn[];
/* RDRAND / RDSEED into various registers, each with its labels; results in
 * R8 (value) and R9 (RFLAGS after). */
void l2_rdrand(void);
void l2_rdseed(void);
#define RNG_SITES 6 /* per instruction: its address, the next one's */
extern const uint64_t l2_rdrand_sites[RNG_SITES], l2_rdseed_sites[RNG_SITES];
/* XSAVES then XRSTORS at [RBX + XSAVES_DISP] with EDX:EAX = R8; VMCALL after
 * each (R9 = 1, then 2). */
void l2_xsaves(void);
extern const uint8_t l2_xsaves_insn[], l2_xsaves_next[], l2_xrstors_insn[], l2_xrstors_next[];
#define XSAVES_DISP 0x40 /* virt_l2.asm: the displacement of both */

/* The L2 interrupt log (written by L2's handlers, read by L1). */
#define L2_INTR_LOG_MAX 16
#define L2_EOI_NONE  0
#define L2_EOI_MMIO  1 /* dword [l2_eoi_addr] <- 0 */
#define L2_EOI_X2APIC 2 /* WRMSR 0x80b <- 0 */
extern volatile uint64_t l2_intr_log[L2_INTR_LOG_MAX];
extern volatile uint32_t l2_intr_count, l2_eoi_mode;
extern volatile uint64_t l2_eoi_addr;
extern const uint64_t l2_vec_stubs[256 - 32];
extern const uint8_t l2_eoi_mmio_next[], l2_eoi_msr_next[];

/* ---- the cases ---- */
void case_tpr_shadow(void);
void case_apic_access(void);
void case_apic_regs(void);
void case_apic_x2apic(void);
void case_apic_vid(void);
void case_apic_checks(void);
void case_posted_intr(void);
void case_mtf(void);
void case_ple(void);
void case_rdrand_exit(void);
void case_rdseed_exit(void);
void case_xsaves_exit(void);
void case_tsc_scaling(void);

#endif
