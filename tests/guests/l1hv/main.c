/* l1hv: the L1 test hypervisor. Enters VMX operation, runs the selected
 * cases (cases=a,b,c; default: all but bench) and prints one verdict per
 * case. See README.md in this directory. */
#include "l1hv.h"
#include "smp.h"
#include "virt.h"

const char guest_name[] = "l1hv";

struct l1hv_case {
    const char *name;
    void (*fn)(void);
    bool by_default;
};

static const struct l1hv_case case_table[] = {
    {"basic", case_basic, true},
    {"cpuid", case_cpuid, true},
    {"hlt", case_hlt, true},
    {"io", case_io, true},
    {"bitmap_live", case_bitmap_live, true},
    {"msr", case_msr, true},
    {"cr", case_cr, true},
    {"exc_ud", case_exc_ud, true},
    {"exc_pf", case_exc_pf, true},
    {"tsc_offset", case_tsc_offset, true},
    {"rdtsc_exit", case_rdtsc_exit, true},
    {"vmcall", case_vmcall, true},
    {"extint", case_extint, true},
    {"extint_ack", case_extint_ack, true},
    {"preempt", case_preempt, true},
    {"triple", case_triple, true},
    {"movdr", case_movdr, true},
    {"invlpg", case_invlpg, true},
    {"rdpmc", case_rdpmc, true},
    {"rdtscp", case_rdtscp, true},
    {"ept_identity", case_ept_identity, true},
    {"ept_remap", case_ept_remap, true},
    {"ept_violation", case_ept_violation, true},
    {"ept_fixup", case_ept_fixup, true},
    {"ept_perm", case_ept_perm, true},
    {"ept_misconfig", case_ept_misconfig, true},
    {"ept_ad", case_ept_ad, true},
    {"ept_two_l2", case_ept_two_l2, true},
    {"ept_invept_types", case_ept_invept_types, true},
    {"ept_large", case_ept_large, true},
    {"ept_large_1g", case_ept_large_1g, true},
    {"ept_unrestricted", case_ept_unrestricted, true},
    {"ept_hidden", case_ept_hidden, true},
    {"ept_inject", case_ept_inject, true},
    {"ept_pml", case_ept_pml, true},
    {"ept_vmfunc", case_ept_vmfunc, true},
    {"ept_ve", case_ept_ve, true},
    {"vpid", case_vpid, true},
    /* APIC virtualization and the later controls (apicv.c, ctrls.c). */
    {"tpr_shadow", case_tpr_shadow, true},
    {"apic_access", case_apic_access, true},
    {"apic_regs", case_apic_regs, true},
    {"apic_x2apic", case_apic_x2apic, true},
    {"apic_vid", case_apic_vid, true},
    {"apic_checks", case_apic_checks, true},
    {"posted_intr", case_posted_intr, true},
    {"mtf", case_mtf, true},
    {"ple", case_ple, true},
    {"rdrand_exit", case_rdrand_exit, true},
    {"rdseed_exit", case_rdseed_exit, true},
    {"xsaves_exit", case_xsaves_exit, true},
    {"tsc_scaling", case_tsc_scaling, true},
    {"resume_loop", case_resume_loop, true},
    {"two_vmcs", case_two_vmcs, true},
    {"vmclear_relaunch", case_vmclear_relaunch, true},
    {"neg_vmxon_root", case_neg_vmxon_root, true},
    {"neg_vmclear", case_neg_vmclear, true},
    {"neg_vmptrld", case_neg_vmptrld, true},
    {"neg_launch_state", case_neg_launch_state, true},
    {"neg_field", case_neg_field, true},
    {"neg_vmwrite_ro", case_neg_vmwrite_ro, true},
    {"neg_control", case_neg_control, true},
    {"neg_host", case_neg_host, true},
    {"neg_guest", case_neg_guest, true},
    {"neg_inv", case_neg_inv, true},
    {"neg_no_current", case_neg_no_current, true},
    {"neg_cpl3", case_neg_cpl3, true},
    {"neg_outside", case_neg_outside, true},
    {"vshadow", case_vshadow, true},
    /* SMP (smp*.c): SKIP on one CPU; the smp_bad_* may end L1: one per run. */
    {"smp_start", case_smp_start, true},
    {"smp_ipi", case_smp_ipi, true},
    {"smp_migrate", case_smp_migrate, true},
    {"smp_ept_shared", case_smp_ept_shared, true},
    {"smp_invept", case_smp_invept, true},
    {"smp_wfs", case_smp_wfs, true},
    {"smp_bad_triple", case_smp_bad_triple, false},
    {"smp_bad_init_bsp", case_smp_bad_init_bsp, false},
    {"smp_bad_sipi", case_smp_bad_sipi, false},
    {"smp_bad_init_storm", case_smp_bad_init_storm, false},
    {"bench", case_bench, false},
    {"bench_ept", case_bench_ept, false},
    {"bench_smp", case_bench_smp, false},
    {"bench_vshadow", case_bench_vshadow, false},
    /* The attack suite (attack.c): only when named in cases=. */
    {"attack_stale_step", case_attack_stale_step, false},
    {"attack_exit_efer", case_attack_exit_efer, false},
    {"attack_beyond_reads", case_attack_beyond_reads, false},
    {"attack_two_hidden", case_attack_two_hidden, false},
    {"attack_ept12_leaves", case_attack_ept12_leaves, false},
    {"attack_vmcs_ptrs", case_attack_vmcs_ptrs, false},
    {"attack_msr_lists", case_attack_msr_lists, false},
    {"attack_events", case_attack_events, false},
    {"attack_remap_stale", case_attack_remap_stale, false},
    {"attack_vmx_operands", case_attack_vmx_operands, false},
    {"attack_vmcs12_write", case_attack_vmcs12_write, false},
    {"attack_bitmaps", case_attack_bitmaps, false},
    {"attack_ept12_cycles", case_attack_ept12_cycles, false},
    {"attack_remap_flood", case_attack_remap_flood, false},
    {"attack_exit_abort", case_attack_exit_abort, false},
};

/* ---- per-case verdicts ---- */
#define MSG_MAX 400
static struct {
    const char *name;
    unsigned fails;
    bool skipped;
    char first[MSG_MAX];
    char skip_reason[MSG_MAX];
} cur;

bool expect(bool ok, const char *fmt, ...)
{
    if (ok)
        return true;
    char msg[MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (!cur.fails++)
        memcpy(cur.first, msg, sizeof msg);
    else
        printf("l1hv:   %s also: %s\n", cur.name, msg);
    return false;
}

bool case_failed(void)
{
    return cur.fails != 0;
}

void case_skip(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cur.skip_reason, sizeof cur.skip_reason, fmt, ap);
    va_end(ap);
    cur.skipped = true;
}

const char *vmx_outcome(int result)
{
    static char bufs[4][48];
    static unsigned next;
    char *b = bufs[next++ % 4];
    if (result == VMX_FAIL_VALID)
        snprintf(b, sizeof bufs[0], "VMfailValid(error %u)", vmx_instruction_error());
    else
        snprintf(b, sizeof bufs[0], "%s", vmx_result_name(result));
    return b;
}

bool expect_vmfail_valid(int result, uint32_t err, const char *what)
{
    if (result != VMX_FAIL_VALID)
        return expect(false, "%s: expected VMfailValid(error %u), got %s", what, err,
                      vmx_outcome(result));
    uint32_t got = vmx_instruction_error();
    return expect(got == err, "%s: VMfailValid with error %u, expected error %u", what, got, err);
}

bool expect_vmfail_invalid(int result, const char *what)
{
    return expect(result == VMX_FAIL_INVALID, "%s: expected VMfailInvalid, got %s", what,
                  vmx_outcome(result));
}

bool expect_vmok(int result, const char *what)
{
    return expect(result == VMX_OK, "%s: %s", what, vmx_outcome(result));
}

/* ---- VMX operation ---- */
bool in_vmx_root;
bool opt_strict;

bool vmx_enable(void)
{
    /* CR0/CR4 bits fixed in VMX operation (A.7, A.8), and CR4.VMXE. */
    write_cr0((read_cr0() | caps.cr0_fixed0) & caps.cr0_fixed1);
    write_cr4((read_cr4() | CR4_VMXE | caps.cr4_fixed0) & caps.cr4_fixed1);
    memset(vmxon_region, 0, sizeof vmxon_region);
    *(uint32_t *)vmxon_region = caps.revision;
    int r = vmxon((uintptr_t)vmxon_region);
    in_vmx_root = r == VMX_OK;
    return in_vmx_root;
}

bool vmx_disable(void)
{
    int r = vmxoff();
    if (r != VMX_OK)
        return false;
    in_vmx_root = false;
    write_cr4(read_cr4() & ~CR4_VMXE);
    return true;
}

/* Leaves no VMCS current or active, whatever the case did. */
static void cleanup_after_case(void)
{
    cli();
    if (!in_vmx_root)
        return;
    uint64_t current = 0;
    vmptrst(&current);
    for (int i = 0; i < NUM_VCPUS; i++) {
        vmclear(vmcs_pa(&vcpus[i]));
        vcpus[i].launched = false;
    }
    if (current != VMCS_LINK_POINTER_NONE && current != (uintptr_t)vmxon_region)
        vmclear(current);
}

static void run_case(const struct l1hv_case *c)
{
    memset(&cur, 0, sizeof cur);
    cur.name = c->name;
    if (!in_vmx_root && !vmx_enable()) {
        fail(c->name, "could not re-enter VMX operation before the case");
        return;
    }
    uint64_t t0 = rdtsc();
    c->fn();
    uint64_t ticks = rdtsc() - t0;
    cleanup_after_case();
    if (cur.fails) {
        if (cur.fails > 1)
            fail(c->name, "%s (+%u more)", cur.first, cur.fails - 1);
        else
            fail(c->name, "%s", cur.first);
    } else if (cur.skipped) {
        skip(c->name, "%s", cur.skip_reason);
    } else {
        pass(c->name);
    }
    if (cmdline_get("verbose"))
        printf("l1hv: %s took %lu TSC ticks\n", c->name, ticks);
}

/* cases=a,b,c (or a+b+c: the scenario tables split module lists at
 * commas): true if name is in the list. */
static bool case_separator(char c)
{
    return c == ',' || c == '+';
}

static bool selected(const char *list, const char *name)
{
    size_t n = strlen(name);
    const char *p = list;
    while (*p && *p != ' ') {
        const char *e = p;
        while (*e && !case_separator(*e) && *e != ' ')
            e++;
        if ((size_t)(e - p) == n && !strncmp(p, name, n))
            return true;
        p = case_separator(*e) ? e + 1 : e;
    }
    return false;
}

static void check_case_names(const char *list)
{
    const char *p = list;
    while (*p && *p != ' ') {
        const char *e = p;
        while (*e && !case_separator(*e) && *e != ' ')
            e++;
        bool known = false;
        for (unsigned i = 0; i < ARRAY_SIZE(case_table); i++)
            if (strlen(case_table[i].name) == (size_t)(e - p) &&
                !strncmp(p, case_table[i].name, (size_t)(e - p)))
                known = true;
        if (!known && e > p)
            fail("cases", "unknown case '%.*s'", (int)(e - p), p);
        p = case_separator(*e) ? e + 1 : e;
    }
}

void guest_main(uint32_t magic, uint32_t info)
{
    (void)magic, (void)info;
    cli();
    l1_gdt_init();
    const char *why = NULL;
    if (!caps_read(&why)) {
        fail("vmx", "VMX unusable: %s", why);
        return;
    }
    caps_print();
    l2_env_init();

    opt_strict = cmdline_get("strict") != NULL;
    const char *list = cmdline_get("cases");
    if (list)
        check_case_names(list);
    if (!vmx_enable()) {
        fail("vmxon", "VMXON failed; CR0 %#lx CR4 %#lx", read_cr0(), read_cr4());
        return;
    }
    for (unsigned i = 0; i < ARRAY_SIZE(case_table); i++) {
        const struct l1hv_case *c = &case_table[i];
        if (list ? selected(list, c->name) : c->by_default)
            run_case(c);
    }
    if (in_vmx_root && !vmx_disable())
        fail("vmxoff", "VMXOFF failed at the end");
}
