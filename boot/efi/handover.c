/* Hand-over decisions; see handover.h. */
#include "boot/efi/handover.h"

uint64_t handover_attrs_to_clear(enum handover_attr_answer answer, uint64_t attrs)
{
    if (answer == ATTR_KNOWN)
        return attrs & HANDOVER_FORBIDDEN;
    return HANDOVER_FORBIDDEN;
}

bool handover_still_protected(enum handover_attr_answer answer, uint64_t attrs)
{
    return answer == ATTR_KNOWN && (attrs & HANDOVER_FORBIDDEN);
}

static size_t append(char *buf, size_t size, size_t at, const char *s)
{
    for (; *s && at + 1 < size; s++)
        buf[at++] = *s;
    if (size)
        buf[at < size ? at : size - 1] = 0;
    return at;
}

const char *handover_attr_names(uint64_t attrs, char *buf, size_t size)
{
    static const struct {
        uint64_t bit;
        const char *name;
    } names[] = {{UEFI_MEMORY_RP, "RP"}, {UEFI_MEMORY_RO, "RO"}, {UEFI_MEMORY_XP, "XP"}};
    size_t at = append(buf, size, 0, "");
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (!(attrs & names[i].bit))
            continue;
        if (at)
            at = append(buf, size, at, "+");
        at = append(buf, size, at, names[i].name);
    }
    if (!at)
        append(buf, size, 0, "none");
    return buf;
}

const char *handover_paging_problem(uint64_t cr4)
{
    if (cr4 & CR4_LA57)
        return "the firmware runs with 5-level paging (CR4.LA57=1) and the kernel's entry builds "
               "4-level page tables; turn 5-level paging off in the firmware setup";
    return 0;
}
