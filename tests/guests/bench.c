/* bench: round-trip cost of an L1 exit, for `make bench`. Times a loop of
 * CPUIDs (leaf 0) and one of VMCALLs (NV_HC_VERSION) with RDTSC (in Bochs
 * one tick = one instruction) and reads nestvisor's exit counters and L0
 * ticks (NV_HC_EXIT_STATS) around each. Options: loops=N (default 100000).
 *
 * Output, for scripts:
 *   BENCH l1.cpuid.roundtrip_insns <ticks per iteration>
 *   BENCH l1.vmcall.roundtrip_insns <ticks per iteration>
 *   BENCHDATA cpuid.exits <n> cpuid.l0_ticks <t> vmcall.exits <n> vmcall.l0_ticks <t>
 * Ticks per iteration include the loop's own 3-4 instructions (printed
 * separately as "bench: empty loop"). vmcall.exits is loops + 1: one of the
 * two NV_HC_EXIT_STATS calls around the loop is counted with it. */
#include "guest.h"

const char guest_name[] = "bench";

static uint64_t empty_loop(uint64_t n)
{
    uint64_t t0 = rdtsc_begin();
    __asm__ volatile("1: xor %%eax, %%eax\n\t"
                     "xor %%ecx, %%ecx\n\t"
                     "dec %0\n\t"
                     "jnz 1b"
                     : "+r"(n)
                     :
                     : "rax", "rcx", "memory");
    return rdtsc_end() - t0;
}

static uint64_t cpuid_loop(uint64_t n)
{
    uint64_t t0 = rdtsc_begin();
    __asm__ volatile("1: xor %%eax, %%eax\n\t"
                     "xor %%ecx, %%ecx\n\t"
                     "cpuid\n\t"
                     "dec %0\n\t"
                     "jnz 1b"
                     : "+S"(n)
                     :
                     : "rax", "rbx", "rcx", "rdx", "memory");
    return rdtsc_end() - t0;
}

static uint64_t vmcall_loop(uint64_t n)
{
    uint64_t t0 = rdtsc_begin();
    __asm__ volatile("1: mov %1, %%eax\n\t"
                     "vmcall\n\t"
                     "dec %0\n\t"
                     "jnz 1b"
                     : "+S"(n)
                     : "i"(NV_HC_VERSION)
                     : "rax", "rbx", "rcx", "rdx", "memory");
    return rdtsc_end() - t0;
}

/* ticks / n with two decimals. */
static void print_per_iter(const char *prefix, uint64_t ticks, uint64_t n)
{
    uint64_t hundredths = (ticks * 100 + n / 2) / n;
    printf("%s %lu.%02lu\n", prefix, hundredths / 100, hundredths % 100);
}

void guest_main(uint32_t magic, uint32_t info)
{
    (void)magic, (void)info;
    uint64_t n = cmdline_u64("loops", 100000);
    if (!n)
        n = 1;
    printf("bench: %lu iterations per loop\n", n);
    console_flush();

    uint64_t empty = empty_loop(n);
    char line[64];
    snprintf(line, sizeof line, "bench: empty loop, ticks per iteration:");
    print_per_iter(line, empty, n);

    /* CPUID */
    uint64_t c0 = 0, ct0 = 0, c1 = 0, ct1 = 0;
    bool have = nv_exit_stats(EXIT_REASON_CPUID, NV_LEVEL_L1, &c0, &ct0);
    uint64_t cpuid_ticks = cpuid_loop(n);
    have = have && nv_exit_stats(EXIT_REASON_CPUID, NV_LEVEL_L1, &c1, &ct1);
    print_per_iter("BENCH l1.cpuid.roundtrip_insns", cpuid_ticks, n);

    if (!nv_present) {
        skip("vmcall", "nestvisor absent (VMCALL would #UD)");
        skip("exit_counts", "nestvisor absent: no exit statistics");
        return;
    }

    /* VMCALL */
    uint64_t v0 = 0, vt0 = 0, v1 = 0, vt1 = 0;
    have = have && nv_exit_stats(EXIT_REASON_VMCALL, NV_LEVEL_L1, &v0, &vt0);
    uint64_t vmcall_ticks = vmcall_loop(n);
    have = have && nv_exit_stats(EXIT_REASON_VMCALL, NV_LEVEL_L1, &v1, &vt1);
    print_per_iter("BENCH l1.vmcall.roundtrip_insns", vmcall_ticks, n);

    if (!have) {
        fail("exit_counts", "NV_HC_EXIT_STATS failed");
        return;
    }
    printf("BENCHDATA cpuid.exits %lu cpuid.l0_ticks %lu vmcall.exits %lu vmcall.l0_ticks %lu\n",
           c1 - c0, ct1 - ct0, v1 - v0, vt1 - vt0);
    check(c1 - c0 == n, "cpuid_exits", "%lu CPUID exits for %lu CPUIDs", c1 - c0, n);
    check(v1 - v0 == n + 1, "vmcall_exits", "%lu VMCALL exits for %lu VMCALLs + 1 stats call",
          v1 - v0, n);
}
