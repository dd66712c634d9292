/* The later VM-execution controls that are not APIC virtualization: the
 * monitor trap flag (26.5.2), PAUSE-loop exiting, RDRAND/RDSEED exiting,
 * XSAVES/XRSTORS with the XSS-exiting bitmap (26.1.3, 26.3) and TSC
 * scaling (26.3, 25.6.5). Each case checks the exits the SDM gives
 * (reason, qualification, instruction length and information, RIP) and
 * the instructions that must not exit. */
#include "virt.h"

static struct vcpu *const V = &vcpus[0];

static bool need_proc2(uint32_t bits, const char *what)
{
    if (cap_proc2(bits))
        return true;
    case_skip("%s not offered (IA32_VMX_PROCBASED_CTLS2 allowed-1 %#x)", what, ctl_may1(caps.ctl_proc2));
    return false;
}

/* ---- the monitor trap flag (26.5.2) ----
 * Bochs 2.7 never delivers it, on bare Bochs as under nestvisor: L2 then
 * runs on with the flag set. The VMX-preemption timer bounds that run, and
 * a timer exit after L2 went past its first instructions is reported as
 * "not delivered by this CPU" (SKIP, the same on both); any other outcome
 * is checked. Upstream Bochs delivers it: there the case must PASS. */
#define MTF_TIMER   20000u   /* preemption-timer value bounding a missing MTF exit */
#define MTF_SPINS   1000000u
#define MTF_INT_FRAME (5 * 8) /* RIP, CS, RFLAGS, RSP, SS pushed in 64-bit mode */
#define MTF_SHL_LEN   4u      /* SHL RDX, 32 after the RDMSR of l2_msr_step */
#define MTF_IN_PORT   0x92u   /* system control port A: reading it is harmless */

static bool mtf_expect(const char *what, uint64_t rip)
{
    if (!run_expect(V, EXIT_MTF, what))
        return false;
    bool ok = expect(exit_rip() == rip, "%s: MTF exit at RIP %#lx, want %#lx", what, exit_rip(), rip);
    return expect(exit_qual() == 0, "%s: qualification %#lx, want 0", what, exit_qual()) && ok;
}

static bool mtf_setup(void (*entry)(void))
{
    if (!vcpu_setup(V, entry))
        return false;
    vmcs_set_bits(VMCS_PROC_CONTROLS, PROC_MTF);
    vmcs_set_bits(VMCS_PIN_CONTROLS, PIN_PREEMPTION_TIMER);
    vmw(VMCS_PREEMPTION_TIMER, MTF_TIMER);
    return true;
}

void case_mtf(void)
{
    if (!cap_proc(PROC_MTF)) {
        case_skip("monitor trap flag not offered (IA32_VMX_%sPROCBASED_CTLS allowed-1 %#x)", TRUE_PREFIX,
                  ctl_may1(caps.ctl_proc));
        return;
    }
    if (!cap_pin(PIN_PREEMPTION_TIMER)) {
        case_skip("no VMX-preemption timer to bound a missing MTF exit");
        return;
    }
    TRY(mtf_setup(l2_steps));
    V->regs.rcx = MTF_SPINS;
    vcpu_run(V);
    if (V->entry_result == VMX_OK && V->reason == EXIT_PREEMPTION_TIMER && V->regs.r8 == 1 && V->regs.r9 == 2) {
        case_skip("MTF not delivered by this CPU: L2 ran on to the preemption timer with the monitor trap flag set");
        return;
    }
    /* An MTF exit follows each instruction L2 completes; qualification 0. */
    if (!expect(V->entry_result == VMX_OK && V->reason == EXIT_MTF,
                "first instruction with the monitor trap flag: expected exit 37, got %s", exit_describe(V)))
        return;
    EXPECT(exit_rip() == addr_of(l2_steps_2) && V->regs.r8 == 1 && V->regs.r9 == 0,
           "first MTF exit at RIP %#lx (want %#lx) with r8 %#lx r9 %#lx (want 1, 0)", exit_rip(),
           addr_of(l2_steps_2), V->regs.r8, V->regs.r9);
    EXPECT(exit_qual() == 0, "first MTF exit: qualification %#lx, want 0", exit_qual());
    TRY(mtf_expect("second instruction (MOV R9D, 2)", addr_of(l2_steps_3)));
    EXPECT(V->regs.r9 == 2, "r9 %#lx after the second step", V->regs.r9);
    TRY(mtf_expect("third instruction (NOP)", addr_of(l2_steps_loop)));
    vmcs_clear_bits(VMCS_PROC_CONTROLS, PROC_MTF);
    V->regs.rcx = 1;
    TRY(run_expect(V, EXIT_VMCALL, "without the monitor trap flag"));
    EXPECT(V->regs.r10 == 1, "L2 did not finish its loop");

    /* An entry that injects an event: the MTF exit is pending before the
     * first instruction of the handler (27.7.8). */
    TRY(mtf_setup(l2_steps));
    vmw(VMCS_ENTRY_INTR_INFO, INTR_INFO_VALID | ((uint32_t)INTR_TYPE_HW_EXCEPTION << 8) | VEC_UD);
    TRY(mtf_expect("entry injecting #UD", l2_exc_stubs[VEC_UD]));
    EXPECT(V->regs.r8 == 0, "L2 ran its first instruction (r8 %#lx) before the injected #UD", V->regs.r8);
    uint64_t rsp = vmr(VMCS_GUEST_RSP);
    EXPECT(rsp == addr_of(V->stack_top) - MTF_INT_FRAME, "guest RSP %#lx, want %#lx (the #UD frame)", rsp,
           addr_of(V->stack_top) - MTF_INT_FRAME);

    /* Instructions L0 may complete itself, each followed by exactly one
     * MTF exit: a store into L1's MSR bitmap (which nestvisor
     * write-protects), an RDMSR of IA32_APIC_BASE and an IN from port 92H
     * that L1 lets through (nestvisor traps both for itself). */
    if (!cap_proc(PROC_USE_MSR_BITMAPS) || !cap_proc(PROC_USE_IO_BITMAPS))
        return;
    msr_bitmap_zero();
    TRY(mtf_setup(l2_msr_step));
    vmcs_set_bits(VMCS_PROC_CONTROLS, PROC_USE_MSR_BITMAPS);
    vmw(VMCS_GUEST_RIP, addr_of(l2_msr_rd_insn)); /* the first instruction: the RDMSR */
    V->regs.rcx = MSR_APIC_BASE;
    uint64_t apic_base = rdmsr(MSR_APIC_BASE);
    if (mtf_expect("RDMSR IA32_APIC_BASE (MSR-bitmap bit clear)", addr_of(l2_msr_rd_next))) {
        EXPECT(((V->regs.rdx << 32) | (uint32_t)V->regs.rax) == apic_base,
               "L2's RDMSR IA32_APIC_BASE got %#lx:%#lx, want %#lx", V->regs.rdx, V->regs.rax, apic_base);
        mtf_expect("the instruction after the RDMSR", addr_of(l2_msr_rd_next) + MTF_SHL_LEN);
    }
    bitmap_zero(io_bitmap_a);
    bitmap_zero(io_bitmap_b);
    TRY(mtf_setup(l2_in_steps));
    vmcs_clear_bits(VMCS_PROC_CONTROLS, PROC_UNCOND_IO_EXITING);
    vmcs_set_bits(VMCS_PROC_CONTROLS, PROC_USE_IO_BITMAPS);
    V->regs.rdx = MTF_IN_PORT;
    if (mtf_expect("IN AL, DX from port 0x92 (I/O-bitmap bit clear)", addr_of(l2_in_next)))
        mtf_expect("the NOP after the IN", addr_of(l2_in_nop_next));

    msr_bitmap_zero();
    TRY(mtf_setup(l2_store_steps));
    vmcs_set_bits(VMCS_PROC_CONTROLS, PROC_USE_MSR_BITMAPS);
    const unsigned msr = 0x174, dword_bits = 32;
    V->regs.rdi = addr_of(&msr_bitmap[MSR_BITMAP_READ_LOW + msr / dword_bits * 4]);
    V->regs.rsi = msr % dword_bits;
    TRY(mtf_expect("LOCK BTS into L1's MSR bitmap", addr_of(l2_store_next)));
    EXPECT(msr_bitmap[MSR_BITMAP_READ_LOW + msr / 8] & (1u << (msr % 8)), "the store did not land in the bitmap");
    TRY(mtf_expect("the NOP after the store", addr_of(l2_store_nop_next)));
    vmcs_clear_bits(VMCS_PROC_CONTROLS, PROC_MTF);
    run_expect(V, EXIT_VMCALL, "after the store without the monitor trap flag");
}

/* ---- PAUSE-loop exiting (26.1.3) ---- */
#define PLE_GAP          128u     /* TSC ticks between two PAUSEs of one loop, at most */
#define PLE_WINDOW       4096u    /* TSC ticks a loop may spin before the exit */
#define PLE_SPINS        1000000u
#define PLE_SHORT_SPINS  3000u    /* loops longer than the window */
#define PAUSE_LEN        2u       /* F3 90 */

static bool ple_setup(uint32_t gap, uint32_t window, uint64_t spins)
{
    if (!vcpu_setup(V, l2_pause_loop))
        return false;
    vmcs_clear_bits(VMCS_PROC_CONTROLS, PROC_PAUSE_EXITING);
    vmcs_enable_proc2(PROC2_PAUSE_LOOP_EXITING);
    vmw(VMCS_PLE_GAP, gap);
    vmw(VMCS_PLE_WINDOW, window);
    V->regs.rcx = spins;
    return true;
}

void case_ple(void)
{
    if (!need_proc2(PROC2_PAUSE_LOOP_EXITING, "PAUSE-loop exiting"))
        return;
    if (ctl_must1(caps.ctl_proc) & PROC_PAUSE_EXITING) {
        case_skip("PAUSE exiting cannot be 0");
        return;
    }
    /* PAUSEs closer than PLE_Gap form one loop; once the loop has run
     * longer than PLE_Window, the PAUSE exits (reason 40, fault-like). */
    TRY(ple_setup(PLE_GAP, PLE_WINDOW, PLE_SPINS));
    TRY(run_expect(V, EXIT_PAUSE, "a PAUSE loop with PLE_Gap 128, PLE_Window 4096"));
    uint64_t now = rdtsc();
    EXPECT(exit_rip() == addr_of(l2_pause_insn), "PAUSE-loop exit at RIP %#lx, want the PAUSE at %#lx", exit_rip(),
           addr_of(l2_pause_insn));
    EXPECT(exit_len() == PAUSE_LEN, "instruction length %lu, want %u", exit_len(), PAUSE_LEN);
    EXPECT(exit_qual() == 0, "qualification %#lx, want 0", exit_qual());
    uint64_t spun = now - V->regs.r12;
    EXPECT(spun > PLE_WINDOW, "the exit came %lu TSC ticks after the first PAUSE, not more than PLE_Window %u",
           spun, PLE_WINDOW);
    EXPECT(V->regs.rcx < PLE_SPINS && V->regs.rcx > 0, "RCX %lu at the exit: the loop %s", V->regs.rcx,
           V->regs.rcx ? "did not run" : "ran out");
    /* The first PAUSE after a VM entry starts a new loop: one more
     * iteration ends it without an exit. */
    V->regs.rcx = 1;
    TRY(run_expect(V, EXIT_VMCALL, "one PAUSE after the entry"));
    EXPECT(V->regs.r8 == 1, "L2 did not finish its loop");

    /* PLE_Gap 0: every PAUSE comes later than that after the previous one,
     * so each is the first of a loop and none exits. */
    TRY(ple_setup(0, PLE_WINDOW, PLE_SHORT_SPINS));
    TRY(run_expect(V, EXIT_VMCALL, "a PAUSE loop longer than PLE_Window with PLE_Gap 0"));
    EXPECT(V->regs.r8 == 1, "L2 did not finish its loop");
}

/* ---- RDRAND and RDSEED exiting (26.1.3; information: 28.2.5, table 28-12) ---- */
#define RNG_VALUE    0x0123456789abcdefULL /* what L1 makes L2's register */
#define RNG_OLD_RDX  0x1111222233334444ULL /* RDX/RSI before the 16-bit form */
#define RFLAGS_CF    (1ULL << 0)
#define RFLAGS_ARITH 0x8d5ULL              /* CF PF AF ZF SF OF */
#define RNG_FORMS    3

struct rng_form {
    unsigned reg, size;   /* destination (table 28-12 numbering), operand size */
    uint64_t old;         /* the register before */
};

static uint64_t *gpr_slot(unsigned gpr)
{
    switch (gpr) {
    case GPR_RAX: return &V->regs.rax;
    case GPR_RCX: return &V->regs.rcx;
    case GPR_RDX: return &V->regs.rdx;
    case GPR_RBX: return &V->regs.rbx;
    case GPR_RBP: return &V->regs.rbp;
    case GPR_RSI: return &V->regs.rsi;
    case GPR_RDI: return &V->regs.rdi;
    default: return gpr >= GPR_R8 && gpr <= 15 ? &V->regs.r8 + (gpr - GPR_R8) : NULL;
    }
}

/* What the register holds after L1 wrote RNG_VALUE with that operand size. */
static uint64_t rng_result(const struct rng_form *f)
{
    switch (f->size) {
    case INSN_OPSIZE_64: return RNG_VALUE;
    case INSN_OPSIZE_32: return (uint32_t)RNG_VALUE;
    default: return (f->old & ~0xffffULL) | (uint16_t)RNG_VALUE;
    }
}

static void rng_case(uint32_t control, uint32_t reason, const char *name, void (*entry)(void),
                     const uint64_t *sites, const struct rng_form *forms, uint32_t cpuid_ok)
{
    if (!need_proc2(control, name))
        return;
    if (!cpuid_ok) {
        case_skip("%s not in CPUID: the instruction is #UD", reason == EXIT_RDRAND ? "RDRAND" : "RDSEED");
        return;
    }
    /* Without the control the instruction runs in L2 with no exit. */
    TRY(vcpu_setup(V, entry));
    TRY(run_expect(V, EXIT_VMCALL, "without the exiting control"));

    TRY(vcpu_setup(V, entry));
    vmcs_enable_proc2(control);
    for (unsigned i = 0; i < RNG_FORMS; i++)
        *gpr_slot(forms[i].reg) = forms[i].old;
    for (unsigned i = 0; i < RNG_FORMS; i++) {
        const struct rng_form *f = &forms[i];
        char what[80];
        snprintf(what, sizeof what, "%s of register %u, operand size %u", name, f->reg, 16u << f->size);
        TRY(run_expect(V, reason, what));
        uint64_t insn = sites[2 * i], len = sites[2 * i + 1] - insn;
        uint32_t info = (uint32_t)vmr(VMCS_EXIT_INSTR_INFO);
        EXPECT(exit_rip() == insn, "%s: RIP %#lx, want %#lx", what, exit_rip(), insn);
        EXPECT(exit_len() == len, "%s: instruction length %lu, want %lu", what, exit_len(), len);
        EXPECT(exit_qual() == 0, "%s: qualification %#lx, want 0", what, exit_qual());
        EXPECT(INSN_INFO_RNG_REG(info) == f->reg, "%s: instruction information %#x names register %u", what, info,
               INSN_INFO_RNG_REG(info));
        /* Bochs 2.7 reports a 16-bit operand as 32-bit (README). */
        if (f->size != INSN_OPSIZE_16 || opt_strict)
            EXPECT(INSN_INFO_RNG_SIZE(info) == f->size, "%s: instruction information %#x gives operand size %u",
                   what, info, INSN_INFO_RNG_SIZE(info));
        /* Emulate: the value, CF = 1 and the other arithmetic flags 0. */
        *gpr_slot(f->reg) = rng_result(f);
        vmw(VMCS_GUEST_RFLAGS, (vmr(VMCS_GUEST_RFLAGS) & ~RFLAGS_ARITH) | RFLAGS_CF);
        vcpu_skip_instruction();
    }
    TRY(run_expect(V, EXIT_VMCALL, "after the emulated instructions"));
    const uint64_t got[RNG_FORMS][2] = {{V->regs.r10, V->regs.r11}, {V->regs.r12, V->regs.r13},
                                        {V->regs.r14, V->regs.r15}};
    for (unsigned i = 0; i < RNG_FORMS; i++)
        EXPECT(got[i][0] == rng_result(&forms[i]) && (got[i][1] & RFLAGS_ARITH) == RFLAGS_CF,
               "%s form %u: L2 got %#lx flags %#lx, want %#lx with CF only", name, i, got[i][0], got[i][1],
               rng_result(&forms[i]));
}

void case_rdrand_exit(void)
{
    static const struct rng_form forms[RNG_FORMS] = {
        {GPR_RAX, INSN_OPSIZE_64, 0}, {GPR_R9, INSN_OPSIZE_32, RNG_OLD_RDX}, {GPR_RDX, INSN_OPSIZE_16, RNG_OLD_RDX}};
    rng_case(PROC2_RDRAND_EXITING, EXIT_RDRAND, "RDRAND exiting", l2_rdrand, l2_rdrand_sites, forms,
             cpuid(1).ecx & CPUID1_ECX_RDRAND);
}

void case_rdseed_exit(void)
{
    static const struct rng_form forms[RNG_FORMS] = {
        {GPR_RBX, INSN_OPSIZE_64, 0}, {GPR_R12, INSN_OPSIZE_32, RNG_OLD_RDX}, {GPR_RSI, INSN_OPSIZE_16, RNG_OLD_RDX}};
    rng_case(PROC2_RDSEED_EXITING, EXIT_RDSEED, "RDSEED exiting", l2_rdseed, l2_rdseed_sites, forms,
             cpuid2(7, 0).ebx & CPUID7_EBX_RDSEED);
}

/* ---- XSAVES/XRSTORS (26.1.3, 26.3) ----
 * With "enable XSAVES/XRSTORS" each exits iff EDX:EAX AND IA32_XSS AND the
 * XSS-exiting bitmap is not 0 (XCR0 takes no part); without the control
 * both are #UD. Exit qualification: the displacement (28.2.1); the
 * instruction information: table 28-13. */
#define XSAVE_AREA_BYTES (2 * PAGE_SIZE)
#define XSAVE_HDR_XCOMP  (512 + 8)   /* XCOMP_BV in the header (Vol. 1 13.4.2) */
#define ALL_FEATURES     (~0ULL)
static uint8_t xsave_area[XSAVE_AREA_BYTES] __attribute__((aligned(PAGE_SIZE)));

/* XSAVES then XRSTORS with mask `rfbm`, XSS-exiting bitmap `bitmap`;
 * IA32_XSS is already set. Each exits iff exits[0] / exits[1]. */
static bool xsaves_round(const char *what, uint64_t rfbm, uint64_t bitmap, bool exits)
{
    char w[160];
    memset(xsave_area, 0, sizeof xsave_area);
    if (!vcpu_setup(V, l2_xsaves))
        return false;
    vmcs_enable_proc2(PROC2_XSAVES);
    vmw(VMCS_XSS_EXIT_BITMAP, bitmap);
    V->regs.r8 = rfbm;
    V->regs.rbx = addr_of(xsave_area) - XSAVES_DISP;
    static const uint32_t reasons[2] = {EXIT_XSAVES, EXIT_XRSTORS};
    const uint8_t *insns[2] = {l2_xsaves_insn, l2_xrstors_insn};
    const uint8_t *nexts[2] = {l2_xsaves_next, l2_xrstors_next};
    uint32_t want_info = INSN_INFO_ADDR64 | INSN_INFO_SEG_DS | INSN_INFO_INDEX_INVALID | INSN_INFO_BASE(GPR_RBX);
    for (unsigned i = 0; i < 2; i++) {
        snprintf(w, sizeof w, "%s: %s", what, i ? "XRSTORS" : "XSAVES");
        if (!exits) {
            if (!run_expect(V, EXIT_VMCALL, w))
                return false;
            if (!expect(V->regs.r9 == i + 1, "%s: L2 did not run it (r9 %#lx)", w, V->regs.r9))
                return false;
            if (i == 0)
                expect(*(uint64_t *)(xsave_area + XSAVE_HDR_XCOMP) & XSAVE_COMPACTED,
                       "%s: XCOMP_BV %#lx without bit 63: XSAVES did not write the area", w,
                       *(uint64_t *)(xsave_area + XSAVE_HDR_XCOMP));
            vcpu_skip_instruction();
            continue;
        }
        if (!run_expect(V, reasons[i], w))
            return false;
        uint64_t insn = addr_of(insns[i]), len = addr_of(nexts[i]) - insn;
        uint32_t info = (uint32_t)vmr(VMCS_EXIT_INSTR_INFO);
        expect(exit_rip() == insn, "%s: RIP %#lx, want %#lx", w, exit_rip(), insn);
        expect(exit_len() == len, "%s: instruction length %lu, want %lu", w, exit_len(), len);
        expect(exit_qual() == XSAVES_DISP, "%s: qualification %#lx, want the displacement %#x", w, exit_qual(),
               XSAVES_DISP);
        expect((info & INSN_INFO_MEM_NOINDEX_MASK) == want_info,
               "%s: instruction information %#x, want %#x in the bits defined (%#x)", w, info, want_info,
               INSN_INFO_MEM_NOINDEX_MASK);
        vcpu_skip_instruction();
        if (!run_expect(V, EXIT_VMCALL, w) || !expect(V->regs.r9 == i + 1, "%s: r9 %#lx", w, V->regs.r9))
            return false;
        vcpu_skip_instruction();
    }
    return true;
}

void case_xsaves_exit(void)
{
    if (!need_proc2(PROC2_XSAVES, "enable XSAVES/XRSTORS"))
        return;
    struct cpuid_regs d1 = cpuid2(CPUID_XSAVE_LEAF, 1);
    if (!(cpuid(1).ecx & CPUID1_ECX_XSAVE) || !(d1.eax & CPUID_D1_EAX_XSAVES)) {
        case_skip("XSAVES not enabled for L1: CPUID.(EAX=0DH,ECX=1):EAX[3] = 0");
        return;
    }
    uint64_t supported_xss = d1.ecx | ((uint64_t)d1.edx << 32);
    uint64_t cr4 = read_cr4(), xcr0 = (cr4 & CR4_OSXSAVE) ? xgetbv(0) : 0, xss = rdmsr(MSR_IA32_XSS);
    write_cr4(cr4 | CR4_OSXSAVE);
    xsetbv(0, XCR0_X87 | XCR0_SSE);
    /* A supervisor state component IA32_XSS may hold (lowest one). */
    uint64_t s = supported_xss & -supported_xss;
    wrmsr(MSR_IA32_XSS, s);

    /* Control 0: #UD in L2. */
    if (vcpu_setup(V, l2_xsaves)) {
        V->regs.r8 = ALL_FEATURES;
        V->regs.rbx = addr_of(xsave_area) - XSAVES_DISP;
        if (run_expect(V, EXIT_VMCALL, "XSAVES without enable XSAVES/XRSTORS"))
            expect(V->regs.r15 == L2_EXC_MARK && V->regs.r14 == VEC_UD,
                   "XSAVES without the control: want #UD in L2, got r15 %#lx r14 %lu", V->regs.r15, V->regs.r14);
    }
    if (s) {
        xsaves_round("bitmap = IA32_XSS = EDX:EAX's supervisor bit", ALL_FEATURES, s, true);
        xsaves_round("bitmap has the bit, EDX:EAX does not", ~s, s, false);
    }
    /* The bitmap's bits of XCR0 (x87, SSE) and of components IA32_XSS does
     * not hold: no exit, the instructions run (XCR0 is not part of the
     * condition). */
    xsaves_round("bitmap = all but IA32_XSS's bit", ALL_FEATURES, ~s, false);

    wrmsr(MSR_IA32_XSS, xss);
    if (cr4 & CR4_OSXSAVE)
        xsetbv(0, xcr0);
    write_cr4(cr4);
}

/* ---- TSC scaling (26.3, 25.6.5) ----
 * RDTSC returns ((TSC * multiplier) >> 48) + offset when "use TSC
 * offsetting" and "use TSC scaling" are both 1; with offsetting 0 the
 * TSC unchanged. */
#define TSC_FRAC_BITS 48
#define TSC_MULT(num, den) (((uint64_t)(num) << TSC_FRAC_BITS) / (den))

static uint64_t scaled(uint64_t tsc, uint64_t mult)
{
    return (uint64_t)(((unsigned __int128)tsc * mult) >> TSC_FRAC_BITS);
}

void case_tsc_scaling(void)
{
    if (!need_proc2(PROC2_TSC_SCALING, "use TSC scaling"))
        return;
    if (!cap_proc(PROC_TSC_OFFSETTING)) {
        case_skip("TSC offsetting not offered");
        return;
    }
    static const struct {
        uint64_t mult;
        int64_t offset;
    } runs[] = {
        {TSC_MULT(2, 1), 0},
        {TSC_MULT(1, 2), 1LL << 40},
        {TSC_MULT(13, 4), -(1LL << 20)},
        {TSC_MULT(1, 1000), 12345},
    };
    for (unsigned i = 0; i < ARRAY_SIZE(runs); i++) {
        TRY(vcpu_setup(V, l2_rdtsc));
        vmcs_set_bits(VMCS_PROC_CONTROLS, PROC_TSC_OFFSETTING);
        vmcs_enable_proc2(PROC2_TSC_SCALING);
        vmw(VMCS_TSC_MULTIPLIER, runs[i].mult);
        vmw(VMCS_TSC_OFFSET, (uint64_t)runs[i].offset);
        uint64_t t0 = rdtsc();
        TRY(run_expect(V, EXIT_VMCALL, "RDTSC with TSC scaling"));
        uint64_t t1 = rdtsc();
        uint64_t lo = scaled(t0, runs[i].mult) + (uint64_t)runs[i].offset;
        uint64_t hi = scaled(t1, runs[i].mult) + (uint64_t)runs[i].offset;
        EXPECT(V->regs.r8 >= lo && V->regs.r8 <= hi,
               "multiplier %#lx offset %ld: L2's RDTSC %#lx, not within %#lx..%#lx (L1's TSC %#lx..%#lx scaled)",
               runs[i].mult, runs[i].offset, V->regs.r8, lo, hi, t0, t1);
    }
    /* "use TSC scaling" without "use TSC offsetting": no scaling. */
    TRY(vcpu_setup(V, l2_rdtsc));
    vmcs_clear_bits(VMCS_PROC_CONTROLS, PROC_TSC_OFFSETTING);
    vmcs_enable_proc2(PROC2_TSC_SCALING);
    vmw(VMCS_TSC_MULTIPLIER, TSC_MULT(2, 1));
    uint64_t t0 = rdtsc();
    TRY(run_expect(V, EXIT_VMCALL, "RDTSC with TSC scaling but no TSC offsetting"));
    uint64_t t1 = rdtsc();
    EXPECT(V->regs.r8 >= t0 && V->regs.r8 <= t1,
           "TSC scaling without offsetting: L2's RDTSC %#lx, want L1's TSC unscaled (%#lx..%#lx)", V->regs.r8, t0,
           t1);
}
