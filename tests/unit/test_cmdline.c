/* unit-srcs: */
/* lib/cmdline.c (always linked): "key=value" and bare "flag" words, numbers
 * with K/M/G suffixes, booleans. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdint.h>
#include <string.h>
#include "lib/cmdline.h"

/* cmdline_get into a buffer pre-filled with garbage, so a missing
 * terminator would show. */
static bool get(const char *cmdline, const char *key, char *val, size_t size)
{
    memset(val, '#', size);
    return cmdline_get(cmdline, key, val, size);
}

static void test_get_values_and_flags(void **state)
{
    (void)state;
    const char *cl = "serial=0x3f8 baud=115200 vmxcaps loglevel=debug";
    char v[32];
    assert_true(get(cl, "serial", v, sizeof(v)));
    assert_string_equal(v, "0x3f8");
    assert_true(get(cl, "baud", v, sizeof(v)));
    assert_string_equal(v, "115200");
    assert_true(get(cl, "loglevel", v, sizeof(v)));
    assert_string_equal(v, "debug");
    /* A bare flag is present with an empty value. */
    assert_true(get(cl, "vmxcaps", v, sizeof(v)));
    assert_string_equal(v, "");
    assert_false(get(cl, "e9", v, sizeof(v)));
    assert_true(cmdline_has(cl, "vmxcaps"));
    assert_true(cmdline_has(cl, "baud"));
    assert_false(cmdline_has(cl, "selftest"));
}

static void test_get_does_not_match_prefixes(void **state)
{
    (void)state;
    char v[32];
    /* "serial" must not match "serialx" or "serial_port", nor the reverse. */
    assert_false(get("serialx=1 serial_port=2", "serial", v, sizeof(v)));
    assert_false(get("serialx", "serial", v, sizeof(v)));
    assert_false(get("serial=1", "serialx", v, sizeof(v)));
    assert_false(get("ser", "serial", v, sizeof(v)));
    assert_false(cmdline_has("serialx=1", "serial"));
    assert_true(get("serialx=1 serial=off", "serial", v, sizeof(v)));
    assert_string_equal(v, "off");
    assert_true(get("serialx=1 serial=off", "serialx", v, sizeof(v)));
    assert_string_equal(v, "1");
    /* Nor a key that appears inside another word's value. */
    assert_false(get("selftest=baud", "baud", v, sizeof(v)));
    assert_false(get("x=serial=1", "serial", v, sizeof(v)));
}

static void test_get_whitespace_and_edges(void **state)
{
    (void)state;
    char v[32];
    assert_false(get("", "serial", v, sizeof(v)));
    assert_false(get("   ", "serial", v, sizeof(v)));
    assert_true(get("  \t serial=com2\t\r\nbaud=9600  ", "serial", v, sizeof(v)));
    assert_string_equal(v, "com2");
    assert_true(get("  \t serial=com2\t\r\nbaud=9600  ", "baud", v, sizeof(v)));
    assert_string_equal(v, "9600");
    /* An explicitly empty value, and a value that itself holds '='. */
    assert_true(get("a= b=c=d", "a", v, sizeof(v)));
    assert_string_equal(v, "");
    assert_true(get("a= b=c=d", "b", v, sizeof(v)));
    assert_string_equal(v, "c=d");
    /* The last word, with no trailing space. */
    assert_true(get("x=1 last", "last", v, sizeof(v)));
    assert_string_equal(v, "");
}

static void test_get_truncates_long_values(void **state)
{
    (void)state;
    char v[5];
    assert_true(get("selftest=abcdefgh next=1", "selftest", v, sizeof(v)));
    assert_string_equal(v, "abcd");
    /* Size 1: just the terminator. */
    memset(v, '#', sizeof(v));
    assert_true(cmdline_get("selftest=abcdefgh", "selftest", v, 1));
    assert_int_equal(v[0], 0);
    assert_int_equal(v[1], '#');
}

static void test_parse_u64_decimal_and_hex(void **state)
{
    (void)state;
    uint64_t n;
    assert_true(parse_u64("0", &n));
    assert_int_equal(n, 0);
    assert_true(parse_u64("42", &n));
    assert_int_equal(n, 42);
    assert_true(parse_u64("0x3f8", &n));
    assert_int_equal(n, 0x3f8);
    assert_true(parse_u64("0X3F8", &n));
    assert_int_equal(n, 0x3f8);
    assert_true(parse_u64("0xDeadBeef", &n));
    assert_int_equal(n, 0xdeadbeef);
    assert_true(parse_u64("007", &n)); /* leading zeros: still decimal */
    assert_int_equal(n, 7);
    assert_true(parse_u64("0010", &n));
    assert_int_equal(n, 10);
}

static void test_parse_u64_suffixes(void **state)
{
    (void)state;
    uint64_t n;
    assert_true(parse_u64("4K", &n));
    assert_int_equal(n, 4096);
    assert_true(parse_u64("4k", &n));
    assert_int_equal(n, 4096);
    assert_true(parse_u64("32M", &n));
    assert_int_equal(n, 32ULL << 20);
    assert_true(parse_u64("32m", &n));
    assert_int_equal(n, 32ULL << 20);
    assert_true(parse_u64("2G", &n));
    assert_int_equal(n, 2ULL << 30);
    assert_true(parse_u64("2g", &n));
    assert_int_equal(n, 2ULL << 30);
    assert_true(parse_u64("0x10M", &n));
    assert_int_equal(n, 16ULL << 20);
    assert_true(parse_u64("0K", &n));
    assert_int_equal(n, 0);
}

static void test_parse_u64_overflow(void **state)
{
    (void)state;
    uint64_t n = 0;
    assert_true(parse_u64("18446744073709551615", &n));
    assert_int_equal(n, UINT64_MAX);
    assert_true(parse_u64("0xffffffffffffffff", &n));
    assert_int_equal(n, UINT64_MAX);
    n = 77;
    assert_false(parse_u64("18446744073709551616", &n));
    assert_false(parse_u64("99999999999999999999", &n));
    assert_false(parse_u64("0x10000000000000000", &n));
    /* The suffix's shift overflows: 2^34 G = 2^64. */
    assert_true(parse_u64("17179869183G", &n));
    assert_int_equal(n, 17179869183ULL << 30);
    assert_false(parse_u64("17179869184G", &n));
    assert_false(parse_u64("0x100000000000000K", &n)); /* 2^56 << 10 */
    assert_int_equal(n, 17179869183ULL << 30);         /* failures leave *out alone */
}

static void test_parse_u64_garbage(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "", "0x", "0X", "x10", "abc", "12a", "1KB", "1KK", "1T", "-1", "+1", " 1", "1 ", "1.5",
        "0x1z", "K", "M", "G", "0xK", "0xg", "=",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        uint64_t n = 1234;
        if (parse_u64(bad[i], &n))
            fail_msg("parse_u64(\"%s\") accepted garbage as %llu", bad[i], (unsigned long long)n);
        assert_int_equal(n, 1234);
    }
}

static void test_parse_bool(void **state)
{
    (void)state;
    static const char *const yes[] = {"", "on", "1", "yes", "true"};
    static const char *const no[] = {"off", "0", "no", "false"};
    static const char *const bad[] = {"2", "On", "YES", "maybe", "of", "onn", " on", "-1"};
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        bool b = false;
        assert_true(parse_bool(yes[i], &b));
        assert_true(b);
    }
    for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
        bool b = true;
        assert_true(parse_bool(no[i], &b));
        assert_false(b);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        bool b = true;
        if (parse_bool(bad[i], &b))
            fail_msg("parse_bool(\"%s\") accepted", bad[i]);
        assert_true(b);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_get_values_and_flags),
        cmocka_unit_test(test_get_does_not_match_prefixes),
        cmocka_unit_test(test_get_whitespace_and_edges),
        cmocka_unit_test(test_get_truncates_long_values),
        cmocka_unit_test(test_parse_u64_decimal_and_hex),
        cmocka_unit_test(test_parse_u64_suffixes),
        cmocka_unit_test(test_parse_u64_overflow),
        cmocka_unit_test(test_parse_u64_garbage),
        cmocka_unit_test(test_parse_bool),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
