/* Cases that launch a 64-bit L2 (paging, no EPT) and check one kind of VM
 * exit each: reason (Appendix C), qualification (28.2.1), instruction
 * length, and what L2 sees when L1 emulates and resumes. */
#include "l1hv.h"

/* ---- helpers ---- */

static struct vcpu *const V = &vcpus[0];

static uint64_t qual(void) { return vmr(VMCS_EXIT_QUALIFICATION); }
static uint64_t instr_len(void) { return vmr(VMCS_EXIT_INSTR_LEN); }
static uint64_t guest_rip(void) { return vmr(VMCS_GUEST_RIP); }
static uint32_t intr_info(void) { return (uint32_t)vmr(VMCS_EXIT_INTR_INFO); }
static uint64_t sym(void (*f)(void)) { return (uintptr_t)f; }

/* Expects the closing VMCALL of an L2 routine. */
static bool run_to_vmcall(const char *what)
{
    return run_expect(V, EXIT_VMCALL, what);
}

/* Expects exit `reason` with instruction length `len`, then skips it. */
static bool exit_and_skip(uint32_t reason, uint64_t len, const char *what)
{
    if (!run_expect(V, reason, what))
        return false;
    uint64_t l = instr_len();
    bool ok = expect(l == len, "%s: instruction length %lu, want %lu", what, l, len);
    vcpu_skip_instruction();
    return ok;
}

static bool need_proc(uint32_t bits, const char *what)
{
    if (cap_proc(bits))
        return true;
    case_skip("%s not offered (IA32_VMX_%sPROCBASED_CTLS allowed-1 %#x)", what,
              caps.basic & VMX_BASIC_TRUE_CTLS ? "TRUE_" : "", ctl_may1(caps.ctl_proc));
    return false;
}

/* ---- CPUID (reason 10, unconditional) ---- */
#define CPUID_TEST_LEAF    0x4a110001u
#define CPUID_TEST_SUBLEAF 7u
static const uint32_t cpuid_answer[4] = {0x11111111, 0x22222222, 0x33333333, 0x44444444};

void case_cpuid(void)
{
    TRY(vcpu_setup(V, l2_cpuid));
    V->regs.rax = CPUID_TEST_LEAF;
    V->regs.rcx = CPUID_TEST_SUBLEAF;
    TRY(run_expect(V, EXIT_CPUID, "CPUID"));
    EXPECT((uint32_t)V->regs.rax == CPUID_TEST_LEAF && (uint32_t)V->regs.rcx == CPUID_TEST_SUBLEAF,
           "L1 saw leaf %#lx subleaf %#lx", V->regs.rax, V->regs.rcx);
    EXPECT(guest_rip() == sym(l2_cpuid), "guest RIP %#lx, want %#lx", guest_rip(),
           sym(l2_cpuid));
    EXPECT(instr_len() == 2, "instruction length %lu, want 2", instr_len());
    V->regs.rax = cpuid_answer[0];
    V->regs.rbx = cpuid_answer[1];
    V->regs.rcx = cpuid_answer[2];
    V->regs.rdx = cpuid_answer[3];
    vcpu_skip_instruction();
    TRY(run_to_vmcall("after CPUID"));
    EXPECT(V->regs.r8 == cpuid_answer[0] && V->regs.r9 == cpuid_answer[1] &&
               V->regs.r10 == cpuid_answer[2] && V->regs.r11 == cpuid_answer[3],
           "L2 got %#lx %#lx %#lx %#lx", V->regs.r8, V->regs.r9, V->regs.r10, V->regs.r11);
}

/* ---- HLT exiting (reason 12) ---- */
void case_hlt(void)
{
    if (!need_proc(PROC_HLT_EXITING, "HLT exiting"))
        return;
    TRY(vcpu_setup(V, l2_hlt));
    vmcs_set_bits(VMCS_PROC_CONTROLS, PROC_HLT_EXITING);
    TRY(run_expect(V, EXIT_HLT, "HLT"));
    EXPECT(guest_rip() == sym(l2_hlt), "HLT exit at RIP %#lx, want %#lx", guest_rip(),
           sym(l2_hlt));
    EXPECT(instr_len() == 1, "HLT length %lu", instr_len());
    uint64_t act = vmr(VMCS_GUEST_ACTIVITY_STATE);
    EXPECT(act == ACTIVITY_ACTIVE, "activity state %lu at the HLT exit, want active", act);
    vcpu_skip_instruction();
    TRY(run_to_vmcall("after HLT"));
    EXPECT(guest_rip() == sym(l2_hlt) + 1, "VMCALL at %#lx, want %#lx", guest_rip(),
           sym(l2_hlt) + 1);
}

/* ---- I/O bitmaps (reason 30) ---- */
#define IO_EXIT_PORT_A  0x1234u /* bitmap A: OUT DX, AL */
#define IO_EXIT_PORT_B  0x9abcu /* bitmap B: IN EAX, DX */
#define IO_EXIT_PORT_IMM 0x99u  /* l2.asm L2_IO_IMM_PORT: OUT imm8, AL */
#define IO_PASS_PORT    (COM1_PORT + 7) /* the UART scratch register: no exit */
#define IO_SCRATCH_L1   0x3c
#define IO_SCRATCH_L2   0xa5 /* l2.asm writes it */
#define IO_IN_VALUE     0xfeedf00dU
#define IO_OUT_VALUE    0x5a /* l2.asm writes it */

static void io_bitmap_set(uint16_t port)
{
    uint8_t *bm = port < IO_BITMAP_B_FIRST_PORT ? io_bitmap_a : io_bitmap_b;
    unsigned bit = port % IO_BITMAP_B_FIRST_PORT;
    bm[bit / 8] |= (uint8_t)(1u << (bit % 8));
}

static bool check_io_qual(const char *what, unsigned size, bool in, bool imm, uint16_t port)
{
    uint64_t q = qual();
    bool ok = QUAL_IO_SIZE(q) == size && !!(q & QUAL_IO_IN) == in &&
              !!(q & QUAL_IO_IMMEDIATE) == imm && !(q & (QUAL_IO_STRING | QUAL_IO_REP)) &&
              QUAL_IO_PORT(q) == port;
    return expect(ok, "%s: qualification %#lx, want size %u %s %s port %#x", what, q, size,
                  in ? "IN" : "OUT", imm ? "immediate" : "DX", port);
}

void case_io(void)
{
    if (!need_proc(PROC_USE_IO_BITMAPS, "use I/O bitmaps"))
        return;
    memset(io_bitmap_a, 0, PAGE_SIZE);
    memset(io_bitmap_b, 0, PAGE_SIZE);
    io_bitmap_set(IO_EXIT_PORT_A);
    io_bitmap_set(IO_EXIT_PORT_B);
    io_bitmap_set(IO_EXIT_PORT_IMM);
    TRY(vcpu_setup(V, l2_io));
    vmcs_clear_bits(VMCS_PROC_CONTROLS, PROC_UNCOND_IO_EXITING);
    vmcs_set_bits(VMCS_PROC_CONTROLS, PROC_USE_IO_BITMAPS);
    V->regs.rdx = IO_EXIT_PORT_A;
    V->regs.rsi = IO_EXIT_PORT_B;
    V->regs.rdi = IO_PASS_PORT;
    outb(IO_PASS_PORT, IO_SCRATCH_L1);

    TRY(run_expect(V, EXIT_IO_INSTRUCTION, "OUT DX (bitmap A)"));
    check_io_qual("OUT DX", 1, false, false, IO_EXIT_PORT_A);
    EXPECT((uint8_t)V->regs.rax == IO_OUT_VALUE, "OUT value %#lx", V->regs.rax);
    EXPECT(instr_len() == 1, "OUT DX length %lu", instr_len());
    vcpu_skip_instruction();

    TRY(run_expect(V, EXIT_IO_INSTRUCTION, "IN DX (bitmap B)"));
    check_io_qual("IN EAX, DX", 4, true, false, IO_EXIT_PORT_B);
    V->regs.rax = IO_IN_VALUE;
    vcpu_skip_instruction();

    TRY(run_expect(V, EXIT_IO_INSTRUCTION, "OUT imm8 (bitmap A)"));
    check_io_qual("OUT imm8", 1, false, true, IO_EXIT_PORT_IMM);
    EXPECT(instr_len() == 2, "OUT imm8 length %lu", instr_len());
    vcpu_skip_instruction();

    TRY(run_to_vmcall("after the I/O"));
    EXPECT(V->regs.r8 == IO_IN_VALUE, "L2's IN from bitmap-B port got %#lx", V->regs.r8);
    EXPECT(V->regs.r9 == IO_SCRATCH_L1,
           "L2's IN from port %#x (bit clear) got %#lx, want the %#x L1 left there", IO_PASS_PORT,
           V->regs.r9, IO_SCRATCH_L1);
    uint8_t now = inb(IO_PASS_PORT);
    EXPECT(now == IO_SCRATCH_L2, "L2's OUT to port %#x (bit clear) did not reach it: %#x",
           IO_PASS_PORT, now);
}

/* ---- MSR bitmaps (reasons 31, 32) ---- */
#define MSR_PASS_FS_BASE_GUEST 0x0000765432100000ULL
#define MSR_PASS_FS_BASE_WRITE 0x000012345678a000ULL
#define MSR_EXIT_WRITE_VALUE   0x00007fff12345000ULL
#define MSR_EMUL_SYSENTER_CS   0x000000015a5a0174ULL
#define MSR_EMUL_GS_BASE       0x000000020000abcdULL

static void msr_bitmap_set(uint32_t msr, bool write)
{
    unsigned base, bit;
    if (msr >= MSR_HIGH_RANGE_BASE) {
        base = write ? MSR_BITMAP_WRITE_HIGH : MSR_BITMAP_READ_HIGH;
        bit = msr - MSR_HIGH_RANGE_BASE;
    } else {
        base = write ? MSR_BITMAP_WRITE_LOW : MSR_BITMAP_READ_LOW;
        bit = msr;
    }
    msr_bitmap[base + bit / 8] |= (uint8_t)(1u << (bit % 8));
}

static void emulate_rdmsr(uint64_t value)
{
    V->regs.rax = (uint32_t)value;
    V->regs.rdx = value >> 32;
}

void case_msr(void)
{
    if (!need_proc(PROC_USE_MSR_BITMAPS, "use MSR bitmaps"))
        return;
    memset(msr_bitmap, 0, PAGE_SIZE);
    msr_bitmap_set(MSR_SYSENTER_CS, false);
    msr_bitmap_set(MSR_GS_BASE, false);
    msr_bitmap_set(MSR_KERNEL_GS_BASE, true);
    uint64_t l1_kgs = rdmsr(MSR_KERNEL_GS_BASE), l1_fs = rdmsr(MSR_FS_BASE);
    TRY(vcpu_setup(V, l2_msr));
    vmcs_set_bits(VMCS_PROC_CONTROLS, PROC_USE_MSR_BITMAPS);
    vmw(VMCS_GUEST_FS_BASE, MSR_PASS_FS_BASE_GUEST);
    V->regs.r12 = MSR_FS_BASE;
    V->regs.r13 = MSR_SYSENTER_CS;
    V->regs.r14 = MSR_GS_BASE;
    V->regs.r15 = MSR_KERNEL_GS_BASE;
    V->regs.rbx = MSR_EXIT_WRITE_VALUE;
    V->regs.rbp = MSR_FS_BASE;
    V->regs.rsi = MSR_PASS_FS_BASE_WRITE;

    TRY(exit_and_skip(EXIT_RDMSR, 2, "RDMSR SYSENTER_CS (read bit set)"));
    EXPECT(V->regs.rcx == MSR_SYSENTER_CS, "RDMSR exit with ECX %#lx", V->regs.rcx);
    emulate_rdmsr(MSR_EMUL_SYSENTER_CS);

    TRY(exit_and_skip(EXIT_RDMSR, 2, "RDMSR GS_BASE (high range, read bit set)"));
    EXPECT(V->regs.rcx == MSR_GS_BASE, "RDMSR exit with ECX %#lx", V->regs.rcx);
    emulate_rdmsr(MSR_EMUL_GS_BASE);

    TRY(exit_and_skip(EXIT_WRMSR, 2, "WRMSR KERNEL_GS_BASE (write bit set)"));
    EXPECT(V->regs.rcx == MSR_KERNEL_GS_BASE &&
               (((V->regs.rdx & 0xffffffff) << 32) | (uint32_t)V->regs.rax) ==
                   MSR_EXIT_WRITE_VALUE,
           "WRMSR exit with ECX %#lx EDX:EAX %#lx:%#lx", V->regs.rcx, V->regs.rdx, V->regs.rax);
    EXPECT(rdmsr(MSR_KERNEL_GS_BASE) == l1_kgs, "the exiting WRMSR changed the MSR");

    TRY(run_to_vmcall("after the MSR accesses"));
    EXPECT(V->regs.r8 == MSR_PASS_FS_BASE_GUEST,
           "RDMSR FS_BASE (bit clear) got %#lx, want the guest FS base %#llx", V->regs.r8,
           MSR_PASS_FS_BASE_GUEST);
    EXPECT(V->regs.r9 == MSR_EMUL_SYSENTER_CS, "L2 got SYSENTER_CS %#lx", V->regs.r9);
    EXPECT(V->regs.r10 == MSR_EMUL_GS_BASE, "L2 got GS_BASE %#lx", V->regs.r10);
    uint64_t fs = vmr(VMCS_GUEST_FS_BASE);
    EXPECT(fs == MSR_PASS_FS_BASE_WRITE, "guest FS base after L2's WRMSR (bit clear) %#lx", fs);
    EXPECT(rdmsr(MSR_FS_BASE) == l1_fs, "L1's FS base not restored on exit: %#lx",
           rdmsr(MSR_FS_BASE));
}

/* ---- CR0/CR4 guest/host masks and read shadows (reason 28) ---- */
void case_cr(void)
{
    TRY(vcpu_setup(V, l2_cr));
    uint64_t cr0 = vmr(VMCS_GUEST_CR0), cr4 = vmr(VMCS_GUEST_CR4);
    vmw(VMCS_CR0_GUEST_HOST_MASK, CR0_TS);
    vmw(VMCS_CR0_READ_SHADOW, (cr0 & ~CR0_TS) | CR0_TS); /* L2 believes TS = 1 */
    vmw(VMCS_CR4_GUEST_HOST_MASK, CR4_VMXE);
    vmw(VMCS_CR4_READ_SHADOW, cr4 & ~CR4_VMXE); /* L2 believes VMXE = 0 */

    TRY(exit_and_skip(EXIT_CR_ACCESS, 3, "MOV CR4 changing the masked VMXE"));
    uint64_t q = qual();
    EXPECT(QUAL_CR_NUMBER(q) == 4 && QUAL_CR_ACCESS_TYPE(q) == QUAL_CR_TYPE_MOV_TO &&
               QUAL_CR_GPR(q) == GPR_RBX,
           "MOV to CR4 qualification %#lx, want CR4, MOV to, RBX", q);
    EXPECT(vmr(VMCS_GUEST_CR4) == cr4, "guest CR4 changed to %#lx", vmr(VMCS_GUEST_CR4));

    TRY(exit_and_skip(EXIT_CR_ACCESS, 2, "CLTS with TS masked and shadow TS = 1"));
    q = qual();
    EXPECT(QUAL_CR_NUMBER(q) == 0 && QUAL_CR_ACCESS_TYPE(q) == QUAL_CR_TYPE_CLTS,
           "CLTS qualification %#lx, want CR0, CLTS", q);

    TRY(exit_and_skip(EXIT_CR_ACCESS, 3, "MOV CR0 clearing the masked TS"));
    q = qual();
    EXPECT(QUAL_CR_NUMBER(q) == 0 && QUAL_CR_ACCESS_TYPE(q) == QUAL_CR_TYPE_MOV_TO &&
               QUAL_CR_GPR(q) == GPR_RCX,
           "MOV to CR0 qualification %#lx, want CR0, MOV to, RCX", q);

    TRY(run_to_vmcall("after the CR accesses"));
    EXPECT(V->regs.r8 == (cr0 | CR0_TS), "L2 read CR0 %#lx, want %#lx (shadow TS)", V->regs.r8,
           (uint64_t)(cr0 | CR0_TS));
    EXPECT(V->regs.r9 == (cr4 & ~CR4_VMXE), "L2 read CR4 %#lx, want %#lx (shadow VMXE)",
           V->regs.r9, (uint64_t)(cr4 & ~CR4_VMXE));
    EXPECT(vmr(VMCS_GUEST_CR0) == cr0 && vmr(VMCS_GUEST_CR4) == cr4,
           "guest CR0/CR4 now %#lx/%#lx, want %#lx/%#lx (masked bits untouched)",
           vmr(VMCS_GUEST_CR0), vmr(VMCS_GUEST_CR4), cr0, cr4);
}

/* ---- exception bitmap (reason 0) ---- */
#define INTR_INFO_HW_EXCEPTION(vec) \
    (INTR_INFO_VALID | ((uint32_t)INTR_TYPE_HW_EXCEPTION << 8) | (vec))

/* L2's own handler took the exception (no exit): VMCALL from l2_exc_common. */
static bool delivered_in_l2(int vector, const char *what)
{
    if (!run_to_vmcall(what))
        return false;
    return expect(V->regs.r15 == L2_EXC_MARK && V->regs.r14 == (uint64_t)vector,
                  "%s: L2's handler did not run for vector %d (r15 %#lx r14 %lu)", what, vector,
                  V->regs.r15, V->regs.r14);
}

void case_exc_ud(void)
{
    TRY(vcpu_setup(V, l2_ud));
    vmw(VMCS_EXCEPTION_BITMAP, 1u << VEC_UD);
    TRY(run_expect(V, EXIT_EXCEPTION_NMI, "UD2 with bit 6 set"));
    EXPECT(intr_info() == INTR_INFO_HW_EXCEPTION(VEC_UD), "interruption info %#x, want %#x",
           intr_info(), INTR_INFO_HW_EXCEPTION(VEC_UD));
    EXPECT(guest_rip() == sym(l2_ud), "#UD exit at RIP %#lx, want %#lx (a fault)", guest_rip(),
           sym(l2_ud));
    vmw(VMCS_GUEST_RIP, sym(l2_ud) + 2); /* UD2 is 2 bytes */
    TRY(run_to_vmcall("after skipping UD2"));
    EXPECT(V->regs.r15 != L2_EXC_MARK, "L2's #UD handler ran too");

    /* Bit clear: L2's own IDT gets the #UD. */
    TRY(vcpu_setup(V, l2_ud));
    delivered_in_l2(VEC_UD, "UD2 with bit 6 clear");
}

/* #PF: with bit 14 set, a #PF exits iff (PFEC & mask) == match; with it
 * clear, iff they differ (26.2). L2 reads a not-present page: PFEC = 0. */
static void pf_config(bool bit14, uint32_t mask, uint32_t match, bool want_exit)
{
    char what[96];
    snprintf(what, sizeof what, "#PF bit14=%d mask %#x match %#x", bit14, mask, match);
    TRY(vcpu_setup(V, l2_read));
    V->regs.rbx = l2_unmapped_addr;
    vmw(VMCS_EXCEPTION_BITMAP, bit14 ? 1u << VEC_PF : 0);
    vmw(VMCS_PF_ERROR_MASK, mask);
    vmw(VMCS_PF_ERROR_MATCH, match);
    if (!want_exit) {
        if (delivered_in_l2(VEC_PF, what))
            expect(V->regs.r13 == 0 && V->regs.r12 == l2_unmapped_addr,
                   "%s: L2 saw error code %#lx CR2 %#lx", what, V->regs.r13, V->regs.r12);
        return;
    }
    TRY(run_expect(V, EXIT_EXCEPTION_NMI, what));
    uint32_t want = INTR_INFO_HW_EXCEPTION(VEC_PF) | INTR_INFO_ERROR_VALID;
    expect(intr_info() == want, "%s: interruption info %#x, want %#x", what, intr_info(), want);
    uint64_t ec = vmr(VMCS_EXIT_INTR_ERROR);
    expect(ec == 0, "%s: error code %#lx, want 0 (read, not present)", what, ec);
    expect(qual() == l2_unmapped_addr, "%s: qualification %#lx, want the address %#lx", what,
           qual(), l2_unmapped_addr);
}

void case_exc_pf(void)
{
    pf_config(true, PFEC_PRESENT, 0, true);
    pf_config(true, PFEC_PRESENT, PFEC_PRESENT, false);
    pf_config(false, PFEC_PRESENT, PFEC_PRESENT, true);
    pf_config(false, 0, 0, false);
}

/* ---- RDTSC: offsetting (no exit) and exiting (reason 16) ---- */
void case_tsc_offset(void)
{
    if (!need_proc(PROC_TSC_OFFSETTING, "TSC offsetting"))
        return;
    uint64_t now = rdtsc();
    const uint64_t offsets[] = {1ULL << 44, -(now / 2)};
    for (unsigned i = 0; i < ARRAY_SIZE(offsets); i++) {
        uint64_t off = offsets[i];
        TRY(vcpu_setup(V, l2_rdtsc));
        vmcs_set_bits(VMCS_PROC_CONTROLS, PROC_TSC_OFFSETTING);
        vmw(VMCS_TSC_OFFSET, off);
        uint64_t t0 = rdtsc();
        TRY(run_to_vmcall("RDTSC with offsetting"));
        uint64_t t1 = rdtsc();
        uint64_t l2 = V->regs.r8;
        EXPECT(l2 - off > t0 && l2 - off < t1,
               "offset %#lx: L2's RDTSC %#lx minus the offset is %#lx, not within L1's %#lx..%#lx",
               off, l2, l2 - off, t0, t1);
    }
}

#define RDTSC_EMULATED 0x0000123489abcdefULL

void case_rdtsc_exit(void)
{
    if (!need_proc(PROC_RDTSC_EXITING, "RDTSC exiting"))
        return;
    TRY(vcpu_setup(V, l2_rdtsc));
    vmcs_set_bits(VMCS_PROC_CONTROLS, PROC_RDTSC_EXITING);
    TRY(exit_and_skip(EXIT_RDTSC, 2, "RDTSC"));
    V->regs.rax = (uint32_t)RDTSC_EMULATED;
    V->regs.rdx = RDTSC_EMULATED >> 32;
    TRY(run_to_vmcall("after RDTSC"));
    EXPECT(V->regs.r8 == RDTSC_EMULATED, "L2 got %#lx", V->regs.r8);
}

/* ---- VMCALL (reason 18) ---- */
void case_vmcall(void)
{
    TRY(vcpu_setup(V, l2_vmcall));
    TRY(run_to_vmcall("VMCALL"));
    uint64_t rip = guest_rip();
    EXPECT(V->regs.r8 == 1 && V->regs.r9 == 0, "registers at the first VMCALL r8 %#lx r9 %#lx",
           V->regs.r8, V->regs.r9);
    EXPECT(instr_len() == 3, "VMCALL length %lu", instr_len());
    EXPECT(rip > sym(l2_vmcall) && rip < sym(l2_vmcall) + 16, "VMCALL at RIP %#lx", rip);
    vcpu_skip_instruction();
    TRY(run_to_vmcall("second VMCALL"));
    EXPECT(V->regs.r9 == 2 && guest_rip() > rip + 3,
           "after resuming past the first VMCALL: r9 %#lx, RIP %#lx", V->regs.r9, guest_rip());
}

/* ---- external interrupts (reason 1) ---- */
#define EXTINT_VECTOR     0x41
#define EXTINT_APIC_COUNT 1000u      /* LAPIC timer, divide by 16 */
#define SPIN_LONG         50000000ULL /* L2 spin iterations before it gives up */
#define WAIT_SPINS        100000u  /* pauses with IF = 1 for a pending interrupt */

static volatile unsigned extint_seen;
static volatile uint64_t extint_vector;

static void extint_handler(struct trap_frame *f)
{
    extint_seen++;
    extint_vector = f->vector;
    lapic_eoi();
}

static bool extint_offered(bool ack)
{
    if (!lapic_present()) {
        case_skip("no local APIC");
        return false;
    }
    if (!cap_pin(PIN_EXTINT_EXITING)) {
        case_skip("external-interrupt exiting not offered");
        return false;
    }
    if (ack && !cap_exit(EXIT_ACK_INTR_ON_EXIT)) {
        case_skip("acknowledge interrupt on exit not offered");
        return false;
    }
    return true;
}

/* L2 spins with RFLAGS.IF = guest_if while the LAPIC timer fires. With
 * external-interrupt exiting the interrupt exits whatever IF is (SDM 26.3
 * "event blocking": IF does not block external interrupts then). */
static void extint_run(bool ack, bool guest_if)
{
    char what[80];
    snprintf(what, sizeof what, "L2 (IF=%d) spinning while the LAPIC timer fires", guest_if);
    cli();
    pic_remap(); /* the BIOS left the 8259s at vector 8: move them away, all masked */
    lapic_enable();
    irq_set_handler(EXTINT_VECTOR, extint_handler);
    extint_seen = 0;
    TRY(vcpu_setup(V, l2_spin));
    V->regs.rcx = SPIN_LONG;
    vmcs_set_bits(VMCS_PIN_CONTROLS, PIN_EXTINT_EXITING);
    if (ack)
        vmcs_set_bits(VMCS_EXIT_CONTROLS, EXIT_ACK_INTR_ON_EXIT);
    if (guest_if)
        vmw(VMCS_GUEST_RFLAGS, RFLAGS_RESERVED_1 | RFLAGS_IF);
    lapic_timer_oneshot(EXTINT_VECTOR, EXTINT_APIC_COUNT);
    bool ok = run_expect(V, EXIT_EXTERNAL_INTERRUPT, what);
    uint32_t info = ok ? intr_info() : 0;
    if (ok)
        expect(V->regs.rcx != 0 && V->regs.rcx < SPIN_LONG,
               "%s: exit with RCX %#lx: not in the middle of the spin", what, V->regs.rcx);
    /* Now let L1 take whatever is pending. */
    sti();
    for (unsigned i = 0; i < WAIT_SPINS && !extint_seen; i++)
        pause();
    cli();
    irq_set_handler(EXTINT_VECTOR, NULL);
    if (!ok)
        return;
    if (ack) {
        uint32_t want = INTR_INFO_VALID | ((uint32_t)INTR_TYPE_EXTERNAL << 8) | EXTINT_VECTOR;
        expect(info == want, "%s: exit interruption info %#x, want %#x", what, info, want);
        expect(extint_seen == 0,
               "%s: the interrupt was acknowledged on exit but L1's handler still ran (%u)", what,
               extint_seen);
        lapic_eoi(); /* it is in service now */
    } else {
        expect(!(info & INTR_INFO_VALID), "%s: exit interruption info %#x valid without ack",
               what, info);
        expect(extint_seen == 1 && extint_vector == EXTINT_VECTOR,
               "%s: after STI L1's handler ran %u times (vector %#lx)", what, extint_seen,
               extint_vector);
    }
}

/* Bochs 2.7 misses the exit while L2 has IF = 0 (it recomputes interrupt
 * masking only when RFLAGS.IF changes, and VM entry from an L1 with IF = 0
 * into an L2 with IF = 0 changes nothing), so that variant runs only with
 * the `strict` option. */
void case_extint(void)
{
    if (!extint_offered(false))
        return;
    extint_run(false, true);
    if (opt_strict)
        extint_run(false, false);
}

void case_extint_ack(void)
{
    if (!extint_offered(true))
        return;
    extint_run(true, true);
    if (opt_strict)
        extint_run(true, false);
}

/* ---- VMX-preemption timer (reason 52) ---- */
#define PREEMPT_VALUE 1000u

void case_preempt(void)
{
    if (!cap_pin(PIN_PREEMPTION_TIMER)) {
        case_skip("VMX-preemption timer not offered");
        return;
    }
    TRY(vcpu_setup(V, l2_spin));
    V->regs.rcx = SPIN_LONG;
    vmcs_set_bits(VMCS_PIN_CONTROLS, PIN_PREEMPTION_TIMER);
    bool save = cap_exit(EXIT_SAVE_PREEMPT_TIMER);
    if (save)
        vmcs_set_bits(VMCS_EXIT_CONTROLS, EXIT_SAVE_PREEMPT_TIMER);
    vmw(VMCS_PREEMPTION_TIMER, PREEMPT_VALUE);
    uint64_t t0 = rdtsc();
    TRY(run_expect(V, EXIT_PREEMPTION_TIMER, "L2 spinning with the preemption timer armed"));
    uint64_t dt = rdtsc() - t0;
    uint64_t min = (uint64_t)PREEMPT_VALUE << VMX_MISC_PREEMPT_RATE(caps.misc);
    EXPECT(dt >= min, "timer expired after %lu TSC ticks, less than %u << %lu", dt, PREEMPT_VALUE,
           VMX_MISC_PREEMPT_RATE(caps.misc));
    if (save)
        EXPECT(vmr(VMCS_PREEMPTION_TIMER) == 0, "saved timer value %lu, want 0",
               vmr(VMCS_PREEMPTION_TIMER));
    if (cmdline_get("verbose"))
        printf("l1hv: preempt: %u << %lu expired after %lu TSC ticks\n", PREEMPT_VALUE,
               VMX_MISC_PREEMPT_RATE(caps.misc), dt);
}

/* ---- triple fault (reason 2) ---- */
void case_triple(void)
{
    TRY(vcpu_setup(V, l2_triple));
    run_expect(V, EXIT_TRIPLE_FAULT, "UD2 with an empty IDT");
}

/* ---- MOV DR exiting (reason 29) ---- */
#define DR7_EMULATED 0x455u
#define DR0_VALUE    0x1000u

void case_movdr(void)
{
    if (!need_proc(PROC_MOV_DR_EXITING, "MOV-DR exiting"))
        return;
    TRY(vcpu_setup(V, l2_movdr));
    vmcs_set_bits(VMCS_PROC_CONTROLS, PROC_MOV_DR_EXITING);
    V->regs.rbx = DR0_VALUE;
    TRY(exit_and_skip(EXIT_DR_ACCESS, 3, "MOV RAX, DR7"));
    uint64_t q = qual();
    EXPECT(QUAL_DR_NUMBER(q) == 7 && (q & QUAL_DR_FROM_DR) && QUAL_DR_GPR(q) == GPR_RAX,
           "MOV from DR7 qualification %#lx", q);
    V->regs.rax = DR7_EMULATED;
    TRY(exit_and_skip(EXIT_DR_ACCESS, 3, "MOV DR0, RBX"));
    q = qual();
    EXPECT(QUAL_DR_NUMBER(q) == 0 && !(q & QUAL_DR_FROM_DR) && QUAL_DR_GPR(q) == GPR_RBX,
           "MOV to DR0 qualification %#lx", q);
    TRY(run_to_vmcall("after MOV DR"));
    EXPECT(V->regs.r8 == DR7_EMULATED, "L2 read DR7 %#lx", V->regs.r8);
}

/* ---- INVLPG exiting (reason 14) ---- */
#define INVLPG_ADDR 0x12345678u

void case_invlpg(void)
{
    if (!need_proc(PROC_INVLPG_EXITING, "INVLPG exiting"))
        return;
    TRY(vcpu_setup(V, l2_invlpg));
    vmcs_set_bits(VMCS_PROC_CONTROLS, PROC_INVLPG_EXITING);
    V->regs.rbx = INVLPG_ADDR;
    TRY(exit_and_skip(EXIT_INVLPG, 3, "INVLPG"));
    EXPECT(qual() == INVLPG_ADDR, "qualification %#lx, want the linear address %#x", qual(),
           INVLPG_ADDR);
    run_to_vmcall("after INVLPG");
}

/* ---- RDPMC exiting (reason 15) ---- */
void case_rdpmc(void)
{
    if (!need_proc(PROC_RDPMC_EXITING, "RDPMC exiting"))
        return;
    TRY(vcpu_setup(V, l2_rdpmc));
    vmcs_set_bits(VMCS_PROC_CONTROLS, PROC_RDPMC_EXITING);
    TRY(exit_and_skip(EXIT_RDPMC, 2, "RDPMC"));
    EXPECT(V->regs.rcx == 0, "RDPMC exit with ECX %#lx", V->regs.rcx);
    run_to_vmcall("after RDPMC");
}

/* ---- RDTSCP (reason 51 with RDTSC exiting; #UD without "enable RDTSCP") ---- */
void case_rdtscp(void)
{
    if (!cpu_has_rdtscp || !cap_proc2(PROC2_RDTSCP) || !cap_proc(PROC_RDTSC_EXITING)) {
        case_skip("RDTSCP or \"enable RDTSCP\" not offered");
        return;
    }
    TRY(vcpu_setup(V, l2_rdtscp));
    vmcs_set_bits(VMCS_PROC_CONTROLS, PROC_RDTSC_EXITING);
    vmcs_enable_proc2(PROC2_RDTSCP);
    TRY(exit_and_skip(EXIT_RDTSCP, 3, "RDTSCP"));
    run_to_vmcall("after RDTSCP");

    /* "enable RDTSCP" = 0: RDTSCP is #UD in L2 (26.3). */
    TRY(vcpu_setup(V, l2_rdtscp));
    vmcs_set_bits(VMCS_PROC_CONTROLS, PROC_RDTSC_EXITING);
    delivered_in_l2(VEC_UD, "RDTSCP without \"enable RDTSCP\"");
}
