/* Nested VMX: everything that exists only because L1 is a hypervisor.
 * vmm/nested/ is split by concern:
 *   vmx_msrs.c   the capabilities L1 is offered
 *   vmcs12.c     L1's VMCS: field table and VMREAD/VMWRITE semantics
 *   vmx_insn.c   VMXON, VMXOFF, VMCLEAR, VMPTRLD, VMPTRST, VMREAD, VMWRITE,
 *                INVVPID, INVEPT emulated with the SDM's checks
 *   operand.c    decoding and fetching their memory operands
 *   shadow.c     hardware VMCS shadowing of the hot fields
 *   shadow12.c   L1's VMCS shadowing for L2: L2's VMREAD/VMWRITE
 *   checks.c     VM-entry checks of vmcs12 (SDM 26.2-26.3), each named
 *   vmcs02.c     building vmcs02 from vmcs12 + L0, and syncing back
 *   entry.c      VMLAUNCH/VMRESUME: L1 -> L2
 *   reflect.c    does L1 want this exit of L2? (SDM 26.1-26.2)
 *   vmexit.c     nested VM exit: L2 -> L1 (SDM ch. 28)
 *   eptfeat.c    PML, VMFUNC EPTP switching and #VE, emulated for L1 */
#ifndef VMM_NESTED_NESTED_H
#define VMM_NESTED_NESTED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "arch/x86/vmcs_fields.h"
#include "vmm/nested/vmcs12.h"
#include "vmm/nested/bitmaps.h"

struct vm;
struct vcpu;

#define NESTED_VPID02 2

/* Counters of what L1's VMX work cost L0 (for `make bench` and tuning the
 * shadow field set): exits per trapped field of VMREAD/VMWRITE. */
struct nested_stats {
    uint64_t vmread_exits[VMCS_FIELD_COUNT];
    uint64_t vmwrite_exits[VMCS_FIELD_COUNT];
    uint64_t vmcs02_hw_failures; /* hardware refused a vmcs02 L0's checks passed */
    uint64_t bitmap_writes_emulated;   /* stores into merged bitmap pages L0 did */
    uint64_t bitmap_writes_unprotected; /* ... it could not: protection lifted */
    uint64_t bitmap_pages_released;     /* ... the page was no bitmap any more: lifted */
    uint64_t l2_vmreads, l2_vmwrites; /* L2's, done by L0 under L1's shadowing (shadow12.c) */
};

/* What the static entry checks of the current vmcs12 depended on
 * (struct entry_context.static_checked). */
struct check_key {
    uint32_t pin, proc, proc2, exit, entry;
    bool l1_long_mode;
    bool v86; /* RFLAGS.VM: the segment checks differ in virtual-8086 mode */
};

struct nested_vmx {
    struct vcpu *vcpu;       /* the vCPU whose VMX operation this is */
    bool vmxon;              /* L1 is in (virtual) VMX operation */
    uint64_t vmxon_ptr;
    uint64_t current;        /* current vmcs12 (L1 address) or VMCS_LINK_NONE */
    struct vmcs12 *cache;    /* the current vmcs12's contents (L0 memory) */
    bool shadow_enabled;     /* VMCS shadowing backs L1's VMREAD/VMWRITE */
    uint64_t shadow_vmcs;    /* the hardware shadow VMCS */
    uint64_t vmread_bitmap, vmwrite_bitmap;
    uint64_t vmcs02;         /* the hardware VMCS that runs L2 */
    bool vmcs02_launched;
    bool entry_was_launch;   /* the entry in flight was a VMLAUNCH */
    uint64_t msr_bitmap02, io_bitmap02_a, io_bitmap02_b;
    uint64_t scratch02;      /* stands in for an L1 page vmcs02 names that L1
                                cannot reach (a device): the CPU writes it */
    bool vapic_on_scratch;   /* vmcs02's virtual-APIC page is scratch02 */
    struct nested_bitmaps bitmaps; /* what those were merged from */
    /* L1's VMCS shadowing for L2 (shadow12.c): its VMREAD/VMWRITE bitmaps
     * where they are L1's RAM (0: all ones) and the shadow vmcs12 (0: no
     * valid link pointer). Set when vmcs02 is built from the current
     * vmcs12: the fields exit on VMWRITE, and L1's RAM does not change. */
    struct {
        bool on; /* "VMCS shadowing" in effect in vmcs12 when they were set */
        const uint8_t *vmread_bitmap, *vmwrite_bitmap;
        struct vmcs12 *region;
    } shadow12;
    struct ept02 *ept02;     /* this vCPU's shadow EPTs (ept02.h) */
    bool vmcs02_for_current; /* vmcs02 holds the current vmcs12 (only shadowed
                                fields can have changed since) */
    /* vmcs12's controls that vmcs02's control-dependent, unshadowed fields
     * (CR masks, CR3 targets, #PF mask/match, feature fields) were last
     * written for: equal, and vmcs02_for_current, they are still right. */
    uint32_t written_ctls[5];
    bool static_checked;     /* the static entry checks passed for check_key */
    struct check_key check_key;
    bool rare_stale;         /* vmcs02 holds newer rare guest state than the cache */
    bool vpid12_seen;        /* a VPID-tagged L2 ran since the last flush */
    uint16_t last_vpid12;
    /* The last EPT violation reflected to L1, for ept02_prefault() when L1
     * resumes L2 at the same RIP. */
    struct {
        bool pending;
        uint64_t vmcs12, gpa, qualification, rip;
    } prefault;
    struct nested_stats stats;
};

/* Once, on the boot CPU: what every vCPU's nested VMX shares (the
 * capabilities offered, the exit handlers of the VMX instructions). */
void nested_global_init(struct vm *vm);
/* Allocates the vCPU's nested state, on the CPU the vCPU runs on (vmcs02
 * and the shadow VMCS take that CPU's host state), with a shadow-EPT pool
 * of ept02_pages. False if pool memory ran out. */
bool nested_init(struct vm *vm, struct vcpu *v, unsigned ept02_pages);

/* Prints which fields L1's VMREAD/VMWRITE trapped on (tuning the shadow
 * set) and the shadow EPTs' work, summed over the vCPUs. */
void nested_print_stats(const struct vm *vm);

/* What became of an exit of L2. */
enum l2_exit_outcome {
    L2_EXIT_REFLECTED, /* L1 wanted it: L1 runs next */
    L2_EXIT_FOR_L0,    /* L0's: the dispatcher runs L0's handler */
    L2_EXIT_HANDLED,   /* L0 dealt with it already (a shadow-EPT fill): resume L2 */
};

/* An exit of L2: reflect it to L1 if L1 asked for it, else leave it to L0. */
enum l2_exit_outcome nested_l2_exit(struct vcpu *v, uint32_t reason);

/* Does vmcs12 make L2's NMIs exit to L1 (pin-based "NMI exiting")? */
bool nested_l1_wants_nmi_exits(const struct vcpu *v);
/* vmexit.c: an NMI for L1 arrived while L2 ran, and L1 exits on NMIs: a
 * nested VM exit with reason 0 and the NMI's interruption information;
 * an event L0 was about to inject into L2 becomes IDT-vectoring
 * information (SDM 27.2.3, 27.2.4). */
void nested_vmexit_for_nmi(struct vcpu *v);
/* An INIT (reason 3) or SIPI (reason 4, the vector as qualification) that
 * reached L2 and that L0 took for it (vmm/sipi.c): the nested VM exit. */
void nested_vmexit_signal(struct vcpu *v, uint32_t reason, uint64_t qualification);
/* L0 completed an instruction of L2's (an MSR or I/O access L1 does not
 * take, a store into a page L0 watches; exit.c calls it when
 * vcpu_skip_bytes ran): what the CPU would do after it, for L1 (an MTF VM
 * exit, SDM 26.5.2). */
void nested_l2_instruction_emulated(struct vcpu *v);
/* An exception raised by an instruction of L2's that L0 emulates (its
 * memory operand, its #UD/#GP checks): a VM exit for L1 if vmcs12's
 * exception bitmap wants it (SDM 26.2, with the #PF error-code rule; such
 * a #PF leaves CR2 alone and gives cr2 as exit qualification, 28.2.1),
 * else delivered to L2 (CR2 set for #PF). */
void nested_l2_exception(struct vcpu *v, unsigned vector, bool has_error, uint32_t error, uint64_t cr2);
/* The fault gva.c reported for such an operand: an exception as above, or
 * L1's EPT violation/misconfiguration when EPT12 refused the access. */
struct gva_fault;
void nested_l2_fault(struct vcpu *v, const struct gva_fault *f);

/* apic_access.c: whether l1_gpa is on the APIC-access page of the L2 that
 * v runs; L2's store there, which L0 intercepted (its xAPIC watch), done
 * as the CPU's APIC virtualization would (SDM 30.4.3): false if the store
 * cannot be decoded. */
bool nested_is_apic_access_page(const struct vcpu *v, uint64_t l1_gpa);
bool nested_apic_access_write(struct vcpu *v, uint64_t l1_gpa);

/* bitmap_write.c: a store by v's guest (L1, or L2 through EPT12) into a
 * bitmap page L0 keeps write-protected: done by L0, every vCPU's merge
 * refreshed before its L2 runs again. False if L0 cannot do it (then the
 * caller lifts the protection). */
bool nested_bitmap_emulate_write(struct vcpu *v, uint64_t l1_gpa);
/* L0 stored into [l1_gpa, +len) of L1's memory (one page) for its guest
 * (an instruction's memory operand, L2's VMWRITE into a shadow vmcs12):
 * if that is a bitmap page L0 merged from, the merges follow (gva.c's
 * store hook). */
void nested_l1_stored(uint64_t l1_gpa, size_t len);
/* Before v resumes L2 (smp_attention): its merged bitmaps are current. */
void nested_bitmaps_refresh(struct vcpu *v);

/* --- shared between the files of vmm/nested/ --- */

/* VMsucceed / VMfail (SDM 31.2), then RIP past the instruction. */
void nested_vmsucceed(struct vcpu *v);
void nested_vmfail_invalid(struct vcpu *v);
void nested_vmfail_valid(struct vcpu *v, uint32_t error);
void nested_vmfail(struct vcpu *v, uint32_t error);
/* A VMWRITE's vmcs12 status: VMfailValid 12 or 13 for a field it may not
 * write (SDM ch. 31 VMWRITE), true if it may go on. */
bool nested_vmwrite_allowed(struct vcpu *v, enum vmcs12_status status);
/* The #UD/#GP checks common to all VMX instructions in VMX operation
 * (SDM 31.3): false if a fault was injected. */
bool nested_vmx_insn_allowed(struct vcpu *v);
/* The mode part of it: protected mode, not virtual-8086, not compatibility. */
bool nested_mode_allows_vmx(void);
bool nested_has_current(const struct vcpu *v);

/* shadow.c */
bool nested_shadowing_used(const struct vm *vm); /* shadow= and the CPU has it */
bool shadow_init(struct vm *vm, struct nested_vmx *n);
void shadow_set_vmx_operation(struct nested_vmx *n, bool on); /* VMXON/VMXOFF */
void shadow_activate(struct nested_vmx *n);   /* after VMPTRLD */
void shadow_deactivate(struct nested_vmx *n); /* no current vmcs12 */
void shadow_pull(struct nested_vmx *n);       /* shadow VMCS -> cache */
void shadow_push(struct nested_vmx *n);       /* cache -> shadow VMCS */
void shadow_push_exit(struct nested_vmx *n);  /* what a nested exit changed */
void shadow_push_field(struct nested_vmx *n, enum vmcs_field_index i);

/* vmcs02.c, when it builds vmcs02 from vmcs12: n->shadow12. */
void nested_shadow12_bind(struct nested_vmx *n);
/* shadow12.c: L1's VMCS shadowing for L2. L2's VMREAD/VMWRITE that L1
 * does not want (nested_vmcs_bitmap_exits), done against the shadow
 * vmcs12. */
struct vmx_access;
void nested_l2_vmread(struct vcpu *v, const struct vmx_access *a);
void nested_l2_vmwrite(struct vcpu *v, const struct vmx_access *a);

/* vmx_insn.c */
void nested_install_insn_handlers(void);
/* gva.c's map of the current guest's physical addresses: L2's go through
 * EPT12 when L1 gives it one (false if EPT12 does not allow the access,
 * GVA_ACCESS_*, there). */
bool nested_l2_guest_phys(uint64_t gpa, unsigned access, uint64_t *l1_gpa);
/* The EPT access (EPT_READ/WRITE/EXEC) an access of gva.c's is for EPT12. */
uint64_t nested_l2_ept_access(uint64_t eptp12, unsigned access);
/* bitmap_write.c: ept02.c's write emulator (L2's store, on this CPU). */
bool nested_bitmap_emulate_l2_write(uint64_t l1_gpa);

/* entry.c */
void handle_vmlaunch(struct vcpu *v);
void handle_vmresume(struct vcpu *v);
/* The hardware refused vmcs02: turn it into L1's VMfail. */
void nested_vmcs02_entry_failed(struct vcpu *v, uint32_t vm_instruction_error);

/* vmcs02.c: brings the rare guest fields into the cache before L1 can
 * see or change them (trapped VMREAD/VMWRITE, VMCLEAR, VMPTRLD). */
void nested_sync_rare(struct vcpu *v);

/* vmexit.c: reflects the current exit of L2; a synthesized reason (an EPT
 * violation or misconfiguration of EPT12) replaces the CPU's reason and
 * qualification. */
#define NESTED_EXIT_AS_IS 0xffffffffU
void nested_vmexit(struct vcpu *v, uint32_t reason, uint64_t qualification);
void nested_entry_failure(struct vcpu *v, uint32_t reason, uint64_t qualification);
/* A nested VM exit for an event L0 found for L2 itself (an exception it
 * would have delivered): reason, qualification and interruption info. */
void nested_vmexit_event(struct vcpu *v, uint32_t reason, uint64_t qualification, uint32_t intr_info);

/* eptfeat.c */
struct ept02_pml;
/* vmcs12's page-modification log for ept02.c (pml filled), or NULL when
 * PML is off; nested_pml_end writes the index back. */
struct ept02_pml *nested_pml_begin(const struct vmcs12 *c, struct ept02_pml *pml);
void nested_pml_end(struct vmcs12 *c, const struct ept02_pml *pml);
/* L2's VMFUNC (exit reason 59): EPTP switching done by L0, or L1's exit. */
enum l2_exit_outcome nested_vmfunc(struct vcpu *v);
/* A convertible EPT12 violation of L2: delivered as a #VE (into L2, or
 * L1's exception exit) if vmcs12 and the SDM's conditions allow; false if
 * it is to be reflected as an EPT violation. */
bool nested_ept_violation_ve(struct vcpu *v, uint64_t gpa, uint64_t qualification,
                             enum l2_exit_outcome *outcome);

/* reflect.c: an exit of L2 as the reflection rules need it. */
struct l2_exit {
    uint32_t reason;        /* basic exit reason */
    uint64_t qualification;
    uint32_t intr_info, intr_error;
    uint32_t msr;           /* ECX of RDMSR/WRMSR */
    uint64_t vmcs_encoding; /* the field operand of VMREAD/VMWRITE */
    uint64_t cr_source;     /* the value of MOV to CR / LMSW */
};
/* Does L1 want this exit of L2, by vmcs12's controls (SDM 26.1-26.2)? */
bool nested_exit_wanted_by_l1(const struct vmcs12 *c, const struct l2_exit *e);
/* Does L2's VMREAD or VMWRITE of encoding exit to L1 (SDM ch. 31: no
 * "VMCS shadowing", encoding bits 63:15 set, or its bit set in L1's
 * VMREAD or VMWRITE bitmap: bitmap, 0 for all ones)? */
bool nested_vmcs_bitmap_exits(const struct vmcs12 *c, const uint8_t *bitmap, uint64_t encoding);

#endif
