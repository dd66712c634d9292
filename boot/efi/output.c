/* The loader's messages; see output.h. */
#include <efi.h>
#include <efilib.h>
#include <stdarg.h>
#include "boot/efi/output.h"
#include "drivers/uart.h"
#include "lib/format.h"

#define LINE_MAX_CHARS 400

static uint16_t serial_port;
static BOOLEAN firmware_gone;

void out_init(void)
{
    out_set_serial(UART_COM1, UART_DEFAULT_BAUD);
}

BOOLEAN out_set_serial(uint16_t port, uint32_t baud)
{
    if (serial_port)
        uart_flush(serial_port);
    serial_port = 0;
    if (!port)
        return TRUE; /* off, as asked */
    if (!uart_init(port, baud))
        return FALSE;
    serial_port = port;
    return TRUE;
}

void out_firmware_gone(void)
{
    firmware_gone = TRUE;
}

static void serial_write(const char *s)
{
    if (!serial_port)
        return;
    for (; *s; s++) {
        if (*s == '\n')
            uart_putc(serial_port, '\r');
        uart_putc(serial_port, *s);
    }
    uart_flush(serial_port);
}

/* ConOut takes UCS-2 and wants CR LF (UEFI 2.10, 12.4 "Simple Text Output
 * Protocol"). */
static void conout_write(const char *s)
{
    CHAR16 wide[2 * LINE_MAX_CHARS + 1];
    UINTN n = 0;
    for (; *s && n + 2 < sizeof(wide) / sizeof(wide[0]); s++) {
        if (*s == '\n')
            wide[n++] = L'\r';
        wide[n++] = (CHAR16)(unsigned char)*s;
    }
    wide[n] = 0;
    if (!firmware_gone)
        uefi_call_wrapper(ST->ConOut->OutputString, 2, ST->ConOut, wide);
}

static void write_line(const char *kind, const char *fmt, va_list ap)
{
    char line[LINE_MAX_CHARS + 2]; /* + "\n" and NUL */
    int n = format(line, LINE_MAX_CHARS, "%s%s", LOADER_PREFIX, kind);
    n += format_v(line + n, LINE_MAX_CHARS - (size_t)n, fmt, ap);
    if (n >= LINE_MAX_CHARS) /* truncated */
        n = LINE_MAX_CHARS - 1;
    line[n] = '\n';
    line[n + 1] = 0;
    conout_write(line);
    serial_write(line);
}

void out_info(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    write_line("", fmt, ap);
    va_end(ap);
}

EFI_STATUS out_error(EFI_STATUS status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    write_line("error: ", fmt, ap);
    va_end(ap);
    return status;
}

const char *efi_status_name(EFI_STATUS status)
{
    static const struct {
        EFI_STATUS status;
        const char *name;
    } names[] = {
        {EFI_SUCCESS, "EFI_SUCCESS"},
        {EFI_LOAD_ERROR, "EFI_LOAD_ERROR"},
        {EFI_INVALID_PARAMETER, "EFI_INVALID_PARAMETER"},
        {EFI_UNSUPPORTED, "EFI_UNSUPPORTED"},
        {EFI_BAD_BUFFER_SIZE, "EFI_BAD_BUFFER_SIZE"},
        {EFI_BUFFER_TOO_SMALL, "EFI_BUFFER_TOO_SMALL"},
        {EFI_NOT_READY, "EFI_NOT_READY"},
        {EFI_DEVICE_ERROR, "EFI_DEVICE_ERROR"},
        {EFI_WRITE_PROTECTED, "EFI_WRITE_PROTECTED"},
        {EFI_OUT_OF_RESOURCES, "EFI_OUT_OF_RESOURCES"},
        {EFI_VOLUME_CORRUPTED, "EFI_VOLUME_CORRUPTED"},
        {EFI_VOLUME_FULL, "EFI_VOLUME_FULL"},
        {EFI_NO_MEDIA, "EFI_NO_MEDIA"},
        {EFI_MEDIA_CHANGED, "EFI_MEDIA_CHANGED"},
        {EFI_NOT_FOUND, "EFI_NOT_FOUND"},
        {EFI_NO_MAPPING, "EFI_NO_MAPPING"},
        {EFI_ACCESS_DENIED, "EFI_ACCESS_DENIED"},
        {EFI_END_OF_FILE, "EFI_END_OF_FILE"},
        {EFI_ABORTED, "EFI_ABORTED"},
        {EFI_SECURITY_VIOLATION, "EFI_SECURITY_VIOLATION"},
    };
    for (UINTN i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (names[i].status == status)
            return names[i].name;
    static char unknown[sizeof("EFI status 0x") + 16];
    format(unknown, sizeof(unknown), "EFI status 0x%llx", (unsigned long long)status);
    return unknown;
}
