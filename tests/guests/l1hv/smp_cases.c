/* The SMP cases (README.md, "SMP"): every AP with its own VMCS and L2,
 * IPIs both ways while L2s run with external-interrupt exiting, a VMCS
 * migrated from CPU to CPU (VMCLEAR here, VMPTRLD there) as KVM does when
 * it moves a vCPU thread, L2s of all CPUs faulting on one EPT12, remote
 * INVEPT/INVVPID the way KVM flushes remote TLBs, and the wait-for-SIPI
 * activity state. */
#include "smp.h"

#define JOB_TIMEOUT_MS   20000 /* emulated time: generous, a hung AP ends the case */
#define SETUP_TIMEOUT_MS 2000
#define EXIT_BASIC(v)    ((v)->reason & EXIT_REASON_BASIC_MASK)
#define SPIN_COUNT       100000 /* l2_spin: PAUSEs before its VMCALL */

static uint64_t vmread_or0(uint64_t field)
{
    uint64_t v = 0;
    vmread_r(field, &v);
    return v;
}

static void skip_instruction(void)
{
    vmwrite_r(VMCS_GUEST_RIP, vmread_or0(VMCS_GUEST_RIP) + vmread_or0(VMCS_EXIT_INSTR_LEN));
}

/* Points guest RIP/RSP at a routine again (no shared state: safe on any CPU). */
static void restart_at(struct vcpu *v, void (*entry)(void))
{
    vmwrite_r(VMCS_GUEST_RIP, (uintptr_t)entry);
    vmwrite_r(VMCS_GUEST_RSP, (uintptr_t)v->stack_top);
}

static const char *run_describe(const struct vcpu *v, char *buf, size_t n)
{
    if (v->entry_result == VMX_FAIL_VALID)
        snprintf(buf, n, "%s VMfailValid(error %u)", v->launched ? "VMRESUME" : "VMLAUNCH", v->entry_error);
    else if (v->entry_result != VMX_OK)
        snprintf(buf, n, "%s %s", v->launched ? "VMRESUME" : "VMLAUNCH", vmx_result_name(v->entry_result));
    else
        snprintf(buf, n, "exit reason %u%s qual %#lx RIP %#lx", v->reason & EXIT_REASON_BASIC_MASK,
                 v->reason & EXIT_REASON_ENTRY_FAILURE ? " (entry failure)" : "",
                 vmread_or0(VMCS_EXIT_QUALIFICATION), vmread_or0(VMCS_GUEST_RIP));
    return buf;
}

#define DESCRIBE_MAX 120
#define DESCRIBE(v) run_describe((v), (char[DESCRIBE_MAX]){0}, DESCRIBE_MAX)

/* A run that must end with `reason` (cpu_fail otherwise). */
static bool cpu_run_expect(struct smp_cpu *c, struct vcpu *v, uint32_t reason, const char *what)
{
    vcpu_run(v);
    if (v->entry_result == VMX_OK && v->reason == reason)
        return true;
    cpu_fail(c, "%s: expected exit %u, got %s", what, reason, DESCRIBE(v));
    return false;
}

/* A barrier the BSP releases: every AP job waits for `go`. */
static volatile uint32_t go;
static volatile uint32_t ready_count;

static void wait_go(struct smp_cpu *c)
{
    __atomic_add_fetch(&ready_count, 1, __ATOMIC_ACQ_REL);
    uint64_t t0 = rdtsc();
    while (!__atomic_load_n(&go, __ATOMIC_ACQUIRE)) {
        if (smp_timed_out(t0, JOB_TIMEOUT_MS)) {
            cpu_fail(c, "the start signal never came");
            return;
        }
        pause();
    }
}

static bool release_when_ready(unsigned n)
{
    uint64_t t0 = rdtsc();
    while (__atomic_load_n(&ready_count, __ATOMIC_ACQUIRE) < n)
        if (smp_timed_out(t0, JOB_TIMEOUT_MS))
            return expect(false, "only %u of %u CPUs reached the start line", ready_count, n);
    __atomic_store_n(&go, 1, __ATOMIC_RELEASE);
    return true;
}

static void barrier_reset(void)
{
    go = 0;
    ready_count = 0;
}

/* ================= smp_start ================= */
struct start_report {
    uint32_t apic;
    uint64_t vmcs_seen, r8, r9;
    int vmxon_again;
    uint32_t vmxon_error;
    bool done;
};
static struct start_report start_rep[SMP_MAX_CPUS];
#define L2_VMCALL_R8 1 /* l2.asm l2_vmcall */
#define L2_VMCALL_R9 2

/* One at a time: the VMCS (VMCLEAR, VMPTRLD, VMWRITEs), VMPTRST, and a
 * second VMXON in VMX root (error 15, SDM 31.3 "VMXON"). */
static void job_start_setup(struct smp_cpu *c, void *arg)
{
    (void)arg;
    struct start_report *r = &start_rep[c->index];
    memset(r, 0, sizeof *r);
    r->apic = smp_apic_id();
    struct vcpu *v = &c->vc[0];
    if (!smp_vcpu_setup(c, v, l2_vmcall))
        return;
    vmptrst(&r->vmcs_seen);
    r->vmxon_again = vmxon((uintptr_t)c->vmxon);
    r->vmxon_error = r->vmxon_again == VMX_FAIL_VALID ? vmx_instruction_error() : 0;
}

/* All at once: VMLAUNCH, VMCALL back, VMRESUME, VMCALL back. */
static void job_start_run(struct smp_cpu *c, void *arg)
{
    (void)arg;
    struct start_report *r = &start_rep[c->index];
    struct vcpu *v = &c->vc[0];
    wait_go(c);
    if (!cpu_run_expect(c, v, EXIT_VMCALL, "VMLAUNCH of its L2"))
        return;
    r->r8 = v->regs.r8;
    skip_instruction();
    if (!cpu_run_expect(c, v, EXIT_VMCALL, "VMRESUME of its L2"))
        return;
    r->r9 = v->regs.r9;
    r->done = true;
}

void case_smp_start(void)
{
    if (!smp_ready())
        return;
    for (unsigned i = 1; i < smp.n; i++)
        TRY(smp_run(&smp.cpu[i], job_start_setup, NULL, SETUP_TIMEOUT_MS));
    barrier_reset();
    for (unsigned i = 1; i < smp.n; i++)
        smp_post(&smp.cpu[i], job_start_run, NULL);
    release_when_ready(smp.n - 1);
    for (unsigned i = 1; i < smp.n; i++)
        smp_wait(&smp.cpu[i], JOB_TIMEOUT_MS);
    smp_collect();
    unsigned reported = 0;
    for (unsigned i = 1; i < smp.n; i++) {
        struct smp_cpu *c = &smp.cpu[i];
        struct start_report *r = &start_rep[i];
        EXPECT(r->apic == c->apic_id && r->apic != smp.cpu[0].apic_id,
               "cpu%u runs as APIC %u, the MADT says %u (the BSP is %u)", i, r->apic, c->apic_id,
               smp.cpu[0].apic_id);
        EXPECT(r->vmcs_seen == vmcs_pa(&c->vc[0]), "cpu%u: VMPTRST %#lx after VMPTRLD of %#lx", i,
               r->vmcs_seen, vmcs_pa(&c->vc[0]));
        EXPECT(r->vmxon_again == VMX_FAIL_VALID && r->vmxon_error == VMXERR_VMXON_IN_ROOT,
               "cpu%u: VMXON in VMX root gave %s (error %u), want VMfailValid(15)", i,
               vmx_result_name(r->vmxon_again), r->vmxon_error);
        EXPECT(!r->done || (r->r8 == L2_VMCALL_R8 && r->r9 == L2_VMCALL_R9),
               "cpu%u: L2 left R8 %#lx R9 %#lx, want %u and %u", i, r->r8, r->r9, L2_VMCALL_R8,
               L2_VMCALL_R9);
        reported += r->done;
    }
    EXPECT(reported == smp.n - 1, "%u of %u APs ran their L2 to both VMCALLs", reported, smp.n - 1);
    printf("l1hv: smp_start: %u APs each ran its own L2 (VMLAUNCH, VMCALL, VMRESUME, VMCALL)\n", reported);
    smp_clear_all();
}

/* ================= smp_ipi ================= */
#define IPI_ROUNDS 8 /* per phase and AP */

static struct {
    volatile uint32_t progress[SMP_MAX_CPUS]; /* IPIs an AP has taken in this phase */
    volatile uint32_t ready[SMP_MAX_CPUS];
    bool ack;                                 /* phase C: acknowledge interrupt on exit */
} ipi;

static void ipi_handler(struct trap_frame *f)
{
    (void)f;
    struct smp_cpu *c = smp_self();
    if (c)
        __atomic_add_fetch(&c->ipi_count, 1, __ATOMIC_RELEASE);
    lapic_eoi();
}

static void to_bsp_handler(struct trap_frame *f)
{
    unsigned i = (unsigned)f->vector - SMP_TO_BSP_VECTOR;
    if (i < SMP_MAX_CPUS)
        __atomic_add_fetch(&smp.to_bsp[i], 1, __ATOMIC_RELEASE);
    lapic_eoi();
}

/* Waits (interrupts on) until *p reaches want; false after the timeout. */
static bool wait_count_sti(volatile uint64_t *p, uint64_t want, uint64_t ms)
{
    uint64_t t0 = rdtsc();
    sti();
    while (__atomic_load_n(p, __ATOMIC_ACQUIRE) < want && !smp_timed_out(t0, ms))
        pause();
    cli();
    return *p >= want;
}

static bool wait_u32(volatile uint32_t *p, uint32_t want, uint64_t ms)
{
    uint64_t t0 = rdtsc();
    while (__atomic_load_n(p, __ATOMIC_ACQUIRE) < want)
        if (smp_timed_out(t0, ms))
            return false;
    return true;
}

/* Phase A: the AP in L1 with interrupts on. */
static void job_ipi_l1(struct smp_cpu *c, void *arg)
{
    (void)arg;
    uint64_t base = c->ipi_count;
    ipi.ready[c->index] = 1;
    for (uint32_t k = 1; k <= IPI_ROUNDS; k++) {
        if (!wait_count_sti(&c->ipi_count, base + k, JOB_TIMEOUT_MS)) {
            cpu_fail(c, "in L1: %lu of %u IPIs arrived", c->ipi_count - base, IPI_ROUNDS);
            return;
        }
        __atomic_store_n(&ipi.progress[c->index], k, __ATOMIC_RELEASE);
    }
}

/* Phases B and C: the AP runs L2 (spinning, IF = 1) with external-
 * interrupt exiting; every IPI must be an exit (reason 1). Without
 * "acknowledge interrupt on exit" the interrupt stays pending and L1 takes
 * it with STI; with it, the exit carries the vector (SDM 27.2.2) and L1
 * must EOI. */
static void job_ipi_l2(struct smp_cpu *c, void *arg)
{
    (void)arg;
    struct vcpu *v = &c->vc[0];
    uint32_t want_info = INTR_INFO_VALID | ((uint32_t)INTR_TYPE_EXTERNAL << INTR_INFO_TYPE_SHIFT) | SMP_IPI_VECTOR;
    uint32_t got = 0;
    uint64_t t0 = rdtsc();
    ipi.ready[c->index] = 1;
    while (got < IPI_ROUNDS) {
        if (smp_timed_out(t0, JOB_TIMEOUT_MS)) {
            cpu_fail(c, "in L2%s: %u of %u IPIs arrived", ipi.ack ? " (ack on exit)" : "", got, IPI_ROUNDS);
            return;
        }
        vcpu_run(v);
        if (v->entry_result != VMX_OK || (v->reason & EXIT_REASON_ENTRY_FAILURE)) {
            cpu_fail(c, "L2 with external-interrupt exiting: %s", DESCRIBE(v));
            return;
        }
        if (EXIT_BASIC(v) == EXIT_VMCALL) { /* the spin ran out: again */
            v->regs.rcx = SPIN_COUNT;
            restart_at(v, l2_spin);
            continue;
        }
        if (EXIT_BASIC(v) != EXIT_EXTERNAL_INTERRUPT) {
            cpu_fail(c, "L2 spinning: %s, want an external-interrupt exit", DESCRIBE(v));
            return;
        }
        uint32_t info = (uint32_t)vmread_or0(VMCS_EXIT_INTR_INFO);
        if (ipi.ack) {
            if (info != want_info) {
                cpu_fail(c, "IPI exit with interruption info %#x, want %#x", info, want_info);
                return;
            }
            lapic_eoi(); /* acknowledged on exit: in service now */
        } else {
            if (info & INTR_INFO_VALID) {
                cpu_fail(c, "IPI exit without ack on exit has valid interruption info %#x", info);
                return;
            }
            uint64_t before = c->ipi_count;
            if (!wait_count_sti(&c->ipi_count, before + 1, JOB_TIMEOUT_MS) || c->ipi_count != before + 1) {
                cpu_fail(c, "after the exit, STI let L1's IPI handler run %lu times, want 1",
                         c->ipi_count - before);
                return;
            }
        }
        __atomic_store_n(&ipi.progress[c->index], ++got, __ATOMIC_RELEASE);
    }
}

/* Phase D: IPIs to the BSP, one vector per AP, each after the last was taken. */
static void job_ipi_to_bsp(struct smp_cpu *c, void *arg)
{
    (void)arg;
    uint64_t base = smp.to_bsp[c->index];
    for (uint32_t k = 1; k <= IPI_ROUNDS; k++) {
        smp_send_ipi(smp.cpu[0].apic_id, ICR_FIXED | ICR_LEVEL_ASSERT | (SMP_TO_BSP_VECTOR + c->index));
        uint64_t t0 = rdtsc();
        while (__atomic_load_n(&smp.to_bsp[c->index], __ATOMIC_ACQUIRE) < base + k)
            if (smp_timed_out(t0, JOB_TIMEOUT_MS)) {
                cpu_fail(c, "the BSP took %lu of its %u IPIs", smp.to_bsp[c->index] - base, k);
                return;
            }
    }
}

static void job_ipi_setup(struct smp_cpu *c, void *arg)
{
    bool ack = arg != NULL;
    struct vcpu *v = &c->vc[0];
    if (!smp_vcpu_setup(c, v, l2_spin))
        return;
    v->regs.rcx = SPIN_COUNT;
    vmcs_set_bits(VMCS_PIN_CONTROLS, PIN_EXTINT_EXITING);
    if (ack)
        vmcs_set_bits(VMCS_EXIT_CONTROLS, EXIT_ACK_INTR_ON_EXIT);
    else
        vmcs_clear_bits(VMCS_EXIT_CONTROLS, EXIT_ACK_INTR_ON_EXIT);
    /* IF = 1: Bochs 2.7 misses external-interrupt exits while L2 has IF = 0
     * (README, "Bochs 2.7 vs the SDM"). */
    vmw(VMCS_GUEST_RFLAGS, RFLAGS_RESERVED_1 | RFLAGS_IF);
}

/* The BSP sends IPI_ROUNDS IPIs to every AP, each after the AP took the
 * last one (two IPIs of one vector pending at once would be one). */
static void ipi_phase(const char *name, smp_job_fn job)
{
    memset((void *)&ipi.progress, 0, sizeof ipi.progress);
    memset((void *)&ipi.ready, 0, sizeof ipi.ready);
    for (unsigned i = 1; i < smp.n; i++)
        smp_post(&smp.cpu[i], job, NULL);
    for (unsigned i = 1; i < smp.n; i++)
        if (!wait_u32(&ipi.ready[i], 1, JOB_TIMEOUT_MS))
            expect(false, "%s: cpu%u never got ready", name, i);
    for (uint32_t k = 1; k <= IPI_ROUNDS && !case_failed(); k++)
        for (unsigned i = 1; i < smp.n; i++) {
            smp_send_ipi(smp.cpu[i].apic_id, ICR_FIXED | ICR_LEVEL_ASSERT | SMP_IPI_VECTOR);
            if (!wait_u32(&ipi.progress[i], k, JOB_TIMEOUT_MS)) {
                expect(false, "%s: cpu%u took %u of %u IPIs", name, i, ipi.progress[i], k);
                break;
            }
        }
    for (unsigned i = 1; i < smp.n; i++)
        smp_wait(&smp.cpu[i], JOB_TIMEOUT_MS);
    smp_collect();
}

void case_smp_ipi(void)
{
    if (!smp_ready())
        return;
    if (!cap_pin(PIN_EXTINT_EXITING)) {
        case_skip("external-interrupt exiting not offered");
        return;
    }
    uint64_t spurious0 = spurious_interrupts;
    irq_set_handler(SMP_IPI_VECTOR, ipi_handler);
    for (unsigned i = 0; i < SMP_MAX_CPUS; i++)
        irq_set_handler(SMP_TO_BSP_VECTOR + (int)i, to_bsp_handler);
    uint64_t l1_before[SMP_MAX_CPUS], to_bsp0[SMP_MAX_CPUS];
    for (unsigned i = 0; i < smp.n; i++) {
        l1_before[i] = smp.cpu[i].ipi_count;
        to_bsp0[i] = smp.to_bsp[i];
    }

    ipi_phase("in L1", job_ipi_l1);
    ipi.ack = false;
    for (unsigned i = 1; i < smp.n && !case_failed(); i++)
        smp_run(&smp.cpu[i], job_ipi_setup, NULL, SETUP_TIMEOUT_MS);
    if (!case_failed())
        ipi_phase("in L2", job_ipi_l2);
    bool ack = cap_exit(EXIT_ACK_INTR_ON_EXIT);
    if (ack && !case_failed()) {
        ipi.ack = true;
        for (unsigned i = 1; i < smp.n; i++)
            smp_run(&smp.cpu[i], job_ipi_setup, (void *)1, SETUP_TIMEOUT_MS);
        ipi_phase("in L2, ack on exit", job_ipi_l2);
    }
    if (!case_failed()) {
        for (unsigned i = 1; i < smp.n; i++)
            smp_post(&smp.cpu[i], job_ipi_to_bsp, NULL);
        uint64_t t0 = rdtsc();
        sti();
        for (unsigned i = 1; i < smp.n; i++)
            while (smp.to_bsp[i] < to_bsp0[i] + IPI_ROUNDS && !smp_timed_out(t0, JOB_TIMEOUT_MS))
                pause();
        cli();
        for (unsigned i = 1; i < smp.n; i++)
            smp_wait(&smp.cpu[i], JOB_TIMEOUT_MS);
        smp_collect();
    }
    /* Exact counts: every IPI once, none twice, none lost, no stray ones. */
    for (unsigned i = 1; i < smp.n; i++) {
        uint64_t l1 = smp.cpu[i].ipi_count - l1_before[i];
        EXPECT(l1 == 2 * IPI_ROUNDS, "cpu%u's IPI handler ran %lu times, want %u (in L1 and after L2 exits)",
               i, l1, 2 * IPI_ROUNDS);
        EXPECT(smp.to_bsp[i] - to_bsp0[i] == IPI_ROUNDS, "the BSP took %lu IPIs from cpu%u, want %u",
               smp.to_bsp[i] - to_bsp0[i], i, IPI_ROUNDS);
    }
    EXPECT(spurious_interrupts == spurious0, "%lu interrupts without a handler",
           spurious_interrupts - spurious0);
    printf("l1hv: smp_ipi: %u IPIs to each of %u APs in L1, %u in L2 (exit 1)%s, %u from each AP to the BSP\n",
           IPI_ROUNDS, smp.n - 1, IPI_ROUNDS, ack ? " twice (without and with ack on exit)" : "",
           IPI_ROUNDS);
    irq_set_handler(SMP_IPI_VECTOR, NULL);
    for (unsigned i = 0; i < SMP_MAX_CPUS; i++)
        irq_set_handler(SMP_TO_BSP_VECTOR + (int)i, NULL);
    smp_clear_all();
}

/* ================= smp_migrate ================= */
#define MIGRATE_ROUNDS 200
#define MIGRATE_ID     0x3a6e
static uint8_t migrate_vmcs[PAGE_SIZE] __attribute__((aligned(PAGE_SIZE)));
static uint8_t migrate_stack[PAGE_SIZE] __attribute__((aligned(PAGE_SIZE)));
static struct vcpu migrate_v;
static volatile uint64_t migrate_mem; /* L2's counter in memory */

struct migrate_ctx {
    uint64_t count; /* L2's count so far */
    unsigned round;
};

/* One CPUID exit of smp_l2_count: the state must have gone on exactly. */
static bool migrate_check(struct smp_cpu *c, struct migrate_ctx *m, const char *what)
{
    struct vcpu *v = &migrate_v;
    if (!cpu_run_expect(c, v, EXIT_CPUID, what))
        return false;
    m->count++;
    uint64_t rip = vmread_or0(VMCS_GUEST_RIP), rsp = vmread_or0(VMCS_GUEST_RSP);
    if (v->regs.r15 != m->count || migrate_mem != m->count || v->regs.r13 != MIGRATE_ID ||
        rip != (uintptr_t)smp_l2_count_cpuid || rsp != (uintptr_t)v->stack_top) {
        cpu_fail(c, "round %u, %s: L2 has count %lu (memory %lu) id %#lx RIP %#lx RSP %#lx, want %lu %#x %p %p",
                 m->round, what, v->regs.r15, migrate_mem, v->regs.r13, rip, rsp, m->count, MIGRATE_ID,
                 (void *)smp_l2_count_cpuid, (void *)v->stack_top);
        return false;
    }
    v->regs.rax = m->count; /* L2 checks the answer */
    skip_instruction();
    return true;
}

/* On the CPU the vCPU moved to: VMPTRLD (VMPTRST follows), the per-CPU
 * host state, VMRESUME must fail with error 5 (the VMCLEAR on the last CPU
 * made the launch state clear, SDM 25.11.3), VMLAUNCH, VMRESUME, then
 * VMCLEAR (VMPTRST = ~0) so that the next CPU can take it. */
static void job_migrate_step(struct smp_cpu *c, void *arg)
{
    struct migrate_ctx *m = arg;
    struct vcpu *v = &migrate_v;
    uint64_t cur = 0;
    vmptrst(&cur);
    if (cur != VMCS_LINK_POINTER_NONE) {
        cpu_fail(c, "round %u: VMPTRST %#lx before VMPTRLD, want no current VMCS", m->round, cur);
        return;
    }
    int r = vmptrld(vmcs_pa(v));
    vmptrst(&cur);
    if (r != VMX_OK || cur != vmcs_pa(v)) {
        cpu_fail(c, "round %u: VMPTRLD %s, then VMPTRST %#lx", m->round, vmx_result_name(r), cur);
        return;
    }
    smp_host_fixup(c);
    r = vmx_enter(&v->regs, 1);
    uint32_t err = r == VMX_FAIL_VALID ? vmx_instruction_error() : 0;
    if (r != VMX_FAIL_VALID || err != VMXERR_VMRESUME_NOT_LAUNCHED) {
        cpu_fail(c, "round %u: VMRESUME right after VMPTRLD: %s (error %u), want VMfailValid(5)", m->round,
                 vmx_result_name(r), err);
        return;
    }
    v->launched = false;
    if (!migrate_check(c, m, "VMLAUNCH") || !migrate_check(c, m, "VMRESUME"))
        return;
    r = vmclear(vmcs_pa(v));
    v->launched = false;
    vmptrst(&cur);
    if (r != VMX_OK || cur != VMCS_LINK_POINTER_NONE)
        cpu_fail(c, "round %u: VMCLEAR %s, then VMPTRST %#lx", m->round, vmx_result_name(r), cur);
}

void case_smp_migrate(void)
{
    if (!smp_ready())
        return;
    smp_clear_all();
    unsigned rounds = (unsigned)cmdline_u64("migrate_rounds", MIGRATE_ROUNDS);
    struct vcpu *v = &migrate_v;
    v->vmcs = migrate_vmcs;
    v->stack_top = migrate_stack + sizeof migrate_stack;
    v->name = "migrating";
    TRY(vcpu_setup(v, smp_l2_count));
    v->regs.r13 = MIGRATE_ID;
    v->regs.rbx = (uintptr_t)&migrate_mem;
    TRY(expect_vmok(vmclear(vmcs_pa(v)), "VMCLEAR before the first move"));
    struct migrate_ctx m = {0, 0};
    unsigned moves[SMP_MAX_CPUS] = {0};
    for (m.round = 0; m.round < rounds; m.round++) {
        struct smp_cpu *c = &smp.cpu[m.round % smp.n];
        smp_run(c, job_migrate_step, &m, JOB_TIMEOUT_MS);
        smp_collect();
        if (case_failed())
            break;
        moves[c->index]++;
    }
    EXPECT(case_failed() || m.count == 2ULL * rounds, "L2 counted to %lu, want %u", m.count, 2 * rounds);
    printf("l1hv: smp_migrate: %u moves over %u CPUs (VMCLEAR there, VMPTRLD + VMLAUNCH + VMRESUME here); "
           "L2 counted to %lu\n", m.round, smp.n, m.count);
    smp_clear_all();
}

/* ================= smp_ept_shared ================= */
#define SHARED_PAGES     64
#define SHARED_WINDOW    0x40000000ULL /* 1 GiB: no L1 RAM there */
#define SHARED_PATTERN   0x5a5a000000000000ULL
#define PATTERN_OFFSET   0x800         /* smp_l2.asm */
#define CPU_VALUE_SHIFT  32
#define QWORD            8

static struct {
    struct ept e;
    struct smp_lock lock;
    uint64_t region;
    unsigned pages;
    volatile uint32_t fills[SHARED_PAGES];
    volatile uint32_t faults[SMP_MAX_CPUS], late[SMP_MAX_CPUS];
} shared;

static void shared_regs(struct smp_cpu *c, struct vcpu *v)
{
    v->regs.rbx = SHARED_WINDOW;
    v->regs.rcx = shared.pages;
    v->regs.rsi = (uint64_t)c->index * QWORD;
    v->regs.rdi = (uint64_t)c->index << CPU_VALUE_SHIFT;
    v->regs.r9 = SHARED_PATTERN;
}

static void job_shared_setup(struct smp_cpu *c, void *arg)
{
    (void)arg;
    struct vcpu *v = &c->vc[0];
    if (!ept_vcpu_setup(v, smp_l2_touch, &shared.e))
        return;
    smp_host_fixup(c);
    v->regs.host_rsp = 0;
    shared_regs(c, v);
}

/* An EPT violation in the window: map the page (unless another CPU just
 * did) under the lock, resume without INVEPT (a not-present entry is never
 * cached, SDM 29.4.3.1; a stale violation is possible and harmless). */
static bool shared_fault(struct smp_cpu *c, struct vcpu *v)
{
    uint64_t gpa = vmread_or0(VMCS_GUEST_PHYSICAL_ADDR), q = vmread_or0(VMCS_EXIT_QUALIFICATION);
    uint64_t page = v->regs.r10, want_gpa = SHARED_WINDOW + page * PAGE_SIZE + PATTERN_OFFSET;
    uint64_t want_q = ept_violation_qual(QUAL_EPT_READ, 0);
    if (page >= shared.pages || gpa != want_gpa || q != want_q) {
        cpu_fail(c, "EPT violation at %#lx qual %#lx on page %lu: want %#lx qual %#lx", gpa, q, page, want_gpa,
                 want_q);
        return false;
    }
    smp_lock(&shared.lock);
    int level;
    uint64_t *leaf = ept_walk(&shared.e, gpa, &level);
    if (level == EPT_LEVEL_PT && !(*leaf & EPT_RWX)) {
        *leaf = (shared.region + page * PAGE_SIZE) | EPT_RWX | (EPT_MEMTYPE_WB << EPT_MEMTYPE_SHIFT);
        shared.fills[page]++;
    } else {
        shared.late[c->index]++;
    }
    smp_unlock(&shared.lock);
    shared.faults[c->index]++;
    return level == EPT_LEVEL_PT;
}

/* Runs L2 to its VMCALL, filling EPT12 on its violations. */
static void shared_run(struct smp_cpu *c, const char *what)
{
    struct vcpu *v = &c->vc[0];
    for (unsigned n = 0;; n++) {
        vcpu_run(v);
        if (v->entry_result != VMX_OK || (v->reason & EXIT_REASON_ENTRY_FAILURE)) {
            cpu_fail(c, "%s: %s", what, DESCRIBE(v));
            return;
        }
        if (EXIT_BASIC(v) == EXIT_VMCALL)
            break;
        if (EXIT_BASIC(v) != EXIT_EPT_VIOLATION || n > 2 * shared.pages) {
            cpu_fail(c, "%s: %s (after %u exits)", what, DESCRIBE(v), n);
            return;
        }
        if (!shared_fault(c, v))
            return;
    }
    if (v->regs.r8)
        cpu_fail(c, "%s: L2 found %lu wrong qwords through the shared EPT12", what, v->regs.r8);
}

static void job_shared_touch(struct smp_cpu *c, void *arg)
{
    (void)arg;
    wait_go(c);
    shared_run(c, "pass 1 (read the pattern, write its slot)");
}

static void job_shared_check(struct smp_cpu *c, void *arg)
{
    (void)arg;
    struct vcpu *v = &c->vc[0];
    restart_at(v, smp_l2_check);
    v->regs.rbx = SHARED_WINDOW;
    v->regs.rcx = shared.pages;
    v->regs.rdx = smp.n;
    shared_run(c, "pass 2 (every CPU's slot)");
}

void case_smp_ept_shared(void)
{
    if (!smp_ready() || !ept_offered())
        return;
    shared.pages = SHARED_PAGES;
    if (!find_free_ram((uint64_t)shared.pages * PAGE_SIZE, PAGE_SIZE, &shared.region)) {
        case_skip("no free RAM for the shared pages");
        return;
    }
    for (unsigned i = 0; i < shared.pages; i++) {
        uint64_t *p = (uint64_t *)(uintptr_t)(shared.region + (uint64_t)i * PAGE_SIZE);
        memset(p, 0, PAGE_SIZE);
        p[PATTERN_OFFSET / QWORD] = SHARED_PATTERN ^ i;
        shared.fills[i] = 0;
    }
    memset((void *)shared.faults, 0, sizeof shared.faults);
    memset((void *)shared.late, 0, sizeof shared.late);
    ept_pool_reset();
    TRY(expect(ept_init(&shared.e, 0) && ept_identity(&shared.e), "EPT12 table pool exhausted"));
    for (unsigned i = 0; i < shared.pages; i++) {
        uint64_t *leaf = ept_entry(&shared.e, SHARED_WINDOW + (uint64_t)i * PAGE_SIZE, EPT_LEVEL_PT);
        TRY(expect(leaf != NULL, "EPT12 table pool exhausted"));
        *leaf = 0; /* not present: the first access faults */
    }
    for (unsigned i = 0; i < smp.n; i++)
        TRY(smp_run(&smp.cpu[i], job_shared_setup, NULL, SETUP_TIMEOUT_MS));
    TRY(!case_failed());
    barrier_reset();
    for (unsigned i = 1; i < smp.n; i++)
        smp_post(&smp.cpu[i], job_shared_touch, NULL);
    /* The BSP runs its share too, released with the others. */
    if (release_when_ready(smp.n - 1))
        shared_run(&smp.cpu[0], "pass 1 (read the pattern, write its slot)");
    for (unsigned i = 1; i < smp.n; i++)
        smp_wait(&smp.cpu[i], JOB_TIMEOUT_MS);
    smp_collect();
    TRY(!case_failed());
    smp_run_all(job_shared_check, NULL, true, JOB_TIMEOUT_MS);
    smp_collect();

    unsigned faults = 0, late = 0, bad_fills = 0;
    for (unsigned i = 0; i < smp.n; i++) {
        faults += shared.faults[i];
        late += shared.late[i];
    }
    for (unsigned i = 0; i < shared.pages; i++) {
        bad_fills += shared.fills[i] != 1;
        const uint64_t *p = (const uint64_t *)(uintptr_t)(shared.region + (uint64_t)i * PAGE_SIZE);
        EXPECT(p[PATTERN_OFFSET / QWORD] == (SHARED_PATTERN ^ i), "page %u: pattern %#lx in L1's page", i,
               p[PATTERN_OFFSET / QWORD]);
        for (unsigned k = 0; k < smp.n; k++)
            EXPECT(p[k] == (((uint64_t)k << CPU_VALUE_SHIFT) | i), "page %u: cpu%u's slot in L1's page is %#lx",
                   i, k, p[k]);
    }
    EXPECT(bad_fills == 0, "%u pages were not filled exactly once", bad_fills);
    EXPECT(faults >= shared.pages, "%u EPT violations for %u pages", faults, shared.pages);
    printf("l1hv: smp_ept_shared: %u CPUs, %u pages: %u EPT violations reflected, %u of them on a page another "
           "CPU had just mapped\n", smp.n, shared.pages, faults, late);
    smp_clear_all();
}

/* ================= smp_invept ================= */
#define FLUSH_ROUNDS     8
#define VPID_ROUNDS      6
#define INV_WINDOW       0x40000000ULL /* L2 guest-physical page remapped */
#define READ_MAGIC       0xf1a5000000000000ULL
#define VPID_MAGIC       0xf1a6000000000000ULL
#define MIN_READS_AFTER  4
#define MIN_WRITES       16
#define PREEMPT_PERIOD   100000u /* TSC ticks between preemption-timer exits */
#define VPID_LINEAR      0xc0000000ULL /* L2 linear 3 GiB: L1 remaps its PDE */
#define VPID_PDPT_INDEX  3
#define VPID_FRAMES      2
#define INV_FRAMES       (FLUSH_ROUNDS + 2) /* frame 0, one per remap, the write-protect frame */
#define PTE_ADDR_MASK    0x000ffffffffff000ULL
#define PTE_LARGE_RW     0x83ULL /* P, W, PS */
#define PTE_AD           0x60ULL /* preset: L2 never writes its tables */

struct reader_report { /* smp_l2.asm R_* */
    volatile uint64_t last, iter, expect, stale; /* expect 0: not armed */
} __attribute__((aligned(64)));

enum flush_kind { FLUSH_INVEPT, FLUSH_INVVPID };
enum reader_mode { MODE_READ, MODE_WRITE };

static struct {
    struct ept e;
    uint64_t region;  /* VPID_FRAMES 2 MiB frames, then the 4 KiB frames */
    uint64_t *leaf;   /* EPT12 leaf of INV_WINDOW */
    struct reader_report rep[SMP_MAX_CPUS];
    volatile uint32_t req[SMP_MAX_CPUS], done[SMP_MAX_CPUS], ready[SMP_MAX_CPUS], stop;
    volatile uint64_t iter_at_ack[SMP_MAX_CPUS], r15_at_ack[SMP_MAX_CPUS];
    enum flush_kind kind;
    uint64_t inv_type;
    enum reader_mode mode;
    bool vpid, ack_on_exit, preempt;
    /* the write phase */
    uint32_t wp_round;
    volatile bool faulted[SMP_MAX_CPUS], fault_after_ack[SMP_MAX_CPUS];
    volatile uint64_t fault_r15[SMP_MAX_CPUS], fault_q[SMP_MAX_CPUS], fault_rip[SMP_MAX_CPUS],
        fault_gpa[SMP_MAX_CPUS];
} inv;

static uint64_t frame(unsigned k)
{
    return inv.region + VPID_FRAMES * PAGE_2M + (uint64_t)k * PAGE_SIZE;
}

static uint64_t vpid_frame(unsigned k)
{
    return inv.region + (uint64_t)k * PAGE_2M;
}

static void flush_handler(struct trap_frame *f)
{
    (void)f;
    struct smp_cpu *c = smp_self();
    if (c)
        __atomic_add_fetch(&c->flush_irqs, 1, __ATOMIC_RELEASE);
    lapic_eoi();
}

static uint16_t reader_vpid(const struct smp_cpu *c)
{
    return (uint16_t)(1 + c->index);
}

static void job_inv_setup(struct smp_cpu *c, void *arg)
{
    (void)arg;
    struct vcpu *v = &c->vc[0];
    if (!ept_vcpu_setup(v, smp_l2_reader, &inv.e))
        return;
    smp_host_fixup(c);
    v->regs.host_rsp = 0;
    vmcs_set_bits(VMCS_PIN_CONTROLS, PIN_EXTINT_EXITING);
    if (inv.ack_on_exit)
        vmcs_set_bits(VMCS_EXIT_CONTROLS, EXIT_ACK_INTR_ON_EXIT);
    if (inv.preempt) { /* exits now and then, so that a lost kick cannot hang the case */
        vmcs_set_bits(VMCS_PIN_CONTROLS, PIN_PREEMPTION_TIMER);
        vmw(VMCS_PREEMPTION_TIMER, PREEMPT_PERIOD >> VMX_MISC_PREEMPT_RATE(caps.misc));
    }
    if (inv.vpid) {
        vmcs_enable_proc2(PROC2_VPID);
        vmw(VMCS_VPID, reader_vpid(c));
    }
    vmw(VMCS_GUEST_RFLAGS, RFLAGS_RESERVED_1 | RFLAGS_IF);
}

/* What a CPU does at every exit when a flush was requested (KVM's
 * KVM_REQ_TLB_FLUSH): INVEPT or INVVPID of the requested type, then the
 * acknowledgement, with where its L2 was. */
static void reader_flush(struct smp_cpu *c, struct vcpu *v)
{
    unsigned i = c->index;
    uint32_t req = __atomic_load_n(&inv.req[i], __ATOMIC_ACQUIRE);
    if (req == inv.done[i])
        return;
    int r;
    if (inv.kind == FLUSH_INVEPT) {
        struct inv_desc d = {inv.e.eptp, 0};
        r = invept(inv.inv_type, &d);
    } else {
        struct inv_desc d = {reader_vpid(c), VPID_LINEAR};
        r = invvpid(inv.inv_type, &d);
    }
    if (r != VMX_OK)
        cpu_fail(c, "%s type %lu: %s", inv.kind == FLUSH_INVEPT ? "INVEPT" : "INVVPID", inv.inv_type,
                 vmx_result_name(r));
    inv.iter_at_ack[i] = inv.rep[i].iter;
    inv.r15_at_ack[i] = v->regs.r15;
    __atomic_store_n(&inv.done[i], req, __ATOMIC_RELEASE);
}

/* Handles one exit of a reader or writer; false when its L2 must stop. */
static bool reader_exit(struct smp_cpu *c, struct vcpu *v)
{
    unsigned i = c->index;
    if (v->entry_result != VMX_OK || (v->reason & EXIT_REASON_ENTRY_FAILURE)) {
        cpu_fail(c, "L2: %s", DESCRIBE(v));
        return false;
    }
    switch (EXIT_BASIC(v)) {
    case EXIT_EXTERNAL_INTERRUPT:
        if (inv.ack_on_exit) {
            uint32_t info = (uint32_t)vmread_or0(VMCS_EXIT_INTR_INFO);
            if ((info & ICR_VECTOR_MASK) != SMP_FLUSH_VECTOR)
                cpu_fail(c, "external-interrupt exit for vector %#x, want %#x", info & ICR_VECTOR_MASK,
                         SMP_FLUSH_VECTOR);
            lapic_eoi();
        } else {
            uint64_t t0 = rdtsc(), before = c->flush_irqs;
            sti();
            while (c->flush_irqs == before && !smp_timed_out(t0, JOB_TIMEOUT_MS))
                pause();
            cli();
        }
        return true;
    case EXIT_PREEMPTION_TIMER:
        return true;
    case EXIT_EPT_VIOLATION:
        if (inv.mode == MODE_WRITE) {
            inv.fault_r15[i] = v->regs.r15;
            inv.fault_q[i] = vmread_or0(VMCS_EXIT_QUALIFICATION);
            inv.fault_rip[i] = vmread_or0(VMCS_GUEST_RIP);
            inv.fault_gpa[i] = vmread_or0(VMCS_GUEST_PHYSICAL_ADDR);
            inv.fault_after_ack[i] = inv.done[i] >= inv.wp_round;
            __atomic_store_n(&inv.faulted[i], true, __ATOMIC_RELEASE);
            return false;
        }
        /* fall through */
    default:
        cpu_fail(c, "L2 %s: unexpected %s", inv.mode == MODE_READ ? "reading" : "writing", DESCRIBE(v));
        return false;
    }
}

/* Runs its L2 until told to stop, serving flush requests at every exit;
 * after a write fault it stays in L1 and still serves them. */
static void job_reader(struct smp_cpu *c, void *arg)
{
    (void)arg;
    unsigned i = c->index;
    struct vcpu *v = &c->vc[0];
    uint64_t t0 = rdtsc();
    inv.ready[i] = 1;
    bool in_l2 = true;
    while (!__atomic_load_n(&inv.stop, __ATOMIC_ACQUIRE)) {
        if (smp_timed_out(t0, 2 * JOB_TIMEOUT_MS)) {
            cpu_fail(c, "never told to stop");
            return;
        }
        if (in_l2) {
            vcpu_run(v);
            in_l2 = reader_exit(c, v);
        } else {
            pause();
        }
        reader_flush(c, v);
    }
}

/* Sets every AP's L2 registers (reading or writing at addr) and starts
 * the jobs. */
static void readers_start(enum reader_mode mode, enum flush_kind kind, uint64_t addr)
{
    inv.mode = mode;
    inv.kind = kind;
    inv.stop = 0;
    for (unsigned i = 1; i < smp.n; i++) {
        struct reader_report *rp = &inv.rep[i];
        memset((void *)rp, 0, sizeof *rp);
        inv.ready[i] = 0;
        inv.faulted[i] = false;
        struct vcpu *v = &smp.cpu[i].vc[0];
        v->regs.rbx = addr + (mode == MODE_WRITE ? (uint64_t)i * QWORD : 0);
        v->regs.rdi = (uintptr_t)rp;
        v->regs.r15 = 0;
    }
    for (unsigned i = 1; i < smp.n; i++)
        smp_post(&smp.cpu[i], job_reader, NULL);
    for (unsigned i = 1; i < smp.n; i++)
        if (!wait_u32(&inv.ready[i], 1, JOB_TIMEOUT_MS))
            expect(false, "cpu%u's reader never started", i);
}

static void job_restart(struct smp_cpu *c, void *arg)
{
    restart_at(&c->vc[0], (void (*)(void))arg);
}

/* The remote flush: a request per CPU and a kick (IPI), then every
 * acknowledgement (KVM's kvm_flush_remote_tlbs). */
static bool remote_flush(uint32_t round)
{
    for (unsigned i = 1; i < smp.n; i++) {
        __atomic_store_n(&inv.req[i], round, __ATOMIC_RELEASE);
        smp_send_ipi(smp.cpu[i].apic_id, ICR_FIXED | ICR_LEVEL_ASSERT | SMP_FLUSH_VECTOR);
    }
    for (unsigned i = 1; i < smp.n; i++)
        if (!wait_u32(&inv.done[i], round, JOB_TIMEOUT_MS))
            return expect(false, "cpu%u never acknowledged flush %u", i, round);
    return true;
}

static bool wait_iter(unsigned i, uint64_t want)
{
    uint64_t t0 = rdtsc();
    while (inv.rep[i].iter < want)
        if (smp_timed_out(t0, JOB_TIMEOUT_MS))
            return expect(false, "cpu%u's L2 stopped at iteration %lu (want %lu)", i, inv.rep[i].iter, want);
    return true;
}

static void readers_stop(void)
{
    __atomic_store_n(&inv.stop, 1, __ATOMIC_RELEASE);
    for (unsigned i = 1; i < smp.n; i++)
        smp_send_ipi(smp.cpu[i].apic_id, ICR_FIXED | ICR_LEVEL_ASSERT | SMP_FLUSH_VECTOR);
    for (unsigned i = 1; i < smp.n; i++)
        smp_wait(&smp.cpu[i], 3 * JOB_TIMEOUT_MS);
    smp_collect();
}

/* INVEPT: single-context in odd rounds, all-context in even ones (when
 * offered). INVVPID: individual-address, single-context, all-context in
 * turn (those offered). */
static uint64_t invept_type(uint32_t round)
{
    bool single = caps.ept_vpid & EPT_CAP_INVEPT_SINGLE, all = caps.ept_vpid & EPT_CAP_INVEPT_ALL;
    return ((round & 1) && single) || !all ? INVEPT_SINGLE_CONTEXT : INVEPT_ALL_CONTEXT;
}

static uint64_t invvpid_type(uint32_t round)
{
    static const struct {
        uint64_t type, cap;
    } order[] = {{INVVPID_ADDRESS, VPID_CAP_INVVPID_ADDR},
                 {INVVPID_SINGLE_CONTEXT, VPID_CAP_INVVPID_SINGLE},
                 {INVVPID_ALL_CONTEXT, VPID_CAP_INVVPID_ALL}};
    for (unsigned k = 0; k < ARRAY_SIZE(order); k++) {
        unsigned j = (round + k) % ARRAY_SIZE(order);
        if (caps.ept_vpid & order[j].cap)
            return order[j].type;
    }
    return INVVPID_ALL_CONTEXT;
}

/* Remaps and checks what every reader sees after the remote flush. */
static void check_reads(unsigned k, uint64_t want, const char *what)
{
    for (unsigned i = 1; i < smp.n; i++)
        inv.rep[i].expect = want;
    for (unsigned i = 1; i < smp.n; i++) {
        if (!wait_iter(i, inv.iter_at_ack[i] + MIN_READS_AFTER))
            return;
        EXPECT(inv.rep[i].last == want && inv.rep[i].stale == 0,
               "%s %u (type %lu): cpu%u's L2 reads %#lx after the flush (want %#lx), %lu stale reads", what, k,
               inv.inv_type, i, inv.rep[i].last, want, inv.rep[i].stale);
    }
}

/* Phase 1: EPT12 remaps of the page the readers read, remote INVEPT. */
static void inv_remap_rounds(uint32_t *round)
{
    readers_start(MODE_READ, FLUSH_INVEPT, INV_WINDOW);
    for (unsigned i = 1; i < smp.n && !case_failed(); i++)
        wait_iter(i, MIN_READS_AFTER);
    for (unsigned k = 1; k <= FLUSH_ROUNDS && !case_failed(); k++) {
        ++*round;
        for (unsigned i = 1; i < smp.n; i++)
            inv.rep[i].expect = 0;
        *inv.leaf = frame(k) | EPT_RWX | (EPT_MEMTYPE_WB << EPT_MEMTYPE_SHIFT);
        inv.inv_type = invept_type(*round);
        ept_invalidate(inv.e.eptp); /* this CPU as well */
        if (remote_flush(*round))
            check_reads(k, READ_MAGIC + k, "EPT12 remap");
    }
    readers_stop();
}

/* Phase 2: write permission taken away while the writers write. */
static void inv_write_protect(uint32_t *round)
{
    uint64_t wframe = frame(FLUSH_ROUNDS + 1);
    memset((void *)(uintptr_t)wframe, 0, PAGE_SIZE);
    *inv.leaf = wframe | EPT_RWX | (EPT_MEMTYPE_WB << EPT_MEMTYPE_SHIFT);
    ept_invalidate(inv.e.eptp);
    for (unsigned i = 1; i < smp.n; i++)
        smp_run(&smp.cpu[i], job_restart, (void *)smp_l2_writer, SETUP_TIMEOUT_MS);
    inv.wp_round = ~0u;
    readers_start(MODE_WRITE, FLUSH_INVEPT, INV_WINDOW);
    /* First a flush with the page writable (the frame changed). */
    ++*round;
    inv.inv_type = invept_type(*round);
    if (!remote_flush(*round)) {
        readers_stop();
        return;
    }
    for (unsigned i = 1; i < smp.n; i++)
        if (!wait_iter(i, inv.r15_at_ack[i] + MIN_WRITES))
            break;
    ++*round;
    inv.wp_round = *round;
    inv.inv_type = invept_type(*round);
    *inv.leaf = wframe | EPT_READ | (EPT_MEMTYPE_WB << EPT_MEMTYPE_SHIFT);
    ept_invalidate(inv.e.eptp);
    remote_flush(*round);
    for (unsigned i = 1; i < smp.n; i++) {
        uint64_t t0 = rdtsc();
        while (!inv.faulted[i] && !smp_timed_out(t0, JOB_TIMEOUT_MS))
            pause();
    }
    readers_stop();
    uint64_t want_q = ept_violation_qual(QUAL_EPT_WRITE, EPT_READ);
    for (unsigned i = 1; i < smp.n; i++) {
        uint64_t want_gpa = INV_WINDOW + (uint64_t)i * QWORD;
        if (!EXPECT(inv.faulted[i], "cpu%u's L2 kept writing after W was taken away and INVEPT (%lu writes)", i,
                    inv.rep[i].iter))
            continue;
        uint64_t slot = *(volatile uint64_t *)(uintptr_t)(wframe + (uint64_t)i * QWORD);
        EXPECT(inv.fault_q[i] == want_q && inv.fault_rip[i] == (uintptr_t)smp_l2_writer_store &&
                   inv.fault_gpa[i] == want_gpa,
               "cpu%u: write fault qual %#lx RIP %#lx gpa %#lx, want %#lx %p %#lx", i, inv.fault_q[i],
               inv.fault_rip[i], inv.fault_gpa[i], want_q, (void *)smp_l2_writer_store, want_gpa);
        EXPECT(slot == inv.fault_r15[i] - 1, "cpu%u: the page holds write %lu, the faulting one is %lu", i, slot,
               inv.fault_r15[i]);
        EXPECT(!inv.fault_after_ack[i] || inv.fault_r15[i] - inv.r15_at_ack[i] <= 1,
               "cpu%u: %lu writes went through after its INVEPT (from write %lu to the fault at %lu)", i,
               inv.fault_r15[i] - inv.r15_at_ack[i] - 1, inv.r15_at_ack[i], inv.fault_r15[i]);
    }
}

/* Phase 3: L1 changes a PDE of L2's own page tables under the readers and
 * flushes with INVVPID on every CPU. */
static void inv_vpid_rounds(uint32_t *round)
{
    uint64_t *pml4 = (uint64_t *)(uintptr_t)l2_cr3;
    uint64_t *pdpt = (uint64_t *)(uintptr_t)(pml4[0] & PTE_ADDR_MASK);
    uint64_t *pd = (uint64_t *)(uintptr_t)(pdpt[VPID_PDPT_INDEX] & PTE_ADDR_MASK);
    uint64_t saved = pd[0];
    for (unsigned k = 0; k < VPID_FRAMES; k++)
        *(volatile uint64_t *)(uintptr_t)vpid_frame(k) = VPID_MAGIC + k;
    pd[0] = vpid_frame(0) | PTE_LARGE_RW | PTE_AD;
    for (unsigned i = 1; i < smp.n; i++)
        smp_run(&smp.cpu[i], job_restart, (void *)smp_l2_reader, SETUP_TIMEOUT_MS);
    readers_start(MODE_READ, FLUSH_INVVPID, VPID_LINEAR);
    for (unsigned i = 1; i < smp.n && !case_failed(); i++)
        wait_iter(i, MIN_READS_AFTER);
    for (unsigned k = 1; k <= VPID_ROUNDS && !case_failed(); k++) {
        ++*round;
        unsigned f = k % VPID_FRAMES;
        for (unsigned i = 1; i < smp.n; i++)
            inv.rep[i].expect = 0;
        pd[0] = vpid_frame(f) | PTE_LARGE_RW | PTE_AD;
        inv.inv_type = invvpid_type(*round);
        if (remote_flush(*round))
            check_reads(k, VPID_MAGIC + f, "L2 PDE change");
    }
    readers_stop();
    pd[0] = saved;
}

void case_smp_invept(void)
{
    if (!smp_ready() || !ept_offered())
        return;
    if (!cap_pin(PIN_EXTINT_EXITING)) {
        case_skip("external-interrupt exiting not offered");
        return;
    }
    if (!find_free_ram(VPID_FRAMES * PAGE_2M + INV_FRAMES * PAGE_SIZE, PAGE_2M, &inv.region)) {
        case_skip("no free RAM for the frames");
        return;
    }
    for (unsigned k = 0; k <= FLUSH_ROUNDS; k++)
        *(volatile uint64_t *)(uintptr_t)frame(k) = READ_MAGIC + k;
    inv.ack_on_exit = cap_exit(EXIT_ACK_INTR_ON_EXIT);
    inv.preempt = cap_pin(PIN_PREEMPTION_TIMER);
    inv.vpid = cap_proc2(PROC2_VPID) && (caps.ept_vpid & VPID_CAP_INVVPID) &&
               (caps.ept_vpid & (VPID_CAP_INVVPID_SINGLE | VPID_CAP_INVVPID_ALL));
    ept_pool_reset();
    TRY(expect(ept_init(&inv.e, 0) && ept_identity(&inv.e), "EPT12 table pool exhausted"));
    inv.leaf = ept_map(&inv.e, INV_WINDOW, frame(0), PAGE_SIZE, EPT_RWX);
    TRY(expect(inv.leaf != NULL, "EPT12 table pool exhausted"));
    irq_set_handler(SMP_FLUSH_VECTOR, flush_handler);
    memset((void *)inv.req, 0, sizeof inv.req);
    memset((void *)inv.done, 0, sizeof inv.done);
    for (unsigned i = 1; i < smp.n; i++)
        TRY(smp_run(&smp.cpu[i], job_inv_setup, NULL, SETUP_TIMEOUT_MS));
    TRY(!case_failed());
    uint32_t round = 0;
    inv_remap_rounds(&round);
    if (!case_failed())
        inv_write_protect(&round);
    if (!case_failed() && inv.vpid)
        inv_vpid_rounds(&round);
    irq_set_handler(SMP_FLUSH_VECTOR, NULL);
    printf("l1hv: smp_invept: %u EPT12 remaps and a write-protect under %u running L2s, each flushed on every CPU "
           "(IPI, INVEPT single/all-context)%s\n", FLUSH_ROUNDS, smp.n - 1,
           inv.vpid ? "; L2 PDE changes flushed with INVVPID on every CPU" : "; no INVVPID (VPID not offered)");
    smp_clear_all();
}

/* ================= smp_wfs ================= */
#define WFS_VECTOR      0x42   /* any vector: no code runs at it */
#define WFS_SETTLE_US   20000  /* the AP is surely in L2's wait-for-SIPI state by then */
#define WFS_TRIES       3
#define WFS_WAIT_MS     200
#define WFS_STAGES      5      /* 1: a SIPI wakes it; 2: an INIT (blocked), then a SIPI; */
#define WFS_ACTIVE      3      /* 3: L2 entered active: the held INIT exits; */
#define WFS_AFTER       4      /* 4: and again: the INIT is gone, L2 runs to its VMCALL */
#define INTR_BLOCK_SMI  (1u << 2) /* guest interruptibility (25.4.2, table 25-3) */

static struct {
    volatile uint32_t stage;
    volatile uint32_t reason[WFS_STAGES];
    volatile uint64_t qual[WFS_STAGES], activity[WFS_STAGES], intr[WFS_STAGES];
    volatile bool done[WFS_STAGES];
    uint32_t last; /* the last stage run */
} wfs;

static void job_wfs_setup(struct smp_cpu *c, void *arg)
{
    (void)arg;
    smp_vcpu_setup(c, &c->vc[0], l2_vmcall);
}

/* Twice: L2 entered in the wait-for-SIPI activity state (SDM 26.6.2:
 * nothing runs until a SIPI, which is a VM exit, as an INIT is). */
static void job_wfs(struct smp_cpu *c, void *arg)
{
    (void)arg;
    struct vcpu *v = &c->vc[0];
    for (uint32_t s = 1; s <= wfs.last; s++) {
        bool active = s >= WFS_ACTIVE;
        vmwrite_r(VMCS_GUEST_ACTIVITY_STATE, active ? ACTIVITY_ACTIVE : ACTIVITY_WAIT_FOR_SIPI);
        vmwrite_r(VMCS_GUEST_INTERRUPTIBILITY, 0);
        if (active)
            restart_at(v, l2_vmcall);
        __atomic_store_n(&wfs.stage, s, __ATOMIC_RELEASE);
        vcpu_run(v);
        if (v->entry_result != VMX_OK) {
            cpu_fail(c, "entering %s: %s", active ? "L2" : "wait-for-SIPI", DESCRIBE(v));
            return;
        }
        wfs.reason[s] = v->reason;
        wfs.qual[s] = vmread_or0(VMCS_EXIT_QUALIFICATION);
        wfs.activity[s] = vmread_or0(VMCS_GUEST_ACTIVITY_STATE);
        wfs.intr[s] = vmread_or0(VMCS_GUEST_INTERRUPTIBILITY);
        __atomic_store_n(&wfs.done[s], true, __ATOMIC_RELEASE);
        if (v->reason & EXIT_REASON_ENTRY_FAILURE)
            return;
    }
}

/* The SIPIs and the INIT come from another AP when there is one (or the
 * BSP): Bochs 2.7 takes a SIPI's VM exit in the sending CPU's context,
 * which leaves that CPU's VMX state broken (README, "Bochs 2.7 vs the
 * SDM"); the BSP's must stay usable for the cases that follow. */
struct wfs_ipi {
    uint32_t dest, icr;
};

static void job_wfs_send(struct smp_cpu *c, void *arg)
{
    const struct wfs_ipi *w = arg;
    if (!smp_send_ipi(w->dest, w->icr))
        cpu_fail(c, "the IPI %#x stayed pending in its ICR", w->icr);
}

static void wfs_send(struct smp_cpu *target, uint32_t icr)
{
    struct wfs_ipi w = {target->apic_id, icr};
    struct smp_cpu *sender = smp.n > SMP_MIN_CPUS ? &smp.cpu[smp.n - 1] : &smp.cpu[0];
    smp_run(sender, job_wfs_send, &w, SETUP_TIMEOUT_MS);
}

static bool wfs_wait_done(unsigned s, uint64_t ms)
{
    uint64_t t0 = rdtsc();
    while (!wfs.done[s])
        if (smp_timed_out(t0, ms))
            return false;
    return true;
}

/* SIPIs to c until stage s ends (a SIPI that finds L1 in VMX root is
 * ignored, so a second one does no harm). */
static bool wfs_sipi(struct smp_cpu *c, unsigned s)
{
    for (int t = 0; t < WFS_TRIES && !wfs.done[s]; t++) {
        pit_wait_us(WFS_SETTLE_US);
        wfs_send(c, ICR_STARTUP | ICR_LEVEL_ASSERT | WFS_VECTOR);
        wfs_wait_done(s, WFS_WAIT_MS);
    }
    return wfs.done[s];
}

static void wfs_expect_sipi_exit(unsigned s, const char *what)
{
    EXPECT(wfs.reason[s] == EXIT_SIPI && wfs.qual[s] == WFS_VECTOR,
           "%s: exit reason %#x qual %#lx, want %u and %#x", what, wfs.reason[s], wfs.qual[s], EXIT_SIPI,
           WFS_VECTOR);
    /* SDM 27.3.4: the activity state before the exit (wait-for-SIPI) is
     * saved, and blocking by SMI as 0 outside SMM. Bochs 2.7 saves
     * "active" and sets blocking by SMI (README, "Bochs 2.7 vs the SDM"). */
    if (nv_present || opt_strict)
        EXPECT(wfs.activity[s] == ACTIVITY_WAIT_FOR_SIPI && !(wfs.intr[s] & INTR_BLOCK_SMI),
               "%s: guest activity state %lu and interruptibility %#lx saved, want %u and no blocking by SMI",
               what, wfs.activity[s], wfs.intr[s], ACTIVITY_WAIT_FOR_SIPI);
}

void case_smp_wfs(void)
{
    if (!smp_ready())
        return;
    if (!(caps.misc & VMX_MISC_ACTIVITY_WAIT_SIPI)) {
        case_skip("activity state wait-for-SIPI not offered (IA32_VMX_MISC[8])");
        return;
    }
    memset((void *)&wfs, 0, sizeof wfs);
    /* Bochs 2.7 keeps an INIT pending after its INIT VM exit, so that every
     * later VM entry on that CPU exits again (README, "Bochs 2.7 vs the
     * SDM"): the INIT stages would leave the AP unusable there. */
    bool init_part = nv_present || opt_strict;
    wfs.last = init_part ? WFS_AFTER : 1;
    struct smp_cpu *c = &smp.cpu[1];
    TRY(smp_run(c, job_wfs_setup, NULL, SETUP_TIMEOUT_MS));
    smp_post(c, job_wfs, NULL);
    if (!wait_u32(&wfs.stage, 1, JOB_TIMEOUT_MS)) {
        expect(false, "cpu1 did not get to wait-for-SIPI");
    } else if (!wfs_sipi(c, 1)) {
        expect(false, "no VM exit on cpu1 after %d SIPIs to its L2 in wait-for-SIPI", WFS_TRIES);
    } else {
        wfs_expect_sipi_exit(1, "SIPI to L2 in wait-for-SIPI");
        printf("l1hv: smp_wfs: SIPI exit: reason %u qual %#lx, guest activity state %lu interruptibility %#lx "
               "saved\n", wfs.reason[1] & EXIT_REASON_BASIC_MASK, wfs.qual[1], wfs.activity[1], wfs.intr[1]);
    }
    if (!init_part) {
        printf("l1hv: smp_wfs: no INIT part on bare Bochs 2.7 (it keeps the INIT pending after the INIT exit; "
               "`strict` runs it)\n");
    } else if (wfs.done[1] && wait_u32(&wfs.stage, 2, JOB_TIMEOUT_MS)) {
        /* SDM 25.2: "If a logical processor is in the wait-for-SIPI state,
         * INIT signals are blocked. They do not cause VM exits in this
         * case." (also 26.6.2). The blocked INIT stays pending: at this
         * AP's VMXOFF it would reset it, so L1 keeps it in VMX root. */
        pit_wait_us(WFS_SETTLE_US);
        wfs_send(c, ICR_INIT | ICR_LEVEL_ASSERT);
        if (wfs_wait_done(2, WFS_WAIT_MS)) {
            expect(false, "INIT to L2 in wait-for-SIPI caused a VM exit (reason %#x); the SDM blocks INIT in "
                   "that state (25.2, 26.6.2): no exit", wfs.reason[2]);
        } else if (!wfs_sipi(c, 2)) {
            expect(false, "cpu1 stays in wait-for-SIPI after an INIT and %d SIPIs", WFS_TRIES);
        } else {
            wfs_expect_sipi_exit(2, "SIPI after a blocked INIT");
            /* Blocked, not discarded: the INIT is still pending, and the
             * next entry into an active L2 (VMX non-root operation, where
             * INIT is not blocked) takes it as a VM exit. */
            if (!wfs_wait_done(WFS_ACTIVE, WFS_WAIT_MS))
                expect(false, "L2 entered active after the SIPI exit did not exit");
            else
                EXPECT(wfs.reason[WFS_ACTIVE] == EXIT_INIT_SIGNAL,
                       "the INIT blocked in wait-for-SIPI was lost: the next entry into an active L2 ended with "
                       "exit reason %#x, want %u (INIT)", wfs.reason[WFS_ACTIVE], EXIT_INIT_SIGNAL);
            /* One INIT, one exit: the next entry runs L2. Bochs 2.7 keeps
             * the INIT pending (README): `strict` only on bare Bochs. */
            if (wfs_wait_done(WFS_AFTER, WFS_WAIT_MS) && wfs.reason[WFS_AFTER] != EXIT_VMCALL) {
                if (nv_present || opt_strict)
                    expect(false, "after the INIT exit, L2 entered again ended with exit reason %#x, want %u "
                           "(its VMCALL): the INIT is still pending", wfs.reason[WFS_AFTER], EXIT_VMCALL);
            } else if (!wfs.done[WFS_AFTER]) {
                expect(false, "L2 entered after the INIT exit did not exit");
            }
            printf("l1hv: smp_wfs: an INIT caused no exit (blocked in wait-for-SIPI), the SIPI after it did, "
                   "the held INIT exited at the next entry (reason %u), the entry after that: reason %u\n",
                   wfs.reason[WFS_ACTIVE] & EXIT_REASON_BASIC_MASK, wfs.reason[WFS_AFTER] & EXIT_REASON_BASIC_MASK);
        }
    } else if (wfs.done[1]) {
        expect(false, "cpu1 did not get to wait-for-SIPI the second time");
    }
    if (smp_wait(c, JOB_TIMEOUT_MS))
        smp_collect();
    smp_clear_all();
    /* Bare Bochs 2.7 leaves the AP blocking SMIs and NMIs after the SIPI
     * exit, so that each later VM exit saves "blocking by SMI" and the
     * next entry fails (README): INIT-SIPI-SIPI gives the next cases a
     * fresh AP. */
    if (!nv_present) {
        /* (With `strict`, the INIT still pending resets it at VMXOFF.) */
        smp_post(c, smp_job_park, NULL);
        uint64_t t0 = rdtsc();
        while (!c->parked && !smp_timed_out(t0, WFS_WAIT_MS))
            pause();
        smp_collect();
        EXPECT(smp_start_ap(c) && c->vmxon_result == VMX_OK,
               "cpu1 did not come back in VMX operation after INIT-SIPI-SIPI");
    }
}
