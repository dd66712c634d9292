/* vmcs01: the VMCS that runs L1. */
#ifndef VMM_VMCS01_H
#define VMM_VMCS01_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vm;

/* L1's state at its first instruction: 32-bit protected mode, paging off,
 * flat segments (the Multiboot and Linux 32-bit entry states). GPRs are set
 * in the vCPU's register block. */
struct l1_entry_state {
    uint64_t rip, rsp;
    uint16_t cs, ds;
    uint64_t gdt_base;
    uint32_t gdt_limit;
};

struct vcpu;

/* Creates v's vmcs01 (v->vmcs01 if already allocated), loads it on the
 * calling CPU, which must be v's, and writes controls and host state. */
bool vmcs01_setup(struct vm *vm, struct vcpu *v, char *why, size_t whysz);
void vmcs01_write_entry_state(struct vm *vm, struct vcpu *v, const struct l1_entry_state *s);
/* The state INIT leaves a CPU in (SDM Vol. 3A 10.1.1, Table 10-1). The
 * activity state is active: the vCPU waits for its start-up IPI in L0
 * (vmm/sipi.c), not in the VMCS. */
void vmcs01_write_init_state(struct vm *vm, struct vcpu *v);

#endif
