/* Sets of vmcs12 fields, computed once from the field list, so that the
 * copies on the nested hot path touch exactly the fields they need. */
#ifndef VMM_NESTED_FIELDSETS_H
#define VMM_NESTED_FIELDSETS_H

#include <stdbool.h>
#include <stdint.h>
#include "arch/x86/vmcs_fields.h"

_Static_assert(VMCS_FIELD_COUNT < 256, "field sets store indices in bytes");

struct field_set {
    unsigned count;
    uint8_t idx[VMCS_FIELD_COUNT];
};

struct field_sets {
    struct field_set shadow_read;  /* L1 VMREADs these from the shadow VMCS */
    struct field_set shadow_write; /* ... and VMWRITEs these */
    struct field_set guest_hot;    /* guest state copied vmcs02 <-> vmcs12 on every switch */
    struct field_set guest_rare;   /* guest state copied only when L1 may look at it */
    struct field_set guest_checked; /* rare ones the per-entry checks read: also
                                       copied vmcs02 -> vmcs12 on every exit */
    struct field_set exit_push;    /* shadowed fields a nested exit changes */
};

extern struct field_sets fieldsets;

/* ro_shadowable: L0 may VMWRITE read-only fields (IA32_VMX_MISC bit 29);
 * pml_field: the CPU has PML, so its shadow VMCS holds the guest PML index. */
void fieldsets_init(bool shadow, bool ro_shadowable, bool pml_field);
bool field_in_set(const struct field_set *s, unsigned idx);

struct vmcs12;
/* The set's fields from the current VMCS into c, and back. */
void fieldset_read(struct vmcs12 *c, const struct field_set *s);
void fieldset_write(const struct vmcs12 *c, const struct field_set *s);

#endif
