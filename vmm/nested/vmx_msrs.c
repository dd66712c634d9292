#include "vmm/nested/vmx_msrs.h"
#include "vmm/nested/vmcs12.h"
#include "vmm/nested/ept12.h"
#include "arch/x86/msr_index.h"
#include "arch/x86/vmx_bits.h"
#include "lib/log.h"

#define VMCS12_REGION_SIZE_FIELD ((uint64_t)VMCS12_SIZE << VMX_BASIC_SIZE_SHIFT)
/* MISC[29], VMWRITE to any field: L0 does every VMWRITE to an exit
 * information field itself (vmx_insn.c, shadow12.c); Linux's KVM offers
 * its own guests VMCS shadowing only with it. */
#define MISC_KEPT                                                                                  \
    (VMX_MISC_PREEMPT_RATE_MASK | VMX_MISC_SAVE_EFER_LMA | VMX_MISC_ACTIVITY_HLT | VMX_MISC_ACTIVITY_SIPI | \
     VMX_MISC_VMWRITE_ANY)

static struct vmx_caps exposed;
static bool apicv_offered = true;

void nested_vmx_offer_apicv(bool on) { apicv_offered = on; }

/* A capability MSR restricted to 'supported': may-be-1 bits outside it
 * are dropped; must-be-1 bits stay (the hardware needs them). */
static uint64_t restrict_ctl(uint64_t hw, uint32_t supported)
{
    uint32_t must1 = (uint32_t)hw;
    uint32_t may1 = ((uint32_t)(hw >> 32) & supported) | must1;
    return ((uint64_t)may1 << 32) | must1;
}

void nested_vmx_msrs_init(const struct vmx_caps *host)
{
    const struct vmx_msrs *h = &host->raw;
    struct vmx_msrs r = {0};
    r.basic = (h->basic & (VMX_BASIC_REVISION_MASK | VMX_BASIC_INOUT_INFO)) | VMCS12_REGION_SIZE_FIELD |
              ((uint64_t)MEMTYPE_WB << VMX_BASIC_MEMTYPE_SHIFT) | VMX_BASIC_TRUE_CTLS;
    /* Without TRUE MSRs on the host, its defaults are the TRUE values too. */
    uint64_t true_pin = host->true_ctls ? h->true_pinbased : h->pinbased;
    uint64_t true_proc = host->true_ctls ? h->true_procbased : h->procbased;
    uint64_t true_exit = host->true_ctls ? h->true_exit : h->exit;
    uint64_t true_entry = host->true_ctls ? h->true_entry : h->entry;
    uint32_t pin_ok = NESTED_PIN_SUPPORTED & ~(apicv_offered ? 0 : NESTED_APICV_PIN);
    uint32_t proc_ok = NESTED_PROC_SUPPORTED & ~(apicv_offered ? 0 : NESTED_APICV_PROC);
    uint32_t proc2_ok = NESTED_PROC2_SUPPORTED & ~(apicv_offered ? 0 : NESTED_APICV_PROC2);
    r.pinbased = restrict_ctl(h->pinbased, pin_ok);
    r.procbased = restrict_ctl(h->procbased, proc_ok);
    r.exit = restrict_ctl(h->exit, NESTED_EXIT_SUPPORTED);
    r.entry = restrict_ctl(h->entry, NESTED_ENTRY_SUPPORTED);
    r.true_pinbased = restrict_ctl(true_pin, pin_ok);
    r.true_procbased = restrict_ctl(true_proc, proc_ok);
    r.true_exit = restrict_ctl(true_exit, NESTED_EXIT_SUPPORTED);
    r.true_entry = restrict_ctl(true_entry, NESTED_ENTRY_SUPPORTED);
    if (host->proc.may1 & PROC_SECONDARY_CONTROLS)
        r.procbased2 = restrict_ctl(h->procbased2, proc2_ok);
    /* Preemption-timer saving only makes sense with the timer. */
    if (!(r.true_pinbased >> 32 & PIN_PREEMPTION_TIMER)) {
        r.exit &= ~((uint64_t)EXIT_SAVE_PREEMPT_TIMER << 32);
        r.true_exit &= ~((uint64_t)EXIT_SAVE_PREEMPT_TIMER << 32);
    }
    uint64_t targets = (h->misc >> VMX_MISC_CR3_TARGETS_SHIFT) & VMX_MISC_CR3_TARGETS_MASK;
    if (targets > NESTED_MAX_CR3_TARGETS)
        targets = NESTED_MAX_CR3_TARGETS;
    r.misc = (h->misc & MISC_KEPT) | (targets << VMX_MISC_CR3_TARGETS_SHIFT);
    r.cr0_fixed0 = h->cr0_fixed0;
    r.cr0_fixed1 = h->cr0_fixed1;
    r.cr4_fixed0 = h->cr4_fixed0;
    r.cr4_fixed1 = h->cr4_fixed1;
    r.vmcs_enum = (uint64_t)vmcs12_highest_index() << VMX_ENUM_INDEX_SHIFT;
    /* EPT-on-EPT needs 4-level WB EPT and INVEPT of both types underneath. */
    uint64_t needed = EPT_CAP_PWL4 | EPT_CAP_MEMTYPE_WB | EPT_CAP_INVEPT | EPT_CAP_INVEPT_SINGLE |
                      EPT_CAP_INVEPT_ALL;
    if ((h->ept_vpid & needed) != needed) {
        r.procbased2 &= ~((uint64_t)(PROC2_ENABLE_EPT | PROC2_UNRESTRICTED_GUEST) << 32);
    }
    if (r.procbased2 >> 32 & PROC2_ENABLE_EPT)
        r.ept_vpid |= h->ept_vpid & NESTED_EPT_CAPS;
    else
        r.procbased2 &= ~((uint64_t)NESTED_PROC2_EPT_EMULATED << 32);
    /* PML logs what sets EPT dirty flags (SDM 29.3.6): without A/D nothing. */
    if (!(r.ept_vpid & EPT_CAP_AD_BITS))
        r.procbased2 &= ~((uint64_t)PROC2_ENABLE_PML << 32);
    if (r.procbased2 >> 32 & PROC2_ENABLE_VMFUNC)
        r.vmfunc = NESTED_VMFUNC_SUPPORTED;
    if (r.procbased2 >> 32 & PROC2_ENABLE_VPID)
        r.ept_vpid |= h->ept_vpid & NESTED_VPID_CAPS;
    vmx_caps_decode(&r, &exposed);
}

const struct vmx_caps *nested_vmx_caps(void) { return &exposed; }

bool nested_vmx_msr_read(uint32_t msr, uint64_t *value)
{
    const struct vmx_msrs *r = &exposed.raw;
    switch (msr) {
    case MSR_IA32_VMX_BASIC: *value = r->basic; return true;
    case MSR_IA32_VMX_PINBASED_CTLS: *value = r->pinbased; return true;
    case MSR_IA32_VMX_PROCBASED_CTLS: *value = r->procbased; return true;
    case MSR_IA32_VMX_EXIT_CTLS: *value = r->exit; return true;
    case MSR_IA32_VMX_ENTRY_CTLS: *value = r->entry; return true;
    case MSR_IA32_VMX_MISC: *value = r->misc; return true;
    case MSR_IA32_VMX_CR0_FIXED0: *value = r->cr0_fixed0; return true;
    case MSR_IA32_VMX_CR0_FIXED1: *value = r->cr0_fixed1; return true;
    case MSR_IA32_VMX_CR4_FIXED0: *value = r->cr4_fixed0; return true;
    case MSR_IA32_VMX_CR4_FIXED1: *value = r->cr4_fixed1; return true;
    case MSR_IA32_VMX_VMCS_ENUM: *value = r->vmcs_enum; return true;
    case MSR_IA32_VMX_TRUE_PINBASED_CTLS: *value = r->true_pinbased; return true;
    case MSR_IA32_VMX_TRUE_PROCBASED_CTLS: *value = r->true_procbased; return true;
    case MSR_IA32_VMX_TRUE_EXIT_CTLS: *value = r->true_exit; return true;
    case MSR_IA32_VMX_TRUE_ENTRY_CTLS: *value = r->true_entry; return true;
    case MSR_IA32_VMX_PROCBASED_CTLS2:
        *value = r->procbased2;
        return exposed.proc.may1 & PROC_SECONDARY_CONTROLS;
    case MSR_IA32_VMX_EPT_VPID_CAP:
        *value = r->ept_vpid;
        return exposed.ept || exposed.vpid;
    case MSR_IA32_VMX_VMFUNC:
        *value = r->vmfunc;
        return exposed.vmfunc;
    default:
        return false;
    }
}

void nested_vmx_msrs_print(void)
{
    log_raw("VMX capabilities offered to L1:\n");
    vmx_caps_print(&exposed);
}

void nested_ept12_caps(uint64_t phys_mask, struct ept12_caps *out)
{
    const struct vmx_caps *c = &exposed;
    *out = (struct ept12_caps){
        .exec_only = c->ept_exec_only,
        .pages_2m = c->ept_2m,
        .pages_1g = c->ept_1g,
        .ad = c->ept_ad,
        .memtype_uc = c->ept_uc,
        .memtype_wb = c->ept_wb,
        .phys_mask = phys_mask,
    };
}
