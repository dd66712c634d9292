/* unit-srcs: */
/* lib/format.c (always linked): the kernel's vsnprintf subset (see lib/format.h for what it
 * supports). Where the C standard (C11 7.21.6.1) defines the result, the
 * expected strings below are what snprintf gives. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <limits.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>
#include "lib/format.h"
#include "lib/log.h"
#include "tests/unit/fake_arch.h"

/* Formats into a roomy buffer and checks both the text and the return value. */
#define CHECK(expected, ...)                                                                       \
    do {                                                                                           \
        char buf_[256];                                                                            \
        memset(buf_, 0x5a, sizeof(buf_));                                                          \
        int n_ = format(buf_, sizeof(buf_), __VA_ARGS__);                                          \
        assert_string_equal(buf_, expected);                                                       \
        assert_int_equal(n_, strlen(expected));                                                    \
    } while (0)

/* For inputs the compiler's format checking rejects on purpose (a NULL %s,
 * flag combinations it warns about, conversions outside C). */
static int format_unchecked(char *buf, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = format_v(buf, size, fmt, ap);
    va_end(ap);
    return n;
}

#define CHECK_UNCHECKED(expected, ...)                                                             \
    do {                                                                                           \
        char buf_[256];                                                                            \
        int n_ = format_unchecked(buf_, sizeof(buf_), __VA_ARGS__);                                \
        assert_string_equal(buf_, expected);                                                       \
        assert_int_equal(n_, strlen(expected));                                                    \
    } while (0)

static void test_plain_text_and_percent(void **state)
{
    (void)state;
    CHECK("", "%s", "");
    CHECK("hello, world", "hello, world");
    CHECK("100%", "100%%");
    CHECK("%%", "%%%%");
}

static void test_signed_decimal(void **state)
{
    (void)state;
    CHECK("0", "%d", 0);
    CHECK("42 -42", "%d %i", 42, -42);
    CHECK("2147483647", "%d", INT_MAX);
    CHECK("-2147483648", "%d", INT_MIN);
    CHECK("-9223372036854775808", "%lld", LLONG_MIN);
    CHECK("9223372036854775807", "%lld", LLONG_MAX);
    CHECK("-9223372036854775808", "%ld", LONG_MIN);
    CHECK("-1", "%zd", (ssize_t)-1);
}

static void test_unsigned_and_hex(void **state)
{
    (void)state;
    CHECK("4294967295", "%u", UINT_MAX);
    CHECK("18446744073709551615", "%llu", ULLONG_MAX);
    CHECK("18446744073709551615", "%lu", ULONG_MAX);
    CHECK("18446744073709551615", "%zu", SIZE_MAX);
    CHECK("deadbeef DEADBEEF", "%x %X", 0xdeadbeefU, 0xdeadbeefU);
    CHECK("0", "%x", 0U);
    CHECK("ffffffffffffffff", "%llx", ULLONG_MAX);
    CHECK("123456789ABCDEF0", "%llX", 0x123456789abcdef0ULL);
}

static void test_length_modifiers_truncate_like_printf(void **state)
{
    (void)state;
    CHECK("44", "%hhu", 300);      /* (unsigned char)300 */
    CHECK("-56", "%hhd", 200);     /* (signed char)200 */
    CHECK("4464", "%hd", 70000);   /* (short)70000 */
    CHECK("ffff", "%hx", 0x12ffff);
    CHECK("ff", "%hhx", 0x1ff);
    /* A 32-bit %x of a value with bits above 31 must not show them. */
    CHECK("89abcdef", "%x", (unsigned)0x0123456789abcdefULL);
}

static void test_width_and_flags(void **state)
{
    (void)state;
    CHECK("   42", "%5d", 42);
    CHECK("42   |", "%-5d|", 42);
    CHECK("00042", "%05d", 42);
    CHECK("-0042", "%05d", -42);
    CHECK("  -42", "%5d", -42);
    CHECK("-42  |", "%-5d|", -42);
    CHECK_UNCHECKED("-42  |", "%-05d|", -42); /* '-' overrides '0' */
    CHECK("0000beef", "%08x", 0xbeefU);
    CHECK("0x00000000001000", "0x%014llx", 0x1000ULL);
    CHECK("12345", "%3d", 12345); /* width is a minimum */
    CHECK("   ab", "%*s", 5, "ab");
    CHECK("  7", "%*u", 3, 7U);
    CHECK("ab   |", "%-5s|", "ab");
}

static void test_negative_star_width_means_left_justify(void **state)
{
    (void)state;
    /* C11 7.21.6.1p5: a negative width argument is a '-' flag and a
     * positive width. */
    CHECK("ab   |", "%*s|", -5, "ab");
    CHECK("7  |", "%*d|", -3, 7);
}

static void test_string_precision(void **state)
{
    (void)state;
    CHECK("abc", "%.3s", "abcdef");
    CHECK("", "%.0s", "abcdef");
    CHECK("  abc", "%5.3s", "abcdef");
    CHECK("abc  |", "%-5.3s|", "abcdef");
    CHECK("ab", "%.*s", 2, "abcdef");
    CHECK("abcdef", "%.*s", -1, "abcdef"); /* negative precision: none */
    CHECK("RSDT", "%.4s", "RSDTXXXX");
    /* The precision bounds the read: the string need not be terminated. */
    static const char sig[4] = {'F', 'A', 'C', 'P'};
    CHECK("FACP", "%.4s", sig);
}

static void test_null_string(void **state)
{
    (void)state;
    CHECK_UNCHECKED("(null)", "%s", (const char *)NULL);
    CHECK_UNCHECKED("[  (null)]", "[%8s]", (const char *)NULL);
    CHECK_UNCHECKED("(nu", "%.3s", (const char *)NULL);
}

static void test_char_and_pointer(void **state)
{
    (void)state;
    CHECK("a", "%c", 'a');
    CHECK("[x]", "[%c]", 'x');
    CHECK("  a", "%3c", 'a');
    CHECK("a  |", "%-3c|", 'a');
    char buf[8];
    assert_int_equal(format(buf, sizeof(buf), "x%cy", 0), 3); /* a NUL is one character */
    assert_memory_equal(buf, "x\0y", 4);
    CHECK("0x1000", "%p", (void *)0x1000);
    CHECK("0x0", "%p", (void *)0);
    CHECK("0xffffffff80000000", "%p", (void *)0xffffffff80000000ULL);
}

static void test_unknown_conversion_and_trailing_percent(void **state)
{
    (void)state;
    /* Not in the subset: printed as is, and no argument is consumed. */
    CHECK_UNCHECKED("%q 5", "%q %d", 5);
    CHECK_UNCHECKED("ab", "ab%");
}

static void test_truncation_keeps_terminator_and_full_length(void **state)
{
    (void)state;
    char buf[8];
    memset(buf, 'X', sizeof(buf));
    assert_int_equal(format(buf, sizeof(buf), "%s-%d", "abcdef", 12345), 12);
    assert_string_equal(buf, "abcdef-");

    /* Size 1: only the terminator fits. */
    memset(buf, 'X', sizeof(buf));
    assert_int_equal(format(buf, 1, "%d", 123), 3);
    assert_int_equal(buf[0], 0);
    assert_int_equal(buf[1], 'X');

    /* Truncation in the middle of padding and of a number. */
    memset(buf, 'X', sizeof(buf));
    assert_int_equal(format(buf, 4, "%8x", 0xabcU), 8);
    assert_string_equal(buf, "   ");
    memset(buf, 'X', sizeof(buf));
    assert_int_equal(format(buf, 5, "%llu", 123456789ULL), 9);
    assert_string_equal(buf, "1234");

    /* Exactly fitting output. */
    assert_int_equal(format(buf, 8, "1234567"), 7);
    assert_string_equal(buf, "1234567");
}

static void test_size_zero_writes_nothing(void **state)
{
    (void)state;
    char buf[4] = {'X', 'X', 'X', 'X'};
    assert_int_equal(format(buf, 0, "hello %d", 42), 8);
    assert_int_equal(buf[0], 'X');
    /* With size 0 the buffer may even be NULL (the length-probe idiom). */
    assert_int_equal(format(NULL, 0, "%s", "abc"), 3);
}

static int via_va_list(char *buf, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    /* format_v must leave the caller's va_list usable (it works on a copy). */
    int a = format_v(buf, size, fmt, ap);
    int b = format_v(buf, size, fmt, ap);
    va_end(ap);
    assert_int_equal(a, b);
    return a;
}

static void test_format_v_uses_a_copy(void **state)
{
    (void)state;
    char buf[32];
    assert_int_equal(via_va_list(buf, sizeof(buf), "%d/%s/%llx", -7, "x", 0xabcULL), 8);
    assert_string_equal(buf, "-7/x/abc");
}

static void test_many_arguments_mixed(void **state)
{
    (void)state;
    CHECK("acpi: table APIC at 0x7fe1000 has bad length 12; skipped",
          "acpi: table %.4s at 0x%llx has bad length %u; skipped", "APIC",
          (unsigned long long)0x7fe1000, 12U);
    CHECK("  0000000000100000-000000000009efff usable       ",
          "  %016llx-%016llx %-13s", 0x100000ULL, 0x9efffULL, "usable");
}

/* lib/log.c: a line too long for its buffer ends in "..." and keeps its
 * newline, so the next message starts on a line of its own. */
static void test_log_cuts_long_lines_visibly(void **state)
{
    (void)state;
    char big[600];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = 0;
    fake_console_reset();
    log_msg(LOG_INFO, "long: %s\n", big);
    log_msg(LOG_INFO, "next\n");
    const char *out = fake_console_output();
    const char *cut = strstr(out, "...\n[info] next\n");
    assert_non_null(cut);
    assert_true(strncmp(out, "[info] long: xxx", 16) == 0);
    assert_int_equal(strlen(out), 255 + strlen("[info] next\n"));
    fake_console_reset();
    log_raw("%s", big); /* no newline asked for, none added */
    assert_string_equal(out + 252, "...");
}

/* lib/log.c with a CPU source: the boot CPU's lines look as before, every
 * other CPU's carry its number; raw output (markers, tables) never does. */
static unsigned log_test_cpu;
static unsigned log_test_cpu_id(void) { return log_test_cpu; }

static void test_log_tags_lines_of_other_cpus(void **state)
{
    (void)state;
    fake_console_reset();
    log_set_cpu_source(log_test_cpu_id);
    log_test_cpu = 0;
    log_msg(LOG_WARN, "from the boot CPU\n");
    log_test_cpu = 3;
    log_msg(LOG_INFO, "from an AP\n");
    log_raw("MARKER\n");
    log_set_cpu_source(0);
    assert_string_equal(fake_console_output(), "[warn] from the boot CPU\n[info/cpu3] from an AP\nMARKER\n");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_log_cuts_long_lines_visibly),
        cmocka_unit_test(test_log_tags_lines_of_other_cpus),
        cmocka_unit_test(test_plain_text_and_percent),
        cmocka_unit_test(test_signed_decimal),
        cmocka_unit_test(test_unsigned_and_hex),
        cmocka_unit_test(test_length_modifiers_truncate_like_printf),
        cmocka_unit_test(test_width_and_flags),
        cmocka_unit_test(test_negative_star_width_means_left_justify),
        cmocka_unit_test(test_string_precision),
        cmocka_unit_test(test_null_string),
        cmocka_unit_test(test_char_and_pointer),
        cmocka_unit_test(test_unknown_conversion_and_trailing_percent),
        cmocka_unit_test(test_truncation_keeps_terminator_and_full_length),
        cmocka_unit_test(test_size_zero_writes_nothing),
        cmocka_unit_test(test_format_v_uses_a_copy),
        cmocka_unit_test(test_many_arguments_mixed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
