/* Page allocations and the memory map; see mem.h. Boot services used:
 * AllocatePages(), FreePages(), GetMemoryMap() (UEFI 2.10, 7.2). */
#include <efi.h>
#include <efilib.h>
#include "boot/efi/mem.h"
#include "boot/handoff.h"

#define MAX_ALLOCS     (HANDOFF_MAX_MODULES + 4) /* kernel, hand-off, map, modules */
#define MAP_SLACK_DESC 16 /* descriptors of room beyond what the firmware asked */

static struct {
    EFI_PHYSICAL_ADDRESS base;
    UINTN pages;
} allocs[MAX_ALLOCS];
static UINTN alloc_count;

static UINTN pages_for(UINT64 bytes)
{
    return (UINTN)((bytes + UEFI_PAGE_SIZE - 1) / UEFI_PAGE_SIZE);
}

static void free_pages(EFI_PHYSICAL_ADDRESS base, UINTN pages)
{
    if (pages)
        uefi_call_wrapper(BS->FreePages, 2, base, pages);
}

/* AllocateMaxAddress takes the highest address the range may end at
 * (UEFI 2.10, 7.2.1). Over-allocating by align - 1 page and giving back the
 * head and tail leaves an aligned range. */
EFI_STATUS mem_alloc_low(UINT64 size, UINT64 align, EFI_MEMORY_TYPE type,
                         EFI_PHYSICAL_ADDRESS *out)
{
    if (alloc_count >= MAX_ALLOCS || !size || size > MEM_LOW_LIMIT)
        return EFI_OUT_OF_RESOURCES;
    UINTN pages = pages_for(size);
    UINTN slack = pages_for(align) - 1;
    EFI_PHYSICAL_ADDRESS raw = MEM_LOW_LIMIT;
    EFI_STATUS s = uefi_call_wrapper(BS->AllocatePages, 4, AllocateMaxAddress, type, pages + slack,
                                     &raw);
    if (EFI_ERROR(s))
        return s;
    EFI_PHYSICAL_ADDRESS base = (raw + align - 1) & ~(align - 1);
    UINTN head = (UINTN)((base - raw) / UEFI_PAGE_SIZE);
    free_pages(raw, head);
    free_pages(base + pages * UEFI_PAGE_SIZE, slack - head);
    allocs[alloc_count].base = base;
    allocs[alloc_count].pages = pages;
    alloc_count++;
    *out = base;
    return EFI_SUCCESS;
}

void mem_free_all(void)
{
    while (alloc_count) {
        alloc_count--;
        free_pages(allocs[alloc_count].base, allocs[alloc_count].pages);
    }
}

EFI_STATUS mem_map_refresh(struct fw_map *m)
{
    m->size = m->capacity;
    return uefi_call_wrapper(BS->GetMemoryMap, 5, &m->size, m->buf, &m->key, &m->desc_size,
                             &m->desc_version);
}

EFI_STATUS mem_map_get(struct fw_map *m)
{
    EFI_STATUS s = mem_map_refresh(m);
    if (s != EFI_BUFFER_TOO_SMALL)
        return s;
    /* m->size now holds the size needed; the allocation below adds to it. */
    UINT64 want = m->size + MAP_SLACK_DESC * m->desc_size;
    EFI_PHYSICAL_ADDRESS buf;
    s = mem_alloc_low(want, UEFI_PAGE_SIZE, EfiLoaderData, &buf);
    if (EFI_ERROR(s))
        return s;
    m->buf = (void *)(UINTN)buf;
    m->capacity = pages_for(want) * UEFI_PAGE_SIZE;
    return mem_map_refresh(m);
}
