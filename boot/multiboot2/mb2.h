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
#define MB2_TAG_ACPI_OLD     14
#define MB2_TAG_ACPI_NEW     15
#define MB2_TAG_LOAD_BASE    21

#define MB2_MMAP_AVAILABLE   1
#define MB2_MMAP_ACPI        3
#define MB2_MMAP_NVS         4
#define MB2_MMAP_BAD         5

#define MB2_INFO_MAX_SIZE    (1U << 20)

/* Fills h from the information structure at mbi (its first 8 bytes give
 * the total size). On failure returns false with a reason in err. */
bool mb2_parse(const void *mbi, struct handoff *h, char *err, size_t errsz);

/* Splits a module string into its first word (name) and the rest; false
 * when either had to be cut to fit. */
bool module_string_split(const char *s, char *name, size_t namesz, char *rest, size_t restsz);

#endif
