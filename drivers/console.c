#include "drivers/console.h"
#include "drivers/uart.h"
#include "arch/x86/cpu.h"

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
}

void console_flush(void)
{
    if (uart_ready)
        uart_flush(active.uart_port);
}
