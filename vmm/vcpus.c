/* The vCPUs of the application processors: created by the boot CPU, each
 * run by its own CPU (docs/smp.md). L1's APs wait in L0 for L1's
 * INIT-SIPI-SIPI (vmm/sipi.c, ipi.c); held ones wait forever and are
 * hidden from L1. */
#include "vmm/vm.h"
#include "vmm/pmm.h"
#include "vmm/ipi.h"
#include "vmm/sipi.h"
#include "vmm/smp.h"
#include "vmm/vmcs01.h"
#include "vmm/nested/nested.h"
#include "arch/x86/cpu.h"
#include "arch/x86/vmx.h"
#include "drivers/acpi.h"
#include "lib/format.h"
#include "lib/log.h"

extern bool vmx_launch(struct guest_regs *regs);

#define AP_READY_WAIT_US 2000000

/* Each AP's, set by it when its vCPU is ready to wait for a SIPI (the boot
 * CPU waits for all, so that the log says which one failed). */
static uint32_t entered[NV_MAX_CPUS];

/* What each AP costs L0 (smp.l0_kib_per_cpu in make bench): its per-CPU
 * data and stacks and VMXON region (smp.c), and what it allocated for its
 * vCPU (VMCS01, nested state, its share of the shadow-EPT pool). */
static void report_memory_per_ap(unsigned aps, uint64_t vcpu_pages)
{
    if (!aps)
        return;
    uint64_t percpu_kib = ((sizeof(struct percpu) + PAGE_SIZE - 1) / PAGE_SIZE + 1) * PAGE_SIZE / KIB;
    uint64_t vcpu_kib = vcpu_pages * PAGE_SIZE / KIB / aps;
    log_info("smp: L0 memory per AP: %llu KiB (%llu KiB per-CPU data, stacks and VMXON region, %llu KiB "
             "its vCPU's VMX state and shadow-EPT pool)\n",
             (unsigned long long)(percpu_kib + vcpu_kib), (unsigned long long)percpu_kib,
             (unsigned long long)vcpu_kib);
}

void vm_create_aps(struct vm *vm)
{
    unsigned count = percpu_count();
    for (unsigned id = 1; id < count; id++) {
        struct percpu *pc = percpu_of(id);
        struct vcpu *v = &vm->vcpus[id];
        v->id = id;
        v->cpu = pc;
        v->role = id < vm->cfg.l1_cpus ? VCPU_L1 : VCPU_HELD;
        vm->vcpu_count = id + 1;
        if (v->role == VCPU_HELD) {
            if (acpi_madt_hide_cpu(vm->acpi_rsdp, pc->apic_id))
                log_info("vm: cpu%u (APIC %u) is nestvisor's: hidden from L1's MADT\n", id, pc->apic_id);
            else
                log_warn("vm: cpu%u (APIC %u) is nestvisor's but no MADT entry of it was found\n", id,
                         pc->apic_id);
        }
        sipi_init_vcpu(v); /* it waits for a SIPI before anyone can send one */
    }
    /* Watching L1's ICR takes EPT01's write permission for the APIC page:
     * done before any AP runs, so no CPU needs to be asked to flush. */
    ipi_update_watch(vm);
    uint64_t free_before = pmm_free_pages();
    for (unsigned id = 1; id < count; id++)
        smp_release_cpu(percpu_of(id), &vm->vcpus[id]);
    unsigned l1 = vm->cfg.l1_cpus < count ? vm->cfg.l1_cpus : count;
    log_info("vm: L1 gets %u of %u CPUs%s\n", l1, count, l1 < count ? " (cpus=)" : "");
    /* Wait until every AP has entered its vCPU. */
    for (unsigned id = 1; id < count; id++) {
        uint64_t spins = 0;
        while (!__atomic_load_n(&entered[id], __ATOMIC_ACQUIRE) && spins++ < (1ULL << 32))
            cpu_relax();
        if (!entered[id])
            log_error("vm: cpu%u never entered its vCPU\n", id);
    }
    report_memory_per_ap(count - 1, free_before - pmm_free_pages());
}

void vm_run_ap(struct vcpu *v)
{
    struct vm *vm = &the_vm;
    char why[160];
    bool ok = vmcs01_setup(vm, v, why, sizeof(why));
    if (ok && v->role == VCPU_L1 && vm->cfg.nested && !nested_init(vm, v, vm_ept02_pages(vm->cfg.l1_cpus))) {
        format(why, sizeof(why), "no memory for its nested VMX state");
        ok = false;
    }
    if (!ok) {
        log_error("cpu%u: %s; it stays in VMX root\n", v->id, why);
        __atomic_store_n(&entered[v->id], 1, __ATOMIC_RELEASE);
        return;
    }
    vmcs_load(v->vmcs01); /* nested_init left another VMCS current */
    vmcs01_write_init_state(vm, v);
    v->regs.ticks_slot = &v->stats.unknown_ticks;
    __atomic_store_n(&entered[v->id], 1, __ATOMIC_RELEASE);
    vcpu_wait_for_sipi(v); /* a held vCPU stays there */
    v->launched = true;
    vmx_launch(&v->regs);
    log_error("cpu%u: VMLAUNCH of L1's AP failed: VM-instruction error %u; it stays in VMX root\n", v->id,
              vmcs_read32(VMCS_VM_INSTRUCTION_ERROR));
}
