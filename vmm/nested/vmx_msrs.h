/* The IA32_VMX_* capability MSRs nestvisor exposes to L1: the hardware's
 * values intersected with what nestvisor implements (docs/nested.md has
 * the table; nothing outside it is ever offered). */
#ifndef VMM_NESTED_VMX_MSRS_H
#define VMM_NESTED_VMX_MSRS_H

#include <stdbool.h>
#include <stdint.h>
#include "arch/x86/vmx_caps.h"

/* What nestvisor can emulate, per control field. */
#define NESTED_PIN_SUPPORTED                                                                       \
    (PIN_EXTINT_EXITING | PIN_NMI_EXITING | PIN_VIRTUAL_NMIS | PIN_PREEMPTION_TIMER |                \
     PIN_POSTED_INTERRUPTS)
#define NESTED_PROC_SUPPORTED                                                                      \
    (PROC_INTR_WINDOW_EXITING | PROC_TSC_OFFSETTING | PROC_HLT_EXITING | PROC_INVLPG_EXITING |     \
     PROC_MWAIT_EXITING | PROC_RDPMC_EXITING | PROC_RDTSC_EXITING | PROC_CR3_LOAD_EXITING |        \
     PROC_CR3_STORE_EXITING | PROC_CR8_LOAD_EXITING | PROC_CR8_STORE_EXITING |                     \
     PROC_NMI_WINDOW_EXITING | PROC_MOV_DR_EXITING | PROC_UNCOND_IO_EXITING |                      \
     PROC_USE_IO_BITMAPS | PROC_USE_MSR_BITMAPS | PROC_MONITOR_EXITING | PROC_PAUSE_EXITING |      \
     PROC_SECONDARY_CONTROLS | PROC_TPR_SHADOW | PROC_MONITOR_TRAP_FLAG)
#define NESTED_PROC2_SUPPORTED                                                                     \
    (PROC2_ENABLE_EPT | PROC2_DESC_TABLE_EXITING | PROC2_ENABLE_RDTSCP | PROC2_ENABLE_VPID |       \
     PROC2_WBINVD_EXITING | PROC2_UNRESTRICTED_GUEST | PROC2_ENABLE_INVPCID | PROC2_VIRT_APIC_ACCESS | \
     PROC2_VIRT_X2APIC_MODE | PROC2_APIC_REG_VIRT | PROC2_VIRT_INTR_DELIVERY |                      \
     PROC2_PAUSE_LOOP_EXITING | PROC2_RDRAND_EXITING | PROC2_RDSEED_EXITING | PROC2_ENABLE_XSAVES | \
     PROC2_TSC_SCALING | PROC2_VMCS_SHADOWING | NESTED_PROC2_EPT_EMULATED)
/* EPT features L0 emulates on top of EPT-on-EPT (eptfeat.c): offered only
 * with EPT; PML also needs EPT A/D, and VM functions the CPU's "enable VM
 * functions" (L2's VMFUNC must exit to L0 rather than #UD). */
#define NESTED_PROC2_EPT_EMULATED (PROC2_ENABLE_VMFUNC | PROC2_ENABLE_PML | PROC2_EPT_VIOLATION_VE)
/* IA32_VMX_VMFUNC: the VM functions L0 emulates (SDM A.11). */
#define NESTED_VMFUNC_SUPPORTED VMFUNC_EPTP_SWITCHING
/* EPT capabilities offered with EPT (IA32_VMX_EPT_VPID_CAP), where the CPU
 * has them too. */
#define NESTED_EPT_CAPS                                                                            \
    (EPT_CAP_EXEC_ONLY | EPT_CAP_PWL4 | EPT_CAP_MEMTYPE_UC | EPT_CAP_MEMTYPE_WB |                \
     EPT_CAP_2M_PAGES | EPT_CAP_1G_PAGES | EPT_CAP_INVEPT | EPT_CAP_AD_BITS |                    \
     EPT_CAP_INVEPT_SINGLE | EPT_CAP_INVEPT_ALL)
#define NESTED_VPID_CAPS                                                                           \
    (VPID_CAP_INVVPID | VPID_CAP_INVVPID_ADDR | VPID_CAP_INVVPID_SINGLE | VPID_CAP_INVVPID_ALL |  \
     VPID_CAP_INVVPID_SINGLE_NG)
#define NESTED_EXIT_SUPPORTED                                                                      \
    (EXIT_SAVE_DEBUG_CONTROLS | EXIT_HOST_ADDR_SPACE_SIZE | EXIT_ACK_INTR_ON_EXIT |                \
     EXIT_SAVE_PAT | EXIT_LOAD_PAT | EXIT_SAVE_EFER | EXIT_LOAD_EFER | EXIT_SAVE_PREEMPT_TIMER)
#define NESTED_ENTRY_SUPPORTED                                                                     \
    (ENTRY_LOAD_DEBUG_CONTROLS | ENTRY_IA32E_MODE_GUEST | ENTRY_LOAD_PAT | ENTRY_LOAD_EFER)
#define NESTED_MAX_CR3_TARGETS 4

/* APIC virtualization for L2 (apicv=off withholds it, for comparisons). */
#define NESTED_APICV_PIN   PIN_POSTED_INTERRUPTS
#define NESTED_APICV_PROC  PROC_TPR_SHADOW
#define NESTED_APICV_PROC2                                                                         \
    (PROC2_VIRT_APIC_ACCESS | PROC2_VIRT_X2APIC_MODE | PROC2_APIC_REG_VIRT | PROC2_VIRT_INTR_DELIVERY)

/* Offer APIC virtualization (default) or not; before nested_vmx_msrs_init. */
void nested_vmx_offer_apicv(bool on);
/* Computes the exposed set from the host's capabilities. */
void nested_vmx_msrs_init(const struct vmx_caps *host);
/* L1's RDMSR of an IA32_VMX_* MSR; false -> #GP (not offered). */
bool nested_vmx_msr_read(uint32_t msr, uint64_t *value);
/* The exposed values, decoded: entry checks use these. */
const struct vmx_caps *nested_vmx_caps(void);
/* What EPT12 may contain, from the offered EPT capabilities. */
struct ept12_caps;
void nested_ept12_caps(uint64_t phys_mask, struct ept12_caps *out);
/* Prints the exposed set (the `vmxcaps` switch with nesting on). */
void nested_vmx_msrs_print(void);

#endif
