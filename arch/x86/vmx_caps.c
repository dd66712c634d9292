#include "arch/x86/vmx_caps.h"
#include "arch/x86/vmx_bits.h"
#include "arch/x86/msr_index.h"
#include "arch/x86/cpu.h"
#include "lib/log.h"
#include "lib/string.h"

static uint64_t read_optional(uint32_t msr)
{
    uint64_t v;
    return rdmsr_safe(msr, &v) ? v : 0;
}

void vmx_msrs_read(struct vmx_msrs *r)
{
    memset(r, 0, sizeof(*r));
    r->basic = read_optional(MSR_IA32_VMX_BASIC);
    r->pinbased = read_optional(MSR_IA32_VMX_PINBASED_CTLS);
    r->procbased = read_optional(MSR_IA32_VMX_PROCBASED_CTLS);
    r->exit = read_optional(MSR_IA32_VMX_EXIT_CTLS);
    r->entry = read_optional(MSR_IA32_VMX_ENTRY_CTLS);
    r->misc = read_optional(MSR_IA32_VMX_MISC);
    r->cr0_fixed0 = read_optional(MSR_IA32_VMX_CR0_FIXED0);
    r->cr0_fixed1 = read_optional(MSR_IA32_VMX_CR0_FIXED1);
    r->cr4_fixed0 = read_optional(MSR_IA32_VMX_CR4_FIXED0);
    r->cr4_fixed1 = read_optional(MSR_IA32_VMX_CR4_FIXED1);
    r->vmcs_enum = read_optional(MSR_IA32_VMX_VMCS_ENUM);
    if ((r->procbased >> 32) & PROC_SECONDARY_CONTROLS)
        r->procbased2 = read_optional(MSR_IA32_VMX_PROCBASED_CTLS2);
    uint32_t proc2_may1 = (uint32_t)(r->procbased2 >> 32);
    if (proc2_may1 & (PROC2_ENABLE_EPT | PROC2_ENABLE_VPID))
        r->ept_vpid = read_optional(MSR_IA32_VMX_EPT_VPID_CAP);
    if (r->basic & VMX_BASIC_TRUE_CTLS) {
        r->true_pinbased = read_optional(MSR_IA32_VMX_TRUE_PINBASED_CTLS);
        r->true_procbased = read_optional(MSR_IA32_VMX_TRUE_PROCBASED_CTLS);
        r->true_exit = read_optional(MSR_IA32_VMX_TRUE_EXIT_CTLS);
        r->true_entry = read_optional(MSR_IA32_VMX_TRUE_ENTRY_CTLS);
    }
    if (proc2_may1 & PROC2_ENABLE_VMFUNC)
        r->vmfunc = read_optional(MSR_IA32_VMX_VMFUNC);
}

static struct vmx_ctl ctl_of(uint64_t msr)
{
    return (struct vmx_ctl){(uint32_t)msr, (uint32_t)(msr >> 32)};
}

void vmx_caps_decode(const struct vmx_msrs *r, struct vmx_caps *c)
{
    memset(c, 0, sizeof(*c));
    c->raw = *r;
    c->revision_id = (uint32_t)(r->basic & VMX_BASIC_REVISION_MASK);
    c->vmcs_size = (uint32_t)((r->basic >> VMX_BASIC_SIZE_SHIFT) & VMX_BASIC_SIZE_MASK);
    c->vmcs_memtype = (uint8_t)((r->basic >> VMX_BASIC_MEMTYPE_SHIFT) & VMX_BASIC_MEMTYPE_MASK);
    c->true_ctls = r->basic & VMX_BASIC_TRUE_CTLS;
    c->inout_info = r->basic & VMX_BASIC_INOUT_INFO;
    c->no_hw_errcode_check = r->basic & VMX_BASIC_NO_HW_ERRCODE;

    c->pin_default = ctl_of(r->pinbased);
    c->proc_default = ctl_of(r->procbased);
    c->exit_default = ctl_of(r->exit);
    c->entry_default = ctl_of(r->entry);
    c->pin = c->true_ctls ? ctl_of(r->true_pinbased) : c->pin_default;
    c->proc = c->true_ctls ? ctl_of(r->true_procbased) : c->proc_default;
    c->exit = c->true_ctls ? ctl_of(r->true_exit) : c->exit_default;
    c->entry = c->true_ctls ? ctl_of(r->true_entry) : c->entry_default;
    /* Secondary controls are usable only if the primary control may be 1. */
    if (c->proc.may1 & PROC_SECONDARY_CONTROLS)
        c->proc2 = ctl_of(r->procbased2);

    c->preempt_timer_rate = (uint8_t)(r->misc & VMX_MISC_PREEMPT_RATE_MASK);
    c->cr3_target_count = (uint16_t)((r->misc >> VMX_MISC_CR3_TARGETS_SHIFT) & VMX_MISC_CR3_TARGETS_MASK);
    c->max_msr_list = 512U * (1U + (uint32_t)((r->misc >> VMX_MISC_MSR_LIST_SHIFT) & VMX_MISC_MSR_LIST_MASK));
    c->vmwrite_any_field = r->misc & VMX_MISC_VMWRITE_ANY;

    c->ept = c->proc2.may1 & PROC2_ENABLE_EPT;
    c->vpid = c->proc2.may1 & PROC2_ENABLE_VPID;
    c->unrestricted_guest = c->proc2.may1 & PROC2_UNRESTRICTED_GUEST;
    c->shadow_vmcs = c->proc2.may1 & PROC2_VMCS_SHADOWING;
    c->vmfunc = c->proc2.may1 & PROC2_ENABLE_VMFUNC;
    uint64_t ev = r->ept_vpid;
    if (c->ept) {
        c->ept_exec_only = ev & EPT_CAP_EXEC_ONLY;
        c->ept_4level = ev & EPT_CAP_PWL4;
        c->ept_uc = ev & EPT_CAP_MEMTYPE_UC;
        c->ept_wb = ev & EPT_CAP_MEMTYPE_WB;
        c->ept_2m = ev & EPT_CAP_2M_PAGES;
        c->ept_1g = ev & EPT_CAP_1G_PAGES;
        c->ept_ad = ev & EPT_CAP_AD_BITS;
        c->invept = ev & EPT_CAP_INVEPT;
        c->invept_single = c->invept && (ev & EPT_CAP_INVEPT_SINGLE);
        c->invept_all = c->invept && (ev & EPT_CAP_INVEPT_ALL);
    }
    if (c->vpid) {
        c->invvpid = ev & VPID_CAP_INVVPID;
        c->invvpid_addr = c->invvpid && (ev & VPID_CAP_INVVPID_ADDR);
        c->invvpid_single = c->invvpid && (ev & VPID_CAP_INVVPID_SINGLE);
        c->invvpid_all = c->invvpid && (ev & VPID_CAP_INVVPID_ALL);
        c->invvpid_single_ng = c->invvpid && (ev & VPID_CAP_INVVPID_SINGLE_NG);
    }
    c->eptp_switching = c->vmfunc && (r->vmfunc & VMFUNC_EPTP_SWITCHING);
}

uint32_t vmx_ctl_adjust(struct vmx_ctl c, uint32_t want, uint32_t *dropped)
{
    if (dropped)
        *dropped = want & ~c.may1;
    return (want & c.may1) | c.must1;
}

/* ---- the table printed by the 'vmxcaps' switch ---- */

struct bit_name {
    uint32_t bit;
    const char *name;
};

static const struct bit_name pin_bits[] = {
    {PIN_EXTINT_EXITING, "external-interrupt exiting"}, {PIN_NMI_EXITING, "NMI exiting"},
    {PIN_VIRTUAL_NMIS, "virtual NMIs"}, {PIN_PREEMPTION_TIMER, "preemption timer"},
    {PIN_POSTED_INTERRUPTS, "posted interrupts"}, {0, 0}};
static const struct bit_name proc_bits[] = {
    {PROC_INTR_WINDOW_EXITING, "interrupt-window exiting"}, {PROC_TSC_OFFSETTING, "TSC offsetting"},
    {PROC_HLT_EXITING, "HLT exiting"}, {PROC_INVLPG_EXITING, "INVLPG exiting"},
    {PROC_MWAIT_EXITING, "MWAIT exiting"}, {PROC_RDPMC_EXITING, "RDPMC exiting"},
    {PROC_RDTSC_EXITING, "RDTSC exiting"}, {PROC_CR3_LOAD_EXITING, "CR3-load exiting"},
    {PROC_CR3_STORE_EXITING, "CR3-store exiting"}, {PROC_TERTIARY_CONTROLS, "tertiary controls"},
    {PROC_CR8_LOAD_EXITING, "CR8-load exiting"}, {PROC_CR8_STORE_EXITING, "CR8-store exiting"},
    {PROC_TPR_SHADOW, "TPR shadow"}, {PROC_NMI_WINDOW_EXITING, "NMI-window exiting"},
    {PROC_MOV_DR_EXITING, "MOV-DR exiting"}, {PROC_UNCOND_IO_EXITING, "unconditional I/O exiting"},
    {PROC_USE_IO_BITMAPS, "I/O bitmaps"}, {PROC_MONITOR_TRAP_FLAG, "monitor trap flag"},
    {PROC_USE_MSR_BITMAPS, "MSR bitmaps"}, {PROC_MONITOR_EXITING, "MONITOR exiting"},
    {PROC_PAUSE_EXITING, "PAUSE exiting"}, {PROC_SECONDARY_CONTROLS, "secondary controls"}, {0, 0}};
static const struct bit_name proc2_bits[] = {
    {PROC2_VIRT_APIC_ACCESS, "virtualize APIC accesses"}, {PROC2_ENABLE_EPT, "EPT"},
    {PROC2_DESC_TABLE_EXITING, "descriptor-table exiting"}, {PROC2_ENABLE_RDTSCP, "RDTSCP"},
    {PROC2_VIRT_X2APIC_MODE, "virtualize x2APIC mode"}, {PROC2_ENABLE_VPID, "VPID"},
    {PROC2_WBINVD_EXITING, "WBINVD exiting"}, {PROC2_UNRESTRICTED_GUEST, "unrestricted guest"},
    {PROC2_APIC_REG_VIRT, "APIC-register virtualization"},
    {PROC2_VIRT_INTR_DELIVERY, "virtual-interrupt delivery"},
    {PROC2_PAUSE_LOOP_EXITING, "PAUSE-loop exiting"}, {PROC2_RDRAND_EXITING, "RDRAND exiting"},
    {PROC2_ENABLE_INVPCID, "INVPCID"}, {PROC2_ENABLE_VMFUNC, "VM functions"},
    {PROC2_VMCS_SHADOWING, "VMCS shadowing"}, {PROC2_ENCLS_EXITING, "ENCLS exiting"},
    {PROC2_RDSEED_EXITING, "RDSEED exiting"}, {PROC2_ENABLE_PML, "PML"},
    {PROC2_EPT_VIOLATION_VE, "EPT-violation #VE"}, {PROC2_CONCEAL_VMX_FROM_PT, "conceal VMX from PT"},
    {PROC2_ENABLE_XSAVES, "XSAVES/XRSTORS"}, {PROC2_MODE_BASED_EPT_EXEC, "mode-based EPT execute"},
    {PROC2_SUBPAGE_WRITE_PERM, "sub-page write permissions"}, {PROC2_PT_USES_GPA, "PT uses guest-physical"},
    {PROC2_TSC_SCALING, "TSC scaling"}, {PROC2_USER_WAIT_PAUSE, "user wait and pause"},
    {PROC2_ENCLV_EXITING, "ENCLV exiting"}, {0, 0}};
static const struct bit_name exit_bits[] = {
    {EXIT_SAVE_DEBUG_CONTROLS, "save debug controls"}, {EXIT_HOST_ADDR_SPACE_SIZE, "host address-space size"},
    {EXIT_LOAD_PERF_GLOBAL_CTRL, "load IA32_PERF_GLOBAL_CTRL"}, {EXIT_ACK_INTR_ON_EXIT, "acknowledge interrupt on exit"},
    {EXIT_SAVE_PAT, "save IA32_PAT"}, {EXIT_LOAD_PAT, "load IA32_PAT"}, {EXIT_SAVE_EFER, "save IA32_EFER"},
    {EXIT_LOAD_EFER, "load IA32_EFER"}, {EXIT_SAVE_PREEMPT_TIMER, "save preemption timer"},
    {EXIT_CLEAR_BNDCFGS, "clear IA32_BNDCFGS"}, {EXIT_CONCEAL_VMX_FROM_PT, "conceal VMX from PT"},
    {EXIT_CLEAR_RTIT_CTL, "clear IA32_RTIT_CTL"}, {EXIT_LOAD_CET_STATE, "load CET state"}, {0, 0}};
static const struct bit_name entry_bits[] = {
    {ENTRY_LOAD_DEBUG_CONTROLS, "load debug controls"}, {ENTRY_IA32E_MODE_GUEST, "IA-32e mode guest"},
    {ENTRY_SMM, "entry to SMM"}, {ENTRY_DEACT_DUAL_MONITOR, "deactivate dual-monitor"},
    {ENTRY_LOAD_PERF_GLOBAL_CTRL, "load IA32_PERF_GLOBAL_CTRL"}, {ENTRY_LOAD_PAT, "load IA32_PAT"},
    {ENTRY_LOAD_EFER, "load IA32_EFER"}, {ENTRY_LOAD_BNDCFGS, "load IA32_BNDCFGS"},
    {ENTRY_CONCEAL_VMX_FROM_PT, "conceal VMX from PT"}, {ENTRY_LOAD_RTIT_CTL, "load IA32_RTIT_CTL"},
    {ENTRY_LOAD_CET_STATE, "load CET state"}, {0, 0}};

static const char *bit_state(struct vmx_ctl c, uint32_t bit)
{
    if (c.must1 & bit)
        return "fixed 1";
    return (c.may1 & bit) ? "yes" : "no";
}

static void print_ctl(const char *title, struct vmx_ctl c, const struct bit_name *bits)
{
    log_raw("  %-26s must-be-1 0x%08x  may-be-1 0x%08x\n", title, c.must1, c.may1);
    for (const struct bit_name *b = bits; b->name; b++)
        log_raw("      %-34s %s\n", b->name, bit_state(c, b->bit));
}

static const char *yes_no(bool b) { return b ? "yes" : "no"; }

void vmx_caps_print(const struct vmx_caps *c)
{
    const struct vmx_msrs *r = &c->raw;
    log_raw("VMX capabilities\n");
    log_raw("  IA32_VMX_BASIC             0x%016llx\n", (unsigned long long)r->basic);
    log_raw("      VMCS revision id           0x%x\n", c->revision_id);
    log_raw("      VMCS region size           %u bytes\n", c->vmcs_size);
    log_raw("      VMCS memory type           %s\n", c->vmcs_memtype == MEMTYPE_WB ? "WB" : "UC");
    log_raw("      TRUE_* control MSRs        %s\n", yes_no(c->true_ctls));
    log_raw("      INS/OUTS exit information  %s\n", yes_no(c->inout_info));
    log_raw("      entry w/o error-code check %s\n", yes_no(c->no_hw_errcode_check));
    print_ctl("pin-based controls", c->pin, pin_bits);
    print_ctl("primary processor-based", c->proc, proc_bits);
    print_ctl("secondary processor-based", c->proc2, proc2_bits);
    print_ctl("VM-exit controls", c->exit, exit_bits);
    print_ctl("VM-entry controls", c->entry, entry_bits);
    log_raw("  IA32_VMX_MISC              0x%016llx\n", (unsigned long long)r->misc);
    log_raw("      preemption timer rate      TSC >> %u\n", c->preempt_timer_rate);
    log_raw("      CR3-target values          %u\n", c->cr3_target_count);
    log_raw("      max MSR-list entries       %u\n", c->max_msr_list);
    log_raw("      activity HLT/shutdown/SIPI %s/%s/%s\n", yes_no(r->misc & VMX_MISC_ACTIVITY_HLT),
            yes_no(r->misc & VMX_MISC_ACTIVITY_SHUTDOWN), yes_no(r->misc & VMX_MISC_ACTIVITY_SIPI));
    log_raw("      VMWRITE to any field       %s\n", yes_no(c->vmwrite_any_field));
    log_raw("  CR0 fixed0/fixed1          0x%016llx 0x%016llx\n", (unsigned long long)r->cr0_fixed0,
            (unsigned long long)r->cr0_fixed1);
    log_raw("  CR4 fixed0/fixed1          0x%016llx 0x%016llx\n", (unsigned long long)r->cr4_fixed0,
            (unsigned long long)r->cr4_fixed1);
    log_raw("  IA32_VMX_VMCS_ENUM         0x%016llx (highest index %llu)\n",
            (unsigned long long)r->vmcs_enum, (unsigned long long)((r->vmcs_enum >> 1) & 0x1ff));
    log_raw("  IA32_VMX_EPT_VPID_CAP      0x%016llx\n", (unsigned long long)r->ept_vpid);
    log_raw("      EPT 4-level/exec-only      %s/%s\n", yes_no(c->ept_4level), yes_no(c->ept_exec_only));
    log_raw("      EPT memory types UC/WB     %s/%s\n", yes_no(c->ept_uc), yes_no(c->ept_wb));
    log_raw("      EPT 2M/1G pages            %s/%s\n", yes_no(c->ept_2m), yes_no(c->ept_1g));
    log_raw("      EPT accessed/dirty flags   %s\n", yes_no(c->ept_ad));
    log_raw("      INVEPT single/all          %s/%s\n", yes_no(c->invept_single), yes_no(c->invept_all));
    log_raw("      INVVPID addr/single/all/ng %s/%s/%s/%s\n", yes_no(c->invvpid_addr),
            yes_no(c->invvpid_single), yes_no(c->invvpid_all), yes_no(c->invvpid_single_ng));
    log_raw("  IA32_VMX_VMFUNC            0x%016llx (EPTP switching %s)\n",
            (unsigned long long)r->vmfunc, yes_no(c->eptp_switching));
    log_raw("  raw: pin %llx proc %llx exit %llx entry %llx proc2 %llx\n",
            (unsigned long long)r->pinbased, (unsigned long long)r->procbased,
            (unsigned long long)r->exit, (unsigned long long)r->entry,
            (unsigned long long)r->procbased2);
    log_raw("  raw: true pin %llx proc %llx exit %llx entry %llx\n",
            (unsigned long long)r->true_pinbased, (unsigned long long)r->true_procbased,
            (unsigned long long)r->true_exit, (unsigned long long)r->true_entry);
}
