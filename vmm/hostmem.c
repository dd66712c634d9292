#include "vmm/hostmem.h"
#include "vmm/pmm.h"
#include "arch/x86/physmem.h"
#include "lib/format.h"
#include "lib/log.h"
#include "lib/string.h"

#define POOL_ALIGN (2ULL << 20) /* keeps EPT01 in large pages around it */

static uint64_t page_up(uint64_t x) { return (x + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1); }
static uint64_t page_down(uint64_t x) { return x & ~(PAGE_SIZE - 1); }

bool hostmem_init(struct hostmem *hm, const struct handoff *h, uint64_t pool_size, char *err,
                  size_t errsz)
{
    memset(hm, 0, sizeof(*hm));
    memmap_init(&hm->map);
    for (uint32_t i = 0; i < h->mem_count; i++) {
        if (!memmap_add_firmware(&hm->map, h->mem[i].base, h->mem[i].size, h->mem[i].type)) {
            format(err, errsz, "memory map has too many ranges (limit %d)", MEMMAP_MAX);
            return false;
        }
    }
    memmap_page_align_usable(&hm->map);
    hm->kernel_base = page_down(h->kernel_base);
    hm->kernel_end = page_up(h->kernel_end);
    memmap_set(&hm->map, hm->kernel_base, hm->kernel_end - hm->kernel_base, MEM_HV);

    uint64_t modules_size = 0;
    for (uint32_t i = 0; i < h->module_count; i++) {
        const struct handoff_module *m = &h->modules[i];
        memmap_set(&hm->map, page_down(m->base), page_up(m->base + m->size) - page_down(m->base),
                   MEM_IMAGE);
        modules_size += page_up(m->size);
    }

    hm->pool_size = (pool_size + modules_size + POOL_ALIGN - 1) & ~(POOL_ALIGN - 1);
    if (!memmap_find_top(&hm->map, hm->pool_size, POOL_ALIGN, HOSTMEM_POOL_LIMIT, &hm->pool_base)) {
        format(err, errsz,
               "too little memory: nestvisor needs %llu MiB of contiguous RAM below 4 GiB "
               "(%llu MiB for itself + %llu MiB of guest images)",
               (unsigned long long)(hm->pool_size >> 20), (unsigned long long)(pool_size >> 20),
               (unsigned long long)(modules_size >> 20));
        return false;
    }
    memmap_set(&hm->map, hm->pool_base, hm->pool_size, MEM_HV);
    if (!pmm_init(hm->pool_base, hm->pool_size)) {
        format(err, errsz, "pool of %llu MiB exceeds the allocator's limit",
               (unsigned long long)(hm->pool_size >> 20));
        return false;
    }

    /* Move the modules into the pool; the memory they came in is L1's. */
    for (uint32_t i = 0; i < h->module_count; i++) {
        const struct handoff_module *m = &h->modules[i];
        struct handoff_module *copy = &hm->modules[hm->module_count++];
        *copy = *m;
        if (m->size) {
            copy->base = pmm_alloc(page_up(m->size) / PAGE_SIZE);
            if (!copy->base) {
                format(err, errsz, "no pool memory for module '%s'", m->name);
                return false;
            }
            memcpy(phys_to_virt(copy->base), phys_to_virt(m->base), m->size);
        }
        memmap_set(&hm->map, page_down(m->base), page_up(m->base + m->size) - page_down(m->base),
                   MEM_USABLE);
    }
    /* The kernel image may share pages with nothing else: re-assert it. */
    memmap_set(&hm->map, hm->kernel_base, hm->kernel_end - hm->kernel_base, MEM_HV);
    return true;
}

void hostmem_print(const struct hostmem *hm)
{
    log_info("memory map (%u ranges):\n", hm->map.count);
    for (unsigned i = 0; i < hm->map.count; i++) {
        const struct mem_range *r = &hm->map.r[i];
        log_info("  %016llx-%016llx %-10s %8llu KiB\n", (unsigned long long)r->base,
                 (unsigned long long)(r->base + r->size - 1), memmap_type_name(r->type),
                 (unsigned long long)(r->size >> 10));
    }
    for (unsigned i = 0; i < hm->module_count; i++)
        log_info("module %u: '%s' %llu bytes, now at 0x%llx, \"%s\"\n", i, hm->modules[i].name,
                 (unsigned long long)hm->modules[i].size, (unsigned long long)hm->modules[i].base,
                 hm->modules[i].cmdline);
    log_info("nestvisor owns: kernel %llx-%llx, pool %llx-%llx (%llu MiB)\n",
             (unsigned long long)hm->kernel_base, (unsigned long long)hm->kernel_end,
             (unsigned long long)hm->pool_base, (unsigned long long)(hm->pool_base + hm->pool_size),
             (unsigned long long)(hm->pool_size >> 20));
}
