/* unit-srcs: vmm/insn.c vmm/vcpu.c vmm/l1ram.c vmm/memmap.c tests/unit/fake_vmx.c */
/* vmm/insn.c: XCR0 validity (SDM Vol. 1 13.3 "Enabling the XSAVE feature
 * set and XSAVE-enabled features", and Vol. 2C XSETBV: #GP if ECX != 0, if
 * CPL != 0, if bit 0 (x87) is clear, if bit 2 (AVX) is set without bit 1
 * (SSE), if bits 3 and 4 (BNDREGS, BNDCSR) differ, if any of bits 7:5
 * (AVX-512) is set without all of them or without bit 2, or if a bit is set
 * that CPUID.(EAX=0DH,ECX=0):EDX:EAX does not report) and the small exit
 * handlers on the fake VMCS: XSETBV, INVD executed as WBINVD, HLT resumed in
 * the HLT activity state (SDM 25.4.2), VMX instructions #UD with nesting off
 * (SDM Vol. 3C 31.3: #UD outside VMX operation). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>
#include "vmm/insn.h"
#include "vmm/vm.h"
#include "arch/x86/cpu_bits.h"
#include "arch/x86/vmx.h"
#include "arch/x86/vmx_bits.h"
#include "tests/unit/fake_arch.h"
#include "tests/unit/fake_vmx.h"

#define X87 (1ULL << 0)
#define SSE (1ULL << 1)
#define YMM (1ULL << 2)
#define BNDREGS (1ULL << 3)
#define BNDCSR (1ULL << 4)
#define OPMASK (1ULL << 5)
#define ZMM_HI256 (1ULL << 6)
#define HI16_ZMM (1ULL << 7)
#define AVX512 (OPMASK | ZMM_HI256 | HI16_ZMM)
#define PKRU (1ULL << 9)
#define TILECFG (1ULL << 17)
#define TILEDATA (1ULL << 18)
#define ALL_SUPPORTED (X87 | SSE | YMM | BNDREGS | BNDCSR | AVX512 | PKRU)

#define GP_INFO (INTR_INFO_VALID | INTR_TYPE_HW_EXCEPTION | INTR_INFO_DELIVER_CODE | VEC_GP)
#define UD_INFO (INTR_INFO_VALID | INTR_TYPE_HW_EXCEPTION | VEC_UD)

struct vm the_vm;

/* vm_stop ends the run: here it returns to the test. */
static jmp_buf stopped;
static enum power_status stop_status;
void vm_stop(enum power_status status, const char *why)
{
    (void)why;
    stop_status = status;
    longjmp(stopped, 1);
}

static void test_xcr0_valid(void **state)
{
    (void)state;
    uint64_t ok[] = {X87, X87 | SSE, X87 | SSE | YMM, X87 | SSE | YMM | AVX512, X87 | BNDREGS | BNDCSR,
                     X87 | PKRU, ALL_SUPPORTED};
    for (unsigned i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
        assert_true(xcr0_valid(ok[i], ALL_SUPPORTED));
    uint64_t bad[] = {
        0,                                  /* x87 is required */
        SSE | YMM,                          /* still no x87 */
        X87 | YMM,                          /* AVX needs SSE */
        X87 | BNDREGS,                      /* MPX state in pairs */
        X87 | BNDCSR,
        X87 | SSE | YMM | OPMASK,           /* AVX-512: all three or none */
        X87 | SSE | YMM | OPMASK | ZMM_HI256,
        X87 | SSE | YMM | HI16_ZMM,
        X87 | SSE | AVX512,                 /* AVX-512 needs AVX */
        X87 | SSE | YMM | (1ULL << 8),      /* not supported (PT is supervisor state) */
        X87 | (1ULL << 63),
    };
    for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_false(xcr0_valid(bad[i], ALL_SUPPORTED));
    /* Only what CPUID leaf 0DH reports may be enabled. */
    assert_false(xcr0_valid(X87 | SSE | YMM, X87 | SSE));
    assert_false(xcr0_valid(X87 | PKRU, X87 | SSE | YMM));
    assert_true(xcr0_valid(X87 | SSE | TILECFG | TILEDATA, X87 | SSE | TILECFG | TILEDATA));
}

static int setup(void **state)
{
    (void)state;
    memset(&the_vm, 0, sizeof(the_vm));
    fake_cpuid_clear();
    fake_vmx_reset();
    assert_true(vmx_on(0x1000));
    assert_true(vmcs_load(0x2000));
    fake_vmcs_set(VMCS_GUEST_CS_AR_BYTES, AR_L | AR_P | AR_S | 0xb);
    fake_vmcs_set(VMCS_GUEST_SS_AR_BYTES, AR_P | AR_S | 0x3); /* DPL 0 */
    fake_vmcs_set(VMCS_GUEST_RIP, 0x200000);
    fake_vmcs_set(VMCS_VM_EXIT_INSTRUCTION_LEN, 3);
    /* CPUID.(0DH,0): x87, SSE, AVX, AVX-512 in EAX; nothing in EDX. */
    fake_cpuid_set(CPUID_LEAF_XSAVE, 0, (struct cpuid_regs){(uint32_t)(X87 | SSE | YMM | AVX512), 0x980, 0xa80, 0});
    return 0;
}

static void test_xsetbv_valid_value_is_executed(void **state)
{
    (void)state;
    struct vcpu *v = &the_vm.vcpus[0];
    v->regs.rcx = 0;
    v->regs.rax = 0xffffffff00000000ULL | X87 | SSE | YMM; /* EAX only */
    v->regs.rdx = 0xffffffff00000000ULL;                  /* EDX only */
    handle_xsetbv(v);
    assert_int_equal(fake_xsetbv_count(), 1);
    assert_int_equal(fake_xcr0(), X87 | SSE | YMM);
    assert_int_equal(fake_vmcs_get(VMCS_GUEST_RIP), 0x200003);
    assert_int_equal(fake_vmcs_get(VMCS_VM_ENTRY_INTR_INFO_FIELD), 0);
}

static void test_xsetbv_faults(void **state)
{
    (void)state;
    struct vcpu *v = &the_vm.vcpus[0];
    struct {
        uint64_t rcx, rax, rdx;
        unsigned cpl;
    } cases[] = {
        {1, X87, 0, 0},                        /* only XCR0 exists here */
        {0, X87 | YMM, 0, 0},                  /* invalid combination */
        {0, X87 | SSE | BNDREGS | BNDCSR, 0, 0}, /* not supported by CPUID */
        {0, X87, 1, 0},                        /* bit 32 not supported */
        {0, X87 | SSE, 0, 3},                  /* CPL 3 */
        {0, X87 | SSE, 0, 1},
    };
    for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        fake_vmcs_set(VMCS_VM_ENTRY_INTR_INFO_FIELD, 0);
        fake_vmcs_set(VMCS_GUEST_SS_AR_BYTES, AR_P | AR_S | 0x3 | (cases[i].cpl << AR_DPL_SHIFT));
        v->regs.rcx = cases[i].rcx;
        v->regs.rax = cases[i].rax;
        v->regs.rdx = cases[i].rdx;
        handle_xsetbv(v);
        assert_int_equal(fake_vmcs_get(VMCS_VM_ENTRY_INTR_INFO_FIELD), GP_INFO);
        assert_int_equal(fake_vmcs_get(VMCS_VM_ENTRY_EXCEPTION_ERROR_CODE), 0);
    }
    assert_int_equal(fake_xsetbv_count(), 0);
    assert_int_equal(fake_vmcs_get(VMCS_GUEST_RIP), 0x200000);
}

static void test_invd_and_wbinvd_write_back(void **state)
{
    (void)state;
    handle_invd(&the_vm.vcpus[0]);
    assert_int_equal(fake_wbinvd_count(), 1);
    assert_int_equal(fake_vmcs_get(VMCS_GUEST_RIP), 0x200003);
    handle_wbinvd(&the_vm.vcpus[0]);
    assert_int_equal(fake_wbinvd_count(), 2);
    assert_int_equal(fake_vmcs_get(VMCS_GUEST_RIP), 0x200006);
}

static void test_hlt_resumes_halted_after_the_instruction(void **state)
{
    (void)state;
    fake_vmcs_set(VMCS_VM_EXIT_INSTRUCTION_LEN, 1);
    fake_vmcs_set(VMCS_GUEST_INTERRUPTIBILITY_INFO, INTERRUPTIBILITY_STI); /* STI; HLT */
    handle_hlt(&the_vm.vcpus[0]);
    assert_int_equal(fake_vmcs_get(VMCS_GUEST_RIP), 0x200001);
    assert_int_equal(fake_vmcs_get(VMCS_GUEST_ACTIVITY_STATE), ACTIVITY_HLT);
    /* VM entry needs the active state while STI or MOV-SS blocking is set
     * (SDM 26.3.1.5): completing the instruction cleared it. */
    assert_int_equal(fake_vmcs_get(VMCS_GUEST_INTERRUPTIBILITY_INFO) & INTERRUPTIBILITY_STI, 0);
}

static void test_vmx_instructions_ud(void **state)
{
    (void)state;
    handle_vmx_instruction_disabled(&the_vm.vcpus[0]);
    assert_int_equal(fake_vmcs_get(VMCS_VM_ENTRY_INTR_INFO_FIELD), UD_INFO);
    assert_int_equal(fake_vmcs_get(VMCS_GUEST_RIP), 0x200000);
}

static void test_triple_fault_stops_l1(void **state)
{
    (void)state;
    fake_console_reset();
    stop_status = POWER_OK;
    if (!setjmp(stopped))
        handle_triple_fault(&the_vm.vcpus[0]);
    assert_int_equal(stop_status, POWER_GUEST_FAULT);
    assert_non_null(strstr(fake_console_output(), "triple fault"));
    assert_non_null(strstr(fake_console_output(), "RIP 0000000000200000"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_xcr0_valid),
        cmocka_unit_test_setup(test_xsetbv_valid_value_is_executed, setup),
        cmocka_unit_test_setup(test_xsetbv_faults, setup),
        cmocka_unit_test_setup(test_invd_and_wbinvd_write_back, setup),
        cmocka_unit_test_setup(test_hlt_resumes_halted_after_the_instruction, setup),
        cmocka_unit_test_setup(test_vmx_instructions_ud, setup),
        cmocka_unit_test_setup(test_triple_fault_stops_l1, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
