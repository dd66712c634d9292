#include "vmm/memfault.h"
#include "vmm/vm.h"
#include "vmm/nested/bitmaps.h"
#include "arch/x86/exit_reasons.h"
#include "arch/x86/cpu_bits.h"
#include "arch/x86/physmem.h"
#include "arch/x86/vmx.h"
#include "arch/x86/vmx_bits.h"
#include "lib/log.h"
#include "lib/string.h"

#define NO_SCRATCH   (~0ULL)
#define FLOATING_BUS 0xff
#define REPORT_LIMIT 8

/* HIDDEN_DISCARD: back the page with the scratch page for exactly one
 * instruction, then take it away and refill it, so writes are lost and
 * reads see an empty bus. The instruction is single-stepped with RFLAGS.TF
 * and an intercepted #DB: the monitor trap flag would be the natural tool,
 * but Bochs 2.7 never delivers its VM exit. */
struct scratch_step {
    uint64_t gpa;        /* hidden page backed by the scratch page, or NO_SCRATCH */
    struct ept *ept;     /* the EPT it is mapped in (EPT01, or an L2's EPT02) */
    uint64_t eptp;
    bool guest_tf;       /* the guest's own RFLAGS.TF */
    uint32_t exc_bitmap; /* the exception bitmap before the step */
};

static struct scratch_step step = {NO_SCRATCH, 0, 0, false, 0};

static void scratch_unmap(void)
{
    ept_unmap(step.ept, step.gpa, PAGE_SIZE);
    invept(INVEPT_SINGLE_CONTEXT, step.eptp);
    memset(phys_to_virt(the_vm.scratch_page), FLOATING_BUS, PAGE_SIZE);
    step.gpa = NO_SCRATCH;
}

static bool discard_access(struct ept *ept, uint64_t eptp, uint64_t page)
{
    struct vm *vm = &the_vm;
    if (step.gpa != NO_SCRATCH) { /* one instruction touching two hidden pages */
        scratch_unmap();
    } else {
        uint64_t rflags = vmcs_read(VMCS_GUEST_RFLAGS);
        step.guest_tf = rflags & RFLAGS_TF;
        step.exc_bitmap = vmcs_read32(VMCS_EXCEPTION_BITMAP);
        vmcs_write(VMCS_GUEST_RFLAGS, rflags | RFLAGS_TF);
        vmcs_write(VMCS_EXCEPTION_BITMAP, step.exc_bitmap | (1U << VEC_DB));
    }
    memset(phys_to_virt(vm->scratch_page), FLOATING_BUS, PAGE_SIZE);
    if (!ept_map(ept, page, vm->scratch_page, PAGE_SIZE,
                 EPT_RWX | EPT_IGNORE_PAT | ((uint64_t)MEMTYPE_UC << EPT_MEMTYPE_SHIFT)))
        return false;
    step.gpa = page;
    step.ept = ept;
    step.eptp = eptp;
    invept(INVEPT_SINGLE_CONTEXT, eptp);
    return true;
}

bool memfault_step_active(void) { return step.gpa != NO_SCRATCH; }

bool memfault_step_done(struct vcpu *v)
{
    if (step.gpa == NO_SCRATCH)
        return false;
    scratch_unmap();
    uint64_t rflags = vmcs_read(VMCS_GUEST_RFLAGS) & ~RFLAGS_TF;
    vmcs_write(VMCS_GUEST_RFLAGS, rflags | (step.guest_tf ? RFLAGS_TF : 0));
    vmcs_write(VMCS_EXCEPTION_BITMAP, step.exc_bitmap);
    /* L1 was single-stepping itself: it gets its trap. */
    if (step.guest_tf)
        vcpu_inject_exception(v, VEC_DB);
    return true;
}

static const char *access_kind(uint64_t q)
{
    return (q & EPT_QUAL_WRITE) ? "write" : (q & EPT_QUAL_FETCH) ? "instruction fetch" : "read";
}

void memfault_contain(struct vcpu *v, struct ept *ept, uint64_t eptp, uint64_t map_gpa,
                      uint64_t l1_gpa, uint64_t qualification)
{
    static unsigned reports;
    uint32_t type = memmap_type_at(&the_vm.host->map, l1_gpa);
    const char *what = type == MEM_HV ? "nestvisor memory" : "an unmapped address";
    if (reports < REPORT_LIMIT) {
        reports++;
        log_warn("%s %s of %s at 0x%llx (RIP 0x%llx)%s\n", v->in_l2 ? "L2" : "L1",
                 access_kind(qualification), what, (unsigned long long)l1_gpa,
                 (unsigned long long)vmcs_read(VMCS_GUEST_RIP),
                 the_vm.cfg.hidden == HIDDEN_DISCARD ? ": discarded" : "");
    }
    if (the_vm.cfg.hidden == HIDDEN_DISCARD && discard_access(ept, eptp, map_gpa & ~(PAGE_SIZE - 1)))
        return;
    vcpu_dump(v, "guest accessed memory L1 does not own");
    vm_stop(POWER_GUEST_FAULT, "hidden-memory access (policy: stop)");
}

void handle_ept_violation(struct vcpu *v)
{
    uint64_t q = vmcs_read(VMCS_EXIT_QUALIFICATION);
    uint64_t gpa = vmcs_read(VMCS_GUEST_PHYSICAL_ADDRESS);
    /* A write to an L1 bitmap page L0 merged into vmcs02 (nested/bitmaps.c). */
    if ((q & EPT_QUAL_WRITE) && nested_bitmap_write_fault(gpa))
        return;
    memfault_contain(v, &the_vm.ept01, the_vm.eptp01, gpa, gpa, q);
}

void handle_ept_misconfig(struct vcpu *v)
{
    /* EPT01 is nestvisor's own: a misconfiguration is an L0 bug. */
    log_error("BUG: EPT misconfiguration at 0x%llx in EPT01\n",
              (unsigned long long)vmcs_read(VMCS_GUEST_PHYSICAL_ADDRESS));
    vcpu_dump(v, "EPT misconfiguration");
    vm_stop(POWER_PANIC, "EPT01 misconfiguration");
}
