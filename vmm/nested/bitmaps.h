/* vmcs02's MSR and I/O bitmaps are L0's ORed with L1's. Merging 4 KiB per
 * bitmap on every nested entry would dominate the round trip, so L0 merges
 * once and write-protects the L1 pages it merged from in EPT01; a write to
 * one (by L1, or by an L2 that can reach it) marks the merge stale and lifts
 * the protection. The next nested entry merges again. */
#ifndef VMM_NESTED_BITMAPS_H
#define VMM_NESTED_BITMAPS_H

#include <stdbool.h>
#include <stdint.h>

enum nested_bitmap { BITMAP_MSR, BITMAP_IO_A, BITMAP_IO_B, BITMAP_COUNT };

/* Merges l0 | L1's page at l1_pa into dst unless dst already holds that
 * merge and L1 has not written the page since. */
void nested_bitmap_merge(enum nested_bitmap which, uint64_t dst, uint64_t l0, uint64_t l1_pa);
/* An EPT01 write violation at gpa: true if it hit a protected bitmap page
 * (the protection is lifted and the merge marked stale). */
bool nested_bitmap_write_fault(uint64_t gpa);
/* Forgets every merge (e.g. after INVEPT-relevant changes); protections
 * are lifted. */
void nested_bitmaps_reset(void);

#endif
