/* nestvisor's own physical pages: a bitmap allocator over one contiguous
 * pool that L1 never sees. Allocations are zeroed. */
#ifndef VMM_PMM_H
#define VMM_PMM_H

#include <stdbool.h>
#include <stdint.h>

#define PMM_MAX_POOL_PAGES (1ULL << 18) /* 1 GiB */

bool pmm_init(uint64_t base, uint64_t size);
/* Contiguous pages aligned to align_pages (a power of two); 0 if none. */
uint64_t pmm_alloc_aligned(uint64_t pages, uint64_t align_pages);
uint64_t pmm_alloc(uint64_t pages);
static inline uint64_t pmm_alloc_page(void) { return pmm_alloc(1); }
void pmm_free(uint64_t pa, uint64_t pages);
uint64_t pmm_free_pages(void);
uint64_t pmm_total_pages(void);
uint64_t pmm_pool_base(void);
bool pmm_owns(uint64_t pa);

#endif
