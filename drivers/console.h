/* The kernel console: every log line goes to each enabled sink (the 16550
 * UART, the port-0xE9 debug console and the screen, drivers/fbcon.h). */
#ifndef DRIVERS_CONSOLE_H
#define DRIVERS_CONSOLE_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include "boot/handoff.h"

struct console_config {
    uint16_t uart_port; /* 0: no UART */
    uint32_t uart_baud;
    bool e9;
};

void console_init(const struct console_config *cfg);
void console_write(const char *s, size_t n);
/* Waits until every byte has left the UART (LSR.TEMT); call before power-off. */
void console_flush(void);
uint16_t console_uart_port(void);
/* Adds the screen: the loader's framebuffer (hand-off fb; base 0: none)
 * becomes a text console (drivers/fbcon.c) and the log says what came of it.
 * Called once, right after console_init. */
void console_set_framebuffer(const struct handoff_framebuffer *fb);

#endif
