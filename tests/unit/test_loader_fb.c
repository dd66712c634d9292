/* unit-srcs: vmm/loader_linux.c vmm/loader_mb.c vmm/placer.c vmm/memmap.c lib/elf.c vmm/ept01.c vmm/ept.c vmm/mtrr.c vmm/pmm.c */
/* The framebuffer handed to L1 by both loaders.
 *
 * Linux (vmm/loader_linux.c): boot_params.screen_info at offset 0 of the
 * zero page (Documentation/arch/x86/zero-page.rst), laid out as
 * include/uapi/linux/screen_info.h (struct screen_info below, with its
 * offsets checked) and filled as the EFI stub fills it for a GOP
 * framebuffer (drivers/firmware/efi/libstub/gop.c): orig_video_isVGA =
 * VIDEO_TYPE_EFI (0x70); lfb_width, lfb_height, lfb_depth; lfb_base the
 * low 32 bits and ext_lfb_base the high ones with VIDEO_CAPABILITY_64BIT_BASE
 * (bit 1) when there are any; lfb_linelength; lfb_size = linelength *
 * height; pages = 1; VIDEO_CAPABILITY_SKIP_QUIRKS (bit 0); the colour
 * fields as size/pos pairs.
 *
 * Multiboot2 (vmm/loader_mb.c): the framebuffer information tag, spec 2.0
 * 3.6.12: type 8, framebuffer_addr (u64), pitch, width, height (u32),
 * bpp (u8), framebuffer_type 1 = direct RGB (u8), reserved, then for type
 * 1 red_field_position, red_mask_size, green..., blue... (u8 each). The
 * reserved field is 16 bits wide as in GRUB's multiboot2.h (the colour
 * information at offset 32 of the tag), which is where GRUB writes it and
 * Linux, Xen and the other readers look. 3.1.4: a required information
 * request for tag 8, and 3.1.10: a required framebuffer header tag (5),
 * need a framebuffer; optional ones do not.
 *
 * The hand-off gives no colour masks: a 32-bpp framebuffer is x8r8g8b8,
 * a 24-bpp one r8g8b8 (drivers/fbcon.h, fb_describe); 16 bpp (GRUB's EGA
 * text) and palette modes are not handed on. The machine: 64 MiB with
 * nestvisor at 48-52 MiB, as in test_loader_linux.c and test_loader_mb.c. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>
#include "vmm/loader_linux.h"
#include "vmm/loader_mb.h"
#include "vmm/ept01.h"
#include "arch/x86/physmem.h"
#include "tests/unit/fake_arch.h"

#define MiB       (1ULL << 20)
#define HV_BASE   0x3000000ULL
#define HV_END    0x3400000ULL
#define RAM_TOP   0x3f00000ULL
#define IMAGE_PA  0x3100000ULL /* the L1 image, in nestvisor's memory */

/* ---- Linux's screen_info, as include/uapi/linux/screen_info.h ---- */
struct __attribute__((packed)) screen_info {
    uint8_t orig_x, orig_y;
    uint16_t ext_mem_k, orig_video_page;
    uint8_t orig_video_mode, orig_video_cols, flags, unused2;
    uint16_t orig_video_ega_bx, unused3;
    uint8_t orig_video_lines, orig_video_isVGA;
    uint16_t orig_video_points;
    uint16_t lfb_width, lfb_height, lfb_depth;
    uint32_t lfb_base, lfb_size;
    uint16_t cl_magic, cl_offset;
    uint16_t lfb_linelength;
    uint8_t red_size, red_pos, green_size, green_pos, blue_size, blue_pos, rsvd_size, rsvd_pos;
    uint16_t vesapm_seg, vesapm_off, pages, vesa_attributes;
    uint32_t capabilities, ext_lfb_base;
    uint8_t _reserved[2];
};
_Static_assert(sizeof(struct screen_info) == 0x40, "screen_info is 64 bytes");
_Static_assert(offsetof(struct screen_info, orig_video_isVGA) == 0x0f, "isVGA");
_Static_assert(offsetof(struct screen_info, lfb_width) == 0x12, "lfb_width");
_Static_assert(offsetof(struct screen_info, lfb_base) == 0x18, "lfb_base");
_Static_assert(offsetof(struct screen_info, lfb_linelength) == 0x24, "lfb_linelength");
_Static_assert(offsetof(struct screen_info, red_size) == 0x26, "red_size");
_Static_assert(offsetof(struct screen_info, rsvd_pos) == 0x2d, "rsvd_pos");
_Static_assert(offsetof(struct screen_info, pages) == 0x32, "pages");
_Static_assert(offsetof(struct screen_info, capabilities) == 0x36, "capabilities");
_Static_assert(offsetof(struct screen_info, ext_lfb_base) == 0x3a, "ext_lfb_base");

#define VIDEO_TYPE_EFI               0x70
#define VIDEO_CAPABILITY_SKIP_QUIRKS (1U << 0)
#define VIDEO_CAPABILITY_64BIT_BASE  (1U << 1)

/* ---- the frame buffers ---- */
static const struct handoff_framebuffer gop = {.base = 0x80000000ULL, .width = 1280, .height = 800, .pitch = 5120, .bpp = 32};
static const struct handoff_framebuffer gop_high = {.base = 0x4012345000ULL, .width = 1920, .height = 1080, .pitch = 7680, .bpp = 32};
static const struct handoff_framebuffer vbe24 = {.base = 0xe0000000ULL, .width = 1024, .height = 768, .pitch = 3072, .bpp = 24};
static const struct handoff_framebuffer ega_text = {.base = 0xb8000, .width = 80, .height = 25, .pitch = 160, .bpp = 16};

static struct memmap host, l1;
static struct handoff_module image;
static struct l1_entry_state entry;
static char err[256];

static void put16(uint8_t *p, unsigned off, uint16_t v) { memcpy(p + off, &v, 2); }
static void put32(uint8_t *p, unsigned off, uint32_t v) { memcpy(p + off, &v, 4); }
static void put64(uint8_t *p, unsigned off, uint64_t v) { memcpy(p + off, &v, 8); }
static uint32_t get32(const uint8_t *p, unsigned off)
{
    uint32_t v;
    memcpy(&v, p + off, 4);
    return v;
}

static int setup(void **state)
{
    (void)state;
    fake_phys_reset();
    memmap_init(&host);
    memmap_set(&host, 0, 0x9f000, MEM_USABLE);
    memmap_set(&host, 0x9f000, 0x61000, MEM_RESERVED);
    memmap_set(&host, MiB, HV_BASE - MiB, MEM_USABLE);
    memmap_set(&host, HV_BASE, HV_END - HV_BASE, MEM_HV);
    memmap_set(&host, HV_END, RAM_TOP - HV_END, MEM_USABLE);
    memmap_set(&host, RAM_TOP, FAKE_PHYS_SIZE - RAM_TOP, MEM_ACPI_RECLAIM);
    ept01_l1_memmap(&host, &l1);
    memset(phys_to_virt(0), 0xcc, HV_BASE); /* L1's RAM is dirty */
    memset(&image, 0, sizeof(image));
    image.base = IMAGE_PA;
    strcpy(image.name, "l1");
    strcpy(image.cmdline, "console=tty0");
    memset(&entry, 0, sizeof(entry));
    err[0] = 0;
    return 0;
}

/* ---- Linux ---- */

/* A small relocatable bzImage of protocol 2.15 (boot.rst "The Real-Mode
 * Kernel Header"): 4 setup sectors, a 16 KiB protected-mode payload. */
static void build_bzimage(void)
{
    uint8_t *p = phys_to_virt(IMAGE_PA);
    uint64_t size = 5 * 512 + 0x4000;
    memset(p, 0x90, size);
    memset(p + 0x1f1, 0, 0x268 - 0x1f1);
    p[0x1f1] = 4;                       /* setup_sects */
    put32(p, 0x1f4, 0x4000 / 16);       /* syssize */
    put16(p, 0x1fe, 0xaa55);            /* boot_flag */
    p[0x200] = 0xeb;                    /* jump over the header: it ends at 0x268 */
    p[0x201] = 0x268 - 0x202;
    memcpy(p + 0x202, "HdrS", 4);
    put16(p, 0x206, 0x020f);            /* version */
    p[0x211] = 0x01;                    /* loadflags: LOADED_HIGH */
    put32(p, 0x214, 0x100000);          /* code32_start */
    put32(p, 0x22c, 0x7fffffff);        /* initrd_addr_max */
    put32(p, 0x230, 0x200000);          /* kernel_alignment */
    p[0x234] = 1;                       /* relocatable_kernel */
    put32(p, 0x238, 2047);              /* cmdline_size */
    put64(p, 0x258, 0x1000000);         /* pref_address */
    put32(p, 0x260, 0x800000);          /* init_size */
    image.size = size;
}

static uint8_t zero_page[4096];

/* Loads the bzImage with fb and copies the zero page out. */
static void load_linux(const struct handoff_framebuffer *fb)
{
    setup(0);
    build_bzimage();
    struct linux_boot_input in = {.l1_map = &l1, .kernel = &image, .fb = fb};
    uint32_t esi = 0;
    if (!linux_load_l1(&in, &entry, &esi, err, sizeof(err)))
        fail_msg("linux_load_l1: %s", err);
    memcpy(zero_page, phys_to_virt(esi), sizeof(zero_page));
}

static const struct screen_info *screen(void) { return (const struct screen_info *)zero_page; }

/* Everything outside screen_info is as without a framebuffer. */
static void assert_rest_of_zero_page_unchanged(void)
{
    uint8_t with[4096];
    memcpy(with, zero_page, sizeof(with));
    load_linux(0);
    assert_memory_equal(with + sizeof(struct screen_info), zero_page + sizeof(struct screen_info),
                        sizeof(with) - sizeof(struct screen_info));
    memcpy(zero_page, with, sizeof(with));
}

static void test_linux_screen_info(void **state)
{
    (void)state;
    load_linux(&gop);
    const struct screen_info *si = screen();
    assert_int_equal(si->orig_video_isVGA, VIDEO_TYPE_EFI);
    assert_int_equal(si->lfb_width, 1280);
    assert_int_equal(si->lfb_height, 800);
    assert_int_equal(si->lfb_depth, 32);
    assert_int_equal(si->lfb_base, 0x80000000U);
    assert_int_equal(si->ext_lfb_base, 0);
    assert_int_equal(si->lfb_linelength, 5120);
    assert_int_equal(si->lfb_size, 5120 * 800);
    assert_int_equal(si->pages, 1);
    assert_int_equal(si->capabilities, VIDEO_CAPABILITY_SKIP_QUIRKS);
    /* x8r8g8b8 */
    assert_int_equal(si->red_size, 8);
    assert_int_equal(si->red_pos, 16);
    assert_int_equal(si->green_size, 8);
    assert_int_equal(si->green_pos, 8);
    assert_int_equal(si->blue_size, 8);
    assert_int_equal(si->blue_pos, 0);
    assert_int_equal(si->rsvd_size, 8);
    assert_int_equal(si->rsvd_pos, 24);
    /* No text mode: the decompressor writes to VGA text memory only when
     * orig_video_lines and _cols are set. */
    assert_int_equal(si->orig_x, 0);
    assert_int_equal(si->orig_y, 0);
    assert_int_equal(si->orig_video_mode, 0);
    assert_int_equal(si->orig_video_cols, 0);
    assert_int_equal(si->orig_video_lines, 0);
    assert_int_equal(si->orig_video_points, 0);
    assert_int_equal(si->ext_mem_k, 0);
    assert_int_equal(si->cl_magic, 0);
    assert_int_equal(si->vesapm_seg, 0);
    assert_int_equal(si->vesa_attributes, 0);
    assert_int_equal(si->_reserved[0] | si->_reserved[1], 0);
    assert_rest_of_zero_page_unchanged();
}

/* The loader's colour layout reaches screen_info as given: a GOP in
 * PixelRedGreenBlueReserved8BitPerColor puts red in the low byte. */
static void test_linux_screen_info_red_low(void **state)
{
    (void)state;
    struct handoff_framebuffer rgb = gop;
    rgb.red_pos = 0, rgb.red_size = 8, rgb.green_pos = 8, rgb.green_size = 8;
    rgb.blue_pos = 16, rgb.blue_size = 8, rgb.rsvd_pos = 24, rgb.rsvd_size = 8;
    load_linux(&rgb);
    const struct screen_info *si = screen();
    assert_int_equal(si->red_pos, 0);
    assert_int_equal(si->green_pos, 8);
    assert_int_equal(si->blue_pos, 16);
    assert_int_equal(si->rsvd_pos, 24);
    assert_int_equal(si->red_size, 8);
}

static void test_linux_screen_info_above_4g(void **state)
{
    (void)state;
    load_linux(&gop_high);
    const struct screen_info *si = screen();
    assert_int_equal(si->orig_video_isVGA, VIDEO_TYPE_EFI);
    assert_int_equal(si->lfb_base, 0x12345000U);
    assert_int_equal(si->ext_lfb_base, 0x40);
    assert_int_equal(si->capabilities, VIDEO_CAPABILITY_SKIP_QUIRKS | VIDEO_CAPABILITY_64BIT_BASE);
    assert_int_equal(si->lfb_width, 1920);
    assert_int_equal(si->lfb_height, 1080);
    assert_int_equal(si->lfb_linelength, 7680);
    assert_int_equal(si->lfb_size, 7680 * 1080);
    assert_rest_of_zero_page_unchanged();
}

static void test_linux_screen_info_24bpp(void **state)
{
    (void)state;
    load_linux(&vbe24);
    const struct screen_info *si = screen();
    assert_int_equal(si->orig_video_isVGA, VIDEO_TYPE_EFI);
    assert_int_equal(si->lfb_depth, 24);
    assert_int_equal(si->lfb_linelength, 3072);
    assert_int_equal(si->red_pos, 16);
    assert_int_equal(si->green_pos, 8);
    assert_int_equal(si->blue_pos, 0);
    assert_int_equal(si->rsvd_size, 0);
    assert_int_equal(si->rsvd_pos, 0);
}

/* No framebuffer, or one that is no linear RGB one: screen_info all zero
 * (Linux then has no screen console, as on a headless machine). */
static void test_linux_no_screen(void **state)
{
    (void)state;
    static const uint8_t zeros[sizeof(struct screen_info)];
    load_linux(0);
    assert_memory_equal(zero_page, zeros, sizeof(zeros));
    load_linux(&ega_text);
    assert_memory_equal(zero_page, zeros, sizeof(zeros));
    struct handoff_framebuffer none = {0};
    load_linux(&none);
    assert_memory_equal(zero_page, zeros, sizeof(zeros));
}

/* ---- Multiboot2 ---- */

#define MB2_LOAD_PA 0x100000U
#define MB2_ITAG_FB 8

/* An a.out-kludge Multiboot2 image (address and entry tags, so no ELF)
 * with extra header tags: {type, flags, payload words...}. */
static void build_mb2(const uint32_t *extra, unsigned extra_words)
{
    uint8_t *p = phys_to_virt(IMAGE_PA);
    memset(p, 0x90, 0x2000);
    uint32_t len = 16;
    uint32_t addr[] = {(2 << 0) | (0 << 16), 24, MB2_LOAD_PA, MB2_LOAD_PA, 0, 0};
    uint32_t ent[] = {3, 12, MB2_LOAD_PA + 0x100, 0};
    memcpy(p + len, addr, sizeof(addr));
    len += sizeof(addr);
    memcpy(p + len, ent, sizeof(ent));
    len += sizeof(ent);
    if (extra_words)
        memcpy(p + len, extra, extra_words * 4);
    len += extra_words * 4;
    uint32_t end[] = {0, 8};
    memcpy(p + len, end, sizeof(end));
    len += sizeof(end);
    put32(p, 0, MB2_HEADER_MAGIC);
    put32(p, 4, 0);
    put32(p, 8, len);
    put32(p, 12, (uint32_t)(0 - (MB2_HEADER_MAGIC + len)));
    image.size = 0x2000;
}

static const uint8_t *fb_tag;
static unsigned fb_tags;

static bool load_mb2(const struct handoff_framebuffer *fb)
{
    struct l1_boot_input in = {.l1_map = &l1, .image = &image, .fb = fb};
    uint32_t eax = 0, ebx = 0;
    fb_tag = 0;
    fb_tags = 0;
    if (!mb_load_l1(&in, &entry, &eax, &ebx, err, sizeof(err)))
        return false;
    assert_int_equal(eax, MB2_BOOTLOADER_MAGIC);
    /* Walk the information: 8-aligned tags up to the end tag. */
    const uint8_t *info = phys_to_virt(ebx);
    uint32_t total = get32(info, 0), off = 8;
    bool ended = false;
    while (off + 8 <= total) {
        uint32_t type = get32(info, off), size = get32(info, off + 4);
        assert_true(size >= 8 && off + size <= total);
        if (type == MB2_ITAG_FB) {
            fb_tag = info + off;
            fb_tags++;
        }
        if (type == 0) {
            ended = true;
            break;
        }
        off += (size + 7) & ~7U;
    }
    assert_true(ended);
    return true;
}

static void assert_fb_tag(const struct handoff_framebuffer *fb, uint8_t bpp)
{
    assert_int_equal(fb_tags, 1);
    assert_int_equal(get32(fb_tag, 4), 38); /* 32 bytes, 6 of colour information */
    uint64_t addr;
    memcpy(&addr, fb_tag + 8, 8);
    assert_int_equal(addr, fb->base);
    assert_int_equal(get32(fb_tag, 16), fb->pitch);
    assert_int_equal(get32(fb_tag, 20), fb->width);
    assert_int_equal(get32(fb_tag, 24), fb->height);
    assert_int_equal(fb_tag[28], bpp);
    assert_int_equal(fb_tag[29], 1); /* direct RGB */
    assert_int_equal(fb_tag[30] | fb_tag[31], 0);
    static const uint8_t rgb[6] = {16, 8, 8, 8, 0, 8}; /* position, size: red, green, blue */
    assert_memory_equal(fb_tag + 32, rgb, sizeof(rgb));
    assert_int_equal(fb_tag[38] | fb_tag[39], 0); /* padding */
}

static void test_mb2_framebuffer_tag(void **state)
{
    (void)state;
    build_mb2(0, 0);
    assert_true(load_mb2(&gop));
    assert_fb_tag(&gop, 32);
    setup(0);
    build_mb2(0, 0);
    assert_true(load_mb2(&gop_high));
    assert_fb_tag(&gop_high, 32);
    setup(0);
    build_mb2(0, 0);
    assert_true(load_mb2(&vbe24));
    assert_fb_tag(&vbe24, 24);
    /* None, or not a linear RGB one: no tag. */
    setup(0);
    build_mb2(0, 0);
    assert_true(load_mb2(0));
    assert_int_equal(fb_tags, 0);
    setup(0);
    build_mb2(0, 0);
    assert_true(load_mb2(&ega_text));
    assert_int_equal(fb_tags, 0);
}

/* An image that requires a framebuffer (information request for tag 8,
 * or a framebuffer header tag, not optional) loads where there is one and
 * is refused, with the reason, where there is none; optional: loads. */
static void test_mb2_framebuffer_required(void **state)
{
    (void)state;
    static const uint32_t request[] = {1 | (0 << 16), 16, 1, MB2_ITAG_FB};
    static const uint32_t request_opt[] = {1 | (1 << 16), 16, 1, MB2_ITAG_FB};
    static const uint32_t mode[] = {5 | (0 << 16), 20, 1024, 768, 32, 0};
    static const uint32_t mode_opt[] = {5 | (1 << 16), 20, 1024, 768, 32, 0};
    static const struct {
        const uint32_t *tag;
        unsigned words;
        bool required;
    } cases[] = {
        {request, 4, true}, {request_opt, 4, false}, {mode, 6, true}, {mode_opt, 6, false},
    };
    for (unsigned i = 0; i < 4; i++) {
        setup(0);
        build_mb2(cases[i].tag, cases[i].words);
        assert_true(load_mb2(&gop));
        assert_fb_tag(&gop, 32);
        const struct handoff_framebuffer *none[] = {0, &ega_text};
        for (unsigned j = 0; j < 2; j++) {
            setup(0);
            build_mb2(cases[i].tag, cases[i].words);
            if (cases[i].required) {
                assert_false(load_mb2(none[j]));
                assert_string_equal(err, "the image requires a framebuffer (Multiboot2 information "
                                         "tag 8) and this machine has no linear 24/32-bpp one");
            } else {
                assert_true(load_mb2(none[j]));
                assert_int_equal(fb_tags, 0);
            }
        }
    }
}

int main(void)
{
#define T(f) cmocka_unit_test_setup(f, setup)
    const struct CMUnitTest tests[] = {
        T(test_linux_screen_info),
        T(test_linux_screen_info_red_low),
        T(test_linux_screen_info_above_4g),
        T(test_linux_screen_info_24bpp),
        T(test_linux_no_screen),
        T(test_mb2_framebuffer_tag),
        T(test_mb2_framebuffer_required),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
