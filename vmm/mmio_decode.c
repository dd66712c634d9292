/* Decoding the few stores L1 uses on an emulated MMIO page (see the header).
 * Instruction format: SDM Vol. 2 chapter 2 (prefixes 2.1.1, ModR/M and SIB
 * 2.1.3-2.1.5, REX 2.2.1, 64-bit mode addressing 2.2.1.6); the
 * instructions: Vol. 2 chapter 4 (MOV, MOVNTI) and chapter 6 (XCHG). */
#include "vmm/mmio_decode.h"

/* Legacy prefixes (SDM Vol. 2 2.1.1): group 1 (LOCK, REPNE, REP), group 2
 * (segment overrides), group 3 (operand size), group 4 (address size). */
#define PFX_LOCK     0xf0
#define PFX_REPNE    0xf2
#define PFX_REP      0xf3
#define PFX_ES       0x26
#define PFX_CS       0x2e
#define PFX_SS       0x36
#define PFX_DS       0x3e
#define PFX_FS       0x64
#define PFX_GS       0x65
#define PFX_OPSIZE   0x66
#define PFX_ADDRSIZE 0x67

/* REX prefixes 40-4F in 64-bit mode (SDM Vol. 2 Table 2-4). */
#define REX_HIGH_MASK 0xf0
#define REX_HIGH      0x40
#define REX_W         0x08 /* 64-bit operand size, over 66 */
#define REX_R         0x04 /* extends ModR/M.reg */
#define REX_R_SHIFT   1    /* REX.R becomes bit 3 of the register number */

/* Opcodes (SDM Vol. 2 Appendix A, Tables ). */
#define OP_XCHG_RM8   0x86
#define OP_XCHG_RM    0x87
#define OP_MOV_RM8_R  0x88
#define OP_MOV_RM_R   0x89
#define OP_MOV_RM8_IB 0xc6
#define OP_MOV_RM_IZ  0xc7
#define OP_MOV_MOFFS8 0xa2 /* MOV moffs8, AL: no ModR/M, an address-size offset */
#define OP_MOV_MOFFS  0xa3 /* MOV moffs16/32/64, AX/EAX/RAX (GCC's constant-address store) */
#define OP_ESCAPE     0x0f
#define OP2_MOVNTI    0xc3 /* 0F C3, no 66/F2/F3 ("NP") */
#define MOV_IMM_EXT   0    /* C6 /0, C7 /0: other reg fields are other instructions */
#define OP_OR_RM8_R   0x08
#define OP_OR_RM_R    0x09
#define OP_AND_RM8_R  0x20
#define OP_AND_RM_R   0x21
#define OP_XOR_RM8_R  0x30
#define OP_XOR_RM_R   0x31
#define OP_GRP1_RM8_IB 0x80 /* group 1: the ALU op is ModR/M.reg */
#define OP_GRP1_RM_IZ  0x81
#define OP_GRP1_RM_IB  0x83 /* imm8 sign-extended to the operand size */
#define GRP1_OR       1
#define GRP1_AND      4
#define GRP1_XOR      6
#define OP2_BTS       0xab /* 0F AB BTS r/m, r */
#define OP2_BTR       0xb3
#define OP2_BTC       0xbb
#define OP2_GRP8      0xba /* 0F BA /4-/7 ib: BT BTS BTR BTC */
#define GRP8_BTS      5
#define GRP8_BTR      6
#define GRP8_BTC      7
#define NO_EXT        8    /* the ModR/M reg field is a register, not an opcode extension */
#define BYTE_BITS     8

/* ModR/M byte (SDM Vol. 2 Figure 2-1). */
#define MODRM_MOD(b)  ((unsigned)(b) >> 6)
#define MODRM_REG(b)  (((unsigned)(b) >> 3) & 7)
#define MODRM_RM(b)   ((unsigned)(b) & 7)
#define SIB_BASE(b)   ((unsigned)(b) & 7)
#define MOD_MEM       0 /* no displacement but for the special cases below */
#define MOD_DISP8     1
#define MOD_DISPFULL  2 /* disp16 or disp32 by address size */
#define MOD_REGISTER  3
#define RM16_DISP16   6 /* Table 2-1: mod 00 rm 110 is [disp16] */
#define RM32_SIB      4 /* Table 2-2: a SIB byte follows */
/* Table 2-2: mod 00 rm 101 is [disp32], RIP-relative in 64-bit mode (2.2.1.6);
 * Table 2-3: mod 00 with SIB base 101 is [scaled index + disp32]. */
#define RM32_DISP32   5
#define HIGH_BYTE_REGS 4 /* byte registers 4-7: AH CH DH BH without REX, SPL BPL
                          * SIL DIL with one (SDM Vol. 1 3.4.1.1, Vol. 2 2.2.1) */

struct prefixes {
    bool opsize, addrsize, lock, rep;
    uint8_t rex; /* 0 if none, or if a legacy prefix followed it (2.2.1) */
};

/* An instruction of len bytes: too long for the CPU, or beyond what we got. */
static enum mmio_decode_status need(unsigned len, unsigned n)
{
    if (len > MMIO_INSN_MAX_LEN)
        return MMIO_DECODE_UNSUPPORTED;
    return len > n ? MMIO_DECODE_TRUNCATED : MMIO_DECODE_OK;
}

static bool legacy_prefix(uint8_t b, struct prefixes *p)
{
    switch (b) {
    case PFX_OPSIZE:
        p->opsize = true;
        return true;
    case PFX_ADDRSIZE:
        p->addrsize = true;
        return true;
    case PFX_LOCK:
        p->lock = true;
        return true;
    case PFX_REPNE:
    case PFX_REP:
        p->rep = true;
        return true;
    case PFX_ES:
    case PFX_CS:
    case PFX_SS:
    case PFX_DS:
    case PFX_FS:
    case PFX_GS:
        return true; /* the EPT violation already gave the address */
    default:
        return false;
    }
}

/* Operand size of the r/m16/32/64 forms (SDM Vol. 1 3.6 and Vol. 2 Table
 * 2-4): REX.W gives 64; else 66 toggles the default, 16 or 32. */
static unsigned full_size(enum mmio_cpu_mode mode, const struct prefixes *p)
{
    if (p->rex & REX_W)
        return sizeof(uint64_t);
    return (mode == MMIO_MODE_16) == p->opsize ? sizeof(uint32_t) : sizeof(uint16_t);
}

/* Address size in bytes (SDM Vol. 1 3.6, Vol. 2 Table 2-4): 67 toggles 16
 * and 32 outside 64-bit mode, and makes 64-bit mode's 64 into 32. */
static unsigned addr_size(enum mmio_cpu_mode mode, const struct prefixes *p)
{
    if (mode == MMIO_MODE_64)
        return p->addrsize ? sizeof(uint32_t) : sizeof(uint64_t);
    return (mode == MMIO_MODE_16) == p->addrsize ? sizeof(uint32_t) : sizeof(uint16_t);
}

/* The displacement's length after a ModR/M byte with mod != 11; reads the
 * SIB byte if there is one, *i moving past it. */
static enum mmio_decode_status displacement(const uint8_t *bytes, unsigned n, unsigned *i,
                                            uint8_t modrm, bool addr16, unsigned *disp)
{
    unsigned mod = MODRM_MOD(modrm), base = MODRM_RM(modrm);
    if (addr16) {
        /* Table 2-1: disp8 with mod 01, disp16 with mod 10 or [disp16]. */
        bool d16 = mod == MOD_DISPFULL || (mod == MOD_MEM && base == RM16_DISP16);
        *disp = mod == MOD_DISP8 ? 1 : d16 ? 2 : 0;
        return MMIO_DECODE_OK;
    }
    /* Tables 2-2 and 2-3 (REX.B and REX.X change no length: 2.2.1.2). */
    if (base == RM32_SIB) {
        enum mmio_decode_status st = need(*i + 1, n);
        if (st)
            return st;
        base = SIB_BASE(bytes[(*i)++]);
    }
    bool d32 = mod == MOD_DISPFULL || (mod == MOD_MEM && base == RM32_DISP32);
    *disp = mod == MOD_DISP8 ? 1 : d32 ? 4 : 0;
    return MMIO_DECODE_OK;
}

static uint64_t read_le(const uint8_t *b, unsigned len)
{
    uint64_t v = 0;
    for (unsigned i = len; i-- > 0;)
        v = (v << 8) | b[i];
    return v;
}

enum mmio_decode_status mmio_decode_store(const uint8_t *bytes, unsigned n, enum mmio_cpu_mode mode,
                                          struct mmio_store *out)
{
    struct prefixes p = {0};
    enum mmio_decode_status st;
    unsigned i = 0;
    if (mode != MMIO_MODE_16 && mode != MMIO_MODE_32 && mode != MMIO_MODE_64)
        return MMIO_DECODE_UNSUPPORTED;

    /* Prefixes up to the opcode. A REX counts only directly before it. */
    for (;; i++) {
        if ((st = need(i + 1, n)))
            return st;
        if (legacy_prefix(bytes[i], &p))
            p.rex = 0;
        else if (mode == MMIO_MODE_64 && (bytes[i] & REX_HIGH_MASK) == REX_HIGH)
            p.rex = bytes[i];
        else
            break;
    }

    struct mmio_store s = {.from_reg = true};
    bool has_modrm = true, imm8 = false, sign_extend_imm8 = false;
    unsigned ext = NO_EXT; /* a group opcode's ModR/M.reg, decoded below */
    uint8_t op = bytes[i++];
    switch (op) {
    case OP_XCHG_RM8:
    case OP_XCHG_RM:
        s.op = MMIO_OP_XCHG;
        s.exchange = true;
        s.size = op == OP_XCHG_RM8 ? 1 : full_size(mode, &p);
        break;
    case OP_MOV_RM8_R:
    case OP_MOV_RM8_IB:
        s.size = 1;
        s.from_reg = op == OP_MOV_RM8_R;
        ext = s.from_reg ? NO_EXT : MOV_IMM_EXT;
        break;
    case OP_MOV_RM_R:
    case OP_MOV_RM_IZ:
        s.size = full_size(mode, &p);
        s.from_reg = op == OP_MOV_RM_R;
        ext = s.from_reg ? NO_EXT : MOV_IMM_EXT;
        break;
    case OP_MOV_MOFFS8:
    case OP_MOV_MOFFS:
        s.size = op == OP_MOV_MOFFS8 ? 1 : full_size(mode, &p);
        has_modrm = false; /* the source is AL/AX/EAX/RAX: reg 0 */
        break;
    case OP_OR_RM8_R:
    case OP_OR_RM_R:
    case OP_AND_RM8_R:
    case OP_AND_RM_R:
    case OP_XOR_RM8_R:
    case OP_XOR_RM_R:
        s.op = op <= OP_OR_RM_R ? MMIO_OP_OR : op <= OP_AND_RM_R ? MMIO_OP_AND : MMIO_OP_XOR;
        s.size = (op & 1) ? full_size(mode, &p) : 1;
        break;
    case OP_GRP1_RM8_IB:
    case OP_GRP1_RM_IZ:
    case OP_GRP1_RM_IB:
        s.from_reg = false;
        s.size = op == OP_GRP1_RM8_IB ? 1 : full_size(mode, &p);
        imm8 = op != OP_GRP1_RM_IZ;
        sign_extend_imm8 = op == OP_GRP1_RM_IB;
        ext = GRP1_OR; /* checked against the three below */
        break;
    case OP_ESCAPE: {
        if ((st = need(i + 1, n)))
            return st;
        uint8_t op2 = bytes[i++];
        s.size = full_size(mode, &p);
        if (op2 == OP2_MOVNTI) {
            /* MOVNTI m32/m64: REX.W or nothing; 66, F2 or F3 make another
             * (undefined) opcode. */
            if (p.opsize || p.rep)
                return MMIO_DECODE_UNSUPPORTED;
            s.size = p.rex & REX_W ? sizeof(uint64_t) : sizeof(uint32_t);
        } else if (op2 == OP2_BTS || op2 == OP2_BTR || op2 == OP2_BTC) {
            s.op = op2 == OP2_BTS ? MMIO_OP_BTS : op2 == OP2_BTR ? MMIO_OP_BTR : MMIO_OP_BTC;
        } else if (op2 == OP2_GRP8) {
            s.from_reg = false;
            imm8 = true;
            ext = GRP8_BTS; /* checked against the three below */
        } else {
            return MMIO_DECODE_UNSUPPORTED;
        }
        break;
    }
    default:
        return MMIO_DECODE_UNSUPPORTED;
    }

    /* LOCK is #UD but with read-modify-write instructions (SDM Vol. 2
     * LOCK): XCHG, OR, AND, XOR, BTS, BTR, BTC here (the group opcodes
     * decode to those only). F2/F3 change nothing for these (with MOV and
     * XCHG they are the HLE hints). */
    if (p.lock && s.op == MMIO_OP_MOV && ext != GRP1_OR && ext != GRP8_BTS)
        return MMIO_DECODE_UNSUPPORTED;

    /* ModR/M: a memory destination only. A2/A3 have none but an offset of
     * the address size (SDM Vol. 2B MOV, the note on moffs). */
    unsigned asize = addr_size(mode, &p), disp = asize, reg = 0;
    if (has_modrm) {
        if ((st = need(i + 1, n)))
            return st;
        uint8_t modrm = bytes[i++];
        if (MODRM_MOD(modrm) == MOD_REGISTER)
            return MMIO_DECODE_UNSUPPORTED;
        unsigned r = MODRM_REG(modrm);
        if (ext == GRP1_OR) {
            if (r != GRP1_OR && r != GRP1_AND && r != GRP1_XOR)
                return MMIO_DECODE_UNSUPPORTED; /* ADD, ADC, SBB, SUB, CMP */
            s.op = r == GRP1_OR ? MMIO_OP_OR : r == GRP1_AND ? MMIO_OP_AND : MMIO_OP_XOR;
        } else if (ext == GRP8_BTS) {
            if (r != GRP8_BTS && r != GRP8_BTR && r != GRP8_BTC)
                return MMIO_DECODE_UNSUPPORTED; /* BT only reads */
            s.op = r == GRP8_BTS ? MMIO_OP_BTS : r == GRP8_BTR ? MMIO_OP_BTR : MMIO_OP_BTC;
        } else if (ext != NO_EXT && r != ext) {
            return MMIO_DECODE_UNSUPPORTED;
        }
        reg = r | (p.rex & REX_R) << REX_R_SHIFT;
        if ((st = displacement(bytes, n, &i, modrm, asize == sizeof(uint16_t), &disp)))
            return st;
    }
    /* The immediate: ib (80, 83, 0F BA); iw with a 16-bit operand, else
     * id, which REX.W sign-extends to 64 bits (SDM Vol. 2 MOV: "C7 /0 id"). */
    unsigned imm_len = s.from_reg ? 0 : imm8 ? 1 : s.size == sizeof(uint64_t) ? sizeof(uint32_t) : s.size;
    i += disp;
    if ((st = need(i + imm_len, n)))
        return st;
    s.imm = read_le(bytes + i, imm_len);
    if (imm_len == sizeof(uint32_t) && s.size == sizeof(uint64_t))
        s.imm = (uint64_t)(int64_t)(int32_t)(uint32_t)s.imm;
    if (sign_extend_imm8 && s.size > 1) {
        s.imm = (uint64_t)(int64_t)(int8_t)(uint8_t)s.imm;
        if (s.size < sizeof(uint64_t))
            s.imm &= (1ULL << (s.size * BYTE_BITS)) - 1;
    }
    i += imm_len;

    if (s.from_reg) {
        s.reg = reg;
        s.high_byte = s.size == 1 && !p.rex && s.reg >= HIGH_BYTE_REGS;
        if (s.high_byte)
            s.reg -= HIGH_BYTE_REGS;
    }
    s.length = i;
    *out = s;
    return MMIO_DECODE_OK;
}
