/* A physical memory map: sorted, non-overlapping ranges, each with a type
 * (the E820 numbering of boot/handoff.h plus nestvisor's own). Pure range
 * arithmetic, unit-tested on the host. */
#ifndef VMM_MEMMAP_H
#define VMM_MEMMAP_H

#include <stdbool.h>
#include <stdint.h>

#define MEMMAP_MAX 256
#define PAGE_SIZE  4096ULL
#define KIB        1024ULL
#define PAGE_SHIFT 12

/* Types beyond the firmware's (enum handoff_mem_type). */
#define MEM_HV    0x100 /* owned by nestvisor: kernel, tables, heap */
#define MEM_IMAGE 0x101 /* a boot module still in use */

struct mem_range {
    uint64_t base;
    uint64_t size;
    uint32_t type;
};

struct memmap {
    unsigned count;
    struct mem_range r[MEMMAP_MAX];
};

void memmap_init(struct memmap *m);
/* Gives [base, base+size) the type, replacing whatever was there. Returns
 * false (leaving the map unchanged) if the table would overflow. */
bool memmap_set(struct memmap *m, uint64_t base, uint64_t size, uint32_t type);
/* Adds a firmware range: where ranges overlap, anything wins over usable
 * RAM, so overlapping reports never make reserved memory usable. */
bool memmap_add_firmware(struct memmap *m, uint64_t base, uint64_t size, uint32_t type);
/* Shrinks usable ranges to whole pages. */
void memmap_page_align_usable(struct memmap *m);
/* The type of the byte at addr, or 0 if it is in no range. */
uint32_t memmap_type_at(const struct memmap *m, uint64_t addr);
/* True if [base, base+size) lies wholly in ranges of the given type. */
bool memmap_is_all(const struct memmap *m, uint64_t base, uint64_t size, uint32_t type);
/* Highest aligned block of 'size' usable bytes ending at or below 'limit'. */
bool memmap_find_top(const struct memmap *m, uint64_t size, uint64_t align, uint64_t limit,
                     uint64_t *out);
uint64_t memmap_total(const struct memmap *m, uint32_t type);
/* End of the highest range of any type, and of the highest usable-or-ACPI range. */
uint64_t memmap_end(const struct memmap *m);
const char *memmap_type_name(uint32_t type);

#endif
