/* unit-srcs: vmm/options.c */
/* vmm/options.c: the kernel command line -> struct nv_options. Every option,
 * its default, its limits, and bad values reported in o->bad (with the
 * default kept). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>
#include "vmm/options.h"
#include "vmm/hostmem.h"
#include "drivers/uart.h"

static struct nv_options parse(const char *cmdline)
{
    struct nv_options o;
    memset(&o, 0xa5, sizeof(o)); /* options_parse must set every field */
    options_parse(cmdline, &o);
    return o;
}

static void assert_defaults_except_bad(const struct nv_options *o)
{
    assert_int_equal(o->serial_port, UART_COM1);
    assert_int_equal(o->baud, UART_DEFAULT_BAUD);
    assert_true(o->e9);
    assert_int_equal(o->log_level, LOG_INFO);
    assert_false(o->vmxcaps);
    assert_int_equal(o->l0mem, HOSTMEM_DEFAULT_POOL);
    assert_false(o->power_halt);
    assert_string_equal(o->selftest, "");
}

static void test_defaults(void **state)
{
    (void)state;
    struct nv_options o = parse("");
    assert_defaults_except_bad(&o);
    assert_string_equal(o.bad, "");
    /* Unknown words are none of options_parse's business. */
    o = parse("quiet foo=bar serialx=5 baudrate=9600 l0memory=1G");
    assert_defaults_except_bad(&o);
    assert_string_equal(o.bad, "");
}

static void test_serial(void **state)
{
    (void)state;
    assert_int_equal(parse("serial=off").serial_port, 0);
    assert_int_equal(parse("serial=0x2f8").serial_port, 0x2f8);
    assert_int_equal(parse("serial=760").serial_port, 760);
    assert_int_equal(parse("serialx=1 serial=0x3e8").serial_port, 0x3e8);
    /* The highest base whose 8 registers still fit in the port space. */
    assert_int_equal(parse("serial=0xfff7").serial_port, 0xfff7);
    static const char *const bad[] = {"serial=0", "serial=0xfff8", "serial=0x10000", "serial=com1",
                                      "serial", "serial=-1"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct nv_options o = parse(bad[i]);
        assert_int_equal(o.serial_port, UART_COM1);
        char want[64];
        strcpy(want, bad[i]);
        if (!strchr(want, '='))
            strcat(want, "=");
        assert_string_equal(o.bad, want);
    }
}

static void test_baud(void **state)
{
    (void)state;
    assert_int_equal(parse("baud=9600").baud, 9600);
    assert_int_equal(parse("baud=50").baud, 50);
    assert_int_equal(parse("baud=115200").baud, 115200);
    struct nv_options o = parse("baud=49");
    assert_int_equal(o.baud, UART_DEFAULT_BAUD);
    assert_string_equal(o.bad, "baud=49");
    o = parse("baud=115201");
    assert_int_equal(o.baud, UART_DEFAULT_BAUD);
    assert_string_equal(o.bad, "baud=115201");
    o = parse("baud=fast");
    assert_string_equal(o.bad, "baud=fast");
    o = parse("baud=4294967346"); /* 2^32 + 50: must not wrap into range */
    assert_int_equal(o.baud, UART_DEFAULT_BAUD);
    assert_string_equal(o.bad, "baud=4294967346");
}

static void test_e9(void **state)
{
    (void)state;
    assert_false(parse("e9=off").e9);
    assert_false(parse("e9=0").e9);
    assert_true(parse("e9").e9);
    assert_true(parse("e9=yes").e9);
    struct nv_options o = parse("e9=maybe");
    assert_true(o.e9);
    assert_string_equal(o.bad, "e9=maybe");
}

static void test_loglevel(void **state)
{
    (void)state;
    assert_int_equal(parse("loglevel=error").log_level, LOG_ERROR);
    assert_int_equal(parse("loglevel=warn").log_level, LOG_WARN);
    assert_int_equal(parse("loglevel=info").log_level, LOG_INFO);
    assert_int_equal(parse("loglevel=debug").log_level, LOG_DEBUG);
    struct nv_options o = parse("loglevel=verbose");
    assert_int_equal(o.log_level, LOG_INFO);
    assert_string_equal(o.bad, "loglevel=verbose");
    o = parse("loglevel=DEBUG");
    assert_int_equal(o.log_level, LOG_INFO);
    assert_string_equal(o.bad, "loglevel=DEBUG");
    o = parse("loglevel");
    assert_int_equal(o.log_level, LOG_INFO);
    assert_string_equal(o.bad, "loglevel=");
}

static void test_vmxcaps(void **state)
{
    (void)state;
    assert_true(parse("vmxcaps").vmxcaps);
    assert_true(parse("serial=off vmxcaps loglevel=warn").vmxcaps);
    assert_true(parse("vmxcaps=on").vmxcaps);
    assert_false(parse("vmxcapsx").vmxcaps);
    /* Like e9, an explicit "off" means off. */
    assert_false(parse("vmxcaps=off").vmxcaps);
    assert_false(parse("vmxcaps=0").vmxcaps);
    struct nv_options o = parse("vmxcaps=please");
    assert_false(o.vmxcaps);
    assert_string_equal(o.bad, "vmxcaps=please");
}

static void test_l0mem(void **state)
{
    (void)state;
    assert_int_equal(parse("l0mem=64M").l0mem, 64ULL << 20);
    assert_int_equal(parse("l0mem=4M").l0mem, 4ULL << 20);
    assert_int_equal(parse("l0mem=512M").l0mem, 512ULL << 20);
    assert_int_equal(parse("l0mem=0x1000000").l0mem, 16ULL << 20);
    assert_int_equal(parse("l0mem=8192K").l0mem, 8ULL << 20);
    static const char *const bad[] = {"l0mem=4194303", "l0mem=3M", "l0mem=513M", "l0mem=1G",
                                      "l0mem=M", "l0mem=lots", "l0mem=99999999999999999999"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct nv_options o = parse(bad[i]);
        assert_int_equal(o.l0mem, HOSTMEM_DEFAULT_POOL);
        assert_string_equal(o.bad, bad[i]);
    }
}

static void test_power(void **state)
{
    (void)state;
    assert_true(parse("power=halt").power_halt);
    struct nv_options o = parse("power=off");
    assert_false(o.power_halt);
    assert_string_equal(o.bad, "");
    o = parse("power=reboot");
    assert_false(o.power_halt);
    assert_string_equal(o.bad, "power=reboot");
}

static void test_selftest(void **state)
{
    (void)state;
    assert_string_equal(parse("selftest=pf").selftest, "pf");
    assert_string_equal(parse("selftest").selftest, "");
    /* Longer than OPTION_VALUE_MAX - 1: truncated, terminated. */
    char cl[200] = "selftest=";
    for (int i = 0; i < 100; i++)
        strcat(cl, "x");
    struct nv_options o = parse(cl);
    assert_int_equal(strlen(o.selftest), OPTION_VALUE_MAX - 1);
}

/* The L1 options of issue 10 and 12: cpus=1..4096, hidden=discard|stop,
 * icrwatch=needed|always; anything else is reported and the default kept. */
static void test_l1_cpu_and_containment_options(void **state)
{
    (void)state;
    struct nv_options o = parse("");
    assert_int_equal(o.cpus, 0); /* all */
    assert_false(o.hidden_stop);
    assert_false(o.icr_watch_always);
    assert_true(o.apicv);
    assert_false(parse("apicv=off").apicv);
    o = parse("cpus=2 hidden=stop icrwatch=always");
    assert_int_equal(o.cpus, 2);
    assert_true(o.hidden_stop);
    assert_true(o.icr_watch_always);
    assert_string_equal(o.bad, "");
    o = parse("hidden=discard icrwatch=needed cpus=4096");
    assert_false(o.hidden_stop);
    assert_false(o.icr_watch_always);
    assert_int_equal(o.cpus, 4096);
    assert_string_equal(o.bad, "");
    o = parse("cpus=0 hidden=maybe icrwatch=sometimes");
    assert_int_equal(o.cpus, 0);
    assert_false(o.hidden_stop);
    assert_false(o.icr_watch_always);
    assert_string_equal(o.bad, "cpus=0 hidden=maybe icrwatch=sometimes");
}

static void test_everything_at_once(void **state)
{
    (void)state;
    struct nv_options o = parse("serial=0x2f8 baud=57600 e9=off loglevel=debug vmxcaps "
                                "l0mem=48M power=halt selftest=pool");
    assert_int_equal(o.serial_port, 0x2f8);
    assert_int_equal(o.baud, 57600);
    assert_false(o.e9);
    assert_int_equal(o.log_level, LOG_DEBUG);
    assert_true(o.vmxcaps);
    assert_int_equal(o.l0mem, 48ULL << 20);
    assert_true(o.power_halt);
    assert_string_equal(o.selftest, "pool");
    assert_string_equal(o.bad, "");
}

static void test_several_bad_values_are_all_listed(void **state)
{
    (void)state;
    struct nv_options o = parse("serial=x baud=1 e9=2 loglevel=loud l0mem=1 power=up");
    assert_defaults_except_bad(&o);
    assert_string_equal(o.bad, "serial=x baud=1 e9=2 loglevel=loud l0mem=1 power=up");
}

static void test_bad_list_is_bounded(void **state)
{
    (void)state;
    /* Values of OPTION_VALUE_MAX - 1 characters each: far more than o->bad
     * holds. It must stay terminated and inside its array. */
    char cl[1024] = "";
    static const char *const keys[] = {"serial", "baud", "e9", "loglevel", "l0mem", "power"};
    for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
        strcat(cl, keys[k]);
        strcat(cl, "=");
        for (int i = 0; i < OPTION_VALUE_MAX - 1; i++)
            strcat(cl, "z");
        strcat(cl, " ");
    }
    struct nv_options o = parse(cl);
    assert_defaults_except_bad(&o);
    assert_int_equal(strlen(o.bad), sizeof(o.bad) - 1);
    assert_memory_equal(o.bad, "serial=zzz", 10);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_serial),
        cmocka_unit_test(test_baud),
        cmocka_unit_test(test_e9),
        cmocka_unit_test(test_loglevel),
        cmocka_unit_test(test_vmxcaps),
        cmocka_unit_test(test_l0mem),
        cmocka_unit_test(test_power),
        cmocka_unit_test(test_selftest),
        cmocka_unit_test(test_l1_cpu_and_containment_options),
        cmocka_unit_test(test_everything_at_once),
        cmocka_unit_test(test_several_bad_values_are_all_listed),
        cmocka_unit_test(test_bad_list_is_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
