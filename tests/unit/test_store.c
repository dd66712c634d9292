/* unit-srcs: vmm/store.c vmm/mmio_decode.c vmm/vcpu.c vmm/l1ram.c vmm/memmap.c tests/unit/fake_vmx.c */
/* vmm/store.c: one store instruction of the guest done by L0 (an APIC
 * write while L1's INIT/SIPI are watched, a write into a merged bitmap).
 * The memory result and the registers as the CPU would leave them (SDM
 * Vol. 2 MOV, XCHG, OR, AND, XOR, BTS, BTR, BTC): XCHG's register with
 * Vol. 1 3.4.1.1's width rules, RFLAGS after the read-modify-writes, RIP
 * past the instruction. The instruction bytes come from a fake gva_fetch. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>
#include "vmm/gva.h"
#include "vmm/store.h"
#include "vmm/vm.h"
#include "arch/x86/cpu_bits.h"
#include "arch/x86/vmx.h"
#include "arch/x86/vmx_bits.h"
#include "tests/unit/fake_arch.h"
#include "tests/unit/fake_vmx.h"
#include "tests/unit/fake_code.h"

#define RFLAGS_ARITH (RFLAGS_CF | RFLAGS_PF | RFLAGS_AF | RFLAGS_ZF | RFLAGS_SF | RFLAGS_OF)

struct vm the_vm;
void vm_stop(enum power_status status, const char *why)
{
    (void)status;
    (void)why;
    fail_msg("vm_stop");
    abort();
}

static int setup(void **state)
{
    (void)state;
    memset(&the_vm, 0, sizeof(the_vm));
    fake_vmx_reset();
    assert_true(vmx_on(0x1000));
    assert_true(vmcs_load(0x2000));
    fake_vmcs_set(VMCS_GUEST_CS_AR_BYTES, AR_L | AR_P | AR_S | 0xb);
    fake_vmcs_set(VMCS_GUEST_IA32_EFER, EFER_LMA | EFER_LME);
    fake_vmcs_set(VMCS_GUEST_RFLAGS, RFLAGS_FIXED1);
    return 0;
}

/* Decodes, applies to *mem, completes; returns the old value. */
static uint64_t run(struct vcpu *v, void *mem)
{
    struct guest_store st;
    const char *why = 0;
    if (!store_decode(v, &st, &why))
        fail_msg("not decoded: %s", why);
    uint64_t old;
    store_apply(mem, &st, &old);
    store_complete(v, &st, old);
    return old;
}

static uint64_t flags(void) { return fake_vmcs_get(VMCS_GUEST_RFLAGS) & RFLAGS_ARITH; }

/* lock bts/btr with a register offset beyond the dword: the bit within
 * the accessed dword (offset mod 32); CF = the bit's old value. */
static void test_bts_btr(void **state)
{
    (void)state;
    struct vcpu *v = &the_vm.vcpus[0];
    uint32_t mem = 0x1;
    v->regs.rsi = 35; /* bit 3 of this dword */
    set_code(4, 0xf0, 0x0f, 0xab, 0x37); /* lock bts %esi,(%rdi) */
    run(v, &mem);
    assert_int_equal(mem, 0x9);
    assert_int_equal(flags(), 0);
    assert_int_equal(fake_vmcs_get(VMCS_GUEST_RIP), CODE_GLA + 4);
    set_code(4, 0xf0, 0x0f, 0xab, 0x37); /* again: CF = 1 */
    run(v, &mem);
    assert_int_equal(mem, 0x9);
    assert_int_equal(flags(), RFLAGS_CF);
    set_code(5, 0xf0, 0x0f, 0xba, 0x37, 0x00); /* lock btrl $0,(%rdi) */
    run(v, &mem);
    assert_int_equal(mem, 0x8);
    assert_int_equal(flags() & RFLAGS_CF, RFLAGS_CF);
    set_code(5, 0x0f, 0xba, 0x3f, 0x00); /* btcl $0,(%rdi): CF = 0 */
    run(v, &mem);
    assert_int_equal(mem, 0x9);
    assert_int_equal(flags() & RFLAGS_CF, 0);
}

/* OR/AND/XOR: CF = OF = 0, SF/ZF/PF from the result; AF is left as it was. */
static void test_logic_ops_and_flags(void **state)
{
    (void)state;
    struct vcpu *v = &the_vm.vcpus[0];
    uint8_t b = 0x01;
    fake_vmcs_set(VMCS_GUEST_RFLAGS, RFLAGS_FIXED1 | RFLAGS_CF | RFLAGS_OF | RFLAGS_AF);
    set_code(4, 0xf0, 0x80, 0x0f, 0x82); /* lock orb $0x82,(%rdi) */
    run(v, &b);
    assert_int_equal(b, 0x83);
    assert_int_equal(flags(), RFLAGS_SF | RFLAGS_AF); /* 0x83: odd parity */
    set_code(3, 0x80, 0x27, 0x00); /* andb $0,(%rdi) */
    run(v, &b);
    assert_int_equal(b, 0);
    assert_int_equal(flags(), RFLAGS_ZF | RFLAGS_PF | RFLAGS_AF);
    uint64_t q = 0xff00;
    v->regs.rax = 0x0f0f;
    set_code(3, 0x48, 0x31, 0x07); /* xor %rax,(%rdi) */
    run(v, &q);
    assert_int_equal(q, 0xf00f);
    assert_int_equal(flags(), RFLAGS_PF | RFLAGS_AF); /* low byte 0x0f: even */
    uint32_t d = 0x80000000;
    set_code(3, 0x83, 0x0f, 0x01); /* orl $1,(%rdi) */
    run(v, &d);
    assert_int_equal(d, 0x80000001);
    assert_int_equal(flags() & RFLAGS_SF, RFLAGS_SF);
}

/* MOV leaves RFLAGS alone and does not read (a write-only register). */
static void test_mov_reads_nothing(void **state)
{
    (void)state;
    struct vcpu *v = &the_vm.vcpus[0];
    uint32_t reg = 0xdeadbeef;
    fake_vmcs_set(VMCS_GUEST_RFLAGS, RFLAGS_FIXED1 | RFLAGS_ZF);
    v->regs.rcx = 0x12;
    set_code(2, 0x89, 0x0f); /* mov %ecx,(%rdi) */
    assert_int_equal(run(v, &reg), 0);
    assert_int_equal(reg, 0x12);
    assert_int_equal(flags(), RFLAGS_ZF);
}

/* XCHG: 32-bit destination zero-extends, 16/8-bit keep the rest, AH. */
static void test_xchg_register_widths(void **state)
{
    (void)state;
    struct vcpu *v = &the_vm.vcpus[0];
    uint32_t d = 0x11112222;
    v->regs.rdx = 0xffffffff00000042ULL;
    set_code(2, 0x87, 0x17); /* xchg %edx,(%rdi) */
    run(v, &d);
    assert_int_equal(d, 0x42);
    assert_int_equal(v->regs.rdx, 0x11112222);
    uint16_t w = 0xabcd;
    v->regs.rdx = 0xffffffffffff0001ULL;
    set_code(3, 0x66, 0x87, 0x17); /* xchg %dx,(%rdi) */
    run(v, &w);
    assert_int_equal(w, 1);
    assert_int_equal(v->regs.rdx, 0xffffffffffffabcdULL);
    uint8_t b = 0x77;
    v->regs.rax = 0x1234;
    set_code(2, 0x86, 0x27); /* xchg %ah,(%rdi) */
    run(v, &b);
    assert_int_equal(b, 0x12);
    assert_int_equal(v->regs.rax, 0x7734);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup(f, setup)
    const struct CMUnitTest tests[] = {
        T(test_bts_btr),
        T(test_logic_ops_and_flags),
        T(test_mov_reads_nothing),
        T(test_xchg_register_widths),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
