/* Control-register exits of L1: the host-owned bits of CR0/CR4 (guest/host
 * masks and read shadows, SDM 25.6.6) and, where the CPU forces them, CR3
 * and CR8 exits. */
#ifndef VMM_CR_H
#define VMM_CR_H

#include <stdbool.h>
#include <stdint.h>

struct vcpu;

/* Architectural checks of MOV to CR0/CR4 (SDM 2.5, Vol. 2 MOV CR): false
 * means #GP. */
bool cr0_write_valid(uint64_t old_cr0, uint64_t new_cr0, uint64_t cr4, uint64_t efer);
bool cr4_write_valid(uint64_t new_cr4, uint64_t efer, uint64_t allowed);

void handle_cr_access(struct vcpu *v);

#endif
