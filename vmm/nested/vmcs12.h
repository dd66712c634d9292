/* vmcs12: L1's VMCS. L1 sees an opaque 4 KiB region; nestvisor lays it out
 * as below and keeps the current one cached. Fields are indexed by the
 * dense enum vmcs_field_index generated from the one list in
 * arch/x86/vmcs_fields.h. */
#ifndef VMM_NESTED_VMCS12_H
#define VMM_NESTED_VMCS12_H

#include <stdbool.h>
#include <stdint.h>
#include "arch/x86/vmcs_fields.h"

#define VMCS12_MAGIC   0x3231766eU /* "nv12": the region holds our layout */
#define VMCS12_SIZE    4096
#define VMCS_LINK_NONE (~0ULL)

enum vmcs12_launch_state { VMCS12_CLEAR = 0, VMCS12_LAUNCHED = 1 };

/* The region format. The first two dwords are architectural (SDM 25.2). */
struct vmcs12 {
    uint32_t revision_id; /* bit 31: shadow-VMCS indicator */
    uint32_t abort;
    uint32_t magic;
    uint32_t launch_state;
    uint64_t field[VMCS_FIELD_COUNT];
};
_Static_assert(sizeof(struct vmcs12) <= VMCS12_SIZE, "vmcs12 must fit its region");

/* Typed access by field name: VMCS12(v, GUEST_RIP). */
#define VMCS12(v, name) ((v)->field[VMCS_IDX_##name])

struct vmcs12_field_info {
    uint16_t encoding;
    uint8_t flags; /* FIELD_SHADOW, FIELD_L0_ONLY */
};

extern const struct vmcs12_field_info vmcs12_fields[VMCS_FIELD_COUNT];

/* Dense index of a full-access encoding, or -1 if it is not a field. */
int vmcs_field_index(uint32_t encoding);

/* The outcome of L1's VMREAD/VMWRITE (SDM 31.3). */
enum vmcs12_status {
    VMCS12_OK,
    VMCS12_UNSUPPORTED, /* VM-instruction error 12 */
    VMCS12_READ_ONLY,   /* VM-instruction error 13 */
};

/* VMREAD/VMWRITE semantics: encodings with bits 63:32 set or unknown are
 * unsupported; the high access (bit 0) of a 64-bit field reads or writes
 * bits 63:32; values are truncated to the field's width (SDM 25.11.2). */
enum vmcs12_status vmcs12_read(const struct vmcs12 *v, uint64_t encoding, uint64_t *value);
enum vmcs12_status vmcs12_write(struct vmcs12 *v, uint64_t encoding, uint64_t value,
                                bool write_read_only);
/* What vmcs12_write would answer, without writing. */
enum vmcs12_status vmcs12_write_check(uint64_t encoding, bool write_read_only);
/* Truncates a value to the width of a field (by encoding). */
uint64_t vmcs_width_mask(uint32_t encoding);
/* Highest index value used by any encoding L1 may access
 * (IA32_VMX_VMCS_ENUM bits 9:1). */
unsigned vmcs12_highest_index(void);

#endif
