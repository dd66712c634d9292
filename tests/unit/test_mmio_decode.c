/* unit-srcs: vmm/mmio_decode.c */
/* vmm/mmio_decode.c: the stores L1 may use on an emulated MMIO page,
 * decoded from their bytes (SDM Vol. 2 chapter 2: prefixes, REX, ModR/M
 * and SIB in Tables 2-1 to 2-3, RIP-relative addressing; MOV, XCHG,
 * MOVNTI, and the read-modify-writes OR, AND, XOR, BTS, BTR, BTC). Every OK encoding in the table was checked against objdump
 * (-mi8086, -mi386, -mi386:x86-64), whose reading is the string; each is
 * also decoded from every shorter prefix of itself (TRUNCATED) and with
 * trailing bytes (the same result), from buffers of exactly the length
 * given, so that ASan sees any read beyond it. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>
#include "vmm/mmio_decode.h"

#define M16         MMIO_MODE_16
#define M32         MMIO_MODE_32
#define M64         MMIO_MODE_64
#define OK          MMIO_DECODE_OK
#define TRUNCATED   MMIO_DECODE_TRUNCATED
#define UNSUPPORTED MMIO_DECODE_UNSUPPORTED

/* GPR numbers (SDM Vol. 2 Table 2-4's order); AH-BH are 4-7 without REX. */
enum { RAX, RCX, RDX, RBX, RSP, RBP, RSI, RDI, R8, R9, R10, R11, R12, R13, R14, R15 };
enum { AH = RAX, CH = RCX, DH = RDX, BH = RBX };

struct store_case {
    const char *att; /* objdump's reading */
    enum mmio_cpu_mode mode;
    uint8_t bytes[MMIO_INSN_MAX_LEN];
    unsigned n;             /* the instruction's length */
    struct mmio_store want; /* .length is n */
};

#define BYTES(...) {__VA_ARGS__}, sizeof((const uint8_t[]){__VA_ARGS__})
#define REG_SRC(sz, r) {.size = (sz), .from_reg = true, .reg = (r)}
#define HIGH_SRC(r) {.size = 1, .from_reg = true, .reg = (r), .high_byte = true}
#define XCHG_SRC(sz, r) {.op = MMIO_OP_XCHG, .size = (sz), .from_reg = true, .reg = (r), .exchange = true}
#define XCHG_HIGH(r) {.op = MMIO_OP_XCHG, .size = 1, .from_reg = true, .reg = (r), .high_byte = true, .exchange = true}
#define IMM(sz, v) {.size = (sz), .imm = (v)}
/* The read-modify-writes guests use on bitmaps (set_bit, clear_bit). */
#define RMW_REG(o, sz, r) {.op = (o), .size = (sz), .from_reg = true, .reg = (r)}
#define RMW_IMM(o, sz, v) {.op = (o), .size = (sz), .imm = (v)}

static const struct store_case stores[] = {
    /* read-modify-writes (SDM Vol. 2 OR, AND, XOR, BTS, BTR, BTC) */
    {"lock orb $0x4,(%rdi)", M64, BYTES(0xf0, 0x80, 0x0f, 0x04), RMW_IMM(MMIO_OP_OR, 1, 0x4)},
    {"or %eax,(%rsi)", M64, BYTES(0x09, 0x06), RMW_REG(MMIO_OP_OR, 4, RAX)},
    {"orl $0x12345678,0x10(%rsp)", M64, BYTES(0x81, 0x4c, 0x24, 0x10, 0x78, 0x56, 0x34, 0x12),
     RMW_IMM(MMIO_OP_OR, 4, 0x12345678)},
    {"andq $0xfffffffffffffffe,(%rax)", M64, BYTES(0x48, 0x83, 0x20, 0xfe),
     RMW_IMM(MMIO_OP_AND, 8, 0xfffffffffffffffe)},
    {"andw $0xfffe,(%rax)", M64, BYTES(0x66, 0x83, 0x20, 0xfe), RMW_IMM(MMIO_OP_AND, 2, 0xfffe)},
    {"and %dl,(%rbx)", M64, BYTES(0x20, 0x13), RMW_REG(MMIO_OP_AND, 1, RDX)},
    {"xor %cl,0x300(%rbx)", M64, BYTES(0x30, 0x8b, 0x00, 0x03, 0x00, 0x00), RMW_REG(MMIO_OP_XOR, 1, RCX)},
    {"xorl $0x1,(%rdi)", M64, BYTES(0x83, 0x37, 0x01), RMW_IMM(MMIO_OP_XOR, 4, 0x1)},
    {"lock bts %eax,(%rdi)", M64, BYTES(0xf0, 0x0f, 0xab, 0x07), RMW_REG(MMIO_OP_BTS, 4, RAX)},
    {"lock btr %r9,(%rdi)", M64, BYTES(0xf0, 0x4c, 0x0f, 0xb3, 0x0f), RMW_REG(MMIO_OP_BTR, 8, R9)},
    {"btc %ax,(%rsi)", M64, BYTES(0x66, 0x0f, 0xbb, 0x06), RMW_REG(MMIO_OP_BTC, 2, RAX)},
    {"btrq $0x5,(%rsi)", M64, BYTES(0x48, 0x0f, 0xba, 0x36, 0x05), RMW_IMM(MMIO_OP_BTR, 8, 0x5)},
    {"lock btsl $0x3,(%rdi)", M64, BYTES(0xf0, 0x0f, 0xba, 0x2f, 0x03), RMW_IMM(MMIO_OP_BTS, 4, 0x3)},
    {"btcl $0x1f,(%eax)", M32, BYTES(0x0f, 0xba, 0x38, 0x1f), RMW_IMM(MMIO_OP_BTC, 4, 0x1f)},
    {"orw $0xff80,(%bx)", M16, BYTES(0x83, 0x0f, 0x80), RMW_IMM(MMIO_OP_OR, 2, 0xff80)},
    /* 64-bit mode */
    {"mov %eax,(%rsi)", M64, BYTES(0x89, 0x06), REG_SRC(4, RAX)},
    {"movq $0xffffffffffffffff,(%rax)", M64, BYTES(0x48, 0xc7, 0x00, 0xff, 0xff, 0xff, 0xff),
     IMM(8, 0xffffffffffffffff)},
    {"movq $0xffffffff80000000,(%rax)", M64, BYTES(0x48, 0xc7, 0x00, 0x00, 0x00, 0x00, 0x80),
     IMM(8, 0xffffffff80000000)},
    {"movq $0x7fffffff,(%rax)", M64, BYTES(0x48, 0xc7, 0x00, 0xff, 0xff, 0xff, 0x7f),
     IMM(8, 0x7fffffff)},
    {"movl $0xffffffff,(%rax)", M64, BYTES(0xc7, 0x00, 0xff, 0xff, 0xff, 0xff), IMM(4, 0xffffffff)},
    {"movw $0x4500,(%rax)", M64, BYTES(0x66, 0xc7, 0x00, 0x00, 0x45), IMM(2, 0x4500)},
    {"movl $0x4500,0xff4(%rip)", M64,
     BYTES(0xc7, 0x05, 0xf4, 0x0f, 0x00, 0x00, 0x00, 0x45, 0x00, 0x00), IMM(4, 0x4500)},
    {"movb $0x1,(%rax)", M64, BYTES(0xc6, 0x00, 0x01), IMM(1, 0x1)},
    {"movb $0xff,0x0(%rip)", M64, BYTES(0xc6, 0x05, 0x00, 0x00, 0x00, 0x00, 0xff), IMM(1, 0xff)},
    {"mov %eax,0xff4(%rip)", M64, BYTES(0x89, 0x05, 0xf4, 0x0f, 0x00, 0x00),
     REG_SRC(4, RAX)}, /* RIP-relative */
    {"mov %eax,0xff4(%eip)", M64, BYTES(0x67, 0x89, 0x05, 0xf4, 0x0f, 0x00, 0x00), REG_SRC(4, RAX)},
    {"mov %esi,0xfffffffffee00300", M64, BYTES(0x89, 0x34, 0x25, 0x00, 0x03, 0xe0, 0xfe),
     REG_SRC(4, RSI)}, /* disp32 sign-extends */
    {"mov %esi,0xfee00300(,%eiz,1)", M64, BYTES(0x67, 0x89, 0x34, 0x25, 0x00, 0x03, 0xe0, 0xfe),
     REG_SRC(4, RSI)},
    {"mov %r8d,(%rax)", M64, BYTES(0x44, 0x89, 0x00), REG_SRC(4, R8)},
    {"mov %r15,(%rsp)", M64, BYTES(0x4c, 0x89, 0x3c, 0x24), REG_SRC(8, R15)},
    {"mov %eax,0x0(%r13)", M64, BYTES(0x41, 0x89, 0x45, 0x00),
     REG_SRC(4, RAX)}, /* REX.B: r13 needs a disp8 like rbp */
    {"mov %eax,(%r12)", M64, BYTES(0x41, 0x89, 0x04, 0x24),
     REG_SRC(4, RAX)}, /* REX.B: r12 needs a SIB like rsp */
    {"mov %eax,0x0(%rip)", M64, BYTES(0x41, 0x89, 0x05, 0x00, 0x00, 0x00, 0x00),
     REG_SRC(4, RAX)}, /* REX.B: still RIP-relative (Table 2-5) */
    {"mov %eax,0x300(,%r12,1)", M64, BYTES(0x42, 0x89, 0x04, 0x25, 0x00, 0x03, 0x00, 0x00),
     REG_SRC(4, RAX)},
    {"mov %eax,0x10(%r13,%r12,1)", M64, BYTES(0x43, 0x89, 0x44, 0x25, 0x10), REG_SRC(4, RAX)},
    {"mov %eax,0x100(%rsi,%rcx,4)", M64, BYTES(0x89, 0x84, 0x8e, 0x00, 0x01, 0x00, 0x00),
     REG_SRC(4, RAX)},
    {"mov %rax,(%rsi)", M64, BYTES(0x48, 0x89, 0x06), REG_SRC(8, RAX)},
    {"data16 mov %rax,(%rsi)", M64, BYTES(0x66, 0x48, 0x89, 0x06),
     REG_SRC(8, RAX)}, /* REX.W over 66 */
    {"rex.W mov %ax,(%rsi)", M64, BYTES(0x48, 0x66, 0x89, 0x06),
     REG_SRC(2, RAX)}, /* REX before 66: ignored */
    {"rex.R ds mov %eax,(%rsi)", M64, BYTES(0x44, 0x3e, 0x89, 0x06), REG_SRC(4, RAX)}, /* ignored */
    {"rex.W mov %r8d,(%rsi)", M64, BYTES(0x48, 0x44, 0x89, 0x06),
     REG_SRC(4, R8)}, /* the last REX counts */
    {"mov %al,(%rsi)", M64, BYTES(0x88, 0x06), REG_SRC(1, RAX)},
    {"mov %ah,(%rsi)", M64, BYTES(0x88, 0x26), HIGH_SRC(AH)},
    {"mov %bh,(%rsi)", M64, BYTES(0x88, 0x3e), HIGH_SRC(BH)},
    {"mov %spl,(%rsi)", M64, BYTES(0x40, 0x88, 0x26), REG_SRC(1, RSP)},
    {"mov %dil,(%rsi)", M64, BYTES(0x40, 0x88, 0x3e), REG_SRC(1, RDI)},
    {"mov %r12b,(%rsi)", M64, BYTES(0x44, 0x88, 0x26), REG_SRC(1, R12)},
    {"rex es mov %ah,(%rsi)", M64, BYTES(0x40, 0x26, 0x88, 0x26),
     HIGH_SRC(AH)}, /* an ignored REX: AH again */
    {"xchg %eax,(%rsi)", M64, BYTES(0x87, 0x06), XCHG_SRC(4, RAX)},
    {"lock xchg %eax,(%rsi)", M64, BYTES(0xf0, 0x87, 0x06), XCHG_SRC(4, RAX)},
    {"xacquire lock xchg %eax,(%rsi)", M64, BYTES(0xf2, 0xf0, 0x87, 0x06), XCHG_SRC(4, RAX)},
    {"xchg %rax,(%rsi)", M64, BYTES(0x48, 0x87, 0x06), XCHG_SRC(8, RAX)},
    {"xchg %ax,(%rsi)", M64, BYTES(0x66, 0x87, 0x06), XCHG_SRC(2, RAX)},
    {"xchg %ah,(%rsi)", M64, BYTES(0x86, 0x26), XCHG_HIGH(AH)},
    {"xchg %r8,(%rsi)", M64, BYTES(0x4c, 0x87, 0x06), XCHG_SRC(8, R8)},
    {"movnti %eax,(%rsi)", M64, BYTES(0x0f, 0xc3, 0x06), REG_SRC(4, RAX)},
    {"movnti %rax,(%rsi)", M64, BYTES(0x48, 0x0f, 0xc3, 0x06), REG_SRC(8, RAX)},
    {"movnti %r15,(%rsp)", M64, BYTES(0x4c, 0x0f, 0xc3, 0x3c, 0x24), REG_SRC(8, R15)},
    {"movabs %eax,0xfee00300", M64, BYTES(0xa3, 0x00, 0x03, 0xe0, 0xfe, 0x00, 0x00, 0x00, 0x00),
     REG_SRC(4, RAX)}, /* GCC */
    {"movabs %rax,0xfee00300", M64,
     BYTES(0x48, 0xa3, 0x00, 0x03, 0xe0, 0xfe, 0x00, 0x00, 0x00, 0x00), REG_SRC(8, RAX)},
    {"movabs %ax,0xfee00300", M64,
     BYTES(0x66, 0xa3, 0x00, 0x03, 0xe0, 0xfe, 0x00, 0x00, 0x00, 0x00), REG_SRC(2, RAX)},
    {"addr32 mov %eax,0xfee00300", M64, BYTES(0x67, 0xa3, 0x00, 0x03, 0xe0, 0xfe), REG_SRC(4, RAX)},
    {"movabs %al,0xfee00300", M64, BYTES(0xa2, 0x00, 0x03, 0xe0, 0xfe, 0x00, 0x00, 0x00, 0x00),
     REG_SRC(1, RAX)},
    {"rex.WR movabs %al,0xfee00300", M64,
     BYTES(0x4c, 0xa2, 0x00, 0x03, 0xe0, 0xfe, 0x00, 0x00, 0x00, 0x00),
     REG_SRC(1, RAX)}, /* REX.W and .R: still AL */
    {"mov %eax,%gs:0x300", M64, BYTES(0x65, 0x89, 0x04, 0x25, 0x00, 0x03, 0x00, 0x00),
     REG_SRC(4, RAX)},
    {"xrelease mov %eax,(%rsi)", M64, BYTES(0xf3, 0x89, 0x06), REG_SRC(4, RAX)},
    {"cs ds es ss fs mov %eax,%gs:(%rsi)", M64,
     BYTES(0x2e, 0x3e, 0x26, 0x36, 0x64, 0x65, 0x89, 0x06), REG_SRC(4, RAX)},

    /* 32-bit mode */
    {"mov %esi,-0x11ffd00(,%eiz,1)", M32, BYTES(0x89, 0x34, 0x25, 0x00, 0x03, 0xe0, 0xfe),
     REG_SRC(4, RSI)}, /* [0xfee00300] */
    {"mov %esi,0xfee00300", M32, BYTES(0x89, 0x35, 0x00, 0x03, 0xe0, 0xfe), REG_SRC(4, RSI)},
    {"mov %eax,0xfee00300", M32, BYTES(0xa3, 0x00, 0x03, 0xe0, 0xfe), REG_SRC(4, RAX)}, /* GCC */
    {"movl $0x4500,0xfee00300", M32,
     BYTES(0xc7, 0x05, 0x00, 0x03, 0xe0, 0xfe, 0x00, 0x45, 0x00, 0x00), IMM(4, 0x4500)}, /* GCC */
    {"movl $0x600,0xfee00300", M32,
     BYTES(0xc7, 0x05, 0x00, 0x03, 0xe0, 0xfe, 0x00, 0x06, 0x00, 0x00), IMM(4, 0x600)},
    {"mov %ax,(%esi)", M32, BYTES(0x66, 0x89, 0x06), REG_SRC(2, RAX)},
    {"mov %eax,0x300", M32, BYTES(0x67, 0x89, 0x06, 0x00, 0x03),
     REG_SRC(4, RAX)}, /* 67: [disp16] */
    {"mov %eax,(%bx)", M32, BYTES(0x67, 0x89, 0x07), REG_SRC(4, RAX)},
    {"movw $0x1234,0x10(%bx)", M32, BYTES(0x67, 0x66, 0xc7, 0x47, 0x10, 0x34, 0x12),
     IMM(2, 0x1234)},
    {"addr16 mov %eax,0x300", M32, BYTES(0x67, 0xa3, 0x00, 0x03), REG_SRC(4, RAX)},
    {"mov %eax,(%esp)", M32, BYTES(0x89, 0x04, 0x24), REG_SRC(4, RAX)},
    {"mov %eax,0x8(%esp)", M32, BYTES(0x89, 0x44, 0x24, 0x08), REG_SRC(4, RAX)},
    {"mov %ecx,-0x11ffd00(,%eax,4)", M32, BYTES(0x89, 0x0c, 0x85, 0x00, 0x03, 0xe0, 0xfe),
     REG_SRC(4, RCX)}, /* [eax*4 + disp32] */
    {"mov %eax,0x0(%ebp)", M32, BYTES(0x89, 0x45, 0x00), REG_SRC(4, RAX)},
    {"movnti %eax,(%esi)", M32, BYTES(0x0f, 0xc3, 0x06), REG_SRC(4, RAX)},
    {"mov %ah,(%esi)", M32, BYTES(0x88, 0x26), HIGH_SRC(AH)},
    {"xchg %cl,(%esi)", M32, BYTES(0x86, 0x0e), XCHG_SRC(1, RCX)},
    {"lock xchg %cl,(%esi)", M32, BYTES(0xf0, 0x86, 0x0e), XCHG_SRC(1, RCX)},
    {"movb $0x1,(%esi)", M32, BYTES(0xc6, 0x06, 0x01), IMM(1, 0x1)},
    {"movw $0x4500,(%esi)", M32, BYTES(0x66, 0xc7, 0x06, 0x00, 0x45), IMM(2, 0x4500)},

    /* 16-bit mode */
    {"mov %ax,0x300(%bx)", M16, BYTES(0x89, 0x87, 0x00, 0x03), REG_SRC(2, RAX)},
    {"mov %ax,0x300", M16, BYTES(0x89, 0x06, 0x00, 0x03), REG_SRC(2, RAX)}, /* [disp16] */
    {"mov %ax,(%si)", M16, BYTES(0x89, 0x04), REG_SRC(2, RAX)},
    {"mov %ax,0x0(%bp)", M16, BYTES(0x89, 0x46, 0x00), REG_SRC(2, RAX)}, /* [bp] needs a disp8 */
    {"mov %eax,(%si)", M16, BYTES(0x66, 0x89, 0x04), REG_SRC(4, RAX)},
    {"mov %ax,(%esp)", M16, BYTES(0x67, 0x89, 0x04, 0x24), REG_SRC(2, RAX)},
    {"addr32 mov %ax,0xfee00300", M16, BYTES(0x67, 0x89, 0x05, 0x00, 0x03, 0xe0, 0xfe),
     REG_SRC(2, RAX)},
    {"addr32 mov %eax,0xfee00300", M16, BYTES(0x66, 0x67, 0x89, 0x05, 0x00, 0x03, 0xe0, 0xfe),
     REG_SRC(4, RAX)},
    {"movw $0x4500,0x300", M16, BYTES(0xc7, 0x06, 0x00, 0x03, 0x00, 0x45), IMM(2, 0x4500)},
    {"movl $0x4500,0x300", M16, BYTES(0x66, 0xc7, 0x06, 0x00, 0x03, 0x00, 0x45, 0x00, 0x00),
     IMM(4, 0x4500)},
    {"mov %ax,0x300", M16, BYTES(0xa3, 0x00, 0x03), REG_SRC(2, RAX)},
    {"mov %eax,0x300", M16, BYTES(0x66, 0xa3, 0x00, 0x03), REG_SRC(4, RAX)},
    {"addr32 mov %eax,0xfee00300", M16, BYTES(0x66, 0x67, 0xa3, 0x00, 0x03, 0xe0, 0xfe),
     REG_SRC(4, RAX)},
    {"movnti %eax,(%si)", M16, BYTES(0x0f, 0xc3, 0x04), REG_SRC(4, RAX)}, /* 32 bits in any mode */
    {"mov %ah,0x300", M16, BYTES(0x88, 0x26, 0x00, 0x03), HIGH_SRC(AH)},
    {"mov %bx,%es:0x300", M16, BYTES(0x26, 0x89, 0x1e, 0x00, 0x03), REG_SRC(2, RBX)},
    {"xchg %ax,0x300", M16, BYTES(0x87, 0x06, 0x00, 0x03), XCHG_SRC(2, RAX)},
};

/* The decoder on a heap copy of exactly n bytes: ASan faults any read
 * beyond them. */
static enum mmio_decode_status decode(const uint8_t *bytes, unsigned n, enum mmio_cpu_mode mode,
                                      struct mmio_store *out)
{
    uint8_t *copy = malloc(n ? n : 1);
    assert_non_null(copy);
    if (n)
        memcpy(copy, bytes, n);
    enum mmio_decode_status st = mmio_decode_store(copy, n, mode, out);
    free(copy);
    return st;
}

static bool same_store(const struct mmio_store *a, const struct mmio_store *b)
{
    return a->op == b->op && a->length == b->length && a->size == b->size && a->from_reg == b->from_reg &&
           a->reg == b->reg && a->high_byte == b->high_byte && a->exchange == b->exchange &&
           a->imm == b->imm;
}

static void expect_store(const struct store_case *c, const struct mmio_store *got)
{
    struct mmio_store want = c->want;
    want.length = c->n;
    if (!same_store(got, &want))
        fail_msg("%s: op %d length %u size %u from_reg %d reg %u high %d xchg %d imm %#llx", c->att,
                 (int)got->op, got->length, got->size, got->from_reg, got->reg, got->high_byte, got->exchange,
                 (unsigned long long)got->imm);
}

static void test_stores(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(stores) / sizeof(stores[0]); i++) {
        const struct store_case *c = &stores[i];
        struct mmio_store got;
        memset(&got, 0xa5, sizeof(got));
        if (decode(c->bytes, c->n, c->mode, &got) != OK)
            fail_msg("%s: not decoded", c->att);
        expect_store(c, &got);
    }
}

/* What follows the instruction is not part of it. */
static void test_trailing_bytes_ignored(void **state)
{
    (void)state;
    uint8_t buf[MMIO_INSN_MAX_LEN];
    for (size_t i = 0; i < sizeof(stores) / sizeof(stores[0]); i++) {
        const struct store_case *c = &stores[i];
        memset(buf, 0x89, sizeof(buf));
        memcpy(buf, c->bytes, c->n);
        struct mmio_store got;
        assert_int_equal(decode(buf, sizeof(buf), c->mode, &got), OK);
        expect_store(c, &got);
    }
}

/* Every prefix, ModR/M, SIB, displacement and immediate boundary: cut
 * anywhere short of the end, the instruction is TRUNCATED and `out` is left
 * alone. */
static void test_truncated_everywhere(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(stores) / sizeof(stores[0]); i++) {
        const struct store_case *c = &stores[i];
        for (unsigned n = 0; n < c->n; n++) {
            struct mmio_store got = {.length = 99};
            if (decode(c->bytes, n, c->mode, &got) != TRUNCATED)
                fail_msg("%s: cut to %u bytes, not TRUNCATED", c->att, n);
            assert_int_equal(got.length, 99);
        }
    }
}

struct bad_case {
    const char *why;
    enum mmio_cpu_mode mode;
    uint8_t bytes[MMIO_INSN_MAX_LEN];
    unsigned n;
};

static const struct bad_case unsupported[] = {
    {"mov (%rsi),%eax: a load", M64, BYTES(0x8b, 0x06)},
    {"addl $0x1,(%rax): not a bitmap operation", M64, BYTES(0x83, 0x00, 0x01)},
    {"cmpb $0x1,(%rax): reads only", M64, BYTES(0x80, 0x38, 0x01)},
    {"btl $0x1,(%rax): reads only", M64, BYTES(0x0f, 0xba, 0x20, 0x01)},
    {"bts %eax,%esi: register destination", M64, BYTES(0x0f, 0xab, 0xc6)},
    {"orb $0x1,%al: register destination", M64, BYTES(0x80, 0xc8, 0x01)},
    {"lock add %eax,(%rsi)", M64, BYTES(0xf0, 0x01, 0x06)},
    {"mov 0xfee00300,%eax: a load (A1)", M32, BYTES(0xa1, 0x00, 0x03, 0xe0, 0xfe)},
    {"add %eax,(%rsi)", M64, BYTES(0x01, 0x06)},
    {"incl (%rsi)", M64, BYTES(0xff, 0x06)},
    {"mov %es,(%rsi): a segment register", M64, BYTES(0x8c, 0x06)},
    {"stos %eax,%es:(%rdi)", M64, BYTES(0xab)},
    {"nop", M64, BYTES(0x90)},
    {"mov %eax,%esi: register destination", M64, BYTES(0x89, 0xc6)},
    {"mov %ah,%al", M32, BYTES(0x88, 0xe0)},
    {"mov $1,%al", M64, BYTES(0xc6, 0xc0, 0x01)},
    {"mov $1,%eax (C7 /0)", M64, BYTES(0xc7, 0xc0, 0x01, 0x00, 0x00, 0x00)},
    {"xchg %eax,%esi", M64, BYTES(0x87, 0xc6)},
    {"xchg %al,%ah", M16, BYTES(0x86, 0xc4)},
    {"movnti with a register operand", M64, BYTES(0x0f, 0xc3, 0xc0)},
    {"C6 /1", M64, BYTES(0xc6, 0x08, 0x01)},
    {"C7 /1", M32, BYTES(0xc7, 0x08, 0x01, 0x00, 0x00, 0x00)},
    {"xbegin (C7 /7)", M64, BYTES(0xc7, 0xf8, 0x00, 0x00, 0x00, 0x00)},
    {"xabort (C6 /7)", M64, BYTES(0xc6, 0xf8, 0x01)},
    {"lock mov: #UD", M64, BYTES(0xf0, 0x89, 0x06)},
    {"lock movl: #UD", M32, BYTES(0xf0, 0xc7, 0x06, 0x01, 0x00, 0x00, 0x00)},
    {"lock movnti: #UD", M64, BYTES(0xf0, 0x0f, 0xc3, 0x06)},
    {"lock mov moffs: #UD", M32, BYTES(0xf0, 0xa3, 0x00, 0x03, 0xe0, 0xfe)},
    {"lock after REX: #UD", M64, BYTES(0x48, 0xf0, 0x89, 0x06)},
    {"66 0F C3: not MOVNTI", M64, BYTES(0x66, 0x0f, 0xc3, 0x06)},
    {"F3 0F C3: not MOVNTI", M32, BYTES(0xf3, 0x0f, 0xc3, 0x06)},
    {"F2 0F C3: not MOVNTI", M16, BYTES(0xf2, 0x0f, 0xc3, 0x04)},
    {"movups %xmm0,(%rsi)", M64, BYTES(0x0f, 0x11, 0x06)},
    {"syscall", M64, BYTES(0x0f, 0x05)},
    {"0F 48 C3: REX after the escape is CMOVS", M64, BYTES(0x0f, 0x48, 0xc3)},
    {"dec %eax; mov: no REX outside 64-bit mode", M32, BYTES(0x48, 0x89, 0x06)},
    {"dec %ax", M16, BYTES(0x48, 0x89, 0x04)},
    {"vmovd %xmm0,(%rsi): VEX C5", M64, BYTES(0xc5, 0xf9, 0x7e, 0x06)},
    {"vmovd %xmm0,(%rsi): VEX C4", M64, BYTES(0xc4, 0xe1, 0x79, 0x7e, 0x06)},
    {"vmovd %xmm0,(%esi): VEX C5 in 32-bit mode", M32, BYTES(0xc5, 0xf9, 0x7e, 0x06)},
    {"les (%esi),%eax", M32, BYTES(0xc4, 0x06)},
    {"vmovd %xmm0,(%rsi): EVEX", M64, BYTES(0x62, 0xf1, 0x7d, 0x08, 0x7e, 0x06)},
    {"bound %eax,(%esi)", M32, BYTES(0x62, 0x06)},
};

static void test_unsupported(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(unsupported) / sizeof(unsupported[0]); i++) {
        const struct bad_case *c = &unsupported[i];
        struct mmio_store got = {.length = 99};
        if (decode(c->bytes, c->n, c->mode, &got) != UNSUPPORTED)
            fail_msg("%s: decoded", c->why);
        assert_int_equal(got.length, 99);
    }
    /* Not a mode. */
    struct mmio_store got;
    assert_int_equal(decode((const uint8_t[]){0x89, 0x06}, 2, (enum mmio_cpu_mode)3, &got),
                     UNSUPPORTED);
}

/* The first bytes already tell some instructions apart. */
static void test_short_inputs(void **state)
{
    (void)state;
    struct mmio_store got;
    assert_int_equal(decode(NULL, 0, M64, &got), TRUNCATED);
    assert_int_equal(decode((const uint8_t[]){0x66}, 1, M16, &got), TRUNCATED);
    assert_int_equal(decode((const uint8_t[]){0x0f}, 1, M32, &got), TRUNCATED);
    assert_int_equal(decode((const uint8_t[]){0x48}, 1, M64, &got), TRUNCATED); /* REX */
    assert_int_equal(decode((const uint8_t[]){0x48}, 1, M32, &got), UNSUPPORTED); /* DEC */
    assert_int_equal(decode((const uint8_t[]){0x8b}, 1, M64, &got), UNSUPPORTED);
    assert_int_equal(decode((const uint8_t[]){0x0f, 0x05}, 2, M64, &got), UNSUPPORTED);
    assert_int_equal(decode((const uint8_t[]){0x89, 0xc0}, 2, M64, &got), UNSUPPORTED);
    assert_int_equal(decode((const uint8_t[]){0xf0, 0x89}, 2, M64, &got), UNSUPPORTED);
}

/* SDM Vol. 2 2.3.11: 15 bytes at most, prefixes included. */
static void test_length_limit(void **state)
{
    (void)state;
    uint8_t buf[MMIO_INSN_MAX_LEN + 1];
    struct mmio_store got;
    /* 13 prefixes and mov %eax,(%rsi): 15 bytes. */
    memset(buf, 0x3e, sizeof(buf));
    buf[13] = 0x89;
    buf[14] = 0x06;
    assert_int_equal(decode(buf, 15, M64, &got), OK);
    assert_int_equal(got.length, 15);
    /* 14 prefixes: 16 bytes, whatever the caller has. */
    memset(buf, 0x66, sizeof(buf));
    buf[14] = 0x89;
    buf[15] = 0x06;
    assert_int_equal(decode(buf, 16, M32, &got), UNSUPPORTED);
    assert_int_equal(decode(buf, 15, M32, &got), UNSUPPORTED);
    assert_int_equal(decode(buf, 14, M32, &got), TRUNCATED);
    /* movl $imm32,disp32(%eax): 10 bytes; with 5 prefixes 15, with 6 the
     * ModR/M byte already says 16. */
    const uint8_t movl[] = {0xc7, 0x80, 0x00, 0x03, 0x00, 0x00, 0x00, 0x45, 0x00, 0x00};
    memset(buf, 0x2e, sizeof(buf));
    memcpy(buf + 5, movl, sizeof(movl));
    assert_int_equal(decode(buf, 15, M32, &got), OK);
    assert_int_equal(got.length, 15);
    assert_int_equal(got.imm, 0x4500);
    memset(buf, 0x2e, sizeof(buf));
    memcpy(buf + 6, movl, sizeof(movl));
    assert_int_equal(decode(buf, 7, M32, &got), TRUNCATED);   /* no ModR/M yet */
    assert_int_equal(decode(buf, 8, M32, &got), UNSUPPORTED); /* mod 10: disp32 + imm32 */
    assert_int_equal(decode(buf, 15, M32, &got), UNSUPPORTED);
    /* A REX at byte 14 with the opcode beyond. */
    memset(buf, 0x26, sizeof(buf));
    buf[14] = 0x48;
    assert_int_equal(decode(buf, 15, M64, &got), UNSUPPORTED);
}

/* Random bytes: never a read beyond n (ASan), a sane result when OK, and
 * OK or not, the answer depends on the instruction's own bytes only. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;
static uint32_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 32);
}

#define FUZZ_ROUNDS 200000
/* Bytes worth drawing often: the prefixes, REX, the opcodes, ModR/M forms. */
static const uint8_t interesting[] = {0x66, 0x67, 0xf0, 0xf2, 0xf3, 0x26, 0x2e, 0x36, 0x3e,
                                      0x64, 0x65, 0x40, 0x44, 0x48, 0x4c, 0x41, 0x0f, 0xc3,
                                      0x86, 0x87, 0x88, 0x89, 0xa2, 0xa3, 0xc6, 0xc7, 0x04,
                                      0x05, 0x24, 0x25, 0x44, 0x84, 0x06, 0x46, 0x86};

static void test_fuzz(void **state)
{
    (void)state;
    unsigned ok = 0;
    for (unsigned round = 0; round < FUZZ_ROUNDS; round++) {
        uint8_t buf[MMIO_INSN_MAX_LEN];
        for (unsigned i = 0; i < sizeof(buf); i++)
            buf[i] = rng() % 2 ? interesting[rng() % sizeof(interesting)] : (uint8_t)rng();
        unsigned n = rng() % (MMIO_INSN_MAX_LEN + 1);
        enum mmio_cpu_mode mode = (enum mmio_cpu_mode)(rng() % 3);
        struct mmio_store s, again;
        enum mmio_decode_status st = decode(buf, n, mode, &s);
        assert_true(st == OK || st == TRUNCATED || st == UNSUPPORTED);
        if (st != OK) {
            /* More bytes cannot make an unsupported instruction supported. */
            if (st == UNSUPPORTED)
                assert_int_equal(decode(buf, MMIO_INSN_MAX_LEN, mode, &again), UNSUPPORTED);
            continue;
        }
        ok++;
        assert_in_range(s.length, 1, MMIO_INSN_MAX_LEN);
        assert_true(s.length <= n);
        assert_true(s.size == 1 || s.size == 2 || s.size == 4 || s.size == 8);
        assert_in_range(s.reg, 0, 15);
        assert_true(!s.high_byte || (s.size == 1 && s.reg < 4 && s.from_reg));
        assert_true(s.from_reg || (!s.exchange && s.reg == 0));
        assert_true(s.size == 8 || s.imm >> (8 * s.size) == 0);
        /* Exactly its own bytes give the same; one fewer, TRUNCATED. */
        assert_int_equal(decode(buf, s.length, mode, &again), OK);
        assert_true(same_store(&s, &again));
        assert_int_equal(decode(buf, s.length - 1, mode, &again), TRUNCATED);
    }
    /* The generator reaches the decoder's OK paths often enough to mean
     * something (about one round in six). */
    assert_true(ok > FUZZ_ROUNDS / 20);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stores),
        cmocka_unit_test(test_trailing_bytes_ignored),
        cmocka_unit_test(test_truncated_everywhere),
        cmocka_unit_test(test_unsupported),
        cmocka_unit_test(test_short_inputs),
        cmocka_unit_test(test_length_limit),
        cmocka_unit_test(test_fuzz),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
