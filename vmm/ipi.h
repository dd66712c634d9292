/* L1's INIT and start-up IPIs, seen at L1's interrupt command register
 * (docs/smp.md "L1's CPUs"). L1 owns the local APICs, so its IPIs reach
 * the hardware directly. nestvisor needs to see INITs and SIPIs (to start,
 * reset and hold CPUs itself) only while a CPU waits for a SIPI in L0
 * (sipi.c) or nestvisor holds CPUs L1 must not get (or always, with
 * icrwatch=always). Then it watches L1's ICR: the xAPIC page is
 * write-protected in EPT01 (every write exits and L0 does it, mmio_decode.c
 * says what was written) and WRMSR to the x2APIC ICR exits. INIT and SIPI
 * are L0's to deliver (sipi.c); every other IPI goes to the hardware as L1
 * wrote it. */
#ifndef VMM_IPI_H
#define VMM_IPI_H

#include <stdbool.h>
#include <stdint.h>

struct vcpu;
struct vm;

#define IPI_NO_VECTOR 0xffffffffU

/* Watch L1's ICR or not, as the vCPUs' states now need (shared; locked). */
void ipi_update_watch(struct vm *vm);
/* An EPT01 write violation at gpa: true if it was the watched local APIC
 * page (the write is done and the instruction completed, or L1 stopped
 * with the reason if it cannot be emulated). */
bool ipi_apic_write(struct vcpu *v, uint64_t gpa);
/* WRMSR of the x2APIC ICR by v's guest: false for #GP. */
bool ipi_x2apic_icr_write(struct vcpu *v, uint64_t value);
/* L1 wrote IA32_APIC_BASE (accepted by the CPU): watch the new page. */
void ipi_apic_base_changed(struct vm *vm, uint64_t value);

/* The ICR's semantics (SDM Vol. 3A 11.6.1, 11.12.9, 11.6.2): does an IPI
 * with ICR low dword `low` and destination `dest` (xAPIC: ICR_HIGH 31:24;
 * x2APIC: ICR 63:32), sent by the CPU with APIC ID `self`, reach the CPU
 * with APIC ID `id`? Logical destinations of xAPIC mode depend on LDR and
 * DFR, which L0 cannot read on another CPU: never reached (the caller
 * reports them). */
bool ipi_reaches(uint32_t low, uint32_t dest, bool x2apic, uint32_t self, uint32_t id);
/* INIT or SIPI from v: posted to every vCPU the ICR names (sipi.c). */
void ipi_route_init_sipi(struct vcpu *v, uint32_t low, uint32_t dest, bool x2apic);

#endif
