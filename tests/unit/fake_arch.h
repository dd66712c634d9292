/* The fake of the arch/x86 layer that unit tests link against: physical
 * memory is a buffer, CPUID and MSRs are tables the test fills, and console
 * output is captured. */
#ifndef TESTS_UNIT_FAKE_ARCH_H
#define TESTS_UNIT_FAKE_ARCH_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include "arch/x86/cpu.h"

#define FAKE_PHYS_SIZE (64ULL << 20)

/* Physical address 0 is the start of the buffer; addresses beyond
 * FAKE_PHYS_SIZE abort the test. */
extern uint8_t *fake_phys;
void fake_phys_reset(void);

/* CPUID: unset leaves read as zeros. */
void fake_cpuid_set(uint32_t leaf, uint32_t subleaf, struct cpuid_regs r);
void fake_cpuid_clear(void);

/* MSRs: unset ones #GP (rdmsr_safe returns false). */
void fake_msr_set(uint32_t msr, uint64_t value);
void fake_msr_clear(void);

/* Everything the code under test printed since the last reset. */
const char *fake_console_output(void);
void fake_console_reset(void);

/* cpu_stop() longjmps here (a test of a path that stops the CPU sets it). */
#include <setjmp.h>
extern jmp_buf *fake_cpu_stop_target;

/* cpu_mwait() calls the hook (no hook: the test aborts, nothing would wake
 * the CPU); cpu_monitor() records the address. */
extern const volatile void *fake_monitored;
extern void (*fake_mwait_hook)(void);
extern unsigned fake_mwaits;
/* What this_cpu() returns. */
struct percpu;
extern struct percpu *fake_this_cpu;

#endif
