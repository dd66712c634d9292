/* Console: a line buffer flushed through NV_HC_CONSOLE_WRITE (nestvisor
 * present) or written to COM1 with port I/O (bare metal, GRUB-direct). */
#include "guest.h"

#define LINE_MAX 512

static char line[LINE_MAX];
static size_t line_len;

void com1_init(void)
{
    outb(COM1_PORT + 1, 0x00); /* no UART interrupts */
    outb(COM1_PORT + 3, 0x80); /* DLAB */
    outb(COM1_PORT + 0, 0x01); /* divisor 1: 115200 baud */
    outb(COM1_PORT + 1, 0x00);
    outb(COM1_PORT + 3, 0x03); /* 8N1 */
    outb(COM1_PORT + 2, 0x07); /* FIFOs on and cleared */
    outb(COM1_PORT + 4, 0x03); /* DTR, RTS */
}

static void com1_putc(char c)
{
    /* Bounded wait for THRE: a missing UART must not hang the guest. */
    for (unsigned i = 0; i < 1000000 && !(inb(COM1_PORT + 5) & 0x20); i++)
        pause();
    outb(COM1_PORT, (uint8_t)c);
}

void com1_write(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\n')
            com1_putc('\r');
        com1_putc(s[i]);
    }
}

void com1_drain(void)
{
    for (unsigned i = 0; i < 1000000 && !(inb(COM1_PORT + 5) & 0x40); i++)
        pause();
}

void console_flush(void)
{
    if (!line_len)
        return;
    if (nv_present) {
        uint64_t rbx = (uintptr_t)line, rcx = line_len;
        if (nv_hypercall(NV_HC_CONSOLE_WRITE, &rbx, &rcx, 0) != NV_OK)
            com1_write(line, line_len); /* last resort: never lose output */
    } else {
        com1_write(line, line_len);
    }
    line_len = 0;
}

/* Ends a partly written line, so that the next output starts a new one. */
void console_break(void)
{
    if (line_len) {
        line[line_len++] = '\n';
        console_flush();
    }
}

int putchar(int c)
{
    line[line_len++] = (char)c;
    if (c == '\n' || line_len == LINE_MAX)
        console_flush();
    return (unsigned char)c;
}

int puts(const char *s)
{
    while (*s)
        putchar(*s++);
    putchar('\n');
    return 0;
}

int vprintf(const char *fmt, va_list ap)
{
    char buf[LINE_MAX];
    va_list copy;
    va_copy(copy, ap);
    int n = vsnprintf(buf, sizeof buf, fmt, copy);
    va_end(copy);
    for (int i = 0; buf[i]; i++)
        putchar(buf[i]);
    return n;
}

int printf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vprintf(fmt, ap);
    va_end(ap);
    return n;
}
