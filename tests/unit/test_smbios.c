/* unit-srcs: vmm/smbios.c vmm/memmap.c boot/multiboot2/mb2.c */
/* SMBIOS for L1 (vmm/smbios.c) on synthetic 2.x and 3.x entry points in
 * fake physical memory: the checks (anchors, lengths, checksums, the table
 * inside memory), the copy into a free slot of 0xF0000-0xFFFFF, what is
 * left alone (an entry point already there, an F-segment that is MMIO) and
 * the log lines; and where the Multiboot2 path gets the entry points from
 * (GRUB's SMBIOS tag, the EFI system table behind GRUB's EFI64 tag).
 * Layouts: DSP0134 5.2.1 and 5.2.2; Multiboot2 3.6.13 and 3.6.12 ("EFI
 * 64-bit system table pointer"); UEFI 2.10, 4.3 and 4.6. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include "vmm/smbios.h"
#include "boot/multiboot2/mb2.h"
#include "arch/x86/physmem.h"
#include "lib/log.h"
#include "tests/unit/fake_arch.h"

/* Where things live in fake physical memory (64 MiB). */
#define EP3_PA    0x3f10000ULL /* firmware data, reserved in the map */
#define EP2_PA    0x3f10040ULL
#define TABLE_PA  0x3f11000ULL
#define TABLE_LEN 0x17f
#define RSV_BASE  0x3f00000ULL
#define RSV_SIZE  0x100000ULL

static uint8_t *pa(uint64_t p) { return phys_to_virt(p); }

static void fix_checksum(uint8_t *p, size_t n, size_t at)
{
    p[at] = 0;
    uint8_t s = 0;
    for (size_t i = 0; i < n; i++)
        s = (uint8_t)(s + p[i]);
    p[at] = (uint8_t)-s;
}

static void le_put(uint8_t *p, uint64_t v, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* DSP0134 5.2.2: anchor, checksum, length, major, minor, docrev, EP
 * revision, reserved, table maximum size (u32), table address (u64). */
static void make_ep3(uint8_t *p, uint8_t len, uint64_t table, uint32_t table_len)
{
    memset(p, 0, len > 24 ? len : 24);
    memcpy(p, "_SM3_", 5);
    p[6] = len;
    p[7] = 3;
    p[8] = 2;
    p[9] = 0;
    p[10] = 1;
    le_put(p + 0x0c, table_len, 4);
    le_put(p + 0x10, table, 8);
    fix_checksum(p, len, 5);
}

/* DSP0134 5.2.1: anchor, checksum, length, major, minor, max structure
 * size, EP revision, formatted area, "_DMI_", intermediate checksum, table
 * length (u16), table address (u32), structure count, BCD revision. */
static void make_ep2(uint8_t *p, uint8_t len, uint32_t table, uint16_t table_len)
{
    memset(p, 0, 32);
    memcpy(p, "_SM_", 4);
    p[5] = len;
    p[6] = 2;
    p[7] = 8;
    p[8] = 0x40;
    memcpy(p + 0x10, "_DMI_", 5);
    le_put(p + 0x16, table_len, 2);
    le_put(p + 0x18, table, 4);
    le_put(p + 0x1c, 9, 2);
    p[0x1e] = 0x28;
    fix_checksum(p + 0x10, 15, 5);
    fix_checksum(p, len, 4);
}

static struct memmap map;
static struct handoff h;

/* The usual UEFI picture: RAM below 640 KiB and from 1 MiB, the legacy
 * area left out, the firmware's SMBIOS in reserved memory, nestvisor's
 * pool, an MMIO range. */
static void setup(void)
{
    fake_phys_reset();
    fake_console_reset();
    log_set_level(LOG_INFO);
    memmap_init(&map);
    memmap_add_firmware(&map, 0, 0xa0000, MEM_USABLE);
    memmap_add_firmware(&map, 0x100000, RSV_BASE - 0x100000, MEM_USABLE);
    memmap_add_firmware(&map, RSV_BASE, RSV_SIZE, MEM_RESERVED);
    memmap_set(&map, 0x2000000, 0x200000, MEM_HV);
    memmap_add_firmware(&map, 0xfec00000, 0x1000, MEM_MMIO);
    memset(&h, 0, sizeof(h));
    memset(pa(TABLE_PA), 0x11, TABLE_LEN);
}

static const char *out(void) { return fake_console_output(); }

static void assert_logged(const char *want)
{
    if (!strstr(out(), want))
        fail_msg("log lacks \"%s\"; it says:\n%s", want, out());
}

static bool fseg_untouched(void)
{
    for (uint64_t a = SMBIOS_FSEG_BASE; a < SMBIOS_FSEG_END; a++)
        if (*pa(a))
            return false;
    return true;
}

/* ---- the checks ---- */

static void test_parse_good_entry_points(void **state)
{
    (void)state;
    setup();
    uint8_t b[32];
    struct smbios_ep ep;
    make_ep3(b, 24, 0x123456789aULL, 0x400);
    assert_int_equal(smbios_parse(b, 32, SMBIOS_EP3, &ep), SMBIOS_OK);
    assert_int_equal(ep.kind, SMBIOS_EP3);
    assert_int_equal(ep.major, 3);
    assert_int_equal(ep.minor, 2);
    assert_int_equal(ep.size, 24);
    assert_int_equal(ep.table, 0x123456789aULL);
    assert_int_equal(ep.table_len, 0x400);
    /* A longer 3.x entry point (Linux takes up to 32 bytes). */
    make_ep3(b, 32, 0x1000, 1);
    assert_int_equal(smbios_parse(b, 32, SMBIOS_EP3, &ep), SMBIOS_OK);
    assert_int_equal(ep.size, 32);

    make_ep2(b, 0x1f, 0xf1234, 0x17f);
    assert_int_equal(smbios_parse(b, 32, SMBIOS_EP2, &ep), SMBIOS_OK);
    assert_int_equal(ep.kind, SMBIOS_EP2);
    assert_int_equal(ep.major, 2);
    assert_int_equal(ep.minor, 8);
    assert_int_equal(ep.size, 0x1f);
    assert_int_equal(ep.table, 0xf1234);
    assert_int_equal(ep.table_len, 0x17f);
    /* SMBIOS 2.1's own mistake, 0x1E: still 31 bytes to copy. */
    make_ep2(b, 0x1e, 0xf1234, 0x17f);
    assert_int_equal(smbios_parse(b, 32, SMBIOS_EP2, &ep), SMBIOS_OK);
    assert_int_equal(ep.size, 0x1f);
}

static void test_parse_rejects_bad_ones(void **state)
{
    (void)state;
    setup();
    uint8_t b[40];
    struct smbios_ep ep;
    make_ep3(b, 24, 0x1000, 0x100);
    assert_int_equal(smbios_parse(b, 32, SMBIOS_EP2, &ep), SMBIOS_BAD_ANCHOR);
    b[9] ^= 1; /* docrev: the checksum no longer holds */
    assert_int_equal(smbios_parse(b, 32, SMBIOS_EP3, &ep), SMBIOS_BAD_CHECKSUM);
    make_ep3(b, 23, 0x1000, 0x100);
    assert_int_equal(smbios_parse(b, 32, SMBIOS_EP3, &ep), SMBIOS_BAD_LENGTH);
    make_ep3(b, 33, 0x1000, 0x100);
    assert_int_equal(smbios_parse(b, 40, SMBIOS_EP3, &ep), SMBIOS_BAD_LENGTH);
    make_ep3(b, 32, 0x1000, 0x100);
    assert_int_equal(smbios_parse(b, 28, SMBIOS_EP3, &ep), SMBIOS_BAD_LENGTH); /* past avail */
    assert_int_equal(smbios_parse(b, 20, SMBIOS_EP3, &ep), SMBIOS_BAD_ANCHOR);  /* too short */
    make_ep3(b, 24, 0x1000, 0);
    assert_int_equal(smbios_parse(b, 32, SMBIOS_EP3, &ep), SMBIOS_EMPTY_TABLE);

    make_ep2(b, 0x1f, 0xf1234, 0x17f);
    assert_int_equal(smbios_parse(b, 32, SMBIOS_EP3, &ep), SMBIOS_BAD_ANCHOR);
    b[8] ^= 1;
    assert_int_equal(smbios_parse(b, 32, SMBIOS_EP2, &ep), SMBIOS_BAD_CHECKSUM);
    make_ep2(b, 0x1d, 0xf1234, 0x17f);
    assert_int_equal(smbios_parse(b, 32, SMBIOS_EP2, &ep), SMBIOS_BAD_LENGTH);
    make_ep2(b, 0x21, 0xf1234, 0x17f);
    assert_int_equal(smbios_parse(b, 40, SMBIOS_EP2, &ep), SMBIOS_BAD_LENGTH);
    /* The intermediate part: its own anchor and checksum. */
    make_ep2(b, 0x1f, 0xf1234, 0x17f);
    b[0x18] ^= 1;
    fix_checksum(b, 0x1f, 4); /* the outer sum holds, the inner does not */
    assert_int_equal(smbios_parse(b, 32, SMBIOS_EP2, &ep), SMBIOS_BAD_DMI_CHECKSUM);
    make_ep2(b, 0x1f, 0xf1234, 0x17f);
    b[0x10] = 'X';
    b[0x15] = (uint8_t)(b[0x15] - ('X' - '_'));
    fix_checksum(b, 0x1f, 4);
    assert_int_equal(smbios_parse(b, 32, SMBIOS_EP2, &ep), SMBIOS_BAD_DMI_ANCHOR);
    make_ep2(b, 0x1f, 0xf1234, 0);
    assert_int_equal(smbios_parse(b, 32, SMBIOS_EP2, &ep), SMBIOS_EMPTY_TABLE);

    for (int s = SMBIOS_OK; s <= SMBIOS_EMPTY_TABLE; s++)
        assert_string_not_equal(smbios_status_str((enum smbios_status)s), "unknown SMBIOS error");
    assert_string_equal(smbios_status_str((enum smbios_status)99), "unknown SMBIOS error");
}

static void test_find_scans_like_linux(void **state)
{
    (void)state;
    setup();
    struct smbios_ep ep;
    assert_int_equal(smbios_find(SMBIOS_FSEG_BASE, SMBIOS_FSEG_END, &ep), 0);
    /* Not on a 16-byte step: invisible. */
    make_ep3(pa(0xf0008), 24, TABLE_PA, TABLE_LEN);
    assert_int_equal(smbios_find(SMBIOS_FSEG_BASE, SMBIOS_FSEG_END, &ep), 0);
    /* At 0xFFFF0 its 32 bytes leave the area: Linux never looks there. */
    memset(pa(0xf0000), 0, 64);
    make_ep3(pa(0xffff0), 16 + 8, TABLE_PA, TABLE_LEN); /* only 16 bytes fit: cut */
    assert_int_equal(smbios_find(SMBIOS_FSEG_BASE, SMBIOS_FSEG_END, &ep), 0);
    /* A broken one is skipped, the next good one found. */
    make_ep2(pa(0xf1000), 0x1f, TABLE_PA, TABLE_LEN);
    pa(0xf1000)[0x1e] ^= 1;
    make_ep2(pa(0xf2000), 0x1f, TABLE_PA, TABLE_LEN);
    assert_int_equal(smbios_find(SMBIOS_FSEG_BASE, SMBIOS_FSEG_END, &ep), 0xf2000);
    assert_int_equal(ep.kind, SMBIOS_EP2);
    make_ep3(pa(0xfffe0), 24, TABLE_PA, TABLE_LEN);
    assert_int_equal(smbios_find(0xf3000, SMBIOS_FSEG_END, &ep), 0xfffe0);
    assert_int_equal(ep.kind, SMBIOS_EP3);
}

/* ---- placement ---- */

static void test_places_3x_in_the_top_free_slot(void **state)
{
    (void)state;
    setup();
    make_ep3(pa(EP3_PA), 24, TABLE_PA, TABLE_LEN);
    memset(pa(0xfff00), 0xe9, 0x100); /* firmware bytes at the very top */
    h.smbios3 = EP3_PA;
    smbios_for_l1(&h, &map);
    assert_logged("[info] smbios: SMBIOS 3.2 entry point from 0x3f10000 (table 0x3f11000, 383 "
                  "bytes) for L1 at 0xffee0\n");
    assert_memory_equal(pa(0xffee0), pa(EP3_PA), 24);
    assert_int_equal(*pa(0xffee0 + 24), 0); /* nothing past it */
    assert_int_equal(*pa(0xfff00), 0xe9);
    /* Linux finds it. */
    struct smbios_ep ep;
    assert_int_equal(smbios_find(SMBIOS_FSEG_BASE, SMBIOS_FSEG_END, &ep), 0xffee0);
    assert_int_equal(ep.table, TABLE_PA);
}

static void test_places_both_in_distinct_slots(void **state)
{
    (void)state;
    setup();
    make_ep3(pa(EP3_PA), 24, TABLE_PA, TABLE_LEN);
    make_ep2(pa(EP2_PA), 0x1e, (uint32_t)TABLE_PA, TABLE_LEN);
    h.smbios3 = EP3_PA;
    h.smbios = EP2_PA;
    smbios_for_l1(&h, &map);
    assert_logged("smbios: SMBIOS 3.2 entry point from 0x3f10000 (table 0x3f11000, 383 bytes) for "
                  "L1 at 0xfffe0\n");
    assert_logged("smbios: SMBIOS 2.8 entry point from 0x3f10040 (table 0x3f11000, 383 bytes) for "
                  "L1 at 0xfffc0\n");
    assert_memory_equal(pa(0xfffe0), pa(EP3_PA), 24);
    /* Length 0x1E: 31 bytes go, the BCD revision with them. */
    assert_memory_equal(pa(0xfffc0), pa(EP2_PA), 31);
    assert_int_equal(*pa(0xfffc0 + 0x1e), 0x28);
    assert_null(strstr(out(), "[warn]"));
}

static void test_free_ram_takes_the_top_whatever_is_there(void **state)
{
    (void)state;
    setup();
    memmap_set(&map, 0xa0000, 0x60000, MEM_USABLE); /* the firmware says: free RAM */
    memset(pa(SMBIOS_FSEG_BASE), 0x5a, SMBIOS_FSEG_END - SMBIOS_FSEG_BASE); /* stale bytes */
    make_ep2(pa(EP2_PA), 0x1f, (uint32_t)TABLE_PA, TABLE_LEN);
    h.smbios = EP2_PA;
    smbios_for_l1(&h, &map);
    assert_logged("for L1 at 0xfffe0\n");
    assert_memory_equal(pa(0xfffe0), pa(EP2_PA), 0x1f);
}

static void test_no_zero_slot_in_firmware_memory(void **state)
{
    (void)state;
    setup();
    memmap_add_firmware(&map, 0xf0000, 0x10000, MEM_RESERVED);
    memset(pa(SMBIOS_FSEG_BASE), 0xff, SMBIOS_FSEG_END - SMBIOS_FSEG_BASE);
    make_ep3(pa(EP3_PA), 24, TABLE_PA, TABLE_LEN);
    make_ep2(pa(EP2_PA), 0x1f, (uint32_t)TABLE_PA, TABLE_LEN);
    h.smbios3 = EP3_PA;
    h.smbios = EP2_PA;
    smbios_for_l1(&h, &map);
    assert_logged("[warn] smbios: SMBIOS 3.2 entry point from 0x3f10000 (table 0x3f11000, 383 "
                  "bytes) is valid, but 0xF0000-0xFFFFF has no free 32-byte slot (none all zero): "
                  "L1 gets no SMBIOS\n");
    assert_logged("smbios: SMBIOS 2.8 entry point from 0x3f10040");
    for (uint64_t a = SMBIOS_FSEG_BASE; a < SMBIOS_FSEG_END; a++)
        if (*pa(a) != 0xff)
            fail_msg("F-segment byte 0x%llx changed", (unsigned long long)a);
}

static void test_entry_point_already_there_is_left(void **state)
{
    (void)state;
    setup();
    make_ep2(pa(0xf5a40), 0x1f, 0xf5a60, 0x120); /* a legacy BIOS's own */
    make_ep3(pa(EP3_PA), 24, TABLE_PA, TABLE_LEN);
    h.smbios3 = EP3_PA;
    smbios_for_l1(&h, &map);
    assert_logged("[info] smbios: SMBIOS 2.8 entry point already at 0xf5a40 in the F-segment: L1 "
                  "finds it there\n");
    assert_null(strstr(out(), "for L1 at"));
    assert_int_equal(*pa(0xfffe0), 0);
    /* The same with nothing from the loader (GRUB on a legacy BIOS). */
    fake_console_reset();
    h.smbios3 = 0;
    smbios_for_l1(&h, &map);
    assert_logged("already at 0xf5a40");
}

static void test_nothing_anywhere(void **state)
{
    (void)state;
    setup();
    smbios_for_l1(&h, &map);
    assert_string_equal(out(), "[info] smbios: no SMBIOS entry point from the loader and none in "
                               "the F-segment: L1 sees no DMI\n");
    assert_true(fseg_untouched());
}

static void test_fseg_that_is_mmio_is_not_touched(void **state)
{
    (void)state;
    setup();
    memmap_add_firmware(&map, 0xf8000, 0x1000, MEM_MMIO);
    make_ep3(pa(EP3_PA), 24, TABLE_PA, TABLE_LEN);
    h.smbios3 = EP3_PA;
    smbios_for_l1(&h, &map);
    assert_logged("[warn] smbios: 0xF0000-0xFFFFF is partly MMIO here, not memory to read or "
                  "write; L1 gets no SMBIOS entry point\n");
    assert_true(fseg_untouched());
}

/* A candidate that fails a check: the warning, and nothing written. */
static void assert_refused(uint64_t ep3, uint64_t ep2, const char *want)
{
    h.smbios3 = ep3;
    h.smbios = ep2;
    fake_console_reset();
    smbios_for_l1(&h, &map);
    assert_logged(want);
    assert_null(strstr(out(), "for L1 at"));
    assert_true(fseg_untouched());
}

static void test_bad_entry_points_are_refused(void **state)
{
    (void)state;
    setup();
    make_ep3(pa(EP3_PA), 24, TABLE_PA, TABLE_LEN);
    pa(EP3_PA)[0x10] ^= 0x80;
    assert_refused(EP3_PA, 0,
                   "[warn] smbios: SMBIOS 3 entry point at 0x3f10000: bad checksum; not given to "
                   "L1\n");
    make_ep2(pa(EP2_PA), 0x1f, (uint32_t)TABLE_PA, TABLE_LEN);
    pa(EP2_PA)[0x1f - 1] ^= 1; /* the BCD revision: both sums break */
    assert_refused(0, EP2_PA, "SMBIOS 2 entry point at 0x3f10040: bad checksum");
    make_ep3(pa(EP3_PA), 22, TABLE_PA, TABLE_LEN);
    assert_refused(EP3_PA, 0, "SMBIOS 3 entry point at 0x3f10000: bad entry point length");
    make_ep2(pa(EP2_PA), 0x40, (uint32_t)TABLE_PA, TABLE_LEN);
    assert_refused(0, EP2_PA, "SMBIOS 2 entry point at 0x3f10040: bad entry point length");
    memcpy(pa(EP3_PA), "_SM_X", 5);
    assert_refused(EP3_PA, 0, "SMBIOS 3 entry point at 0x3f10000: no anchor string");
    /* The 3.x one is bad, the 2.x one still goes. */
    make_ep2(pa(EP2_PA), 0x1f, (uint32_t)TABLE_PA, TABLE_LEN);
    h.smbios3 = EP3_PA;
    h.smbios = EP2_PA;
    fake_console_reset();
    smbios_for_l1(&h, &map);
    assert_logged("SMBIOS 3 entry point at 0x3f10000: no anchor string");
    assert_logged("SMBIOS 2.8 entry point from 0x3f10040 (table 0x3f11000, 383 bytes) for L1 at "
                  "0xfffe0");
}

static void test_tables_out_of_range_are_refused(void **state)
{
    (void)state;
    setup();
    make_ep3(pa(EP3_PA), 24, 0xb0000000, 0x100); /* nowhere in the map */
    assert_refused(EP3_PA, 0, "SMBIOS 3 entry point at 0x3f10000: its table 0xb0000000-0xb00000ff "
                              "is not all memory the firmware describes (outside the memory "
                              "map); not given to L1\n");
    make_ep3(pa(EP3_PA), 24, 0x2100000, 0x100); /* in nestvisor's pool: L1 would read the sink */
    assert_refused(EP3_PA, 0, "its table 0x2100000-0x21000ff is not all memory the firmware describes "
                              "(nestvisor)");
    make_ep3(pa(EP3_PA), 24, RSV_BASE + RSV_SIZE - 0x10, 0x20); /* runs off the end */
    assert_refused(EP3_PA, 0, "(outside the memory map)");
    make_ep3(pa(EP3_PA), 24, 0xfec00000, 0x10);
    assert_refused(EP3_PA, 0, "(MMIO)");
    make_ep3(pa(EP3_PA), 24, 0xffffffffffffff00ULL, 0x1000);
    assert_refused(EP3_PA, 0, "(it wraps around)");
    make_ep2(pa(EP2_PA), 0x1f, 0xfec00000, 0x100);
    assert_refused(0, EP2_PA, "SMBIOS 2 entry point at 0x3f10040: its table 0xfec00000-0xfec000ff "
                              "is not all memory the firmware describes (MMIO)");
    /* A table in usable RAM is fine (the firmware said it is there). */
    make_ep3(pa(EP3_PA), 24, 0x200000, 0x100);
    h.smbios3 = EP3_PA;
    h.smbios = 0;
    fake_console_reset();
    smbios_for_l1(&h, &map);
    assert_logged("for L1 at 0xfffe0");
}

static void test_entry_points_in_odd_places_are_not_read(void **state)
{
    (void)state;
    setup();
    /* Above 4 GiB: not mapped this early (and beyond fake memory: a read
     * would abort the test). */
    assert_refused(0x100000000ULL, 0,
                   "SMBIOS 3 entry point at 0x100000000 reaches past 4 GiB, beyond what the "
                   "kernel maps this early; not given to L1\n");
    assert_refused(0, 0xfffffff0ULL, "SMBIOS 2 entry point at 0xfffffff0 reaches past 4 GiB");
    assert_refused(0xb0000000ULL, 0,
                   "SMBIOS 3 entry point at 0xb0000000 is not in memory the firmware describes "
                   "(outside the memory map); not given to L1\n");
    assert_refused(0, 0xfec00000ULL, "SMBIOS 2 entry point at 0xfec00000 is not in memory the firmware describes (MMIO)");
    assert_refused(0x2000000ULL, 0, "SMBIOS 3 entry point at 0x2000000 is not in memory the firmware describes "
                   "(nestvisor)");
    /* A 24-byte entry point at the very end of memory: read to there only
     * (past it is the end of fake memory too: a longer read would abort). */
    uint64_t at = RSV_BASE + RSV_SIZE - 24;
    make_ep3(pa(at), 24, TABLE_PA, TABLE_LEN);
    memmap_set(&map, RSV_BASE + RSV_SIZE, 0x1000, MEM_MMIO);
    h.smbios3 = at;
    h.smbios = 0;
    fake_console_reset();
    smbios_for_l1(&h, &map);
    assert_logged("for L1 at 0xfffe0");
    assert_memory_equal(pa(0xfffe0), pa(at), 24);
    assert_int_equal(*pa(0xfffe0 + 24), 0);
}

/* ---- where the Multiboot2 path gets them ---- */

#define MBI_PA 0x10000ULL
#define ST_PA  0x20000ULL
#define CT_PA  0x21000ULL

static uint8_t *mbi;
static uint32_t mbi_off;

static void mbi_begin(void)
{
    setup();
    mbi = pa(MBI_PA);
    mbi_off = 8;
}

static uint8_t *mbi_tag(uint32_t type, uint32_t payload)
{
    uint8_t *t = mbi + mbi_off;
    le_put(t, type, 4);
    le_put(t + 4, 8 + payload, 4);
    mbi_off += (8 + payload + 7) & ~7U;
    return t + 8;
}

static void mbi_finish(void)
{
    uint8_t *mm = mbi_tag(MB2_TAG_MMAP, 8 + 24);
    le_put(mm, 24, 4);
    le_put(mm + 8 + 8, 0x1000000, 8); /* one usable range from 0 */
    le_put(mm + 8 + 16, MB2_MMAP_AVAILABLE, 4);
    mbi_tag(MB2_TAG_END, 0);
    le_put(mbi, mbi_off, 4);
}

static bool parse_mbi(void)
{
    char err[160];
    return mb2_parse(mbi, &h, err, sizeof(err));
}

static const uint8_t guid3[16] = {0x44, 0x15, 0xfd, 0xf2, 0x94, 0x97, 0x2c, 0x4a,
                                  0x99, 0x2e, 0xe5, 0xbb, 0xcf, 0x20, 0xe3, 0x94};
static const uint8_t guid2[16] = {0x31, 0x2d, 0x9d, 0xeb, 0x88, 0x2d, 0xd3, 0x11,
                                  0x9a, 0x16, 0x00, 0x90, 0x27, 0x3f, 0xc1, 0x4d};
static const uint8_t guid_acpi[16] = {0x71, 0xe8, 0x68, 0x88, 0xf1, 0xe4, 0xd3, 0x11,
                                      0xbc, 0x22, 0x00, 0x80, 0xc7, 0x3c, 0x88, 0x81};

/* An EFI system table whose configuration table has ACPI, SMBIOS 3 and
 * SMBIOS 2 entries. */
static void make_system_table(uint64_t count)
{
    uint8_t *st = pa(ST_PA);
    le_put(st, EFI_ST_SIGNATURE, 8);
    le_put(st + EFI_ST_NUM_TABLES_OFF, count, 8);
    le_put(st + EFI_ST_TABLES_OFF, CT_PA, 8);
    uint8_t *ct = pa(CT_PA);
    memcpy(ct, guid_acpi, 16);
    le_put(ct + 16, 0x3fe0000, 8);
    memcpy(ct + 24, guid3, 16);
    le_put(ct + 24 + 16, EP3_PA, 8);
    memcpy(ct + 48, guid2, 16);
    le_put(ct + 48 + 16, EP2_PA, 8);
}

static void test_mb2_smbios_tags_are_copies(void **state)
{
    (void)state;
    mbi_begin();
    uint8_t *t3 = mbi_tag(MB2_TAG_SMBIOS, 8 + 24);
    t3[0] = 3;
    t3[1] = 2;
    make_ep3(t3 + 8, 24, TABLE_PA, TABLE_LEN);
    uint8_t *t2 = mbi_tag(MB2_TAG_SMBIOS, 8 + 31);
    make_ep2(t2 + 8, 0x1f, (uint32_t)TABLE_PA, TABLE_LEN);
    mbi_tag(MB2_TAG_SMBIOS, 4); /* too short to say anything: ignored */
    make_system_table(3);       /* the tags win over the EFI table */
    uint8_t *e = mbi_tag(MB2_TAG_EFI64, 8);
    le_put(e, ST_PA, 8);
    mbi_finish();
    assert_true(parse_mbi());
    assert_int_equal(h.smbios3, virt_to_phys(t3 + 8));
    assert_int_equal(h.smbios, virt_to_phys(t2 + 8));
    /* And the kernel takes them from there. */
    smbios_for_l1(&h, &map);
    assert_logged("SMBIOS 3.2 entry point from 0x");
    assert_logged("for L1 at 0xfffe0");
    assert_logged("for L1 at 0xfffc0");
}

static void test_mb2_efi_system_table(void **state)
{
    (void)state;
    mbi_begin();
    make_system_table(3);
    uint8_t *e = mbi_tag(MB2_TAG_EFI64, 8);
    le_put(e, ST_PA, 8);
    mbi_finish();
    assert_true(parse_mbi());
    assert_int_equal(h.smbios3, EP3_PA);
    assert_int_equal(h.smbios, EP2_PA);

    /* Only the entries the table counts are read. */
    mbi_begin();
    make_system_table(2);
    le_put(mbi_tag(MB2_TAG_EFI64, 8), ST_PA, 8);
    mbi_finish();
    assert_true(parse_mbi());
    assert_int_equal(h.smbios3, EP3_PA);
    assert_int_equal(h.smbios, 0);
}

static void test_mb2_implausible_efi_tables_give_nothing(void **state)
{
    (void)state;
    static const struct {
        uint64_t st;
        uint64_t sig, count, tables;
    } cases[] = {
        {ST_PA, 0x5453595320494248ULL, 3, CT_PA},                /* bad signature */
        {ST_PA, EFI_ST_SIGNATURE, EFI_CONFIG_MAX_ENTRIES + 1, CT_PA}, /* absurd count */
        {ST_PA, EFI_ST_SIGNATURE, 3, 0},                          /* no table */
        {ST_PA, EFI_ST_SIGNATURE, 3, 0xffffffe0ULL},              /* past 4 GiB */
        {ST_PA, EFI_ST_SIGNATURE, 0x0aaaaaaaaaaaaaabULL, CT_PA},  /* count * 24 wraps */
        {0x100000000ULL, 0, 0, 0},                                /* table above 4 GiB: unread */
        {0xffffffc0ULL, 0, 0, 0},                                 /* ends past 4 GiB: unread */
        {0, 0, 0, 0},                                             /* a null pointer */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        mbi_begin();
        make_system_table(3);
        if (cases[i].st == ST_PA) {
            le_put(pa(ST_PA), cases[i].sig, 8);
            le_put(pa(ST_PA) + EFI_ST_NUM_TABLES_OFF, cases[i].count, 8);
            le_put(pa(ST_PA) + EFI_ST_TABLES_OFF, cases[i].tables, 8);
        }
        le_put(mbi_tag(MB2_TAG_EFI64, 8), cases[i].st, 8);
        mbi_finish();
        assert_true(parse_mbi());
        if (h.smbios3 || h.smbios)
            fail_msg("case %zu: took 0x%llx / 0x%llx", i, (unsigned long long)h.smbios3,
                     (unsigned long long)h.smbios);
    }
    /* A short EFI64 tag: ignored. */
    mbi_begin();
    make_system_table(3);
    le_put(mbi_tag(MB2_TAG_EFI64, 4), ST_PA, 4);
    mbi_finish();
    assert_true(parse_mbi());
    assert_int_equal(h.smbios3, 0);
    /* No tag at all (GRUB on a legacy BIOS): none, and the current version anyway. */
    mbi_begin();
    mbi_finish();
    assert_true(parse_mbi());
    assert_int_equal(h.smbios3, 0);
    assert_int_equal(h.smbios, 0);
    assert_int_equal(h.version, HANDOFF_VERSION);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_good_entry_points),
        cmocka_unit_test(test_parse_rejects_bad_ones),
        cmocka_unit_test(test_find_scans_like_linux),
        cmocka_unit_test(test_places_3x_in_the_top_free_slot),
        cmocka_unit_test(test_places_both_in_distinct_slots),
        cmocka_unit_test(test_free_ram_takes_the_top_whatever_is_there),
        cmocka_unit_test(test_no_zero_slot_in_firmware_memory),
        cmocka_unit_test(test_entry_point_already_there_is_left),
        cmocka_unit_test(test_nothing_anywhere),
        cmocka_unit_test(test_fseg_that_is_mmio_is_not_touched),
        cmocka_unit_test(test_bad_entry_points_are_refused),
        cmocka_unit_test(test_tables_out_of_range_are_refused),
        cmocka_unit_test(test_entry_points_in_odd_places_are_not_read),
        cmocka_unit_test(test_mb2_smbios_tags_are_copies),
        cmocka_unit_test(test_mb2_efi_system_table),
        cmocka_unit_test(test_mb2_implausible_efi_tables_give_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
