/* CPUID as L1 sees it: the hardware's leaves through a documented filter
 * (docs/l1-platform.md). */
#ifndef VMM_CPUID_H
#define VMM_CPUID_H

#include <stdbool.h>
#include <stdint.h>
#include "arch/x86/cpu.h"

struct vcpu;

struct cpuid_view {
    bool nested;        /* show VMX */
    uint64_t guest_cr4; /* for OSXSAVE / OSPKE */
    uint32_t hv_features;
};

/* Rewrites the hardware's answer r for (leaf, subleaf) into L1's. */
void cpuid_filter(uint32_t leaf, uint32_t subleaf, const struct cpuid_view *view,
                  struct cpuid_regs *r);
/* L1's CPUID 0x15/0x16 follow the measured TSC rate where the CPU's own
 * leaves disagree with it (drivers/tsc.c). */
struct tsc_info;
void cpuid_set_tsc(const struct tsc_info *tsc);
/* Finds CPUID features whose MSRs the CPU lacks, to hide them from L1. */
void cpuid_probe_msr_features(void);
void handle_cpuid(struct vcpu *v);

#endif
