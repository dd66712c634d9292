/* The kernel console: every log line goes to each enabled sink (the 16550
 * UART and the port-0xE9 debug console). */
#ifndef DRIVERS_CONSOLE_H
#define DRIVERS_CONSOLE_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

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

#endif
