/* The screen console (drivers/fbcon.h): a grid of character cells on the
 * linear framebuffer, white on black.
 *
 * Cost: the log is a few hundred lines and never on the VM-exit path, but
 * in Bochs every instruction counts and on real hardware framebuffer
 * memory is uncached or write-combined (reads are very slow). So the
 * console never reads the framebuffer: it keeps the grid's characters in
 * RAM and draws a cell only when its character changes. A glyph row is
 * expanded once (a table lookup at 32 bpp) and stored 2*scale times with
 * 8-byte stores: about 150 instructions a character. When the
 * screen is full it scrolls by a quarter of its height at once, so that a
 * whole-screen redraw (of the cells that change) comes once per quarter
 * screen of text rather than once per line. */
#include "drivers/fbcon.h"
#include "arch/x86/cpu.h"
#include "arch/x86/physmem.h"
#include "lib/log.h"
#ifndef UNIT_TEST
#include "arch/x86/paging.h"
#endif

#define BOOT_MAPPED_END (1ULL << 32)    /* the boot page tables' identity map (entry64.asm) */
#define MAX_SCALE       16              /* 32767 / (8 * 16) < FBCON_MAX_COLS */
#define MAX_BYTES_PP    4
#define LINE_BYTES_MAX  (FBCON_CELL_W * MAX_SCALE * MAX_BYTES_PP)
#define SCROLL_PART     4               /* scroll by rows / 4 */
#define TAB_WIDTH       8
#define BLANK           ' '
#define PLACEHOLDER     '?'             /* for bytes the font has no glyph for */
#define UNKNOWN         0xff            /* a cell showing L1's pixels, not ours */
#define ALL_ONES_BYTE   0xff            /* white in any direct-colour layout */

/* PCI configuration mechanism #1 (PCI Local Bus 3.0, 3.2.2.3.2) and the
 * type-0 header (6.1, 6.2.5.1). */
#define PCI_CONFIG_ADDRESS 0xcf8
#define PCI_CONFIG_DATA    0xcfc
#define PCI_ENABLE         0x80000000U
#define PCI_BUSES          256
#define PCI_DEVICES        32
#define PCI_FUNCTIONS      8
#define PCI_ID             0x00 /* vendor in the low 16 bits */
#define PCI_NO_VENDOR      0xffff
#define PCI_COMMAND        0x04
#define PCI_COMMAND_MEMORY 0x2
#define PCI_CLASS          0x08 /* base class in bits 31:24 */
#define PCI_CLASS_DISPLAY  0x03
#define PCI_HEADER         0x0c /* header type in bits 23:16 */
#define PCI_HEADER_TYPE(v) (((v) >> 16) & 0x7f)
#define PCI_MULTIFUNCTION  (0x80U << 16)
#define PCI_BAR0           0x10
#define PCI_BAR_END        0x28
#define PCI_BAR_IO         0x1
#define PCI_BAR_64         0x4  /* type bits 2:1 = 10b */
#define PCI_BAR_TYPE_MASK  0x6
#define PCI_BAR_ADDR_MASK  (~0xfULL)

/* An 8-byte store to the framebuffer at any alignment. */
typedef uint64_t __attribute__((aligned(1), may_alias)) fb_word;

/* The usual case, 32 bpp at scale 1: four pixels of a glyph row (a nibble,
 * leftmost pixel its high bit) as two 8-byte words, lower address first. */
#define PX(on)         ((on) ? 0xffffffffULL : 0)
#define NIBBLE(n)      {PX((n) & 8) | PX((n) & 4) << 32, PX((n) & 2) | PX((n) & 1) << 32}
static const uint64_t nibble_pixels[16][2] = {
    NIBBLE(0),  NIBBLE(1),  NIBBLE(2),  NIBBLE(3),  NIBBLE(4),  NIBBLE(5),  NIBBLE(6),  NIBBLE(7),
    NIBBLE(8),  NIBBLE(9),  NIBBLE(10), NIBBLE(11), NIBBLE(12), NIBBLE(13), NIBBLE(14), NIBBLE(15),
};

/* One cell-wide row of pixels, built once and stored 2*scale times. */
union pixel_line {
    uint64_t w[LINE_BYTES_MAX / 8];
    uint32_t px32[LINE_BYTES_MAX / 4];
    uint8_t b[LINE_BYTES_MAX];
};

static struct {
    struct handoff_framebuffer fb; /* as the loader gave it */
    bool valid;                    /* fb_describe accepted fb: L1 gets it */
    bool drawing;                  /* L0 draws now */
    bool released;                 /* L1 owns the screen */
    uint8_t *pixels;
    unsigned bytes_pp, scale, cols, rows, jump;
    unsigned row, col;             /* the cursor */
    unsigned line_bytes;           /* one cell's pixel row, a multiple of 8 */
    uint64_t cell_stride;          /* bytes from one text row to the next */
    /* What each cell shows (UNKNOWN: L1's pixels). */
    unsigned char text[FBCON_MAX_ROWS][FBCON_MAX_COLS];
    /* The display device's memory BAR the framebuffer lies in (found at
     * init), so that a reclaim draws where the framebuffer is then. */
    struct {
        bool found;
        uint8_t bus, dev, fn, reg;
        uint32_t id;     /* vendor and device */
        uint64_t offset; /* of the framebuffer in the BAR */
    } bar;
} con;

const uint8_t *fbcon_glyph(unsigned char c)
{
    if (c < FBCON_FIRST_GLYPH || c > FBCON_LAST_GLYPH)
        c = PLACEHOLDER;
    return fbcon_font[c - FBCON_FIRST_GLYPH];
}

/* Whether L0's page tables reach [0, end): the boot tables map the first
 * 4 GiB, paging_init at least as much. */
static bool mapped(uint64_t end)
{
#ifdef UNIT_TEST
    return end <= BOOT_MAPPED_END;
#else
    return end <= BOOT_MAPPED_END || end <= paging_identity_end();
#endif
}

/* ---- where the framebuffer lives on PCI ---- */

static uint32_t pci_read(unsigned bus, unsigned dev, unsigned fn, unsigned reg)
{
    outl(PCI_CONFIG_ADDRESS, PCI_ENABLE | bus << 16 | dev << 11 | fn << 8 | reg);
    return inl(PCI_CONFIG_DATA);
}

/* A memory BAR's address (0: an I/O or unset BAR); *reg moves past the
 * upper half of a 64-bit one. */
static uint64_t bar_address(unsigned bus, unsigned dev, unsigned fn, unsigned *reg)
{
    uint32_t lo = pci_read(bus, dev, fn, *reg);
    if (lo & PCI_BAR_IO)
        return 0;
    uint64_t a = lo & PCI_BAR_ADDR_MASK;
    if ((lo & PCI_BAR_TYPE_MASK) == PCI_BAR_64 && *reg + 4 < PCI_BAR_END) {
        *reg += 4;
        a |= (uint64_t)pci_read(bus, dev, fn, *reg) << 32;
    }
    return a;
}

/* The BAR that holds the framebuffer: of every memory BAR of every type-0
 * function, the one with the highest address at or below the framebuffer
 * (BARs do not overlap, so that is the one it lies in, without sizing a
 * BAR under the firmware's feet), provided it belongs to a display
 * controller. 8,192 configuration reads for an empty machine. */
static void find_bar(void)
{
    uint64_t best = 0;
    con.bar.found = false;
    for (unsigned bus = 0; bus < PCI_BUSES; bus++) {
        for (unsigned dev = 0; dev < PCI_DEVICES; dev++) {
            if ((pci_read(bus, dev, 0, PCI_ID) & 0xffff) == PCI_NO_VENDOR)
                continue;
            bool multi = pci_read(bus, dev, 0, PCI_HEADER) & PCI_MULTIFUNCTION;
            unsigned fns = multi ? PCI_FUNCTIONS : 1;
            for (unsigned fn = 0; fn < fns; fn++) {
                uint32_t id = pci_read(bus, dev, fn, PCI_ID);
                if ((id & 0xffff) == PCI_NO_VENDOR ||
                    PCI_HEADER_TYPE(pci_read(bus, dev, fn, PCI_HEADER)))
                    continue;
                for (unsigned reg = PCI_BAR0; reg < PCI_BAR_END; reg += 4) {
                    unsigned at = reg;
                    uint64_t a = bar_address(bus, dev, fn, &reg);
                    if (!a || a > con.fb.base || a < best)
                        continue;
                    best = a;
                    uint32_t class = pci_read(bus, dev, fn, PCI_CLASS) >> 24;
                    con.bar.found = class == PCI_CLASS_DISPLAY;
                    con.bar.bus = (uint8_t)bus, con.bar.dev = (uint8_t)dev;
                    con.bar.fn = (uint8_t)fn, con.bar.reg = (uint8_t)at;
                    con.bar.id = id;
                    con.bar.offset = con.fb.base - a;
                }
            }
        }
    }
}

/* Where the framebuffer is now that L1 is gone: the same device, memory
 * decoding on, its BAR wherever L1 left it. 0 if none of that holds; the
 * firmware's address if no BAR was found at init (nothing to check). */
static uint64_t framebuffer_now(void)
{
    if (!con.bar.found)
        return con.fb.base;
    unsigned b = con.bar.bus, d = con.bar.dev, f = con.bar.fn, reg = con.bar.reg;
    if (pci_read(b, d, f, PCI_ID) != con.bar.id ||
        !(pci_read(b, d, f, PCI_COMMAND) & PCI_COMMAND_MEMORY))
        return 0;
    uint64_t a = bar_address(b, d, f, &reg);
    return a ? a + con.bar.offset : 0;
}

/* ---- drawing ---- */

/* One cell-wide pixel row of a glyph row (8 bits, leftmost the MSB). */
static void expand(uint8_t bits, union pixel_line *line)
{
    unsigned s = con.scale, n = 0;
    if (con.bytes_pp == 4) {
        for (unsigned b = 0; b < FBCON_GLYPH_W; b++) {
            uint32_t v = (bits << b) & 0x80 ? 0xffffffffU : 0;
            for (unsigned i = 0; i < s; i++)
                line->px32[n++] = v;
        }
        return;
    }
    for (unsigned b = 0; b < FBCON_GLYPH_W; b++) {
        uint8_t v = (bits << b) & 0x80 ? ALL_ONES_BYTE : 0;
        for (unsigned i = 0; i < s * con.bytes_pp; i++)
            line->b[n++] = v;
    }
}

static void draw_cell(unsigned row, unsigned col, unsigned char c)
{
    const uint8_t *g = fbcon_glyph(c);
    union pixel_line line;
    uint8_t *dst = con.pixels + row * con.cell_stride + (uint64_t)col * con.line_bytes;
    unsigned words = con.line_bytes / 8, repeat = 2 * con.scale;
    if (con.bytes_pp == 4 && con.scale == 1) {
        uint64_t pitch = con.fb.pitch;
        for (unsigned gy = 0; gy < FBCON_GLYPH_H; gy++, dst += 2 * pitch) {
            const uint64_t *l = nibble_pixels[g[gy] >> 4], *r = nibble_pixels[g[gy] & 15];
            uint64_t w0 = l[0], w1 = l[1], w2 = r[0], w3 = r[1];
            fb_word *a = (fb_word *)dst, *b = (fb_word *)(dst + pitch);
            a[0] = w0, a[1] = w1, a[2] = w2, a[3] = w3;
            b[0] = w0, b[1] = w1, b[2] = w2, b[3] = w3;
        }
        return;
    }
    for (unsigned gy = 0; gy < FBCON_GLYPH_H; gy++) {
        expand(g[gy], &line);
        for (unsigned r = 0; r < repeat; r++, dst += con.fb.pitch)
            for (unsigned w = 0; w < words; w++)
                ((fb_word *)dst)[w] = line.w[w];
    }
}

static void set_cell(unsigned row, unsigned col, unsigned char c)
{
    if (con.text[row][col] != c) {
        draw_cell(row, col, c);
        con.text[row][col] = c;
    }
}

static void clear_row(unsigned row)
{
    for (unsigned col = 0; col < con.cols; col++)
        set_cell(row, col, BLANK);
}

/* REP STOS: one instruction for the whole range (megabytes of pixels). */
static void fill_words(void *dst, uint64_t value, uint64_t words)
{
    __asm__ volatile("rep stosq" : "+D"(dst), "+c"(words) : "a"(value) : "memory");
}

static void fill_bytes(void *dst, uint8_t value, uint64_t n)
{
    __asm__ volatile("rep stosb" : "+D"(dst), "+c"(n) : "a"(value) : "memory");
}

static void clear_screen(void)
{
    uint64_t size = (uint64_t)con.fb.pitch * con.fb.height;
    fill_words(con.pixels, 0, size / 8);
    fill_bytes(con.pixels + size / 8 * 8, 0, size % 8);
    fill_bytes(con.text, BLANK, sizeof(con.text));
}

/* Moves every row up by n, the bottom n rows blank. Only cells whose
 * character changes are drawn; a cell that showed L1's pixels is always
 * drawn, and L1's pixels are not moved (they become blank). */
static void scroll(unsigned n)
{
    for (unsigned row = 0; row < con.rows; row++) {
        for (unsigned col = 0; col < con.cols; col++) {
            unsigned char c = row + n < con.rows ? con.text[row + n][col] : BLANK;
            set_cell(row, col, c == UNKNOWN ? BLANK : c);
        }
    }
}

static void newline(void)
{
    con.col = 0;
    if (con.row + 1 < con.rows) {
        con.row++;
    } else {
        scroll(con.jump);
        con.row = con.rows - con.jump;
    }
    /* A fresh row, and (after a reclaim) a blank one below it between our
     * lines and what L1 left; on our own screen both are blank already. */
    clear_row(con.row);
    if (con.row + 1 < con.rows)
        clear_row(con.row + 1);
}

static void put(unsigned char c)
{
    if (c < FBCON_FIRST_GLYPH || c > FBCON_LAST_GLYPH)
        c = PLACEHOLDER;
    if (con.col == con.cols)
        newline(); /* wrap: only when there is a character to put */
    set_cell(con.row, con.col++, c);
}

/* ---- the interface ---- */

enum fbcon_status fbcon_init(const struct handoff_framebuffer *fb)
{
    struct fb_layout layout;
    con.valid = con.drawing = con.released = false;
    con.cols = con.rows = 0;
    if (!fb || !fb->base)
        return FBCON_NONE;
    if (!fb_describe(fb, &layout))
        return FBCON_REFUSED;
    con.fb = *fb;
    con.valid = true;
    if (!mapped(fb->base + (uint64_t)fb->pitch * fb->height))
        return FBCON_UNMAPPED;
    con.pixels = phys_to_virt(fb->base);
    find_bar();
    con.bytes_pp = fb->bpp / 8;
    con.scale = 1;
    while (con.scale < MAX_SCALE && (fb->width / (FBCON_CELL_W * con.scale) > FBCON_MAX_COLS ||
                                     fb->height / (FBCON_CELL_H * con.scale) > FBCON_MAX_ROWS))
        con.scale++;
    con.cols = fb->width / (FBCON_CELL_W * con.scale);
    con.rows = fb->height / (FBCON_CELL_H * con.scale);
    if (!con.cols || !con.rows) {
        con.cols = con.rows = 0;
        return FBCON_TOO_SMALL;
    }
    con.jump = con.rows / SCROLL_PART ? con.rows / SCROLL_PART : 1;
    con.line_bytes = FBCON_CELL_W * con.scale * con.bytes_pp;
    con.cell_stride = (uint64_t)FBCON_CELL_H * con.scale * fb->pitch;
    con.row = con.col = 0;
    clear_screen();
    con.drawing = true;
    return FBCON_DRAWING;
}

void fbcon_write(const char *s, size_t n)
{
    if (!con.drawing)
        return;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '\n') {
            newline();
        } else if (c == '\r') {
            con.col = 0;
        } else if (c == '\t') {
            do
                put(BLANK);
            while (con.col % TAB_WIDTH && con.col < con.cols);
        } else {
            put((unsigned char)c);
        }
    }
}

void fbcon_release(void)
{
    if (!con.drawing)
        return;
    con.drawing = false;
    con.released = true;
}

void fbcon_reclaim(void)
{
    if (!con.released)
        return;
    con.released = false;
    uint64_t now = framebuffer_now(), size = (uint64_t)con.fb.pitch * con.fb.height;
    if (!now || !mapped(now + size)) {
        log_info("screen: L1 turned the framebuffer off or moved it out of reach: the last lines "
                 "are on the serial port only\n");
        return;
    }
    if (now != con.fb.base) {
        log_info("screen: L1 moved the framebuffer from 0x%llx to 0x%llx: drawing there\n",
                 (unsigned long long)con.fb.base, (unsigned long long)now);
        con.pixels = phys_to_virt(now);
    }
    fill_bytes(con.text, UNKNOWN, sizeof(con.text));
    con.row = con.col = 0;
    con.drawing = true;
    clear_row(0);
    if (con.rows > 1)
        clear_row(1);
}

const struct handoff_framebuffer *fbcon_framebuffer(void) { return con.valid ? &con.fb : 0; }

void fbcon_geometry(struct fbcon_geometry *g)
{
    *g = (struct fbcon_geometry){con.cols, con.rows, con.scale, con.drawing};
}

unsigned char fbcon_cell(unsigned row, unsigned col)
{
    return row < FBCON_MAX_ROWS && col < FBCON_MAX_COLS ? con.text[row][col] : UNKNOWN;
}
