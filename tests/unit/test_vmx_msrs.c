/* unit-srcs: vmm/nested/vmx_msrs.c vmm/nested/vmcs12.c arch/x86/vmx_caps.c */
/* vmm/nested/vmx_msrs.c: the IA32_VMX_* MSRs L1 reads, computed from the
 * host's on the Bochs tigerlake model and on variants of it (no TRUE
 * controls, no secondary controls, no INVEPT types, no preemption timer).
 * Rules: SDM Vol. 3C Appendix A: A.1 IA32_VMX_BASIC (bit 55 announces the
 * TRUE MSRs 48DH-490H; bits 44:32 region size; 53:50 memory type), A.3-A.5
 * (bits 31:0 of a control MSR are the allowed 0-settings, i.e. must-be-1,
 * bits 63:32 the allowed 1-settings; A.2 the TRUE MSRs report the same
 * allowed 1-settings), A.3.2 (IA32_VMX_PROCBASED_CTLS2 exists only if bit 63
 * of IA32_VMX_PROCBASED_CTLS is 1), A.6 IA32_VMX_MISC (CR3-target count bits
 * 24:16, activity states, bit 29 VMWRITE to any field), A.9 VMCS_ENUM (bits
 * 9:1 highest index), A.10 IA32_VMX_EPT_VPID_CAP (exists only if the
 * secondary controls allow EPT or VPID), A.11 IA32_VMX_VMFUNC (exists only
 * if "enable VM functions" may be 1), and IA32_VMX_PROCBASED_CTLS3 (492H,
 * only with "activate tertiary controls"). An MSR that does not exist makes
 * RDMSR #GP (nested_vmx_msr_read false). The table of docs/nested-features.md
 * is parsed and checked against the offer here. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "vmm/nested/vmx_msrs.h"
#include "vmm/nested/vmcs12.h"
#include "vmm/nested/ept12.h"
#include "arch/x86/msr_index.h"
#include "arch/x86/vmx_bits.h"
#include "arch/x86/vmx_caps.h"
#include "tests/unit/cpu_models.h"

#define FEATURES_DOC "docs/nested-features.md"

static struct vmx_caps host;

static void offer(const struct vmx_msrs *raw)
{
    vmx_caps_decode(raw, &host);
    nested_vmx_msrs_init(&host);
}

static uint64_t rd(uint32_t msr)
{
    uint64_t v = 0xdeadbeef;
    if (!nested_vmx_msr_read(msr, &v))
        fail_msg("MSR 0x%x #GPs but should exist", msr);
    return v;
}

static bool exists(uint32_t msr)
{
    uint64_t v;
    return nested_vmx_msr_read(msr, &v);
}

static uint32_t must1(uint64_t msr) { return (uint32_t)msr; }
static uint32_t may1(uint64_t msr) { return (uint32_t)(msr >> 32); }

/* Every value L1 reads on tigerlake, worked out by hand from the hardware
 * values and the NESTED_*_SUPPORTED masks. */
static void test_tigerlake_values(void **state)
{
    (void)state;
    offer(&tigerlake);
    /* A.1: revision 4, 4096-byte region (44:32), WB (53:50 = 6), INS/OUTS
     * information (54), TRUE MSRs (55); bit 56 (no error-code check) and
     * everything else dropped. */
    assert_int_equal(rd(MSR_IA32_VMX_BASIC), 0x00d8100000000004ULL);
    assert_int_equal(rd(MSR_IA32_VMX_PINBASED_CTLS), 0x0000007f00000016ULL);
    assert_int_equal(rd(MSR_IA32_VMX_TRUE_PINBASED_CTLS), 0x0000007f00000016ULL);
    /* Everything the CPU has, TPR shadow (21) and MTF (27) included. */
    assert_int_equal(rd(MSR_IA32_VMX_PROCBASED_CTLS), 0xfff9fffe0401e172ULL);
    assert_int_equal(rd(MSR_IA32_VMX_TRUE_PROCBASED_CTLS), 0xfff9fffe04006172ULL);
    assert_int_equal(rd(MSR_IA32_VMX_EXIT_CTLS), 0x007fefff00036dffULL);
    assert_int_equal(rd(MSR_IA32_VMX_TRUE_EXIT_CTLS), 0x007fefff00036dfbULL);
    assert_int_equal(rd(MSR_IA32_VMX_ENTRY_CTLS), 0x0000d3ff000011ffULL);
    assert_int_equal(rd(MSR_IA32_VMX_TRUE_ENTRY_CTLS), 0x0000d3ff000011fbULL);
    /* Bits 0-12: APIC-access virtualization, EPT, descriptor-table
     * exiting, RDTSCP, x2APIC virtualization, VPID, WBINVD exiting,
     * unrestricted guest, APIC-register virtualization, virtual-interrupt
     * delivery, PAUSE-loop and RDRAND exiting, INVPCID; VM functions (13),
     * VMCS shadowing (14), RDSEED exiting (16), PML (17), EPT-violation #VE
     * (18), XSAVES (20), TSC scaling (25). Not sub-page permissions (23). */
    assert_int_equal(rd(MSR_IA32_VMX_PROCBASED_CTLS2), 0x02177fff00000000ULL);
    /* A.6: rate 0, LMA save (5), HLT (6), wait-for-SIPI (8), 4 CR3 targets
     * (24:16). */
    assert_int_equal(rd(MSR_IA32_VMX_MISC), 0x0000000020040160ULL);
    assert_int_equal(rd(MSR_IA32_VMX_CR0_FIXED0), 0x80000021ULL);
    assert_int_equal(rd(MSR_IA32_VMX_CR0_FIXED1), 0xffffffffULL);
    assert_int_equal(rd(MSR_IA32_VMX_CR4_FIXED0), 0x2000ULL);
    assert_int_equal(rd(MSR_IA32_VMX_CR4_FIXED1), 0xf72fffULL);
    /* A.9: highest index 0x19 (the TSC multiplier, 2032H). */
    assert_int_equal(rd(MSR_IA32_VMX_VMCS_ENUM), 0x32ULL);
    /* A.10: EPT execute-only, 4-level, UC, WB, 2M, 1G, INVEPT, A/D, INVEPT
     * single/all; INVVPID and its four types. Bit 23 (supervisor shadow
     * stack) is the hardware's but not offered. */
    assert_int_equal(rd(MSR_IA32_VMX_EPT_VPID_CAP), 0x00000f0106334141ULL);
    /* A.11: VM functions are offered, so IA32_VMX_VMFUNC exists: EPTP
     * switching (bit 0) only. IA32_VMX_PROCBASED_CTLS3 does not (no
     * tertiary controls). */
    assert_int_equal(rd(MSR_IA32_VMX_VMFUNC), VMFUNC_EPTP_SWITCHING);
    assert_false(exists(MSR_IA32_VMX_PROCBASED_CTLS3));
    assert_false(exists(MSR_IA32_VMX_BASIC - 1));
    assert_false(exists(MSR_IA32_VMX_PROCBASED_CTLS3 + 1));
    assert_false(exists(MSR_IA32_FEATURE_CONTROL));
}

static const struct {
    uint32_t msr, true_msr;
    uint32_t supported;
    uint64_t tigerlake_hw;
} ctls[] = {
    {MSR_IA32_VMX_PINBASED_CTLS, MSR_IA32_VMX_TRUE_PINBASED_CTLS, NESTED_PIN_SUPPORTED, 0x0000007f00000016ULL},
    {MSR_IA32_VMX_PROCBASED_CTLS, MSR_IA32_VMX_TRUE_PROCBASED_CTLS, NESTED_PROC_SUPPORTED, 0xfff9fffe0401e172ULL},
    {MSR_IA32_VMX_EXIT_CTLS, MSR_IA32_VMX_TRUE_EXIT_CTLS, NESTED_EXIT_SUPPORTED, 0x107fffff00036dffULL},
    {MSR_IA32_VMX_ENTRY_CTLS, MSR_IA32_VMX_TRUE_ENTRY_CTLS, NESTED_ENTRY_SUPPORTED, 0x0010ffff000011ffULL},
};

/* Nothing outside NESTED_*_SUPPORTED may be 1 unless the hardware needs it
 * (A.3: a must-be-1 bit of the hardware stays must-be-1); nothing the
 * hardware cannot do is offered; the hardware's must-be-1 bits are kept. */
static void test_nothing_offered_outside_supported(void **state)
{
    (void)state;
    offer(&tigerlake);
    for (unsigned i = 0; i < sizeof(ctls) / sizeof(ctls[0]); i++) {
        uint64_t v = rd(ctls[i].msr), t = rd(ctls[i].true_msr);
        assert_int_equal(may1(v) & ~must1(v) & ~ctls[i].supported, 0);
        assert_int_equal(may1(t) & ~must1(t) & ~ctls[i].supported, 0);
        assert_int_equal(must1(v), must1(ctls[i].tigerlake_hw));
        assert_int_equal(may1(v) & ~may1(ctls[i].tigerlake_hw), 0);
        assert_int_equal(must1(v) & ~may1(v), 0); /* a must-be-1 bit may be 1 */
        assert_int_equal(must1(t) & ~may1(t), 0);
    }
    uint64_t p2 = rd(MSR_IA32_VMX_PROCBASED_CTLS2);
    assert_int_equal(may1(p2) & ~NESTED_PROC2_SUPPORTED, 0);
    assert_int_equal(may1(p2) & ~may1(tigerlake.procbased2), 0);
    assert_int_equal(must1(p2), 0);
    uint64_t ev = rd(MSR_IA32_VMX_EPT_VPID_CAP);
    assert_int_equal(ev & ~(NESTED_EPT_CAPS | NESTED_VPID_CAPS), 0);
    assert_int_equal(ev & ~tigerlake.ept_vpid, 0);
}

/* TRUE controls always advertised (A.1 bit 55) and consistent with the
 * defaults (A.2: same allowed 1-settings; the TRUE MSR may only relax
 * must-be-1 "default1" bits). */
static void test_true_controls_always_advertised(void **state)
{
    (void)state;
    offer(&tigerlake);
    assert_true(rd(MSR_IA32_VMX_BASIC) & VMX_BASIC_TRUE_CTLS);
    for (unsigned i = 0; i < sizeof(ctls) / sizeof(ctls[0]); i++) {
        uint64_t v = rd(ctls[i].msr), t = rd(ctls[i].true_msr);
        assert_int_equal(may1(t), may1(v));
        assert_int_equal(must1(t) & ~must1(v), 0);
    }
    const struct vmx_caps *c = nested_vmx_caps();
    assert_true(c->true_ctls);
    /* The checks use the TRUE values: CR3-load/store exiting may be 0. */
    assert_int_equal(c->proc.must1 & (PROC_CR3_LOAD_EXITING | PROC_CR3_STORE_EXITING), 0);
    assert_int_equal(c->proc_default.must1 & (PROC_CR3_LOAD_EXITING | PROC_CR3_STORE_EXITING),
                     PROC_CR3_LOAD_EXITING | PROC_CR3_STORE_EXITING);
    assert_int_equal(c->exit.must1 & EXIT_SAVE_DEBUG_CONTROLS, 0);
    assert_int_equal(c->entry.must1 & ENTRY_LOAD_DEBUG_CONTROLS, 0);
}

/* A host without TRUE MSRs (bit 55 clear, 48DH-490H absent): L1 still gets
 * TRUE MSRs, holding the host's default-aware values (which are what the
 * hardware enforces). */
static void test_host_without_true_controls(void **state)
{
    (void)state;
    struct vmx_msrs m = tigerlake;
    m.basic &= ~VMX_BASIC_TRUE_CTLS;
    m.true_pinbased = m.true_procbased = m.true_exit = m.true_entry = 0;
    offer(&m);
    assert_false(host.true_ctls);
    assert_true(rd(MSR_IA32_VMX_BASIC) & VMX_BASIC_TRUE_CTLS);
    for (unsigned i = 0; i < sizeof(ctls) / sizeof(ctls[0]); i++) {
        uint64_t v = rd(ctls[i].msr), t = rd(ctls[i].true_msr);
        assert_int_equal(t, v);
        assert_int_equal(must1(t), must1(ctls[i].tigerlake_hw));
        assert_int_equal(may1(t) & ~must1(t) & ~ctls[i].supported, 0);
    }
    /* CR3-load/store exiting and the debug-control bits are then fixed 1. */
    const struct vmx_caps *c = nested_vmx_caps();
    assert_int_equal(c->proc.must1 & PROC_CR3_LOAD_EXITING, PROC_CR3_LOAD_EXITING);
    assert_int_equal(c->exit.must1 & EXIT_SAVE_DEBUG_CONTROLS, EXIT_SAVE_DEBUG_CONTROLS);
    assert_int_equal(c->entry.must1 & ENTRY_LOAD_DEBUG_CONTROLS, ENTRY_LOAD_DEBUG_CONTROLS);
}

/* A host without secondary controls (bit 63 of the primary MSRs clear):
 * IA32_VMX_PROCBASED_CTLS2 and IA32_VMX_EPT_VPID_CAP do not exist for L1
 * either (A.3.2, A.10), and no secondary feature is decoded. */
static void test_host_without_secondary_controls(void **state)
{
    (void)state;
    struct vmx_msrs m = tigerlake;
    m.procbased &= ~((uint64_t)PROC_SECONDARY_CONTROLS << 32);
    m.true_procbased &= ~((uint64_t)PROC_SECONDARY_CONTROLS << 32);
    offer(&m);
    assert_int_equal(may1(rd(MSR_IA32_VMX_PROCBASED_CTLS)) & PROC_SECONDARY_CONTROLS, 0);
    assert_int_equal(may1(rd(MSR_IA32_VMX_TRUE_PROCBASED_CTLS)) & PROC_SECONDARY_CONTROLS, 0);
    assert_false(exists(MSR_IA32_VMX_PROCBASED_CTLS2));
    assert_false(exists(MSR_IA32_VMX_EPT_VPID_CAP));
    assert_false(exists(MSR_IA32_VMX_VMFUNC));
    const struct vmx_caps *c = nested_vmx_caps();
    assert_int_equal(c->proc2.may1, 0);
    assert_false(c->ept || c->vpid || c->unrestricted_guest || c->shadow_vmcs);
    assert_false(c->invept || c->invvpid);
}

/* Secondary controls without EPT and VPID: IA32_VMX_EPT_VPID_CAP does not
 * exist (A.10). */
static void test_host_without_ept_and_vpid(void **state)
{
    (void)state;
    struct vmx_msrs m = tigerlake;
    m.procbased2 &= ~((uint64_t)(PROC2_ENABLE_EPT | PROC2_ENABLE_VPID | PROC2_UNRESTRICTED_GUEST) << 32);
    offer(&m);
    assert_true(exists(MSR_IA32_VMX_PROCBASED_CTLS2));
    assert_int_equal(may1(rd(MSR_IA32_VMX_PROCBASED_CTLS2)),
                     PROC2_DESC_TABLE_EXITING | PROC2_ENABLE_RDTSCP | PROC2_WBINVD_EXITING | PROC2_ENABLE_INVPCID |
                         PROC2_VIRT_APIC_ACCESS | PROC2_VIRT_X2APIC_MODE | PROC2_APIC_REG_VIRT |
                         PROC2_VIRT_INTR_DELIVERY | PROC2_PAUSE_LOOP_EXITING | PROC2_RDRAND_EXITING |
                         PROC2_RDSEED_EXITING | PROC2_ENABLE_XSAVES | PROC2_TSC_SCALING | PROC2_VMCS_SHADOWING);
    assert_false(exists(MSR_IA32_VMX_EPT_VPID_CAP));
}

/* EPT-on-EPT needs 4-level, WB EPT and both INVEPT types on the host;
 * without INVEPT single-context neither EPT nor unrestricted guest is
 * offered, VPID still is, and the EPT capability bits are 0. */
static void test_host_without_invept_single_context(void **state)
{
    (void)state;
    struct vmx_msrs m = tigerlake;
    m.ept_vpid &= ~EPT_CAP_INVEPT_SINGLE;
    offer(&m);
    uint32_t p2 = may1(rd(MSR_IA32_VMX_PROCBASED_CTLS2));
    assert_int_equal(p2 & (PROC2_ENABLE_EPT | PROC2_UNRESTRICTED_GUEST), 0);
    assert_true(p2 & PROC2_ENABLE_VPID);
    uint64_t ev = rd(MSR_IA32_VMX_EPT_VPID_CAP);
    assert_int_equal(ev & 0xffffffffULL, 0);
    assert_int_equal(ev, 0x00000f0100000000ULL);
    const struct vmx_caps *c = nested_vmx_caps();
    assert_false(c->ept);
    assert_false(c->unrestricted_guest);
    assert_true(c->vpid && c->invvpid_single);
}

/* PML, VM functions and #VE are L0's emulation on top of EPT-on-EPT
 * (vmm/nested/eptfeat.c): offered only with EPT, PML only with EPT A/D
 * (SDM 29.3.6: it logs what sets dirty flags), VM functions only where the
 * CPU has "enable VM functions" (L2's VMFUNC must exit to L0, not #UD);
 * IA32_VMX_VMFUNC (A.11) then says EPTP switching only, whatever else the
 * CPU has, and does not exist without VM functions. */
static void test_emulated_ept_features(void **state)
{
    (void)state;
    const uint32_t emulated = PROC2_ENABLE_VMFUNC | PROC2_ENABLE_PML | PROC2_EPT_VIOLATION_VE;
    struct vmx_msrs m = tigerlake;
    m.vmfunc = 0xffULL;
    offer(&m);
    assert_int_equal(may1(rd(MSR_IA32_VMX_PROCBASED_CTLS2)) & emulated, emulated);
    assert_int_equal(rd(MSR_IA32_VMX_VMFUNC), VMFUNC_EPTP_SWITCHING);
    /* No EPT A/D: no PML; the others stay. */
    m = tigerlake;
    m.ept_vpid &= ~EPT_CAP_AD_BITS;
    offer(&m);
    assert_int_equal(may1(rd(MSR_IA32_VMX_PROCBASED_CTLS2)) & emulated, PROC2_ENABLE_VMFUNC | PROC2_EPT_VIOLATION_VE);
    /* No "enable VM functions" on the CPU: no VMFUNC, no IA32_VMX_VMFUNC. */
    m = tigerlake;
    m.procbased2 &= ~((uint64_t)PROC2_ENABLE_VMFUNC << 32);
    offer(&m);
    assert_int_equal(may1(rd(MSR_IA32_VMX_PROCBASED_CTLS2)) & emulated, PROC2_ENABLE_PML | PROC2_EPT_VIOLATION_VE);
    assert_false(exists(MSR_IA32_VMX_VMFUNC));
    assert_false(nested_vmx_caps()->vmfunc);
    /* No EPT offered (no INVEPT single-context underneath): none of them. */
    m = tigerlake;
    m.ept_vpid &= ~EPT_CAP_INVEPT_SINGLE;
    offer(&m);
    assert_int_equal(may1(rd(MSR_IA32_VMX_PROCBASED_CTLS2)) & emulated, 0);
    assert_false(exists(MSR_IA32_VMX_VMFUNC));
}

/* A.6: bits 24:16 of IA32_VMX_MISC are the CR3-target count; nestvisor
 * emulates at most 4 (NESTED_MAX_CR3_TARGETS). */
static void test_cr3_targets_capped(void **state)
{
    (void)state;
    static const struct {
        unsigned hw, offered;
    } cases[] = {{0, 0}, {2, 2}, {4, 4}, {8, 4}, {0x1ff, 4}};
    for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct vmx_msrs m = tigerlake;
        m.misc = (m.misc & ~(0x1ffULL << 16)) | ((uint64_t)cases[i].hw << 16);
        offer(&m);
        assert_int_equal((rd(MSR_IA32_VMX_MISC) >> 16) & 0x1ff, cases[i].offered);
        assert_int_equal(nested_vmx_caps()->cr3_target_count, cases[i].offered);
    }
}

/* A.6: of MISC only the preemption-timer rate, LMA saving and the HLT
 * and wait-for-SIPI activity states pass (L0 waits for L2's SIPI itself,
 * sipi.c); no shutdown state, no VMWRITE to
 * read-only fields (bit 29), no zero-length injection (30), MSR lists of
 * 512 entries (bits 27:25 = 0), no MSEG revision. */
static void test_misc_filtered(void **state)
{
    (void)state;
    struct vmx_msrs m = tigerlake;
    m.misc = 0xabcd0000ULL << 32 | VMX_MISC_VMWRITE_ANY | VMX_MISC_ZERO_LEN_INJECT | (7ULL << 25) |
             (4ULL << 16) | VMX_MISC_RDMSR_SMBASE | VMX_MISC_PT_IN_VMX | VMX_MISC_ACTIVITY_SIPI |
             VMX_MISC_ACTIVITY_SHUTDOWN | VMX_MISC_ACTIVITY_HLT | VMX_MISC_SAVE_EFER_LMA | 0x5;
    offer(&m);
    assert_int_equal(rd(MSR_IA32_VMX_MISC), VMX_MISC_VMWRITE_ANY | VMX_MISC_ACTIVITY_SIPI | VMX_MISC_ACTIVITY_HLT |
                                                VMX_MISC_SAVE_EFER_LMA | 0x5 | (4ULL << 16));
    const struct vmx_caps *c = nested_vmx_caps();
    assert_true(c->vmwrite_any_field);
    assert_int_equal(c->max_msr_list, 512);
    assert_int_equal(c->preempt_timer_rate, 5);
    /* VMWRITE to any field only where the CPU has it. */
    m.misc &= ~VMX_MISC_VMWRITE_ANY;
    offer(&m);
    assert_false(rd(MSR_IA32_VMX_MISC) & VMX_MISC_VMWRITE_ANY);
    assert_false(nested_vmx_caps()->vmwrite_any_field);
}

/* "save VMX-preemption timer value" is offered only with the timer. */
static void test_preemption_timer_saving_needs_the_timer(void **state)
{
    (void)state;
    offer(&tigerlake);
    assert_true(may1(rd(MSR_IA32_VMX_TRUE_EXIT_CTLS)) & EXIT_SAVE_PREEMPT_TIMER);
    struct vmx_msrs m = tigerlake;
    m.pinbased &= ~((uint64_t)PIN_PREEMPTION_TIMER << 32);
    m.true_pinbased &= ~((uint64_t)PIN_PREEMPTION_TIMER << 32);
    offer(&m);
    assert_int_equal(may1(rd(MSR_IA32_VMX_TRUE_PINBASED_CTLS)) & PIN_PREEMPTION_TIMER, 0);
    assert_int_equal(may1(rd(MSR_IA32_VMX_TRUE_EXIT_CTLS)) & EXIT_SAVE_PREEMPT_TIMER, 0);
    assert_int_equal(may1(rd(MSR_IA32_VMX_EXIT_CTLS)) & EXIT_SAVE_PREEMPT_TIMER, 0);
}

/* apicv=off: no TPR shadow, APIC virtualization or posted interrupts, all
 * else as before; on again restores them. */
static void test_apicv_off_withholds_apic_virtualization(void **state)
{
    (void)state;
    struct vmx_msrs m = tigerlake;
    m.pinbased |= (uint64_t)PIN_POSTED_INTERRUPTS << 32;
    m.true_pinbased |= (uint64_t)PIN_POSTED_INTERRUPTS << 32;
    offer(&m);
    uint64_t proc2_on = may1(rd(MSR_IA32_VMX_PROCBASED_CTLS2));
    assert_true(may1(rd(MSR_IA32_VMX_TRUE_PINBASED_CTLS)) & PIN_POSTED_INTERRUPTS);
    nested_vmx_offer_apicv(false);
    offer(&m);
    assert_false(may1(rd(MSR_IA32_VMX_TRUE_PINBASED_CTLS)) & PIN_POSTED_INTERRUPTS);
    assert_false(may1(rd(MSR_IA32_VMX_TRUE_PROCBASED_CTLS)) & PROC_TPR_SHADOW);
    assert_false(may1(rd(MSR_IA32_VMX_PROCBASED_CTLS)) & PROC_TPR_SHADOW);
    assert_int_equal(may1(rd(MSR_IA32_VMX_PROCBASED_CTLS2)), proc2_on & ~(uint64_t)NESTED_APICV_PROC2);
    nested_vmx_offer_apicv(true);
    offer(&m);
    assert_int_equal(may1(rd(MSR_IA32_VMX_PROCBASED_CTLS2)), proc2_on);
}

/* A.9: VMCS_ENUM bits 9:1 from the field list, whatever the host says. */
static void test_vmcs_enum_from_field_list(void **state)
{
    (void)state;
    struct vmx_msrs m = tigerlake;
    m.vmcs_enum = 0x3fe;
    offer(&m);
    assert_int_equal(rd(MSR_IA32_VMX_VMCS_ENUM), (uint64_t)vmcs12_highest_index() << 1);
    assert_int_equal((rd(MSR_IA32_VMX_VMCS_ENUM) >> 1) & 0x1ff, 0x19); /* TSC multiplier */
}

/* What the entry checks see (nested_vmx_caps) and what EPT12 may hold
 * (nested_ept12_caps) follow the offer. */
static void test_decoded_offer(void **state)
{
    (void)state;
    offer(&tigerlake);
    const struct vmx_caps *c = nested_vmx_caps();
    assert_int_equal(c->revision_id, 4);
    assert_int_equal(c->vmcs_size, 4096);
    assert_true(c->ept && c->vpid && c->unrestricted_guest);
    assert_true(c->shadow_vmcs); /* L1's own VMCS shadowing for its L2 (shadow12.c) */
    assert_false(c->no_hw_errcode_check);
    assert_true(c->vmfunc && c->eptp_switching);
    assert_true(c->invept_single && c->invept_all && c->invvpid_addr && c->invvpid_single_ng);
    assert_int_equal(c->cr3_target_count, 4);
    struct ept12_caps e;
    nested_ept12_caps(0x7fffffffffULL, &e);
    assert_true(e.exec_only && e.pages_2m && e.pages_1g && e.ad && e.memtype_uc && e.memtype_wb);
    assert_int_equal(e.phys_mask, 0x7fffffffffULL);
    struct vmx_msrs m = tigerlake;
    m.ept_vpid &= ~(EPT_CAP_1G_PAGES | EPT_CAP_AD_BITS | EPT_CAP_EXEC_ONLY);
    offer(&m);
    nested_ept12_caps(0xfffffffffULL, &e);
    assert_false(e.pages_1g || e.ad || e.exec_only);
    assert_true(e.pages_2m);
}

/* ---- docs/nested-features.md ---- */

struct doc_row {
    char field[64];
    unsigned bit;
    bool offered;
    bool cpu_lacks; /* "why not" says the CPU does not have it */
    int line;
};

#define CPU_LACKS "the CPU (Bochs `tigerlake`) does not have it"


static struct doc_row rows[256];
static unsigned nrows;

static void trim(char *s)
{
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\n' || s[n - 1] == '\r'))
        s[--n] = 0;
    size_t k = 0;
    while (s[k] == ' ')
        k++;
    memmove(s, s + k, strlen(s + k) + 1);
}

/* Reads the table: | control field | feature ("bit N: ...") | yes/no |
 * why not |; a "no" must say why. */
static void read_doc(void)
{
    FILE *f = fopen(FEATURES_DOC, "r");
    if (!f)
        fail_msg("cannot open %s (tests run from the repository root)", FEATURES_DOC);
    char line[512];
    int lineno = 0;
    nrows = 0;
    bool header_seen = false;
    while (fgets(line, sizeof(line), f)) {
        lineno++;
        if (line[0] != '|')
            continue;
        char *cells[5] = {0};
        unsigned n = 0;
        char *p = line + 1;
        while (n < 5) {
            char *bar = strchr(p, '|');
            if (!bar)
                break;
            *bar = 0;
            cells[n++] = p;
            p = bar + 1;
        }
        if (n != 4)
            fail_msg("%s:%d: a row needs four cells", FEATURES_DOC, lineno);
        for (unsigned i = 0; i < 4; i++)
            trim(cells[i]);
        if (!strcmp(cells[0], "control field")) {
            assert_string_equal(cells[1], "feature");
            assert_string_equal(cells[2], "offered");
            assert_string_equal(cells[3], "why not");
            header_seen = true;
            continue;
        }
        if (cells[0][0] == '-')
            continue;
        const char *b = strstr(cells[1], "bit ");
        if (!b || b != cells[1])
            fail_msg("%s:%d: feature '%s' does not start with 'bit N:'", FEATURES_DOC, lineno, cells[1]);
        char *end;
        unsigned long bit = strtoul(b + 4, &end, 10);
        if (end == b + 4 || *end != ':' || bit > 63)
            fail_msg("%s:%d: bad bit number in '%s'", FEATURES_DOC, lineno, cells[1]);
        if (strcmp(cells[2], "yes") && strcmp(cells[2], "no"))
            fail_msg("%s:%d: offered must be yes or no, not '%s'", FEATURES_DOC, lineno, cells[2]);
        assert_true(nrows < sizeof(rows) / sizeof(rows[0]));
        struct doc_row *r = &rows[nrows++];
        snprintf(r->field, sizeof(r->field), "%s", cells[0]);
        r->bit = (unsigned)bit;
        r->offered = !strcmp(cells[2], "yes");
        if (r->offered != !cells[3][0])
            fail_msg("%s:%d: %s", FEATURES_DOC, lineno,
                     r->offered ? "an offered feature needs no 'why not'" : "a feature not offered needs its reason");
        r->cpu_lacks = !strncmp(cells[3], CPU_LACKS, strlen(CPU_LACKS));
        r->line = lineno;
    }
    fclose(f);
    assert_true(header_seen);
}

/* The MSR a row's field is read from: control fields from their TRUE
 * capability MSR's allowed 1-settings (bits 63:32), others bit for bit. */
static bool offered_now(const char *field, unsigned bit, bool *known)
{
    static const struct {
        const char *field;
        uint32_t msr;
        bool control;
    } map[] = {
        {"pin-based", MSR_IA32_VMX_TRUE_PINBASED_CTLS, true},
        {"primary processor-based", MSR_IA32_VMX_TRUE_PROCBASED_CTLS, true},
        {"secondary processor-based", MSR_IA32_VMX_PROCBASED_CTLS2, true},
        {"VM-exit", MSR_IA32_VMX_TRUE_EXIT_CTLS, true},
        {"VM-entry", MSR_IA32_VMX_TRUE_ENTRY_CTLS, true},
        {"IA32_VMX_BASIC", MSR_IA32_VMX_BASIC, false},
        {"IA32_VMX_MISC", MSR_IA32_VMX_MISC, false},
        {"IA32_VMX_EPT_VPID_CAP", MSR_IA32_VMX_EPT_VPID_CAP, false},
        {"IA32_VMX_VMFUNC", MSR_IA32_VMX_VMFUNC, false},
    };
    for (unsigned i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
        if (strcmp(map[i].field, field))
            continue;
        *known = true;
        uint64_t v = 0;
        if (!nested_vmx_msr_read(map[i].msr, &v))
            return false; /* the MSR does not exist: nothing in it is offered */
        if (map[i].control) {
            if (bit > 31)
                fail_msg("control field %s has no bit %u", field, bit);
            if (must1(v) & (1U << bit))
                fail_msg("%s bit %u is must-be-1: not a feature to offer", field, bit);
            return may1(v) >> bit & 1;
        }
        return v >> bit & 1;
    }
    *known = false;
    return false;
}

/* The bit in the hardware's own capability (tigerlake as Bochs 2.7 reports
 * it): allowed-1 settings of the TRUE control MSRs, the others as they are. */
static bool hw_has(const char *field, unsigned bit)
{
    static const struct {
        const char *field;
        const uint64_t *msr;
        bool control;
    } map[] = {
        {"pin-based", &tigerlake.true_pinbased, true},
        {"primary processor-based", &tigerlake.true_procbased, true},
        {"secondary processor-based", &tigerlake.procbased2, true},
        {"VM-exit", &tigerlake.true_exit, true},
        {"VM-entry", &tigerlake.true_entry, true},
        {"IA32_VMX_BASIC", &tigerlake.basic, false},
        {"IA32_VMX_MISC", &tigerlake.misc, false},
        {"IA32_VMX_EPT_VPID_CAP", &tigerlake.ept_vpid, false},
        {"IA32_VMX_VMFUNC", &tigerlake.vmfunc, false},
    };
    for (unsigned i = 0; i < sizeof(map) / sizeof(map[0]); i++)
        if (!strcmp(map[i].field, field))
            return map[i].control ? may1(*map[i].msr) >> bit & 1 : *map[i].msr >> bit & 1;
    fail_msg("unknown control field '%s'", field);
    return false;
}

static void test_features_doc_matches_the_offer(void **state)
{
    (void)state;
    offer(&tigerlake);
    read_doc();
    assert_true(nrows > 100);
    for (unsigned i = 0; i < nrows; i++) {
        bool known;
        bool now = offered_now(rows[i].field, rows[i].bit, &known);
        if (!known)
            fail_msg("%s:%d: unknown control field '%s'", FEATURES_DOC, rows[i].line, rows[i].field);
        if (now != rows[i].offered)
            fail_msg("%s:%d: %s bit %u is documented as %s but nestvisor %s it on tigerlake", FEATURES_DOC,
                     rows[i].line, rows[i].field, rows[i].bit, rows[i].offered ? "offered" : "not offered",
                     now ? "offers" : "does not offer");
        /* "The CPU does not have it" is checked against the hardware's
         * capabilities; any other reason is for a bit the CPU has. */
        if (!rows[i].offered && hw_has(rows[i].field, rows[i].bit) == rows[i].cpu_lacks)
            fail_msg("%s:%d: %s bit %u: the reason says the CPU %s it, but tigerlake %s", FEATURES_DOC,
                     rows[i].line, rows[i].field, rows[i].bit, rows[i].cpu_lacks ? "lacks" : "has",
                     rows[i].cpu_lacks ? "has it" : "lacks it");
        for (unsigned j = 0; j < i; j++)
            if (!strcmp(rows[j].field, rows[i].field) && rows[j].bit == rows[i].bit)
                fail_msg("%s:%d: %s bit %u listed twice", FEATURES_DOC, rows[i].line, rows[i].field, rows[i].bit);
    }
}

/* Every control bit arch/x86/vmx_bits.h names, and the EPT/VPID/INVVPID
 * capabilities, shadowing, unrestricted guest and VMWRITE-any, have a row. */
static void test_features_doc_covers_every_named_bit(void **state)
{
    (void)state;
#define B(field, mask) {field, mask}
    static const struct {
        const char *field;
        uint64_t mask;
    } named[] = {
        B("pin-based", PIN_EXTINT_EXITING), B("pin-based", PIN_NMI_EXITING), B("pin-based", PIN_VIRTUAL_NMIS),
        B("pin-based", PIN_PREEMPTION_TIMER), B("pin-based", PIN_POSTED_INTERRUPTS),
        B("primary processor-based", PROC_INTR_WINDOW_EXITING), B("primary processor-based", PROC_TSC_OFFSETTING),
        B("primary processor-based", PROC_HLT_EXITING), B("primary processor-based", PROC_INVLPG_EXITING),
        B("primary processor-based", PROC_MWAIT_EXITING), B("primary processor-based", PROC_RDPMC_EXITING),
        B("primary processor-based", PROC_RDTSC_EXITING), B("primary processor-based", PROC_CR3_LOAD_EXITING),
        B("primary processor-based", PROC_CR3_STORE_EXITING), B("primary processor-based", PROC_TERTIARY_CONTROLS),
        B("primary processor-based", PROC_CR8_LOAD_EXITING), B("primary processor-based", PROC_CR8_STORE_EXITING),
        B("primary processor-based", PROC_TPR_SHADOW), B("primary processor-based", PROC_NMI_WINDOW_EXITING),
        B("primary processor-based", PROC_MOV_DR_EXITING), B("primary processor-based", PROC_UNCOND_IO_EXITING),
        B("primary processor-based", PROC_USE_IO_BITMAPS), B("primary processor-based", PROC_MONITOR_TRAP_FLAG),
        B("primary processor-based", PROC_USE_MSR_BITMAPS), B("primary processor-based", PROC_MONITOR_EXITING),
        B("primary processor-based", PROC_PAUSE_EXITING), B("primary processor-based", PROC_SECONDARY_CONTROLS),
        B("secondary processor-based", PROC2_VIRT_APIC_ACCESS), B("secondary processor-based", PROC2_ENABLE_EPT),
        B("secondary processor-based", PROC2_DESC_TABLE_EXITING), B("secondary processor-based", PROC2_ENABLE_RDTSCP),
        B("secondary processor-based", PROC2_VIRT_X2APIC_MODE), B("secondary processor-based", PROC2_ENABLE_VPID),
        B("secondary processor-based", PROC2_WBINVD_EXITING), B("secondary processor-based", PROC2_UNRESTRICTED_GUEST),
        B("secondary processor-based", PROC2_APIC_REG_VIRT), B("secondary processor-based", PROC2_VIRT_INTR_DELIVERY),
        B("secondary processor-based", PROC2_PAUSE_LOOP_EXITING), B("secondary processor-based", PROC2_RDRAND_EXITING),
        B("secondary processor-based", PROC2_ENABLE_INVPCID), B("secondary processor-based", PROC2_ENABLE_VMFUNC),
        B("secondary processor-based", PROC2_VMCS_SHADOWING), B("secondary processor-based", PROC2_ENCLS_EXITING),
        B("secondary processor-based", PROC2_RDSEED_EXITING), B("secondary processor-based", PROC2_ENABLE_PML),
        B("secondary processor-based", PROC2_EPT_VIOLATION_VE), B("secondary processor-based", PROC2_CONCEAL_VMX_FROM_PT),
        B("secondary processor-based", PROC2_ENABLE_XSAVES), B("secondary processor-based", PROC2_MODE_BASED_EPT_EXEC),
        B("secondary processor-based", PROC2_SUBPAGE_WRITE_PERM), B("secondary processor-based", PROC2_PT_USES_GPA),
        B("secondary processor-based", PROC2_TSC_SCALING), B("secondary processor-based", PROC2_USER_WAIT_PAUSE),
        B("secondary processor-based", PROC2_ENCLV_EXITING),
        B("VM-exit", EXIT_SAVE_DEBUG_CONTROLS), B("VM-exit", EXIT_HOST_ADDR_SPACE_SIZE),
        B("VM-exit", EXIT_LOAD_PERF_GLOBAL_CTRL), B("VM-exit", EXIT_ACK_INTR_ON_EXIT), B("VM-exit", EXIT_SAVE_PAT),
        B("VM-exit", EXIT_LOAD_PAT), B("VM-exit", EXIT_SAVE_EFER), B("VM-exit", EXIT_LOAD_EFER),
        B("VM-exit", EXIT_SAVE_PREEMPT_TIMER), B("VM-exit", EXIT_CLEAR_BNDCFGS), B("VM-exit", EXIT_CONCEAL_VMX_FROM_PT),
        B("VM-exit", EXIT_CLEAR_RTIT_CTL), B("VM-exit", EXIT_LOAD_CET_STATE),
        B("VM-entry", ENTRY_LOAD_DEBUG_CONTROLS), B("VM-entry", ENTRY_IA32E_MODE_GUEST), B("VM-entry", ENTRY_SMM),
        B("VM-entry", ENTRY_DEACT_DUAL_MONITOR), B("VM-entry", ENTRY_LOAD_PERF_GLOBAL_CTRL),
        B("VM-entry", ENTRY_LOAD_PAT), B("VM-entry", ENTRY_LOAD_EFER), B("VM-entry", ENTRY_LOAD_BNDCFGS),
        B("VM-entry", ENTRY_CONCEAL_VMX_FROM_PT), B("VM-entry", ENTRY_LOAD_RTIT_CTL), B("VM-entry", ENTRY_LOAD_CET_STATE),
        B("IA32_VMX_BASIC", VMX_BASIC_TRUE_CTLS), B("IA32_VMX_BASIC", VMX_BASIC_INOUT_INFO),
        B("IA32_VMX_MISC", VMX_MISC_VMWRITE_ANY), B("IA32_VMX_MISC", VMX_MISC_ACTIVITY_HLT),
        B("IA32_VMX_MISC", VMX_MISC_ACTIVITY_SHUTDOWN), B("IA32_VMX_MISC", VMX_MISC_ACTIVITY_SIPI),
        B("IA32_VMX_EPT_VPID_CAP", EPT_CAP_EXEC_ONLY), B("IA32_VMX_EPT_VPID_CAP", EPT_CAP_PWL4),
        B("IA32_VMX_EPT_VPID_CAP", EPT_CAP_PWL5), B("IA32_VMX_EPT_VPID_CAP", EPT_CAP_MEMTYPE_UC),
        B("IA32_VMX_EPT_VPID_CAP", EPT_CAP_MEMTYPE_WB), B("IA32_VMX_EPT_VPID_CAP", EPT_CAP_2M_PAGES),
        B("IA32_VMX_EPT_VPID_CAP", EPT_CAP_1G_PAGES), B("IA32_VMX_EPT_VPID_CAP", EPT_CAP_INVEPT),
        B("IA32_VMX_EPT_VPID_CAP", EPT_CAP_AD_BITS), B("IA32_VMX_EPT_VPID_CAP", EPT_CAP_INVEPT_SINGLE),
        B("IA32_VMX_EPT_VPID_CAP", EPT_CAP_INVEPT_ALL), B("IA32_VMX_EPT_VPID_CAP", VPID_CAP_INVVPID),
        B("IA32_VMX_EPT_VPID_CAP", VPID_CAP_INVVPID_ADDR), B("IA32_VMX_EPT_VPID_CAP", VPID_CAP_INVVPID_SINGLE),
        B("IA32_VMX_EPT_VPID_CAP", VPID_CAP_INVVPID_ALL), B("IA32_VMX_EPT_VPID_CAP", VPID_CAP_INVVPID_SINGLE_NG),
        B("IA32_VMX_VMFUNC", VMFUNC_EPTP_SWITCHING),
    };
#undef B
    read_doc();
    for (unsigned i = 0; i < sizeof(named) / sizeof(named[0]); i++) {
        unsigned bit = (unsigned)__builtin_ctzll(named[i].mask);
        bool found = false;
        for (unsigned r = 0; r < nrows && !found; r++)
            found = !strcmp(rows[r].field, named[i].field) && rows[r].bit == bit;
        if (!found)
            fail_msg("%s has no row for %s bit %u", FEATURES_DOC, named[i].field, bit);
    }
}

#define T(f) cmocka_unit_test(f)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_tigerlake_values),
        T(test_nothing_offered_outside_supported),
        T(test_true_controls_always_advertised),
        T(test_host_without_true_controls),
        T(test_host_without_secondary_controls),
        T(test_host_without_ept_and_vpid),
        T(test_host_without_invept_single_context),
        T(test_emulated_ept_features),
        T(test_cr3_targets_capped),
        T(test_misc_filtered),
        T(test_preemption_timer_saving_needs_the_timer),
        T(test_vmcs_enum_from_field_list),
        T(test_apicv_off_withholds_apic_virtualization),
        T(test_decoded_offer),
        T(test_features_doc_matches_the_offer),
        T(test_features_doc_covers_every_named_bit),
    };
    return cmocka_run_group_tests(tests, 0, 0);
}
