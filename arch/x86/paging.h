/* L0's own page tables: all physical memory identity-mapped, the kernel
 * image in the top 2 GiB with per-section permissions. */
#ifndef ARCH_X86_PAGING_H
#define ARCH_X86_PAGING_H

#include <stdbool.h>
#include <stdint.h>

#define PTE_P    (1ULL << 0)
#define PTE_W    (1ULL << 1)
#define PTE_U    (1ULL << 2)
#define PTE_PWT  (1ULL << 3)
#define PTE_PCD  (1ULL << 4)
#define PTE_A    (1ULL << 5)
#define PTE_D    (1ULL << 6)
#define PTE_PS   (1ULL << 7)
#define PTE_G    (1ULL << 8)
#define PTE_NX   (1ULL << 63)
#define PTE_ADDR_MASK 0x000ffffffffff000ULL
#define PT_ENTRIES 512
#define PAGE_SIZE_2M (1ULL << 21)
#define PAGE_SIZE_1G (1ULL << 30)

/* Builds and loads the tables; identity-maps [0, identity_end). Returns
 * false if page-table memory ran out (the boot tables stay active). */
bool paging_init(uint64_t identity_end);
uint64_t paging_root(void);
uint64_t paging_identity_end(void);

#endif
