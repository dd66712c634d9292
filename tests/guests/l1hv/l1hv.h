/* l1hv: a small hypervisor that runs as L1 and tests VT-x against its own
 * L2 guests (README.md in this directory). Shared declarations. */
#ifndef L1HV_H
#define L1HV_H

#include "guest.h"
#include "vmx.h"

#define PAGE_SIZE 4096
#define PAGE_2M   (1ULL << 21)
#define PAGE_1G   (1ULL << 30)

/* ---- capabilities (caps.c) ----
 * Every IA32_VMX_* MSR the CPU reports. The ctl_* values are the ones that
 * govern the controls: the TRUE_* MSRs when IA32_VMX_BASIC bit 55 is set,
 * else the plain ones (SDM A.2). Low 32 bits = allowed-0 settings (a 1 means
 * the control must be 1), high 32 bits = allowed-1 settings. */
struct vmx_caps {
    uint64_t basic, misc, vmcs_enum;
    uint64_t pin, proc, exit, entry;                     /* plain MSRs */
    uint64_t true_pin, true_proc, true_exit, true_entry; /* if BASIC[55] */
    uint64_t proc2, ept_vpid, vmfunc;                    /* 0 if not reported */
    uint64_t cr0_fixed0, cr0_fixed1, cr4_fixed0, cr4_fixed1;
    uint64_t ctl_pin, ctl_proc, ctl_exit, ctl_entry, ctl_proc2;
    uint32_t revision;
    unsigned phys_bits; /* CPUID.80000008H:EAX[7:0] */
};
extern struct vmx_caps caps;

/* Reads everything; false (with *why) if VMX cannot be used at all. */
bool caps_read(const char **why);
void caps_print(void);

static inline uint32_t ctl_must1(uint64_t msr) { return (uint32_t)msr; }
static inline uint32_t ctl_may1(uint64_t msr) { return (uint32_t)(msr >> 32); }
/* A value for the control: the wanted bits, plus every must-be-1 bit, minus
 * nothing (callers check availability with cap_*() first). */
static inline uint32_t ctl_value(uint64_t msr, uint32_t want) { return want | ctl_must1(msr); }

bool cap_pin(uint32_t bits);
bool cap_proc(uint32_t bits);
bool cap_proc2(uint32_t bits); /* false when there are no secondary controls */
bool cap_exit(uint32_t bits);
bool cap_entry(uint32_t bits);

/* ---- L2 contexts and VM entries (vmcs.c, vmx_asm.asm) ---- */

/* Guest registers that are not in the VMCS. The layout is shared with
 * vmx_asm.asm (offsets REG_*). */
struct guest_regs {
    uint64_t rax, rbx, rcx, rdx, rsi, rdi, rbp;
    uint64_t r8, r9, r10, r11, r12, r13, r14, r15;
    uint64_t host_rsp; /* HOST_RSP last written to this vCPU's VMCS (0 = unknown) */
};

struct vcpu {
    struct guest_regs regs; /* first: vmx_enter() gets a pointer to it */
    const char *name;
    uint8_t *vmcs;          /* 4 KiB region, physical = virtual */
    uint8_t *stack_top;     /* L2's stack */
    bool launched;          /* what we expect the VMCS launch state to be */
    /* last exit (vcpu_run) */
    int entry_result;       /* VMX_OK or the VMfail of VMLAUNCH/VMRESUME */
    uint32_t entry_error;   /* VM-instruction error when VMX_FAIL_VALID */
    uint32_t reason;        /* full exit reason (bit 31 = entry failure) */
};

#define NUM_VCPUS 2
extern struct vcpu vcpus[NUM_VCPUS];

/* int vmx_enter(struct guest_regs *, int resume): loads the guest registers
 * and executes VMLAUNCH (resume = 0) or VMRESUME. Returns VMX_OK after a VM
 * exit (registers saved back), else the VMfail kind. */
int vmx_enter(struct guest_regs *regs, int resume);
extern char vmx_exit_landing[];

static inline uint64_t vmcs_pa(const struct vcpu *v) { return (uintptr_t)v->vmcs; }

/* Fills a 16-byte TSS descriptor (d[0], d[1]). */
void tss_descriptor(uint64_t *d, uint64_t base, uint32_t limit, uint8_t type);
/* One-time set-up of what every L2 shares: page tables, GDT, IDT, TSS. */
void l2_env_init(void);
/* Writes the VMCS signature, VMCLEARs and VMPTRLDs v's VMCS, then fills in
 * host state, a 64-bit paged L2 at `entry` and the default controls (only
 * the must-be-1 bits, plus host address-space size, IA-32e guest and EFER
 * load/save when offered). Returns false (after recording a failure) if any
 * step failed. */
bool vcpu_setup(struct vcpu *v, void (*entry)(void));
/* VMCLEAR v's VMCS (it stays initialized; the launch state becomes clear). */
bool vcpu_clear(struct vcpu *v);
/* VMLAUNCH or VMRESUME v (whose VMCS must be current) until the next exit;
 * fills v->entry_result/entry_error/reason. Returns true iff a VM exit that
 * is not an entry failure happened. */
bool vcpu_run(struct vcpu *v);
/* Advances the guest RIP by the exit's instruction length. */
void vcpu_skip_instruction(void);
/* Points the current VMCS's guest RIP at entry and RSP at v's stack top:
 * the next VMRESUME starts that routine afresh. */
void l2_restart(struct vcpu *v, void (*entry)(void));
/* Runs and records a failure unless the exit's basic reason is `reason`. */
bool run_expect(struct vcpu *v, uint32_t reason, const char *what);
/* Describes the last exit (reason, qualification, RIP, ...) for messages. */
const char *exit_describe(const struct vcpu *v);

/* Control helpers for the current VMCS (controls must be offered). */
void vmcs_set_bits(uint64_t field, uint32_t bits);
void vmcs_clear_bits(uint64_t field, uint32_t bits);
/* Enables secondary controls (and the primary "activate secondary controls"). */
void vmcs_enable_proc2(uint32_t bits);

/* Pages the tests use (all 4 KiB aligned, physical = virtual). */
extern uint8_t vmxon_region[PAGE_SIZE];
extern uint8_t io_bitmap_a[PAGE_SIZE], io_bitmap_b[PAGE_SIZE], msr_bitmap[PAGE_SIZE];
extern uint8_t scratch_page[PAGE_SIZE];
extern uint64_t l2_cr3;           /* L2's PML4 */
extern uint64_t l2_unmapped_addr; /* linear address L2's page tables leave not present */

/* ---- EPT12: the EPT L1 gives its L2 (ept.c; SDM 29.3) ----
 * A builder over a pool of 4 KiB tables (ept_pool_reset() at the start of
 * every case that builds one). Levels: 4 = PML4, 3 = PDPT, 2 = PD, 1 = PT.
 * New leaves get memory type WB; new non-leaf entries R/W/X. */
#define EPT_LEVEL_PT   1
#define EPT_LEVEL_PD   2
#define EPT_LEVEL_PDPT 3
#define EPT_LEVEL_PML4 4

struct ept {
    uint64_t *pml4;
    uint64_t eptp;
};

/* EPT with 4-level walks, WB paging structures, 2 MiB pages and INVEPT
 * (single- or all-context) offered? If not, skips the case and says why. */
bool ept_offered(void);
void ept_pool_reset(void);
/* An empty EPT: EPTP = PML4 | WB | 4-level walk | extra (e.g. EPTP_AD_ENABLE). */
bool ept_init(struct ept *e, uint64_t eptp_extra);
/* The entry at `level` on gpa's path, made to exist: missing tables are
 * allocated, large leaves above `level` split into equal smaller ones.
 * NULL when the pool is exhausted. */
uint64_t *ept_entry(struct ept *e, uint64_t gpa, int level);
/* No changes: the entry that ends gpa's walk (a leaf, or the first
 * not-present entry), and its level. */
uint64_t *ept_walk(const struct ept *e, uint64_t gpa, int *level);
/* A leaf of `size` (4 KiB, 2 MiB or 1 GiB) mapping gpa to pa with perms;
 * returns it (NULL if the pool is exhausted). */
uint64_t *ept_map(struct ept *e, uint64_t gpa, uint64_t pa, uint64_t size, uint64_t perms);
bool ept_map_range(struct ept *e, uint64_t gpa, uint64_t pa, uint64_t len, uint64_t size,
                   uint64_t perms);
/* 0-4 GiB identity in 2 MiB leaves, RWX. */
bool ept_identity(struct ept *e);
/* Sets R/W/X of the leaf that maps gpa (4 KiB leaf made to exist). */
bool ept_set_perms(struct ept *e, uint64_t gpa, uint64_t perms);
/* INVEPT single-context for eptp, or all-context when only that is offered. */
int ept_invalidate(uint64_t eptp);
/* vcpu_setup, then "enable EPT", the EPTP and INVEPT of it. */
bool ept_vcpu_setup(struct vcpu *v, void (*entry)(void), const struct ept *e);
/* The EPT-violation qualification (table 28-7) for an access (QUAL_EPT_READ
 * / WRITE / FETCH) by L2 to the translation of a linear address, when the
 * AND of the R/W/X bits of the EPT12 entries walked is `perms`. */
uint64_t ept_violation_qual(uint32_t access, uint64_t perms);
/* A size-byte range of usable RAM, aligned, below 4 GiB and above
 * everything l1hv and its loader put in memory. */
bool find_free_ram(uint64_t size, uint64_t align, uint64_t *base);

/* `strict` on the command line: also run the checks where Bochs 2.7
 * deviates from the SDM (README.md lists them). */
extern bool opt_strict;

/* VMX operation (main.c). */
extern bool in_vmx_root;
bool vmx_enable(void);   /* CR0/CR4 fixed bits, CR4.VMXE, VMXON; false on failure */
bool vmx_disable(void);  /* VMXOFF, CR4.VMXE cleared */

/* ---- ring 3 (cpl3.c, vmx_asm.asm) ----
 * Runs fn at CPL 3 (identity-mapped, on a user stack) and returns the vector
 * of the exception it raised, or NO_FAULT if it came back (fn ends with
 * `int CPL3_RETURN_VECTOR`). The faulting RIP and error code are in
 * cpl3_fault_rip / cpl3_fault_error. */
#define CPL3_RETURN_VECTOR 0x81
int cpl3_run(void (*fn)(void));
extern uint64_t cpl3_fault_rip, cpl3_fault_error;
/* L1's own GDT with user segments and a TSS (for RSP0), loaded at start. */
void l1_gdt_init(void);
#define SEL_KERNEL_CS 0x08
#define SEL_KERNEL_DS 0x10
#define SEL_TSS       0x18
#define SEL_USER_DS   0x2b /* 0x28 | RPL 3 */
#define SEL_USER_CS   0x33 /* 0x30 | RPL 3 */
extern uint64_t l1_gdt_base, l1_tss_base;

/* ---- case bookkeeping (main.c) ----
 * A case prints one verdict: PASS, FAIL (first problem; later ones as
 * "l1hv:   also: ..." lines) or SKIP. */
bool expect(bool ok, const char *fmt, ...) PRINTF_LIKE(2, 3);
#define EXPECT(cond, ...) expect((cond), __VA_ARGS__)
#define REQUIRE(cond, ...)                  \
    do {                                    \
        if (!expect((cond), __VA_ARGS__))   \
            return;                         \
    } while (0)
/* Returns from the case if a check (that already recorded its failure)
 * returned false. */
#define TRY(check)          \
    do {                    \
        if (!(check))       \
            return;         \
    } while (0)
void case_skip(const char *fmt, ...) PRINTF_LIKE(1, 2);
bool case_failed(void);

/* Names of VMX outcomes for messages: "VMsucceed", "VMfailInvalid",
 * "VMfailValid(error N)". */
const char *vmx_outcome(int result);
/* The instruction ended with VMfailValid and error `err`. */
bool expect_vmfail_valid(int result, uint32_t err, const char *what);
/* The instruction ended with VMfailInvalid. */
bool expect_vmfail_invalid(int result, const char *what);
/* The instruction succeeded. */
bool expect_vmok(int result, const char *what);

/* ---- nestvisor's memory (l0.c) ----
 * Under nestvisor's default policy (hidden=discard) every page of its own
 * memory and every address beyond its EPT01's identity map is ONE sink
 * page for L1: reads give 0xff until written, then what was last written
 * at that offset of any hidden page; nothing reaches nestvisor's memory.
 * l0_view() asks nestvisor once (NV_HC_L0_MEMORY, NV_HC_CANARY) and is
 * NULL without it. */
#define L0_MAX_RANGES 8
struct l0_view {
    unsigned n;
    uint64_t base[L0_MAX_RANGES], end[L0_MAX_RANGES]; /* nestvisor's ranges */
    uint64_t canary;                 /* the canary page (physical) */
    uint64_t range_base, range_end;  /* the range holding it */
    uint64_t other;                  /* another nestvisor page */
    uint64_t top;                    /* (1 << MAXPHYADDR) - 4 KiB: beyond RAM */
    uint64_t above512;               /* 512 GiB + 4 KiB if below top, else 0 */
};
const struct l0_view *l0_view(void);
/* In one of nestvisor's ranges or at/above the top page. */
bool l0_is_hidden(uint64_t pa);
/* Set by every case that writes hidden memory: later "first read gives
 * all ones" checks then only print what they see. */
extern bool l1hv_sink_written;
/* The sink's qword at off (read through the canary page, written through
 * the page beyond RAM). */
uint64_t sink_read(uint64_t off);
void sink_write(uint64_t off, uint64_t value);
void sink_snapshot(uint64_t *qwords); /* all 512 qwords */
/* phys_window() slots (guest.h): 0 for the sink, the rest for the cases. */
#define PHYS_SLOT_SINK 0

/* The independent witness of an attack case: nestvisor's canary
 * (NV_HC_CANARY) and its own exit counters (NV_HC_EXIT_STATS: L1's CPUID
 * exits must only grow, and by exactly the CPUIDs L1 then executes).
 * witness_end() prints "l1hv: NAME: contained (...)" or "... ESCAPED: ..."
 * (recording a failure); without nestvisor it says there is no witness. */
struct witness {
    bool on, intact_before;
    uint64_t canary, cpuid0, all0;
};
void witness_begin(struct witness *w);
bool witness_end(struct witness *w, const char *name);

/* ---- the L2 code (l2.asm) ----
 * Each routine is entered at its label with registers set by L1 (see
 * l2.asm for what each expects) and ends with VMCALL. */
void l2_vmcall(void);
void l2_cpuid(void);
void l2_hlt(void);
void l2_io(void);
void l2_bitmap_live(void);
void l2_msr(void);
void l2_cr(void);
void l2_ud(void);
void l2_read(void);
void l2_rdtsc(void);
void l2_spin(void);
void l2_triple(void);
void l2_movdr(void);
void l2_invlpg(void);
void l2_rdpmc(void);
void l2_rdtscp(void);
void l2_count(void);
void l2_bench(void);
void l2_real(void); /* 16-bit code: CS.base = its address, IP = 0 */
void l2_write(void);
void l2_exec(void);
void l2_write_read(void);
void l2_ept_basic(void);
void l2_ept_counter(void);
void l2_touch(void);
extern const char l2_touch_store[]; /* its store instruction */
void l2_vmfunc_switch(void);
extern const char l2_vmfunc_switch_last[]; /* its last VMFUNC */
void l2_vmfunc_read(void);
extern const char l2_vmfunc_read_insn[];
extern const uint8_t l2_exec_stub[], l2_exec_stub_end[];
#define L2_EXEC_MARK 0xec5eedULL /* what l2_exec_stub leaves in R8 */
extern const uint64_t l2_exc_stubs[32];
/* Marker the L2 exception handlers leave in R15 (vector in R14, error code
 * in R13, CR2 in R12). */
#define L2_EXC_MARK 0xe8ce97105ULL

/* ---- the cases ---- */
void case_basic(void);
/* exits.c */
void case_cpuid(void);
void case_hlt(void);
void case_io(void);
/* live.c */
void case_bitmap_live(void);
void case_msr(void);
void case_cr(void);
void case_exc_ud(void);
void case_exc_pf(void);
void case_tsc_offset(void);
void case_rdtsc_exit(void);
void case_vmcall(void);
void case_extint(void);
void case_extint_ack(void);
void case_preempt(void);
void case_triple(void);
void case_movdr(void);
void case_invlpg(void);
void case_rdpmc(void);
void case_rdtscp(void);
/* multi.c */
void case_resume_loop(void);
void case_two_vmcs(void);
void case_vmclear_relaunch(void);
/* negative.c */
void case_neg_vmxon_root(void);
void case_neg_vmclear(void);
void case_neg_vmptrld(void);
void case_neg_launch_state(void);
void case_neg_field(void);
void case_neg_vmwrite_ro(void);
void case_neg_control(void);
void case_neg_host(void);
void case_neg_guest(void);
void case_neg_inv(void);
void case_neg_no_current(void);
void case_neg_cpl3(void);
void case_neg_outside(void);
/* features.c */
void case_vpid(void);
/* ept_cases.c */
void case_ept_identity(void);
void case_ept_remap(void);
void case_ept_violation(void);
void case_ept_fixup(void);
void case_ept_perm(void);
void case_ept_misconfig(void);
void case_ept_ad(void);
void case_ept_two_l2(void);
void case_ept_invept_types(void);
void case_ept_large(void);
void case_ept_large_1g(void);
void case_ept_unrestricted(void);
void case_ept_hidden(void);
void case_ept_inject(void);
/* ept_feat.c */
void case_ept_pml(void);
void case_ept_vmfunc(void);
void case_ept_ve(void);
/* bench.c */
void case_bench(void);
void case_bench_ept(void);
/* attack.c */
void case_attack_stale_step(void);
void case_attack_exit_efer(void);
void case_attack_beyond_reads(void);
void case_attack_two_hidden(void);
void case_attack_ept12_leaves(void);
void case_attack_vmcs_ptrs(void);
void case_attack_msr_lists(void);
void case_attack_exit_abort(void);
void case_attack_events(void);
void case_attack_remap_stale(void);
void case_attack_vmx_operands(void);
void case_attack_vmcs12_write(void);
void case_attack_bitmaps(void);
void case_attack_ept12_cycles(void);
void case_attack_remap_flood(void);
/* vshadow.c, vshadow_l2.asm */
void case_vshadow(void);
void case_bench_vshadow(void);
void l2_vmx_op(void);
void l2_vshadow_bench(void);
/* attack_l2.asm */
void l2_movsq(void);
void l2_rdmsr_loop(void);
void l2_in_loop(void);
void l2_sum(void);
void l2_write_then_read(void);

#endif
