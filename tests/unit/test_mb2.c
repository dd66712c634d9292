/* unit-srcs: boot/multiboot2/mb2.c */
/* boot/multiboot2/mb2.c: Multiboot2 boot information -> struct handoff, on
 * information structures built here the way GRUB lays them out, and on
 * hostile ones. Layouts: Multiboot2 specification 2.0, section 3.6 (3.6.2
 * fixed part and tag header, 3.6.5 command line, 3.6.6 modules, 3.6.8 memory
 * map, 3.6.12 framebuffer, 3.6.16/3.6.17 ACPI old/new RSDP). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdint.h>
#include <string.h>
#include "boot/multiboot2/mb2.h"
#include "arch/x86/physmem.h"
#include "tests/unit/fake_arch.h"

/* Where the information structure lives in fake physical memory (GRUB
 * puts it in low memory too). */
#define MBI_PA 0x10000ULL

/* ---- building an information structure ---- */

struct mbi {
    uint8_t *base;
    uint32_t off;       /* where the next tag goes */
    uint32_t tag_start; /* of the tag being built */
};

static void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static void put64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }

static struct mbi mbi_begin(void)
{
    fake_phys_reset();
    struct mbi m = {phys_to_virt(MBI_PA), 8, 0};
    return m;
}

/* 3.6.2: total_size, reserved; tags follow at 8-byte-aligned offsets. */
static void tag_begin(struct mbi *m, uint32_t type)
{
    m->tag_start = m->off;
    put32(m->base + m->off, type);
    m->off += 8;
}

static void tag_bytes(struct mbi *m, const void *p, size_t n)
{
    memcpy(m->base + m->off, p, n);
    m->off += (uint32_t)n;
}

static void tag_u32(struct mbi *m, uint32_t v)
{
    put32(m->base + m->off, v);
    m->off += 4;
}

static void tag_u64(struct mbi *m, uint64_t v)
{
    put64(m->base + m->off, v);
    m->off += 8;
}

/* Sets the tag's size (the bytes written unless overridden) and pads to 8. */
static void tag_end_size(struct mbi *m, uint32_t size)
{
    put32(m->base + m->tag_start + 4, size);
    m->off = m->tag_start + ((m->off - m->tag_start + 7) & ~7U);
}

static void tag_end(struct mbi *m) { tag_end_size(m, m->off - m->tag_start); }

static void add_string_tag(struct mbi *m, uint32_t type, const char *s)
{
    tag_begin(m, type);
    tag_bytes(m, s, strlen(s) + 1);
    tag_end(m);
}

/* 3.6.6: mod_start, mod_end, then a zero-terminated string. */
static void add_module(struct mbi *m, uint32_t start, uint32_t end, const char *s)
{
    tag_begin(m, MB2_TAG_MODULE);
    tag_u32(m, start);
    tag_u32(m, end);
    tag_bytes(m, s, strlen(s) + 1);
    tag_end(m);
}

struct mmap_entry {
    uint64_t base, len;
    uint32_t type;
};

/* 3.6.8: entry_size, entry_version, then entries of entry_size bytes
 * (base_addr u64, length u64, type u32, reserved u32, maybe more). */
static void add_mmap(struct mbi *m, uint32_t entry_size, const struct mmap_entry *e, size_t n)
{
    tag_begin(m, MB2_TAG_MMAP);
    tag_u32(m, entry_size);
    tag_u32(m, 0);
    for (size_t i = 0; i < n; i++) {
        uint8_t raw[64] = {0};
        put64(raw, e[i].base);
        put64(raw + 8, e[i].len);
        put32(raw + 16, e[i].type);
        memset(raw + 24, 0xee, sizeof(raw) - 24); /* future fields */
        tag_bytes(m, raw, entry_size);
    }
    tag_end(m);
}

/* 3.6.12: addr u64, pitch, width, height u32, bpp u8, type u8, reserved u16,
 * then colour info (here: direct RGB, 6 bytes). */
static void add_framebuffer(struct mbi *m, uint64_t addr, uint32_t pitch, uint32_t w, uint32_t h,
                            uint8_t bpp)
{
    tag_begin(m, MB2_TAG_FRAMEBUFFER);
    tag_u64(m, addr);
    tag_u32(m, pitch);
    tag_u32(m, w);
    tag_u32(m, h);
    uint8_t rest[10] = {bpp, 1, 0, 0, 16, 8, 8, 8, 0, 8};
    tag_bytes(m, rest, sizeof(rest));
    tag_end(m);
}

/* 3.6.16/3.6.17: a copy of the RSDP. Returns the copy's physical address. */
static uint64_t add_acpi(struct mbi *m, uint32_t type, const char *oem)
{
    tag_begin(m, type);
    uint64_t pa = MBI_PA + m->off;
    uint8_t rsdp[36] = "RSD PTR ";
    memcpy(rsdp + 9, oem, 6);
    rsdp[15] = type == MB2_TAG_ACPI_NEW ? 2 : 0;
    tag_bytes(m, rsdp, type == MB2_TAG_ACPI_NEW ? 36 : 20);
    tag_end(m);
    return pa;
}

static void add_end(struct mbi *m)
{
    tag_begin(m, MB2_TAG_END);
    tag_end(m);
}

static const void *mbi_finish(struct mbi *m)
{
    put32(m->base, m->off);
    put32(m->base + 4, 0);
    return m->base;
}

/* The memory map Bochs gives a 256 MiB machine (multiboot2 types). */
static const struct mmap_entry bochs_map[] = {
    {0x0, 0x9f000, MB2_MMAP_AVAILABLE},
    {0x9f000, 0x1000, 2},
    {0xe8000, 0x18000, 2},
    {0x100000, 0xfef0000, MB2_MMAP_AVAILABLE},
    {0xfff0000, 0x10000, MB2_MMAP_ACPI},
    {0xfffc0000, 0x40000, 2},
};
#define N(a) (sizeof(a) / sizeof((a)[0]))

static struct handoff h;
static char err[160];

static bool parse(const void *mbi)
{
    memset(&h, 0xa5, sizeof(h));
    strcpy(err, "untouched");
    return mb2_parse(mbi, &h, err, sizeof(err));
}

/* The parse must fail, with err containing 'reason'. */
static void assert_fails(const void *mbi, const char *reason)
{
    if (parse(mbi))
        fail_msg("accepted; wanted an error containing \"%s\"", reason);
    if (!strstr(err, reason))
        fail_msg("error \"%s\" does not contain \"%s\"", err, reason);
}

/* The start of a valid structure: the Bochs memory map; callers add the rest. */
static struct mbi with_mmap(void)
{
    struct mbi m = mbi_begin();
    add_mmap(&m, 24, bochs_map, N(bochs_map));
    return m;
}

/* ---- good information ---- */

static void test_full_grub_style_info(void **state)
{
    (void)state;
    struct mbi m = mbi_begin();
    add_string_tag(&m, MB2_TAG_CMDLINE, "serial=0x3f8 vmxcaps");
    add_string_tag(&m, MB2_TAG_LOADER_NAME, "GRUB 2.06");
    tag_begin(&m, MB2_TAG_BASIC_MEMINFO);
    tag_u32(&m, 639);
    tag_u32(&m, 261056);
    tag_end(&m);
    add_module(&m, 0x400000, 0x512345, "l1 console=ttyS0  quiet");
    add_module(&m, 0x513000, 0x513800, "l2-guest");
    add_mmap(&m, 24, bochs_map, N(bochs_map));
    add_framebuffer(&m, 0xfd000000, 4096, 1024, 768, 32);
    uint64_t rsdp = add_acpi(&m, MB2_TAG_ACPI_NEW, "BOCHS ");
    add_end(&m);

    assert_true(parse(mbi_finish(&m)));
    assert_int_equal(h.magic, HANDOFF_MAGIC);
    assert_int_equal(h.version, HANDOFF_VERSION);
    assert_int_equal(h.loader, LOADER_MULTIBOOT2);
    assert_string_equal(h.cmdline, "serial=0x3f8 vmxcaps");

    assert_int_equal(h.module_count, 2);
    assert_int_equal(h.modules[0].base, 0x400000);
    assert_int_equal(h.modules[0].size, 0x112345);
    assert_string_equal(h.modules[0].name, "l1");
    assert_string_equal(h.modules[0].cmdline, "console=ttyS0  quiet");
    assert_int_equal(h.modules[1].base, 0x513000);
    assert_int_equal(h.modules[1].size, 0x800);
    assert_string_equal(h.modules[1].name, "l2-guest");
    assert_string_equal(h.modules[1].cmdline, "");

    assert_int_equal(h.mem_count, N(bochs_map));
    for (size_t i = 0; i < N(bochs_map); i++) {
        assert_int_equal(h.mem[i].base, bochs_map[i].base);
        assert_int_equal(h.mem[i].size, bochs_map[i].len);
    }
    assert_int_equal(h.mem[0].type, MEM_USABLE);
    assert_int_equal(h.mem[1].type, MEM_RESERVED);
    assert_int_equal(h.mem[3].type, MEM_USABLE);
    assert_int_equal(h.mem[4].type, MEM_ACPI_RECLAIM);
    assert_int_equal(h.mem[5].type, MEM_RESERVED);

    assert_int_equal(h.fb.base, 0xfd000000);
    assert_int_equal(h.fb.width, 1024);
    assert_int_equal(h.fb.height, 768);
    assert_int_equal(h.fb.pitch, 4096);
    assert_int_equal(h.fb.bpp, 32);
    /* The direct-colour layout of the tag: red at 16, green at 8, blue at 0. */
    assert_int_equal(h.fb.red_pos, 16);
    assert_int_equal(h.fb.red_size, 8);
    assert_int_equal(h.fb.green_pos, 8);
    assert_int_equal(h.fb.blue_pos, 0);
    assert_int_equal(h.fb.blue_size, 8);

    /* The RSDP copy inside the information structure, as a physical address. */
    assert_int_equal(h.acpi_rsdp, rsdp);
    assert_memory_equal(phys_to_virt(h.acpi_rsdp), "RSD PTR ", 8);
}

/* GRUB's EGA text mode (type 2) and palette modes (type 0) are no linear
 * direct-colour framebuffer: nothing is handed over. */
static void test_framebuffer_text_mode_is_not_one(void **state)
{
    (void)state;
    struct mbi m = with_mmap();
    tag_begin(&m, MB2_TAG_FRAMEBUFFER);
    tag_u64(&m, 0xb8000);
    tag_u32(&m, 160);
    tag_u32(&m, 80);
    tag_u32(&m, 25);
    uint8_t rest[10] = {16, 2, 0, 0, 0, 0, 0, 0, 0, 0};
    tag_bytes(&m, rest, sizeof(rest));
    tag_end(&m);
    add_end(&m);
    assert_true(parse(mbi_finish(&m)));
    assert_int_equal(h.fb.base, 0);
}

static void test_minimal_info_and_defaults(void **state)
{
    (void)state;
    struct mbi m = with_mmap();
    add_end(&m);
    assert_true(parse(mbi_finish(&m)));
    assert_string_equal(h.cmdline, "");
    assert_int_equal(h.module_count, 0);
    assert_int_equal(h.acpi_rsdp, 0);
    assert_int_equal(h.fb.base, 0);
    assert_int_equal(h.kernel_base, 0);
    assert_int_equal(h.mem_count, N(bochs_map));
}

static void test_memory_types_and_empty_entries(void **state)
{
    (void)state;
    static const struct mmap_entry map[] = {
        {0x0, 0x9f000, 1}, {0x100000, 0, 1}, /* zero length: dropped */
        {0x100000, 0x1000, 3}, {0x101000, 0x1000, 4}, {0x102000, 0x1000, 5},
        {0x103000, 0x1000, 2}, {0x104000, 0x1000, 7}, {0x105000, 0x1000, 0},
        {0x0000000100000000ULL, 0x40000000, 1}, /* above 4 GiB */
    };
    struct mbi m = mbi_begin();
    add_mmap(&m, 24, map, N(map));
    add_end(&m);
    assert_true(parse(mbi_finish(&m)));
    assert_int_equal(h.mem_count, 8);
    static const uint32_t want[] = {MEM_USABLE,   MEM_ACPI_RECLAIM, MEM_ACPI_NVS, MEM_BAD,
                                    MEM_RESERVED, MEM_RESERVED,     MEM_RESERVED, MEM_USABLE};
    for (size_t i = 0; i < N(want); i++)
        assert_int_equal(h.mem[i].type, want[i]);
    assert_int_equal(h.mem[1].base, 0x100000);
    assert_int_equal(h.mem[7].base, 0x100000000ULL);
    assert_int_equal(h.mem[7].size, 0x40000000);
}

static void test_larger_mmap_entries_are_stepped_over(void **state)
{
    (void)state;
    /* A future entry_version with 32-byte entries (3.6.8: entry_size says
     * how far apart entries are). */
    struct mbi m = mbi_begin();
    add_mmap(&m, 32, bochs_map, N(bochs_map));
    add_end(&m);
    assert_true(parse(mbi_finish(&m)));
    assert_int_equal(h.mem_count, N(bochs_map));
    assert_int_equal(h.mem[3].base, 0x100000);
    assert_int_equal(h.mem[3].size, 0xfef0000);
    assert_int_equal(h.mem[4].type, MEM_ACPI_RECLAIM);
}

static void test_acpi_new_rsdp_preferred(void **state)
{
    (void)state;
    /* Old then new: the new one wins. */
    struct mbi m = with_mmap();
    add_acpi(&m, MB2_TAG_ACPI_OLD, "OLD   ");
    uint64_t new_pa = add_acpi(&m, MB2_TAG_ACPI_NEW, "NEW   ");
    add_end(&m);
    assert_true(parse(mbi_finish(&m)));
    assert_int_equal(h.acpi_rsdp, new_pa);
    /* New then old: still the new one. */
    m = with_mmap();
    new_pa = add_acpi(&m, MB2_TAG_ACPI_NEW, "NEW   ");
    add_acpi(&m, MB2_TAG_ACPI_OLD, "OLD   ");
    add_end(&m);
    assert_true(parse(mbi_finish(&m)));
    assert_int_equal(h.acpi_rsdp, new_pa);
    /* Old only. */
    m = with_mmap();
    uint64_t old_pa = add_acpi(&m, MB2_TAG_ACPI_OLD, "OLD   ");
    add_end(&m);
    assert_true(parse(mbi_finish(&m)));
    assert_int_equal(h.acpi_rsdp, old_pa);
    assert_memory_equal((const char *)phys_to_virt(h.acpi_rsdp) + 9, "OLD   ", 6);
}

static void test_short_framebuffer_tag_ignored(void **state)
{
    (void)state;
    struct mbi m = with_mmap();
    tag_begin(&m, MB2_TAG_FRAMEBUFFER);
    tag_u64(&m, 0xfd000000);
    tag_u32(&m, 4096);
    tag_end(&m); /* 20 bytes: no width, height, bpp */
    add_end(&m);
    assert_true(parse(mbi_finish(&m)));
    assert_int_equal(h.fb.base, 0);
}

/* A command line that does not fit is an error, never silently cut: the
 * options at its end would be lost. The longest that fits is kept whole. */
static void test_long_strings_rejected(void **state)
{
    (void)state;
    static char line[HANDOFF_MODLINE_MAX + 8];
    memset(line, 'c', HANDOFF_CMDLINE_MAX - 1);
    line[HANDOFF_CMDLINE_MAX - 1] = 0;
    struct mbi m = with_mmap();
    add_string_tag(&m, MB2_TAG_CMDLINE, line);
    add_end(&m);
    assert_true(parse(mbi_finish(&m)));
    assert_int_equal(strlen(h.cmdline), HANDOFF_CMDLINE_MAX - 1);

    memset(line, 'c', HANDOFF_CMDLINE_MAX);
    line[HANDOFF_CMDLINE_MAX] = 0;
    m = with_mmap();
    add_string_tag(&m, MB2_TAG_CMDLINE, line);
    add_end(&m);
    assert_fails(mbi_finish(&m), "multiboot2: command line over 511 characters");

    /* "l1 " and a Linux-sized command line of 2047 characters fit. */
    memcpy(line, "l1 ", 3);
    memset(line + 3, 'a', HANDOFF_MODLINE_MAX - 1);
    line[3 + HANDOFF_MODLINE_MAX - 1] = 0;
    m = with_mmap();
    add_module(&m, 0x400000, 0x401000, line);
    add_end(&m);
    assert_true(parse(mbi_finish(&m)));
    assert_int_equal(strlen(h.modules[0].cmdline), HANDOFF_MODLINE_MAX - 1);

    line[3 + HANDOFF_MODLINE_MAX - 1] = 'z';
    line[3 + HANDOFF_MODLINE_MAX] = 0;
    m = with_mmap();
    add_module(&m, 0x400000, 0x401000, line);
    add_end(&m);
    assert_fails(mbi_finish(&m), "multiboot2: module 'l1': name over 31 or arguments over 2047 characters");
}

static void test_tags_after_end_are_ignored(void **state)
{
    (void)state;
    struct mbi m = with_mmap();
    add_end(&m);
    add_string_tag(&m, MB2_TAG_CMDLINE, "after-the-end");
    tag_begin(&m, 77);
    tag_end_size(&m, 0); /* would be an error if it were looked at */
    assert_true(parse(mbi_finish(&m)));
    assert_string_equal(h.cmdline, "");
}

/* ---- hostile information ---- */

static void test_implausible_total_size(void **state)
{
    (void)state;
    struct mbi m = with_mmap();
    add_end(&m);
    mbi_finish(&m);
    put32(m.base, 8);
    assert_fails(m.base, "implausible information size 8");
    put32(m.base, 15);
    assert_fails(m.base, "implausible information size");
    put32(m.base, MB2_INFO_MAX_SIZE + 1);
    assert_fails(m.base, "implausible information size");
    put32(m.base, 0xffffffff);
    assert_fails(m.base, "implausible information size");
}

static void test_bad_tag_sizes(void **state)
{
    (void)state;
    static const uint32_t bad_sizes[] = {0, 4, 7};
    for (size_t i = 0; i < N(bad_sizes); i++) {
        struct mbi m = with_mmap();
        tag_begin(&m, 42);
        tag_u32(&m, 0);
        tag_end_size(&m, bad_sizes[i]);
        add_end(&m);
        assert_fails(mbi_finish(&m), "bad size");
    }
    /* A tag that claims to run past total_size. */
    struct mbi m = with_mmap();
    tag_begin(&m, 42);
    tag_u32(&m, 0);
    tag_end_size(&m, 0x1000);
    add_end(&m);
    assert_fails(mbi_finish(&m), "bad size 4096");
    /* total_size that cuts the last tag short. */
    m = with_mmap();
    add_string_tag(&m, MB2_TAG_CMDLINE, "abcdefghijklmnop");
    add_end(&m);
    mbi_finish(&m);
    put32(m.base, m.off - 16);
    assert_fails(m.base, "bad size");
}

static void test_missing_end_tag(void **state)
{
    (void)state;
    struct mbi m = with_mmap();
    add_string_tag(&m, MB2_TAG_CMDLINE, "no end");
    assert_fails(mbi_finish(&m), "no end tag");
    /* A trailing fragment smaller than a tag header is not an end tag. */
    m = with_mmap();
    m.off += 4;
    assert_fails(mbi_finish(&m), "no end tag");
}

static void test_no_memory_map(void **state)
{
    (void)state;
    struct mbi m = mbi_begin();
    add_string_tag(&m, MB2_TAG_CMDLINE, "x");
    add_end(&m);
    assert_fails(mbi_finish(&m), "no memory map");
    /* A memory map tag without entries is no memory map either. */
    m = mbi_begin();
    add_mmap(&m, 24, bochs_map, 0);
    add_end(&m);
    assert_fails(mbi_finish(&m), "no memory map");
}

static void test_unterminated_strings(void **state)
{
    (void)state;
    struct mbi m = with_mmap();
    tag_begin(&m, MB2_TAG_CMDLINE);
    tag_bytes(&m, "serial=off", 10); /* no terminator inside the tag */
    tag_end(&m);
    memset(m.base + m.off - 6, 'x', 6); /* the padding after it is not zero either */
    add_end(&m);
    assert_fails(mbi_finish(&m), "command line not terminated");

    m = with_mmap();
    tag_begin(&m, MB2_TAG_MODULE);
    tag_u32(&m, 0x400000);
    tag_u32(&m, 0x401000);
    tag_bytes(&m, "l1 abc", 6);
    tag_end(&m);
    memset(m.base + m.off - 2, 'x', 2);
    add_end(&m);
    assert_fails(mbi_finish(&m), "module string not terminated");

    /* An empty command line tag (header only) has no string at all. */
    m = with_mmap();
    tag_begin(&m, MB2_TAG_CMDLINE);
    tag_end(&m);
    add_end(&m);
    assert_fails(mbi_finish(&m), "command line not terminated");
}

static void test_bad_modules(void **state)
{
    (void)state;
    struct mbi m = with_mmap();
    add_module(&m, 0x500000, 0x4fffff, "l1");
    add_end(&m);
    assert_fails(mbi_finish(&m), "module ends (0x4fffff) before it starts (0x500000)");

    /* A module tag with no room for its string. */
    m = with_mmap();
    tag_begin(&m, MB2_TAG_MODULE);
    tag_u32(&m, 0x400000);
    tag_u32(&m, 0x401000);
    tag_end(&m);
    add_end(&m);
    assert_fails(mbi_finish(&m), "module tag too small");

    /* An empty module is fine. */
    m = with_mmap();
    add_module(&m, 0x400000, 0x400000, "empty");
    add_end(&m);
    assert_true(parse(mbi_finish(&m)));
    assert_int_equal(h.modules[0].size, 0);
}

static void test_too_many_modules(void **state)
{
    (void)state;
    struct mbi m = with_mmap();
    for (int i = 0; i < HANDOFF_MAX_MODULES; i++)
        add_module(&m, 0x400000 + i * 0x1000, 0x400800 + i * 0x1000, "mod");
    add_end(&m);
    assert_true(parse(mbi_finish(&m)));
    assert_int_equal(h.module_count, HANDOFF_MAX_MODULES);

    m = with_mmap();
    for (int i = 0; i <= HANDOFF_MAX_MODULES; i++)
        add_module(&m, 0x400000 + i * 0x1000, 0x400800 + i * 0x1000, "mod");
    add_end(&m);
    assert_fails(mbi_finish(&m), "more than 16 modules");
}

static void test_too_many_memory_entries(void **state)
{
    (void)state;
    static struct mmap_entry map[HANDOFF_MAX_MEM + 1];
    for (size_t i = 0; i < N(map); i++)
        map[i] = (struct mmap_entry){i * 0x2000, 0x1000, 1};
    struct mbi m = mbi_begin();
    add_mmap(&m, 24, map, HANDOFF_MAX_MEM);
    add_end(&m);
    assert_true(parse(mbi_finish(&m)));
    assert_int_equal(h.mem_count, HANDOFF_MAX_MEM);

    m = mbi_begin();
    add_mmap(&m, 24, map, N(map));
    add_end(&m);
    assert_fails(mbi_finish(&m), "more than 256 memory map entries");

    /* Two memory map tags share the one table. */
    m = mbi_begin();
    add_mmap(&m, 24, map, HANDOFF_MAX_MEM / 2 + 1);
    add_mmap(&m, 24, map, HANDOFF_MAX_MEM / 2);
    add_end(&m);
    assert_fails(mbi_finish(&m), "more than 256 memory map entries");
}

static void test_bad_mmap_entry_size(void **state)
{
    (void)state;
    struct mbi m = mbi_begin();
    add_mmap(&m, 16, bochs_map, N(bochs_map));
    add_end(&m);
    assert_fails(mbi_finish(&m), "bad memory map tag (entry size 16)");

    m = mbi_begin();
    add_mmap(&m, 0, bochs_map, 0);
    add_end(&m);
    assert_fails(mbi_finish(&m), "bad memory map tag (entry size 0)");

    /* 3.6.8: entry_size is a multiple of 8. */
    m = mbi_begin();
    add_mmap(&m, 28, bochs_map, N(bochs_map));
    add_end(&m);
    assert_fails(mbi_finish(&m), "bad memory map tag (entry size 28)");

    /* A tag too short for its own header fields. */
    m = mbi_begin();
    tag_begin(&m, MB2_TAG_MMAP);
    tag_u32(&m, 24);
    tag_end(&m);
    add_end(&m);
    assert_fails(mbi_finish(&m), "bad memory map tag");

    /* An entry size larger than the tag: no entries, so no memory map. */
    m = mbi_begin();
    tag_begin(&m, MB2_TAG_MMAP);
    tag_u32(&m, 0xfffffff8);
    tag_u32(&m, 0);
    tag_bytes(&m, bochs_map, 24);
    tag_end(&m);
    add_end(&m);
    assert_fails(mbi_finish(&m), "no memory map");
}

static void test_error_text_is_bounded(void **state)
{
    (void)state;
    struct mbi m = with_mmap();
    add_module(&m, 0xfffffff0, 0x10, "l1");
    add_end(&m);
    char small[12];
    memset(small, 'Z', sizeof(small));
    assert_false(mb2_parse(mbi_finish(&m), &h, small, sizeof(small)));
    assert_string_equal(small, "multiboot2:");
}

/* ---- module strings ---- */

static void split(const char *s, size_t namesz, size_t restsz, const char *want_name,
                  const char *want_rest, bool want_whole)
{
    char name[64], rest[64];
    memset(name, '#', sizeof(name));
    memset(rest, '#', sizeof(rest));
    assert_int_equal(module_string_split(s, name, namesz, rest, restsz), want_whole);
    assert_string_equal(name, want_name);
    assert_string_equal(rest, want_rest);
}

static void test_module_string_split(void **state)
{
    (void)state;
    split("l1 console=ttyS0 quiet", 32, 64, "l1", "console=ttyS0 quiet", true);
    split("l1-module", 32, 64, "l1-module", "", true);
    split("   l1    a  b  ", 32, 64, "l1", "a  b  ", true);
    split("", 32, 64, "", "", true);
    split("    ", 32, 64, "", "", true);
    split("/boot/l1.elf x=1", 32, 64, "/boot/l1.elf", "x=1", true);
    /* What does not fit is cut to namesz - 1 and restsz - 1, and reported. */
    split("abcdefgh rest", 5, 64, "abcd", "rest", false);
    split("abcd rest", 5, 64, "abcd", "rest", true);
    split("l1 0123456789", 32, 6, "l1", "01234", false);
    split("l1 01234", 32, 6, "l1", "01234", true);
    split("abcdefgh", 1, 1, "", "", false);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_grub_style_info),
        cmocka_unit_test(test_minimal_info_and_defaults),
        cmocka_unit_test(test_framebuffer_text_mode_is_not_one),
        cmocka_unit_test(test_memory_types_and_empty_entries),
        cmocka_unit_test(test_larger_mmap_entries_are_stepped_over),
        cmocka_unit_test(test_acpi_new_rsdp_preferred),
        cmocka_unit_test(test_short_framebuffer_tag_ignored),
        cmocka_unit_test(test_long_strings_rejected),
        cmocka_unit_test(test_tags_after_end_are_ignored),
        cmocka_unit_test(test_implausible_total_size),
        cmocka_unit_test(test_bad_tag_sizes),
        cmocka_unit_test(test_missing_end_tag),
        cmocka_unit_test(test_no_memory_map),
        cmocka_unit_test(test_unterminated_strings),
        cmocka_unit_test(test_bad_modules),
        cmocka_unit_test(test_too_many_modules),
        cmocka_unit_test(test_too_many_memory_entries),
        cmocka_unit_test(test_bad_mmap_entry_size),
        cmocka_unit_test(test_error_text_is_bounded),
        cmocka_unit_test(test_module_string_split),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
