/* The UEFI loader's configuration file, \EFI\nestvisor\nestvisor.cfg:
 *
 *     # comment
 *     kernel=\EFI\nestvisor\nestvisor.elf
 *     cmdline=vmxcaps loglevel=debug
 *     module=\EFI\nestvisor\l1.elf l1 console=ttyS0
 *     serial=0x3f8
 *     baud=115200
 *     loglevel=info
 *
 * One key=value per line; LF or CRLF endings; blank lines and lines whose
 * first non-blank character is '#' are skipped; blanks around keys and
 * values are dropped. Printable ASCII only (a leading UTF-8 byte-order mark
 * is skipped). Pure C (no EFI types) so it is
 * unit-tested on the host (tests/unit/test_efi_config.c). */
#ifndef BOOT_EFI_CONFIG_H
#define BOOT_EFI_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "boot/handoff.h"

#define CONFIG_PATH           "\\EFI\\nestvisor\\nestvisor.cfg"
#define CONFIG_DEFAULT_KERNEL "\\EFI\\nestvisor\\nestvisor.elf"
#define CONFIG_LINE_MAX       2560 /* bytes per line, without the line ending: room for a
                                     * path, a name and a full Linux command line */
#define CONFIG_PATH_MAX       256  /* bytes per path, with the NUL */
#define CONFIG_FILE_MAX       (64 * 1024)
#define CONFIG_MAX_MODULES    HANDOFF_MAX_MODULES
#define CONFIG_ERR_MAX        160
#define CONFIG_LEVEL_MAX      8 /* longest log level name + NUL */

/* Limits shared with the kernel (vmm/options.c). */
#define CONFIG_SERIAL_MIN 1
#define CONFIG_SERIAL_MAX (0xffff - 8) /* a 16550 spans 8 ports */
#define CONFIG_BAUD_MIN   50
#define CONFIG_BAUD_MAX   115200
#define CONFIG_BAUD_DEFAULT 115200
#define CONFIG_SERIAL_DEFAULT 0x3f8 /* COM1 */

struct config_module {
    char path[CONFIG_PATH_MAX];
    char name[HANDOFF_NAME_MAX];
    char args[HANDOFF_MODLINE_MAX]; /* the module string after its name */
};

struct config {
    char kernel[CONFIG_PATH_MAX];
    char cmdline[HANDOFF_CMDLINE_MAX]; /* cmdline= as written */
    /* What the kernel gets: cmdline, then serial=, baud=, loglevel= if set. */
    char kernel_cmdline[HANDOFF_CMDLINE_MAX];
    struct config_module modules[CONFIG_MAX_MODULES];
    unsigned module_count;
    /* serial=: the loader logs there too; 0 means "off". */
    bool has_serial;
    uint16_t serial_port;
    char serial_text[16]; /* as written, for the kernel command line */
    bool has_baud;
    uint32_t baud;
    char loglevel[CONFIG_LEVEL_MAX]; /* "" if not set */
};

/* Defaults: the default kernel path, empty command line, no modules, COM1 at
 * 115200 baud. */
void config_defaults(struct config *c);

/* Parses len bytes of text (no NUL needed; NUL bytes are an error) over the
 * defaults. On failure returns false with a message in err, e.g.
 * "line 3: unknown key \"kernal\"", and *c is unspecified. */
bool config_parse(const char *text, size_t len, struct config *c, char *err, size_t errsz);

#endif
