/* unit-srcs: vmm/ept.c vmm/pmm.c */
/* vmm/ept.c: building, splitting, walking and tearing down one EPT
 * hierarchy (SDM Vol. 3C 29.3: 29.3.2 translation with 4-level EPT, Tables
 * 29-1..29-6 for the entry formats: bit 7 maps a 1 GiB page in a PDPTE and a
 * 2 MiB page in a PDE, bits 5:3 are the memory type, bit 6 ignore-PAT, an
 * entry with bits 2:0 clear is not present; 25.6.11 for the EPTP). Table
 * pages come from vmm/pmm.c over a pool in the fake physical memory; the
 * guest-physical and host-physical addresses mapped are never dereferenced,
 * so they may be anywhere. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>
#include "vmm/ept.h"
#include "vmm/pmm.h"
#include "arch/x86/physmem.h"
#include "tests/unit/fake_arch.h"

#define KiB (1ULL << 10)
#define MiB (1ULL << 20)
#define GiB (1ULL << 30)
#define POOL_BASE  (16 * MiB)
#define POOL_PAGES 1024ULL

#define WB_FLAGS (EPT_RWX | (6ULL << EPT_MEMTYPE_SHIFT))
#define UC_FLAGS (EPT_RWX | (0ULL << EPT_MEMTYPE_SHIFT))
#define RO_WT_IPAT (EPT_READ | (4ULL << EPT_MEMTYPE_SHIFT) | EPT_IGNORE_PAT)

static struct ept e;

static int setup(void **state)
{
    (void)state;
    fake_phys_reset();
    if (!pmm_init(POOL_BASE, POOL_PAGES * 4096))
        return -1;
    memset(&e, 0, sizeof(e));
    return ept_init(&e, 3) ? 0 : -1;
}

/* The leaf for gpa: its level, host address and attribute bits. */
static unsigned leaf(uint64_t gpa, uint64_t *hpa, uint64_t *attrs)
{
    unsigned level = 0;
    uint64_t *entry = ept_lookup(&e, gpa, &level);
    if (!entry)
        return 0;
    uint64_t size = EPT_LEVEL_SIZE(level);
    if (hpa)
        *hpa = (*entry & EPT_ADDR_MASK & ~(size - 1)) + (gpa & (size - 1));
    if (attrs)
        *attrs = *entry & ~EPT_ADDR_MASK & ~EPT_LARGE;
    return level;
}

static void assert_maps(uint64_t gpa, uint64_t want_hpa, unsigned want_level, uint64_t want_attrs)
{
    uint64_t hpa, attrs;
    assert_int_equal(leaf(gpa, &hpa, &attrs), want_level);
    assert_int_equal(hpa, want_hpa);
    assert_int_equal(attrs, want_attrs);
}

/* Every entry of the tree is well formed: table entries RWX with a
 * page-aligned table address, bit 7 exactly on large leaves, no bits in
 * 11:7 of a table entry (SDM Tables 29-2, 29-4, 29-6: reserved or ignored),
 * and large-page addresses aligned to their size (reserved bits 29:12 /
 * 20:12 are zero, Tables 29-3 and 29-5). Returns the number of table pages. */
static uint64_t check_tree(uint64_t table, unsigned level)
{
    const uint64_t *t = phys_to_virt(table);
    uint64_t pages = 1;
    for (unsigned i = 0; i < EPT_ENTRIES; i++) {
        uint64_t x = t[i];
        if (!(x & EPT_RWX)) {
            assert_int_equal(x, 0);
            continue;
        }
        bool is_leaf = level == 1 || (x & EPT_LARGE);
        if (is_leaf) {
            assert_true(level <= 3);
            assert_int_equal((x & EPT_ADDR_MASK) & (EPT_LEVEL_SIZE(level) - 1), 0);
            if (level == 1)
                assert_int_equal(x & EPT_LARGE, 0);
        } else {
            assert_int_equal(x & ~EPT_ADDR_MASK, EPT_RWX);
            pages += check_tree(x & EPT_ADDR_MASK, level - 1);
        }
    }
    return pages;
}

static void assert_tree_consistent(void)
{
    assert_int_equal(check_tree(e.root, EPT_LEVELS), e.table_pages);
    assert_int_equal(POOL_PAGES - pmm_free_pages(), e.table_pages);
}

static void test_init_and_eptp(void **state)
{
    (void)state;
    assert_int_equal(e.table_pages, 1);
    assert_true(pmm_owns(e.root));
    assert_int_equal(e.root & 0xfff, 0);
    /* SDM 25.6.11: bits 2:0 memory type (6 = WB), 5:3 walk length - 1,
     * bit 6 A/D enable, 11:7 reserved. */
    uint64_t eptp = ept_eptp(&e, false);
    assert_int_equal(eptp & 7, 6);
    assert_int_equal((eptp >> 3) & 7, 3);
    assert_int_equal(eptp & EPTP_AD_ENABLE, 0);
    assert_int_equal(eptp & EPTP_RESERVED_LOW, 0);
    assert_int_equal(eptp & ~0xfffULL, e.root);
    assert_int_equal(ept_eptp(&e, true), eptp | (1ULL << 6));
    assert_null(ept_lookup(&e, 0, 0));
    assert_null(ept_lookup(&e, 0x123456789000ULL, 0));
}

static void test_map_uses_largest_aligned_pages(void **state)
{
    (void)state;
    /* 2 GiB + 2 MiB + 4 KiB from 1 GiB: two 1 GiB pages, a 2 MiB page and
     * a 4 KiB page. */
    assert_true(ept_map(&e, 1 * GiB, 5 * GiB, 2 * GiB + 2 * MiB + 4 * KiB, WB_FLAGS));
    assert_maps(1 * GiB, 5 * GiB, 3, WB_FLAGS);
    assert_maps(2 * GiB + 12345, 6 * GiB + 12345, 3, WB_FLAGS);
    assert_maps(3 * GiB, 7 * GiB, 2, WB_FLAGS);
    assert_maps(3 * GiB + 2 * MiB, 7 * GiB + 2 * MiB, 1, WB_FLAGS);
    assert_int_equal(leaf(3 * GiB + 2 * MiB + 4 * KiB, 0, 0), 0);
    assert_int_equal(leaf(1 * GiB - 1, 0, 0), 0);
    /* PML4 + PDPT + one PD (for the 2 MiB page) + one PT. */
    assert_int_equal(e.table_pages, 4);
    assert_tree_consistent();
}

static void test_unaligned_start_steps_up_through_page_sizes(void **state)
{
    (void)state;
    /* From 2 MiB - 4 KiB: one 4 KiB page, then 2 MiB pages up to 1 GiB,
     * then a 1 GiB page, then 4 KiB pages for the tail. */
    assert_true(ept_map(&e, 2 * MiB - 4 * KiB, 2 * MiB - 4 * KiB, 2 * GiB - 2 * MiB + 12 * KiB, UC_FLAGS));
    assert_maps(2 * MiB - 4 * KiB, 2 * MiB - 4 * KiB, 1, UC_FLAGS);
    assert_maps(2 * MiB, 2 * MiB, 2, UC_FLAGS);
    assert_maps(1 * GiB - 2 * MiB, 1 * GiB - 2 * MiB, 2, UC_FLAGS);
    assert_maps(1 * GiB, 1 * GiB, 3, UC_FLAGS);
    assert_maps(2 * GiB, 2 * GiB, 1, UC_FLAGS);
    assert_maps(2 * GiB + 4 * KiB, 2 * GiB + 4 * KiB, 1, UC_FLAGS);
    assert_int_equal(leaf(2 * GiB + 8 * KiB, 0, 0), 0);
    assert_int_equal(leaf(2 * MiB - 8 * KiB, 0, 0), 0);
    assert_tree_consistent();
}

static void test_host_alignment_limits_page_size(void **state)
{
    (void)state;
    /* gpa 1 GiB-aligned but hpa only 2 MiB-aligned: no 1 GiB page (a PDPTE
     * maps a 1 GiB-aligned frame, SDM Table 29-3). */
    assert_true(ept_map(&e, 4 * GiB, 8 * GiB + 2 * MiB, 1 * GiB, WB_FLAGS));
    assert_maps(4 * GiB, 8 * GiB + 2 * MiB, 2, WB_FLAGS);
    assert_maps(5 * GiB - 1, 9 * GiB + 2 * MiB - 1, 2, WB_FLAGS);
    /* hpa only 4 KiB-aligned: every page is 4 KiB. */
    assert_true(ept_map(&e, 6 * GiB, 10 * GiB + 4 * KiB, 4 * MiB, WB_FLAGS));
    assert_maps(6 * GiB + 3 * MiB, 10 * GiB + 4 * KiB + 3 * MiB, 1, WB_FLAGS);
    assert_tree_consistent();
}

static void test_max_level_caps_page_size(void **state)
{
    (void)state;
    ept_destroy(&e);
    assert_int_equal(pmm_free_pages(), POOL_PAGES);
    memset(&e, 0, sizeof(e));
    assert_true(ept_init(&e, 2)); /* no 1 GiB pages (EPT_VPID_CAP bit 17 clear) */
    assert_true(ept_map(&e, 0, 0, 1 * GiB, WB_FLAGS));
    assert_maps(0, 0, 2, WB_FLAGS);
    assert_maps(1 * GiB - 1, 1 * GiB - 1, 2, WB_FLAGS);
    assert_int_equal(e.table_pages, 3);
    ept_destroy(&e);
    memset(&e, 0, sizeof(e));
    assert_true(ept_init(&e, 1)); /* 4 KiB only */
    assert_true(ept_map(&e, 0, 0, 4 * MiB, WB_FLAGS));
    assert_maps(2 * MiB, 2 * MiB, 1, WB_FLAGS);
    assert_int_equal(e.table_pages, 1 + 1 + 1 + 2);
    assert_tree_consistent();
}

static void test_partial_unmap_splits_1g_then_2m_keeping_attributes(void **state)
{
    (void)state;
    assert_true(ept_map(&e, 1 * GiB, 3 * GiB, 1 * GiB, RO_WT_IPAT));
    assert_int_equal(e.table_pages, 2);
    /* Unmapping one 4 KiB page splits the 1 GiB page into 2 MiB pages and
     * the 2 MiB page around the hole into 4 KiB pages. */
    uint64_t hole = 1 * GiB + 6 * MiB + 20 * KiB;
    assert_true(ept_unmap(&e, hole, 4 * KiB));
    assert_int_equal(e.table_pages, 4);
    assert_int_equal(leaf(hole, 0, 0), 0);
    assert_int_equal(leaf(hole + 4 * KiB - 1, 0, 0), 0);
    assert_maps(hole - 4 * KiB, 3 * GiB + 6 * MiB + 16 * KiB, 1, RO_WT_IPAT);
    assert_maps(hole + 4 * KiB, 3 * GiB + 6 * MiB + 24 * KiB, 1, RO_WT_IPAT);
    assert_maps(1 * GiB + 6 * MiB, 3 * GiB + 6 * MiB, 1, RO_WT_IPAT);
    assert_maps(1 * GiB + 8 * MiB - 1, 3 * GiB + 8 * MiB - 1, 1, RO_WT_IPAT);
    assert_maps(1 * GiB + 4 * MiB, 3 * GiB + 4 * MiB, 2, RO_WT_IPAT);
    assert_maps(1 * GiB, 3 * GiB, 2, RO_WT_IPAT);
    assert_maps(2 * GiB - 2 * MiB, 4 * GiB - 2 * MiB, 2, RO_WT_IPAT);
    assert_tree_consistent();
}

static void test_remap_inside_large_page_splits(void **state)
{
    (void)state;
    assert_true(ept_map(&e, 0, 0, 1 * GiB, WB_FLAGS));
    /* One 4 KiB page of the 1 GiB page becomes UC elsewhere. */
    assert_true(ept_map(&e, 10 * MiB + 4 * KiB, 40 * GiB, 4 * KiB, UC_FLAGS));
    assert_maps(10 * MiB + 4 * KiB, 40 * GiB, 1, UC_FLAGS);
    assert_maps(10 * MiB, 10 * MiB, 1, WB_FLAGS);
    assert_maps(10 * MiB + 8 * KiB, 10 * MiB + 8 * KiB, 1, WB_FLAGS);
    assert_maps(8 * MiB, 8 * MiB, 2, WB_FLAGS);
    assert_maps(12 * MiB, 12 * MiB, 2, WB_FLAGS);
    assert_int_equal(e.table_pages, 4);
    assert_tree_consistent();
}

static void test_large_map_over_small_pages_frees_their_tables(void **state)
{
    (void)state;
    assert_true(ept_map(&e, 2 * GiB, 2 * GiB, 8 * KiB, WB_FLAGS));
    assert_true(ept_map(&e, 2 * GiB + 2 * MiB, 0, 4 * KiB, WB_FLAGS));
    assert_int_equal(e.table_pages, 5); /* PML4, PDPT, PD, two PTs */
    /* A 2 MiB mapping over the first 4 KiB pages drops their PT. */
    assert_true(ept_map(&e, 2 * GiB, 6 * GiB, 2 * MiB, UC_FLAGS));
    assert_int_equal(e.table_pages, 4);
    assert_maps(2 * GiB + 4 * KiB, 6 * GiB + 4 * KiB, 2, UC_FLAGS);
    /* A 1 GiB mapping over all of it drops the PD and the other PT. */
    assert_true(ept_map(&e, 2 * GiB, 7 * GiB, 1 * GiB, WB_FLAGS));
    assert_int_equal(e.table_pages, 2);
    assert_maps(2 * GiB + 2 * MiB, 7 * GiB + 2 * MiB, 3, WB_FLAGS);
    assert_tree_consistent();
}

static void test_unmap_frees_subtrees_back_to_baseline(void **state)
{
    (void)state;
    uint64_t baseline = e.table_pages;
    /* Scattered small mappings in the first 512 GiB and one above. */
    for (uint64_t i = 0; i < 8; i++)
        assert_true(ept_map(&e, i * 3 * GiB + i * 2 * MiB + 4 * KiB, i * 4 * KiB, 4 * KiB, WB_FLAGS));
    assert_true(ept_map(&e, 600 * GiB, 0, 4 * MiB, WB_FLAGS));
    assert_true(e.table_pages > baseline + 16);
    assert_tree_consistent();
    assert_true(ept_unmap(&e, 0, 1024 * GiB));
    assert_int_equal(e.table_pages, baseline);
    assert_int_equal(pmm_free_pages(), POOL_PAGES - baseline);
    for (uint64_t i = 0; i < 8; i++)
        assert_int_equal(leaf(i * 3 * GiB + i * 2 * MiB + 4 * KiB, 0, 0), 0);
    /* Unmapping what is not mapped is harmless and allocates nothing. */
    assert_true(ept_unmap(&e, 5 * GiB, 3 * GiB));
    assert_int_equal(e.table_pages, baseline);
    assert_tree_consistent();
}

static void test_unmap_of_a_whole_page_keeps_neighbours(void **state)
{
    (void)state;
    assert_true(ept_map(&e, 0, 0, 2 * GiB, WB_FLAGS));
    /* Exactly one aligned 1 GiB page: no split, no new table. */
    assert_true(ept_unmap(&e, 1 * GiB, 1 * GiB));
    assert_int_equal(e.table_pages, 2);
    assert_maps(1 * GiB - 1, 1 * GiB - 1, 3, WB_FLAGS);
    assert_int_equal(leaf(1 * GiB, 0, 0), 0);
    /* A 2 MiB-aligned range in the first: one split into 2 MiB pages. */
    assert_true(ept_unmap(&e, 4 * MiB, 4 * MiB));
    assert_int_equal(e.table_pages, 3);
    assert_maps(2 * MiB, 2 * MiB, 2, WB_FLAGS);
    assert_int_equal(leaf(4 * MiB, 0, 0), 0);
    assert_int_equal(leaf(8 * MiB - 1, 0, 0), 0);
    assert_maps(8 * MiB, 8 * MiB, 2, WB_FLAGS);
    assert_tree_consistent();
}

static void test_unmap_rounds_to_whole_pages(void **state)
{
    (void)state;
    /* EPT maps whole pages (SDM 29.3.2): removing any byte of a page removes
     * the page. The mapped frame itself must never be touched (it is L1's
     * memory, not a table). */
    uint64_t frame = 40 * MiB;
    memset(phys_to_virt(frame), 0x07, 8192);
    assert_true(ept_map(&e, 0x5000, frame, 8 * KiB, WB_FLAGS));
    uint64_t free_before = pmm_free_pages();
    assert_true(ept_unmap(&e, 0x5800, 0x100));
    assert_int_equal(leaf(0x5000, 0, 0), 0);
    assert_maps(0x6000, frame + 0x1000, 1, WB_FLAGS);
    assert_int_equal(pmm_free_pages(), free_before);
    const uint8_t *p = phys_to_virt(frame);
    for (unsigned i = 0; i < 8192; i++)
        assert_int_equal(p[i], 0x07);
    /* A range straddling two pages removes both. */
    assert_true(ept_map(&e, 0x5000, frame, 8 * KiB, WB_FLAGS));
    assert_true(ept_unmap(&e, 0x5fff, 2));
    assert_int_equal(leaf(0x5000, 0, 0), 0);
    assert_int_equal(leaf(0x6000, 0, 0), 0);
    assert_tree_consistent();
}

static void test_map_refuses_unaligned_requests(void **state)
{
    (void)state;
    /* Addresses and sizes are whole 4 KiB pages: an address with bits 11:0
     * set would put them into the entry's attribute bits (SDM Table 29-6). */
    assert_false(ept_map(&e, 0x1008, 0x1008, 4 * KiB, WB_FLAGS));
    assert_false(ept_map(&e, 0x1000, 0x2010, 4 * KiB, WB_FLAGS));
    assert_false(ept_map(&e, 0x1000, 0x1000, 4 * KiB + 1, WB_FLAGS));
    assert_int_equal(leaf(0x1000, 0, 0), 0);
    assert_int_equal(e.table_pages, 1);
    assert_true(ept_map(&e, 0x1000, 0x1000, 0, WB_FLAGS)); /* nothing to do */
    assert_int_equal(e.table_pages, 1);
}

static void test_init_refuses_bad_levels(void **state)
{
    (void)state;
    struct ept x;
    memset(&x, 0, sizeof(x));
    assert_false(ept_init(&x, 0));
    memset(&x, 0, sizeof(x));
    assert_false(ept_init(&x, 4)); /* no 512 GiB pages in EPT */
}

/* A table allocator that gives out 'left' pages and then fails. */
struct limited {
    unsigned left, given, freed;
};

static uint64_t limited_alloc(void *ctx)
{
    struct limited *l = ctx;
    if (!l->left)
        return 0;
    l->left--;
    l->given++;
    return pmm_alloc_page();
}

static void limited_free(void *ctx, uint64_t pa)
{
    struct limited *l = ctx;
    l->freed++;
    pmm_free(pa, 1);
}

static void test_out_of_table_memory_fails_cleanly(void **state)
{
    (void)state;
    ept_destroy(&e);
    struct limited l = {4, 0, 0};
    memset(&e, 0, sizeof(e));
    e.alloc_table = limited_alloc;
    e.free_table = limited_free;
    e.ctx = &l;
    assert_true(ept_init(&e, 3));
    assert_true(ept_map(&e, 0, 0, 1 * GiB, WB_FLAGS)); /* PML4 + PDPT */
    assert_int_equal(l.given, 2);
    /* A 4 KiB page at 1 GiB + 4 KiB needs a PD and a PT: only two left, so
     * it fits; a third one in another 2 MiB region needs one more PT. */
    assert_true(ept_map(&e, 1 * GiB + 4 * KiB, 0, 4 * KiB, WB_FLAGS));
    assert_int_equal(l.left, 0);
    assert_false(ept_map(&e, 1 * GiB + 2 * MiB, 0, 4 * KiB, WB_FLAGS));
    /* Splitting the 1 GiB page needs a table too: the unmap fails and the
     * page stays mapped whole. */
    assert_false(ept_unmap(&e, 4 * KiB, 4 * KiB));
    assert_maps(4 * KiB, 4 * KiB, 3, WB_FLAGS);
    assert_maps(1 * GiB + 4 * KiB, 0, 1, WB_FLAGS);
    assert_int_equal(leaf(1 * GiB + 2 * MiB, 0, 0), 0);
    assert_int_equal(e.table_pages, l.given);
    assert_int_equal(check_tree(e.root, EPT_LEVELS), e.table_pages);
    /* A multi-page map that runs out half-way keeps what it mapped. */
    l.left = 1;
    assert_false(ept_map(&e, 2 * GiB, 2 * GiB, 2 * MiB + 4 * KiB, WB_FLAGS));
    assert_maps(2 * GiB, 2 * GiB, 2, WB_FLAGS);
    assert_int_equal(leaf(2 * GiB + 2 * MiB, 0, 0), 0);
    assert_int_equal(e.table_pages, l.given);
    assert_int_equal(check_tree(e.root, EPT_LEVELS), e.table_pages);
    /* Everything handed out is returned. */
    ept_destroy(&e);
    assert_int_equal(l.freed, l.given);
    assert_int_equal(e.table_pages, 0);
    assert_int_equal(pmm_free_pages(), POOL_PAGES);
    /* An allocator that fails at once fails ept_init. */
    struct limited none = {0, 0, 0};
    memset(&e, 0, sizeof(e));
    e.alloc_table = limited_alloc;
    e.free_table = limited_free;
    e.ctx = &none;
    assert_false(ept_init(&e, 3));
    assert_int_equal(e.table_pages, 0);
}

static void test_lookup_reports_levels(void **state)
{
    (void)state;
    assert_true(ept_map(&e, 0, 0, 1 * GiB, WB_FLAGS));
    assert_true(ept_map(&e, 1 * GiB, 1 * GiB, 2 * MiB, WB_FLAGS));
    assert_true(ept_map(&e, 1 * GiB + 2 * MiB, 1 * GiB + 2 * MiB, 4 * KiB, WB_FLAGS));
    unsigned level = 99;
    uint64_t *x = ept_lookup(&e, 123 * MiB, &level);
    assert_non_null(x);
    assert_int_equal(level, 3);
    assert_true(*x & EPT_LARGE);
    x = ept_lookup(&e, 1 * GiB + 1 * MiB, &level);
    assert_int_equal(level, 2);
    assert_true(*x & EPT_LARGE);
    x = ept_lookup(&e, 1 * GiB + 2 * MiB + 100, &level);
    assert_int_equal(level, 1);
    assert_false(*x & EPT_LARGE);
    level = 99;
    assert_null(ept_lookup(&e, 1 * GiB + 2 * MiB + 4 * KiB, &level));
    assert_int_equal(level, 99);
    /* Lookup returns the entry itself: changing it changes the mapping. */
    x = ept_lookup(&e, 1 * GiB + 2 * MiB, &level);
    *x &= ~EPT_WRITE;
    assert_maps(1 * GiB + 2 * MiB, 1 * GiB + 2 * MiB, 1, WB_FLAGS & ~EPT_WRITE);
}

static void test_destroy_returns_every_page(void **state)
{
    (void)state;
    assert_true(ept_map(&e, 0, 0, 3 * GiB + 6 * MiB + 12 * KiB, WB_FLAGS));
    assert_true(ept_unmap(&e, 2 * GiB + 4 * KiB, 4 * KiB));
    assert_true(ept_map(&e, 700 * GiB, 0, 4 * KiB, WB_FLAGS));
    assert_tree_consistent();
    ept_destroy(&e);
    assert_int_equal(e.table_pages, 0);
    assert_int_equal(e.root, 0);
    assert_int_equal(pmm_free_pages(), POOL_PAGES);
    ept_destroy(&e); /* twice is harmless */
    assert_int_equal(pmm_free_pages(), POOL_PAGES);
}


/* ---- the sink (shared tables standing in for whole ranges) ---- */

#define SINK_PAGE (3 * GiB) /* never dereferenced */

/* Every entry of a sink table leads to the sink page. */
static void assert_sink_intact(const struct ept_sink *k)
{
    for (unsigned l = 1; l < EPT_LEVELS; l++) {
        const uint64_t *t = phys_to_virt(k->table[l]);
        uint64_t want = l == 1 ? k->page | k->leaf_flags : k->table[l - 1] | EPT_RWX;
        for (unsigned i = 0; i < EPT_ENTRIES; i++)
            assert_int_equal(t[i], want);
    }
}

static void test_sink_covers_a_range_with_shared_tables(void **state)
{
    (void)state;
    struct ept_sink k;
    assert_true(ept_sink_init(&k, SINK_PAGE, WB_FLAGS));
    uint64_t sink_pages = 3, base = POOL_PAGES - pmm_free_pages();
    assert_int_equal(base, 1 + sink_pages);
    /* 4 KiB, 2 MiB, 1 GiB and 512 GiB slots, and their unaligned edges. */
    assert_true(ept_map_sink(&e, 2 * GiB - 8 * KiB, 1024 * GiB + 12 * KiB, &k));
    for (uint64_t gpa = 2 * GiB - 8 * KiB; gpa < 1026 * GiB; gpa += 97 * MiB + 4 * KiB)
        assert_maps(gpa, SINK_PAGE, 1, WB_FLAGS);
    assert_maps(1026 * GiB, SINK_PAGE, 1, WB_FLAGS);
    assert_int_equal(leaf(2 * GiB - 12 * KiB, 0, 0), 0);
    assert_int_equal(leaf(1026 * GiB + 4 * KiB, 0, 0), 0);
    /* The edges cost a few private tables; the 1 TiB in between nothing. */
    assert_true(e.table_pages <= 8);
    assert_int_equal(POOL_PAGES - pmm_free_pages(), sink_pages + e.table_pages);
    assert_sink_intact(&k);
}

static void test_change_below_the_sink_copies_the_shared_table(void **state)
{
    (void)state;
    struct ept_sink k;
    assert_true(ept_sink_init(&k, SINK_PAGE, WB_FLAGS));
    assert_true(ept_map_sink(&e, 0, 1024 * GiB, &k));
    uint64_t before = e.table_pages;
    /* A page of real memory in the middle, and a hole. */
    assert_true(ept_map(&e, 700 * GiB + 2 * MiB + 4 * KiB, 5 * GiB, 4 * KiB, UC_FLAGS));
    assert_true(ept_unmap(&e, 3 * GiB + 8 * KiB, 4 * KiB));
    assert_sink_intact(&k);
    assert_maps(700 * GiB + 2 * MiB + 4 * KiB, 5 * GiB, 1, UC_FLAGS);
    assert_maps(700 * GiB + 2 * MiB, SINK_PAGE, 1, WB_FLAGS);
    assert_maps(700 * GiB + 2 * MiB + 8 * KiB, SINK_PAGE, 1, WB_FLAGS);
    assert_maps(700 * GiB, SINK_PAGE, 1, WB_FLAGS);
    assert_int_equal(leaf(3 * GiB + 8 * KiB, 0, 0), 0);
    assert_maps(3 * GiB + 4 * KiB, SINK_PAGE, 1, WB_FLAGS);
    assert_true(e.table_pages > before);
    /* Taking both back frees the private copies, never the sink's tables. */
    assert_true(ept_map_sink(&e, 0, 1024 * GiB, &k));
    assert_int_equal(e.table_pages, before);
    assert_sink_intact(&k);
    assert_true(ept_unmap(&e, 0, 1024 * GiB));
    assert_int_equal(e.table_pages, 1);
    assert_sink_intact(&k);
    assert_int_equal(POOL_PAGES - pmm_free_pages(), 3 + 1);
}

static void test_many_sink_lookups_allocate_nothing(void **state)
{
    (void)state;
    struct ept_sink k;
    assert_true(ept_sink_init(&k, SINK_PAGE, WB_FLAGS));
    assert_true(ept_map_sink(&e, 512 * GiB, 512 * GiB, &k));
    uint64_t free_before = pmm_free_pages();
    for (uint64_t i = 0; i < 100000; i++)
        assert_maps(512 * GiB + i * 2 * MiB, SINK_PAGE, 1, WB_FLAGS);
    assert_int_equal(pmm_free_pages(), free_before);
}

static void test_destroy_keeps_the_sink(void **state)
{
    (void)state;
    struct ept_sink k;
    assert_true(ept_sink_init(&k, SINK_PAGE, WB_FLAGS));
    assert_true(ept_map_sink(&e, 4 * KiB, 1030 * GiB, &k));
    assert_true(ept_map(&e, 2 * GiB, 2 * GiB, 2 * MiB, WB_FLAGS));
    ept_destroy(&e);
    assert_int_equal(e.table_pages, 0);
    assert_int_equal(pmm_free_pages(), POOL_PAGES - 3);
    assert_sink_intact(&k);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup(f, setup)
    const struct CMUnitTest tests[] = {
        T(test_init_and_eptp),
        T(test_map_uses_largest_aligned_pages),
        T(test_unaligned_start_steps_up_through_page_sizes),
        T(test_host_alignment_limits_page_size),
        T(test_max_level_caps_page_size),
        T(test_partial_unmap_splits_1g_then_2m_keeping_attributes),
        T(test_remap_inside_large_page_splits),
        T(test_large_map_over_small_pages_frees_their_tables),
        T(test_unmap_frees_subtrees_back_to_baseline),
        T(test_unmap_of_a_whole_page_keeps_neighbours),
        T(test_unmap_rounds_to_whole_pages),
        T(test_map_refuses_unaligned_requests),
        T(test_init_refuses_bad_levels),
        T(test_out_of_table_memory_fails_cleanly),
        T(test_lookup_reports_levels),
        T(test_destroy_returns_every_page),
        T(test_sink_covers_a_range_with_shared_tables),
        T(test_change_below_the_sink_copies_the_shared_table),
        T(test_many_sink_lookups_allocate_nothing),
        T(test_destroy_keeps_the_sink),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
