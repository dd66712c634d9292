#include "vmm/nested/ept02.h"
#include "vmm/nested/bitmaps.h"
#include "vmm/pmm.h"
#include "vmm/vm.h"
#include "arch/x86/cpu.h"
#include "arch/x86/exit_reasons.h"
#include "arch/x86/physmem.h"
#include "arch/x86/vmx.h"
#include "arch/x86/vmx_bits.h"
#include "lib/string.h"

/* The parts of the CPU's qualification that describe L2's access rather
 * than our EPT02 (SDM Table 28-7): kept when reflecting. */
#define QUAL_ACCESS_BITS (EPT_QUAL_READ | EPT_QUAL_WRITE | EPT_QUAL_FETCH)
#define QUAL_KEPT_BITS   (QUAL_ACCESS_BITS | EPT_QUAL_GLA_VALID | EPT_QUAL_GLA_TRANSLATED | EPT_QUAL_NMI_UNBLOCKING)
#define QUAL_PERM_SHIFT  3
#define NO_ROOT          (~0ULL)

/* The EPT12 features L1 is offered: the same on every CPU, set once. */
static struct ept12_caps ept12_caps_all;
static bool (*write_emulator)(uint64_t l1_gpa); /* set once at boot */

/* ---- the bounded pool of table pages ---- */

static uint64_t pool_alloc(void *ctx)
{
    struct ept02 *e2 = ctx;
    if (!e2->nfree)
        return 0;
    uint64_t pa = e2->base + (uint64_t)e2->free[--e2->nfree] * PAGE_SIZE;
    memset(phys_to_virt(pa), 0, PAGE_SIZE);
    return pa;
}

static void pool_free(void *ctx, uint64_t pa)
{
    struct ept02 *e2 = ctx;
    e2->free[e2->nfree++] = (uint16_t)((pa - e2->base) / PAGE_SIZE);
}

bool ept02_init(struct ept02 *e2, unsigned pages)
{
    if (pages < EPT02_POOL_MIN_PAGES || pages > EPT02_POOL_PAGES)
        return false;
    e2->base = pmm_alloc(pages);
    if (!e2->base)
        return false;
    e2->pages = pages;
    for (unsigned i = 0; i < pages; i++)
        e2->free[i] = (uint16_t)(pages - 1 - i);
    e2->nfree = pages;
    for (unsigned i = 0; i < EPT02_ROOTS; i++)
        e2->roots[i].eptp12 = NO_ROOT;
    e2->filling = NO_ROOT;
    return true;
}

void ept02_set_caps(const struct ept12_caps *caps) { ept12_caps_all = *caps; }
void ept02_set_write_emulator(bool (*fn)(uint64_t l1_gpa)) { write_emulator = fn; }
unsigned ept02_pool_free(const struct ept02 *e2) { return e2->nfree; }

unsigned ept02_root_count(const struct ept02 *e2)
{
    unsigned n = 0;
    for (unsigned i = 0; i < EPT02_ROOTS; i++)
        n += e2->roots[i].eptp12 != NO_ROOT;
    return n;
}

/* ---- the cache of shadow roots ---- */

/* With A/D flags in EPT12, EPT02 has them too: then the CPU treats L2's
 * guest paging-structure accesses as writes (SDM 29.3.5) and they fault on
 * EPT02 entries kept read-only until EPT12's dirty flag is set. */
static uint64_t eptp02_of(const struct shadow_root *r)
{
    return ept_eptp(&r->ept, (r->eptp12 & EPTP_AD_ENABLE) && the_vm.caps->ept_ad);
}

static void drop_root(struct shadow_root *r)
{
    uint64_t eptp02 = eptp02_of(r);
    ept_destroy(&r->ept);
    r->eptp12 = NO_ROOT;
    invept(INVEPT_SINGLE_CONTEXT, eptp02);
}

/* Frees the least recently used root other than the one being filled. */
static bool reclaim_one(struct ept02 *e2)
{
    struct shadow_root *victim = 0;
    for (unsigned i = 0; i < EPT02_ROOTS; i++) {
        struct shadow_root *r = &e2->roots[i];
        if (r->eptp12 != NO_ROOT && r->eptp12 != e2->filling &&
            (!victim || r->last_use < victim->last_use))
            victim = r;
    }
    if (!victim)
        return false;
    drop_root(victim);
    e2->stats.roots_reclaimed++;
    return true;
}

static struct shadow_root *find_root(struct ept02 *e2, uint64_t eptp12)
{
    for (unsigned i = 0; i < EPT02_ROOTS; i++)
        if (e2->roots[i].eptp12 == eptp12)
            return &e2->roots[i];
    return 0;
}

static struct shadow_root *get_root(struct ept02 *e2, uint64_t eptp12)
{
    struct shadow_root *r = find_root(e2, eptp12);
    if (!r) {
        for (unsigned i = 0; i < EPT02_ROOTS && !r; i++)
            if (e2->roots[i].eptp12 == NO_ROOT)
                r = &e2->roots[i];
        if (!r) {
            reclaim_one(e2);
            for (unsigned i = 0; i < EPT02_ROOTS && !r; i++)
                if (e2->roots[i].eptp12 == NO_ROOT)
                    r = &e2->roots[i];
        }
        if (!r)
            return 0;
        r->ept = (struct ept){.alloc_table = pool_alloc, .free_table = pool_free, .ctx = e2};
        unsigned max_level = the_vm.caps->ept_1g ? 3 : the_vm.caps->ept_2m ? 2 : 1;
        while (!ept_init(&r->ept, max_level))
            if (!reclaim_one(e2))
                return 0;
        r->eptp12 = eptp12;
        e2->stats.roots_created++;
        /* The root's address may have been a root or a table before: no
         * translation the CPU cached under it may survive. */
        invept(INVEPT_SINGLE_CONTEXT, eptp02_of(r));
    }
    r->last_use = ++e2->clock;
    return r;
}

uint64_t ept02_eptp_for(struct ept02 *e2, uint64_t eptp12)
{
    e2->filling = eptp12;
    struct shadow_root *r = get_root(e2, eptp12);
    return r ? eptp02_of(r) : 0;
}

void ept02_invalidate(struct ept02 *e2, uint64_t eptp12)
{
    for (unsigned i = 0; i < EPT02_ROOTS; i++) {
        struct shadow_root *r = &e2->roots[i];
        /* INVEPT single-context names an EPT root, whatever the EPTP's
         * other bits (SDM 29.4.3.1: mappings are tagged by EPTRTA). */
        if (r->eptp12 != NO_ROOT &&
            (eptp12 == EPT02_ALL_CONTEXTS || (r->eptp12 & EPT_ADDR_MASK) == (eptp12 & EPT_ADDR_MASK)))
            drop_root(r);
    }
}

void ept02_flush_all(struct ept02 *e2) { ept02_invalidate(e2, EPT02_ALL_CONTEXTS); }

/* ---- composing EPT12 with EPT01 ---- */

/* Memory types from least to most cacheable (SDM 11.3): the composed type
 * is the less cacheable of the two. */
static unsigned cacheability(unsigned type)
{
    switch (type) {
    case MEMTYPE_UC: return 0;
    case MEMTYPE_WC: return 1;
    case MEMTYPE_WT: return 2;
    case MEMTYPE_WP: return 3;
    default: return 4; /* WB */
    }
}

void ept02_compose_memtype(unsigned type12, bool ipat12, unsigned type01, unsigned *type, bool *ipat)
{
    if (type01 == MEMTYPE_WB) {
        *type = type12;
        *ipat = ipat12;
        return;
    }
    /* L0's memory is not plain RAM here: never more cacheable than L0's
     * type, and L2's PAT cannot make it so. */
    *type = cacheability(type12) < cacheability(type01) ? type12 : type01;
    *ipat = true;
}

static bool read_l1_entry(uint64_t pa, uint64_t *entry)
{
    const uint64_t *p = vm_l1_ram(pa, sizeof(*p));
    if (!p)
        return false;
    *entry = *p;
    return true;
}

static uint64_t access_of(uint64_t qualification)
{
    uint64_t a = 0;
    if (qualification & EPT_QUAL_READ)
        a |= EPT_READ;
    if (qualification & EPT_QUAL_WRITE)
        a |= EPT_WRITE;
    if (qualification & EPT_QUAL_FETCH)
        a |= EPT_EXEC;
    return a;
}

/* The flags this access makes the CPU set in EPT12 (SDM 29.3.5): accessed
 * on every entry walked, dirty on the leaf for a write. */
static uint64_t ad_flags_for(const struct ept12_walk *w, unsigned i, bool write)
{
    return EPT_ACCESSED | (write && i == w->entries - 1 ? EPT_DIRTY : 0);
}

/* SDM 29.3.6: the CPU looks at the PML index whenever it is about to set
 * an accessed or dirty flag, not only a dirty one. */
static bool ad_update_needed(const struct ept12_walk *w, bool write)
{
    for (unsigned i = 0; i < w->entries; i++) {
        uint64_t want = ad_flags_for(w, i, write);
        if ((w->value[i] & want) != want)
            return true;
    }
    return false;
}

/* Accessed and dirty flags in EPT12, as the CPU would set them for this
 * access (SDM 29.3.5), each with one locked OR as the CPU's (L1 may edit
 * the entry on another CPU meanwhile). True if the leaf's dirty flag went
 * from 0 to 1 here: what page-modification logging records. */
static bool set_ad_flags(const struct ept12_walk *w, bool write)
{
    bool dirtied = false;
    for (unsigned i = 0; i < w->entries; i++) {
        uint64_t *e = vm_l1_ram(w->entry_pa[i], sizeof(*e));
        uint64_t want = ad_flags_for(w, i, write);
        if (!e || (__atomic_load_n(e, __ATOMIC_RELAXED) & want) == want)
            continue;
        uint64_t old = __atomic_fetch_or(e, want, __ATOMIC_SEQ_CST);
        dirtied |= (want & EPT_DIRTY) && !(old & EPT_DIRTY);
    }
    return dirtied;
}

/* An L0 store into L1 memory that L1 could have made itself (a log entry,
 * the #VE information): where L1 reaches pa (RAM or the sink), never L0's
 * memory; on a device it is dropped. A bitmap page L0 merged from sees its
 * merges go stale, as after L1's own store. */
void ept02_store_l1(uint64_t pa, const void *data, unsigned len)
{
    uint8_t *p = vm_l1_view(pa, len);
    if (!p)
        return;
    memcpy(p, data, len);
    if (nested_bitmap_is_protected(pa))
        nested_bitmap_page_written();
}

/* SDM 29.3.6 steps 1-2: the 4 KiB-aligned L2-physical address at
 * address + 8 * index, then the index one lower (0 becomes FFFFH). */
static void pml_log(struct ept02 *e2, struct ept02_pml *pml, uint64_t gpa)
{
    uint64_t entry = gpa & ~(PAGE_SIZE - 1);
    ept02_store_l1(pml->address + (uint64_t)pml->index * PML_ENTRY_SIZE, &entry, sizeof(entry));
    pml->index--;
    e2->stats.pml_logged++;
}

bool ept02_eptp_list_entry(uint64_t list, uint64_t index, uint64_t *eptp12)
{
    if (index >= EPTP_LIST_ENTRIES)
        return false;
    const uint64_t *p = vm_l1_view(list + index * EPTP_LIST_ENTRY_SIZE, EPTP_LIST_ENTRY_SIZE);
    uint64_t eptp = p ? __atomic_load_n(p, __ATOMIC_RELAXED) : ~0ULL;
    if (!ept12_eptp_valid(eptp, &ept12_caps_all))
        return false;
    *eptp12 = eptp;
    return true;
}

static bool install(struct ept02 *e2, struct shadow_root *r, uint64_t gpa, uint64_t hpa, unsigned level, uint64_t flags)
{
    uint64_t size = EPT_LEVEL_SIZE(level);
    for (int attempt = 0; attempt < 2; attempt++) {
        if (ept_map(&r->ept, gpa & ~(size - 1), hpa & ~(size - 1), size, flags))
            return true;
        /* Pool exhausted: other shadows go first, then this one's tables. */
        e2->stats.pool_reclaims++;
        while (reclaim_one(e2) && e2->nfree < EPT_LEVELS)
            ;
        if (e2->nfree < EPT_LEVELS) {
            uint64_t eptp12 = r->eptp12;
            drop_root(r);
            r = get_root(e2, eptp12);
            if (!r)
                return false;
        }
    }
    return false;
}

enum ept02_access ept02_l2_access(struct ept02 *e2, uint64_t eptp12, uint64_t gpa, uint64_t access, struct ept02_pml *pml,
                                  uint64_t *l1_gpa, struct ept12_walk *w)
{
    ept12_walk(eptp12, gpa, access, &ept12_caps_all, read_l1_entry, w);
    if (w->status != EPT12_OK)
        return EPT02_ACCESS_REFUSED;
    bool write = access & EPT_WRITE;
    if (eptp12 & EPTP_AD_ENABLE) {
        if (pml && pml->index >= PML_ENTRIES && ad_update_needed(w, write))
            return EPT02_ACCESS_PML_FULL;
        if (set_ad_flags(w, write) && pml)
            pml_log(e2, pml, gpa);
    }
    *l1_gpa = w->l1_gpa;
    return EPT02_ACCESS_OK;
}

/* The fill itself; stats only for real violations, not for prefaults. */
static void resolve(struct ept02 *e2, uint64_t eptp12, uint64_t gpa, uint64_t qualification, bool count,
                    struct ept02_pml *pml, struct ept02_fault *out)
{
    uint64_t t0 = rdtsc();
    uint64_t access = access_of(qualification);
    struct ept12_walk w;
    ept12_walk(eptp12, gpa, access, &ept12_caps_all, read_l1_entry, &w);
    if (w.status == EPT12_MISCONFIG) {
        e2->stats.misconfigs += count;
        out->outcome = EPT02_REFLECT_MISCONFIG;
        return;
    }
    if (w.status == EPT12_VIOLATION) {
        e2->stats.reflected += count;
        out->outcome = EPT02_REFLECT_VIOLATION;
        out->qualification = (qualification & QUAL_KEPT_BITS) | (w.perms << QUAL_PERM_SHIFT);
        out->convertible = ept12_violation_convertible(&w);
        return;
    }
    bool ad = eptp12 & EPTP_AD_ENABLE;
    bool write = access & EPT_WRITE;
    if (ad) {
        if (pml && pml->index >= PML_ENTRIES && ad_update_needed(&w, write)) {
            e2->stats.pml_full += count;
            out->outcome = EPT02_PML_FULL;
            return;
        }
        if (set_ad_flags(&w, write) && pml)
            pml_log(e2, pml, gpa);
    }

    unsigned level01;
    uint64_t *e01 = ept_lookup(&the_vm.ept01, w.l1_gpa, &level01);
    if (e01 && write && !(*e01 & EPT_WRITE) && nested_bitmap_is_protected(w.l1_gpa)) {
        /* A bitmap L0 merged: the store is done by L0, which merges again
         * (bitmaps.c); or, if it cannot be, the protection is lifted. */
        if (write_emulator && write_emulator(w.l1_gpa)) {
            out->outcome = EPT02_WRITE_EMULATED;
            return;
        }
        nested_bitmap_write_fault(w.l1_gpa);
        e01 = ept_lookup(&the_vm.ept01, w.l1_gpa, &level01);
    }
    if (!e01 || (access & ~(*e01 & EPT_RWX))) {
        e2->stats.hidden += count;
        out->outcome = EPT02_L1_HIDDEN;
        out->l1_gpa = w.l1_gpa;
        return;
    }
    uint64_t perms = w.perms & *e01 & EPT_RWX;
    /* Until EPT12's dirty flag is set, a write must come back to L0. */
    if (ad && !(w.leaf & EPT_DIRTY) && !write)
        perms &= ~EPT_WRITE;
    else if (ad && write)
        e2->stats.dirty_upgrades++;
    unsigned type;
    bool ipat;
    ept02_compose_memtype(ept12_leaf_memtype(w.leaf), ept12_leaf_ipat(w.leaf),
                          (unsigned)((*e01 & EPT_MEMTYPE_MASK) >> EPT_MEMTYPE_SHIFT), &type, &ipat);
    unsigned level = w.level < level01 ? w.level : level01;
    uint64_t size01 = EPT_LEVEL_SIZE(level01);
    uint64_t hpa = (*e01 & EPT_ADDR_MASK & ~(size01 - 1)) | (w.l1_gpa & (size01 - 1));
    uint64_t flags = perms | ((uint64_t)type << EPT_MEMTYPE_SHIFT) | (ipat ? EPT_IGNORE_PAT : 0);
    /* This shadow is the one being filled, whatever EPTP vmcs02 last asked
     * for: reclaiming it under install() would map through a dead root. */
    e2->filling = eptp12;
    struct shadow_root *r = get_root(e2, eptp12);
    if (!r || !install(e2, r, gpa, hpa, level, flags)) {
        /* Not even an empty pool can hold one path: treat as L1's problem. */
        out->outcome = EPT02_L1_HIDDEN;
        out->l1_gpa = w.l1_gpa;
        return;
    }
    if (count) {
        e2->stats.fills++;
        e2->stats.fill_ticks += rdtsc() - t0;
    } else {
        e2->stats.prefaults++;
    }
    out->outcome = EPT02_FILLED;
}

void ept02_handle_violation(struct ept02 *e2, uint64_t eptp12, uint64_t gpa, uint64_t qualification,
                            struct ept02_pml *pml, struct ept02_fault *out)
{
    out->convertible = false;
    resolve(e2, eptp12, gpa, qualification, true, pml, out);
}

bool ept02_prefault(struct ept02 *e2, uint64_t eptp12, uint64_t gpa, uint64_t qualification,
                    struct ept02_pml *pml)
{
    struct ept02_fault f;
    resolve(e2, eptp12, gpa, qualification, false, pml, &f);
    return f.outcome == EPT02_FILLED;
}

struct ept *ept02_shadow(struct ept02 *e2, uint64_t eptp12, uint64_t *eptp02)
{
    struct shadow_root *r = find_root(e2, eptp12);
    if (!r)
        return 0;
    *eptp02 = eptp02_of(r);
    return &r->ept;
}

uint64_t ept02_table_pages(const struct ept02 *e2, uint64_t eptp12)
{
    uint64_t pages = 0;
    for (unsigned i = 0; i < EPT02_ROOTS; i++) {
        const struct shadow_root *r = &e2->roots[i];
        if (r->eptp12 != NO_ROOT &&
            (!eptp12 || (r->eptp12 & EPT_ADDR_MASK) == (eptp12 & EPT_ADDR_MASK)))
            pages += r->ept.table_pages;
    }
    return pages;
}
