/* The UEFI memory map, read as plain bytes: translation into the hand-off's
 * ranges and range checks. Pure C with its own copies of the spec's numbers
 * (no EFI headers), so it is unit-tested on the host
 * (tests/unit/test_efi_config.c).
 *
 * Source: UEFI Specification 2.10, section 7.2 "Memory Allocation Services":
 * EFI_MEMORY_TYPE, EFI_MEMORY_DESCRIPTOR and GetMemoryMap(), whose
 * DescriptorSize may be larger than the structure (step by it, never by
 * sizeof). */
#ifndef BOOT_EFI_EFIMAP_H
#define BOOT_EFI_EFIMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "boot/handoff.h"

#define UEFI_PAGE_SIZE 4096ULL

/* EFI_MEMORY_TYPE (UEFI 2.10, 7.2.1 "EFI_BOOT_SERVICES.AllocatePages()"). */
enum uefi_mem_type {
    UEFI_RESERVED = 0,
    UEFI_LOADER_CODE = 1,
    UEFI_LOADER_DATA = 2,
    UEFI_BOOT_SERVICES_CODE = 3,
    UEFI_BOOT_SERVICES_DATA = 4,
    UEFI_RUNTIME_SERVICES_CODE = 5,
    UEFI_RUNTIME_SERVICES_DATA = 6,
    UEFI_CONVENTIONAL = 7,
    UEFI_UNUSABLE = 8,
    UEFI_ACPI_RECLAIM = 9,
    UEFI_ACPI_NVS = 10,
    UEFI_MMIO = 11,
    UEFI_MMIO_PORT_SPACE = 12,
    UEFI_PAL_CODE = 13,
    UEFI_PERSISTENT = 14,
    UEFI_UNACCEPTED = 15,
};

/* EFI_MEMORY_DESCRIPTOR (UEFI 2.10, 7.2.3 "EFI_BOOT_SERVICES.GetMemoryMap()"). */
struct uefi_mem_desc {
    uint32_t type;
    uint32_t pad;
    uint64_t phys_start;
    uint64_t virt_start;
    uint64_t pages;
    uint64_t attribute;
};

/* A map as GetMemoryMap() returned it. */
struct efimap {
    const void *buf;
    size_t size;      /* bytes of descriptors */
    size_t desc_size; /* stride */
};

enum efimap_status {
    EFIMAP_OK = 0,
    EFIMAP_BAD_DESC_SIZE, /* stride smaller than the structure */
    EFIMAP_BAD_DESC,      /* a range that wraps around the address space */
    EFIMAP_TOO_MANY,      /* more merged ranges than the hand-off holds */
};

/* The hand-off type of a UEFI memory type: memory free after
 * ExitBootServices() (loader, boot-services and conventional memory: the
 * "Memory Type Usage after ExitBootServices()" table in 7.2.1) is MEM_USABLE,
 * ACPI and MMIO ranges keep their kind, the rest is MEM_RESERVED (MEM_BAD
 * for memory with detected errors). */
uint32_t efimap_handoff_type(uint32_t uefi_type);

/* Translates the map into out[0..max), sorted by address, adjacent ranges of
 * equal type merged, empty descriptors dropped. *count gets the number of
 * ranges written. */
enum efimap_status efimap_translate(const struct efimap *m, struct handoff_mem_range *out,
                                    uint32_t max, uint32_t *count);

/* True if every byte of [base, base + size) lies in descriptors of this
 * UEFI type (size 0: true). */
bool efimap_range_is(const struct efimap *m, uint64_t base, uint64_t size, uint32_t uefi_type);

const char *efimap_status_str(enum efimap_status s);

#endif
