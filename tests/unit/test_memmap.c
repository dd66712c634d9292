/* unit-srcs: vmm/memmap.c */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include "vmm/memmap.h"
#include "boot/handoff.h"

static void test_set_splits_and_merges(void **state)
{
    (void)state;
    struct memmap m;
    memmap_init(&m);
    assert_true(memmap_set(&m, 0, 0x100000, MEM_USABLE));
    assert_true(memmap_set(&m, 0x40000, 0x1000, MEM_HV));
    assert_int_equal(m.count, 3);
    assert_int_equal(m.r[0].size, 0x40000);
    assert_int_equal(m.r[1].type, MEM_HV);
    assert_int_equal(m.r[2].base, 0x41000);
    assert_true(memmap_set(&m, 0x40000, 0x1000, MEM_USABLE));
    assert_int_equal(m.count, 1);
    assert_int_equal(m.r[0].size, 0x100000);
}

static void test_firmware_overlap_never_makes_reserved_usable(void **state)
{
    (void)state;
    struct memmap m;
    memmap_init(&m);
    assert_true(memmap_add_firmware(&m, 0xf0000, 0x10000, MEM_RESERVED));
    assert_true(memmap_add_firmware(&m, 0, 0x200000, MEM_USABLE));
    assert_int_equal(memmap_type_at(&m, 0xf8000), MEM_RESERVED);
    assert_int_equal(memmap_type_at(&m, 0x100000), MEM_USABLE);
    assert_int_equal(memmap_type_at(&m, 0xeffff), MEM_USABLE);
    /* A reserved range reported after an overlapping usable one wins too. */
    assert_true(memmap_add_firmware(&m, 0x180000, 0x1000, MEM_ACPI_NVS));
    assert_int_equal(memmap_type_at(&m, 0x180800), MEM_ACPI_NVS);
}

static void test_page_align_usable(void **state)
{
    (void)state;
    struct memmap m;
    memmap_init(&m);
    memmap_set(&m, 0x800, 0x2000, MEM_USABLE);
    memmap_set(&m, 0x10000, 0x800, MEM_USABLE);
    memmap_page_align_usable(&m);
    assert_int_equal(m.count, 1);
    assert_int_equal(m.r[0].base, 0x1000);
    assert_int_equal(m.r[0].size, 0x1000);
}

static void test_find_top_respects_limit_and_alignment(void **state)
{
    (void)state;
    struct memmap m;
    uint64_t at;
    memmap_init(&m);
    memmap_set(&m, 0x100000, 0x7f00000, MEM_USABLE);
    memmap_set(&m, 0x100000000ULL, 0x40000000, MEM_USABLE);
    assert_true(memmap_find_top(&m, 0x400000, 0x200000, 0x100000000ULL, &at));
    assert_int_equal(at, 0x7c00000);
    assert_false(memmap_find_top(&m, 0x10000000, 0x200000, 0x100000000ULL, &at));
    assert_true(memmap_is_all(&m, 0x100000, 0x1000, MEM_USABLE));
    assert_false(memmap_is_all(&m, 0x7fff000, 0x2000, MEM_USABLE));
}

static void test_overflow_is_refused(void **state)
{
    (void)state;
    static struct memmap m;
    memmap_init(&m);
    bool ok = true;
    for (unsigned i = 0; ok && i < MEMMAP_MAX; i++)
        ok = memmap_set(&m, (uint64_t)i * 0x2000, 0x1000, i % 2 ? MEM_USABLE : MEM_RESERVED);
    assert_false(ok);
    assert_true(m.count <= MEMMAP_MAX);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_set_splits_and_merges),
        cmocka_unit_test(test_firmware_overlap_never_makes_reserved_usable),
        cmocka_unit_test(test_page_align_usable),
        cmocka_unit_test(test_find_top_respects_limit_and_alignment),
        cmocka_unit_test(test_overflow_is_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
