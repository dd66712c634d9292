/* A virtual CPU of L1 and the per-CPU state of the physical CPU under it. */
#ifndef VMM_VCPU_H
#define VMM_VCPU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "arch/x86/exit_reasons.h"
#include "vmm/hypercall_abi.h"
#include "vmm/percpu.h"

/* Guest GPRs as the exit stub saves them (arch/x86/vmx_entry.asm mirrors
 * these offsets; vcpu.c checks them at compile time). RSP and RIP live in
 * the VMCS. */
struct guest_regs {
    uint64_t rax, rcx, rdx, rbx, rsp_unused, rbp, rsi, rdi;
    uint64_t r8, r9, r10, r11, r12, r13, r14, r15;
    uint64_t exit_tsc;    /* RDTSC at the first instruction of the exit stub */
    uint64_t *ticks_slot; /* where the stub adds this exit's L0 ticks */
    uint64_t launch;      /* enter with VMLAUNCH (a fresh VMCS), not VMRESUME */
};

/* GPR number n as encoded in exit qualifications and instruction info. */
static inline uint64_t *guest_gpr(struct guest_regs *r, unsigned n) { return &(&r->rax)[n & 15]; }

struct exit_stats {
    uint64_t count[NV_LEVEL_COUNT][EXIT_REASON_COUNT];
    uint64_t ticks[NV_LEVEL_COUNT][EXIT_REASON_COUNT];
    uint64_t unknown_ticks; /* sink for exits with reasons out of range */
};

struct nested_vmx; /* vmm/nested/ */

#define NV_CONSOLE_LINE_MAX 200 /* longer L1 console lines are cut */

/* Who a vCPU belongs to. */
enum vcpu_role {
    VCPU_L1,   /* one of L1's CPUs */
    VCPU_HELD, /* a CPU nestvisor keeps from L1 (cpus=N): it waits in L0
                  forever (vmm/sipi.c) */
};

struct vcpu {
    struct guest_regs regs; /* first: the stub finds it through HOST_RSP */
    uint32_t id;            /* = the id of the physical CPU it is pinned to */
    enum vcpu_role role;
    struct percpu *cpu;
    uint64_t vmcs01;        /* physical address of L1's VMCS */
    bool launched;
    bool in_l2;             /* the current hardware VMCS runs L2 */
    bool l2_insn_completed; /* L0 completed an L2 instruction in this exit (MTF) */
    /* L1's view of host-owned control-register bits (read shadows). */
    uint64_t cr0_shadow, cr4_shadow;
    uint64_t cr0_mask, cr4_mask;
    struct exit_stats stats;
    unsigned ipis_reported;  /* INITs/SIPIs logged so far (sipi.c limits them) */
    bool wait_for_sipi;      /* waits in L0 for a SIPI (NMIs are blocked there);
                                written by its CPU, read by others (atomics) */
    bool init_pending;       /* an INIT arrived in VMX root operation or while L2
                                waited for a SIPI (blocked, SDM 24.8, 25.2) */
    uint64_t init_exit_rip;  /* INIT-signal exits in a row at one RIP (sipi.c) */
    uint32_t init_exit_streak;
    bool nmi_pending;        /* an NMI of L1's to deliver (vmm/nmi.c) */
    struct nested_vmx *nested;
    struct {
        char line[NV_CONSOLE_LINE_MAX + 1];
        unsigned used;
    } console; /* L1's console hypercall output, cut into lines */
    /* INIT and SIPI that other CPUs post to this vCPU (vmm/sipi.c): one
     * word, changed only by compare-and-swap; last and cache-line aligned,
     * so alone in its line, which the vCPU monitors while it waits. */
    uint32_t sipi_signals __attribute__((aligned(64)));
};

static inline struct vcpu *vcpu_of_regs(struct guest_regs *r)
{
    return (struct vcpu *)((char *)r - offsetof(struct vcpu, regs));
}

/* Event injection into the guest the current VMCS runs (SDM 26.6). */
void vcpu_inject_exception(struct vcpu *v, unsigned vector);
void vcpu_inject_exception_code(struct vcpu *v, unsigned vector, uint32_t error);
void vcpu_inject_gp(struct vcpu *v);
void vcpu_inject_ud(struct vcpu *v);
/* Completes an emulated instruction: RIP += instruction length, clears STI
 * and MOV-SS blocking (SDM 26.7.1). */
void vcpu_skip_instruction(struct vcpu *v);
/* The same for an instruction of `length` bytes that L0 decoded itself (an
 * exit that reports no instruction length: an EPT violation). */
void vcpu_skip_bytes(struct vcpu *v, uint64_t length);
/* A VM exit that L0 handled interrupted the delivery of an event (its
 * IDT-vectoring information, SDM 27.2.4): the next VM entry delivers it
 * again (SDM 26.6), unless L0's handler injected an event of its own. */
void vcpu_redeliver_event(uint32_t vectoring);
/* CPL of the guest the current VMCS runs (SS.DPL, SDM 3.4.5). */
unsigned vcpu_cpl(void);
/* With EPT the CPU takes PAE PDPTEs from the VMCS (SDM 29.3.1): loads
 * them from the PDPT at cr3 in L1 memory into the current VMCS. False if
 * the PDPT is not L1 RAM or a present entry has reserved bits set. */
bool vcpu_load_pae_pdptes(uint64_t cr3);
/* Prints the guest's state for error reports. */
void vcpu_dump(struct vcpu *v, const char *why);

#endif
