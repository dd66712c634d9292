/* unit-srcs: vmm/nested/ept12.c vmm/nested/ept02.c vmm/l1view.c vmm/nested/bitmaps.c vmm/ept.c vmm/pmm.c vmm/memmap.c vmm/l1ram.c tests/unit/fake_vmx.c */
/* EPT-on-EPT against a reference model: random EPT12 tables in L1 memory
 * and a random EPT01, random L2 guest-physical addresses and accesses. The
 * expected outcome is computed here by an independent, deliberately plain
 * reading of the SDM (Vol. 3C 29.3.2 translation, Tables 29-2..29-6 entry
 * formats, 29.3.3.1 misconfigurations, 29.3.3.2 violations, 29.3.5 accessed
 * and dirty flags, Table 28-7 the EPT-violation exit qualification) and
 * compared with
 *   (a) ept12_walk: status, translation, permissions, level, the entries
 *       read (at most four, each where the previous one points);
 *   (b) ept02_handle_violation: the outcome; for a fill, the EPT02 entry
 *       (host address through the EPT01 model, permissions EPT12 AND EPT01
 *       minus write until EPT12's dirty flag is set when A/D is on, page
 *       size = the smaller of the two, memory type by the composition rule
 *       of ept02.h); for a reflected violation, the qualification L1 gets,
 *       bit for bit; accessed/dirty flags in EPT12 exactly where the CPU
 *       would set them and nowhere else.
 * Now and then, and before every new set of tables, every leaf of every
 * shadow is audited against the tables as they are (EPT02 never grants
 * more than EPT12 AND EPT01, whatever was filled, split, reclaimed or
 * invalidated), and the shadows' pages plus the free pool must make up the
 * whole pool. L1 also edits EPT12 entries followed by an INVEPT, INVEPTs
 * single roots, and switches between EPTPs (more than the 8 cached).
 *
 * The tables are regenerated every REGEN_EVERY cases (with new offers to
 * L1, host page sizes and MAXPHYADDR); the walk test also mutates single
 * entries between cases and varies the offer per case.
 * EPT_MODEL_SEED=<n> picks the seed (default fixed), EPT_MODEL_CASES=<n>
 * the number of fill cases (the walk test runs twice as many). A failure
 * prints the seed, the case, the reference's verdict and both sides. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "vmm/nested/ept02.h"
#include "vmm/nested/ept12.h"
#include "vmm/nested/bitmaps.h"
#include "vmm/nested/vmcs02.h"
#include "vmm/ept.h"
#include "vmm/pmm.h"
#include "vmm/vm.h"
#include "arch/x86/exit_reasons.h"
#include "arch/x86/physmem.h"
#include "arch/x86/vmx.h"
#include "arch/x86/vmx_bits.h"
#include "tests/unit/fake_arch.h"
#include "tests/unit/fake_vmx.h"

#define KiB (1ULL << 10)
#define MiB (1ULL << 20)
#define GiB (1ULL << 30)

/* Fake physical memory (64 MiB): the VMXON region, L1's RAM with the EPT12
 * tables in it, a reserved hole, and nestvisor's pool (EPT01 tables and
 * the EPT02 pool). L1 guest-physical = host-physical for L1's RAM, as in
 * nestvisor; EPT01 itself maps a random 4 GiB elsewhere (never
 * dereferenced). */
#define VMXON_PA      0x1000ULL
#define L1_RAM_BASE   (4 * MiB)
#define L1_RAM_END    (24 * MiB)
#define L1_ACPI_BASE  (24 * MiB) /* ACPI reclaim: also L1 RAM */
#define L1_ACPI_END   (25 * MiB)
#define L1_HOLE       (26 * MiB) /* reserved: not L1 RAM */
#define TABLES_BASE   (8 * MiB)
#define POOL_BASE     (32 * MiB)
#define POOL_SIZE     (32 * MiB)

#define DEFAULT_SEED  0x6e657374ULL
#define DEFAULT_CASES 2000000ULL
#define REGEN_EVERY   20000ULL

#define L1_SPACE      (4 * GiB) /* what EPT01 covers (with holes) */
#define L1_TARGETS    (5 * GiB) /* where EPT12 leaves point (some beyond EPT01) */

/* EPT12 table pages, by the level they are meant for (a pointer may still
 * lead anywhere, and the walk must cope). */
#define NT4 4
#define NT3 8
#define NT2 16
#define NT1 36
#define NT  (NT4 + NT3 + NT2 + NT1)
#define HOT 6 /* entries filled per table page */

#define QUAL_KEPT (EPT_QUAL_READ | EPT_QUAL_WRITE | EPT_QUAL_FETCH | EPT_QUAL_GLA_VALID | \
                   EPT_QUAL_GLA_TRANSLATED | EPT_QUAL_NMI_UNBLOCKING)

struct vm the_vm;
#include "tests/unit/ept02_fixture.h"
static struct vmx_caps host_caps;

/* vmcs02.c's merge, which bitmaps.c needs; no merge happens here. */
void bitmap_merge(uint8_t *dst, const uint8_t *a, const uint8_t *b)
{
    for (unsigned i = 0; i < 4096; i++)
        dst[i] = a[i] | b[i];
}

/* ---- random numbers (splitmix64) ---- */

static uint64_t seed, rng_state, case_no;

static uint64_t rnd64(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint64_t rnd(uint64_t n) { return rnd64() % n; }
static bool chance(unsigned percent) { return rnd(100) < percent; }

static uint64_t env_u64(const char *name, uint64_t dflt)
{
    const char *v = getenv(name);
    return v && *v ? strtoull(v, 0, 0) : dflt;
}

#define EXPECT(cond, ...)                                                                         \
    do {                                                                                          \
        if (!(cond)) {                                                                            \
            fprintf(stderr, "EPT model: seed 0x%llx (EPT_MODEL_SEED), case %llu: %s\n  ",         \
                    (unsigned long long)seed, (unsigned long long)case_no, #cond);                \
            fprintf(stderr, __VA_ARGS__);                                                         \
            fprintf(stderr, "\n");                                                                \
            dump_case();                                                                          \
            fail();                                                                               \
        }                                                                                         \
    } while (0)

/* ---- the environment ---- */

static struct {
    struct ept12_caps caps;  /* what L1 was offered */
    unsigned maxphy;
    uint64_t hot[HOT];
    uint64_t eptps[16];
    unsigned neptp;
    /* EPT01 as intended: sorted pages, each mapped as one leaf. */
    struct page01 {
        uint64_t gpa, hpa, flags;
        unsigned level;
    } *p01;
    size_t n01, cap01;
    uint64_t slots[64]; /* 2 MiB L1 ranges EPT01 maps with 4 KiB pages */
    unsigned nslots;
} env;

/* The case being checked, for the failure report. */
static struct {
    uint64_t eptp, gpa, access, qual;
    const char *why; /* the reference's verdict */
} cur;

static void dump_case(void)
{
    fprintf(stderr, "  eptp12 0x%llx gpa 0x%llx access %llx qualification 0x%llx\n",
            (unsigned long long)cur.eptp, (unsigned long long)cur.gpa, (unsigned long long)cur.access,
            (unsigned long long)cur.qual);
    fprintf(stderr, "  reference: %s\n", cur.why ? cur.why : "-");
    fprintf(stderr, "  caps: exec_only %d 2m %d 1g %d ad %d maxphy %u; host 2m %d 1g %d\n",
            env.caps.exec_only, env.caps.pages_2m, env.caps.pages_1g, env.caps.ad, env.maxphy,
            host_caps.ept_2m, host_caps.ept_1g);
}

static bool l1_ram(uint64_t pa)
{
    return (pa >= L1_RAM_BASE && pa + 8 <= L1_RAM_END) || (pa >= L1_ACPI_BASE && pa + 8 <= L1_ACPI_END);
}

static uint64_t *l1_entry(uint64_t pa) { return (uint64_t *)(fake_phys + pa); }
static uint64_t table_pa(unsigned i) { return TABLES_BASE + (uint64_t)i * 4096; }

/* ---- EPT01: random pages, holes, sizes, permissions and types ---- */

static void add01(uint64_t gpa, unsigned level, uint64_t flags)
{
    uint64_t size = EPT_LEVEL_SIZE(level);
    /* A random host frame of the right alignment below 2^39. */
    uint64_t hpa = (rnd64() & ((1ULL << 39) - 1)) & ~(size - 1);
    assert_true(ept_map(&the_vm.ept01, gpa, hpa, size, flags));
    if (env.n01 == env.cap01) {
        env.cap01 = env.cap01 ? env.cap01 * 2 : 4096;
        env.p01 = realloc(env.p01, env.cap01 * sizeof(*env.p01));
        assert_non_null(env.p01);
    }
    env.p01[env.n01++] = (struct page01){gpa, hpa, flags, level};
}

static uint64_t flags01(void)
{
    static const uint64_t perms[] = {EPT_RWX, EPT_RWX, EPT_RWX, EPT_RWX, EPT_RWX, EPT_RWX,
                                     EPT_READ | EPT_WRITE, EPT_READ, EPT_READ | EPT_EXEC};
    static const unsigned types[] = {MEMTYPE_WB, MEMTYPE_WB, MEMTYPE_WB, MEMTYPE_WB, MEMTYPE_WB,
                                     MEMTYPE_UC, MEMTYPE_UC, MEMTYPE_WC, MEMTYPE_WT, MEMTYPE_WP};
    uint64_t f = perms[rnd(sizeof(perms) / sizeof(perms[0]))];
    f |= (uint64_t)types[rnd(sizeof(types) / sizeof(types[0]))] << EPT_MEMTYPE_SHIFT;
    return f | (chance(30) ? EPT_IGNORE_PAT : 0);
}

static void split_slot(uint64_t slot)
{
    for (uint64_t a = slot; a < slot + 2 * MiB; a += 4 * KiB)
        if (!chance(8))
            add01(a, 1, flags01());
    if (env.nslots < 64)
        env.slots[env.nslots++] = slot;
}

static void build_ept01(void)
{
    if (the_vm.ept01.root)
        ept_destroy(&the_vm.ept01);
    memset(&the_vm.ept01, 0, sizeof(the_vm.ept01));
    unsigned max = host_caps.ept_1g ? 3 : host_caps.ept_2m ? 2 : 1;
    assert_true(ept_init(&the_vm.ept01, max));
    env.n01 = 0;
    env.nslots = 0;
    for (uint64_t g = 0; g < L1_SPACE; g += GiB) {
        unsigned r = (unsigned)rnd(100);
        if (max == 3 && r < 25) {
            add01(g, 3, flags01());
            continue;
        }
        if (r < 30)
            continue; /* a hidden gigabyte */
        for (uint64_t s = g; s < g + GiB; s += 2 * MiB) {
            unsigned r2 = (unsigned)rnd(1000);
            if (max == 1) { /* 4 KiB pages only: a few slots */
                if (r2 < 16)
                    split_slot(s);
            } else if (r2 < 40) {
                /* hole */
            } else if (r2 < 50) {
                split_slot(s);
            } else {
                add01(s, 2, flags01());
            }
        }
    }
    /* Sorted by construction (increasing gpa within increasing slots). */
}

/* The EPT01 page holding gpa, from the intended map. */
static const struct page01 *ref01(uint64_t gpa)
{
    size_t lo = 0, hi = env.n01;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        const struct page01 *p = &env.p01[mid];
        if (gpa < p->gpa)
            hi = mid;
        else if (gpa >= p->gpa + EPT_LEVEL_SIZE(p->level))
            lo = mid + 1;
        else
            return p;
    }
    return 0;
}

/* ---- EPT12: random tables in L1 memory ---- */

static uint64_t pick_l1_target(uint64_t size)
{
    uint64_t a;
    unsigned r = (unsigned)rnd(100);
    if (r < 50 && env.nslots)
        a = env.slots[rnd(env.nslots)] + rnd(512) * 4 * KiB;
    else if (r < 90)
        a = rnd(L1_TARGETS);
    else
        a = L1_RAM_BASE + rnd(L1_RAM_END - L1_RAM_BASE); /* L1's own RAM, tables included */
    a &= ~(size - 1);
    if (size > 4 * KiB && chance(2)) { /* misaligned large page: one stray bit, or many */
        unsigned bits = size == 2 * MiB ? 9 : 18;
        a |= chance(50) ? 1ULL << (12 + rnd(bits)) : (1 + rnd(size / (4 * KiB) - 1)) * 4 * KiB;
    }
    return a;
}

static uint64_t pick_table(unsigned level)
{
    static const unsigned first[5] = {0, NT4 + NT3 + NT2, NT4 + NT3, NT4, 0};
    static const unsigned count[5] = {0, NT1, NT2, NT3, NT4};
    if (chance(1))
        return chance(50) ? L1_HOLE : 60 * MiB; /* not L1 RAM: reads as not present */
    if (chance(1))
        return L1_RAM_BASE + rnd(64) * 4096; /* L1 RAM, mostly zeros */
    if (level == 0 || chance(10))
        return table_pa((unsigned)rnd(NT));
    return table_pa(first[level] + (unsigned)rnd(count[level]));
}

static uint64_t pick_perms(void)
{
    unsigned r = (unsigned)rnd(100);
    return r < 70 ? 7 : r < 78 ? 3 : r < 86 ? 5 : r < 92 ? 1 : r < 96 ? 4 : r < 98 ? 2 : 6;
}

static uint64_t pick_memtype(void)
{
    static const uint64_t valid[] = {MEMTYPE_UC, MEMTYPE_WC, MEMTYPE_WT, MEMTYPE_WP, MEMTYPE_WB, MEMTYPE_WB};
    static const uint64_t invalid[] = {2, 3, 7};
    return chance(96) ? valid[rnd(6)] : invalid[rnd(3)];
}

/* An entry for a table meant for 'level' (1-4). */
static uint64_t gen_entry(unsigned level)
{
    if (level >= 3 && chance(70)) { /* upper levels mostly sane, or few walks get far */
        static const uint64_t p[] = {EPT_RWX, EPT_RWX, EPT_RWX, EPT_RWX, EPT_RWX, EPT_RWX, 3, 5, 1};
        return p[rnd(9)] | pick_table(level - 1) | (chance(50) ? EPT_ACCESSED : 0);
    }
    if (chance(6))
        return chance(50) ? 0 : rnd64() & ~EPT_RWX; /* not present, whatever the rest */
    uint64_t e = pick_perms();
    /* Large pages mostly where offered, sometimes where not. */
    unsigned large2 = env.caps.pages_2m ? 35 : 3, large1 = env.caps.pages_1g ? 40 : 3;
    bool leafy = level == 1 || (level == 2 && chance(large2)) || (level == 3 && chance(large1)) ||
                 (level == 4 && chance(1));
    if (leafy) {
        unsigned sl = level == 4 ? 3 : level;
        e |= pick_l1_target(EPT_LEVEL_SIZE(sl));
        if (level > 1 || chance(20))
            e |= EPT_LARGE; /* ignored in a PTE, reserved in a PML4E */
        e |= pick_memtype() << EPT_MEMTYPE_SHIFT;
        e |= chance(40) ? EPT_IGNORE_PAT : 0;
        e |= chance(50) ? EPT_ACCESSED : 0;
        e |= chance(50) ? EPT_DIRTY : 0;
    } else {
        e |= pick_table(level - 1);
        if (chance(2))
            e |= (1 + rnd(15)) << 3; /* bits 6:3 reserved in a non-leaf entry */
        if (chance(1))
            e |= EPT_LARGE;
        e |= chance(50) ? EPT_ACCESSED : 0;
        e |= chance(30) ? EPT_DIRTY : 0; /* ignored in a non-leaf entry */
    }
    if (chance(30)) /* ignored bits: 10 (no mode-based execute), 11, 62:52, 63 (no #VE) */
        e |= rnd64() & (EPT_USER_EXEC | (1ULL << 11) | (0x7ffULL << 52) | EPT_SUPPRESS_VE);
    if (env.maxphy < 52 && chance(1)) /* an address bit beyond MAXPHYADDR */
        e |= 1ULL << (env.maxphy + rnd(52 - env.maxphy));
    return e;
}

static unsigned table_level(unsigned t) { return t < NT4 ? 4 : t < NT4 + NT3 ? 3 : t < NT4 + NT3 + NT2 ? 2 : 1; }

/* L1 edits one entry of its EPT12 (the caller owes an INVEPT if shadows
 * may exist). */
static void mutate_ept12(void)
{
    unsigned t = (unsigned)rnd(NT);
    l1_entry(table_pa(t))[env.hot[rnd(HOT)]] = gen_entry(table_level(t));
}

static void build_ept12(void)
{
    memset(fake_phys + L1_RAM_BASE, 0, L1_RAM_END - L1_RAM_BASE);
    env.hot[0] = 0;
    env.hot[1] = 511;
    for (unsigned i = 2; i < HOT; i++)
        env.hot[i] = rnd(512);
    for (unsigned t = 0; t < NT; t++) {
        unsigned level = table_level(t);
        uint64_t *tab = l1_entry(table_pa(t));
        if (level == 2) { /* page directories full: many shadow page tables, pool pressure */
            for (unsigned i = 0; i < 512; i++)
                tab[i] = gen_entry(level);
        }
        for (unsigned i = 0; i < HOT; i++)
            tab[env.hot[i]] = gen_entry(level);
        if (chance(20))
            tab[rnd(512)] = gen_entry(level);
    }
}

static void new_world(void)
{
    static const unsigned maxphys[] = {36, 39, 39, 42, 46, 52};
    unsigned h = (unsigned)rnd(100);
    host_caps = (struct vmx_caps){.ept = true, .ept_wb = true, .ept_uc = true, .ept_ad = true,
                                  .ept_4level = true, .ept_2m = h < 85, .ept_1g = h < 50};
    env.maxphy = maxphys[rnd(6)];
    env.caps = (struct ept12_caps){
        .exec_only = chance(60),
        .pages_2m = host_caps.ept_2m && chance(85),
        .ad = chance(80),
        .memtype_uc = true,
        .memtype_wb = true,
        .phys_mask = (1ULL << env.maxphy) - 1,
    };
    env.caps.pages_1g = host_caps.ept_1g && env.caps.pages_2m && chance(70);
    ept02_invalidate(&E2, EPT02_ALL_CONTEXTS);
    assert_int_equal(ept02_pool_free(&E2), EPT02_POOL_PAGES);
    ept02_set_caps(&env.caps);
    build_ept01();
    build_ept12();
    env.neptp = 0;
    for (unsigned t = 0; t < NT4; t++)
        for (unsigned v = 0; v < 4; v++) {
            bool ad = v & 1;
            if (ad && !env.caps.ad)
                continue;
            env.eptps[env.neptp++] = table_pa(t) | (v & 2 ? EPTP_MEMTYPE_UC : EPTP_MEMTYPE_WB) | EPTP_WALK_4 |
                                     (ad ? EPTP_AD_ENABLE : 0);
        }
}

static uint64_t pick_gpa(void)
{
    uint64_t gpa = rnd(4096);
    for (unsigned level = 4; level >= 1; level--) {
        uint64_t idx = chance(level == 2 ? 60 : 97) ? env.hot[rnd(HOT)] : rnd(512);
        gpa |= idx << (12 + 9 * (level - 1));
    }
    return gpa;
}

/* ---- the reference walk of EPT12, straight from SDM 29.3.2/29.3.3 ---- */

enum { REF_OK, REF_VIOLATION, REF_MISCONFIG };

struct ref12 {
    int status;
    const char *why;
    uint64_t l1_gpa, perms, leaf;
    unsigned level, n;
    uint64_t pa[4];
};

static void ref_walk(uint64_t eptp, uint64_t gpa, uint64_t access, const struct ept12_caps *c,
                     unsigned maxphy, struct ref12 *r)
{
    memset(r, 0, sizeof(*r));
    /* Bits 51:MAXPHYADDR of an entry are reserved (29.3.2). */
    uint64_t beyond = ((1ULL << 52) - 1) & ~((1ULL << maxphy) - 1);
    uint64_t next = eptp & 0x000ffffffffff000ULL; /* EPTP bits N-1:12 */
    bool r_ok = true, w_ok = true, x_ok = true;
    for (int lvl = 4; lvl >= 1; lvl--) {
        unsigned shift = 12 + 9 * (unsigned)(lvl - 1);
        uint64_t pa = next | (((gpa >> shift) & 0x1ff) << 3);
        r->pa[r->n++] = pa;
        uint64_t e = l1_ram(pa) ? *l1_entry(pa) : 0; /* outside L1 RAM: not present */
        bool rd = e & 1, wr = e & 2, ex = e & 4;
        r_ok = r_ok && rd;
        w_ok = w_ok && wr;
        x_ok = x_ok && ex;
        r->perms = (r_ok ? 1 : 0) | (w_ok ? 2 : 0) | (x_ok ? 4 : 0);
        if (!rd && !wr && !ex) {
            r->status = REF_VIOLATION; /* not present (29.3.3.2) */
            r->why = "not present";
            return;
        }
        /* 29.3.3.1 */
        if (wr && !rd) {
            r->status = REF_MISCONFIG;
            r->why = "write without read";
            return;
        }
        if (ex && !rd && !wr && !c->exec_only) {
            r->status = REF_MISCONFIG;
            r->why = "execute-only";
            return;
        }
        if (e & beyond) {
            r->status = REF_MISCONFIG;
            r->why = "beyond MAXPHYADDR";
            return;
        }
        bool ps = (e >> 7) & 1;
        unsigned mt = (unsigned)((e >> 3) & 7);
        bool bad_mt = mt == 2 || mt == 3 || mt == 7;
        bool leaf = false;
        switch (lvl) {
        case 4: /* PML4E: bits 7:3 reserved (Table 29-1) */
            if ((e >> 3) & 0x1f) {
                r->status = REF_MISCONFIG;
                r->why = "PML4E bits 7:3";
                return;
            }
            break;
        case 3: /* PDPTE: a 1 GiB page (Table 29-2) or a directory (29-3) */
            if (ps) {
                if (!c->pages_1g || ((e >> 12) & 0x3ffff) || bad_mt) {
                    r->status = REF_MISCONFIG;
                    r->why = !c->pages_1g ? "1G not offered" : bad_mt ? "memory type" : "1G alignment";
                    return;
                }
                leaf = true;
            } else if ((e >> 3) & 0xf) {
                r->status = REF_MISCONFIG;
                r->why = "non-leaf bits 6:3";
                return;
            }
            break;
        case 2: /* PDE: a 2 MiB page (Table 29-4) or a page table (29-5) */
            if (ps) {
                if (!c->pages_2m || ((e >> 12) & 0x1ff) || bad_mt) {
                    r->status = REF_MISCONFIG;
                    r->why = !c->pages_2m ? "2M not offered" : bad_mt ? "memory type" : "2M alignment";
                    return;
                }
                leaf = true;
            } else if ((e >> 3) & 0xf) {
                r->status = REF_MISCONFIG;
                r->why = "non-leaf bits 6:3";
                return;
            }
            break;
        default: /* PTE (Table 29-6): bit 7 ignored */
            if (bad_mt) {
                r->status = REF_MISCONFIG;
                r->why = "memory type";
                return;
            }
            leaf = true;
        }
        if (leaf) {
            uint64_t off = (1ULL << shift) - 1;
            r->level = (unsigned)lvl;
            r->leaf = e;
            r->l1_gpa = (e & 0x000ffffffffff000ULL & ~off) | (gpa & off);
            bool denied = ((access & 1) && !r_ok) || ((access & 2) && !w_ok) || ((access & 4) && !x_ok);
            r->status = denied ? REF_VIOLATION : REF_OK;
            r->why = denied ? "access denied" : "translated";
            return;
        }
        next = e & 0x000ffffffffff000ULL;
    }
    fail_msg("the reference walk ran past level 1");
}

/* The composition rule of ept02.h, restated: L0's WB leaves L1's choice
 * alone; anything else caps cacheability (UC < WC < WT < WP < WB) and
 * ignores L2's PAT. */
static void ref_memtype(unsigned t12, bool ipat12, unsigned t01, unsigned *t, bool *ipat)
{
    static const int rank[8] = {[MEMTYPE_UC] = 0, [MEMTYPE_WC] = 1, [MEMTYPE_WT] = 2, [MEMTYPE_WP] = 3,
                                [MEMTYPE_WB] = 4};
    if (t01 == MEMTYPE_WB) {
        *t = t12;
        *ipat = ipat12;
    } else {
        *t = rank[t12] <= rank[t01] ? t12 : t01;
        *ipat = true;
    }
}

/* ---- (a) ept12_walk ---- */

static unsigned reads;
static uint64_t read_pa[8];

static bool counting_read(uint64_t pa, uint64_t *entry)
{
    if (reads < 8)
        read_pa[reads] = pa;
    reads++;
    if (!l1_ram(pa))
        return false;
    *entry = *l1_entry(pa);
    return true;
}

static const char *status_name(int s)
{
    return s == REF_OK ? "OK" : s == REF_VIOLATION ? "VIOLATION" : "MISCONFIG";
}

static void check_walk(const struct ref12 *r, uint64_t eptp, uint64_t gpa, uint64_t access,
                       const struct ept12_caps *c)
{
    struct ept12_walk w;
    reads = 0;
    ept12_walk(eptp, gpa, access, c, counting_read, &w);
    EXPECT((int)w.status == r->status, "status %s, reference %s", status_name(w.status), status_name(r->status));
    EXPECT(reads <= 4 && reads == r->n && w.entries == r->n, "%u reads, %u entries, reference %u", reads,
           w.entries, r->n);
    for (unsigned i = 0; i < r->n; i++)
        EXPECT(read_pa[i] == r->pa[i] && w.entry_pa[i] == r->pa[i], "entry %u at 0x%llx, reference 0x%llx", i,
               (unsigned long long)read_pa[i], (unsigned long long)r->pa[i]);
    if (r->status == REF_MISCONFIG)
        return;
    EXPECT(w.perms == r->perms, "perms %llx, reference %llx", (unsigned long long)w.perms,
           (unsigned long long)r->perms);
    if (r->status == REF_OK || r->level) {
        EXPECT(w.level == r->level, "level %u, reference %u", w.level, r->level);
        EXPECT(w.leaf == r->leaf, "leaf %llx, reference %llx", (unsigned long long)w.leaf,
               (unsigned long long)r->leaf);
        EXPECT(w.l1_gpa == r->l1_gpa, "l1 gpa %llx, reference %llx", (unsigned long long)w.l1_gpa,
               (unsigned long long)r->l1_gpa);
    }
}

static uint64_t pick_access(void)
{
    static const uint64_t a[] = {EPT_READ, EPT_READ, EPT_READ, EPT_WRITE, EPT_WRITE, EPT_WRITE,
                                 EPT_EXEC, EPT_EXEC, EPT_READ | EPT_WRITE};
    return a[rnd(sizeof(a) / sizeof(a[0]))];
}

/* A qualification as the CPU reports an EPT02 violation (Table 28-7):
 * the access, the EPT02 permissions, the linear-address bits, NMI
 * unblocking, advanced information. */
static uint64_t pick_qual(uint64_t access)
{
    uint64_t q = 0;
    if (access & EPT_READ)
        q |= EPT_QUAL_READ;
    if (access & EPT_WRITE)
        q |= EPT_QUAL_WRITE;
    if (access & EPT_EXEC)
        q |= EPT_QUAL_FETCH;
    q |= rnd(8) << 3; /* what EPT02 allowed: must not reach L1 */
    if (chance(80)) {
        q |= EPT_QUAL_GLA_VALID;
        if (chance(70)) {
            q |= EPT_QUAL_GLA_TRANSLATED;
            q |= chance(20) ? rnd(8) << 9 : 0; /* advanced information, not offered to L1 */
        }
    }
    q |= chance(5) ? EPT_QUAL_NMI_UNBLOCKING : 0;
    q |= chance(5) ? 1ULL << 16 : 0;
    return q;
}

static void test_walk_matches_reference(void **state)
{
    (void)state;
    uint64_t cases = env_u64("EPT_MODEL_CASES", DEFAULT_CASES) * 2;
    rng_state = seed ^ 0xa;
    for (case_no = 0; case_no < cases; case_no++) {
        if (case_no % REGEN_EVERY == 0)
            new_world();
        if (chance(25))
            mutate_ept12(); /* no shadows here: no INVEPT needed */
        struct ept12_caps c = env.caps;
        unsigned maxphy = env.maxphy;
        if (chance(30)) { /* the same tables under other offers */
            c.exec_only = chance(50);
            c.pages_2m = chance(70);
            c.pages_1g = chance(50);
            maxphy = 36 + (unsigned)rnd(17);
            c.phys_mask = (1ULL << maxphy) - 1;
        }
        cur.eptp = env.eptps[rnd(env.neptp)];
        cur.gpa = pick_gpa();
        cur.access = chance(3) ? 0 : pick_access() | (chance(5) ? EPT_EXEC : 0);
        cur.qual = 0;
        struct ref12 r;
        ref_walk(cur.eptp, cur.gpa, cur.access, &c, maxphy, &r);
        cur.why = r.why;
        check_walk(&r, cur.eptp, cur.gpa, cur.access, &c);
    }
}

/* ---- (b) the EPT02 fill path ---- */

static struct {
    uint64_t outcomes[4];
    uint64_t levels[4];
    const char *why[16];
    uint64_t why_count[16];
    uint64_t audited;
} tally;

static void count_why(const char *why)
{
    unsigned k = 0;
    while (k < 15 && tally.why[k] && tally.why[k] != why)
        k++;
    tally.why[k] = why;
    tally.why_count[k]++;
}

static void check_fill(const struct ref12 *r)
{
    uint64_t before[4];
    for (unsigned i = 0; i < r->n; i++)
        before[i] = l1_ram(r->pa[i]) ? *l1_entry(r->pa[i]) : 0;
    struct ept02_fault f;
    memset(&f, 0xa5, sizeof(f));
    ept02_handle_violation(&E2, cur.eptp, cur.gpa, cur.qual, 0, &f);
    tally.outcomes[f.outcome & 3]++;

    bool ad = cur.eptp & EPTP_AD_ENABLE;
    bool write = cur.access & EPT_WRITE;
    /* 29.3.5: A on every entry used, D on the leaf for a write; only for a
     * translation that succeeded (nothing for violations and
     * misconfigurations, which L1 sees as exits). */
    for (unsigned i = 0; i < r->n; i++) {
        uint64_t want = before[i];
        if (ad && r->status == REF_OK) {
            want |= EPT_ACCESSED;
            for (unsigned j = 0; j < r->n; j++)
                if (r->pa[j] == r->pa[i] && j == r->n - 1 && write)
                    want |= EPT_DIRTY;
        }
        uint64_t now = l1_ram(r->pa[i]) ? *l1_entry(r->pa[i]) : 0;
        EXPECT(now == want, "EPT12 entry %u at 0x%llx is %llx, expected %llx (was %llx)", i,
               (unsigned long long)r->pa[i], (unsigned long long)now, (unsigned long long)want,
               (unsigned long long)before[i]);
    }

    if (r->status == REF_MISCONFIG) {
        EXPECT(f.outcome == EPT02_REFLECT_MISCONFIG, "outcome %d, expected a misconfiguration", f.outcome);
        return;
    }
    if (r->status == REF_VIOLATION) {
        /* Table 28-7: the access bits, the AND of EPT12's bits 2:0 over the
         * entries walked in bits 5:3, the linear-address and NMI bits. */
        uint64_t want = (cur.qual & QUAL_KEPT) | r->perms << 3;
        EXPECT(f.outcome == EPT02_REFLECT_VIOLATION, "outcome %d, expected a violation", f.outcome);
        EXPECT(f.qualification == want, "qualification %llx, expected %llx", (unsigned long long)f.qualification,
               (unsigned long long)want);
        return;
    }
    const struct page01 *p = ref01(r->l1_gpa);
    if (!p || (cur.access & ~p->flags & EPT_RWX)) {
        EXPECT(f.outcome == EPT02_L1_HIDDEN, "outcome %d, expected hidden (EPT01 %s)", f.outcome,
               p ? "forbids" : "unmapped");
        EXPECT(f.l1_gpa == r->l1_gpa, "l1 gpa %llx, expected %llx", (unsigned long long)f.l1_gpa,
               (unsigned long long)r->l1_gpa);
        return;
    }
    EXPECT(f.outcome == EPT02_FILLED, "outcome %d, expected a fill", f.outcome);
    uint64_t eptp02 = 0;
    struct ept *sh = ept02_shadow(&E2, cur.eptp, &eptp02);
    EXPECT(sh != 0, "no shadow after a fill");
    EXPECT(eptp02 == ept02_eptp_for(&E2, cur.eptp), "shadow EPTP %llx", (unsigned long long)eptp02);
    unsigned lvl = 0;
    uint64_t *e = ept_lookup(sh, cur.gpa, &lvl);
    EXPECT(e != 0, "EPT02 does not map the address after a fill");
    unsigned want_lvl = r->level < p->level ? r->level : p->level;
    tally.levels[want_lvl]++;
    EXPECT(lvl == want_lvl, "EPT02 level %u, expected %u (EPT12 %u, EPT01 %u)", lvl, want_lvl, r->level,
           p->level);
    uint64_t size = EPT_LEVEL_SIZE(lvl);
    uint64_t hpa = (*e & EPT_ADDR_MASK & ~(size - 1)) | (cur.gpa & (size - 1));
    uint64_t want_hpa = p->hpa + (r->l1_gpa - p->gpa);
    EXPECT(hpa == want_hpa, "host address %llx, expected %llx (entry %llx)", (unsigned long long)hpa,
           (unsigned long long)want_hpa, (unsigned long long)*e);
    EXPECT(!(*e & EPT_ADDR_MASK & (size - 1)), "address bits below the page size in %llx",
           (unsigned long long)*e);
    uint64_t perms = r->perms & p->flags & EPT_RWX;
    if (ad && !write && !(r->leaf & EPT_DIRTY))
        perms &= ~EPT_WRITE;
    EXPECT((*e & EPT_RWX) == perms, "EPT02 perms %llx, expected %llx (EPT12 %llx, EPT01 %llx, leaf %llx)",
           (unsigned long long)(*e & EPT_RWX), (unsigned long long)perms, (unsigned long long)r->perms,
           (unsigned long long)(p->flags & EPT_RWX), (unsigned long long)r->leaf);
    unsigned type;
    bool ipat;
    ref_memtype((unsigned)((r->leaf >> 3) & 7), (r->leaf >> 6) & 1, (unsigned)((p->flags >> 3) & 7), &type, &ipat);
    EXPECT(((*e >> 3) & 7) == type && (bool)(*e & EPT_IGNORE_PAT) == ipat,
           "memory type %llu ipat %d, expected %u ipat %d (EPT12 leaf %llx, EPT01 %llx)",
           (unsigned long long)((*e >> 3) & 7), !!(*e & EPT_IGNORE_PAT), type, ipat, (unsigned long long)r->leaf,
           (unsigned long long)p->flags);
    uint64_t other = *e & ~(EPT_ADDR_MASK | EPT_RWX | EPT_MEMTYPE_MASK | EPT_IGNORE_PAT | EPT_LARGE);
    EXPECT(!other && (bool)(*e & EPT_LARGE) == (lvl > 1), "stray bits in EPT02 entry %llx",
           (unsigned long long)*e);
}

/* Every leaf of every shadow, against the tables as they are now: EPT02
 * may never grant more than EPT12 AND EPT01 (minus write before dirty),
 * nor map anything elsewhere, whatever was filled, split, reclaimed or
 * invalidated before. Also: the shadows' table pages and the free pool add
 * up to the whole pool. */
static void audit_leaf(uint64_t eptp12, uint64_t e, uint64_t base, unsigned level)
{
    uint64_t size = EPT_LEVEL_SIZE(level);
    for (unsigned k = 0; k < 2; k++) {
        uint64_t gpa = base + (k ? size - 1 : rnd(size));
        cur.eptp = eptp12;
        cur.gpa = gpa;
        cur.access = 0;
        cur.qual = 0;
        struct ref12 r;
        ref_walk(eptp12, gpa, 0, &env.caps, env.maxphy, &r);
        cur.why = r.why;
        EXPECT(r.status == REF_OK, "EPT02 maps %llx (entry %llx, level %u) that EPT12 does not translate",
               (unsigned long long)gpa, (unsigned long long)e, level);
        const struct page01 *p = ref01(r.l1_gpa);
        EXPECT(p != 0, "EPT02 maps %llx to L1 %llx that EPT01 does not map", (unsigned long long)gpa,
               (unsigned long long)r.l1_gpa);
        EXPECT(level <= r.level && level <= p->level, "EPT02 level %u above EPT12 %u or EPT01 %u", level, r.level,
               p->level);
        uint64_t hpa = (e & EPT_ADDR_MASK & ~(size - 1)) | (gpa & (size - 1));
        EXPECT(hpa == p->hpa + (r.l1_gpa - p->gpa), "EPT02 maps %llx to %llx, expected %llx",
               (unsigned long long)gpa, (unsigned long long)hpa,
               (unsigned long long)(p->hpa + (r.l1_gpa - p->gpa)));
        uint64_t allowed = r.perms & p->flags & EPT_RWX;
        if ((eptp12 & EPTP_AD_ENABLE) && !(r.leaf & EPT_DIRTY))
            allowed &= ~EPT_WRITE;
        EXPECT(!(e & EPT_RWX & ~allowed), "EPT02 grants %llx at %llx, at most %llx allowed",
               (unsigned long long)(e & EPT_RWX), (unsigned long long)gpa, (unsigned long long)allowed);
        unsigned type;
        bool ipat;
        ref_memtype((unsigned)((r.leaf >> 3) & 7), (r.leaf >> 6) & 1, (unsigned)((p->flags >> 3) & 7), &type, &ipat);
        EXPECT(((e >> 3) & 7) == type && (bool)(e & EPT_IGNORE_PAT) == ipat, "EPT02 memory type of %llx",
               (unsigned long long)e);
        tally.audited++;
    }
}

static unsigned audit_table(uint64_t eptp12, uint64_t table, unsigned level, uint64_t base)
{
    unsigned pages = 1;
    const uint64_t *t = (const uint64_t *)phys_to_virt(table);
    for (unsigned i = 0; i < 512; i++) {
        uint64_t e = t[i];
        if (!(e & EPT_RWX))
            continue;
        uint64_t b = base + i * EPT_LEVEL_SIZE(level);
        if (level == 1 || (e & EPT_LARGE))
            audit_leaf(eptp12, e, b, level);
        else
            pages += audit_table(eptp12, e & EPT_ADDR_MASK, level - 1, b);
    }
    return pages;
}

static void audit_shadows(void)
{
    unsigned pages = 0, roots = 0;
    for (unsigned i = 0; i < env.neptp; i++) {
        uint64_t eptp02;
        struct ept *sh = ept02_shadow(&E2, env.eptps[i], &eptp02);
        if (!sh)
            continue;
        roots++;
        unsigned n = audit_table(env.eptps[i], sh->root, 4, 0);
        EXPECT(n == sh->table_pages, "shadow of %llx holds %u table pages, counts %llu",
               (unsigned long long)env.eptps[i], n, (unsigned long long)sh->table_pages);
        pages += n;
    }
    EXPECT(roots == ept02_root_count(&E2), "%u roots found, %u counted", roots, ept02_root_count(&E2));
    EXPECT(pages + ept02_pool_free(&E2) == EPT02_POOL_PAGES, "%u shadow pages + %u free != %u", pages,
           ept02_pool_free(&E2), EPT02_POOL_PAGES);
}

static void test_fill_matches_reference(void **state)
{
    (void)state;
    uint64_t cases = env_u64("EPT_MODEL_CASES", DEFAULT_CASES);
    uint64_t pmm_baseline = pmm_free_pages();
    rng_state = seed ^ 0xb;
    memset(&tally, 0, sizeof(tally));
    unsigned cur_eptp = 0;
    for (case_no = 0; case_no < cases; case_no++) {
        if (case_no % REGEN_EVERY == 0) {
            if (case_no)
                audit_shadows();
            new_world();
        }
        if (rnd(2500) == 0) { /* L1 edits EPT12, then INVEPT all-context (SDM 29.4.3.1) */
            audit_shadows();
            for (unsigned k = 0; k < 20; k++)
                mutate_ept12();
            ept02_invalidate(&E2, EPT02_ALL_CONTEXTS);
        }
        if (chance(2) || cur_eptp >= env.neptp) /* L1 switches between its L2s */
            cur_eptp = (unsigned)rnd(env.neptp);
        if (rnd(5000) == 0) { /* INVEPT: one EPT root (any EPTP bits), or all */
            uint64_t target = chance(70) ? (env.eptps[rnd(env.neptp)] ^ (rnd(0x80))) : EPT02_ALL_CONTEXTS;
            ept02_invalidate(&E2, target);
            for (unsigned i = 0; i < env.neptp; i++) {
                uint64_t dummy;
                if (target == EPT02_ALL_CONTEXTS || (env.eptps[i] & EPT_ADDR_MASK) == (target & EPT_ADDR_MASK))
                    EXPECT(!ept02_shadow(&E2, env.eptps[i], &dummy), "shadow of %llx survived INVEPT %llx",
                           (unsigned long long)env.eptps[i], (unsigned long long)target);
            }
        }
        cur.eptp = env.eptps[cur_eptp];
        cur.gpa = pick_gpa();
        cur.access = pick_access();
        cur.qual = pick_qual(cur.access);
        struct ref12 r;
        ref_walk(cur.eptp, cur.gpa, cur.access, &env.caps, env.maxphy, &r);
        cur.why = r.why;
        count_why(r.why);
        check_walk(&r, cur.eptp, cur.gpa, cur.access, &env.caps);
        check_fill(&r);
    }
    audit_shadows();
    ept02_invalidate(&E2, EPT02_ALL_CONTEXTS);
    assert_int_equal(ept02_pool_free(&E2), EPT02_POOL_PAGES);
    assert_int_equal(ept02_root_count(&E2), 0);
    ept_destroy(&the_vm.ept01);
    assert_int_equal(pmm_free_pages(), pmm_baseline); /* EPT01 rebuilt many times, nothing leaked */
    /* Every kind of outcome and page size happened. */
    fprintf(stderr, "# EPT model: %llu cases: %llu filled (4K %llu, 2M %llu, 1G %llu), %llu violations, "
                    "%llu misconfigurations, %llu hidden; %llu roots reclaimed, %llu pool reclaims\n",
            (unsigned long long)cases, (unsigned long long)tally.outcomes[EPT02_FILLED],
            (unsigned long long)tally.levels[1], (unsigned long long)tally.levels[2],
            (unsigned long long)tally.levels[3], (unsigned long long)tally.outcomes[EPT02_REFLECT_VIOLATION],
            (unsigned long long)tally.outcomes[EPT02_REFLECT_MISCONFIG],
            (unsigned long long)tally.outcomes[EPT02_L1_HIDDEN], (unsigned long long)E2.stats.roots_reclaimed,
            (unsigned long long)E2.stats.pool_reclaims);
    fprintf(stderr, "# EPT model: %llu EPT02 leaves audited; by the reference:", (unsigned long long)tally.audited);
    for (unsigned k = 0; k < 16 && tally.why[k]; k++)
        fprintf(stderr, "%s %s %llu", k ? "," : "", tally.why[k], (unsigned long long)tally.why_count[k]);
    fprintf(stderr, "\n");
    if (cases >= 100000) {
        for (unsigned o = 0; o < 4; o++)
            assert_true(tally.outcomes[o] > cases / 100);
        for (unsigned l = 1; l <= 3; l++)
            assert_true(tally.levels[l] > 0);
    }
}

static int setup(void **state)
{
    (void)state;
    fake_phys_reset();
    fake_vmx_reset();
    assert_true(vmx_on(VMXON_PA));
    if (!pmm_init(POOL_BASE, POOL_SIZE))
        return -1;
    memset(&the_vm, 0, sizeof(the_vm));
    the_vm.caps = &host_caps;
    memmap_init(&the_vm.l1_map);
    memmap_set(&the_vm.l1_map, L1_RAM_BASE, L1_RAM_END - L1_RAM_BASE, MEM_USABLE);
    memmap_set(&the_vm.l1_map, L1_ACPI_BASE, L1_ACPI_END - L1_ACPI_BASE, MEM_ACPI_RECLAIM);
    memmap_set(&the_vm.l1_map, L1_HOLE, 1 * MiB, MEM_RESERVED);
    memset(&env, 0, sizeof(env));
    memset(&E2.stats, 0, sizeof(E2.stats));
    host_caps = (struct vmx_caps){.ept_2m = true, .ept_1g = true};
    return ept02_init(&E2, EPT02_POOL_PAGES) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    free(env.p01);
    env.p01 = 0;
    return 0;
}

int main(void)
{
    seed = env_u64("EPT_MODEL_SEED", DEFAULT_SEED);
    fprintf(stderr, "# EPT model: seed 0x%llx, %llu cases (EPT_MODEL_SEED, EPT_MODEL_CASES)\n",
            (unsigned long long)seed, (unsigned long long)env_u64("EPT_MODEL_CASES", DEFAULT_CASES));
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_walk_matches_reference, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fill_matches_reference, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
