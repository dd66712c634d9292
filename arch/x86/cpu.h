/* CPU instructions as C functions. On unit-test builds (UNIT_TEST) the ones
 * the vmm/ logic uses come from a fake instead (tests/unit/fake_arch.c). */
#ifndef ARCH_X86_CPU_H
#define ARCH_X86_CPU_H

#include <stdint.h>
#include <stdbool.h>

struct cpuid_regs {
    uint32_t eax, ebx, ecx, edx;
};

#ifdef UNIT_TEST
void cpuid_query(uint32_t leaf, uint32_t subleaf, struct cpuid_regs *r);
uint64_t rdmsr(uint32_t msr);
void wrmsr(uint32_t msr, uint64_t value);
/* rdmsr that reports a #GP instead of taking it. */
bool rdmsr_safe(uint32_t msr, uint64_t *value);
bool wrmsr_safe(uint32_t msr, uint64_t value);
uint64_t rdtsc(void);
/* Privileged instructions that exit handlers and vmcs01 execute: the fake
 * of the VMX layer provides them (tests/unit/fake_vmx.c). */
void outb(uint16_t port, uint8_t v);
void outw(uint16_t port, uint16_t v);
void outl(uint16_t port, uint32_t v);
uint8_t inb(uint16_t port);
uint16_t inw(uint16_t port);
uint32_t inl(uint16_t port);
uint64_t read_cr0(void);
uint64_t read_cr3(void);
uint64_t read_cr4(void);
void write_cr0(uint64_t v);
void write_cr3(uint64_t v);
void write_cr4(uint64_t v);
void wbinvd(void);
void xsetbv(uint32_t index, uint64_t value);
void write_cr2(uint64_t v); /* tests/unit/fake_arch.c */
void irq_disable(void);
__attribute__((noreturn)) void cpu_stop(void); /* the fake longjmps to the test */
void cpu_monitor(const volatile void *addr);
void cpu_mwait(void);
void cpu_unblock_nmi(void);
#else
static inline void cpuid_query(uint32_t leaf, uint32_t subleaf, struct cpuid_regs *r)
{
    __asm__ volatile("cpuid"
                     : "=a"(r->eax), "=b"(r->ebx), "=c"(r->ecx), "=d"(r->edx)
                     : "a"(leaf), "c"(subleaf));
}

static inline uint64_t rdmsr(uint32_t msr)
{
    uint32_t lo, hi;
    __asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
    return ((uint64_t)hi << 32) | lo;
}

static inline void wrmsr(uint32_t msr, uint64_t value)
{
    __asm__ volatile("wrmsr" ::"c"(msr), "a"((uint32_t)value), "d"((uint32_t)(value >> 32))
                     : "memory");
}

/* Implemented in arch/x86/traps.c with an exception fixup. */
bool rdmsr_safe(uint32_t msr, uint64_t *value);
bool wrmsr_safe(uint32_t msr, uint64_t value);

static inline uint64_t rdtsc(void)
{
    uint32_t lo, hi;
    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return ((uint64_t)hi << 32) | lo;
}
#endif

#ifndef UNIT_TEST
static inline void outb(uint16_t port, uint8_t v) { __asm__ volatile("outb %0, %1" ::"a"(v), "Nd"(port)); }
static inline void outw(uint16_t port, uint16_t v) { __asm__ volatile("outw %0, %1" ::"a"(v), "Nd"(port)); }
static inline void outl(uint16_t port, uint32_t v) { __asm__ volatile("outl %0, %1" ::"a"(v), "Nd"(port)); }
static inline uint8_t inb(uint16_t port)
{
    uint8_t v;
    __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
    return v;
}
static inline uint16_t inw(uint16_t port)
{
    uint16_t v;
    __asm__ volatile("inw %1, %0" : "=a"(v) : "Nd"(port));
    return v;
}
static inline uint32_t inl(uint16_t port)
{
    uint32_t v;
    __asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port));
    return v;
}

#define DEFINE_CR_ACCESSORS(n)                                                                     \
    static inline uint64_t read_cr##n(void)                                                        \
    {                                                                                              \
        uint64_t v;                                                                                \
        __asm__ volatile("mov %%cr" #n ", %0" : "=r"(v));                                          \
        return v;                                                                                  \
    }                                                                                              \
    static inline void write_cr##n(uint64_t v) { __asm__ volatile("mov %0, %%cr" #n ::"r"(v) : "memory"); }
DEFINE_CR_ACCESSORS(0)
DEFINE_CR_ACCESSORS(2)
DEFINE_CR_ACCESSORS(3)
DEFINE_CR_ACCESSORS(4)
#undef DEFINE_CR_ACCESSORS

static inline uint64_t read_dr7(void)
{
    uint64_t v;
    __asm__ volatile("mov %%dr7, %0" : "=r"(v));
    return v;
}

static inline uint64_t read_rflags(void)
{
    uint64_t v;
    __asm__ volatile("pushfq; popq %0" : "=r"(v));
    return v;
}

static inline void xsetbv(uint32_t index, uint64_t value)
{
    __asm__ volatile("xsetbv" ::"c"(index), "a"((uint32_t)value), "d"((uint32_t)(value >> 32)));
}

static inline uint64_t xgetbv(uint32_t index)
{
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(index));
    return ((uint64_t)hi << 32) | lo;
}

static inline void irq_disable(void) { __asm__ volatile("cli" ::: "memory"); }
static inline void irq_enable(void) { __asm__ volatile("sti" ::: "memory"); }
static inline void cpu_halt(void) { __asm__ volatile("hlt" ::: "memory"); }
static inline void invlpg(uint64_t va) { __asm__ volatile("invlpg (%0)" ::"r"(va) : "memory"); }
static inline void wbinvd(void) { __asm__ volatile("wbinvd" ::: "memory"); }

static inline uint16_t read_cs(void)
{
    uint16_t v;
    __asm__ volatile("mov %%cs, %0" : "=r"(v));
    return v;
}

/* A VM exit caused by an NMI leaves NMIs blocked until the next IRET, as
 * an NMI delivered through the IDT does (Bochs 2.7 keeps them blocked
 * across VM entries too): an IRET to the next instruction unblocks them. */
static inline void cpu_unblock_nmi(void)
{
    __asm__ volatile("mov %%ss, %%eax\n\t"
                     "mov %%rsp, %%rdx\n\t"
                     "push %%rax\n\t"
                     "push %%rdx\n\t"
                     "pushfq\n\t"
                     "mov %%cs, %%eax\n\t"
                     "push %%rax\n\t"
                     "lea 1f(%%rip), %%rax\n\t"
                     "push %%rax\n\t"
                     "iretq\n"
                     "1:"
                     :
                     :
                     : "rax", "rdx", "memory");
}

/* MONITOR/MWAIT (SDM Vol. 2B): sleep until the monitored line is written
 * (or an NMI/SMI/INIT arrives; interrupts are off in L0). */
static inline void cpu_monitor(const volatile void *addr)
{
    __asm__ volatile("monitor" ::"a"(addr), "c"(0), "d"(0) : "memory");
}

static inline void cpu_mwait(void) { __asm__ volatile("mwait" ::"a"(0), "c"(0) : "memory"); }

__attribute__((noreturn)) static inline void cpu_stop(void)
{
    for (;;)
        __asm__ volatile("cli; hlt");
}
#endif

/* Spin-wait hint; harmless on the host too. */
static inline void cpu_relax(void) { __asm__ volatile("pause"); }

#endif
