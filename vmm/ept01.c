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

bool ept01_build(struct ept *e, const struct memmap *host, const struct mtrr_state *mtrr,
                 uint64_t map_end)
{
    uint64_t cur = 0;
    unsigned i = 0;
    while (cur < map_end) {
        /* The next run of one class: a memmap range, or the hole before it. */
        enum mem_class c = CLASS_DEVICE;
        uint64_t end = map_end;
        while (i < host->count && host->r[i].base + host->r[i].size <= cur)
            i++;
        if (i < host->count && host->r[i].base <= cur) {
            c = class_of(host->r[i].type);
            end = host->r[i].base + host->r[i].size;
            /* Extend over neighbours of the same class. */
            for (unsigned j = i + 1; j < host->count && host->r[j].base == end &&
                                     class_of(host->r[j].type) == c;
                 j++)
                end = host->r[j].base + host->r[j].size;
        } else if (i < host->count) {
            end = host->r[i].base;
        }
        if (end > map_end)
            end = map_end;
        if (c != CLASS_HIDDEN && !map_class(e, mtrr, c, cur, end))
            return false;
        cur = end;
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
