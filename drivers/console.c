#include "drivers/console.h"
#include "drivers/uart.h"
#include "drivers/fbcon.h"
#include "arch/x86/cpu.h"
#include "lib/log.h"

#define E9_PORT 0xe9

static struct console_config active = {UART_COM1, UART_DEFAULT_BAUD, true};
static bool uart_ready;

void console_init(const struct console_config *cfg)
{
    active = *cfg;
    uart_ready = active.uart_port && uart_init(active.uart_port, active.uart_baud);
}

uint16_t console_uart_port(void) { return uart_ready ? active.uart_port : 0; }

void console_write(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (uart_ready) {
            if (s[i] == '\n')
                uart_putc(active.uart_port, '\r');
            uart_putc(active.uart_port, s[i]);
        }
        if (active.e9)
            outb(E9_PORT, (uint8_t)s[i]);
    }
    fbcon_write(s, n);
}

void console_set_framebuffer(const struct handoff_framebuffer *fb)
{
    static const char *const outcome[] = {
        [FBCON_REFUSED] = "not a 24/32-bpp linear framebuffer: not used",
        [FBCON_UNMAPPED] = "outside nestvisor's page tables: not drawn, L1 gets it",
        [FBCON_TOO_SMALL] = "smaller than one character: not drawn, L1 gets it",
    };
    enum fbcon_status st = fbcon_init(fb);
    if (st == FBCON_NONE)
        return;
    struct fbcon_geometry g;
    fbcon_geometry(&g);
    if (st == FBCON_DRAWING)
        log_info("screen: %ux%u, %u bpp, pitch %u at 0x%llx: %ux%u characters\n", fb->width,
                 fb->height, fb->bpp, fb->pitch, (unsigned long long)fb->base, g.cols, g.rows);
    else
        log_info("screen: %ux%u, %u bpp, pitch %u at 0x%llx: %s\n", fb->width, fb->height, fb->bpp,
                 fb->pitch, (unsigned long long)fb->base, outcome[st]);
}

void console_flush(void)
{
    if (uart_ready)
        uart_flush(active.uart_port);
}
