/* unit-srcs: vmm/msr.c vmm/mtrr.c vmm/memmap.c vmm/vcpu.c vmm/l1ram.c vmm/memmap.c vmm/nested/vmx_msrs.c vmm/nested/vmcs12.c arch/x86/vmx_caps.c tests/unit/fake_vmx.c tests/unit/fake_ipi.c */
/* vmm/msr.c: L1's MSRs (docs/l1-platform.md, "MSRs"). The MSR bitmap
 * layout is SDM Vol. 3C 25.6.9 (read-low at byte 0, read-high at 1024,
 * write-low at 2048, write-high at 3072; MSRs 0-1FFFH and
 * C0000000H-C0001FFFH; any other MSR always exits, 26.1.3). The emulation:
 * IA32_FEATURE_CONTROL (SDM 24.7: bit 0 lock, bit 2 VMX outside SMX; a
 * write when locked #GPs), the IA32_VMX_* MSRs (Appendix A; #GP on a CPU
 * without VMX, Vol. 4 Table 2-2), the MTRRs (12.11), IA32_APIC_BASE
 * (11.4.4). RDMSR/WRMSR exits complete per Vol. 2B RDMSR/WRMSR: EDX:EAX
 * with the high halves of RAX/RDX cleared on read and ignored on write, #GP
 * injected as a hardware exception with error code 0 (SDM 26.6.1.1). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>
#include "vmm/msr.h"
#include "vmm/vm.h"
#include "vmm/nested/vmx_msrs.h"
#include "arch/x86/cpu_bits.h"
#include "arch/x86/msr_index.h"
#include "arch/x86/vmx.h"
#include "arch/x86/vmx_bits.h"
#include "tests/unit/fake_arch.h"
#include "tests/unit/fake_ipi.h"
#include "tests/unit/fake_vmx.h"
#include "tests/unit/cpu_models.h"

struct vm the_vm;
static struct hostmem host;
static uint8_t bitmap[4096];

#define GP_INFO (INTR_INFO_VALID | INTR_TYPE_HW_EXCEPTION | INTR_INFO_DELIVER_CODE | VEC_GP)

/* The pass-through rows of docs/l1-platform.md. */
static const uint32_t doc_passthrough[] = {
    MSR_IA32_FS_BASE, MSR_IA32_GS_BASE, MSR_IA32_KERNEL_GS_BASE, MSR_IA32_SYSENTER_CS,
    MSR_IA32_SYSENTER_ESP, MSR_IA32_SYSENTER_EIP, MSR_IA32_STAR, MSR_IA32_LSTAR, MSR_IA32_CSTAR,
    MSR_IA32_FMASK, MSR_IA32_TSC_AUX, MSR_IA32_PAT, MSR_IA32_EFER, MSR_IA32_TSC,
    MSR_IA32_TSC_DEADLINE, MSR_IA32_SPEC_CTRL, MSR_IA32_PRED_CMD, MSR_IA32_DEBUGCTL,
    MSR_IA32_XSS, MSR_IA32_FLUSH_CMD,
    /* L1's platform, native behaviour (docs/l1-platform.md second row). */
    MSR_IA32_PLATFORM_ID, MSR_IA32_TSC_ADJUST, MSR_IA32_MCG_STATUS,
    MSR_IA32_MCG_CTL, MSR_IA32_PERF_CTL, MSR_IA32_PERF_STATUS, MSR_IA32_ENERGY_PERF_BIAS,
};

static bool listed(uint32_t msr)
{
    if (msr >= MSR_X2APIC_FIRST && msr <= MSR_X2APIC_LAST)
        return true;
    for (unsigned i = 0; i < sizeof(doc_passthrough) / sizeof(doc_passthrough[0]); i++)
        if (doc_passthrough[i] == msr)
            return true;
    return msr >= MSR_IA32_MC0_CTL && msr <= MSR_IA32_MC_LAST; /* machine-check banks */
}

static int setup(void **state)
{
    (void)state;
    memset(&the_vm, 0, sizeof(the_vm));
    memset(bitmap, 0, sizeof(bitmap));
    memmap_init(&host.map);
    memmap_set(&host.map, 0, 0x7c000000, MEM_USABLE);
    memmap_set(&host.map, 0x7c000000, 0x2000000, MEM_HV);
    memmap_set(&host.map, 0x7e000000, 0x2000000, MEM_USABLE);
    the_vm.host = &host;
    the_vm.l1_mtrr.cap = (1ULL << 10) | (1ULL << 8) | 2;
    the_vm.l1_mtrr.def_type_msr = (1ULL << 11) | MEMTYPE_WB;
    the_vm.l1_mtrr.var_count = 2;
    the_vm.l1_mtrr.phys_addr_mask = ((1ULL << 39) - 1) & ~0xfffULL;
    the_vm.host_mtrr = the_vm.l1_mtrr;
    fake_msr_clear();
    fake_ipi_reset();
    fake_vmx_reset();
    assert_true(vmx_on(0x1000));
    assert_true(vmcs_load(0x2000));
    fake_vmcs_set(VMCS_GUEST_CS_AR_BYTES, AR_L | AR_P | AR_S | 0xb);
    fake_vmcs_set(VMCS_GUEST_RIP, 0x100000);
    fake_vmcs_set(VMCS_VM_EXIT_INSTRUCTION_LEN, 2);
    return 0;
}

static void test_bitmap_layout(void **state)
{
    (void)state;
    /* Low MSRs: read bit at byte msr/8 from 0, write bit from 2048. */
    msr_bitmap_set(bitmap, 0x10, true, false);
    assert_int_equal(bitmap[2], 0x01);
    assert_int_equal(bitmap[2048 + 2], 0);
    msr_bitmap_set(bitmap, 0x1fff, false, true);
    assert_int_equal(bitmap[1023], 0);
    assert_int_equal(bitmap[2048 + 1023], 0x80);
    /* High MSRs: read from 1024, write from 3072. */
    msr_bitmap_set(bitmap, 0xc0000082, true, true);
    assert_int_equal(bitmap[1024 + 16], 0x04);
    assert_int_equal(bitmap[3072 + 16], 0x04);
    msr_bitmap_set(bitmap, 0xc0001fff, true, false);
    assert_int_equal(bitmap[2047], 0x80);
    assert_int_equal(bitmap[4095], 0);
    /* Reading the bits back, by half. */
    assert_true(msr_bitmap_exits(bitmap, 0x10, false));
    assert_false(msr_bitmap_exits(bitmap, 0x10, true));
    assert_false(msr_bitmap_exits(bitmap, 0x11, false));
    assert_true(msr_bitmap_exits(bitmap, 0x1fff, true));
    assert_false(msr_bitmap_exits(bitmap, 0x1fff, false));
    assert_true(msr_bitmap_exits(bitmap, 0xc0000082, false));
    assert_true(msr_bitmap_exits(bitmap, 0xc0000082, true));
    assert_false(msr_bitmap_exits(bitmap, 0xc0000081, true));
    /* Clearing one half leaves the other. */
    msr_bitmap_set(bitmap, 0xc0000082, false, true);
    assert_false(msr_bitmap_exits(bitmap, 0xc0000082, false));
    assert_true(msr_bitmap_exits(bitmap, 0xc0000082, true));
    /* Low and high MSRs with the same offset do not share bits. */
    assert_false(msr_bitmap_exits(bitmap, 0x82, true));
}

static void test_bitmap_msrs_outside_both_ranges_always_exit(void **state)
{
    (void)state;
    uint8_t copy[4096];
    memcpy(copy, bitmap, sizeof(copy));
    uint32_t outside[] = {0x2000, 0x3fff, 0x40000000, 0xbfffffff, 0xc0002000, 0xc0010000, 0xffffffff};
    for (unsigned i = 0; i < sizeof(outside) / sizeof(outside[0]); i++) {
        msr_bitmap_set(bitmap, outside[i], false, false);
        assert_true(msr_bitmap_exits(bitmap, outside[i], false));
        assert_true(msr_bitmap_exits(bitmap, outside[i], true));
    }
    assert_memory_equal(bitmap, copy, sizeof(copy)); /* and nothing was written */
}

static void test_l1_bitmap_passes_exactly_the_policy(void **state)
{
    (void)state;
    memset(bitmap, 0x5a, sizeof(bitmap));
    msr_bitmap_build_l1(bitmap);
    for (unsigned i = 0; i < sizeof(doc_passthrough) / sizeof(doc_passthrough[0]); i++) {
        assert_false(msr_bitmap_exits(bitmap, doc_passthrough[i], false));
        assert_false(msr_bitmap_exits(bitmap, doc_passthrough[i], true));
        assert_true(msr_is_passthrough(doc_passthrough[i]));
    }
    for (uint32_t m = MSR_X2APIC_FIRST; m <= MSR_X2APIC_LAST; m++) {
        assert_false(msr_bitmap_exits(bitmap, m, false));
        assert_false(msr_bitmap_exits(bitmap, m, true));
    }
    /* Everything else exits, both ways: the whole of both ranges. */
    uint32_t bases[] = {0, MSR_HIGH_BASE};
    for (unsigned b = 0; b < 2; b++)
        for (uint32_t m = bases[b]; m < bases[b] + MSR_BITMAP_RANGE; m++) {
            bool pass = listed(m);
            assert_int_equal(msr_bitmap_exits(bitmap, m, false), !pass);
            assert_int_equal(msr_bitmap_exits(bitmap, m, true), !pass);
            assert_int_equal(msr_is_passthrough(m), pass);
        }
    /* Some that must never pass: VMX capabilities, FEATURE_CONTROL, MTRRs,
     * APIC_BASE (emulated), MISC_ENABLE, PERF_GLOBAL_CTRL. */
    uint32_t emulated[] = {MSR_IA32_FEATURE_CONTROL, MSR_IA32_VMX_BASIC, MSR_IA32_VMX_PROCBASED_CTLS2,
                           MSR_IA32_MTRRCAP, MSR_IA32_MTRR_DEF_TYPE, MSR_IA32_MTRR_PHYSBASE0,
                           MSR_IA32_MTRR_FIX64K_00000, MSR_IA32_APIC_BASE, MSR_IA32_MISC_ENABLE,
                           MSR_IA32_PERF_GLOBAL_CTRL, MSR_IA32_MCG_CAP, MSR_IA32_BIOS_SIGN_ID};
    for (unsigned i = 0; i < sizeof(emulated) / sizeof(emulated[0]); i++) {
        assert_true(msr_bitmap_exits(bitmap, emulated[i], false));
        assert_true(msr_bitmap_exits(bitmap, emulated[i], true));
    }
}

static void test_feature_control(void **state)
{
    (void)state;
    uint64_t v = 0;
    fake_msr_set(MSR_IA32_FEATURE_CONTROL, 0x5); /* the host's, never shown */
    the_vm.cfg.nested = false;
    assert_true(msr_emulate_read(&the_vm, MSR_IA32_FEATURE_CONTROL, &v));
    assert_int_equal(v, FEATURE_CONTROL_LOCK);
    the_vm.cfg.nested = true;
    assert_true(msr_emulate_read(&the_vm, MSR_IA32_FEATURE_CONTROL, &v));
    assert_int_equal(v, FEATURE_CONTROL_LOCK | FEATURE_CONTROL_VMX_OUTSIDE_SMX);
    /* Locked: every write #GPs, even of the same value. */
    assert_false(msr_emulate_write(&the_vm, MSR_IA32_FEATURE_CONTROL, v));
    assert_false(msr_emulate_write(&the_vm, MSR_IA32_FEATURE_CONTROL, 0));
    uint64_t hw;
    assert_true(rdmsr_safe(MSR_IA32_FEATURE_CONTROL, &hw));
    assert_int_equal(hw, 0x5);
}

static void test_vmx_msrs_gp_with_nesting_off(void **state)
{
    (void)state;
    uint64_t v = 0x1234;
    for (uint32_t m = MSR_IA32_VMX_BASIC; m <= MSR_IA32_VMX_PROCBASED_CTLS3; m++)
        fake_msr_set(m, 0x00d8100000000004ULL); /* the hardware has them */
    the_vm.cfg.nested = false;
    for (uint32_t m = MSR_IA32_VMX_BASIC; m <= MSR_IA32_VMX_PROCBASED_CTLS3; m++) {
        assert_false(msr_emulate_read(&the_vm, m, &v));
        assert_false(msr_emulate_write(&the_vm, m, 0));
    }
    assert_int_equal(v, 0x1234);
    /* The neighbours are ordinary MSRs. */
    fake_msr_set(0x47f, 7);
    fake_msr_set(0x493, 8);
    assert_true(msr_emulate_read(&the_vm, 0x47f, &v));
    assert_int_equal(v, 7);
    assert_true(msr_emulate_read(&the_vm, 0x493, &v));
    assert_int_equal(v, 8);
}

/* With nesting on, L1 reads nestvisor's exposed capabilities
 * (vmm/nested/vmx_msrs.c), never the hardware's; writes still #GP (the
 * IA32_VMX_* MSRs are read-only, SDM Appendix A). */
static void test_vmx_msrs_with_nesting_on(void **state)
{
    (void)state;
    static struct vmx_caps caps;
    vmx_caps_decode(&tigerlake, &caps);
    nested_vmx_msrs_init(&caps);
    for (uint32_t m = MSR_IA32_VMX_BASIC; m <= MSR_IA32_VMX_PROCBASED_CTLS3; m++)
        fake_msr_set(m, 0xffffffffffffffffULL);
    the_vm.cfg.nested = true;
    for (uint32_t m = MSR_IA32_VMX_BASIC; m <= MSR_IA32_VMX_PROCBASED_CTLS3; m++) {
        uint64_t got = 0x1234, want = 0x1234;
        bool offered = nested_vmx_msr_read(m, &want);
        assert_int_equal(msr_emulate_read(&the_vm, m, &got), offered);
        if (offered)
            assert_int_equal(got, want);
        assert_false(msr_emulate_write(&the_vm, m, got));
    }
    uint64_t v;
    assert_true(msr_emulate_read(&the_vm, MSR_IA32_VMX_BASIC, &v));
    assert_int_equal(v & VMX_BASIC_REVISION_MASK, 4); /* the host's revision */
    assert_true(msr_emulate_read(&the_vm, MSR_IA32_VMX_PROCBASED_CTLS2, &v));
    assert_int_equal((v >> 32) & PROC2_ENABLE_EPT, PROC2_ENABLE_EPT); /* EPT-on-EPT */
    assert_int_equal((v >> 32) & PROC2_VMCS_SHADOWING, PROC2_VMCS_SHADOWING); /* for L1's L2 (shadow12.c) */
}

static void test_mtrrs_use_the_virtual_copy(void **state)
{
    (void)state;
    uint64_t v;
    fake_msr_set(MSR_IA32_MTRR_DEF_TYPE, 0xc06);
    assert_true(msr_emulate_read(&the_vm, MSR_IA32_MTRRCAP, &v));
    assert_int_equal(v, (1ULL << 8) | 2); /* WC hidden */
    assert_true(msr_emulate_write(&the_vm, MSR_IA32_MTRR_DEF_TYPE, (1ULL << 11) | MEMTYPE_UC));
    assert_true(msr_emulate_read(&the_vm, MSR_IA32_MTRR_DEF_TYPE, &v));
    assert_int_equal(v, (1ULL << 11) | MEMTYPE_UC);
    /* Neither the hardware nor the host copy (EPT01's types) changed. */
    uint64_t hw;
    assert_true(rdmsr_safe(MSR_IA32_MTRR_DEF_TYPE, &hw));
    assert_int_equal(hw, 0xc06);
    assert_int_equal(the_vm.host_mtrr.def_type_msr, (1ULL << 11) | MEMTYPE_WB);
    /* Invalid values #GP. */
    assert_false(msr_emulate_write(&the_vm, MSR_IA32_MTRR_DEF_TYPE, 2));
    assert_false(msr_emulate_write(&the_vm, MSR_IA32_MTRRCAP, 0));
    assert_true(msr_emulate_write(&the_vm, MSR_IA32_MTRR_PHYSMASK0 + 2, 0x7ff0000800ULL));
    assert_int_equal(the_vm.l1_mtrr.var_mask[1], 0x7ff0000800ULL);
    assert_false(msr_emulate_read(&the_vm, MSR_IA32_MTRR_PHYSBASE0 + 4, &v));
}

static void test_apic_base(void **state)
{
    (void)state;
    uint64_t v;
    fake_msr_set(MSR_IA32_APIC_BASE, 0xfee00900);
    /* Reads are the hardware's. */
    assert_true(msr_emulate_read(&the_vm, MSR_IA32_APIC_BASE, &v));
    assert_int_equal(v, 0xfee00900);
    /* Moving the APIC over nestvisor's memory is refused... */
    assert_false(msr_emulate_write(&the_vm, MSR_IA32_APIC_BASE, 0x7c000900));
    assert_false(msr_emulate_write(&the_vm, MSR_IA32_APIC_BASE, 0x7dfff900));
    assert_true(rdmsr_safe(MSR_IA32_APIC_BASE, &v));
    assert_int_equal(v, 0xfee00900);
    /* ...anywhere else it goes to the hardware (x2APIC enable included). */
    assert_int_equal(fake_ipi.base_changes, 0); /* refused: nothing moved */
    assert_true(msr_emulate_write(&the_vm, MSR_IA32_APIC_BASE, 0x7bfff900));
    assert_true(rdmsr_safe(MSR_IA32_APIC_BASE, &v));
    assert_int_equal(v, 0x7bfff900);
    /* ipi.c hears of every accepted move (it may watch the APIC page). */
    assert_int_equal(fake_ipi.base_changes, 1);
    assert_int_equal(fake_ipi.last_base, 0x7bfff900);
    assert_true(msr_emulate_write(&the_vm, MSR_IA32_APIC_BASE, 0x7e000d00));
    assert_true(msr_emulate_write(&the_vm, MSR_IA32_APIC_BASE, 0xfee00d00));
    assert_true(rdmsr_safe(MSR_IA32_APIC_BASE, &v));
    assert_int_equal(v, 0xfee00d00);
    /* A value the hardware refuses #GPs. */
    fake_msr_clear();
    assert_false(msr_emulate_write(&the_vm, MSR_IA32_APIC_BASE, 0xfee00900));
    assert_int_equal(fake_ipi.base_changes, 3);
}

static void test_other_msrs(void **state)
{
    (void)state;
    uint64_t v = 0;
    fake_msr_set(MSR_IA32_MCG_CAP, 0x850089);
    assert_true(msr_emulate_read(&the_vm, MSR_IA32_MCG_CAP, &v));
    assert_int_equal(v, 0x850089);
    /* Writes to anything not emulated #GP, and do not reach the hardware. */
    assert_false(msr_emulate_write(&the_vm, MSR_IA32_MCG_CAP, 0x850088));
    assert_true(rdmsr_safe(MSR_IA32_MCG_CAP, &v));
    assert_int_equal(v, 0x850089);
    /* IA32_MISC_ENABLE is virtual: the hardware's value to start with,
     * L1's writes kept in its copy only. */
    fake_msr_set(MSR_IA32_MISC_ENABLE, 0x850089);
    assert_true(msr_emulate_read(&the_vm, MSR_IA32_MISC_ENABLE, &v));
    assert_int_equal(v, 0x850089);
    assert_true(msr_emulate_write(&the_vm, MSR_IA32_MISC_ENABLE, 0x850088));
    assert_true(msr_emulate_read(&the_vm, MSR_IA32_MISC_ENABLE, &v));
    assert_int_equal(v, 0x850088);
    assert_true(rdmsr_safe(MSR_IA32_MISC_ENABLE, &v));
    assert_int_equal(v, 0x850089);
    /* IA32_BIOS_SIGN_ID is virtual: the revision (bits 63:32), or 0 on a
     * CPU without the MSR; Linux's write of 0 is accepted, the hardware's
     * register is left alone. */
    assert_true(msr_emulate_read(&the_vm, MSR_IA32_BIOS_SIGN_ID, &v));
    assert_int_equal(v, 0);
    assert_true(msr_emulate_write(&the_vm, MSR_IA32_BIOS_SIGN_ID, 0));
    assert_false(rdmsr_safe(MSR_IA32_BIOS_SIGN_ID, &v));
    fake_msr_set(MSR_IA32_BIOS_SIGN_ID, 0x000000f400000077ULL);
    assert_true(msr_emulate_write(&the_vm, MSR_IA32_BIOS_SIGN_ID, 0));
    assert_true(msr_emulate_read(&the_vm, MSR_IA32_BIOS_SIGN_ID, &v));
    assert_int_equal(v, 0x000000f400000000ULL);
    /* A read the hardware faults on #GPs. */
    v = 0x77;
    assert_false(msr_emulate_read(&the_vm, 0x12345, &v));
    assert_int_equal(v, 0x77);
}

static unsigned count(const char *hay, const char *needle)
{
    unsigned n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p++)
        n++;
    return n;
}

/* Runs first: the warning table is the module's static state. An L1 that
 * probes many MSRs (Linux does, with rdmsr_safe) and then polls one must not
 * flood the log: one line per MSR, for at most a fixed number of them. */
static void test_warnings_are_bounded(void **state)
{
    (void)state;
    uint64_t v;
    char name[32];
    fake_console_reset();
    assert_false(msr_emulate_read(&the_vm, 0x12345, &v));
    assert_false(msr_emulate_read(&the_vm, 0x12345, &v));
    assert_int_equal(count(fake_console_output(), "MSR 0x12345:"), 1);
    for (unsigned round = 0; round < 3; round++)
        for (uint32_t m = 0x40000; m < 0x40040; m++) {
            assert_false(msr_emulate_read(&the_vm, m, &v));
            assert_false(msr_emulate_write(&the_vm, m, 0));
        }
    const char *out = fake_console_output();
    for (uint32_t m = 0x40000; m < 0x40040; m++) {
        snprintf(name, sizeof(name), "MSR 0x%x:", m);
        assert_true(count(out, name) <= 1);
    }
    assert_true(count(out, ": #GP") <= 16);
}

static void test_handle_rdmsr(void **state)
{
    (void)state;
    struct vcpu *v = &the_vm.vcpus[0];
    fake_msr_set(MSR_IA32_MCG_CAP, 0x123456789abcdef0ULL);
    v->regs.rcx = 0xffffffff00000000ULL | MSR_IA32_MCG_CAP; /* ECX only */
    v->regs.rax = v->regs.rdx = ~0ULL;
    handle_rdmsr(v);
    assert_int_equal(v->regs.rax, 0x9abcdef0);
    assert_int_equal(v->regs.rdx, 0x12345678);
    assert_int_equal(fake_vmcs_get(VMCS_GUEST_RIP), 0x100002);
    assert_int_equal(fake_vmcs_get(VMCS_VM_ENTRY_INTR_INFO_FIELD), 0);
    /* A faulting read: #GP(0), RIP and registers unchanged. */
    v->regs.rcx = MSR_IA32_VMX_BASIC;
    handle_rdmsr(v);
    assert_int_equal(fake_vmcs_get(VMCS_VM_ENTRY_INTR_INFO_FIELD), GP_INFO);
    assert_int_equal(fake_vmcs_get(VMCS_VM_ENTRY_EXCEPTION_ERROR_CODE), 0);
    assert_int_equal(fake_vmcs_get(VMCS_GUEST_RIP), 0x100002);
    assert_int_equal(v->regs.rax, 0x9abcdef0);
}

static void test_handle_wrmsr(void **state)
{
    (void)state;
    struct vcpu *v = &the_vm.vcpus[0];
    fake_msr_set(MSR_IA32_APIC_BASE, 0xfee00900);
    v->regs.rcx = MSR_IA32_APIC_BASE;
    v->regs.rax = 0xdeadbeef00000000ULL | 0xfee00d00; /* EAX only */
    v->regs.rdx = 0xdeadbeef00000000ULL;              /* EDX only */
    handle_wrmsr(v);
    uint64_t hw;
    assert_true(rdmsr_safe(MSR_IA32_APIC_BASE, &hw));
    assert_int_equal(hw, 0xfee00d00);
    assert_int_equal(fake_vmcs_get(VMCS_GUEST_RIP), 0x100002);
    assert_int_equal(fake_vmcs_get(VMCS_VM_ENTRY_INTR_INFO_FIELD), 0);
    /* EDX:EAX together: an MTRR mask with bits above 31. */
    v->regs.rcx = MSR_IA32_MTRR_PHYSMASK0;
    v->regs.rax = 0xf0000800;
    v->regs.rdx = 0x7f;
    handle_wrmsr(v);
    assert_int_equal(the_vm.l1_mtrr.var_mask[0], 0x7ff0000800ULL);
    assert_int_equal(fake_vmcs_get(VMCS_GUEST_RIP), 0x100004);
    /* A refused write: #GP(0), RIP unchanged. */
    v->regs.rcx = MSR_IA32_FEATURE_CONTROL;
    v->regs.rax = 5;
    v->regs.rdx = 0;
    handle_wrmsr(v);
    assert_int_equal(fake_vmcs_get(VMCS_VM_ENTRY_INTR_INFO_FIELD), GP_INFO);
    assert_int_equal(fake_vmcs_get(VMCS_GUEST_RIP), 0x100004);
}

/* The x2APIC ICR exits only while L0 watches L1's INIT/SIPI: the write
 * goes to ipi.c whole (EDX:EAX), which says done or #GP. */
static void test_x2apic_icr_write_goes_to_ipi(void **state)
{
    (void)state;
    struct vcpu *v = &the_vm.vcpus[0];
    v->regs.rcx = MSR_X2APIC_ICR;
    v->regs.rax = 0xffffffff00000000ULL | 0x4500;
    v->regs.rdx = 0x3;
    handle_wrmsr(v);
    assert_int_equal(fake_ipi.icr_writes, 1);
    assert_int_equal(fake_ipi.last_icr, 0x300004500ULL);
    assert_int_equal(fake_vmcs_get(VMCS_GUEST_RIP), 0x100002);
    fake_ipi_icr_ok = false;
    handle_wrmsr(v);
    assert_int_equal(fake_vmcs_get(VMCS_VM_ENTRY_INTR_INFO_FIELD), GP_INFO);
    assert_int_equal(fake_vmcs_get(VMCS_GUEST_RIP), 0x100002);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup(f, setup)
    const struct CMUnitTest tests[] = {
        T(test_warnings_are_bounded),
        T(test_bitmap_layout),
        T(test_bitmap_msrs_outside_both_ranges_always_exit),
        T(test_l1_bitmap_passes_exactly_the_policy),
        T(test_feature_control),
        T(test_vmx_msrs_gp_with_nesting_off),
        T(test_vmx_msrs_with_nesting_on),
        T(test_mtrrs_use_the_virtual_copy),
        T(test_apic_base),
        T(test_other_msrs),
        T(test_handle_rdmsr),
        T(test_handle_wrmsr),
        T(test_x2apic_icr_write_goes_to_ipi),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
