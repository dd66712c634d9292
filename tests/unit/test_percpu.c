/* unit-srcs: vmm/percpu.c vmm/stats.c vmm/vcpu.c vmm/l1ram.c vmm/memmap.c tests/unit/fake_vmx.c */
/* Per-CPU data (vmm/percpu.c, docs/smp.md): each CPU finds its own struct
 * percpu through GS (percpu_install points IA32_GS_BASE at it, the struct
 * points at itself at GS:0), CPUs are registered by id in any order, and
 * nothing is per-CPU by accident: every vCPU keeps its own exit statistics,
 * which vm_stop prints summed and per CPU (stats.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>
#include "vmm/percpu.h"
#include "vmm/stats.h"
#include "vmm/vm.h"
#include "arch/x86/exit_reasons.h"
#include "arch/x86/msr_index.h"
#include "tests/unit/fake_arch.h"

struct vm the_vm;
void vm_stop(enum power_status status, const char *why)
{
    (void)status;
    (void)why;
    fail_msg("vm_stop");
    abort();
}

static struct percpu cpus[3];

static void test_install_points_gs_at_the_cpu(void **state)
{
    (void)state;
    fake_msr_clear();
    percpu_install(&cpus[1]);
    assert_ptr_equal(cpus[1].self, &cpus[1]);
    uint64_t gs;
    assert_true(rdmsr_safe(MSR_IA32_GS_BASE, &gs));
    assert_int_equal(gs, (uint64_t)(uintptr_t)&cpus[1]);
    /* The log's CPU tag comes from the calling CPU's own struct. */
    cpus[1].id = 1;
    fake_this_cpu = &cpus[1];
    assert_int_equal(percpu_this_id(), 1);
}

/* The boot CPU registers first; APs as they come up, possibly out of
 * order; ids beyond the table are ignored, not written past it. */
static void test_register_by_id(void **state)
{
    (void)state;
    for (unsigned i = 0; i < 3; i++)
        cpus[i].id = i;
    percpu_register(&cpus[0]);
    assert_int_equal(percpu_count(), 1);
    percpu_register(&cpus[2]);
    assert_int_equal(percpu_count(), 3);
    assert_null(percpu_of(1)); /* not up yet */
    percpu_register(&cpus[1]);
    for (unsigned i = 0; i < 3; i++)
        assert_ptr_equal(percpu_of(i), &cpus[i]);
    assert_null(percpu_of(3));
    struct percpu stray = {.id = NV_MAX_CPUS};
    percpu_register(&stray);
    assert_int_equal(percpu_count(), 3);
    assert_null(percpu_of(NV_MAX_CPUS));
}

/* vm_stop's report: the sum over the vCPUs, then each CPU's exits; a
 * single-CPU L1 gets no per-CPU line. */
static void test_statistics_are_per_vcpu_and_summed(void **state)
{
    (void)state;
    memset(&the_vm, 0, sizeof(the_vm));
    the_vm.vcpu_count = 3;
    the_vm.vcpus[0].role = VCPU_L1;
    the_vm.vcpus[1].role = VCPU_L1;
    the_vm.vcpus[2].role = VCPU_HELD;
    the_vm.vcpus[0].stats.count[NV_LEVEL_L1][EXIT_REASON_CPUID] = 5;
    the_vm.vcpus[0].stats.ticks[NV_LEVEL_L1][EXIT_REASON_CPUID] = 500;
    the_vm.vcpus[1].stats.count[NV_LEVEL_L1][EXIT_REASON_CPUID] = 7;
    the_vm.vcpus[1].stats.ticks[NV_LEVEL_L1][EXIT_REASON_CPUID] = 700;
    the_vm.vcpus[1].stats.count[NV_LEVEL_L1][EXIT_REASON_HLT] = 2;
    fake_console_reset();
    stats_print_vm(&the_vm);
    const char *out = fake_console_output();
    assert_non_null(strstr(out, "exits of L1 (handled by L0): 14"));
    assert_non_null(strstr(out, "exits per CPU: cpu0 5 cpu1 9 cpu2 0"));
    /* One vCPU of L1's: no per-CPU line. */
    the_vm.vcpus[1].role = VCPU_HELD;
    fake_console_reset();
    stats_print_vm(&the_vm);
    assert_null(strstr(fake_console_output(), "exits per CPU"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_install_points_gs_at_the_cpu),
        cmocka_unit_test(test_register_by_id),
        cmocka_unit_test(test_statistics_are_per_vcpu_and_summed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
