/* Thin wrappers around privileged and special instructions. */
#ifndef GUEST_CPU_H
#define GUEST_CPU_H

#include <stdbool.h>
#include <stdint.h>

struct cpuid_regs {
    uint32_t eax, ebx, ecx, edx;
};

static inline struct cpuid_regs cpuid2(uint32_t leaf, uint32_t subleaf)
{
    struct cpuid_regs r;
    __asm__ volatile("cpuid"
                     : "=a"(r.eax), "=b"(r.ebx), "=c"(r.ecx), "=d"(r.edx)
                     : "a"(leaf), "c"(subleaf)
                     : "memory");
    return r;
}

static inline struct cpuid_regs cpuid(uint32_t leaf)
{
    return cpuid2(leaf, 0);
}

static inline uint64_t rdmsr(uint32_t msr)
{
    uint32_t lo, hi;
    __asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr) : "memory");
    return ((uint64_t)hi << 32) | lo;
}

static inline void wrmsr(uint32_t msr, uint64_t value)
{
    __asm__ volatile("wrmsr"
                     :
                     : "c"(msr), "a"((uint32_t)value), "d"((uint32_t)(value >> 32))
                     : "memory");
}

#define DEFINE_CR(n)                                                    \
    static inline uint64_t read_cr##n(void)                             \
    {                                                                   \
        uint64_t v;                                                     \
        __asm__ volatile("mov %%cr" #n ", %0" : "=r"(v) : : "memory");  \
        return v;                                                       \
    }                                                                   \
    static inline void write_cr##n(uint64_t v)                          \
    {                                                                   \
        __asm__ volatile("mov %0, %%cr" #n : : "r"(v) : "memory");      \
    }
DEFINE_CR(0)
DEFINE_CR(2)
DEFINE_CR(3)
DEFINE_CR(4)
#undef DEFINE_CR

static inline uint64_t read_rflags(void)
{
    uint64_t v;
    __asm__ volatile("pushfq; pop %0" : "=r"(v) : : "memory");
    return v;
}

static inline uint64_t xgetbv(uint32_t index)
{
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(index));
    return ((uint64_t)hi << 32) | lo;
}

static inline void xsetbv(uint32_t index, uint64_t value)
{
    __asm__ volatile("xsetbv"
                     :
                     : "c"(index), "a"((uint32_t)value), "d"((uint32_t)(value >> 32))
                     : "memory");
}

static inline void outb(uint16_t port, uint8_t v)
{
    __asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port) : "memory");
}

static inline uint8_t inb(uint16_t port)
{
    uint8_t v;
    __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port) : "memory");
    return v;
}

static inline void outw(uint16_t port, uint16_t v)
{
    __asm__ volatile("outw %0, %1" : : "a"(v), "Nd"(port) : "memory");
}

static inline uint16_t inw(uint16_t port)
{
    uint16_t v;
    __asm__ volatile("inw %1, %0" : "=a"(v) : "Nd"(port) : "memory");
    return v;
}

static inline void io_wait(void)
{
    outb(0x80, 0);
}

/* RDTSC ordered after everything before it (LFENCE waits for earlier
 * instructions to complete) and before everything after it. */
static inline uint64_t rdtsc_begin(void)
{
    uint32_t lo, hi;
    __asm__ volatile("lfence; rdtsc; lfence" : "=a"(lo), "=d"(hi) : : "memory");
    return ((uint64_t)hi << 32) | lo;
}

/* RDTSCP waits for earlier instructions; the LFENCE keeps later ones out.
 * Without RDTSCP (CPUID.80000001H:EDX[27]; set by the runtime at start):
 * LFENCE; RDTSC; LFENCE. */
extern bool cpu_has_rdtscp;
static inline uint64_t rdtsc_end(void)
{
    uint32_t lo, hi;
    if (cpu_has_rdtscp)
        __asm__ volatile("rdtscp; lfence" : "=a"(lo), "=d"(hi) : : "rcx", "memory");
    else
        __asm__ volatile("lfence; rdtsc; lfence" : "=a"(lo), "=d"(hi) : : "memory");
    return ((uint64_t)hi << 32) | lo;
}

static inline uint64_t rdtsc(void)
{
    uint32_t lo, hi;
    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi) : : "memory");
    return ((uint64_t)hi << 32) | lo;
}

static inline void cli(void) { __asm__ volatile("cli" : : : "memory"); }
static inline void sti(void) { __asm__ volatile("sti" : : : "memory"); }
static inline void hlt(void) { __asm__ volatile("hlt" : : : "memory"); }
/* STI's one-instruction interrupt shadow makes "sti; hlt" race-free. */
static inline void sti_hlt(void) { __asm__ volatile("sti; hlt" : : : "memory"); }
static inline void pause(void) { __asm__ volatile("pause" : : : "memory"); }

struct __attribute__((packed)) desc_ptr {
    uint16_t limit;
    uint64_t base;
};

static inline void lidt(const struct desc_ptr *p)
{
    __asm__ volatile("lidt %0" : : "m"(*p) : "memory");
}

static inline void sidt(struct desc_ptr *p)
{
    __asm__ volatile("sidt %0" : "=m"(*p) : : "memory");
}

/* Bits used by the tests. */
#define CR0_PE (1ULL << 0)
#define CR0_MP (1ULL << 1)
#define CR0_EM (1ULL << 2)
#define CR0_TS (1ULL << 3)
#define CR0_NE (1ULL << 5)
#define CR0_WP (1ULL << 16)
#define CR0_PG (1ULL << 31)

#define CR4_PGE        (1ULL << 7)
#define CR4_OSFXSR     (1ULL << 9)
#define CR4_OSXMMEXCPT (1ULL << 10)
#define CR4_VMXE       (1ULL << 13)
#define CR4_SMXE       (1ULL << 14)
#define CR4_FSGSBASE   (1ULL << 16)
#define CR4_OSXSAVE    (1ULL << 18)

#define CPUID1_ECX_VMX       (1U << 5)
#define CPUID1_ECX_SMX       (1U << 6)
#define CPUID1_ECX_XSAVE     (1U << 26)
#define CPUID1_ECX_OSXSAVE   (1U << 27)
#define CPUID1_ECX_HYPERVISOR (1U << 31)
#define CPUID1_EDX_APIC      (1U << 9)
#define CPUID7_EBX_FSGSBASE  (1U << 0)
#define CPUID7_ECX_WAITPKG   (1U << 5)
#define CPUID81_EDX_RDTSCP   (1U << 27)

#define MSR_TSC                 0x10
#define MSR_APIC_BASE           0x1b
#define MSR_FEATURE_CONTROL     0x3a
#define MSR_MTRRCAP             0xfe
#define MSR_SYSENTER_CS         0x174
#define MSR_SYSENTER_ESP        0x175
#define MSR_SYSENTER_EIP        0x176
#define MSR_MISC_ENABLE         0x1a0
#define MSR_PAT                 0x277
#define MSR_MTRR_DEF_TYPE       0x2ff
#define MSR_VMX_BASIC           0x480
#define MSR_EFER                0xc0000080
#define MSR_STAR                0xc0000081
#define MSR_LSTAR               0xc0000082
#define MSR_CSTAR               0xc0000083
#define MSR_FMASK               0xc0000084
#define MSR_FS_BASE             0xc0000100
#define MSR_GS_BASE             0xc0000101
#define MSR_KERNEL_GS_BASE      0xc0000102
#define MSR_TSC_AUX             0xc0000103

#endif
