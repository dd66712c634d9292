/* INIT and SIPI (SDM Vol. 3A 10.4 "Multiple-processor initialization";
 * Vol. 3C 24.8 and 25.2: in VMX non-root operation INIT always causes a VM
 * exit, a SIPI only in the wait-for-SIPI activity state; in VMX root
 * operation INIT is blocked). For L1's CPUs L0 plays the processor: INIT
 * resets the vCPU into wait-for-SIPI, SIPI starts it in real mode at
 * vector << 12. While L1 is in VMX root operation (after its VMXON) INIT
 * stays pending until VMXOFF. While L2 runs, both are VM exits to L1
 * (nested/reflect.c). CPUs nestvisor holds ignore both. */
#include "vmm/sipi.h"
#include "vmm/vm.h"
#include "vmm/vmcs01.h"
#include "vmm/nested/nested.h"
#include "arch/x86/vmx.h"
#include "arch/x86/vmx_bits.h"
#include "lib/log.h"

/* A storm of IPIs must not flood the log: the first few per vCPU, then the
 * exit statistics count them. */
#define IPI_REPORT_LIMIT 4
#define SIPI_CS_SHIFT    8  /* CS selector = vector << 8, base = vector << 12 */
#define SIPI_BASE_SHIFT  12

static void report(struct vcpu *v, const char *what, unsigned vector)
{
    if (v->ipis_reported >= IPI_REPORT_LIMIT)
        return;
    v->ipis_reported++;
    const char *more = v->ipis_reported == IPI_REPORT_LIMIT ? " (no more reports)" : "";
    if (vector == ~0U)
        log_warn("cpu%u (APIC %u): %s from L1 ignored: this CPU is nestvisor's%s\n", v->id,
                 v->cpu->apic_id, what, more);
    else
        log_warn("cpu%u (APIC %u): %s (vector 0x%02x) from L1 ignored: this CPU is nestvisor's%s\n", v->id,
                 v->cpu->apic_id, what, vector, more);
}

/* INIT of a vCPU of L1 outside VMX operation. */
static void init_reset(struct vcpu *v)
{
    if (v->id == 0) {
        /* The boot CPU would restart at the reset vector: L1's machine
         * reboots, and nestvisor does not reboot L1 (docs/security.md). */
        vcpu_dump(v, "INIT signal to L1");
        vm_stop(POWER_GUEST_FAULT, "INIT signal to L1's boot CPU");
    }
    vmcs01_write_init_state(&the_vm, v);
    v->nmi_pending = false;
    if (v->ipis_reported < IPI_REPORT_LIMIT) {
        v->ipis_reported++;
        log_info("cpu%u: INIT from L1: waiting for a start-up IPI\n", v->id);
    }
}

void handle_init_signal(struct vcpu *v)
{
    if (v->role == VCPU_HELD) {
        /* It stays in wait-for-SIPI: the activity state is unchanged. */
        report(v, "INIT", ~0U);
        return;
    }
    if (v->nested && v->nested->vmxon) {
        v->init_pending = true; /* blocked in VMX root operation */
        return;
    }
    init_reset(v);
}

void sipi_after_vmxoff(struct vcpu *v)
{
    if (!v->init_pending)
        return;
    v->init_pending = false;
    init_reset(v);
}

void handle_sipi(struct vcpu *v)
{
    unsigned vector = (unsigned)vmcs_read(VMCS_EXIT_QUALIFICATION) & SIPI_VECTOR_MASK;
    /* The SIPI took the CPU out of wait-for-SIPI (the exit saved it as
     * active, with the blocking of that state): L0 decides what it is now. */
    vmcs_write(VMCS_GUEST_INTERRUPTIBILITY_INFO, 0);
    if (v->role == VCPU_HELD || !v->wait_for_sipi) {
        if (v->role == VCPU_HELD)
            report(v, "SIPI", vector);
        vmcs_write(VMCS_GUEST_ACTIVITY_STATE, ACTIVITY_WAIT_SIPI);
        return;
    }
    vmcs_write(VMCS_GUEST_CS_SELECTOR, vector << SIPI_CS_SHIFT);
    vmcs_write(VMCS_GUEST_CS_BASE, (uint64_t)vector << SIPI_BASE_SHIFT);
    vmcs_write(VMCS_GUEST_RIP, 0);
    vmcs_write(VMCS_GUEST_ACTIVITY_STATE, ACTIVITY_ACTIVE);
    v->wait_for_sipi = false;
    log_info("cpu%u: L1 started it at 0x%x\n", v->id, vector << SIPI_BASE_SHIFT);
}
