/* EPT01: L1's guest-physical memory, identity-mapped onto host memory
 * except nestvisor's own, with host MTRR memory types. */
#ifndef VMM_EPT01_H
#define VMM_EPT01_H

#include <stdbool.h>
#include <stdint.h>
#include "vmm/ept.h"
#include "vmm/memmap.h"
#include "vmm/mtrr.h"

/* Builds e (already ept_init'ed) over [0, map_end): RAM and devices
 * identity-mapped, nestvisor's own memory onto the sink (hidden=discard)
 * or not at all (sink 0: hidden=stop). */
bool ept01_build(struct ept *e, const struct memmap *host, const struct mtrr_state *mtrr,
                 uint64_t map_end, const struct ept_sink *sink);
/* What L1's memory map says: the host map with nestvisor's ranges
 * reported as reserved. */
void ept01_l1_memmap(const struct memmap *host, struct memmap *out);
bool memtype_is_ram(uint32_t type);

#endif
