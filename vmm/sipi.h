/* INIT and start-up IPIs as the processor takes them, for L1's vCPUs
 * (docs/smp.md "L1's CPUs"). L0 plays the processor: INIT resets a vCPU to
 * wait for a SIPI, which L0 does in VMX root operation, and a SIPI starts
 * it in real mode at vector << 12. vmm/ipi.c finds the targets of L1's
 * INITs and SIPIs and posts them here. */
#ifndef VMM_SIPI_H
#define VMM_SIPI_H

#include <stdbool.h>
#include <stdint.h>

struct vcpu;

/* Before v first runs: L1's APs wait for a SIPI, the others run. */
void sipi_init_vcpu(struct vcpu *v);

/* From any CPU: an INIT to target. False if dropped (a held CPU: logged). */
bool sipi_post_init(struct vcpu *target);
/* From any CPU: a start-up IPI to target. False if dropped: a held CPU
 * (logged), or one that does not wait for a SIPI (the CPU ignores it). */
bool sipi_post_start(struct vcpu *target, uint8_t vector);

/* At v's next safe point before a VM entry (smp_attention): an INIT posted
 * to v takes effect (SDM 24.8, 25.2): a VM exit to L1 if L2 runs, pending
 * while L1 is in VMX operation, else a reset that waits for a SIPI. */
void sipi_take(struct vcpu *v);
/* An INIT-signal VM exit of L1 (an INIT L0 did not see at L1's ICR). */
void handle_init_signal(struct vcpu *v);
/* L1 left VMX operation: an INIT it blocked meanwhile takes effect. (At
 * an entry to an active L2 it is an INIT-signal exit: nested/entry.c.) */
void sipi_after_vmxoff(struct vcpu *v);

/* v, an AP of L1 after INIT, waits in L0 until a SIPI starts it, with
 * CS = vector << 8 and IP = 0 (SDM 9.4.4). Held vCPUs never return. */
void vcpu_wait_for_sipi(struct vcpu *v);
/* L1 entered L2 in the wait-for-SIPI activity state: L0 waits for it and
 * returns after the SIPI VM exit to L1 (SDM 25.2; INITs meanwhile are
 * blocked and stay pending in v->init_pending). */
void sipi_wait_l2(struct vcpu *v);

#endif
