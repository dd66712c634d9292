/* unit-srcs: vmm/vcpu.c vmm/l1ram.c vmm/memmap.c tests/unit/fake_vmx.c */
/* vmm/vcpu.c: redelivering an event whose delivery a VM exit interrupted.
 * The IDT-vectoring information (SDM 27.2.4: bits 7:0 vector, 10:8 type,
 * 11 error code valid, 31 valid; bit 12 undefined) goes back into the
 * VM-entry interruption-information field (SDM 26.6, 25.8.3: bits 30:12
 * reserved) with its error code, and for software interrupts and
 * exceptions the instruction length the exit reported (26.6.1.3); an NMI
 * is not blocking NMIs yet (26.3.1.5: no NMI injection while blocked by
 * NMI). An event L0's handler injected itself is left alone. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>
#include "vmm/vcpu.h"
#include "vmm/vm.h"
#include "arch/x86/cpu_bits.h"
#include "arch/x86/vmx.h"
#include "arch/x86/vmx_bits.h"
#include "tests/unit/fake_vmx.h"

struct vm the_vm;

#define VMXON_PA  0x1000
#define VMCS_PA   0x2000
#define EXIT_LEN  3
#define ERROR     0x1234
#define EXT_VEC   0x30
#define SW_VEC    0x80
#define STALE_LEN 7

static int setup(void **state)
{
    (void)state;
    fake_vmx_reset();
    assert_true(vmx_on(VMXON_PA));
    assert_true(vmcs_load(VMCS_PA));
    fake_vmcs_set(VMCS_VM_EXIT_INSTRUCTION_LEN, EXIT_LEN);
    fake_vmcs_set(VMCS_IDT_VECTORING_ERROR_CODE, ERROR);
    fake_vmcs_set(VMCS_VM_ENTRY_INSTRUCTION_LEN, STALE_LEN);
    fake_vmcs_set(VMCS_GUEST_INTERRUPTIBILITY_INFO, INTERRUPTIBILITY_NMI);
    return 0;
}

static uint32_t entry_info(void) { return (uint32_t)fake_vmcs_get(VMCS_VM_ENTRY_INTR_INFO_FIELD); }

static void test_nothing_to_redeliver(void **state)
{
    (void)state;
    vcpu_redeliver_event(0);
    vcpu_redeliver_event(EXT_VEC | INTR_TYPE_EXT_INTR); /* not valid */
    assert_int_equal(entry_info(), 0);
    assert_false(fake_vmcs_written(VMCS_VM_ENTRY_INTR_INFO_FIELD));
    assert_false(fake_vmcs_written(VMCS_VM_ENTRY_EXCEPTION_ERROR_CODE));
}

static void test_external_interrupt(void **state)
{
    (void)state;
    vcpu_redeliver_event(INTR_INFO_VALID | INTR_TYPE_EXT_INTR | EXT_VEC);
    assert_int_equal(entry_info(), INTR_INFO_VALID | INTR_TYPE_EXT_INTR | EXT_VEC);
    assert_false(fake_vmcs_written(VMCS_VM_ENTRY_EXCEPTION_ERROR_CODE));
    assert_int_equal(fake_vmcs_get(VMCS_VM_ENTRY_INSTRUCTION_LEN), STALE_LEN);
    /* NMI blocking is not touched for other events. */
    assert_int_equal(fake_vmcs_get(VMCS_GUEST_INTERRUPTIBILITY_INFO), INTERRUPTIBILITY_NMI);
}

static void test_exception_with_error_code(void **state)
{
    (void)state;
    uint32_t pf = INTR_INFO_VALID | INTR_TYPE_HW_EXCEPTION | INTR_INFO_DELIVER_CODE | VEC_PF;
    vcpu_redeliver_event(pf | INTR_INFO_NMI_UNBLOCK);
    assert_int_equal(entry_info(), pf);
    assert_int_equal(fake_vmcs_get(VMCS_VM_ENTRY_EXCEPTION_ERROR_CODE), ERROR);
}

static void test_software_events_keep_their_length(void **state)
{
    (void)state;
    static const uint32_t types[] = {INTR_TYPE_SW_INTR, INTR_TYPE_PRIV_SW_EXCEPTION, INTR_TYPE_SW_EXCEPTION};
    for (unsigned i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        setup(0);
        vcpu_redeliver_event(INTR_INFO_VALID | types[i] | SW_VEC);
        assert_int_equal(entry_info(), INTR_INFO_VALID | types[i] | SW_VEC);
        assert_int_equal(fake_vmcs_get(VMCS_VM_ENTRY_INSTRUCTION_LEN), EXIT_LEN);
    }
}

static void test_nmi_unblocked(void **state)
{
    (void)state;
    fake_vmcs_set(VMCS_GUEST_INTERRUPTIBILITY_INFO, INTERRUPTIBILITY_NMI | INTERRUPTIBILITY_STI);
    vcpu_redeliver_event(INTR_INFO_VALID | INTR_TYPE_NMI | VEC_NMI);
    assert_int_equal(entry_info(), INTR_INFO_VALID | INTR_TYPE_NMI | VEC_NMI);
    assert_int_equal(fake_vmcs_get(VMCS_GUEST_INTERRUPTIBILITY_INFO), INTERRUPTIBILITY_STI);
}

static void test_handler_event_wins(void **state)
{
    (void)state;
    uint32_t gp = INTR_INFO_VALID | INTR_TYPE_HW_EXCEPTION | INTR_INFO_DELIVER_CODE | VEC_GP;
    fake_vmcs_set(VMCS_VM_ENTRY_INTR_INFO_FIELD, gp);
    fake_vmcs_set(VMCS_VM_ENTRY_EXCEPTION_ERROR_CODE, 0);
    vcpu_redeliver_event(INTR_INFO_VALID | INTR_TYPE_HW_EXCEPTION | INTR_INFO_DELIVER_CODE | VEC_PF);
    assert_int_equal(entry_info(), gp);
    assert_int_equal(fake_vmcs_get(VMCS_VM_ENTRY_EXCEPTION_ERROR_CODE), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_nothing_to_redeliver, setup),
        cmocka_unit_test_setup(test_external_interrupt, setup),
        cmocka_unit_test_setup(test_exception_with_error_code, setup),
        cmocka_unit_test_setup(test_software_events_keep_their_length, setup),
        cmocka_unit_test_setup(test_nmi_unblocked, setup),
        cmocka_unit_test_setup(test_handler_event_wins, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
