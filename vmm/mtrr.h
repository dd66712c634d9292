/* Memory types from the host MTRRs (SDM 12.11), so that EPT01 gives each
 * range the type the firmware intended; and L1's virtual MTRR MSRs. */
#ifndef VMM_MTRR_H
#define VMM_MTRR_H

#include <stdbool.h>
#include <stdint.h>

#define MTRR_MAX_VAR    32
#define MTRR_FIXED_MSRS 11
#define MTRR_MIXED      (-1)

struct mtrr_state {
    bool enabled;       /* IA32_MTRR_DEF_TYPE.E */
    bool fixed_enabled; /* IA32_MTRR_DEF_TYPE.FE (and MTRRCAP.FIX) */
    uint8_t def_type;
    uint64_t cap, def_type_msr;
    uint64_t fixed[MTRR_FIXED_MSRS];
    unsigned var_count;
    uint64_t var_base[MTRR_MAX_VAR], var_mask[MTRR_MAX_VAR];
    uint64_t phys_addr_mask; /* from CPUID 0x80000008 */
};

void mtrr_read_host(struct mtrr_state *s);
/* The memory type of [base, base+size) if it is the same throughout, else
 * MTRR_MIXED. With MTRRs disabled everything is UC (SDM 12.11.2.1). */
int mtrr_range_type(const struct mtrr_state *s, uint64_t base, uint64_t size);

/* L1's MTRR MSRs: true if msr is one of them. */
bool mtrr_is_msr(uint32_t msr);
bool mtrr_msr_read(const struct mtrr_state *s, uint32_t msr, uint64_t *value);
/* False for an invalid value (the caller injects #GP). */
bool mtrr_msr_write(struct mtrr_state *s, uint32_t msr, uint64_t value);

#endif
