#include "tests/unit/fake_arch.h"
#include "arch/x86/physmem.h"
#include "arch/x86/msr_index.h"
#include "drivers/console.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <setjmp.h>

uint8_t *fake_phys;

void fake_phys_reset(void)
{
    if (!fake_phys)
        fake_phys = calloc(1, FAKE_PHYS_SIZE);
    else
        memset(fake_phys, 0, FAKE_PHYS_SIZE);
}

void *phys_to_virt(uint64_t pa)
{
    if (!fake_phys)
        fake_phys_reset();
    if (pa >= FAKE_PHYS_SIZE) {
        fprintf(stderr, "fake: physical address 0x%llx outside fake memory\n", (unsigned long long)pa);
        abort();
    }
    return fake_phys + pa;
}

uint64_t virt_to_phys(const void *va)
{
    const uint8_t *p = va;
    if (fake_phys && p >= fake_phys && p < fake_phys + FAKE_PHYS_SIZE)
        return (uint64_t)(p - fake_phys);
    return (uint64_t)(uintptr_t)va;
}

#define FAKE_TABLE_MAX 256

static struct {
    uint32_t leaf, subleaf;
    struct cpuid_regs r;
} cpuid_table[FAKE_TABLE_MAX];
static unsigned cpuid_count;

void fake_cpuid_set(uint32_t leaf, uint32_t subleaf, struct cpuid_regs r)
{
    for (unsigned i = 0; i < cpuid_count; i++)
        if (cpuid_table[i].leaf == leaf && cpuid_table[i].subleaf == subleaf) {
            cpuid_table[i].r = r;
            return;
        }
    cpuid_table[cpuid_count].leaf = leaf;
    cpuid_table[cpuid_count].subleaf = subleaf;
    cpuid_table[cpuid_count++].r = r;
}

void fake_cpuid_clear(void) { cpuid_count = 0; }

void cpuid_query(uint32_t leaf, uint32_t subleaf, struct cpuid_regs *r)
{
    memset(r, 0, sizeof(*r));
    for (unsigned i = 0; i < cpuid_count; i++)
        if (cpuid_table[i].leaf == leaf && cpuid_table[i].subleaf == subleaf)
            *r = cpuid_table[i].r;
}

static struct {
    uint32_t msr;
    uint64_t value;
} msr_table[FAKE_TABLE_MAX];
static unsigned msr_count;

void fake_msr_set(uint32_t msr, uint64_t value)
{
    for (unsigned i = 0; i < msr_count; i++)
        if (msr_table[i].msr == msr) {
            msr_table[i].value = value;
            return;
        }
    msr_table[msr_count].msr = msr;
    msr_table[msr_count++].value = value;
}

void fake_msr_clear(void) { msr_count = 0; }

bool rdmsr_safe(uint32_t msr, uint64_t *value)
{
    for (unsigned i = 0; i < msr_count; i++)
        if (msr_table[i].msr == msr) {
            *value = msr_table[i].value;
            return true;
        }
    return false;
}

static uint64_t fake_tsc;

bool wrmsr_safe(uint32_t msr, uint64_t value)
{
    /* A present IA32_TSC is the time stamp counter itself. */
    uint64_t old;
    if (msr == MSR_IA32_TSC && rdmsr_safe(msr, &old))
        fake_tsc = value;
    for (unsigned i = 0; i < msr_count; i++)
        if (msr_table[i].msr == msr) {
            msr_table[i].value = value;
            return true;
        }
    return false;
}

uint64_t rdmsr(uint32_t msr)
{
    uint64_t v = 0;
    if (!rdmsr_safe(msr, &v)) {
        fprintf(stderr, "fake: rdmsr of unset MSR 0x%x\n", msr);
        abort();
    }
    return v;
}

void wrmsr(uint32_t msr, uint64_t value) { fake_msr_set(msr, value); }

uint64_t rdtsc(void) { return fake_tsc += 100; }

static char console_buf[1 << 16];
static size_t console_len;

void console_write(const char *s, size_t n)
{
    if (console_len + n >= sizeof(console_buf))
        n = sizeof(console_buf) - console_len - 1;
    memcpy(console_buf + console_len, s, n);
    console_len += n;
    console_buf[console_len] = 0;
}

const char *fake_console_output(void) { return console_buf; }
void fake_console_reset(void)
{
    console_len = 0;
    console_buf[0] = 0;
}

uint64_t fake_cr2;
void write_cr2(uint64_t value) { fake_cr2 = value; }

void console_flush(void) {}

/* cpu_stop: the test that expects it sets a jump target. */
jmp_buf *fake_cpu_stop_target;
void irq_disable(void) {}
void cpu_stop(void)
{
    if (!fake_cpu_stop_target) {
        fprintf(stderr, "fake: cpu_stop with no target\n");
        abort();
    }
    longjmp(*fake_cpu_stop_target, 1);
}

/* MONITOR/MWAIT: the test decides what happens while the code sleeps (for
 * example, another "CPU" posts what it waits for). */
const volatile void *fake_monitored;
void (*fake_mwait_hook)(void);
unsigned fake_mwaits;
void cpu_monitor(const volatile void *addr) { fake_monitored = addr; }
void cpu_mwait(void)
{
    fake_mwaits++;
    if (!fake_mwait_hook) {
        fprintf(stderr, "fake: MWAIT with nothing to wake it\n");
        abort();
    }
    fake_mwait_hook();
}

struct percpu *fake_this_cpu;
struct percpu *this_cpu(void) { return fake_this_cpu; }

unsigned fake_nmi_unblocks;
void cpu_unblock_nmi(void) { fake_nmi_unblocks++; }
