/* The local APIC of the CPU L0 runs on, as L0 uses it before L1 owns it:
 * who am I, and INIT/SIPI/NMI to another CPU (SDM 11.6 "Issuing
 * Interprocessor Interrupts"). xAPIC (MMIO) or x2APIC (MSRs), whichever
 * mode the firmware left it in. */
#ifndef DRIVERS_LAPIC_H
#define DRIVERS_LAPIC_H

#include <stdbool.h>
#include <stdint.h>

/* Reads the mode and base from IA32_APIC_BASE; false if the APIC is off. */
bool lapic_init(void);
bool lapic_x2apic_mode(void);
uint32_t lapic_id(void);
/* INIT (assert, level-triggered), then INIT de-assert for CPUs that want it. */
bool lapic_send_init(uint32_t apic_id);
/* Start-up IPI: the CPU starts at vector << 12 in real mode. */
bool lapic_send_sipi(uint32_t apic_id, uint8_t vector);
bool lapic_send_nmi(uint32_t apic_id);

#endif
