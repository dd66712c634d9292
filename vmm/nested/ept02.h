/* EPT-on-EPT: when L1 gives L2 an EPT (EPT12: L2-physical -> L1-physical)
 * L0 runs L2 on a shadow EPT02 (L2-physical -> host-physical), the
 * composition of EPT12 with L0's EPT01, filled lazily on L2's EPT
 * violations. One EPT02 per EPTP12 in a small cache; tables come from a
 * bounded pool and are reclaimed, never exhausted.
 * Per vCPU (docs/smp.md): each vCPU's struct ept02 is its own, like a
 * CPU's TLB; L1's INVEPT on a CPU drops that CPU's shadows, as INVEPT
 * invalidates only the executing processor's cached translations
 * (SDM 29.4.3.1). Nothing here is shared or locked. */
#ifndef VMM_NESTED_EPT02_H
#define VMM_NESTED_EPT02_H

#include <stdbool.h>
#include <stdint.h>
#include "vmm/ept.h"
#include "vmm/nested/ept12.h"

#define EPT02_ROOTS        8
#define EPT02_POOL_PAGES   1024 /* at most 4 MiB of shadow tables per vCPU */
#define EPT02_POOL_MIN_PAGES 64 /* enough for several roots' paths */
#define EPT02_POOL_BUDGET_PAGES 4096 /* for all vCPUs together, when there are many */
#define EPT02_ALL_CONTEXTS (~0ULL)

struct vcpu;

/* What L0 did with an EPT violation of L2 under EPT12. */
enum ept02_outcome {
    EPT02_FILLED,           /* EPT02 now maps the page: resume L2 */
    EPT02_REFLECT_VIOLATION, /* EPT12 forbids it: L1 gets reason 48 */
    EPT02_REFLECT_MISCONFIG, /* EPT12 is misconfigured: L1 gets reason 49 */
    EPT02_L1_HIDDEN,        /* EPT12 leads where L1 cannot go: L1's own policy */
    EPT02_WRITE_EMULATED,   /* a write to a bitmap page L0 watches: done, resume L2 */
    EPT02_PML_FULL,         /* an A/D flag to set and L1's log is full: L1 gets
                               reason 62, nothing was set (SDM 29.3.6) */
};

struct ept02_fault {
    enum ept02_outcome outcome;
    uint64_t qualification; /* for EPT02_REFLECT_VIOLATION */
    bool convertible;       /* ... and a #VE may replace it (SDM 26.5.7.1) */
    uint64_t l1_gpa;        /* for EPT02_L1_HIDDEN */
};

/* L1's page-modification log (SDM 29.3.6) while vmcs12 enables PML: when
 * L0 sets a dirty flag of EPT12 (0 -> 1) for L2's access, it writes the
 * L2-physical page address at address + 8 * index (as L1 reaches it: its
 * RAM or the sink; never L0's memory; dropped on a device) and decrements
 * index; with index outside 0-511 nothing is set or logged and the fault
 * is EPT02_PML_FULL. The caller copies index back into vmcs12. */
struct ept02_pml {
    uint64_t address;
    uint16_t index;
};

struct ept02_stats {
    uint64_t fills, fill_ticks;
    uint64_t reflected, misconfigs, hidden;
    uint64_t dirty_upgrades;
    uint64_t pml_logged, pml_full; /* entries written into L1's logs; log-full exits */
    uint64_t prefaults; /* fills done at L1's VMRESUME (ept02_prefault) */
    uint64_t roots_created, roots_reclaimed, pool_reclaims;
};

struct shadow_root {
    uint64_t eptp12;  /* NO_ROOT: slot free */
    uint64_t last_use;
    struct ept ept;
};

/* One vCPU's shadows and their pool. */
struct ept02 {
    uint64_t base;                     /* the pool */
    unsigned pages;                    /* its size (EPT02_POOL_MIN_PAGES..EPT02_POOL_PAGES) */
    uint16_t free[EPT02_POOL_PAGES];
    unsigned nfree;
    struct shadow_root roots[EPT02_ROOTS];
    uint64_t clock;
    uint64_t filling; /* eptp12 of the root being filled: never reclaimed */
    struct ept02_stats stats;
};

/* Takes a pool of `pages` from the pmm; false if it has no room. */
bool ept02_init(struct ept02 *e2, unsigned pages);
/* The EPT features L1 is offered (the same for every vCPU). */
void ept02_set_caps(const struct ept12_caps *caps);
/* L2 writes a bitmap page L0 keeps read-only (bitmaps.c): fn does the
 * store on the calling CPU and returns true, or false and the protection
 * is lifted (also without fn: unit tests, fuzzers). */
void ept02_set_write_emulator(bool (*fn)(uint64_t l1_gpa));
/* The EPT02 EPTP that shadows eptp12 (created on first use; the least
 * recently used one is reclaimed when the cache is full). 0 if the pool
 * cannot hold even a root. */
uint64_t ept02_eptp_for(struct ept02 *e2, uint64_t eptp12);
/* An EPT violation of L2 at gpa with the exit qualification the CPU gave;
 * pml: L1's log if vmcs12 enables PML, else NULL. */
void ept02_handle_violation(struct ept02 *e2, uint64_t eptp12, uint64_t gpa, uint64_t qualification,
                            struct ept02_pml *pml, struct ept02_fault *out);
/* L1 is resuming L2 after handling a reflected violation at gpa: fill
 * EPT02 for it now, as the retried access would, and save an exit. Sets
 * EPT12's A/D flags for that access early (before L2 retries it), and logs
 * a dirty flag it sets into pml as the access would; nothing else differs.
 * False if EPT12 still does not allow it or the log is full (L2 will fault
 * and the violation is handled as usual). */
bool ept02_prefault(struct ept02 *e2, uint64_t eptp12, uint64_t gpa, uint64_t qualification,
                    struct ept02_pml *pml);
/* An access L0 makes for L2 (a memory operand of an instruction of L2's it
 * emulates) at L2-physical gpa, by EPT12 as the CPU's own would go (SDM
 * 29.3.2, 29.3.5, 29.3.6): access is EPT_READ, EPT_WRITE and/or EPT_EXEC,
 * EPT12's accessed/dirty flags are set where EPTP12 enables them and a
 * dirty flag set is logged into pml (L1's log, or NULL). OK with the L1
 * address; REFUSED with the walk in *w (EPT12_VIOLATION: w->perms the AND
 * of the R/W/X bits walked; or EPT12_MISCONFIG); PML_FULL when a flag was
 * due and the log is full (SDM 29.3.6: nothing set). Not OK: an exit for L1. */
enum ept02_access { EPT02_ACCESS_OK, EPT02_ACCESS_REFUSED, EPT02_ACCESS_PML_FULL };
enum ept02_access ept02_l2_access(struct ept02 *e2, uint64_t eptp12, uint64_t gpa, uint64_t access, struct ept02_pml *pml,
                                  uint64_t *l1_gpa, struct ept12_walk *w);
/* EPTP switching (SDM 26.5.6.3): the entry at index of L1's EPTP list at
 * list, read as L1 reaches it (its RAM or the sink; a device reads as all
 * ones), if index < 512 and the entry is an EPTP VM entry would accept
 * (26.2.1.1). False: VMFUNC is a VM exit to L1. */
bool ept02_eptp_list_entry(uint64_t list, uint64_t index, uint64_t *eptp12);
/* L0 stores len bytes into L1 memory at pa as L1 itself could have (its
 * RAM or the sink; dropped on a device; never L0's memory), keeping the
 * merged bitmaps honest if pa is a page they were merged from. */
void ept02_store_l1(uint64_t pa, const void *data, unsigned len);
/* L2-physical gpa to L1-physical by EPT12 (present entries, no A/D flags
 * set); false if EPT12 does not map it. */
bool ept02_l2_to_l1(uint64_t eptp12, uint64_t gpa, uint64_t *l1_gpa);
/* INVEPT from L1: drop the shadow of eptp12, or of all (EPT02_ALL_CONTEXTS). */
void ept02_invalidate(struct ept02 *e2, uint64_t eptp12);
/* EPT01 lost a permission somewhere: no shadow may keep it. */
void ept02_flush_all(struct ept02 *e2);
/* The shadow EPT of eptp12 (0 if none) and its EPTP. */
struct ept *ept02_shadow(struct ept02 *e2, uint64_t eptp12, uint64_t *eptp02);
/* Table pages of the shadow of eptp12 (0: of all shadows). */
uint64_t ept02_table_pages(const struct ept02 *e2, uint64_t eptp12);
/* For tests and statistics. */
unsigned ept02_pool_free(const struct ept02 *e2);
unsigned ept02_root_count(const struct ept02 *e2);

/* Memory type of a composed mapping (SDM 29.3.7 with L0's type on top):
 * device memory (L0 type UC) stays UC whatever L1 says; otherwise L1's
 * type, made no more cacheable than L0's. */
void ept02_compose_memtype(unsigned type12, bool ipat12, unsigned type01, unsigned *type,
                           bool *ipat);

#endif
