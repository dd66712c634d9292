/* unit-srcs: vmm/pmm.c */
/* vmm/pmm.c: the bitmap page allocator over nestvisor's pool, on a pool in
 * the fake physical memory. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>
#include "vmm/pmm.h"
#include "vmm/memmap.h"
#include "arch/x86/physmem.h"
#include "tests/unit/fake_arch.h"

#define POOL_BASE  0x1000000ULL /* 16 MiB, 2 MiB-aligned */
#define POOL_PAGES 1024ULL      /* 4 MiB */
#define POOL_SIZE  (POOL_PAGES * PAGE_SIZE)

/* Every test starts with a fresh pool whose memory is dirty, so that
 * zeroing is visible. */
static int setup_pool(void **state)
{
    (void)state;
    fake_phys_reset();
    memset(phys_to_virt(POOL_BASE), 0xcc, POOL_SIZE);
    return pmm_init(POOL_BASE, POOL_SIZE) ? 0 : -1;
}

static bool is_zero(uint64_t pa, uint64_t bytes)
{
    const uint8_t *p = phys_to_virt(pa);
    for (uint64_t i = 0; i < bytes; i++)
        if (p[i])
            return false;
    return true;
}

static void test_init_rejects_bad_pools(void **state)
{
    (void)state;
    assert_false(pmm_init(POOL_BASE + 0x800, POOL_SIZE)); /* unaligned base */
    assert_false(pmm_init(POOL_BASE, 0));
    assert_false(pmm_init(POOL_BASE, PAGE_SIZE - 1)); /* less than a page */
    assert_false(pmm_init(0, (PMM_MAX_POOL_PAGES + 1) * PAGE_SIZE));
    assert_true(pmm_init(0, PMM_MAX_POOL_PAGES * PAGE_SIZE)); /* nothing is touched by init */
    assert_int_equal(pmm_total_pages(), PMM_MAX_POOL_PAGES);
    /* A size that is not a whole number of pages is rounded down. */
    assert_true(pmm_init(POOL_BASE, 3 * PAGE_SIZE + 100));
    assert_int_equal(pmm_total_pages(), 3);
    assert_int_equal(pmm_free_pages(), 3);
}

static void test_counts_and_ownership(void **state)
{
    (void)state;
    assert_int_equal(pmm_total_pages(), POOL_PAGES);
    assert_int_equal(pmm_free_pages(), POOL_PAGES);
    assert_int_equal(pmm_pool_base(), POOL_BASE);
    assert_true(pmm_owns(POOL_BASE));
    assert_true(pmm_owns(POOL_BASE + POOL_SIZE - 1));
    assert_false(pmm_owns(POOL_BASE - 1));
    assert_false(pmm_owns(POOL_BASE + POOL_SIZE));
    assert_false(pmm_owns(0));
}

static void test_alloc_is_in_pool_distinct_and_zeroed(void **state)
{
    (void)state;
    uint64_t a = pmm_alloc_page();
    uint64_t b = pmm_alloc(3);
    uint64_t c = pmm_alloc_page();
    assert_int_not_equal(a, 0);
    assert_int_not_equal(b, 0);
    assert_int_not_equal(c, 0);
    uint64_t all[] = {a, b, c};
    for (int i = 0; i < 3; i++) {
        assert_true(pmm_owns(all[i]));
        assert_int_equal(all[i] % PAGE_SIZE, 0);
    }
    /* No overlap: b spans three pages. */
    assert_true(a + PAGE_SIZE <= b || b + 3 * PAGE_SIZE <= a);
    assert_true(c + PAGE_SIZE <= b || b + 3 * PAGE_SIZE <= c);
    assert_int_not_equal(a, c);
    assert_true(is_zero(a, PAGE_SIZE));
    assert_true(is_zero(b, 3 * PAGE_SIZE));
    assert_true(is_zero(c, PAGE_SIZE));
    assert_int_equal(pmm_free_pages(), POOL_PAGES - 5);
    /* Zeroing stays inside the allocation: the next page is still dirty. */
    uint64_t top = a > c ? a : c;
    top = top > b + 2 * PAGE_SIZE ? top : b + 2 * PAGE_SIZE;
    assert_int_equal(*(uint8_t *)phys_to_virt(top + PAGE_SIZE), 0xcc);
}

static void test_freed_page_is_reused_and_rezeroed(void **state)
{
    (void)state;
    uint64_t a = pmm_alloc_page();
    uint64_t b = pmm_alloc_page();
    memset(phys_to_virt(a), 0x77, PAGE_SIZE);
    pmm_free(a, 1);
    assert_int_equal(pmm_free_pages(), POOL_PAGES - 1);
    uint64_t again = pmm_alloc_page(); /* lowest free page first */
    assert_int_equal(again, a);
    assert_true(is_zero(again, PAGE_SIZE));
    assert_int_not_equal(again, b);
}

static void test_alignment(void **state)
{
    (void)state;
    uint64_t small = pmm_alloc_page(); /* so that the pool start is taken */
    assert_int_equal(small, POOL_BASE);
    uint64_t big = pmm_alloc_aligned(512, 512); /* 2 MiB, 2 MiB-aligned */
    assert_int_not_equal(big, 0);
    assert_int_equal(big % (2ULL << 20), 0);
    assert_true(is_zero(big, 512 * PAGE_SIZE));
    uint64_t four = pmm_alloc_aligned(1, 4);
    assert_int_equal(four % (4 * PAGE_SIZE), 0);
    assert_true(four > small && (four + PAGE_SIZE <= big || four >= big + 512 * PAGE_SIZE));
    /* The 1024-page pool has no second 2 MiB-aligned 2 MiB block left. */
    assert_int_equal(pmm_alloc_aligned(512, 512), 0);
    /* Not a power of two, zero alignment, zero pages: refused. */
    uint64_t before = pmm_free_pages();
    assert_int_equal(pmm_alloc_aligned(1, 3), 0);
    assert_int_equal(pmm_alloc_aligned(1, 0), 0);
    assert_int_equal(pmm_alloc_aligned(0, 1), 0);
    assert_int_equal(pmm_alloc(0), 0);
    assert_int_equal(pmm_free_pages(), before);
}

static void test_alignment_is_of_the_physical_address(void **state)
{
    (void)state;
    /* A pool that starts 3 pages past a 16 KiB boundary. */
    assert_true(pmm_init(POOL_BASE + 3 * PAGE_SIZE, 64 * PAGE_SIZE));
    uint64_t a = pmm_alloc_aligned(2, 4);
    assert_int_equal(a, POOL_BASE + 4 * PAGE_SIZE);
    uint64_t b = pmm_alloc_page(); /* the skipped page below is still free */
    assert_int_equal(b, POOL_BASE + 3 * PAGE_SIZE);
}

static void test_exhaustion_returns_zero(void **state)
{
    (void)state;
    for (uint64_t i = 0; i < POOL_PAGES; i++)
        assert_int_not_equal(pmm_alloc_page(), 0);
    assert_int_equal(pmm_free_pages(), 0);
    assert_int_equal(pmm_alloc_page(), 0);
    assert_int_equal(pmm_alloc_aligned(1, 1), 0);
    pmm_free(POOL_BASE + 10 * PAGE_SIZE, 1);
    assert_int_equal(pmm_alloc_page(), POOL_BASE + 10 * PAGE_SIZE);
    assert_int_equal(pmm_alloc_page(), 0);
}

static void test_too_big_or_fragmented_returns_zero(void **state)
{
    (void)state;
    assert_int_equal(pmm_alloc(POOL_PAGES + 1), 0);
    assert_int_equal(pmm_free_pages(), POOL_PAGES);
    uint64_t all = pmm_alloc(POOL_PAGES);
    assert_int_equal(all, POOL_BASE);
    /* Free every other page: half the pool is free, but no two adjacent. */
    for (uint64_t i = 0; i < POOL_PAGES; i += 2)
        pmm_free(POOL_BASE + i * PAGE_SIZE, 1);
    assert_int_equal(pmm_free_pages(), POOL_PAGES / 2);
    assert_int_equal(pmm_alloc(2), 0);
    assert_int_equal(pmm_free_pages(), POOL_PAGES / 2);
    assert_int_equal(pmm_alloc_page(), POOL_BASE);
}

static void test_double_free_keeps_counts(void **state)
{
    (void)state;
    uint64_t a = pmm_alloc(4);
    uint64_t b = pmm_alloc(2);
    assert_int_equal(pmm_free_pages(), POOL_PAGES - 6);
    pmm_free(a, 4);
    assert_int_equal(pmm_free_pages(), POOL_PAGES - 2);
    pmm_free(a, 4);
    assert_int_equal(pmm_free_pages(), POOL_PAGES - 2);
    /* A range that is half free, half allocated: only the used half counts. */
    pmm_free(a + 2 * PAGE_SIZE, 4); /* two freed pages, then b's two pages */
    assert_int_equal(pmm_free_pages(), POOL_PAGES);
    pmm_free(b, 2);
    assert_int_equal(pmm_free_pages(), POOL_PAGES);
    /* Freeing never-allocated pages changes nothing either. */
    pmm_free(POOL_BASE + 100 * PAGE_SIZE, 10);
    assert_int_equal(pmm_free_pages(), POOL_PAGES);
    /* And the whole pool can still be allocated in one piece. */
    assert_int_equal(pmm_alloc(POOL_PAGES), POOL_BASE);
}

static void test_frees_outside_the_pool_are_ignored(void **state)
{
    (void)state;
    uint64_t all = pmm_alloc(POOL_PAGES);
    assert_int_equal(all, POOL_BASE);
    pmm_free(POOL_BASE - PAGE_SIZE, 1);           /* just below */
    pmm_free(POOL_BASE - PAGE_SIZE, 2);           /* starts below, reaches in */
    pmm_free(POOL_BASE + POOL_SIZE, 1);           /* just above */
    pmm_free(0, 1);
    pmm_free(POOL_BASE + 0x800, 1);               /* not page-aligned */
    pmm_free(POOL_BASE + POOL_SIZE - PAGE_SIZE, 2); /* runs past the end */
    pmm_free(POOL_BASE, POOL_PAGES + 1);
    assert_int_equal(pmm_free_pages(), 0);
    assert_int_equal(pmm_alloc_page(), 0);
    /* A valid free still works afterwards. */
    pmm_free(POOL_BASE + POOL_SIZE - PAGE_SIZE, 1);
    assert_int_equal(pmm_free_pages(), 1);
    assert_int_equal(pmm_alloc_page(), POOL_BASE + POOL_SIZE - PAGE_SIZE);
}

static void test_aligned_allocation_does_not_confuse_the_next_fit(void **state)
{
    (void)state;
    uint64_t a = pmm_alloc_aligned(8, 8); /* takes the pool start */
    assert_int_equal(a, POOL_BASE);
    uint64_t b = pmm_alloc_page();
    assert_int_equal(b, POOL_BASE + 8 * PAGE_SIZE);
    pmm_free(a, 8);
    uint64_t c = pmm_alloc(8);
    assert_int_equal(c, POOL_BASE);
    uint64_t d = pmm_alloc_page();
    assert_int_equal(d, POOL_BASE + 9 * PAGE_SIZE);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup(name, setup_pool)
    const struct CMUnitTest tests[] = {
        T(test_init_rejects_bad_pools),
        T(test_counts_and_ownership),
        T(test_alloc_is_in_pool_distinct_and_zeroed),
        T(test_freed_page_is_reused_and_rezeroed),
        T(test_alignment),
        T(test_alignment_is_of_the_physical_address),
        T(test_exhaustion_returns_zero),
        T(test_too_big_or_fragmented_returns_zero),
        T(test_double_free_keeps_counts),
        T(test_frees_outside_the_pool_are_ignored),
        T(test_aligned_allocation_does_not_confuse_the_next_fit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
