#include "vmm/memfault.h"
#include "vmm/vm.h"
#include "arch/x86/physmem.h"
#include "arch/x86/vmx.h"
#include "arch/x86/vmx_bits.h"
#include "lib/log.h"
#include "lib/string.h"

#define NO_SCRATCH       (~0ULL)
#define FLOATING_BUS     0xff
#define REPORT_LIMIT     8

static void set_mtf(bool on)
{
    uint32_t proc = vmcs_read32(VMCS_CPU_BASED_VM_EXEC_CONTROL);
    vmcs_write(VMCS_CPU_BASED_VM_EXEC_CONTROL,
               on ? proc | PROC_MONITOR_TRAP_FLAG : proc & ~PROC_MONITOR_TRAP_FLAG);
}

static void invalidate_ept01(void)
{
    invept(INVEPT_SINGLE_CONTEXT, the_vm.eptp01);
}

/* HIDDEN_DISCARD: back the page with the scratch page for exactly one
 * instruction (monitor trap flag), then take it away and refill it, so
 * writes are lost and reads see an empty bus. */
static bool discard_access(uint64_t page)
{
    struct vm *vm = &the_vm;
    if (!vm_mtf_available() || vm->scratch_gpa != NO_SCRATCH)
        return false;
    memset(phys_to_virt(vm->scratch_page), FLOATING_BUS, PAGE_SIZE);
    if (!ept_map(&vm->ept01, page, vm->scratch_page, PAGE_SIZE, EPT_RWX | EPT_IGNORE_PAT |
                                                                ((uint64_t)MEMTYPE_UC << EPT_MEMTYPE_SHIFT)))
        return false;
    vm->scratch_gpa = page;
    invalidate_ept01();
    set_mtf(true);
    return true;
}

void handle_monitor_trap(struct vcpu *v)
{
    struct vm *vm = &the_vm;
    (void)v;
    set_mtf(false);
    if (vm->scratch_gpa == NO_SCRATCH)
        return;
    ept_unmap(&vm->ept01, vm->scratch_gpa, PAGE_SIZE);
    vm->scratch_gpa = NO_SCRATCH;
    invalidate_ept01();
    memset(phys_to_virt(vm->scratch_page), FLOATING_BUS, PAGE_SIZE);
}

static const char *access_kind(uint64_t q)
{
    return (q & EPT_QUAL_WRITE) ? "write" : (q & EPT_QUAL_FETCH) ? "instruction fetch" : "read";
}

void handle_ept_violation(struct vcpu *v)
{
    static unsigned reports;
    uint64_t q = vmcs_read(VMCS_EXIT_QUALIFICATION);
    uint64_t gpa = vmcs_read(VMCS_GUEST_PHYSICAL_ADDRESS);
    uint32_t type = memmap_type_at(&the_vm.host->map, gpa);
    const char *what = type == MEM_HV ? "nestvisor memory" : "an unmapped address";
    if (reports < REPORT_LIMIT) {
        reports++;
        log_warn("L1 %s of %s at 0x%llx (RIP 0x%llx)%s\n", access_kind(q), what,
                 (unsigned long long)gpa, (unsigned long long)vmcs_read(VMCS_GUEST_RIP),
                 the_vm.cfg.hidden == HIDDEN_DISCARD ? ": discarded" : "");
    }
    if (the_vm.cfg.hidden == HIDDEN_DISCARD && discard_access(gpa & ~(PAGE_SIZE - 1)))
        return;
    vcpu_dump(v, "L1 accessed memory it does not own");
    vm_stop(POWER_GUEST_FAULT, "hidden-memory access (policy: stop)");
}

void handle_ept_misconfig(struct vcpu *v)
{
    /* EPT01 is nestvisor's own: a misconfiguration is an L0 bug. */
    log_error("BUG: EPT misconfiguration at 0x%llx in EPT01\n",
              (unsigned long long)vmcs_read(VMCS_GUEST_PHYSICAL_ADDRESS));
    vcpu_dump(v, "EPT misconfiguration");
    vm_stop(POWER_PANIC, "EPT01 misconfiguration");
}
