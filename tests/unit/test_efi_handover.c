/* unit-srcs: boot/efi/handover.c boot/efi/efimap.c */
/* The UEFI loader's hand-over decisions (boot/efi/handover.c): which memory
 * attributes to clear on the kernel's range for each answer the memory
 * attribute protocol can give, when the range counts as still protected,
 * the names in the log, and the refusal of 5-level paging; and the memory
 * map as it looks with the kernel in EfiLoaderCode pages (efimap.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>
#include "boot/efi/efimap.h"
#include "boot/efi/handover.h"

#define RP UEFI_MEMORY_RP
#define RO UEFI_MEMORY_RO
#define XP UEFI_MEMORY_XP

static void test_attribute_values_are_the_spec_ones(void **state)
{
    (void)state;
    /* UEFI 2.10, 7.2.3: EFI_MEMORY_RP, EFI_MEMORY_XP, EFI_MEMORY_RO. */
    assert_int_equal(RP, 0x2000);
    assert_int_equal(XP, 0x4000);
    assert_int_equal(RO, 0x20000);
    assert_int_equal(CR4_LA57, 0x1000);
}

static void test_known_attributes_clear_only_what_is_set(void **state)
{
    (void)state;
    assert_int_equal(handover_attrs_to_clear(ATTR_KNOWN, 0), 0);
    assert_int_equal(handover_attrs_to_clear(ATTR_KNOWN, XP), XP);
    assert_int_equal(handover_attrs_to_clear(ATTR_KNOWN, RO | XP), RO | XP);
    assert_int_equal(handover_attrs_to_clear(ATTR_KNOWN, RP), RP);
    /* Bits other than the access ones are not ours to touch. */
    assert_int_equal(handover_attrs_to_clear(ATTR_KNOWN, 0x8 | 0x1000 | XP), XP);
    assert_int_equal(handover_attrs_to_clear(ATTR_KNOWN, 0x8000000000000008ULL), 0);
}

static void test_unclear_answers_clear_everything(void **state)
{
    (void)state;
    /* Mixed attributes (EFI_NO_MAPPING) or an error: part of the range may
     * be protected, and clearing a clear bit is harmless. */
    assert_int_equal(handover_attrs_to_clear(ATTR_MIXED, 0), HANDOVER_FORBIDDEN);
    assert_int_equal(handover_attrs_to_clear(ATTR_UNKNOWN, 0), HANDOVER_FORBIDDEN);
    assert_int_equal(handover_attrs_to_clear(ATTR_UNKNOWN, XP), HANDOVER_FORBIDDEN);
    assert_int_equal(HANDOVER_FORBIDDEN, RP | RO | XP);
}

static void test_refusal_needs_proof(void **state)
{
    (void)state;
    assert_false(handover_still_protected(ATTR_KNOWN, 0));
    assert_false(handover_still_protected(ATTR_KNOWN, 0x8)); /* WB only */
    assert_true(handover_still_protected(ATTR_KNOWN, XP));
    assert_true(handover_still_protected(ATTR_KNOWN, RO));
    assert_true(handover_still_protected(ATTR_KNOWN, RP | 0x8));
    /* A firmware that cannot say does not stop the boot. */
    assert_false(handover_still_protected(ATTR_MIXED, XP));
    assert_false(handover_still_protected(ATTR_UNKNOWN, RO | XP));
}

static void test_attribute_names(void **state)
{
    (void)state;
    char buf[32];
    assert_string_equal(handover_attr_names(0, buf, sizeof(buf)), "none");
    assert_string_equal(handover_attr_names(XP, buf, sizeof(buf)), "XP");
    assert_string_equal(handover_attr_names(RO | XP, buf, sizeof(buf)), "RO+XP");
    assert_string_equal(handover_attr_names(RP | RO | XP, buf, sizeof(buf)), "RP+RO+XP");
    assert_string_equal(handover_attr_names(0x8 | 0x1000, buf, sizeof(buf)), "none");
    /* Cut, never overrun. */
    char tiny[4];
    memset(tiny, 'x', sizeof(tiny));
    assert_string_equal(handover_attr_names(RP | RO | XP, tiny, sizeof(tiny)), "RP+");
    char one[1] = {'x'};
    assert_string_equal(handover_attr_names(XP, one, sizeof(one)), "");
}

static void test_la57_is_refused_with_a_reason(void **state)
{
    (void)state;
    assert_null(handover_paging_problem(0));
    /* PAE, PGE, OSFXSR, VMXE, SMEP...: everything a firmware may set but LA57. */
    assert_null(handover_paging_problem(0x20 | 0x80 | 0x200 | 0x2000 | 0x100000 | 0x600));
    const char *why = handover_paging_problem(0x20 | CR4_LA57);
    assert_non_null(why);
    assert_non_null(strstr(why, "5-level paging (CR4.LA57=1)"));
    assert_non_null(strstr(why, "4-level"));
    assert_non_null(strstr(why, "firmware setup"));
    assert_null(strchr(why, '\n'));
}

/* ---- the memory map with the kernel in EfiLoaderCode ---- */

#define DESC_STRIDE 48
#define PAGE        UEFI_PAGE_SIZE

struct fake_map {
    uint8_t bytes[8 * DESC_STRIDE];
    size_t count;
};

static void add_desc(struct fake_map *m, uint32_t type, uint64_t base, uint64_t pages)
{
    struct uefi_mem_desc d = {.type = type, .phys_start = base, .pages = pages,
                              .attribute = 0xf | XP};
    memset(m->bytes + m->count * DESC_STRIDE, 0xee, DESC_STRIDE);
    memcpy(m->bytes + m->count * DESC_STRIDE, &d, sizeof(d));
    m->count++;
}

static void test_kernel_in_loader_code(void **state)
{
    (void)state;
    /* What OVMF shows after the loader's allocation: the loader image
     * (LoaderCode too) nearby, the hand-off and files in LoaderData. */
    struct fake_map m = {0};
    add_desc(&m, UEFI_CONVENTIONAL, 0x1000000, 0xc00);
    add_desc(&m, UEFI_LOADER_CODE, 0x1dc00000, 0x5f);     /* the kernel */
    add_desc(&m, UEFI_LOADER_DATA, 0x1dc5f000, 0x10);     /* hand-off, map */
    add_desc(&m, UEFI_LOADER_CODE, 0x1dc6f000, 0x20);     /* the loader */
    add_desc(&m, UEFI_RUNTIME_SERVICES_DATA, 0x1dc8f000, 4);
    struct efimap v = {m.bytes, m.count * DESC_STRIDE, DESC_STRIDE};
    assert_true(efimap_range_is(&v, 0x1dc00000, 0x5e670, UEFI_LOADER_CODE));
    assert_false(efimap_range_is(&v, 0x1dc00000, 0x5e670, UEFI_LOADER_DATA));
    /* A kernel that ran into the data after it is not "ours alone". */
    assert_false(efimap_range_is(&v, 0x1dc00000, 0x60000, UEFI_LOADER_CODE));

    /* The kernel's range is memory the kernel gets: usable, merged with
     * the loader's data and code around it. */
    assert_int_equal(efimap_handoff_type(UEFI_LOADER_CODE), MEM_USABLE);
    struct handoff_mem_range out[8];
    uint32_t n;
    assert_int_equal(efimap_translate(&v, out, 8, &n), EFIMAP_OK);
    assert_int_equal(n, 3);
    assert_int_equal(out[1].base, 0x1dc00000);
    assert_int_equal(out[1].size, (0x5f + 0x10 + 0x20) * PAGE);
    assert_int_equal(out[1].type, MEM_USABLE);
    assert_int_equal(out[2].type, MEM_RESERVED);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_attribute_values_are_the_spec_ones),
        cmocka_unit_test(test_known_attributes_clear_only_what_is_set),
        cmocka_unit_test(test_unclear_answers_clear_everything),
        cmocka_unit_test(test_refusal_needs_proof),
        cmocka_unit_test(test_attribute_names),
        cmocka_unit_test(test_la57_is_refused_with_a_reason),
        cmocka_unit_test(test_kernel_in_loader_code),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
