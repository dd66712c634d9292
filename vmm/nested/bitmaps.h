/* vmcs02's MSR and I/O bitmaps are L0's ORed with L1's. Merging 4 KiB per
 * bitmap on every nested entry would dominate the round trip, so each vCPU
 * merges once and L0 write-protects the L1 pages merged from in EPT01; a
 * write to one (by L1 on any CPU, or by an L2 that can reach it) is done by
 * L0 (bitmap_write.c) or lifts the protection, and makes every vCPU's
 * merges stale: each merges again before it next runs L2.
 * Shared by all vCPUs (docs/smp.md): the set of protected pages, under a
 * lock, and the staleness epoch (atomic). Per vCPU: its cache of what its
 * bitmaps02 were merged from (struct nested_bitmaps, in its nested state). */
#ifndef VMM_NESTED_BITMAPS_H
#define VMM_NESTED_BITMAPS_H

#include <stdbool.h>
#include <stdint.h>

enum nested_bitmap { BITMAP_MSR, BITMAP_IO_A, BITMAP_IO_B, BITMAP_COUNT };

#define BITMAP_PROTECTED_MAX 256 /* pages protected at once; more are merged every time */

struct nested_bitmaps {
    uint64_t l1_pa[BITMAP_COUNT]; /* the L1 page each bitmap02 holds a merge of */
    uint64_t epoch;               /* bitmap_epoch when those were merged */
};

/* An empty cache, known to nested_bitmap_in_use from now on. */
void nested_bitmaps_init(struct nested_bitmaps *cache);
/* Merges l0 | L1's page at l1_pa into dst unless dst already holds that
 * merge and no protected page has been written since. An l1_pa that is not
 * L1's RAM reads as all ones (every access exits), as a read of a device
 * would on hardware. */
void nested_bitmap_merge(struct nested_bitmaps *cache, enum nested_bitmap which, uint64_t dst,
                         uint64_t l0, uint64_t l1_pa);
/* A bitmap vmcs12 no longer uses (its control is off): the cache stops
 * naming the page. */
void nested_bitmap_unused(struct nested_bitmaps *cache, enum nested_bitmap which);
/* Does some vCPU's vmcs02 hold a merge of gpa's page (or is about to)? A
 * protected page no vCPU uses any more is L1's memory again (KVM freed the
 * guest whose bitmap it was): bitmap_write.c lifts the protection there
 * instead of doing each of L1's stores itself. */
bool nested_bitmap_in_use(uint64_t gpa);
/* Is gpa in a page L0 merged from and keeps write-protected? */
bool nested_bitmap_is_protected(uint64_t gpa);
/* A store into a protected page was done by L0 (bitmap_write.c): every
 * merge is stale, the protection stays. */
void nested_bitmap_page_written(void);
/* An EPT01 write violation at gpa that L0 cannot do itself: true if it hit
 * a protected bitmap page (the protection is lifted and every merge becomes
 * stale; later writes to the page are not seen until it is merged again). */
bool nested_bitmap_write_fault(uint64_t gpa);
/* L0's own bitmaps changed (ipi.c's ICR watch): every vCPU merges again
 * at its next nested entry. */
void nested_bitmaps_l0_changed(void);
/* Lifts every protection and empties every cache (tests). */
void nested_bitmaps_unprotect_all(void);

#endif
