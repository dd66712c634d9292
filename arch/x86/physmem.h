/* Reaching physical memory from L0. The kernel identity-maps all physical
 * memory, so a physical address is also a pointer; the kernel image itself
 * runs in the top 2 GiB. Unit tests substitute a fake memory. */
#ifndef ARCH_X86_PHYSMEM_H
#define ARCH_X86_PHYSMEM_H

#include <stdint.h>

#define KERNEL_VMA 0xFFFFFFFF80000000ULL
#define KERNEL_LMA 0x200000ULL

#ifdef UNIT_TEST
void *phys_to_virt(uint64_t pa);
uint64_t virt_to_phys(const void *va);
#else
extern uint64_t kernel_phys_base;

static inline void *phys_to_virt(uint64_t pa) { return (void *)(uintptr_t)pa; }

static inline uint64_t virt_to_phys(const void *va)
{
    uint64_t v = (uint64_t)(uintptr_t)va;
    return v >= KERNEL_VMA ? v - KERNEL_VMA - KERNEL_LMA + kernel_phys_base : v;
}
#endif

#endif
