/* The one structure both loaders fill and the kernel reads (and nothing else).
 * The UEFI loader fills it before ExitBootServices; the multiboot2 path fills
 * it from GRUB's information structure (boot/multiboot2/mb2.c). All addresses
 * are physical. The layout is shared by the EFI loader and the kernel, so it
 * uses fixed-width types only. */
#ifndef BOOT_HANDOFF_H
#define BOOT_HANDOFF_H

#include <stdint.h>

#define HANDOFF_MAGIC       0x464f444e4856564eULL /* "NVVHNDOF" */
#define HANDOFF_VERSION     4
#define HANDOFF_MAX_MEM     256
#define HANDOFF_MAX_MODULES 16
#define HANDOFF_CMDLINE_MAX 512
#define HANDOFF_NAME_MAX    32
#define HANDOFF_MODLINE_MAX 2048 /* Linux's COMMAND_LINE_SIZE */

enum handoff_loader {
    LOADER_MULTIBOOT2 = 1,
    LOADER_UEFI = 2,
};

/* Memory types follow the E820 numbering so the guest map can reuse them. */
enum handoff_mem_type {
    MEM_USABLE = 1,
    MEM_RESERVED = 2,
    MEM_ACPI_RECLAIM = 3,
    MEM_ACPI_NVS = 4,
    MEM_BAD = 5,
    MEM_MMIO = 6, /* firmware-described device ranges (UEFI only) */
};

struct handoff_mem_range {
    uint64_t base;
    uint64_t size;
    uint32_t type;
    uint32_t reserved;
};

/* A guest image. name is the first word of the module string ("l1",
 * "l1-module"); cmdline is the rest. */
struct handoff_module {
    uint64_t base;
    uint64_t size;
    char name[HANDOFF_NAME_MAX];
    char cmdline[HANDOFF_MODLINE_MAX];
};

struct handoff_framebuffer {
    uint64_t base; /* 0: none */
    uint32_t width;
    uint32_t height;
    uint32_t pitch;
    uint32_t bpp;
    /* Where each colour sits in a pixel (bit position from the least
     * significant bit, and width), as Multiboot2 and Linux's screen_info
     * give it; all 0: unknown (drivers/fbcon.h assumes x8r8g8b8). */
    uint8_t red_pos, red_size, green_pos, green_size;
    uint8_t blue_pos, blue_size, rsvd_pos, rsvd_size;
};

struct handoff {
    uint64_t magic;
    uint32_t version;
    uint32_t loader; /* enum handoff_loader */
    uint64_t kernel_base; /* physical extent of the loaded kernel image */
    uint64_t kernel_end;
    uint64_t acpi_rsdp; /* 0: not found */
    char cmdline[HANDOFF_CMDLINE_MAX];
    uint32_t mem_count;
    uint32_t module_count;
    struct handoff_mem_range mem[HANDOFF_MAX_MEM];
    struct handoff_module modules[HANDOFF_MAX_MODULES];
    struct handoff_framebuffer fb;
    /* SMBIOS entry points, for L1 (vmm/smbios.c); 0: not found. smbios3 is
     * the 64-bit "_SM3_" one (SMBIOS3_TABLE_GUID), smbios the 32-bit
     * "_SM_" one (SMBIOS_TABLE_GUID). Unchecked: the kernel validates. */
    uint64_t smbios3;
    uint64_t smbios;
};

/* Entry convention of the kernel's 64-bit entry (used by the UEFI loader):
 * long mode, identity-mapped, interrupts off; RDI = physical address of a
 * struct handoff below 4 GiB. The entry's physical address comes from the
 * kernel's ELF note of type NESTVISOR_NOTE_ENTRY64. */
#define NESTVISOR_NOTE_NAME    "nestvisor"
#define NESTVISOR_NOTE_ENTRY64 1
#define KERNEL_PHYS_ALIGN      0x200000ULL

#endif
