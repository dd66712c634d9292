/* Whole files from the volume the loader was started from (the ESP), through
 * the Simple File System protocol (UEFI 2.10, 13.4-13.5). Paths are ASCII
 * with '\' (or '/') separators, as in the config file. */
#ifndef BOOT_EFI_FS_H
#define BOOT_EFI_FS_H

#include <efi.h>

struct loaded_file {
    void *data;
    UINT64 size;
    BOOLEAN in_pool; /* pool memory to free, else pages from mem_alloc_low() */
};

/* The root directory of the loader's own volume. Prints its error. */
EFI_STATUS fs_open_root(EFI_HANDLE image, EFI_FILE_HANDLE *root);

/* Reads a file of at most limit bytes into pool memory. Prints its error,
 * except EFI_NOT_FOUND when missing_ok. */
EFI_STATUS fs_read_pool(EFI_FILE_HANDLE root, const char *path, UINT64 limit, BOOLEAN missing_ok,
                        struct loaded_file *f);

/* Reads a file into EfiLoaderData pages below 4 GiB. Prints its error. */
EFI_STATUS fs_read_low(EFI_FILE_HANDLE root, const char *path, struct loaded_file *f);

/* Frees a pool-read file (pages stay: they are handed to the kernel). */
void fs_free(struct loaded_file *f);

#endif
