#include "tests/unit/fake_ipi.h"
#include "vmm/ipi.h"

struct fake_ipi_log fake_ipi;
bool fake_ipi_icr_ok = true;

void fake_ipi_reset(void)
{
    fake_ipi = (struct fake_ipi_log){0};
    fake_ipi_icr_ok = true;
}

bool ipi_x2apic_icr_write(struct vcpu *v, uint64_t value)
{
    (void)v;
    fake_ipi.icr_writes++;
    fake_ipi.last_icr = value;
    return fake_ipi_icr_ok;
}

void ipi_apic_base_changed(struct vm *vm, uint64_t value)
{
    (void)vm;
    fake_ipi.base_changes++;
    fake_ipi.last_base = value;
}
