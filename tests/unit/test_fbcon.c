/* unit-srcs: drivers/fbcon.c drivers/fbcon_font.c */
/* drivers/fbcon.c: the screen console on a linear framebuffer, here a
 * buffer in the fake physical memory. Every check reads the pixels back:
 * each cell must be exactly one glyph of the font (8x8, each row drawn
 * twice, times the scale) in white (all bits set) on black (zero), and
 * the text that decodes must be what was written, wrapped and scrolled as
 * the console promises (drivers/fbcon.h). PCI configuration space is a
 * fake here (mechanism #1 on ports CF8/CFC, PCI Local Bus 3.0 3.2.2.3.2;
 * type-0 header 6.1: vendor/device at 0, command at 4 with memory space
 * enable bit 1, class code at 8 with the base class in bits 31:24, header
 * type at 0x0e with bit 7 multi-function, BARs at 0x10-0x24, a 64-bit
 * memory BAR has type bits 2:1 = 10b and its upper half in the next one),
 * so that the hand-back to L0 can find the framebuffer's BAR where L1
 * left it. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>
#include "drivers/fbcon.h"
#include "arch/x86/physmem.h"
#include "tests/unit/fake_arch.h"

#define FB_PA    0x1000000ULL /* 16 MiB: room for 4K at 32 bpp below 64 MiB */
#define DIRTY    0x5a         /* what the framebuffer holds before fbcon_init */
#define L1_PAINT 0x33         /* what "L1" draws while it owns the screen */
#define WHITE32  0xffffffffU
#define UNKNOWN  0xff         /* fbcon_cell of a cell showing L1's pixels */
#define NOT_A_GLYPH '\x7f'

static struct handoff_framebuffer fb;

/* ---- the fake PCI configuration space ---- */
#define FB2_PA        0x3000000ULL /* where "L1" moves the framebuffer BAR */
#define DISPLAY_ID    0x11111234U
#define PCI_CMD_MEM   0x2
#define BAR_PREF64    0xcU         /* memory, 64-bit, prefetchable */

struct fake_function {
    unsigned bus, dev, fn;
    uint32_t cfg[16]; /* the first 64 bytes */
};
static struct fake_function pci[8];
static unsigned pci_count;
static uint32_t pci_address;
static unsigned pci_reads;
static bool pci_written;

void outl(uint16_t port, uint32_t v)
{
    if (port == 0xcf8)
        pci_address = v;
    else
        pci_written = true; /* finding the BAR must not touch a device */
}

uint32_t inl(uint16_t port)
{
    assert_int_equal(port, 0xcfc);
    assert_true(pci_address & 0x80000000U);
    pci_reads++;
    unsigned bus = (pci_address >> 16) & 0xff, dev = (pci_address >> 11) & 0x1f;
    unsigned fn = (pci_address >> 8) & 7, reg = pci_address & 0xfc;
    for (unsigned i = 0; i < pci_count; i++)
        if (pci[i].bus == bus && pci[i].dev == dev && pci[i].fn == fn)
            return reg < sizeof(pci[i].cfg) ? pci[i].cfg[reg / 4] : 0;
    return 0xffffffffU;
}

static struct fake_function *add_function(unsigned bus, unsigned dev, unsigned fn, uint32_t id,
                                          uint32_t class_code, uint32_t header_type)
{
    struct fake_function *f = &pci[pci_count++];
    *f = (struct fake_function){bus, dev, fn, {0}};
    f->cfg[0] = id;
    f->cfg[1] = PCI_CMD_MEM;
    f->cfg[2] = class_code << 8;
    f->cfg[3] = header_type << 16;
    return f;
}

/* The machine: a bridge, the display controller at 00:02.0 whose 64-bit
 * BAR0 holds the framebuffer (its registers in BAR2, above), a network
 * controller with a BAR just below the framebuffer, and a multi-function
 * storage controller on bus 1 with a 64-bit BAR above 4 GiB. */
static struct fake_function *display;

static void fake_pci(void)
{
    pci_count = 0;
    pci_reads = 0;
    pci_written = false;
    add_function(0, 0, 0, 0x29c08086, 0x060000, 0);
    display = add_function(0, 2, 0, DISPLAY_ID, 0x030000, 0);
    display->cfg[4] = (uint32_t)FB_PA | BAR_PREF64;
    display->cfg[5] = 0;
    display->cfg[6] = (uint32_t)(FB_PA + 0x1800000);
    struct fake_function *net = add_function(0, 3, 0, 0x10d38086, 0x020000, 0);
    net->cfg[4] = (uint32_t)(FB_PA - 0x100000);
    net->cfg[5] = 0xc001; /* an I/O BAR */
    struct fake_function *sata = add_function(1, 0, 0, 0x29228086, 0x010601, 0x80);
    sata->cfg[4] = BAR_PREF64;
    sata->cfg[5] = 0x8;
    add_function(1, 0, 1, 0x29238086, 0x010601, 0);
}

static void make_fb(uint32_t width, uint32_t height, uint32_t pitch, uint32_t bpp)
{
    fb = (struct handoff_framebuffer){.base = FB_PA, .width = width, .height = height, .pitch = pitch, .bpp = bpp};
    memset(phys_to_virt(FB_PA), DIRTY, (size_t)pitch * height + 4096);
}

static int setup(void **state)
{
    (void)state;
    fake_phys_reset();
    fake_console_reset();
    fake_pci();
    make_fb(1280, 800, 1280 * 4, 32);
    return 0;
}

static uint8_t *pixel(unsigned x, unsigned y)
{
    return (uint8_t *)phys_to_virt(fb.base) + (size_t)y * fb.pitch + x * (fb.bpp / 8);
}

/* 1 white, 0 black, -1 anything else. */
static int pixel_state(unsigned x, unsigned y)
{
    unsigned n = fb.bpp / 8, ones = 0, zeros = 0;
    const uint8_t *p = pixel(x, y);
    for (unsigned i = 0; i < n; i++) {
        ones += p[i] == 0xff;
        zeros += p[i] == 0;
    }
    return ones == n ? 1 : zeros == n ? 0 : -1;
}

/* The character a cell shows, NOT_A_GLYPH if its pixels are no glyph. */
static char decode_cell(unsigned row, unsigned col, unsigned scale)
{
    uint8_t bits[FBCON_GLYPH_H];
    unsigned x0 = col * FBCON_CELL_W * scale, y0 = row * FBCON_CELL_H * scale;
    for (unsigned gy = 0; gy < FBCON_GLYPH_H; gy++) {
        bits[gy] = 0;
        for (unsigned gx = 0; gx < FBCON_GLYPH_W; gx++) {
            int v = pixel_state(x0 + gx * scale, y0 + gy * 2 * scale);
            if (v < 0)
                return NOT_A_GLYPH;
            for (unsigned dy = 0; dy < 2 * scale; dy++)
                for (unsigned dx = 0; dx < scale; dx++)
                    if (pixel_state(x0 + gx * scale + dx, y0 + gy * 2 * scale + dy) != v)
                        return NOT_A_GLYPH;
            bits[gy] |= (uint8_t)(v << (7 - gx));
        }
    }
    for (unsigned c = FBCON_FIRST_GLYPH; c <= FBCON_LAST_GLYPH; c++)
        if (!memcmp(fbcon_font[c - FBCON_FIRST_GLYPH], bits, FBCON_GLYPH_H))
            return (char)c;
    return NOT_A_GLYPH;
}

/* A text row as the pixels show it, trailing blanks dropped. */
static const char *screen_row(unsigned row)
{
    static char line[FBCON_MAX_COLS + 1];
    struct fbcon_geometry g;
    fbcon_geometry(&g);
    unsigned len = 0;
    for (unsigned col = 0; col < g.cols; col++) {
        line[col] = decode_cell(row, col, g.scale);
        if (line[col] != ' ')
            len = col + 1;
    }
    line[len] = 0;
    return line;
}

static void write_str(const char *s) { fbcon_write(s, strlen(s)); }

static void assert_screen_blank(void)
{
    for (unsigned y = 0; y < fb.height; y++)
        for (unsigned x = 0; x < fb.width; x++)
            if (pixel_state(x, y) != 0)
                fail_msg("pixel (%u,%u) not black", x, y);
}

/* ---- the font ---- */

static void test_font(void **state)
{
    (void)state;
    unsigned n = FBCON_LAST_GLYPH - FBCON_FIRST_GLYPH + 1;
    assert_int_equal(n, 95);
    for (unsigned i = 0; i < n; i++) {
        unsigned lit = 0;
        for (unsigned r = 0; r < FBCON_GLYPH_H; r++) {
            lit += fbcon_font[i][r] != 0;
            assert_int_equal(fbcon_font[i][r] & 1, 0); /* column 7: the gap */
        }
        if (i + FBCON_FIRST_GLYPH == ' ')
            assert_int_equal(lit, 0);
        else if (!lit)
            fail_msg("glyph 0x%02x is blank", i + FBCON_FIRST_GLYPH);
        for (unsigned j = 0; j < i; j++)
            if (!memcmp(fbcon_font[i], fbcon_font[j], FBCON_GLYPH_H))
                fail_msg("glyphs 0x%02x and 0x%02x are the same", i + FBCON_FIRST_GLYPH,
                         j + FBCON_FIRST_GLYPH);
    }
    assert_ptr_equal(fbcon_glyph('A'), fbcon_font['A' - FBCON_FIRST_GLYPH]);
    assert_ptr_equal(fbcon_glyph(0), fbcon_glyph('?'));
    assert_ptr_equal(fbcon_glyph(0x7f), fbcon_glyph('?'));
    assert_ptr_equal(fbcon_glyph(0xff), fbcon_glyph('?'));
}

/* ---- fb_describe ---- */

static void test_describe(void **state)
{
    (void)state;
    struct fb_layout l;
    struct handoff_framebuffer f = {.base = 0x80000000ULL, .width = 1280, .height = 800, .pitch = 5120, .bpp = 32};
    assert_true(fb_describe(&f, &l));
    /* x8r8g8b8, as GOP's PixelBlueGreenRedReserved8BitPerColor. */
    assert_int_equal(l.red_pos, 16);
    assert_int_equal(l.red_size, 8);
    assert_int_equal(l.green_pos, 8);
    assert_int_equal(l.green_size, 8);
    assert_int_equal(l.blue_pos, 0);
    assert_int_equal(l.blue_size, 8);
    assert_int_equal(l.rsvd_pos, 24);
    assert_int_equal(l.rsvd_size, 8);
    f = (struct handoff_framebuffer){.base = 0xe0000000ULL, .width = 1024, .height = 768, .pitch = 3072, .bpp = 24};
    assert_true(fb_describe(&f, &l));
    assert_int_equal(l.red_pos, 16);
    assert_int_equal(l.blue_pos, 0);
    assert_int_equal(l.rsvd_size, 0);
    assert_int_equal(l.rsvd_pos, 0);
    /* Above 4 GiB is fine. */
    f = (struct handoff_framebuffer){.base = 0x4000000000ULL, .width = 3840, .height = 2160, .pitch = 3840 * 4, .bpp = 32};
    assert_true(fb_describe(&f, &l));

    static const struct handoff_framebuffer bad[] = {
        {.base = 0, .width = 1280, .height = 800, .pitch = 5120, .bpp = 32},                  /* no base */
        {.base = 0xb8000, .width = 80, .height = 25, .pitch = 160, .bpp = 16},                /* GRUB's EGA text */
        {.base = 0x80000000ULL, .width = 1024, .height = 768, .pitch = 2048, .bpp = 16},      /* 16 bpp: the layout is unknown */
        {.base = 0x80000000ULL, .width = 1024, .height = 768, .pitch = 1024, .bpp = 8},       /* palette */
        {.base = 0x80000000ULL, .width = 1024, .height = 768, .pitch = 4096, .bpp = 0},
        {.base = 0x80000000ULL, .width = 0, .height = 768, .pitch = 4096, .bpp = 32},
        {.base = 0x80000000ULL, .width = 1024, .height = 0, .pitch = 4096, .bpp = 32},
        {.base = 0x80000000ULL, .width = 1024, .height = 768, .pitch = 4095, .bpp = 32},      /* pitch below a row */
        {.base = 0x80000000ULL, .width = 1024, .height = 768, .pitch = 3071, .bpp = 24},
        {.base = 0x80000000ULL, .width = 32768, .height = 16, .pitch = 65535, .bpp = 32},     /* width over 32767 */
        {.base = 0x80000000ULL, .width = 16, .height = 32768, .pitch = 64, .bpp = 32},        /* height over 32767 */
        {.base = 0x80000000ULL, .width = 16384, .height = 16, .pitch = 65536, .bpp = 32},     /* pitch over 16 bits (screen_info) */
        {.base = (1ULL << 52) - 4096, .width = 1024, .height = 768, .pitch = 4096, .bpp = 32}, /* beyond 52-bit addresses */
        {.base = ~0ULL - 4095, .width = 1024, .height = 768, .pitch = 4096, .bpp = 32},       /* wraps */
    };
    for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (fb_describe(&bad[i], &l))
            fail_msg("bad framebuffer %u accepted", i);
    assert_false(fb_describe(0, &l));
}

/* ---- fbcon_init ---- */

static void test_init_clears_and_sizes(void **state)
{
    (void)state;
    assert_int_equal(fbcon_init(&fb), FBCON_DRAWING);
    struct fbcon_geometry g;
    fbcon_geometry(&g);
    assert_int_equal(g.cols, 160);
    assert_int_equal(g.rows, 50);
    assert_int_equal(g.scale, 1);
    assert_true(g.drawing);
    assert_screen_blank();
    /* Not a byte past the framebuffer. */
    assert_int_equal(*((uint8_t *)phys_to_virt(FB_PA) + (size_t)fb.pitch * fb.height), DIRTY);
    assert_non_null(fbcon_framebuffer());
    assert_memory_equal(fbcon_framebuffer(), &fb, sizeof(fb));
    for (unsigned r = 0; r < g.rows; r++)
        assert_int_equal(fbcon_cell(r, 0), ' ');

    /* Sizes: cells of 8x16 pixels; big screens get a larger scale so that
     * the grid stays within FBCON_MAX_COLS x FBCON_MAX_ROWS. */
    static const struct {
        uint32_t w, h;
        unsigned cols, rows, scale;
    } sizes[] = {
        {1024, 768, 128, 48, 1}, {1920, 1080, 240, 67, 1}, {2048, 2048, 256, 128, 1},
        {2560, 1440, 160, 45, 2}, {3840, 2160, 240, 67, 2}, {1283, 805, 160, 50, 1},
        {8, 16, 1, 1, 1},
    };
    for (unsigned i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        make_fb(sizes[i].w, sizes[i].h, sizes[i].w * 4, 32);
        assert_int_equal(fbcon_init(&fb), FBCON_DRAWING);
        fbcon_geometry(&g);
        assert_int_equal(g.cols, sizes[i].cols);
        assert_int_equal(g.rows, sizes[i].rows);
        assert_int_equal(g.scale, sizes[i].scale);
    }
}

static void test_init_refusals(void **state)
{
    (void)state;
    struct fbcon_geometry g;
    assert_int_equal(fbcon_init(0), FBCON_NONE);
    struct handoff_framebuffer none = {0};
    assert_int_equal(fbcon_init(&none), FBCON_NONE);
    assert_null(fbcon_framebuffer());

    /* GRUB's EGA text mode: neither drawn nor handed to L1. */
    struct handoff_framebuffer ega = {.base = 0xb8000, .width = 80, .height = 25, .pitch = 160, .bpp = 16};
    assert_int_equal(fbcon_init(&ega), FBCON_REFUSED);
    assert_null(fbcon_framebuffer());

    /* Above 4 GiB: not in the boot page tables; L1 still gets it, and
     * nothing is drawn (a write would fault). */
    struct handoff_framebuffer high = {.base = 0x800000000ULL, .width = 1280, .height = 800, .pitch = 5120, .bpp = 32};
    assert_int_equal(fbcon_init(&high), FBCON_UNMAPPED);
    assert_memory_equal(fbcon_framebuffer(), &high, sizeof(high));
    fbcon_geometry(&g);
    assert_false(g.drawing);
    write_str("nothing\n");

    /* Smaller than a cell. */
    make_fb(7, 100, 28, 32);
    assert_int_equal(fbcon_init(&fb), FBCON_TOO_SMALL);
    assert_non_null(fbcon_framebuffer());
    fbcon_geometry(&g);
    assert_false(g.drawing);
    write_str("nothing\n");
    assert_int_equal(*pixel(0, 0), DIRTY);
}

/* ---- drawing ---- */

static void test_glyph_pixels(void **state)
{
    (void)state;
    assert_int_equal(fbcon_init(&fb), FBCON_DRAWING);
    write_str("A");
    /* Cell (0,0): 'A' with each glyph row on two pixel rows, white = all
     * ones, black = zero; the next cell is black. */
    const uint8_t *a = fbcon_font['A' - FBCON_FIRST_GLYPH];
    for (unsigned y = 0; y < FBCON_CELL_H; y++)
        for (unsigned x = 0; x < 2 * FBCON_CELL_W; x++) {
            uint32_t px;
            memcpy(&px, pixel(x, y), 4);
            bool on = x < FBCON_CELL_W && (a[y / 2] & (0x80 >> x));
            assert_int_equal(px, on ? WHITE32 : 0);
        }
    assert_string_equal(screen_row(0), "A");
}

static void test_text_and_pitch(void **state)
{
    (void)state;
    /* A pitch with padding after each line of pixels (a 100-pixel-wide
     * screen with 512-byte lines), and 24 bpp. */
    static const struct {
        uint32_t w, h, pitch, bpp;
    } shapes[] = {
        {100, 64, 512, 32}, {100, 64, 320, 24}, {1280, 800, 5120, 32}, {2560, 1440, 10240 + 64, 32},
    };
    for (unsigned i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++) {
        make_fb(shapes[i].w, shapes[i].h, shapes[i].pitch, shapes[i].bpp);
        assert_int_equal(fbcon_init(&fb), FBCON_DRAWING);
        write_str("Hi there,\nfolks! [ok]\n0x1f ~{|}");
        assert_string_equal(screen_row(0), "Hi there,");
        assert_string_equal(screen_row(1), "folks! [ok]");
        assert_string_equal(screen_row(2), "0x1f ~{|}");
        assert_string_equal(screen_row(3), "");
    }
}

static void test_wrap_and_controls(void **state)
{
    (void)state;
    make_fb(80, 64, 320, 32); /* 10 x 4 characters */
    assert_int_equal(fbcon_init(&fb), FBCON_DRAWING);
    write_str("0123456789abc\n");
    assert_string_equal(screen_row(0), "0123456789");
    assert_string_equal(screen_row(1), "abc");
    /* A line of exactly the width then '\n': no empty row between. */
    write_str("ABCDEFGHIJ\nk");
    assert_string_equal(screen_row(2), "ABCDEFGHIJ");
    assert_string_equal(screen_row(3), "k");

    make_fb(80, 64, 320, 32);
    assert_int_equal(fbcon_init(&fb), FBCON_DRAWING);
    write_str("a\tb\n");      /* tab: to the next multiple of 8 */
    write_str("xyz\rQ\n");    /* carriage return: back to column 0 */
    write_str("\x01\x7f\xe9!\n"); /* no glyph: '?' */
    assert_string_equal(screen_row(0), "a       b");
    assert_string_equal(screen_row(1), "Qyz");
    assert_string_equal(screen_row(2), "?" "?" "?!"); /* (no trigraph) */
}

/* The screen scrolls by a quarter of its rows when a line goes past the
 * bottom; what stays is what was written, moved up. */
static void test_scroll(void **state)
{
    (void)state;
    make_fb(160, 16 * 8, 640, 32); /* 20 x 8: scrolls by 2 */
    assert_int_equal(fbcon_init(&fb), FBCON_DRAWING);
    char line[32];
    for (unsigned i = 0; i < 8; i++) {
        snprintf(line, sizeof(line), "%sline %u\n", i % 2 ? "" : "a longer ", i);
        write_str(line);
    }
    /* Eight lines and the cursor on a ninth: one scroll by 2. */
    assert_string_equal(screen_row(0), "a longer line 2");
    assert_string_equal(screen_row(1), "line 3");
    assert_string_equal(screen_row(5), "line 7");
    assert_string_equal(screen_row(6), "");
    assert_string_equal(screen_row(7), "");
    write_str("end");
    assert_string_equal(screen_row(6), "end");
    /* Many more: the last ones are at the bottom, nothing else left over. */
    for (unsigned i = 8; i < 100; i++) {
        snprintf(line, sizeof(line), "%sline %u\n", i % 3 ? "" : "a longer ", i);
        write_str(line);
    }
    struct fbcon_geometry g;
    fbcon_geometry(&g);
    unsigned last = 0;
    for (unsigned r = 0; r < g.rows; r++)
        if (screen_row(r)[0])
            last = r;
    snprintf(line, sizeof(line), "a longer line 99");
    assert_string_equal(screen_row(last), line);
    for (unsigned r = 0; r < last; r++) {
        unsigned n = 99 - last + r;
        snprintf(line, sizeof(line), "%sline %u", n % 3 ? "" : "a longer ", n);
        assert_string_equal(screen_row(r), line);
    }
    /* The grid in RAM agrees with the pixels, and the margins are black. */
    for (unsigned r = 0; r < g.rows; r++)
        for (unsigned c = 0; c < g.cols; c++)
            assert_int_equal(fbcon_cell(r, c), decode_cell(r, c, 1));
}

/* L1 owns the screen between release and reclaim: nothing is drawn. After
 * the reclaim L0's final lines start at the top, each over a cleared row
 * with a cleared row below, and the rest of L1's picture stays. */
static void test_release_and_reclaim(void **state)
{
    (void)state;
    make_fb(160, 16 * 8, 640, 32); /* 20 x 8 */
    assert_int_equal(fbcon_init(&fb), FBCON_DRAWING);
    fbcon_reclaim(); /* not released: no effect */
    write_str("boot log 1\nboot log 2\n");
    assert_string_equal(screen_row(1), "boot log 2");
    fbcon_release();
    struct fbcon_geometry g;
    fbcon_geometry(&g);
    assert_false(g.drawing);
    assert_non_null(fbcon_framebuffer()); /* L1 still gets it */
    /* "L1" paints the whole screen; L0 logs meanwhile (serial only). */
    size_t size = (size_t)fb.pitch * fb.height;
    memset(phys_to_virt(FB_PA), L1_PAINT, size);
    write_str("while L1 runs\n");
    fbcon_release(); /* twice: no effect */
    for (size_t i = 0; i < size; i++)
        if (((uint8_t *)phys_to_virt(FB_PA))[i] != L1_PAINT)
            fail_msg("byte %zu drawn while L1 owns the screen", i);

    fbcon_reclaim();
    fbcon_geometry(&g);
    assert_true(g.drawing);
    write_str("L1 stopped\n");
    assert_string_equal(screen_row(0), "L1 stopped");
    assert_string_equal(screen_row(1), "");
    assert_string_equal(screen_row(2), ""); /* the cleared row below */
    assert_int_equal(decode_cell(3, 0, 1), NOT_A_GLYPH); /* L1's pixels */
    assert_int_equal(fbcon_cell(3, 0), UNKNOWN);
    for (unsigned y = 3 * FBCON_CELL_H; y < fb.height; y++)
        assert_int_equal(*pixel(0, y), L1_PAINT);
    write_str("stats\n");
    assert_string_equal(screen_row(1), "stats");
    assert_string_equal(screen_row(3), "");
    assert_int_equal(*pixel(0, 4 * FBCON_CELL_H), L1_PAINT);
    /* More lines than the screen: it scrolls and is all L0's again. */
    for (unsigned i = 0; i < 12; i++)
        write_str("final line\n");
    for (unsigned r = 0; r < g.rows; r++)
        for (unsigned c = 0; c < g.cols; c++)
            assert_int_equal(fbcon_cell(r, c), decode_cell(r, c, 1));
    assert_string_equal(screen_row(0), "final line");
}

/* L1 moved the display controller's BAR (as Linux does with a BAR the
 * firmware put outside the host bridge's window): the final lines go to
 * the framebuffer's new place, nothing to the old address. */
static void test_reclaim_follows_the_bar(void **state)
{
    (void)state;
    make_fb(160, 16 * 8, 640, 32);
    assert_int_equal(fbcon_init(&fb), FBCON_DRAWING);
    assert_false(pci_written);
    assert_true(pci_reads <= 256 * 32 + 64); /* one read per absent device */
    write_str("boot\n");
    fbcon_release();
    size_t size = (size_t)fb.pitch * fb.height;
    display->cfg[4] = (uint32_t)FB2_PA | BAR_PREF64;
    memset(phys_to_virt(FB_PA), DIRTY, size);      /* now someone else's */
    memset(phys_to_virt(FB2_PA), L1_PAINT, size);  /* L1's picture */
    fbcon_reclaim();
    write_str("L1 stopped\n");
    const char *said = "moved the framebuffer from 0x1000000 to 0x3000000";
    assert_non_null(strstr(fake_console_output(), said));
    for (size_t i = 0; i < size; i++)
        if (((uint8_t *)phys_to_virt(FB_PA))[i] != DIRTY)
            fail_msg("byte %zu of the old place written", i);
    fb.base = FB2_PA; /* read the screen where it is now */
    assert_string_equal(screen_row(0), "L1 stopped");
    assert_int_equal(*pixel(0, 3 * FBCON_CELL_H), L1_PAINT);
    assert_false(pci_written);
}

/* L1 turned the controller's memory decoding off, the device is gone, or
 * its BAR went above what L0 maps: nothing is drawn, and the serial log
 * says so. */
static void test_reclaim_without_framebuffer(void **state)
{
    (void)state;
    for (unsigned how = 0; how < 3; how++) {
        setup(0);
        make_fb(160, 16 * 8, 640, 32);
        assert_int_equal(fbcon_init(&fb), FBCON_DRAWING);
        fbcon_release();
        if (how == 0)
            display->cfg[1] &= ~PCI_CMD_MEM;
        else if (how == 1)
            display->cfg[0] = 0xffffffffU;
        else
            display->cfg[5] = 0x10; /* 64 GiB */
        size_t size = (size_t)fb.pitch * fb.height;
        memset(phys_to_virt(FB_PA), L1_PAINT, size);
        fbcon_reclaim();
        write_str("L1 stopped\n");
        for (size_t i = 0; i < size; i++)
            if (((uint8_t *)phys_to_virt(FB_PA))[i] != L1_PAINT)
                fail_msg("case %u: byte %zu written", how, i);
        struct fbcon_geometry g;
        fbcon_geometry(&g);
        assert_false(g.drawing);
        const char *said = "the last lines are on the serial port only";
        assert_non_null(strstr(fake_console_output(), said));
    }
}

/* No display controller's BAR holds the framebuffer: nothing to check,
 * the final lines go to the firmware's address. Either the BAR it lies in
 * is another class of device's, or no BAR holds it (the closest below is
 * then the network controller's). */
static void test_reclaim_without_pci_device(void **state)
{
    (void)state;
    for (unsigned how = 0; how < 2; how++) {
        setup(0);
        if (how == 0) {
            display->cfg[2] = 0x040000 << 8; /* a multimedia device */
        } else {
            display->cfg[4] = 0;
            display->cfg[5] = 0;
        }
        make_fb(160, 16 * 8, 640, 32);
        assert_int_equal(fbcon_init(&fb), FBCON_DRAWING);
        fbcon_release();
        display->cfg[1] = 0; /* would stop the reclaim, had it been found */
        fbcon_reclaim();
        write_str("L1 stopped\n");
        assert_string_equal(screen_row(0), "L1 stopped");
    }
}

int main(void)
{
#define T(f) cmocka_unit_test_setup(f, setup)
    const struct CMUnitTest tests[] = {
        T(test_font),
        T(test_describe),
        T(test_init_clears_and_sizes),
        T(test_init_refusals),
        T(test_glyph_pixels),
        T(test_text_and_pitch),
        T(test_wrap_and_controls),
        T(test_scroll),
        T(test_release_and_reclaim),
        T(test_reclaim_follows_the_bar),
        T(test_reclaim_without_framebuffer),
        T(test_reclaim_without_pci_device),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
