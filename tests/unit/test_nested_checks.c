/* unit-srcs: vmm/nested/checks.c vmm/nested/checks_guest.c vmm/nested/vmx_msrs.c vmm/nested/vmcs12.c vmm/nested/ept12.c arch/x86/vmx_caps.c */
/* vmm/nested/checks.c and checks_guest.c: the VM-entry checks nestvisor
 * applies to vmcs12 before any hardware entry, against the capabilities
 * nested_vmx_msrs_init offers on the Bochs tigerlake model. One valid
 * vmcs12 (a 64-bit L2 under EPT with VPID, a 64-bit host, I/O and MSR
 * bitmaps, as an L1 hypervisor sets it up) passes; then for every named
 * CHECK in the two files one case mutates that baseline minimally so that
 * exactly that check fails, and asserts the result class (SDM 26.2: a
 * control or host-state failure is VMfailValid 7 or 8; 26.3 / 26.7: a
 * guest-state failure is a VM-entry failure exit, reason 33, with exit
 * qualification 0, 2 for the PDPTEs, 4 for the VMCS link pointer) and the
 * name nested_check_failed_name() reports. The SDM section of each rule is
 * in its case. A test reads the CHECK names out of the two source files, so
 * a new check without a case here fails the suite.
 *
 * Sections: 26.2.1.1 VM-execution controls, 26.2.1.2 VM-exit controls,
 * 26.2.1.3 VM-entry controls (event injection), 26.2.2 host control
 * registers and MSRs, 26.2.3 host segment and descriptor-table registers,
 * 26.2.4 address-space size, 26.3.1.1 guest control registers, debug
 * registers and MSRs, 26.3.1.2 guest segment registers, 26.3.1.3
 * descriptor-table registers, 26.3.1.4 RIP and RFLAGS, 26.3.1.5
 * non-register state, 26.3.1.6 PDPTEs. Capabilities: Appendix A. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "vmm/nested/checks.h"
#include "vmm/nested/vmx_msrs.h"
#include "vmm/nested/vmcs12.h"
#include "arch/x86/cpu_bits.h"
#include "arch/x86/exit_reasons.h"
#include "arch/x86/msr_index.h"
#include "arch/x86/physmem.h"
#include "vmm/ept.h"
#include "arch/x86/vmx_bits.h"
#include "tests/unit/fake_arch.h"
#include "tests/unit/cpu_models.h"
#include "tests/unit/vmcs12_fixture.h"

/* L1's RAM in fake memory, and where L1 put things. */
#define L1_RAM_BASE   0x100000ULL
#define L1_RAM_END    0x2000000ULL
#define IO_A_PA       0x200000ULL
#define IO_B_PA       0x201000ULL
#define MSR_BITMAP_PA 0x202000ULL
#define MSR_LIST_PA   0x203000ULL
#define LINK_PA       0x210000ULL
#define VAPIC_PA      0x211000ULL /* virtual-APIC page */
#define APIC_ACC_PA   0x212000ULL /* APIC-access page */
#define PI_DESC_PA    0x213040ULL /* posted-interrupt descriptor, 64-byte aligned */
#define PML_PA        0x214000ULL /* page-modification log */
#define EPTP_LIST_PA  0x215000ULL /* EPTP list of VMFUNC 0 */
#define VE_INFO_PA    0x216000ULL /* virtualization-exception information */
#define VMCS12_PA     0x220000ULL
#define SHADOW_PA     0x214000ULL /* a shadow VMCS (bit 31 of its revision dword set) */
#define VMREAD_BMP_PA 0x215000ULL
#define VMWRITE_BMP_PA 0x216000ULL
#define EPTP12        (0x300000ULL | EPTP_WALK_4 | EPTP_MEMTYPE_WB)
#define PHYS_MASK     0x7fffffffffULL /* 39 address bits */
#define NONCANONICAL  0x0000800000000000ULL
#define HIGH32        (1ULL << 32)

/* More access rights (SDM 25.4.1 / Table 25-2; the common ones are in the fixture). */
#define AR_LDT    (AR_P | SEG_TYPE_LDT)
#define DPL(n)    ((uint32_t)(n) << AR_DPL_SHIFT)

/* Checks added with the fixes this suite found. */
#define ERROR_CODE_CHECK   "entry error code bits 31:16 are 0"
#define HLT_INJECT_CHECK   "HLT activity allows only external interrupts, NMIs, #DB and #MC"
#define LINK_CURRENT_CHECK "VMCS link pointer is not the current VMCS"
#define LINK_SHADOW_CHECK  "VMCS link pointer's shadow-VMCS indicator = VMCS shadowing"

static struct vmx_caps hw;
static struct vmcs12 c12;
static struct entry_context ctx;

static bool l1_ram(uint64_t pa, uint64_t len)
{
    return pa >= L1_RAM_BASE && pa + len >= pa && pa + len <= L1_RAM_END;
}

static uint32_t read32(uint64_t pa) { return *(const uint32_t *)phys_to_virt(pa); }
/* L1's memory as the CPU sees it: its RAM, all ones elsewhere. */
static uint32_t read_view32(uint64_t pa) { return l1_ram(pa, sizeof(uint32_t)) ? read32(pa) : ~0U; }

#define V(name) VMCS12(c, name)

/* The baseline: what an L1 hypervisor writes for a 64-bit guest. */
static void baseline(struct vmcs12 *c)
{
    static const struct vmcs12_fixture_pages pages = {IO_A_PA, IO_B_PA, MSR_BITMAP_PA, EPTP12};
    memset(c, 0, sizeof(*c));
    vmcs12_fixture_64(c, &pages);
}

static int setup(void **state)
{
    (void)state;
    fake_phys_reset();
    vmx_caps_decode(&tigerlake, &hw);
    nested_vmx_msrs_init(&hw);
    baseline(&c12);
    ctx = (struct entry_context){
        .l1_long_mode = true,
        .phys_mask = PHYS_MASK | 0xfff,
        .l1_ram = l1_ram,
        .read32 = read32,
        .read_view32 = read_view32,
        .static_checked = false,
        .current_vmcs = VMCS12_PA,
    };
    /* A page that holds an ordinary VMCS of the offered revision. */
    *(uint32_t *)phys_to_virt(LINK_PA) = nested_vmx_caps()->revision_id;
    *(uint32_t *)phys_to_virt(VMCS12_PA) = nested_vmx_caps()->revision_id;
    *(uint32_t *)phys_to_virt(SHADOW_PA) = nested_vmx_caps()->revision_id | VMCS_SHADOW_INDICATOR;
    return 0;
}

static enum entry_check_result run(uint64_t *qual)
{
    *qual = 0xbad;
    return nested_check_vmcs12(&c12, &ctx, qual);
}

static void assert_ok(void)
{
    uint64_t q;
    enum entry_check_result r = run(&q);
    if (r != ENTRY_OK)
        fail_msg("refused (%d): %s", r, nested_check_failed_name());
    assert_string_equal(nested_check_failed_name(), "");
}

static void assert_fails(enum entry_check_result cls, uint64_t qual, const char *name)
{
    uint64_t q;
    enum entry_check_result r = run(&q);
    if (r == ENTRY_OK)
        fail_msg("accepted; expected '%s' to fail", name);
    if (strcmp(nested_check_failed_name(), name))
        fail_msg("'%s' failed; expected '%s'", nested_check_failed_name(), name);
    assert_int_equal(r, cls);
    if (cls == ENTRY_FAIL_GUEST)
        assert_int_equal(q, qual);
}

/* ---- mutations shared by several cases ---- */

/* L1 outside IA-32e mode, a 32-bit host and a 32-bit guest (SDM 26.2.4). */
static void host32(struct vmcs12 *c, struct entry_context *x)
{
    x->l1_long_mode = false;
    V(VM_EXIT_CONTROLS) &= ~(uint64_t)EXIT_HOST_ADDR_SPACE_SIZE;
    V(HOST_IA32_EFER) &= ~(EFER_LMA | EFER_LME);
    V(VM_ENTRY_CONTROLS) &= ~(uint64_t)ENTRY_IA32E_MODE_GUEST;
    V(HOST_RIP) = 0x100000;
}

/* A 32-bit protected-mode guest with PAE paging (the "IA-32e mode guest"
 * control 0, EFER.LMA/LME 0, a 32-bit code segment). */
static void guest32_pae(struct vmcs12 *c)
{
    V(VM_ENTRY_CONTROLS) &= ~(uint64_t)ENTRY_IA32E_MODE_GUEST;
    V(GUEST_IA32_EFER) &= ~(EFER_LMA | EFER_LME);
    V(GUEST_CS_AR_BYTES) = AR_CODE32;
    V(GUEST_RIP) = 0x1000;
    V(GUEST_RSP) = 0x8000;
    V(GUEST_TR_BASE) = 0x9000;
    V(GUEST_GDTR_BASE) = 0xa000;
    V(GUEST_IDTR_BASE) = 0xb000;
    V(GUEST_PDPTE0) = 0x500001;
    V(GUEST_PDPTE1) = 0x501001;
}

static void unrestricted(struct vmcs12 *c) { V(SECONDARY_VM_EXEC_CONTROL) |= PROC2_UNRESTRICTED_GUEST; }

/* Real mode at the reset vector under "unrestricted guest" (SDM 26.3.1.1:
 * CR0.PE and PG may be 0; 26.3.1.2: CS may be type 3 with DPL 0). */
static void real_mode(struct vmcs12 *c)
{
    unrestricted(c);
    V(VM_ENTRY_CONTROLS) &= ~(uint64_t)ENTRY_IA32E_MODE_GUEST;
    V(GUEST_IA32_EFER) = 0;
    V(GUEST_CR0) = CR0_NE | CR0_ET;
    V(GUEST_CR4) = CR4_VMXE;
    V(GUEST_CS_SELECTOR) = 0xf000;
    V(GUEST_CS_BASE) = 0xf0000;
    V(GUEST_CS_LIMIT) = 0xffff;
    V(GUEST_CS_AR_BYTES) = AR_P | AR_S | 3;
    V(GUEST_SS_SELECTOR) = V(GUEST_DS_SELECTOR) = V(GUEST_ES_SELECTOR) = 0;
    V(GUEST_SS_LIMIT) = V(GUEST_DS_LIMIT) = V(GUEST_ES_LIMIT) = 0xffff;
    V(GUEST_SS_AR_BYTES) = V(GUEST_DS_AR_BYTES) = V(GUEST_ES_AR_BYTES) = AR_P | AR_S | 3;
    V(GUEST_TR_BASE) = 0;
    V(GUEST_GDTR_BASE) = V(GUEST_IDTR_BASE) = 0;
    V(GUEST_RIP) = 0xfff0;
    V(GUEST_RSP) = 0;
}

/* A 32-bit guest running virtual-8086 code (RFLAGS.VM = 1): CS, SS, DS,
 * ES, FS and GS as in real mode with access rights 0xf3 (SDM 26.3.1.2). */
#define AR_V86 0xf3U
static void v86_seg(struct vmcs12 *c, unsigned i, uint16_t sel)
{
    c->field[VMCS_IDX_GUEST_ES_SELECTOR + i] = sel;
    c->field[VMCS_IDX_GUEST_ES_BASE + i] = (uint64_t)sel << 4;
    c->field[VMCS_IDX_GUEST_ES_LIMIT + i] = 0xffff;
    c->field[VMCS_IDX_GUEST_ES_AR_BYTES + i] = AR_V86;
}

static void guest32_pae(struct vmcs12 *c);
static void v86_mode(struct vmcs12 *c)
{
    guest32_pae(c);
    V(GUEST_RFLAGS) |= RFLAGS_VM;
    v86_seg(c, 0, 0x3000); /* ES */
    v86_seg(c, 1, 0x1000); /* CS */
    v86_seg(c, 2, 0x2000); /* SS */
    v86_seg(c, 3, 0x3000); /* DS */
    v86_seg(c, 4, 0x0040); /* FS */
    v86_seg(c, 5, 0x0000); /* GS */
    V(GUEST_RIP) = 0x100;
    V(GUEST_RSP) = 0xfffe;
}

/* L2 at CPL 3 (SS.DPL = CS.DPL = RPLs = 3). */
static void user_mode(struct vmcs12 *c)
{
    V(GUEST_CS_SELECTOR) = 0x2b;
    V(GUEST_CS_AR_BYTES) = AR_CODE64 | DPL(3);
    V(GUEST_SS_SELECTOR) = 0x33;
    V(GUEST_SS_AR_BYTES) = AR_DATA | DPL(3);
}

static void usable_ldtr(struct vmcs12 *c)
{
    V(GUEST_LDTR_SELECTOR) = 0x28;
    V(GUEST_LDTR_AR_BYTES) = AR_LDT;
    V(GUEST_LDTR_LIMIT) = 0xffff;
    V(GUEST_LDTR_BASE) = 0xffffffff82003000ULL;
}

static void inject(struct vmcs12 *c, uint32_t type, unsigned vector, bool code)
{
    V(VM_ENTRY_INTR_INFO_FIELD) = INTR_INFO_VALID | type | vector | (code ? INTR_INFO_DELIVER_CODE : 0);
}

static void msr_list(struct vmcs12 *c, enum vmcs_field_index addr, enum vmcs_field_index count,
                     uint64_t a, uint64_t n)
{
    c->field[addr] = a;
    c->field[count] = n;
}

/* ---- one case per check ---- */

struct check_case {
    const char *name; /* nested_check_failed_name() */
    void (*mutate)(struct vmcs12 *c, struct entry_context *x);
    enum entry_check_result cls;
    uint64_t qual; /* for ENTRY_FAIL_GUEST */
};

#define MUT(id, body)                                                                              \
    static void mut_##id(struct vmcs12 *c, struct entry_context *x)                                \
    {                                                                                              \
        (void)c;                                                                                   \
        (void)x;                                                                                   \
        body                                                                                       \
    }

/* SDM 26.2.1.3: VM-entry event injection. */
MUT(ev_type_reserved, inject(c, 1U << INTR_INFO_TYPE_SHIFT, 32, false);)    /* type 1 reserved */
MUT(ev_type_other, inject(c, INTR_TYPE_OTHER_EVENT, 0, false);)             /* 7: needs MTF */
MUT(ev_nmi_vector, inject(c, INTR_TYPE_NMI, 3, false);)                     /* NMI: vector 2 */
MUT(ev_exc_vector, inject(c, INTR_TYPE_HW_EXCEPTION, 32, false);)           /* exception <= 31 */
MUT(ev_code_missing, inject(c, INTR_TYPE_HW_EXCEPTION, VEC_GP, false);)     /* #GP pushes a code */
MUT(ev_reserved, inject(c, INTR_TYPE_HW_EXCEPTION, VEC_UD, false); V(VM_ENTRY_INTR_INFO_FIELD) |= 1U << 20;)
MUT(ev_code_high, inject(c, INTR_TYPE_HW_EXCEPTION, VEC_GP, true); V(VM_ENTRY_EXCEPTION_ERROR_CODE) = 0x10000;)
MUT(ev_len, inject(c, INTR_TYPE_SW_INTR, 0x80, false); V(VM_ENTRY_INSTRUCTION_LEN) = 0;)
/* SDM 26.2.1.1: VM-execution controls against the capability MSRs (A.3). */
MUT(pin_ctl, V(PIN_BASED_VM_EXEC_CONTROL) |= PIN_POSTED_INTERRUPTS;)
MUT(proc_ctl, V(CPU_BASED_VM_EXEC_CONTROL) |= PROC_TERTIARY_CONTROLS;)
MUT(proc2_ctl, V(SECONDARY_VM_EXEC_CONTROL) |= PROC2_SUBPAGE_WRITE_PERM;)
/* VMCS shadowing for L2 (25.10): its bitmaps and a shadow VMCS linked. */
static void shadowing(struct vmcs12 *c)
{
    V(SECONDARY_VM_EXEC_CONTROL) |= PROC2_VMCS_SHADOWING;
    V(VMREAD_BITMAP) = VMREAD_BMP_PA;
    V(VMWRITE_BITMAP) = VMWRITE_BMP_PA;
    V(VMCS_LINK_POINTER) = SHADOW_PA;
}
/* SDM 26.2.1.1: with VMCS shadowing, the VMREAD-/VMWRITE-bitmap addresses
 * are 4 KiB aligned and within the physical-address width. */
MUT(vmread_bmp, shadowing(c); V(VMREAD_BITMAP) = VMREAD_BMP_PA | 0x800;)
MUT(vmwrite_bmp, shadowing(c); V(VMWRITE_BITMAP) = PHYS_MASK + 1;)
MUT(cr3_count, V(CR3_TARGET_COUNT) = 5;)
/* SDM 26.2.1.1, APIC virtualization (Vol. 3C ch. 30). */
static void tpr_shadow(struct vmcs12 *c)
{
    V(CPU_BASED_VM_EXEC_CONTROL) |= PROC_TPR_SHADOW;
    V(VIRTUAL_APIC_PAGE_ADDR) = VAPIC_PA;
}
static void vid(struct vmcs12 *c)
{
    tpr_shadow(c);
    V(SECONDARY_VM_EXEC_CONTROL) |= PROC2_VIRT_INTR_DELIVERY;
    V(PIN_BASED_VM_EXEC_CONTROL) |= PIN_EXTINT_EXITING;
}
/* Bochs 2.7's tigerlake has no posted interrupts: a CPU that has them. */
static void posted(struct vmcs12 *c)
{
    struct vmx_msrs m = tigerlake;
    m.pinbased |= (uint64_t)PIN_POSTED_INTERRUPTS << 32;
    m.true_pinbased |= (uint64_t)PIN_POSTED_INTERRUPTS << 32;
    vmx_caps_decode(&m, &hw);
    nested_vmx_msrs_init(&hw);
    vid(c);
    V(PIN_BASED_VM_EXEC_CONTROL) |= PIN_POSTED_INTERRUPTS;
    V(VM_EXIT_CONTROLS) |= EXIT_ACK_INTR_ON_EXIT;
    V(POSTED_INTR_NV) = 0xf2;
    V(POSTED_INTR_DESC_ADDR) = PI_DESC_PA;
}
MUT(vapic_addr, tpr_shadow(c); V(VIRTUAL_APIC_PAGE_ADDR) = VAPIC_PA | 0x800;)
MUT(tpr_high, tpr_shadow(c); V(TPR_THRESHOLD) = 0x10;)
MUT(tpr_vtpr, tpr_shadow(c); *(uint32_t *)phys_to_virt(VAPIC_PA + 0x80) = 0x20; V(TPR_THRESHOLD) = 3;)
MUT(x2apic_no_tpr, V(SECONDARY_VM_EXEC_CONTROL) |= PROC2_VIRT_X2APIC_MODE;)
MUT(x2apic_access, tpr_shadow(c); V(APIC_ACCESS_ADDR) = APIC_ACC_PA;
    V(SECONDARY_VM_EXEC_CONTROL) |= PROC2_VIRT_X2APIC_MODE | PROC2_VIRT_APIC_ACCESS;)
MUT(vid_extint, vid(c); V(PIN_BASED_VM_EXEC_CONTROL) &= ~(uint64_t)PIN_EXTINT_EXITING;)
MUT(pi_vid, posted(c); V(SECONDARY_VM_EXEC_CONTROL) &= ~(uint64_t)PROC2_VIRT_INTR_DELIVERY;)
MUT(pi_ack, posted(c); V(VM_EXIT_CONTROLS) &= ~(uint64_t)EXIT_ACK_INTR_ON_EXIT;)
MUT(pi_nv, posted(c); V(POSTED_INTR_NV) = 0x1f2;)
MUT(pi_desc, posted(c); V(POSTED_INTR_DESC_ADDR) = PI_DESC_PA | 0x20;)
MUT(apic_access, V(SECONDARY_VM_EXEC_CONTROL) |= PROC2_VIRT_APIC_ACCESS; V(APIC_ACCESS_ADDR) = PHYS_MASK + 1;)
MUT(io_a, V(IO_BITMAP_A) = IO_A_PA | 0x800;)                 /* bits 11:0 must be 0 */
MUT(io_b, V(IO_BITMAP_B) = 1ULL << 40;)                      /* beyond the address width */
MUT(msr_bitmap, V(MSR_BITMAP) = PHYS_MASK + 1;)               /* beyond the address width */
MUT(vnmi, V(PIN_BASED_VM_EXEC_CONTROL) &= ~(uint64_t)PIN_NMI_EXITING;)
MUT(nmi_window, V(PIN_BASED_VM_EXEC_CONTROL) &= ~(uint64_t)PIN_VIRTUAL_NMIS;
    V(CPU_BASED_VM_EXEC_CONTROL) |= PROC_NMI_WINDOW_EXITING;)
MUT(vpid0, V(VPID) = 0;)
MUT(ug_ept, V(SECONDARY_VM_EXEC_CONTROL) = (V(SECONDARY_VM_EXEC_CONTROL) & ~(uint64_t)PROC2_ENABLE_EPT) |
                                           PROC2_UNRESTRICTED_GUEST;)
MUT(eptp, V(EPT_POINTER) = (EPTP12 & ~EPTP_WALK_MASK) | (4ULL << 3);) /* 5-level walk not offered */
/* SDM 26.2.1.1: PML, VM functions (EPTP switching) and EPT-violation #VE. */
static void ept_features(struct vmcs12 *c, uint32_t proc2)
{
    V(SECONDARY_VM_EXEC_CONTROL) |= proc2;
    V(PML_ADDRESS) = PML_PA;
    V(GUEST_PML_INDEX) = PML_ENTRIES - 1;
    V(VM_FUNCTION_CONTROL) = VMFUNC_EPTP_SWITCHING;
    V(EPTP_LIST_ADDRESS) = EPTP_LIST_PA;
    V(VE_INFO_ADDRESS) = VE_INFO_PA;
}
static void no_ept(struct vmcs12 *c) { V(SECONDARY_VM_EXEC_CONTROL) &= ~(uint64_t)PROC2_ENABLE_EPT; }
MUT(pml_ept, ept_features(c, PROC2_ENABLE_PML); no_ept(c);)
MUT(pml_addr, ept_features(c, PROC2_ENABLE_PML); V(PML_ADDRESS) = PML_PA | 0x800;) /* bits 11:0 must be 0 */
MUT(vmfunc_ctl, ept_features(c, PROC2_ENABLE_VMFUNC); V(VM_FUNCTION_CONTROL) = 1ULL << 1;) /* only EPTP switching */
MUT(eptp_switch_ept, ept_features(c, PROC2_ENABLE_VMFUNC); no_ept(c);)
MUT(eptp_list, ept_features(c, PROC2_ENABLE_VMFUNC); V(EPTP_LIST_ADDRESS) = PHYS_MASK + 1;) /* beyond the width */
MUT(ve_info, ept_features(c, PROC2_EPT_VIOLATION_VE); V(VE_INFO_ADDRESS) = VE_INFO_PA | 8;)
/* SDM 26.2.1.2: VM-exit controls. */
MUT(exit_ctl, V(VM_EXIT_CONTROLS) |= EXIT_LOAD_PERF_GLOBAL_CTRL;)
MUT(save_timer, V(VM_EXIT_CONTROLS) |= EXIT_SAVE_PREEMPT_TIMER;)
MUT(exit_store, msr_list(c, VMCS_IDX_VM_EXIT_MSR_STORE_ADDR, VMCS_IDX_VM_EXIT_MSR_STORE_COUNT, MSR_LIST_PA + 8, 1);)
MUT(exit_load, msr_list(c, VMCS_IDX_VM_EXIT_MSR_LOAD_ADDR, VMCS_IDX_VM_EXIT_MSR_LOAD_COUNT, MSR_LIST_PA, 513);)
/* SDM 26.2.1.3: VM-entry controls. */
MUT(entry_ctl, V(VM_ENTRY_CONTROLS) |= ENTRY_SMM;)
MUT(entry_load, msr_list(c, VMCS_IDX_VM_ENTRY_MSR_LOAD_ADDR, VMCS_IDX_VM_ENTRY_MSR_LOAD_COUNT,
                         PHYS_MASK + 1 - 16, 2);) /* the last byte beyond the width */
/* SDM 26.2.2: host control registers and MSRs. */
MUT(host_cr0, V(HOST_CR0) &= ~CR0_NE;)
MUT(host_cr4, V(HOST_CR4) &= ~CR4_VMXE;)
MUT(host_cr3, V(HOST_CR3) = 1ULL << 40;)
MUT(host_esp, V(HOST_IA32_SYSENTER_ESP) = NONCANONICAL;)
MUT(host_eip, V(HOST_IA32_SYSENTER_EIP) = NONCANONICAL;)
MUT(host_pat, V(HOST_IA32_PAT) = 0x0007040600070402ULL;) /* type 2 is reserved */
MUT(host_efer_rsvd, V(HOST_IA32_EFER) |= 1ULL << 1;)
MUT(host_efer_lma, V(HOST_IA32_EFER) &= ~EFER_LMA;)
/* SDM 26.2.3: host segment and descriptor-table registers. */
MUT(host_rpl, V(HOST_DS_SELECTOR) = 0x13;)
MUT(host_cs0, V(HOST_CS_SELECTOR) = 0;)
MUT(host_tr0, V(HOST_TR_SELECTOR) = 0;)
MUT(host_ss0, host32(c, x); V(HOST_SS_SELECTOR) = 0;)
MUT(host_bases, V(HOST_GDTR_BASE) = NONCANONICAL;)
/* SDM 26.2.4: the checks related to address-space size. */
MUT(as_guest, x->l1_long_mode = false;)
MUT(as_host, x->l1_long_mode = false; V(VM_ENTRY_CONTROLS) &= ~(uint64_t)ENTRY_IA32E_MODE_GUEST;)
MUT(as_long, V(VM_EXIT_CONTROLS) &= ~(uint64_t)(EXIT_HOST_ADDR_SPACE_SIZE | EXIT_LOAD_EFER);)
MUT(host_pae, V(HOST_CR4) &= ~CR4_PAE;)
MUT(host_rip, V(HOST_RIP) = NONCANONICAL;)
MUT(host32_pcide, host32(c, x); V(HOST_CR4) |= CR4_PCIDE;)
MUT(host32_rip, host32(c, x); V(HOST_RIP) = HIGH32;)
/* SDM 26.3.1.1: guest control registers, debug registers and MSRs. */
MUT(g_cr0, V(GUEST_CR0) &= ~CR0_NE;)
MUT(g_pg_pe, unrestricted(c); V(GUEST_CR0) &= ~CR0_PE;)
MUT(g_cr4, V(GUEST_CR4) &= ~CR4_VMXE;)
MUT(g_ia32e_pg, unrestricted(c); V(GUEST_CR0) &= ~(CR0_PG | CR0_PE);)
MUT(g_ia32e_pae, V(GUEST_CR4) &= ~CR4_PAE;)
MUT(g_pcide, guest32_pae(c); V(GUEST_CR4) |= CR4_PCIDE;)
MUT(g_efer_lma, V(GUEST_IA32_EFER) &= ~EFER_LMA;)
MUT(g_efer_lme, V(GUEST_IA32_EFER) &= ~EFER_LME;)
MUT(g_debugctl, V(GUEST_IA32_DEBUGCTL) = 1ULL << 2;)
MUT(g_dr7, V(GUEST_DR7) = 0x400 | HIGH32;)
MUT(g_sysenter, V(GUEST_SYSENTER_EIP) = NONCANONICAL;)
MUT(g_pat, V(GUEST_IA32_PAT) = 0x0007040600070408ULL;) /* type 8 is reserved */
MUT(g_efer_rsvd, V(GUEST_IA32_EFER) |= 1ULL << 12;)
/* SDM 26.3.1.2: guest segment registers. */
MUT(cs_type_ug, unrestricted(c); V(GUEST_CS_AR_BYTES) = (AR_CODE64 & ~AR_TYPE_MASK) | 5;)
MUT(cs_type, V(GUEST_CS_AR_BYTES) = (AR_CODE64 & ~AR_TYPE_MASK) | 3;) /* data */
MUT(cs_s, V(GUEST_CS_AR_BYTES) &= ~AR_S;)
MUT(cs_type3_dpl, unrestricted(c); V(GUEST_CS_AR_BYTES) = AR_P | AR_S | DPL(3) | 3;)
MUT(cs_dpl_nc, V(GUEST_CS_AR_BYTES) |= DPL(3);)
MUT(cs_dpl_conf, V(GUEST_CS_AR_BYTES) = (AR_CODE64 & ~AR_TYPE_MASK) | 15 | DPL(3);)
MUT(cs_p, V(GUEST_CS_AR_BYTES) &= ~AR_P;)
MUT(cs_rsvd, V(GUEST_CS_AR_BYTES) |= 1U << 8;)
MUT(cs_db, V(GUEST_CS_AR_BYTES) |= AR_DB;)
MUT(cs_g, V(GUEST_CS_LIMIT) = 0xffff0;)
MUT(cs_base, guest32_pae(c); V(GUEST_CS_BASE) = HIGH32;)
MUT(ss_type, V(GUEST_SS_AR_BYTES) = (AR_DATA & ~AR_TYPE_MASK) | 1;)
MUT(ss_dpl_rpl, V(GUEST_CS_AR_BYTES) |= DPL(3); V(GUEST_SS_AR_BYTES) |= DPL(3);)
MUT(ss_dpl0, real_mode(c); V(GUEST_SS_AR_BYTES) |= DPL(3);) /* CPL 3 in real mode */
MUT(v86_base, v86_mode(c); V(GUEST_CS_BASE) += 0x10;)
MUT(v86_limit, v86_mode(c); V(GUEST_SS_LIMIT) = 0xfffff;)
MUT(v86_ar, v86_mode(c); V(GUEST_DS_AR_BYTES) = AR_V86 & ~SEG_TYPE_ACCESSED;)
MUT(ds_accessed, V(GUEST_DS_AR_BYTES) &= ~SEG_TYPE_ACCESSED;)
MUT(ds_readable, V(GUEST_DS_AR_BYTES) = (AR_DATA & ~AR_TYPE_MASK) | SEG_TYPE_CODE | SEG_TYPE_ACCESSED;)
MUT(ds_dpl_rpl, V(GUEST_DS_SELECTOR) = 0x13;)
MUT(ds_s, V(GUEST_DS_AR_BYTES) &= ~AR_S;)
MUT(ds_p, V(GUEST_ES_AR_BYTES) &= ~AR_P;)
MUT(ds_rsvd, V(GUEST_DS_AR_BYTES) |= 1U << 17;)
MUT(ds_g, V(GUEST_DS_AR_BYTES) &= ~AR_G;)
MUT(fs_base, V(GUEST_FS_BASE) = NONCANONICAL;) /* FS is unusable: the base is checked anyway */
MUT(es_base, V(GUEST_ES_BASE) = HIGH32;)
MUT(ss_rpl, V(GUEST_SS_SELECTOR) = 0x13;)
MUT(tr_ti, V(GUEST_TR_SELECTOR) = 0x1c;)
MUT(tr_type, V(GUEST_TR_AR_BYTES) = AR_P | 9;) /* an available TSS */
MUT(tr_s, V(GUEST_TR_AR_BYTES) |= AR_S;)
MUT(tr_p, V(GUEST_TR_AR_BYTES) &= ~AR_P;)
MUT(tr_unusable, V(GUEST_TR_AR_BYTES) |= AR_UNUSABLE;)
MUT(tr_rsvd, V(GUEST_TR_AR_BYTES) |= 1U << 9;)
MUT(tr_g, V(GUEST_TR_AR_BYTES) |= AR_G;)
MUT(tr_base, V(GUEST_TR_BASE) = NONCANONICAL;)
MUT(ldtr_ti, usable_ldtr(c); V(GUEST_LDTR_SELECTOR) |= 4;)
MUT(ldtr_type, usable_ldtr(c); V(GUEST_LDTR_AR_BYTES) = AR_P | 3;)
MUT(ldtr_s, usable_ldtr(c); V(GUEST_LDTR_AR_BYTES) |= AR_S;)
MUT(ldtr_p, usable_ldtr(c); V(GUEST_LDTR_AR_BYTES) &= ~AR_P;)
MUT(ldtr_rsvd, usable_ldtr(c); V(GUEST_LDTR_AR_BYTES) |= 1U << 30;)
MUT(ldtr_g, usable_ldtr(c); V(GUEST_LDTR_LIMIT) = 0x100000;)
MUT(ldtr_base, usable_ldtr(c); V(GUEST_LDTR_BASE) = NONCANONICAL;)
/* SDM 26.3.1.3: GDTR and IDTR. */
MUT(dt_base, V(GUEST_IDTR_BASE) = NONCANONICAL;)
MUT(dt_limit, V(GUEST_GDTR_LIMIT) = 0x10000;)
/* SDM 26.3.1.4: RIP and RFLAGS. */
MUT(rip64, V(GUEST_RIP) = NONCANONICAL;)
MUT(rip32, V(GUEST_CS_AR_BYTES) = AR_CODE32;) /* compatibility mode: RIP 63:32 must be 0 */
MUT(rflags_rsvd, V(GUEST_RFLAGS) |= 1ULL << 3;)
MUT(rflags_vm, v86_mode(c); V(VM_ENTRY_CONTROLS) |= ENTRY_IA32E_MODE_GUEST; /* v86 in IA-32e mode */
    V(GUEST_IA32_EFER) |= EFER_LMA | EFER_LME;)
MUT(inject_if, inject(c, INTR_TYPE_EXT_INTR, 0x20, false);)
/* SDM 26.3.1.5: non-register state. */
MUT(activity, V(GUEST_ACTIVITY_STATE) = ACTIVITY_SHUTDOWN;)
MUT(hlt_dpl, user_mode(c); V(GUEST_ACTIVITY_STATE) = ACTIVITY_HLT;)
MUT(hlt_inject, V(GUEST_ACTIVITY_STATE) = ACTIVITY_HLT; inject(c, INTR_TYPE_HW_EXCEPTION, VEC_UD, false);)
MUT(sipi_inject, V(GUEST_RFLAGS) |= RFLAGS_IF; V(GUEST_ACTIVITY_STATE) = ACTIVITY_WAIT_SIPI;
    inject(c, INTR_TYPE_EXT_INTR, 0x20, false);)
MUT(blocking_active, V(GUEST_RFLAGS) |= RFLAGS_IF; V(GUEST_ACTIVITY_STATE) = ACTIVITY_HLT;
    V(GUEST_INTERRUPTIBILITY_INFO) = INTERRUPTIBILITY_STI;)
MUT(intr_rsvd, V(GUEST_INTERRUPTIBILITY_INFO) = 1U << 5;)
MUT(sti_movss, V(GUEST_RFLAGS) |= RFLAGS_IF;
    V(GUEST_INTERRUPTIBILITY_INFO) = INTERRUPTIBILITY_STI | INTERRUPTIBILITY_MOV_SS;)
MUT(sti_if, V(GUEST_INTERRUPTIBILITY_INFO) = INTERRUPTIBILITY_STI;)
MUT(inject_blocked, V(GUEST_RFLAGS) |= RFLAGS_IF; inject(c, INTR_TYPE_EXT_INTR, 0x20, false);
    V(GUEST_INTERRUPTIBILITY_INFO) = INTERRUPTIBILITY_MOV_SS;)
MUT(nmi_movss, inject(c, INTR_TYPE_NMI, VEC_NMI, false); V(GUEST_INTERRUPTIBILITY_INFO) = INTERRUPTIBILITY_MOV_SS;)
MUT(vnmi_blocked, inject(c, INTR_TYPE_NMI, VEC_NMI, false); V(GUEST_INTERRUPTIBILITY_INFO) = INTERRUPTIBILITY_NMI;)
MUT(smi, V(GUEST_INTERRUPTIBILITY_INFO) = INTERRUPTIBILITY_SMI;)
MUT(enclave, V(GUEST_INTERRUPTIBILITY_INFO) = INTERRUPTIBILITY_ENCLAVE;)
MUT(pending_rsvd, V(GUEST_PENDING_DBG_EXCEPTIONS) = 1ULL << 4;)
MUT(pending_bs, V(GUEST_RFLAGS) |= RFLAGS_IF | RFLAGS_TF; V(GUEST_INTERRUPTIBILITY_INFO) = INTERRUPTIBILITY_STI;)
MUT(g_cr3, V(GUEST_CR3) = 1ULL << 40;)
/* SDM 26.3.1.6: PDPTEs, from vmcs12 when L2 runs under EPT. */
MUT(pdpte, guest32_pae(c); V(GUEST_PDPTE2) = 0x502001 | (1ULL << 5);) /* bit 5 reserved */
/* SDM 26.3.1.5: the VMCS link pointer (exit qualification 4). */
MUT(link_addr, V(VMCS_LINK_POINTER) = LINK_PA | 0x10;)
MUT(link_rev, V(VMCS_LINK_POINTER) = LINK_PA; *(uint32_t *)phys_to_virt(LINK_PA) = nested_vmx_caps()->revision_id + 1;)
/* Bit 31 of the dword there must equal "VMCS shadowing": a shadow VMCS
 * without shadowing, an ordinary one with it. */
MUT(link_shadow_unwanted, V(VMCS_LINK_POINTER) = SHADOW_PA;)
MUT(link_shadow_missing, shadowing(c); V(VMCS_LINK_POINTER) = LINK_PA;)
MUT(link_current, V(VMCS_LINK_POINTER) = VMCS12_PA;)

#define CONTROLS ENTRY_FAIL_CONTROLS, 0
#define HOST     ENTRY_FAIL_HOST, 0
#define GUEST    ENTRY_FAIL_GUEST, ENTRY_FAIL_DEFAULT
#define C(name, id, cls) {name, mut_##id, cls}

static const struct check_case cases[] = {
    C("entry event type is not reserved", ev_type_reserved, CONTROLS),
    C("entry event type 'other' needs MTF", ev_type_other, CONTROLS),
    C("entry NMI has vector 2", ev_nmi_vector, CONTROLS),
    C("entry exception vector <= 31", ev_exc_vector, CONTROLS),
    C("entry deliver-error-code matches the vector", ev_code_missing, CONTROLS),
    C("entry interruption info reserved bits are 0", ev_reserved, CONTROLS),
    C(ERROR_CODE_CHECK, ev_code_high, CONTROLS),
    C("entry instruction length 1..15", ev_len, CONTROLS),
    C("pin-based controls within the allowed settings", pin_ctl, CONTROLS),
    C("primary processor-based controls within the allowed settings", proc_ctl, CONTROLS),
    C("secondary controls within the allowed settings", proc2_ctl, CONTROLS),
    C("VMREAD-bitmap address valid", vmread_bmp, CONTROLS),
    C("VMWRITE-bitmap address valid", vmwrite_bmp, CONTROLS),
    C("virtual-APIC address valid", vapic_addr, CONTROLS),
    C("TPR threshold bits 31:4 are 0", tpr_high, CONTROLS),
    C("TPR threshold not above VTPR[7:4]", tpr_vtpr, CONTROLS),
    C("x2APIC virtualization, APIC-register virtualization and virtual-interrupt delivery need the TPR shadow",
      x2apic_no_tpr, CONTROLS),
    C("virtualizing x2APIC mode excludes virtualizing APIC accesses", x2apic_access, CONTROLS),
    C("virtual-interrupt delivery needs external-interrupt exiting", vid_extint, CONTROLS),
    C("posted interrupts need virtual-interrupt delivery", pi_vid, CONTROLS),
    C("posted interrupts need acknowledge interrupt on exit", pi_ack, CONTROLS),
    C("posted-interrupt notification vector bits 15:8 are 0", pi_nv, CONTROLS),
    C("posted-interrupt descriptor address valid", pi_desc, CONTROLS),
    C("APIC-access address valid", apic_access, CONTROLS),
    C("CR3-target count <= offered", cr3_count, CONTROLS),
    C("I/O bitmap A address valid", io_a, CONTROLS),
    C("I/O bitmap B address valid", io_b, CONTROLS),
    C("MSR bitmap address valid", msr_bitmap, CONTROLS),
    C("virtual NMIs need NMI exiting", vnmi, CONTROLS),
    C("NMI-window exiting needs virtual NMIs", nmi_window, CONTROLS),
    C("VPID is not 0", vpid0, CONTROLS),
    C("unrestricted guest needs EPT", ug_ept, CONTROLS),
    C("EPT pointer valid", eptp, CONTROLS),
    C("PML needs EPT", pml_ept, CONTROLS),
    C("PML address valid", pml_addr, CONTROLS),
    C("VM-function controls within the offered functions", vmfunc_ctl, CONTROLS),
    C("EPTP switching needs EPT", eptp_switch_ept, CONTROLS),
    C("EPTP-list address valid", eptp_list, CONTROLS),
    C("virtualization-exception information address valid", ve_info, CONTROLS),
    C("VM-exit controls within the allowed settings", exit_ctl, CONTROLS),
    C("saving the preemption timer needs the timer", save_timer, CONTROLS),
    C("VM-exit MSR-store list valid", exit_store, CONTROLS),
    C("VM-exit MSR-load list valid", exit_load, CONTROLS),
    C("VM-entry controls within the allowed settings", entry_ctl, CONTROLS),
    C("VM-entry MSR-load list valid", entry_load, CONTROLS),
    C("host CR0 fixed bits", host_cr0, HOST),
    C("host CR4 fixed bits", host_cr4, HOST),
    C("host CR3 within the physical-address width", host_cr3, HOST),
    C("host SYSENTER_ESP canonical", host_esp, HOST),
    C("host SYSENTER_EIP canonical", host_eip, HOST),
    C("host PAT valid", host_pat, HOST),
    C("host EFER reserved bits 0", host_efer_rsvd, HOST),
    C("host EFER.LMA/LME = host address-space size", host_efer_lma, HOST),
    C("host selectors have RPL 0 and TI 0", host_rpl, HOST),
    C("host CS selector not null", host_cs0, HOST),
    C("host TR selector not null", host_tr0, HOST),
    C("host SS not null outside 64-bit mode", host_ss0, HOST),
    C("host bases canonical", host_bases, HOST),
    C("IA-32e guest needs a host in IA-32e mode", as_guest, HOST),
    C("host address-space size needs a host in IA-32e mode", as_host, HOST),
    C("a host in IA-32e mode needs host address-space size", as_long, HOST),
    C("64-bit host has CR4.PAE", host_pae, HOST),
    C("host RIP canonical", host_rip, HOST),
    C("32-bit host has CR4.PCIDE 0", host32_pcide, HOST),
    C("32-bit host RIP bits 63:32 are 0", host32_rip, HOST),
    C("guest CR0 fixed bits", g_cr0, GUEST),
    C("guest CR0.PG needs CR0.PE", g_pg_pe, GUEST),
    C("guest CR4 fixed bits", g_cr4, GUEST),
    C("IA-32e guest has CR0.PG", g_ia32e_pg, GUEST),
    C("IA-32e guest has CR4.PAE", g_ia32e_pae, GUEST),
    C("guest outside IA-32e mode has CR4.PCIDE 0", g_pcide, GUEST),
    C("guest EFER.LMA = IA-32e mode guest", g_efer_lma, GUEST),
    C("guest EFER.LME = LMA with paging", g_efer_lme, GUEST),
    C("guest DEBUGCTL reserved bits 0", g_debugctl, GUEST),
    C("guest DR7 bits 63:32 are 0", g_dr7, GUEST),
    C("guest SYSENTER_ESP/EIP canonical", g_sysenter, GUEST),
    C("guest PAT valid", g_pat, GUEST),
    C("guest EFER reserved bits 0", g_efer_rsvd, GUEST),
    C("guest CS type 3, 9, 11, 13 or 15", cs_type_ug, GUEST),
    C("guest CS type 9, 11, 13 or 15", cs_type, GUEST),
    C("guest CS is a code/data segment", cs_s, GUEST),
    C("guest CS type 3 has DPL 0", cs_type3_dpl, GUEST),
    C("guest non-conforming CS DPL = SS DPL", cs_dpl_nc, GUEST),
    C("guest conforming CS DPL <= SS DPL", cs_dpl_conf, GUEST),
    C("guest CS present", cs_p, GUEST),
    C("guest CS access-rights reserved bits 0", cs_rsvd, GUEST),
    C("guest 64-bit CS has D/B 0", cs_db, GUEST),
    C("guest CS limit agrees with G", cs_g, GUEST),
    C("guest CS base bits 63:32 are 0", cs_base, GUEST),
    C("guest SS type 3 or 7", ss_type, GUEST),
    C("guest SS DPL = RPL", ss_dpl_rpl, GUEST),
    C("guest SS DPL 0 with a data CS or CR0.PE 0", ss_dpl0, GUEST),
    C("virtual-8086 segment base = selector * 16", v86_base, GUEST),
    C("virtual-8086 segment limit 0xffff", v86_limit, GUEST),
    C("virtual-8086 segment access rights 0xf3", v86_ar, GUEST),
    C("guest data segments accessed", ds_accessed, GUEST),
    C("guest code in a data register is readable", ds_readable, GUEST),
    C("guest data segment DPL >= RPL", ds_dpl_rpl, GUEST),
    C("guest data segment is a code/data segment", ds_s, GUEST),
    C("guest usable data segment present", ds_p, GUEST),
    C("guest data segment access-rights reserved bits 0", ds_rsvd, GUEST),
    C("guest data segment limit agrees with G", ds_g, GUEST),
    C("guest FS/GS base canonical", fs_base, GUEST),
    C("guest ES/SS/DS base bits 63:32 are 0", es_base, GUEST),
    C("guest SS RPL = CS RPL", ss_rpl, GUEST),
    C("guest TR selector TI 0", tr_ti, GUEST),
    C("guest TR type busy TSS", tr_type, GUEST),
    C("guest TR is a system segment", tr_s, GUEST),
    C("guest TR present", tr_p, GUEST),
    C("guest TR usable", tr_unusable, GUEST),
    C("guest TR access-rights reserved bits 0", tr_rsvd, GUEST),
    C("guest TR limit agrees with G", tr_g, GUEST),
    C("guest TR base canonical", tr_base, GUEST),
    C("guest LDTR selector TI 0", ldtr_ti, GUEST),
    C("guest LDTR type 2", ldtr_type, GUEST),
    C("guest LDTR is a system segment", ldtr_s, GUEST),
    C("guest LDTR present", ldtr_p, GUEST),
    C("guest LDTR access-rights reserved bits 0", ldtr_rsvd, GUEST),
    C("guest LDTR limit agrees with G", ldtr_g, GUEST),
    C("guest LDTR base canonical", ldtr_base, GUEST),
    C("guest GDTR/IDTR base canonical", dt_base, GUEST),
    C("guest GDTR/IDTR limit bits 31:16 are 0", dt_limit, GUEST),
    C("guest RIP canonical in 64-bit mode", rip64, GUEST),
    C("guest RIP bits 63:32 are 0 outside 64-bit mode", rip32, GUEST),
    C("guest RFLAGS reserved bits", rflags_rsvd, GUEST),
    C("guest RFLAGS.VM 0 in IA-32e or real mode", rflags_vm, GUEST),
    C("injecting an interrupt needs RFLAGS.IF", inject_if, GUEST),
    C("guest activity state offered", activity, GUEST),
    C("HLT activity needs SS.DPL 0", hlt_dpl, GUEST),
    C(HLT_INJECT_CHECK, hlt_inject, GUEST),
    C("no event injection into wait-for-SIPI", sipi_inject, GUEST),
    C("interrupt blocking needs the active state", blocking_active, GUEST),
    C("guest interruptibility reserved bits 0", intr_rsvd, GUEST),
    C("not blocked by both STI and MOV SS", sti_movss, GUEST),
    C("STI blocking needs RFLAGS.IF", sti_if, GUEST),
    C("injecting an interrupt needs no STI/MOV SS blocking", inject_blocked, GUEST),
    C("injecting an NMI needs no MOV SS blocking", nmi_movss, GUEST),
    C("injecting a virtual NMI needs no NMI blocking", vnmi_blocked, GUEST),
    C("no SMI blocking outside SMM", smi, GUEST),
    C("no enclave interruption without SGX", enclave, GUEST),
    C("guest pending debug exceptions reserved bits 0", pending_rsvd, GUEST),
    C("pending BS matches single-stepping", pending_bs, GUEST),
    C("guest CR3 within the physical-address width", g_cr3, GUEST),
    {"guest PDPTEs valid", mut_pdpte, ENTRY_FAIL_GUEST, ENTRY_FAIL_PDPTE},
    {"VMCS link pointer valid", mut_link_addr, ENTRY_FAIL_GUEST, ENTRY_FAIL_VMCS_LINK},
    {"VMCS link pointer names a VMCS of this revision", mut_link_rev, ENTRY_FAIL_GUEST, ENTRY_FAIL_VMCS_LINK},
    {LINK_SHADOW_CHECK, mut_link_shadow_unwanted, ENTRY_FAIL_GUEST, ENTRY_FAIL_VMCS_LINK},
    {LINK_CURRENT_CHECK, mut_link_current, ENTRY_FAIL_GUEST, ENTRY_FAIL_VMCS_LINK},
};
#define CASE_COUNT (sizeof(cases) / sizeof(cases[0]))

/* A check no vmcs12 can reach: every combination it refuses is refused by
 * an earlier check (test_unreachable_ia32e_host_check shows it). */
static const char *const unreachable[] = {"IA-32e guest needs a 64-bit host"};

static void run_case(void **state)
{
    const struct check_case *k = *state;
    k->mutate(&c12, &ctx);
    assert_fails(k->cls, k->qual, k->name);
}

static void test_baseline_passes(void **state)
{
    (void)state;
    assert_ok();
    /* The same vmcs12 with a VMCS link pointer to an ordinary VMCS. */
    VMCS12(&c12, VMCS_LINK_POINTER) = LINK_PA;
    assert_ok();
}

/* Variants a real L1 uses pass too: a 32-bit PAE guest under EPT, an L2 at
 * CPL 3, usable FS/GS/LDTR, an unrestricted real-mode guest, a HLT'ed
 * guest taking an interrupt, the preemption timer with its saving, MSR
 * lists, CR3-target values. */
static void test_valid_variants_pass(void **state)
{
    (void)state;
    struct vmcs12 *c = &c12;
    guest32_pae(c);
    assert_ok();
    baseline(c);
    user_mode(c);
    assert_ok();
    baseline(c);
    usable_ldtr(c);
    V(GUEST_FS_SELECTOR) = 0x10;
    V(GUEST_FS_LIMIT) = 0xffffffff;
    V(GUEST_FS_AR_BYTES) = AR_DATA;
    V(GUEST_GS_SELECTOR) = 0x10;
    V(GUEST_GS_LIMIT) = 0xfffff;
    V(GUEST_GS_AR_BYTES) = AR_DATA & ~AR_G;
    assert_ok();
    baseline(c);
    real_mode(c);
    assert_ok();
    /* Virtual-8086 code of a 32-bit L2, with or without unrestricted
     * guest: the segments follow the virtual-8086 rules only. */
    baseline(c);
    v86_mode(c);
    assert_ok();
    unrestricted(c);
    assert_ok();
    /* HLT with an external interrupt or NMI to deliver (SDM 26.3.1.5). */
    baseline(c);
    V(GUEST_ACTIVITY_STATE) = ACTIVITY_HLT;
    V(GUEST_RFLAGS) |= RFLAGS_IF;
    inject(c, INTR_TYPE_EXT_INTR, 0x30, false);
    assert_ok();
    inject(c, INTR_TYPE_NMI, VEC_NMI, false);
    assert_ok();
    inject(c, INTR_TYPE_HW_EXCEPTION, VEC_DB, false);
    assert_ok();
    inject(c, INTR_TYPE_HW_EXCEPTION, VEC_MC, false);
    assert_ok();
    baseline(c);
    V(PIN_BASED_VM_EXEC_CONTROL) |= PIN_PREEMPTION_TIMER;
    V(VM_EXIT_CONTROLS) |= EXIT_SAVE_PREEMPT_TIMER;
    V(VMX_PREEMPTION_TIMER_VALUE) = 1000;
    V(CR3_TARGET_COUNT) = 4;
    msr_list(c, VMCS_IDX_VM_EXIT_MSR_STORE_ADDR, VMCS_IDX_VM_EXIT_MSR_STORE_COUNT, MSR_LIST_PA, 512);
    msr_list(c, VMCS_IDX_VM_EXIT_MSR_LOAD_ADDR, VMCS_IDX_VM_EXIT_MSR_LOAD_COUNT, MSR_LIST_PA + 16, 3);
    msr_list(c, VMCS_IDX_VM_ENTRY_MSR_LOAD_ADDR, VMCS_IDX_VM_ENTRY_MSR_LOAD_COUNT, MSR_LIST_PA + 32, 1);
    /* Addresses of empty lists are not checked (26.2.1.2). */
    V(VM_ENTRY_MSR_LOAD_COUNT) = 0;
    V(VM_ENTRY_MSR_LOAD_ADDR) = 0x7;
    assert_ok();
}

/* SDM 26.2.1.3: error codes are 16 bits: bits 31:16 of the VM-entry
 * exception error code must be 0, bit 15 may be 1 (a #GP with error code
 * 0x9f00 is legal; the SDM's older "31:15" was a documentation error that
 * hardware never enforced). Software exceptions and interrupts with a
 * length of 1..15; hardware exceptions with the code exactly when the
 * vector pushes one (#DF #TS #NP #SS #GP #PF #AC #CP) in protected mode. */
static void test_event_injection_accepts(void **state)
{
    (void)state;
    struct vmcs12 *c = &c12;
    inject(c, INTR_TYPE_HW_EXCEPTION, VEC_GP, true);
    V(VM_ENTRY_EXCEPTION_ERROR_CODE) = 0x9f00;
    assert_ok();
    static const unsigned with_code[] = {VEC_DF, VEC_TS, VEC_NP, VEC_SS, VEC_GP, VEC_PF, VEC_AC, VEC_CP};
    for (unsigned v = 0; v < 32; v++) {
        bool code = false;
        for (unsigned k = 0; k < sizeof(with_code) / sizeof(with_code[0]); k++)
            code |= with_code[k] == v;
        baseline(c);
        inject(c, INTR_TYPE_HW_EXCEPTION, v, code);
        assert_ok();
        inject(c, INTR_TYPE_HW_EXCEPTION, v, !code);
        assert_fails(ENTRY_FAIL_CONTROLS, 0, "entry deliver-error-code matches the vector");
    }
    baseline(c);
    inject(c, INTR_TYPE_SW_EXCEPTION, VEC_BP, false);
    V(VM_ENTRY_INSTRUCTION_LEN) = 1;
    assert_ok();
    inject(c, INTR_TYPE_PRIV_SW_EXCEPTION, VEC_DB, false);
    V(VM_ENTRY_INSTRUCTION_LEN) = 15;
    assert_ok();
    V(VM_ENTRY_INSTRUCTION_LEN) = 16;
    assert_fails(ENTRY_FAIL_CONTROLS, 0, "entry instruction length 1..15");
    /* Real mode (unrestricted guest, CR0.PE = 0): no error code. */
    baseline(c);
    unrestricted(c);
    V(VM_ENTRY_CONTROLS) &= ~(uint64_t)ENTRY_IA32E_MODE_GUEST;
    V(GUEST_CR0) = CR0_NE | CR0_ET;
    inject(c, INTR_TYPE_HW_EXCEPTION, VEC_GP, false);
    assert_true(nested_check_controls(c, &ctx));
}

/* SDM 26.3.1.2: SS.DPL (the CPL) equals SS.RPL even for an unusable SS,
 * and TR/FS/GS bases are canonical whether or not the segment is usable;
 * unusable ES/DS/SS skip the other checks. */
static void test_unusable_segments(void **state)
{
    (void)state;
    struct vmcs12 *c = &c12;
    V(GUEST_SS_SELECTOR) = 0;
    V(GUEST_SS_AR_BYTES) = AR_UNUSABLE;
    V(GUEST_DS_AR_BYTES) = V(GUEST_ES_AR_BYTES) = AR_UNUSABLE | 0x1234f00U;
    V(GUEST_DS_BASE) = NONCANONICAL;
    assert_ok();
    V(GUEST_CS_AR_BYTES) = (AR_CODE64 & ~AR_TYPE_MASK) | 15; /* conforming, DPL 0 <= SS.DPL */
    V(GUEST_SS_AR_BYTES) = AR_UNUSABLE | DPL(3);
    assert_fails(ENTRY_FAIL_GUEST, 0, "guest SS DPL = RPL");
    baseline(c);
    V(GUEST_GS_BASE) = NONCANONICAL;
    assert_fails(ENTRY_FAIL_GUEST, 0, "guest FS/GS base canonical");
    V(GUEST_GS_SELECTOR) = 0x10;
    V(GUEST_GS_AR_BYTES) = AR_DATA;
    assert_fails(ENTRY_FAIL_GUEST, 0, "guest FS/GS base canonical");
}

/* SDM 26.2.1.2 / 26.2.1.3: MSR-load/store areas are 16-byte aligned, end
 * within the address width and (nestvisor) lie in L1's RAM; an empty list
 * is not checked. */
static void test_msr_list_addresses(void **state)
{
    (void)state;
    struct vmcs12 *c = &c12;
    msr_list(c, VMCS_IDX_VM_ENTRY_MSR_LOAD_ADDR, VMCS_IDX_VM_ENTRY_MSR_LOAD_COUNT, MSR_LIST_PA + 4, 1);
    assert_fails(ENTRY_FAIL_CONTROLS, 0, "VM-entry MSR-load list valid");
    msr_list(c, VMCS_IDX_VM_ENTRY_MSR_LOAD_ADDR, VMCS_IDX_VM_ENTRY_MSR_LOAD_COUNT, L1_RAM_END - 16, 1);
    assert_ok();
    /* Beyond L1's RAM but within the width: accepted, as by the CPU (issue
     * 13: an L1 leaving such an address in its VMCS saw every later
     * VMLAUNCH fail); the entries read there are all ones and fail when
     * used (msrlist.c). Up to the very end of the width. */
    msr_list(c, VMCS_IDX_VM_ENTRY_MSR_LOAD_ADDR, VMCS_IDX_VM_ENTRY_MSR_LOAD_COUNT, L1_RAM_END - 16, 2);
    assert_ok();
    msr_list(c, VMCS_IDX_VM_EXIT_MSR_STORE_ADDR, VMCS_IDX_VM_EXIT_MSR_STORE_COUNT, PHYS_MASK + 1 - 48, 3);
    assert_ok();
    msr_list(c, VMCS_IDX_VM_EXIT_MSR_STORE_ADDR, VMCS_IDX_VM_EXIT_MSR_STORE_COUNT, PHYS_MASK + 1 - 48, 4);
    assert_fails(ENTRY_FAIL_CONTROLS, 0, "VM-exit MSR-store list valid");
    msr_list(c, VMCS_IDX_VM_EXIT_MSR_STORE_ADDR, VMCS_IDX_VM_EXIT_MSR_STORE_COUNT, 0, 0);
    /* Wrapping around the address space is no valid list. */
    msr_list(c, VMCS_IDX_VM_ENTRY_MSR_LOAD_ADDR, VMCS_IDX_VM_ENTRY_MSR_LOAD_COUNT, ~0ULL - 15, 2);
    assert_fails(ENTRY_FAIL_CONTROLS, 0, "VM-entry MSR-load list valid");
}

/* The APIC-virtualization settings a KVM L1 uses pass: TPR shadow with
 * APIC-access virtualization (flexpriority), x2APIC virtualization with
 * register virtualization and virtual-interrupt delivery, posted
 * interrupts where the CPU has them; a VTPR beyond RAM reads as all ones. */
static void test_apic_virtualization_accepted(void **state)
{
    (void)state;
    struct vmcs12 *c = &c12;
    tpr_shadow(c);
    V(TPR_THRESHOLD) = 2;
    *(uint32_t *)phys_to_virt(VAPIC_PA + 0x80) = 0x20;
    V(SECONDARY_VM_EXEC_CONTROL) |= PROC2_VIRT_APIC_ACCESS;
    V(APIC_ACCESS_ADDR) = APIC_ACC_PA;
    assert_ok();
    V(SECONDARY_VM_EXEC_CONTROL) &= ~(uint64_t)PROC2_VIRT_APIC_ACCESS;
    V(VIRTUAL_APIC_PAGE_ADDR) = L1_RAM_END; /* beyond RAM: VTPR all ones */
    V(TPR_THRESHOLD) = 0xf;
    assert_ok();
    baseline(c);
    vid(c);
    V(SECONDARY_VM_EXEC_CONTROL) |= PROC2_VIRT_X2APIC_MODE | PROC2_APIC_REG_VIRT;
    V(TPR_THRESHOLD) = 0xff; /* bits 31:4 are free with virtual-interrupt delivery */
    assert_ok();
    baseline(c);
    posted(c);
    assert_ok();
}

/* PML, VM functions with EPTP switching and #VE together pass; their
 * addresses need alignment and the width only (SDM 26.2.1.1): beyond L1's
 * RAM the CPU writes or reads there, and L0 as L1 reaches it. "Enable VM
 * functions" with no function enabled needs no EPTP list; #VE needs no
 * EPT of its own. An out-of-range PML index is no entry failure (the log
 * is full at the first access that would log). */
static void test_ept_features_accepted(void **state)
{
    (void)state;
    struct vmcs12 *c = &c12;
    ept_features(c, PROC2_ENABLE_PML | PROC2_ENABLE_VMFUNC | PROC2_EPT_VIOLATION_VE);
    assert_ok();
    V(PML_ADDRESS) = L1_RAM_END;
    V(EPTP_LIST_ADDRESS) = PHYS_MASK + 1 - 0x1000;
    V(VE_INFO_ADDRESS) = 0x20000000;
    V(GUEST_PML_INDEX) = 0xffff;
    assert_ok();
    V(VM_FUNCTION_CONTROL) = 0;
    V(EPTP_LIST_ADDRESS) = 0x123; /* unused without EPTP switching */
    assert_ok();
    baseline(c);
    no_ept(c);
    ept_features(c, PROC2_EPT_VIOLATION_VE);
    assert_ok();
}

/* The bitmap addresses need alignment and the width only (SDM 26.2.1.1);
 * beyond L1's RAM they read as all ones (nested/bitmaps.c). */
static void test_bitmaps_beyond_ram(void **state)
{
    (void)state;
    struct vmcs12 *c = &c12;
    V(IO_BITMAP_A) = L1_RAM_END;
    V(IO_BITMAP_B) = PHYS_MASK + 1 - 0x1000;
    V(MSR_BITMAP) = 0x20000000;
    assert_ok();
}

/* VMCS shadowing for L2 (SDM 25.10): the bitmaps need alignment and the
 * width only (26.2.1.1; beyond L1's RAM they read as all ones); the link
 * pointer may be all ones (L2's VMREAD/VMWRITE then fail invalid) or name a
 * shadow VMCS, and bit 31 of its revision dword must be the control's
 * setting both ways (26.3.1.5); outside "activate secondary controls" the
 * secondary controls do not count. */
static void test_vmcs_shadowing(void **state)
{
    (void)state;
    struct vmcs12 *c = &c12;
    shadowing(c);
    assert_ok();
    V(VMREAD_BITMAP) = L1_RAM_END;
    V(VMWRITE_BITMAP) = PHYS_MASK + 1 - 0x1000;
    assert_ok();
    V(VMCS_LINK_POINTER) = VMCS_LINK_NONE;
    assert_ok();
    /* The bitmap addresses matter only with shadowing on. */
    baseline(c);
    V(VMREAD_BITMAP) = 0x123;
    V(VMWRITE_BITMAP) = ~0ULL;
    assert_ok();
    /* A shadow VMCS without shadowing, an ordinary one with it. */
    V(VMCS_LINK_POINTER) = SHADOW_PA;
    assert_fails(ENTRY_FAIL_GUEST, ENTRY_FAIL_VMCS_LINK, LINK_SHADOW_CHECK);
    baseline(c);
    mut_link_shadow_missing(c, &ctx);
    assert_fails(ENTRY_FAIL_GUEST, ENTRY_FAIL_VMCS_LINK, LINK_SHADOW_CHECK);
    /* Shadowing in the field but secondary controls off: not in effect. */
    baseline(c);
    shadowing(c);
    V(VMREAD_BITMAP) = 0x123;
    V(SECONDARY_VM_EXEC_CONTROL) &= ~(uint64_t)PROC2_ENABLE_EPT;
    V(CPU_BASED_VM_EXEC_CONTROL) &= ~(uint64_t)PROC_SECONDARY_CONTROLS;
    assert_fails(ENTRY_FAIL_GUEST, ENTRY_FAIL_VMCS_LINK, LINK_SHADOW_CHECK);
    V(VMCS_LINK_POINTER) = LINK_PA;
    assert_ok();
    /* The shadow VMCS may not be the current VMCS. */
    baseline(c);
    shadowing(c);
    ctx.current_vmcs = SHADOW_PA;
    assert_fails(ENTRY_FAIL_GUEST, ENTRY_FAIL_VMCS_LINK, LINK_CURRENT_CHECK);
}

/* SDM 26.2.4: "IA-32e mode guest" with a 32-bit host is refused, in
 * either mode of L1, by a check before "IA-32e guest needs a 64-bit host":
 * outside IA-32e mode by "IA-32e guest needs a host in IA-32e mode", inside
 * it by "a host in IA-32e mode needs host address-space size". That check
 * cannot fail on its own. */
static void test_unreachable_ia32e_host_check(void **state)
{
    (void)state;
    struct vmcs12 *c = &c12;
    V(VM_EXIT_CONTROLS) &= ~(uint64_t)(EXIT_HOST_ADDR_SPACE_SIZE | EXIT_LOAD_EFER);
    for (int lm = 0; lm < 2; lm++) {
        ctx.l1_long_mode = lm;
        assert_fails(ENTRY_FAIL_HOST, 0,
                     lm ? "a host in IA-32e mode needs host address-space size"
                        : "IA-32e guest needs a host in IA-32e mode");
    }
}

/* The check names in the sources, each with a case (or listed as
 * unreachable). */
static void test_every_check_has_a_case(void **state)
{
    (void)state;
    static const char *const files[] = {"vmm/nested/checks.c", "vmm/nested/checks_guest.c"};
    unsigned found = 0;
    for (unsigned f = 0; f < 2; f++) {
        FILE *fp = fopen(files[f], "r");
        if (!fp)
            fail_msg("cannot open %s (tests run from the repository root)", files[f]);
        static char src[1 << 17];
        size_t n = fread(src, 1, sizeof(src) - 1, fp);
        fclose(fp);
        src[n] = 0;
        for (char *p = strstr(src, "CHECK("); p; p = strstr(p + 1, "CHECK(")) {
            if (p > src && (p[-1] == '_' || (p[-1] >= 'A' && p[-1] <= 'Z')))
                continue;
            char *end = strstr(p, ");");
            assert_non_null(end);
            /* The name is the last string literal before ");". */
            char *q = end;
            while (q > p && *q != '"')
                q--;
            char *open = q - 1;
            while (open > p && *open != '"')
                open--;
            assert_true(open > p && q > open);
            char name[160];
            size_t len = (size_t)(q - open - 1);
            assert_true(len < sizeof(name));
            memcpy(name, open + 1, len);
            name[len] = 0;
            found++;
            bool covered = false;
            for (unsigned i = 0; i < CASE_COUNT && !covered; i++)
                covered = !strcmp(cases[i].name, name);
            for (unsigned i = 0; i < sizeof(unreachable) / sizeof(unreachable[0]) && !covered; i++)
                covered = !strcmp(unreachable[i], name);
            if (!covered)
                fail_msg("%s: check '%s' has no case in tests/unit/test_nested_checks.c", files[f], name);
        }
    }
    assert_int_equal(found, CASE_COUNT + sizeof(unreachable) / sizeof(unreachable[0]));
}

/* ctx.static_checked (the controls are those of the last full check, and
 * nothing L1 wrote since had an exit): the checks that read only the
 * controls and fields L1 cannot change without an exit (host state, guest
 * segments other than CS/SS, descriptor tables, MSR-backed guest fields,
 * bitmap and list addresses) are skipped; the TPR threshold, the event to
 * inject, the guest state L1 can write through the shadow VMCS and the link
 * pointer (memory) are checked as always. */
static void test_static_checked_skips_static_groups(void **state)
{
    (void)state;
    struct vmcs12 *c = &c12;
    ctx.static_checked = true;
    static void (*const skipped[])(struct vmcs12 *, struct entry_context *) = {
        mut_host_cr0, mut_host_cs0, mut_host_pat, mut_as_long, mut_host_rip, mut_g_pat, mut_g_debugctl,
        mut_g_efer_rsvd, mut_g_sysenter, mut_ds_accessed, mut_tr_type, mut_ldtr_type, mut_fs_base,
        mut_dt_base, mut_pin_ctl, mut_io_a,
    };
    for (unsigned i = 0; i < sizeof(skipped) / sizeof(skipped[0]); i++) {
        baseline(c);
        skipped[i](c, &ctx);
        ctx.static_checked = true;
        assert_ok();
    }
    static const struct {
        void (*mutate)(struct vmcs12 *, struct entry_context *);
        enum entry_check_result cls;
        const char *name;
    } still[] = {
        {mut_tpr_vtpr, ENTRY_FAIL_CONTROLS, "TPR threshold not above VTPR[7:4]"},
        {mut_ev_code_missing, ENTRY_FAIL_CONTROLS, "entry deliver-error-code matches the vector"},
        {mut_g_cr0, ENTRY_FAIL_GUEST, "guest CR0 fixed bits"},
        {mut_g_efer_lma, ENTRY_FAIL_GUEST, "guest EFER.LMA = IA-32e mode guest"},
        {mut_cs_db, ENTRY_FAIL_GUEST, "guest 64-bit CS has D/B 0"},
        {mut_ss_type, ENTRY_FAIL_GUEST, "guest SS type 3 or 7"},
        {mut_rip64, ENTRY_FAIL_GUEST, "guest RIP canonical in 64-bit mode"},
        {mut_rflags_rsvd, ENTRY_FAIL_GUEST, "guest RFLAGS reserved bits"},
        {mut_sti_if, ENTRY_FAIL_GUEST, "STI blocking needs RFLAGS.IF"},
        {mut_g_cr3, ENTRY_FAIL_GUEST, "guest CR3 within the physical-address width"},
    };
    for (unsigned i = 0; i < sizeof(still) / sizeof(still[0]); i++) {
        baseline(c);
        still[i].mutate(c, &ctx);
        ctx.static_checked = true;
        assert_fails(still[i].cls, ENTRY_FAIL_DEFAULT, still[i].name);
    }
    /* The VMCS link pointer reads L1 memory, which L1 changes without an
     * exit (the revision dword of a shadow VMCS, SDM 26.3.1.5): checked. */
    static void (*const link[])(struct vmcs12 *, struct entry_context *) = {
        mut_link_addr, mut_link_rev, mut_link_shadow_unwanted, mut_link_shadow_missing, mut_link_current,
    };
    static const char *const link_names[] = {
        "VMCS link pointer valid", "VMCS link pointer names a VMCS of this revision", LINK_SHADOW_CHECK,
        LINK_SHADOW_CHECK, LINK_CURRENT_CHECK,
    };
    for (unsigned i = 0; i < sizeof(link) / sizeof(link[0]); i++) {
        baseline(c);
        setup(0);
        link[i](c, &ctx);
        ctx.static_checked = true;
        assert_fails(ENTRY_FAIL_GUEST, ENTRY_FAIL_VMCS_LINK, link_names[i]);
    }
    /* The PDPTEs are in the shadow set's reach (CR0/CR3/CR4 are): checked. */
    baseline(c);
    mut_pdpte(c, &ctx);
    ctx.static_checked = true;
    assert_fails(ENTRY_FAIL_GUEST, ENTRY_FAIL_PDPTE, "guest PDPTEs valid");
}

/* The groups one by one (the entry points the header offers for tests). */
static void test_groups(void **state)
{
    (void)state;
    uint64_t q = 7;
    assert_true(nested_check_controls(&c12, &ctx));
    assert_true(nested_check_host_state(&c12, &ctx));
    assert_true(nested_check_guest_state(&c12, &ctx, &q));
    assert_int_equal(q, ENTRY_FAIL_DEFAULT);
    mut_host_tr0(&c12, &ctx);
    assert_false(nested_check_host_state(&c12, &ctx));
    assert_string_equal(nested_check_failed_name(), "host TR selector not null");
    /* A failed name stays until the next full run resets it. */
    assert_true(nested_check_guest_state(&c12, &ctx, &q));
    baseline(&c12);
    assert_ok();
}

int main(void)
{
    static struct CMUnitTest tests[CASE_COUNT + 16];
    static char names[CASE_COUNT][200];
    unsigned n = 0;
    tests[n++] = (struct CMUnitTest)cmocka_unit_test_setup(test_baseline_passes, setup);
    tests[n++] = (struct CMUnitTest)cmocka_unit_test_setup(test_valid_variants_pass, setup);
    for (unsigned i = 0; i < CASE_COUNT; i++) {
        snprintf(names[i], sizeof(names[i]), "fails: %s", cases[i].name);
        tests[n++] = (struct CMUnitTest){names[i], run_case, setup, 0, (void *)&cases[i]};
    }
    tests[n++] = (struct CMUnitTest)cmocka_unit_test_setup(test_event_injection_accepts, setup);
    tests[n++] = (struct CMUnitTest)cmocka_unit_test_setup(test_msr_list_addresses, setup);
    tests[n++] = (struct CMUnitTest)cmocka_unit_test_setup(test_bitmaps_beyond_ram, setup);
    tests[n++] = (struct CMUnitTest)cmocka_unit_test_setup(test_vmcs_shadowing, setup);
    tests[n++] = (struct CMUnitTest)cmocka_unit_test_setup(test_ept_features_accepted, setup);
    tests[n++] = (struct CMUnitTest)cmocka_unit_test_setup(test_apic_virtualization_accepted, setup);
    tests[n++] = (struct CMUnitTest)cmocka_unit_test_setup(test_unusable_segments, setup);
    tests[n++] = (struct CMUnitTest)cmocka_unit_test_setup(test_unreachable_ia32e_host_check, setup);
    tests[n++] = (struct CMUnitTest)cmocka_unit_test_setup(test_every_check_has_a_case, setup);
    tests[n++] = (struct CMUnitTest)cmocka_unit_test_setup(test_static_checked_skips_static_groups, setup);
    tests[n++] = (struct CMUnitTest)cmocka_unit_test_setup(test_groups, setup);
    return _cmocka_run_group_tests("nested_checks", tests, n, 0, 0);
}
