/* EPT violations and misconfigurations of L1 (on EPT01): accesses to
 * memory nestvisor keeps for itself, contained by policy. */
#ifndef VMM_MEMFAULT_H
#define VMM_MEMFAULT_H

#include <stdbool.h>
#include <stdint.h>

struct vcpu;
struct ept;

/* An access to memory the guest may not reach (nestvisor's, or beyond
 * RAM): handled by the hidden-memory policy. ept/eptp: the EPT the guest
 * runs on; map_gpa: the faulting page in it; l1_gpa: the address in L1's
 * physical space (the same for L1). */
void memfault_contain(struct vcpu *v, struct ept *ept, uint64_t eptp, uint64_t map_gpa,
                      uint64_t l1_gpa, uint64_t qualification);
void handle_ept_violation(struct vcpu *v);
void handle_ept_misconfig(struct vcpu *v);
/* A #DB exit: true if it ended a single-stepped access to a hidden page. */
bool memfault_step_done(struct vcpu *v);
bool memfault_step_active(void);

#endif
