#include "drivers/uart.h"
#include "arch/x86/cpu.h"

/* Register offsets and bits (PC16550D data sheet). */
#define UART_THR 0
#define UART_DLL 0
#define UART_IER 1
#define UART_DLM 1
#define UART_FCR 2
#define UART_LCR 3
#define UART_MCR 4
#define UART_LSR 5
#define UART_SCR 7

#define LCR_8N1   0x03
#define LCR_DLAB  0x80
#define FCR_ENABLE_CLEAR 0x07
#define MCR_DTR_RTS_OUT2 0x0b
#define LSR_THRE  0x20
#define LSR_TEMT  0x40
#define UART_CLOCK_DIVISOR_BASE 115200
#define UART_SPIN_LIMIT 1000000

bool uart_init(uint16_t port, uint32_t baud)
{
    /* A UART answers the scratch register; nothing on the bus reads 0xff. */
    outb(port + UART_SCR, 0x5a);
    if (inb(port + UART_SCR) != 0x5a)
        return false;
    uint32_t divisor = baud ? UART_CLOCK_DIVISOR_BASE / baud : 1;
    if (!divisor)
        divisor = 1;
    outb(port + UART_IER, 0);
    outb(port + UART_LCR, LCR_DLAB);
    outb(port + UART_DLL, (uint8_t)divisor);
    outb(port + UART_DLM, (uint8_t)(divisor >> 8));
    outb(port + UART_LCR, LCR_8N1);
    outb(port + UART_FCR, FCR_ENABLE_CLEAR);
    outb(port + UART_MCR, MCR_DTR_RTS_OUT2);
    return true;
}

void uart_putc(uint16_t port, char c)
{
    for (unsigned i = 0; i < UART_SPIN_LIMIT && !(inb(port + UART_LSR) & LSR_THRE); i++)
        cpu_relax();
    outb(port + UART_THR, (uint8_t)c);
}

void uart_flush(uint16_t port)
{
    for (unsigned i = 0; i < UART_SPIN_LIMIT && !(inb(port + UART_LSR) & LSR_TEMT); i++)
        cpu_relax();
}
