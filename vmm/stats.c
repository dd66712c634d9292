#include "vmm/stats.h"
#include "vmm/vm.h"
#include "lib/string.h"
#include "lib/log.h"
#include "lib/string.h"

static const char *const reason_names[EXIT_REASON_COUNT] = {
    [EXIT_REASON_EXCEPTION_NMI] = "exception/NMI",
    [EXIT_REASON_EXTERNAL_INTERRUPT] = "external interrupt",
    [EXIT_REASON_TRIPLE_FAULT] = "triple fault",
    [EXIT_REASON_INIT_SIGNAL] = "INIT",
    [EXIT_REASON_SIPI] = "SIPI",
    [EXIT_REASON_INTERRUPT_WINDOW] = "interrupt window",
    [EXIT_REASON_NMI_WINDOW] = "NMI window",
    [EXIT_REASON_TASK_SWITCH] = "task switch",
    [EXIT_REASON_CPUID] = "CPUID",
    [EXIT_REASON_GETSEC] = "GETSEC",
    [EXIT_REASON_HLT] = "HLT",
    [EXIT_REASON_INVD] = "INVD",
    [EXIT_REASON_INVLPG] = "INVLPG",
    [EXIT_REASON_RDPMC] = "RDPMC",
    [EXIT_REASON_RDTSC] = "RDTSC",
    [EXIT_REASON_RSM] = "RSM",
    [EXIT_REASON_VMCALL] = "VMCALL",
    [EXIT_REASON_VMCLEAR] = "VMCLEAR",
    [EXIT_REASON_VMLAUNCH] = "VMLAUNCH",
    [EXIT_REASON_VMPTRLD] = "VMPTRLD",
    [EXIT_REASON_VMPTRST] = "VMPTRST",
    [EXIT_REASON_VMREAD] = "VMREAD",
    [EXIT_REASON_VMRESUME] = "VMRESUME",
    [EXIT_REASON_VMWRITE] = "VMWRITE",
    [EXIT_REASON_VMXOFF] = "VMXOFF",
    [EXIT_REASON_VMXON] = "VMXON",
    [EXIT_REASON_CR_ACCESS] = "CR access",
    [EXIT_REASON_DR_ACCESS] = "DR access",
    [EXIT_REASON_IO_INSTRUCTION] = "I/O",
    [EXIT_REASON_MSR_READ] = "RDMSR",
    [EXIT_REASON_MSR_WRITE] = "WRMSR",
    [EXIT_REASON_INVALID_GUEST_STATE] = "entry fail: guest state",
    [EXIT_REASON_MSR_LOADING] = "entry fail: MSR loading",
    [EXIT_REASON_MWAIT] = "MWAIT",
    [EXIT_REASON_MONITOR_TRAP_FLAG] = "monitor trap flag",
    [EXIT_REASON_MONITOR] = "MONITOR",
    [EXIT_REASON_PAUSE] = "PAUSE",
    [EXIT_REASON_MCE_DURING_ENTRY] = "entry fail: machine check",
    [EXIT_REASON_TPR_BELOW_THRESHOLD] = "TPR below threshold",
    [EXIT_REASON_APIC_ACCESS] = "APIC access",
    [EXIT_REASON_EOI_INDUCED] = "virtualized EOI",
    [EXIT_REASON_GDTR_IDTR] = "GDTR/IDTR access",
    [EXIT_REASON_LDTR_TR] = "LDTR/TR access",
    [EXIT_REASON_EPT_VIOLATION] = "EPT violation",
    [EXIT_REASON_EPT_MISCONFIG] = "EPT misconfiguration",
    [EXIT_REASON_INVEPT] = "INVEPT",
    [EXIT_REASON_RDTSCP] = "RDTSCP",
    [EXIT_REASON_PREEMPTION_TIMER] = "preemption timer",
    [EXIT_REASON_INVVPID] = "INVVPID",
    [EXIT_REASON_WBINVD] = "WBINVD",
    [EXIT_REASON_XSETBV] = "XSETBV",
    [EXIT_REASON_APIC_WRITE] = "APIC write",
    [EXIT_REASON_RDRAND] = "RDRAND",
    [EXIT_REASON_INVPCID] = "INVPCID",
    [EXIT_REASON_VMFUNC] = "VMFUNC",
    [EXIT_REASON_ENCLS] = "ENCLS",
    [EXIT_REASON_RDSEED] = "RDSEED",
    [EXIT_REASON_PML_FULL] = "PML full",
    [EXIT_REASON_XSAVES] = "XSAVES",
    [EXIT_REASON_XRSTORS] = "XRSTORS",
    [EXIT_REASON_UMWAIT] = "UMWAIT",
    [EXIT_REASON_TPAUSE] = "TPAUSE",
};

static const char *const level_titles[NV_LEVEL_COUNT] = {
    "exits of L1 (handled by L0)",
    "exits of L2 handled by L0",
    "exits of L2 reflected to L1",
};

const char *exit_reason_name(unsigned reason)
{
    if (reason < EXIT_REASON_COUNT && reason_names[reason])
        return reason_names[reason];
    return "unknown";
}

void stats_query(const struct exit_stats *s, unsigned level, unsigned reason, uint64_t *count,
                 uint64_t *ticks)
{
    *count = *ticks = 0;
    if (level >= NV_LEVEL_COUNT)
        return;
    for (unsigned r = 0; r < EXIT_REASON_COUNT; r++) {
        if (reason != NV_EXIT_REASON_ALL && r != reason)
            continue;
        *count += s->count[level][r];
        *ticks += s->ticks[level][r];
    }
}

void stats_print(const struct exit_stats *s)
{
    log_raw("exit statistics (L0 time in TSC ticks; in Bochs, instructions):\n");
    for (unsigned level = 0; level < NV_LEVEL_COUNT; level++) {
        uint64_t total, total_ticks;
        stats_query(s, level, NV_EXIT_REASON_ALL, &total, &total_ticks);
        if (!total)
            continue;
        log_raw("  %s: %llu\n", level_titles[level], (unsigned long long)total);
        log_raw("    %-26s %12s %14s %10s\n", "reason", "count", "L0 ticks", "per exit");
        for (unsigned r = 0; r < EXIT_REASON_COUNT; r++) {
            uint64_t n = s->count[level][r];
            if (!n)
                continue;
            log_raw("    %2u %-23s %12llu %14llu %10llu\n", r, exit_reason_name(r),
                    (unsigned long long)n, (unsigned long long)s->ticks[level][r],
                    (unsigned long long)(s->ticks[level][r] / n));
        }
    }
}

void stats_print_vm(const struct vm *vm)
{
    static struct exit_stats sum;
    memset(&sum, 0, sizeof(sum));
    unsigned l1_vcpus = 0;
    for (unsigned c = 0; c < vm->vcpu_count; c++) {
        const struct exit_stats *s = &vm->vcpus[c].stats;
        for (unsigned level = 0; level < NV_LEVEL_COUNT; level++)
            for (unsigned r = 0; r < EXIT_REASON_COUNT; r++) {
                sum.count[level][r] += s->count[level][r];
                sum.ticks[level][r] += s->ticks[level][r];
            }
        l1_vcpus += vm->vcpus[c].role == VCPU_L1;
    }
    stats_print(&sum);
    if (l1_vcpus < 2)
        return;
    log_raw("  exits per CPU:");
    for (unsigned c = 0; c < vm->vcpu_count; c++) {
        uint64_t n = 0, ticks;
        for (unsigned level = 0; level < NV_LEVEL_COUNT; level++) {
            uint64_t x;
            stats_query(&vm->vcpus[c].stats, level, NV_EXIT_REASON_ALL, &x, &ticks);
            n += x;
        }
        log_raw(" cpu%u %llu", c, (unsigned long long)n);
    }
    log_raw("\n");
}
