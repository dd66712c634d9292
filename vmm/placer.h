/* Placing boot data (kernels, modules, information structures) in L1's
 * usable RAM without overlap, for the L1 loaders. */
#ifndef VMM_PLACER_H
#define VMM_PLACER_H

#include <stdbool.h>
#include <stdint.h>
#include "vmm/memmap.h"

struct placer {
    const struct memmap *l1_map; /* what L1 may use */
    struct memmap free;          /* usable L1 RAM not yet taken */
};

#define PLACER_LOW_LIMIT  0x100000ULL  /* keep the first MiB to the BIOS and L1 */
#define PLACER_HIGH_LIMIT (1ULL << 32) /* boot protocols take 32-bit addresses */

void placer_init(struct placer *p, const struct memmap *l1_map);
/* Claims [base, base+size) that an image asks for: it must be L1 RAM
 * (pieces of one image may share pages). */
bool placer_take(struct placer *p, uint64_t base, uint64_t size);
/* The highest free aligned block in [low, high); 0 if none. */
uint64_t placer_place(struct placer *p, uint64_t size, uint64_t align, uint64_t low, uint64_t high);
/* Copies data into a fresh block between 1 MiB and 4 GiB; 0 if no room. */
uint32_t placer_bytes(struct placer *p, const void *data, uint64_t size);
uint32_t placer_string(struct placer *p, const char *s);

#endif
