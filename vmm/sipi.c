#include "vmm/sipi.h"
#include "vmm/vm.h"
#include "arch/x86/vmx.h"
#include "arch/x86/vmx_bits.h"
#include "lib/log.h"

/* A storm of IPIs must not flood the log: the first few per vCPU, then a
 * count when L1 stops (stats.c prints the exits). */
#define IPI_REPORT_LIMIT 4

static void report(struct vcpu *v, const char *what, unsigned vector)
{
    if (v->ipis_reported >= IPI_REPORT_LIMIT)
        return;
    v->ipis_reported++;
    if (vector == ~0U)
        log_warn("cpu%u (APIC %u): %s from L1 ignored: this CPU is nestvisor's%s\n", v->id,
                 v->cpu->apic_id, what, v->ipis_reported == IPI_REPORT_LIMIT ? " (no more reports)" : "");
    else
        log_warn("cpu%u (APIC %u): %s (vector 0x%02x) from L1 ignored: this CPU is nestvisor's%s\n", v->id,
                 v->cpu->apic_id, what, vector, v->ipis_reported == IPI_REPORT_LIMIT ? " (no more reports)" : "");
}

void handle_init_signal(struct vcpu *v)
{
    if (v->role == VCPU_HELD) {
        /* It stays in wait-for-SIPI: the activity state is unchanged. */
        report(v, "INIT", ~0U);
        return;
    }
    /* INIT to the boot CPU resets the machine's OS: nestvisor does not
     * reboot L1, it stops it (docs/security.md, "Resets"). */
    vcpu_dump(v, "INIT signal to L1");
    vm_stop(POWER_GUEST_FAULT, "INIT signal to L1's boot CPU");
}

void handle_sipi(struct vcpu *v)
{
    unsigned vector = (unsigned)vmcs_read(VMCS_EXIT_QUALIFICATION) & SIPI_VECTOR_MASK;
    if (v->role == VCPU_HELD) {
        report(v, "SIPI", vector);
        return;
    }
    log_error("cpu%u: SIPI (vector 0x%02x) to a vCPU of L1 not waiting for one\n", v->id, vector);
}
