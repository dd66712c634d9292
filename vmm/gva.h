/* Guest memory by linear address, through the guest's own paging, for the
 * guest the current VMCS runs (L1 when emulating its instructions). */
#ifndef VMM_GVA_H
#define VMM_GVA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vcpu;

/* What an access to a guest-physical address is for (the map below). */
#define GVA_ACCESS_READ  1U
#define GVA_ACCESS_WRITE 2U
#define GVA_ACCESS_FETCH 4U
#define GVA_ACCESS_WALK  8U /* a paging-structure entry, not the translation of the address */

/* Not a vector: the guest's physical address space refused the access (L2
 * under EPT12: an EPT violation or misconfiguration for L1). */
#define GVA_FAULT_GUEST_PHYS 0x100U

/* The exception the access would raise. */
struct gva_fault {
    unsigned vector; /* VEC_PF, VEC_GP, VEC_SS or GVA_FAULT_GUEST_PHYS */
    uint32_t error;
    uint64_t address; /* CR2 for #PF; the linear address for GVA_FAULT_GUEST_PHYS */
    uint64_t gpa;     /* GVA_FAULT_GUEST_PHYS: the guest-physical address refused */
    unsigned access;  /* GVA_FAULT_GUEST_PHYS: GVA_ACCESS_* of that access */
};

bool gva_read(uint64_t gla, void *buf, size_t len, struct gva_fault *f);
bool gva_write(uint64_t gla, const void *buf, size_t len, struct gva_fault *f);
/* Instruction bytes (an instruction fetch as far as the guest-physical
 * access is concerned). */
bool gva_fetch(uint64_t gla, void *buf, size_t len, struct gva_fault *f);
/* How the guest's physical addresses become L1's (0: they are L1's):
 * false if the guest may not make that access there (nested.c, for L2
 * under EPT12). */
void gva_set_guest_phys_map(bool (*fn)(uint64_t gpa, unsigned access, uint64_t *l1_gpa));
/* Called after L0 stored into L1's memory for the guest ([l1_gpa, +len),
 * one page): nested VMX re-merges bitmaps it keeps protected there. */
void gva_set_store_hook(void (*fn)(uint64_t l1_gpa, size_t len));
/* Injects the fault (and sets CR2 for #PF) into the guest the current VMCS
 * runs; not for GVA_FAULT_GUEST_PHYS (nested/vmexit.c has L2's). */
void gva_inject_fault(struct vcpu *v, const struct gva_fault *f);

#endif
