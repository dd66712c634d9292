#include <stddef.h>
#include "vmm/percpu.h"
#include "arch/x86/cpu.h"
#include "arch/x86/msr_index.h"

_Static_assert(offsetof(struct percpu, attention) == 32, "vmx_entry.asm's PERCPU_ATTENTION");

/* Written by the boot CPU while it brings the others up, read-only after. */
static struct percpu *cpus[NV_MAX_CPUS];
static unsigned count;

void percpu_install(struct percpu *pc)
{
    pc->self = pc;
    wrmsr(MSR_IA32_GS_BASE, (uint64_t)pc);
}

unsigned percpu_this_id(void) { return this_cpu()->id; }

void percpu_register(struct percpu *pc)
{
    if (pc->id < NV_MAX_CPUS) {
        cpus[pc->id] = pc;
        if (pc->id >= count)
            count = pc->id + 1;
    }
}

struct percpu *percpu_of(unsigned id) { return id < count ? cpus[id] : 0; }
unsigned percpu_count(void) { return count; }
