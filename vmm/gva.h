/* Guest memory by linear address, through the guest's own paging, for the
 * guest the current VMCS runs (L1 when emulating its instructions). */
#ifndef VMM_GVA_H
#define VMM_GVA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vcpu;

/* The exception the access would raise. */
struct gva_fault {
    unsigned vector; /* VEC_PF, VEC_GP or VEC_SS */
    uint32_t error;
    uint64_t address; /* CR2 for #PF */
};

bool gva_read(uint64_t gla, void *buf, size_t len, struct gva_fault *f);
bool gva_write(uint64_t gla, const void *buf, size_t len, struct gva_fault *f);
/* How the guest's physical addresses become L1's (0: they are L1's):
 * false if the guest has none there (nested.c, for L2 under EPT12). */
void gva_set_guest_phys_map(bool (*fn)(uint64_t gpa, uint64_t *l1_gpa));
/* Injects the fault (and sets CR2 for #PF). */
void gva_inject_fault(struct vcpu *v, const struct gva_fault *f);

#endif
