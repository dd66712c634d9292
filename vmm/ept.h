/* Extended page tables (SDM 29.3): building, walking and tearing down one
 * EPT hierarchy. Used for EPT01 (L1's memory) and, later, the shadow EPT02. */
#ifndef VMM_EPT_H
#define VMM_EPT_H

#include <stdbool.h>
#include <stdint.h>
#include "lib/spinlock.h"

/* EPT paging-structure entry bits (SDM Tables 29-2..29-6). */
#define EPT_READ        (1ULL << 0)
#define EPT_WRITE       (1ULL << 1)
#define EPT_EXEC        (1ULL << 2)
#define EPT_RWX         (EPT_READ | EPT_WRITE | EPT_EXEC)
#define EPT_MEMTYPE_SHIFT 3
#define EPT_MEMTYPE_MASK (7ULL << EPT_MEMTYPE_SHIFT)
#define EPT_IGNORE_PAT  (1ULL << 6)
#define EPT_LARGE       (1ULL << 7)
#define EPT_ACCESSED    (1ULL << 8)
#define EPT_DIRTY       (1ULL << 9)
#define EPT_USER_EXEC   (1ULL << 10)
#define EPT_SUPPRESS_VE (1ULL << 63)
#define EPT_ADDR_MASK   0x000ffffffffff000ULL
#define EPT_ENTRIES     512
#define EPT_LEVELS      4

/* EPTP (SDM 25.6.11). */
#define EPTP_MEMTYPE_WB   6ULL
#define EPTP_MEMTYPE_UC   0ULL
#define EPTP_WALK_4       (3ULL << 3)
#define EPTP_WALK_MASK    (7ULL << 3)
#define EPTP_AD_ENABLE    (1ULL << 6)
#define EPTP_RESERVED_LOW 0xf80ULL /* bits 11:7 */

/* Page sizes by level: 1 = 4 KiB (PTE), 2 = 2 MiB (PDE), 3 = 1 GiB (PDPTE). */
#define EPT_LEVEL_SHIFT(l) (12 + 9 * ((l) - 1))
#define EPT_LEVEL_SIZE(l)  (1ULL << EPT_LEVEL_SHIFT(l))
#define EPT_INDEX(gpa, l)  ((unsigned)(((gpa) >> EPT_LEVEL_SHIFT(l)) & 511))

/* A sink: one page that stands in for every page of a range (nestvisor's
 * own memory and everything beyond EPT01's reach, under hidden=discard).
 * table[l] (l = 1..3) is a level-l table all of whose entries lead to the
 * page, so that one entry at level l + 1 sinks 512 pages, 1 GiB or 512 GiB
 * at once and a sink of any size costs these three tables. The tables are
 * shared: the EPT code copies one before changing anything below it and
 * never frees them. */
struct ept_sink {
    uint64_t page;
    uint64_t leaf_flags;             /* permissions and memory type of the 4 KiB leaves */
    uint64_t table[EPT_LEVELS];      /* [1..3]; [0] unused */
};

struct ept {
    uint64_t root;       /* physical address of the PML4 */
    unsigned max_level;  /* largest leaf level allowed: 1, 2 or 3 */
    uint64_t table_pages; /* tables this EPT owns (not the sink's) */
    /* Table pages come from here (the pmm by default). */
    uint64_t (*alloc_table)(void *ctx);
    void (*free_table)(void *ctx, uint64_t pa);
    void *ctx;
    const struct ept_sink *sink; /* shared tables this EPT may point into, or 0 */
    struct spinlock lock; /* ept_set_writable's, for an EPT all CPUs use (EPT01) */
};

/* max_level 1-3; false if it is not or the root cannot be allocated. */
bool ept_init(struct ept *e, unsigned max_level);
/* Maps [gpa, gpa+size) to [hpa, ...) with 'flags' (permissions, memory
 * type, IPAT) in the largest pages alignment and max_level allow, splitting
 * existing large pages where needed. Addresses and size are whole 4 KiB
 * pages. False if table memory ran out or they are not. */
bool ept_map(struct ept *e, uint64_t gpa, uint64_t hpa, uint64_t size, uint64_t flags);
/* Gives or takes the write permission of the 4 KiB page at pa, keeping its
 * target and other attributes (a large page is split around it), under
 * e->lock: any CPU may change a shared EPT this way; after taking a
 * permission the caller has every CPU flush (smp_invept01_everywhere).
 * False if pa is not mapped or table memory ran out. */
bool ept_set_writable(struct ept *e, uint64_t pa, bool writable);
/* Removes any mapping of [gpa, gpa+size): every page it touches. */
bool ept_unmap(struct ept *e, uint64_t gpa, uint64_t size);
/* The leaf entry mapping gpa and its level, or 0 if not present. */
uint64_t *ept_lookup(const struct ept *e, uint64_t gpa, unsigned *level);
/* Builds a sink's tables for `page` (from the pmm). False if out of memory. */
bool ept_sink_init(struct ept_sink *s, uint64_t page, uint64_t leaf_flags);
/* Maps every page of [gpa, gpa+size) to the sink page, replacing what was
 * there: whole aligned 2 MiB / 1 GiB / 512 GiB slots by one entry into the
 * sink's shared tables. Sets e->sink. Whole 4 KiB pages; false if table
 * memory ran out. */
bool ept_map_sink(struct ept *e, uint64_t gpa, uint64_t size, const struct ept_sink *s);
/* Frees every table page (the sink's shared tables are not this EPT's). */
void ept_destroy(struct ept *e);
uint64_t ept_eptp(const struct ept *e, bool ad);

#endif
