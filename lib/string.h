/* Freestanding memory and string functions (the kernel's; the host's libc
 * provides the same on unit-test builds). */
#ifndef LIB_STRING_H
#define LIB_STRING_H

#include <stddef.h>

void *memcpy(void *dst, const void *src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
int strcmp(const char *a, const char *b);
int strncmp(const char *a, const char *b, size_t n);

/* Copies at most size-1 bytes and always terminates (if size > 0).
 * Returns strlen(src) so truncation can be detected. */
size_t str_copy(char *dst, const char *src, size_t size);

#endif
