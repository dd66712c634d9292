/* unit-srcs: drivers/power.c tests/unit/fake_vmx.c */
/* drivers/power.c: ending a run. The QEMU isa-debug-exit port (0xf4) and
 * the Bochs shutdown port (0x8900, the bytes of "Shutdown") may belong to a
 * PCI device on real hardware (issue 11 #4): they are written only on a
 * platform that says it is such an emulator, by its ACPI OEM ID ("BOCHS ",
 * which Bochs's BIOS and QEMU write) or QEMU's CPUID hypervisor signature
 * (leaf 40000000H: "TCGTCGTCGTCG" under TCG, "KVMKVMKVM" under KVM, with
 * CPUID.1:ECX[31]). ACPI S5 (PM1a_CNT: SLP_TYPa << 10 | SLP_EN, ACPI 6.4
 * 4.8.3.2.1) is written everywhere it is known. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>
#include "drivers/power.h"
#include "arch/x86/cpu.h"
#include "tests/unit/fake_arch.h"
#include "tests/unit/fake_vmx.h"

static const uint32_t tcg[3] = {0x54474354, 0x43544743, 0x47435447}; /* "TCGTCGTCGTCG" */

static int setup(void **state)
{
    (void)state;
    fake_cpuid_clear();
    fake_vmx_reset();
    power_set_emulator(false);
    power_set_acpi(&(struct acpi_sleep_info){0});
    power_set_method_halt(0);
    return 0;
}

static void test_which_platforms_are_emulators(void **state)
{
    (void)state;
    assert_true(power_platform_is_emulator("BOCHS "));
    assert_false(power_platform_is_emulator("ALASKA"));
    assert_false(power_platform_is_emulator("INTEL "));
    assert_false(power_platform_is_emulator(0));
    /* A hypervisor bit alone says nothing about its ports. */
    fake_cpuid_set(1, 0, (struct cpuid_regs){0, 0, 1U << 31, 0});
    fake_cpuid_set(0x40000000, 0, (struct cpuid_regs){0x40000001, 0x7473656e, 0x6f736976, 0x72});
    assert_false(power_platform_is_emulator(0));
    fake_cpuid_set(0x40000000, 0, (struct cpuid_regs){0x40000001, tcg[0], tcg[1], tcg[2]});
    assert_true(power_platform_is_emulator("ALASKA"));
    fake_cpuid_set(1, 0, (struct cpuid_regs){0, 0, 0, 0}); /* signature without the bit */
    assert_false(power_platform_is_emulator(0));
}

/* Ports written by power_off, in order. */
static unsigned writes_to(uint16_t port)
{
    unsigned n = 0;
    for (unsigned i = 0; i < fake_port_count(); i++)
        n += fake_port_log(i)->port == port && !fake_port_log(i)->in;
    return n;
}

static void power_off_now(enum power_status s)
{
    jmp_buf stopped;
    fake_cpu_stop_target = &stopped;
    if (!setjmp(stopped))
        power_off(s);
    fake_cpu_stop_target = 0;
}

static void test_real_machine_gets_acpi_only(void **state)
{
    (void)state;
    power_set_acpi(&(struct acpi_sleep_info){.pm1a_cnt = 0x404, .slp_typ_a = 5, .valid = 1});
    power_off_now(POWER_OK);
    assert_int_equal(writes_to(0xf4), 0);
    assert_int_equal(writes_to(0x8900), 0);
    assert_int_equal(writes_to(0x404), 1);
    assert_int_equal(fake_port_log(fake_port_count() - 1)->value, (5U << 10) | (1U << 13));
}

static void test_emulator_gets_its_exit_ports_first(void **state)
{
    (void)state;
    power_set_emulator(true);
    power_set_acpi(&(struct acpi_sleep_info){.pm1a_cnt = 0xb004, .slp_typ_a = 0, .valid = 1});
    power_off_now(POWER_NO_VMX);
    assert_int_equal(fake_port_log(0)->port, 0xf4);
    assert_int_equal(fake_port_log(0)->value, POWER_NO_VMX);
    assert_int_equal(writes_to(0x8900), 8);
    assert_int_equal(writes_to(0xb004), 1);
}

static void test_halt_writes_nothing(void **state)
{
    (void)state;
    power_set_emulator(true);
    power_set_method_halt(1);
    power_set_acpi(&(struct acpi_sleep_info){.pm1a_cnt = 0x404, .valid = 1});
    power_off_now(POWER_OK);
    assert_int_equal(writes_to(0xf4) + writes_to(0x8900) + writes_to(0x404), 0);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup(f, setup)
    const struct CMUnitTest tests[] = {
        T(test_which_platforms_are_emulators),
        T(test_real_machine_gets_acpi_only),
        T(test_emulator_gets_its_exit_ports_first),
        T(test_halt_writes_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
