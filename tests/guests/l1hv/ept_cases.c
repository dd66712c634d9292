/* EPT12: L1 gives its L2 an EPT (SDM 29.3) and checks what hardware does
 * with it: translation, remapping, EPT violations (table 28-7) and their
 * repair, permissions and INVEPT (29.4.3), misconfigurations (29.3.3.1),
 * accessed/dirty flags (29.3.5), two EPTs at once, large pages, a real-mode
 * L2 (unrestricted guest), and nestvisor's hidden memory. Each case is
 * skipped when the EPT features it needs are not offered (ept_offered() and
 * the case's own checks). The builder is in ept.c. */
#include "l1hv.h"

static struct vcpu *const V = &vcpus[0];

/* L2 guest-physical windows that only EPT12 gives a meaning: L1 has no RAM
 * at the same addresses (these runs give it 256 MiB; EPT12 remaps them
 * anyway). L2's own page tables map them 1:1, so linear = guest-physical. */
#define WIN_4K        0x40000000ULL /* 1 GiB: 4 KiB test pages */
#define WIN_PAGE(n)   (WIN_4K + (uint64_t)(n) * PAGE_SIZE)
#define WIN_REGION(n) (WIN_4K + (uint64_t)(n) * PAGE_2M) /* further 2 MiB regions */
#define WIN_2M        0x80000000ULL /* 2 GiB: one 2 MiB leaf */
#define WIN_1G        0xc0000000ULL /* 3 GiB: one 1 GiB leaf */

/* L1 pages the test windows are mapped to. */
#define DATA_PAGES 6
static volatile uint64_t data_pages[DATA_PAGES][PAGE_SIZE / 8]
    __attribute__((aligned(PAGE_SIZE)));
#define QWORD(page, off) (data_pages[page][(off) / 8])

static uint64_t page_pa(unsigned page)
{
    return (uintptr_t)data_pages[page];
}

/* Offsets in a page (not 0: the exact address must come back) and values. */
#define OFF_A    0x238
#define OFF_B    0x5c8
#define OFF_CODE 0x840 /* where l2_exec_stub is copied */
#define VALUE_1  0x5eedf00d12345678ULL
#define VALUE_2  0x0ddba11cafe4d00dULL
#define VALUE_3  0x7e57ab1e600dc0deULL
#define SEED_1   0xa1a1000000000000ULL
#define SEED_2   0xb2b2000000000000ULL
#define SEED_3   0xc3c3000000000000ULL
#define SEED_4   0xd4d4000000000000ULL
#define POOL_MSG "EPT12 table pool exhausted"

/* Every qword of a page: seed ^ its offset. */
static uint64_t pattern(uint64_t seed, uint64_t off)
{
    return seed ^ off;
}

static void fill_page(unsigned page, uint64_t seed)
{
    for (unsigned i = 0; i < PAGE_SIZE / 8; i++)
        data_pages[page][i] = pattern(seed, (uint64_t)i * 8);
}

static void copy_stub(unsigned page)
{
    memcpy((uint8_t *)data_pages[page] + OFF_CODE, l2_exec_stub,
           (size_t)(l2_exec_stub_end - l2_exec_stub));
}

static bool verbose(void)
{
    return cmdline_get("verbose") != NULL;
}

/* The start of every case: EPT offered (else the case is skipped), a fresh
 * pool, and e = identity map of 0-4 GiB in 2 MiB leaves. */
static bool ept_start(struct ept *e, uint64_t eptp_extra)
{
    if (!ept_offered())
        return false;
    ept_pool_reset();
    return expect(ept_init(e, eptp_extra) && ept_identity(e), "%s for the identity map",
                  POOL_MSG);
}

/* With a VPID, VM entries and exits may keep L2's cached translations (29.4.3),
 * so INVEPT, not the next VM entry, is what drops them: used where INVEPT's
 * effect is under test, when VPIDs are offered. */
#define EPT_TEST_VPID 2

static void use_vpid_if_offered(void)
{
    if (!cap_proc2(PROC2_VPID))
        return;
    vmcs_enable_proc2(PROC2_VPID);
    vmw(VMCS_VPID, EPT_TEST_VPID);
}

/* ---- the three kinds of access L2 makes ---- */
struct access_kind {
    const char *name;
    void (*entry)(void); /* RBX = address (RSI = value for the write) */
    uint32_t access;     /* QUAL_EPT_READ / WRITE / FETCH */
    uint64_t offset;     /* in the page */
};
static const struct access_kind K_READ = {"read", l2_read, QUAL_EPT_READ, OFF_A};
static const struct access_kind K_WRITE = {"write", l2_write, QUAL_EPT_WRITE, OFF_B};
static const struct access_kind K_FETCH = {"fetch", l2_exec, QUAL_EPT_FETCH, OFF_CODE};

/* Restarts L2 at k's routine on gpa and expects an EPT violation with
 * exactly the architectural information (table 28-7, 28.2.1): the
 * qualification for k's access where the walk's AND of R/W/X is `perms`,
 * gpa as both guest-physical and guest-linear address (L2 maps 1:1), guest
 * RIP at the faulting instruction (for a fetch: gpa itself), no event being
 * delivered. */
static bool expect_violation(struct vcpu *v, const struct access_kind *k, uint64_t gpa,
                             uint64_t perms, const char *what)
{
    l2_restart(v, k->entry);
    v->regs.rbx = gpa;
    if (!run_expect(v, EXIT_EPT_VIOLATION, what))
        return false;
    uint64_t q = vmr(VMCS_EXIT_QUALIFICATION), want = ept_violation_qual(k->access, perms);
    uint64_t got_gpa = vmr(VMCS_GUEST_PHYSICAL_ADDR), gla = vmr(VMCS_GUEST_LINEAR_ADDR);
    uint64_t rip = vmr(VMCS_GUEST_RIP), idt = vmr(VMCS_IDT_VECTORING_INFO);
    uint64_t want_rip = k->access == QUAL_EPT_FETCH ? gpa : (uintptr_t)k->entry;
    bool ok = expect(q == want,
                     "%s: qualification %#lx, want %#lx (%s, EPT12 R/W/X %#lx, linear "
                     "address valid, access to its translation)",
                     what, q, want, k->name, perms);
    ok &= expect(got_gpa == gpa, "%s: guest-physical address %#lx, want %#lx", what, got_gpa,
                 gpa);
    ok &= expect(gla == gpa, "%s: guest-linear address %#lx, want %#lx", what, gla, gpa);
    ok &= expect(rip == want_rip, "%s: guest RIP %#lx, want %#lx", what, rip, want_rip);
    ok &= expect(!(idt & INTR_INFO_VALID), "%s: IDT-vectoring information %#lx", what, idt);
    return ok;
}

/* L2's first access after the VM entry is the fetch at entry, whose page
 * walk reads L2's PML4E at CR3 + 8 * index: an EPT violation on that access
 * has "linear address valid" but not "translation" (bit 8 = 0), the
 * PML4E's address as guest-physical and the fetch address as linear
 * address (table 28-7). With EPT A/D enabled the walk counts as a write,
 * and then bits 0 and 1 are both set. */
static uint64_t l2_pml4e_gpa(uint64_t linear)
{
    return l2_cr3 + 8 * ((linear >> 39) & (EPT_ENTRIES - 1));
}

/* `lenient`: qualification bits accepted either way (a known Bochs
 * deviation outside `strict`). */
static bool expect_walk_violation(struct vcpu *v, void (*entry)(void), uint32_t access,
                                  uint32_t lenient, uint64_t perms, const char *what)
{
    l2_restart(v, entry);
    if (!run_expect(v, EXIT_EPT_VIOLATION, what))
        return false;
    uint64_t rip = (uintptr_t)entry, gpa = l2_pml4e_gpa(rip);
    uint64_t want = access | ((perms & EPT_RWX) << QUAL_EPT_PERM_SHIFT) | QUAL_EPT_LINEAR_VALID;
    uint64_t mask = ~(uint64_t)lenient;
    if (caps.ept_vpid & EPT_CAP_ADV_EXIT_INFO) /* bits 11:9 undefined for walks */
        mask &= ~(uint64_t)(QUAL_EPT_ADV_USER | QUAL_EPT_ADV_WRITABLE | QUAL_EPT_ADV_XD);
    want &= mask;
    uint64_t q = vmr(VMCS_EXIT_QUALIFICATION), got_gpa = vmr(VMCS_GUEST_PHYSICAL_ADDR);
    uint64_t gla = vmr(VMCS_GUEST_LINEAR_ADDR), got_rip = vmr(VMCS_GUEST_RIP);
    bool ok = expect((q & mask) == want,
                     "%s: qualification %#lx, want %#lx (page-walk access, EPT12 R/W/X %#lx, "
                     "linear address valid, not its translation)",
                     what, q, want, perms);
    ok &= expect(got_gpa == gpa, "%s: guest-physical address %#lx, want L2's PML4E at %#lx",
                 what, got_gpa, gpa);
    ok &= expect(gla == rip, "%s: guest-linear address %#lx, want %#lx", what, gla, rip);
    ok &= expect(got_rip == rip, "%s: guest RIP %#lx, want %#lx", what, got_rip, rip);
    return ok;
}

/* ---- 1. ept_identity ---- */
#define CPUID_ANSWER 0x1de47170u

void case_ept_identity(void)
{
    if (!cap_proc(PROC_HLT_EXITING)) {
        case_skip("HLT exiting not offered");
        return;
    }
    struct ept e;
    TRY(ept_start(&e, 0));
    volatile uint64_t *wr = &QWORD(0, OFF_A), *rd = &QWORD(1, OFF_B);
    *wr = 0;
    *rd = VALUE_1;
    TRY(ept_vcpu_setup(V, l2_ept_basic, &e));
    vmcs_set_bits(VMCS_PROC_CONTROLS, PROC_HLT_EXITING);
    V->regs.rbx = (uintptr_t)wr;
    V->regs.rsi = VALUE_2;
    V->regs.rdi = (uintptr_t)rd;

    TRY(run_expect(V, EXIT_CPUID, "L2's CPUID under EPT12"));
    EXPECT(V->regs.rax == 0 && V->regs.rcx == 0, "CPUID exit with EAX %#lx ECX %#lx, want 0, 0",
           V->regs.rax, V->regs.rcx);
    V->regs.rax = CPUID_ANSWER;
    vcpu_skip_instruction();
    TRY(run_expect(V, EXIT_HLT, "L2's HLT under EPT12"));
    vcpu_skip_instruction();
    TRY(run_expect(V, EXIT_VMCALL, "L2's UD2, delivered to its own #UD handler"));
    EXPECT(V->regs.r15 == L2_EXC_MARK && V->regs.r14 == VEC_UD,
           "L2's #UD handler did not run (R15 %#lx, vector %lu)", V->regs.r15, V->regs.r14);
    EXPECT(V->regs.r8 == CPUID_ANSWER, "L2 got EAX %#lx from CPUID, L1 answered %#x",
           V->regs.r8, CPUID_ANSWER);
    EXPECT(V->regs.r9 == VALUE_2 && *wr == VALUE_2,
           "L2 wrote %#llx through EPT12: it read back %#lx, L1 sees %#lx", VALUE_2, V->regs.r9,
           *wr);
    EXPECT(V->regs.r10 == VALUE_1, "L2 read %#lx through EPT12, L1 put %#llx there",
           V->regs.r10, VALUE_1);
}

/* ---- 2. ept_remap: one L2 page backed by a different L1 page ---- */
void case_ept_remap(void)
{
    enum { G = 0, B = 1, NEIGHBOUR = 2 }; /* identity page, backing page */
    struct ept e;
    TRY(ept_start(&e, 0));
    fill_page(G, SEED_1);
    fill_page(B, SEED_2);
    fill_page(NEIGHBOUR, SEED_3);
    TRY(expect(ept_map(&e, page_pa(G), page_pa(B), PAGE_SIZE, EPT_RWX) != NULL, POOL_MSG));
    TRY(ept_vcpu_setup(V, l2_write_read, &e));
    uint64_t gpa = page_pa(G) + OFF_A;
    V->regs.rbx = gpa;
    V->regs.rsi = VALUE_1;
    TRY(run_expect(V, EXIT_VMCALL, "L2 read/write of a remapped page"));
    EXPECT(V->regs.r8 == pattern(SEED_2, OFF_A),
           "L2 read %#lx at guest-physical %#lx, want %#lx from L1 page %#lx (the identity "
           "page has %#lx)",
           V->regs.r8, gpa, pattern(SEED_2, OFF_A), page_pa(B), pattern(SEED_1, OFF_A));
    EXPECT(V->regs.r9 == VALUE_1, "L2 read back %#lx after writing %#llx", V->regs.r9, VALUE_1);
    EXPECT(QWORD(B, OFF_A) == VALUE_1, "L2's write is not in L1 page %#lx (it holds %#lx)",
           page_pa(B), QWORD(B, OFF_A));
    EXPECT(QWORD(G, OFF_A) == pattern(SEED_1, OFF_A),
           "L2's write landed at the identity address %#lx (%#lx)", gpa, QWORD(G, OFF_A));

    /* The rest of the (now split) 2 MiB region is still 1:1. */
    l2_restart(V, l2_read);
    V->regs.rbx = page_pa(NEIGHBOUR) + OFF_B;
    TRY(run_expect(V, EXIT_VMCALL, "L2 read of the next page"));
    EXPECT(V->regs.r8 == pattern(SEED_3, OFF_B),
           "L2 read %#lx from the page after the remapped one, want %#lx (identity)",
           V->regs.r8, pattern(SEED_3, OFF_B));
}

/* ---- 3. ept_violation and 4. ept_fixup ----
 * Three window pages with not-present EPT12 leaves (one per kind of
 * access) and a window region whose PDE is not present. */
#define PDE_GONE_GPA (WIN_REGION(1) + 3 * PAGE_SIZE + OFF_A)

static const struct access_kind *const violation_kinds[] = {&K_READ, &K_WRITE, &K_FETCH};

static bool unmap_test_pages(struct ept *e)
{
    for (unsigned i = 0; i < ARRAY_SIZE(violation_kinds); i++) {
        uint64_t *pte = ept_entry(e, WIN_PAGE(i), EPT_LEVEL_PT);
        if (!expect(pte != NULL, POOL_MSG))
            return false;
        *pte = 0;
    }
    uint64_t *pde = ept_entry(e, PDE_GONE_GPA, EPT_LEVEL_PD);
    if (!expect(pde != NULL, POOL_MSG))
        return false;
    *pde = 0;
    return true;
}

/* L2's PML4 page with a not-present leaf (the last sub-case: nothing runs
 * in L2 until it is back). L2 has used the mapping: INVEPT. */
static uint64_t *unmap_l2_pml4(struct ept *e)
{
    uint64_t *pte = ept_entry(e, l2_cr3, EPT_LEVEL_PT);
    if (!expect(pte != NULL, POOL_MSG))
        return NULL;
    *pte &= ~EPT_RWX;
    if (!expect_vmok(ept_invalidate(e->eptp), "INVEPT after unmapping L2's PML4 page"))
        return NULL;
    return pte;
}

void case_ept_violation(void)
{
    struct ept e;
    TRY(ept_start(&e, 0));
    TRY(unmap_test_pages(&e));
    TRY(ept_vcpu_setup(V, l2_read, &e));
    V->regs.rsi = VALUE_1;
    char what[80];
    for (unsigned i = 0; i < ARRAY_SIZE(violation_kinds); i++) {
        const struct access_kind *k = violation_kinds[i];
        snprintf(what, sizeof what, "L2 %s of a page with a not-present EPT12 leaf", k->name);
        expect_violation(V, k, WIN_PAGE(i) + k->offset, 0, what);
    }
    expect_violation(V, &K_READ, PDE_GONE_GPA, 0, "L2 read under a not-present EPT12 PDE");
    TRY(unmap_l2_pml4(&e));
    expect_walk_violation(V, l2_vmcall, QUAL_EPT_READ, 0, 0,
                          "L2's page walk in its PML4 page, which EPT12 leaves out");
}

/* The page walk faults in L2's PML4 page; mapped again, L2 runs on. */
static bool walk_violation_then_fixup(struct vcpu *v, uint64_t *pml4_leaf)
{
    if (!expect_walk_violation(v, l2_vmcall, QUAL_EPT_READ, 0, 0,
                               "L2's page walk in its PML4 page, which EPT12 leaves out"))
        return false;
    *pml4_leaf |= EPT_RWX;
    v->regs.r8 = 0;
    return run_expect(v, EXIT_VMCALL, "L2 once its PML4 page is mapped again") &&
           expect(v->regs.r8 == 1, "L2 did not run l2_vmcall (R8 %#lx)", v->regs.r8);
}

/* After each violation L1 maps the page and resumes: the access completes.
 * No INVEPT: not-present entries are never cached (29.4.2), and an EPT
 * violation drops what was cached for its address (29.4.3.1). */
void case_ept_fixup(void)
{
    struct ept e;
    TRY(ept_start(&e, 0));
    TRY(unmap_test_pages(&e));
    fill_page(0, SEED_1);
    fill_page(1, SEED_2);
    fill_page(2, SEED_3);
    copy_stub(2);
    fill_page(3, SEED_4);
    TRY(ept_vcpu_setup(V, l2_read, &e));
    V->regs.rsi = VALUE_1;

    TRY(expect_violation(V, &K_READ, WIN_PAGE(0) + OFF_A, 0, "L2 read of a not-present page"));
    TRY(expect(ept_map(&e, WIN_PAGE(0), page_pa(0), PAGE_SIZE, EPT_RWX) != NULL, POOL_MSG));
    TRY(run_expect(V, EXIT_VMCALL, "the read once L1 mapped the page"));
    EXPECT(V->regs.r8 == pattern(SEED_1, OFF_A), "L2 read %#lx, want %#lx", V->regs.r8,
           pattern(SEED_1, OFF_A));

    TRY(expect_violation(V, &K_WRITE, WIN_PAGE(1) + OFF_B, 0, "L2 write to a not-present page"));
    TRY(expect(ept_map(&e, WIN_PAGE(1), page_pa(1), PAGE_SIZE, EPT_RWX) != NULL, POOL_MSG));
    TRY(run_expect(V, EXIT_VMCALL, "the write once L1 mapped the page"));
    EXPECT(QWORD(1, OFF_B) == VALUE_1, "L1's page has %#lx after L2 wrote %#llx",
           QWORD(1, OFF_B), VALUE_1);

    TRY(expect_violation(V, &K_FETCH, WIN_PAGE(2) + OFF_CODE, 0,
                         "L2 fetch from a not-present page"));
    TRY(expect(ept_map(&e, WIN_PAGE(2), page_pa(2), PAGE_SIZE, EPT_RWX) != NULL, POOL_MSG));
    TRY(run_expect(V, EXIT_VMCALL, "the fetch once L1 mapped the page"));
    EXPECT(V->regs.r8 == L2_EXEC_MARK, "the code in the mapped page did not run (R8 %#lx)",
           V->regs.r8);

    TRY(expect_violation(V, &K_READ, PDE_GONE_GPA, 0, "L2 read under a not-present PDE"));
    TRY(expect(ept_map(&e, PDE_GONE_GPA & ~(uint64_t)(PAGE_SIZE - 1), page_pa(3), PAGE_SIZE,
                       EPT_RWX) != NULL,
               POOL_MSG));
    TRY(run_expect(V, EXIT_VMCALL, "the read once L1 built the page table"));
    EXPECT(V->regs.r8 == pattern(SEED_4, OFF_A), "L2 read %#lx, want %#lx", V->regs.r8,
           pattern(SEED_4, OFF_A));

    uint64_t *pml4_leaf = unmap_l2_pml4(&e);
    TRY(pml4_leaf);
    TRY(walk_violation_then_fixup(V, pml4_leaf));
}

/* ---- 5. ept_perm: permissions and INVEPT (29.4.3) ---- */

/* Runs v until the VMCALL, allowing at most one more EPT violation at gpa:
 * the stale-translation fault that raising permissions without INVEPT may
 * cause (the violation itself drops the stale entry, 29.4.3.1). */
static bool run_allowing_one_stale_fault(struct vcpu *v, uint64_t gpa, const char *what,
                                         unsigned *stale)
{
    *stale = 0;
    for (;;) {
        vcpu_run(v);
        if (v->entry_result == VMX_OK && v->reason == EXIT_VMCALL)
            return true;
        if (v->entry_result == VMX_OK && v->reason == EXIT_EPT_VIOLATION && *stale == 0 &&
            vmr(VMCS_GUEST_PHYSICAL_ADDR) == gpa) {
            (*stale)++;
            continue;
        }
        return expect(false, "%s: expected the VMCALL (after at most one stale EPT violation), "
                      "got %s", what, exit_describe(v));
    }
}

void case_ept_perm(void)
{
    struct ept e;
    TRY(ept_start(&e, 0));
    const uint64_t gpa = WIN_PAGE(0) + OFF_B;
    fill_page(0, SEED_1);
    fill_page(1, SEED_2);
    copy_stub(1);
    TRY(expect(ept_map(&e, WIN_PAGE(0), page_pa(0), PAGE_SIZE, EPT_READ) &&
                   ept_map(&e, WIN_PAGE(1), page_pa(1), PAGE_SIZE, EPT_READ | EPT_WRITE),
               POOL_MSG));
    TRY(ept_vcpu_setup(V, l2_read, &e));
    use_vpid_if_offered();
    V->regs.rbx = gpa;
    TRY(run_expect(V, EXIT_VMCALL, "L2 read of a read-only page"));
    EXPECT(V->regs.r8 == pattern(SEED_1, OFF_B), "L2 read %#lx from the read-only page, want %#lx",
           V->regs.r8, pattern(SEED_1, OFF_B));

    /* (a) A write faults ("readable" only); granting write with INVEPT. */
    V->regs.rsi = VALUE_1;
    TRY(expect_violation(V, &K_WRITE, gpa, EPT_READ, "L2 write to a read-only page"));
    EXPECT(QWORD(0, OFF_B) == pattern(SEED_1, OFF_B), "the denied write changed memory to %#lx",
           QWORD(0, OFF_B));
    TRY(expect(ept_set_perms(&e, WIN_PAGE(0), EPT_READ | EPT_WRITE), POOL_MSG));
    TRY(expect_vmok(ept_invalidate(e.eptp), "INVEPT after granting write"));
    TRY(run_expect(V, EXIT_VMCALL, "the write after write was granted with INVEPT"));
    EXPECT(QWORD(0, OFF_B) == VALUE_1, "L1's page has %#lx, L2 wrote %#llx", QWORD(0, OFF_B),
           VALUE_1);

    /* (c) Lowering (write -> read-only) with INVEPT takes effect: the next
     * write faults although the writable translation was just used. */
    TRY(expect(ept_set_perms(&e, WIN_PAGE(0), EPT_READ), POOL_MSG));
    TRY(expect_vmok(ept_invalidate(e.eptp), "INVEPT after taking write away"));
    V->regs.rsi = VALUE_2;
    TRY(expect_violation(V, &K_WRITE, gpa, EPT_READ, "L2 write after write was taken away"));
    EXPECT(QWORD(0, OFF_B) == VALUE_1, "the denied write changed memory to %#lx",
           QWORD(0, OFF_B));

    /* (b) Raising without INVEPT: seen at the latest after one more fault.
     * L2 reads the page first, so a read-only translation is in use (the
     * violation above dropped the earlier one). */
    l2_restart(V, l2_read);
    TRY(run_expect(V, EXIT_VMCALL, "L2 read of the read-only page"));
    TRY(expect(ept_set_perms(&e, WIN_PAGE(0), EPT_READ | EPT_WRITE), POOL_MSG));
    l2_restart(V, l2_write);
    unsigned stale;
    TRY(run_allowing_one_stale_fault(V, gpa, "write granted without INVEPT", &stale));
    EXPECT(QWORD(0, OFF_B) == VALUE_2, "L1's page has %#lx, L2 wrote %#llx", QWORD(0, OFF_B),
           VALUE_2);
    if (verbose())
        printf("l1hv: ept_perm: write granted without INVEPT: %u stale EPT violation(s)\n",
               stale);

    /* (c) again, now that the writable translation is surely in use. */
    TRY(expect(ept_set_perms(&e, WIN_PAGE(0), EPT_READ), POOL_MSG));
    TRY(expect_vmok(ept_invalidate(e.eptp), "INVEPT after taking write away again"));
    V->regs.rsi = VALUE_3;
    TRY(expect_violation(V, &K_WRITE, gpa, EPT_READ, "L2 write after write was taken away "
                         "(second time)"));
    EXPECT(QWORD(0, OFF_B) == VALUE_2, "the denied write changed memory to %#lx",
           QWORD(0, OFF_B));

    /* Fetch from a readable, writable, not executable page; then X granted. */
    TRY(expect_violation(V, &K_FETCH, WIN_PAGE(1) + OFF_CODE, EPT_READ | EPT_WRITE,
                         "L2 fetch from a non-executable page"));
    TRY(expect(ept_set_perms(&e, WIN_PAGE(1), EPT_RWX), POOL_MSG));
    TRY(expect_vmok(ept_invalidate(e.eptp), "INVEPT after granting execute"));
    TRY(run_expect(V, EXIT_VMCALL, "the fetch after execute was granted"));
    EXPECT(V->regs.r8 == L2_EXEC_MARK, "the code did not run (R8 %#lx)", V->regs.r8);

    /* Execute-only (IA32_VMX_EPT_VPID_CAP[0]): fetch works, a read faults
     * with "executable" only. */
    if (!(caps.ept_vpid & EPT_CAP_EXEC_ONLY)) {
        if (verbose())
            printf("l1hv: ept_perm: execute-only EPT pages not offered, not tested\n");
        return;
    }
    TRY(expect(ept_set_perms(&e, WIN_PAGE(1), EPT_EXEC), POOL_MSG));
    TRY(expect_vmok(ept_invalidate(e.eptp), "INVEPT after making the page execute-only"));
    l2_restart(V, l2_exec);
    V->regs.r8 = 0;
    V->regs.rbx = WIN_PAGE(1) + OFF_CODE;
    TRY(run_expect(V, EXIT_VMCALL, "L2 fetch from an execute-only page"));
    EXPECT(V->regs.r8 == L2_EXEC_MARK, "the execute-only code did not run (R8 %#lx)",
           V->regs.r8);
    expect_violation(V, &K_READ, WIN_PAGE(1) + OFF_A, EPT_EXEC,
                     "L2 read of an execute-only page");
}

/* ---- 6. ept_misconfig (29.3.3.1): exit 49 with the guest-physical
 * address; no qualification is saved for it (28.2.1: cleared) ---- */
static bool expect_misconfig(struct vcpu *v, uint64_t gpa, const char *what)
{
    l2_restart(v, l2_read);
    v->regs.rbx = gpa;
    if (!run_expect(v, EXIT_EPT_MISCONFIG, what))
        return false;
    uint64_t got = vmr(VMCS_GUEST_PHYSICAL_ADDR), q = vmr(VMCS_EXIT_QUALIFICATION);
    bool ok = expect(got == gpa, "%s: guest-physical address %#lx, want %#lx", what, got, gpa);
    ok &= expect(q == 0, "%s: exit qualification %#lx, want 0", what, q);
    return ok;
}

#define MISCONFIG_PT_GPA       (WIN_REGION(1) + 5 * PAGE_SIZE + OFF_A) /* PDE with bit 3 */
#define MISCONFIG_LARGE_GPA    (WIN_REGION(2) + 0x12345 * 8) /* 2 MiB leaf with bit 13 */
#define MISCONFIG_LARGE12_GPA  (WIN_REGION(3) + 0x12345 * 8) /* 2 MiB leaf with bit 12 */

void case_ept_misconfig(void)
{
    struct ept e;
    TRY(ept_start(&e, 0));
    fill_page(0, SEED_1);
    uint64_t *wo = ept_map(&e, WIN_PAGE(0), page_pa(0), PAGE_SIZE, EPT_WRITE);
    uint64_t *mt = ept_map(&e, WIN_PAGE(1), page_pa(1), PAGE_SIZE, EPT_RWX);
    uint64_t *rb = ept_map(&e, WIN_PAGE(2), page_pa(2), PAGE_SIZE, EPT_RWX);
    uint64_t *pte = ept_map(&e, MISCONFIG_PT_GPA & ~(uint64_t)(PAGE_SIZE - 1), page_pa(3),
                            PAGE_SIZE, EPT_RWX);
    uint64_t *pde = ept_entry(&e, MISCONFIG_PT_GPA, EPT_LEVEL_PD);
    uint64_t *large = ept_map(&e, WIN_REGION(2), 0, PAGE_2M, EPT_READ);
    uint64_t *large12 = ept_map(&e, WIN_REGION(3), 0, PAGE_2M, EPT_READ);
    TRY(expect(wo && mt && rb && pte && pde && large && large12, POOL_MSG));
    /* Memory type 2 in a leaf (reserved, 29.3.7); bit 3 of a non-leaf entry
     * (bits 6:3 reserved); bits 13 and 12 of a 2 MiB leaf (bits 20:12
     * reserved; Bochs 2.7 ignores bit 12, so that one only with `strict`). */
    *mt = (*mt & ~EPT_MEMTYPE_MASK) | (EPT_MEMTYPE_INVALID << EPT_MEMTYPE_SHIFT);
    *pde |= 1ULL << EPT_MEMTYPE_SHIFT;
    *large |= 2 * PAGE_SIZE;
    *large12 |= PAGE_SIZE;
    /* Address bits from MAXPHYADDR up to 51 are reserved. */
    if (caps.phys_bits < 52)
        *rb |= 1ULL << caps.phys_bits;
    TRY(ept_vcpu_setup(V, l2_read, &e));

    expect_misconfig(V, WIN_PAGE(0) + OFF_A, "L2 read of a page whose leaf is W=1 R=0");
    expect_misconfig(V, WIN_PAGE(1) + OFF_B, "L2 read of a page whose leaf has memory type 2");
    if (caps.phys_bits < 52)
        expect_misconfig(V, WIN_PAGE(2) + OFF_A,
                         "L2 read of a page whose leaf has an address bit >= MAXPHYADDR");
    expect_misconfig(V, MISCONFIG_PT_GPA, "L2 read under a PDE with reserved bit 3");
    expect_misconfig(V, MISCONFIG_LARGE_GPA, "L2 read in a 2 MiB leaf with reserved bit 13");
    if (opt_strict)
        expect_misconfig(V, MISCONFIG_LARGE12_GPA,
                         "L2 read in a 2 MiB leaf with reserved bit 12 (strict)");

    /* Repaired (a misconfigured entry is never cached: no INVEPT needed),
     * the read goes through. */
    *wo |= EPT_READ;
    l2_restart(V, l2_read);
    V->regs.rbx = WIN_PAGE(0) + OFF_A;
    TRY(run_expect(V, EXIT_VMCALL, "L2 read once the leaf is R/W"));
    EXPECT(V->regs.r8 == pattern(SEED_1, OFF_A), "L2 read %#lx, want %#lx", V->regs.r8,
           pattern(SEED_1, OFF_A));
}

/* ---- 7. ept_ad: accessed and dirty flags (29.3.5) ----
 * The test page's PDPTE (1-2 GiB), PDE and PTE serve it alone; the PML4E
 * is shared with everything L2 touches. L2's PML4 page gets a 4 KiB leaf
 * of its own: L2 never writes it (its A/D flags are preset, vmcs.c), but
 * with EPT A/D enabled the page walks' accesses count as writes. */
struct ad_path {
    uint64_t *e[EPT_LEVEL_PML4 + 1]; /* [level] */
    uint64_t *l2_pml4_leaf;
};

static bool ad_check(const struct ad_path *p, bool dirty, const char *when)
{
    static const char *const names[] = {"", "PTE", "PDE", "PDPTE", "PML4E"};
    bool ok = true;
    for (int l = EPT_LEVEL_PT; l <= EPT_LEVEL_PML4; l++)
        ok &= expect(*p->e[l] & EPT_ACCESSED, "%s: accessed flag (bit 8) clear in the %s %#lx",
                     when, names[l], *p->e[l]);
    uint64_t d = *p->e[EPT_LEVEL_PT] & EPT_DIRTY;
    ok &= expect(dirty ? d != 0 : d == 0, "%s: dirty flag (bit 9) %s in the PTE %#lx", when,
                 d ? "set" : "clear", *p->e[EPT_LEVEL_PT]);
    uint64_t both = EPT_ACCESSED | EPT_DIRTY;
    ok &= expect((*p->l2_pml4_leaf & both) == both,
                 "%s: the leaf of L2's PML4 page %#lx lacks accessed+dirty (page walks count "
                 "as writes)", when, *p->l2_pml4_leaf);
    return ok;
}

static void ad_clear(struct ad_path *p)
{
    *p->e[EPT_LEVEL_PT] &= ~(EPT_ACCESSED | EPT_DIRTY);
    for (int l = EPT_LEVEL_PD; l <= EPT_LEVEL_PML4; l++)
        *p->e[l] &= ~EPT_ACCESSED;
    *p->l2_pml4_leaf &= ~(EPT_ACCESSED | EPT_DIRTY);
}

/* L2 reads, then writes the test page; the flags follow each access. */
static bool ad_round(struct ad_path *p, uint64_t gpa, const char *round)
{
    char what[96];
    l2_restart(V, l2_read);
    V->regs.rbx = gpa;
    snprintf(what, sizeof what, "%s: L2 read", round);
    if (!run_expect(V, EXIT_VMCALL, what) || !ad_check(p, false, what))
        return false;
    l2_restart(V, l2_write);
    V->regs.rsi = VALUE_1;
    snprintf(what, sizeof what, "%s: L2 write", round);
    return run_expect(V, EXIT_VMCALL, what) && ad_check(p, true, what);
}

void case_ept_ad(void)
{
    if (!(caps.ept_vpid & EPT_CAP_AD)) {
        case_skip("EPT accessed and dirty flags not offered");
        return;
    }
    struct ept e;
    TRY(ept_start(&e, EPTP_AD_ENABLE));
    const uint64_t gpa = WIN_PAGE(0) + OFF_A;
    struct ad_path p;
    p.e[0] = NULL;
    p.e[EPT_LEVEL_PT] = ept_map(&e, WIN_PAGE(0), page_pa(0), PAGE_SIZE, EPT_RWX);
    for (int l = EPT_LEVEL_PD; l <= EPT_LEVEL_PML4; l++)
        p.e[l] = ept_entry(&e, gpa, l);
    p.l2_pml4_leaf = ept_map(&e, l2_cr3, l2_cr3, PAGE_SIZE, EPT_RWX);
    TRY(expect(p.e[1] && p.e[2] && p.e[3] && p.e[4] && p.l2_pml4_leaf, POOL_MSG));
    TRY(ept_vcpu_setup(V, l2_read, &e));
    use_vpid_if_offered();
    EXPECT(!(*p.e[EPT_LEVEL_PT] & (EPT_ACCESSED | EPT_DIRTY)), "fresh PTE %#lx has A/D",
           *p.e[EPT_LEVEL_PT]);
    TRY(ad_round(&p, gpa, "first access"));

    /* The leaf of L2's code got its accessed flag from fetches. */
    int level;
    uint64_t *code = ept_walk(&e, (uintptr_t)l2_read, &level);
    EXPECT(*code & EPT_ACCESSED, "the EPT12 leaf (level %d) of L2's code %#lx has no accessed "
           "flag", level, *code);

    /* Cleared by L1, invalidated, set again by the next accesses. */
    ad_clear(&p);
    TRY(expect_vmok(ept_invalidate(e.eptp), "INVEPT after clearing the flags"));
    TRY(ad_round(&p, gpa, "after clearing and INVEPT"));

    /* L2's PML4 page readable but not writable: its page walk, a write
     * with A/D enabled, is an EPT violation with bits 0 and 1 set (table
     * 28-7, note 1). Bochs 2.7 sets only bit 1: bit 0 only with `strict`. */
    *p.l2_pml4_leaf &= ~EPT_WRITE;
    TRY(expect_vmok(ept_invalidate(e.eptp), "INVEPT after making L2's PML4 page read-only"));
    TRY(expect_walk_violation(V, l2_vmcall, QUAL_EPT_READ | QUAL_EPT_WRITE,
                              opt_strict ? 0 : QUAL_EPT_READ, EPT_READ | EPT_EXEC,
                              "L2's page walk (a write with A/D) in its read-only PML4 page"));
    *p.l2_pml4_leaf |= EPT_WRITE;
    V->regs.r8 = 0;
    TRY(run_expect(V, EXIT_VMCALL, "L2 once its PML4 page is writable again"));
    EXPECT(V->regs.r8 == 1, "L2 did not run l2_vmcall (R8 %#lx)", V->regs.r8);
}

/* ---- 8. ept_two_l2: two VMCSs, two EPTPs, one L2 guest-physical page
 * backed by a different L1 page in each ---- */
#define TWO_L2_GPA (WIN_PAGE(0) + OFF_A)
#define TWO_L2_BASE_A 1000u
#define TWO_L2_BASE_B 5000u

void case_ept_two_l2(void)
{
    static const char order[] = "AABABBBAABAB";
    struct ept ept_a, ept_b;
    TRY(ept_start(&ept_a, 0));
    TRY(expect(ept_init(&ept_b, 0) && ept_identity(&ept_b), POOL_MSG));
    TRY(expect(ept_map(&ept_a, WIN_PAGE(0), page_pa(0), PAGE_SIZE, EPT_RWX) &&
                   ept_map(&ept_b, WIN_PAGE(0), page_pa(1), PAGE_SIZE, EPT_RWX),
               POOL_MSG));
    QWORD(0, OFF_A) = TWO_L2_BASE_A;
    QWORD(1, OFF_A) = TWO_L2_BASE_B;
    struct vcpu *a = &vcpus[0], *b = &vcpus[1];
    TRY(ept_vcpu_setup(a, l2_ept_counter, &ept_a));
    a->regs.rbx = TWO_L2_GPA;
    TRY(ept_vcpu_setup(b, l2_ept_counter, &ept_b));
    b->regs.rbx = TWO_L2_GPA;

    uint64_t steps[2] = {0, 0};
    const uint64_t base[2] = {TWO_L2_BASE_A, TWO_L2_BASE_B};
    for (const char *p = order; *p; p++) {
        int i = *p == 'A' ? 0 : 1;
        struct vcpu *v = &vcpus[i];
        TRY(expect_vmok(vmptrld(vmcs_pa(v)), "VMPTRLD"));
        if (v->launched)
            vcpu_skip_instruction(); /* past its last VMCALL */
        TRY(run_expect(v, EXIT_VMCALL, v->name));
        uint64_t want = base[i] + steps[i]++;
        TRY(expect(v->regs.r8 == want, "%s (EPTP %#lx), step %lu: L2 read %#lx, want %#lx",
                   v->name, vmr(VMCS_EPT_POINTER), steps[i], v->regs.r8, want));
        TRY(expect(QWORD(0, OFF_A) == TWO_L2_BASE_A + steps[0] &&
                       QWORD(1, OFF_A) == TWO_L2_BASE_B + steps[1],
                   "after %s's step %lu L1's pages hold %#lx and %#lx, want %#lx and %#lx",
                   v->name, steps[i], QWORD(0, OFF_A), QWORD(1, OFF_A),
                   TWO_L2_BASE_A + steps[0], TWO_L2_BASE_B + steps[1]));
    }
}

/* ---- 9. ept_invept_types (31.3 INVEPT): supported types succeed, others
 * and single-context with an EPTP VM entry would refuse fail with 28 ---- */
#define INVEPT_TYPE_0 0
#define INVEPT_TYPE_3 3

void case_ept_invept_types(void)
{
    struct ept e;
    TRY(ept_start(&e, 0));
    TRY(ept_vcpu_setup(V, l2_vmcall, &e)); /* a current VMCS to hold the error */
    struct inv_desc d = {e.eptp, 0};
    bool single = caps.ept_vpid & EPT_CAP_INVEPT_SINGLE, all = caps.ept_vpid & EPT_CAP_INVEPT_ALL;
    if (single)
        expect_vmok(invept(INVEPT_SINGLE_CONTEXT, &d), "INVEPT single-context, valid EPTP");
    else
        expect_vmfail_valid(invept(INVEPT_SINGLE_CONTEXT, &d), VMXERR_INVALID_INVEPT_INVVPID,
                            "INVEPT single-context (not offered)");
    if (all)
        expect_vmok(invept(INVEPT_ALL_CONTEXT, &d), "INVEPT all-context");
    else
        expect_vmfail_valid(invept(INVEPT_ALL_CONTEXT, &d), VMXERR_INVALID_INVEPT_INVVPID,
                            "INVEPT all-context (not offered)");
    expect_vmfail_valid(invept(INVEPT_TYPE_0, &d), VMXERR_INVALID_INVEPT_INVVPID,
                        "INVEPT type 0");
    expect_vmfail_valid(invept(INVEPT_TYPE_3, &d), VMXERR_INVALID_INVEPT_INVVPID,
                        "INVEPT type 3");

    struct bad_eptp {
        uint64_t eptp;
        const char *what;
    } bad[8];
    unsigned n = 0;
    const uint64_t base = e.eptp, no_walk = e.eptp & ~(7ULL << EPTP_WALK_SHIFT);
    bad[n++] = (struct bad_eptp){base | (1ULL << 8), "EPTP bit 8 (reserved 11:8)"};
    bad[n++] = (struct bad_eptp){base | (1ULL << 11), "EPTP bit 11 (reserved 11:8)"};
    bad[n++] = (struct bad_eptp){(base & ~7ULL) | EPTP_MEMTYPE_INVALID, "EPTP memory type 2"};
    bad[n++] = (struct bad_eptp){no_walk | (1ULL << EPTP_WALK_SHIFT), "EPTP page-walk length 2"};
    if (!(caps.ept_vpid & EPT_CAP_WALK_5))
        bad[n++] = (struct bad_eptp){no_walk | EPTP_WALK_5, "EPTP page-walk length 5 (not "
                                     "offered)"};
    if (!(caps.ept_vpid & EPT_CAP_AD))
        bad[n++] = (struct bad_eptp){base | EPTP_AD_ENABLE, "EPTP A/D enable (not offered)"};
    if (caps.phys_bits < 52)
        bad[n++] = (struct bad_eptp){base | (1ULL << caps.phys_bits), "EPTP bit MAXPHYADDR"};
    char what[96];
    for (unsigned i = 0; i < n; i++) {
        struct inv_desc bd = {bad[i].eptp, 0};
        if (single) {
            snprintf(what, sizeof what, "INVEPT single-context with %s (%#lx)", bad[i].what,
                     bad[i].eptp);
            expect_vmfail_valid(invept(INVEPT_SINGLE_CONTEXT, &bd),
                                VMXERR_INVALID_INVEPT_INVVPID, what);
        }
        /* All-context ignores the descriptor. */
        if (all) {
            snprintf(what, sizeof what, "INVEPT all-context with %s in the descriptor",
                     bad[i].what);
            expect_vmok(invept(INVEPT_ALL_CONTEXT, &bd), what);
        }
    }
    uint64_t cur = 0;
    vmptrst(&cur);
    EXPECT(cur == vmcs_pa(V), "VMPTRST %#lx after the INVEPTs, want %#lx", cur, vmcs_pa(V));
    TRY(run_expect(V, EXIT_VMCALL, "L2 after the INVEPTs"));
}

/* ---- 10. ept_large (2 MiB leaf) and ept_large_1g (1 GiB leaf) ---- */
static const uint64_t large_offsets[] = {0, PAGE_SIZE, (1ULL << 20) + 8, PAGE_2M - 8};
#define LARGE_WRITE_OFF ((1ULL << 20) + 0x100)

/* L2 reads the qwords at window + each offset and must see L1's at l1 +
 * offset; then writes one and L1 sees it. */
static void large_reads(uint64_t window, const uint64_t *offsets, unsigned n, uint64_t l1,
                        const char *what)
{
    for (unsigned i = 0; i < n; i++) {
        l2_restart(V, l2_read);
        V->regs.rbx = window + offsets[i];
        if (!run_expect(V, EXIT_VMCALL, what))
            return;
        uint64_t want = *(volatile uint64_t *)(uintptr_t)(l1 + offsets[i]);
        expect(V->regs.r8 == want, "%s: L2 read %#lx at %#lx, L1 has %#lx at %#lx", what,
               V->regs.r8, window + offsets[i], want, l1 + offsets[i]);
    }
}

void case_ept_large(void)
{
    uint64_t region;
    if (!find_free_ram(PAGE_2M, PAGE_2M, &region)) {
        case_skip("no free 2 MiB-aligned 2 MiB of RAM");
        return;
    }
    struct ept e;
    TRY(ept_start(&e, 0));
    volatile uint64_t *r = (volatile uint64_t *)(uintptr_t)region;
    for (uint64_t off = 0; off < PAGE_2M; off += 8)
        r[off / 8] = pattern(SEED_2, off);
    TRY(expect(ept_map(&e, WIN_2M, region, PAGE_2M, EPT_RWX) != NULL, POOL_MSG));
    TRY(ept_vcpu_setup(V, l2_read, &e));
    large_reads(WIN_2M, large_offsets, ARRAY_SIZE(large_offsets), region, "2 MiB leaf");
    l2_restart(V, l2_write);
    V->regs.rbx = WIN_2M + LARGE_WRITE_OFF;
    V->regs.rsi = VALUE_1;
    TRY(run_expect(V, EXIT_VMCALL, "L2 write through a 2 MiB leaf"));
    EXPECT(r[LARGE_WRITE_OFF / 8] == VALUE_1, "L1's region has %#lx at +%#llx, L2 wrote %#llx",
           r[LARGE_WRITE_OFF / 8], LARGE_WRITE_OFF, VALUE_1);
}

/* A 1 GiB leaf maps L2's 3-4 GiB onto L1's 0-1 GiB: L2 sees L1's memory
 * at +3 GiB (data pages, L2's own code, the end of a free 16 MiB). */
#define LARGE_1G_FAR (16ULL << 20)

void case_ept_large_1g(void)
{
    if (!(caps.ept_vpid & EPT_CAP_1G_PAGE)) {
        case_skip("1 GiB EPT pages not offered");
        return;
    }
    uint64_t far;
    if (!find_free_ram(LARGE_1G_FAR, PAGE_2M, &far)) {
        case_skip("no free 16 MiB of RAM");
        return;
    }
    far += LARGE_1G_FAR - 8;
    *(volatile uint64_t *)(uintptr_t)far = VALUE_3;
    struct ept e;
    TRY(ept_start(&e, 0));
    fill_page(0, SEED_3);
    fill_page(1, SEED_4);
    TRY(expect(ept_map(&e, WIN_1G, 0, PAGE_1G, EPT_RWX) != NULL, POOL_MSG));
    TRY(ept_vcpu_setup(V, l2_read, &e));
    const uint64_t offsets[] = {page_pa(0) + OFF_A, page_pa(1) + PAGE_SIZE - 8,
                                (uintptr_t)l2_exec_stub & ~7ULL, far};
    large_reads(WIN_1G, offsets, ARRAY_SIZE(offsets), 0, "1 GiB leaf");
    l2_restart(V, l2_write);
    V->regs.rbx = WIN_1G + page_pa(1) + OFF_B;
    V->regs.rsi = VALUE_2;
    TRY(run_expect(V, EXIT_VMCALL, "L2 write through a 1 GiB leaf"));
    EXPECT(QWORD(1, OFF_B) == VALUE_2, "L1's page has %#lx, L2 wrote %#llx", QWORD(1, OFF_B),
           VALUE_2);
}

/* ---- 11. ept_unrestricted: L2 in real mode (CR0.PE = PG = 0) over EPT12 ---- */
#define REAL_AR_CODE (AR_TYPE_CODE_XR_ACCESSED | AR_S | AR_P) /* 16-bit, G = 0 */
#define REAL_AR_DATA (AR_TYPE_DATA_RW_ACCESSED | AR_S | AR_P)
#define REAL_LIMIT   0xffffu
#define REAL_STACK   0xff0u
#define L2_REAL_AX   0x1234u /* l2.asm */
#define REAL_BX      0x0042u
#define REAL_SI      0x0130u /* DS = the window: reads there, writes at +2 */
#define REAL_DI      0xbeefu
#define REAL_PORT    0x0099u

static void real_mode_guest_state(struct vcpu *v)
{
    vmcs_clear_bits(VMCS_ENTRY_CONTROLS, ENTRY_IA32E_MODE_GUEST);
    if (cap_entry(ENTRY_LOAD_EFER))
        vmw(VMCS_GUEST_EFER, rdmsr(MSR_EFER) & ~(EFER_LME | EFER_LMA));
    /* CR0.PE = CR0.PG = 0 is allowed by "unrestricted guest" even though
     * IA32_VMX_CR0_FIXED0 has them. */
    vmw(VMCS_GUEST_CR0, (caps.cr0_fixed0 & ~(CR0_PE | CR0_PG)) | CR0_ET);
    vmw(VMCS_GUEST_CR4, caps.cr4_fixed0);
    static const uint32_t data_sel[] = {VMCS_GUEST_ES_SEL, VMCS_GUEST_SS_SEL, VMCS_GUEST_DS_SEL,
                                        VMCS_GUEST_FS_SEL, VMCS_GUEST_GS_SEL};
    for (unsigned i = 0; i < ARRAY_SIZE(data_sel); i++) {
        uint32_t k = data_sel[i] - VMCS_GUEST_ES_SEL;
        vmw(data_sel[i], 0);
        vmw(VMCS_GUEST_ES_LIMIT + k, REAL_LIMIT);
        vmw(VMCS_GUEST_ES_AR + k, REAL_AR_DATA);
        vmw(VMCS_GUEST_ES_BASE + k, 0);
    }
    vmw(VMCS_GUEST_SS_BASE, (uintptr_t)v->stack_top - PAGE_SIZE);
    vmw(VMCS_GUEST_DS_BASE, WIN_4K);
    vmw(VMCS_GUEST_CS_SEL, 0);
    vmw(VMCS_GUEST_CS_BASE, (uintptr_t)l2_real);
    vmw(VMCS_GUEST_CS_LIMIT, REAL_LIMIT);
    vmw(VMCS_GUEST_CS_AR, REAL_AR_CODE);
    vmw(VMCS_GUEST_RIP, 0);
    vmw(VMCS_GUEST_RSP, REAL_STACK);
}

void case_ept_unrestricted(void)
{
    if (!cap_proc2(PROC2_UNRESTRICTED_GUEST)) {
        case_skip("unrestricted guest not offered");
        return;
    }
    if (!cap_proc(PROC_UNCOND_IO_EXITING)) {
        case_skip("unconditional I/O exiting not offered");
        return;
    }
    struct ept e;
    TRY(ept_start(&e, 0));
    fill_page(0, SEED_1);
    TRY(expect(ept_map(&e, WIN_PAGE(0), page_pa(0), PAGE_SIZE, EPT_RWX) != NULL, POOL_MSG));
    TRY(ept_vcpu_setup(V, l2_vmcall, &e));
    vmcs_enable_proc2(PROC2_UNRESTRICTED_GUEST);
    vmcs_set_bits(VMCS_PROC_CONTROLS, PROC_UNCOND_IO_EXITING);
    vmcs_clear_bits(VMCS_PROC_CONTROLS, PROC_USE_IO_BITMAPS);
    real_mode_guest_state(V);
    V->regs.rbx = REAL_BX;
    V->regs.rsi = REAL_SI;
    V->regs.rdi = REAL_DI;
    V->regs.rdx = REAL_PORT;

    TRY(run_expect(V, EXIT_IO_INSTRUCTION, "real-mode L2's OUT"));
    uint64_t q = vmr(VMCS_EXIT_QUALIFICATION);
    EXPECT(QUAL_IO_SIZE(q) == 1 && !(q & (QUAL_IO_IN | QUAL_IO_STRING | QUAL_IO_IMMEDIATE)) &&
               QUAL_IO_PORT(q) == REAL_PORT,
           "I/O qualification %#lx, want OUT DX, 1 byte, port %#x", q, REAL_PORT);
    uint64_t cr0 = vmr(VMCS_GUEST_CR0);
    EXPECT(!(cr0 & (CR0_PE | CR0_PG)), "guest CR0 %#lx at the exit: not real mode", cr0);
    vcpu_skip_instruction();
    TRY(run_expect(V, EXIT_VMCALL, "real-mode L2's VMCALL"));
    EXPECT((uint16_t)V->regs.rax == L2_REAL_AX + REAL_BX, "L2 computed AX %#lx, want %#x",
           V->regs.rax, L2_REAL_AX + REAL_BX);
    EXPECT(vmr(VMCS_EXIT_INSTR_LEN) == 3, "VMCALL length %lu", vmr(VMCS_EXIT_INSTR_LEN));
    /* DS:SI is in the window: EPT12 put L1's page there. */
    uint16_t want_cx = (uint16_t)pattern(SEED_1, REAL_SI);
    EXPECT((uint16_t)V->regs.rcx == want_cx, "L2 read %#lx at DS:SI, want %#x from L1's page",
           V->regs.rcx & 0xffff, want_cx);
    uint16_t wrote = *(volatile uint16_t *)((uintptr_t)data_pages[0] + REAL_SI + 2);
    EXPECT(wrote == REAL_DI, "L1's page has %#x where L2 wrote %#x", wrote, REAL_DI);
}

/* ---- 12. ept_hidden: EPT12 leaves onto nestvisor's own memory and beyond
 * RAM. nestvisor (hidden=discard) maps every such L1 address onto one sink
 * page: L2's first read there sees all ones (when nothing wrote the sink
 * earlier in the run), its write is seen at the same offset through the
 * other leaves and by L1 at other hidden addresses, nestvisor's canary
 * stays intact (NV_HC_CANARY), and L2 and L1 run on. ---- */
#define HIDDEN_PATTERN 0x5a5aa5a5c3c33c3cULL
#define ALL_ONES       (~0ULL)

/* ept_hidden_addr=ADDR without nestvisor: an address beyond RAM on bare
 * hardware reads as an empty bus (all ones) and drops writes. */
static void ept_hidden_bare(uint64_t addr)
{
    struct ept e;
    TRY(ept_start(&e, 0));
    TRY(expect(ept_map(&e, WIN_PAGE(0), addr, PAGE_SIZE, EPT_RWX) != NULL, POOL_MSG));
    TRY(ept_vcpu_setup(V, l2_write_read, &e));
    V->regs.rbx = WIN_PAGE(0) + OFF_A;
    V->regs.rsi = HIDDEN_PATTERN;
    TRY(run_expect(V, EXIT_VMCALL, "L2 read/write/read of ept_hidden_addr"));
    printf("l1hv: ept_hidden: L1 %#lx through EPT12: read %#lx, after writing %#llx read %#lx\n",
           addr + OFF_A, V->regs.r8, HIDDEN_PATTERN, V->regs.r9);
    EXPECT(V->regs.r8 == ALL_ONES && V->regs.r9 == ALL_ONES,
           "L2 read %#lx, then %#lx after writing %#llx at L1 %#lx: want all ones (empty bus)",
           V->regs.r8, V->regs.r9, HIDDEN_PATTERN, addr + OFF_A);
}

void case_ept_hidden(void)
{
    const char *opt = cmdline_get("ept_hidden_addr");
    uint64_t extra = opt && *opt ? strtou64(opt, NULL) & ~(uint64_t)(PAGE_SIZE - 1) : 0;
    const struct l0_view *l0 = l0_view();
    if (!l0) {
        if (extra)
            ept_hidden_bare(extra);
        else
            case_skip("not under nestvisor (ept_hidden_addr=ADDR tests an address anyway)");
        return;
    }
    struct ept e;
    TRY(ept_start(&e, 0));
    /* Page 0: the canary, 1: another nestvisor page, 2: beyond RAM,
     * 3: above 512 GiB (beyond EPT01's 1 GiB identity map) or the option. */
    uint64_t target[4] = {l0->canary, l0->other, l0->top, extra ? extra : l0->above512};
    const char *what[4] = {"the canary page", "another nestvisor page", "beyond RAM",
                           extra ? "ept_hidden_addr" : "above 512 GiB"};
    unsigned pages = target[3] ? 4 : 3;
    for (unsigned i = 0; i < pages; i++)
        TRY(expect(ept_map(&e, WIN_PAGE(i), target[i], PAGE_SIZE, EPT_RWX) != NULL, POOL_MSG));
    TRY(ept_vcpu_setup(V, l2_write_read, &e));
    struct witness w;
    witness_begin(&w);
    bool fresh = !l1hv_sink_written;

    /* L2 reads, writes and reads back at the canary page. */
    V->regs.rbx = WIN_PAGE(0) + OFF_A;
    V->regs.rsi = HIDDEN_PATTERN;
    TRY(run_expect(V, EXIT_VMCALL, "L2 read/write/read at the canary page"));
    l1hv_sink_written = true;
    printf("l1hv: ept_hidden: L2 at L1 %#lx (%s): read %#lx, after writing %#llx read %#lx\n",
           target[0] + OFF_A, what[0], V->regs.r8, HIDDEN_PATTERN, V->regs.r9);
    if (fresh)
        EXPECT(V->regs.r8 == ALL_ONES, "L2's first read of nestvisor's memory gave %#lx, want all ones",
               V->regs.r8);
    EXPECT(V->regs.r9 == HIDDEN_PATTERN,
           "L2 read %#lx back after writing %#llx at L1 %#lx: want its write (the sink holds it)",
           V->regs.r9, HIDDEN_PATTERN, target[0] + OFF_A);

    /* The same offset through the other leaves: the same page. */
    for (unsigned i = 1; i < pages; i++) {
        l2_restart(V, l2_read);
        V->regs.rbx = WIN_PAGE(i) + OFF_A;
        TRY(run_expect(V, EXIT_VMCALL, "L2 read through another hidden leaf"));
        printf("l1hv: ept_hidden: L2 at L1 %#lx (%s): read %#lx\n", target[i] + OFF_A, what[i],
               V->regs.r8);
        EXPECT(V->regs.r8 == HIDDEN_PATTERN,
               "L2 read %#lx at L1 %#lx (%s), want %#llx written at the canary page: not one sink",
               V->regs.r8, target[i] + OFF_A, what[i], HIDDEN_PATTERN);
    }
    /* An offset nobody wrote, beyond RAM. */
    l2_restart(V, l2_read);
    V->regs.rbx = WIN_PAGE(2) + OFF_B;
    TRY(run_expect(V, EXIT_VMCALL, "L2 read of another offset beyond RAM"));
    printf("l1hv: ept_hidden: L2 at L1 %#lx (beyond RAM, another offset): read %#lx\n",
           target[2] + OFF_B, V->regs.r8);
    if (fresh)
        EXPECT(V->regs.r8 == ALL_ONES, "L2 read %#lx at an offset nothing wrote, want all ones",
               V->regs.r8);
    /* L1 itself sees L2's write at another hidden address. */
    uint64_t l1_sees = *(volatile uint64_t *)phys_ptr(target[1] + OFF_A, PHYS_SLOT_SINK + 1);
    printf("l1hv: ept_hidden: L1 reads %#lx at %#lx (%s)\n", l1_sees, target[1] + OFF_A, what[1]);
    EXPECT(l1_sees == HIDDEN_PATTERN, "L1 read %#lx at %#lx, want L2's %#llx", l1_sees,
           target[1] + OFF_A, HIDDEN_PATTERN);
    witness_end(&w, "ept_hidden");

    /* L1 goes on: the page mapped to its own RAM, L2 runs to its VMCALL. */
    fill_page(0, SEED_1);
    TRY(expect(ept_map(&e, WIN_PAGE(1), page_pa(0), PAGE_SIZE, EPT_RWX) != NULL, POOL_MSG));
    TRY(expect_vmok(ept_invalidate(e.eptp), "INVEPT"));
    l2_restart(V, l2_read);
    V->regs.rbx = WIN_PAGE(1) + OFF_A;
    TRY(run_expect(V, EXIT_VMCALL, "L2 after the accesses"));
    EXPECT(V->regs.r8 == pattern(SEED_1, OFF_A), "L2 read %#lx from the remapped page, want %#lx",
           V->regs.r8, pattern(SEED_1, OFF_A));
}

/* ---- 13. ept_inject: an event L1 injects, delivered through pages L2 has
 * not touched yet ----
 * Right after INVEPT the processor has no translation of L2's IDT, GDT and
 * stack, so delivering the injected event (26.6) reads them through EPT12
 * first. Under nestvisor each of those reads misses the shadow EPT02 and
 * exits to L0, which fills EPT02 and must deliver the event again (it was
 * interrupted: IDT-vectoring information, 27.2.4); L1 sees none of it. The
 * handler L2 reaches proves the event arrived: R14 = vector, R13 = error
 * code, and for a software exception the return RIP past the instruction
 * length L1 gave. */
#define INJECT_ERROR_CODE 0x1234
#define INJECT_INSN_LEN   2 /* as if "int3" had been two bytes */

static uint32_t intr_info_of(uint32_t type, unsigned vector, bool code)
{
    return INTR_INFO_VALID | (type << 8) | (code ? INTR_INFO_ERROR_VALID : 0) | vector;
}

void case_ept_inject(void)
{
    struct ept e;
    TRY(ept_start(&e, 0));
    TRY(ept_vcpu_setup(V, l2_vmcall, &e));
    /* A #GP with an error code. */
    vmw(VMCS_ENTRY_INTR_INFO, intr_info_of(INTR_TYPE_HW_EXCEPTION, VEC_GP, true));
    vmw(VMCS_ENTRY_EXCEPTION_ERROR, INJECT_ERROR_CODE);
    TRY(run_expect(V, EXIT_VMCALL, "an injected #GP over a fresh EPT12"));
    EXPECT(V->regs.r15 == L2_EXC_MARK && V->regs.r14 == VEC_GP && V->regs.r13 == INJECT_ERROR_CODE,
           "the injected #GP (error code %#x) did not reach L2's handler: R15 %#lx vector %lu "
           "error code %#lx",
           INJECT_ERROR_CODE, V->regs.r15, V->regs.r14, V->regs.r13);
    EXPECT(!(vmr(VMCS_ENTRY_INTR_INFO) & INTR_INFO_VALID),
           "VM-entry interruption information still valid after the exit: %#lx",
           vmr(VMCS_ENTRY_INTR_INFO));

    /* A software exception (#BP), whose return address depends on the
     * instruction length, after the translations are gone again. */
    TRY(expect_vmok(ept_invalidate(e.eptp), "INVEPT"));
    l2_restart(V, l2_vmcall);
    V->regs.r15 = V->regs.r14 = 0;
    vmw(VMCS_ENTRY_INTR_INFO, intr_info_of(INTR_TYPE_SW_EXCEPTION, VEC_BP, false));
    vmw(VMCS_ENTRY_INSTR_LEN, INJECT_INSN_LEN);
    TRY(run_expect(V, EXIT_VMCALL, "an injected #BP over a fresh EPT02"));
    EXPECT(V->regs.r15 == L2_EXC_MARK && V->regs.r14 == VEC_BP,
           "the injected #BP did not reach L2's handler: R15 %#lx vector %lu", V->regs.r15,
           V->regs.r14);
    uint64_t *frame = (uint64_t *)(uintptr_t)vmr(VMCS_GUEST_RSP);
    EXPECT(frame[0] == (uintptr_t)l2_vmcall + INJECT_INSN_LEN,
           "#BP pushed return RIP %#lx, want %#lx (entry RIP + instruction length)", frame[0],
           (uintptr_t)l2_vmcall + INJECT_INSN_LEN);
}
