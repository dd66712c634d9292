#include "vmm/loader_linux.h"
#include "vmm/placer.h"
#include "drivers/fbcon.h"
#include "arch/x86/physmem.h"
#include "lib/format.h"
#include "lib/string.h"

/* Offsets in the real-mode header / zero page (boot.rst "The Real-Mode
 * Kernel Header" and "The Zero Page"). */
#define BP_SIZE             4096
#define BP_SCREEN_INFO      0x000
#define BP_ACPI_RSDP_ADDR   0x070
#define BP_E820_ENTRIES     0x1e8
#define BP_HDR              0x1f1
#define BP_E820_TABLE       0x2d0
#define BP_E820_MAX         128
#define HDR_SETUP_SECTS     0x1f1
#define HDR_SYSSIZE         0x1f4
#define HDR_BOOT_FLAG       0x1fe
#define HDR_JUMP_END        0x201 /* the header ends at 0x202 + this byte */
#define HDR_MAGIC           0x202
#define HDR_VERSION         0x206
#define HDR_TYPE_OF_LOADER  0x210
#define HDR_LOADFLAGS       0x211
#define HDR_CODE32_START    0x214
#define HDR_RAMDISK_IMAGE   0x218
#define HDR_RAMDISK_SIZE    0x21c
#define HDR_CMD_LINE_PTR    0x228
#define HDR_INITRD_ADDR_MAX 0x22c
#define HDR_KERNEL_ALIGN    0x230
#define HDR_RELOCATABLE     0x234
#define HDR_CMDLINE_SIZE    0x238
#define HDR_PREF_ADDRESS    0x258
#define HDR_INIT_SIZE       0x260

#define BOOT_FLAG_MAGIC     0xaa55
#define DEFAULT_SETUP_SECTS 4
#define SECTOR_SIZE         512
#define SYSSIZE_UNIT        16
#define LOADED_HIGH         0x01
#define KEEP_SEGMENTS       0x40
#define LOADER_UNDEFINED    0xff
#define BOOT_CS             0x10 /* __BOOT_CS */
#define BOOT_DS             0x18 /* __BOOT_DS */
#define GDT_CODE32_FLAT     0x00cf9a000000ffffULL
#define GDT_DATA32_FLAT     0x00cf92000000ffffULL
#define BOOT_GDT_ENTRIES    4
#define E820_RESERVED       2
#define CMDLINE_MAX         4096
#define INITRD_DEFAULT_MAX  0x37ffffffULL /* before protocol 2.03 */
#define HIGH_MEMORY         0x100000ULL

/* struct screen_info (include/uapi/linux/screen_info.h), at the start of
 * the zero page. */
#define SI_ORIG_VIDEO_ISVGA 0x0f
#define SI_LFB_WIDTH        0x12
#define SI_LFB_HEIGHT       0x14
#define SI_LFB_DEPTH        0x16
#define SI_LFB_BASE         0x18
#define SI_LFB_SIZE         0x1c
#define SI_LFB_LINELENGTH   0x24
#define SI_RED_SIZE         0x26 /* then red_pos, green_size, green_pos, ... rsvd_pos */
#define SI_PAGES            0x32
#define SI_CAPABILITIES     0x36
#define SI_EXT_LFB_BASE     0x3a
#define VIDEO_TYPE_EFI      0x70
#define VIDEO_CAPABILITY_SKIP_QUIRKS 0x1
#define VIDEO_CAPABILITY_64BIT_BASE  0x2

#define FAIL(...)                                                                                  \
    do {                                                                                           \
        format(err, errsz, __VA_ARGS__);                                                           \
        return false;                                                                              \
    } while (0)

struct __attribute__((packed)) e820_entry {
    uint64_t addr, size;
    uint32_t type;
};

static uint8_t rd8(const uint8_t *p, unsigned off) { return p[off]; }
static uint16_t rd16(const uint8_t *p, unsigned off) { uint16_t v; memcpy(&v, p + off, 2); return v; }
static uint32_t rd32(const uint8_t *p, unsigned off) { uint32_t v; memcpy(&v, p + off, 4); return v; }
static uint64_t rd64(const uint8_t *p, unsigned off) { uint64_t v; memcpy(&v, p + off, 8); return v; }
static void wr8(uint8_t *p, unsigned off, uint8_t v) { p[off] = v; }
static void wr16(uint8_t *p, unsigned off, uint16_t v) { memcpy(p + off, &v, 2); }
static void wr32(uint8_t *p, unsigned off, uint32_t v) { memcpy(p + off, &v, 4); }
static void wr64(uint8_t *p, unsigned off, uint64_t v) { memcpy(p + off, &v, 8); }

bool linux_is_bzimage(const uint8_t *image, uint64_t size)
{
    return size > HDR_MAGIC + 4 && rd32(image, HDR_MAGIC) == LINUX_HDR_MAGIC;
}

/* The e820 types match ours except MMIO, which Linux gets as reserved. */
static uint32_t e820_type(uint32_t t) { return t <= MEM_BAD ? t : E820_RESERVED; }

static bool fill_e820(uint8_t *bp, const struct memmap *m, char *err, size_t errsz)
{
    if (m->count > BP_E820_MAX)
        FAIL("L1's memory map has %u ranges; the zero page holds %d", m->count, BP_E820_MAX);
    struct e820_entry *e = (struct e820_entry *)(bp + BP_E820_TABLE);
    for (unsigned i = 0; i < m->count; i++)
        e[i] = (struct e820_entry){m->r[i].base, m->r[i].size, e820_type(m->r[i].type)};
    wr8(bp, BP_E820_ENTRIES, (uint8_t)m->count);
    return true;
}

/* The screen as the EFI stub describes a GOP framebuffer (drivers/firmware/
 * efi/libstub/gop.c): VIDEO_TYPE_EFI, so that efifb or simplefb drives it;
 * the base split into lfb_base and ext_lfb_base with
 * VIDEO_CAPABILITY_64BIT_BASE above 4 GiB; lfb_size = linelength *
 * height; the exact geometry, so no DMI quirks. The text-mode fields stay
 * zero (orig_video_lines/cols 0: the decompressor writes no VGA text). */
static void fill_screen_info(uint8_t *bp, const struct handoff_framebuffer *fb)
{
    struct fb_layout l;
    if (!fb || !fb_describe(fb, &l))
        return;
    uint8_t *si = bp + BP_SCREEN_INFO;
    uint32_t caps = VIDEO_CAPABILITY_SKIP_QUIRKS;
    wr8(si, SI_ORIG_VIDEO_ISVGA, VIDEO_TYPE_EFI);
    wr16(si, SI_LFB_WIDTH, (uint16_t)fb->width);
    wr16(si, SI_LFB_HEIGHT, (uint16_t)fb->height);
    wr16(si, SI_LFB_DEPTH, (uint16_t)fb->bpp);
    wr32(si, SI_LFB_BASE, (uint32_t)fb->base);
    if (fb->base >> 32) {
        wr32(si, SI_EXT_LFB_BASE, (uint32_t)(fb->base >> 32));
        caps |= VIDEO_CAPABILITY_64BIT_BASE;
    }
    wr32(si, SI_LFB_SIZE, fb->pitch * fb->height);
    wr16(si, SI_LFB_LINELENGTH, (uint16_t)fb->pitch);
    const uint8_t fields[8] = {l.red_size, l.red_pos, l.green_size, l.green_pos,
                               l.blue_size, l.blue_pos, l.rsvd_size, l.rsvd_pos};
    memcpy(si + SI_RED_SIZE, fields, sizeof(fields));
    wr16(si, SI_PAGES, 1);
    wr32(si, SI_CAPABILITIES, caps);
}

/* The 32-bit entry runs with paging off: the kernel must lie below 4 GiB
 * (code32_start is 32 bits), even where L1 has RAM above. */
static bool take_kernel(struct placer *p, uint64_t load, uint64_t size)
{
    return load < PLACER_HIGH_LIMIT && size <= PLACER_HIGH_LIMIT - load && placer_take(p, load, size);
}

/* Where the kernel goes (boot.rst, init_size): a relocatable kernel runs
 * at its load address rounded up to kernel_alignment, never below
 * pref_address, so it is loaded at pref_address or at an aligned address
 * above; any other kernel is loaded at code32_start and moves itself to
 * pref_address. init_size bytes from where it runs must be L1 RAM. */
static bool place_kernel(struct placer *p, const uint8_t *img, uint64_t pm_size, uint64_t init_size,
                         uint64_t *load, char *err, size_t errsz)
{
    uint64_t pref = rd64(img, HDR_PREF_ADDRESS);
    if (rd8(img, HDR_RELOCATABLE)) {
        uint64_t align = rd32(img, HDR_KERNEL_ALIGN);
        if (align < PAGE_SIZE || (align & (align - 1)))
            FAIL("kernel_alignment 0x%llx is not a power of two of at least 4 KiB",
                 (unsigned long long)align);
        if (!(pref & (align - 1)) && take_kernel(p, pref, init_size)) {
            *load = pref;
            return true;
        }
        *load = pref < PLACER_HIGH_LIMIT ? placer_place(p, init_size, align, pref, PLACER_HIGH_LIMIT) : 0;
        if (!*load)
            FAIL("the kernel needs %llu MiB of L1 RAM at or above 0x%llx, below 4 GiB",
                 (unsigned long long)(init_size >> 20), (unsigned long long)pref);
        return true;
    }
    uint64_t code32 = rd32(img, HDR_CODE32_START);
    uint64_t low = code32 < pref ? code32 : pref;
    uint64_t high = code32 + pm_size > pref + init_size ? code32 + pm_size : pref + init_size;
    if (pref + init_size < pref || !take_kernel(p, low, high - low))
        FAIL("the kernel needs L1 RAM at 0x%llx-0x%llx (loaded at 0x%llx, runs at 0x%llx)",
             (unsigned long long)low, (unsigned long long)high, (unsigned long long)code32,
             (unsigned long long)pref);
    *load = code32;
    return true;
}

bool linux_load_l1(const struct linux_boot_input *in, struct l1_entry_state *entry,
                   uint32_t *regs_esi, char *err, size_t errsz)
{
    const uint8_t *img = phys_to_virt(in->kernel->base);
    uint64_t size = in->kernel->size;
    if (!linux_is_bzimage(img, size) || rd16(img, HDR_BOOT_FLAG) != BOOT_FLAG_MAGIC)
        FAIL("not a Linux bzImage (no \"HdrS\" boot header)");
    /* The file first: the payload starts past the setup sectors (at least
     * 1024 bytes in), so the header fields read below are in the file. */
    unsigned setup_sects = rd8(img, HDR_SETUP_SECTS) ? rd8(img, HDR_SETUP_SECTS) : DEFAULT_SETUP_SECTS;
    uint64_t pm_offset = (uint64_t)(setup_sects + 1) * SECTOR_SIZE;
    uint64_t pm_size = (uint64_t)rd32(img, HDR_SYSSIZE) * SYSSIZE_UNIT;
    if (pm_size == 0)
        FAIL("not a usable bzImage: its header gives no protected-mode kernel (syssize 0)");
    if (pm_offset + pm_size > size)
        FAIL("bzImage truncated: %llu bytes, the header describes %llu",
             (unsigned long long)size, (unsigned long long)(pm_offset + pm_size));
    uint16_t version = rd16(img, HDR_VERSION);
    if (version < LINUX_MIN_PROTOCOL)
        FAIL("Linux boot protocol %u.%02u is too old (nestvisor needs 2.10 or later)", version >> 8,
             version & 0xff);
    if (!(rd8(img, HDR_LOADFLAGS) & LOADED_HIGH))
        FAIL("zImage (loaded low) kernels are not supported");
    uint64_t init_size = rd32(img, HDR_INIT_SIZE);
    if (init_size < pm_size)
        init_size = pm_size;

    uint32_t cmd_max = rd32(img, HDR_CMDLINE_SIZE);
    const char *cmdline = in->kernel->cmdline;
    if (strlen(cmdline) > cmd_max)
        FAIL("command line of %zu bytes exceeds the kernel's limit of %u", strlen(cmdline), cmd_max);

    static struct placer p;
    placer_init(&p, in->l1_map);
    uint64_t load;
    if (!place_kernel(&p, img, pm_size, init_size, &load, err, errsz))
        return false;
    memcpy(phys_to_virt(load), img + pm_offset, pm_size);

    /* Zero page, command line and boot GDT below 1 MiB, like real-mode
     * loaders, out of the kernel's way. */
    uint64_t bp_pa = placer_place(&p, BP_SIZE, PAGE_SIZE, PAGE_SIZE, HIGH_MEMORY);
    uint64_t cmd_pa = placer_place(&p, CMDLINE_MAX, PAGE_SIZE, PAGE_SIZE, HIGH_MEMORY);
    uint64_t gdt_pa = placer_place(&p, PAGE_SIZE, PAGE_SIZE, PAGE_SIZE, HIGH_MEMORY);
    if (!bp_pa || !cmd_pa || !gdt_pa)
        FAIL("no room below 1 MiB in L1's memory for the zero page");
    uint8_t *bp = phys_to_virt(bp_pa);
    memset(bp, 0, BP_SIZE);
    unsigned hdr_end = HDR_MAGIC + rd8(img, HDR_JUMP_END);
    if (hdr_end > BP_E820_TABLE || hdr_end > size)
        hdr_end = HDR_INIT_SIZE + 4;
    memcpy(bp + BP_HDR, img + BP_HDR, hdr_end - BP_HDR);
    wr8(bp, HDR_TYPE_OF_LOADER, LOADER_UNDEFINED);
    wr8(bp, HDR_LOADFLAGS, (uint8_t)(rd8(bp, HDR_LOADFLAGS) & ~KEEP_SEGMENTS));
    wr32(bp, HDR_CODE32_START, (uint32_t)load);

    str_copy(phys_to_virt(cmd_pa), cmdline, CMDLINE_MAX);
    wr32(bp, HDR_CMD_LINE_PTR, (uint32_t)cmd_pa);

    if (in->initrd && in->initrd->size) {
        uint64_t max = rd32(img, HDR_INITRD_ADDR_MAX);
        if (!max)
            max = INITRD_DEFAULT_MAX;
        uint64_t at = placer_place(&p, in->initrd->size, PAGE_SIZE, HIGH_MEMORY, max + 1);
        if (!at)
            FAIL("the initrd (%llu KiB) does not fit in L1's RAM below 0x%llx",
                 (unsigned long long)(in->initrd->size >> 10), (unsigned long long)max);
        memcpy(phys_to_virt(at), phys_to_virt(in->initrd->base), in->initrd->size);
        wr32(bp, HDR_RAMDISK_IMAGE, (uint32_t)at);
        wr32(bp, HDR_RAMDISK_SIZE, (uint32_t)in->initrd->size);
    }
    if (!fill_e820(bp, in->l1_map, err, errsz))
        return false;
    wr64(bp, BP_ACPI_RSDP_ADDR, in->acpi_rsdp);
    fill_screen_info(bp, in->fb);

    uint64_t *gdt = phys_to_virt(gdt_pa);
    uint64_t descriptors[BOOT_GDT_ENTRIES] = {0, 0, GDT_CODE32_FLAT, GDT_DATA32_FLAT};
    memcpy(gdt, descriptors, sizeof(descriptors));
    /* 32-bit boot protocol: flat __BOOT_CS/__BOOT_DS, paging off, ESI =
     * zero page, interrupts off. */
    *entry = (struct l1_entry_state){
        .rip = load,
        .rsp = 0,
        .cs = BOOT_CS,
        .ds = BOOT_DS,
        .gdt_base = gdt_pa,
        .gdt_limit = sizeof(descriptors) - 1,
    };
    *regs_esi = (uint32_t)bp_pa;
    return true;
}
