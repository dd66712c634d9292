/* unit-srcs: vmm/sipi.c vmm/vmcs01.c vmm/pmm.c arch/x86/vmx_root.c arch/x86/vmx_caps.c vmm/vcpu.c vmm/l1ram.c vmm/memmap.c tests/unit/fake_vmx.c */
/* vmm/sipi.c: the INIT/SIPI state machine of a vCPU (SDM Vol. 3A 9.1,
 * 10.4: INIT resets a CPU to wait for a SIPI, a SIPI starts a waiting CPU
 * at vector << 12 and is ignored by any other; Vol. 3C 24.8: INIT is
 * blocked in VMX root operation until VMXOFF; 25.2: INIT and SIPI reaching
 * L2 are VM exits to L1). Other CPUs post; the vCPU takes what was posted
 * at a safe point or while it waits in L0 (MONITOR/MWAIT, faked: the hook
 * plays the other CPU). Held CPUs drop both and report a few. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>
#include "vmm/ipi.h"
#include "vmm/sipi.h"
#include "vmm/smp.h"
#include "vmm/vm.h"
#include "vmm/nested/nested.h"
#include "arch/x86/cpu_bits.h"
#include "arch/x86/exit_reasons.h"
#include "arch/x86/vmx.h"
#include "arch/x86/vmx_bits.h"
#include "tests/unit/cpu_models.h"
#include "tests/unit/fake_arch.h"
#include "tests/unit/fake_vmx.h"

struct vm the_vm;
static struct vmx_caps caps;
static struct percpu cpu0, cpu1, cpu2;
static struct nested_vmx nested1;

/* ---- what sipi.c calls outside itself, recorded ---- */
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

static unsigned watch_updates, nudges, answers;
static struct percpu *last_nudged;
void ipi_update_watch(struct vm *vm)
{
    (void)vm;
    watch_updates++;
}
void smp_nudge(struct percpu *pc)
{
    nudges++;
    last_nudged = pc;
    pc->attention = 1;
}
void smp_answer(struct percpu *pc)
{
    answers++;
    pc->attention = 0;
}

static unsigned signal_exits;
static uint32_t signal_reason;
static uint64_t signal_qualification;
void nested_vmexit_signal(struct vcpu *v, uint32_t reason, uint64_t qualification)
{
    signal_exits++;
    signal_reason = reason;
    signal_qualification = qualification;
    v->in_l2 = false;
}

/* ---- the other CPU, while the vCPU under test sleeps in MWAIT ---- */
#define SCRIPT_MAX 4
static struct {
    enum { POST_NOTHING, POST_INIT, POST_SIPI } what;
    uint8_t vector;
} script[SCRIPT_MAX];
static unsigned script_len, script_pos;
static struct vcpu *script_target;

static void play_script(void)
{
    /* Asleep means waiting: L0 must be watching L1's ICR all that time. */
    assert_true(script_target->wait_for_sipi);
    if (script_pos == script_len)
        fail_msg("MWAIT with nothing left to post: the vCPU would sleep forever");
    if (script[script_pos].what == POST_INIT)
        sipi_post_init(script_target);
    else if (script[script_pos].what == POST_SIPI)
        sipi_post_start(script_target, script[script_pos].vector);
    script_pos++;
}

static void expect_posts(struct vcpu *target, unsigned n, ...)
{
    va_list ap;
    va_start(ap, n);
    for (unsigned i = 0; i < n; i++) {
        script[i].what = va_arg(ap, int);
        script[i].vector = (uint8_t)va_arg(ap, int);
    }
    va_end(ap);
    script_len = n;
    script_pos = 0;
    script_target = target;
}

static int count(const char *haystack, const char *needle)
{
    int n = 0;
    for (const char *p = haystack; (p = strstr(p, needle)); p++)
        n++;
    return n;
}

static void add_vcpu(unsigned id, struct percpu *pc, uint32_t apic_id, enum vcpu_role role)
{
    struct vcpu *v = &the_vm.vcpus[id];
    pc->id = id;
    pc->apic_id = apic_id;
    pc->vcpu = v;
    v->id = id;
    v->cpu = pc;
    v->role = role;
    the_vm.vcpu_count = id + 1;
    sipi_init_vcpu(v);
}

static int setup(void **state)
{
    (void)state;
    memset(&the_vm, 0, sizeof(the_vm));
    memset(&cpu0, 0, sizeof(cpu0));
    memset(&cpu1, 0, sizeof(cpu1));
    memset(&cpu2, 0, sizeof(cpu2));
    memset(&nested1, 0, sizeof(nested1));
    fake_vmx_reset();
    fake_console_reset();
    fake_cpuid_clear();
    fake_cpuid_set(CPUID_LEAF_FEATURES, 0, (struct cpuid_regs){0x000806c1, 0, CPUID_1_ECX_MONITOR, 0});
    fake_mwait_hook = play_script;
    fake_mwaits = 0;
    script_len = script_pos = 0;
    stops = 0;
    watch_updates = nudges = answers = signal_exits = 0;
    vmx_caps_decode(&tigerlake, &caps);
    the_vm.caps = &caps;
    assert_true(vmx_on(0x1000));
    assert_true(vmcs_load(0x2000));
    add_vcpu(0, &cpu0, 0, VCPU_L1);
    add_vcpu(1, &cpu1, 2, VCPU_L1);
    add_vcpu(2, &cpu2, 6, VCPU_HELD);
    the_vm.vcpus[1].nested = &nested1;
    fake_this_cpu = &cpu0; /* posts come from the boot CPU */
    return 0;
}

static void assert_started_at(uint8_t vector)
{
    assert_int_equal(fake_vmcs_get(VMCS_GUEST_CS_SELECTOR), (uint64_t)vector << 8);
    assert_int_equal(fake_vmcs_get(VMCS_GUEST_CS_BASE), (uint64_t)vector << 12);
    assert_int_equal(fake_vmcs_get(VMCS_GUEST_RIP), 0);
    assert_int_equal(fake_vmcs_get(VMCS_GUEST_ACTIVITY_STATE), ACTIVITY_ACTIVE);
}

/* An AP of L1 waits in L0, on its own signal word, until L1's SIPI: then
 * it starts in real mode at vector << 12; L0 watches L1's ICR exactly while
 * it waits. */
static void test_ap_waits_in_l0_for_its_sipi(void **state)
{
    (void)state;
    struct vcpu *v = &the_vm.vcpus[1];
    assert_true(v->wait_for_sipi);
    expect_posts(v, 2, POST_NOTHING, 0, POST_SIPI, 0x9a);
    vcpu_wait_for_sipi(v);
    assert_started_at(0x9a);
    assert_int_equal(fake_mwaits, 2);
    assert_ptr_equal(fake_monitored, &v->sipi_signals);
    assert_false(v->wait_for_sipi);
    assert_int_equal(watch_updates, 2); /* on entering and on leaving the wait */
    assert_non_null(strstr(fake_console_output(), "cpu1: L1 started it at 0x9a000"));
    /* Running now: a second SIPI is ignored, as by the CPU. */
    assert_false(sipi_post_start(v, 0x10));
}

/* A SIPI that comes before the AP begins to wait is not lost. */
static void test_sipi_before_the_wait_is_kept(void **state)
{
    (void)state;
    struct vcpu *v = &the_vm.vcpus[1];
    assert_true(sipi_post_start(v, 0x08));
    assert_false(sipi_post_start(v, 0x09)); /* the first one starts it */
    vcpu_wait_for_sipi(v);
    assert_started_at(0x08);
    assert_int_equal(fake_mwaits, 0);
}

/* INIT to a running AP: the poster nudges its CPU; at its next safe point
 * the AP resets (Table 9-1 state) and waits; the SIPI that followed the
 * INIT starts it. */
static void test_init_sipi_restarts_a_running_ap(void **state)
{
    (void)state;
    struct vcpu *v = &the_vm.vcpus[1];
    assert_true(sipi_post_start(v, 0x01));
    /* A waiting CPU is nudged too: Bochs 2.7 can miss MWAIT's wake-up. */
    assert_int_equal(nudges, 1);
    nudges = 0;
    vcpu_wait_for_sipi(v); /* now running */
    fake_vmcs_set(VMCS_GUEST_RFLAGS, 0x246);
    fake_vmcs_set(VMCS_GUEST_CR3, 0x1234000);
    v->regs.rbx = 0x55;
    v->nmi_pending = true;
    assert_false(sipi_post_start(v, 0x02)); /* running: ignored */
    assert_true(sipi_post_init(v));
    assert_int_equal(nudges, 1);
    assert_ptr_equal(last_nudged, &cpu1);
    assert_true(sipi_post_start(v, 0x77)); /* after the INIT: kept */
    assert_int_equal(nudges, 2);
    sipi_take(v);
    assert_started_at(0x77);
    assert_int_equal(fake_vmcs_get(VMCS_GUEST_RFLAGS), 0x2);
    assert_int_equal(fake_vmcs_get(VMCS_GUEST_CR3), 0);
    assert_int_equal(v->regs.rbx, 0);
    assert_int_equal(v->regs.rdx, 0x000806c1); /* EDX: the processor signature */
    assert_false(v->nmi_pending);
    assert_int_equal(fake_mwaits, 0);
    assert_non_null(strstr(fake_console_output(), "cpu1: INIT from L1: waiting for a start-up IPI"));
}

/* A second INIT while the AP waits resets it again; the SIPI after it
 * starts it. */
static void test_init_while_waiting_resets_again(void **state)
{
    (void)state;
    struct vcpu *v = &the_vm.vcpus[1];
    expect_posts(v, 3, POST_INIT, 0, POST_NOTHING, 0, POST_SIPI, 0x30);
    vcpu_wait_for_sipi(v);
    assert_started_at(0x30);
    assert_int_equal(count(fake_console_output(), "cpu1: INIT from L1"), 1);
    /* It never stopped waiting: the watch went on once and off once (a
     * gap would let the SIPI after the INIT reach the hardware). */
    assert_int_equal(watch_updates, 2);
}

/* An INIT posted by the vCPU's own CPU (INIT to self) needs no NMI: the
 * attention flag is looked at before the next VM entry. */
static void test_init_to_self_sets_attention_only(void **state)
{
    (void)state;
    struct vcpu *v = &the_vm.vcpus[1];
    assert_true(sipi_post_start(v, 0x01));
    vcpu_wait_for_sipi(v);
    fake_this_cpu = &cpu1;
    nudges = 0;
    assert_true(sipi_post_init(v));
    assert_int_equal(nudges, 0);
    assert_int_equal(cpu1.attention, 1);
}

/* SDM 24.8: INIT is blocked in VMX root operation. It stays pending, the
 * SIPIs after it find a running CPU and are ignored; VMXOFF lets the INIT
 * take effect. */
static void test_init_in_vmx_operation_waits_for_vmxoff(void **state)
{
    (void)state;
    struct vcpu *v = &the_vm.vcpus[1];
    assert_true(sipi_post_start(v, 0x01));
    vcpu_wait_for_sipi(v);
    nested1.vmxon = true;
    fake_vmcs_set(VMCS_GUEST_RIP, 0x4000);
    assert_true(sipi_post_init(v));
    sipi_take(v);
    assert_true(v->init_pending);
    assert_int_equal(fake_vmcs_get(VMCS_GUEST_RIP), 0x4000);
    assert_false(sipi_post_start(v, 0x20));
    nested1.vmxon = false;
    expect_posts(v, 1, POST_SIPI, 0x21);
    sipi_after_vmxoff(v);
    assert_false(v->init_pending);
    assert_started_at(0x21);
    /* Nothing pending: VMXOFF changes nothing. */
    fake_vmcs_set(VMCS_GUEST_RIP, 0x5000);
    sipi_after_vmxoff(v);
    assert_int_equal(fake_vmcs_get(VMCS_GUEST_RIP), 0x5000);
}

/* SDM 25.2: INIT while L2 runs is a VM exit to L1 (reason 3); a SIPI after
 * it finds L1 running and is ignored. */
static void test_init_while_l2_runs_exits_to_l1(void **state)
{
    (void)state;
    struct vcpu *v = &the_vm.vcpus[1];
    assert_true(sipi_post_start(v, 0x01));
    vcpu_wait_for_sipi(v);
    v->in_l2 = true;
    assert_true(sipi_post_init(v));
    assert_true(sipi_post_start(v, 0x44));
    sipi_take(v);
    assert_int_equal(signal_exits, 1);
    assert_int_equal(signal_reason, EXIT_REASON_INIT_SIGNAL);
    assert_false(sipi_post_start(v, 0x45));
    sipi_take(v); /* nothing left */
    assert_int_equal(signal_exits, 1);
}

/* vmcs12's wait-for-SIPI activity state: L0 waits for L2; the SIPI is a
 * VM exit to L1 with the vector as qualification (SDM 28.2.1), the
 * activity state recorded for vmcs12 is wait-for-SIPI. INIT is blocked in
 * that state and causes no exit (SDM 25.2, 26.6.2): it stays pending for
 * the next entry to an active L2 (nested/entry.c) or VMXOFF. */
static void test_l2_in_wait_for_sipi(void **state)
{
    (void)state;
    struct vcpu *v = &the_vm.vcpus[1];
    assert_true(sipi_post_start(v, 0x01));
    vcpu_wait_for_sipi(v);
    v->in_l2 = true;
    expect_posts(v, 1, POST_SIPI, 0x5c);
    sipi_wait_l2(v);
    assert_int_equal(signal_exits, 1);
    assert_int_equal(signal_reason, EXIT_REASON_SIPI);
    assert_int_equal(signal_qualification, 0x5c);
    assert_int_equal(fake_vmcs_get(VMCS_GUEST_ACTIVITY_STATE), ACTIVITY_WAIT_SIPI);
    assert_false(v->init_pending);
    assert_false(sipi_post_start(v, 0x5d)); /* L1 runs again */
    /* An INIT while L2 waits: no exit, still waiting; the SIPI after it
     * exits, and the INIT is pending. */
    v->in_l2 = true;
    expect_posts(v, 3, POST_INIT, 0, POST_NOTHING, 0, POST_SIPI, 0x5e);
    sipi_wait_l2(v);
    assert_int_equal(signal_exits, 2);
    assert_int_equal(signal_reason, EXIT_REASON_SIPI);
    assert_int_equal(signal_qualification, 0x5e);
    assert_true(v->init_pending);
    /* An INIT posted before L1's VM entry is blocked the same way. */
    v->init_pending = false;
    v->in_l2 = true;
    assert_true(sipi_post_init(v));
    expect_posts(v, 1, POST_SIPI, 0x5f);
    sipi_wait_l2(v);
    assert_int_equal(signal_exits, 3);
    assert_int_equal(signal_reason, EXIT_REASON_SIPI);
    assert_true(v->init_pending);
    assert_int_equal(count(fake_console_output(), "INIT from L1"), 0); /* L1's CPU was not reset */
}

/* A CPU nestvisor holds takes neither and reports the first few, however
 * many come (issue 10: an L1 that tried INIT-SIPI-SIPI on every APIC ID). */
static void test_held_cpu_drops_init_and_sipi(void **state)
{
    (void)state;
    struct vcpu *v = &the_vm.vcpus[2];
    assert_false(sipi_post_init(v));
    assert_false(sipi_post_start(v, 0x9f));
    const char *log = fake_console_output();
    assert_non_null(strstr(log, "cpu2 (APIC 6): INIT from L1 ignored"));
    assert_non_null(strstr(log, "cpu2 (APIC 6): SIPI (vector 0x9f) from L1 ignored"));
    for (int i = 0; i < 100000; i++) {
        sipi_post_init(v);
        sipi_post_start(v, (uint8_t)i);
    }
    assert_int_equal(count(fake_console_output(), "from L1 ignored"), 4);
    assert_int_equal(count(fake_console_output(), "no more reports"), 1);
    assert_int_equal(nudges, 0);
}

static void test_init_to_l1s_boot_cpu_stops_l1(void **state)
{
    (void)state;
    struct vcpu *v = &the_vm.vcpus[0];
    assert_false(sipi_post_start(v, 0x10)); /* it runs */
    assert_true(sipi_post_init(v));
    if (!setjmp(stopped))
        sipi_take(v);
    assert_int_equal(stops, 1);
    assert_int_equal(stop_status, POWER_GUEST_FAULT);
}

/* Bochs 2.7 keeps an INIT pending after its INIT-signal exit, so the same
 * CPU exits again and again at one RIP: after that many, L1 is stopped
 * with the reason instead of spinning forever. */
static void test_init_exits_that_never_end_stop_l1(void **state)
{
    (void)state;
    struct vcpu *v = &the_vm.vcpus[1];
    assert_true(sipi_post_start(v, 0x01));
    vcpu_wait_for_sipi(v);
    nested1.vmxon = true; /* blocked: pending, L1 goes on */
    fake_vmcs_set(VMCS_GUEST_RIP, 0x7000);
    int n = 0;
    if (!setjmp(stopped))
        for (; n < 70000; n++)
            handle_init_signal(v);
    assert_int_equal(stops, 1);
    assert_true(n >= 65536 && n < 70000);
    assert_non_null(strstr(fake_console_output(), "INIT-signal exits in a row at RIP 0x7000"));
    /* Progress between them resets the count. */
    stops = 0;
    v->init_exit_streak = 0;
    for (int i = 0; i < 70000; i++) {
        fake_vmcs_set(VMCS_GUEST_RIP, 0x7000 + (uint64_t)(i & 1));
        handle_init_signal(v);
    }
    assert_int_equal(stops, 0);
}

/* An INIT-signal exit L0 did not see coming (its ICR unwatched) is the
 * same INIT. */
static void test_init_signal_exit(void **state)
{
    (void)state;
    struct vcpu *v = &the_vm.vcpus[1];
    assert_true(sipi_post_start(v, 0x01));
    vcpu_wait_for_sipi(v);
    expect_posts(v, 1, POST_SIPI, 0x66);
    handle_init_signal(v);
    assert_started_at(0x66);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup(f, setup)
    const struct CMUnitTest tests[] = {
        T(test_ap_waits_in_l0_for_its_sipi),
        T(test_sipi_before_the_wait_is_kept),
        T(test_init_sipi_restarts_a_running_ap),
        T(test_init_while_waiting_resets_again),
        T(test_init_to_self_sets_attention_only),
        T(test_init_in_vmx_operation_waits_for_vmxoff),
        T(test_init_while_l2_runs_exits_to_l1),
        T(test_l2_in_wait_for_sipi),
        T(test_held_cpu_drops_init_and_sipi),
        T(test_init_to_l1s_boot_cpu_stops_l1),
        T(test_init_signal_exit),
        T(test_init_exits_that_never_end_stop_l1),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
