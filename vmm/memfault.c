/* Accesses to memory L1 does not own (docs/security.md "Hidden memory").
 * Under hidden=discard nothing comes here: EPT01 maps nestvisor's memory
 * and everything beyond its reach onto one sink page (vm.c, ept01.c), so
 * such accesses complete without an exit and reach nothing of L0's. Under
 * hidden=stop those pages are not mapped and the access stops L1. */
#include "vmm/memfault.h"
#include "vmm/ipi.h"
#include "vmm/vm.h"
#include "vmm/nested/bitmaps.h"
#include "vmm/nested/nested.h"
#include "arch/x86/vmx.h"
#include "arch/x86/vmx_bits.h"
#include "lib/log.h"

static const char *access_kind(uint64_t q)
{
    return (q & EPT_QUAL_WRITE) ? "write" : (q & EPT_QUAL_FETCH) ? "instruction fetch" : "read";
}

static bool ept01_allows(uint64_t gpa, uint64_t q)
{
    unsigned level;
    const uint64_t *e = ept_lookup(&the_vm.ept01, gpa, &level);
    uint64_t want = ((q & EPT_QUAL_READ) ? EPT_READ : 0) | ((q & EPT_QUAL_WRITE) ? EPT_WRITE : 0) |
                    ((q & EPT_QUAL_FETCH) ? EPT_EXEC : 0);
    return e && want && (*e & want) == want;
}

void memfault_contain(struct vcpu *v, uint64_t l1_gpa, uint64_t qualification)
{
    uint32_t type = memmap_type_at(&the_vm.host->map, l1_gpa);
    const char *what = (type == MEM_HV || type == MEM_IMAGE) ? "nestvisor memory" : "an unmapped address";
    log_warn("%s %s of %s at 0x%llx (RIP 0x%llx)\n", v->in_l2 ? "L2" : "L1", access_kind(qualification),
             what, (unsigned long long)l1_gpa, (unsigned long long)vmcs_read(VMCS_GUEST_RIP));
    vcpu_dump(v, "guest accessed memory L1 does not own");
    vm_stop(POWER_GUEST_FAULT, the_vm.cfg.hidden == HIDDEN_STOP ? "hidden-memory access (policy: stop)"
                                                                 : "access to memory L0 could not map");
}

void handle_ept_violation(struct vcpu *v)
{
    uint64_t q = vmcs_read(VMCS_EXIT_QUALIFICATION);
    uint64_t gpa = vmcs_read(VMCS_GUEST_PHYSICAL_ADDRESS);
    /* A write to an L1 bitmap page L0 merged into vmcs02 (nested/bitmaps.c):
     * L0 does it and merges again, or lifts the protection. */
    if ((q & EPT_QUAL_WRITE) && nested_bitmap_is_protected(gpa)) {
        if (!nested_bitmap_emulate_write(v, gpa))
            nested_bitmap_write_fault(gpa);
        return;
    }
    /* A write to L1's local APIC while L0 watches its INIT/SIPI (ipi.c). */
    if ((q & EPT_QUAL_WRITE) && ipi_apic_write(v, gpa))
        return;
    /* Another CPU gave the page back its permission after this CPU cached
     * the old one: flush and let the access run again. */
    if (ept01_allows(gpa, q)) {
        invept(INVEPT_SINGLE_CONTEXT, the_vm.eptp01);
        return;
    }
    memfault_contain(v, gpa, q);
}

void handle_ept_misconfig(struct vcpu *v)
{
    /* EPT01 is nestvisor's own: a misconfiguration is an L0 bug. */
    log_error("BUG: EPT misconfiguration at 0x%llx in EPT01\n",
              (unsigned long long)vmcs_read(VMCS_GUEST_PHYSICAL_ADDRESS));
    vcpu_dump(v, "EPT misconfiguration");
    vm_stop(POWER_PANIC, "EPT01 misconfiguration");
}
