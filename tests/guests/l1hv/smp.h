/* l1hv's SMP mode (README.md, "SMP"): l1hv starts its APs itself as an
 * operating system does (MADT for the APIC IDs, INIT-SIPI-SIPI, a real-mode
 * trampoline into long mode, per-CPU stacks, GDT and TSS), each AP enters
 * VMX operation with its own VMXON region and then runs jobs the boot CPU
 * posts to it: its own L2s, IPIs, VMCS migration, shared EPT12.
 *
 * Rules for code that runs on an AP: only the job's own smp_cpu record and
 * data the case hands it; failures go to cpu_fail() (the BSP folds them
 * into the case's verdict with smp_collect()); expect() and printf only in
 * jobs the BSP runs one at a time (smp_run), never while other CPUs run. */
#ifndef L1HV_SMP_H
#define L1HV_SMP_H

#include "l1hv.h"

#define SMP_MAX_CPUS      8     /* L1 CPUs l1hv uses (the BSP and up to 7 APs) */
#define SMP_MIN_CPUS      2
#define SMP_VCPUS_PER_CPU 2     /* VMCSs each CPU owns */
#define SMP_MSG_MAX       240

/* ---- architectural constants the SMP cases add (SDM Vol. 3C) ---- */
#define EXIT_INIT_SIGNAL       3   /* Appendix C */
#define EXIT_SIPI              4
#define EXIT_VMCLEAR           19
#define EXIT_VMLAUNCH          20
#define EXIT_VMPTRLD           21
#define EXIT_VMPTRST           22
#define EXIT_INVEPT            50
#define EXIT_INVVPID           53
#define ACTIVITY_WAIT_FOR_SIPI 3   /* 25.4.2 */
#define VMX_MISC_ACTIVITY_WAIT_SIPI (1ULL << 8) /* A.6 */

/* Local APIC interrupt command register (Vol. 3A 11.6.1). */
#define ICR_FIXED          0x00000000u
#define ICR_INIT           0x00000500u
#define ICR_STARTUP        0x00000600u
#define ICR_LEVEL_ASSERT   0x00004000u
#define ICR_VECTOR_MASK    0xffu
#define INTR_INFO_TYPE_SHIFT 8  /* VM-exit interruption information (25.9.2) */

/* Interrupt vectors of the SMP cases. */
#define SMP_IPI_VECTOR      0x50 /* BSP -> AP in smp_ipi */
#define SMP_TO_BSP_VECTOR   0x60 /* AP i -> BSP: this + i (i < SMP_MAX_CPUS) */
#define SMP_FLUSH_VECTOR    0x70 /* remote TLB flush kick (smp_invept) */
#define SMP_WAKE_VECTOR     0xe0 /* a job was posted to an idle AP */

struct smp_cpu;
typedef void (*smp_job_fn)(struct smp_cpu *c, void *arg);

struct smp_cpu {
    unsigned index;               /* 0 = the BSP */
    uint32_t apic_id;
    uint64_t gdt_base, tss_base;  /* its own GDT and TSS (host state) */
    uint8_t *stack_top;           /* L1 stack (APs) */
    uint8_t *vmxon;               /* its VMXON region */
    struct vcpu vc[SMP_VCPUS_PER_CPU]; /* its VMCSs and L2 stacks */
    /* bring-up (written by the AP) */
    volatile uint32_t boots;      /* how many times it came up */
    volatile int vmxon_result;    /* VMX_OK or the VMXON failure */
    volatile bool parked;         /* halted for good until the next INIT-SIPI */
    /* the job the BSP posted */
    smp_job_fn volatile fn;
    void *volatile arg;
    volatile uint32_t req, ack;
    volatile uint32_t wakes_sent, wakes_seen;
    /* failures recorded on this CPU */
    volatile unsigned nfail;
    char first[SMP_MSG_MAX];
    /* interrupt counters (handlers) */
    volatile uint64_t ipi_count;       /* SMP_IPI_VECTOR taken in L1 */
    volatile uint64_t flush_irqs;      /* SMP_FLUSH_VECTOR taken in L1 */
};

struct smp_state {
    bool probed, usable;
    unsigned n;                   /* L1 CPUs used, the BSP included */
    unsigned madt_cpus;           /* enabled local APICs in the MADT */
    struct smp_cpu cpu[SMP_MAX_CPUS];
    uint64_t tsc_per_ms;
    uint64_t tramp_page;          /* where the trampoline lives */
    volatile uint64_t to_bsp[SMP_MAX_CPUS]; /* SMP_TO_BSP_VECTOR + i taken by the BSP */
};
extern struct smp_state smp;

/* The CPUs are up and in VMX operation (bringing them up the first time).
 * False after case_skip() (fewer than 2 CPUs) or a recorded failure. */
bool smp_ready(void);
/* Records a failure on c (first message kept, the rest counted). */
void cpu_fail(struct smp_cpu *c, const char *fmt, ...) PRINTF_LIKE(2, 3);
/* Folds every CPU's recorded failures into the case (expect) and clears them. */
void smp_collect(void);

/* Jobs. smp_post: c starts fn(c, arg) (c is an AP that is idle);
 * smp_wait: waits until it finished (false after timeout_ms, recorded).
 * smp_run: post and wait, or call fn directly for the BSP.
 * smp_run_aps: every AP at once (and the BSP's share when with_bsp). */
void smp_post(struct smp_cpu *c, smp_job_fn fn, void *arg);
bool smp_wait(struct smp_cpu *c, uint64_t timeout_ms);
bool smp_run(struct smp_cpu *c, smp_job_fn fn, void *arg, uint64_t timeout_ms);
bool smp_run_all(smp_job_fn fn, void *arg, bool with_bsp, uint64_t timeout_ms);
/* VMCLEARs every VMCS of every CPU (each on its own CPU). */
void smp_clear_all(void);

/* Time: TSC ticks per millisecond measured against the PIT at bring-up. */
uint64_t smp_ms_to_tsc(uint64_t ms);
bool smp_timed_out(uint64_t start_tsc, uint64_t ms);
void pit_wait_us(uint64_t us);

/* Local APIC: this CPU's APIC ID, its smp_cpu (NULL if unknown), an IPI
 * (false if the xAPIC ICR stayed busy). */
uint32_t smp_apic_id(void);
struct smp_cpu *smp_self(void);
bool smp_send_ipi(uint32_t apic_id, uint32_t icr_low);
/* INIT, 10 ms, SIPI, 200 us, SIPI (the second only if it is not up yet),
 * then waits up to 200 ms for c to come up (a new boot count) and enter
 * VMX operation. */
bool smp_start_ap(struct smp_cpu *c);

/* VMX helpers for any CPU. vcpu_setup() on the CPU running this, then the
 * per-CPU host state (GDTR/TR base, FS/GS base, SYSENTER MSRs) of this CPU:
 * what a hypervisor rewrites when a VMCS moves to another CPU. */
bool smp_vcpu_setup(struct smp_cpu *c, struct vcpu *v, void (*entry)(void));
void smp_host_fixup(struct smp_cpu *c);
/* VMXOFF on c (job) and marks it parked: c then halts until an INIT. */
void smp_job_park(struct smp_cpu *c, void *arg);

/* A spin lock between CPUs (L1 only). */
struct smp_lock {
    volatile uint32_t v;
};
void smp_lock(struct smp_lock *l);
void smp_unlock(struct smp_lock *l);

/* ---- cases (smp_cases.c, smp_bad.c, smp_bench.c) ---- */
void case_smp_start(void);
void case_smp_ipi(void);
void case_smp_migrate(void);
void case_smp_ept_shared(void);
void case_smp_invept(void);
void case_smp_wfs(void);
void case_smp_bad_triple(void);
void case_smp_bad_init_bsp(void);
void case_smp_bad_sipi(void);
void case_smp_bad_init_storm(void);
void case_bench_smp(void);

/* ---- L2 code (smp_l2.asm) ---- */
void smp_l2_count(void);
extern char smp_l2_count_cpuid[];
void smp_l2_touch(void);
void smp_l2_check(void);
void smp_l2_reader(void);
void smp_l2_writer(void);
extern char smp_l2_writer_store[];
void smp_l2_cpuid_loop(void);

#endif
