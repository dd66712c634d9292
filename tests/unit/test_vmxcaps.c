/* unit-srcs: arch/x86/vmx_caps.c */
/* arch/x86/vmx_caps.c: decoding the IA32_VMX_* capability MSRs (SDM Vol. 3D
 * Appendix A: A.1 BASIC, A.3-A.5 the control MSRs and their TRUE_* variants,
 * A.6 MISC, A.10 EPT_VPID_CAP, A.11 VMFUNC) on the values three CPU models of
 * Bochs 2.7 report, as read by nestvisor's 'vmxcaps' table on those models
 * (tests/integration/bochs.scenarios: boot-tigerlake, boot-sandybridge,
 * boot-penryn). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>
#include "arch/x86/vmx_caps.h"
#include "arch/x86/vmx_bits.h"
#include "arch/x86/msr_index.h"
#include "tests/unit/fake_arch.h"
#include "tests/unit/cpu_models.h"

static struct vmx_caps decode(const struct vmx_msrs *raw)
{
    struct vmx_caps c;
    memset(&c, 0xa5, sizeof(c)); /* decode must set every field */
    vmx_caps_decode(raw, &c);
    return c;
}

static void assert_ctl(struct vmx_ctl c, uint32_t must1, uint32_t may1)
{
    assert_int_equal(c.must1, must1);
    assert_int_equal(c.may1, may1);
}

static void test_tigerlake_basic_and_misc(void **state)
{
    (void)state;
    struct vmx_caps c = decode(&tigerlake);
    assert_memory_equal(&c.raw, &tigerlake, sizeof(tigerlake));
    assert_int_equal(c.revision_id, 4);
    assert_int_equal(c.vmcs_size, 4096);
    assert_int_equal(c.vmcs_memtype, MEMTYPE_WB);
    assert_true(c.true_ctls);
    assert_true(c.inout_info);
    assert_true(c.no_hw_errcode_check);
    assert_int_equal(c.preempt_timer_rate, 0);
    assert_int_equal(c.cr3_target_count, 4);
    assert_int_equal(c.max_msr_list, 512);
    assert_true(c.vmwrite_any_field);
}

static void test_tigerlake_uses_true_controls(void **state)
{
    (void)state;
    struct vmx_caps c = decode(&tigerlake);
    /* BASIC bit 55: the effective controls come from the TRUE_* MSRs ... */
    assert_ctl(c.pin, 0x16, 0x7f);
    assert_ctl(c.proc, 0x04006172, 0xfff9fffe);
    assert_ctl(c.exit, 0x00036dfb, 0x107fffff);
    assert_ctl(c.entry, 0x000011fb, 0x0010ffff);
    assert_ctl(c.proc2, 0, 0x02977fff);
    /* ... and the defaults-aware view from the plain ones. */
    assert_ctl(c.pin_default, 0x16, 0x7f);
    assert_ctl(c.proc_default, 0x0401e172, 0xfff9fffe);
    assert_ctl(c.exit_default, 0x00036dff, 0x107fffff);
    assert_ctl(c.entry_default, 0x000011ff, 0x0010ffff);
}

static void test_tigerlake_features(void **state)
{
    (void)state;
    struct vmx_caps c = decode(&tigerlake);
    assert_true(c.ept);
    assert_true(c.vpid);
    assert_true(c.unrestricted_guest);
    assert_true(c.shadow_vmcs);
    assert_true(c.vmfunc);
    assert_true(c.ept_exec_only);
    assert_true(c.ept_4level);
    assert_true(c.ept_uc);
    assert_true(c.ept_wb);
    assert_true(c.ept_2m);
    assert_true(c.ept_1g);
    assert_true(c.ept_ad);
    assert_true(c.invept);
    assert_true(c.invept_single);
    assert_true(c.invept_all);
    assert_true(c.invvpid);
    assert_true(c.invvpid_addr);
    assert_true(c.invvpid_single);
    assert_true(c.invvpid_all);
    assert_true(c.invvpid_single_ng);
    assert_true(c.eptp_switching);
}

static void test_sandy_bridge(void **state)
{
    (void)state;
    struct vmx_caps c = decode(&sandy_bridge);
    assert_int_equal(c.revision_id, 0x2b);
    assert_int_equal(c.vmcs_size, 4096);
    assert_int_equal(c.vmcs_memtype, MEMTYPE_WB);
    assert_true(c.true_ctls);
    assert_true(c.inout_info);
    assert_false(c.no_hw_errcode_check);
    assert_false(c.vmwrite_any_field);
    assert_ctl(c.proc, 0x04006172, 0xf7f9fffe);
    assert_ctl(c.proc2, 0, 0xff);
    assert_ctl(c.exit, 0x00036dfb, 0x007fffff);
    assert_ctl(c.entry, 0x000011fb, 0x0000ffff);
    assert_true(c.ept);
    assert_true(c.vpid);
    assert_true(c.unrestricted_guest);
    assert_false(c.shadow_vmcs);
    assert_false(c.vmfunc);
    assert_false(c.eptp_switching);
    assert_true(c.ept_4level);
    assert_true(c.ept_exec_only);
    assert_true(c.ept_wb);
    assert_true(c.ept_uc);
    assert_true(c.ept_2m);
    assert_false(c.ept_1g);
    assert_false(c.ept_ad);
    assert_true(c.invept);
    assert_true(c.invept_single);
    assert_true(c.invept_all);
    assert_true(c.invvpid);
    assert_true(c.invvpid_addr && c.invvpid_single && c.invvpid_all && c.invvpid_single_ng);
}

static void assert_no_ept_or_vpid_features(const struct vmx_caps *c)
{
    assert_false(c->ept);
    assert_false(c->vpid);
    assert_false(c->ept_exec_only || c->ept_4level || c->ept_uc || c->ept_wb);
    assert_false(c->ept_2m || c->ept_1g || c->ept_ad);
    assert_false(c->invept || c->invept_single || c->invept_all);
    assert_false(c->invvpid || c->invvpid_addr || c->invvpid_single || c->invvpid_all ||
                 c->invvpid_single_ng);
}

static void test_penryn_has_no_ept(void **state)
{
    (void)state;
    struct vmx_caps c = decode(&penryn);
    assert_int_equal(c.revision_id, 0x2b);
    assert_true(c.true_ctls);
    assert_ctl(c.pin, 0x16, 0x3f); /* no preemption timer */
    assert_ctl(c.proc2, 0, 0x41);  /* APIC accesses and WBINVD exiting only */
    assert_no_ept_or_vpid_features(&c);
    assert_false(c.unrestricted_guest);
    assert_false(c.shadow_vmcs);
    assert_false(c.vmfunc);
    assert_false(c.eptp_switching);

    /* A stray EPT_VPID_CAP value must not invent EPT/VPID features. */
    struct vmx_msrs stray = penryn;
    stray.ept_vpid = tigerlake.ept_vpid;
    stray.vmfunc = 1;
    c = decode(&stray);
    assert_no_ept_or_vpid_features(&c);
    assert_false(c.eptp_switching);
}

static void test_secondary_controls_need_the_primary_bit(void **state)
{
    (void)state;
    /* Secondary controls exist only if primary bit 31 may be 1 (SDM A.3.2),
     * in the effective (TRUE) MSR. */
    struct vmx_msrs r = tigerlake;
    r.true_procbased &= ~((uint64_t)PROC_SECONDARY_CONTROLS << 32);
    struct vmx_caps c = decode(&r);
    assert_ctl(c.proc2, 0, 0);
    assert_no_ept_or_vpid_features(&c);
    assert_false(c.unrestricted_guest || c.shadow_vmcs || c.vmfunc || c.eptp_switching);
}

static void test_invept_and_invvpid_need_their_instruction_bits(void **state)
{
    (void)state;
    struct vmx_msrs r = tigerlake;
    r.ept_vpid &= ~(EPT_CAP_INVEPT | VPID_CAP_INVVPID);
    struct vmx_caps c = decode(&r);
    assert_true(c.ept_2m); /* the other EPT capabilities stay */
    assert_false(c.invept || c.invept_single || c.invept_all);
    assert_false(c.invvpid || c.invvpid_addr || c.invvpid_single || c.invvpid_all ||
                 c.invvpid_single_ng);
    /* Only EPT, not VPID: the VPID half of the MSR is ignored. */
    r = tigerlake;
    r.procbased2 &= ~((uint64_t)PROC2_ENABLE_VPID << 32);
    c = decode(&r);
    assert_true(c.ept && c.invept_single);
    assert_false(c.vpid || c.invvpid || c.invvpid_all);
}

static void test_without_true_controls_the_defaults_apply(void **state)
{
    (void)state;
    struct vmx_msrs r = sandy_bridge;
    r.basic &= ~VMX_BASIC_TRUE_CTLS;
    r.true_pinbased = r.true_procbased = r.true_exit = r.true_entry = 0;
    struct vmx_caps c = decode(&r);
    assert_false(c.true_ctls);
    assert_ctl(c.pin, 0x16, 0x7f);
    assert_ctl(c.proc, 0x0401e172, 0xf7f9fffe);
    assert_ctl(c.exit, 0x00036dff, 0x007fffff);
    assert_ctl(c.entry, 0x000011ff, 0x0000ffff);
    assert_true(c.ept);
}

static void test_misc_fields(void **state)
{
    (void)state;
    struct vmx_msrs r = tigerlake;
    /* Rate 5, 9-bit CR3-target count 0x1ff, MSR-list field 7 (SDM A.6). */
    r.misc = 5 | (0x1ffULL << 16) | (7ULL << 25);
    struct vmx_caps c = decode(&r);
    assert_int_equal(c.preempt_timer_rate, 5);
    assert_int_equal(c.cr3_target_count, 0x1ff);
    assert_int_equal(c.max_msr_list, 512 * 8);
    assert_false(c.vmwrite_any_field);
    /* Memory type UC and a 1 KiB VMCS region. */
    r.basic = 0x0000040000000007ULL;
    c = decode(&r);
    assert_int_equal(c.revision_id, 7);
    assert_int_equal(c.vmcs_size, 1024);
    assert_int_equal(c.vmcs_memtype, MEMTYPE_UC);
    assert_false(c.true_ctls || c.inout_info || c.no_hw_errcode_check);
}

static void test_ctl_adjust(void **state)
{
    (void)state;
    struct vmx_caps tl = decode(&tigerlake), sb = decode(&sandy_bridge);
    uint32_t dropped = 0xdead;
    uint32_t want = PROC_HLT_EXITING | PROC_MONITOR_TRAP_FLAG | PROC_SECONDARY_CONTROLS |
                    PROC_USE_MSR_BITMAPS;
    /* Required bits are forced on, wanted ones kept where allowed. */
    assert_int_equal(vmx_ctl_adjust(tl.proc, want, &dropped), want | 0x04006172);
    assert_int_equal(dropped, 0);
    /* Sandy Bridge has no monitor trap flag. */
    assert_int_equal(vmx_ctl_adjust(sb.proc, want, &dropped),
                     (want & ~PROC_MONITOR_TRAP_FLAG) | 0x04006172);
    assert_int_equal(dropped, PROC_MONITOR_TRAP_FLAG);
    /* Bit 0 of the primary controls is reserved-0, bit 17 (tertiary) unsupported. */
    assert_int_equal(vmx_ctl_adjust(tl.proc, 1U | PROC_TERTIARY_CONTROLS, &dropped), 0x04006172);
    assert_int_equal(dropped, 1U | PROC_TERTIARY_CONTROLS);
    /* With TRUE controls, CR3-load/store exiting may be turned off; with
     * the defaults-aware view they are forced on (SDM A.2). */
    assert_int_equal(vmx_ctl_adjust(tl.proc, 0, NULL) & (PROC_CR3_LOAD_EXITING | PROC_CR3_STORE_EXITING), 0);
    assert_int_equal(vmx_ctl_adjust(tl.proc_default, 0, NULL) &
                         (PROC_CR3_LOAD_EXITING | PROC_CR3_STORE_EXITING),
                     PROC_CR3_LOAD_EXITING | PROC_CR3_STORE_EXITING);
    /* Likewise "save/load debug controls" on exit and entry. */
    assert_int_equal(vmx_ctl_adjust(sb.exit, 0, NULL) & EXIT_SAVE_DEBUG_CONTROLS, 0);
    assert_int_equal(vmx_ctl_adjust(sb.exit_default, 0, NULL) & EXIT_SAVE_DEBUG_CONTROLS,
                     EXIT_SAVE_DEBUG_CONTROLS);
    assert_int_equal(vmx_ctl_adjust(sb.entry, 0, NULL) & ENTRY_LOAD_DEBUG_CONTROLS, 0);
    /* Secondary controls: VMCS shadowing on Tiger Lake, not on Sandy Bridge. */
    assert_int_equal(vmx_ctl_adjust(tl.proc2, PROC2_ENABLE_EPT | PROC2_VMCS_SHADOWING, &dropped),
                     PROC2_ENABLE_EPT | PROC2_VMCS_SHADOWING);
    assert_int_equal(dropped, 0);
    assert_int_equal(vmx_ctl_adjust(sb.proc2, PROC2_ENABLE_EPT | PROC2_VMCS_SHADOWING, &dropped),
                     PROC2_ENABLE_EPT);
    assert_int_equal(dropped, PROC2_VMCS_SHADOWING);
    assert_true(vmx_ctl_allows(tl.pin, PIN_VIRTUAL_NMIS | PIN_PREEMPTION_TIMER));
    assert_false(vmx_ctl_allows(tl.pin, PIN_PREEMPTION_TIMER | PIN_POSTED_INTERRUPTS));
    assert_false(vmx_ctl_allows(decode(&penryn).pin, PIN_PREEMPTION_TIMER)); /* may-be-1 0x3f */
    assert_true(vmx_ctl_allows(sb.exit, EXIT_LOAD_EFER | EXIT_SAVE_PREEMPT_TIMER));
    assert_false(vmx_ctl_allows(sb.exit, EXIT_LOAD_EFER | EXIT_LOAD_CET_STATE));
}

/* vmx_msrs_read reads only the MSRs the CPU says exist (SDM A.3.3, A.10,
 * A.11); with the fake MSR table, the others would read as garbage. */
static void set_msrs(const struct vmx_msrs *r)
{
    fake_msr_clear();
    fake_msr_set(MSR_IA32_VMX_BASIC, r->basic);
    fake_msr_set(MSR_IA32_VMX_PINBASED_CTLS, r->pinbased);
    fake_msr_set(MSR_IA32_VMX_PROCBASED_CTLS, r->procbased);
    fake_msr_set(MSR_IA32_VMX_EXIT_CTLS, r->exit);
    fake_msr_set(MSR_IA32_VMX_ENTRY_CTLS, r->entry);
    fake_msr_set(MSR_IA32_VMX_MISC, r->misc);
    fake_msr_set(MSR_IA32_VMX_CR0_FIXED0, r->cr0_fixed0);
    fake_msr_set(MSR_IA32_VMX_CR0_FIXED1, r->cr0_fixed1);
    fake_msr_set(MSR_IA32_VMX_CR4_FIXED0, r->cr4_fixed0);
    fake_msr_set(MSR_IA32_VMX_CR4_FIXED1, r->cr4_fixed1);
    fake_msr_set(MSR_IA32_VMX_VMCS_ENUM, r->vmcs_enum);
    fake_msr_set(MSR_IA32_VMX_PROCBASED_CTLS2, r->procbased2);
    fake_msr_set(MSR_IA32_VMX_EPT_VPID_CAP, r->ept_vpid);
    fake_msr_set(MSR_IA32_VMX_TRUE_PINBASED_CTLS, r->true_pinbased);
    fake_msr_set(MSR_IA32_VMX_TRUE_PROCBASED_CTLS, r->true_procbased);
    fake_msr_set(MSR_IA32_VMX_TRUE_EXIT_CTLS, r->true_exit);
    fake_msr_set(MSR_IA32_VMX_TRUE_ENTRY_CTLS, r->true_entry);
    fake_msr_set(MSR_IA32_VMX_VMFUNC, r->vmfunc);
}

static void test_msrs_read(void **state)
{
    (void)state;
    struct vmx_msrs got;
    set_msrs(&tigerlake);
    vmx_msrs_read(&got);
    assert_memory_equal(&got, &tigerlake, sizeof(got));

    /* Penryn: a garbage EPT_VPID_CAP/VMFUNC in the table is not read. */
    struct vmx_msrs r = penryn;
    r.ept_vpid = 0x1234;
    r.vmfunc = 0x1;
    set_msrs(&r);
    vmx_msrs_read(&got);
    assert_memory_equal(&got, &penryn, sizeof(got));

    /* No TRUE controls, no secondary controls: neither set is read. */
    r = sandy_bridge;
    r.basic &= ~VMX_BASIC_TRUE_CTLS;
    r.procbased &= ~((uint64_t)PROC_SECONDARY_CONTROLS << 32);
    set_msrs(&r);
    vmx_msrs_read(&got);
    assert_int_equal(got.procbased, r.procbased);
    assert_int_equal(got.procbased2, 0);
    assert_int_equal(got.ept_vpid, 0);
    assert_int_equal(got.true_pinbased | got.true_procbased | got.true_exit | got.true_entry, 0);

    /* MSRs that do not exist (#GP) read as 0. */
    fake_msr_clear();
    fake_msr_set(MSR_IA32_VMX_BASIC, sandy_bridge.basic);
    vmx_msrs_read(&got);
    assert_int_equal(got.basic, sandy_bridge.basic);
    assert_int_equal(got.pinbased | got.procbased | got.misc | got.true_procbased, 0);
    fake_msr_clear();
}

static void assert_printed(const char *line)
{
    if (!strstr(fake_console_output(), line))
        fail_msg("missing from the vmxcaps table: \"%s\"\n%s", line, fake_console_output());
}

/* Lines as they appear in the Bochs boot logs of these models. */
static void test_print_tigerlake(void **state)
{
    (void)state;
    struct vmx_caps c = decode(&tigerlake);
    fake_console_reset();
    vmx_caps_print(&c);
    assert_printed("VMX capabilities\n");
    assert_printed("  IA32_VMX_BASIC             0x01d8100000000004\n");
    assert_printed("      VMCS revision id           0x4\n");
    assert_printed("      VMCS region size           4096 bytes\n");
    assert_printed("      VMCS memory type           WB\n");
    assert_printed("      TRUE_* control MSRs        yes\n");
    assert_printed("      entry w/o error-code check yes\n");
    assert_printed("  primary processor-based    must-be-1 0x04006172  may-be-1 0xfff9fffe\n");
    assert_printed("      CR3-load exiting                   yes\n");
    assert_printed("      monitor trap flag                  yes\n");
    assert_printed("  secondary processor-based  must-be-1 0x00000000  may-be-1 0x02977fff\n");
    assert_printed("      EPT                                yes\n");
    assert_printed("      VMCS shadowing                     yes\n");
    assert_printed("      TSC scaling                        yes\n");
    assert_printed("  VM-exit controls           must-be-1 0x00036dfb  may-be-1 0x107fffff\n");
    assert_printed("      load CET state                     yes\n");
    assert_printed("      VMWRITE to any field       yes\n");
    assert_printed("  CR4 fixed0/fixed1          0x0000000000002000 0x0000000000f72fff\n");
    assert_printed("  IA32_VMX_VMCS_ENUM         0x0000000000000034 (highest index 26)\n");
    assert_printed("  IA32_VMX_EPT_VPID_CAP      0x00000f0106b34141\n");
    assert_printed("      EPT 2M/1G pages            yes/yes\n");
    assert_printed("      EPT accessed/dirty flags   yes\n");
    assert_printed("      INVEPT single/all          yes/yes\n");
    assert_printed("      INVVPID addr/single/all/ng yes/yes/yes/yes\n");
    assert_printed("  IA32_VMX_VMFUNC            0x0000000000000001 (EPTP switching yes)\n");
    assert_printed("  raw: true pin 7f00000016 proc fff9fffe04006172 exit 107fffff00036dfb entry "
                   "10ffff000011fb\n");
}

static void test_print_sandy_bridge_and_penryn(void **state)
{
    (void)state;
    struct vmx_caps c = decode(&sandy_bridge);
    fake_console_reset();
    vmx_caps_print(&c);
    assert_printed("      VMCS revision id           0x2b\n");
    assert_printed("      entry w/o error-code check no\n");
    assert_printed("      monitor trap flag                  no\n");
    assert_printed("  secondary processor-based  must-be-1 0x00000000  may-be-1 0x000000ff\n");
    assert_printed("      unrestricted guest                 yes\n");
    assert_printed("      VMCS shadowing                     no\n");
    assert_printed("      activity HLT/shutdown/SIPI yes/yes/yes\n");
    assert_printed("      EPT 2M/1G pages            yes/no\n");
    assert_printed("      EPT accessed/dirty flags   no\n");
    assert_printed("  IA32_VMX_VMFUNC            0x0000000000000000 (EPTP switching no)\n");

    c = decode(&penryn);
    fake_console_reset();
    vmx_caps_print(&c);
    assert_printed("  pin-based controls         must-be-1 0x00000016  may-be-1 0x0000003f\n");
    assert_printed("      preemption timer                   no\n");
    assert_printed("      posted interrupts                  no\n");
    assert_printed("  secondary processor-based  must-be-1 0x00000000  may-be-1 0x00000041\n");
    assert_printed("      EPT                                no\n");
    assert_printed("      VPID                               no\n");
    assert_printed("      virtualize APIC accesses           yes\n");
    assert_printed("  IA32_VMX_EPT_VPID_CAP      0x0000000000000000\n");
    assert_printed("      EPT 4-level/exec-only      no/no\n");
    assert_printed("      INVVPID addr/single/all/ng no/no/no/no\n");
    fake_console_reset();
}

static void test_print_marks_fixed_bits(void **state)
{
    (void)state;
    /* Without TRUE controls, CR3-load/store exiting are default-1. */
    struct vmx_msrs r = sandy_bridge;
    r.basic &= ~VMX_BASIC_TRUE_CTLS;
    struct vmx_caps c = decode(&r);
    fake_console_reset();
    vmx_caps_print(&c);
    assert_printed("      TRUE_* control MSRs        no\n");
    assert_printed("  primary processor-based    must-be-1 0x0401e172  may-be-1 0xf7f9fffe\n");
    assert_printed("      CR3-load exiting                   fixed 1\n");
    assert_printed("      CR3-store exiting                  fixed 1\n");
    assert_printed("      save debug controls                fixed 1\n");
    assert_printed("      HLT exiting                        yes\n");
    fake_console_reset();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tigerlake_basic_and_misc),
        cmocka_unit_test(test_tigerlake_uses_true_controls),
        cmocka_unit_test(test_tigerlake_features),
        cmocka_unit_test(test_sandy_bridge),
        cmocka_unit_test(test_penryn_has_no_ept),
        cmocka_unit_test(test_secondary_controls_need_the_primary_bit),
        cmocka_unit_test(test_invept_and_invvpid_need_their_instruction_bits),
        cmocka_unit_test(test_without_true_controls_the_defaults_apply),
        cmocka_unit_test(test_misc_fields),
        cmocka_unit_test(test_ctl_adjust),
        cmocka_unit_test(test_msrs_read),
        cmocka_unit_test(test_print_tigerlake),
        cmocka_unit_test(test_print_sandy_bridge_and_penryn),
        cmocka_unit_test(test_print_marks_fixed_bits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
