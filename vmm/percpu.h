/* Per physical CPU state (docs/smp.md). Nothing in here is shared: each
 * CPU touches only its own, found through GS (this_cpu), which L0 points at
 * it when the CPU comes up and which every VM exit restores (HOST_GS_BASE). */
#ifndef VMM_PERCPU_H
#define VMM_PERCPU_H

#include <stdint.h>
#include "arch/x86/gdt.h"

#define NV_MAX_CPUS     128
#define EXIT_STACK_SIZE 16384
#define BOOT_STACK_SIZE 16384

struct vcpu;

struct percpu {
    struct percpu *self;   /* first: GS:0 (this_cpu) */
    uint32_t id;           /* 0 is the boot CPU */
    uint32_t apic_id;
    uint64_t vmxon_region;
    struct vcpu *vcpu;     /* the vCPU this CPU runs, one to one */
    /* Set by other CPUs (atomics; smp.c "Reaching another CPU"). */
    uint32_t attention;    /* look at smp.c's shared state before the next VM entry
                              (vmx_entry.asm reads it: offset checked in percpu.c) */
    uint32_t l0_nmi;       /* the next NMI is L0's nudge, not L1's */
    uint64_t ept01_seen;   /* the EPT01 generation this CPU has flushed */
    uint32_t stopped;      /* it halted for good (vm_stop) */
    struct cpu_tables tables __attribute__((aligned(16)));
    /* An AP's stack from its trampoline to its first VM entry. */
    uint8_t boot_stack[BOOT_STACK_SIZE] __attribute__((aligned(16)));
    /* VM exits run here (HOST_RSP: its top slot names the vCPU's registers). */
    uint8_t exit_stack[EXIT_STACK_SIZE] __attribute__((aligned(16)));
};

/* The calling CPU's (unit tests: fake_arch.c). */
#ifdef UNIT_TEST
struct percpu *this_cpu(void);
#else
static inline struct percpu *this_cpu(void)
{
    struct percpu *p;
    __asm__ volatile("mov %%gs:0, %0" : "=r"(p));
    return p;
}
#endif

/* Makes pc the calling CPU's own: GS base -> pc, pc->self. */
void percpu_install(struct percpu *pc);
/* The per-CPU data of CPU id (0..count-1), 0 if there is none. */
struct percpu *percpu_of(unsigned id);
unsigned percpu_count(void);
/* The calling CPU's id (the log's CPU tags). */
unsigned percpu_this_id(void);
/* Registers pc as CPU pc->id (the boot CPU first, then each AP). */
void percpu_register(struct percpu *pc);

#endif
