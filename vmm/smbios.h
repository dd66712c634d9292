/* SMBIOS for L1. A Linux L1 booted through the Linux boot protocol (not
 * EFI) finds SMBIOS only by scanning 0xF0000-0xFFFFF at 16-byte steps for
 * an "_SM3_" or "_SM_" entry point (drivers/firmware/dmi_scan.c); on
 * UEFI-only machines nothing is there, and L1 says "DMI not present".
 * smbios_for_l1 copies the entry points the loader found (struct handoff's
 * smbios3 and smbios) into free slots of that area after checking them.
 *
 * Sources: DMTF DSP0134 (SMBIOS) 3.x, 5.2.1 "SMBIOS 2.1 (32-bit) entry
 * point" and 5.2.2 "SMBIOS 3.0 (64-bit) entry point": layouts, checksums,
 * the 16-byte-aligned search of 0xF0000-0xFFFFF. */
#ifndef VMM_SMBIOS_H
#define VMM_SMBIOS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "boot/handoff.h"
#include "vmm/memmap.h"

#define SMBIOS_FSEG_BASE 0xF0000ULL
#define SMBIOS_FSEG_END  0x100000ULL
#define SMBIOS_STEP      16
/* Linux looks at 32 bytes from each step and only at steps whose 32 bytes
 * lie inside the area: the last entry point it can see starts at 0xFFFE0. */
#define SMBIOS_SLOT      32
#define SMBIOS_SLOT_LAST (SMBIOS_FSEG_END - SMBIOS_SLOT)
/* Entry points are read where kmain calls us: on the boot page tables,
 * which identity-map 0-4 GiB (arch/x86/entry64.asm). */
#define SMBIOS_READ_LIMIT (1ULL << 32)

enum smbios_kind {
    SMBIOS_EP3, /* "_SM3_", 64-bit */
    SMBIOS_EP2, /* "_SM_" ... "_DMI_", 32-bit */
};

struct smbios_ep {
    enum smbios_kind kind;
    uint8_t major, minor;
    uint8_t size;       /* bytes to copy: the entry point's length (at least 31 for 2.x) */
    uint64_t table;     /* structure table address */
    uint64_t table_len; /* its length (3.x: its maximum size) */
};

enum smbios_status {
    SMBIOS_OK = 0,
    SMBIOS_BAD_ANCHOR,
    SMBIOS_BAD_LENGTH,
    SMBIOS_BAD_CHECKSUM,
    SMBIOS_BAD_DMI_ANCHOR,   /* 2.x: the intermediate "_DMI_" */
    SMBIOS_BAD_DMI_CHECKSUM, /* 2.x: the intermediate checksum */
    SMBIOS_EMPTY_TABLE,
};

/* Checks the entry point at ep (avail bytes readable there) as that kind:
 * anchor(s), length, checksum(s), a non-empty table. Pure. */
enum smbios_status smbios_parse(const uint8_t *ep, size_t avail, enum smbios_kind kind,
                                struct smbios_ep *out);
const char *smbios_status_str(enum smbios_status s);

/* The first valid entry point of either kind at a 16-byte step whose 32
 * bytes lie in [base, end) of physical memory (the way Linux scans), or 0. */
uint64_t smbios_find(uint64_t base, uint64_t end, struct smbios_ep *out);

/* Called once by kmain, after hostmem_init (host is its map, with
 * nestvisor's own ranges marked): validates h->smbios3 and h->smbios and,
 * unless an entry point is already in 0xF0000-0xFFFFF, copies each valid
 * one there for L1, and logs what it found and did. Never fails the boot. */
void smbios_for_l1(const struct handoff *h, const struct memmap *host);

#endif
