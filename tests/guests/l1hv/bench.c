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
 * level2 all) / N. */
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

void case_bench(void)
{
    struct vcpu *v = &vcpus[0];
    uint64_t n = cmdline_u64("loops", BENCH_DEFAULT_LOOPS);
    if (!n)
        n = 1;
    TRY(vcpu_setup(v, l2_bench));
    v->regs.r14 = n;
    printf("l1hv: bench: %lu CPUID exits from L2, nestvisor %s\n", n,
           nv_present ? "present" : "absent");
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
    print_per_iter("BENCH l1hv.cpuid.roundtrip_insns", v->regs.r8, n);
    print_per_iter("l1hv: bench: L1 ticks per iteration (VMLAUNCH to the last exit):",
                   l1_ticks, n);
    if (!nv_present)
        return;
    if (!expect(stats, "NV_HC_STATS_RESET/NV_HC_EXIT_STATS failed"))
        return;
    printf("BENCHDATA l1hv.l2_exits %lu\n", n);
    for (int lv = 0; lv < NV_LEVEL_COUNT; lv++) {
        char line[400];
        int len = snprintf(line, sizeof line, "BENCHDATA l1hv.level%d", lv);
        for (unsigned i = 0; i < N_REASONS; i++)
            len += snprintf(line + len, sizeof line - (size_t)len, " %s.exits %lu %s.ticks %lu",
                            bench_reason_names[i], st[lv][i].count, bench_reason_names[i],
                            st[lv][i].ticks);
        printf("%s\n", line);
    }
}
