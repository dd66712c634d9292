/* What the kernel's entry needs from the machine the loader hands it: an
 * image the CPU may execute and write on the firmware's page tables (the
 * entry writes its boot page tables into the image before it loads CR3),
 * and 4-level paging (the entry builds 4-level tables). Pure decisions with
 * their own copies of the spec's numbers (no EFI headers), unit-tested on
 * the host (tests/unit/test_efi_handover.c); boot/efi/kernel.c and main.c
 * make the firmware calls.
 *
 * Sources: UEFI Specification 2.10, 7.2.3 (EFI_MEMORY_RP/XP/RO, the
 * memory access attributes) and its "EFI Memory Attribute Protocol"
 * (GetMemoryAttributes returns only those three bits, EFI_NO_MAPPING when
 * they differ across the range); Intel SDM Vol. 3A 2.5 (CR4.LA57,
 * bit 12) and 4.5 (with LA57 set, CR3 names a PML5 table). */
#ifndef BOOT_EFI_HANDOVER_H
#define BOOT_EFI_HANDOVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define UEFI_MEMORY_RP 0x0000000000002000ULL /* read-protected */
#define UEFI_MEMORY_XP 0x0000000000004000ULL /* execute-protected */
#define UEFI_MEMORY_RO 0x0000000000020000ULL /* read-only */
/* The attributes that must be clear on the kernel's range. */
#define HANDOVER_FORBIDDEN (UEFI_MEMORY_RP | UEFI_MEMORY_XP | UEFI_MEMORY_RO)

#define CR4_LA57 (1ULL << 12)

/* What GetMemoryAttributes() said about a range. */
enum handover_attr_answer {
    ATTR_KNOWN,   /* EFI_SUCCESS: attrs holds the range's attributes */
    ATTR_MIXED,   /* EFI_NO_MAPPING: they differ within the range */
    ATTR_UNKNOWN, /* any other status */
};

/* The attributes to clear on the kernel's range before copying it there:
 * the forbidden ones found set, or all of them when the answer does not
 * say (clearing a clear attribute is harmless). 0: nothing to do. */
uint64_t handover_attrs_to_clear(enum handover_attr_answer answer, uint64_t attrs);

/* After clearing: true when the firmware's answer proves the range is
 * still protected, so that the kernel's first instruction would fault
 * (the loader then refuses). An answer that does not say is not proof. */
bool handover_still_protected(enum handover_attr_answer answer, uint64_t attrs);

/* "RO+XP", "RP", "none" (the forbidden bits only) into buf; returns buf. */
const char *handover_attr_names(uint64_t attrs, char *buf, size_t size);

/* Why the kernel cannot be entered with this CR4, or NULL: 5-level paging
 * on means the entry's 4-level PML4 would be read as a PML5 table. */
const char *handover_paging_problem(uint64_t cr4);

#endif
