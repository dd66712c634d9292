/* The IA32_VMX_* capability MSRs, raw and decoded (SDM Appendix A). */
#ifndef ARCH_X86_VMX_CAPS_H
#define ARCH_X86_VMX_CAPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Raw values, 0 where the MSR does not exist on this CPU. */
struct vmx_msrs {
    uint64_t basic;
    uint64_t pinbased, procbased, exit, entry;
    uint64_t misc;
    uint64_t cr0_fixed0, cr0_fixed1, cr4_fixed0, cr4_fixed1;
    uint64_t vmcs_enum;
    uint64_t procbased2;
    uint64_t ept_vpid;
    uint64_t true_pinbased, true_procbased, true_exit, true_entry;
    uint64_t vmfunc;
};

/* A control field's capability: bits in must1 have to be 1; bits outside
 * may1 have to be 0 (SDM A.3). */
struct vmx_ctl {
    uint32_t must1;
    uint32_t may1;
};

struct vmx_caps {
    struct vmx_msrs raw;
    uint32_t revision_id;
    uint32_t vmcs_size;
    uint8_t vmcs_memtype;
    bool true_ctls;
    bool inout_info;
    bool no_hw_errcode_check;
    /* Effective capabilities: the TRUE_* MSRs where BASIC bit 55 says so. */
    struct vmx_ctl pin, proc, proc2, exit, entry;
    /* The defaults-aware view from the non-TRUE MSRs. */
    struct vmx_ctl pin_default, proc_default, exit_default, entry_default;
    uint8_t preempt_timer_rate;
    uint16_t cr3_target_count;
    uint32_t max_msr_list;
    bool vmwrite_any_field;
    /* Decoded features. */
    bool ept, vpid, unrestricted_guest, shadow_vmcs, vmfunc;
    bool ept_wb, ept_uc, ept_2m, ept_1g, ept_ad, ept_exec_only, ept_4level;
    bool invept, invept_single, invept_all;
    bool invvpid, invvpid_addr, invvpid_single, invvpid_all, invvpid_single_ng;
    bool eptp_switching;
};

/* Reads every IA32_VMX_* MSR that the CPU says exists. */
void vmx_msrs_read(struct vmx_msrs *raw);
void vmx_caps_decode(const struct vmx_msrs *raw, struct vmx_caps *caps);
/* Prints the decoded capabilities as a table on the log. */
void vmx_caps_print(const struct vmx_caps *caps);

/* Adjusts a wanted control value to the capability: required bits are
 * forced on, unsupported ones dropped. 'dropped' receives the wanted bits
 * that the CPU cannot provide. */
uint32_t vmx_ctl_adjust(struct vmx_ctl c, uint32_t want, uint32_t *dropped);
static inline bool vmx_ctl_allows(struct vmx_ctl c, uint32_t bits) { return (c.may1 & bits) == bits; }

#endif
