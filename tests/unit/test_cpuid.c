/* unit-srcs: vmm/cpuid.c drivers/tsc.c vmm/vcpu.c vmm/l1ram.c vmm/memmap.c tests/unit/fake_vmx.c */
/* vmm/cpuid.c: CPUID as L1 sees it, row by row of docs/l1-platform.md
 * ("CPUID"). Bit positions: SDM Vol. 2A, CPUID, Table 3-10 (leaf 1 ECX:
 * VMX 5, SMX 6, XSAVE 26, OSXSAVE 27, bit 31 reserved for hypervisors) and
 * Table 3-8 (leaf 7.0 ECX: OSPKE 4, WAITPKG 5; leaf 0AH the architectural
 * PMU, leaf 14H Intel PT). Leaves 40000000H-400000FFH are the hypervisor
 * range (docs/hypercalls.md). handle_cpuid runs on the fake VMCS: CPUID
 * writes EAX-EDX zero-extended (Vol. 2A CPUID: "the high 32 bits of RAX,
 * RBX, RCX and RDX are cleared") and the exit completes with RIP advanced by
 * the VM-exit instruction length (SDM 28.2.4). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>
#include "vmm/cpuid.h"
#include "vmm/vm.h"
#include "vmm/hypercall_abi.h"
#include "drivers/tsc.h"
#include "arch/x86/cpu_bits.h"
#include "arch/x86/vmx.h"
#include "arch/x86/vmx_bits.h"
#include "tests/unit/fake_arch.h"
#include "tests/unit/fake_vmx.h"

#define OSPKE   (1U << 4)
#define ALL_ONE 0xffffffffU

struct vm the_vm;

static struct cpuid_regs filtered(uint32_t leaf, uint32_t subleaf, struct cpuid_regs hw, bool nested,
                                  uint64_t cr4, uint32_t features)
{
    struct cpuid_view view = {.nested = nested, .guest_cr4 = cr4, .hv_features = features};
    cpuid_filter(leaf, subleaf, &view, &hw);
    return hw;
}

static void test_leaf1_ecx(void **state)
{
    (void)state;
    struct cpuid_regs hw = {0x000806c1, 0x00100800, 0x7ffafbff, 0xbfebfbff};
    /* Nesting off: VMX and SMX hidden, hypervisor bit set, OSXSAVE from
     * L1's CR4 (clear here although the hardware's is set). */
    struct cpuid_regs r = filtered(1, 0, hw, false, 0, 0);
    assert_int_equal(r.ecx & CPUID_1_ECX_VMX, 0);
    assert_int_equal(r.ecx & CPUID_1_ECX_SMX, 0);
    assert_int_equal(r.ecx & CPUID_1_ECX_HYPERVISOR, CPUID_1_ECX_HYPERVISOR);
    assert_int_equal(r.ecx & CPUID_1_ECX_OSXSAVE, 0);
    /* Every other bit and register as the hardware says. */
    uint32_t changed = CPUID_1_ECX_VMX | CPUID_1_ECX_SMX | CPUID_1_ECX_HYPERVISOR | CPUID_1_ECX_OSXSAVE;
    assert_int_equal(r.ecx & ~changed, hw.ecx & ~changed);
    assert_int_equal(r.eax, hw.eax);
    assert_int_equal(r.ebx, hw.ebx);
    assert_int_equal(r.edx, hw.edx);
    /* Nesting on: VMX shown; OSXSAVE set once L1 sets CR4.OSXSAVE. */
    r = filtered(1, 0, hw, true, CR4_OSXSAVE | CR4_PAE, 0);
    assert_int_equal(r.ecx & CPUID_1_ECX_VMX, CPUID_1_ECX_VMX);
    assert_int_equal(r.ecx & CPUID_1_ECX_OSXSAVE, CPUID_1_ECX_OSXSAVE);
    assert_int_equal(r.ecx & CPUID_1_ECX_SMX, 0);
    /* Bits the hardware lacks are not invented (except VMX by policy and
     * the hypervisor bit). */
    r = filtered(1, 0, (struct cpuid_regs){0, 0, 0, 0}, true, 0, 0);
    assert_int_equal(r.ecx, CPUID_1_ECX_VMX | CPUID_1_ECX_HYPERVISOR);
    r = filtered(1, 0, (struct cpuid_regs){0, 0, ALL_ONE, 0}, false, ~0ULL, 0);
    assert_int_equal(r.ecx, ALL_ONE & ~(CPUID_1_ECX_VMX | CPUID_1_ECX_SMX));
}

static void test_leaf7_ecx(void **state)
{
    (void)state;
    struct cpuid_regs hw = {0, 0xf3bfa7eb, 0x18c05fde | CPUID_7_ECX_WAITPKG | OSPKE, 0xfc100010};
    struct cpuid_regs r = filtered(7, 0, hw, true, 0, 0);
    assert_int_equal(r.ecx & CPUID_7_ECX_WAITPKG, 0);
    assert_int_equal(r.ecx & OSPKE, 0); /* CR4.PKE clear */
    assert_int_equal(r.ecx & ~(CPUID_7_ECX_WAITPKG | OSPKE), hw.ecx & ~(CPUID_7_ECX_WAITPKG | OSPKE));
    assert_int_equal(r.ebx, hw.ebx);
    assert_int_equal(r.edx, hw.edx);
    r = filtered(7, 0, hw, true, CR4_PKE, 0);
    assert_int_equal(r.ecx & OSPKE, OSPKE);
    assert_int_equal(r.ecx & CPUID_7_ECX_WAITPKG, 0);
    /* Subleaf 1 has other bits at those positions: untouched. */
    r = filtered(7, 1, (struct cpuid_regs){ALL_ONE, ALL_ONE, ALL_ONE, ALL_ONE}, false, 0, 0);
    assert_int_equal(r.ecx, ALL_ONE);
    assert_int_equal(r.eax, ALL_ONE);
}

static void test_pmu_and_pt_leaves_are_zero(void **state)
{
    (void)state;
    struct cpuid_regs hw = {0x07300805, 0x00000000, 0x0000000f, 0x00008604};
    for (uint32_t sub = 0; sub < 3; sub++) {
        struct cpuid_regs r = filtered(0xa, sub, hw, true, 0, 0);
        assert_int_equal(r.eax | r.ebx | r.ecx | r.edx, 0);
        r = filtered(0x14, sub, hw, true, 0, 0);
        assert_int_equal(r.eax | r.ebx | r.ecx | r.edx, 0);
    }
}

static void test_hypervisor_leaves(void **state)
{
    (void)state;
    /* The hardware answer (a host hypervisor's leaves, say) is replaced. */
    struct cpuid_regs hw = {0x40000010, 0x4b4d564b, 0x564b4d56, 0x0000004d};
    struct cpuid_regs r = filtered(0x40000000, 0, hw, false, 0, 0);
    assert_int_equal(r.eax, 0x40000001);
    char sig[13] = {0};
    memcpy(sig, &r.ebx, 4);
    memcpy(sig + 4, &r.ecx, 4);
    memcpy(sig + 8, &r.edx, 4);
    assert_string_equal(sig, "nestvisor");
    assert_memory_equal(sig + 9, "\0\0\0", 3);
    r = filtered(0x40000001, 0, hw, true, 0, NV_FEATURE_NESTED | NV_FEATURE_SHADOW);
    assert_int_equal(r.eax, NV_ABI_VERSION);
    assert_int_equal(r.ebx, NV_FEATURE_NESTED | NV_FEATURE_SHADOW);
    assert_int_equal(r.ecx, 0);
    assert_int_equal(r.edx, 0);
    r = filtered(0x40000001, 0, hw, false, 0, 0);
    assert_int_equal(r.eax, NV_ABI_VERSION);
    assert_int_equal(r.ebx, 0);
    uint32_t zero_leaves[] = {0x40000002, 0x40000003, 0x40000010, 0x40000080, 0x400000fe, 0x400000ff};
    for (unsigned i = 0; i < sizeof(zero_leaves) / sizeof(zero_leaves[0]); i++) {
        r = filtered(zero_leaves[i], 0, hw, true, 0, 1);
        assert_int_equal(r.eax | r.ebx | r.ecx | r.edx, 0);
    }
}

static void test_other_leaves_pass_through(void **state)
{
    (void)state;
    struct cpuid_regs hw = {0x12345678, 0x9abcdef0, 0x0fedcba9, 0x87654321};
    uint32_t leaves[] = {0x0, 0x2, 0x4, 0x6, 0xb, 0xd, 0x15, 0x16, 0x3fffffff, 0x40000100,
                         0x4fffffff, 0x80000000, 0x80000001, 0x80000008};
    for (unsigned i = 0; i < sizeof(leaves) / sizeof(leaves[0]); i++)
        for (uint32_t sub = 0; sub < 2; sub++) {
            struct cpuid_regs r = filtered(leaves[i], sub, hw, true, ~0ULL, 3);
            assert_memory_equal(&r, &hw, sizeof(r));
        }
}

/* ---- handle_cpuid on the fake VMCS ---- */

static int setup_vcpu(void **state)
{
    (void)state;
    memset(&the_vm, 0, sizeof(the_vm));
    fake_cpuid_clear();
    fake_vmx_reset();
    assert_true(vmx_on(0x1000));
    assert_true(vmcs_load(0x2000));
    fake_vmcs_set(VMCS_GUEST_CS_AR_BYTES, AR_L | AR_P | AR_S | 0xb);
    fake_vmcs_set(VMCS_GUEST_RIP, 0xffffffff81000000ULL);
    fake_vmcs_set(VMCS_VM_EXIT_INSTRUCTION_LEN, 2);
    return 0;
}

static void test_handle_cpuid_filters_and_completes(void **state)
{
    (void)state;
    struct vcpu *v = &the_vm.vcpus[0];
    fake_cpuid_set(1, 0, (struct cpuid_regs){0x000806c1, 0x00100800, 0x7ffafbff, 0xbfebfbff});
    the_vm.cfg.nested = true;
    fake_vmcs_set(VMCS_GUEST_CR4, CR4_VMXE | CR4_PAE | CR4_OSXSAVE);
    v->regs.rax = 0xdead000000000001ULL; /* only EAX selects the leaf */
    v->regs.rbx = 0xdead0000dead0000ULL;
    v->regs.rcx = 0xdead000000000000ULL;
    v->regs.rdx = ~0ULL;
    fake_vmcs_set(VMCS_GUEST_INTERRUPTIBILITY_INFO, INTERRUPTIBILITY_STI);
    handle_cpuid(v);
    assert_int_equal(v->regs.rax, 0x000806c1);
    assert_int_equal(v->regs.rbx, 0x00100800);
    assert_int_equal(v->regs.rcx, (0x7ffafbffU | CPUID_1_ECX_VMX | CPUID_1_ECX_HYPERVISOR | CPUID_1_ECX_OSXSAVE) &
                                      ~CPUID_1_ECX_SMX);
    assert_int_equal(v->regs.rdx, 0xbfebfbff);
    assert_int_equal(fake_vmcs_get(VMCS_GUEST_RIP), 0xffffffff81000002ULL);
    /* Completing an instruction ends STI blocking (SDM 26.7.1 via vcpu.c). */
    assert_int_equal(fake_vmcs_get(VMCS_GUEST_INTERRUPTIBILITY_INFO), 0);
    /* Nothing was injected. */
    assert_int_equal(fake_vmcs_get(VMCS_VM_ENTRY_INTR_INFO_FIELD), 0);
}

static void test_handle_cpuid_subleaf_and_features(void **state)
{
    (void)state;
    struct vcpu *v = &the_vm.vcpus[0];
    fake_cpuid_set(7, 0, (struct cpuid_regs){2, 0, CPUID_7_ECX_WAITPKG | OSPKE | 1, 0});
    fake_cpuid_set(7, 1, (struct cpuid_regs){0x10, 0, CPUID_7_ECX_WAITPKG, 0});
    v->regs.rax = 7;
    v->regs.rcx = 0xffffffff00000001ULL; /* only ECX selects the subleaf */
    handle_cpuid(v);
    assert_int_equal(v->regs.rax, 0x10);
    assert_int_equal(v->regs.rcx, CPUID_7_ECX_WAITPKG);
    v->regs.rax = 7;
    v->regs.rcx = 0;
    fake_vmcs_set(VMCS_GUEST_CR4, CR4_PKE);
    handle_cpuid(v);
    assert_int_equal(v->regs.rcx, OSPKE | 1);
    /* The feature bits of 0x40000001 follow the configuration: shadowing
     * only counts when nesting is on. */
    struct {
        bool nested, shadow;
        uint32_t features;
    } cfgs[] = {{false, false, 0},
                {false, true, 0},
                {true, false, NV_FEATURE_NESTED},
                {true, true, NV_FEATURE_NESTED | NV_FEATURE_SHADOW}};
    for (unsigned i = 0; i < 4; i++) {
        the_vm.cfg.nested = cfgs[i].nested;
        the_vm.cfg.shadow = cfgs[i].shadow;
        v->regs.rax = 0x40000001;
        handle_cpuid(v);
        assert_int_equal(v->regs.rax, NV_ABI_VERSION);
        assert_int_equal(v->regs.rbx, cfgs[i].features);
    }
    /* Leaf 1 VMX follows the configuration too. */
    fake_cpuid_set(1, 0, (struct cpuid_regs){0, 0, CPUID_1_ECX_VMX, 0});
    the_vm.cfg.nested = false;
    v->regs.rax = 1;
    handle_cpuid(v);
    assert_int_equal(v->regs.rcx & CPUID_1_ECX_VMX, 0);
    /* Outside 64-bit mode RIP stays within 32 bits. */
    fake_vmcs_set(VMCS_GUEST_CS_AR_BYTES, AR_DB | AR_P | AR_S | 0xb);
    fake_vmcs_set(VMCS_GUEST_RIP, 0xfffffffe);
    handle_cpuid(v);
    assert_int_equal(fake_vmcs_get(VMCS_GUEST_RIP), 0);
}


/* The TSC's rate as L1 reads it (SDM Vol. 2A CPUID leaf 15H: TSC = ECX *
 * EBX / EAX, ECX the core crystal clock; leaf 16H EAX/EBX base/maximum MHz).
 * Where the CPU's own leaves agree with L0's measurement they pass through;
 * where they disagree (Bochs: 2.4 GHz claimed, 4 MHz counted) L1 gets the
 * measured rate, so that a Linux L1 needs no tsc_early_khz. */
static void test_tsc_leaves_follow_the_measurement(void **state)
{
    (void)state;
    struct cpuid_regs hw15 = {2, 200, 24000000, 0}, hw16 = {2400, 3400, 100, 0};
    fake_cpuid_set(CPUID_LEAF_BASIC, 0, (struct cpuid_regs){0x1b, 0, 0, 0});
    fake_cpuid_set(CPUID_LEAF_TSC, 0, hw15);
    struct tsc_info t = {.cpuid_hz = 2400000000ULL, .measured_hz = 2401000000ULL, .timer = "PM"};
    tsc_choose(&t);
    assert_true(t.cpuid_trusted);
    assert_int_equal(t.hz, 2400000000ULL);
    cpuid_set_tsc(&t);
    struct cpuid_regs r = filtered(CPUID_LEAF_TSC, 0, hw15, false, 0, 0);
    assert_memory_equal(&r, &hw15, sizeof(r));
    r = filtered(CPUID_LEAF_FREQ, 0, hw16, false, 0, 0);
    assert_memory_equal(&r, &hw16, sizeof(r));
    /* Bochs: CPUID claims 2.4 GHz, the PM timer measures 4 MHz. */
    t = (struct tsc_info){.cpuid_hz = 2400000000ULL, .measured_hz = 4000000, .timer = "the ACPI PM timer"};
    tsc_choose(&t);
    assert_false(t.cpuid_trusted);
    assert_int_equal(t.hz, 4000000);
    assert_string_equal(t.source, "the ACPI PM timer");
    cpuid_set_tsc(&t);
    r = filtered(CPUID_LEAF_TSC, 0, hw15, false, 0, 0);
    assert_int_equal((uint64_t)r.ecx * r.ebx / r.eax, 4000000);
    r = filtered(CPUID_LEAF_FREQ, 0, hw16, false, 0, 0);
    assert_int_equal(r.eax, 4);
    assert_int_equal(r.ebx, 4);
    /* A rate above 4.29 GHz still fits: crystal * ratio. */
    t.measured_hz = 5000000000ULL;
    cpuid_set_tsc(&t);
    r = filtered(CPUID_LEAF_TSC, 0, hw15, false, 0, 0);
    assert_int_equal((uint64_t)r.ecx * r.ebx / r.eax, 5000000000ULL);
    /* A CPU whose leaves stop below 15H gets none invented. */
    fake_cpuid_set(CPUID_LEAF_BASIC, 0, (struct cpuid_regs){0x0d, 0, 0, 0});
    cpuid_set_tsc(&t);
    struct cpuid_regs above = {7, 7, 7, 7};
    r = filtered(CPUID_LEAF_TSC, 0, above, false, 0, 0);
    assert_memory_equal(&r, &above, sizeof(r));
    /* Nothing to measure against: CPUID is all there is. */
    t = (struct tsc_info){.cpuid_hz = 2400000000ULL};
    tsc_choose(&t);
    assert_true(t.cpuid_trusted);
    assert_int_equal(t.hz, 2400000000ULL);
    /* Neither: an assumption, said as such. */
    t = (struct tsc_info){0};
    tsc_choose(&t);
    assert_int_equal(t.hz, 1000000000ULL);
    assert_non_null(strstr(t.source, "assumed"));
    /* The agreement margin: 2%. */
    t = (struct tsc_info){.cpuid_hz = 1000000000ULL, .measured_hz = 1021000000ULL, .timer = "PIT"};
    tsc_choose(&t);
    assert_false(t.cpuid_trusted);
    t.measured_hz = 1019000000ULL;
    tsc_choose(&t);
    assert_true(t.cpuid_trusted);
    fake_cpuid_clear();
    t.cpuid_trusted = true;
    cpuid_set_tsc(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_leaf1_ecx),
        cmocka_unit_test(test_leaf7_ecx),
        cmocka_unit_test(test_pmu_and_pt_leaves_are_zero),
        cmocka_unit_test(test_hypervisor_leaves),
        cmocka_unit_test(test_other_leaves_pass_through),
        cmocka_unit_test(test_tsc_leaves_follow_the_measurement),
        cmocka_unit_test_setup(test_handle_cpuid_filters_and_completes, setup_vcpu),
        cmocka_unit_test_setup(test_handle_cpuid_subleaf_and_features, setup_vcpu),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
