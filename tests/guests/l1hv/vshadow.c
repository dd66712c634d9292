/* vshadow: L1 gives its L2 VMCS shadowing (SDM Vol. 3C 25.10) and L2 runs
 * VMREAD/VMWRITE (ch. 31, "in VMX non-root operation"). L1 prepares a
 * shadow VMCS the way the SDM and KVM do it (bit 31 of the revision
 * dword, VMCLEAR, VMPTRLD, VMWRITE, VMPTRLD of the ordinary VMCS again),
 * links it from the ordinary VMCS (VMCS link pointer, 26.3.1.5) and gives
 * the VMREAD/VMWRITE bitmaps (25.6.15). Then:
 *   - fields whose bit is clear: no exit; VMREAD returns the shadow VMCS's
 *     value (16-bit, 32-bit, 64-bit with its high access, natural width,
 *     into a register or memory), VMWRITE lands in the shadow VMCS (L1
 *     reads it back after a VMPTRLD of the shadow VMCS), flags cleared;
 *   - a field whose bit is set, or an encoding with any of bits 63:15
 *     set: exit 23 (VMREAD) or 25 (VMWRITE) to L1 with the instruction's
 *     information (Table 28-13) and its displacement as qualification;
 *   - an unsupported encoding: VMfailValid(12) in L2, the error number in
 *     the ordinary VMCS (the current one, 31.2), not in the shadow VMCS;
 *     VMWRITE of a read-only field: error 13 unless IA32_VMX_MISC[29];
 *   - the link pointer all ones: VMfailInvalid in L2;
 *   - L1's changes to the shadow VMCS reach L2 at its next VMREAD.
 * bench_vshadow (not by default): L2 does VMREAD + VMWRITE of shadowed
 * fields in a loop; every exit it causes to L1 is counted.
 *
 * Bochs 2.7 deviates in one point, checked only with `strict` on bare
 * Bochs (README.md): VMLAUNCH/VMRESUME with a shadow VMCS current must be
 * VMfailInvalid (26.1); Bochs does not look at the shadow-VMCS indicator
 * there and goes on to the VM-entry checks. */
#include "l1hv.h"

#define ALIGNED_PAGE __attribute__((aligned(PAGE_SIZE)))
static uint8_t shadow_vmcs[PAGE_SIZE] ALIGNED_PAGE;
static uint8_t spare_vmcs[PAGE_SIZE] ALIGNED_PAGE; /* a shadow VMCS only made current */
static uint8_t vmread_bitmap[PAGE_SIZE] ALIGNED_PAGE;
static uint8_t vmwrite_bitmap[PAGE_SIZE] ALIGNED_PAGE;
static uint64_t operand_buf[2] __attribute__((aligned(16)));

/* l2_vmx_op's operations (vshadow_l2.asm). */
enum l2_op { OP_READ_REG, OP_WRITE_REG, OP_READ_MEM, OP_WRITE_MEM };
#define OP_DISP      16 /* VSHADOW_DISP in vshadow_l2.asm */
#define LEN_REG_FORM 3  /* 0F 78/79 C8 */
#define LEN_MEM_FORM 4  /* 0F 78/79 4B 10 */
#define VMCALL_LEN   3
#define BITS_PER_BYTE 8

/* What L1 puts in the shadow VMCS, one field of each width. */
#define SH_RIP        0xffffffff81234567ULL
#define SH_ES_SEL     0x2bULL
#define SH_INTR       0x8ULL /* blocking by NMI */
#define SH_TSC_OFFSET 0x1122334455667788ULL
/* What L2 writes there. */
#define L2_RSP_VALUE  0xffffc90000001230ULL
#define L2_CR3_VALUE  0x12345000ULL
#define L2_TSC_HIGH   0xcafe0000ULL
#define L2_RO_VALUE   0x5eedULL
/* What L1 changes between two entries. */
#define L1_NEW_RIP    0xffffffff8abcdef0ULL
/* Bit 12 of an encoding is reserved (24.11.2): no field on any CPU. */
#define NOT_A_FIELD   (VMCS_GUEST_CS_SEL | 0x1000u)
/* Encodings with bits above 14 set (the bitmaps cover bits 14:0). */
static const uint64_t high_encodings[] = {
    0x8000 | VMCS_GUEST_RIP, 1ULL << 32 | VMCS_GUEST_RIP, 1ULL << 63 | VMCS_GUEST_ES_SEL, ~0ULL,
};

#define BENCH_DEFAULT_LOOPS 10000
#define L2_VMX_OP_SIZE      64 /* l2_vmx_op's code: where its exits may be */

/* A check that returns false from a function returning bool. */
#define TRY_RET(check)         \
    do {                       \
        if (!(check))          \
            return false;      \
    } while (0)

static struct vcpu *const V = &vcpus[0];

static void bitmap_set(uint8_t *bitmap, uint32_t enc) { bitmap[enc / BITS_PER_BYTE] |= 1u << (enc % BITS_PER_BYTE); }

/* A shadow VMCS region (SDM 25.2, 25.10): zeroed, the revision with bit
 * 31, then VMCLEAR. */
static bool shadow_init(uint8_t *region, const char *what)
{
    memset(region, 0, PAGE_SIZE);
    *(uint32_t *)region = caps.revision | VMCS_REVISION_SHADOW;
    return expect_vmok(vmclear((uintptr_t)region), what);
}

/* L1 fills the shadow VMCS through VMPTRLD/VMWRITE, then makes V current
 * again, as KVM does. */
static bool shadow_fill(void)
{
    TRY_RET(shadow_init(shadow_vmcs, "VMCLEAR of the shadow VMCS"));
    if (!expect_vmok(vmptrld((uintptr_t)shadow_vmcs), "VMPTRLD of the shadow VMCS (shadowing offered)"))
        return false;
    vmx_setup_errors_reset();
    vmw(VMCS_GUEST_RIP, SH_RIP);
    vmw(VMCS_GUEST_ES_SEL, SH_ES_SEL);
    vmw(VMCS_GUEST_INTERRUPTIBILITY, SH_INTR);
    vmw(VMCS_TSC_OFFSET, SH_TSC_OFFSET);
    uint64_t bad;
    bool ok = expect(vmx_setup_errors(&bad) == 0, "VMWRITE into the shadow VMCS failed (field %#lx)", bad);
    return expect_vmok(vmptrld(vmcs_pa(V)), "VMPTRLD of the ordinary VMCS") && ok;
}

/* SDM 26.1: VMLAUNCH and VMRESUME with a shadow VMCS current fail
 * invalid (CF), before any other check. */
static void launch_with_shadow_current(void)
{
    if (!shadow_init(spare_vmcs, "VMCLEAR of a second shadow VMCS") ||
        !expect_vmok(vmptrld((uintptr_t)spare_vmcs), "VMPTRLD of the second shadow VMCS"))
        return;
    struct guest_regs regs;
    memset(&regs, 0, sizeof regs);
    static const char *const insn[] = {"VMLAUNCH", "VMRESUME"};
    for (int resume = 0; resume < 2; resume++) {
        int r = vmx_enter(&regs, resume);
        const char *got = vmx_outcome(r);
        printf("l1hv:   vshadow: %s with a shadow VMCS current: %s\n", insn[resume], got);
        if (nv_present || opt_strict)
            EXPECT(r == VMX_FAIL_INVALID, "%s with a shadow VMCS current: %s, want VMfailInvalid (26.1)",
                   insn[resume], got);
    }
    vmclear((uintptr_t)spare_vmcs);
}

/* V runs l2_vmx_op with shadowing on, the bitmaps and the link pointer. */
static bool shadow_vcpu(void)
{
    TRY_RET(vcpu_setup(V, l2_vmx_op));
    memset(vmread_bitmap, 0, PAGE_SIZE);
    memset(vmwrite_bitmap, 0, PAGE_SIZE);
    vmx_setup_errors_reset();
    vmcs_enable_proc2(PROC2_VMCS_SHADOWING);
    vmw(VMCS_VMREAD_BITMAP, (uintptr_t)vmread_bitmap);
    vmw(VMCS_VMWRITE_BITMAP, (uintptr_t)vmwrite_bitmap);
    vmw(VMCS_LINK_POINTER, (uintptr_t)shadow_vmcs);
    uint64_t bad;
    return expect(vmx_setup_errors(&bad) == 0, "shadowing set-up: VMWRITE of %#lx failed", bad);
}

/* ---- L2's operations ---- */

struct op_result {
    uint32_t exit;       /* the first exit: EXIT_VMCALL when the instruction did not exit */
    uint64_t rax, flags; /* RAX and RFLAGS after the instruction */
    uint64_t qual, info, len, rip, reason; /* a VMREAD/VMWRITE exit's */
};

static bool run_to_vmcall(const char *what)
{
    return run_expect(V, EXIT_VMCALL, what);
}

/* L2 executes one VMREAD/VMWRITE; if it exits, L1 looks at the exit and
 * skips the instruction. */
static bool l2_op(enum l2_op op, uint64_t enc, uint64_t rax, struct op_result *r, const char *what)
{
    V->regs.r12 = op;
    V->regs.rcx = enc;
    V->regs.rax = rax;
    V->regs.rbx = (uintptr_t)operand_buf - OP_DISP;
    memset(r, 0, sizeof *r);
    if (!expect(vcpu_run(V), "%s: %s", what, exit_describe(V)))
        return false;
    r->exit = V->reason & EXIT_REASON_BASIC_MASK;
    if (r->exit == EXIT_VMREAD || r->exit == EXIT_VMWRITE) {
        r->reason = V->reason;
        r->qual = vmr(VMCS_EXIT_QUALIFICATION);
        r->info = vmr(VMCS_EXIT_INSTR_INFO);
        r->len = vmr(VMCS_EXIT_INSTR_LEN);
        r->rip = vmr(VMCS_GUEST_RIP);
        vcpu_skip_instruction();
        if (!run_to_vmcall(what))
            return false;
    } else if (r->exit != EXIT_VMCALL) {
        return expect(false, "%s: %s", what, exit_describe(V));
    }
    r->rax = V->regs.rax;
    r->flags = V->regs.r11;
    vcpu_skip_instruction();
    return true;
}

/* Done in L2 with no exit and VMsucceed. */
static bool served(const struct op_result *r, const char *what)
{
    return expect(r->exit == EXIT_VMCALL, "%s: exit reason %u to L1 (the bitmap bit is clear)", what, r->exit) &&
           expect(!(r->flags & (RFLAGS_CF | RFLAGS_ZF)), "%s: RFLAGS %#lx, want VMsucceed", what, r->flags);
}

static bool shadow_read(enum l2_op op, uint64_t enc, uint64_t want, const char *what)
{
    struct op_result r;
    operand_buf[0] = ~0ULL;
    TRY_RET(l2_op(op, enc, ~0ULL, &r, what));
    TRY_RET(served(&r, what));
    uint64_t got = op == OP_READ_MEM ? operand_buf[0] : r.rax;
    return expect(got == want, "%s: L2 read %#lx, the shadow VMCS holds %#lx", what, got, want);
}

static bool shadow_write(enum l2_op op, uint64_t enc, uint64_t value, const char *what)
{
    struct op_result r;
    operand_buf[0] = value;
    TRY_RET(l2_op(op, enc, value, &r, what));
    return served(&r, what);
}

/* The instruction exited to L1 with the CPU's information about it. */
static void expect_exit(const struct op_result *r, enum l2_op op, const char *what)
{
    bool write = op == OP_WRITE_REG || op == OP_WRITE_MEM, mem = op == OP_READ_MEM || op == OP_WRITE_MEM;
    uint32_t want_reason = write ? EXIT_VMWRITE : EXIT_VMREAD;
    if (!expect(r->exit == want_reason, "%s: exit reason %u, want %u", what, r->exit, want_reason))
        return;
    uint32_t want_info = (uint32_t)GPR_RCX << VMRW_INFO_REG2_SHIFT;
    uint32_t defined = mem ? VMRW_INFO_MEM_DEFINED : VMRW_INFO_REG_DEFINED;
    if (mem)
        want_info |= VMRW_ADDR_SIZE_64 << VMRW_INFO_ADDR_SIZE_SHIFT | VMRW_SEG_DS << VMRW_INFO_SEG_SHIFT |
                     VMRW_INFO_NO_INDEX | (uint32_t)GPR_RBX << VMRW_INFO_BASE_SHIFT;
    else
        want_info |= VMRW_INFO_REG_FORM | (uint32_t)GPR_RAX << VMRW_INFO_REG1_SHIFT;
    EXPECT((r->info & defined) == want_info, "%s: instruction information %#lx, want %#x (bits %#x)", what,
           r->info, want_info, defined);
    EXPECT(r->qual == (mem ? OP_DISP : 0), "%s: qualification %#lx, want the displacement %#x", what, r->qual,
           mem ? OP_DISP : 0);
    EXPECT(r->len == (mem ? LEN_MEM_FORM : LEN_REG_FORM), "%s: instruction length %lu", what, r->len);
    EXPECT(r->rip >= (uintptr_t)l2_vmx_op && r->rip < (uintptr_t)l2_vmx_op + L2_VMX_OP_SIZE,
           "%s: exit RIP %#lx outside l2_vmx_op", what, r->rip);
}

static bool l2_exits(enum l2_op op, uint64_t enc, const char *what)
{
    struct op_result r;
    TRY_RET(l2_op(op, enc, 0, &r, what));
    expect_exit(&r, op, what);
    return true;
}

/* L1 reads a field of the shadow VMCS (VMPTRLD it, VMREAD, VMPTRLD V). */
static uint64_t shadow_field(uint64_t enc)
{
    uint64_t v = 0;
    if (!expect_vmok(vmptrld((uintptr_t)shadow_vmcs), "VMPTRLD of the shadow VMCS"))
        return 0;
    expect_vmok(vmread_r(enc, &v), "L1's VMREAD of the shadow VMCS");
    expect_vmok(vmptrld(vmcs_pa(V)), "VMPTRLD of the ordinary VMCS");
    return v;
}

/* ---- the case ---- */

static bool offered(void)
{
    if (cap_proc2(PROC2_VMCS_SHADOWING))
        return true;
    case_skip("VMCS shadowing not offered (IA32_VMX_PROCBASED_CTLS2 allowed-1 %#x)", ctl_may1(caps.proc2));
    return false;
}

/* Fields with their bit clear: served from the shadow VMCS. */
static void shadowed_accesses(void)
{
    shadow_read(OP_READ_REG, VMCS_GUEST_RIP, SH_RIP, "VMREAD of guest RIP (natural width)");
    shadow_read(OP_READ_REG, VMCS_GUEST_ES_SEL, SH_ES_SEL, "VMREAD of guest ES selector (16 bits)");
    shadow_read(OP_READ_REG, VMCS_GUEST_INTERRUPTIBILITY, SH_INTR, "VMREAD of guest interruptibility (32 bits)");
    shadow_read(OP_READ_REG, VMCS_TSC_OFFSET, SH_TSC_OFFSET, "VMREAD of the TSC offset (64 bits)");
    shadow_read(OP_READ_REG, VMCS_TSC_OFFSET | 1, SH_TSC_OFFSET >> 32, "VMREAD of the TSC offset's high half");
    shadow_read(OP_READ_MEM, VMCS_GUEST_ES_SEL, SH_ES_SEL, "VMREAD of guest ES selector into memory (8 bytes)");
    shadow_write(OP_WRITE_REG, VMCS_GUEST_RSP, L2_RSP_VALUE, "VMWRITE of guest RSP");
    shadow_write(OP_WRITE_MEM, VMCS_GUEST_CR3, L2_CR3_VALUE, "VMWRITE of guest CR3 from memory");
    shadow_write(OP_WRITE_REG, VMCS_TSC_OFFSET | 1, L2_TSC_HIGH, "VMWRITE of the TSC offset's high half");
    shadow_read(OP_READ_REG, VMCS_GUEST_RSP, L2_RSP_VALUE, "VMREAD of what L2 wrote");
    /* In the shadow VMCS, not in the ordinary one. */
    EXPECT(vmr(VMCS_GUEST_CR3) == l2_cr3, "the ordinary VMCS's guest CR3 became %#lx", vmr(VMCS_GUEST_CR3));
    EXPECT(shadow_field(VMCS_GUEST_RSP) == L2_RSP_VALUE, "L1 reads guest RSP %#lx from the shadow VMCS",
           shadow_field(VMCS_GUEST_RSP));
    EXPECT(shadow_field(VMCS_GUEST_CR3) == L2_CR3_VALUE, "L1 reads guest CR3 %#lx from the shadow VMCS",
           shadow_field(VMCS_GUEST_CR3));
    uint64_t tsc = L2_TSC_HIGH << 32 | (uint32_t)SH_TSC_OFFSET;
    EXPECT(shadow_field(VMCS_TSC_OFFSET) == tsc, "L1 reads TSC offset %#lx from the shadow VMCS, want %#lx",
           shadow_field(VMCS_TSC_OFFSET), tsc);
}

/* Bitmap bits set, encodings above bit 14: exits to L1. */
static void exiting_accesses(void)
{
    bitmap_set(vmread_bitmap, VMCS_CR0_READ_SHADOW);
    bitmap_set(vmwrite_bitmap, VMCS_CR4_READ_SHADOW);
    l2_exits(OP_READ_REG, VMCS_CR0_READ_SHADOW, "VMREAD of a field set in the VMREAD bitmap");
    l2_exits(OP_READ_MEM, VMCS_CR0_READ_SHADOW, "VMREAD into memory of a field set in the VMREAD bitmap");
    l2_exits(OP_WRITE_REG, VMCS_CR4_READ_SHADOW, "VMWRITE of a field set in the VMWRITE bitmap");
    l2_exits(OP_WRITE_MEM, VMCS_CR4_READ_SHADOW, "VMWRITE from memory of a field set in the VMWRITE bitmap");
    /* Each bitmap governs its own instruction only. */
    shadow_write(OP_WRITE_REG, VMCS_CR0_READ_SHADOW, 0, "VMWRITE of a field set only in the VMREAD bitmap");
    shadow_read(OP_READ_REG, VMCS_CR4_READ_SHADOW, 0, "VMREAD of a field set only in the VMWRITE bitmap");
    for (unsigned i = 0; i < ARRAY_SIZE(high_encodings); i++) {
        char what[96];
        snprintf(what, sizeof what, "VMREAD of encoding %#lx", high_encodings[i]);
        l2_exits(OP_READ_REG, high_encodings[i], what);
        snprintf(what, sizeof what, "VMWRITE of encoding %#lx", high_encodings[i]);
        l2_exits(OP_WRITE_REG, high_encodings[i], what);
    }
}

/* VMfail in L2: the error in the current (ordinary) VMCS, 31.2. */
static void failing_accesses(void)
{
    struct op_result r;
    TRY(l2_op(OP_READ_REG, NOT_A_FIELD, 0x77, &r, "VMREAD of a reserved encoding"));
    if (expect(r.exit == EXIT_VMCALL, "VMREAD of a reserved encoding: exit %u", r.exit)) {
        EXPECT((r.flags & (RFLAGS_CF | RFLAGS_ZF)) == RFLAGS_ZF, "VMREAD of a reserved encoding: RFLAGS %#lx, "
               "want VMfailValid", r.flags);
        EXPECT(r.rax == 0x77, "VMREAD of a reserved encoding changed RAX to %#lx", r.rax);
        uint32_t err = vmx_instruction_error();
        EXPECT(err == VMXERR_UNSUPPORTED_FIELD, "the ordinary VMCS has VM-instruction error %u, want 12", err);
        EXPECT(shadow_field(VMCS_VM_INSTRUCTION_ERROR) == 0, "the shadow VMCS got VM-instruction error %lu",
               shadow_field(VMCS_VM_INSTRUCTION_ERROR));
    }
    /* A read-only field: written with IA32_VMX_MISC[29], else error 13. */
    bool any = caps.misc & VMX_MISC_VMWRITE_ANY;
    TRY(l2_op(OP_WRITE_REG, VMCS_EXIT_QUALIFICATION, L2_RO_VALUE, &r, "VMWRITE of the exit qualification"));
    if (!expect(r.exit == EXIT_VMCALL, "VMWRITE of the exit qualification: exit %u", r.exit))
        return;
    if (any) {
        EXPECT(!(r.flags & (RFLAGS_CF | RFLAGS_ZF)), "VMWRITE of a read-only field with MISC[29]: RFLAGS %#lx",
               r.flags);
        EXPECT(shadow_field(VMCS_EXIT_QUALIFICATION) == L2_RO_VALUE, "the shadow VMCS's exit qualification is "
               "%#lx", shadow_field(VMCS_EXIT_QUALIFICATION));
    } else {
        EXPECT((r.flags & (RFLAGS_CF | RFLAGS_ZF)) == RFLAGS_ZF, "VMWRITE of a read-only field: RFLAGS %#lx",
               r.flags);
        uint32_t err = vmx_instruction_error();
        EXPECT(err == VMXERR_VMWRITE_READONLY, "VM-instruction error %u, want 13", err);
    }
}

/* L1 changes the shadow VMCS between two entries: L2 sees it. */
static void l1_changes_reach_l2(void)
{
    TRY(expect_vmok(vmptrld((uintptr_t)shadow_vmcs), "VMPTRLD of the shadow VMCS"));
    int r = vmwrite_r(VMCS_GUEST_RIP, L1_NEW_RIP);
    TRY(expect_vmok(vmptrld(vmcs_pa(V)), "VMPTRLD of the ordinary VMCS"));
    TRY(expect_vmok(r, "L1's VMWRITE into the shadow VMCS"));
    shadow_read(OP_READ_REG, VMCS_GUEST_RIP, L1_NEW_RIP, "VMREAD after L1 changed the field");
}

/* "VMCS shadowing" with the link pointer all ones: VMfailInvalid. */
static void no_link_pointer(void)
{
    vmw(VMCS_LINK_POINTER, VMCS_LINK_POINTER_NONE);
    static const enum l2_op ops[] = {OP_READ_REG, OP_WRITE_REG};
    for (unsigned i = 0; i < ARRAY_SIZE(ops); i++) {
        struct op_result r;
        const char *what = ops[i] == OP_READ_REG ? "VMREAD without a link pointer" : "VMWRITE without a link pointer";
        TRY(l2_op(ops[i], VMCS_GUEST_RIP, 0x99, &r, what));
        if (expect(r.exit == EXIT_VMCALL, "%s: exit %u", what, r.exit))
            EXPECT((r.flags & (RFLAGS_CF | RFLAGS_ZF)) == RFLAGS_CF, "%s: RFLAGS %#lx, want VMfailInvalid", what,
                   r.flags);
    }
    vmw(VMCS_LINK_POINTER, (uintptr_t)shadow_vmcs);
}

void case_vshadow(void)
{
    if (!offered())
        return;
    launch_with_shadow_current();
    TRY(shadow_vcpu());
    TRY(shadow_fill());
    shadowed_accesses();
    exiting_accesses();
    failing_accesses();
    l1_changes_reach_l2();
    no_link_pointer();
}

/* ---- bench_vshadow ----
 * L2 runs `loops=N` rounds of VMREAD + VMWRITE of two shadowed fields
 * (guest RIP read, guest RSP written) between two RDTSCs; L1 counts every
 * exit they cause (the goal is none) and, were there any, completes them
 * with VMsucceed as its own emulation would:
 *   BENCH l1hv.vshadow.vmrw_insns <ticks per VMREAD or VMWRITE as L2 sees it>
 *   BENCHDATA l1hv.vshadow accesses <2N> l1_exits <n>
 * and under nestvisor (NV_HC_STATS_RESET before, NV_HC_EXIT_STATS after):
 *   BENCHDATA l1hv.vshadow.level<L> vmread.exits .. vmread.ticks .. vmwrite.exits .. vmwrite.ticks ..
 * (level 1: done by L0 for L2, level 2: reflected to L1). */
static const uint32_t bench_reasons[] = {EXIT_VMREAD, EXIT_VMWRITE};
static const char *const bench_names[] = {"vmread", "vmwrite"};

void case_bench_vshadow(void)
{
    if (!offered())
        return;
    uint64_t n = cmdline_u64("loops", BENCH_DEFAULT_LOOPS);
    if (!n)
        n = 1;
    TRY(shadow_vcpu());
    TRY(shadow_fill());
    l2_restart(V, l2_vshadow_bench);
    V->regs.r12 = VMCS_GUEST_RIP;
    V->regs.r13 = VMCS_GUEST_RSP;
    V->regs.r14 = n;
    printf("l1hv: bench_vshadow: %lu rounds of VMREAD + VMWRITE in L2, nestvisor %s\n", n,
           nv_present ? "present" : "absent");
    console_flush();
    bool stats = nv_present && nv_hypercall(NV_HC_STATS_RESET, NULL, NULL, 0) == NV_OK;
    uint64_t l1_exits = 0;
    bool ran;
    while ((ran = vcpu_run(V))) {
        uint32_t reason = V->reason & EXIT_REASON_BASIC_MASK;
        if (reason != EXIT_VMREAD && reason != EXIT_VMWRITE)
            break;
        l1_exits++;
        vmw(VMCS_GUEST_RFLAGS, vmr(VMCS_GUEST_RFLAGS) & ~(RFLAGS_CF | RFLAGS_ZF));
        vcpu_skip_instruction();
    }
    struct {
        uint64_t count, ticks;
    } st[NV_LEVEL_COUNT][ARRAY_SIZE(bench_reasons)];
    memset(st, 0, sizeof st);
    if (stats)
        for (unsigned lv = 0; lv < NV_LEVEL_COUNT; lv++)
            for (unsigned i = 0; i < ARRAY_SIZE(bench_reasons); i++)
                if (!nv_exit_stats(bench_reasons[i], lv, &st[lv][i].count, &st[lv][i].ticks))
                    stats = false;
    if (!expect(ran && (V->reason & EXIT_REASON_BASIC_MASK) == EXIT_VMCALL, "the loop ended with %s",
                exit_describe(V)))
        return;
    EXPECT(V->regs.r9 == 0, "%lu of L2's VMREAD/VMWRITE failed", V->regs.r9);
    uint64_t accesses = 2 * n, hundredths = (V->regs.r8 * 100 + accesses / 2) / accesses;
    printf("BENCH l1hv.vshadow.vmrw_insns %lu.%02lu\n", hundredths / 100, hundredths % 100);
    printf("BENCHDATA l1hv.vshadow accesses %lu l1_exits %lu\n", accesses, l1_exits);
    if (!nv_present)
        return;
    TRY(expect(stats, "NV_HC_STATS_RESET/NV_HC_EXIT_STATS failed"));
    for (unsigned lv = 0; lv < NV_LEVEL_COUNT; lv++) {
        char line[300];
        int len = snprintf(line, sizeof line, "BENCHDATA l1hv.vshadow.level%u", lv);
        for (unsigned i = 0; i < ARRAY_SIZE(bench_reasons); i++)
            len += snprintf(line + len, sizeof line - (size_t)len, " %s.exits %lu %s.ticks %lu", bench_names[i],
                            st[lv][i].count, bench_names[i], st[lv][i].ticks);
        printf("%s\n", line);
    }
}
