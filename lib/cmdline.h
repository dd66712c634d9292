/* Command lines: space-separated words, each "key=value" or a bare "flag".
 * Used for the kernel's and the guests' command lines. */
#ifndef LIB_CMDLINE_H
#define LIB_CMDLINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* True if key is present; its value (or "" for a bare flag) goes to val. */
bool cmdline_get(const char *cmdline, const char *key, char *val, size_t size);
bool cmdline_has(const char *cmdline, const char *key);
/* A number: decimal or 0x-hex, with an optional K/M/G suffix. */
bool parse_u64(const char *s, uint64_t *out);
/* "on"/"off"/"1"/"0"/"yes"/"no"/"" (flag) -> bool. */
bool parse_bool(const char *s, bool *out);

#endif
