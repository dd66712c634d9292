/* The formatted-print core: a vsnprintf subset (flags - 0, width, .precision
 * for strings, length hh h l ll z, conversions d i u x X p s c %). */
#ifndef LIB_FORMAT_H
#define LIB_FORMAT_H

#include <stdarg.h>
#include <stddef.h>

/* Returns the length the full output would have (like vsnprintf). */
int format_v(char *buf, size_t size, const char *fmt, va_list ap);
int format(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
