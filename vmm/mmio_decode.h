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

/* What the instruction does to the memory operand (and RFLAGS). */
enum mmio_op {
    MMIO_OP_MOV,  /* memory = source (MOV, MOVNTI) */
    MMIO_OP_XCHG, /* memory = source; the register gets the old value */
    MMIO_OP_OR,   /* memory |= source; SF ZF PF from the result, CF OF 0 */
    MMIO_OP_AND,  /* memory &= source; likewise */
    MMIO_OP_XOR,  /* memory ^= source; likewise */
    MMIO_OP_BTS,  /* bit (source mod the operand's bits) set; CF = its old value */
    MMIO_OP_BTR,  /* ... cleared */
    MMIO_OP_BTC,  /* ... complemented */
};

struct mmio_store {
    enum mmio_op op;
    unsigned length; /* instruction length in bytes, prefixes included */
    unsigned size;   /* bytes written to memory: 1, 2, 4 or 8 */
    bool from_reg;   /* the value comes from GPR `reg`, else it is `imm` */
    unsigned reg;    /* 0-15: RAX, RCX, RDX, RBX, RSP, RBP, RSI, RDI, R8..R15 */
    bool high_byte;  /* the source is AH, CH, DH or BH (reg 0-3) */
    bool exchange;   /* XCHG: `reg` also receives the memory's old value */
    uint64_t imm;    /* the immediate, extended to `size` bytes as the CPU does
                        (for BTS/BTR/BTC: the bit offset) */
};

enum mmio_decode_status {
    MMIO_DECODE_OK,
    MMIO_DECODE_TRUNCATED,   /* the instruction goes on beyond the n bytes given */
    MMIO_DECODE_UNSUPPORTED, /* not a store below, a register destination, or invalid */
};

/* Decodes the instruction at bytes[0..n) executed in `mode`. Recognised
 * (SDM Vol. 2): MOV 88 /r, 89 /r, C6 /0 ib, C7 /0 iw/id, A2 and A3 (to
 * moffs from AL/AX/EAX/RAX: what GCC emits for a store to a constant
 * address); XCHG 86 /r, 87 /r; MOVNTI 0F C3 /r; the read-modify-writes
 * guests use on bitmaps: OR 08/09 /r, 80 /1 ib, 81 /1 iz, 83 /1 ib; AND
 * 20/21, 80-83 /4; XOR 30/31, 80-83 /6; BTS 0F AB /r, 0F BA /5 ib; BTR
 * 0F B3, 0F BA /6; BTC 0F BB, 0F BA /7; with a memory destination, legacy
 * prefixes in any order and a REX prefix in 64-bit mode. LOCK is accepted
 * with XCHG and the read-modify-writes (elsewhere it is #UD). `out` is
 * written only for MMIO_DECODE_OK. Never reads beyond bytes[n - 1] nor
 * beyond MMIO_INSN_MAX_LEN bytes. */
enum mmio_decode_status mmio_decode_store(const uint8_t *bytes, unsigned n, enum mmio_cpu_mode mode,
                                          struct mmio_store *out);

#endif
