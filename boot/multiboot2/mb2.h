/* Multiboot2 boot information -> struct handoff. */
#ifndef BOOT_MULTIBOOT2_MB2_H
#define BOOT_MULTIBOOT2_MB2_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include "boot/handoff.h"

/* Tag types (Multiboot2 spec 3.6). */
#define MB2_TAG_END          0
#define MB2_TAG_CMDLINE      1
#define MB2_TAG_LOADER_NAME  2
#define MB2_TAG_MODULE       3
#define MB2_TAG_BASIC_MEMINFO 4
#define MB2_TAG_BOOTDEV      5
#define MB2_TAG_MMAP         6
#define MB2_TAG_FRAMEBUFFER  8
#define MB2_TAG_EFI64        12
#define MB2_TAG_SMBIOS       13
#define MB2_TAG_ACPI_OLD     14
#define MB2_TAG_ACPI_NEW     15
#define MB2_TAG_LOAD_BASE    21

#define MB2_MMAP_AVAILABLE   1
#define MB2_MMAP_ACPI        3
#define MB2_MMAP_NVS         4
#define MB2_MMAP_BAD         5

#define MB2_INFO_MAX_SIZE    (1U << 20)

/* The EFI system table GRUB points at (UEFI 2.10, 4.3 "EFI System Table"):
 * its signature, the offsets of NumberOfTableEntries and
 * ConfigurationTable in the x64 layout, and the entries looked at. */
#define EFI_ST_SIGNATURE       0x5453595320494249ULL /* "IBI SYST" */
#define EFI_ST_NUM_TABLES_OFF  0x68
#define EFI_ST_TABLES_OFF      0x70
#define EFI_ST_SIZE            0x78
#define EFI_CONFIG_ENTRY_SIZE  24 /* EFI_GUID, then a pointer */
#define EFI_CONFIG_MAX_ENTRIES 1024
/* The EFI structures are read where mb2_parse runs: on the boot page
 * tables, which identity-map 0-4 GiB (arch/x86/entry64.asm). */
#define MB2_READ_LIMIT         (1ULL << 32)

/* Fills h from the information structure at mbi (its first 8 bytes give
 * the total size). On failure returns false with a reason in err.
 * SMBIOS: GRUB's SMBIOS tags (copies of the entry points), else the SMBIOS
 * entries of the EFI configuration table that GRUB's EFI 64-bit system
 * table tag leads to (GRUB on UEFI), else none (a legacy BIOS keeps its
 * entry point in the F-segment, where L1 finds it). */
bool mb2_parse(const void *mbi, struct handoff *h, char *err, size_t errsz);

/* Splits a module string into its first word (name) and the rest; false
 * when either had to be cut to fit. */
bool module_string_split(const char *s, char *name, size_t namesz, char *rest, size_t restsz);

#endif
