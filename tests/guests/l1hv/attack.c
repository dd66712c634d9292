/* The attack suite: L1 (and its L2s) trying to read or write nestvisor's
 * memory or to take the machine down, each attack checked against the
 * architecture and watched by an independent witness (l0.c: nestvisor's
 * canary page through NV_HC_CANARY, its own exit counters through
 * NV_HC_EXIT_STATS). Every case prints "l1hv: attack_X: contained (...)"
 * or "... ESCAPED: ..." and its PASS/FAIL verdict. Only run when named in
 * cases= (README.md, "The attack suite"); the cases that aim at
 * nestvisor's memory are skipped without nestvisor, the architectural ones
 * also run on bare VT-x.
 *
 * Where nestvisor maps its memory onto the sink, the "hardware" an attack
 * is compared with is a machine whose memory there is that one page:
 * loads read it, stores land in it. */
#include "l1hv.h"

static struct vcpu *const V = &vcpus[0];
static struct vcpu *const W = &vcpus[1];

/* L2 guest-physical windows where L1 has no RAM (as in ept_cases.c). */
#define WIN_4K      ((uint64_t)0x40000000) /* 1 GiB */
#define WIN_PAGE(n) (WIN_4K + (uint64_t)(n) * PAGE_SIZE)
#define WIN_2M(n)   ((uint64_t)0x80000000 + (uint64_t)(n) * PAGE_2M) /* 2 GiB */
#define WIN_1G      ((uint64_t)0xc0000000)                    /* 3 GiB */

#define DATA_PAGES 8
static volatile uint64_t pages[DATA_PAGES][PAGE_SIZE / 8] __attribute__((aligned(PAGE_SIZE)));
#define PAGE_PA(i) ((uint64_t)(uintptr_t)pages[i])

#define OFF_A 0x238
#define OFF_B 0x5c8
#define OFF_C 0x840
#define ALL_ONES (~0ULL)
#define GIB ((uint64_t)1 << 30)
#define TIB ((uint64_t)1 << 40)
#define APIC_MMIO ((uint64_t)0xfee00000)
#define POOL_MSG "EPT12 table pool exhausted"
#define RFLAGS_TF (1ULL << 8)
#define MSR_KERNEL_GS 0xc0000102u
#define MSR_SMBASE 0x9eu
#define MSR_SMM_MONITOR_CTL 0x9bu
#define MSR_X2APIC_ID 0x802u
#define MSR_X2APIC_TPR 0x808u
#define MSR_X2APIC_ICR 0x830u
#define ICR_INIT_ALL_BUT_SELF 0xc4500ULL
#define ENTRY_FAIL_QUAL_LINK 4 /* SDM 27.8: VMCS link pointer */

static uint64_t pattern(unsigned page, uint64_t off)
{
    return 0xa77ac0000000000ULL ^ ((uint64_t)page << 40) ^ off;
}

static void fill_pages(void)
{
    for (unsigned p = 0; p < DATA_PAGES; p++)
        for (unsigned i = 0; i < PAGE_SIZE / 8; i++)
            pages[p][i] = pattern(p, i * 8);
}

static const struct l0_view *need_l0(void)
{
    const struct l0_view *l0 = l0_view();
    if (!l0)
        case_skip("needs nestvisor (NV_HC_L0_MEMORY, NV_HC_CANARY): its memory is the target");
    return l0;
}

static bool ept_begin(struct ept *e)
{
    if (!ept_offered())
        return false;
    ept_pool_reset();
    return expect(ept_init(e, 0) && ept_identity(e), "%s for the identity map", POOL_MSG);
}

static bool have_1g(void)
{
    return (caps.ept_vpid & EPT_CAP_1G_PAGE) != 0;
}

static int invept_all(void)
{
    struct inv_desc d = {0, 0};
    if (caps.ept_vpid & EPT_CAP_INVEPT_ALL)
        return invept(INVEPT_ALL_CONTEXT, &d);
    return -1;
}

static uint64_t current_vmcs(void)
{
    uint64_t p = 0;
    vmptrst(&p);
    return p;
}

/* ---- outcomes of a VM entry ---- */
#define OUT_VMFAIL(e)      (1000u + (e))
#define OUT_VMFAIL_INVALID 999u
#define OUT_ENTRY_FAIL(r)  (2000u + (r))
#define OUT_VMSUCCEED      3000u
static uint64_t out_qual;

/* VMLAUNCH (launch) or VMRESUME of v; the exit reason, or one of OUT_*. */
static unsigned enter(struct vcpu *v, bool launch)
{
    if (launch)
        v->launched = false;
    vcpu_run(v);
    out_qual = 0;
    if (v->entry_result == VMX_FAIL_VALID)
        return OUT_VMFAIL(v->entry_error);
    if (v->entry_result == VMX_FAIL_INVALID)
        return OUT_VMFAIL_INVALID;
    out_qual = vmr(VMCS_EXIT_QUALIFICATION);
    if (v->reason & EXIT_REASON_ENTRY_FAILURE)
        return OUT_ENTRY_FAIL(v->reason & EXIT_REASON_BASIC_MASK);
    return v->reason & EXIT_REASON_BASIC_MASK;
}

static const char *out_name_q(unsigned o, bool with_qual)
{
    static char bufs[4][64];
    static unsigned next;
    char *b = bufs[next++ % 4];
    if (o >= OUT_ENTRY_FAIL(0) && o < OUT_VMSUCCEED && !with_qual)
        snprintf(b, sizeof bufs[0], "VM-entry failure %u", o - 2000);
    else if (o == OUT_VMSUCCEED)
        snprintf(b, sizeof bufs[0], "VMsucceed");
    else if (o == OUT_VMFAIL_INVALID)
        snprintf(b, sizeof bufs[0], "VMfailInvalid");
    else if (o >= OUT_ENTRY_FAIL(0) && o < OUT_VMSUCCEED)
        snprintf(b, sizeof bufs[0], "VM-entry failure %u (qualification %#lx)", o - 2000, out_qual);
    else if (o >= OUT_VMFAIL(0))
        snprintf(b, sizeof bufs[0], "VMfailValid(%u)", o - 1000);
    else
        snprintf(b, sizeof bufs[0], "VM exit %u", o);
    return b;
}

static const char *out_name(unsigned o)
{
    return out_name_q(o, true);
}

/* o is one of the n allowed outcomes (0-terminated list). */
static bool out_ok(unsigned o, const unsigned *allowed)
{
    for (; *allowed; allowed++)
        if (o == *allowed)
            return true;
    return false;
}
#define ALLOW(...) ((const unsigned[]){__VA_ARGS__, 0})

/* Prints and checks one attempt. */
static bool report(const char *what, unsigned o, const unsigned *allowed, const char *want)
{
    if (!allowed) { /* any outcome: only print it */
        printf("l1hv:   %s: %s\n", what, out_name(o));
        return true;
    }
    bool ok = out_ok(o, allowed);
    printf("l1hv:   %s: %s%s\n", what, out_name(o), ok ? "" : " <- unexpected");
    return expect(ok, "%s: %s, want %s", what, out_name(o), want);
}

/* ==== 1. attack_stale_step (issue 10, reproduction 1) ====
 * EPT12 maps L2 page A onto the canary page and leaves B unmapped; L2 runs
 * one MOVSQ from A to B; the write to B is an EPT violation for L1. L1 then
 * executes INVEPT all-context, writes a fake page-table chain from its own
 * page 0 down to the canary and reads nestvisor's memory through it. With
 * the old single-step scratch page this zeroed 8 bytes of nestvisor's
 * memory, leaked L2's TF into L1's view of L2's RFLAGS and restored one
 * VMCS's exception bitmap into another. Now: the read sees the sink, the
 * write lands in it, nothing else changes. */
#define CHAIN_PAGES 4
static uint8_t page0_saved[CHAIN_PAGES * PAGE_SIZE];
#define PTE_P  1ULL
#define PTE_W  2ULL
#define FAKE_VA (2ULL << 39) /* PML4 entry 2: 1 TiB */

void case_attack_stale_step(void)
{
    const struct l0_view *l0 = need_l0();
    if (!l0)
        return;
    struct ept e;
    TRY(ept_begin(&e));
    struct witness w;
    witness_begin(&w);
    TRY(expect(ept_map(&e, WIN_PAGE(0), l0->canary, PAGE_SIZE, EPT_RWX) != NULL, POOL_MSG));
    uint64_t *b = ept_entry(&e, WIN_PAGE(1), EPT_LEVEL_PT);
    TRY(expect(b != NULL, POOL_MSG));
    *b = 0; /* B: not present */
    TRY(ept_vcpu_setup(V, l2_movsq, &e));
    const uint32_t bitmap_v = (1u << VEC_AC) | (1u << VEC_BR);
    const uint32_t bitmap_w = 1u << VEC_NM;
    vmw(VMCS_EXCEPTION_BITMAP, bitmap_v);
    V->regs.rsi = WIN_PAGE(0) + OFF_A;
    V->regs.rdi = WIN_PAGE(1) + OFF_B;
    TRY(run_expect(V, EXIT_EPT_VIOLATION, "L2's MOVSQ from the canary page to an unmapped page"));
    uint64_t q = vmr(VMCS_EXIT_QUALIFICATION), gpa = vmr(VMCS_GUEST_PHYSICAL_ADDR);
    uint64_t rflags = vmr(VMCS_GUEST_RFLAGS), rip = vmr(VMCS_GUEST_RIP);
    uint64_t bm = vmr(VMCS_EXCEPTION_BITMAP);
    printf("l1hv: attack_stale_step: MOVSQ L2 %#lx (L1 %#lx, canary) -> L2 %#lx (unmapped): exit 48, "
           "qualification %#lx, guest-physical %#lx, RIP %#lx, L2 RFLAGS %#lx, exception bitmap %#lx "
           "(wrote %#x)\n", WIN_PAGE(0) + OFF_A, l0->canary + OFF_A, WIN_PAGE(1) + OFF_B, q, gpa, rip,
           rflags, bm, bitmap_v);
    EXPECT(q == ept_violation_qual(QUAL_EPT_WRITE, 0), "qualification %#lx, want %#lx (a write, not present)",
           q, ept_violation_qual(QUAL_EPT_WRITE, 0));
    EXPECT(gpa == WIN_PAGE(1) + OFF_B, "guest-physical address %#lx, want %#lx", gpa, WIN_PAGE(1) + OFF_B);
    EXPECT(rip == (uintptr_t)l2_movsq, "RIP %#lx, want the MOVSQ at %#lx", rip, (uintptr_t)l2_movsq);
    EXPECT(!(rflags & RFLAGS_TF), "L2's RFLAGS as L1 sees it has TF set: %#lx", rflags);
    EXPECT(bm == bitmap_v, "the exception bitmap reads %#lx, L1 wrote %#x", bm, bitmap_v);

    /* INVEPT all-context, then the fake chain at L1's pages 0-3. */
    int r = invept_all();
    if (r < 0)
        r = ept_invalidate(e.eptp);
    EXPECT(r == VMX_OK, "INVEPT after the violation: %s", vmx_outcome(r));
    uint64_t sink_a = sink_read(OFF_A);
    sink_write(OFF_C, 0);
    uintptr_t page0 = 0;
    __asm__("" : "+r"(page0)); /* physical page 0 is L1's RAM here, not a null pointer */
    memcpy(page0_saved, (const void *)page0, sizeof page0_saved);
    uint64_t *pml4 = (uint64_t *)page0, *pdpt = (uint64_t *)(page0 + 0x1000),
             *pd = (uint64_t *)(page0 + 0x2000), *pt = (uint64_t *)(page0 + 0x3000);
    const uint64_t *cur = (const uint64_t *)(uintptr_t)(read_cr3() & ~0xfffULL);
    memset((void *)page0, 0, CHAIN_PAGES * PAGE_SIZE);
    pml4[0] = cur[0];
    pml4[1] = cur[1];
    pml4[2] = 0x1000 | PTE_P | PTE_W;
    pdpt[0] = 0x2000 | PTE_P | PTE_W;
    pd[0] = 0x3000 | PTE_P | PTE_W;
    pt[0] = l0->canary | PTE_P | PTE_W;
    pt[1] = l0->other | PTE_P | PTE_W;
    const uint64_t fake_value = 0xfa4e0c4a1ee57ab1ULL;
    uint64_t cr3 = read_cr3();
    write_cr3(page0);
    volatile uint64_t *fake = (volatile uint64_t *)(uintptr_t)FAKE_VA;
    uint64_t got_a = fake[OFF_A / 8], got_other = fake[(PAGE_SIZE + OFF_A) / 8];
    fake[OFF_C / 8] = fake_value;
    write_cr3(cr3);
    memcpy((void *)page0, page0_saved, sizeof page0_saved);
    uint64_t landed = *(volatile uint64_t *)phys_window(l0->top + OFF_C, PHYS_SLOT_SINK + 1);
    printf("l1hv: attack_stale_step: through a page-table chain at L1 0x0-0x3fff: the canary page reads "
           "%#lx at %#x, another nestvisor page %#lx (the sink holds %#lx); the write of %#lx there reads "
           "%#lx beyond RAM\n", got_a, OFF_A, got_other, sink_a, fake_value, landed);
    EXPECT(got_a == sink_a && got_other == sink_a,
           "reads through the chain gave %#lx / %#lx, want the sink's %#lx", got_a, got_other, sink_a);
    EXPECT(landed == fake_value, "the write through the chain is not in the sink: %#lx beyond RAM", landed);

    /* L2's MOVSQ completes once B is mapped (no TF left behind). */
    TRY(expect(ept_map(&e, WIN_PAGE(1), PAGE_PA(0), PAGE_SIZE, EPT_RWX) != NULL, POOL_MSG));
    pages[0][OFF_B / 8] = 0;
    TRY(run_expect(V, EXIT_VMCALL, "L2's MOVSQ once B is mapped"));
    rflags = vmr(VMCS_GUEST_RFLAGS);
    uint64_t copied = pages[0][OFF_B / 8];
    printf("l1hv: attack_stale_step: the MOVSQ completed: copied %#lx (sink %#lx), RFLAGS %#lx, exception "
           "bitmap %#lx\n", copied, sink_read(OFF_A), rflags, vmr(VMCS_EXCEPTION_BITMAP));
    EXPECT(copied == sink_read(OFF_A), "MOVSQ copied %#lx, the sink holds %#lx", copied, sink_read(OFF_A));
    EXPECT(!(rflags & RFLAGS_TF), "L2's RFLAGS has TF after the MOVSQ: %#lx", rflags);
    EXPECT(vmr(VMCS_EXCEPTION_BITMAP) == bitmap_v, "exception bitmap %#lx, want %#x",
           vmr(VMCS_EXCEPTION_BITMAP), bitmap_v);

    /* Another VMCS keeps its own exception bitmap. */
    TRY(vcpu_setup(W, l2_vmcall));
    vmw(VMCS_EXCEPTION_BITMAP, bitmap_w);
    TRY(run_expect(W, EXIT_VMCALL, "the other VMCS"));
    bm = vmr(VMCS_EXCEPTION_BITMAP);
    EXPECT(bm == bitmap_w && !(vmr(VMCS_GUEST_RFLAGS) & RFLAGS_TF),
           "the other VMCS: exception bitmap %#lx (want %#x), RFLAGS %#lx", bm, bitmap_w,
           vmr(VMCS_GUEST_RFLAGS));
    TRY(expect_vmok(vmptrld(vmcs_pa(V)), "VMPTRLD of the first VMCS"));
    bm = vmr(VMCS_EXCEPTION_BITMAP);
    EXPECT(bm == bitmap_v, "the first VMCS's exception bitmap is %#lx after the other ran, want %#x", bm,
           bitmap_v);
    witness_end(&w, "attack_stale_step");
}

/* ==== 2. attack_exit_efer (issue 10, reproduction 2) ====
 * A VM-exit MSR-load list {EFER = 0x100} while L1 runs with EFER 0x500:
 * EFER.LMA is read-only for WRMSR and the list is loaded by WRMSR's rules,
 * so L1 goes on with EFER 0x500, as on bare hardware. Entry-list EFER
 * values WRMSR would refuse fail the entry (exit 34, the entry's index). */
struct msr_entry {
    uint32_t index, reserved;
    uint64_t value;
};
static struct msr_entry msr_lists[4][8] __attribute__((aligned(16)));
#define LIST_ENTRY 0
#define LIST_EXIT_LOAD 1
#define LIST_EXIT_STORE 2

void case_attack_exit_efer(void)
{
    struct witness w;
    witness_begin(&w);
    TRY(vcpu_setup(V, l2_vmcall));
    uint64_t efer0 = rdmsr(MSR_EFER);
    msr_lists[LIST_EXIT_LOAD][0] = (struct msr_entry){MSR_EFER, 0, EFER_LME};
    vmw(VMCS_EXIT_MSR_LOAD_ADDR, (uintptr_t)msr_lists[LIST_EXIT_LOAD]);
    vmw(VMCS_EXIT_MSR_LOAD_COUNT, 1);
    unsigned o = enter(V, true);
    uint64_t efer1 = rdmsr(MSR_EFER);
    uint64_t want = EFER_LME | (efer0 & EFER_LMA);
    printf("l1hv: attack_exit_efer: L1 EFER %#lx; exit MSR-load list {EFER = %#llx}: %s, then L1 runs with "
           "EFER %#lx (want %#lx: LMA kept)\n", efer0, EFER_LME, out_name(o), efer1, want);
    EXPECT(o == EXIT_VMCALL, "VMLAUNCH with the exit list: %s, want exit 18", out_name(o));
    EXPECT(efer1 == want, "L1's EFER after the exit %#lx, want %#lx", efer1, want);
    vcpu_skip_instruction();
    o = enter(V, false);
    EXPECT(o == EXIT_VMCALL && rdmsr(MSR_EFER) == want, "a second exit: %s, EFER %#lx", out_name(o),
           rdmsr(MSR_EFER));
    if (rdmsr(MSR_EFER) != efer0)
        wrmsr(MSR_EFER, efer0);
    vmw(VMCS_EXIT_MSR_LOAD_COUNT, 0);

    /* Entry list: LME cleared under paging, a reserved bit: entry 2 fails. */
    static const struct {
        uint64_t value;
        const char *what;
    } bad[] = {
        {EFER_LMA, "EFER with LME cleared while L2 pages in IA-32e mode"},
        {EFER_LME | EFER_LMA | (1ULL << 1), "EFER with reserved bit 1"},
        {EFER_LME | EFER_LMA | (1ULL << 63), "EFER with reserved bit 63"},
    };
    for (unsigned i = 0; i < ARRAY_SIZE(bad); i++) {
        TRY(vcpu_setup(V, l2_vmcall));
        msr_lists[LIST_ENTRY][0] = (struct msr_entry){MSR_KERNEL_GS, 0, 0x1234000};
        msr_lists[LIST_ENTRY][1] = (struct msr_entry){MSR_EFER, 0, bad[i].value};
        vmw(VMCS_ENTRY_MSR_LOAD_ADDR, (uintptr_t)msr_lists[LIST_ENTRY]);
        vmw(VMCS_ENTRY_MSR_LOAD_COUNT, 2);
        uint64_t kgs = rdmsr(MSR_KERNEL_GS);
        o = enter(V, true);
        wrmsr(MSR_KERNEL_GS, kgs);
        char what[120];
        snprintf(what, sizeof what, "entry MSR-load list entry 2 = %s (%#lx)", bad[i].what, bad[i].value);
        report(what, o, ALLOW(OUT_ENTRY_FAIL(EXIT_MSR_LOADING)), "VM-entry failure 34");
        if (o == OUT_ENTRY_FAIL(EXIT_MSR_LOADING))
            EXPECT(out_qual == 2, "%s: qualification %#lx, want 2 (the entry's index)", what, out_qual);
        EXPECT(rdmsr(MSR_EFER) == efer0, "L1's EFER changed to %#lx", rdmsr(MSR_EFER));
    }
    vmw(VMCS_ENTRY_MSR_LOAD_COUNT, 0);
    TRY(vcpu_setup(V, l2_vmcall));
    TRY(run_expect(V, EXIT_VMCALL, "L2 after the failed entries"));
    witness_end(&w, "attack_exit_efer");
}

/* ==== 3. attack_beyond_reads (issue 10, reproduction 3) ====
 * ~8,000 L1 reads, each of a new 2 MiB region beyond EPT01's identity map
 * (512 GiB to 1 TiB with MAXPHYADDR 40): once each allocated EPT01 tables
 * until nestvisor stopped L1. Now one shared sink: every read gives the
 * sink's value at its offset, with no EPT-violation exit at all. */
static uint64_t snap[PAGE_SIZE / 8];

void case_attack_beyond_reads(void)
{
    const struct l0_view *l0 = need_l0();
    if (!l0)
        return;
    struct witness w;
    witness_begin(&w);
    uint64_t n = cmdline_u64("beyond_reads", 8000);
    uint64_t hi = 1ULL << caps.phys_bits, lo;
    if (caps.phys_bits >= 40) {
        lo = 1ULL << 39;
        hi = hi < TIB ? hi : TIB;
    } else {
        lo = hi >> 1;
    }
    uint64_t regions = (hi - lo) / PAGE_2M, step = regions / n ? regions / n : 1;
    for (unsigned i = 0; i < 64; i++)
        sink_write(i * 64, 0xbe0000000000beefULL | ((uint64_t)i << 16));
    sink_snapshot(snap);
    uint64_t viol0 = 0, all0 = 0, viol1 = 0, all1 = 0;
    nv_exit_stats(EXIT_EPT_VIOLATION, NV_LEVEL_L1, &viol0, NULL);
    nv_exit_stats(0xffff, NV_LEVEL_L1, &all0, NULL);
    uint64_t bad = 0, first_pa = 0, first_val = 0, done = 0;
    for (uint64_t k = 0; k < n; k++) {
        uint64_t region = lo + (k * step % regions) * PAGE_2M;
        uint64_t off = (k * 8 * 67) & (PAGE_SIZE - 8);
        uint64_t pa = region + (k % 512) * PAGE_SIZE + off;
        uint64_t v = *(volatile uint64_t *)phys_window(pa, 1 + (unsigned)(k % 511));
        if (v != snap[off / 8] && !bad++) {
            first_pa = pa;
            first_val = v;
        }
        done++;
    }
    nv_exit_stats(EXIT_EPT_VIOLATION, NV_LEVEL_L1, &viol1, NULL);
    nv_exit_stats(0xffff, NV_LEVEL_L1, &all1, NULL);
    printf("l1hv: attack_beyond_reads: %lu reads of distinct 2 MiB regions in %#lx-%#lx (step %lu regions): "
           "%lu differ from the sink; L0's EPT-violation exits of L1 %lu -> %lu, all exits %lu -> %lu\n",
           done, lo, hi - 1, step, bad, viol0, viol1, all0, all1);
    EXPECT(!bad, "%lu reads differ from the sink, first at %#lx: %#lx", bad, first_pa, first_val);
    if (w.on)
        EXPECT(viol1 == viol0, "the reads caused %lu EPT-violation exits (the sink needs none)", viol1 - viol0);
    witness_end(&w, "attack_beyond_reads");
}

/* ==== 4. attack_two_hidden (issue 10, reproduction 4) ====
 * One instruction touching two hidden pages once looped forever. Now each
 * such access completes: an 8-byte L1 read across two nestvisor pages,
 * across the end of nestvisor's range (into what follows it) and across
 * the end of L1's RAM into nestvisor's range; an L2 read and write across
 * two EPT12 leaves onto hidden pages, and across a hidden leaf and a
 * not-present one (an EPT violation L1 repairs, then the read completes). */
static bool usable_ram(uint64_t pa, uint64_t len)
{
    for (unsigned i = 0; i < boot.n_mmap; i++) {
        const struct mem_range *r = &boot.mmap[i];
        if (r->type == MEM_USABLE && pa >= r->base && pa + len <= r->base + r->len)
            return true;
    }
    return false;
}

static uint64_t read_u64(uint64_t pa)
{
    return *(volatile uint64_t *)phys_ptr(pa, PHYS_SLOT_SINK + 2);
}

static uint32_t read_u32(uint64_t pa)
{
    return *(volatile uint32_t *)phys_ptr(pa, PHYS_SLOT_SINK + 3);
}

/* The sink's 8 bytes from offset 0xffc wrapped to offset 0: what an 8-byte
 * read at the last 4 bytes of a hidden page followed by another gives. */
static uint64_t sink_wrap(void)
{
    return (sink_read(PAGE_SIZE - 8) >> 32) | (sink_read(0) << 32);
}

void case_attack_two_hidden(void)
{
    const struct l0_view *l0 = need_l0();
    if (!l0)
        return;
    struct witness w;
    witness_begin(&w);
    sink_write(PAGE_SIZE - 8, 0x11111111deadbeefULL);
    sink_write(0, 0x2222222233333333ULL);
    /* L1: two nestvisor pages. */
    uint64_t at = l0->canary + PAGE_SIZE - 4;
    if (l0_is_hidden(at + 4)) {
        uint64_t got = read_u64(at), want = sink_wrap();
        printf("l1hv: attack_two_hidden: L1 8-byte read at %#lx (two nestvisor pages): %#lx (want %#lx)\n",
               at, got, want);
        EXPECT(got == want, "L1 read at %#lx across two nestvisor pages: %#lx, want %#lx", at, got, want);
    }
    /* L1: the last 4 bytes of nestvisor's range, into what follows. */
    at = l0->range_end - 4;
    uint64_t want = (sink_read(PAGE_SIZE - 8) >> 32) | ((uint64_t)read_u32(l0->range_end) << 32);
    uint64_t got = read_u64(at);
    printf("l1hv: attack_two_hidden: L1 8-byte read at %#lx (end of nestvisor's range, then %s): %#lx "
           "(want %#lx)\n", at, usable_ram(l0->range_end, 4) ? "L1 RAM" : "not RAM", got, want);
    EXPECT(got == want, "L1 read at the end of nestvisor's range %#lx: %#lx, want %#lx", at, got, want);
    /* L1: the last 4 bytes of its RAM below nestvisor's range, read and write. */
    at = l0->range_base - 4;
    if (usable_ram(at, 4)) {
        uint32_t ram = read_u32(at);
        want = ram | (sink_read(0) << 32);
        got = read_u64(at);
        printf("l1hv: attack_two_hidden: L1 8-byte read at %#lx (end of L1 RAM, then nestvisor's range): "
               "%#lx (want %#lx)\n", at, got, want);
        EXPECT(got == want, "L1 read at %#lx across the end of its RAM: %#lx, want %#lx", at, got, want);
        const uint64_t v = 0x4444444455555555ULL;
        *(volatile uint64_t *)phys_ptr(at, PHYS_SLOT_SINK + 2) = v;
        uint32_t ram_after = read_u32(at);
        uint64_t sink0 = sink_read(0);
        *(volatile uint32_t *)phys_ptr(at, PHYS_SLOT_SINK + 3) = ram;
        printf("l1hv: attack_two_hidden: L1 8-byte write of %#lx there: RAM dword %#x, sink low dword "
               "%#lx\n", v, ram_after, sink0 & 0xffffffff);
        EXPECT(ram_after == (uint32_t)v && (uint32_t)sink0 == (uint32_t)(v >> 32),
               "the straddling write left RAM %#x and sink %#lx", ram_after, sink0);
    } else {
        printf("l1hv: attack_two_hidden: %#lx is not L1 RAM: no straddle from RAM\n", at);
    }
    /* L1: two pages beyond EPT01's identity map. */
    if (l0->above512) {
        at = l0->above512 + PAGE_SIZE - 4;
        got = read_u64(at);
        printf("l1hv: attack_two_hidden: L1 8-byte read at %#lx (two pages above 512 GiB): %#lx (want %#lx)\n",
               at, got, sink_wrap());
        EXPECT(got == sink_wrap(), "L1 read at %#lx: %#lx, want %#lx", at, got, sink_wrap());
    }

    /* L2 across two EPT12 leaves onto hidden pages. */
    struct ept e;
    TRY(ept_begin(&e));
    TRY(expect(ept_map(&e, WIN_PAGE(4), l0->canary, PAGE_SIZE, EPT_RWX) &&
                   ept_map(&e, WIN_PAGE(5), l0->top, PAGE_SIZE, EPT_RWX) &&
                   ept_map(&e, WIN_PAGE(7), l0->other, PAGE_SIZE, EPT_RWX),
               POOL_MSG));
    uint64_t *np = ept_entry(&e, WIN_PAGE(8), EPT_LEVEL_PT);
    TRY(expect(np != NULL, POOL_MSG));
    *np = 0;
    TRY(ept_vcpu_setup(V, l2_read, &e));
    V->regs.rbx = WIN_PAGE(5) - 4;
    unsigned o = enter(V, true);
    got = V->regs.r8;
    printf("l1hv: attack_two_hidden: L2 8-byte read across leaves onto the canary page and beyond RAM: %s, "
           "%#lx (want %#lx)\n", out_name(o), got, sink_wrap());
    EXPECT(o == EXIT_VMCALL && got == sink_wrap(), "L2's read across two hidden leaves: %s, %#lx (want %#lx)",
           out_name(o), got, sink_wrap());
    const uint64_t v2 = 0x6666666677777777ULL;
    l2_restart(V, l2_write_then_read);
    V->regs.rbx = WIN_PAGE(5) - 4;
    V->regs.rsi = v2;
    o = enter(V, false);
    printf("l1hv: attack_two_hidden: L2 8-byte write of %#lx across them: %s, reads back %#lx; sink %#lx / %#lx\n",
           v2, out_name(o), V->regs.r8, sink_read(PAGE_SIZE - 8), sink_read(0));
    EXPECT(o == EXIT_VMCALL && V->regs.r8 == v2 && (sink_read(PAGE_SIZE - 8) >> 32) == (uint32_t)v2 &&
               (uint32_t)sink_read(0) == (uint32_t)(v2 >> 32),
           "L2's write across two hidden leaves: %s, read back %#lx, sink %#lx / %#lx", out_name(o),
           V->regs.r8, sink_read(PAGE_SIZE - 8), sink_read(0));
    /* A hidden leaf, then a not-present one. */
    l2_restart(V, l2_read);
    V->regs.rbx = WIN_PAGE(8) - 4;
    o = enter(V, false);
    uint64_t gpa = vmr(VMCS_GUEST_PHYSICAL_ADDR);
    printf("l1hv: attack_two_hidden: L2 read across a hidden leaf and a not-present one: %s at %#lx\n",
           out_name(o), gpa);
    EXPECT(o == EXIT_EPT_VIOLATION && gpa == WIN_PAGE(8), "%s at %#lx, want exit 48 at %#lx", out_name(o),
           gpa, WIN_PAGE(8));
    fill_pages();
    TRY(expect(ept_map(&e, WIN_PAGE(8), PAGE_PA(2), PAGE_SIZE, EPT_RWX) != NULL, POOL_MSG));
    o = enter(V, false);
    want = (sink_read(PAGE_SIZE - 8) >> 32) | (pages[2][0] << 32);
    printf("l1hv: attack_two_hidden: resumed after L1 mapped it: %s, %#lx (want %#lx)\n", out_name(o),
           V->regs.r8, want);
    EXPECT(o == EXIT_VMCALL && V->regs.r8 == want, "after the repair: %s, %#lx (want %#lx)", out_name(o),
           V->regs.r8, want);
    witness_end(&w, "attack_two_hidden");
}

/* ==== 5. attack_ept12_leaves ====
 * EPT12 leaves of every size onto nestvisor's memory (the canary, other
 * pages of its range), onto the first page past L1's RAM, onto the top of
 * the physical address space and above 512 GiB. Each probe: L2 reads, writes
 * a fresh value and reads it back. Nestvisor's pages and everything beyond
 * EPT01's reach are the sink (the write shows up in it); past RAM below
 * that is an empty bus (all ones, the write is lost); L1's own RAM is RAM. */
enum probe_kind { K_SINK, K_BUS, K_RAM };

static unsigned probes, probe_seq;

static void probe(uint64_t l2_gpa, uint64_t l1_pa, enum probe_kind kind, const char *what)
{
    uint64_t off = l1_pa & (PAGE_SIZE - 8);
    uint64_t before = kind == K_SINK ? sink_read(off) : kind == K_BUS ? ALL_ONES : read_u64(l1_pa);
    uint64_t v = 0x9b0be0000000000ULL | ((uint64_t)++probe_seq << 16) | off;
    l2_restart(V, l2_write_read);
    V->regs.rbx = l2_gpa;
    V->regs.rsi = v;
    unsigned o = enter(V, !V->launched);
    probes++;
    uint64_t after_want = kind == K_BUS ? ALL_ONES : v;
    uint64_t seen = kind == K_SINK ? sink_read(off) : kind == K_RAM ? read_u64(l1_pa) : ALL_ONES;
    printf("l1hv:   %s: L2 %#lx -> L1 %#lx: %s, read %#lx (want %#lx), after writing %#lx read %#lx; L1 sees %#lx\n",
           what, l2_gpa, l1_pa, out_name(o), V->regs.r8, before, v, V->regs.r9, seen);
    if (!expect(o == EXIT_VMCALL, "%s (L1 %#lx): %s", what, l1_pa, out_name(o)))
        return;
    if (kind == K_SINK)
        l1hv_sink_written = true;
    EXPECT(V->regs.r8 == before && V->regs.r9 == after_want && (kind == K_BUS || seen == v),
           "%s (L1 %#lx): L2 read %#lx then %#lx after writing %#lx; L1 sees %#lx (want %#lx, %#lx, %s)",
           what, l1_pa, V->regs.r8, V->regs.r9, v, seen, before, after_want,
           kind == K_SINK ? "in the sink" : kind == K_RAM ? "in RAM" : "lost");
}

static uint64_t past_ram(void)
{
    uint64_t end = 0;
    for (unsigned i = 0; i < boot.n_mmap; i++) {
        const struct mem_range *r = &boot.mmap[i];
        if ((r->type == MEM_USABLE || r->type == MEM_ACPI || r->type == MEM_NVS) &&
            r->base + r->len > end && r->base + r->len <= 4 * GIB)
            end = r->base + r->len;
    }
    /* Ranges of any type that go on from there are still L1's (UEFI puts
     * firmware-reserved RAM at the top of memory, 0xffe0000-0xfffffff with
     * OVMF and 256 MiB): the probe wants the first page no range names. */
    for (bool grown = true; grown;) {
        grown = false;
        for (unsigned i = 0; i < boot.n_mmap; i++) {
            const struct mem_range *r = &boot.mmap[i];
            if (r->base <= end && r->base + r->len > end && r->base + r->len <= 4 * GIB) {
                end = r->base + r->len;
                grown = true;
            }
        }
    }
    return (end + PAGE_SIZE - 1) & ~(uint64_t)(PAGE_SIZE - 1);
}

void case_attack_ept12_leaves(void)
{
    const struct l0_view *l0 = need_l0();
    if (!l0)
        return;
    struct ept e;
    TRY(ept_begin(&e));
    struct witness w;
    witness_begin(&w);
    fill_pages();
    probes = 0;
    uint64_t beyond_ram = past_ram();
    bool bus = beyond_ram && !l0_is_hidden(beyond_ram) && beyond_ram < 4 * GIB - PAGE_SIZE;
    /* 4 KiB leaves. */
    struct {
        uint64_t pa;
        enum probe_kind kind;
        const char *what;
    } small[] = {
        {l0->canary, K_SINK, "4K leaf onto the canary page"},
        {l0->other, K_SINK, "4K leaf onto another nestvisor page"},
        {l0->range_base, K_SINK, "4K leaf onto the start of nestvisor's range"},
        {(l0->range_end - 1) & ~(uint64_t)(PAGE_SIZE - 1), K_SINK, "4K leaf onto the end of nestvisor's range"},
        {l0->top, K_SINK, "4K leaf onto the top of MAXPHYADDR"},
        {l0->above512, K_SINK, "4K leaf above 512 GiB"},
        {TIB - PAGE_SIZE, K_SINK, "4K leaf onto 1 TiB - 4 KiB"},
        {beyond_ram, K_BUS, "4K leaf onto the first page past L1's RAM"},
    };
    for (unsigned i = 0; i < ARRAY_SIZE(small); i++) {
        if (!small[i].pa || (small[i].kind == K_BUS && !bus) || small[i].pa >= (1ULL << caps.phys_bits))
            continue;
        TRY(expect(ept_map(&e, WIN_PAGE(i), small[i].pa, PAGE_SIZE, EPT_RWX) != NULL, POOL_MSG));
    }
    TRY(ept_vcpu_setup(V, l2_write_read, &e));
    printf("l1hv: attack_ept12_leaves: 4 KiB leaves\n");
    for (unsigned i = 0; i < ARRAY_SIZE(small); i++) {
        if (!small[i].pa || (small[i].kind == K_BUS && !bus) || small[i].pa >= (1ULL << caps.phys_bits))
            continue;
        probe(WIN_PAGE(i) + OFF_A + 8 * i, small[i].pa + OFF_A + 8 * i, small[i].kind, small[i].what);
    }
    /* 2 MiB leaves: the canary's 2 MiB region (nestvisor's pages in it are
     * the sink, L1's RAM stays RAM), the top 2 MiB, 512 GiB. */
    uint64_t region = l0->canary & ~(PAGE_2M - 1);
    uint64_t top2m = (1ULL << caps.phys_bits) - PAGE_2M;
    TRY(expect(ept_map(&e, WIN_2M(0), region, PAGE_2M, EPT_RWX) &&
                   ept_map(&e, WIN_2M(1), top2m, PAGE_2M, EPT_RWX), POOL_MSG));
    if (l0->above512)
        TRY(expect(ept_map(&e, WIN_2M(2), 1ULL << 39, PAGE_2M, EPT_RWX) != NULL, POOL_MSG));
    TRY(expect_vmok(ept_invalidate(e.eptp), "INVEPT"));
    printf("l1hv: attack_ept12_leaves: 2 MiB leaves\n");
    for (unsigned k = 0; k < 4; k++) {
        uint64_t off = k == 0 ? 0 : k == 1 ? l0->canary - region : k == 2 ? PAGE_2M - PAGE_SIZE : PAGE_2M / 2;
        off += OFF_B + 8 * k;
        uint64_t pa = region + off;
        enum probe_kind kind = l0_is_hidden(pa) ? K_SINK : usable_ram(pa, 8) ? K_RAM : K_BUS;
        if (kind == K_RAM)
            continue; /* L1's RAM may be in use: reads only elsewhere */
        probe(WIN_2M(0) + off, pa, kind, "2M leaf onto the canary's 2 MiB region");
    }
    probe(WIN_2M(1) + PAGE_2M - PAGE_SIZE + OFF_C, top2m + PAGE_2M - PAGE_SIZE + OFF_C, K_SINK,
          "2M leaf onto the top 2 MiB of MAXPHYADDR");
    probe(WIN_2M(1) + OFF_C + 8, top2m + OFF_C + 8, K_SINK, "2M leaf onto the top 2 MiB of MAXPHYADDR");
    if (l0->above512)
        probe(WIN_2M(2) + 0x12345 * 8 % PAGE_2M, (1ULL << 39) + 0x12345 * 8 % PAGE_2M, K_SINK,
              "2M leaf onto 512 GiB");
    /* 1 GiB leaves. */
    if (have_1g()) {
        printf("l1hv: attack_ept12_leaves: 1 GiB leaves\n");
        uint64_t g = l0->canary & ~(GIB - 1);
        TRY(expect(ept_map(&e, WIN_1G, g, GIB, EPT_RWX) != NULL, POOL_MSG));
        TRY(expect_vmok(ept_invalidate(e.eptp), "INVEPT"));
        probe(WIN_1G + (l0->canary - g) + OFF_A + 0x10, l0->canary + OFF_A + 0x10, K_SINK,
              "1G leaf onto the GiB of the canary");
        probe(WIN_1G + (l0->other - g) + OFF_B + 0x10, l0->other + OFF_B + 0x10, K_SINK,
              "1G leaf onto the GiB of the canary, another nestvisor page");
        uint64_t data = PAGE_PA(3) + OFF_C;
        if ((data & ~(GIB - 1)) == g)
            probe(WIN_1G + (data - g), data, K_RAM, "1G leaf onto the GiB of the canary, L1's own page");
        uint64_t top1g = (1ULL << caps.phys_bits) - GIB;
        TRY(expect(ept_map(&e, WIN_1G, top1g, GIB, EPT_RWX) != NULL, POOL_MSG));
        TRY(expect_vmok(ept_invalidate(e.eptp), "INVEPT"));
        probe(WIN_1G + GIB - PAGE_SIZE + OFF_A + 0x18, top1g + GIB - PAGE_SIZE + OFF_A + 0x18, K_SINK,
              "1G leaf onto the top GiB of MAXPHYADDR");
        probe(WIN_1G + 0x3456000 + OFF_B + 0x18, top1g + 0x3456000 + OFF_B + 0x18, K_SINK,
              "1G leaf onto the top GiB of MAXPHYADDR");
        if (l0->above512) {
            TRY(expect(ept_map(&e, WIN_1G, 1ULL << 39, GIB, EPT_RWX) != NULL, POOL_MSG));
            TRY(expect_vmok(ept_invalidate(e.eptp), "INVEPT"));
            probe(WIN_1G + 0x789a000 + OFF_C + 0x18, (1ULL << 39) + 0x789a000 + OFF_C + 0x18, K_SINK,
                  "1G leaf onto 512 GiB");
        }
    } else {
        printf("l1hv: attack_ept12_leaves: no 1 GiB EPT pages offered\n");
    }
    printf("l1hv: attack_ept12_leaves: %u probes\n", probes);
    witness_end(&w, "attack_ept12_leaves");
}

/* ==== 6. attack_vmcs_ptrs ====
 * Every physical address L1 hands nestvisor, aimed at nestvisor's memory,
 * beyond RAM, MMIO (the local APIC), or made invalid (unaligned, beyond
 * MAXPHYADDR): the VMXON/VMCLEAR/VMPTRLD operands, the I/O and MSR bitmaps,
 * the three MSR lists (and a list straddling from L1's RAM into nestvisor's
 * memory), the VMCS link pointer, the EPTP, the VMREAD/VMWRITE bitmaps.
 * Invalid addresses get the SDM's exact VMfail or entry failure; a valid
 * address of memory L1 does not own gets either the outcome hardware would
 * give with the sink there, or the VMfail nestvisor gives for "not L1's
 * memory" (both printed); the canary never changes. */
struct bad_addr {
    uint64_t pa;
    const char *what;
    bool invalid; /* unaligned or beyond MAXPHYADDR: the SDM's exact outcome */
};

static unsigned bad_addrs(const struct l0_view *l0, uint64_t aligned_ok, struct bad_addr *b)
{
    unsigned n = 0;
    b[n++] = (struct bad_addr){l0->canary, "nestvisor's canary page", false};
    b[n++] = (struct bad_addr){l0->other, "another nestvisor page", false};
    b[n++] = (struct bad_addr){l0->top, "beyond RAM (top of MAXPHYADDR)", false};
    b[n++] = (struct bad_addr){APIC_MMIO, "the local APIC (MMIO)", false};
    b[n++] = (struct bad_addr){aligned_ok + 8, "unaligned", true};
    b[n++] = (struct bad_addr){1ULL << caps.phys_bits, "beyond MAXPHYADDR", true};
    return n;
}

/* A VMCS set up for the entry checks: V, fresh, L2 = VMCALL. */
static bool fresh_v(void)
{
    return vcpu_setup(V, l2_vmcall);
}

static void pointer_field(uint64_t field, uint32_t proc_bit, const char *name, const struct bad_addr *b,
                          unsigned n)
{
    if (proc_bit && !cap_proc(proc_bit)) {
        printf("l1hv:   %s: control not offered\n", name);
        return;
    }
    for (unsigned i = 0; i < n; i++) {
        if (!fresh_v())
            return;
        if (proc_bit)
            vmcs_set_bits(VMCS_PROC_CONTROLS, proc_bit);
        vmw(field, b[i].pa);
        unsigned o = enter(V, true);
        char what[120];
        snprintf(what, sizeof what, "%s = %#lx (%s)", name, b[i].pa, b[i].what);
        if (b[i].invalid)
            report(what, o, ALLOW(OUT_VMFAIL(VMXERR_ENTRY_INVALID_CONTROL)), "VMfailValid(7)");
        else
            report(what, o, ALLOW(OUT_VMFAIL(VMXERR_ENTRY_INVALID_CONTROL), EXIT_VMCALL),
                   "VMfailValid(7), or the entry with the sink as the bitmap");
    }
}

/* count entries of the list `which` at pa; the sink holds harmless valid
 * entries (KERNEL_GS_BASE) so that hardware would load/store them. */
static void msr_list(int which, const char *name, const struct bad_addr *b, unsigned n, uint64_t straddle)
{
    static const uint64_t addr_field[] = {VMCS_ENTRY_MSR_LOAD_ADDR, VMCS_EXIT_MSR_LOAD_ADDR,
                                          VMCS_EXIT_MSR_STORE_ADDR};
    static const uint64_t count_field[] = {VMCS_ENTRY_MSR_LOAD_COUNT, VMCS_EXIT_MSR_LOAD_COUNT,
                                           VMCS_EXIT_MSR_STORE_COUNT};
    uint64_t kgs = rdmsr(MSR_KERNEL_GS);
    for (unsigned i = 0; i <= n; i++) {
        uint64_t pa = i < n ? b[i].pa : straddle;
        if (!pa)
            continue;
        /* An exit list on MMIO is a VMX abort: what the device gives back
         * is no valid entry (a read beyond RAM or of a device is all ones). */
        if (which != LIST_ENTRY && i < n && pa == APIC_MMIO)
            continue;
        if (!fresh_v())
            return;
        vmw(addr_field[which], pa);
        vmw(count_field[which], i < n ? 1 : 2);
        unsigned o = enter(V, true);
        wrmsr(MSR_KERNEL_GS, kgs);
        char what[140];
        snprintf(what, sizeof what, "%s at %#lx (%s)", name, pa,
                 i < n ? b[i].what : "2 entries straddling from L1's RAM into nestvisor's memory");
        if (i < n && b[i].invalid)
            report(what, o, ALLOW(OUT_VMFAIL(VMXERR_ENTRY_INVALID_CONTROL)), "VMfailValid(7)");
        else
            report(what, o,
                   ALLOW(OUT_VMFAIL(VMXERR_ENTRY_INVALID_CONTROL), EXIT_VMCALL, OUT_ENTRY_FAIL(EXIT_MSR_LOADING)),
                   "VMfailValid(7), or the list read from the sink");
    }
    /* More entries than IA32_VMX_MISC[27:25] allows: VMfailValid(7). */
    uint64_t max = 512 * (((caps.misc >> 25) & 7) + 1);
    if (fresh_v()) {
        vmw(addr_field[which], (uintptr_t)msr_lists[which]);
        vmw(count_field[which], max + 1);
        unsigned o = enter(V, true);
        char what[100];
        snprintf(what, sizeof what, "%s with %lu entries (maximum %lu)", name, max + 1, max);
        report(what, o, ALLOW(OUT_VMFAIL(VMXERR_ENTRY_INVALID_CONTROL)), "VMfailValid(7)");
    }
}

void case_attack_vmcs_ptrs(void)
{
    const struct l0_view *l0 = need_l0();
    if (!l0)
        return;
    struct witness w;
    witness_begin(&w);
    struct bad_addr b[8];
    /* The sink's first qword: a wrong revision; then valid MSR-list entries. */
    sink_write(0, caps.revision ^ 1);
    sink_write(8, 0x1000);
    for (unsigned i = 1; i < 8; i++) {
        sink_write(16 * i, MSR_KERNEL_GS);
        sink_write(16 * i + 8, 0x1000 * i);
    }
    TRY(fresh_v());
    unsigned n = bad_addrs(l0, vmcs_pa(V), b);

    printf("l1hv: attack_vmcs_ptrs: VMCLEAR and VMPTRLD\n");
    for (unsigned i = 0; i < n; i++) {
        char what[120];
        snprintf(what, sizeof what, "VMCLEAR %#lx (%s)", b[i].pa, b[i].what);
        int r = vmclear(b[i].pa);
        unsigned o = r == VMX_FAIL_VALID ? OUT_VMFAIL(vmx_instruction_error())
                     : r == VMX_OK       ? OUT_VMSUCCEED
                                         : OUT_VMFAIL_INVALID;
        if (b[i].invalid)
            report(what, o, ALLOW(OUT_VMFAIL(VMXERR_VMCLEAR_INVALID_ADDR)), "VMfailValid(2)");
        else
            report(what, o, ALLOW(OUT_VMFAIL(VMXERR_VMCLEAR_INVALID_ADDR), OUT_VMSUCCEED),
                   "VMsucceed (the sink is memory) or VMfailValid(2)");
        EXPECT(current_vmcs() == vmcs_pa(V), "after %s the current VMCS is %#lx", what, current_vmcs());
        snprintf(what, sizeof what, "VMPTRLD %#lx (%s)", b[i].pa, b[i].what);
        r = vmptrld(b[i].pa);
        o = r == VMX_FAIL_VALID ? OUT_VMFAIL(vmx_instruction_error())
            : r == VMX_OK       ? OUT_VMSUCCEED
                                : OUT_VMFAIL_INVALID;
        if (b[i].invalid)
            report(what, o, ALLOW(OUT_VMFAIL(VMXERR_VMPTRLD_INVALID_ADDR)), "VMfailValid(9)");
        else
            report(what, o, ALLOW(OUT_VMFAIL(VMXERR_VMPTRLD_INVALID_ADDR), OUT_VMFAIL(VMXERR_VMPTRLD_BAD_REVISION)),
                   "VMfailValid(11) (wrong revision in the sink) or VMfailValid(9)");
        if (r == VMX_OK)
            vmptrld(vmcs_pa(V));
    }
    /* The sink with the right revision: hardware would make it current;
     * writes to it and a VMCLEAR then go to the sink, never the canary. */
    sink_write(0, caps.revision);
    int r = vmptrld(l0->canary);
    printf("l1hv:   VMPTRLD of the canary page with the right revision in the sink: %s\n", vmx_outcome(r));
    EXPECT(r == VMX_OK || (r == VMX_FAIL_VALID && vmx_instruction_error() == VMXERR_VMPTRLD_INVALID_ADDR),
           "VMPTRLD of the canary page (right revision in the sink): %s", vmx_outcome(r));
    if (r == VMX_OK) {
        vmw(VMCS_GUEST_RIP, 0xdeadbeef);
        vmw(VMCS_HOST_RIP, 0xdeadbeef);
        r = vmclear(l0->canary);
        printf("l1hv:   VMWRITEs to it, then VMCLEAR: %s\n", vmx_outcome(r));
    }
    TRY(expect_vmok(vmptrld(vmcs_pa(V)), "VMPTRLD of V again"));
    sink_write(0, caps.revision ^ 1);

    printf("l1hv: attack_vmcs_ptrs: VMXON (after VMXOFF)\n");
    TRY(expect(vmx_disable(), "VMXOFF"));
    write_cr4(read_cr4() | CR4_VMXE);
    for (unsigned i = 0; i <= n; i++) {
        uint64_t pa = i < n ? b[i].pa : l0->canary;
        if (i == n)
            sink_write(0, caps.revision);
        r = vmxon(pa);
        char what[120];
        snprintf(what, sizeof what, "VMXON %#lx (%s%s)", pa, i < n ? b[i].what : "the canary page",
                 i < n ? "" : ", right revision in the sink");
        printf("l1hv:   %s: %s\n", what, vmx_outcome(r));
        EXPECT(r == VMX_FAIL_INVALID || (r == VMX_OK && i == n), "%s: %s, want VMfailInvalid%s", what,
               vmx_outcome(r), i == n ? " or VMsucceed" : "");
        if (r == VMX_OK)
            vmxoff();
    }
    sink_write(0, caps.revision ^ 1);
    write_cr4(read_cr4() & ~CR4_VMXE);
    TRY(expect(vmx_enable(), "VMXON after the attempts"));

    printf("l1hv: attack_vmcs_ptrs: VM-execution control pointers\n");
    TRY(fresh_v());
    n = bad_addrs(l0, (uintptr_t)io_bitmap_a, b);
    pointer_field(VMCS_IO_BITMAP_A, PROC_USE_IO_BITMAPS, "I/O bitmap A", b, n);
    pointer_field(VMCS_IO_BITMAP_B, PROC_USE_IO_BITMAPS, "I/O bitmap B", b, n);
    pointer_field(VMCS_MSR_BITMAP, PROC_USE_MSR_BITMAPS, "MSR bitmap", b, n);
    if (cap_proc2(PROC2_VMCS_SHADOWING)) {
        /* The bitmaps only matter with shadowing on, but their addresses
         * are checked whenever it is (26.2.1.1). */
        for (unsigned f = 0; f < 2; f++) {
            uint64_t field = f ? VMCS_VMWRITE_BITMAP : VMCS_VMREAD_BITMAP;
            for (unsigned i = 0; i < n; i++) {
                TRY(fresh_v());
                vmcs_enable_proc2(PROC2_VMCS_SHADOWING);
                vmw(field, b[i].pa);
                unsigned o = enter(V, true);
                char what[120];
                snprintf(what, sizeof what, "%s bitmap = %#lx (%s)", f ? "VMWRITE" : "VMREAD", b[i].pa,
                         b[i].what);
                report(what, o, b[i].invalid ? ALLOW(OUT_VMFAIL(VMXERR_ENTRY_INVALID_CONTROL))
                                             : ALLOW(OUT_VMFAIL(VMXERR_ENTRY_INVALID_CONTROL), EXIT_VMCALL),
                       "VMfailValid(7) or the entry");
            }
        }
    } else {
        printf("l1hv:   VMREAD/VMWRITE bitmaps: VMCS shadowing not offered\n");
    }

    printf("l1hv: attack_vmcs_ptrs: MSR lists\n");
    n = bad_addrs(l0, (uintptr_t)msr_lists[0], b);
    uint64_t straddle = usable_ram(l0->range_base - 16, 16) ? l0->range_base - 16 : 0;
    uint64_t saved[2] = {0, 0};
    if (straddle) {
        saved[0] = read_u64(straddle);
        saved[1] = read_u64(straddle + 8);
        *(volatile uint64_t *)(uintptr_t)straddle = MSR_KERNEL_GS;
        *(volatile uint64_t *)(uintptr_t)(straddle + 8) = 0x2000;
    }
    /* Lists there pass the entry checks (only alignment and the width
     * count, SDM 26.2.1.2) and are read from the sink: its first entry
     * must be a valid one too, or an exit-load list would be a VMX abort. */
    sink_write(0, MSR_KERNEL_GS);
    msr_list(LIST_ENTRY, "VM-entry MSR-load list", b, n, straddle);
    msr_list(LIST_EXIT_LOAD, "VM-exit MSR-load list", b, n, straddle);
    msr_list(LIST_EXIT_STORE, "VM-exit MSR-store list", b, n, straddle);
    sink_write(0, caps.revision ^ 1);
    if (straddle) {
        *(volatile uint64_t *)(uintptr_t)straddle = saved[0];
        *(volatile uint64_t *)(uintptr_t)(straddle + 8) = saved[1];
    }

    printf("l1hv: attack_vmcs_ptrs: VMCS link pointer\n");
    n = bad_addrs(l0, vmcs_pa(W), b);
    for (unsigned i = 0; i < n; i++) {
        TRY(fresh_v());
        vmw(VMCS_LINK_POINTER, b[i].pa);
        unsigned o = enter(V, true);
        char what[120];
        snprintf(what, sizeof what, "VMCS link pointer = %#lx (%s)", b[i].pa, b[i].what);
        report(what, o, ALLOW(OUT_ENTRY_FAIL(EXIT_INVALID_GUEST_STATE)), "VM-entry failure 33, qualification 4");
        if (o == OUT_ENTRY_FAIL(EXIT_INVALID_GUEST_STATE))
            EXPECT(out_qual == ENTRY_FAIL_QUAL_LINK, "%s: qualification %#lx, want 4", what, out_qual);
    }

    if (ept_offered()) {
        printf("l1hv: attack_vmcs_ptrs: EPT pointer\n");
        for (unsigned i = 0; i < n; i++) {
            TRY(fresh_v());
            vmcs_enable_proc2(PROC2_EPT);
            uint64_t eptp = (b[i].invalid ? b[i].pa & ~(uint64_t)0xfff : b[i].pa) | EPTP_MEMTYPE_WB | EPTP_WALK_4;
            if (b[i].invalid && (b[i].pa & 0xfff))
                continue; /* an EPTP's low bits are attributes, not an offset */
            vmw(VMCS_EPT_POINTER, eptp);
            unsigned o = enter(V, true);
            char what[120];
            snprintf(what, sizeof what, "EPTP = %#lx (%s)", eptp, b[i].what);
            report(what, o, b[i].invalid ? ALLOW(OUT_VMFAIL(VMXERR_ENTRY_INVALID_CONTROL))
                                         : ALLOW(EXIT_EPT_VIOLATION, EXIT_EPT_MISCONFIG),
                   b[i].invalid ? "VMfailValid(7)" : "L2's first fetch: EPT violation or misconfiguration");
        }
        invept_all();
    }
    TRY(fresh_v());
    TRY(run_expect(V, EXIT_VMCALL, "L2 after every attempt"));
    witness_end(&w, "attack_vmcs_ptrs");
}

/* ==== 7. attack_msr_lists ====
 * MSRs no list may load, in the VM-entry MSR-load list (entry 2, after a
 * harmless entry 1): IA32_FEATURE_CONTROL (locked), IA32_VMX_* (read-only),
 * IA32_APIC_BASE moved onto nestvisor's memory, IA32_SMBASE, SMM monitor
 * control, x2APIC MSRs (an INIT IPI to every other CPU through the ICR
 * among them), FS/GS base, a reserved field, an unknown index: each a
 * VM-entry failure 34 with the entry's index (SDM 26.4), L1's own MSRs
 * unchanged. Then MSRs the VM-exit MSR-load list may load (L1's
 * KERNEL_GS_BASE, TSC_AUX, PAT, SYSENTER_ESP, its TSC): L1 goes on with
 * them. (A failing exit list is a VMX abort: attack_exit_abort.) */
void case_attack_msr_lists(void)
{
    const struct l0_view *l0 = l0_view();
    struct witness w;
    witness_begin(&w);
    uint64_t apic = rdmsr(MSR_APIC_BASE), fctl = rdmsr(MSR_FEATURE_CONTROL), kgs = rdmsr(MSR_KERNEL_GS);
    uint64_t vmx_basic = rdmsr(MSR_IA32_VMX_BASIC);
    uint64_t onto = l0 ? l0->canary : (1ULL << caps.phys_bits) - PAGE_SIZE;
    const struct {
        uint32_t index, reserved;
        uint64_t value;
        const char *what;
    } bad[] = {
        {MSR_FEATURE_CONTROL, 0, FEATURE_CONTROL_LOCK, "IA32_FEATURE_CONTROL"},
        {MSR_FEATURE_CONTROL, 0, 0, "IA32_FEATURE_CONTROL = 0 (unlock)"},
        {MSR_IA32_VMX_BASIC, 0, vmx_basic, "IA32_VMX_BASIC"},
        {MSR_IA32_VMX_PINBASED_CTLS, 0, ~0ULL, "IA32_VMX_PINBASED_CTLS"},
        {MSR_IA32_VMX_EPT_VPID_CAP, 0, ~0ULL, "IA32_VMX_EPT_VPID_CAP"},
        {l0 ? MSR_APIC_BASE : MSR_SMM_MONITOR_CTL, 0, l0 ? (apic & 0xfffULL) | onto : 1,
         l0 ? "IA32_APIC_BASE onto nestvisor's memory" : "IA32_SMM_MONITOR_CTL (no nestvisor memory to aim at)"},
        {MSR_SMBASE, 0, onto, "IA32_SMBASE"},
        {MSR_SMM_MONITOR_CTL, 0, 1, "IA32_SMM_MONITOR_CTL"},
        {MSR_X2APIC_ID, 0, 5, "x2APIC ID"},
        {MSR_X2APIC_TPR, 0, 0xff, "x2APIC TPR"},
        {MSR_X2APIC_ICR, 0, ICR_INIT_ALL_BUT_SELF, "x2APIC ICR: INIT to all other CPUs"},
        {MSR_FS_BASE, 0, 0x1000, "IA32_FS_BASE"},
        {MSR_GS_BASE, 0, 0x1000, "IA32_GS_BASE"},
        {MSR_KERNEL_GS, 1, 0x1000, "KERNEL_GS_BASE with the reserved field 1"},
        {0xffffffffu, 0, 0, "index 0xffffffff"},
        {MSR_IA32_DEBUGCTL, 0, 1ULL << 63, "DEBUGCTL with reserved bit 63"},
        {MSR_PAT, 0, 0x0202020202020202ULL, "PAT with reserved memory type 2"},
        {MSR_SYSENTER_EIP, 0, NONCANONICAL_ADDR, "SYSENTER_EIP non-canonical"},
    };
    printf("l1hv: attack_msr_lists: VM-entry MSR-load list, the bad MSR in entry 2\n");
    for (unsigned i = 0; i < ARRAY_SIZE(bad); i++) {
        TRY(fresh_v());
        msr_lists[LIST_ENTRY][0] = (struct msr_entry){MSR_KERNEL_GS, 0, 0x5000};
        msr_lists[LIST_ENTRY][1] = (struct msr_entry){bad[i].index, bad[i].reserved, bad[i].value};
        vmw(VMCS_ENTRY_MSR_LOAD_ADDR, (uintptr_t)msr_lists[LIST_ENTRY]);
        vmw(VMCS_ENTRY_MSR_LOAD_COUNT, 2);
        unsigned o = enter(V, true);
        wrmsr(MSR_KERNEL_GS, kgs);
        uint64_t apic_now = rdmsr(MSR_APIC_BASE);
        if (apic_now != apic)
            wrmsr(MSR_APIC_BASE, apic); /* the list moved it: the check below says so */
        char what[120];
        snprintf(what, sizeof what, "entry list {%#x, %#lx} (%s)", bad[i].index, bad[i].value, bad[i].what);
        report(what, o, ALLOW(OUT_ENTRY_FAIL(EXIT_MSR_LOADING)), "VM-entry failure 34");
        if (o == OUT_ENTRY_FAIL(EXIT_MSR_LOADING))
            EXPECT(out_qual == 2, "%s: qualification %#lx, want 2", what, out_qual);
        EXPECT(apic_now == apic && rdmsr(MSR_FEATURE_CONTROL) == fctl &&
                   rdmsr(MSR_IA32_VMX_BASIC) == vmx_basic,
               "after %s: APIC base %#lx (was %#lx), FEATURE_CONTROL %#lx (was %#lx), VMX_BASIC %#lx", what,
               apic_now, apic, rdmsr(MSR_FEATURE_CONTROL), fctl, rdmsr(MSR_IA32_VMX_BASIC));
    }

    printf("l1hv: attack_msr_lists: VM-exit MSR-load list of MSRs L1 may write\n");
    uint64_t pat = rdmsr(MSR_PAT), aux = rdmsr(MSR_TSC_AUX), esp = rdmsr(MSR_SYSENTER_ESP);
    uint64_t tsc_target = rdtsc() + (1ULL << 32);
    const uint64_t new_pat = 0x0007040600070406ULL ^ 0x0100000000000000ULL; /* entry 7: WC */
    struct msr_entry good[] = {
        {MSR_KERNEL_GS, 0, 0xffff800012345000ULL},
        {MSR_TSC_AUX, 0, 0x7},
        {MSR_PAT, 0, new_pat},
        {MSR_SYSENTER_ESP, 0, 0xffff8000abcd0000ULL},
        {MSR_TSC, 0, tsc_target},
    };
    TRY(fresh_v());
    memcpy(msr_lists[LIST_EXIT_LOAD], good, sizeof good);
    vmw(VMCS_EXIT_MSR_LOAD_ADDR, (uintptr_t)msr_lists[LIST_EXIT_LOAD]);
    vmw(VMCS_EXIT_MSR_LOAD_COUNT, ARRAY_SIZE(good));
    unsigned o = enter(V, true);
    uint64_t got_kgs = rdmsr(MSR_KERNEL_GS), got_aux = rdmsr(MSR_TSC_AUX), got_pat = rdmsr(MSR_PAT);
    uint64_t got_esp = rdmsr(MSR_SYSENTER_ESP), got_tsc = rdtsc();
    wrmsr(MSR_KERNEL_GS, kgs);
    wrmsr(MSR_TSC_AUX, aux);
    wrmsr(MSR_PAT, pat);
    wrmsr(MSR_SYSENTER_ESP, esp);
    printf("l1hv:   %s; then KERNEL_GS_BASE %#lx, TSC_AUX %#lx, PAT %#lx, SYSENTER_ESP %#lx, TSC %#lx (set "
           "%#lx)\n", out_name(o), got_kgs, got_aux, got_pat, got_esp, got_tsc, tsc_target);
    EXPECT(o == EXIT_VMCALL, "VMLAUNCH with the exit list: %s", out_name(o));
    EXPECT(got_kgs == good[0].value && got_aux == good[1].value && got_pat == good[2].value &&
               got_esp == good[3].value && got_tsc >= tsc_target && got_tsc < tsc_target + (1ULL << 31),
           "after the exit list: KERNEL_GS_BASE %#lx TSC_AUX %#lx PAT %#lx SYSENTER_ESP %#lx TSC %#lx", got_kgs,
           got_aux, got_pat, got_esp, got_tsc);
    vmw(VMCS_EXIT_MSR_LOAD_COUNT, 0);
    TRY(fresh_v());
    TRY(run_expect(V, EXIT_VMCALL, "L2 after the lists"));
    witness_end(&w, "attack_msr_lists");
}

/* ==== 8. attack_exit_abort ====
 * A VM-exit MSR-load list WRMSR would refuse: the VM exit ends in a VMX
 * abort (SDM 28.7): the logical processor shuts down, and nestvisor stops
 * L1 with the canary intact. abort_msr= picks the entry: apic (default:
 * IA32_APIC_BASE onto nestvisor's memory), fctl (IA32_FEATURE_CONTROL),
 * x2apic (the ICR), fsbase, efer (reserved bit), vmx (IA32_VMX_BASIC),
 * smbase (IA32_SMBASE onto nestvisor's memory). Ends the run. */
void case_attack_exit_abort(void)
{
    const struct l0_view *l0 = l0_view();
    const char *which = cmdline_get("abort_msr");
    if (!which || !*which)
        which = "apic";
    uint64_t onto = l0 ? l0->canary : (1ULL << caps.phys_bits) - PAGE_SIZE;
    struct msr_entry e = {MSR_APIC_BASE, 0, (rdmsr(MSR_APIC_BASE) & 0xfffULL) | onto};
    if (!strncmp(which, "fctl", 4))
        e = (struct msr_entry){MSR_FEATURE_CONTROL, 0, 0};
    else if (!strncmp(which, "x2apic", 6))
        e = (struct msr_entry){MSR_X2APIC_ICR, 0, ICR_INIT_ALL_BUT_SELF};
    else if (!strncmp(which, "fsbase", 6))
        e = (struct msr_entry){MSR_FS_BASE, 0, 0};
    else if (!strncmp(which, "efer", 4))
        e = (struct msr_entry){MSR_EFER, 0, rdmsr(MSR_EFER) | (1ULL << 1)};
    else if (!strncmp(which, "vmx", 3))
        e = (struct msr_entry){MSR_IA32_VMX_BASIC, 0, 0};
    else if (!strncmp(which, "smbase", 6))
        e = (struct msr_entry){MSR_SMBASE, 0, onto};
    struct witness w;
    witness_begin(&w);
    TRY(fresh_v());
    msr_lists[LIST_EXIT_LOAD][0] = e;
    vmw(VMCS_EXIT_MSR_LOAD_ADDR, (uintptr_t)msr_lists[LIST_EXIT_LOAD]);
    vmw(VMCS_EXIT_MSR_LOAD_COUNT, 1);
    printf("l1hv: attack_exit_abort: VM-exit MSR-load list {%#x, %#lx} (%s): the exit must be a VMX abort\n",
           e.index, e.value, which);
    console_flush();
    unsigned o = enter(V, true);
    printf("l1hv: attack_exit_abort: L1 still runs after %s: no VMX abort\n", out_name(o));
    expect(false, "VM exit with an exit MSR-load list entry {%#x, %#lx}: %s, want a VMX abort", e.index,
           e.value, out_name(o));
    witness_end(&w, "attack_exit_abort");
}

/* ==== 9. attack_events ====
 * Event injection and guest state L1 may not give: each one the
 * architectural VMfailValid(7) (26.2.1.3) or VM-entry failure 33 (26.3),
 * L1 goes on; the injections that are allowed (NMI, #MC, #DF) reach L2's
 * own handlers. */
#define II(type, vec, code) (INTR_INFO_VALID | ((uint32_t)(type) << 8) | ((code) ? INTR_INFO_ERROR_VALID : 0) | (vec))
#define TYPE_RESERVED 1
#define TYPE_PRIV_SW 5
#define TYPE_SW_INTR 4
#define TYPE_OTHER 7
#define INTERRUPTIBILITY_STI 1u
#define INTERRUPTIBILITY_MOV_SS 2u
#define INTERRUPTIBILITY_SMI 4u
#define ACTIVITY_SHUTDOWN 2
#define ACTIVITY_WAIT_SIPI 3

struct field_set {
    uint64_t field, value;
};

struct abuse {
    const char *what;
    struct field_set set[3];
    unsigned want; /* OUT_VMFAIL(7) or OUT_ENTRY_FAIL(33) */
    int cond;
};
/* When a check applies (struct abuse.cond). */
#define C_ALWAYS 0
#define C_BOCHS_DEVIATES 1 /* bare Bochs 2.7 does not check it (README) */
#define C_NO_MTF 2         /* type 7 is reserved only without MTF */
#define C_NO_MISC30 3      /* length 0 is allowed with IA32_VMX_MISC[30] */
#define C_NO_SHUTDOWN 4    /* activity states the CPU does not offer */
#define C_NO_WAIT_SIPI 5
#define C_NO_SGX 6         /* bit 4 of interruptibility exists only with SGX */
#define CPUID7_EBX_SGX (1u << 2)
#define VMX_MISC_INJECT_LEN0 (1ULL << 30)
#define VMX_MISC_SHUTDOWN (1ULL << 7)
#define VMX_MISC_WAIT_SIPI (1ULL << 8)

static void abuse_run(const struct abuse *a)
{
    if (a->cond == C_NO_MTF && !nv_present) {
        printf("l1hv:   %s: not tried on bare Bochs 2.7 (it panics: \"unsupported event injection type 7\")\n",
               a->what);
        return;
    }
    bool applies = (a->cond != C_NO_MTF || !cap_proc(PROC_MTF)) &&
                   (a->cond != C_NO_MISC30 || !(caps.misc & VMX_MISC_INJECT_LEN0)) &&
                   (a->cond != C_NO_SHUTDOWN || !(caps.misc & VMX_MISC_SHUTDOWN)) &&
                   (a->cond != C_NO_WAIT_SIPI || !(caps.misc & VMX_MISC_WAIT_SIPI)) &&
                   (a->cond != C_NO_SGX || !(cpuid2(7, 0).ebx & CPUID7_EBX_SGX));
    if (!applies) {
        printf("l1hv:   %s: offered by this CPU, not tried\n", a->what);
        return;
    }
    if (!fresh_v())
        return;
    for (unsigned i = 0; i < 3 && a->set[i].field; i++)
        vmw(a->set[i].field, a->set[i].value);
    unsigned o = enter(V, true);
    if (a->cond == C_BOCHS_DEVIATES && !nv_present && !opt_strict) {
        printf("l1hv:   %s: %s (bare Bochs 2.7 does not check it; `strict` to require it)\n", a->what,
               out_name(o));
        return;
    }
    const char *want = a->want == OUT_VMFAIL(VMXERR_ENTRY_INVALID_CONTROL) ? "VMfailValid(7)"
                                                                             : "VM-entry failure 33";
    report(a->what, o, (const unsigned[]){a->want, 0}, want);
    if (o == OUT_ENTRY_FAIL(EXIT_INVALID_GUEST_STATE))
        EXPECT(out_qual == 0, "%s: qualification %#lx, want 0", a->what, out_qual);
}

static void inject_ok(const char *what, uint32_t info, uint32_t error, unsigned vector)
{
    if (!fresh_v())
        return;
    vmw(VMCS_ENTRY_INTR_INFO, info);
    vmw(VMCS_ENTRY_EXCEPTION_ERROR, error);
    V->regs.r15 = V->regs.r14 = 0;
    unsigned o = enter(V, true);
    printf("l1hv:   %s: %s, L2's handler saw vector %lu (mark %s)\n", what, out_name(o), V->regs.r14,
           V->regs.r15 == L2_EXC_MARK ? "yes" : "no");
    EXPECT(o == EXIT_VMCALL && V->regs.r15 == L2_EXC_MARK && V->regs.r14 == vector,
           "%s: %s, L2 handler vector %lu mark %#lx, want vector %u", what, out_name(o), V->regs.r14,
           V->regs.r15, vector);
}

void case_attack_events(void)
{
    struct witness w;
    witness_begin(&w);
    TRY(fresh_v());
    uint64_t cs_ar = vmr(VMCS_GUEST_CS_AR), ss_sel = vmr(VMCS_GUEST_SS_SEL), tr_ar = vmr(VMCS_GUEST_TR_AR);
    uint64_t ds_ar = vmr(VMCS_GUEST_DS_AR), cr4 = vmr(VMCS_GUEST_CR4);
    uint64_t entry_dbg = vmr(VMCS_ENTRY_CONTROLS) | ENTRY_LOAD_DEBUG_CONTROLS;
    const unsigned F7 = OUT_VMFAIL(VMXERR_ENTRY_INVALID_CONTROL), F33 = OUT_ENTRY_FAIL(EXIT_INVALID_GUEST_STATE);
    const struct abuse abuses[] = {
        {"inject type 1 (reserved)", {{VMCS_ENTRY_INTR_INFO, II(TYPE_RESERVED, 32, 0)}}, F7, C_ALWAYS},
        {"inject type 7 (other event) without MTF", {{VMCS_ENTRY_INTR_INFO, II(TYPE_OTHER, 0, 0)}}, F7, C_NO_MTF},
        {"inject an NMI with vector 3", {{VMCS_ENTRY_INTR_INFO, II(INTR_TYPE_NMI, 3, 0)}}, F7, C_ALWAYS},
        {"inject a hardware exception with vector 32", {{VMCS_ENTRY_INTR_INFO, II(INTR_TYPE_HW_EXCEPTION, 32, 0)}}, F7, C_ALWAYS},
        {"inject #UD with an error code", {{VMCS_ENTRY_INTR_INFO, II(INTR_TYPE_HW_EXCEPTION, VEC_UD, 1)}}, F7, C_BOCHS_DEVIATES},
        {"inject #GP without an error code", {{VMCS_ENTRY_INTR_INFO, II(INTR_TYPE_HW_EXCEPTION, VEC_GP, 0)}}, F7, C_BOCHS_DEVIATES},
        {"inject with reserved bits 30:12", {{VMCS_ENTRY_INTR_INFO, II(INTR_TYPE_HW_EXCEPTION, VEC_BP, 0) | 0x40000000u}}, F7, C_ALWAYS},
        {"inject #GP with error code bits 31:16 set",
         {{VMCS_ENTRY_INTR_INFO, II(INTR_TYPE_HW_EXCEPTION, VEC_GP, 1)}, {VMCS_ENTRY_EXCEPTION_ERROR, 0x10000}}, F7, C_ALWAYS},
        {"inject a software interrupt with length 0",
         {{VMCS_ENTRY_INTR_INFO, II(TYPE_SW_INTR, 0x80, 0)}, {VMCS_ENTRY_INSTR_LEN, 0}}, F7, C_NO_MISC30},
        {"inject a software exception with length 16",
         {{VMCS_ENTRY_INTR_INFO, II(INTR_TYPE_SW_EXCEPTION, VEC_BP, 0)}, {VMCS_ENTRY_INSTR_LEN, 16}}, F7, C_ALWAYS},
        {"inject a privileged software exception with length 0",
         {{VMCS_ENTRY_INTR_INFO, II(TYPE_PRIV_SW, VEC_DB, 0)}, {VMCS_ENTRY_INSTR_LEN, 0}}, F7, C_NO_MISC30},
        {"inject an external interrupt with RFLAGS.IF 0",
         {{VMCS_ENTRY_INTR_INFO, II(INTR_TYPE_EXTERNAL, 0x40, 0)}}, F33, C_ALWAYS},
        {"inject an external interrupt under STI blocking",
         {{VMCS_ENTRY_INTR_INFO, II(INTR_TYPE_EXTERNAL, 0x40, 0)}, {VMCS_GUEST_RFLAGS, RFLAGS_RESERVED_1 | RFLAGS_IF},
          {VMCS_GUEST_INTERRUPTIBILITY, INTERRUPTIBILITY_STI}}, F33, C_ALWAYS},
        {"interruptibility reserved bit 5", {{VMCS_GUEST_INTERRUPTIBILITY, 1u << 5}}, F33, C_ALWAYS},
        {"interruptibility bit 4 (enclave interruption) without SGX", {{VMCS_GUEST_INTERRUPTIBILITY, 1u << 4}}, F33,
         C_NO_SGX},
        {"STI and MOV-SS blocking together",
         {{VMCS_GUEST_INTERRUPTIBILITY, INTERRUPTIBILITY_STI | INTERRUPTIBILITY_MOV_SS},
          {VMCS_GUEST_RFLAGS, RFLAGS_RESERVED_1 | RFLAGS_IF}}, F33, C_ALWAYS},
        {"STI blocking with RFLAGS.IF 0", {{VMCS_GUEST_INTERRUPTIBILITY, INTERRUPTIBILITY_STI}}, F33, C_ALWAYS},
        {"SMI blocking outside SMM", {{VMCS_GUEST_INTERRUPTIBILITY, INTERRUPTIBILITY_SMI}}, F33, C_ALWAYS},
        {"activity state shutdown (not offered)", {{VMCS_GUEST_ACTIVITY_STATE, ACTIVITY_SHUTDOWN}}, F33, C_NO_SHUTDOWN},
        {"activity state wait-for-SIPI (not offered)", {{VMCS_GUEST_ACTIVITY_STATE, ACTIVITY_WAIT_SIPI}}, F33, C_NO_WAIT_SIPI},
        {"activity state 4 (reserved)", {{VMCS_GUEST_ACTIVITY_STATE, 4}}, F33, C_ALWAYS},
        {"non-canonical RIP in 64-bit mode", {{VMCS_GUEST_RIP, NONCANONICAL_ADDR}}, F33, C_BOCHS_DEVIATES},
        {"RFLAGS reserved bit 15", {{VMCS_GUEST_RFLAGS, RFLAGS_RESERVED_1 | (1ULL << 15)}}, F33, C_ALWAYS},
        {"RFLAGS bit 1 clear", {{VMCS_GUEST_RFLAGS, 0}}, F33, C_ALWAYS},
        {"pending debug exceptions reserved bit 4", {{VMCS_GUEST_PENDING_DBG, 1ULL << 4}}, F33, C_ALWAYS},
        {"64-bit CS with D/B set", {{VMCS_GUEST_CS_AR, cs_ar | AR_DB}}, F33, C_ALWAYS},
        {"CS of a data type", {{VMCS_GUEST_CS_AR, (cs_ar & ~0xfULL) | AR_TYPE_DATA_RW_ACCESSED}}, F33, C_ALWAYS},
        {"CS not present", {{VMCS_GUEST_CS_AR, cs_ar & ~(uint64_t)AR_P}}, F33, C_ALWAYS},
        {"SS RPL 3 with CS RPL 0", {{VMCS_GUEST_SS_SEL, ss_sel | 3}}, F33, C_ALWAYS},
        {"DS access rights reserved bit 8", {{VMCS_GUEST_DS_AR, ds_ar | (1u << 8)}}, F33, C_ALWAYS},
        {"TR unusable", {{VMCS_GUEST_TR_AR, tr_ar | AR_UNUSABLE}}, F33, C_ALWAYS},
        {"TR a 16-bit busy TSS in IA-32e mode", {{VMCS_GUEST_TR_AR, (tr_ar & ~0xfULL) | 3}}, F33, C_ALWAYS},
        {"TR base non-canonical", {{VMCS_GUEST_TR_BASE, NONCANONICAL_ADDR}}, F33, C_ALWAYS},
        {"LDTR usable with type 3", {{VMCS_GUEST_LDTR_AR, AR_P | 3}}, F33, C_ALWAYS},
        {"GDTR base non-canonical", {{VMCS_GUEST_GDTR_BASE, NONCANONICAL_ADDR}}, F33, C_ALWAYS},
        {"IDTR limit above 0xffff", {{VMCS_GUEST_IDTR_LIMIT, 0x10000}}, F33, C_ALWAYS},
        {"guest CR4.VMXE clear (fixed to 1)", {{VMCS_GUEST_CR4, cr4 & ~CR4_VMXE}}, F33, C_ALWAYS},
        {"guest CR3 beyond MAXPHYADDR", {{VMCS_GUEST_CR3, l2_cr3 | (1ULL << caps.phys_bits)}}, F33, C_ALWAYS},
        {"SYSENTER_EIP non-canonical", {{VMCS_GUEST_SYSENTER_EIP, NONCANONICAL_ADDR}}, F33, C_ALWAYS},
        {"DR7 bits 63:32 set (load debug controls)",
         {{VMCS_GUEST_DR7, DR7_INIT | (1ULL << 40)}, {VMCS_ENTRY_CONTROLS, entry_dbg}}, F33, C_ALWAYS},
        {"DEBUGCTL reserved bit 63 (load debug controls)",
         {{VMCS_GUEST_DEBUGCTL, 1ULL << 63}, {VMCS_ENTRY_CONTROLS, entry_dbg}}, F33, C_BOCHS_DEVIATES},
    };
    printf("l1hv: attack_events: %u bad injections and guest states\n", (unsigned)ARRAY_SIZE(abuses));
    for (unsigned i = 0; i < ARRAY_SIZE(abuses); i++)
        abuse_run(&abuses[i]);
    printf("l1hv: attack_events: injections hardware delivers\n");
    inject_ok("inject an NMI", II(INTR_TYPE_NMI, VEC_NMI, 0), 0, VEC_NMI);
    inject_ok("inject #MC", II(INTR_TYPE_HW_EXCEPTION, VEC_MC, 0), 0, VEC_MC);
    inject_ok("inject #DF (error code 0)", II(INTR_TYPE_HW_EXCEPTION, VEC_DF, 1), 0, VEC_DF);
    inject_ok("inject #PF with error code 0xffff", II(INTR_TYPE_HW_EXCEPTION, VEC_PF, 1), 0xffff, VEC_PF);
    TRY(fresh_v());
    TRY(run_expect(V, EXIT_VMCALL, "L2 after every attempt"));
    witness_end(&w, "attack_events");
}

/* ==== 10. attack_remap_stale ====
 * 3,000 EPT12 remaps, each followed by INVEPT: after it, L2's read must see
 * the current mapping, never an older one (with a VPID when offered, so
 * that only INVEPT, not the VM entry, drops L2's translations). */
#define REMAP_STALE_ROUNDS 3000
#define REMAP_WINDOWS 4

void case_attack_remap_stale(void)
{
    struct ept e;
    TRY(ept_begin(&e));
    struct witness w;
    witness_begin(&w);
    fill_pages();
    for (unsigned j = 0; j < REMAP_WINDOWS; j++)
        TRY(expect(ept_map(&e, WIN_PAGE(j), PAGE_PA(j), PAGE_SIZE, EPT_RWX) != NULL, POOL_MSG));
    TRY(ept_vcpu_setup(V, l2_read, &e));
    if (cap_proc2(PROC2_VPID)) {
        vmcs_enable_proc2(PROC2_VPID);
        vmw(VMCS_VPID, 3);
    }
    unsigned rounds = (unsigned)cmdline_u64("remap_rounds", REMAP_STALE_ROUNDS), stale = 0, other = 0;
    for (unsigned i = 0; i < rounds; i++) {
        unsigned j = i % REMAP_WINDOWS, p = (i * 5 + 1) % DATA_PAGES;
        uint64_t off = (i * 8 * 13) & (PAGE_SIZE - 8);
        if (!ept_map(&e, WIN_PAGE(j), PAGE_PA(p), PAGE_SIZE, EPT_RWX)) {
            expect(false, POOL_MSG);
            break;
        }
        int r = ept_invalidate(e.eptp);
        l2_restart(V, l2_read);
        V->regs.rbx = WIN_PAGE(j) + off;
        unsigned o = enter(V, !V->launched);
        if (r != VMX_OK || o != EXIT_VMCALL) {
            expect(false, "round %u: INVEPT %s, L2 %s", i, vmx_outcome(r), out_name(o));
            break;
        }
        if (V->regs.r8 != pattern(p, off)) {
            bool old = false;
            for (unsigned q = 0; q < DATA_PAGES; q++)
                old |= V->regs.r8 == pattern(q, off);
            stale += old;
            other += !old;
            if (stale + other == 1)
                expect(false, "round %u: L2 read %#lx through WIN_PAGE(%u) after INVEPT, want page %u's %#lx%s", i,
                       V->regs.r8, j, p, pattern(p, off), old ? " (an older mapping: stale)" : "");
        }
    }
    printf("l1hv: attack_remap_stale: %u remaps with INVEPT: %u stale reads, %u other wrong reads\n", rounds,
           stale, other);
    witness_end(&w, "attack_remap_stale");
}

/* ==== 11. attack_vmx_operands ====
 * VMX instructions whose memory operand is in nestvisor's memory or beyond
 * RAM behave as with any memory the sink maps: VMPTRST and a VMREAD to
 * memory store into the sink, VMPTRLD/VMCLEAR/VMXON/VMWRITE/INVEPT/INVVPID
 * read their operand from it; no fault where hardware gives none. Operands
 * straddling a page boundary: L1's RAM then the sink works the same; into a
 * page L1's paging leaves not present, a #PF. */
struct vmx_op {
    int kind;
    volatile uint64_t *p;
    uint64_t field;
    int result;
};
enum { OP_VMPTRST, OP_VMPTRLD, OP_VMCLEAR, OP_VMXON, OP_VMREAD, OP_VMWRITE, OP_INVEPT, OP_INVVPID };

static void do_vmx_op(void *arg)
{
    struct vmx_op *op = arg;
    uint8_t cf = 0, zf = 0;
    switch (op->kind) {
    case OP_VMPTRST:
        __asm__ volatile("vmptrst %[m]" VMX_SET_FLAGS : [m] "=m"(*op->p), VMX_FLAGS_OUT(cf, zf) : : "cc", "memory");
        break;
    case OP_VMPTRLD:
        __asm__ volatile("vmptrld %[m]" VMX_SET_FLAGS : VMX_FLAGS_OUT(cf, zf) : [m] "m"(*op->p) : "cc", "memory");
        break;
    case OP_VMCLEAR:
        __asm__ volatile("vmclear %[m]" VMX_SET_FLAGS : VMX_FLAGS_OUT(cf, zf) : [m] "m"(*op->p) : "cc", "memory");
        break;
    case OP_VMXON:
        __asm__ volatile("vmxon %[m]" VMX_SET_FLAGS : VMX_FLAGS_OUT(cf, zf) : [m] "m"(*op->p) : "cc", "memory");
        break;
    case OP_VMREAD:
        __asm__ volatile("vmread %[f], %[m]" VMX_SET_FLAGS
                         : [m] "=m"(*op->p), VMX_FLAGS_OUT(cf, zf) : [f] "r"(op->field) : "cc", "memory");
        break;
    case OP_VMWRITE:
        __asm__ volatile("vmwrite %[m], %[f]" VMX_SET_FLAGS
                         : VMX_FLAGS_OUT(cf, zf) : [f] "r"(op->field), [m] "m"(*op->p) : "cc", "memory");
        break;
    case OP_INVEPT:
        __asm__ volatile("invept %[m], %[t]" VMX_SET_FLAGS
                         : VMX_FLAGS_OUT(cf, zf) : [t] "r"(op->field), [m] "m"(*(volatile struct inv_desc *)op->p)
                         : "cc", "memory");
        break;
    case OP_INVVPID:
        __asm__ volatile("invvpid %[m], %[t]" VMX_SET_FLAGS
                         : VMX_FLAGS_OUT(cf, zf) : [t] "r"(op->field), [m] "m"(*(volatile struct inv_desc *)op->p)
                         : "cc", "memory");
        break;
    }
    op->result = vmx_result_of(cf, zf);
}

static const char *const op_names[] = {"VMPTRST", "VMPTRLD", "VMCLEAR", "VMXON", "VMREAD", "VMWRITE", "INVEPT",
                                       "INVVPID"};

/* Runs op on the operand at p; true if it did not fault and ended with want. */
static bool vmx_op_at(int kind, volatile void *p, uint64_t field, int want, const char *where)
{
    struct vmx_op op = {kind, (volatile uint64_t *)p, field, -1};
    int f = try_call(do_vmx_op, &op);
    printf("l1hv:   %s with its operand at %p (%s): %s%s%s\n", op_names[kind], (void *)p, where,
           f == NO_FAULT ? vmx_outcome(op.result) : vector_name(f), f == NO_FAULT ? "" : " fault",
           f == NO_FAULT && op.result == want ? "" : " <- unexpected");
    if (f != NO_FAULT)
        return expect(false, "%s with its operand at %p (%s): %s (error %#lx), hardware gives no fault there",
                      op_names[kind], (void *)p, where, vector_name(f), last_fault.error);
    return expect(op.result == want, "%s with its operand at %p (%s): %s, want %s", op_names[kind], (void *)p,
                  where, vmx_outcome(op.result), vmx_result_name(want));
}

void case_attack_vmx_operands(void)
{
    const struct l0_view *l0 = need_l0();
    if (!l0)
        return;
    struct witness w;
    witness_begin(&w);
    TRY(vcpu_setup(W, l2_vmcall));
    TRY(vcpu_setup(V, l2_vmcall));
    volatile uint64_t *canary = (volatile uint64_t *)(uintptr_t)l0->canary;
    volatile uint64_t *top = (volatile uint64_t *)phys_window(l0->top, PHYS_SLOT_SINK + 4);
    volatile uint64_t *other = (volatile uint64_t *)(uintptr_t)l0->other;

    printf("l1hv: attack_vmx_operands: operands in nestvisor's memory and beyond RAM\n");
    sink_write(0x100, 0);
    if (vmx_op_at(OP_VMPTRST, canary + 0x100 / 8, 0, VMX_OK, "the canary page"))
        EXPECT(sink_read(0x100) == vmcs_pa(V), "VMPTRST stored %#lx in the sink, want %#lx", sink_read(0x100),
               vmcs_pa(V));
    sink_write(0x108, 0);
    if (vmx_op_at(OP_VMPTRST, top + 0x108 / 8, 0, VMX_OK, "beyond RAM"))
        EXPECT(sink_read(0x108) == vmcs_pa(V), "VMPTRST stored %#lx beyond RAM, want %#lx", sink_read(0x108),
               vmcs_pa(V));
    sink_write(0x110, vmcs_pa(W));
    if (vmx_op_at(OP_VMPTRLD, canary + 0x110 / 8, 0, VMX_OK, "the canary page, holding W's address"))
        EXPECT(current_vmcs() == vmcs_pa(W), "after VMPTRLD the current VMCS is %#lx, want W %#lx", current_vmcs(),
               vmcs_pa(W));
    vmptrld(vmcs_pa(V));
    sink_write(0x120, 0);
    uint64_t rip = vmr(VMCS_GUEST_RIP);
    if (vmx_op_at(OP_VMREAD, other + 0x120 / 8, VMCS_GUEST_RIP, VMX_OK, "another nestvisor page"))
        EXPECT(sink_read(0x120) == rip, "VMREAD stored %#lx in the sink, want guest RIP %#lx", sink_read(0x120), rip);
    sink_write(0x128, 0xffff800000abc000ULL);
    if (vmx_op_at(OP_VMWRITE, top + 0x128 / 8, VMCS_GUEST_SYSENTER_ESP, VMX_OK, "beyond RAM"))
        EXPECT(vmr(VMCS_GUEST_SYSENTER_ESP) == 0xffff800000abc000ULL, "VMWRITE from the sink wrote %#lx",
               vmr(VMCS_GUEST_SYSENTER_ESP));
    if (ept_offered()) {
        struct ept e;
        ept_pool_reset();
        if (ept_init(&e, 0)) {
            sink_write(0x130, e.eptp);
            sink_write(0x138, 0);
            bool single = caps.ept_vpid & EPT_CAP_INVEPT_SINGLE;
            vmx_op_at(OP_INVEPT, canary + 0x130 / 8, single ? INVEPT_SINGLE_CONTEXT : INVEPT_ALL_CONTEXT, VMX_OK,
                      "the canary page");
        }
    }
    if (cap_proc2(PROC2_VPID) && (caps.ept_vpid & VPID_CAP_INVVPID_ALL)) {
        sink_write(0x140, 0);
        sink_write(0x148, 0);
        vmx_op_at(OP_INVVPID, canary + 0x140 / 8, INVVPID_ALL_CONTEXT, VMX_OK, "the canary page");
    }
    sink_write(0x150, vmcs_pa(W));
    if (vmx_op_at(OP_VMCLEAR, other + 0x150 / 8, 0, VMX_OK, "another nestvisor page, holding W's address"))
        EXPECT(current_vmcs() == vmcs_pa(V), "VMCLEAR of W changed the current VMCS to %#lx", current_vmcs());
    /* VMXON with its operand in the sink. */
    TRY(expect(vmx_disable(), "VMXOFF"));
    write_cr4(read_cr4() | CR4_VMXE);
    memset(vmxon_region, 0, PAGE_SIZE);
    *(uint32_t *)vmxon_region = caps.revision;
    sink_write(0x158, (uintptr_t)vmxon_region);
    bool on = vmx_op_at(OP_VMXON, canary + 0x158 / 8, 0, VMX_OK, "the canary page, holding the region's address");
    in_vmx_root = on;
    if (!on) {
        write_cr4(read_cr4() & ~CR4_VMXE);
        TRY(expect(vmx_enable(), "VMXON after the attempt"));
    }

    printf("l1hv: attack_vmx_operands: operands straddling a page boundary\n");
    TRY(vcpu_setup(W, l2_vmcall));
    TRY(vcpu_setup(V, l2_vmcall));
    uint64_t at = l0->range_base - 4;
    if (usable_ram(at, 4)) {
        volatile uint32_t *low = (volatile uint32_t *)(uintptr_t)at;
        uint32_t saved = *low;
        *low = (uint32_t)vmcs_pa(W);
        sink_write(0, (sink_read(0) & ~0xffffffffULL) | (vmcs_pa(W) >> 32));
        if (vmx_op_at(OP_VMPTRLD, (volatile void *)(uintptr_t)at, 0, VMX_OK,
                      "4 bytes of L1 RAM, then 4 of nestvisor's memory"))
            EXPECT(current_vmcs() == vmcs_pa(W), "the straddling VMPTRLD made %#lx current, want W %#lx",
                   current_vmcs(), vmcs_pa(W));
        vmptrld(vmcs_pa(V));
        if (vmx_op_at(OP_VMPTRST, (volatile void *)(uintptr_t)at, 0, VMX_OK,
                      "4 bytes of L1 RAM, then 4 of nestvisor's memory"))
            EXPECT(*low == (uint32_t)vmcs_pa(V) && (uint32_t)sink_read(0) == (uint32_t)(vmcs_pa(V) >> 32),
                   "the straddling VMPTRST left RAM %#x, sink %#lx", *low, sink_read(0));
        *low = saved;
    }
    at = l0->range_end - 4;
    if (usable_ram(l0->range_end, 4)) {
        volatile uint32_t *high = (volatile uint32_t *)(uintptr_t)l0->range_end;
        uint32_t saved = *high;
        if (vmx_op_at(OP_VMPTRST, (volatile void *)(uintptr_t)at, 0, VMX_OK,
                      "4 bytes of nestvisor's memory, then 4 of L1 RAM"))
            EXPECT((sink_read(PAGE_SIZE - 8) >> 32) == (uint32_t)vmcs_pa(V) && *high == (uint32_t)(vmcs_pa(V) >> 32),
                   "the straddling VMPTRST left sink %#lx, RAM %#x", sink_read(PAGE_SIZE - 8), *high);
        *high = saved;
    }
    /* Into a page L1's paging leaves not present: #PF on the second page. */
    const unsigned slot = PHYS_SLOT_SINK + 8;
    volatile uint8_t *win = phys_window(PAGE_PA(0) & ~(PAGE_2M - 1), slot);
    phys_window_unmap(slot + 1);
    volatile uint64_t *straddle = (volatile uint64_t *)(win + PAGE_2M - 4);
    struct vmx_op op = {OP_VMPTRLD, straddle, 0, -1};
    int f = try_call(do_vmx_op, &op);
    uint64_t second = (uintptr_t)(win + PAGE_2M);
    printf("l1hv:   VMPTRLD with its operand at %p (L1 RAM, then a not-present page): %s, CR2 %#lx\n",
           (void *)straddle, f == NO_FAULT ? vmx_outcome(op.result) : vector_name(f), last_fault.cr2);
    EXPECT(f == VEC_PF && last_fault.cr2 >= (uintptr_t)straddle && last_fault.cr2 <= second &&
               !(last_fault.error & PFEC_PRESENT),
           "VMPTRLD into a not-present page: %s (error %#lx, CR2 %#lx), want #PF for %#lx", vector_name(f),
           last_fault.error, last_fault.cr2, second);
    win = phys_window(l0->top & ~(PAGE_2M - 1), slot);
    straddle = (volatile uint64_t *)(win + PAGE_2M - 4);
    op = (struct vmx_op){OP_VMPTRST, straddle, 0, -1};
    f = try_call(do_vmx_op, &op);
    second = (uintptr_t)(win + PAGE_2M);
    printf("l1hv:   VMPTRST with its operand at %p (beyond RAM, then a not-present page): %s, CR2 %#lx\n",
           (void *)straddle, f == NO_FAULT ? vmx_outcome(op.result) : vector_name(f), last_fault.cr2);
    EXPECT(f == VEC_PF && last_fault.cr2 >= (uintptr_t)straddle && last_fault.cr2 <= second &&
               (last_fault.error & PFEC_WRITE),
           "VMPTRST into a not-present page: %s (error %#lx, CR2 %#lx), want #PF (write) for %#lx", vector_name(f),
           last_fault.error, last_fault.cr2, second);
    l1hv_sink_written = true;
    TRY(vcpu_setup(V, l2_vmcall));
    TRY(run_expect(V, EXIT_VMCALL, "L2 after the operands"));
    witness_end(&w, "attack_vmx_operands");
}

/* ==== 12. attack_vmcs12_write ====
 * L1 writing the memory of its VMCS regions directly, which the
 * architecture leaves undefined but which must never reach nestvisor:
 * (a) garbage over the region of the current, launched VMCS between exits,
 * then VMREAD/VMWRITE/VMRESUME/VMCLEAR/VMPTRLD; (b) L2 writing that region
 * through an EPT12 leaf while it runs; (c) the region's field slots
 * (found by VMWRITE + VMCLEAR + compare) overwritten with values VMWRITE
 * would have been checked for at entry anyway: pointers into nestvisor's
 * memory, invalid addresses, garbage in the high bits of narrow fields;
 * (d) 2,000 rounds of random bit flips in those slots (guest state and
 * controls; the VMX-preemption timer bounds every run). Any VMX outcome is
 * accepted; nestvisor must neither stop nor report a BUG, and the witness
 * must see nothing. */
struct slot {
    uint64_t field;
    const char *name;
    bool fuzz;
    int off; /* qword offset in the region, -1 if not found */
};

static struct slot slots[] = {
    {VMCS_GUEST_ES_SEL, "guest ES selector", true, -1},   {VMCS_GUEST_CS_SEL, "guest CS selector", true, -1},
    {VMCS_GUEST_SS_SEL, "guest SS selector", true, -1},   {VMCS_GUEST_DS_SEL, "guest DS selector", true, -1},
    {VMCS_GUEST_TR_SEL, "guest TR selector", true, -1},   {VMCS_GUEST_LDTR_SEL, "guest LDTR selector", true, -1},
    {VMCS_GUEST_CS_LIMIT, "guest CS limit", true, -1},    {VMCS_GUEST_SS_LIMIT, "guest SS limit", true, -1},
    {VMCS_GUEST_TR_LIMIT, "guest TR limit", true, -1},    {VMCS_GUEST_CS_AR, "guest CS AR", true, -1},
    {VMCS_GUEST_SS_AR, "guest SS AR", true, -1},          {VMCS_GUEST_DS_AR, "guest DS AR", true, -1},
    {VMCS_GUEST_TR_AR, "guest TR AR", true, -1},          {VMCS_GUEST_LDTR_AR, "guest LDTR AR", true, -1},
    {VMCS_GUEST_INTERRUPTIBILITY, "guest interruptibility", true, -1},
    {VMCS_GUEST_ACTIVITY_STATE, "guest activity state", true, -1},
    {VMCS_GUEST_PENDING_DBG, "guest pending debug exceptions", true, -1},
    {VMCS_GUEST_RFLAGS, "guest RFLAGS", true, -1},        {VMCS_GUEST_DR7, "guest DR7", true, -1},
    {VMCS_GUEST_CR0, "guest CR0", true, -1},              {VMCS_GUEST_CR4, "guest CR4", true, -1},
    {VMCS_GUEST_EFER, "guest EFER", true, -1},            {VMCS_GUEST_PAT, "guest PAT", true, -1},
    {VMCS_GUEST_DEBUGCTL, "guest DEBUGCTL", true, -1},    {VMCS_GUEST_SYSENTER_EIP, "guest SYSENTER_EIP", true, -1},
    {VMCS_LINK_POINTER, "VMCS link pointer", true, -1},   {VMCS_ENTRY_INTR_INFO, "entry interruption info", true, -1},
    {VMCS_ENTRY_EXCEPTION_ERROR, "entry error code", true, -1},
    {VMCS_ENTRY_INSTR_LEN, "entry instruction length", true, -1},
    {VMCS_EXCEPTION_BITMAP, "exception bitmap", true, -1},
    {VMCS_PROC_CONTROLS, "primary processor-based controls", true, -1},
    {VMCS_EXIT_CONTROLS, "VM-exit controls", true, -1},   {VMCS_ENTRY_CONTROLS, "VM-entry controls", true, -1},
    {VMCS_CR3_TARGET_COUNT, "CR3-target count", true, -1},
    {VMCS_CR0_GUEST_HOST_MASK, "CR0 mask", true, -1},     {VMCS_CR4_READ_SHADOW, "CR4 read shadow", true, -1},
    {VMCS_ENTRY_MSR_LOAD_COUNT, "VM-entry MSR-load count", true, -1},
    /* Not fuzzed: a VM-exit MSR-store list of garbage is a VMX abort. */
    {VMCS_EXIT_MSR_STORE_COUNT, "VM-exit MSR-store count", false, -1},
    /* Targets of (c), not fuzzed. */
    {VMCS_MSR_BITMAP, "MSR bitmap", false, -1},           {VMCS_IO_BITMAP_A, "I/O bitmap A", false, -1},
    {VMCS_EXIT_MSR_STORE_ADDR, "VM-exit MSR-store address", false, -1},
    {VMCS_ENTRY_MSR_LOAD_ADDR, "VM-entry MSR-load address", false, -1},
    {VMCS_EPT_POINTER, "EPT pointer", false, -1},         {VMCS_HOST_RIP, "host RIP", false, -1},
    {VMCS_GUEST_CR3, "guest CR3", false, -1},             {VMCS_PIN_CONTROLS, "pin-based controls", false, -1},
    {VMCS_PROC_CONTROLS2, "secondary controls", false, -1},
};

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;
static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static uint64_t image_a[PAGE_SIZE / 8], image_b[PAGE_SIZE / 8], good_image[PAGE_SIZE / 8];

static void region_copy(uint64_t *dst)
{
    memcpy(dst, V->vmcs, PAGE_SIZE);
}

/* Where VMWRITE of `field` lands in the region once VMCLEARed. */
static int find_slot(uint64_t field)
{
    uint64_t old = vmr(field);
    if (vmwrite_r(field, old ^ 0x5) != VMX_OK)
        return -1;
    vmclear(vmcs_pa(V));
    region_copy(image_a);
    vmptrld(vmcs_pa(V));
    vmwrite_r(field, old ^ 0xa);
    vmclear(vmcs_pa(V));
    region_copy(image_b);
    vmptrld(vmcs_pa(V));
    vmwrite_r(field, old);
    for (int i = 0; i < PAGE_SIZE / 8; i++)
        if (image_a[i] != image_b[i])
            return i;
    return -1;
}

static unsigned histogram_keys[32], histogram_counts[32], histogram_n;

static void count_outcome(unsigned o)
{
    for (unsigned i = 0; i < histogram_n; i++)
        if (histogram_keys[i] == o) {
            histogram_counts[i]++;
            return;
        }
    if (histogram_n < ARRAY_SIZE(histogram_keys)) {
        histogram_keys[histogram_n] = o;
        histogram_counts[histogram_n++] = 1;
    }
}

/* A fresh V with the preemption timer armed (when offered), so that no L2
 * runs for long whatever a flip did. */
#define FUZZ_TIMER 200000
static bool timed_v(void)
{
    if (!vcpu_setup(V, l2_vmcall))
        return false;
    if (cap_pin(PIN_PREEMPTION_TIMER)) {
        vmcs_set_bits(VMCS_PIN_CONTROLS, PIN_PREEMPTION_TIMER);
        vmw(VMCS_PREEMPTION_TIMER, FUZZ_TIMER);
    }
    return true;
}

static void direct_write(struct slot *s, uint64_t value, const unsigned *allowed, const char *want)
{
    if (!timed_v())
        return;
    if (s->field == VMCS_MSR_BITMAP)
        vmcs_set_bits(VMCS_PROC_CONTROLS, PROC_USE_MSR_BITMAPS);
    if (s->field == VMCS_IO_BITMAP_A)
        vmcs_set_bits(VMCS_PROC_CONTROLS, PROC_USE_IO_BITMAPS);
    if (s->field == VMCS_EPT_POINTER)
        vmcs_enable_proc2(PROC2_EPT);
    if (s->field == VMCS_EXIT_MSR_STORE_ADDR)
        vmw(VMCS_EXIT_MSR_STORE_COUNT, 1);
    if (s->field == VMCS_ENTRY_MSR_LOAD_ADDR)
        vmw(VMCS_ENTRY_MSR_LOAD_COUNT, 1);
    vmclear(vmcs_pa(V));
    ((volatile uint64_t *)V->vmcs)[s->off] = value;
    int r = vmptrld(vmcs_pa(V));
    unsigned o = r == VMX_OK ? enter(V, true) : OUT_VMFAIL(vmx_instruction_error());
    char what[120];
    snprintf(what, sizeof what, "region slot of the %s <- %#lx", s->name, value);
    report(what, o, allowed, want);
}

void case_attack_vmcs12_write(void)
{
    const struct l0_view *l0 = l0_view();
    struct witness w;
    witness_begin(&w);
    uint64_t canary = l0 ? l0->canary : (1ULL << caps.phys_bits) - PAGE_SIZE;

    /* (a) garbage over the current, launched VMCS's region (under
     * nestvisor only: on bare VT-x the region is the VMCS itself, and
     * garbage in its host state would take L1 down, as it should). */
    static const uint8_t fills[] = {0xff, 0x00, 0x5a};
    for (unsigned k = 0; nv_present && k <= ARRAY_SIZE(fills); k++) {
        TRY(vcpu_setup(V, l2_vmcall));
        TRY(run_expect(V, EXIT_VMCALL, "V before the garbage"));
        if (k < ARRAY_SIZE(fills)) {
            memset(V->vmcs, fills[k], PAGE_SIZE);
        } else {
            for (unsigned i = 0; i < PAGE_SIZE / 8; i++)
                ((volatile uint64_t *)V->vmcs)[i] = rng();
        }
        uint64_t rip = 0x77;
        int rr = vmread_r(VMCS_GUEST_RIP, &rip);
        int rw = vmwrite_r(VMCS_GUEST_RSP, (uintptr_t)V->stack_top);
        vcpu_skip_instruction();
        unsigned o1 = enter(V, false);
        int rc = vmclear(vmcs_pa(V));
        int rp = vmptrld(vmcs_pa(V));
        unsigned o2 = rp == VMX_OK ? enter(V, false) : OUT_VMFAIL(vmx_instruction_error());
        printf("l1hv:   region of the current VMCS filled with %s: VMREAD %s (%#lx), VMWRITE %s, VMRESUME %s, "
               "VMCLEAR %s, VMPTRLD %s, VMRESUME %s\n",
               k < ARRAY_SIZE(fills) ? (fills[k] == 0xff ? "0xff" : fills[k] ? "0x5a" : "zeros") : "random qwords",
               vmx_outcome(rr), rip, vmx_outcome(rw), out_name(o1), vmx_outcome(rc), vmx_outcome(rp), out_name(o2));
        vmclear(vmcs_pa(V));
    }

    /* (b) L2 writes its own VMCS region through EPT12. */
    struct ept e;
    if (nv_present && ept_offered()) {
        ept_pool_reset();
        if (expect(ept_init(&e, 0) && ept_identity(&e), POOL_MSG)) {
            TRY(ept_vcpu_setup(V, l2_write_then_read, &e));
            TRY(expect(ept_map(&e, WIN_PAGE(0), vmcs_pa(V), PAGE_SIZE, EPT_RWX) != NULL, POOL_MSG));
            unsigned exits = 0, others = 0;
            for (unsigned i = 0; i < 64; i++) {
                l2_restart(V, l2_write_then_read);
                V->regs.rbx = WIN_PAGE(0) + (rng() & (PAGE_SIZE - 8));
                V->regs.rsi = rng();
                unsigned o = enter(V, !V->launched);
                exits += o == EXIT_VMCALL;
                others += o != EXIT_VMCALL;
                if (o != EXIT_VMCALL) {
                    printf("l1hv:   L2 write %u into its own VMCS region: then %s\n", i, out_name(o));
                    vmclear(vmcs_pa(V));
                    TRY(ept_vcpu_setup(V, l2_write_then_read, &e));
                }
            }
            printf("l1hv:   L2 wrote 64 random qwords into its own VMCS region: %u ran to the VMCALL, %u did not\n",
                   exits, others);
            vmclear(vmcs_pa(V));
        }
    }

    /* (c) the field slots. */
    TRY(timed_v());
    unsigned found = 0;
    for (unsigned i = 0; i < ARRAY_SIZE(slots); i++) {
        slots[i].off = find_slot(slots[i].field);
        found += slots[i].off >= 0;
    }
    printf("l1hv: attack_vmcs12_write: %u of %u fields found in the region by VMWRITE + VMCLEAR\n", found,
           (unsigned)ARRAY_SIZE(slots));
    const unsigned F7 = OUT_VMFAIL(VMXERR_ENTRY_INVALID_CONTROL), F8 = OUT_VMFAIL(VMXERR_ENTRY_INVALID_HOST);
    const unsigned F33 = OUT_ENTRY_FAIL(EXIT_INVALID_GUEST_STATE), F34 = OUT_ENTRY_FAIL(EXIT_MSR_LOADING);
    for (unsigned i = 0; i < ARRAY_SIZE(slots); i++) {
        struct slot *s = &slots[i];
        if (s->off < 0)
            continue;
        /* Without nestvisor "canary" is an address beyond RAM: nothing to
         * protect, and Bochs 2.7 can hang walking an EPT there. */
        bool aimed = s->field == VMCS_MSR_BITMAP || s->field == VMCS_EXIT_MSR_STORE_ADDR ||
                     s->field == VMCS_ENTRY_MSR_LOAD_ADDR || s->field == VMCS_EPT_POINTER ||
                     s->field == VMCS_LINK_POINTER;
        if (aimed && !l0)
            continue;
        switch (s->field) {
        case VMCS_MSR_BITMAP:
            direct_write(s, canary, ALLOW(F7, EXIT_VMCALL), "VMfailValid(7) or the entry");
            direct_write(s, canary + 8, ALLOW(F7), "VMfailValid(7)");
            break;
        case VMCS_IO_BITMAP_A:
            direct_write(s, 1ULL << caps.phys_bits, ALLOW(F7), "VMfailValid(7)");
            break;
        case VMCS_EXIT_MSR_STORE_ADDR:
        case VMCS_ENTRY_MSR_LOAD_ADDR:
            /* The list passes the checks (SDM 26.2.1.2 asks only alignment
             * and width) and is read from the sink: a valid entry there, or
             * a store list would be a VMX abort. */
            sink_write(0, MSR_KERNEL_GS);
            direct_write(s, canary, ALLOW(F7, F34, EXIT_VMCALL), "VMfailValid(7) or the lists in the sink");
            sink_write(0, caps.revision ^ 1);
            direct_write(s, canary + 4, ALLOW(F7), "VMfailValid(7)");
            break;
        case VMCS_EPT_POINTER:
            if (cap_proc2(PROC2_EPT))
                direct_write(s, canary | EPTP_MEMTYPE_WB | EPTP_WALK_4, ALLOW(EXIT_EPT_VIOLATION, EXIT_EPT_MISCONFIG),
                             "an EPT violation or misconfiguration");
            break;
        case VMCS_HOST_RIP:
            direct_write(s, NONCANONICAL_ADDR, ALLOW(F8), "VMfailValid(8)");
            break;
        case VMCS_GUEST_CR3:
            direct_write(s, l2_cr3 | (1ULL << caps.phys_bits), ALLOW(F33), "VM-entry failure 33");
            break;
        case VMCS_LINK_POINTER:
            direct_write(s, canary, ALLOW(F33), "VM-entry failure 33");
            break;
        case VMCS_CR3_TARGET_COUNT:
            direct_write(s, 1000, ALLOW(F7), "VMfailValid(7)");
            break;
        case VMCS_PIN_CONTROLS:
            direct_write(s, ~0ULL, ALLOW(F7), "VMfailValid(7)");
            break;
        case VMCS_ENTRY_INTR_INFO:
            direct_write(s, II(TYPE_RESERVED, 3, 0), ALLOW(F7), "VMfailValid(7)");
            break;
        case VMCS_GUEST_CS_SEL:
        case VMCS_GUEST_CS_LIMIT:
        case VMCS_GUEST_CS_AR:
        case VMCS_GUEST_TR_AR:
        case VMCS_GUEST_INTERRUPTIBILITY:
        case VMCS_GUEST_ACTIVITY_STATE:
        case VMCS_ENTRY_INSTR_LEN: {
            /* The value VMWRITE left, with garbage above the field's width. */
            if (!timed_v())
                break;
            vmclear(vmcs_pa(V));
            uint64_t v = ((volatile uint64_t *)V->vmcs)[s->off];
            vmptrld(vmcs_pa(V));
            uint64_t garbage = s->field >= 0x4000 ? 0xdead000000000000ULL : 0xdeadbeef00000000ULL;
            direct_write(s, v | garbage, NULL, "any outcome");
            break;
        }
        default:
            break;
        }
    }

    /* (d) random flips in the guest-state and control slots. */
    TRY(timed_v());
    vmclear(vmcs_pa(V));
    region_copy(good_image);
    histogram_n = 0;
    unsigned rounds = (unsigned)cmdline_u64("fuzz_rounds", 2000), fuzzable = 0;
    bool trace = cmdline_get("fuzz_trace") != NULL; /* every round's flips and outcome */
    for (unsigned i = 0; i < ARRAY_SIZE(slots); i++)
        fuzzable += slots[i].fuzz && slots[i].off >= 0;
    for (unsigned r = 0; fuzzable && r < rounds; r++) {
        memcpy(V->vmcs, good_image, PAGE_SIZE);
        unsigned flips = 1 + rng() % 3;
        struct {
            const struct slot *s;
            uint64_t before, after;
        } done[3];
        for (unsigned f = 0; f < flips; f++) {
            unsigned pick = rng() % fuzzable;
            for (unsigned i = 0; i < ARRAY_SIZE(slots); i++) {
                if (!slots[i].fuzz || slots[i].off < 0 || pick--)
                    continue;
                volatile uint64_t *q = (volatile uint64_t *)V->vmcs + slots[i].off;
                done[f].s = &slots[i];
                done[f].before = *q;
                if (rng() % 4 == 0)
                    *q = rng();
                else
                    *q ^= 1ULL << (rng() % 64);
                done[f].after = *q;
                break;
            }
        }
        int rp = vmptrld(vmcs_pa(V));
        V->regs.host_rsp = 0; /* the image's HOST_RSP is not this frame's */
        V->regs.r15 = 0;
        unsigned o = rp == VMX_OK ? enter(V, true) : OUT_VMFAIL(vmx_instruction_error());
        count_outcome(o);
        /* Outcomes worth a closer look: an MSR-loading failure (its
         * qualification is the failing entry's index, never 0), an exit
         * other than L2's VMCALL or the timer. */
        bool odd = (o == OUT_ENTRY_FAIL(EXIT_MSR_LOADING) && out_qual == 0) ||
                   (o < OUT_VMFAIL(0) && o != EXIT_VMCALL && o != EXIT_PREEMPTION_TIMER);
        if (odd || trace) {
            printf("l1hv:   fuzz round %u (TSC %lu): %s after", r, rdtsc(), out_name(o));
            for (unsigned f = 0; f < flips; f++)
                printf(" %s %#lx -> %#lx;", done[f].s->name, done[f].before, done[f].after);
            printf("\n");
        }
        vmclear(vmcs_pa(V));
    }
    printf("l1hv: attack_vmcs12_write: %u fuzz rounds over %u slots:", rounds, fuzzable);
    for (unsigned i = 0; i < histogram_n; i++)
        printf(" %s x%u;", out_name_q(histogram_keys[i], false), histogram_counts[i]);
    printf("\n");
    TRY(vcpu_setup(V, l2_vmcall));
    TRY(run_expect(V, EXIT_VMCALL, "a fresh VMCS after the attacks"));
    witness_end(&w, "attack_vmcs12_write");
}

/* ==== 13. attack_bitmaps ====
 * L1 changes its MSR and I/O bitmaps between exits, and L2 changes the MSR
 * bitmap through an EPT12 leaf onto it: nestvisor merges bitmaps into
 * vmcs02 and must follow every change at L1's next entry: an RDMSR (IN)
 * exits to L1 exactly when the bit is set. */
#define BITMAP_MSR MSR_SYSENTER_CS
#define BITMAP_PORT 0x3ff /* COM1's scratch register */
#define L1_ANSWER 0x1234567ULL

/* L0's count of L1's EPT-violation exits: an L1 write to a bitmap page
 * nestvisor merged is one (nestvisor then drops the merge). */
static uint64_t l1_ept_violations(void)
{
    uint64_t n = 0;
    nv_exit_stats(EXIT_EPT_VIOLATION, NV_LEVEL_L1, &n, NULL);
    return n;
}

/* One more RDMSR by L2: resumed past its last VMCALL, l2_rdmsr_loop runs
 * RDMSR and VMCALL again. */
static bool rdmsr_round(bool want_exit, const char *when)
{
    if (V->launched && (V->reason & EXIT_REASON_BASIC_MASK) == EXIT_VMCALL)
        vcpu_skip_instruction();
    unsigned o = enter(V, !V->launched);
    if (o == EXIT_RDMSR) {
        if (!want_exit)
            return expect(false, "%s: RDMSR exited to L1 with the bit clear", when);
        V->regs.rax = L1_ANSWER;
        V->regs.rdx = 0;
        vcpu_skip_instruction();
        o = enter(V, false);
        return expect(o == EXIT_VMCALL && V->regs.r8 == L1_ANSWER, "%s: after L1's answer %s, R8 %#lx", when,
                      out_name(o), V->regs.r8);
    }
    return expect(o == EXIT_VMCALL && !want_exit, "%s: %s, want %s", when, out_name(o),
                  want_exit ? "exit 31 (RDMSR)" : "no exit before the VMCALL");
}

static bool in_round(bool want_exit, const char *when)
{
    if (V->launched && (V->reason & EXIT_REASON_BASIC_MASK) == EXIT_VMCALL)
        vcpu_skip_instruction();
    unsigned o = enter(V, !V->launched);
    if (o == EXIT_IO_INSTRUCTION) {
        if (!want_exit)
            return expect(false, "%s: IN exited to L1 with the bit clear", when);
        vcpu_skip_instruction();
        o = enter(V, false);
        return expect(o == EXIT_VMCALL, "%s: after L1 skipped the IN: %s", when, out_name(o));
    }
    return expect(o == EXIT_VMCALL && !want_exit, "%s: %s, want %s", when, out_name(o),
                  want_exit ? "exit 30 (I/O)" : "no exit before the VMCALL");
}

void case_attack_bitmaps(void)
{
    if (!cap_proc(PROC_USE_MSR_BITMAPS) || !cap_proc(PROC_USE_IO_BITMAPS)) {
        case_skip("MSR or I/O bitmaps not offered");
        return;
    }
    struct witness w;
    witness_begin(&w);
    volatile uint8_t *msr_bit = &msr_bitmap[MSR_BITMAP_READ_LOW + BITMAP_MSR / 8];
    const uint8_t mask = 1u << (BITMAP_MSR % 8);
    memset(msr_bitmap, 0, PAGE_SIZE);
    TRY(vcpu_setup(V, l2_rdmsr_loop));
    vmcs_set_bits(VMCS_PROC_CONTROLS, PROC_USE_MSR_BITMAPS);
    V->regs.rbp = BITMAP_MSR;
    unsigned toggles = 0;
    for (unsigned i = 0; i < 8; i++) {
        bool set = i & 1;
        uint64_t v0 = l1_ept_violations();
        if (set)
            *msr_bit |= mask;
        else
            *msr_bit &= (uint8_t)~mask;
        uint64_t v1 = l1_ept_violations();
        char when[96];
        snprintf(when, sizeof when, "MSR bitmap bit %s by L1 (round %u; L1 EPT-violation exits %lu -> %lu)",
                 set ? "set" : "cleared", i, v0, v1);
        if (!rdmsr_round(set, when))
            break;
        toggles++;
    }
    printf("l1hv: attack_bitmaps: %u L1 changes of the MSR bitmap between exits followed\n", toggles);

    memset(io_bitmap_a, 0, PAGE_SIZE);
    TRY(vcpu_setup(V, l2_in_loop));
    vmcs_set_bits(VMCS_PROC_CONTROLS, PROC_USE_IO_BITMAPS);
    V->regs.rbp = BITMAP_PORT;
    toggles = 0;
    for (unsigned i = 0; i < 8; i++) {
        bool set = !(i & 1);
        uint64_t v0 = l1_ept_violations();
        if (set)
            io_bitmap_a[BITMAP_PORT / 8] |= 1u << (BITMAP_PORT % 8);
        else
            io_bitmap_a[BITMAP_PORT / 8] &= (uint8_t) ~(1u << (BITMAP_PORT % 8));
        uint64_t v1 = l1_ept_violations();
        char when[96];
        snprintf(when, sizeof when, "I/O bitmap bit %s by L1 (round %u; L1 EPT-violation exits %lu -> %lu)",
                 set ? "set" : "cleared", i, v0, v1);
        if (!in_round(set, when))
            break;
        toggles++;
    }
    io_bitmap_a[BITMAP_PORT / 8] = 0;
    printf("l1hv: attack_bitmaps: %u L1 changes of the I/O bitmap between exits followed\n", toggles);

    /* L2 flips the MSR bitmap bit through EPT12. */
    struct ept e;
    if (ept_offered()) {
        ept_pool_reset();
        TRY(expect(ept_init(&e, 0) && ept_identity(&e), POOL_MSG));
        TRY(expect(ept_map(&e, WIN_PAGE(0), (uintptr_t)msr_bitmap, PAGE_SIZE, EPT_RWX) != NULL, POOL_MSG));
        memset(msr_bitmap, 0, PAGE_SIZE);
        TRY(ept_vcpu_setup(V, l2_rdmsr_loop, &e));
        vmcs_set_bits(VMCS_PROC_CONTROLS, PROC_USE_MSR_BITMAPS);
        V->regs.rbp = BITMAP_MSR;
        TRY(rdmsr_round(false, "MSR bitmap clear, before L2 writes it"));
        uint64_t qoff = (MSR_BITMAP_READ_LOW + BITMAP_MSR / 8) & ~7ULL;
        unsigned shift = (unsigned)(((MSR_BITMAP_READ_LOW + BITMAP_MSR / 8) & 7) * 8 + BITMAP_MSR % 8);
        toggles = 0;
        for (unsigned i = 0; i < 6; i++) {
            bool set = !(i & 1);
            l2_restart(V, l2_write_then_read);
            V->regs.rbx = WIN_PAGE(0) + qoff;
            V->regs.rsi = set ? 1ULL << shift : 0;
            unsigned o = enter(V, false);
            if (!expect(o == EXIT_VMCALL && (((*msr_bit & mask) != 0) == set),
                        "L2's write of the MSR bitmap through EPT12: %s, bit now %u", out_name(o), *msr_bit & mask))
                break;
            l2_restart(V, l2_rdmsr_loop);
            V->reason = 0; /* RIP is at the routine's start, not at a VMCALL */
            char when[64];
            snprintf(when, sizeof when, "MSR bitmap bit %s by L2 (round %u)", set ? "set" : "cleared", i);
            if (!rdmsr_round(set, when))
                break;
            toggles++;
        }
        printf("l1hv: attack_bitmaps: %u L2 changes of the MSR bitmap through EPT12 followed\n", toggles);
        memset(msr_bitmap, 0, PAGE_SIZE);
    }
    witness_end(&w, "attack_bitmaps");
}

/* ==== 14. attack_ept12_cycles ====
 * EPT12 whose tables point at themselves or at each other. The walk has
 * four levels whatever the tables say, so each access ends; a table used
 * as a leaf maps that table's own page: (a) PDPT entry 3 (L2's 3-4 GiB)
 * pointing at the PDPT itself: L2 reads its own PDPT, and L1's pages
 * through the 2 MiB leaves taken as 4 KiB ones, and writes a new PDPT
 * entry through it; (b) a PD P whose entry 0 points at a PT Q whose
 * entries point back at P and at Q: L2 reads both tables and writes a leaf
 * into Q that it then uses, with no INVEPT (not present -> present). */
void case_attack_ept12_cycles(void)
{
    struct ept e;
    TRY(ept_begin(&e));
    struct witness w;
    witness_begin(&w);
    fill_pages();
    int level;
    ept_walk(&e, 3 * GIB, &level);
    TRY(expect(level == EPT_LEVEL_PD, "the identity map's walk for 3 GiB ends at level %d", level));
    uint64_t *pdpt = (uint64_t *)(uintptr_t)(e.pml4[0] & EPT_ADDR_MASK);
    pdpt[3] = (uintptr_t)pdpt | EPT_RWX;
    TRY(ept_vcpu_setup(V, l2_read, &e));
    /* 3 GiB + 3 * 2 MiB + 3 * 4 KiB: PDPT[3] (self) -> PDPT[3] (self) -> PDPT[3] as a leaf: the PDPT page. */
    uint64_t self = 3 * GIB + 3 * PAGE_2M + 3 * PAGE_SIZE;
    V->regs.rbx = self + 8 * 1;
    unsigned o = enter(V, true);
    printf("l1hv: attack_ept12_cycles: PDPT entry 3 points at the PDPT: L2 reads %#lx at L2 %#lx (the PDPT's "
           "entry 1 is %#lx): %s\n", V->regs.r8, V->regs.rbx, pdpt[1], out_name(o));
    EXPECT(o == EXIT_VMCALL && V->regs.r8 == pdpt[1], "L2's read of its own PDPT: %s, %#lx, want %#lx",
           out_name(o), V->regs.r8, pdpt[1]);
    /* 3 GiB + k * 2 MiB + j * 4 KiB: PDPT[3] -> PDPT[k] = PD of GiB k as a PT -> its entry j, a 2 MiB
     * leaf taken as a 4 KiB one: L1's (k * 512 + j) * 2 MiB. */
    uint64_t free2m = 0;
    TRY(expect(find_free_ram(PAGE_2M, PAGE_2M, &free2m), "no free 2 MiB of RAM"));
    uint64_t pa = free2m + OFF_A;
    volatile uint64_t *mark = (volatile uint64_t *)(uintptr_t)pa;
    uint64_t saved = *mark, want = 0x5e1f5e1f00000000ULL | pa;
    *mark = want;
    unsigned k = (unsigned)(pa >> 30), j = (unsigned)((pa >> 21) & 511);
    uint64_t gpa = 3 * GIB + (uint64_t)k * PAGE_2M + (uint64_t)j * PAGE_SIZE + (pa & (PAGE_SIZE - 1));
    l2_restart(V, l2_read);
    V->regs.rbx = gpa;
    o = enter(V, false);
    *mark = saved;
    printf("l1hv: attack_ept12_cycles: through the self-map (a 2 MiB leaf taken as a 4 KiB one) L2 %#lx reads "
           "%#lx (L1 %#lx holds %#lx)\n", gpa, V->regs.r8, pa, want);
    EXPECT(o == EXIT_VMCALL && V->regs.r8 == want, "L2's read through the self-map: %s, %#lx, want %#lx",
           out_name(o), V->regs.r8, want);
    /* L2 writes PDPT entry 5 through the self-map. */
    const uint64_t new_entry = PAGE_PA(2) | EPT_RWX;
    pdpt[5] = 0;
    l2_restart(V, l2_write_then_read);
    V->regs.rbx = self + 8 * 5;
    V->regs.rsi = new_entry;
    o = enter(V, false);
    printf("l1hv: attack_ept12_cycles: L2 wrote %#lx into its PDPT entry 5: %s; L1 sees %#lx\n", new_entry,
           out_name(o), pdpt[5]);
    EXPECT(o == EXIT_VMCALL && pdpt[5] == new_entry, "L2's write of its own PDPT: %s, entry 5 %#lx, want %#lx",
           out_name(o), pdpt[5], new_entry);
    pdpt[5] = 0;

    /* (b) P (PD of 2-3 GiB) -> Q (PT); Q[0] -> P, Q[1] -> Q as 4 KiB leaves. */
    uint64_t *p = (uint64_t *)(uintptr_t)PAGE_PA(4), *q = (uint64_t *)(uintptr_t)PAGE_PA(5);
    memset(p, 0, PAGE_SIZE);
    memset(q, 0, PAGE_SIZE);
    p[0] = (uintptr_t)q | EPT_RWX;
    q[0] = (uintptr_t)p | EPT_RWX | (EPT_MEMTYPE_WB << EPT_MEMTYPE_SHIFT);
    q[1] = (uintptr_t)q | EPT_RWX | (EPT_MEMTYPE_WB << EPT_MEMTYPE_SHIFT);
    pdpt[2] = (uintptr_t)p | EPT_RWX;
    TRY(expect_vmok(ept_invalidate(e.eptp), "INVEPT"));
    l2_restart(V, l2_read);
    V->regs.rbx = 2 * GIB + 0 * PAGE_SIZE;
    o = enter(V, false);
    uint64_t r0 = V->regs.r8;
    l2_restart(V, l2_read);
    V->regs.rbx = 2 * GIB + 1 * PAGE_SIZE + 8;
    unsigned o2 = enter(V, false);
    printf("l1hv: attack_ept12_cycles: P -> Q -> {P, Q}: L2 reads P[0] %#lx (%s), Q[1] %#lx (%s)\n", r0,
           out_name(o), V->regs.r8, out_name(o2));
    EXPECT(o == EXIT_VMCALL && r0 == p[0] && o2 == EXIT_VMCALL && V->regs.r8 == q[1],
           "reads through the cycle: %s %#lx (want %#lx), %s %#lx (want %#lx)", out_name(o), r0, p[0],
           out_name(o2), V->regs.r8, q[1]);
    /* L2 maps 2 GiB + 8 KiB itself by writing Q[2], then uses it. */
    l2_restart(V, l2_write_then_read);
    V->regs.rbx = 2 * GIB + 1 * PAGE_SIZE + 8 * 2;
    V->regs.rsi = PAGE_PA(3) | EPT_RWX | (EPT_MEMTYPE_WB << EPT_MEMTYPE_SHIFT);
    o = enter(V, false);
    l2_restart(V, l2_read);
    V->regs.rbx = 2 * GIB + 2 * PAGE_SIZE + OFF_B;
    o2 = enter(V, false);
    printf("l1hv: attack_ept12_cycles: L2 wrote Q[2] (%s) and reads %#lx through it (%s; L1's page holds %#lx)\n",
           out_name(o), V->regs.r8, out_name(o2), pattern(3, OFF_B));
    EXPECT(o == EXIT_VMCALL && o2 == EXIT_VMCALL && V->regs.r8 == pattern(3, OFF_B),
           "L2's own mapping: %s, then %s reading %#lx, want %#lx", out_name(o), out_name(o2), V->regs.r8,
           pattern(3, OFF_B));
    pdpt[2] = 0;
    pdpt[3] = 0;
    TRY(expect_vmok(ept_invalidate(e.eptp), "INVEPT"));
    witness_end(&w, "attack_ept12_cycles");
}

/* ==== 15. attack_remap_flood ====
 * 100,000 EPT12 remaps without INVEPT. L2's 1-4 GiB is one PD P shared by
 * three PDPT entries, whose 512 entries all point at one PT T: L2 reads one
 * qword in each of 1,500 2 MiB regions, which nestvisor's shadow EPT02 must
 * hold in more tables than its pool has. L1 rewrites all of T (to other L1
 * pages) 196 times, L2 reads 256 of the regions after each rewrite (stale
 * values are allowed); then 2,048 not-present leaves that L2 faults on and
 * L1 fills; then INVEPT: a pass over all 1,500 must see the current
 * mapping. nestvisor must neither stop nor exhaust anything. */
#define FLOOD_REGIONS 1500 /* the first and the last pass: more than nestvisor's shadow pool holds */
#define FLOOD_SMALL 256    /* the passes between remaps: what the pool holds (stale values allowed) */
#define FLOOD_STRIDE (PAGE_2M + PAGE_SIZE)

static uint64_t flood_expected(const uint64_t *t, unsigned regions)
{
    uint64_t sum = 0;
    for (unsigned k = 0; k < regions; k++) {
        uint64_t gpa = GIB + (uint64_t)k * FLOOD_STRIDE;
        unsigned idx = (unsigned)((gpa >> 12) & 511);
        unsigned page = 0;
        for (unsigned d = 0; d < DATA_PAGES; d++)
            if ((t[idx] & EPT_ADDR_MASK) == PAGE_PA(d))
                page = d;
        uint64_t v = pattern(page, 0);
        unsigned rot = k & 63;
        sum ^= rot ? (v << rot) | (v >> (64 - rot)) : v;
    }
    return sum;
}

void case_attack_remap_flood(void)
{
    struct ept e;
    TRY(ept_begin(&e));
    struct witness w;
    witness_begin(&w);
    fill_pages();
    uint64_t *pdpt = (uint64_t *)(uintptr_t)(e.pml4[0] & EPT_ADDR_MASK);
    uint64_t *p = (uint64_t *)(uintptr_t)PAGE_PA(6), *t = (uint64_t *)(uintptr_t)PAGE_PA(7);
    for (unsigned i = 0; i < 512; i++) {
        p[i] = (uintptr_t)t | EPT_RWX;
        t[i] = PAGE_PA(i % 6) | EPT_RWX | (EPT_MEMTYPE_WB << EPT_MEMTYPE_SHIFT);
    }
    /* pages 6 and 7 are P and T: their pattern is gone; only 0-5 are mapped. */
    for (unsigned g = 1; g < 4; g++)
        pdpt[g] = (uintptr_t)p | EPT_RWX;
    TRY(ept_vcpu_setup(V, l2_sum, &e));
    unsigned rounds = (unsigned)cmdline_u64("flood_rounds", 196), remaps = 0, runs = 0;
    uint64_t fills0 = 0;
    if (nv_present) {
        uint64_t b = 0, c = 0;
        nv_hypercall(NV_HC_SHADOW_STATS, &b, &c, 0);
        fills0 = c;
    }
    for (unsigned r = 0; r <= rounds; r++) {
        if (r) {
            for (unsigned i = 0; i < 512; i++, remaps++)
                t[i] = PAGE_PA((i + r) % 6) | EPT_RWX | (EPT_MEMTYPE_WB << EPT_MEMTYPE_SHIFT);
        }
        unsigned regions = r ? FLOOD_SMALL : FLOOD_REGIONS;
        l2_restart(V, l2_sum);
        V->regs.rbx = GIB;
        V->regs.rcx = regions;
        V->regs.rdx = FLOOD_STRIDE;
        unsigned o = enter(V, !V->launched);
        runs++;
        if (!expect(o == EXIT_VMCALL && V->regs.r9 == regions, "round %u: L2's pass ended with %s after %lu reads",
                    r, out_name(o), V->regs.r9))
            return;
    }
    printf("l1hv: attack_remap_flood: %u remaps without INVEPT, %u passes by L2 completed (%u then %u reads each)\n",
           remaps, runs, FLOOD_REGIONS, FLOOD_SMALL);

    /* Not-present leaves L2 faults on and L1 fills (no INVEPT needed). */
    unsigned faults = 0, filled = 0;
    for (unsigned i = 0; i < 512; i++)
        t[i] = 0;
    TRY(expect_vmok(ept_invalidate(e.eptp), "INVEPT before the fault phase"));
    unsigned budget = (unsigned)cmdline_u64("flood_faults", 2000);
    for (unsigned round = 0; filled < budget && round < 8; round++) {
        for (unsigned i = 0; i < 512; i++)
            t[i] = 0;
        TRY(expect_vmok(ept_invalidate(e.eptp), "INVEPT"));
        l2_restart(V, l2_sum);
        V->regs.rbx = GIB;
        V->regs.rcx = FLOOD_SMALL;
        V->regs.rdx = FLOOD_STRIDE;
        for (;;) {
            unsigned o = enter(V, false);
            if (o == EXIT_VMCALL)
                break;
            if (!expect(o == EXIT_EPT_VIOLATION, "fault phase: %s, want an EPT violation or the VMCALL", out_name(o)))
                return;
            faults++;
            uint64_t gpa = vmr(VMCS_GUEST_PHYSICAL_ADDR);
            unsigned idx = (unsigned)((gpa >> 12) & 511);
            if (!expect(!t[idx], "EPT violation at %#lx whose leaf T[%u] = %#lx is present", gpa, idx, t[idx]))
                return;
            t[idx] = PAGE_PA((idx + round) % 6) | EPT_RWX | (EPT_MEMTYPE_WB << EPT_MEMTYPE_SHIFT);
            filled++;
        }
    }
    printf("l1hv: attack_remap_flood: %u EPT violations reflected, %u leaves filled by L1\n", faults, filled);

    /* After INVEPT every read sees the current mapping. */
    for (unsigned i = 0; i < 512; i++)
        t[i] = PAGE_PA((i * 7) % 6) | EPT_RWX | (EPT_MEMTYPE_WB << EPT_MEMTYPE_SHIFT);
    TRY(expect_vmok(ept_invalidate(e.eptp), "INVEPT"));
    l2_restart(V, l2_sum);
    V->regs.rbx = GIB;
    V->regs.rcx = FLOOD_REGIONS;
    V->regs.rdx = FLOOD_STRIDE;
    unsigned o = enter(V, false);
    uint64_t want = flood_expected(t, FLOOD_REGIONS);
    uint64_t pages_now = 0, fills1 = 0;
    if (nv_present) {
        uint64_t b = 0, c = 0;
        nv_hypercall(NV_HC_SHADOW_STATS, &b, &c, 0);
        pages_now = b;
        fills1 = c;
    }
    printf("l1hv: attack_remap_flood: after INVEPT L2's %u reads sum to %#lx (want %#lx): %s; nestvisor's shadow "
           "EPT: %lu table pages, %lu fills during the case\n", FLOOD_REGIONS, V->regs.r8, want, out_name(o),
           pages_now, fills1 - fills0);
    EXPECT(o == EXIT_VMCALL && V->regs.r8 == want, "after INVEPT: %s, sum %#lx, want %#lx (a stale mapping)",
           out_name(o), V->regs.r8, want);
    for (unsigned g = 1; g < 4; g++)
        pdpt[g] = 0;
    TRY(expect_vmok(ept_invalidate(e.eptp), "INVEPT"));
    fill_pages();
    witness_end(&w, "attack_remap_flood");
}
