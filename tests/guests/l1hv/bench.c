/* bench (only with cases=bench): the cost of one L2 CPUID exit handled by
 * L1, the way a real hypervisor handles it: VMREAD of the exit reason,
 * qualification, instruction length and guest RIP; VMWRITE of the guest
 * RIP; RAX-RDX set in the register block; VMRESUME. L2 times its loop of
 * `loops=N` CPUIDs (default 100000) with RDTSC (in Bochs: instructions).
 *
 * Output:
 *   BENCH l1hv.cpuid.roundtrip_insns <ticks per iteration>
 * and under nestvisor (NV_HC_STATS_RESET before the loop, NV_HC_EXIT_STATS
 * after; counts include the one VMLAUNCH and the closing VMCALL exit):
 *   BENCHDATA l1hv.l2_exits <N>
 *   BENCHDATA l1hv.level<L> vmread.exits <n> vmread.ticks <t> vmwrite.exits ..
 *             vmresume.exits .. all.exits .. all.ticks ..
 * for L = 0 (L1's own exits), 1 (L2 exits L0 handled), 2 (L2 exits
 * reflected to L1). L0 exits per L2 exit = (level0 all + level1 all +
 * level2 all) / N.
 *
 * bench_ept (only with cases=bench_ept): the same with L2 under an identity
 * EPT12 (labels l1hv.ept.*), then L2 writing one byte per 4 KiB over 64 MiB
 * once, mapped by EPT12 in 4 KiB and then in 2 MiB leaves (a fresh EPT12
 * each time):
 *   BENCH l1hv.ept.touch64m_4k.insns_per_page <ticks per page>
 *   BENCH l1hv.ept.touch64m_2m.insns_per_page <ticks per page>
 * and under nestvisor, from the EPT-violation (48) counters around each:
 *   BENCHDATA l1hv.ept.touch64m_4k l0_faults <level 1 count> l0_ticks <level 1 ticks>
 * (level 1: violations nestvisor handled itself, i.e. shadow EPT fills; the
 * ones reflected to L1, level 2, are printed on an l1hv: line). */
#include "l1hv.h"

#define BENCH_DEFAULT_LOOPS 100000
/* What L1 answers: leaf 0 of a CPU with 0xd basic leaves, "GenuineIntel". */
static const uint32_t bench_cpuid_answer[4] = {0xd, 0x756e6547, 0x6c65746e, 0x49656e69};

struct stat_pair {
    uint64_t count, ticks;
};

static const uint32_t bench_reasons[] = {EXIT_VMREAD, EXIT_VMWRITE, EXIT_VMRESUME,
                                         NV_EXIT_REASON_ALL};
static const char *const bench_reason_names[] = {"vmread", "vmwrite", "vmresume", "all"};
#define N_REASONS ARRAY_SIZE(bench_reasons)

/* The handler loop, kept to what a hypervisor's CPUID path does. Returns the
 * number of CPUID exits handled; stops at the first other exit. */
static uint64_t bench_loop(struct vcpu *v)
{
    uint64_t handled = 0;
    int r = vmx_enter(&v->regs, 0);
    while (r == VMX_OK) {
        uint64_t reason = 0, q = 0, len = 0, rip = 0;
        vmread_r(VMCS_EXIT_REASON, &reason);
        vmread_r(VMCS_EXIT_QUALIFICATION, &q);
        vmread_r(VMCS_EXIT_INSTR_LEN, &len);
        vmread_r(VMCS_GUEST_RIP, &rip);
        if (reason != EXIT_CPUID)
            break;
        v->regs.rax = bench_cpuid_answer[0];
        v->regs.rbx = bench_cpuid_answer[1];
        v->regs.rcx = bench_cpuid_answer[2];
        v->regs.rdx = bench_cpuid_answer[3];
        vmwrite_r(VMCS_GUEST_RIP, rip + len);
        handled++;
        r = vmx_enter(&v->regs, 1);
    }
    v->entry_result = r;
    v->launched = r == VMX_OK;
    return handled;
}

static void print_per_iter(const char *label, uint64_t ticks, uint64_t n)
{
    uint64_t hundredths = (ticks * 100 + n / 2) / n;
    printf("%s %lu.%02lu\n", label, hundredths / 100, hundredths % 100);
}

/* Runs v (set up at l2_bench) through the CPUID loop and prints the
 * figures, labels prefixed with `prefix` ("" or "ept."). */
static void bench_cpuid(struct vcpu *v, const char *prefix)
{
    uint64_t n = cmdline_u64("loops", BENCH_DEFAULT_LOOPS);
    if (!n)
        n = 1;
    v->regs.r14 = n;
    printf("l1hv: bench: %lu CPUID exits from L2%s, nestvisor %s\n", n,
           *prefix ? " under EPT12" : "", nv_present ? "present" : "absent");
    console_flush();

    bool stats = nv_present && nv_hypercall(NV_HC_STATS_RESET, NULL, NULL, 0) == NV_OK;
    uint64_t t0 = rdtsc();
    uint64_t handled = bench_loop(v);
    uint64_t l1_ticks = rdtsc() - t0;

    /* Read the statistics before printing anything (each print is an exit
     * under nestvisor); level 0 "all" first, as every read is itself an L1
     * exit. */
    struct stat_pair st[NV_LEVEL_COUNT][N_REASONS];
    memset(st, 0, sizeof st);
    if (stats)
        for (int lv = 0; lv < NV_LEVEL_COUNT; lv++)
            for (int i = (int)N_REASONS - 1; i >= 0; i--)
                if (!nv_exit_stats(bench_reasons[i], (uint32_t)lv, &st[lv][i].count,
                                   &st[lv][i].ticks))
                    stats = false;

    if (!expect(v->entry_result == VMX_OK && handled == n,
                "handled %lu of %lu CPUID exits, then %s", handled, n, exit_describe(v)))
        return;
    uint64_t reason = vmr(VMCS_EXIT_REASON);
    TRY(expect(reason == EXIT_VMCALL, "loop ended with exit reason %lu", reason));
    char label[96];
    snprintf(label, sizeof label, "BENCH l1hv.%scpuid.roundtrip_insns", prefix);
    print_per_iter(label, v->regs.r8, n);
    print_per_iter("l1hv: bench: L1 ticks per iteration (VMLAUNCH to the last exit):",
                   l1_ticks, n);
    if (!nv_present)
        return;
    if (!expect(stats, "NV_HC_STATS_RESET/NV_HC_EXIT_STATS failed"))
        return;
    printf("BENCHDATA l1hv.%sl2_exits %lu\n", prefix, n);
    for (int lv = 0; lv < NV_LEVEL_COUNT; lv++) {
        char line[400];
        int len = snprintf(line, sizeof line, "BENCHDATA l1hv.%slevel%d", prefix, lv);
        for (unsigned i = 0; i < N_REASONS; i++)
            len += snprintf(line + len, sizeof line - (size_t)len, " %s.exits %lu %s.ticks %lu",
                            bench_reason_names[i], st[lv][i].count, bench_reason_names[i],
                            st[lv][i].ticks);
        printf("%s\n", line);
    }
}

void case_bench(void)
{
    struct vcpu *v = &vcpus[0];
    TRY(vcpu_setup(v, l2_bench));
    bench_cpuid(v, "");
}

/* ---- bench_ept ---- */
#define TOUCH_BYTES (64ULL << 20)
#define TOUCH_PAGES (TOUCH_BYTES / PAGE_SIZE)
#define TOUCH_GPA   0x40000000ULL /* 1 GiB: L2's window onto L1's 64 MiB */

/* L2 writes one byte per 4 KiB over TOUCH_GPA + 64 MiB, which a fresh
 * EPT12 maps onto L1's `region` in leaves of `leaf` bytes. */
static void bench_touch(const char *name, uint64_t region, uint64_t leaf)
{
    struct vcpu *v = &vcpus[0];
    struct ept e;
    ept_pool_reset();
    TRY(expect(ept_init(&e, 0) && ept_identity(&e) &&
                   ept_map_range(&e, TOUCH_GPA, region, TOUCH_BYTES, leaf, EPT_RWX),
               "%s: EPT12 table pool exhausted", name));
    TRY(ept_vcpu_setup(v, l2_touch, &e));
    v->regs.rbx = TOUCH_GPA;
    v->regs.rcx = TOUCH_PAGES;
    console_flush();

    bool stats = nv_present && nv_hypercall(NV_HC_STATS_RESET, NULL, NULL, 0) == NV_OK;
    bool ran = run_expect(v, EXIT_VMCALL, name);
    uint64_t eptp12 = e.eptp;
    struct stat_pair l0 = {0, 0}, reflected = {0, 0};
    if (stats)
        stats = nv_exit_stats(EXIT_EPT_VIOLATION, NV_LEVEL_L2_L0, &l0.count, &l0.ticks) &&
                nv_exit_stats(EXIT_EPT_VIOLATION, NV_LEVEL_L2_TO_L1, &reflected.count,
                              &reflected.ticks);
    if (!ran)
        return;
    char label[96];
    snprintf(label, sizeof label, "BENCH l1hv.ept.%s.insns_per_page", name);
    print_per_iter(label, v->regs.r8, TOUCH_PAGES);
    if (!nv_present)
        return;
    if (!expect(stats, "%s: NV_HC_STATS_RESET/NV_HC_EXIT_STATS failed", name))
        return;
    uint64_t shadow_pages = eptp12, fills = 0; /* in: EPTP12; out: its shadow's pages */
    if (nv_hypercall(NV_HC_SHADOW_STATS, &shadow_pages, &fills, 0) != NV_OK)
        shadow_pages = 0;
    printf("BENCHDATA l1hv.ept.%s l0_faults %lu l0_ticks %lu\n", name, l0.count, l0.ticks);
    printf("BENCHDATA l1hv.ept.%s shadow_pages %lu\n", name, shadow_pages);
    printf("l1hv: bench_ept: %s: %lu EPT violations reflected to L1\n", name, reflected.count);
}

void case_bench_ept(void)
{
    if (!ept_offered())
        return;
    uint64_t region;
    if (!find_free_ram(TOUCH_BYTES, PAGE_2M, &region)) {
        case_skip("no free 64 MiB of RAM for L2 to touch");
        return;
    }
    struct vcpu *v = &vcpus[0];
    struct ept e;
    ept_pool_reset();
    TRY(expect(ept_init(&e, 0) && ept_identity(&e), "EPT12 table pool exhausted"));
    TRY(ept_vcpu_setup(v, l2_bench, &e));
    bench_cpuid(v, "ept.");
    if (case_failed())
        return;
    printf("l1hv: bench_ept: L2 touches %llu MiB at guest-physical %#llx = L1 %#lx\n",
           TOUCH_BYTES >> 20, TOUCH_GPA, region);
    bench_touch("touch64m_4k", region, PAGE_SIZE);
    bench_touch("touch64m_2m", region, PAGE_2M);
}
