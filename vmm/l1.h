/* Booting L1: pick its image among the boot modules, create the VM, load
 * the image, run it. */
#ifndef VMM_L1_H
#define VMM_L1_H

#include "arch/x86/vmx_caps.h"
#include "drivers/acpi.h"
#include "vmm/hostmem.h"
#include "vmm/options.h"

/* The module named "l1", or 0 if the boot configuration has none. */
const struct handoff_module *l1_find_image(const struct hostmem *hm);
/* Does not return: L1 runs until it stops (or nestvisor reports why it
 * could not start it and powers off). */
__attribute__((noreturn)) void l1_boot(const struct nv_options *opts, const struct vmx_caps *caps,
                                       const struct hostmem *hm, const struct acpi_info *acpi,
                                       uint64_t acpi_rsdp);

#endif
