/* Filling the struct handoff (boot/handoff.h) from UEFI: modules, ACPI RSDP,
 * SMBIOS entry points, framebuffer. The memory map is filled last, in main.c, from the map whose
 * key ExitBootServices() accepted. */
#ifndef BOOT_EFI_BOOTINFO_H
#define BOOT_EFI_BOOTINFO_H

#include <efi.h>
#include "boot/efi/config.h"
#include "boot/efi/kernel.h"
#include "boot/handoff.h"

/* A zeroed hand-off below 4 GiB with magic, version, loader, the kernel's
 * extent and command line. Prints its error. */
EFI_STATUS bootinfo_create(const struct kernel_image *k, const struct config *cfg,
                           struct handoff **out);

/* Loads every module of the config into pages below 4 GiB and lists it.
 * Prints its error. */
EFI_STATUS bootinfo_load_modules(EFI_FILE_HANDLE root, const struct config *cfg,
                                 struct handoff *h);

/* From the configuration table (UEFI 2.10, 4.6 "EFI Configuration Table"):
 * the ACPI RSDP (the ACPI 2.0 entry, else 1.0) and the SMBIOS 3 and SMBIOS 2
 * entry points (SMBIOS3_TABLE_GUID, SMBIOS_TABLE_GUID). 0 for each one
 * missing. */
void bootinfo_find_tables(struct handoff *h);

/* The framebuffer of the Graphics Output Protocol's current mode
 * (UEFI 2.10, 12.9), if there is one with a linear framebuffer. */
void bootinfo_find_framebuffer(struct handoff *h);

#endif
