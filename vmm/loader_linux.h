/* Loading L1 from a Linux bzImage by the x86 boot protocol
 * (Documentation/arch/x86/boot.rst): protected-mode kernel, zero page with
 * an e820 map of what L1 may use, command line, initrd, the screen
 * (screen_info, as the EFI stub fills it); 32-bit entry. */
#ifndef VMM_LOADER_LINUX_H
#define VMM_LOADER_LINUX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "boot/handoff.h"
#include "vmm/memmap.h"
#include "vmm/vmcs01.h"

#define LINUX_HDR_MAGIC          0x53726448U /* "HdrS" at offset 0x202 */
#define LINUX_MIN_PROTOCOL       0x020a      /* 2.10: pref_address, init_size */
#define MODULE_NAME_L1_INITRD    "l1-initrd"

/* True if the image carries a Linux boot-protocol header. */
bool linux_is_bzimage(const uint8_t *image, uint64_t size);

struct linux_boot_input {
    const struct memmap *l1_map;
    const struct handoff_module *kernel;
    const struct handoff_module *initrd; /* or 0 */
    uint64_t acpi_rsdp;                  /* physical, 0: let Linux search */
    /* The framebuffer L1 gets (fbcon_framebuffer()), or 0: screen_info
     * then stays zero and Linux has no screen console. */
    const struct handoff_framebuffer *fb;
};

/* Loads kernel and initrd into L1's memory and fills the zero page; the
 * entry state and RSI (the zero page) for the 32-bit entry point. */
bool linux_load_l1(const struct linux_boot_input *in, struct l1_entry_state *entry,
                   uint32_t *regs_esi, char *err, size_t errsz);

#endif
