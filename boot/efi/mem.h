/* Page allocations below 4 GiB (the kernel's boot code identity-maps only
 * 0-4 GiB), remembered so a failed boot can give them back, and the firmware
 * memory map. */
#ifndef BOOT_EFI_MEM_H
#define BOOT_EFI_MEM_H

#include <efi.h>
#include "boot/efi/efimap.h"

#define MEM_LOW_LIMIT 0xFFFFFFFFULL /* highest address below 4 GiB */

/* size bytes of pages of this type (EfiLoaderCode for the kernel, which
 * runs from them; EfiLoaderData for the rest) below 4 GiB, the first at a
 * multiple of align (a power of two, at least a page). Prints nothing. */
EFI_STATUS mem_alloc_low(UINT64 size, UINT64 align, EFI_MEMORY_TYPE type,
                         EFI_PHYSICAL_ADDRESS *out);

/* Frees every allocation mem_alloc_low made (on the way back to the
 * firmware). */
void mem_free_all(void);

struct fw_map {
    void *buf;
    UINTN capacity; /* bytes allocated */
    UINTN size;     /* bytes of descriptors in the last map */
    UINTN key;
    UINTN desc_size;
    UINT32 desc_version;
};

/* Gets the map, first sizing and allocating the buffer with slack for the
 * descriptors that allocation (and later firmware activity) adds. */
EFI_STATUS mem_map_get(struct fw_map *m);

/* Gets the map into the existing buffer: calls GetMemoryMap() and nothing
 * else, as needed between a failed ExitBootServices() and its retry. */
EFI_STATUS mem_map_refresh(struct fw_map *m);

/* The map as pure code sees it. */
static inline struct efimap mem_map_view(const struct fw_map *m)
{
    return (struct efimap){m->buf, m->size, m->desc_size};
}

#endif
