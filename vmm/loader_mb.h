/* Loading L1 from a Multiboot (v1) or Multiboot2 kernel image into L1's
 * memory and preparing its entry (Multiboot spec 0.6.96 ch. 3, Multiboot2
 * spec 2.0 ch. 3). */
#ifndef VMM_LOADER_MB_H
#define VMM_LOADER_MB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "boot/handoff.h"
#include "vmm/memmap.h"
#include "vmm/vmcs01.h"

#define MB1_HEADER_MAGIC     0x1badb002U
#define MB1_BOOTLOADER_MAGIC 0x2badb002U
#define MB1_SEARCH_LIMIT     8192
#define MB2_HEADER_MAGIC     0xe85250d6U
#define MB2_BOOTLOADER_MAGIC 0x36d76289U
#define MB2_SEARCH_LIMIT     32768

/* Module names in the boot configuration (the first word of the module
 * string): the L1 kernel, and modules handed on to L1. */
#define MODULE_NAME_L1        "l1"
#define MODULE_NAME_L1_MODULE "l1-module"

enum mb_version { MB_NONE = 0, MB_V1 = 1, MB_V2 = 2 };

/* Where the header was found and what it asks for. */
struct mb_header_info {
    enum mb_version version;
    uint32_t offset;     /* of the header in the image */
    uint32_t flags;      /* v1 flags */
    bool has_addresses;  /* a.out kludge / address tag */
    uint32_t header_addr, load_addr, load_end_addr, bss_end_addr, entry_addr;
    bool has_entry;      /* v2 entry address tag */
    /* v2: a framebuffer is required (information request for tag 8, or a
     * framebuffer header tag, not marked optional). */
    bool needs_framebuffer;
};

/* Finds and validates the header; false with a reason in err. */
bool mb_find_header(const uint8_t *image, uint64_t size, struct mb_header_info *h, char *err,
                    size_t errsz);

/* What the loader needs from the platform. */
struct l1_boot_input {
    const struct memmap *l1_map; /* what L1 may use (MEM_USABLE) and sees */
    const struct handoff_module *image;
    const struct handoff_module *modules[HANDOFF_MAX_MODULES];
    unsigned module_count;
    uint64_t acpi_rsdp;          /* host address of the RSDP, 0 if none */
    /* The framebuffer L1 gets (fbcon_framebuffer()), or 0: a Multiboot2
     * kernel then gets no framebuffer tag. */
    const struct handoff_framebuffer *fb;
};

/* Loads the image into L1's memory, places modules, information structure
 * and a boot GDT below 4 GiB, and fills the entry state and the EAX/EBX
 * values (regs_eax, regs_ebx). */
bool mb_load_l1(const struct l1_boot_input *in, struct l1_entry_state *entry, uint32_t *regs_eax,
                uint32_t *regs_ebx, char *err, size_t errsz);

#endif
