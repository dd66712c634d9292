/* APIC virtualization (SDM Vol. 3C ch. 30): the TPR shadow, virtualized
 * APIC accesses through the APIC-access page, APIC-register
 * virtualization, virtualized x2APIC MSRs, virtual-interrupt delivery,
 * posted interrupts, and the VM-entry checks on their controls
 * (27.2.1.1). L2 runs the step routines of virt_l2.asm; L1 checks every
 * exit (reason, qualification, RIP: fault-like APIC-access exits stop at
 * the access, trap-like ones after it) and what the CPU left in the
 * virtual-APIC page and the guest interrupt status. */
#include "virt.h"

static struct vcpu *const V = &vcpus[0];

#define ALIGNED_PAGE __attribute__((aligned(PAGE_SIZE)))
/* The virtual-APIC page, and the APIC-access page followed by an ordinary
 * page (both L1 RAM, as KVM allocates them). */
static uint8_t vapic_page[PAGE_SIZE] ALIGNED_PAGE;
static uint8_t apic_pages[2][PAGE_SIZE] ALIGNED_PAGE;
#define APIC_ACCESS_PAGE (apic_pages[0])
#define APIC_NEXT_PAGE   (apic_pages[1])

static volatile uint32_t *vapic32(unsigned off)
{
    return (volatile uint32_t *)(vapic_page + off);
}

static uint64_t vapic64(unsigned off)
{
    return *(volatile uint64_t *)(vapic_page + off);
}

/* Bit `vector` of a 256-bit APIC register array (ISR, IRR) in the
 * virtual-APIC page (30.1.1: VISR, VIRR). */
static bool vapic_vec(unsigned base, unsigned vector)
{
    return (*vapic32(base + vector / APIC_VEC_PER_REG * APIC_REG_STRIDE) >> (vector % APIC_VEC_PER_REG)) & 1;
}

static void vapic_vec_set(unsigned base, unsigned vector)
{
    *vapic32(base + vector / APIC_VEC_PER_REG * APIC_REG_STRIDE) |= 1u << (vector % APIC_VEC_PER_REG);
}

static bool vapic_array_clear(unsigned base)
{
    for (unsigned i = 0; i < 256 / APIC_VEC_PER_REG; i++)
        if (*vapic32(base + i * APIC_REG_STRIDE))
            return false;
    return true;
}

/* ---- L1's own local APIC ---- */
static bool l1_x2apic(void)
{
    return (rdmsr(MSR_APIC_BASE) & MSR_APIC_BASE_X2APIC) != 0;
}

static uint32_t l1_apic_read(unsigned off)
{
    uint64_t base = rdmsr(MSR_APIC_BASE);
    if (base & MSR_APIC_BASE_X2APIC)
        return (uint32_t)rdmsr(X2APIC_MSR(off));
    return *(volatile uint32_t *)(uintptr_t)((base & MSR_APIC_BASE_ADDR) + off);
}

#define ICR_WAIT_SPINS 100000u
static bool l1_apic_self_ipi(uint8_t vector)
{
    uint64_t base = rdmsr(MSR_APIC_BASE);
    if (base & MSR_APIC_BASE_X2APIC) {
        wrmsr(X2APIC_MSR(APIC_ICR_LO), ICR_SELF | vector);
        return true;
    }
    volatile uint32_t *icr = (volatile uint32_t *)(uintptr_t)((base & MSR_APIC_BASE_ADDR) + APIC_ICR_LO);
    *icr = ICR_SELF | vector;
    for (unsigned i = 0; i < ICR_WAIT_SPINS; i++)
        if (!(*icr & ICR_DELIVERY_PENDING))
            return true;
    return false;
}

/* ---- L2's 256-vector IDT ---- */
#define L2_CODE_SEL     0x08 /* vmcs.c's L2 code segment */
#define IDT_VECTORS     256
#define EXC_VECTORS     32
static struct idt_gate l2_idt256[IDT_VECTORS] __attribute__((aligned(16)));

void virt_l2_idt_install(void)
{
    for (unsigned v = 0; v < IDT_VECTORS; v++) {
        uint64_t a = v < EXC_VECTORS ? l2_exc_stubs[v] : l2_vec_stubs[v - EXC_VECTORS];
        l2_idt256[v] = idt_gate(a, L2_CODE_SEL, IDT_GATE_INTR64);
    }
    vmw(VMCS_GUEST_IDTR_BASE, addr_of(l2_idt256));
    vmw(VMCS_GUEST_IDTR_LIMIT, sizeof l2_idt256 - 1);
}

void virt_l2_intr_reset(unsigned eoi_mode, uint64_t eoi_addr)
{
    for (unsigned i = 0; i < L2_INTR_LOG_MAX; i++)
        l2_intr_log[i] = 0;
    l2_intr_count = 0;
    l2_eoi_mode = eoi_mode;
    l2_eoi_addr = eoi_addr;
}

/* ---- the step driver for l2_apic_access / l2_msr_step ----
 * L2 waits at its loop after a VMCALL (RIP already past it). */
struct step {
    const char *what;
    bool write;
    uint64_t addr;   /* the APIC access, or the MSR */
    uint64_t value;  /* written */
};

static bool step_is_msr;

static void step_regs(const struct step *s)
{
    if (step_is_msr) {
        V->regs.r10 = s->write;
        V->regs.rcx = s->addr;
        V->regs.rax = (uint32_t)s->value;
        V->regs.rdx = s->value >> 32;
    } else {
        V->regs.rdx = s->write;
        V->regs.rbx = s->addr;
        V->regs.rcx = (uint32_t)s->value;
    }
}

static uint64_t step_insn(const struct step *s)
{
    if (step_is_msr)
        return addr_of(s->write ? l2_msr_wr_insn : l2_msr_rd_insn);
    return addr_of(s->write ? l2_apic_write_insn : l2_apic_read_insn);
}

static uint64_t step_next(const struct step *s)
{
    if (step_is_msr)
        return addr_of(s->write ? l2_msr_wr_next : l2_msr_rd_next);
    return addr_of(s->write ? l2_apic_write_next : l2_apic_read_next);
}

/* The closing VMCALL of a step; *read = what L2 read (R8). */
static bool step_end(const struct step *s, uint64_t *read)
{
    char what[120];
    snprintf(what, sizeof what, "%s: the VMCALL after it", s->what);
    if (!run_expect(V, EXIT_VMCALL, what))
        return false;
    vcpu_skip_instruction();
    if (read)
        *read = V->regs.r8;
    return true;
}

/* The access completes without an exit. */
static bool step_no_exit(const struct step *s, uint64_t *read)
{
    step_regs(s);
    return step_end(s, read);
}

/* The access exits with APIC access (44), fault-like (RIP at it), with
 * the offset and access type (28.2.1, table 28-6); L1 emulates a read
 * with `emulated` and skips the instruction (an APIC-access exit has no
 * instruction length: 28.2.5). */
static bool step_apic_access(const struct step *s, unsigned offset, uint32_t emulated)
{
    step_regs(s);
    if (!run_expect(V, EXIT_APIC_ACCESS, s->what))
        return false;
    uint64_t want = APIC_ACCESS_QUAL(offset, s->write ? APIC_ACCESS_LINEAR_WRITE : APIC_ACCESS_LINEAR_READ);
    expect(exit_qual() == want, "%s: APIC-access qualification %#lx, want %#lx (offset %#x, %s)", s->what,
           exit_qual(), want, offset, s->write ? "write" : "read");
    expect(exit_rip() == step_insn(s), "%s: RIP %#lx, want the access at %#lx (fault-like)", s->what,
           exit_rip(), step_insn(s));
    if (s->write)
        expect((uint32_t)V->regs.rcx == (uint32_t)s->value, "%s: ECX %#lx at the exit, want the data %#lx",
               s->what, V->regs.rcx, s->value);
    else
        V->regs.rax = emulated;
    vmw(VMCS_GUEST_RIP, step_next(s));
    uint64_t got = 0;
    if (!step_end(s, &got))
        return false;
    return s->write || expect((uint32_t)got == emulated, "%s: L2 read %#lx, want L1's %#x", s->what, got, emulated);
}

/* The access completes, then a trap-like exit `reason` with `qual`
 * (RIP after the instruction). */
static bool step_trap(const struct step *s, uint32_t reason, uint64_t qual)
{
    step_regs(s);
    if (!run_expect(V, reason, s->what))
        return false;
    expect(exit_qual() == qual, "%s: qualification %#lx, want %#lx", s->what, exit_qual(), qual);
    expect(exit_rip() == step_next(s), "%s: RIP %#lx, want %#lx after the instruction (trap-like)", s->what,
           exit_rip(), step_next(s));
    /* Below the threshold, every entry would exit again (27.7.7) or fail
     * (27.2.1.1): L1 lowers it, as a hypervisor does. */
    if (reason == EXIT_TPR_BELOW_THRESHOLD)
        vmw(VMCS_TPR_THRESHOLD, 0);
    return step_end(s, NULL);
}

/* L2's handler got exception `vector` (delivered through L2's IDT) at the
 * instruction of step s; the routine then restarts at `entry`. */
static bool step_exception(const struct step *s, unsigned vector, void (*entry)(void))
{
    step_regs(s);
    if (!run_expect(V, EXIT_VMCALL, s->what))
        return false;
    bool ok = expect(V->regs.r15 == L2_EXC_MARK && V->regs.r14 == vector,
                     "%s: want exception %u in L2, got r15 %#lx r14 %lu", s->what, vector, V->regs.r15,
                     V->regs.r14);
    V->regs.r15 = 0;
    l2_restart(V, entry);
    return ok;
}

static bool need_proc2(uint32_t bits, const char *what)
{
    if (cap_proc2(bits))
        return true;
    case_skip("%s not offered (IA32_VMX_PROCBASED_CTLS2 allowed-1 %#x)", what, ctl_may1(caps.ctl_proc2));
    return false;
}

static bool need_tpr_shadow(void)
{
    if (!cap_proc(PROC_TPR_SHADOW)) {
        case_skip("use TPR shadow not offered (IA32_VMX_%sPROCBASED_CTLS allowed-1 %#x)", TRUE_PREFIX,
                  ctl_may1(caps.ctl_proc));
        return false;
    }
    return true;
}

/* vcpu_setup with the TPR shadow on, the virtual-APIC page cleared and
 * VTPR = vtpr, TPR threshold = threshold. */
static bool tpr_setup(void (*entry)(void), uint32_t vtpr, uint32_t threshold)
{
    memset(vapic_page, 0, PAGE_SIZE);
    *vapic32(APIC_TPR) = vtpr;
    if (!vcpu_setup(V, entry))
        return false;
    vmcs_clear_bits(VMCS_PROC_CONTROLS, PROC_CR8_LOAD_EXITING | PROC_CR8_STORE_EXITING);
    vmcs_set_bits(VMCS_PROC_CONTROLS, PROC_TPR_SHADOW);
    vmw(VMCS_VIRTUAL_APIC_ADDR, addr_of(vapic_page));
    vmw(VMCS_TPR_THRESHOLD, threshold);
    return true;
}

/* ---- TPR shadow (30.1.2, 30.3) ---- */
#define TPR_VTPR_INIT      0x5au        /* class 5, subclass 0xa */
#define TPR_VTPR_GARBAGE   0xa5a5a500u  /* bytes 3:1 of the VTPR dword */
#define TPR_THRESHOLD      4u
#define TPR_CR8_ABOVE      6u           /* not below the threshold: no exit */
#define TPR_CR8_BELOW      3u           /* below: TPR-below-threshold exit */
#define TPR_CLASS_SHIFT    4

void case_tpr_shadow(void)
{
    if (!need_tpr_shadow())
        return;
    if (ctl_must1(caps.ctl_proc) & (PROC_CR8_LOAD_EXITING | PROC_CR8_STORE_EXITING)) {
        case_skip("CR8-load/store exiting cannot be 0");
        return;
    }
    bool apic = lapic_present();
    uint32_t l1_tpr = apic ? l1_apic_read(APIC_TPR) : 0;
    TRY(tpr_setup(l2_cr8, TPR_VTPR_GARBAGE | TPR_VTPR_INIT, TPR_THRESHOLD));
    V->regs.rbx = TPR_CR8_ABOVE;
    V->regs.rcx = TPR_CR8_BELOW;
    /* MOV to CR8 writes VTPR (30.3); below the threshold the instruction
     * is followed by a trap-like exit 43 (30.1.2), qualification 0. */
    TRY(run_expect(V, EXIT_TPR_BELOW_THRESHOLD, "MOV CR8, 3 with TPR threshold 4"));
    EXPECT(exit_rip() == addr_of(l2_cr8_second_write_next),
           "TPR-below-threshold exit at RIP %#lx, want %#lx (after the second MOV to CR8; the first, 6, must not exit)",
           exit_rip(), addr_of(l2_cr8_second_write_next));
    EXPECT(exit_qual() == 0, "TPR-below-threshold qualification %#lx, want 0", exit_qual());
    EXPECT(V->regs.r8 == TPR_VTPR_INIT >> TPR_CLASS_SHIFT, "MOV from CR8 read %#lx, want VTPR[7:4] = %#x",
           V->regs.r8, TPR_VTPR_INIT >> TPR_CLASS_SHIFT);
    uint32_t vtpr = *vapic32(APIC_TPR);
    EXPECT(vtpr == TPR_CR8_BELOW << TPR_CLASS_SHIFT,
           "VTPR %#x after MOV CR8, 3: want %#x (SRC[3:0] into bits 7:4, bits 3:0 and 31:8 cleared)", vtpr,
           TPR_CR8_BELOW << TPR_CLASS_SHIFT);
    /* The threshold is now above VTPR[7:4]: VMRESUME fails its entry
     * checks (27.2.1.1) until L1 lowers it, as a hypervisor does. */
    V->launched = true;
    expect_vmfail_valid(vmx_enter(&V->regs, 1), VMXERR_ENTRY_INVALID_CONTROL,
                        "VMRESUME with TPR threshold 4 above the new VTPR[7:4] = 3");
    vmw(VMCS_TPR_THRESHOLD, TPR_CR8_BELOW);
    TRY(run_expect(V, EXIT_VMCALL, "after the TPR-below-threshold exit, threshold lowered to 3"));
    EXPECT(V->regs.r9 == TPR_CR8_BELOW, "MOV from CR8 after the write read %#lx, want %u", V->regs.r9,
           TPR_CR8_BELOW);
    if (apic)
        EXPECT(l1_apic_read(APIC_TPR) == l1_tpr, "L1's own TPR changed to %#x (was %#x)", l1_apic_read(APIC_TPR),
               l1_tpr);

    /* VM entry (27.2.1.1): without virtualized APIC accesses and virtual-
     * interrupt delivery, TPR threshold bits 31:4 must be 0 and bits 3:0
     * not above VTPR[7:4]. */
    TRY(tpr_setup(l2_cr8, TPR_VTPR_INIT, TPR_THRESHOLD));
    vmw(VMCS_TPR_THRESHOLD, (TPR_VTPR_INIT >> TPR_CLASS_SHIFT) + 1);
    expect_vmfail_valid(vmx_enter(&V->regs, 0), VMXERR_ENTRY_INVALID_CONTROL,
                        "VMLAUNCH with TPR threshold 6 above VTPR[7:4] = 5");
    vmw(VMCS_TPR_THRESHOLD, TPR_THRESHOLD_MASK + 1);
    expect_vmfail_valid(vmx_enter(&V->regs, 0), VMXERR_ENTRY_INVALID_CONTROL,
                        "VMLAUNCH with TPR threshold 0x10 (bits 31:4 set)");
    vmw(VMCS_TPR_THRESHOLD, TPR_VTPR_INIT >> TPR_CLASS_SHIFT);
    V->regs.rbx = V->regs.rcx = TPR_VTPR_INIT >> TPR_CLASS_SHIFT;
    run_expect(V, EXIT_VMCALL, "VMLAUNCH with TPR threshold = VTPR[7:4], CR8 writes equal to it");
}

/* ---- virtualize APIC accesses (30.4) ---- */
#define APIC_EMUL_VERSION 0x00050014u /* what L1 answers for a read it emulates */
#define APIC_ICR_VECTOR   0xf1u
#define APIC_ICR_DATA     (0x00004000u | APIC_ICR_VECTOR) /* fixed, assert, to APIC ID 0 */
#define STRAY_WAIT_SPINS  100000u

static volatile unsigned stray_ipis;

static void stray_ipi(struct trap_frame *f)
{
    (void)f;
    stray_ipis++;
    lapic_eoi();
}
#define APIC_NEXT_PATTERN 0x6e657874u /* in the page after the APIC-access page */
#define AA_VTPR           0x40u
#define AA_THRESHOLD      3u
#define AA_TPR_LOW        0x20u       /* class 2 < 3: exit 43 */
#define AA_TPR_OK         0x50u
#define L2_APIC_GPA       0xfee00000ULL /* where L2's EPT12 puts its APIC */

/* ept_offered() without its SKIP: EPT is one configuration of several. */
static bool ept_usable(void)
{
    uint64_t need = EPT_CAP_WALK_4 | EPT_CAP_WB | EPT_CAP_2M_PAGE | EPT_CAP_INVEPT;
    return cap_proc2(PROC2_EPT) && (caps.ept_vpid & need) == need &&
           (caps.ept_vpid & (EPT_CAP_INVEPT_SINGLE | EPT_CAP_INVEPT_ALL));
}

static bool aa_setup(uint64_t apic_access_addr, bool tpr_shadow, const struct ept *e)
{
    if (e ? !ept_vcpu_setup(V, l2_apic_access, e) : !vcpu_setup(V, l2_apic_access))
        return false;
    vmcs_enable_proc2(PROC2_VIRTUALIZE_APIC);
    vmw(VMCS_APIC_ACCESS_ADDR, apic_access_addr);
    if (tpr_shadow) {
        memset(vapic_page, 0, PAGE_SIZE);
        *vapic32(APIC_TPR) = AA_VTPR;
        vmcs_clear_bits(VMCS_PROC_CONTROLS, PROC_CR8_LOAD_EXITING | PROC_CR8_STORE_EXITING);
        vmcs_set_bits(VMCS_PROC_CONTROLS, PROC_TPR_SHADOW);
        vmw(VMCS_VIRTUAL_APIC_ADDR, addr_of(vapic_page));
        vmw(VMCS_TPR_THRESHOLD, AA_THRESHOLD);
    }
    /* The first step starts at the routine (no VMCALL before it). */
    return true;
}

/* Without the TPR shadow every access to the page exits (30.4): a read,
 * a write, and the TPR; the next page does not. `where` names the
 * configuration, `base` is L2's address of the page. */
static bool aa_all_exit(const char *where, uint64_t base, bool next_page)
{
    char w[4][120];
    snprintf(w[0], sizeof w[0], "%s: L2 reads the version register (offset 0x30)", where);
    snprintf(w[1], sizeof w[1], "%s: L2 writes the ICR (offset 0x300)", where);
    snprintf(w[2], sizeof w[2], "%s: L2 reads the TPR (offset 0x80) without TPR shadow", where);
    snprintf(w[3], sizeof w[3], "%s: L2 reads the page after the APIC-access page", where);
    struct step rd = {w[0], false, base + APIC_VERSION, 0};
    struct step wr = {w[1], true, base + APIC_ICR_LO, APIC_ICR_DATA};
    struct step tpr = {w[2], false, base + APIC_TPR, 0};
    struct step nxt = {w[3], false, base + PAGE_SIZE, 0};
    if (!step_apic_access(&rd, APIC_VERSION, APIC_EMUL_VERSION) || !step_apic_access(&wr, APIC_ICR_LO, 0) ||
        !step_apic_access(&tpr, APIC_TPR, AA_VTPR))
        return false;
    if (!next_page)
        return true;
    uint64_t got = 0;
    if (!step_no_exit(&nxt, &got))
        return false;
    return expect((uint32_t)got == APIC_NEXT_PATTERN, "%s: read %#lx, want %#x", nxt.what, got,
                  APIC_NEXT_PATTERN);
}

void case_apic_access(void)
{
    if (!need_proc2(PROC2_VIRTUALIZE_APIC, "virtualize APIC accesses"))
        return;
    step_is_msr = false;
    memset(APIC_ACCESS_PAGE, 0, PAGE_SIZE);
    *(uint32_t *)APIC_NEXT_PAGE = APIC_NEXT_PATTERN;
    uint64_t page = addr_of(APIC_ACCESS_PAGE);

    /* (1) An APIC-access page in L1's RAM, L2 without EPT. */
    TRY(aa_setup(page, false, NULL));
    TRY(aa_all_exit("L1-RAM page", page, true));

    /* (2) With the TPR shadow: TPR reads and writes are virtualized (VTPR),
     * a write below the threshold is followed by exit 43 (30.4.3.3,
     * 30.1.2), other registers still exit. */
    if (cap_proc(PROC_TPR_SHADOW)) {
        TRY(aa_setup(page, true, NULL));
        struct step rd_tpr = {"TPR shadow: L2 reads the TPR (offset 0x80)", false, page + APIC_TPR, 0};
        struct step rd_ver = {"TPR shadow: L2 reads the version register", false, page + APIC_VERSION, 0};
        struct step wr_low = {"TPR shadow: L2 writes TPR 0x20 (class 2 < threshold 3)", true, page + APIC_TPR,
                              AA_TPR_LOW};
        struct step wr_ok = {"TPR shadow: L2 writes TPR 0x50", true, page + APIC_TPR, AA_TPR_OK};
        struct step wr_icr = {"TPR shadow: L2 writes the ICR", true, page + APIC_ICR_LO, APIC_ICR_DATA};
        uint64_t got = 0;
        TRY(step_no_exit(&rd_tpr, &got));
        EXPECT((uint32_t)got == AA_VTPR, "%s: got %#lx, want VTPR %#x", rd_tpr.what, got, AA_VTPR);
        TRY(step_apic_access(&rd_ver, APIC_VERSION, APIC_EMUL_VERSION));
        TRY(step_trap(&wr_low, EXIT_TPR_BELOW_THRESHOLD, 0));
        EXPECT(*vapic32(APIC_TPR) == AA_TPR_LOW, "VTPR %#x after L2's write of %#x", *vapic32(APIC_TPR),
               AA_TPR_LOW);
        TRY(step_no_exit(&wr_ok, NULL));
        EXPECT(*vapic32(APIC_TPR) == AA_TPR_OK, "VTPR %#x after L2's write of %#x", *vapic32(APIC_TPR), AA_TPR_OK);
        TRY(step_apic_access(&wr_icr, APIC_ICR_LO, 0));
        EXPECT(*(volatile uint32_t *)(APIC_ACCESS_PAGE + APIC_TPR) == 0,
               "the APIC-access page itself was written (TPR %#x)", *(volatile uint32_t *)(APIC_ACCESS_PAGE + APIC_TPR));

        /* With virtualized APIC accesses the entry does not check the
         * threshold against VTPR: a VM exit 43 follows the entry before
         * any instruction (27.7.7). */
        TRY(aa_setup(page, true, NULL));
        *vapic32(APIC_TPR) = AA_TPR_LOW;
        TRY(run_expect(V, EXIT_TPR_BELOW_THRESHOLD, "VM entry with VTPR 0x20 below threshold 3"));
        EXPECT(exit_rip() == addr_of(l2_apic_access), "exit 43 after the entry at RIP %#lx, want %#lx (no instruction run)",
               exit_rip(), addr_of(l2_apic_access));
    }

    /* (3) L2 under EPT12, its APIC at the architectural address mapped onto
     * the APIC-access page: the comparison is with the address EPT
     * translation gives (30.4). */
    if (ept_usable()) {
        struct ept e;
        ept_pool_reset();
        TRY(expect(ept_init(&e, 0) && ept_identity(&e) &&
                       ept_map(&e, L2_APIC_GPA, page, PAGE_SIZE, EPT_RWX | (EPT_MEMTYPE_WB << EPT_MEMTYPE_SHIFT)),
                   "EPT12 for the APIC-access page: pool exhausted"));
        TRY(aa_setup(page, false, &e));
        TRY(aa_all_exit("EPT12 0xfee00000 -> L1-RAM page", L2_APIC_GPA, false));
    }

    /* (4) The APIC-access page at L1's own local APIC, L2 without EPT: the
     * accesses exit as anywhere else and the local APIC is not touched: the
     * ICR write sends no IPI (it would be vector 0xf1 to L1 itself). */
    if (lapic_present() && !l1_x2apic()) {
        uint64_t lapic = rdmsr(MSR_APIC_BASE) & MSR_APIC_BASE_ADDR;
        cli();
        pic_remap();
        lapic_enable();
        uint32_t tpr = l1_apic_read(APIC_TPR);
        stray_ipis = 0;
        irq_set_handler(APIC_ICR_VECTOR, stray_ipi);
        if (aa_setup(lapic, false, NULL))
            aa_all_exit("the page at L1's local APIC", lapic, false);
        sti();
        for (unsigned i = 0; i < STRAY_WAIT_SPINS && !stray_ipis; i++)
            pause();
        cli();
        irq_set_handler(APIC_ICR_VECTOR, NULL);
        EXPECT(stray_ipis == 0, "L2's ICR write at the APIC-access page reached L1's local APIC: IPI %#x arrived",
               APIC_ICR_VECTOR);
        EXPECT(l1_apic_read(APIC_TPR) == tpr, "L1's TPR changed");
    }
}

/* ---- APIC-register virtualization (30.4.2, 30.4.3) ---- */
#define REG_PATTERN(off) (0xa5000000u | (off))
#define REG_VTPR         0x30u
#define REG_INIT_COUNT   0x00012345u

void case_apic_regs(void)
{
    if (!need_tpr_shadow() || !need_proc2(PROC2_VIRTUALIZE_APIC | PROC2_APIC_REG_VIRT,
                                          "virtualize APIC accesses with APIC-register virtualization"))
        return;
    step_is_msr = false;
    uint64_t page = addr_of(APIC_ACCESS_PAGE);
    TRY(aa_setup(page, true, NULL));
    vmcs_enable_proc2(PROC2_APIC_REG_VIRT);
    vmw(VMCS_TPR_THRESHOLD, 0);
    for (unsigned off = 0; off < PAGE_SIZE; off += APIC_REG_STRIDE)
        *vapic32(off) = REG_PATTERN(off);
    *vapic32(APIC_TPR) = REG_VTPR;

    /* Reads of these offsets come from the virtual-APIC page (30.4.2). */
    static const unsigned virtualized[] = {APIC_ID,  APIC_VERSION, APIC_TPR,       APIC_LDR,
                                           APIC_SVR, APIC_ISR,     APIC_IRR,       APIC_ICR_LO,
                                           APIC_LVT_TIMER, APIC_TMR_INIT};
    for (unsigned i = 0; i < ARRAY_SIZE(virtualized); i++) {
        char what[80];
        snprintf(what, sizeof what, "APIC-register virtualization: L2 reads offset %#x", virtualized[i]);
        struct step s = {what, false, page + virtualized[i], 0};
        uint64_t got = 0;
        TRY(step_no_exit(&s, &got));
        uint32_t want = *vapic32(virtualized[i]);
        EXPECT((uint32_t)got == want, "%s: got %#lx, want %#x from the virtual-APIC page", what, got, want);
    }
    /* The current count is not virtualized: a read exits. */
    struct step rd_cur = {"APIC-register virtualization: L2 reads the current count (0x390)", false,
                          page + APIC_TMR_CUR, 0};
    TRY(step_apic_access(&rd_cur, APIC_TMR_CUR, 0));
    /* A write to the initial count: APIC-write emulation, the data in the
     * virtual-APIC page, then an APIC-write exit with the offset (30.4.3.3). */
    struct step wr_init = {"APIC-register virtualization: L2 writes the initial count (0x380)", true,
                           page + APIC_TMR_INIT, REG_INIT_COUNT};
    TRY(step_trap(&wr_init, EXIT_APIC_WRITE, APIC_TMR_INIT));
    EXPECT(*vapic32(APIC_TMR_INIT) == REG_INIT_COUNT, "initial count in the virtual-APIC page %#x, want %#x",
           *vapic32(APIC_TMR_INIT), REG_INIT_COUNT);
    /* EOI without virtual-interrupt delivery: APIC-write exit too. */
    struct step wr_eoi = {"APIC-register virtualization: L2 writes EOI (0xb0) without virtual-interrupt delivery",
                          true, page + APIC_EOI, 0};
    TRY(step_trap(&wr_eoi, EXIT_APIC_WRITE, APIC_EOI));
    /* TPR: virtualized, no exit with threshold 0. */
    struct step wr_tpr = {"APIC-register virtualization: L2 writes the TPR", true, page + APIC_TPR, AA_TPR_OK};
    TRY(step_no_exit(&wr_tpr, NULL));
    EXPECT(*vapic32(APIC_TPR) == AA_TPR_OK, "VTPR %#x, want %#x", *vapic32(APIC_TPR), AA_TPR_OK);
    /* The current count is read-only: not virtualized, an APIC-access exit. */
    struct step wr_cur = {"APIC-register virtualization: L2 writes the current count (0x390)", true,
                          page + APIC_TMR_CUR, 1};
    TRY(step_apic_access(&wr_cur, APIC_TMR_CUR, 0));
}

/* ---- virtualize x2APIC mode (30.5) ---- */
#define X2_VTPR          0x50u
#define X2_TPR_HIGH      0x11223344u   /* bytes 87H:84H of the page */
#define X2_THRESHOLD     3u
#define X2_TPR_LOW       0x20u
#define X2_TPR_RESERVED  0x100u        /* bits 63:8 of a TPR write must be 0 */
#define MSR_TPR          X2APIC_MSR(APIC_TPR)

static bool x2_setup(void)
{
    msr_bitmap_zero();
    if (!tpr_setup(l2_msr_step, X2_VTPR, X2_THRESHOLD))
        return false;
    *vapic32(APIC_TPR + 4) = X2_TPR_HIGH;
    vmcs_set_bits(VMCS_PROC_CONTROLS, PROC_USE_MSR_BITMAPS);
    vmcs_enable_proc2(PROC2_VIRT_X2APIC);
    return true;
}

void case_apic_x2apic(void)
{
    if (!need_tpr_shadow() || !need_proc2(PROC2_VIRT_X2APIC, "virtualize x2APIC mode"))
        return;
    if (!cap_proc(PROC_USE_MSR_BITMAPS)) {
        case_skip("MSR bitmaps not offered");
        return;
    }
    step_is_msr = true;
    TRY(x2_setup());
    /* RDMSR 808H reads the 8 bytes at offset 80H (30.5), no exit. */
    struct step rd = {"RDMSR 0x808 (TPR)", false, MSR_TPR, 0};
    uint64_t got = 0;
    TRY(step_no_exit(&rd, &got));
    uint64_t want = ((uint64_t)X2_TPR_HIGH << 32) | X2_VTPR;
    EXPECT(got == want, "RDMSR 0x808 got %#lx, want %#lx (the 8 bytes at offset 0x80)", got, want);
    /* WRMSR 808H writes them (bits 63:8 zero) and virtualizes the TPR:
     * below the threshold, exit 43 after the WRMSR. */
    struct step wr = {"WRMSR 0x808 <- 0x20 (class 2 < threshold 3)", true, MSR_TPR, X2_TPR_LOW};
    TRY(step_trap(&wr, EXIT_TPR_BELOW_THRESHOLD, 0));
    EXPECT(vapic64(APIC_TPR) == X2_TPR_LOW, "the 8 bytes at offset 0x80 are %#lx after the WRMSR, want %#x",
           vapic64(APIC_TPR), X2_TPR_LOW);
    /* Bits 63:8 set: #GP(0) (30.5). */
    struct step wr_bad = {"WRMSR 0x808 <- 0x100", true, MSR_TPR, X2_TPR_RESERVED};
    TRY(step_exception(&wr_bad, VEC_GP, l2_msr_step));
    EXPECT(vapic64(APIC_TPR) == X2_TPR_LOW, "VTPR %#lx after the faulting WRMSR", vapic64(APIC_TPR));
    /* Without APIC-register virtualization the other x2APIC MSRs are not
     * virtualized: with L1's local APIC in xAPIC mode, RDMSR 803H is #GP. */
    if (!l1_x2apic()) {
        struct step rd_ver = {"RDMSR 0x803 without APIC-register virtualization", false, X2APIC_MSR(APIC_VERSION), 0};
        TRY(step_exception(&rd_ver, VEC_GP, l2_msr_step));
    }
    /* The MSR bitmap comes first: with 808H's read bit set, RDMSR exits. */
    msr_bitmap[MSR_BITMAP_READ_LOW + MSR_TPR / 8] |= (uint8_t)(1u << (MSR_TPR % 8));
    struct step rd_bm = {"RDMSR 0x808 with its MSR-bitmap bit set", false, MSR_TPR, 0};
    step_regs(&rd_bm);
    TRY(run_expect(V, EXIT_RDMSR, rd_bm.what));
    EXPECT((uint32_t)V->regs.rcx == MSR_TPR, "RDMSR exit for MSR %#lx", V->regs.rcx);
    msr_bitmap[MSR_BITMAP_READ_LOW + MSR_TPR / 8] = 0;

    /* With APIC-register virtualization RDMSR of the other registers reads
     * the page at (MSR & 0xff) << 4. */
    if (cap_proc2(PROC2_APIC_REG_VIRT)) {
        TRY(x2_setup());
        vmcs_enable_proc2(PROC2_APIC_REG_VIRT);
        static const unsigned regs[] = {APIC_ID, APIC_VERSION, APIC_LDR, APIC_LVT_TIMER};
        for (unsigned i = 0; i < ARRAY_SIZE(regs); i++) {
            *vapic32(regs[i]) = REG_PATTERN(regs[i]);
            *vapic32(regs[i] + 4) = ~REG_PATTERN(regs[i]);
            char what[80];
            snprintf(what, sizeof what, "RDMSR %#x with APIC-register virtualization", X2APIC_MSR(regs[i]));
            struct step s = {what, false, X2APIC_MSR(regs[i]), 0};
            TRY(step_no_exit(&s, &got));
            EXPECT(got == vapic64(regs[i]), "%s: got %#lx, want %#lx", what, got, vapic64(regs[i]));
        }
    }
}

/* ---- virtual-interrupt delivery (30.1.4, 30.1.5, 30.2) ---- */
#define VID_HIGH     0x62u   /* pending first (RVI), EOI-exit bitmap bit set */
#define VID_LOW      0x51u   /* pending second, no EOI exit */
#define VID_SELF     0x71u   /* self-IPI virtualization */
#define VID_SPINS    2000u
#define VID_VPPR_OFF APIC_PPR
#define VID_HLT_TIMER 20000u /* preemption-timer bound of a halt nothing wakes */

#define NO_VECTOR    256u  /* eoi_exit_bitmap(): no bit set */

static void eoi_exit_bitmap(unsigned vector)
{
    for (unsigned i = 0; i < EOI_EXIT_BITMAP_FIELDS; i++)
        vmw(VMCS_EOI_EXIT_BITMAP0 + EOI_EXIT_BITMAP_STRIDE * i,
            vector / 64 == i ? 1ULL << (vector % 64) : 0);
}

/* How L2 EOIs: through MSR 80BH (virtualize x2APIC mode) or through the
 * APIC-access page (virtualize APIC accesses); and whether L2 runs under
 * an identity EPT12 (fresh: under nestvisor the delivery's stack push, IDT
 * read and handler fetch then miss the shadow EPT02 on the way). */
struct vid_flavour {
    bool x2apic, ept;
    const char *name;
};

static struct ept vid_ept;

static bool vid_setup(void (*entry)(void), const struct vid_flavour *f)
{
    /* External-interrupt exiting is on: the BIOS's timer interrupt must not
     * reach L2 (the 8259s remapped and masked). */
    cli();
    pic_remap();
    memset(vapic_page, 0, PAGE_SIZE);
    if (f->ept) {
        ept_pool_reset();
        if (!expect(ept_init(&vid_ept, 0) && ept_identity(&vid_ept), "EPT12: pool exhausted") ||
            !ept_vcpu_setup(V, entry, &vid_ept))
            return false;
    } else if (!vcpu_setup(V, entry)) {
        return false;
    }
    vmcs_clear_bits(VMCS_PROC_CONTROLS, PROC_CR8_LOAD_EXITING | PROC_CR8_STORE_EXITING);
    vmcs_set_bits(VMCS_PROC_CONTROLS, PROC_TPR_SHADOW);
    vmw(VMCS_VIRTUAL_APIC_ADDR, addr_of(vapic_page));
    vmw(VMCS_TPR_THRESHOLD, 0);
    msr_bitmap_zero();
    vmcs_set_bits(VMCS_PIN_CONTROLS, PIN_EXTINT_EXITING);
    if (f->x2apic) {
        vmcs_set_bits(VMCS_PROC_CONTROLS, PROC_USE_MSR_BITMAPS);
        vmcs_enable_proc2(PROC2_VIRT_X2APIC | PROC2_VIRT_INTR_DELIVERY);
        virt_l2_intr_reset(L2_EOI_X2APIC, 0);
    } else {
        vmcs_enable_proc2(PROC2_VIRTUALIZE_APIC | PROC2_VIRT_INTR_DELIVERY);
        vmw(VMCS_APIC_ACCESS_ADDR, addr_of(APIC_ACCESS_PAGE));
        virt_l2_intr_reset(L2_EOI_MMIO, addr_of(APIC_ACCESS_PAGE) + APIC_EOI);
    }
    virt_l2_idt_install();
    eoi_exit_bitmap(VID_HIGH);
    vmw(VMCS_GUEST_INTR_STATUS, 0);
    return true;
}

/* `rvi` pending in VIRR and RVI (SVI 0). */
static void vid_pend(unsigned rvi)
{
    vapic_vec_set(APIC_IRR, rvi);
    vmw(VMCS_GUEST_INTR_STATUS, GUEST_INTR_STATUS(rvi, 0));
}

static bool vid_all_clear(const char *what)
{
    uint64_t st = vmr(VMCS_GUEST_INTR_STATUS);
    return expect(st == 0 && vapic_array_clear(APIC_IRR) && vapic_array_clear(APIC_ISR),
                  "%s: guest interrupt status %#lx (want 0), VIRR clear %d, VISR clear %d", what, st,
                  vapic_array_clear(APIC_IRR), vapic_array_clear(APIC_ISR));
}

/* Where the virtual interrupts are, for a failure message (after the
 * one naming the step). */
static void vid_state(void)
{
    expect(false, "then SVI:RVI %#lx VPPR %#x VIRR/VISR %#x %d/%d %#x %d/%d, %u taken%s%lu", vmr(VMCS_GUEST_INTR_STATUS),
           *vapic32(VID_VPPR_OFF), VID_HIGH, vapic_vec(APIC_IRR, VID_HIGH), vapic_vec(APIC_ISR, VID_HIGH), VID_LOW,
           vapic_vec(APIC_IRR, VID_LOW), vapic_vec(APIC_ISR, VID_LOW), l2_intr_count,
           V->regs.r15 == L2_EXC_MARK ? ", L2's exception handler of vector " : "",
           V->regs.r15 == L2_EXC_MARK ? V->regs.r14 : 0);
}

static void vid_run(const struct vid_flavour *f)
{
    TRY(vid_setup(l2_sti_spin, f));
    vapic_vec_set(APIC_IRR, VID_LOW);
    vid_pend(VID_HIGH);
    V->regs.rcx = VID_SPINS;
    /* After STI the highest (RVI) is delivered (30.2.2); its EOI has its
     * EOI-exit bit set: exit 45 after the EOI, qualification = vector
     * (30.1.4). */
    char what[120];
    snprintf(what, sizeof what, "%s: L2's EOI of vector %#x (EOI-exit bit set)", f->name, VID_HIGH);
    if (!run_expect(V, EXIT_VIRTUALIZED_EOI, what)) {
        vid_state();
        return;
    }
    EXPECT(exit_qual() == VID_HIGH, "%s: qualification %#lx, want the vector %#x", what, exit_qual(), VID_HIGH);
    uint64_t after = addr_of(f->x2apic ? l2_eoi_msr_next : l2_eoi_mmio_next);
    EXPECT(exit_rip() == after, "%s: RIP %#lx, want %#lx after the EOI (trap-like)", what, exit_rip(), after);
    EXPECT(l2_intr_count == 1 && l2_intr_log[0] == VID_HIGH, "%s: L2 took %u interrupt(s), first %#lx", what,
           l2_intr_count, l2_intr_log[0]);
    uint64_t st = vmr(VMCS_GUEST_INTR_STATUS);
    EXPECT(GUEST_INTR_RVI(st) == VID_LOW && GUEST_INTR_SVI(st) == 0,
           "%s: guest interrupt status %#lx, want RVI %#x SVI 0", what, st, VID_LOW);
    EXPECT(!vapic_vec(APIC_IRR, VID_HIGH) && !vapic_vec(APIC_ISR, VID_HIGH) && vapic_vec(APIC_IRR, VID_LOW),
           "%s: VIRR/VISR: %#x's IRR %d ISR %d, %#x's IRR %d", what, VID_HIGH, vapic_vec(APIC_IRR, VID_HIGH),
           vapic_vec(APIC_ISR, VID_HIGH), VID_LOW, vapic_vec(APIC_IRR, VID_LOW));
    EXPECT(*vapic32(VID_VPPR_OFF) == 0, "%s: VPPR %#x after the EOI, want 0", what, *vapic32(VID_VPPR_OFF));
    /* Resumed, the handler's IRET opens the window for the next one (RVI
     * 0x51); its EOI has no exit. */
    snprintf(what, sizeof what, "%s: the second virtual interrupt (%#x) and its EOI (no exit)", f->name, VID_LOW);
    TRY(run_expect(V, EXIT_VMCALL, what));
    EXPECT(V->regs.r8 == 2 && l2_intr_log[1] == VID_LOW, "%s: L2 took %lu interrupts, second %#lx", what,
           V->regs.r8, l2_intr_log[1]);
    vid_all_clear(what);

    /* Self-IPI virtualization (30.1.5): L2's self-IPI of 0x71 (ICR with
     * the "self" shorthand, or MSR 83FH) sets VIRR and is delivered at once
     * (IF = 1); no exit. */
    TRY(vid_setup(f->x2apic ? l2_msr_step : l2_apic_access, f));
    vmw(VMCS_GUEST_RFLAGS, RFLAGS_RESERVED_1 | RFLAGS_IF);
    step_is_msr = f->x2apic;
    snprintf(what, sizeof what, "%s: L2's self-IPI of vector %#x", f->name, VID_SELF);
    struct step s = {what, true, f->x2apic ? X2APIC_SELF_IPI_MSR : addr_of(APIC_ACCESS_PAGE) + APIC_ICR_LO,
                     f->x2apic ? VID_SELF : (ICR_SELF | VID_SELF)};
    TRY(step_no_exit(&s, NULL));
    EXPECT(l2_intr_count == 1 && l2_intr_log[0] == VID_SELF, "%s: L2 took %u interrupt(s), first %#lx", what,
           l2_intr_count, l2_intr_log[0]);
    vid_all_clear(what);
}

/* Virtual-interrupt delivery wakes L2 from HLT (30.2.1): entered in the
 * HLT state with RVI pending and IF = 1, it takes the interrupt and runs
 * on. The preemption timer ends a halt nothing wakes: Bochs 2.7's (strict
 * only, README). */
static void vid_hlt(const struct vid_flavour *f)
{
    TRY(vid_setup(l2_sti_spin, f));
    vid_pend(VID_LOW);
    vmw(VMCS_GUEST_RFLAGS, RFLAGS_RESERVED_1 | RFLAGS_IF);
    vmw(VMCS_GUEST_ACTIVITY_STATE, ACTIVITY_HLT);
    vmcs_set_bits(VMCS_PIN_CONTROLS, PIN_PREEMPTION_TIMER);
    vmw(VMCS_PREEMPTION_TIMER, VID_HLT_TIMER);
    V->regs.rcx = VID_SPINS;
    vcpu_run(V);
    if (V->entry_result == VMX_OK && V->reason == EXIT_PREEMPTION_TIMER && l2_intr_count == 0 &&
        vmr(VMCS_GUEST_ACTIVITY_STATE) == ACTIVITY_HLT) {
        expect(!opt_strict, "the pending virtual interrupt did not wake L2 from HLT (30.2.1)");
        return;
    }
    TRY(expect(V->entry_result == VMX_OK && V->reason == EXIT_VMCALL,
               "L2 entered halted with a virtual interrupt pending: expected its VMCALL, got %s", exit_describe(V)));
    EXPECT(V->regs.r8 == 1 && l2_intr_log[0] == VID_LOW, "halted L2: took %lu interrupt(s), first %#lx", V->regs.r8,
           l2_intr_log[0]);
    EXPECT(vmr(VMCS_GUEST_ACTIVITY_STATE) == ACTIVITY_ACTIVE, "activity state %lu after the wake-up",
           vmr(VMCS_GUEST_ACTIVITY_STATE));
    vid_all_clear("halted L2");
}

/* With interrupt-window exiting the virtual interrupt is not delivered
 * (30.2.1): the entry exits (reason 7) with RVI still pending. */
static void vid_window(const struct vid_flavour *f)
{
    TRY(vid_setup(l2_sti_spin, f));
    vid_pend(VID_LOW);
    vmw(VMCS_GUEST_RFLAGS, RFLAGS_RESERVED_1 | RFLAGS_IF);
    vmcs_set_bits(VMCS_PROC_CONTROLS, PROC_INTR_WINDOW_EXITING);
    V->regs.rcx = VID_SPINS;
    TRY(run_expect(V, EXIT_INTERRUPT_WINDOW, "a virtual interrupt pending with interrupt-window exiting"));
    EXPECT(exit_rip() == addr_of(l2_sti_spin) && l2_intr_count == 0,
           "interrupt-window exit at RIP %#lx (want %#lx, before any instruction) after %u interrupt(s)", exit_rip(),
           addr_of(l2_sti_spin), l2_intr_count);
    EXPECT(vmr(VMCS_GUEST_INTR_STATUS) == VID_LOW && vapic_vec(APIC_IRR, VID_LOW),
           "guest interrupt status %#lx at the interrupt-window exit, want RVI %#x still pending",
           vmr(VMCS_GUEST_INTR_STATUS), VID_LOW);
    vmcs_clear_bits(VMCS_PROC_CONTROLS, PROC_INTR_WINDOW_EXITING);
    TRY(run_expect(V, EXIT_VMCALL, "the same without interrupt-window exiting"));
    EXPECT(V->regs.r8 == 1 && l2_intr_log[0] == VID_LOW, "took %lu interrupt(s), first %#lx", V->regs.r8,
           l2_intr_log[0]);
    vid_all_clear("after the interrupt window");
}

/* An EPT violation during the delivery of a virtual interrupt (L2's stack
 * page not present in EPT12): the delivery had begun (VISR, SVI, RVI
 * updated, 30.2.2), the exit is "during event delivery" and the
 * IDT-vectoring information names an external interrupt with the vector
 * (28.2.4); L1 maps the page and injects that event again, as a
 * hypervisor does, and L2's handler runs. Bochs 2.7 records no
 * IDT-vectoring information for a virtual interrupt (strict only, README). */
static void vid_ept_fault(const struct vid_flavour *f)
{
    TRY(vid_setup(l2_sti_spin, f));
    uint64_t stack_page = (addr_of(V->stack_top) - 1) & ~(uint64_t)(PAGE_SIZE - 1);
    TRY(expect(ept_set_perms(&vid_ept, stack_page, 0), "EPT12: pool exhausted"));
    TRY(expect_vmok(ept_invalidate(vid_ept.eptp), "INVEPT after taking L2's stack page away"));
    vapic_vec_set(APIC_IRR, VID_LOW);
    vid_pend(VID_HIGH);
    V->regs.rcx = VID_SPINS;
    const char *what = "virtual interrupt 0x62 delivered onto a stack page EPT12 leaves out";
    TRY(run_expect(V, EXIT_EPT_VIOLATION, what));
    uint64_t gpa = vmr(VMCS_GUEST_PHYSICAL_ADDR), q = exit_qual(), want_q = ept_violation_qual(QUAL_EPT_WRITE, 0);
    EXPECT((gpa & ~(uint64_t)(PAGE_SIZE - 1)) == stack_page && q == want_q,
           "%s: guest-physical %#lx (want the page %#lx), qualification %#lx (want %#lx)", what, gpa, stack_page, q,
           want_q);
    uint64_t st = vmr(VMCS_GUEST_INTR_STATUS);
    EXPECT(st == GUEST_INTR_STATUS(VID_LOW, VID_HIGH) && vapic_vec(APIC_ISR, VID_HIGH),
           "%s: guest interrupt status %#lx (want SVI 0x62, RVI 0x51), VISR[0x62] %d", what, st,
           vapic_vec(APIC_ISR, VID_HIGH));
    uint32_t vect = (uint32_t)vmr(VMCS_IDT_VECTORING_INFO);
    uint32_t want = INTR_INFO_VALID | ((uint32_t)INTR_TYPE_EXTERNAL << 8) | VID_HIGH;
    if (vect != want) {
        EXPECT(!opt_strict, "%s: IDT-vectoring information %#x, want %#x (external interrupt 0x62)", what, vect, want);
        return;
    }
    TRY(expect(ept_set_perms(&vid_ept, stack_page, EPT_RWX), "EPT12: pool exhausted"));
    vmw(VMCS_ENTRY_INTR_INFO, vect);
    TRY(run_expect(V, EXIT_VIRTUALIZED_EOI, "the re-injected 0x62: its EOI"));
    EXPECT(exit_qual() == VID_HIGH && l2_intr_count == 1 && l2_intr_log[0] == VID_HIGH,
           "re-injected 0x62: qualification %#lx, L2 took %u interrupt(s), first %#lx", exit_qual(), l2_intr_count,
           l2_intr_log[0]);
    TRY(run_expect(V, EXIT_VMCALL, "after the re-injected interrupt"));
    EXPECT(V->regs.r8 == 2 && l2_intr_log[1] == VID_LOW, "L2 took %lu interrupts, second %#lx", V->regs.r8,
           l2_intr_log[1]);
    vid_all_clear("after the re-injected interrupt");
}

void case_apic_vid(void)
{
    if (!need_tpr_shadow() || !need_proc2(PROC2_VIRT_INTR_DELIVERY, "virtual-interrupt delivery"))
        return;
    if (!cap_pin(PIN_EXTINT_EXITING)) {
        case_skip("external-interrupt exiting not offered");
        return;
    }
    bool x2 = cap_proc2(PROC2_VIRT_X2APIC) && cap_proc(PROC_USE_MSR_BITMAPS);
    bool xa = cap_proc2(PROC2_VIRTUALIZE_APIC);
    if (!x2 && !xa) {
        case_skip("neither virtualize x2APIC mode nor virtualize APIC accesses offered (no way to EOI)");
        return;
    }
    const struct vid_flavour fx2 = {true, false, "x2APIC"}, fxa = {false, false, "xAPIC"};
    const struct vid_flavour fept = {x2, true, x2 ? "x2APIC, EPT12" : "xAPIC, EPT12"};
    const struct vid_flavour *any = x2 ? &fx2 : &fxa;
    if (x2)
        vid_run(&fx2);
    if (xa)
        vid_run(&fxa);
    /* Under nestvisor the fresh EPT12's shadow misses make the delivery
     * itself exit to L0; Bochs 2.7 then reports no IDT-vectoring
     * information (see vid_ept_fault) and the interrupt is lost: strict
     * only there. */
    if (ept_usable() && (!nv_present || opt_strict))
        vid_run(&fept);
    if (ept_usable())
        vid_ept_fault(&fept);

    if ((caps.misc & VMX_MISC_ACTIVITY_HLT) && cap_pin(PIN_PREEMPTION_TIMER))
        vid_hlt(any);
    if (cap_proc(PROC_INTR_WINDOW_EXITING))
        vid_window(any);
}

/* ---- VM-entry checks of the APIC-virtualization controls (27.2.1.1) ---- */
#define PI_VECTOR       0xf2u  /* the posted-interrupt notification vector */
#define PI_VIRT_VECTOR  0x65u
#define PI_NV_BAD       0x100u

static uint64_t pi_desc[8] __attribute__((aligned(PID_ALIGN)));

static void bad_entry(const char *what)
{
    expect_vmfail_valid(vmx_enter(&V->regs, 0), VMXERR_ENTRY_INVALID_CONTROL, what);
}

void case_apic_checks(void)
{
    if (!need_tpr_shadow())
        return;
    struct {
        uint32_t proc2;
        const char *what;
    } no_shadow[] = {
        {PROC2_VIRT_X2APIC, "virtualize x2APIC mode without the TPR shadow"},
        {PROC2_APIC_REG_VIRT, "APIC-register virtualization without the TPR shadow"},
        {PROC2_VIRT_INTR_DELIVERY, "virtual-interrupt delivery without the TPR shadow"},
    };
    for (unsigned i = 0; i < ARRAY_SIZE(no_shadow); i++) {
        if (!cap_proc2(no_shadow[i].proc2))
            continue;
        TRY(vcpu_setup(V, l2_vmcall));
        vmcs_set_bits(VMCS_PIN_CONTROLS, cap_pin(PIN_EXTINT_EXITING) ? PIN_EXTINT_EXITING : 0);
        vmcs_enable_proc2(no_shadow[i].proc2);
        bad_entry(no_shadow[i].what);
    }
    if (cap_proc2(PROC2_VIRT_X2APIC | PROC2_VIRTUALIZE_APIC)) {
        TRY(tpr_setup(l2_vmcall, 0, 0));
        vmcs_enable_proc2(PROC2_VIRT_X2APIC | PROC2_VIRTUALIZE_APIC);
        vmw(VMCS_APIC_ACCESS_ADDR, addr_of(APIC_ACCESS_PAGE));
        bad_entry("virtualize x2APIC mode together with virtualize APIC accesses");
    }
    if (cap_proc2(PROC2_VIRT_INTR_DELIVERY)) {
        TRY(tpr_setup(l2_vmcall, 0, 0));
        vmcs_enable_proc2(PROC2_VIRT_INTR_DELIVERY);
        bad_entry("virtual-interrupt delivery without external-interrupt exiting");
    }
    TRY(tpr_setup(l2_vmcall, 0, 0));
    vmw(VMCS_VIRTUAL_APIC_ADDR, addr_of(vapic_page) + APIC_REG_STRIDE);
    bad_entry("virtual-APIC address not 4 KiB aligned");
    vmw(VMCS_VIRTUAL_APIC_ADDR, 1ULL << caps.phys_bits);
    bad_entry("virtual-APIC address beyond the physical-address width");
    vmw(VMCS_VIRTUAL_APIC_ADDR, addr_of(vapic_page));
    if (cap_proc2(PROC2_VIRTUALIZE_APIC)) {
        vmcs_enable_proc2(PROC2_VIRTUALIZE_APIC);
        vmw(VMCS_APIC_ACCESS_ADDR, addr_of(APIC_ACCESS_PAGE) + APIC_REG_STRIDE);
        bad_entry("APIC-access address not 4 KiB aligned");
        vmw(VMCS_APIC_ACCESS_ADDR, addr_of(APIC_ACCESS_PAGE));
    }
    TRY(run_expect(V, EXIT_VMCALL, "the same VMCS with valid APIC-virtualization fields"));

    if (!cap_pin(PIN_POSTED_INTERRUPTS) || !cap_proc2(PROC2_VIRT_INTR_DELIVERY) || !cap_exit(EXIT_ACK_INTR_ON_EXIT))
        return;
    /* Posted interrupts need virtual-interrupt delivery, acknowledge
     * interrupt on exit, a vector below 256 and a 64-byte aligned
     * descriptor (27.2.1.1). */
    struct {
        uint32_t drop_proc2, drop_exit;
        uint64_t nv, desc;
        const char *what;
    } bad_pi[] = {
        {PROC2_VIRT_INTR_DELIVERY, 0, PI_VECTOR, 0, "posted interrupts without virtual-interrupt delivery"},
        {0, EXIT_ACK_INTR_ON_EXIT, PI_VECTOR, 0, "posted interrupts without acknowledge interrupt on exit"},
        {0, 0, PI_NV_BAD, 0, "posted-interrupt notification vector 0x100"},
        {0, 0, PI_VECTOR, PID_ALIGN / 2, "posted-interrupt descriptor not 64-byte aligned"},
    };
    for (unsigned i = 0; i < ARRAY_SIZE(bad_pi); i++) {
        TRY(tpr_setup(l2_vmcall, 0, 0));
        vmcs_set_bits(VMCS_PIN_CONTROLS, PIN_EXTINT_EXITING | PIN_POSTED_INTERRUPTS);
        vmcs_set_bits(VMCS_EXIT_CONTROLS, EXIT_ACK_INTR_ON_EXIT);
        vmcs_enable_proc2(PROC2_VIRT_INTR_DELIVERY);
        vmw(VMCS_GUEST_INTR_STATUS, 0);
        vmcs_clear_bits(VMCS_PROC_CONTROLS2, bad_pi[i].drop_proc2);
        vmcs_clear_bits(VMCS_EXIT_CONTROLS, bad_pi[i].drop_exit);
        vmw(VMCS_POSTED_INTR_NV, bad_pi[i].nv);
        vmw(VMCS_POSTED_INTR_DESC, addr_of(pi_desc) + bad_pi[i].desc);
        bad_entry(bad_pi[i].what);
    }
}

/* ---- posted-interrupt processing (30.6) ---- */
#define PI_SPINS 2000u

void case_posted_intr(void)
{
    if (!cap_pin(PIN_POSTED_INTERRUPTS)) {
        case_skip("process posted interrupts not offered (IA32_VMX_%sPINBASED_CTLS allowed-1 %#x)", TRUE_PREFIX,
                  ctl_may1(caps.ctl_pin));
        return;
    }
    if (!need_tpr_shadow() || !need_proc2(PROC2_VIRT_INTR_DELIVERY, "virtual-interrupt delivery"))
        return;
    if (!cap_exit(EXIT_ACK_INTR_ON_EXIT) || !cap_pin(PIN_EXTINT_EXITING) || !lapic_present()) {
        case_skip("acknowledge interrupt on exit, external-interrupt exiting or a local APIC missing");
        return;
    }
    bool x2 = cap_proc2(PROC2_VIRT_X2APIC) && cap_proc(PROC_USE_MSR_BITMAPS);
    if (!x2 && !cap_proc2(PROC2_VIRTUALIZE_APIC)) {
        case_skip("neither virtualize x2APIC mode nor virtualize APIC accesses offered (no way to EOI)");
        return;
    }
    lapic_enable();
    const struct vid_flavour f = {x2, false, x2 ? "x2APIC" : "xAPIC"};
    TRY(vid_setup(l2_sti_spin, &f));
    vmcs_set_bits(VMCS_PIN_CONTROLS, PIN_POSTED_INTERRUPTS);
    vmcs_set_bits(VMCS_EXIT_CONTROLS, EXIT_ACK_INTR_ON_EXIT);
    eoi_exit_bitmap(NO_VECTOR);
    memset(pi_desc, 0, sizeof pi_desc);
    pi_desc[PI_VIRT_VECTOR / 64] |= 1ULL << (PI_VIRT_VECTOR % 64);
    pi_desc[PID_ON_QWORD] |= PID_ON_BIT;
    vmw(VMCS_POSTED_INTR_NV, PI_VECTOR);
    vmw(VMCS_POSTED_INTR_DESC, addr_of(pi_desc));
    V->regs.rcx = PI_SPINS;
    /* The notification is pending at the local APIC (L1 runs with IF = 0)
     * when L2 starts: recognized in VMX non-root operation it is
     * acknowledged and processed, not a VM exit: PIR into VIRR, ON and PIR
     * cleared, an EOI to the local APIC, RVI raised; L2 then takes 0x65. */
    TRY(expect(l1_apic_self_ipi(PI_VECTOR), "the self-IPI of the notification vector stayed pending in the ICR"));
    if (!run_expect(V, EXIT_VMCALL, "L2 with the posted-interrupt notification pending")) {
        if (V->reason == EXIT_EXTERNAL_INTERRUPT)
            lapic_eoi(); /* acknowledged on exit: in service at L1's APIC */
        return;
    }
    EXPECT(V->regs.r8 == 1 && l2_intr_log[0] == PI_VIRT_VECTOR, "L2 took %lu interrupt(s), first %#lx, want 1: %#x",
           V->regs.r8, l2_intr_log[0], PI_VIRT_VECTOR);
    bool pir_clear = true;
    for (unsigned i = 0; i < PID_PIR_QWORDS; i++)
        pir_clear &= pi_desc[i] == 0;
    EXPECT(pir_clear && !(pi_desc[PID_ON_QWORD] & PID_ON_BIT), "descriptor after processing: PIR %#lx %#lx ON %lu",
           pi_desc[PI_VIRT_VECTOR / 64], pi_desc[PI_VIRT_VECTOR / 64 ^ 1], (uint64_t)(pi_desc[PID_ON_QWORD] & PID_ON_BIT));
    EXPECT(vmr(VMCS_GUEST_INTR_STATUS) == 0, "guest interrupt status %#lx, want 0", vmr(VMCS_GUEST_INTR_STATUS));
    unsigned reg = APIC_ISR + PI_VECTOR / APIC_VEC_PER_REG * APIC_REG_STRIDE;
    unsigned irr = APIC_IRR + PI_VECTOR / APIC_VEC_PER_REG * APIC_REG_STRIDE;
    uint32_t bit = 1u << (PI_VECTOR % APIC_VEC_PER_REG);
    EXPECT(!(l1_apic_read(reg) & bit) && !(l1_apic_read(irr) & bit),
           "the notification vector is still in L1's local APIC: ISR %#x IRR %#x", l1_apic_read(reg),
           l1_apic_read(irr));
}
