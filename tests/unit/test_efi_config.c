/* unit-srcs: boot/efi/config.c boot/efi/efimap.c */
/* The UEFI loader's pure parts: the config file parser (good files, every
 * error message, hostile bytes) and the memory-map translation into the
 * hand-off. Inputs are copied into exactly-sized heap buffers, so ASan
 * catches any read past the end (the parser gets no NUL terminator). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "boot/efi/config.h"
#include "boot/efi/efimap.h"

static struct config cfg;
static char err[CONFIG_ERR_MAX];

static bool parse_bytes(const void *text, size_t len)
{
    char *copy = malloc(len ? len : 1);
    memcpy(copy, text, len);
    memset(err, 0, sizeof(err));
    bool ok = config_parse(copy, len, &cfg, err, sizeof(err));
    free(copy);
    if (!ok) { /* every failure explains itself on one line */
        assert_true(strlen(err) > 0);
        assert_null(strchr(err, '\n'));
    }
    return ok;
}

static bool parse(const char *text)
{
    return parse_bytes(text, strlen(text));
}

static void assert_parse_error(const char *text, const char *want)
{
    if (parse(text))
        fail_msg("accepted: %s", text);
    assert_string_equal(err, want);
}

static void test_empty_file_gives_defaults(void **state)
{
    (void)state;
    assert_true(parse(""));
    assert_string_equal(cfg.kernel, CONFIG_DEFAULT_KERNEL);
    assert_string_equal(cfg.kernel_cmdline, "");
    assert_int_equal(cfg.module_count, 0);
    assert_false(cfg.has_serial);
    assert_int_equal(cfg.serial_port, CONFIG_SERIAL_DEFAULT);
    assert_int_equal(cfg.baud, CONFIG_BAUD_DEFAULT);
    assert_true(parse("\n\n  \t\n# only a comment\n   # indented comment\n"));
    assert_string_equal(cfg.kernel, CONFIG_DEFAULT_KERNEL);
}

static void test_full_config_with_crlf(void **state)
{
    (void)state;
    const char *text = "# nestvisor\r\n"
                       "kernel = \\EFI\\nv\\kernel.elf \r\n"
                       "\r\n"
                       "cmdline=vmxcaps  l0mem=64M\r\n"
                       "module=\\EFI\\nv\\l1.elf l1 console=ttyS0  quiet\r\n"
                       "module=\t/EFI/nv/l2.bin\tl2\r\n"
                       "serial=0x2f8\r\n"
                       "baud=9600\r\n"
                       "loglevel=debug"; /* no line ending at the end */
    assert_true(parse(text));
    assert_string_equal(cfg.kernel, "\\EFI\\nv\\kernel.elf");
    assert_string_equal(cfg.cmdline, "vmxcaps  l0mem=64M");
    assert_int_equal(cfg.module_count, 2);
    assert_string_equal(cfg.modules[0].path, "\\EFI\\nv\\l1.elf");
    assert_string_equal(cfg.modules[0].name, "l1");
    assert_string_equal(cfg.modules[0].args, "console=ttyS0  quiet");
    assert_string_equal(cfg.modules[1].path, "/EFI/nv/l2.bin");
    assert_string_equal(cfg.modules[1].name, "l2");
    assert_string_equal(cfg.modules[1].args, "");
    assert_true(cfg.has_serial);
    assert_int_equal(cfg.serial_port, 0x2f8);
    assert_true(cfg.has_baud);
    assert_int_equal(cfg.baud, 9600);
    assert_string_equal(cfg.loglevel, "debug");
    assert_string_equal(cfg.kernel_cmdline,
                        "vmxcaps  l0mem=64M serial=0x2f8 baud=9600 loglevel=debug");
}

static void test_loader_keys_alone_make_the_command_line(void **state)
{
    (void)state;
    assert_true(parse("serial=off\nloglevel=warn\n"));
    assert_true(cfg.has_serial);
    assert_int_equal(cfg.serial_port, 0);
    assert_string_equal(cfg.kernel_cmdline, "serial=off loglevel=warn");
    assert_true(parse("baud=115200\nserial=1016\n"));
    assert_int_equal(cfg.serial_port, 1016);
    assert_string_equal(cfg.kernel_cmdline, "serial=1016 baud=115200");
    assert_true(parse("cmdline=\n"));
    assert_string_equal(cfg.kernel_cmdline, "");
}

static void test_value_may_contain_equals_and_hash(void **state)
{
    (void)state;
    assert_true(parse("cmdline=a=b c=#d\nmodule=\\x.elf x k=v=w\n"));
    assert_string_equal(cfg.cmdline, "a=b c=#d");
    assert_string_equal(cfg.modules[0].args, "k=v=w");
}

static void test_limits_exactly_fit(void **state)
{
    (void)state;
    char text[2 * CONFIG_LINE_MAX];
    char path[CONFIG_PATH_MAX], name[HANDOFF_NAME_MAX];
    memset(path, 'p', sizeof(path) - 1);
    path[sizeof(path) - 1] = 0;
    memset(name, 'n', sizeof(name) - 1);
    name[sizeof(name) - 1] = 0;
    snprintf(text, sizeof(text), "kernel=%s\nmodule=%s %s\n", path, path, name);
    assert_true(parse(text));
    assert_int_equal(strlen(cfg.kernel), CONFIG_PATH_MAX - 1);
    assert_int_equal(strlen(cfg.modules[0].name), HANDOFF_NAME_MAX - 1);
    /* A line of exactly CONFIG_LINE_MAX characters. */
    memset(text, ' ', CONFIG_LINE_MAX);
    memcpy(text, "#", 1);
    assert_true(parse_bytes(text, CONFIG_LINE_MAX));
    char many[CONFIG_MAX_MODULES * 16 + 1] = "";
    for (int i = 0; i < CONFIG_MAX_MODULES; i++)
        strcat(many, "module=\\m m\n");
    assert_true(parse(many));
    assert_int_equal(cfg.module_count, CONFIG_MAX_MODULES);
}

static void test_syntax_errors_name_the_line(void **state)
{
    (void)state;
    assert_parse_error("kernal=\\x", "line 1: unknown key \"kernal\"");
    assert_parse_error("\n# c\nkernel \\EFI\\x.elf\n",
                       "line 3: missing '=' (want key=value) in \"kernel \\EFI\\x.elf\"");
    assert_parse_error(" = x", "line 1: missing key before '=' in \"= x\"");
    assert_parse_error("KERNEL=\\x", "line 1: unknown key \"KERNEL\"");
    assert_parse_error("kernel=\\a\nkernel=\\b", "line 2: kernel= already given on line 1");
    assert_parse_error("cmdline=a\r\n\r\ncmdline=b\r\n", "line 3: cmdline= already given on line 1");
    assert_parse_error("kernel=", "line 1: kernel= needs a path");
    assert_parse_error("kernel=   \t", "line 1: kernel= needs a path");
}

static void test_bad_values(void **state)
{
    (void)state;
    static const char *const bad_baud[] = {"baud=", "baud=abc", "baud=0", "baud=49", "baud=115201",
                                           "baud=0x", "baud=-9600", "baud=9600n81",
                                           "baud=99999999999999999999999"};
    for (size_t i = 0; i < sizeof(bad_baud) / sizeof(bad_baud[0]); i++) {
        char want[CONFIG_ERR_MAX];
        snprintf(want, sizeof(want), "line 1: bad baud rate (want 50-115200), got \"%s\"",
                 bad_baud[i] + strlen("baud="));
        assert_parse_error(bad_baud[i], want);
    }
    static const char *const bad_serial[] = {"serial=", "serial=0", "serial=65528", "serial=com1",
                                             "serial=0x3f8x", "serial=OFF",
                                             "serial=0x00000000000003f8"};
    for (size_t i = 0; i < sizeof(bad_serial) / sizeof(bad_serial[0]); i++) {
        assert_false(parse(bad_serial[i]));
        assert_non_null(strstr(err, "line 1: bad serial port"));
    }
    assert_true(parse("baud=0x1c200\nserial=65527"));
    assert_int_equal(cfg.baud, 115200);
    assert_parse_error("loglevel=verbose",
                       "line 1: bad log level (want error, warn, info or debug), got \"verbose\"");
    assert_parse_error("loglevel=", "line 1: bad log level (want error, warn, info or debug), got \"\"");
}

static void test_module_errors(void **state)
{
    (void)state;
    assert_parse_error("module=",
                       "line 1: module needs a path and a name (module=<path> <name> [args]), "
                       "got \"\"");
    assert_parse_error("module=\\EFI\\l1.elf  ",
                       "line 1: module needs a path and a name (module=<path> <name> [args]), "
                       "got \"\\EFI\\l1.elf\"");
    char many[(CONFIG_MAX_MODULES + 1) * 16 + 1] = "";
    for (int i = 0; i <= CONFIG_MAX_MODULES; i++)
        strcat(many, "module=\\m m\n");
    assert_parse_error(many, "line 17: more than 16 modules");
}

/* Values one character over their buffers, quoted values cut at 40. */
static void test_overlong_values(void **state)
{
    (void)state;
    static char text[4 * CONFIG_LINE_MAX];
    static char big[HANDOFF_MODLINE_MAX + 1];
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = 0;
    snprintf(text, sizeof(text), "kernel=%.*s", CONFIG_PATH_MAX, big);
    assert_parse_error(text, "line 1: kernel path longer than 255 characters");
    snprintf(text, sizeof(text), "\nmodule=%.*s l1", CONFIG_PATH_MAX, big);
    assert_parse_error(text, "line 2: module path longer than 255 characters");
    snprintf(text, sizeof(text), "module=\\p %.*s", HANDOFF_NAME_MAX, big);
    assert_parse_error(text, "line 1: module name longer than 31 characters");
    snprintf(text, sizeof(text), "module=\\p n %.*s", HANDOFF_MODLINE_MAX, big);
    assert_parse_error(text, "line 1: module arguments longer than 2047 characters");
    snprintf(text, sizeof(text), "cmdline=%.*s", HANDOFF_CMDLINE_MAX, big);
    assert_parse_error(text, "line 1: command line longer than 511 characters");
    snprintf(text, sizeof(text), "x%.*s", HANDOFF_CMDLINE_MAX, big);
    assert_parse_error(text, "line 1: missing '=' (want key=value) in "
                             "\"xaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...\"");
    /* Fits alone, too long with the loader keys appended. */
    snprintf(text, sizeof(text), "cmdline=%.*s\nloglevel=debug", HANDOFF_CMDLINE_MAX - 5, big);
    assert_parse_error(text, "kernel command line with serial=, baud= and loglevel= is 522 "
                             "characters (limit 511)");
}

static void test_huge_lines(void **state)
{
    (void)state;
    size_t n = 1 << 20;
    char *text = malloc(n);
    memset(text, '#', n);
    assert_false(parse_bytes(text, n));
    assert_string_equal(err, "line 1: longer than 2560 characters");
    memset(text, '\n', n); /* a million empty lines */
    assert_true(parse_bytes(text, n));
    free(text);
    char line[CONFIG_LINE_MAX + 2];
    memset(line, ' ', sizeof(line));
    line[0] = '#';
    line[CONFIG_LINE_MAX + 1] = '\n';
    assert_false(parse_bytes(line, CONFIG_LINE_MAX + 2));
    assert_string_equal(err, "line 1: longer than 2560 characters");
    /* The CR of a CRLF does not count. */
    line[CONFIG_LINE_MAX] = '\r';
    assert_true(parse_bytes(line, CONFIG_LINE_MAX + 2));
}

static void test_binary_bytes(void **state)
{
    (void)state;
    assert_false(parse_bytes("kernel=\\a\n\0kernel", 17));
    assert_string_equal(err, "line 2: NUL byte (not a text file?)");
    assert_false(parse_bytes("# \x7f" "ELF", 6));
    assert_string_equal(err, "line 1: byte 0x7f is not printable ASCII");
    assert_false(parse("kernel=\\caf\xc3\xa9"));
    assert_string_equal(err, "line 1: byte 0xc3 is not printable ASCII");
    assert_false(parse("kernel=\\a\rb\n"));
    assert_string_equal(err, "line 1: byte 0x0d is not printable ASCII");
    assert_false(parse("\x1b[31mkernel=\\a"));
    assert_string_equal(err, "line 1: byte 0x1b is not printable ASCII");
}

static void test_utf8_bom_is_skipped(void **state)
{
    (void)state;
    assert_true(parse("\xef\xbb\xbf" "cmdline=vmxcaps\r\n"));
    assert_string_equal(cfg.cmdline, "vmxcaps");
    assert_true(parse_bytes("\xef\xbb\xbf", 3));
    assert_false(parse_bytes("\xef\xbb", 2)); /* half a mark is garbage */
    assert_string_equal(err, "line 1: byte 0xef is not printable ASCII");
    assert_false(parse("\n\xef\xbb\xbf" "cmdline=x")); /* only at the start */
    assert_string_equal(err, "line 2: byte 0xef is not printable ASCII");
}

static void test_tiny_error_buffer(void **state)
{
    (void)state;
    char small[8];
    memset(small, 'x', sizeof(small));
    assert_false(config_parse("bogus=1", 7, &cfg, small, sizeof(small)));
    assert_string_equal(small, "line 1:");
}

/* Every prefix of a good file: parses or fails, never reads past its end. */
static void test_every_truncation(void **state)
{
    (void)state;
    const char *text = "# c\r\nkernel=\\EFI\\k.elf\r\ncmdline=vmxcaps\r\nmodule=\\m.elf m a b\r\n"
                       "serial=0x3f8\r\nbaud=115200\r\nloglevel=info\r\n";
    for (size_t n = 0; n <= strlen(text); n++)
        parse_bytes(text, n);
    assert_true(parse_bytes(text, strlen(text)));
}

/* Deterministic garbage: random bytes, and random edits of a good file. */
static void test_garbage_never_crashes(void **state)
{
    (void)state;
    static const char good[] = "kernel=\\EFI\\k.elf\nmodule=\\m.elf m a\nbaud=9600\n";
    static const char alphabet[] = "=# \t\r\nabx0\\9";
    uint8_t buf[sizeof(good) + 64];
    uint32_t seed = 42;
    for (int round = 0; round < 20000; round++) {
        size_t len = sizeof(good) - 1;
        memcpy(buf, good, len);
        for (int edits = 0; edits < 1 + round % 6; edits++) {
            seed = seed * 1103515245u + 12345u;
            size_t at = (seed >> 8) % len;
            uint8_t b = (uint8_t)(seed >> 16);
            buf[at] = round % 2 ? (uint8_t)alphabet[b % (sizeof(alphabet) - 1)] : b;
        }
        parse_bytes(buf, len);
        for (size_t i = 0; i < sizeof(buf); i++) {
            seed = seed * 1103515245u + 12345u;
            buf[i] = (uint8_t)(seed >> 16);
        }
        parse_bytes(buf, 1 + round % sizeof(buf));
    }
}

/* ---- memory map ---- */

#define DESC_STRIDE 48 /* what OVMF reports: larger than the structure */
#define PAGE        UEFI_PAGE_SIZE

struct fake_map {
    uint8_t bytes[16 * DESC_STRIDE];
    size_t count;
};

static void add_desc(struct fake_map *m, uint32_t type, uint64_t base, uint64_t pages)
{
    struct uefi_mem_desc d = {.type = type, .phys_start = base, .pages = pages};
    memset(m->bytes + m->count * DESC_STRIDE, 0xee, DESC_STRIDE); /* garbage after the struct */
    memcpy(m->bytes + m->count * DESC_STRIDE, &d, sizeof(d));
    m->count++;
}

static struct efimap view(struct fake_map *m)
{
    return (struct efimap){m->bytes, m->count * DESC_STRIDE, DESC_STRIDE};
}

static void test_map_types(void **state)
{
    (void)state;
    static const uint32_t want[] = {
        [UEFI_RESERVED] = MEM_RESERVED,
        [UEFI_LOADER_CODE] = MEM_USABLE,
        [UEFI_LOADER_DATA] = MEM_USABLE,
        [UEFI_BOOT_SERVICES_CODE] = MEM_USABLE,
        [UEFI_BOOT_SERVICES_DATA] = MEM_USABLE,
        [UEFI_RUNTIME_SERVICES_CODE] = MEM_RESERVED,
        [UEFI_RUNTIME_SERVICES_DATA] = MEM_RESERVED,
        [UEFI_CONVENTIONAL] = MEM_USABLE,
        [UEFI_UNUSABLE] = MEM_BAD,
        [UEFI_ACPI_RECLAIM] = MEM_ACPI_RECLAIM,
        [UEFI_ACPI_NVS] = MEM_ACPI_NVS,
        [UEFI_MMIO] = MEM_MMIO,
        [UEFI_MMIO_PORT_SPACE] = MEM_MMIO,
        [UEFI_PAL_CODE] = MEM_RESERVED,
        [UEFI_PERSISTENT] = MEM_RESERVED,
        [UEFI_UNACCEPTED] = MEM_RESERVED,
    };
    for (uint32_t t = 0; t < sizeof(want) / sizeof(want[0]); t++)
        assert_int_equal(efimap_handoff_type(t), want[t]);
    assert_int_equal(efimap_handoff_type(0x80000001), MEM_RESERVED); /* OEM range */
}

static void test_map_sorts_and_merges(void **state)
{
    (void)state;
    struct fake_map m = {0};
    add_desc(&m, UEFI_CONVENTIONAL, 0x100000, 16);
    add_desc(&m, UEFI_BOOT_SERVICES_DATA, 0x0, 16); /* out of order */
    add_desc(&m, UEFI_ACPI_NVS, 0x200000, 1);
    add_desc(&m, UEFI_LOADER_CODE, 0x110000, 16); /* joins the first */
    add_desc(&m, UEFI_RUNTIME_SERVICES_DATA, 0x10000, 0); /* empty: dropped */
    add_desc(&m, UEFI_MMIO, 0xfec00000, 1);
    add_desc(&m, UEFI_ACPI_RECLAIM, 0x201000, 1); /* adjacent but another type */
    struct handoff_mem_range out[8];
    uint32_t n = 99;
    struct efimap v = view(&m);
    assert_int_equal(efimap_translate(&v, out, 8, &n), EFIMAP_OK);
    assert_int_equal(n, 5);
    assert_int_equal(out[0].base, 0);
    assert_int_equal(out[0].size, 16 * PAGE);
    assert_int_equal(out[1].base, 0x100000);
    assert_int_equal(out[1].size, 32 * PAGE);
    assert_int_equal(out[1].type, MEM_USABLE);
    assert_int_equal(out[2].type, MEM_ACPI_NVS);
    assert_int_equal(out[3].type, MEM_ACPI_RECLAIM);
    assert_int_equal(out[4].type, MEM_MMIO);
    assert_int_equal(out[4].reserved, 0);
}

static void test_map_bridging_range_merges_three(void **state)
{
    (void)state;
    struct fake_map m = {0};
    add_desc(&m, UEFI_CONVENTIONAL, 0, 1);
    add_desc(&m, UEFI_CONVENTIONAL, 2 * PAGE, 1);
    add_desc(&m, UEFI_BOOT_SERVICES_CODE, PAGE, 1);
    struct handoff_mem_range out[2];
    uint32_t n;
    struct efimap v = view(&m);
    assert_int_equal(efimap_translate(&v, out, 2, &n), EFIMAP_OK);
    assert_int_equal(n, 1);
    assert_int_equal(out[0].size, 3 * PAGE);
}

static void test_map_errors(void **state)
{
    (void)state;
    struct fake_map m = {0};
    struct handoff_mem_range out[2];
    uint32_t n;
    add_desc(&m, UEFI_CONVENTIONAL, 0, 1);
    add_desc(&m, UEFI_RESERVED, PAGE, 1);
    add_desc(&m, UEFI_CONVENTIONAL, 2 * PAGE, 1);
    struct efimap v = view(&m);
    assert_int_equal(efimap_translate(&v, out, 2, &n), EFIMAP_TOO_MANY);
    assert_true(n <= 2);
    v.desc_size = sizeof(struct uefi_mem_desc) - 8;
    assert_int_equal(efimap_translate(&v, out, 2, &n), EFIMAP_BAD_DESC_SIZE);
    struct fake_map w = {0};
    add_desc(&w, UEFI_CONVENTIONAL, 0xfffffffffffff000ULL, 2);
    v = view(&w);
    assert_int_equal(efimap_translate(&v, out, 2, &n), EFIMAP_BAD_DESC);
    struct fake_map huge = {0};
    add_desc(&huge, UEFI_CONVENTIONAL, 0x1000, UINT64_MAX);
    v = view(&huge);
    assert_int_equal(efimap_translate(&v, out, 2, &n), EFIMAP_BAD_DESC);
    assert_false(efimap_range_is(&v, 0x1000, PAGE, UEFI_CONVENTIONAL));
    /* A partial trailing descriptor is ignored. */
    v = view(&m);
    v.size = DESC_STRIDE + 10;
    assert_int_equal(efimap_translate(&v, out, 2, &n), EFIMAP_OK);
    assert_int_equal(n, 1);
    for (int s = EFIMAP_OK; s <= EFIMAP_TOO_MANY; s++)
        assert_non_null(efimap_status_str((enum efimap_status)s));
    assert_string_equal(efimap_status_str((enum efimap_status)77), "unknown memory map error");
}

static void test_map_range_is(void **state)
{
    (void)state;
    struct fake_map m = {0};
    add_desc(&m, UEFI_LOADER_DATA, 0x400000, 512); /* 2 MiB */
    add_desc(&m, UEFI_LOADER_DATA, 0x200000, 512); /* before it, listed after */
    add_desc(&m, UEFI_CONVENTIONAL, 0x600000, 16);
    add_desc(&m, UEFI_LOADER_DATA, 0x610000, 16);
    struct efimap v = view(&m);
    assert_true(efimap_range_is(&v, 0x200000, 0x400000, UEFI_LOADER_DATA));
    assert_true(efimap_range_is(&v, 0x3ff000, 0x2000, UEFI_LOADER_DATA));
    assert_false(efimap_range_is(&v, 0x200000, 0x400001, UEFI_LOADER_DATA));
    assert_false(efimap_range_is(&v, 0x1ff000, 0x2000, UEFI_LOADER_DATA));
    assert_false(efimap_range_is(&v, 0x600000, 0x20000, UEFI_LOADER_DATA));
    assert_true(efimap_range_is(&v, 0x600000, 0x10000, UEFI_CONVENTIONAL));
    assert_true(efimap_range_is(&v, 0x12345000, 0, UEFI_LOADER_DATA));
    assert_false(efimap_range_is(&v, UINT64_MAX - 10, 100, UEFI_LOADER_DATA));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty_file_gives_defaults),
        cmocka_unit_test(test_full_config_with_crlf),
        cmocka_unit_test(test_loader_keys_alone_make_the_command_line),
        cmocka_unit_test(test_value_may_contain_equals_and_hash),
        cmocka_unit_test(test_limits_exactly_fit),
        cmocka_unit_test(test_syntax_errors_name_the_line),
        cmocka_unit_test(test_bad_values),
        cmocka_unit_test(test_module_errors),
        cmocka_unit_test(test_overlong_values),
        cmocka_unit_test(test_huge_lines),
        cmocka_unit_test(test_binary_bytes),
        cmocka_unit_test(test_utf8_bom_is_skipped),
        cmocka_unit_test(test_tiny_error_buffer),
        cmocka_unit_test(test_every_truncation),
        cmocka_unit_test(test_garbage_never_crashes),
        cmocka_unit_test(test_map_types),
        cmocka_unit_test(test_map_sorts_and_merges),
        cmocka_unit_test(test_map_bridging_range_merges_three),
        cmocka_unit_test(test_map_errors),
        cmocka_unit_test(test_map_range_is),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
