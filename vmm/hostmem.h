/* Who owns which physical memory: the host map from the hand-off, the
 * kernel image, nestvisor's pool (carved from the top of RAM below 4 GiB,
 * away from where L1 kernels load) and the boot modules, which are moved
 * into the pool so that the memory they arrived in goes to L1. */
#ifndef VMM_HOSTMEM_H
#define VMM_HOSTMEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "boot/handoff.h"
#include "vmm/memmap.h"

#define HOSTMEM_DEFAULT_POOL (32ULL << 20)
#define HOSTMEM_POOL_LIMIT   (1ULL << 32)

struct hostmem {
    struct memmap map; /* firmware map with MEM_HV marking nestvisor's ranges */
    uint64_t pool_base, pool_size;
    uint64_t kernel_base, kernel_end;
    unsigned module_count;
    struct handoff_module modules[HANDOFF_MAX_MODULES]; /* now in the pool */
};

/* pool_size: nestvisor's own memory besides the modules' copies. */
bool hostmem_init(struct hostmem *hm, const struct handoff *h, uint64_t pool_size, char *err,
                  size_t errsz);
void hostmem_print(const struct hostmem *hm);

#endif
