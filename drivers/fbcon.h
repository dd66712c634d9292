/* The screen console: nestvisor's log drawn as white-on-black text on the
 * linear framebuffer the loader found (UEFI GOP, or a Multiboot2 RGB
 * framebuffer), beside the serial port.
 *
 * Who owns the screen: nestvisor (L0) from fbcon_init until L1 is entered
 * (fbcon_release); L1 from then on (a Linux L1 gets the same framebuffer
 * and draws its own console there); L0 again only for its last lines, once
 * L1 has stopped or nestvisor panics (fbcon_reclaim). docs/boot.md, "The
 * screen". */
#ifndef DRIVERS_FBCON_H
#define DRIVERS_FBCON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "boot/handoff.h"

#define FBCON_GLYPH_W     8   /* the font: 8x8 glyphs, each row drawn twice */
#define FBCON_GLYPH_H     8
#define FBCON_CELL_W      8   /* one character cell at scale 1 */
#define FBCON_CELL_H      16
#define FBCON_MAX_COLS    256 /* larger screens get a larger scale */
#define FBCON_MAX_ROWS    128
#define FBCON_FIRST_GLYPH 0x20
#define FBCON_LAST_GLYPH  0x7e

/* The font (drivers/fbcon_font.c): printable ASCII, 8 rows per glyph, the
 * most significant bit the leftmost pixel. */
extern const uint8_t fbcon_font[FBCON_LAST_GLYPH - FBCON_FIRST_GLYPH + 1][FBCON_GLYPH_H];

/* The glyph drawn for byte c (a placeholder for what the font lacks). */
const uint8_t *fbcon_glyph(unsigned char c);

/* Where the colour channels sit in a pixel, as Linux's screen_info and the
 * Multiboot2 framebuffer tag give them (bit positions from the least
 * significant bit of the little-endian pixel, and widths). */
struct fb_layout {
    uint8_t red_pos, red_size;
    uint8_t green_pos, green_size;
    uint8_t blue_pos, blue_size;
    uint8_t rsvd_pos, rsvd_size;
};

#define FB_MAX_DIM    32767        /* pixels, each way */
#define FB_MAX_PITCH  65535        /* Linux's screen_info.lfb_linelength is 16 bits */
#define FB_PHYS_LIMIT (1ULL << 52) /* MAXPHYADDR's architectural limit */

/* True if fb is a linear direct-colour framebuffer that nestvisor draws on
 * and hands to L1: 24 or 32 bits per pixel, a sane geometry (each at most
 * 32767 pixels, pitch at least a row of pixels and below 64 KiB, so the
 * size is below 2 GiB, within 52-bit physical addresses). The colour
 * layout is the loader's; where it gave none, the GOP's usual one:
 * x8r8g8b8 (32 bpp) or r8g8b8 (24 bpp), as GOP's
 * PixelBlueGreenRedReserved8BitPerColor and VBE direct-colour modes are.
 * GRUB's EGA text "framebuffer" (16 bpp) and palette modes are refused.
 * (Inline: the L1 loaders use it without the console.) */
static inline bool fb_describe(const struct handoff_framebuffer *fb, struct fb_layout *layout)
{
    if (!fb || !fb->base || (fb->bpp != 32 && fb->bpp != 24))
        return false;
    uint64_t bytes_pp = fb->bpp / 8;
    if (!fb->width || !fb->height || fb->width > FB_MAX_DIM || fb->height > FB_MAX_DIM)
        return false;
    if (fb->pitch < fb->width * bytes_pp || fb->pitch > FB_MAX_PITCH)
        return false;
    uint64_t size = (uint64_t)fb->pitch * fb->height;
    if (fb->base >= FB_PHYS_LIMIT || size > FB_PHYS_LIMIT - fb->base)
        return false;
    if (fb->red_size && fb->green_size && fb->blue_size) {
        *layout = (struct fb_layout){
            .red_pos = fb->red_pos, .red_size = fb->red_size,
            .green_pos = fb->green_pos, .green_size = fb->green_size,
            .blue_pos = fb->blue_pos, .blue_size = fb->blue_size,
            .rsvd_pos = fb->rsvd_pos, .rsvd_size = fb->rsvd_size,
        };
        return true;
    }
    *layout = (struct fb_layout){
        .red_pos = 16, .red_size = 8,
        .green_pos = 8, .green_size = 8,
        .blue_pos = 0, .blue_size = 8,
        .rsvd_pos = fb->bpp == 32 ? 24 : 0, .rsvd_size = fb->bpp == 32 ? 8 : 0,
    };
    return true;
}

enum fbcon_status {
    FBCON_NONE,      /* no framebuffer */
    FBCON_REFUSED,   /* fb_describe refused it: not drawn, not given to L1 */
    FBCON_UNMAPPED,  /* beyond L0's page tables: not drawn; L1 gets it */
    FBCON_TOO_SMALL, /* smaller than one character: not drawn; L1 gets it */
    FBCON_DRAWING,
};

/* Takes the loader's framebuffer (copied; 0 or base 0: none), clears it and
 * starts drawing. */
enum fbcon_status fbcon_init(const struct handoff_framebuffer *fb);
/* Draws text; '\n' starts a line, long lines wrap, the screen scrolls by a
 * quarter of its height when full. Nothing while L1 owns the screen. */
void fbcon_write(const char *s, size_t n);
/* L1 is about to be entered: from now on the screen is L1's. */
void fbcon_release(void);
/* L1 has stopped or nestvisor panics: L0 draws its final lines from the top
 * of the screen, each over a cleared row with a cleared row below it, and
 * leaves the rest of what L1 drew. No effect unless released before. If
 * L1 moved the display device's BAR (Linux reassigns BARs the firmware
 * placed outside the host bridge's window; amdgpu resizes its VRAM BAR),
 * the lines go where the framebuffer is now; if L1 turned its memory
 * decoding off or the device is gone, nothing is drawn (the serial log says
 * so): never into an address that may now be another device's. */
void fbcon_reclaim(void);
/* The framebuffer for L1's boot information, 0 if none fit (fb_describe). */
const struct handoff_framebuffer *fbcon_framebuffer(void);

/* What fbcon_init decided, for the boot log and the tests. */
struct fbcon_geometry {
    unsigned cols, rows, scale; /* text grid; each cell 8*scale x 16*scale pixels */
    bool drawing;               /* L0 draws (fbcon_init succeeded, not released) */
};
void fbcon_geometry(struct fbcon_geometry *g);
/* The character the grid holds at a cell ((unsigned char)-1: unknown, L1's). */
unsigned char fbcon_cell(unsigned row, unsigned col);

#endif
