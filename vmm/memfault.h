/* EPT violations and misconfigurations of L1 (on EPT01): accesses to
 * memory nestvisor keeps for itself, contained by policy. */
#ifndef VMM_MEMFAULT_H
#define VMM_MEMFAULT_H

#include <stdbool.h>

struct vcpu;
void handle_ept_violation(struct vcpu *v);
void handle_ept_misconfig(struct vcpu *v);
/* A #DB exit: true if it ended a single-stepped access to a hidden page. */
bool memfault_step_done(struct vcpu *v);
bool memfault_step_active(void);

#endif
