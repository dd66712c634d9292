#include "vmm/store.h"
#include "vmm/gva.h"
#include "vmm/vcpu.h"
#include "arch/x86/cpu_bits.h"
#include "arch/x86/vmx.h"
#include "arch/x86/vmx_bits.h"
#include "vmm/memmap.h"

#define GPR_RSP    4 /* RSP lives in the VMCS, not in struct guest_regs */
#define BYTE_BITS  8
#define LOW32_MASK 0xffffffffULL

static enum mmio_cpu_mode guest_cpu_mode(void)
{
    uint32_t cs = vmcs_read32(VMCS_GUEST_CS_AR_BYTES);
    if ((vmcs_read(VMCS_GUEST_IA32_EFER) & EFER_LMA) && (cs & AR_L))
        return MMIO_MODE_64;
    return (cs & AR_DB) ? MMIO_MODE_32 : MMIO_MODE_16;
}

/* The bytes at the guest's CS:RIP, as many as are readable up to 15. */
static unsigned fetch_instruction(enum mmio_cpu_mode mode, uint8_t *bytes)
{
    uint64_t gla = vmcs_read(VMCS_GUEST_RIP);
    if (mode != MMIO_MODE_64)
        gla = (gla + vmcs_read(VMCS_GUEST_CS_BASE)) & LOW32_MASK;
    struct gva_fault f;
    if (gva_fetch(gla, bytes, MMIO_INSN_MAX_LEN, &f))
        return MMIO_INSN_MAX_LEN;
    unsigned to_page_end = (unsigned)(PAGE_SIZE - (gla & (PAGE_SIZE - 1)));
    if (to_page_end < MMIO_INSN_MAX_LEN && gva_fetch(gla, bytes, to_page_end, &f))
        return to_page_end;
    return 0;
}

static uint64_t size_mask(unsigned size)
{
    return size >= sizeof(uint64_t) ? ~0ULL : (1ULL << (size * BYTE_BITS)) - 1;
}

static uint64_t read_gpr(struct vcpu *v, unsigned reg)
{
    return reg == GPR_RSP ? vmcs_read(VMCS_GUEST_RSP) : *guest_gpr(&v->regs, reg);
}

static void write_gpr(struct vcpu *v, unsigned reg, uint64_t value)
{
    if (reg == GPR_RSP)
        vmcs_write(VMCS_GUEST_RSP, value);
    else
        *guest_gpr(&v->regs, reg) = value;
}

bool store_decode(struct vcpu *v, struct guest_store *s, const char **why)
{
    enum mmio_cpu_mode mode = guest_cpu_mode();
    uint8_t bytes[MMIO_INSN_MAX_LEN];
    unsigned n = fetch_instruction(mode, bytes);
    if (!n) {
        *why = "its instruction cannot be read";
        return false;
    }
    if (mmio_decode_store(bytes, n, mode, &s->insn) != MMIO_DECODE_OK) {
        *why = "the instruction is not a store nestvisor decodes";
        return false;
    }
    const struct mmio_store *st = &s->insn;
    if (!st->from_reg)
        s->value = st->imm & size_mask(st->size);
    else
        s->value = (st->high_byte ? read_gpr(v, st->reg) >> BYTE_BITS : read_gpr(v, st->reg)) & size_mask(st->size);
    return true;
}

static unsigned operand_bits(const struct guest_store *s) { return s->insn.size * BYTE_BITS; }

/* BTS/BTR/BTC: the bit within the operand. A register offset may reach
 * beyond it, but the CPU then accesses the operand that holds the bit,
 * which is where the EPT violation was (SDM Vol. 2 BT: bit base and
 * offset); the offset modulo the operand size names the bit there. */
static uint64_t bit_mask(const struct guest_store *s) { return 1ULL << (s->value & (operand_bits(s) - 1)); }

uint64_t store_result(const struct guest_store *s, uint64_t old)
{
    uint64_t r;
    switch (s->insn.op) {
    case MMIO_OP_OR: r = old | s->value; break;
    case MMIO_OP_AND: r = old & s->value; break;
    case MMIO_OP_XOR: r = old ^ s->value; break;
    case MMIO_OP_BTS: r = old | bit_mask(s); break;
    case MMIO_OP_BTR: r = old & ~bit_mask(s); break;
    case MMIO_OP_BTC: r = old ^ bit_mask(s); break;
    default: r = s->value; break; /* MOV, XCHG */
    }
    return r & size_mask(s->insn.size);
}

static bool even_parity(uint8_t b) { return !__builtin_parity(b); }

/* RFLAGS after a read-modify-write (SDM Vol. 2: OR/AND/XOR clear CF and
 * OF and set SF, ZF, PF from the result, AF undefined (kept); BTS/BTR/BTC
 * set CF to the bit's old value, the others undefined (kept)). */
static void update_flags(const struct guest_store *s, uint64_t old)
{
    enum mmio_op op = s->insn.op;
    if (op == MMIO_OP_MOV || op == MMIO_OP_XCHG)
        return;
    uint64_t rflags = vmcs_read(VMCS_GUEST_RFLAGS);
    if (op == MMIO_OP_BTS || op == MMIO_OP_BTR || op == MMIO_OP_BTC) {
        rflags = (old & bit_mask(s)) ? rflags | RFLAGS_CF : rflags & ~RFLAGS_CF;
    } else {
        uint64_t r = store_result(s, old);
        rflags &= ~(RFLAGS_CF | RFLAGS_OF | RFLAGS_SF | RFLAGS_ZF | RFLAGS_PF);
        if (r >> (operand_bits(s) - 1) & 1)
            rflags |= RFLAGS_SF;
        if (!r)
            rflags |= RFLAGS_ZF;
        if (even_parity((uint8_t)r))
            rflags |= RFLAGS_PF;
    }
    vmcs_write(VMCS_GUEST_RFLAGS, rflags);
}

/* XCHG's register gets the old memory value as a MOV to it would: 32-bit
 * writes clear bits 63:32, 8- and 16-bit ones keep the rest (SDM Vol. 1
 * 3.4.1.1). */
void store_complete(struct vcpu *v, const struct guest_store *s, uint64_t old)
{
    const struct mmio_store *st = &s->insn;
    if (st->op == MMIO_OP_XCHG) {
        uint64_t r = read_gpr(v, st->reg);
        if (st->high_byte)
            r = (r & ~(size_mask(1) << BYTE_BITS)) | (old & size_mask(1)) << BYTE_BITS;
        else if (st->size == sizeof(uint32_t))
            r = old & LOW32_MASK;
        else
            r = (r & ~size_mask(st->size)) | (old & size_mask(st->size));
        write_gpr(v, st->reg, r);
    }
    update_flags(s, old);
    vcpu_skip_bytes(v, st->length);
}

static uint64_t mem_read(volatile void *p, unsigned size)
{
    switch (size) {
    case 1: return *(volatile uint8_t *)p;
    case 2: return *(volatile uint16_t *)p;
    case 4: return *(volatile uint32_t *)p;
    default: return *(volatile uint64_t *)p;
    }
}

static void mem_write(volatile void *p, unsigned size, uint64_t value)
{
    switch (size) {
    case 1: *(volatile uint8_t *)p = (uint8_t)value; break;
    case 2: *(volatile uint16_t *)p = (uint16_t)value; break;
    case 4: *(volatile uint32_t *)p = (uint32_t)value; break;
    default: *(volatile uint64_t *)p = value; break;
    }
}

void store_apply(volatile void *p, const struct guest_store *s, uint64_t *old)
{
    /* A plain store does not read: a device register may be write-only
     * (the APIC's EOI). */
    *old = s->insn.op == MMIO_OP_MOV ? 0 : mem_read(p, s->insn.size);
    mem_write(p, s->insn.size, store_result(s, *old));
}
