/* UEFI memory map translation and checks; see efimap.h. */
#include "boot/efi/efimap.h"

static void read_desc(const struct efimap *m, size_t i, struct uefi_mem_desc *d)
{
    const uint8_t *src = (const uint8_t *)m->buf + i * m->desc_size;
    uint8_t *dst = (uint8_t *)d;
    for (size_t k = 0; k < sizeof(*d); k++)
        dst[k] = src[k];
}

static size_t desc_count(const struct efimap *m)
{
    return m->desc_size >= sizeof(struct uefi_mem_desc) ? m->size / m->desc_size : 0;
}

/* Bytes covered by a descriptor, or 0 if the range would wrap. */
static uint64_t desc_bytes(const struct uefi_mem_desc *d)
{
    if (d->pages > (UINT64_MAX - d->phys_start) / UEFI_PAGE_SIZE)
        return 0;
    return d->pages * UEFI_PAGE_SIZE;
}

uint32_t efimap_handoff_type(uint32_t uefi_type)
{
    switch (uefi_type) {
    case UEFI_LOADER_CODE:
    case UEFI_LOADER_DATA:
    case UEFI_BOOT_SERVICES_CODE:
    case UEFI_BOOT_SERVICES_DATA:
    case UEFI_CONVENTIONAL:
        return MEM_USABLE;
    case UEFI_ACPI_RECLAIM:
        return MEM_ACPI_RECLAIM;
    case UEFI_ACPI_NVS:
        return MEM_ACPI_NVS;
    case UEFI_MMIO:
    case UEFI_MMIO_PORT_SPACE:
        return MEM_MMIO;
    case UEFI_UNUSABLE:
        return MEM_BAD;
    default:
        return MEM_RESERVED;
    }
}

static bool joins(const struct handoff_mem_range *a, const struct handoff_mem_range *b)
{
    return a->type == b->type && a->base + a->size == b->base;
}

static void remove_at(struct handoff_mem_range *out, uint32_t *count, uint32_t i)
{
    for (uint32_t k = i; k + 1 < *count; k++)
        out[k] = out[k + 1];
    (*count)--;
}

/* Inserts r keeping out[] sorted by base and merged. */
static bool insert_range(struct handoff_mem_range *out, uint32_t max, uint32_t *count,
                         struct handoff_mem_range r)
{
    uint32_t i = 0;
    while (i < *count && out[i].base <= r.base)
        i++;
    if (i > 0 && joins(&out[i - 1], &r)) {
        out[i - 1].size += r.size;
        if (i < *count && joins(&out[i - 1], &out[i])) {
            out[i - 1].size += out[i].size;
            remove_at(out, count, i);
        }
        return true;
    }
    if (i < *count && joins(&r, &out[i])) {
        out[i].base = r.base;
        out[i].size += r.size;
        return true;
    }
    if (*count >= max)
        return false;
    for (uint32_t k = *count; k > i; k--)
        out[k] = out[k - 1];
    out[i] = r;
    (*count)++;
    return true;
}

enum efimap_status efimap_translate(const struct efimap *m, struct handoff_mem_range *out,
                                    uint32_t max, uint32_t *count)
{
    *count = 0;
    if (m->desc_size < sizeof(struct uefi_mem_desc))
        return EFIMAP_BAD_DESC_SIZE;
    for (size_t i = 0; i < desc_count(m); i++) {
        struct uefi_mem_desc d;
        read_desc(m, i, &d);
        if (!d.pages)
            continue;
        uint64_t bytes = desc_bytes(&d);
        if (!bytes)
            return EFIMAP_BAD_DESC;
        struct handoff_mem_range r = {d.phys_start, bytes, efimap_handoff_type(d.type), 0};
        if (!insert_range(out, max, count, r))
            return EFIMAP_TOO_MANY;
    }
    return EFIMAP_OK;
}

/* The end of the descriptor of this type that contains addr, or 0. */
static uint64_t covering_end(const struct efimap *m, uint64_t addr, uint32_t uefi_type)
{
    for (size_t i = 0; i < desc_count(m); i++) {
        struct uefi_mem_desc d;
        read_desc(m, i, &d);
        uint64_t bytes = desc_bytes(&d);
        if (d.type == uefi_type && addr >= d.phys_start && addr - d.phys_start < bytes)
            return d.phys_start + bytes;
    }
    return 0;
}

bool efimap_range_is(const struct efimap *m, uint64_t base, uint64_t size, uint32_t uefi_type)
{
    if (size > UINT64_MAX - base)
        return false;
    uint64_t at = base, end = base + size;
    while (at < end) {
        uint64_t next = covering_end(m, at, uefi_type);
        if (!next)
            return false;
        at = next;
    }
    return true;
}

const char *efimap_status_str(enum efimap_status s)
{
    switch (s) {
    case EFIMAP_OK: return "valid";
    case EFIMAP_BAD_DESC_SIZE: return "descriptor size smaller than EFI_MEMORY_DESCRIPTOR";
    case EFIMAP_BAD_DESC: return "a descriptor wraps around the address space";
    case EFIMAP_TOO_MANY: return "more ranges than the hand-off holds";
    }
    return "unknown memory map error";
}
