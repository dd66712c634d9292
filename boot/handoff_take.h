#ifndef BOOT_HANDOFF_TAKE_H
#define BOOT_HANDOFF_TAKE_H

#include <stdbool.h>
#include <stddef.h>
#include "boot/handoff.h"

/* Fills out from the loader's data: the Multiboot2 information structure or
 * the UEFI loader's struct handoff. False with a reason in err. */
bool handoff_take(uint32_t kind, const void *data, struct handoff *out, char *err, size_t errsz);

#endif
