/* vmcs02: the VMCS that really runs L2 = vmcs12's wishes merged with L0's
 * needs; and the way back (vmcs02 -> vmcs12, vmcs12's host state -> L1). */
#ifndef VMM_NESTED_VMCS02_H
#define VMM_NESTED_VMCS02_H

#include <stdbool.h>
#include <stdint.h>
#include "arch/x86/vmx_caps.h"
#include "vmm/nested/nested.h"

/* L1's state at its VMLAUNCH/VMRESUME that L2 inherits where vmcs12 does
 * not load its own (SDM 26.3.2). Read from vmcs01 before switching. */
struct l1_inherit {
    uint64_t efer, pat, debugctl, dr7;
};

/* Does vmcs12 give L2 an EPT (EPT12)? */
bool vmcs12_ept_enabled(const struct vmcs12 *c);

/* Creates vmcs02 once: host state copied from vmcs01. vmcs01 stays current. */
bool vmcs02_create(struct vcpu *v);

/* The merge rules, pure functions of their inputs (unit-tested). */
uint32_t vmcs02_pin(uint32_t pin12, struct vmx_ctl hw);
uint32_t vmcs02_proc(uint32_t proc12, struct vmx_ctl hw);
uint32_t vmcs02_proc2(uint32_t proc12, uint32_t proc2_12, struct vmx_ctl hw);
uint32_t vmcs02_exit(uint32_t exit12, struct vmx_ctl hw);
uint32_t vmcs02_entry(uint32_t entry12, struct vmx_ctl hw);
uint64_t vmcs02_guest_efer(const struct vmcs12 *c, uint64_t l1_efer);
/* dst = a | b over a 4 KiB bitmap (an exit if L0 or L1 wants it). */
void bitmap_merge(uint8_t *dst, const uint8_t *a, const uint8_t *b);

/* Writes the current vmcs12 into vmcs02 (vmcs02 must be current). With
 * full=false only the fields L1 can change without an exit (the shadowed
 * ones) are rewritten. False if the PDPTEs L2 needs are invalid (an entry
 * failure with qualification ENTRY_FAIL_PDPTE). */
bool vmcs02_prepare(struct vcpu *v, const struct l1_inherit *l1, bool full);
/* vmcs02's MSR and I/O bitmaps from L0's and vmcs12's (vmcs02 current):
 * merged again only where an L1 page changed since (bitmaps.h). */
void vmcs02_merge_bitmaps(struct vcpu *v);
/* vmcs02's EPT pointer for the current vmcs12 (vmcs02 current): after the
 * CPU's shadow EPTs were dropped, never the root of a dropped one. */
void vmcs02_load_eptp(struct vcpu *v);

/* After an exit of L2 (vmcs02 current): guest state and exit information
 * into vmcs12 (SDM 28.3, 28.2). */
void vmcs02_sync_to_vmcs12(struct vcpu *v);

/* Loads vmcs12's host state into vmcs01's guest state (SDM 28.5); vmcs01
 * must be current. False if the exit MSR-load list fails (VMX abort). */
bool vmcs12_load_host_state(struct vcpu *v);

#endif
