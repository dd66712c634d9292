#include "vmm/ept01.h"
#include "boot/handoff.h"
#include "arch/x86/vmx_bits.h"

enum mem_class { CLASS_RAM, CLASS_DEVICE, CLASS_HIDDEN };

bool memtype_is_ram(uint32_t type)
{
    return type == MEM_USABLE || type == MEM_ACPI_RECLAIM || type == MEM_ACPI_NVS;
}

static enum mem_class class_of(uint32_t type)
{
    if (type == MEM_HV || type == MEM_IMAGE)
        return CLASS_HIDDEN;
    return memtype_is_ram(type) ? CLASS_RAM : CLASS_DEVICE;
}

/* The EPT memory type for one page: the firmware's MTRR type where MTRRs
 * are on; otherwise WB for RAM and UC for devices. */
static int page_type(const struct mtrr_state *mtrr, enum mem_class c, uint64_t base, uint64_t size)
{
    if (!mtrr->enabled)
        return c == CLASS_RAM ? MEMTYPE_WB : MEMTYPE_UC;
    return mtrr_range_type(mtrr, base, size);
}

static bool map_class(struct ept *e, const struct mtrr_state *mtrr, enum mem_class c, uint64_t a,
                      uint64_t b)
{
    while (a < b) {
        unsigned level = e->max_level;
        int type;
        for (;; level--) {
            uint64_t size = EPT_LEVEL_SIZE(level);
            if (level == 1 || (!(a & (size - 1)) && a + size <= b &&
                               (type = page_type(mtrr, c, a, size)) != MTRR_MIXED))
                break;
        }
        if (level == 1) {
            type = page_type(mtrr, c, a, EPT_LEVEL_SIZE(1));
            if (type == MTRR_MIXED)
                type = MEMTYPE_UC;
        }
        if (!ept_map(e, a, a, EPT_LEVEL_SIZE(level),
                     EPT_RWX | ((uint64_t)type << EPT_MEMTYPE_SHIFT)))
            return false;
        a += EPT_LEVEL_SIZE(level);
    }
    return true;
}

/* The class of the segment holding addr (a range, or the hole before the
 * next one: holes are devices) and where that segment ends. */
static enum mem_class segment_at(const struct memmap *m, uint64_t addr, uint64_t limit,
                                 uint64_t *end)
{
    for (unsigned i = 0; i < m->count; i++) {
        const struct mem_range *r = &m->r[i];
        if (r->base + r->size <= addr)
            continue;
        if (r->base <= addr) {
            *end = r->base + r->size;
            return class_of(r->type);
        }
        *end = r->base;
        return CLASS_DEVICE;
    }
    *end = limit;
    return CLASS_DEVICE;
}

/* Hidden pages: onto the sink, or left out. */
static bool map_hidden(struct ept *e, uint64_t a, uint64_t b, const struct ept_sink *sink)
{
    return sink ? ept_map_sink(e, a, b - a, sink) : ept_unmap(e, a, b - a);
}

bool ept01_build(struct ept *e, const struct memmap *host, const struct mtrr_state *mtrr,
                 uint64_t map_end, const struct ept_sink *sink)
{
    uint64_t cur = 0;
    while (cur < map_end) {
        /* The next run of one class: neighbouring ranges and holes of the
         * same class together, so that a whole GiB of one class can be one
         * page. */
        uint64_t end, next;
        enum mem_class c = segment_at(host, cur, map_end, &end);
        while (end < map_end && segment_at(host, end, map_end, &next) == c)
            end = next;
        if (end > map_end)
            end = map_end;
        /* EPT maps whole pages; firmware maps are byte-granular (QEMU
         * reserves its EBDA from 0x9fc00): a run that ends inside a page
         * takes the rest of it. */
        end = (end + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1);
        if (c == CLASS_HIDDEN ? !map_hidden(e, cur, end, sink) : !map_class(e, mtrr, c, cur, end))
            return false;
        cur = end;
    }
    /* Hidden memory stays hidden even if a neighbour's last page reached
     * into it (nestvisor's own ranges are page-aligned; this is the guard). */
    for (unsigned i = 0; i < host->count; i++) {
        const struct mem_range *r = &host->r[i];
        uint64_t first = r->base & ~(PAGE_SIZE - 1);
        uint64_t end = (r->base + r->size + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1);
        if (class_of(r->type) == CLASS_HIDDEN && ((r->base | r->size) & (PAGE_SIZE - 1)) &&
            r->base < map_end && !map_hidden(e, first, end, sink))
            return false;
    }
    return true;
}

void ept01_l1_memmap(const struct memmap *host, struct memmap *out)
{
    memmap_init(out);
    for (unsigned i = 0; i < host->count; i++) {
        uint32_t t = host->r[i].type;
        if (t == MEM_HV || t == MEM_IMAGE)
            t = MEM_RESERVED;
        memmap_set(out, host->r[i].base, host->r[i].size, t);
    }
}
