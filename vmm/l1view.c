/* L1-physical memory as L1's own accesses reach it (docs/security.md
 * "Hidden memory"): its RAM, or the sink page that EPT01 maps over
 * nestvisor's memory and beyond RAM (vm.c), never L0's. L0 reads and
 * writes what L1 names (paging structures, MSR lists) through this, so that
 * it sees what L1 would see. */
#include "vmm/vm.h"
#include "arch/x86/physmem.h"

void *vm_l1_view(uint64_t gpa, uint64_t size)
{
    void *p = vm_l1_ram(gpa, size);
    unsigned level;
    const uint64_t *e;
    if (p || !the_vm.sink.page || (gpa & (PAGE_SIZE - 1)) + size > PAGE_SIZE ||
        !(e = ept_lookup(&the_vm.ept01, gpa, &level)))
        return p;
    if (level == 1 && (*e & EPT_ADDR_MASK) == the_vm.sink.page)
        return (uint8_t *)phys_to_virt(the_vm.sink.page) + (gpa & (PAGE_SIZE - 1));
    return 0;
}
