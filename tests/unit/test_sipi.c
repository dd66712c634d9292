/* unit-srcs: vmm/sipi.c vmm/vmcs01.c vmm/pmm.c arch/x86/vmx_root.c arch/x86/vmx_caps.c vmm/vcpu.c vmm/l1ram.c vmm/memmap.c tests/unit/fake_vmx.c */
/* vmm/sipi.c: INIT and SIPI exits (SDM Vol. 3C 25.2: in VMX non-root
 * operation INIT always causes a VM exit, a SIPI only in the wait-for-SIPI
 * activity state, with the vector in the exit qualification, 28.2.1). A
 * CPU nestvisor keeps from L1 (VCPU_HELD) ignores both, stays waiting for
 * a SIPI and reports a few of them (issue 10: an L1 that tried INIT-SIPI-
 * SIPI on every APIC ID got no CPU, and L0 logs the attempt); an INIT to
 * L1's boot CPU stops L1 (nestvisor does not reboot it). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>
#include "vmm/sipi.h"
#include "vmm/vm.h"
#include "arch/x86/vmx.h"
#include "arch/x86/vmx_bits.h"
#include "tests/unit/fake_arch.h"
#include "tests/unit/fake_vmx.h"

struct vm the_vm;
static struct percpu cpu2;

static jmp_buf stopped;
static int stops;
static enum power_status stop_status;
void vm_stop(enum power_status status, const char *why)
{
    (void)why;
    stops++;
    stop_status = status;
    longjmp(stopped, 1);
}

static int count(const char *haystack, const char *needle)
{
    int n = 0;
    for (const char *p = haystack; (p = strstr(p, needle)); p++)
        n++;
    return n;
}

static int setup(void **state)
{
    (void)state;
    memset(&the_vm, 0, sizeof(the_vm));
    fake_vmx_reset();
    fake_console_reset();
    stops = 0;
    assert_true(vmx_on(0x1000));
    assert_true(vmcs_load(0x2000));
    cpu2.id = 2;
    cpu2.apic_id = 6;
    struct vcpu *v = &the_vm.vcpus[2];
    v->id = 2;
    v->cpu = &cpu2;
    v->role = VCPU_HELD;
    fake_vmcs_set(VMCS_GUEST_ACTIVITY_STATE, ACTIVITY_WAIT_SIPI);
    fake_vmcs_set(VMCS_GUEST_RIP, 0xfff0);
    return 0;
}

static void test_held_cpu_ignores_init_and_sipi(void **state)
{
    (void)state;
    struct vcpu *v = &the_vm.vcpus[2];
    handle_init_signal(v);
    fake_vmcs_set(VMCS_EXIT_QUALIFICATION, 0x9f);
    handle_sipi(v);
    assert_int_equal(stops, 0);
    /* Still waiting for a SIPI, nothing of the guest state changed. */
    assert_int_equal(fake_vmcs_get(VMCS_GUEST_ACTIVITY_STATE), ACTIVITY_WAIT_SIPI);
    assert_int_equal(fake_vmcs_get(VMCS_GUEST_RIP), 0xfff0);
    assert_int_equal(fake_vmcs_get(VMCS_VM_ENTRY_INTR_INFO_FIELD), 0);
    const char *log = fake_console_output();
    assert_non_null(strstr(log, "cpu2 (APIC 6): INIT from L1 ignored"));
    assert_non_null(strstr(log, "cpu2 (APIC 6): SIPI (vector 0x9f) from L1 ignored"));
}

static void test_an_ipi_storm_is_reported_a_few_times(void **state)
{
    (void)state;
    struct vcpu *v = &the_vm.vcpus[2];
    for (int i = 0; i < 100000; i++) {
        handle_init_signal(v);
        fake_vmcs_set(VMCS_EXIT_QUALIFICATION, (uint64_t)i & 0xff);
        handle_sipi(v);
    }
    assert_int_equal(stops, 0);
    const char *log = fake_console_output();
    assert_int_equal(count(log, "from L1 ignored"), 4);
    assert_int_equal(count(log, "no more reports"), 1);
}

static void test_init_to_l1s_boot_cpu_stops_l1(void **state)
{
    (void)state;
    struct vcpu *v = &the_vm.vcpus[0];
    v->role = VCPU_L1;
    v->cpu = &cpu2;
    if (!setjmp(stopped))
        handle_init_signal(v);
    assert_int_equal(stops, 1);
    assert_int_equal(stop_status, POWER_GUEST_FAULT);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup(f, setup)
    const struct CMUnitTest tests[] = {
        T(test_held_cpu_ignores_init_and_sipi),
        T(test_an_ipi_storm_is_reported_a_few_times),
        T(test_init_to_l1s_boot_cpu_stops_l1),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
