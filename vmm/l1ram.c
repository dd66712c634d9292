/* Is an L1 guest-physical range L1's RAM? (L0 only ever reads or writes
 * L1 memory through these, so L1 cannot make it touch anything else.) */
#include "vmm/vm.h"
#include "arch/x86/physmem.h"

bool vm_l1_ram_range(uint64_t gpa, uint64_t len)
{
    if (gpa + len < gpa)
        return false;
    const struct memmap *m = &the_vm.l1_map;
    return memmap_is_all(m, gpa, len, MEM_USABLE) || memmap_is_all(m, gpa, len, MEM_ACPI_RECLAIM) ||
           memmap_is_all(m, gpa, len, MEM_ACPI_NVS);
}

void *vm_l1_ram(uint64_t gpa, uint64_t len)
{
    return vm_l1_ram_range(gpa, len ? len : 1) ? phys_to_virt(gpa) : 0;
}
