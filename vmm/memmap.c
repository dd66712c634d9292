#include "vmm/memmap.h"
#include "boot/handoff.h"
#include "lib/string.h"

void memmap_init(struct memmap *m) { m->count = 0; }

static void remove_at(struct memmap *m, unsigned i)
{
    memmove(&m->r[i], &m->r[i + 1], (m->count - i - 1) * sizeof(m->r[0]));
    m->count--;
}

static void insert_at(struct memmap *m, unsigned i, struct mem_range r)
{
    memmove(&m->r[i + 1], &m->r[i], (m->count - i) * sizeof(m->r[0]));
    m->r[i] = r;
    m->count++;
}

static void merge_neighbours(struct memmap *m)
{
    for (unsigned i = 0; i + 1 < m->count;) {
        struct mem_range *a = &m->r[i], *b = &m->r[i + 1];
        if (a->type == b->type && a->base + a->size == b->base) {
            a->size += b->size;
            remove_at(m, i + 1);
        } else {
            i++;
        }
    }
}

bool memmap_set(struct memmap *m, uint64_t base, uint64_t size, uint32_t type)
{
    if (!size)
        return true;
    uint64_t end = base + size;
    if (end < base)
        end = UINT64_MAX, size = end - base;
    /* Worst case: one range split in two plus the new one. */
    if (m->count + 2 > MEMMAP_MAX)
        return false;
    unsigned i = 0;
    while (i < m->count) {
        struct mem_range *r = &m->r[i];
        uint64_t rend = r->base + r->size;
        if (rend <= base || r->base >= end) {
            i++;
            continue;
        }
        if (r->base < base && rend > end) { /* split around the new range */
            struct mem_range tail = {end, rend - end, r->type};
            r->size = base - r->base;
            insert_at(m, i + 1, tail);
            i += 2;
        } else if (r->base < base) {
            r->size = base - r->base;
            i++;
        } else if (rend > end) {
            r->size = rend - end;
            r->base = end;
            i++;
        } else {
            remove_at(m, i);
        }
    }
    unsigned pos = 0;
    while (pos < m->count && m->r[pos].base < base)
        pos++;
    insert_at(m, pos, (struct mem_range){base, size, type});
    merge_neighbours(m);
    return true;
}

bool memmap_add_firmware(struct memmap *m, uint64_t base, uint64_t size, uint32_t type)
{
    if (type != MEM_USABLE)
        return memmap_set(m, base, size, type);
    /* Usable RAM only fills the holes left by other ranges. */
    uint64_t end = base + size < base ? UINT64_MAX : base + size;
    uint64_t cur = base;
    while (cur < end) {
        uint64_t gap_end = end;
        bool covered = false;
        for (unsigned i = 0; i < m->count; i++) {
            const struct mem_range *r = &m->r[i];
            uint64_t rend = r->base + r->size;
            if (r->base <= cur && rend > cur) {
                cur = rend < end ? rend : end;
                covered = true;
                break;
            }
            if (r->base > cur && r->base < gap_end)
                gap_end = r->base;
        }
        if (covered)
            continue;
        if (!memmap_set(m, cur, gap_end - cur, MEM_USABLE))
            return false;
        cur = gap_end;
    }
    return true;
}

void memmap_page_align_usable(struct memmap *m)
{
    for (unsigned i = 0; i < m->count;) {
        struct mem_range *r = &m->r[i];
        if (r->type != MEM_USABLE) {
            i++;
            continue;
        }
        uint64_t start = (r->base + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1);
        uint64_t end = (r->base + r->size) & ~(PAGE_SIZE - 1);
        if (start < r->base || end <= start) {
            remove_at(m, i);
            continue;
        }
        r->base = start;
        r->size = end - start;
        i++;
    }
}

uint32_t memmap_type_at(const struct memmap *m, uint64_t addr)
{
    for (unsigned i = 0; i < m->count; i++)
        if (addr >= m->r[i].base && addr - m->r[i].base < m->r[i].size)
            return m->r[i].type;
    return 0;
}

bool memmap_is_all(const struct memmap *m, uint64_t base, uint64_t size, uint32_t type)
{
    uint64_t cur = base, end = base + size;
    if (end < base)
        return false;
    for (unsigned i = 0; i < m->count && cur < end; i++) {
        const struct mem_range *r = &m->r[i];
        uint64_t rend = r->base + r->size;
        if (rend <= cur)
            continue;
        if (r->base > cur || r->type != type)
            return false;
        cur = rend;
    }
    return cur >= end;
}

bool memmap_find_top(const struct memmap *m, uint64_t size, uint64_t align, uint64_t limit,
                     uint64_t *out)
{
    if (!align)
        align = 1;
    for (unsigned i = m->count; i-- > 0;) {
        const struct mem_range *r = &m->r[i];
        if (r->type != MEM_USABLE || r->size < size)
            continue;
        uint64_t end = r->base + r->size;
        if (end > limit)
            end = limit;
        if (end < r->base + size)
            continue;
        uint64_t start = (end - size) & ~(align - 1);
        if (start >= r->base) {
            *out = start;
            return true;
        }
    }
    return false;
}

uint64_t memmap_total(const struct memmap *m, uint32_t type)
{
    uint64_t total = 0;
    for (unsigned i = 0; i < m->count; i++)
        if (m->r[i].type == type)
            total += m->r[i].size;
    return total;
}

uint64_t memmap_end(const struct memmap *m)
{
    return m->count ? m->r[m->count - 1].base + m->r[m->count - 1].size : 0;
}

const char *memmap_type_name(uint32_t type)
{
    switch (type) {
    case MEM_USABLE: return "usable";
    case MEM_RESERVED: return "reserved";
    case MEM_ACPI_RECLAIM: return "ACPI data";
    case MEM_ACPI_NVS: return "ACPI NVS";
    case MEM_BAD: return "bad";
    case MEM_MMIO: return "MMIO";
    case MEM_HV: return "nestvisor";
    case MEM_IMAGE: return "boot module";
    default: return "unknown";
    }
}
