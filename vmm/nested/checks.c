#include "vmm/nested/checks.h"
#include "vmm/nested/checks_util.h"
#include "vmm/nested/vmx_msrs.h"
#include "vmm/nested/ept12.h"
#include "arch/x86/cpu_bits.h"
#include "arch/x86/exit_reasons.h"
#include "arch/x86/msr_index.h"
#include "arch/x86/vmx_bits.h"

const char *nested_failed_check = "";

const char *nested_check_failed_name(void) { return nested_failed_check; }

static bool ctl_ok(uint32_t value, struct vmx_ctl cap)
{
    return (value & cap.must1) == cap.must1 && !(value & ~cap.may1);
}



/* SDM 26.2.1.2/26.2.1.3: 16-byte aligned, the last byte within the
 * physical-address width. Beyond RAM is allowed: entries read there are all
 * ones, which fail at the VM entry or exit that uses them (msrlist.c), as
 * on hardware. */
static bool msr_list_ok(const struct entry_context *ctx, uint64_t addr, uint64_t count)
{
    if (!count)
        return true;
    uint64_t end = addr + count * MSR_LIST_ENTRY_SIZE - 1;
    return !(addr & (MSR_LIST_ALIGN - 1)) && count <= nested_vmx_caps()->max_msr_list && end > addr &&
           !(end & ~ctx->phys_mask);
}

/* Vectors that push an error code (SDM 26.2.1.3). */
static bool vector_has_error_code(unsigned vector)
{
    return vector == VEC_DF || (vector >= VEC_TS && vector <= VEC_PF) || vector == VEC_AC ||
           vector == VEC_CP;
}

static bool check_event_injection(const struct vmcs12 *c)
{
    uint32_t info = (uint32_t)VMCS12(c, VM_ENTRY_INTR_INFO_FIELD);
    if (!(info & INTR_INFO_VALID))
        return true;
    unsigned type = info & INTR_INFO_TYPE_MASK, vector = info & INTR_INFO_VECTOR_MASK;
    bool unrestricted = (VMCS12(c, SECONDARY_VM_EXEC_CONTROL) & PROC2_UNRESTRICTED_GUEST) &&
                        (VMCS12(c, CPU_BASED_VM_EXEC_CONTROL) & PROC_SECONDARY_CONTROLS);
    bool pe = (VMCS12(c, GUEST_CR0) & CR0_PE) || !unrestricted;
    CHECK(type != (1U << INTR_INFO_TYPE_SHIFT), "entry event type is not reserved");
    CHECK(type != INTR_TYPE_OTHER_EVENT, "entry event type 'other' needs MTF");
    CHECK(type != INTR_TYPE_NMI || vector == VEC_NMI, "entry NMI has vector 2");
    CHECK(type != INTR_TYPE_HW_EXCEPTION || vector <= 31, "entry exception vector <= 31");
    bool code = info & INTR_INFO_DELIVER_CODE;
    bool wants_code = type == INTR_TYPE_HW_EXCEPTION && pe && vector_has_error_code(vector);
    CHECK(code == wants_code, "entry deliver-error-code matches the vector");
    CHECK(!(info & INTR_INFO_RESERVED), "entry interruption info reserved bits are 0");
    /* Error codes are 16 bits: processors check bits 31:16 (SDM editions
     * before 2019 said 31:15); a #GP with error code 0x9f00 is legal. */
    CHECK(!code || !(VMCS12(c, VM_ENTRY_EXCEPTION_ERROR_CODE) & 0xffff0000U),
          "entry error code bits 31:16 are 0");
    if (type == INTR_TYPE_SW_INTR || type == INTR_TYPE_PRIV_SW_EXCEPTION || type == INTR_TYPE_SW_EXCEPTION) {
        uint64_t len = VMCS12(c, VM_ENTRY_INSTRUCTION_LEN);
        CHECK(len >= 1 && len <= MAX_INSTRUCTION_LEN, "entry instruction length 1..15");
    }
    return true;
}

/* SDM 26.2.1.1: the controls of APIC virtualization (Vol. 3C ch. 30). */
static bool check_apic_virtualization(const struct vmcs12 *c, const struct entry_context *ctx, uint32_t pin,
                                      uint32_t proc, uint32_t proc2)
{
    uint32_t exit = (uint32_t)VMCS12(c, VM_EXIT_CONTROLS);
    if (proc & PROC_TPR_SHADOW) {
        CHECK(page_address_ok(ctx, VMCS12(c, VIRTUAL_APIC_PAGE_ADDR)), "virtual-APIC address valid");
    } else {
        CHECK(!(proc2 & (PROC2_VIRT_X2APIC_MODE | PROC2_APIC_REG_VIRT | PROC2_VIRT_INTR_DELIVERY)),
              "x2APIC virtualization, APIC-register virtualization and virtual-interrupt delivery need the TPR shadow");
    }
    CHECK(!(proc2 & PROC2_VIRT_X2APIC_MODE) || !(proc2 & PROC2_VIRT_APIC_ACCESS),
          "virtualizing x2APIC mode excludes virtualizing APIC accesses");
    CHECK(!(proc2 & PROC2_VIRT_INTR_DELIVERY) || (pin & PIN_EXTINT_EXITING),
          "virtual-interrupt delivery needs external-interrupt exiting");
    if (pin & PIN_POSTED_INTERRUPTS) {
        CHECK(proc2 & PROC2_VIRT_INTR_DELIVERY, "posted interrupts need virtual-interrupt delivery");
        CHECK(exit & EXIT_ACK_INTR_ON_EXIT, "posted interrupts need acknowledge interrupt on exit");
        CHECK(!(VMCS12(c, POSTED_INTR_NV) & ~POSTED_INTR_NV_MASK), "posted-interrupt notification vector bits 15:8 are 0");
        uint64_t desc = VMCS12(c, POSTED_INTR_DESC_ADDR);
        CHECK(!(desc & (POSTED_INTR_DESC_ALIGN - 1)) && !(desc & ~ctx->phys_mask),
              "posted-interrupt descriptor address valid");
    }
    if (proc2 & PROC2_VIRT_APIC_ACCESS)
        CHECK(page_address_ok(ctx, VMCS12(c, APIC_ACCESS_ADDR)), "APIC-access address valid");
    return true;
}

/* SDM 26.2.1.1: the TPR threshold against its bits and VTPR. Read at every
 * entry: L1 writes the threshold through nestvisor's shadow VMCS and VTPR
 * in its memory, both without an exit. */
static bool check_tpr_threshold(const struct vmcs12 *c, const struct entry_context *ctx, uint32_t proc2)
{
    uint32_t threshold = (uint32_t)VMCS12(c, TPR_THRESHOLD);
    uint64_t vapic = VMCS12(c, VIRTUAL_APIC_PAGE_ADDR);
    if (!(proc2 & PROC2_VIRT_INTR_DELIVERY))
        CHECK(!(threshold & ~TPR_THRESHOLD_MASK), "TPR threshold bits 31:4 are 0");
    /* VTPR is bits 7:4 of the byte at 80H of the virtual-APIC page, read
     * where the CPU will read it (on a device: all ones). */
    if (!(proc2 & (PROC2_VIRT_APIC_ACCESS | PROC2_VIRT_INTR_DELIVERY))) {
        uint32_t vtpr = ctx->read_view32(vapic + VAPIC_VTPR);
        CHECK((threshold & TPR_THRESHOLD_MASK) <= ((vtpr >> VTPR_CLASS_SHIFT) & TPR_THRESHOLD_MASK),
              "TPR threshold not above VTPR[7:4]");
    }
    return true;
}

/* SDM 26.2.1.1: PML, VM functions and EPT-violation #VE. The addresses
 * need alignment and the width only: the CPU writes or reads them where
 * they point, and so does L0 (as L1 reaches them, eptfeat.c). */
static bool check_ept_features(const struct vmcs12 *c, const struct entry_context *ctx, uint32_t proc2)
{
    if (proc2 & PROC2_ENABLE_PML) {
        CHECK(proc2 & PROC2_ENABLE_EPT, "PML needs EPT");
        CHECK(page_address_ok(ctx, VMCS12(c, PML_ADDRESS)), "PML address valid");
    }
    if (proc2 & PROC2_ENABLE_VMFUNC) {
        uint64_t functions = VMCS12(c, VM_FUNCTION_CONTROL);
        CHECK(!(functions & ~nested_vmx_caps()->raw.vmfunc), "VM-function controls within the offered functions");
        if (functions & VMFUNC_EPTP_SWITCHING) {
            CHECK(proc2 & PROC2_ENABLE_EPT, "EPTP switching needs EPT");
            CHECK(page_address_ok(ctx, VMCS12(c, EPTP_LIST_ADDRESS)), "EPTP-list address valid");
        }
    }
    if (proc2 & PROC2_EPT_VIOLATION_VE)
        CHECK(page_address_ok(ctx, VMCS12(c, VE_INFO_ADDRESS)), "virtualization-exception information address valid");
    return true;
}

/* Every control check that reads only the controls themselves (the key of
 * static_checked) and fields whose VMWRITE exits. */
static bool check_static_controls(const struct vmcs12 *c, const struct entry_context *ctx)
{
    const struct vmx_caps *caps = nested_vmx_caps();
    uint32_t pin = (uint32_t)VMCS12(c, PIN_BASED_VM_EXEC_CONTROL);
    uint32_t proc = (uint32_t)VMCS12(c, CPU_BASED_VM_EXEC_CONTROL);
    uint32_t proc2 = (proc & PROC_SECONDARY_CONTROLS) ? (uint32_t)VMCS12(c, SECONDARY_VM_EXEC_CONTROL) : 0;
    uint32_t exit = (uint32_t)VMCS12(c, VM_EXIT_CONTROLS);
    uint32_t entry = (uint32_t)VMCS12(c, VM_ENTRY_CONTROLS);
    /* SDM 26.2.1.1: VM-execution control fields. */
    CHECK(ctl_ok(pin, caps->pin), "pin-based controls within the allowed settings");
    CHECK(ctl_ok(proc, caps->proc), "primary processor-based controls within the allowed settings");
    CHECK(ctl_ok(proc2, caps->proc2), "secondary controls within the allowed settings");
    CHECK(VMCS12(c, CR3_TARGET_COUNT) <= caps->cr3_target_count, "CR3-target count <= offered");
    if (proc & PROC_USE_IO_BITMAPS) {
        CHECK(page_address_ok(ctx, VMCS12(c, IO_BITMAP_A)), "I/O bitmap A address valid");
        CHECK(page_address_ok(ctx, VMCS12(c, IO_BITMAP_B)), "I/O bitmap B address valid");
    }
    if (proc & PROC_USE_MSR_BITMAPS)
        CHECK(page_address_ok(ctx, VMCS12(c, MSR_BITMAP)), "MSR bitmap address valid");
    if (!check_apic_virtualization(c, ctx, pin, proc, proc2))
        return false;
    CHECK((pin & PIN_NMI_EXITING) || !(pin & PIN_VIRTUAL_NMIS), "virtual NMIs need NMI exiting");
    CHECK((pin & PIN_VIRTUAL_NMIS) || !(proc & PROC_NMI_WINDOW_EXITING),
          "NMI-window exiting needs virtual NMIs");
    CHECK(!(proc2 & PROC2_ENABLE_VPID) || (uint16_t)VMCS12(c, VPID) != 0, "VPID is not 0");
    CHECK(!(proc2 & PROC2_UNRESTRICTED_GUEST) || (proc2 & PROC2_ENABLE_EPT),
          "unrestricted guest needs EPT");
    if (proc2 & PROC2_ENABLE_EPT) {
        struct ept12_caps ept;
        nested_ept12_caps(ctx->phys_mask, &ept);
        CHECK(ept12_eptp_valid(VMCS12(c, EPT_POINTER), &ept), "EPT pointer valid");
    }
    /* The VMREAD/VMWRITE bitmaps L2's VMREAD/VMWRITE consult (25.6.15):
     * aligned and within the width, nothing more; elsewhere than L1's RAM
     * they read as all ones (shadow12.c). */
    if (proc2 & PROC2_VMCS_SHADOWING) {
        CHECK(page_address_ok(ctx, VMCS12(c, VMREAD_BITMAP)), "VMREAD-bitmap address valid");
        CHECK(page_address_ok(ctx, VMCS12(c, VMWRITE_BITMAP)), "VMWRITE-bitmap address valid");
    }
    if (!check_ept_features(c, ctx, proc2))
        return false;
    /* SDM 26.2.1.2: VM-exit control fields. */
    CHECK(ctl_ok(exit, caps->exit), "VM-exit controls within the allowed settings");
    CHECK((pin & PIN_PREEMPTION_TIMER) || !(exit & EXIT_SAVE_PREEMPT_TIMER),
          "saving the preemption timer needs the timer");
    CHECK(msr_list_ok(ctx, VMCS12(c, VM_EXIT_MSR_STORE_ADDR), VMCS12(c, VM_EXIT_MSR_STORE_COUNT)),
          "VM-exit MSR-store list valid");
    CHECK(msr_list_ok(ctx, VMCS12(c, VM_EXIT_MSR_LOAD_ADDR), VMCS12(c, VM_EXIT_MSR_LOAD_COUNT)),
          "VM-exit MSR-load list valid");
    /* SDM 26.2.1.3: VM-entry control fields. */
    CHECK(ctl_ok(entry, caps->entry), "VM-entry controls within the allowed settings");
    CHECK(msr_list_ok(ctx, VMCS12(c, VM_ENTRY_MSR_LOAD_ADDR), VMCS12(c, VM_ENTRY_MSR_LOAD_COUNT)),
          "VM-entry MSR-load list valid");
    return true;
}

bool nested_check_controls(const struct vmcs12 *c, const struct entry_context *ctx)
{
    if (!ctx->static_checked && !check_static_controls(c, ctx))
        return false;
    uint32_t proc = (uint32_t)VMCS12(c, CPU_BASED_VM_EXEC_CONTROL);
    uint32_t proc2 = (proc & PROC_SECONDARY_CONTROLS) ? (uint32_t)VMCS12(c, SECONDARY_VM_EXEC_CONTROL) : 0;
    if ((proc & PROC_TPR_SHADOW) && !check_tpr_threshold(c, ctx, proc2))
        return false;
    /* SDM 26.2.1.3: the event to inject, written without an exit. */
    return check_event_injection(c);
}

bool nested_check_host_state(const struct vmcs12 *c, const struct entry_context *ctx)
{
    const struct vmx_msrs *caps = &nested_vmx_caps()->raw;
    uint32_t exit = (uint32_t)VMCS12(c, VM_EXIT_CONTROLS);
    uint32_t entry = (uint32_t)VMCS12(c, VM_ENTRY_CONTROLS);
    bool host64 = exit & EXIT_HOST_ADDR_SPACE_SIZE;
    uint64_t cr0 = VMCS12(c, HOST_CR0), cr4 = VMCS12(c, HOST_CR4);
    /* SDM 26.2.2: host control registers and MSRs. */
    CHECK((cr0 & caps->cr0_fixed0) == caps->cr0_fixed0 && !(cr0 & ~caps->cr0_fixed1),
          "host CR0 fixed bits");
    CHECK((cr4 & caps->cr4_fixed0) == caps->cr4_fixed0 && !(cr4 & ~caps->cr4_fixed1),
          "host CR4 fixed bits");
    CHECK(!(VMCS12(c, HOST_CR3) & ~ctx->phys_mask), "host CR3 within the physical-address width");
    CHECK(canonical(VMCS12(c, HOST_IA32_SYSENTER_ESP)), "host SYSENTER_ESP canonical");
    CHECK(canonical(VMCS12(c, HOST_IA32_SYSENTER_EIP)), "host SYSENTER_EIP canonical");
    if (exit & EXIT_LOAD_PAT)
        CHECK(pat_valid(VMCS12(c, HOST_IA32_PAT)), "host PAT valid");
    if (exit & EXIT_LOAD_EFER) {
        uint64_t efer = VMCS12(c, HOST_IA32_EFER);
        CHECK(!(efer & EFER_RESERVED), "host EFER reserved bits 0");
        CHECK(!!(efer & EFER_LMA) == host64 && !!(efer & EFER_LME) == host64,
              "host EFER.LMA/LME = host address-space size");
    }
    /* SDM 26.2.3: host segment and descriptor-table registers. */
    static const enum vmcs_field_index sels[] = {
        VMCS_IDX_HOST_ES_SELECTOR, VMCS_IDX_HOST_CS_SELECTOR, VMCS_IDX_HOST_SS_SELECTOR,
        VMCS_IDX_HOST_DS_SELECTOR, VMCS_IDX_HOST_FS_SELECTOR, VMCS_IDX_HOST_GS_SELECTOR,
        VMCS_IDX_HOST_TR_SELECTOR};
    for (unsigned i = 0; i < sizeof(sels) / sizeof(sels[0]); i++)
        CHECK(!(c->field[sels[i]] & SELECTOR_RPL_TI), "host selectors have RPL 0 and TI 0");
    CHECK(VMCS12(c, HOST_CS_SELECTOR) != 0, "host CS selector not null");
    CHECK(VMCS12(c, HOST_TR_SELECTOR) != 0, "host TR selector not null");
    CHECK(host64 || VMCS12(c, HOST_SS_SELECTOR) != 0, "host SS not null outside 64-bit mode");
    CHECK(canonical(VMCS12(c, HOST_FS_BASE)) && canonical(VMCS12(c, HOST_GS_BASE)) &&
              canonical(VMCS12(c, HOST_GDTR_BASE)) && canonical(VMCS12(c, HOST_IDTR_BASE)) &&
              canonical(VMCS12(c, HOST_TR_BASE)),
          "host bases canonical");
    /* SDM 26.2.4: address-space size. */
    if (!ctx->l1_long_mode) {
        CHECK(!(entry & ENTRY_IA32E_MODE_GUEST), "IA-32e guest needs a host in IA-32e mode");
        CHECK(!host64, "host address-space size needs a host in IA-32e mode");
    } else {
        CHECK(host64, "a host in IA-32e mode needs host address-space size");
    }
    if (host64) {
        CHECK(cr4 & CR4_PAE, "64-bit host has CR4.PAE");
        CHECK(canonical(VMCS12(c, HOST_RIP)), "host RIP canonical");
    } else {
        CHECK(!(entry & ENTRY_IA32E_MODE_GUEST), "IA-32e guest needs a 64-bit host");
        CHECK(!(cr4 & CR4_PCIDE), "32-bit host has CR4.PCIDE 0");
        CHECK(!(VMCS12(c, HOST_RIP) >> 32), "32-bit host RIP bits 63:32 are 0");
    }
    return true;
}
