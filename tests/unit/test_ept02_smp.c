/* unit-srcs: vmm/nested/vmx_insn.c vmm/nested/operand.c vmm/nested/shadow.c vmm/nested/fieldsets.c vmm/nested/vmcs12.c vmm/nested/vmx_msrs.c vmm/nested/vmcs02.c vmm/nested/entry.c vmm/nested/checks.c vmm/nested/checks_guest.c vmm/nested/msrlist.c vmm/nested/vmexit.c vmm/nested/nested.c vmm/nested/eptfeat.c vmm/nested/reflect.c vmm/nested/shadow12.c vmm/nested/ept02.c vmm/nested/ept12.c vmm/nested/bitmaps.c vmm/ept.c vmm/pmm.c vmm/msr.c vmm/mtrr.c vmm/memmap.c vmm/vcpu.c vmm/l1ram.c vmm/io.c vmm/gva.c vmm/l1view.c arch/x86/vmx_root.c arch/x86/vmx_caps.c tests/unit/fake_vmx.c tests/unit/fake_ipi.c */
/* Shadow EPTs on several vCPUs over ONE EPT12 (L1's tables in L1 memory)
 * and the shared EPT01, against a reference model: the vCPUs fault on the
 * same L2 pages in interleaved order while L1 edits EPT12 entries and
 * issues INVEPT on one CPU, then on the others, as KVM's remote TLB flush
 * does. Each vCPU's EPT02 is its own "TLB" (vmm/nested/ept02.h). SDM Vol.
 * 3C 29.4.3.1 and ch. 31 INVEPT: a processor may keep using translations
 * cached from EPT structures L1 has since changed until IT executes INVEPT
 * (single-context: those tagged with the EPTP's bits 51:12; all-context:
 * all); 29.3.2, 29.3.3.2: a translation is EPT12's leaf composed with
 * EPT01, permissions ANDed, and a cached one never grants more. So after
 * every step each leaf of each vCPU's EPT02 must be a translation EPT12 o
 * EPT01 gave at some moment since that vCPU's last INVEPT of that EPTP,
 * with no wider permission, and never L0's memory; right after its INVEPT
 * a vCPU holds nothing for that EPTP. EPT01 losing a permission (a bitmap
 * page write-protected by vmm/nested/bitmaps.c) is L0's business: after
 * smp_invept01_everywhere no vCPU may keep anything that is not valid now.
 * Faults are checked against the model as it is at that moment: outcome,
 * qualification bits 5:3 (Table 28-7), the filled entry. The last test
 * runs the vCPUs in real threads. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "vmm/nested/ept02.h"
#include "vmm/nested/bitmaps.h"
#include "vmm/vm.h"

struct vm the_vm;
#include "tests/unit/nested_smp_fixture.h"

#define NCPUS    3
#define NEPTP    2   /* two EPT12 roots (two L2s of L1), separate tables */
#define NPAGES   32  /* L2 pages each EPT12 maps with 4 KiB leaves */
#define NDATA    12  /* L1 data pages EPT12 leaves point to */
#define NTGT     (NDATA + 3) /* ... plus a page EPT01 hides, L0's pool, beyond L1 RAM */
#define L2_BASE  0x40000000ULL /* PML4 0, PDPT 1, PD 0, PT 0 */
#define L1_DATA  0x800000ULL
#define T_BMP    L1_DATA /* the data page L1 also uses as its MSR bitmap */
#define T_HIDDEN (L1_DATA + NDATA * 4 * KiB) /* L1 RAM that EPT01 leaves out */
#define T_L0     (POOL_BASE + 64 * KiB)     /* L0's memory */
#define T_BEYOND (L1_RAM_END + 4 * KiB)    /* not L1 RAM */
#define TABLES_PER_ROOT 4
#define WB12     ((uint64_t)MEMTYPE_WB << EPT_MEMTYPE_SHIFT)
#define PERMS_RX (EPT_READ | EPT_EXEC)
#define QUAL_PERM_SHIFT 3 /* EPT-violation qualification bits 5:3 (Table 28-7) */
#define PAGE_OFFSET     (4 * KiB - 1)
#define GPA_OFFSET_STEP 8 /* faults land at varied offsets in their page */
#define OUTCOMES        (EPT02_L1_HIDDEN + 1) /* filled, violation, misconfiguration, hidden */
#define SEED     0x5eed12ULL
#define RANDOM_STEPS 6000
#define STEP_KINDS   5
#define NOT_PRESENT_PERCENT 10 /* L1's edits: unmap */
#define ELSEWHERE_PERCENT   15 /* ... point where EPT01 does not lead */
#define MISCONFIG_PERCENT   3  /* ... write without read */

static uint64_t eptp12[NEPTP], pt12[NEPTP];
static uint64_t leaf12[NEPTP][NPAGES]; /* EPT12's leaves as L1 wrote them */
static bool bmp_protected;              /* EPT01 has T_BMP read-only */
/* hist[c][e][i][t]: bit p set if "target t with permissions p" was a
 * translation of page i under EPTP e since CPU c last invalidated it. */
static uint8_t hist[NCPUS][NEPTP][NPAGES][NTGT];
static uint64_t rng;
static unsigned kept_roots[NCPUS]; /* EPT02 roots of each CPU right after its EPT01 flush */
static struct {
    unsigned outcomes[OUTCOMES];
    unsigned leaves, stale; /* EPT02 leaves audited; of them, not current */
} tally;
/* A failed check: in a vCPU thread it is recorded (cmocka's failures are
 * for the main thread), the threads stop, and the test fails with it. */
static _Thread_local int t_cpu = -1;
static uint32_t t_failed;
static char t_why[256];
#define CHECK(cond, ...)                                                                             \
    do {                                                                                             \
        if (cond)                                                                                    \
            break;                                                                                   \
        if (t_cpu < 0)                                                                               \
            fail_msg(__VA_ARGS__);                                                                   \
        else if (!__atomic_exchange_n(&t_failed, 1, __ATOMIC_SEQ_CST))                               \
            snprintf(t_why, sizeof(t_why), __VA_ARGS__);                                             \
    } while (0)

static uint64_t rnd_r(uint64_t *state, uint64_t n)
{
    *state = *state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (*state >> 33) % n;
}

static uint64_t rnd(uint64_t n) { return rnd_r(&rng, n); }

static uint64_t target(unsigned t)
{
    static const uint64_t extra[] = {T_HIDDEN, T_L0, T_BEYOND};
    return t < NDATA ? L1_DATA + t * 4 * KiB : extra[t - NDATA];
}

static int target_index(uint64_t pa)
{
    for (unsigned t = 0; t < NTGT; t++)
        if (target(t) == pa)
            return (int)t;
    return -1;
}

/* ---- the reference: EPT12 o EPT01 now ---- */

static uint64_t ref_perms01(uint64_t l1_pa)
{
    if (l1_pa == T_HIDDEN || !vm_l1_ram_range(l1_pa, 4 * KiB))
        return 0;
    return l1_pa == T_BMP && bmp_protected ? PERMS_RX : EPT_RWX;
}

static bool misconfigured12(uint64_t leaf) { return (leaf & EPT_RWX) == EPT_WRITE; } /* write without read */

/* The translation of page i under EPTP e: its target index and
 * permissions (0: none). */
static uint64_t ref_xlat(unsigned e, unsigned i, int *t)
{
    uint64_t leaf = leaf12[e][i];
    *t = target_index(leaf & EPT_ADDR_MASK);
    if (!(leaf & EPT_RWX) || misconfigured12(leaf))
        return 0;
    return leaf & EPT_RWX & ref_perms01(leaf & EPT_ADDR_MASK);
}

/* What is valid now becomes part of every CPU's history. */
static void note_current(void)
{
    for (unsigned c = 0; c < NCPUS; c++)
        for (unsigned e = 0; e < NEPTP; e++)
            for (unsigned i = 0; i < NPAGES; i++) {
                int t;
                uint64_t p = ref_xlat(e, i, &t);
                if (p)
                    hist[c][e][i][t] |= (uint8_t)(1U << p);
            }
}

/* CPU c invalidated EPTP e (NEPTP: all): only what is valid now remains. */
static void forget(unsigned c, unsigned e)
{
    for (unsigned k = 0; k < NEPTP; k++)
        if (e == NEPTP || e == k)
            memset(hist[c][k], 0, sizeof(hist[c][k]));
    note_current();
}

/* ---- L1's EPT12 ---- */

static void set_leaf12(unsigned e, unsigned i, uint64_t leaf)
{
    leaf12[e][i] = leaf;
    __atomic_store_n(&l1_u64(pt12[e])[i], leaf, __ATOMIC_RELEASE); /* vCPU threads may walk it */
    note_current();
}

static uint64_t random_leaf(void)
{
    static const uint64_t perms[] = {EPT_READ, EPT_READ | EPT_WRITE, PERMS_RX, EPT_RWX, EPT_RWX, EPT_EXEC};
    if (rnd(100) < NOT_PRESENT_PERCENT)
        return 0;
    uint64_t t = rnd(100) < ELSEWHERE_PERCENT ? NDATA + rnd(NTGT - NDATA) : rnd(NDATA);
    uint64_t p = rnd(100) < MISCONFIG_PERCENT ? EPT_WRITE : perms[rnd(sizeof(perms) / sizeof(perms[0]))];
    return target((unsigned)t) | p | WB12;
}

static void build_ept12(void)
{
    for (unsigned e = 0; e < NEPTP; e++) {
        uint64_t t[TABLES_PER_ROOT];
        for (unsigned k = 0; k < TABLES_PER_ROOT; k++) {
            t[k] = L1_EPT12 + (e * TABLES_PER_ROOT + k) * 4 * KiB;
            memset(phys_to_virt(t[k]), 0, 4 * KiB);
        }
        l1_u64(t[0])[EPT_INDEX(L2_BASE, 4)] = t[1] | EPT_RWX;
        l1_u64(t[1])[EPT_INDEX(L2_BASE, 3)] = t[2] | EPT_RWX;
        l1_u64(t[2])[EPT_INDEX(L2_BASE, 2)] = t[3] | EPT_RWX;
        eptp12[e] = EPTP12_OF(t[0]);
        pt12[e] = t[3];
        for (unsigned i = 0; i < NPAGES; i++) /* page 0 maps T_BMP, no other page does */
            set_leaf12(e, i, target(i ? 1 + i % (NDATA - 1) : 0) | EPT_RWX | WB12);
    }
}

/* ---- the checks ---- */

/* Every leaf of every shadow of CPU c. */
static void for_each_leaf(smp_leaf_fn *fn, unsigned c)
{
    for (unsigned e = 0; e < NEPTP; e++)
        smp_ept02_leaves(VCPU(c)->nested->ept02, eptp12[e], fn, c, e);
}

/* Page i of a leaf EPT12 maps with 4 KiB pages: EPT02's are no larger
 * (29.3.2) and lie where L2 faulted; and never L0's memory. */
static unsigned leaf_page(unsigned c, unsigned e, uint64_t gpa, unsigned level, uint64_t ent)
{
    uint64_t hpa = ent & EPT_ADDR_MASK;
    CHECK(level == 1 && gpa >= L2_BASE && gpa < L2_BASE + NPAGES * 4 * KiB &&
              !(hpa >= POOL_BASE && hpa < POOL_BASE + POOL_SIZE),
          "cpu%u EPTP %u: leaf 0x%llx at 0x%llx (level %u)", c, e, (unsigned long long)ent, (unsigned long long)gpa,
          level);
    return (unsigned)((gpa - L2_BASE) / (4 * KiB)) % NPAGES;
}

static void audit_leaf(unsigned c, unsigned e, uint64_t gpa, unsigned level, uint64_t ent)
{
    unsigned i = leaf_page(c, e, gpa, level, ent);
    uint64_t perms = ent & EPT_RWX;
    int ti = target_index(ent & EPT_ADDR_MASK), tnow;
    bool ok = false;
    for (unsigned p = 1; ti >= 0 && p < 8; p++)
        ok |= (hist[c][e][i][ti] >> p & 1) && !(perms & ~(uint64_t)p);
    uint64_t pnow = ref_xlat(e, i, &tnow);
    tally.leaves++;
    tally.stale += tnow != ti || (perms & ~pnow);
    CHECK(ok, "cpu%u EPTP %u page %u: 0x%llx with permissions %llx, never valid since its last INVEPT "
              "(EPT12 leaf now 0x%llx)", c, e, i, (unsigned long long)(ent & EPT_ADDR_MASK),
          (unsigned long long)perms, (unsigned long long)leaf12[e][i]);
}

static void audit(void)
{
    for (unsigned c = 0; c < NCPUS; c++)
        for_each_leaf(audit_leaf, c);
}

/* CPU c's EPT02 4 KiB leaf for gpa under EPTP e, or 0. */
static uint64_t *shadow_leaf(unsigned c, unsigned e, uint64_t gpa)
{
    uint64_t eptp02;
    unsigned level = 0;
    struct ept *sh = ept02_shadow(VCPU(c)->nested->ept02, eptp12[e], &eptp02);
    uint64_t *ent = sh ? ept_lookup(sh, gpa, &level) : 0;
    return ent && level == 1 ? ent : 0;
}

/* L2 on CPU c touches page i under EPTP e and takes an EPT violation of
 * EPT02: the outcome is what EPT12 o EPT01 say now. */
static void fault(unsigned c, unsigned e, unsigned i, uint64_t access)
{
    struct vcpu *v = smp_cpu(c);
    uint64_t gpa = L2_BASE + i * 4 * KiB + (i * GPA_OFFSET_STEP & PAGE_OFFSET), leaf = leaf12[e][i];
    uint64_t l1_pa = (leaf & EPT_ADDR_MASK) | (gpa & PAGE_OFFSET), p12 = leaf & EPT_RWX;
    struct ept02_fault f;
    memset(&f, 0, sizeof(f));
    ept02_handle_violation(v->nested->ept02, eptp12[e], gpa, smp_ept_qual(access), 0, &f);
    assert_true(f.outcome < OUTCOMES);
    tally.outcomes[f.outcome]++;
    if (misconfigured12(leaf)) {
        assert_int_equal(f.outcome, EPT02_REFLECT_MISCONFIG);
        return;
    }
    if (access & ~p12) { /* EPT12 forbids it: L1's violation, its permissions in bits 5:3 */
        assert_int_equal(f.outcome, EPT02_REFLECT_VIOLATION);
        assert_int_equal(f.qualification, smp_ept_qual(access) | p12 << QUAL_PERM_SHIFT);
        return;
    }
    uint64_t p01 = ref_perms01(leaf & EPT_ADDR_MASK);
    if ((access & EPT_WRITE) && (leaf & EPT_ADDR_MASK) == T_BMP && bmp_protected) {
        bmp_protected = false; /* the write lifts the protection (bitmaps.c) */
        p01 = EPT_RWX;
        note_current();
    }
    if (access & ~p01) { /* EPT01 forbids it: L0 contains the access (memfault.c), nothing is filled */
        assert_int_equal(f.outcome, EPT02_L1_HIDDEN);
        assert_int_equal(f.l1_gpa, l1_pa);
        return;
    }
    assert_int_equal(f.outcome, EPT02_FILLED);
    uint64_t *ent = shadow_leaf(c, e, gpa);
    assert_non_null(ent);
    assert_int_equal(*ent & EPT_ADDR_MASK, leaf & EPT_ADDR_MASK);
    assert_int_equal(*ent & EPT_RWX, p12 & p01);
}

/* INVEPT on CPU c (e = NEPTP: all-context), through L1's instruction. */
static void invept_on(unsigned c, unsigned e)
{
    uint64_t type = e == NEPTP ? INVEPT_ALL_CONTEXT : INVEPT_SINGLE_CONTEXT;
    assert_int_equal(l1_invept(c, type, e == NEPTP ? 0 : eptp12[e]), VMX_OK);
    forget(c, e);
    struct ept02 *e2 = VCPU(c)->nested->ept02;
    uint64_t eptp02;
    for (unsigned k = 0; k < NEPTP; k++)
        if (e == NEPTP || e == k)
            assert_null(ept02_shadow(e2, eptp12[k], &eptp02));
}

/* CPU c's next nested entry merges L1's MSR bitmap at T_BMP, which
 * write-protects it in EPT01: every CPU must drop its EPT02s. */
static void merge_bitmap_on(unsigned c)
{
    struct nested_vmx *n = smp_cpu(c)->nested;
    bool was = bmp_protected;
    unsigned flushes = smp_flushes;
    memset(kept_roots, 0xff, sizeof(kept_roots));
    nested_bitmap_merge(&n->bitmaps, BITMAP_MSR, n->msr_bitmap02, the_vm.msr_bitmap, T_BMP);
    bmp_protected = true;
    assert_int_equal(smp_flushes, flushes + !was);
    if (was)
        return;
    for (unsigned k = 0; k < NCPUS; k++) {
        assert_int_equal(kept_roots[k], 0); /* every CPU dropped every EPT02 */
        forget(k, NEPTP); /* and holds now only what is valid now */
    }
}

/* smp.c's EPT01 flush as every CPU answers it (flush_ept01_here), after
 * which each CPU's L2 goes on at once and reads page 0 (L1's bitmap page)
 * again, while the CPU that protects the page has not returned yet. */
static void flush_then_l2_resumes(void)
{
    for (unsigned k = 0; k < NCPUS; k++) {
        invept(INVEPT_SINGLE_CONTEXT, the_vm.eptp01);
        ept02_flush_all(VCPU(k)->nested->ept02);
        kept_roots[k] = ept02_root_count(VCPU(k)->nested->ept02);
    }
    for (unsigned k = 0; k < NCPUS; k++) {
        struct ept02_fault f;
        ept02_handle_violation(VCPU(k)->nested->ept02, eptp12[0], L2_BASE, EPT_QUAL_READ, 0, &f);
    }
}

static int setup(void **state)
{
    (void)state;
    smp_machine_init(NCPUS, false);
    uint32_t rev = nested_vmx_caps()->revision_id;
    for (unsigned c = 0; c < NCPUS; c++) {
        *(uint32_t *)phys_to_virt(L1_VMXON(c)) = rev;
        assert_int_equal(l1_ptr_insn(c, EXIT_REASON_VMXON, L1_VMXON(c)), VMX_OK);
    }
    /* EPT01 maps L1's data pages with 4 KiB pages and leaves one out. */
    assert_true(ept_map(&the_vm.ept01, L1_DATA, L1_DATA, NDATA * 4 * KiB, EPT_RWX | WB12));
    assert_true(ept_unmap(&the_vm.ept01, T_HIDDEN, 4 * KiB));
    memset(hist, 0, sizeof(hist));
    memset(&tally, 0, sizeof(tally));
    bmp_protected = false;
    rng = SEED;
    build_ept12();
    smp_flush_hook = flush_then_l2_resumes;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    nested_bitmaps_unprotect_all();
    for (unsigned c = 0; c < NCPUS; c++) { /* every shadow given back */
        ept02_flush_all(VCPU(c)->nested->ept02);
        assert_int_equal(ept02_pool_free(VCPU(c)->nested->ept02), EPT02_PAGES_PER_CPU);
    }
    return 0;
}

/* ---- KVM's remote TLB flush, step by step ---- */

static void test_remote_flush_one_cpu_at_a_time(void **state)
{
    (void)state;
    const unsigned page = 5, other = 6, a = 0, b = 1;
    /* Every CPU caches page 5 under both EPTPs (writable), page 6 under A. */
    for (unsigned c = 0; c < NCPUS; c++) {
        fault(c, a, page, EPT_WRITE);
        fault(c, b, page, EPT_READ);
        fault(c, a, other, EPT_READ);
        audit();
    }
    /* L1 moves page 5 of A elsewhere, read-only, and page 6 of A away. */
    set_leaf12(a, page, target(NDATA - 1) | EPT_READ | WB12);
    set_leaf12(a, other, 0);
    audit(); /* stale everywhere: allowed until each CPU's INVEPT */
    /* INVEPT single-context on CPU 0 only: its A shadow goes, B stays. */
    invept_on(0, a);
    uint64_t eptp02;
    assert_non_null(ept02_shadow(VCPU(0)->nested->ept02, eptp12[b], &eptp02));
    audit();
    fault(0, a, page, EPT_READ);
    fault(0, a, other, EPT_READ); /* now a violation for L1 */
    fault(0, a, page, EPT_WRITE); /* read-only now: a violation */
    audit();
    /* A CPU that has not flushed yet and faults anyway gets the new one. */
    fault(1, a, page, EPT_READ);
    audit();
    invept_on(1, a);
    invept_on(2, NEPTP); /* all-context: everything of CPU 2 goes */
    assert_int_equal(ept02_root_count(VCPU(2)->nested->ept02), 0);
    audit();
    for (unsigned c = 0; c < NCPUS; c++)
        fault(c, a, page, EPT_EXEC | EPT_READ); /* EPT12 says R only: violation */
    audit();
}

/* ---- EPT01 permission loss reaches every CPU ---- */

static void test_ept01_permission_loss_flushes_every_cpu(void **state)
{
    (void)state;
    const unsigned page = 0, a = 0; /* page 0 of A maps T_BMP read/write */
    assert_int_equal(leaf12[a][page] & EPT_ADDR_MASK, T_BMP);
    for (unsigned c = 0; c < NCPUS; c++)
        fault(c, a, page, EPT_WRITE);
    merge_bitmap_on(1);
    audit();
    /* Reads fill read-only now; a merge on another CPU adds nothing. */
    for (unsigned c = 0; c < NCPUS; c++)
        fault(c, a, page, EPT_READ);
    merge_bitmap_on(2);
    audit();
    /* L2's write (through EPT12, which allows it) lifts the protection and
     * is filled writable; the next merge protects again and flushes all. */
    fault(0, a, page, EPT_WRITE);
    audit();
    merge_bitmap_on(0);
    audit();
    assert_int_equal(smp_flushes, 2);
}

/* ---- everything at random, interleaved ---- */

static void test_interleaved_against_the_model(void **state)
{
    (void)state;
    static const uint64_t accesses[] = {EPT_READ, EPT_WRITE, EPT_EXEC, EPT_READ | EPT_WRITE};
    /* Cumulative per cent of the steps: fault, EPT12 edit, INVEPT single,
     * INVEPT all, bitmap merge. */
    static const unsigned upto[STEP_KINDS] = {70, 88, 94, 97, 100};
    unsigned counts[STEP_KINDS] = {0};
    for (unsigned s = 0; s < RANDOM_STEPS; s++) {
        unsigned c = (unsigned)rnd(NCPUS), e = (unsigned)rnd(NEPTP), r = (unsigned)rnd(100), kind = 0;
        while (r >= upto[kind])
            kind++;
        counts[kind]++;
        if (kind == 0)
            fault(c, e, (unsigned)rnd(NPAGES), accesses[rnd(4)]);
        else if (kind == 1)
            set_leaf12(e, (unsigned)rnd(NPAGES), random_leaf());
        else if (kind < 4)
            invept_on(c, kind == 2 ? e : NEPTP);
        else
            merge_bitmap_on(c);
        audit();
    }
    /* Every kind of step and outcome happened; stale translations were
     * held (and allowed) along the way. */
    for (unsigned k = 0; k < STEP_KINDS; k++)
        assert_true(counts[k] > 0);
    for (unsigned k = 0; k < OUTCOMES; k++)
        assert_true(tally.outcomes[k] > 0);
    assert_true(smp_flushes > 1 && tally.stale > 0 && tally.leaves > tally.stale);
    fprintf(stderr, "# %u steps: %u EPT01 flushes, %u leaves audited, %u stale\n", RANDOM_STEPS, smp_flushes,
            tally.leaves, tally.stale);
}

/* ---- the same in real threads ----
 * One thread per vCPU faults on its own EPT02, audits it and does its own
 * INVEPTs (L1's, and those L1's "remote TLB flush" asks for); every
 * MERGE_EVERY steps its L2 writes page 0 (lifting the bitmap protection)
 * and a later entry merges the bitmap (EPT01 loses W: every thread flushes
 * at its next safe point while the merging one waits, as smp.c does). The
 * main thread is L1: it edits EPT12 and asks every vCPU for an INVEPT.
 * The model is the one above, under a lock (an edit updates it in the same
 * critical section as the entry, so a walk that read an entry finds it
 * there). ept02.c is per vCPU and unlocked by design; the threads share
 * EPT12 (read while L1 writes it, 8-byte entries), EPT01 and the protected
 * page registry (bitmaps.c's lock). EPT01's W on T_BMP comes and goes
 * under the threads: the model allows it (the deterministic tests check
 * it, and the order "protect, then flush"). The fakes' INVEPT and RDTSC
 * counters are racy and not looked at. */
#define THREAD_OPS       5000 /* at least, per vCPU thread; more while L1 edits */
#define L1_EDITS         4000 /* at most */
#define L1_PAUSE_NS      20000
#define L1_RUN_NS        400000000LL /* L1 edits for this long */
#define THREAD_DEADLINE_NS 10000000000LL /* a hang guard: the run takes ~L1_RUN_NS */
#define THREAD_SEED_MIX  0x9e3779b97f4a7c15ULL
#define THREAD_AUDIT_EVERY 64
#define EDITS_PER_FLUSH  16
#define FLUSH_WAIT_EVERY 4
#define T_FAULT          960 /* per mille of a thread's steps: faults, */
#define T_INVEPT_ALL     970 /* INVEPT all-context, */
#define T_INVEPT         985 /* single-context (the rest: nothing) */
#define MERGE_EVERY      2000
#define MERGE_AT         (MERGE_EVERY / 2) /* page 0 is written at step 0 of each period */

static pthread_mutex_t model_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
    uint64_t gen, seen[NCPUS]; /* EPT01 flushes asked, answered */
    uint32_t attention[NCPUS], flush_req[NCPUS], done, l1_done;
    unsigned fills, merges, remote;
    struct timespec start;
} ts;

static int64_t elapsed_ns(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (now.tv_sec - ts.start.tv_sec) * 1000000000LL + (now.tv_nsec - ts.start.tv_nsec);
}

static void t_audit(unsigned c)
{
    pthread_mutex_lock(&model_lock);
    for_each_leaf(audit_leaf, c);
    pthread_mutex_unlock(&model_lock);
}

static void t_invalidate(unsigned c, unsigned e)
{
    uint64_t eptp02;
    pthread_mutex_lock(&model_lock);
    forget(c, e);
    pthread_mutex_unlock(&model_lock);
    ept02_invalidate(VCPU(c)->nested->ept02, e == NEPTP ? EPT02_ALL_CONTEXTS : eptp12[e]);
    for (unsigned k = 0; k < NEPTP; k++)
        CHECK(!(e == NEPTP || e == k) || !ept02_shadow(VCPU(c)->nested->ept02, eptp12[k], &eptp02),
              "cpu%u kept EPTP %u after INVEPT", c, k);
}

/* smp.c's safe point: an EPT01 flush asked of this CPU is done here. */
static void t_answer(unsigned c)
{
    if (!__atomic_exchange_n(&ts.attention[c], 0, __ATOMIC_ACQ_REL))
        return;
    uint64_t gen = __atomic_load_n(&ts.gen, __ATOMIC_ACQUIRE);
    if (ts.seen[c] != gen) {
        t_invalidate(c, NEPTP);
        __atomic_store_n(&ts.seen[c], gen, __ATOMIC_RELEASE);
    }
}

static void t_wait(unsigned c, const char *what)
{
    t_answer(c);
    sched_yield();
    CHECK(elapsed_ns() < THREAD_DEADLINE_NS, "cpu%u: stuck waiting for %s", c, what);
}

static void threaded_invept01_everywhere(void)
{
    unsigned self = (unsigned)t_cpu;
    uint64_t gen = __atomic_add_fetch(&ts.gen, 1, __ATOMIC_SEQ_CST);
    t_invalidate(self, NEPTP);
    __atomic_store_n(&ts.seen[self], gen, __ATOMIC_RELEASE);
    for (unsigned c = 0; c < NCPUS; c++)
        __atomic_store_n(&ts.attention[c], c != self, __ATOMIC_SEQ_CST);
    for (unsigned c = 0; c < NCPUS; c++)
        while (c != self && __atomic_load_n(&ts.seen[c], __ATOMIC_ACQUIRE) < gen && !t_failed)
            t_wait(self, "an EPT01 flush");
}

static void t_fault(unsigned c, unsigned e, unsigned i, uint64_t access)
{
    uint64_t gpa = L2_BASE + i * 4 * KiB;
    struct ept02_fault f;
    ept02_handle_violation(VCPU(c)->nested->ept02, eptp12[e], gpa, smp_ept_qual(access), 0, &f);
    if (f.outcome != EPT02_FILLED)
        return;
    uint64_t *ent = shadow_leaf(c, e, gpa);
    CHECK(ent != 0, "cpu%u: EPTP %u page %u filled but not mapped", c, e, i);
    pthread_mutex_lock(&model_lock);
    if (ent)
        audit_leaf(c, e, gpa, 1, *ent);
    pthread_mutex_unlock(&model_lock);
    __atomic_add_fetch(&ts.fills, 1, __ATOMIC_RELAXED);
}

static void *vcpu_thread(void *arg)
{
    static const uint64_t acc[] = {EPT_WRITE, EPT_READ, EPT_EXEC};
    unsigned c = (unsigned)(uintptr_t)arg;
    struct nested_vmx *n = VCPU(c)->nested;
    uint64_t r = (SEED + c) * THREAD_SEED_MIX;
    t_cpu = (int)c;
    for (unsigned op = 0; (op < THREAD_OPS || !__atomic_load_n(&ts.l1_done, __ATOMIC_ACQUIRE)) && !t_failed; op++) {
        t_answer(c);
        uint32_t req = __atomic_exchange_n(&ts.flush_req[c], 0, __ATOMIC_ACQ_REL);
        if (req) { /* L1's remote TLB flush reached this CPU */
            t_invalidate(c, req - 1);
            __atomic_add_fetch(&ts.remote, 1, __ATOMIC_RELAXED);
        }
        unsigned e = (unsigned)rnd_r(&r, NEPTP), i = (unsigned)rnd_r(&r, NPAGES), k = (unsigned)rnd_r(&r, 1000);
        uint64_t access = acc[rnd_r(&r, 3)];
        unsigned phase = (op + c * MERGE_EVERY / NCPUS) % MERGE_EVERY;
        if (phase == 0) { /* L2 writes page 0 (the bitmap page): the protection goes */
            t_fault(c, e, 0, EPT_WRITE);
        } else if (phase == MERGE_AT) { /* a VM entry merges the bitmap: the protection is back */
            nested_bitmap_merge(&n->bitmaps, BITMAP_MSR, n->msr_bitmap02, the_vm.msr_bitmap, T_BMP);
            __atomic_add_fetch(&ts.merges, 1, __ATOMIC_RELAXED);
        } else if (k < T_FAULT) {
            t_fault(c, e, i, i == 0 && access == EPT_WRITE ? EPT_READ : access);
        } else if (k < T_INVEPT) {
            t_invalidate(c, k < T_INVEPT_ALL ? NEPTP : e);
        }
        if (op % THREAD_AUDIT_EVERY == 0)
            t_audit(c);
    }
    __atomic_add_fetch(&ts.done, 1, __ATOMIC_SEQ_CST);
    while (__atomic_load_n(&ts.done, __ATOMIC_ACQUIRE) < NCPUS && !t_failed)
        t_wait(c, "the others to finish"); /* still there for their EPT01 flushes */
    return 0;
}

static void test_threads_against_the_model(void **state)
{
    (void)state;
    memset(&ts, 0, sizeof(ts));
    smp_flush_hook = threaded_invept01_everywhere;
    t_cpu = NCPUS; /* L1's thread records failures too while the others run */
    t_failed = 0;
    clock_gettime(CLOCK_MONOTONIC, &ts.start);
    pthread_t th[NCPUS];
    for (unsigned c = 0; c < NCPUS; c++)
        assert_int_equal(pthread_create(&th[c], 0, vcpu_thread, (void *)(uintptr_t)c), 0);
    unsigned edits = 0;
    while (edits < L1_EDITS && elapsed_ns() < L1_RUN_NS && !t_failed) {
        unsigned e = (unsigned)rnd(NEPTP);
        uint64_t leaf;
        do /* page 0 alone maps L1's bitmap page */
            leaf = random_leaf();
        while ((leaf & EPT_ADDR_MASK) == T_BMP);
        pthread_mutex_lock(&model_lock);
        set_leaf12(e, 1 + (unsigned)rnd(NPAGES - 1), leaf);
        pthread_mutex_unlock(&model_lock);
        struct timespec pause = {0, L1_PAUSE_NS}; /* the vCPUs get the CPUs */
        nanosleep(&pause, 0);
        if (++edits % EDITS_PER_FLUSH)
            continue;
        /* KVM's remote TLB flush: INVEPT on every CPU, now and then waiting for it. */
        for (unsigned c = 0; c < NCPUS; c++)
            __atomic_store_n(&ts.flush_req[c], e + 1, __ATOMIC_RELEASE);
        for (unsigned c = 0; c < NCPUS && edits % (EDITS_PER_FLUSH * FLUSH_WAIT_EVERY) == 0; c++)
            while (__atomic_load_n(&ts.flush_req[c], __ATOMIC_ACQUIRE) && !t_failed) {
                sched_yield();
                CHECK(elapsed_ns() < THREAD_DEADLINE_NS, "cpu%u never did L1's INVEPT", c);
            }
    }
    __atomic_store_n(&ts.l1_done, 1, __ATOMIC_RELEASE);
    for (unsigned c = 0; c < NCPUS; c++)
        pthread_join(th[c], 0);
    smp_flush_hook = 0;
    t_cpu = -1;
    if (t_failed)
        fail_msg("%s", t_why);
    fprintf(stderr, "# threads: %u EPT12 edits, %u remote INVEPTs, %u fills, %u merges, %llu EPT01 flushes, "
            "%u leaves audited (%u stale), %lld ms\n", edits, ts.remote, ts.fills, ts.merges,
            (unsigned long long)ts.gen, tally.leaves, tally.stale, (long long)(elapsed_ns() / 1000000));
    assert_true(edits > 0 && ts.remote > 0 && ts.fills > 0 && ts.gen > 0 && tally.leaves > 0);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_remote_flush_one_cpu_at_a_time),
        T(test_ept01_permission_loss_flushes_every_cpu),
        T(test_interleaved_against_the_model),
        T(test_threads_against_the_model),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
