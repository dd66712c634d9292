#include "vmm/placer.h"
#include "boot/handoff.h"
#include "arch/x86/physmem.h"
#include "lib/string.h"

static uint64_t page_up(uint64_t x) { return (x + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1); }

void placer_init(struct placer *p, const struct memmap *l1_map)
{
    p->l1_map = l1_map;
    memmap_init(&p->free);
    for (unsigned i = 0; i < l1_map->count; i++)
        if (l1_map->r[i].type == MEM_USABLE)
            memmap_set(&p->free, l1_map->r[i].base, l1_map->r[i].size, MEM_USABLE);
}

bool placer_take(struct placer *p, uint64_t base, uint64_t size)
{
    if (base + size < base || !memmap_is_all(p->l1_map, base, size ? size : 1, MEM_USABLE))
        return false;
    uint64_t start = base & ~(PAGE_SIZE - 1);
    return memmap_set(&p->free, start, page_up(base + size) - start, MEM_IMAGE);
}

uint64_t placer_place(struct placer *p, uint64_t size, uint64_t align, uint64_t low, uint64_t high)
{
    uint64_t at;
    size = page_up(size ? size : 1);
    if (align < PAGE_SIZE)
        align = PAGE_SIZE;
    if (!memmap_find_top(&p->free, size, align, high, &at) || at < low)
        return 0;
    memmap_set(&p->free, at, size, MEM_IMAGE);
    return at;
}

uint32_t placer_bytes(struct placer *p, const void *data, uint64_t size)
{
    uint64_t at = placer_place(p, size, PAGE_SIZE, PLACER_LOW_LIMIT, PLACER_HIGH_LIMIT);
    if (at)
        memcpy(phys_to_virt(at), data, size);
    return (uint32_t)at;
}

uint32_t placer_string(struct placer *p, const char *s) { return placer_bytes(p, s, strlen(s) + 1); }
