/* bench_smp (only with cases=bench_smp; README.md, "bench_smp"): what the
 * SMP paths cost, in TSC ticks as L1 sees them (Bochs: instructions) and,
 * under nestvisor, from its per-CPU exit statistics:
 *
 *   BENCH l1hv.smp.migrate_ticks <t>     L1's ticks for VMCLEAR on one CPU +
 *                                        VMPTRLD + VMLAUNCH on the next,
 *                                        minus a plain VMRESUME there
 *   BENCHDATA l1hv.smp.migrate rounds <n> vmclear.ticks .. vmptrld.ticks ..
 *             vmlaunch.ticks .. vmresume.ticks ..   (nestvisor's L0 ticks,
 *             both CPUs, for those instructions of L1)
 *   BENCH l1hv.smp.ipi_send_ticks <t>    L1's ticks for one ICR write
 *   BENCHDATA l1hv.smp.ipi ipis <n> exits <e> baseline <b>
 *                                        L0 exits of sender and receiver
 *                                        with n IPIs and with none
 *   BENCH l1hv.smp.invept_ticks <t>      L1's ticks for one INVEPT
 *                                        (single-context) on a CPU of an
 *                                        SMP L1
 *   BENCHDATA l1hv.smp.invept count <n> ticks <t>   (nestvisor's, reason 50)
 *
 * tests/integration/bench.sh turns them into smp.vmcs12_migrate.l0_insns,
 * smp.ipi.l0_exits and smp.invept.l0_insns. */
#include "smp.h"

#define BENCH_ROUNDS     100
#define IPI_BENCH_ROUNDS 100
#define INVEPT_ROUNDS    100
#define JOB_TIMEOUT_MS   20000
#define BENCH_ID         0xbe4c

static uint8_t bench_vmcs[PAGE_SIZE] __attribute__((aligned(PAGE_SIZE)));
static uint8_t bench_stack[PAGE_SIZE] __attribute__((aligned(PAGE_SIZE)));
static struct vcpu bench_v;

struct stat_pair {
    uint64_t count, ticks;
};

/* This CPU's L0 statistics (nestvisor keeps them per vCPU). */
static const uint32_t mig_reasons[] = {EXIT_VMCLEAR, EXIT_VMPTRLD, EXIT_VMLAUNCH, EXIT_VMRESUME};
static const char *const mig_names[] = {"vmclear", "vmptrld", "vmlaunch", "vmresume"};
#define MIG_REASONS ARRAY_SIZE(mig_reasons)

static struct {
    uint64_t clear, ptrld, launch, resume; /* L1 ticks, summed */
    unsigned rounds;
    struct stat_pair st[SMP_MAX_CPUS][MIG_REASONS];
    bool stats_ok;
} mig;

static uint64_t vmread_or0(uint64_t field)
{
    uint64_t v = 0;
    vmread_r(field, &v);
    return v;
}

static bool cpuid_exit(struct smp_cpu *c, const char *what)
{
    struct vcpu *v = &bench_v;
    if (v->entry_result != VMX_OK || v->reason != EXIT_CPUID) {
        if (v->entry_result != VMX_OK)
            cpu_fail(c, "%s: %s (error %u), want a CPUID exit", what, vmx_result_name(v->entry_result),
                     v->entry_error);
        else
            cpu_fail(c, "%s: exit reason %#x qualification %#lx, want a CPUID exit", what, v->reason,
                     vmread_or0(VMCS_EXIT_QUALIFICATION));
        return false;
    }
    vmwrite_r(VMCS_GUEST_RIP, vmread_or0(VMCS_GUEST_RIP) + vmread_or0(VMCS_EXIT_INSTR_LEN));
    return true;
}

static void stats_reset(void)
{
    if (nv_present)
        nv_hypercall(NV_HC_STATS_RESET, NULL, NULL, 0);
}

static void job_stats_reset(struct smp_cpu *c, void *arg)
{
    (void)c, (void)arg;
    stats_reset();
}

static void job_mig_stats(struct smp_cpu *c, void *arg)
{
    (void)arg;
    for (unsigned k = 0; k < MIG_REASONS; k++)
        if (!nv_exit_stats(mig_reasons[k], NV_LEVEL_L1, &mig.st[c->index][k].count, &mig.st[c->index][k].ticks))
            mig.stats_ok = false;
}

/* One move: VMPTRLD, VMLAUNCH, VMRESUME, VMCLEAR on this CPU, each timed.
 * The host-state VMWRITEs are not timed (shadowed: no exits). */
static void job_mig_step(struct smp_cpu *c, void *arg)
{
    (void)arg;
    struct vcpu *v = &bench_v;
    uint64_t t0 = rdtsc_begin();
    int r = vmptrld(vmcs_pa(v));
    uint64_t t1 = rdtsc_end();
    if (r != VMX_OK) {
        cpu_fail(c, "VMPTRLD: %s", vmx_result_name(r));
        return;
    }
    smp_host_fixup(c);
    v->launched = false;
    uint64_t t2 = rdtsc_begin();
    vcpu_run(v);
    uint64_t t3 = rdtsc_end();
    if (!cpuid_exit(c, "VMLAUNCH")) {
        vmclear(vmcs_pa(v));
        return;
    }
    uint64_t t4 = rdtsc_begin();
    vcpu_run(v);
    uint64_t t5 = rdtsc_end();
    if (!cpuid_exit(c, "VMRESUME")) {
        vmclear(vmcs_pa(v));
        return;
    }
    uint64_t t6 = rdtsc_begin();
    r = vmclear(vmcs_pa(v));
    uint64_t t7 = rdtsc_end();
    if (r != VMX_OK) {
        cpu_fail(c, "VMCLEAR: %s", vmx_result_name(r));
        return;
    }
    mig.ptrld += t1 - t0;
    mig.launch += t3 - t2;
    mig.resume += t5 - t4;
    mig.clear += t7 - t6;
    mig.rounds++;
}

static void bench_migrate(void)
{
    struct vcpu *v = &bench_v;
    v->vmcs = bench_vmcs;
    v->stack_top = bench_stack + sizeof bench_stack;
    v->name = "bench";
    TRY(vcpu_setup(v, smp_l2_cpuid_loop));
    TRY(expect_vmok(vmclear(vmcs_pa(v)), "VMCLEAR"));
    memset(&mig, 0, sizeof mig);
    mig.stats_ok = nv_present;
    struct smp_cpu *pair[2] = {&smp.cpu[0], &smp.cpu[1]};
    /* one warm-up move each, then the statistics from zero */
    for (unsigned k = 0; k < 2; k++)
        smp_run(pair[k], job_mig_step, NULL, JOB_TIMEOUT_MS);
    for (unsigned k = 0; k < 2; k++)
        smp_run(pair[k], job_stats_reset, NULL, JOB_TIMEOUT_MS);
    memset(&mig, 0, sizeof mig);
    mig.stats_ok = nv_present;
    for (unsigned r = 0; r < BENCH_ROUNDS && !case_failed(); r++) {
        smp_run(pair[r % 2], job_mig_step, NULL, JOB_TIMEOUT_MS);
        smp_collect();
    }
    if (nv_present)
        for (unsigned k = 0; k < 2; k++)
            smp_run(pair[k], job_mig_stats, NULL, JOB_TIMEOUT_MS);
    TRY(!case_failed());
    uint64_t n = mig.rounds;
    uint64_t total = mig.clear + mig.ptrld + mig.launch;
    uint64_t beyond = total > mig.resume ? total - mig.resume : 0;
    printf("l1hv: bench_smp: %lu moves between cpu0 and cpu1: L1 ticks per move: VMCLEAR %lu, VMPTRLD %lu, "
           "VMLAUNCH+exit %lu, plain VMRESUME+exit %lu\n", n, mig.clear / n, mig.ptrld / n, mig.launch / n,
           mig.resume / n);
    printf("BENCH l1hv.smp.migrate_ticks %lu\n", beyond / n);
    if (!nv_present)
        return;
    TRY(expect(mig.stats_ok, "NV_HC_EXIT_STATS failed"));
    char line[300];
    int len = snprintf(line, sizeof line, "BENCHDATA l1hv.smp.migrate rounds %lu", n);
    for (unsigned k = 0; k < MIG_REASONS; k++) {
        struct stat_pair s = {0, 0};
        for (unsigned i = 0; i < 2; i++) {
            s.count += mig.st[pair[i]->index][k].count;
            s.ticks += mig.st[pair[i]->index][k].ticks;
        }
        len += snprintf(line + len, sizeof line - (size_t)len, " %s.exits %lu %s.ticks %lu", mig_names[k],
                        s.count, mig_names[k], s.ticks);
    }
    printf("%s\n", line);
}

/* ---- IPIs: L0 exits of the sender and the receiver ---- */
static struct {
    volatile uint64_t got;
    volatile uint32_t ready;
    uint32_t n;
    uint64_t exits; /* the receiver's, read by itself */
    bool stats_ok;
} ipib;

static void bench_ipi_handler(struct trap_frame *f)
{
    (void)f;
    __atomic_add_fetch(&ipib.got, 1, __ATOMIC_RELEASE);
    lapic_eoi();
}

static void job_ipi_receive(struct smp_cpu *c, void *arg)
{
    (void)arg;
    stats_reset();
    ipib.ready = 1;
    uint64_t t0 = rdtsc();
    sti();
    while (ipib.got < ipib.n && !smp_timed_out(t0, JOB_TIMEOUT_MS))
        pause();
    cli();
    if (ipib.got != ipib.n)
        cpu_fail(c, "took %lu of %u IPIs", ipib.got, ipib.n);
    if (nv_present && !nv_exit_stats(NV_EXIT_REASON_ALL, NV_LEVEL_L1, &ipib.exits, NULL))
        ipib.stats_ok = false;
}

/* n IPIs from the BSP to cpu1, each after the last was taken; returns the
 * L0 exits of both CPUs (their own statistics, reset at the start). */
static uint64_t ipi_round(uint32_t n, uint64_t *send_ticks)
{
    struct smp_cpu *c = &smp.cpu[1];
    ipib.got = 0;
    ipib.ready = 0;
    ipib.n = n;
    smp_post(c, job_ipi_receive, NULL);
    uint64_t t0 = rdtsc();
    while (!ipib.ready && !smp_timed_out(t0, JOB_TIMEOUT_MS))
        pause();
    stats_reset();
    uint64_t ticks = 0;
    for (uint32_t k = 1; k <= n; k++) {
        uint64_t a = rdtsc_begin();
        smp_send_ipi(c->apic_id, ICR_FIXED | ICR_LEVEL_ASSERT | SMP_IPI_VECTOR);
        ticks += rdtsc_end() - a;
        while (ipib.got < k && !smp_timed_out(t0, JOB_TIMEOUT_MS))
            pause();
    }
    uint64_t mine = 0;
    if (nv_present && !nv_exit_stats(NV_EXIT_REASON_ALL, NV_LEVEL_L1, &mine, NULL))
        ipib.stats_ok = false;
    smp_wait(c, JOB_TIMEOUT_MS);
    smp_collect();
    if (send_ticks)
        *send_ticks = ticks;
    return mine + ipib.exits;
}

static void bench_ipi(void)
{
    irq_set_handler(SMP_IPI_VECTOR, bench_ipi_handler);
    ipib.stats_ok = true;
    ipi_round(1, NULL); /* warm-up */
    uint64_t baseline = ipi_round(0, NULL), ticks = 0;
    uint64_t exits = ipi_round(IPI_BENCH_ROUNDS, &ticks);
    irq_set_handler(SMP_IPI_VECTOR, NULL);
    TRY(!case_failed());
    printf("BENCH l1hv.smp.ipi_send_ticks %lu\n", ticks / IPI_BENCH_ROUNDS);
    if (!nv_present)
        return;
    TRY(expect(ipib.stats_ok, "NV_HC_EXIT_STATS failed"));
    printf("BENCHDATA l1hv.smp.ipi ipis %u exits %lu baseline %lu\n", IPI_BENCH_ROUNDS, exits, baseline);
}

/* ---- INVEPT on one CPU of an SMP L1 ---- */
static void bench_invept(void)
{
    if (!(caps.ept_vpid & EPT_CAP_INVEPT_SINGLE) || !cap_proc2(PROC2_EPT)) {
        printf("l1hv: bench_smp: no single-context INVEPT: no INVEPT figure\n");
        return;
    }
    struct ept e;
    ept_pool_reset();
    TRY(expect(ept_init(&e, 0) && ept_identity(&e), "EPT12 table pool exhausted"));
    TRY(ept_vcpu_setup(&bench_v, smp_l2_cpuid_loop, &e));
    /* one L2 entry so that the EPTP has been used on this CPU */
    vcpu_run(&bench_v);
    struct inv_desc d = {e.eptp, 0};
    stats_reset();
    uint64_t ticks = 0;
    int bad = 0;
    for (unsigned k = 0; k < INVEPT_ROUNDS; k++) {
        uint64_t t0 = rdtsc_begin();
        bad += invept(INVEPT_SINGLE_CONTEXT, &d) != VMX_OK;
        ticks += rdtsc_end() - t0;
    }
    struct stat_pair s = {0, 0};
    bool stats = nv_exit_stats(EXIT_INVEPT, NV_LEVEL_L1, &s.count, &s.ticks);
    TRY(expect(!bad, "%d INVEPTs failed", bad));
    printf("BENCH l1hv.smp.invept_ticks %lu\n", ticks / INVEPT_ROUNDS);
    if (stats)
        printf("BENCHDATA l1hv.smp.invept cpus %u count %lu ticks %lu\n", smp.n, s.count, s.ticks);
}

void case_bench_smp(void)
{
    if (!smp_ready())
        return;
    smp_clear_all();
    printf("l1hv: bench_smp: %u CPUs, nestvisor %s\n", smp.n, nv_present ? "present" : "absent");
    console_flush();
    bench_migrate();
    if (!case_failed())
        bench_ipi();
    if (!case_failed())
        bench_invept();
    smp_clear_all();
}
