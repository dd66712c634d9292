#include "vmm/ept.h"
#include "vmm/pmm.h"
#include "arch/x86/physmem.h"
#include "lib/string.h"

static uint64_t pmm_table(void *ctx)
{
    (void)ctx;
    return pmm_alloc_page();
}

static void pmm_table_free(void *ctx, uint64_t pa)
{
    (void)ctx;
    pmm_free(pa, 1);
}

static uint64_t *table_of(uint64_t entry) { return phys_to_virt(entry & EPT_ADDR_MASK); }
static bool present(uint64_t entry) { return entry & EPT_RWX; }
static bool is_leaf(uint64_t entry, unsigned level) { return level == 1 || (entry & EPT_LARGE); }

static bool is_sink_table(const struct ept *e, uint64_t pa)
{
    const struct ept_sink *s = e->sink;
    return s && (pa == s->table[1] || pa == s->table[2] || pa == s->table[3]);
}

bool ept_init(struct ept *e, unsigned max_level)
{
    if (max_level < 1 || max_level > 3)
        return false;
    if (!e->alloc_table) {
        e->alloc_table = pmm_table;
        e->free_table = pmm_table_free;
    }
    e->max_level = max_level;
    e->table_pages = 0;
    e->lock = (struct spinlock){0};
    e->root = e->alloc_table(e->ctx);
    if (!e->root)
        return false;
    e->table_pages = 1;
    return true;
}

/* A table for the entry at 'level' (> 1): a new one, or one that splits an
 * existing large page into 512 pages of the next size down. */
static uint64_t *ensure_table(struct ept *e, uint64_t *entry, unsigned level)
{
    bool shared = present(*entry) && !(*entry & EPT_LARGE) && is_sink_table(e, *entry & EPT_ADDR_MASK);
    if (present(*entry) && !(*entry & EPT_LARGE) && !shared)
        return table_of(*entry);
    uint64_t pa = e->alloc_table(e->ctx);
    if (!pa)
        return 0;
    e->table_pages++;
    uint64_t *t = phys_to_virt(pa);
    if (shared) { /* a private copy of the sink's table, changed from here on */
        memcpy(t, table_of(*entry), EPT_ENTRIES * sizeof(*t));
    } else if (present(*entry)) { /* split, keeping attributes (SDM 29.3.2) */
        uint64_t attrs = *entry & ~EPT_ADDR_MASK & ~(level - 1 == 1 ? EPT_LARGE : 0);
        uint64_t base = *entry & EPT_ADDR_MASK;
        for (unsigned i = 0; i < EPT_ENTRIES; i++)
            t[i] = (base + i * EPT_LEVEL_SIZE(level - 1)) | attrs;
    }
    *entry = pa | EPT_RWX;
    return t;
}

static bool map_one(struct ept *e, uint64_t gpa, uint64_t hpa, unsigned leaf_level, uint64_t flags)
{
    uint64_t *t = phys_to_virt(e->root);
    for (unsigned level = EPT_LEVELS; level > leaf_level; level--) {
        t = ensure_table(e, &t[EPT_INDEX(gpa, level)], level);
        if (!t)
            return false;
    }
    uint64_t *entry = &t[EPT_INDEX(gpa, leaf_level)];
    if (present(*entry) && !is_leaf(*entry, leaf_level))
        ept_unmap(e, gpa, EPT_LEVEL_SIZE(leaf_level)); /* frees the subtree */
    *entry = hpa | flags | (leaf_level > 1 ? EPT_LARGE : 0);
    return true;
}

bool ept_map(struct ept *e, uint64_t gpa, uint64_t hpa, uint64_t size, uint64_t flags)
{
    /* Bits 11:0 of an address would land in the entry's attributes, and a
     * partial page would never bring size to 0. */
    if ((gpa | hpa | size) & (EPT_LEVEL_SIZE(1) - 1))
        return false;
    while (size) {
        unsigned level = e->max_level;
        while (level > 1 && (((gpa | hpa) & (EPT_LEVEL_SIZE(level) - 1)) || size < EPT_LEVEL_SIZE(level)))
            level--;
        if (!map_one(e, gpa, hpa, level, flags))
            return false;
        gpa += EPT_LEVEL_SIZE(level);
        hpa += EPT_LEVEL_SIZE(level);
        size -= EPT_LEVEL_SIZE(level);
    }
    return true;
}

static void free_subtree(struct ept *e, uint64_t table_pa, unsigned level)
{
    if (is_sink_table(e, table_pa))
        return;
    uint64_t *t = phys_to_virt(table_pa);
    if (level > 1) {
        for (unsigned i = 0; i < EPT_ENTRIES; i++)
            if (present(t[i]) && !is_leaf(t[i], level))
                free_subtree(e, t[i] & EPT_ADDR_MASK, level - 1);
    }
    e->free_table(e->ctx, table_pa);
    e->table_pages--;
}

static bool unmap_in(struct ept *e, uint64_t *t, unsigned level, uint64_t start, uint64_t end)
{
    uint64_t span = EPT_LEVEL_SIZE(level);
    for (uint64_t a = start; a < end;) {
        uint64_t slot_base = a & ~(span - 1);
        uint64_t slot_end = slot_base + span;
        uint64_t stop = slot_end < end ? slot_end : end;
        uint64_t *entry = &t[EPT_INDEX(a, level)];
        if (present(*entry)) {
            bool whole = a == slot_base && stop == slot_end;
            if (whole) {
                if (!is_leaf(*entry, level))
                    free_subtree(e, *entry & EPT_ADDR_MASK, level - 1);
                *entry = 0;
            } else {
                uint64_t *sub = ensure_table(e, entry, level);
                if (!sub || !unmap_in(e, sub, level - 1, a, stop))
                    return false;
            }
        }
        a = stop;
    }
    return true;
}

bool ept_set_writable(struct ept *e, uint64_t pa, bool writable)
{
    spin_lock(&e->lock);
    unsigned level;
    uint64_t *entry = ept_lookup(e, pa, &level);
    bool ok = false;
    if (entry) {
        uint64_t size = EPT_LEVEL_SIZE(level);
        uint64_t hpa = (*entry & EPT_ADDR_MASK & ~(size - 1)) | (pa & (size - 1));
        uint64_t flags = *entry & ~(EPT_ADDR_MASK | EPT_LARGE);
        flags = writable ? flags | EPT_WRITE : flags & ~EPT_WRITE;
        ok = ept_map(e, pa, hpa, EPT_LEVEL_SIZE(1), flags);
    }
    spin_unlock(&e->lock);
    return ok;
}

bool ept_unmap(struct ept *e, uint64_t gpa, uint64_t size)
{
    /* Whole pages: a partial 4 KiB slot would be split as if the mapped
     * frame were a table. */
    if (!size)
        return true;
    uint64_t start = gpa & ~(EPT_LEVEL_SIZE(1) - 1);
    uint64_t end = (gpa + size + EPT_LEVEL_SIZE(1) - 1) & ~(EPT_LEVEL_SIZE(1) - 1);
    return unmap_in(e, phys_to_virt(e->root), EPT_LEVELS, start, end);
}

uint64_t *ept_lookup(const struct ept *e, uint64_t gpa, unsigned *level)
{
    uint64_t *t = phys_to_virt(e->root);
    for (unsigned l = EPT_LEVELS; l >= 1; l--) {
        uint64_t *entry = &t[EPT_INDEX(gpa, l)];
        if (!present(*entry))
            return 0;
        if (is_leaf(*entry, l)) {
            if (level)
                *level = l;
            return entry;
        }
        t = table_of(*entry);
    }
    return 0;
}

bool ept_sink_init(struct ept_sink *s, uint64_t page, uint64_t leaf_flags)
{
    s->page = page;
    s->leaf_flags = leaf_flags;
    s->table[0] = 0;
    for (unsigned l = 1; l < EPT_LEVELS; l++) {
        s->table[l] = pmm_alloc_page();
        if (!s->table[l])
            return false;
        uint64_t *t = phys_to_virt(s->table[l]);
        uint64_t entry = l == 1 ? page | leaf_flags : s->table[l - 1] | EPT_RWX;
        for (unsigned i = 0; i < EPT_ENTRIES; i++)
            t[i] = entry;
    }
    return true;
}

/* The entry at `level` for gpa leads to the sink: a 4 KiB leaf at level 1,
 * else the sink's table one level down. */
static bool map_sink_one(struct ept *e, uint64_t gpa, unsigned level, const struct ept_sink *s)
{
    uint64_t *t = phys_to_virt(e->root);
    for (unsigned l = EPT_LEVELS; l > level; l--) {
        t = ensure_table(e, &t[EPT_INDEX(gpa, l)], l);
        if (!t)
            return false;
    }
    uint64_t *entry = &t[EPT_INDEX(gpa, level)];
    if (present(*entry) && !is_leaf(*entry, level))
        free_subtree(e, *entry & EPT_ADDR_MASK, level - 1);
    *entry = level == 1 ? s->page | s->leaf_flags : s->table[level - 1] | EPT_RWX;
    return true;
}

bool ept_map_sink(struct ept *e, uint64_t gpa, uint64_t size, const struct ept_sink *s)
{
    if ((gpa | size) & (EPT_LEVEL_SIZE(1) - 1))
        return false;
    e->sink = s;
    while (size) {
        unsigned level = EPT_LEVELS;
        while (level > 1 && ((gpa & (EPT_LEVEL_SIZE(level) - 1)) || size < EPT_LEVEL_SIZE(level)))
            level--;
        if (!map_sink_one(e, gpa, level, s))
            return false;
        gpa += EPT_LEVEL_SIZE(level);
        size -= EPT_LEVEL_SIZE(level);
    }
    return true;
}

void ept_destroy(struct ept *e)
{
    if (e->root)
        free_subtree(e, e->root, EPT_LEVELS);
    e->root = 0;
}

uint64_t ept_eptp(const struct ept *e, bool ad)
{
    return e->root | EPTP_MEMTYPE_WB | EPTP_WALK_4 | (ad ? EPTP_AD_ENABLE : 0);
}
