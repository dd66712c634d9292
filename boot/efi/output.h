/* The loader's messages: every line goes to the firmware console (ConOut,
 * until ExitBootServices) and straight to a 16550 UART by port I/O (COM1
 * unless the config says otherwise), prefixed "nestvisor-loader: ".
 * Under OVMF ConOut is mirrored on the serial port too, so there each line
 * shows twice; on a real machine ConOut is the screen. */
#ifndef BOOT_EFI_OUTPUT_H
#define BOOT_EFI_OUTPUT_H

#include <efi.h>
#include <stdint.h>

#define LOADER_PREFIX "nestvisor-loader: "

/* Starts the serial side on COM1 at 115200 baud. */
void out_init(void);

/* Moves the serial side to another port (0: serial off) and baud rate.
 * False if no UART answers there (serial is then off). */
BOOLEAN out_set_serial(uint16_t port, uint32_t baud);

/* From now on only the UART is used: ConOut belongs to boot services. */
void out_firmware_gone(void);

void out_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Prints "error: <message>" and returns status, so that callers can write
 * return out_error(EFI_NOT_FOUND, "...", ...); */
EFI_STATUS out_error(EFI_STATUS status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* "EFI_NOT_FOUND" and so on (UEFI 2.10, appendix D "Status Codes"). */
const char *efi_status_name(EFI_STATUS status);

#endif
