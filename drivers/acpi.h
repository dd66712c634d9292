/* ACPI: RSDP -> XSDT/RSDT -> MADT (CPUs, local APIC) and FADT (S5 for
 * power-off). Every checksum and length is verified; a bad table is skipped
 * with a warning. */
#ifndef DRIVERS_ACPI_H
#define DRIVERS_ACPI_H

#include <stdbool.h>
#include <stdint.h>
#include "drivers/power.h"

#define ACPI_MAX_TABLE_SIZE (1U << 20)
#define ACPI_MAX_CPUS       256

struct acpi_info {
    bool have_madt;
    unsigned cpu_count;    /* enabled or online-capable local APICs */
    unsigned enabled_count; /* enabled ones: the CPUs that are there now */
    uint32_t apic_ids[ACPI_MAX_CPUS]; /* theirs, in MADT order (the first ACPI_MAX_CPUS) */
    uint64_t lapic_base;   /* physical address of the local APIC */
    uint64_t ioapic_base;  /* first I/O APIC, 0 if none */
    uint64_t fadt;         /* physical addresses of the tables found, 0 if absent */
    uint64_t dsdt;
    uint64_t hpet;
    uint64_t mcfg;
    struct acpi_sleep_info s5;
    uint16_t reset_port;   /* FADT RESET_REG when in I/O space and supported, else 0 */
    uint16_t pm_timer_port; /* FADT PM_TMR_BLK, 0 if none */
    bool pm_timer_32bit;    /* FADT flag TMR_VAL_EXT */
    uint8_t reset_value;
    unsigned warnings;     /* bad checksums, truncated tables */
    char oem_id[7];        /* the RSDP's, NUL-terminated ("BOCHS " on Bochs and QEMU) */
};

/* Parses from the RSDP at physical address rsdp (0: search the BIOS area).
 * Returns false if no usable RSDP was found. */
bool acpi_parse(uint64_t rsdp, struct acpi_info *out);
/* Marks the local APIC (or x2APIC) entries with this APIC ID disabled and
 * not online-capable in every MADT reachable from the RSDP (the RSDT's and
 * the XSDT's may differ), fixing the checksums: L1 then does not see that
 * CPU. Returns the number of entries changed. */
unsigned acpi_madt_hide_cpu(uint64_t rsdp, uint32_t apic_id);
/* Tables at or above this physical address are treated as garbage. */
void acpi_set_phys_limit(uint64_t limit);

#endif
