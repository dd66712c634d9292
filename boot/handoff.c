/* The kernel's side of the hand-off: whichever loader ran, end up with one
 * validated struct handoff in kernel memory. */
#include "boot/handoff_take.h"
#include "boot/multiboot2/mb2.h"
#include "lib/format.h"
#include "lib/string.h"

bool handoff_take(uint32_t kind, const void *data, struct handoff *out, char *err, size_t errsz)
{
    if (kind == LOADER_MULTIBOOT2)
        return mb2_parse(data, out, err, errsz);
    if (kind != LOADER_UEFI) {
        format(err, errsz, "unknown loader kind %u", kind);
        return false;
    }
    const struct handoff *in = data;
    if (in->magic != HANDOFF_MAGIC || in->version != HANDOFF_VERSION) {
        format(err, errsz, "hand-off from the UEFI loader has magic 0x%llx version %u (want 0x%llx %u)",
               (unsigned long long)in->magic, in->version, (unsigned long long)HANDOFF_MAGIC,
               HANDOFF_VERSION);
        return false;
    }
    memcpy(out, in, sizeof(*out));
    out->cmdline[HANDOFF_CMDLINE_MAX - 1] = 0;
    if (out->mem_count > HANDOFF_MAX_MEM || out->module_count > HANDOFF_MAX_MODULES) {
        format(err, errsz, "hand-off lists %u memory ranges and %u modules (limits %d, %d)",
               out->mem_count, out->module_count, HANDOFF_MAX_MEM, HANDOFF_MAX_MODULES);
        return false;
    }
    for (uint32_t i = 0; i < out->module_count; i++) {
        out->modules[i].name[HANDOFF_NAME_MAX - 1] = 0;
        out->modules[i].cmdline[HANDOFF_MODLINE_MAX - 1] = 0;
    }
    return true;
}
