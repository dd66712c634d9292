/* NMIs (docs/smp.md, "Reaching a busy CPU"). vmcs01 and vmcs02 exit on
 * every NMI (pin-based "NMI exiting", with "virtual NMIs") so that L0 can
 * nudge a CPU that runs a guest (vmm/smp.c). An NMI that is not L0's nudge
 * is L1's, and is delivered as the CPU would have delivered it: to L1; or,
 * while L2 runs, as a VM exit to L1 if vmcs12 asks for NMI exiting, else
 * to L2. An NMI that cannot be injected yet waits for an NMI window. */
#ifndef VMM_NMI_H
#define VMM_NMI_H

#include <stdbool.h>

struct vcpu;

/* Exit reason 0 with an NMI of L1's level (not in L2). */
void nmi_exit_l1(struct vcpu *v);
/* An NMI exit of L2: true if it is L0's or was taken over for delivery
 * (then L0 resumes L2); false if L1 wants the exit (reflect it). */
bool nmi_exit_l2(struct vcpu *v, bool l1_wants);
/* An NMI-window exit L1 did not ask for: L0's own window. */
void handle_nmi_window(struct vcpu *v);
/* Delivers v->nmi_pending before the next VM entry, or arranges an NMI
 * window to do it then. */
void vcpu_deliver_nmi(struct vcpu *v);
/* An NMI that arrived while this CPU ran L0 (the IDT's vector 2). */
void nmi_in_l0(void);

#endif
