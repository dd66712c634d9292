/* unit-srcs: vmm/nested/reflect.c vmm/io.c vmm/msr.c vmm/mtrr.c vmm/memmap.c vmm/vcpu.c vmm/l1ram.c vmm/nested/vmx_msrs.c vmm/nested/vmcs12.c arch/x86/vmx_caps.c tests/unit/fake_vmx.c tests/unit/fake_ipi.c */
/* vmm/nested/reflect.c: does L1 want an exit of L2? For every basic exit
 * reason of arch/x86/exit_reasons.h, the rule by which the instruction or
 * event would cause a VM exit if vmcs12 ran on the hardware, each tested
 * both ways. SDM Vol. 3C: 26.1.2 (instructions that cause VM exits
 * unconditionally: CPUID, GETSEC, INVD, XSETBV and the VMX instructions),
 * 26.1.3 (instructions that cause VM exits conditionally: CLTS, HLT, IN/OUT
 * and INS/OUTS, INVLPG, INVPCID, LGDT..STR, LMSW, MONITOR, MOV from/to CR3
 * and CR8, MOV to CR0/CR4, MOV DR, MWAIT, PAUSE, RDMSR/WRMSR, RDPMC, RDRAND,
 * RDSEED, RDTSC, RDTSCP, WBINVD), 26.2 (other causes: exceptions with the
 * exception bitmap and the #PF error-code mask/match, NMIs, external
 * interrupts, triple fault, INIT/SIPI, task switches, the VMX-preemption
 * timer, interrupt/NMI windows, MTF), 25.6.4 (I/O bitmaps A 0-7FFFH and B
 * 8000H-FFFFH), 25.6.9 (MSR bitmaps: read low/high at 0/1024, write
 * low/high at 2048/3072, MSRs outside 0-1FFFH and C0000000H-C0001FFFH
 * always exit), 25.6.6 (CR masks and read shadows), 25.6.7 (CR3-target
 * values). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "vmm/nested/nested.h"
#include "vmm/io.h"
#include "vmm/msr.h"
#include "vmm/vm.h"
#include "arch/x86/cpu_bits.h"
#include "arch/x86/exit_reasons.h"
#include "arch/x86/msr_index.h"
#include "arch/x86/physmem.h"
#include "arch/x86/vmx_bits.h"
#include "tests/unit/fake_arch.h"

struct vm the_vm;
void vm_stop(enum power_status status, const char *why)
{
    (void)status;
    fail_msg("vm_stop: %s", why);
    abort();
}

#define IO_A_PA       0x10000ULL
#define IO_B_PA       0x11000ULL
#define MSR_BITMAP_PA 0x12000ULL
#define L1_RAM_BASE   0x10000ULL /* L1's RAM holds the bitmaps above */
#define L1_RAM_SIZE   0x10000ULL
#define NOT_L1_RAM    0x40000ULL /* memory L1 does not own (fake memory, zeros) */

static struct vmcs12 c12;
static uint8_t *io_a, *io_b, *msr_bitmap;

static int setup(void **state)
{
    (void)state;
    fake_phys_reset();
    memmap_init(&the_vm.l1_map);
    assert_true(memmap_set(&the_vm.l1_map, L1_RAM_BASE, L1_RAM_SIZE, MEM_USABLE));
    memset(&c12, 0, sizeof(c12));
    VMCS12(&c12, IO_BITMAP_A) = IO_A_PA;
    VMCS12(&c12, IO_BITMAP_B) = IO_B_PA;
    VMCS12(&c12, MSR_BITMAP) = MSR_BITMAP_PA;
    io_a = phys_to_virt(IO_A_PA);
    io_b = phys_to_virt(IO_B_PA);
    msr_bitmap = phys_to_virt(MSR_BITMAP_PA);
    return 0;
}

#define PIN  VMCS12(&c12, PIN_BASED_VM_EXEC_CONTROL)
#define PROC VMCS12(&c12, CPU_BASED_VM_EXEC_CONTROL)
#define PROC2 VMCS12(&c12, SECONDARY_VM_EXEC_CONTROL)

static bool wants(uint32_t reason)
{
    struct l2_exit e = {.reason = reason};
    return nested_exit_wanted_by_l1(&c12, &e);
}

static bool wants_exit(struct l2_exit e) { return nested_exit_wanted_by_l1(&c12, &e); }

/* ---- reasons decided by one control bit ---- */

enum ctl_field { F_PIN, F_PROC, F_PROC2 };

static const struct {
    uint32_t reason;
    enum ctl_field field;
    uint32_t bit;
    const char *sdm;
} by_control[] = {
    {EXIT_REASON_EXTERNAL_INTERRUPT, F_PIN, PIN_EXTINT_EXITING, "26.2 external interrupts"},
    {EXIT_REASON_PREEMPTION_TIMER, F_PIN, PIN_PREEMPTION_TIMER, "26.2 / 26.5.1 VMX-preemption timer"},
    {EXIT_REASON_INTERRUPT_WINDOW, F_PROC, PROC_INTR_WINDOW_EXITING, "26.2 / 26.7.5 interrupt-window exiting"},
    {EXIT_REASON_NMI_WINDOW, F_PROC, PROC_NMI_WINDOW_EXITING, "26.2 / 26.7.6 NMI-window exiting"},
    {EXIT_REASON_HLT, F_PROC, PROC_HLT_EXITING, "26.1.3 HLT"},
    {EXIT_REASON_INVLPG, F_PROC, PROC_INVLPG_EXITING, "26.1.3 INVLPG"},
    {EXIT_REASON_RDPMC, F_PROC, PROC_RDPMC_EXITING, "26.1.3 RDPMC"},
    {EXIT_REASON_RDTSC, F_PROC, PROC_RDTSC_EXITING, "26.1.3 RDTSC"},
    {EXIT_REASON_DR_ACCESS, F_PROC, PROC_MOV_DR_EXITING, "26.1.3 MOV DR"},
    {EXIT_REASON_MWAIT, F_PROC, PROC_MWAIT_EXITING, "26.1.3 MWAIT"},
    {EXIT_REASON_MONITOR, F_PROC, PROC_MONITOR_EXITING, "26.1.3 MONITOR"},
    {EXIT_REASON_MONITOR_TRAP_FLAG, F_PROC, PROC_MONITOR_TRAP_FLAG, "26.5.2 monitor trap flag"},
    {EXIT_REASON_TPR_BELOW_THRESHOLD, F_PROC, PROC_TPR_SHADOW, "30.1.2 TPR virtualization"},
    {EXIT_REASON_GDTR_IDTR, F_PROC2, PROC2_DESC_TABLE_EXITING, "26.1.3 LGDT, LIDT, SGDT, SIDT"},
    {EXIT_REASON_LDTR_TR, F_PROC2, PROC2_DESC_TABLE_EXITING, "26.1.3 LLDT, LTR, SLDT, STR"},
    {EXIT_REASON_WBINVD, F_PROC2, PROC2_WBINVD_EXITING, "26.1.3 WBINVD"},
    {EXIT_REASON_RDRAND, F_PROC2, PROC2_RDRAND_EXITING, "26.1.3 RDRAND"},
    {EXIT_REASON_RDSEED, F_PROC2, PROC2_RDSEED_EXITING, "26.1.3 RDSEED"},
};

static uint64_t *field_of(enum ctl_field f)
{
    return f == F_PIN ? &PIN : f == F_PROC ? &PROC : &PROC2;
}

/* Each such reason: wanted exactly when its control is 1; every other
 * control set does not make it wanted. Secondary controls count only with
 * "activate secondary controls" (SDM 25.6.2). */
static void test_single_control_reasons(void **state)
{
    (void)state;
    for (unsigned i = 0; i < sizeof(by_control) / sizeof(by_control[0]); i++) {
        uint32_t r = by_control[i].reason, bit = by_control[i].bit;
        uint64_t *f = field_of(by_control[i].field);
        PIN = PROC = PROC2 = 0;
        if (wants(r))
            fail_msg("reason %u wanted with no controls (%s)", r, by_control[i].sdm);
        /* Everything but the bit. */
        PIN = ~0U;
        PROC = ~0U;
        PROC2 = ~0U;
        *f &= ~(uint64_t)bit;
        if (wants(r))
            fail_msg("reason %u wanted without its control (%s)", r, by_control[i].sdm);
        PIN = PROC = PROC2 = 0;
        *f = bit;
        if (by_control[i].field == F_PROC2) {
            if (wants(r))
                fail_msg("reason %u wanted with secondary controls off (%s)", r, by_control[i].sdm);
            PROC = PROC_SECONDARY_CONTROLS;
        }
        if (!wants(r))
            fail_msg("reason %u not wanted with its control (%s)", r, by_control[i].sdm);
    }
}

/* SDM 26.1.3: RDTSCP exits iff "RDTSC exiting" and "enable RDTSCP" are
 * both 1; INVPCID iff "INVLPG exiting" and "enable INVPCID" are both 1
 * ("enable ..." being a secondary control). All eight combinations. */
/* PAUSE exits for "PAUSE exiting", and for "PAUSE-loop exiting" (a loop
 * longer than PLE_Window, SDM 26.1.3) when secondary controls are on. */
static void test_pause(void **state)
{
    (void)state;
    PIN = PROC = PROC2 = 0;
    assert_false(wants(EXIT_REASON_PAUSE));
    PROC = PROC_PAUSE_EXITING;
    assert_true(wants(EXIT_REASON_PAUSE));
    PROC = 0;
    PROC2 = PROC2_PAUSE_LOOP_EXITING;
    assert_false(wants(EXIT_REASON_PAUSE)); /* secondary controls off */
    PROC = PROC_SECONDARY_CONTROLS;
    assert_true(wants(EXIT_REASON_PAUSE));
    PROC2 = ~(uint64_t)PROC2_PAUSE_LOOP_EXITING;
    assert_false(wants(EXIT_REASON_PAUSE));
}

static void test_rdtscp_and_invpcid(void **state)
{
    (void)state;
    for (unsigned m = 0; m < 8; m++) {
        bool primary = m & 1, secondary = m & 2, enable = m & 4;
        PROC = (primary ? PROC_RDTSC_EXITING | PROC_INVLPG_EXITING : 0) |
               (secondary ? PROC_SECONDARY_CONTROLS : 0);
        PROC2 = enable ? PROC2_ENABLE_RDTSCP | PROC2_ENABLE_INVPCID : 0;
        bool expect = primary && secondary && enable;
        assert_int_equal(wants(EXIT_REASON_RDTSCP), expect);
        assert_int_equal(wants(EXIT_REASON_INVPCID), expect);
        /* Each pairing is its own: RDTSC exiting does not make INVPCID exit. */
        PROC = (primary ? PROC_RDTSC_EXITING : 0) | (secondary ? PROC_SECONDARY_CONTROLS : 0);
        PROC2 = enable ? PROC2_ENABLE_INVPCID : 0;
        assert_false(wants(EXIT_REASON_INVPCID));
        assert_false(wants(EXIT_REASON_RDTSCP));
    }
}

/* ---- exceptions and NMIs (SDM 26.2) ---- */

static struct l2_exit exception(unsigned type, unsigned vector, uint32_t error)
{
    return (struct l2_exit){.reason = EXIT_REASON_EXCEPTION_NMI,
                            .intr_info = INTR_INFO_VALID | type | vector,
                            .intr_error = error};
}

static void test_exception_bitmap(void **state)
{
    (void)state;
    for (unsigned v = 0; v < 32; v++) {
        if (v == VEC_NMI || v == VEC_PF)
            continue;
        VMCS12(&c12, EXCEPTION_BITMAP) = 1U << v;
        assert_true(wants_exit(exception(INTR_TYPE_HW_EXCEPTION, v, 0)));
        VMCS12(&c12, EXCEPTION_BITMAP) = ~(1U << v);
        assert_false(wants_exit(exception(INTR_TYPE_HW_EXCEPTION, v, 0)));
    }
    /* INT3 and INTO are software exceptions; ICEBP a privileged software
     * exception: the bitmap applies to them too. */
    VMCS12(&c12, EXCEPTION_BITMAP) = 1U << VEC_BP;
    assert_true(wants_exit(exception(INTR_TYPE_SW_EXCEPTION, VEC_BP, 0)));
    assert_false(wants_exit(exception(INTR_TYPE_SW_EXCEPTION, VEC_OF, 0)));
    VMCS12(&c12, EXCEPTION_BITMAP) = 1U << VEC_DB;
    assert_true(wants_exit(exception(INTR_TYPE_PRIV_SW_EXCEPTION, VEC_DB, 0)));
}

/* NMIs exit with "NMI exiting", whatever bit 2 of the exception bitmap. */
static void test_nmi_vs_exception(void **state)
{
    (void)state;
    VMCS12(&c12, EXCEPTION_BITMAP) = ~0U;
    PIN = 0;
    assert_false(wants_exit(exception(INTR_TYPE_NMI, VEC_NMI, 0)));
    VMCS12(&c12, EXCEPTION_BITMAP) = 0;
    PIN = PIN_NMI_EXITING;
    assert_true(wants_exit(exception(INTR_TYPE_NMI, VEC_NMI, 0)));
    /* NMI exiting does not make exceptions exit. */
    assert_false(wants_exit(exception(INTR_TYPE_HW_EXCEPTION, VEC_GP, 0)));
}

/* #PF: with PFEC & mask == match the bitmap's bit 14 decides; otherwise
 * its opposite does (SDM 26.2). */
static void test_page_fault_mask_match(void **state)
{
    (void)state;
    uint32_t write_user = PFEC_W | PFEC_U, read_kernel = 0;
    VMCS12(&c12, PAGE_FAULT_ERROR_CODE_MASK) = PFEC_W | PFEC_U;
    VMCS12(&c12, PAGE_FAULT_ERROR_CODE_MATCH) = PFEC_W | PFEC_U;
    VMCS12(&c12, EXCEPTION_BITMAP) = 1U << VEC_PF;
    assert_true(wants_exit(exception(INTR_TYPE_HW_EXCEPTION, VEC_PF, write_user | PFEC_P)));
    assert_false(wants_exit(exception(INTR_TYPE_HW_EXCEPTION, VEC_PF, read_kernel)));
    assert_false(wants_exit(exception(INTR_TYPE_HW_EXCEPTION, VEC_PF, PFEC_W)));
    VMCS12(&c12, EXCEPTION_BITMAP) = 0;
    assert_false(wants_exit(exception(INTR_TYPE_HW_EXCEPTION, VEC_PF, write_user)));
    assert_true(wants_exit(exception(INTR_TYPE_HW_EXCEPTION, VEC_PF, read_kernel)));
    assert_true(wants_exit(exception(INTR_TYPE_HW_EXCEPTION, VEC_PF, PFEC_U | PFEC_I)));
    /* Mask = match = 0: every #PF matches, the bit alone decides. */
    VMCS12(&c12, PAGE_FAULT_ERROR_CODE_MASK) = 0;
    VMCS12(&c12, PAGE_FAULT_ERROR_CODE_MATCH) = 0;
    assert_false(wants_exit(exception(INTR_TYPE_HW_EXCEPTION, VEC_PF, 0x1f)));
    VMCS12(&c12, EXCEPTION_BITMAP) = 1U << VEC_PF;
    assert_true(wants_exit(exception(INTR_TYPE_HW_EXCEPTION, VEC_PF, 0x1f)));
    /* Mask 0, match nonzero: nothing matches, the bit is reversed. */
    VMCS12(&c12, PAGE_FAULT_ERROR_CODE_MATCH) = 1;
    assert_false(wants_exit(exception(INTR_TYPE_HW_EXCEPTION, VEC_PF, 1)));
    VMCS12(&c12, EXCEPTION_BITMAP) = 0;
    assert_true(wants_exit(exception(INTR_TYPE_HW_EXCEPTION, VEC_PF, 1)));
}

/* ---- control-register accesses (SDM 26.1.3, 25.6.6-25.6.7) ---- */

#define MOV_TO(cr)   ((uint64_t)(cr) | (CR_ACCESS_MOV_TO_CR << 4))
#define MOV_FROM(cr) ((uint64_t)(cr) | (CR_ACCESS_MOV_FROM_CR << 4))
#define CLTS_Q       ((uint64_t)CR_ACCESS_CLTS << 4)
#define LMSW_Q(src)  ((uint64_t)CR_ACCESS_LMSW << 4 | ((uint64_t)(src) << 16))

static bool cr_exit(uint64_t qual, uint64_t source)
{
    struct l2_exit e = {.reason = EXIT_REASON_CR_ACCESS, .qualification = qual, .cr_source = source};
    return wants_exit(e);
}

/* MOV to CR0/CR4 exits unless the source matches the read shadow in every
 * bit set in the guest/host mask. */
static void test_mov_to_cr0_cr4(void **state)
{
    (void)state;
    VMCS12(&c12, CR0_GUEST_HOST_MASK) = CR0_PE | CR0_PG | CR0_CD;
    VMCS12(&c12, CR0_READ_SHADOW) = CR0_PE | CR0_PG;
    assert_false(cr_exit(MOV_TO(0), CR0_PE | CR0_PG));
    assert_false(cr_exit(MOV_TO(0), CR0_PE | CR0_PG | CR0_TS | CR0_MP | CR0_WP)); /* unowned bits */
    assert_true(cr_exit(MOV_TO(0), CR0_PE));                                    /* PG differs */
    assert_true(cr_exit(MOV_TO(0), CR0_PE | CR0_PG | CR0_CD));
    VMCS12(&c12, CR0_GUEST_HOST_MASK) = 0;
    assert_false(cr_exit(MOV_TO(0), ~0ULL));
    VMCS12(&c12, CR4_GUEST_HOST_MASK) = CR4_VMXE | CR4_PAE;
    VMCS12(&c12, CR4_READ_SHADOW) = CR4_PAE;
    assert_false(cr_exit(MOV_TO(4), CR4_PAE | CR4_PGE));
    assert_true(cr_exit(MOV_TO(4), CR4_PAE | CR4_VMXE));
    assert_true(cr_exit(MOV_TO(4), 0));
    /* CR4's mask and shadow are not CR0's. */
    assert_false(cr_exit(MOV_TO(0), 0));
}

/* MOV to CR3 exits with "CR3-load exiting" unless the source equals one
 * of the first CR3-target-count target values; MOV from CR3 with
 * "CR3-store exiting". */
static void test_cr3(void **state)
{
    (void)state;
    assert_false(cr_exit(MOV_TO(3), 0x1000));
    assert_false(cr_exit(MOV_FROM(3), 0));
    PROC = PROC_CR3_LOAD_EXITING;
    assert_true(cr_exit(MOV_TO(3), 0x1000));
    assert_false(cr_exit(MOV_FROM(3), 0));
    VMCS12(&c12, CR3_TARGET_VALUE0) = 0x1000;
    VMCS12(&c12, CR3_TARGET_VALUE1) = 0x2000;
    VMCS12(&c12, CR3_TARGET_VALUE2) = 0x3000;
    VMCS12(&c12, CR3_TARGET_VALUE3) = 0x4000;
    VMCS12(&c12, CR3_TARGET_COUNT) = 2;
    assert_false(cr_exit(MOV_TO(3), 0x1000));
    assert_false(cr_exit(MOV_TO(3), 0x2000));
    assert_true(cr_exit(MOV_TO(3), 0x3000)); /* beyond the count */
    assert_true(cr_exit(MOV_TO(3), 0x1008)); /* the whole value is compared */
    VMCS12(&c12, CR3_TARGET_COUNT) = 4;
    assert_false(cr_exit(MOV_TO(3), 0x4000));
    VMCS12(&c12, CR3_TARGET_COUNT) = 0;
    assert_true(cr_exit(MOV_TO(3), 0x1000));
    PROC = PROC_CR3_STORE_EXITING;
    assert_true(cr_exit(MOV_FROM(3), 0));
    assert_false(cr_exit(MOV_TO(3), 0x5000));
}

/* CR8 (TPR): MOV to CR8 with "CR8-load exiting", from CR8 with
 * "CR8-store exiting". */
static void test_cr8(void **state)
{
    (void)state;
    assert_false(cr_exit(MOV_TO(8), 0xf));
    assert_false(cr_exit(MOV_FROM(8), 0));
    PROC = PROC_CR8_LOAD_EXITING;
    assert_true(cr_exit(MOV_TO(8), 0xf));
    assert_false(cr_exit(MOV_FROM(8), 0));
    PROC = PROC_CR8_STORE_EXITING;
    assert_false(cr_exit(MOV_TO(8), 0xf));
    assert_true(cr_exit(MOV_FROM(8), 0));
}

/* CLTS exits if TS is set in both the CR0 mask and the CR0 read shadow. */
static void test_clts(void **state)
{
    (void)state;
    VMCS12(&c12, CR0_GUEST_HOST_MASK) = CR0_TS;
    VMCS12(&c12, CR0_READ_SHADOW) = CR0_TS;
    assert_true(cr_exit(CLTS_Q, 0));
    VMCS12(&c12, CR0_READ_SHADOW) = 0;
    assert_false(cr_exit(CLTS_Q, 0));
    VMCS12(&c12, CR0_GUEST_HOST_MASK) = ~CR0_TS;
    VMCS12(&c12, CR0_READ_SHADOW) = ~0ULL;
    assert_false(cr_exit(CLTS_Q, 0));
}

/* LMSW loads CR0 bits 3:0 and never clears PE: it exits if it would set a
 * masked PE that the shadow has clear, or change any masked bit of MP, EM
 * and TS against the shadow. */
static void test_lmsw(void **state)
{
    (void)state;
    VMCS12(&c12, CR0_GUEST_HOST_MASK) = CR0_PE;
    VMCS12(&c12, CR0_READ_SHADOW) = 0;
    assert_true(cr_exit(LMSW_Q(CR0_PE), CR0_PE));
    assert_false(cr_exit(LMSW_Q(0), 0));
    /* PE already 1 in the shadow: a source with PE 0 cannot clear it. */
    VMCS12(&c12, CR0_READ_SHADOW) = CR0_PE;
    assert_false(cr_exit(LMSW_Q(0), 0));
    assert_false(cr_exit(LMSW_Q(CR0_PE), CR0_PE));
    /* MP, EM, TS: any masked difference. */
    VMCS12(&c12, CR0_GUEST_HOST_MASK) = CR0_MP | CR0_EM | CR0_TS;
    VMCS12(&c12, CR0_READ_SHADOW) = CR0_MP;
    assert_false(cr_exit(LMSW_Q(CR0_MP), CR0_MP));
    assert_true(cr_exit(LMSW_Q(0), 0));
    assert_true(cr_exit(LMSW_Q(CR0_MP | CR0_TS), CR0_MP | CR0_TS));
    assert_true(cr_exit(LMSW_Q(CR0_MP | CR0_EM), CR0_MP | CR0_EM));
    /* Bits 15:4 of the source do not reach CR0. */
    VMCS12(&c12, CR0_GUEST_HOST_MASK) = ~0ULL & ~(uint64_t)(CR0_PE | CR0_MP | CR0_EM | CR0_TS);
    VMCS12(&c12, CR0_READ_SHADOW) = 0;
    assert_false(cr_exit(LMSW_Q(0xfff0), 0xfff0));
    /* An unmasked difference does not exit. */
    VMCS12(&c12, CR0_GUEST_HOST_MASK) = CR0_TS;
    VMCS12(&c12, CR0_READ_SHADOW) = CR0_TS;
    assert_false(cr_exit(LMSW_Q(CR0_TS | CR0_MP | CR0_EM), CR0_TS | CR0_MP | CR0_EM));
}

/* ---- I/O (SDM 26.1.3, 25.6.4) ---- */

static bool io_exit(unsigned port, unsigned size, bool in)
{
    struct l2_exit e = {.reason = EXIT_REASON_IO_INSTRUCTION,
                        .qualification = (uint64_t)(size - 1) | (in ? IO_QUAL_IN : 0) | ((uint64_t)port << 16)};
    return wants_exit(e);
}

static void set_port(unsigned port)
{
    uint8_t *map = port < 0x8000 ? io_a : io_b;
    port &= 0x7fff;
    map[port / 8] |= (uint8_t)(1U << (port % 8));
}

static void test_io_unconditional_and_none(void **state)
{
    (void)state;
    set_port(0x60);
    PROC = 0;
    assert_false(io_exit(0x60, 1, true));
    assert_false(io_exit(0x80, 1, false));
    PROC = PROC_UNCOND_IO_EXITING;
    assert_true(io_exit(0x80, 1, false));
    assert_true(io_exit(0xcf8, 4, true));
    /* With I/O bitmaps, "unconditional I/O exiting" is ignored. */
    PROC = PROC_UNCOND_IO_EXITING | PROC_USE_IO_BITMAPS;
    assert_false(io_exit(0x80, 1, false));
    assert_true(io_exit(0x60, 1, true));
}

static void test_io_bitmaps(void **state)
{
    (void)state;
    PROC = PROC_USE_IO_BITMAPS;
    assert_false(io_exit(0x3f8, 1, false));
    set_port(0x3f8);    /* bitmap A */
    set_port(0x8000);   /* first port of B */
    set_port(0xfffe);   /* B */
    assert_true(io_exit(0x3f8, 1, false));
    assert_false(io_exit(0x3f9, 1, false));
    assert_false(io_exit(0x3f7, 1, true));
    /* A multi-byte access exits if any byte's port is set. */
    assert_true(io_exit(0x3f6, 4, true));  /* 3f6..3f9 */
    assert_true(io_exit(0x3f7, 2, false)); /* 3f7..3f8 */
    assert_false(io_exit(0x3f4, 4, true)); /* 3f4..3f7 */
    assert_false(io_exit(0x3f9, 4, true));
    assert_true(io_exit(0x8000, 1, true));
    assert_false(io_exit(0x0000, 1, true)); /* 0x8000 is in B, not port 0 of A */
    /* Straddling A and B. */
    assert_true(io_exit(0x7fff, 2, false));
    assert_false(io_exit(0x7ffc, 4, false));
    assert_true(io_exit(0x7ffd, 4, false));
    assert_true(io_exit(0xfffe, 1, true));
    assert_false(io_exit(0xffff, 1, true));
}

/* An access wrapping past 0xffff (ports FFFFH and 0000H) always exits with
 * I/O bitmaps. */
static void test_io_wrap(void **state)
{
    (void)state;
    PROC = PROC_USE_IO_BITMAPS;
    assert_false(io_exit(0xffff, 1, true));
    assert_true(io_exit(0xffff, 2, true));
    assert_true(io_exit(0xffff, 4, false));
    assert_true(io_exit(0xfffd, 4, false));
    assert_false(io_exit(0xfffc, 4, false));
}

/* ---- MSRs (SDM 26.1.3, 25.6.9) ---- */

static bool msr_exit(uint32_t msr, bool write)
{
    struct l2_exit e = {.reason = write ? EXIT_REASON_MSR_WRITE : EXIT_REASON_MSR_READ, .msr = msr};
    return wants_exit(e);
}

static void set_msr_bit(unsigned base, uint32_t offset)
{
    msr_bitmap[base + offset / 8] |= (uint8_t)(1U << (offset % 8));
}

static void test_msr_without_bitmaps_always_exits(void **state)
{
    (void)state;
    PROC = 0;
    static const uint32_t msrs[] = {0, MSR_IA32_EFER, MSR_IA32_APIC_BASE, 0x40000000, MSR_IA32_TSC};
    for (unsigned i = 0; i < sizeof(msrs) / sizeof(msrs[0]); i++) {
        assert_true(msr_exit(msrs[i], false));
        assert_true(msr_exit(msrs[i], true));
    }
}

static void test_msr_bitmaps(void **state)
{
    (void)state;
    PROC = PROC_USE_MSR_BITMAPS;
    assert_false(msr_exit(MSR_IA32_SYSENTER_CS, false));
    assert_false(msr_exit(MSR_IA32_EFER, true));
    set_msr_bit(0, MSR_IA32_SYSENTER_CS);                        /* read, low */
    set_msr_bit(1024, MSR_IA32_EFER - 0xc0000000U);              /* read, high */
    set_msr_bit(2048, MSR_IA32_APIC_BASE);                       /* write, low */
    set_msr_bit(3072, MSR_IA32_LSTAR - 0xc0000000U);             /* write, high */
    set_msr_bit(0, 0x1fff);
    set_msr_bit(3072, 0x1fff);
    assert_true(msr_exit(MSR_IA32_SYSENTER_CS, false));
    assert_false(msr_exit(MSR_IA32_SYSENTER_CS, true));
    assert_true(msr_exit(MSR_IA32_EFER, false));
    assert_false(msr_exit(MSR_IA32_EFER, true));
    assert_false(msr_exit(MSR_IA32_APIC_BASE, false));
    assert_true(msr_exit(MSR_IA32_APIC_BASE, true));
    assert_false(msr_exit(MSR_IA32_LSTAR, false));
    assert_true(msr_exit(MSR_IA32_LSTAR, true));
    /* Low and high ranges do not alias. */
    assert_false(msr_exit(MSR_IA32_EFER - 0xc0000000U, false));
    assert_false(msr_exit(0xc0000000U + MSR_IA32_SYSENTER_CS, false));
    assert_true(msr_exit(0x1fff, false));
    assert_true(msr_exit(0xc0001fff, true));
    assert_false(msr_exit(0xc0001fff, false));
}

/* A bitmap address outside L1's RAM reads as all ones: every access exits
 * (as nestvisor's merge of it, nested/bitmaps.c), and L0 never reads its own
 * memory (or whatever else is there) through an address L1 chose. The fake
 * memory there is zeros, which would say "no exit". */
static void test_bitmaps_outside_l1_ram_read_as_all_ones(void **state)
{
    (void)state;
    PROC = PROC_USE_IO_BITMAPS | PROC_USE_MSR_BITMAPS;
    assert_false(io_exit(0x3f8, 1, false));
    assert_false(io_exit(0x8000, 1, false));
    assert_false(msr_exit(MSR_IA32_SYSENTER_CS, false));
    VMCS12(&c12, IO_BITMAP_A) = NOT_L1_RAM;
    assert_true(io_exit(0x3f8, 1, false));
    assert_false(io_exit(0x8000, 1, false)); /* B is still L1's */
    VMCS12(&c12, IO_BITMAP_B) = L1_RAM_BASE + L1_RAM_SIZE; /* just past the end */
    assert_true(io_exit(0x8000, 1, false));
    VMCS12(&c12, MSR_BITMAP) = NOT_L1_RAM;
    assert_true(msr_exit(MSR_IA32_SYSENTER_CS, false));
    assert_true(msr_exit(MSR_IA32_EFER, true));
    assert_true(msr_exit(0xc0001fff, false));
}

static void test_msr_out_of_range_always_exits(void **state)
{
    (void)state;
    PROC = PROC_USE_MSR_BITMAPS;
    static const uint32_t msrs[] = {0x2000, 0x40000000, 0xbfffffff, 0xc0002000, 0xffffffff, 0xc0010000};
    for (unsigned i = 0; i < sizeof(msrs) / sizeof(msrs[0]); i++) {
        assert_true(msr_exit(msrs[i], false));
        assert_true(msr_exit(msrs[i], true));
    }
}

/* ---- the rest ---- */

/* SDM 26.1.2 and 26.2: these exit whatever the controls (or can only
 * arise from features L1 itself turned on). */
static const uint32_t unconditional[] = {
    EXIT_REASON_TRIPLE_FAULT, EXIT_REASON_INIT_SIGNAL, EXIT_REASON_SIPI, EXIT_REASON_IO_SMI,
    EXIT_REASON_OTHER_SMI, EXIT_REASON_TASK_SWITCH, EXIT_REASON_CPUID, EXIT_REASON_GETSEC,
    EXIT_REASON_INVD, EXIT_REASON_RSM, EXIT_REASON_VMCALL, EXIT_REASON_VMCLEAR, EXIT_REASON_VMLAUNCH,
    EXIT_REASON_VMPTRLD, EXIT_REASON_VMPTRST, EXIT_REASON_VMRESUME, EXIT_REASON_VMXOFF, EXIT_REASON_VMXON, EXIT_REASON_INVALID_GUEST_STATE,
    EXIT_REASON_MSR_LOADING, EXIT_REASON_MCE_DURING_ENTRY, EXIT_REASON_APIC_ACCESS,
    EXIT_REASON_EOI_INDUCED, EXIT_REASON_INVEPT, EXIT_REASON_INVVPID, EXIT_REASON_XSETBV,
    EXIT_REASON_APIC_WRITE, EXIT_REASON_VMFUNC, EXIT_REASON_ENCLS, EXIT_REASON_PML_FULL,
    EXIT_REASON_XSAVES, EXIT_REASON_XRSTORS, EXIT_REASON_UMWAIT, EXIT_REASON_TPAUSE,
};

static void test_unconditional_reasons(void **state)
{
    (void)state;
    for (unsigned i = 0; i < sizeof(unconditional) / sizeof(unconditional[0]); i++) {
        PIN = PROC = PROC2 = 0;
        if (!wants(unconditional[i]))
            fail_msg("reason %u not wanted with all controls 0", unconditional[i]);
        PIN = PROC = PROC2 = ~0U;
        assert_true(wants(unconditional[i]));
    }
}

/* VMREAD/VMWRITE in VMX non-root operation (SDM ch. 31, 25.10): exit
 * without "VMCS shadowing" (or secondary controls), with any of encoding
 * bits 63:15 set, or with the encoding's bit (bits 14:0 as an index) set
 * in the VMREAD/VMWRITE bitmap; a bitmap outside L1's RAM reads as all
 * ones. */
#define VMREAD_BMP_PA  0x13000ULL
#define VMWRITE_BMP_PA 0x14000ULL
#define ENC_GUEST_RIP  0x681eULL
#define ENC_TSC_HIGH   0x2011ULL

static bool vmx_access_exits(bool write, uint64_t enc)
{
    struct l2_exit e = {.reason = write ? EXIT_REASON_VMWRITE : EXIT_REASON_VMREAD, .vmcs_encoding = enc};
    return wants_exit(e);
}

static void test_vmread_vmwrite_by_bitmaps(void **state)
{
    (void)state;
    uint8_t *rd = phys_to_virt(VMREAD_BMP_PA), *wr = phys_to_virt(VMWRITE_BMP_PA);
    VMCS12(&c12, VMREAD_BITMAP) = VMREAD_BMP_PA;
    VMCS12(&c12, VMWRITE_BITMAP) = VMWRITE_BMP_PA;
    PROC = PROC_SECONDARY_CONTROLS;
    PROC2 = 0;
    assert_true(vmx_access_exits(false, ENC_GUEST_RIP));
    assert_true(vmx_access_exits(true, ENC_GUEST_RIP));
    PROC2 = PROC2_VMCS_SHADOWING;
    assert_false(vmx_access_exits(false, ENC_GUEST_RIP));
    assert_false(vmx_access_exits(true, ENC_GUEST_RIP));
    PROC = 0; /* secondary controls off: the control does not count */
    assert_true(vmx_access_exits(false, ENC_GUEST_RIP));
    PROC = PROC_SECONDARY_CONTROLS;
    rd[ENC_GUEST_RIP / 8] |= (uint8_t)(1U << (ENC_GUEST_RIP % 8));
    assert_true(vmx_access_exits(false, ENC_GUEST_RIP));
    assert_false(vmx_access_exits(true, ENC_GUEST_RIP));
    wr[ENC_TSC_HIGH / 8] |= (uint8_t)(1U << (ENC_TSC_HIGH % 8));
    assert_true(vmx_access_exits(true, ENC_TSC_HIGH));
    assert_false(vmx_access_exits(true, ENC_TSC_HIGH - 1)); /* the full access has its own bit */
    /* Bits 63:15 of the encoding: an exit, whatever bits 14:0 say. */
    static const uint64_t high[] = {0x8000, 0x8000 | (ENC_TSC_HIGH - 1), 1ULL << 32, 1ULL << 63, ~0ULL};
    for (unsigned i = 0; i < sizeof(high) / sizeof(high[0]); i++) {
        assert_true(vmx_access_exits(false, high[i]));
        assert_true(vmx_access_exits(true, high[i]));
    }
    assert_false(vmx_access_exits(false, 0x7fff));
    /* Outside L1's RAM (zeros there): all ones. */
    VMCS12(&c12, VMREAD_BITMAP) = NOT_L1_RAM;
    assert_true(vmx_access_exits(false, ENC_TSC_HIGH - 1));
    assert_false(vmx_access_exits(true, ENC_TSC_HIGH - 1));
}

/* EPT violations and misconfigurations of L2 are L0's to resolve: on
 * EPT01, or on the shadow EPT02, where L0 itself turns what EPT12 forbids
 * into a nested exit (vmm/nested/nested.c). */
static void test_ept_exits_are_l0s(void **state)
{
    (void)state;
    for (int ept = 0; ept < 2; ept++) {
        PROC = PROC_SECONDARY_CONTROLS;
        PROC2 = ept ? PROC2_ENABLE_EPT : 0;
        assert_false(wants(EXIT_REASON_EPT_VIOLATION));
        assert_false(wants(EXIT_REASON_EPT_MISCONFIG));
    }
}

/* Every basic exit reason of arch/x86/exit_reasons.h is classified above;
 * a new one fails here until it is. */
static void test_every_reason_classified(void **state)
{
    (void)state;
    static const uint32_t special[] = {EXIT_REASON_EXCEPTION_NMI, EXIT_REASON_RDTSCP, EXIT_REASON_INVPCID,
                                       EXIT_REASON_CR_ACCESS, EXIT_REASON_IO_INSTRUCTION, EXIT_REASON_MSR_READ,
                                       EXIT_REASON_MSR_WRITE, EXIT_REASON_EPT_VIOLATION,
                                       EXIT_REASON_EPT_MISCONFIG, EXIT_REASON_PAUSE, EXIT_REASON_VMREAD,
                                       EXIT_REASON_VMWRITE};
    FILE *f = fopen("arch/x86/exit_reasons.h", "r");
    if (!f)
        fail_msg("cannot open arch/x86/exit_reasons.h (tests run from the repository root)");
    char line[256];
    unsigned n = 0;
    while (fgets(line, sizeof(line), f)) {
        char name[64];
        unsigned value;
        char after = 0;
        /* Basic reasons are plain decimal numbers (not the masks and bits
         * of the full exit-reason field). */
        if (sscanf(line, "#define EXIT_REASON_%63s %u%c", name, &value, &after) != 3 || after != '\n' ||
            !strcmp(name, "COUNT"))
            continue;
        n++;
        bool known = false;
        for (unsigned i = 0; i < sizeof(by_control) / sizeof(by_control[0]); i++)
            known |= by_control[i].reason == value;
        for (unsigned i = 0; i < sizeof(unconditional) / sizeof(unconditional[0]); i++)
            known |= unconditional[i] == value;
        for (unsigned i = 0; i < sizeof(special) / sizeof(special[0]); i++)
            known |= special[i] == value;
        if (!known)
            fail_msg("exit reason %s (%u) has no reflection test", name, value);
    }
    fclose(f);
    assert_int_equal(n, sizeof(by_control) / sizeof(by_control[0]) +
                            sizeof(unconditional) / sizeof(unconditional[0]) + sizeof(special) / sizeof(special[0]));
}

#define T(f) cmocka_unit_test_setup(f, setup)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_single_control_reasons),
        T(test_pause),
        T(test_rdtscp_and_invpcid),
        T(test_exception_bitmap),
        T(test_nmi_vs_exception),
        T(test_page_fault_mask_match),
        T(test_mov_to_cr0_cr4),
        T(test_cr3),
        T(test_cr8),
        T(test_clts),
        T(test_lmsw),
        T(test_io_unconditional_and_none),
        T(test_io_bitmaps),
        T(test_io_wrap),
        T(test_msr_without_bitmaps_always_exits),
        T(test_msr_bitmaps),
        T(test_msr_out_of_range_always_exits),
        T(test_bitmaps_outside_l1_ram_read_as_all_ones),
        T(test_vmread_vmwrite_by_bitmaps),
        T(test_unconditional_reasons),
        T(test_ept_exits_are_l0s),
        T(test_every_reason_classified),
    };
    return cmocka_run_group_tests(tests, 0, 0);
}
