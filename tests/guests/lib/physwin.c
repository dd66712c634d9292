/* A window onto physical memory above the boot identity map (guest.h,
 * phys_window): PML4 entry 1 (virtual 512 GiB - 1 TiB) -> one PDPT ->
 * one page directory of 2 MiB pages whose entries the caller points
 * anywhere below MAXPHYADDR. */
#include "guest.h"

#define PTE_P        (1ULL << 0)
#define PTE_W        (1ULL << 1)
#define PTE_PS       (1ULL << 7)
#define PAGE_2M      (1ULL << 21)
#define WINDOW_BASE  (1ULL << 39)
#define WINDOW_PML4I 1
#define GIB4         (1ULL << 32)

static uint64_t win_pdpt[512] __attribute__((aligned(4096)));
static uint64_t win_pd[512] __attribute__((aligned(4096)));

volatile void *phys_window(uint64_t pa, unsigned slot)
{
    slot %= PHYS_WINDOW_SLOTS;
    uint64_t *pml4 = (uint64_t *)(uintptr_t)(read_cr3() & ~0xfffULL);
    if (!(pml4[WINDOW_PML4I] & PTE_P)) {
        win_pdpt[0] = (uintptr_t)win_pd | PTE_P | PTE_W;
        pml4[WINDOW_PML4I] = (uintptr_t)win_pdpt | PTE_P | PTE_W;
        write_cr3(read_cr3()); /* no stale "not present" for the new entry */
    }
    uint64_t va = WINDOW_BASE + (uint64_t)slot * PAGE_2M;
    win_pd[slot] = (pa & ~(PAGE_2M - 1)) | PTE_P | PTE_W | PTE_PS;
    __asm__ volatile("invlpg (%0)" : : "r"(va) : "memory");
    return (volatile void *)(uintptr_t)(va + (pa & (PAGE_2M - 1)));
}

void phys_window_unmap(unsigned slot)
{
    slot %= PHYS_WINDOW_SLOTS;
    phys_window(0, slot); /* the window exists */
    win_pd[slot] = 0;
    uint64_t va = WINDOW_BASE + (uint64_t)slot * PAGE_2M;
    __asm__ volatile("invlpg (%0)" : : "r"(va) : "memory");
}

volatile void *phys_ptr(uint64_t pa, unsigned slot)
{
    if (pa < GIB4)
        return (volatile void *)(uintptr_t)pa;
    return phys_window(pa, slot);
}
