/* INIT and SIPI for L1's vCPUs (SDM Vol. 3A 9.1 and 10.4 "MP
 * initialization"; Vol. 3C 24.8: INIT is blocked in VMX root operation;
 * 25.2: in VMX non-root operation INIT causes a VM exit, a SIPI does in the
 * wait-for-SIPI state). A vCPU never waits in a VMCS's wait-for-SIPI state:
 * Bochs takes that SIPI's VM exit in the sending CPU's context and the
 * target never runs again (docs/smp.md), and such a CPU could not be
 * reached by L0 either (NMIs are blocked there). It waits in L0 instead,
 * for what ipi.c posts.
 *
 * v->sipi_signals, shared (compare-and-swap only): the vCPU's state and a
 * posted start vector. RUNNING -> INIT_POSTED (any CPU's INIT) -> WAITING
 * (the vCPU took it) -> RUNNING (a SIPI started it). */
#include "vmm/sipi.h"
#include "vmm/ipi.h"
#include "vmm/smp.h"
#include "vmm/vm.h"
#include "vmm/vmcs01.h"
#include "vmm/nested/nested.h"
#include "arch/x86/cpu.h"
#include "arch/x86/cpu_bits.h"
#include "arch/x86/exit_reasons.h"
#include "arch/x86/vmx.h"
#include "arch/x86/vmx_bits.h"
#include "lib/log.h"

#define SIGNAL_STATE_MASK   3U
#define SIGNAL_RUNNING      0U
#define SIGNAL_INIT_POSTED  1U
#define SIGNAL_WAITING      2U
#define SIGNAL_HAS_VECTOR   (1U << 16)
#define SIGNAL_VECTOR_SHIFT 8
#define SIGNAL_VECTOR_MASK  0xffU

/* A storm of IPIs must not flood the log: the first few per vCPU, then the
 * exit statistics count them. */
#define IPI_REPORT_LIMIT 4
#define SIPI_CS_SHIFT    8  /* CS selector = vector << 8, base = vector << 12 */
#define SIPI_BASE_SHIFT  12

static uint32_t signals(const struct vcpu *v) { return __atomic_load_n(&v->sipi_signals, __ATOMIC_ACQUIRE); }
static unsigned state_of(uint32_t s) { return s & SIGNAL_STATE_MASK; }
static uint8_t vector_of(uint32_t s) { return (uint8_t)(s >> SIGNAL_VECTOR_SHIFT & SIGNAL_VECTOR_MASK); }

static bool swap_signals(struct vcpu *v, uint32_t *old, uint32_t new)
{
    return __atomic_compare_exchange_n(&v->sipi_signals, old, new, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
}

/* Sets the state, keeping a posted vector or not. */
static void set_state(struct vcpu *v, unsigned state, bool keep_vector)
{
    uint32_t old = signals(v);
    uint32_t keep = SIGNAL_HAS_VECTOR | SIGNAL_VECTOR_MASK << SIGNAL_VECTOR_SHIFT;
    while (!swap_signals(v, &old, state | (keep_vector ? old & keep : 0)))
        ;
}

static bool may_report(struct vcpu *v)
{
    if (v->ipis_reported >= IPI_REPORT_LIMIT)
        return false;
    v->ipis_reported++;
    return true;
}

static const char *last_report(const struct vcpu *v)
{
    return v->ipis_reported == IPI_REPORT_LIMIT ? " (no more reports)" : "";
}

/* Counted on the target, from the sending CPU: a race only costs a line. */
static void report_held(struct vcpu *v, const char *what, unsigned vector)
{
    if (!may_report(v))
        return;
    if (vector == IPI_NO_VECTOR)
        log_warn("cpu%u (APIC %u): %s from L1 ignored: this CPU is nestvisor's%s\n", v->id,
                 v->cpu->apic_id, what, last_report(v));
    else
        log_warn("cpu%u (APIC %u): %s (vector 0x%02x) from L1 ignored: this CPU is nestvisor's%s\n", v->id,
                 v->cpu->apic_id, what, vector, last_report(v));
}

void sipi_init_vcpu(struct vcpu *v)
{
    bool waits = v->role == VCPU_HELD || v->id != 0;
    __atomic_store_n(&v->sipi_signals, waits ? SIGNAL_WAITING : SIGNAL_RUNNING, __ATOMIC_RELEASE);
    __atomic_store_n(&v->wait_for_sipi, waits, __ATOMIC_RELEASE);
}

/* Makes v look at its signals: a running CPU at its next exit, which the
 * NMI forces. A waiting one wakes on the write to its monitored line, and
 * gets the NMI too: Bochs 2.7 with several CPUs can miss that wake-up
 * (Linux's MWAIT idle does: tests/guests/linux/README.md), and a CPU
 * waiting in L0 has nothing else to wake it. */
static void notify(struct vcpu *v, uint32_t before)
{
    if (v->cpu != this_cpu())
        smp_nudge(v->cpu);
    else if (state_of(before) == SIGNAL_RUNNING)
        __atomic_store_n(&v->cpu->attention, 1, __ATOMIC_SEQ_CST);
}

bool sipi_post_init(struct vcpu *target)
{
    if (target->role == VCPU_HELD) {
        report_held(target, "INIT", IPI_NO_VECTOR);
        return false;
    }
    /* INIT resets: a start vector posted before it is void. */
    uint32_t old = signals(target);
    while (!swap_signals(target, &old, SIGNAL_INIT_POSTED))
        ;
    notify(target, old);
    return true;
}

bool sipi_post_start(struct vcpu *target, uint8_t vector)
{
    if (target->role == VCPU_HELD) {
        report_held(target, "SIPI", vector);
        return false;
    }
    uint32_t old = signals(target);
    do {
        /* Only a CPU in (or on its way to) wait-for-SIPI takes it; the
         * first SIPI starts it and later ones find it running. */
        if (state_of(old) == SIGNAL_RUNNING || (old & SIGNAL_HAS_VECTOR))
            return false;
    } while (!swap_signals(target, &old, old | SIGNAL_HAS_VECTOR | (uint32_t)vector << SIGNAL_VECTOR_SHIFT));
    notify(target, old);
    return true;
}

/* SDM 9.1.1 / Table 9-1: the state after INIT; L1's BSP would restart at
 * the reset vector: L1's machine reboots, which nestvisor does not do
 * (docs/security.md). */
static void init_reset(struct vcpu *v)
{
    if (v->id == 0) {
        vcpu_dump(v, "INIT signal to L1");
        vm_stop(POWER_GUEST_FAULT, "INIT signal to L1's boot CPU");
    }
    vmcs01_write_init_state(&the_vm, v);
    v->nmi_pending = false;
    if (may_report(v))
        log_info("cpu%u: INIT from L1: waiting for a start-up IPI%s\n", v->id, last_report(v));
}

/* An INIT reaches running v (its state is INIT_POSTED). */
static void init_signal(struct vcpu *v)
{
    if (v->in_l2) {
        /* SDM 25.2: a VM exit to L1, whatever L1's controls. */
        set_state(v, SIGNAL_RUNNING, false);
        nested_vmexit_signal(v, EXIT_REASON_INIT_SIGNAL, 0);
        return;
    }
    if (v->nested && v->nested->vmxon) {
        set_state(v, SIGNAL_RUNNING, false);
        v->init_pending = true; /* blocked in VMX root operation */
        return;
    }
    init_reset(v);
    set_state(v, SIGNAL_WAITING, true);
    vcpu_wait_for_sipi(v);
}

void sipi_take(struct vcpu *v)
{
    if (state_of(signals(v)) == SIGNAL_INIT_POSTED)
        init_signal(v);
}

/* The same INIT taken again and again at one RIP: Bochs 2.7 keeps an
 * INIT pending after its INIT-signal VM exit, so every entry exits again
 * and the vCPU never runs (real CPUs and upstream Bochs consume it). A
 * storm of real INITs this long at one RIP is no better: stop L1. */
#define INIT_EXIT_STREAK_LIMIT 65536

static void check_init_livelock(struct vcpu *v)
{
    uint64_t rip = vmcs_read(VMCS_GUEST_RIP);
    v->init_exit_streak = rip == v->init_exit_rip ? v->init_exit_streak + 1 : 0;
    v->init_exit_rip = rip;
    if (v->init_exit_streak < INIT_EXIT_STREAK_LIMIT)
        return;
    log_error("cpu%u: %u INIT-signal exits in a row at RIP 0x%llx: the CPU keeps its INIT pending after the exit "
              "(Bochs 2.7 does); with icrwatch=always L0 sees L1's INITs before the CPU does\n",
              v->id, INIT_EXIT_STREAK_LIMIT, (unsigned long long)rip);
    vm_stop(POWER_GUEST_FAULT, "INIT-signal exits that never end");
}

void handle_init_signal(struct vcpu *v)
{
    check_init_livelock(v);
    set_state(v, SIGNAL_INIT_POSTED, false);
    init_signal(v);
}

void sipi_after_vmxoff(struct vcpu *v)
{
    if (!v->init_pending)
        return;
    v->init_pending = false;
    handle_init_signal(v);
}

/* One wait: returns the signals once they change from `seen` (or another
 * CPU asked v's CPU something, answered here). */
static uint32_t wait_for_change(struct vcpu *v, uint32_t seen)
{
    static bool has_mwait, probed;
    if (!probed) {
        struct cpuid_regs r;
        cpuid_query(CPUID_LEAF_FEATURES, 0, &r);
        has_mwait = r.ecx & CPUID_1_ECX_MONITOR;
        probed = true;
    }
    for (;;) {
        if (__atomic_load_n(&v->cpu->attention, __ATOMIC_ACQUIRE))
            smp_answer(v->cpu);
        uint32_t now = signals(v);
        if (now != seen)
            return now;
        if (has_mwait) {
            cpu_monitor(&v->sipi_signals);
            if (signals(v) == seen && !__atomic_load_n(&v->cpu->attention, __ATOMIC_ACQUIRE))
                cpu_mwait(); /* the post's write or an NMI ends it */
        } else {
            cpu_relax();
        }
    }
}

/* Waits in L0 until a SIPI is posted (*vector): wait_for_sipi is set all
 * along, so L0 watches L1's ICR (ipi.c) and no SIPI reaches the hardware
 * meanwhile. An INIT resets an AP of L1 again and it goes on waiting; an
 * L2 in wait-for-SIPI blocks it (SDM 25.2: "INIT signals are blocked. They
 * do not cause VM exits in this case"): it stays pending (init_pending)
 * and exits at the next entry to an active L2, or resets at VMXOFF. */
static void wait_signal(struct vcpu *v, uint8_t *vector, bool for_l2)
{
    __atomic_store_n(&v->wait_for_sipi, true, __ATOMIC_SEQ_CST);
    ipi_update_watch(&the_vm);
    uint32_t s = signals(v);
    for (;;) {
        if (state_of(s) == SIGNAL_INIT_POSTED) {
            if (for_l2)
                v->init_pending = true;
            else
                init_reset(v);
            set_state(v, SIGNAL_WAITING, true);
            s = signals(v);
            continue;
        }
        if (s & SIGNAL_HAS_VECTOR) {
            *vector = vector_of(s);
            if (swap_signals(v, &s, SIGNAL_RUNNING))
                break;
            continue;
        }
        s = wait_for_change(v, s);
    }
    __atomic_store_n(&v->wait_for_sipi, false, __ATOMIC_SEQ_CST);
    ipi_update_watch(&the_vm);
}

void vcpu_wait_for_sipi(struct vcpu *v)
{
    if (v->role == VCPU_HELD) {
        __atomic_store_n(&v->wait_for_sipi, true, __ATOMIC_SEQ_CST);
        ipi_update_watch(&the_vm);
        for (uint32_t s = signals(v);;)
            s = wait_for_change(v, s); /* nothing is ever posted to it */
    }
    uint8_t vector = 0;
    wait_signal(v, &vector, false);
    vmcs_write(VMCS_GUEST_CS_SELECTOR, (uint64_t)vector << SIPI_CS_SHIFT);
    vmcs_write(VMCS_GUEST_CS_BASE, (uint64_t)vector << SIPI_BASE_SHIFT);
    vmcs_write(VMCS_GUEST_RIP, 0);
    v->nmi_pending = false;
    log_info("cpu%u: L1 started it at 0x%x\n", v->id, (unsigned)vector << SIPI_BASE_SHIFT);
}

void sipi_wait_l2(struct vcpu *v)
{
    /* vmcs02 records the state; the nested exit saves it in vmcs12. */
    vmcs_write(VMCS_GUEST_ACTIVITY_STATE, ACTIVITY_WAIT_SIPI);
    /* An INIT posted before the entry is blocked there too. */
    uint32_t running = SIGNAL_RUNNING;
    if (!swap_signals(v, &running, SIGNAL_WAITING)) {
        v->init_pending = true;
        set_state(v, SIGNAL_WAITING, false);
    }
    uint8_t vector = 0;
    wait_signal(v, &vector, true);
    nested_vmexit_signal(v, EXIT_REASON_SIPI, vector);
}
