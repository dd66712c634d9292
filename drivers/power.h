/* Ending a run: the QEMU isa-debug-exit port, the Bochs shutdown port,
 * ACPI S5, and finally a plain halt (real hardware without ACPI S5). */
#ifndef DRIVERS_POWER_H
#define DRIVERS_POWER_H

#include <stdbool.h>
#include <stdint.h>

/* The status reaches QEMU's exit code as (status << 1) | 1. */
enum power_status {
    POWER_OK = 0,
    POWER_FAIL = 1,        /* a test or guest reported failure */
    POWER_NO_VMX = 2,      /* VMX unavailable on this CPU */
    POWER_PANIC = 3,       /* L0 hit an unexpected condition */
    POWER_GUEST_FAULT = 4, /* a guest was stopped (triple fault, policy) */
};

struct acpi_sleep_info {
    uint16_t pm1a_cnt;
    uint16_t pm1b_cnt;
    uint16_t slp_typ_a;
    uint16_t slp_typ_b;
    int valid;
};

void power_set_acpi(const struct acpi_sleep_info *info);
/* Ports that end an emulator's run (QEMU's isa-debug-exit at 0xf4, the
 * Bochs shutdown port at 0x8900) may belong to a PCI device on a real
 * machine: they are written only where the platform says it is one of
 * those emulators (ACPI OEM "BOCHS ", as Bochs's BIOS and QEMU write it, or
 * QEMU's CPUID hypervisor signature). Off until set. */
bool power_platform_is_emulator(const char *acpi_oem_id);
void power_set_emulator(bool on);
/* "auto" (default) or "halt" (stop the CPU, keep the machine on). */
void power_set_method_halt(int halt_only);
__attribute__((noreturn)) void power_off(enum power_status status);

#endif
