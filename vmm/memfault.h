/* EPT violations and misconfigurations of L1 (on EPT01): accesses to
 * memory nestvisor keeps for itself, contained by policy. */
#ifndef VMM_MEMFAULT_H
#define VMM_MEMFAULT_H

struct vcpu;
void handle_ept_violation(struct vcpu *v);
void handle_ept_misconfig(struct vcpu *v);
void handle_monitor_trap(struct vcpu *v);

#endif
