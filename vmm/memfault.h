/* EPT violations and misconfigurations of L1 (on EPT01): accesses to
 * memory nestvisor keeps for itself, under hidden=stop. */
#ifndef VMM_MEMFAULT_H
#define VMM_MEMFAULT_H

#include <stdint.h>

struct vcpu;

/* An access (EPT-violation qualification) by L1, or by L2 through EPT12,
 * to l1_gpa, which L1 does not own and EPT01 does not map: reported, then
 * L1 is stopped. */
__attribute__((noreturn)) void memfault_contain(struct vcpu *v, uint64_t l1_gpa, uint64_t qualification);
void handle_ept_violation(struct vcpu *v);
void handle_ept_misconfig(struct vcpu *v);

#endif
