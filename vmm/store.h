/* Emulating one store instruction of the guest the current VMCS runs (L1,
 * or L2 with L1's EPT translating its memory): for pages L0 keeps
 * read-only to see every write (L1's local APIC while its INIT/SIPI are
 * watched, L1's bitmap pages merged into vmcs02). An EPT violation gives
 * neither the value nor the length (SDM 28.2.1): the instruction is
 * fetched at CS:RIP and decoded (mmio_decode.c). The caller does the write
 * itself, where it belongs. */
#ifndef VMM_STORE_H
#define VMM_STORE_H

#include <stdbool.h>
#include <stdint.h>
#include "vmm/mmio_decode.h"

struct vcpu;

struct guest_store {
    struct mmio_store insn;
    uint64_t value; /* the source operand, insn.size bytes (BT*: the bit offset) */
};

/* Fetches and decodes the instruction at the guest's RIP; false if it is
 * not a store L0 decodes or cannot be read (*why says which). */
bool store_decode(struct vcpu *v, struct guest_store *s, const char **why);
/* What it leaves in memory that held `old` (a plain store: its value). */
uint64_t store_result(const struct guest_store *s, uint64_t old);
/* Completes it: XCHG's register receives `old` (the memory's previous
 * value), a read-modify-write sets RFLAGS, RIP moves past the
 * instruction. */
void store_complete(struct vcpu *v, const struct guest_store *s, uint64_t old);
/* The memory access itself, into memory L0 can reach: `old` gets what was
 * there (0 for a plain store, which reads nothing). */
void store_apply(volatile void *p, const struct guest_store *s, uint64_t *old);

#endif
