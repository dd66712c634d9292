/* The store instruction behind an EPT violation on a page nestvisor
 * emulates (L1's xAPIC page, for its ICR writes). An EPT violation reports
 * the guest-physical address but neither the value written nor, for this
 * exit, the instruction length (SDM Vol. 3C 28.2.1, 28.2.5): the caller
 * fetches the bytes at the guest's RIP and this decodes the store from
 * them. Pure computation over the bytes: no guest access, no VMCS. */
#ifndef VMM_MMIO_DECODE_H
#define VMM_MMIO_DECODE_H

#include <stdbool.h>
#include <stdint.h>

/* An instruction longer than this raises #GP (SDM Vol. 2 2.3.11, Vol. 3A
 * 6.15 "Interrupt 13"). */
#define MMIO_INSN_MAX_LEN 15

/* The default address and operand size from CS (SDM Vol. 1 3.6): 16 in
 * real mode and with CS.D=0, 32 with CS.D=1, 64 with CS.L=1 in IA-32e mode. */
enum mmio_cpu_mode { MMIO_MODE_16, MMIO_MODE_32, MMIO_MODE_64 };

struct mmio_store {
    unsigned length; /* instruction length in bytes, prefixes included */
    unsigned size;   /* bytes written to memory: 1, 2, 4 or 8 */
    bool from_reg;   /* the value comes from GPR `reg`, else it is `imm` */
    unsigned reg;    /* 0-15: RAX, RCX, RDX, RBX, RSP, RBP, RSI, RDI, R8..R15 */
    bool high_byte;  /* the source is AH, CH, DH or BH (reg 0-3) */
    bool exchange;   /* XCHG: `reg` also receives the memory's old value */
    uint64_t imm;    /* the immediate, extended to `size` bytes as the CPU does */
};

enum mmio_decode_status {
    MMIO_DECODE_OK,
    MMIO_DECODE_TRUNCATED,   /* the instruction goes on beyond the n bytes given */
    MMIO_DECODE_UNSUPPORTED, /* not a store below, a register destination, or invalid */
};

/* Decodes the instruction at bytes[0..n) executed in `mode`. Recognised
 * (SDM Vol. 2): MOV 88 /r, 89 /r, C6 /0 ib, C7 /0 iw/id, A2 and A3 (to
 * moffs from AL/AX/EAX/RAX: what GCC emits for a store to a constant
 * address); XCHG 86 /r, 87 /r; MOVNTI 0F C3 /r; with a memory destination,
 * legacy prefixes in any order and a REX prefix in 64-bit mode. LOCK is
 * accepted with XCHG only (elsewhere it is #UD). `out` is written only for
 * MMIO_DECODE_OK. Never reads beyond bytes[n - 1] nor beyond
 * MMIO_INSN_MAX_LEN bytes. */
enum mmio_decode_status mmio_decode_store(const uint8_t *bytes, unsigned n, enum mmio_cpu_mode mode,
                                          struct mmio_store *out);

#endif
