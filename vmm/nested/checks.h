/* VM-entry checks of vmcs12, done in software before any hardware entry
 * (SDM 26.2 controls and host state, 26.3 guest state), so that an invalid
 * vmcs12 gives L1 exactly the architectural failure. Every check has a
 * name; the first failing one is kept for logs and unit tests. */
#ifndef VMM_NESTED_CHECKS_H
#define VMM_NESTED_CHECKS_H

#include <stdbool.h>
#include <stdint.h>
#include "vmm/nested/vmcs12.h"

/* What L1's state is at VMLAUNCH/VMRESUME, as far as the checks need. */
struct entry_context {
    bool l1_long_mode;    /* L1's IA32_EFER.LMA */
    uint64_t phys_mask;   /* valid physical-address bits */
    /* True if [pa, pa+len) is L1 memory nestvisor can map (bitmaps, lists). */
    bool (*l1_ram)(uint64_t pa, uint64_t len);
    uint32_t (*read32)(uint64_t pa); /* a dword of L1 memory checked by l1_ram */
    /* A dword as the CPU running vmcs02 reads it at L1's pa: L1's RAM, the
     * sink over hidden memory, all ones on a device (vmcs02.c's stand-in
     * page keeps that). */
    uint32_t (*read_view32)(uint64_t pa);
    uint64_t current_vmcs; /* the current vmcs12's address (the link pointer may not be it) */
    /* The checks that read only the controls and fields outside the shadow
     * set (host state, guest segments other than CS/SS, descriptor tables,
     * MSR fields, every control check but the TPR threshold and the event
     * to inject) passed
     * before, and nothing they depend on can have changed since: those
     * fields exit on VMWRITE, and the controls and L1's mode are the same.
     * Then they are skipped. */
    bool static_checked;
};

enum entry_check_result {
    ENTRY_OK,
    ENTRY_FAIL_CONTROLS, /* VMfailValid(7) */
    ENTRY_FAIL_HOST,     /* VMfailValid(8) */
    ENTRY_FAIL_GUEST,    /* VM-entry failure exit, reason 33 */
};

/* Runs the checks in the SDM's order. On ENTRY_FAIL_GUEST *qualification
 * receives the exit qualification (SDM 27.8: 0, 2 PDPTE, 4 link pointer). */
enum entry_check_result nested_check_vmcs12(const struct vmcs12 *c, const struct entry_context *ctx,
                                            uint64_t *qualification);

/* The name of the last failed check ("" if none). */
const char *nested_check_failed_name(void);

/* Individual groups, for unit tests. */
bool nested_check_controls(const struct vmcs12 *c, const struct entry_context *ctx);
bool nested_check_host_state(const struct vmcs12 *c, const struct entry_context *ctx);
bool nested_check_guest_state(const struct vmcs12 *c, const struct entry_context *ctx,
                              uint64_t *qualification);

#endif
