/* A recording fake of vmm/ipi.c for tests of code that reports to it
 * (msr.c: x2APIC ICR writes, IA32_APIC_BASE changes). List
 * tests/unit/fake_ipi.c in the test's unit-srcs line. */
#ifndef TESTS_UNIT_FAKE_IPI_H
#define TESTS_UNIT_FAKE_IPI_H

#include <stdbool.h>
#include <stdint.h>

struct fake_ipi_log {
    unsigned icr_writes;     /* ipi_x2apic_icr_write calls */
    uint64_t last_icr;
    unsigned base_changes;   /* ipi_apic_base_changed calls */
    uint64_t last_base;
};

extern struct fake_ipi_log fake_ipi;
/* What ipi_x2apic_icr_write answers (true: done, false: #GP). */
extern bool fake_ipi_icr_ok;
void fake_ipi_reset(void);

#endif
