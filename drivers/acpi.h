/* ACPI: RSDP -> XSDT/RSDT -> MADT (CPUs, local APIC) and FADT (S5 for
 * power-off). Every checksum and length is verified; a bad table is skipped
 * with a warning. */
#ifndef DRIVERS_ACPI_H
#define DRIVERS_ACPI_H

#include <stdbool.h>
#include <stdint.h>
#include "drivers/power.h"

#define ACPI_MAX_TABLE_SIZE (1U << 20)

struct acpi_info {
    bool have_madt;
    unsigned cpu_count;    /* enabled or online-capable local APICs */
    uint64_t lapic_base;   /* physical address of the local APIC */
    uint64_t ioapic_base;  /* first I/O APIC, 0 if none */
    uint64_t fadt;         /* physical addresses of the tables found, 0 if absent */
    uint64_t dsdt;
    uint64_t hpet;
    uint64_t mcfg;
    struct acpi_sleep_info s5;
    unsigned warnings;     /* bad checksums, truncated tables */
};

/* Parses from the RSDP at physical address rsdp (0: search the BIOS area).
 * Returns false if no usable RSDP was found. */
bool acpi_parse(uint64_t rsdp, struct acpi_info *out);
/* Tables at or above this physical address are treated as garbage. */
void acpi_set_phys_limit(uint64_t limit);

#endif
