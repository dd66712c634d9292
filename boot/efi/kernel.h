/* Loading the nestvisor kernel ELF: validate it (lib/elf.c), find its 64-bit
 * entry in the "nestvisor" note, and place its PT_LOAD segments by p_paddr at
 * a 2 MiB-aligned base below 4 GiB (the kernel is position-independent in
 * physical memory; see linker.ld and boot/handoff.h). */
#ifndef BOOT_EFI_KERNEL_H
#define BOOT_EFI_KERNEL_H

#include <efi.h>
#include "boot/efi/mem.h"

struct kernel_image {
    EFI_PHYSICAL_ADDRESS base; /* where the lowest p_paddr landed */
    UINT64 size;               /* bytes from base to the end of the last segment */
    UINT64 entry;              /* physical address of the 64-bit entry */
};

/* Prints its error. map is a scratch memory map (see mem.h). */
EFI_STATUS kernel_load(EFI_FILE_HANDLE root, const char *path, struct fw_map *map,
                       struct kernel_image *k);

#endif
