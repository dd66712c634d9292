/* Instructions that exit from L1 and need little emulation: XSETBV, INVD,
 * WBINVD, HLT; and the exits that end L1 (triple fault, INIT). */
#ifndef VMM_INSN_H
#define VMM_INSN_H

#include <stdbool.h>
#include <stdint.h>

struct vcpu;

/* XCR0 validity (SDM 13.3): supported is CPUID.(0DH,0):EDX:EAX. */
bool xcr0_valid(uint64_t value, uint64_t supported);

void handle_xsetbv(struct vcpu *v);
void handle_invd(struct vcpu *v);
void handle_wbinvd(struct vcpu *v);
void handle_hlt(struct vcpu *v);
void handle_triple_fault(struct vcpu *v);
void handle_vmx_instruction_disabled(struct vcpu *v);

#endif
