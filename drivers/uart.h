/* 16550-compatible UART, polled. */
#ifndef DRIVERS_UART_H
#define DRIVERS_UART_H

#include <stdint.h>
#include <stdbool.h>

#define UART_COM1 0x3f8
#define UART_DEFAULT_BAUD 115200
#define UART_PORT_COUNT 8

bool uart_init(uint16_t port, uint32_t baud);
void uart_putc(uint16_t port, char c);
void uart_flush(uint16_t port);

#endif
