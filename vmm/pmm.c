#include "vmm/pmm.h"
#include "vmm/memmap.h"
#include "arch/x86/physmem.h"
#include "lib/spinlock.h"
#include "lib/string.h"

/* Shared by all CPUs, under lock: APs allocate their vCPUs' state while
 * others do too. Never on an exit's hot path. */
static struct spinlock lock;

static struct {
    uint64_t base;
    uint64_t pages;
    uint64_t free;
    uint64_t hint; /* first page worth looking at */
    uint64_t bitmap[PMM_MAX_POOL_PAGES / 64];
} pool;

static bool page_used(uint64_t i) { return pool.bitmap[i / 64] >> (i % 64) & 1; }

static void mark(uint64_t first, uint64_t count, bool used)
{
    for (uint64_t i = first; i < first + count; i++) {
        if (used)
            pool.bitmap[i / 64] |= 1ULL << (i % 64);
        else
            pool.bitmap[i / 64] &= ~(1ULL << (i % 64));
    }
}

bool pmm_init(uint64_t base, uint64_t size)
{
    uint64_t pages = size / PAGE_SIZE;
    if ((base & (PAGE_SIZE - 1)) || !pages || pages > PMM_MAX_POOL_PAGES)
        return false;
    memset(&pool, 0, sizeof(pool));
    pool.base = base;
    pool.pages = pages;
    pool.free = pages;
    return true;
}

static uint64_t alloc_locked(uint64_t pages, uint64_t align_pages)
{
    if (!pages || pages > pool.free || !align_pages || (align_pages & (align_pages - 1)))
        return 0;
    uint64_t base_pfn = pool.base / PAGE_SIZE;
    uint64_t start = align_pages == 1 ? pool.hint : 0;
    for (uint64_t i = start; i + pages <= pool.pages;) {
        uint64_t misalign = (base_pfn + i) & (align_pages - 1);
        if (misalign) {
            i += align_pages - misalign;
            continue;
        }
        uint64_t run = 0;
        while (run < pages && !page_used(i + run))
            run++;
        if (run == pages) {
            mark(i, pages, true);
            pool.free -= pages;
            if (align_pages == 1 && i == pool.hint)
                pool.hint = i + pages;
            uint64_t pa = pool.base + i * PAGE_SIZE;
            memset(phys_to_virt(pa), 0, pages * PAGE_SIZE);
            return pa;
        }
        i += run + 1;
    }
    return 0;
}

uint64_t pmm_alloc_aligned(uint64_t pages, uint64_t align_pages)
{
    spin_lock(&lock);
    uint64_t pa = alloc_locked(pages, align_pages);
    spin_unlock(&lock);
    return pa;
}

uint64_t pmm_alloc(uint64_t pages) { return pmm_alloc_aligned(pages, 1); }

static void free_locked(uint64_t pa, uint64_t pages)
{
    if (!pmm_owns(pa) || (pa & (PAGE_SIZE - 1)))
        return;
    uint64_t first = (pa - pool.base) / PAGE_SIZE;
    if (first + pages > pool.pages)
        return;
    for (uint64_t i = first; i < first + pages; i++)
        if (page_used(i))
            pool.free++;
    mark(first, pages, false);
    if (first < pool.hint)
        pool.hint = first;
}

void pmm_free(uint64_t pa, uint64_t pages)
{
    spin_lock(&lock);
    free_locked(pa, pages);
    spin_unlock(&lock);
}

uint64_t pmm_free_pages(void) { return pool.free; }
uint64_t pmm_total_pages(void) { return pool.pages; }
uint64_t pmm_pool_base(void) { return pool.base; }
bool pmm_owns(uint64_t pa) { return pa >= pool.base && pa - pool.base < pool.pages * PAGE_SIZE; }
