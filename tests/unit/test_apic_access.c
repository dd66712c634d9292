/* unit-srcs: vmm/nested/apic_access.c vmm/store.c vmm/mmio_decode.c vmm/vcpu.c vmm/l1ram.c vmm/memmap.c tests/unit/fake_vmx.c */
/* vmm/nested/apic_access.c: L2's store into its APIC-access page that L0
 * intercepted, done as the CPU's APIC virtualization would (SDM 30.4.3):
 * which writes are virtualized for which controls (30.4.3.1), the
 * APIC-access exit with offset and access type otherwise (28.2.1), and
 * APIC-write emulation (30.4.3.2): TPR virtualization and its trap-like
 * TPR-below-threshold exit, EOI virtualization (SVI, VISR, PPR, the
 * EOI-induced exit), self-IPI virtualization (VIRR, RVI) and the
 * APIC-write exit. The nested exits are recorded fakes. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>
#include "vmm/gva.h"
#include "vmm/vm.h"
#include "vmm/nested/nested.h"
#include "arch/x86/apic.h"
#include "arch/x86/cpu_bits.h"
#include "arch/x86/exit_reasons.h"
#include "arch/x86/physmem.h"
#include "arch/x86/vmx.h"
#include "arch/x86/vmx_bits.h"
#include "tests/unit/fake_arch.h"
#include "tests/unit/fake_vmx.h"
#include "tests/unit/fake_code.h"

#define ACCESS_PAGE 0xfee00000ULL /* L1's own xAPIC page */
#define VAPIC_PAGE  0x200000ULL

struct vm the_vm;
static struct nested_vmx nested;
static struct vmcs12 cache;

void vm_stop(enum power_status status, const char *why)
{
    (void)status;
    fail_msg("vm_stop: %s", why);
    abort();
}

/* ---- the nested exits, recorded ---- */
static unsigned exits;
static uint32_t exit_reason;
static uint64_t exit_qualification;
static bool exit_trap_like;
void nested_vmexit(struct vcpu *v, uint32_t reason, uint64_t qualification)
{
    exits++;
    exit_reason = reason;
    exit_qualification = qualification;
    exit_trap_like = false;
    v->in_l2 = false;
}
void nested_vmexit_signal(struct vcpu *v, uint32_t reason, uint64_t qualification)
{
    nested_vmexit(v, reason, qualification);
    exit_trap_like = true;
}

/* mov %ecx,(%rdx), 2 bytes: L2's 32-bit store of ECX. */
static void store32(struct vcpu *v, uint32_t value)
{
    set_code(2, 0x89, 0x0a);
    v->regs.rcx = value;
    v->in_l2 = true;
}

static volatile uint32_t *vapic(unsigned offset) { return phys_to_virt(VAPIC_PAGE + offset); }

static void controls(uint32_t proc, uint32_t proc2)
{
    VMCS12(&cache, CPU_BASED_VM_EXEC_CONTROL) = proc | PROC_SECONDARY_CONTROLS;
    VMCS12(&cache, SECONDARY_VM_EXEC_CONTROL) = proc2 | PROC2_VIRT_APIC_ACCESS;
}

static int setup(void **state)
{
    (void)state;
    memset(&the_vm, 0, sizeof(the_vm));
    memset(&nested, 0, sizeof(nested));
    memset(&cache, 0, sizeof(cache));
    fake_phys_reset();
    fake_vmx_reset();
    assert_true(vmx_on(0x1000));
    assert_true(vmcs_load(0x2000));
    fake_vmcs_set(VMCS_GUEST_CS_AR_BYTES, AR_L | AR_P | AR_S | 0xb);
    fake_vmcs_set(VMCS_GUEST_IA32_EFER, EFER_LMA | EFER_LME);
    fake_vmcs_set(VMCS_GUEST_RFLAGS, RFLAGS_FIXED1);
    fake_vmcs_set(VMCS_VIRTUAL_APIC_PAGE_ADDR, VAPIC_PAGE);
    nested.cache = &cache;
    the_vm.vcpus[0].nested = &nested;
    the_vm.vcpus[0].in_l2 = true;
    VMCS12(&cache, APIC_ACCESS_ADDR) = ACCESS_PAGE;
    exits = 0;
    return 0;
}

/* Only L2's accesses to the page vmcs12 names, with the control on. */
static void test_which_page(void **state)
{
    (void)state;
    struct vcpu *v = &the_vm.vcpus[0];
    controls(PROC_TPR_SHADOW, 0);
    assert_true(nested_is_apic_access_page(v, ACCESS_PAGE + 0x300));
    assert_false(nested_is_apic_access_page(v, ACCESS_PAGE + 0x1000));
    VMCS12(&cache, SECONDARY_VM_EXEC_CONTROL) = 0;
    assert_false(nested_is_apic_access_page(v, ACCESS_PAGE));
    controls(PROC_TPR_SHADOW, 0);
    VMCS12(&cache, CPU_BASED_VM_EXEC_CONTROL) &= ~PROC_SECONDARY_CONTROLS; /* secondary controls off */
    assert_false(nested_is_apic_access_page(v, ACCESS_PAGE));
    controls(PROC_TPR_SHADOW, 0);
    v->in_l2 = false;
    assert_false(nested_is_apic_access_page(v, ACCESS_PAGE));
}

/* Without the TPR shadow every write is an APIC-access exit, fault-like:
 * offset and "linear write" (type 1) in the qualification, RIP kept. */
static void test_without_tpr_shadow_every_write_exits(void **state)
{
    (void)state;
    struct vcpu *v = &the_vm.vcpus[0];
    controls(0, 0);
    store32(v, 0x20);
    assert_true(nested_apic_access_write(v, ACCESS_PAGE + 0x80));
    assert_int_equal(exits, 1);
    assert_int_equal(exit_reason, EXIT_REASON_APIC_ACCESS);
    assert_int_equal(exit_qualification, 0x1080);
    assert_false(exit_trap_like);
    assert_int_equal(fake_vmcs_get(VMCS_GUEST_RIP), CODE_GLA);
    assert_int_equal(*vapic(0x80), 0);
}

/* TPR shadow alone: a write to 080H is virtualized (bytes 3:1 cleared),
 * with the TPR-below-threshold exit after it when VTPR[7:4] drops below
 * the threshold; any other offset exits 44 (the ICR above all). */
static void test_tpr_shadow_alone(void **state)
{
    (void)state;
    struct vcpu *v = &the_vm.vcpus[0];
    controls(PROC_TPR_SHADOW, 0);
    VMCS12(&cache, TPR_THRESHOLD) = 4;
    store32(v, 0xabcd0050);
    assert_true(nested_apic_access_write(v, ACCESS_PAGE + 0x80));
    assert_int_equal(exits, 0);
    assert_int_equal(*vapic(0x80), 0x50);
    assert_int_equal(fake_vmcs_get(VMCS_GUEST_RIP), CODE_GLA + 2);
    store32(v, 0x30);
    assert_true(nested_apic_access_write(v, ACCESS_PAGE + 0x80));
    assert_int_equal(exits, 1);
    assert_int_equal(exit_reason, EXIT_REASON_TPR_BELOW_THRESHOLD);
    assert_int_equal(exit_qualification, 0);
    assert_true(exit_trap_like);
    assert_int_equal(fake_vmcs_get(VMCS_GUEST_RIP), CODE_GLA + 2);
    assert_int_equal(*vapic(0x80), 0x30);
    store32(v, 0x000400f1);
    assert_true(nested_apic_access_write(v, ACCESS_PAGE + XAPIC_ICR_LOW));
    assert_int_equal(exits, 2);
    assert_int_equal(exit_reason, EXIT_REASON_APIC_ACCESS);
    assert_int_equal(exit_qualification, 0x1300);
    assert_int_equal(*vapic(XAPIC_ICR_LOW), 0);
    /* Not 080H itself, or wider than the register: not virtualized. */
    store32(v, 0x10);
    assert_true(nested_apic_access_write(v, ACCESS_PAGE + 0x81));
    assert_int_equal(exit_qualification, 0x1081);
    set_code(3, 0x48, 0x89, 0x0a); /* mov %rcx,(%rdx): 8 bytes */
    v->in_l2 = true;
    assert_true(nested_apic_access_write(v, ACCESS_PAGE + 0x80));
    assert_int_equal(exits, 4);
    assert_int_equal(exit_reason, EXIT_REASON_APIC_ACCESS);
}

/* APIC-register virtualization: the listed registers are virtualized,
 * then the APIC-write exit (trap-like, the offset); ICR high only loses
 * bytes 2:0; read-only registers (version, ISR) exit 44. */
static void test_register_virtualization(void **state)
{
    (void)state;
    struct vcpu *v = &the_vm.vcpus[0];
    controls(PROC_TPR_SHADOW, PROC2_APIC_REG_VIRT);
    store32(v, 0x1234);
    assert_true(nested_apic_access_write(v, ACCESS_PAGE + XAPIC_TIMER_INITIAL));
    assert_int_equal(exit_reason, EXIT_REASON_APIC_WRITE);
    assert_int_equal(exit_qualification, XAPIC_TIMER_INITIAL);
    assert_true(exit_trap_like);
    assert_int_equal(*vapic(XAPIC_TIMER_INITIAL), 0x1234);
    assert_int_equal(fake_vmcs_get(VMCS_GUEST_RIP), CODE_GLA + 2);
    store32(v, 0x12345678);
    assert_true(nested_apic_access_write(v, ACCESS_PAGE + XAPIC_ICR_HIGH));
    assert_int_equal(exits, 1);
    assert_int_equal(*vapic(XAPIC_ICR_HIGH), 0x12000000);
    store32(v, 0x4000f1); /* a self-IPI, but no virtual-interrupt delivery */
    assert_true(nested_apic_access_write(v, ACCESS_PAGE + XAPIC_ICR_LOW));
    assert_int_equal(exit_reason, EXIT_REASON_APIC_WRITE);
    assert_int_equal(exit_qualification, XAPIC_ICR_LOW);
    store32(v, 1);
    assert_true(nested_apic_access_write(v, ACCESS_PAGE + XAPIC_EOI));
    assert_int_equal(exit_reason, EXIT_REASON_APIC_WRITE);
    assert_int_equal(exit_qualification, XAPIC_EOI);
    store32(v, 1);
    assert_true(nested_apic_access_write(v, ACCESS_PAGE + 0x30)); /* version */
    assert_int_equal(exit_reason, EXIT_REASON_APIC_ACCESS);
    store32(v, 1);
    assert_true(nested_apic_access_write(v, ACCESS_PAGE + XAPIC_ISR));
    assert_int_equal(exit_reason, EXIT_REASON_APIC_ACCESS);
    assert_int_equal(exits, 5);
}

/* Virtual-interrupt delivery: EOI virtualization clears SVI's bit in
 * VISR, makes the next one SVI, updates PPR and exits 45 only where the
 * EOI-exit bitmap says; a fixed self-IPI of vector >= 16 is virtualized
 * (VIRR, RVI), anything else is an APIC-write exit. */
static void test_virtual_interrupt_delivery(void **state)
{
    (void)state;
    struct vcpu *v = &the_vm.vcpus[0];
    controls(PROC_TPR_SHADOW, PROC2_VIRT_INTR_DELIVERY);
    *vapic(XAPIC_ISR + 0x10 * (0x61 / 32)) = 1U << (0x61 % 32);
    *vapic(XAPIC_ISR + 0x10 * (0x32 / 32)) = 1U << (0x32 % 32);
    *vapic(XAPIC_TPR) = 0x10;
    fake_vmcs_set(VMCS_GUEST_INTR_STATUS, 0x61 << 8 | 0x20);
    VMCS12(&cache, EOI_EXIT_BITMAP1) = 1ULL << (0x61 - 64);
    store32(v, 0);
    assert_true(nested_apic_access_write(v, ACCESS_PAGE + XAPIC_EOI));
    assert_int_equal(exits, 1);
    assert_int_equal(exit_reason, EXIT_REASON_EOI_INDUCED);
    assert_int_equal(exit_qualification, 0x61);
    assert_true(exit_trap_like);
    assert_int_equal(fake_vmcs_get(VMCS_GUEST_INTR_STATUS), 0x32 << 8 | 0x20);
    assert_int_equal(*vapic(XAPIC_ISR + 0x30), 0);
    assert_int_equal(*vapic(XAPIC_PPR), 0x30);
    /* The next EOI: no exit wanted for 0x32; PPR from VTPR now. */
    store32(v, 0);
    assert_true(nested_apic_access_write(v, ACCESS_PAGE + XAPIC_EOI));
    assert_int_equal(exits, 1);
    assert_int_equal(fake_vmcs_get(VMCS_GUEST_INTR_STATUS), 0x20);
    assert_int_equal(*vapic(XAPIC_PPR), 0x10);
    /* Self-IPI 0x45: VIRR and RVI; 0x21 below RVI leaves RVI. */
    store32(v, ICR_SHORTHAND_SELF | 0x45);
    assert_true(nested_apic_access_write(v, ACCESS_PAGE + XAPIC_ICR_LOW));
    assert_int_equal(exits, 1);
    assert_int_equal(*vapic(XAPIC_IRR + 0x20), 1U << (0x45 % 32));
    assert_int_equal(fake_vmcs_get(VMCS_GUEST_INTR_STATUS), 0x45);
    store32(v, ICR_SHORTHAND_SELF | 0x21);
    assert_true(nested_apic_access_write(v, ACCESS_PAGE + XAPIC_ICR_LOW));
    assert_int_equal(fake_vmcs_get(VMCS_GUEST_INTR_STATUS), 0x45);
    assert_int_equal(*vapic(XAPIC_IRR + 0x10), 1U << (0x21 % 32));
    /* Not a self-IPI: a vector below 16, level-triggered, NMI, to
     * another CPU: the APIC-write exit. */
    static const uint32_t not_self[] = {ICR_SHORTHAND_SELF | 0x0f, ICR_SHORTHAND_SELF | ICR_TRIGGER_LEVEL | 0x45,
                                        ICR_SHORTHAND_SELF | ICR_DELIVERY_NMI, 0x45, ICR_SHORTHAND_SELF | 1U << 20 | 0x45};
    for (unsigned i = 0; i < sizeof(not_self) / sizeof(not_self[0]); i++) {
        store32(v, not_self[i]);
        assert_true(nested_apic_access_write(v, ACCESS_PAGE + XAPIC_ICR_LOW));
        assert_int_equal(exit_reason, EXIT_REASON_APIC_WRITE);
        assert_int_equal(exit_qualification, XAPIC_ICR_LOW);
    }
    assert_int_equal(exits, 1 + 5);
    /* TPR with virtual-interrupt delivery: PPR virtualization, no exit. */
    store32(v, 0x70);
    assert_true(nested_apic_access_write(v, ACCESS_PAGE + XAPIC_TPR));
    assert_int_equal(exits, 6);
    assert_int_equal(*vapic(XAPIC_PPR), 0x70);
    /* Other registers still exit 44 without register virtualization. */
    store32(v, 1);
    assert_true(nested_apic_access_write(v, ACCESS_PAGE + XAPIC_TIMER_INITIAL));
    assert_int_equal(exit_reason, EXIT_REASON_APIC_ACCESS);
}

/* A write during event delivery (the exit's IDT-vectoring information is
 * valid): exit 44 with access type 3, nothing decoded or written. */
static void test_during_event_delivery(void **state)
{
    (void)state;
    struct vcpu *v = &the_vm.vcpus[0];
    controls(PROC_TPR_SHADOW, PROC2_APIC_REG_VIRT);
    store32(v, 0x20);
    code[0] = 0x0f; /* not a store: must not matter */
    fake_vmcs_set(VMCS_IDT_VECTORING_INFO_FIELD, INTR_INFO_VALID | INTR_TYPE_EXT_INTR | 0x40);
    assert_true(nested_apic_access_write(v, ACCESS_PAGE + 0x80));
    assert_int_equal(exit_reason, EXIT_REASON_APIC_ACCESS);
    assert_int_equal(exit_qualification, 0x3080);
    assert_int_equal(*vapic(0x80), 0);
}

/* A virtualizable offset written by an instruction L0 cannot decode:
 * false (ipi.c stops L1 with the reason); a non-virtualizable one exits
 * 44 without decoding. */
static void test_undecodable(void **state)
{
    (void)state;
    struct vcpu *v = &the_vm.vcpus[0];
    controls(PROC_TPR_SHADOW, 0);
    store32(v, 0);
    set_code(3, 0x0f, 0xae, 0x38); /* clflush (%rax) */
    assert_false(nested_apic_access_write(v, ACCESS_PAGE + 0x80));
    assert_int_equal(exits, 0);
    assert_true(nested_apic_access_write(v, ACCESS_PAGE + 0x300));
    assert_int_equal(exit_reason, EXIT_REASON_APIC_ACCESS);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup(f, setup)
    const struct CMUnitTest tests[] = {
        T(test_which_page),
        T(test_without_tpr_shadow_every_write_exits),
        T(test_tpr_shadow_alone),
        T(test_register_virtualization),
        T(test_virtual_interrupt_delivery),
        T(test_during_event_delivery),
        T(test_undecodable),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
