/* Reads the text nestvisor's screen console (drivers/fbcon.c) drew back out
 * of a screenshot: QEMU's screendump, a binary PPM (P6, maxval 255).
 *
 * usage: screentext SHOT.ppm OUT.txt
 *
 * The screen is cut into the console's cells (8x16 pixels times the scale
 * fbcon picks for that size, from the top-left corner); every cell must be
 * exactly one glyph of the console's own font (drivers/fbcon_font.c, each
 * row doubled) in white on black, or blank. OUT.txt gets one line per text
 * row, trailing blanks and trailing empty rows dropped; a cell that is no
 * glyph is written as '\x7f' and counted. Prints
 *     cols=C rows=R scale=S unknown=U
 * and exits 0 if the image could be read (whatever U is), 1 if not. Built by
 * tests/integration/qemu-uefi.sh for its `screen` case. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "drivers/fbcon.h"

#define UNKNOWN_CELL 0x7f
#define MAX_SCALE    16

static unsigned width, height;
static uint8_t *lit; /* per pixel: 1 pure white, 0 pure black, 2 anything else */

static int read_header_number(FILE *f, unsigned *v)
{
    int c;
    do {
        c = fgetc(f);
        if (c == '#')
            while (c != '\n' && c != EOF)
                c = fgetc(f);
    } while (c == ' ' || c == '\t' || c == '\n' || c == '\r');
    if (c < '0' || c > '9')
        return -1;
    *v = 0;
    while (c >= '0' && c <= '9') {
        *v = *v * 10 + (unsigned)(c - '0');
        if (*v > 100000)
            return -1;
        c = fgetc(f);
    }
    return 0; /* the one whitespace byte after the number is consumed */
}

static int read_ppm(const char *path)
{
    FILE *f = fopen(path, "rb");
    unsigned maxval;
    if (!f || fgetc(f) != 'P' || fgetc(f) != '6' || read_header_number(f, &width) ||
        read_header_number(f, &height) || read_header_number(f, &maxval) || maxval != 255 ||
        !width || !height) {
        fprintf(stderr, "screentext: %s: not a binary PPM with maxval 255\n", path);
        return -1;
    }
    size_t n = (size_t)width * height;
    uint8_t *rgb = malloc(n * 3);
    lit = malloc(n);
    if (!rgb || !lit || fread(rgb, 3, n, f) != n) {
        fprintf(stderr, "screentext: %s: short pixel data\n", path);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned sum = rgb[3 * i] + rgb[3 * i + 1] + rgb[3 * i + 2];
        lit[i] = sum == 3 * 255 ? 1 : sum == 0 ? 0 : 2;
    }
    free(rgb);
    fclose(f);
    return 0;
}

/* fbcon's rule (fbcon_init): the smallest scale whose grid fits. */
static unsigned pick_scale(void)
{
    unsigned s = 1;
    while (s < MAX_SCALE && (width / (FBCON_CELL_W * s) > FBCON_MAX_COLS ||
                             height / (FBCON_CELL_H * s) > FBCON_MAX_ROWS))
        s++;
    return s;
}

/* The 8x8 bits of the cell at (row, col) if every pixel is pure white or
 * black and each glyph pixel is a uniform (scale) x (2*scale) block; else -1. */
static int cell_bits(unsigned row, unsigned col, unsigned s, uint8_t bits[FBCON_GLYPH_H])
{
    unsigned x0 = col * FBCON_CELL_W * s, y0 = row * FBCON_CELL_H * s;
    for (unsigned gy = 0; gy < FBCON_GLYPH_H; gy++) {
        bits[gy] = 0;
        for (unsigned gx = 0; gx < FBCON_GLYPH_W; gx++) {
            unsigned x = x0 + gx * s, y = y0 + gy * 2 * s;
            uint8_t v = lit[(size_t)y * width + x];
            if (v > 1)
                return -1;
            for (unsigned dy = 0; dy < 2 * s; dy++)
                for (unsigned dx = 0; dx < s; dx++)
                    if (lit[(size_t)(y + dy) * width + x + dx] != v)
                        return -1;
            bits[gy] |= (uint8_t)(v << (7 - gx));
        }
    }
    return 0;
}

static int decode(const uint8_t bits[FBCON_GLYPH_H])
{
    for (unsigned c = FBCON_FIRST_GLYPH; c <= FBCON_LAST_GLYPH; c++)
        if (!memcmp(fbcon_font[c - FBCON_FIRST_GLYPH], bits, FBCON_GLYPH_H))
            return (int)c;
    return UNKNOWN_CELL;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: screentext SHOT.ppm OUT.txt\n");
        return 1;
    }
    if (read_ppm(argv[1]))
        return 1;
    unsigned s = pick_scale();
    unsigned cols = width / (FBCON_CELL_W * s), rows = height / (FBCON_CELL_H * s), unknown = 0;
    char *text = malloc((size_t)rows * (cols + 1));
    unsigned used_rows = 0;
    for (unsigned r = 0; r < rows; r++) {
        char *line = text + (size_t)r * (cols + 1);
        unsigned len = 0;
        for (unsigned c = 0; c < cols; c++) {
            uint8_t bits[FBCON_GLYPH_H];
            int ch = cell_bits(r, c, s, bits) ? UNKNOWN_CELL : decode(bits);
            unknown += ch == UNKNOWN_CELL;
            line[c] = (char)ch;
            if (ch != ' ')
                len = c + 1;
        }
        line[len] = 0;
        if (len)
            used_rows = r + 1;
    }
    /* Pixels outside the grid (right and bottom margins) must be black. */
    for (unsigned y = 0; y < height; y++)
        for (unsigned x = 0; x < width; x++)
            if ((x >= cols * FBCON_CELL_W * s || y >= rows * FBCON_CELL_H * s) &&
                lit[(size_t)y * width + x])
                unknown++;
    FILE *out = fopen(argv[2], "w");
    if (!out) {
        perror(argv[2]);
        return 1;
    }
    for (unsigned r = 0; r < used_rows; r++)
        fprintf(out, "%s\n", text + (size_t)r * (cols + 1));
    fclose(out);
    printf("cols=%u rows=%u scale=%u unknown=%u\n", cols, rows, s, unknown);
    return 0;
}
