#include "vmm/nested/vmcs02.h"
#include "vmm/nested/vmx_msrs.h"
#include "vmm/nested/fieldsets.h"
#include "vmm/nested/bitmaps.h"
#include "vmm/nested/msrlist.h"
#include "vmm/nested/ept02.h"
#include "vmm/msr.h"
#include "vmm/pmm.h"
#include "vmm/smp.h"
#include "vmm/vm.h"
#include "arch/x86/apic.h"
#include "arch/x86/cpu.h"
#include "arch/x86/cpu_bits.h"
#include "arch/x86/msr_index.h"
#include "arch/x86/physmem.h"
#include "arch/x86/vmx.h"
#include "arch/x86/vmx_bits.h"
#include "arch/x86/vmx_root.h"
#include "lib/string.h"

#define BITMAP_BYTES     4096
#define PAE_PDPTE_COUNT  4
#define DR7_INIT         0x400ULL
#define L1_TSC_OFFSET    0 /* L1 runs with the host's TSC */
#define HOST_SEG_LIMIT   0xffffffffU
#define HOST_TR_LIMIT    0x67U
#define HOST_DT_LIMIT    0xffffU
#define POSTED_INTR_DESC_SIZE 64 /* SDM 30.6 */

/* L0 always needs these for L2: its own host state back, L2's EFER/PAT. */
#define L0_EXIT_CONTROLS                                                                           \
    (EXIT_HOST_ADDR_SPACE_SIZE | EXIT_SAVE_EFER | EXIT_LOAD_EFER | EXIT_SAVE_PAT | EXIT_LOAD_PAT | \
     EXIT_SAVE_DEBUG_CONTROLS)
#define L0_ENTRY_CONTROLS (ENTRY_LOAD_EFER | ENTRY_LOAD_PAT | ENTRY_LOAD_DEBUG_CONTROLS)

/* NMIs always exit to L0 (how L0 reaches the CPU, vmm/nmi.c); with
 * virtual NMIs, L2's NMI blocking is virtual-NMI blocking, which the CPU
 * sets when L0 injects an NMI and clears at L2's IRET, as for a real NMI. */
uint32_t vmcs02_pin(uint32_t pin12, struct vmx_ctl hw)
{
    uint32_t nmi = (hw.may1 & PIN_VIRTUAL_NMIS) ? PIN_NMI_EXITING | PIN_VIRTUAL_NMIS : 0;
    return vmx_ctl_adjust(hw, pin12 | nmi, 0);
}

uint32_t vmcs02_proc(uint32_t proc12, struct vmx_ctl hw)
{
    uint32_t proc = proc12 | PROC_SECONDARY_CONTROLS;
    /* I/O: L1's bitmaps merged with L0's; unconditional exiting if L1 asks
     * for it without bitmaps; otherwise L0's own bitmaps (SDM 25.6.4). */
    if (proc12 & PROC_USE_IO_BITMAPS)
        proc &= ~PROC_UNCOND_IO_EXITING;
    else if (!(proc12 & PROC_UNCOND_IO_EXITING))
        proc |= PROC_USE_IO_BITMAPS;
    /* Without MSR bitmaps in vmcs12 every MSR access exits (to L1). */
    return vmx_ctl_adjust(hw, proc, 0);
}

uint32_t vmcs02_proc2(uint32_t proc12, uint32_t proc2_12, struct vmx_ctl hw)
{
    uint32_t proc2 = (proc12 & PROC_SECONDARY_CONTROLS) ? proc2_12 : 0;
    /* PML and #VE are L0's to emulate for L1 (eptfeat.c): the CPU's would
     * log and deliver for EPT02, not EPT12. VM functions stay on, with no
     * function enabled (write_feature_fields), so VMFUNC exits to L0. */
    proc2 &= ~(PROC2_ENABLE_PML | PROC2_EPT_VIOLATION_VE);
    /* L2 always runs under EPT (EPT01, or EPT02 when L1 gives it an EPT)
     * and on its own VPID. Its VMREAD/VMWRITE always exit: L0 consults
     * L1's bitmaps and serves them from L1's shadow vmcs12 (shadow12.c). */
    proc2 |= PROC2_ENABLE_EPT | PROC2_ENABLE_VPID;
    proc2 &= ~PROC2_VMCS_SHADOWING;
    return vmx_ctl_adjust(hw, proc2 & hw.may1, 0);
}

uint32_t vmcs02_exit(uint32_t exit12, struct vmx_ctl hw)
{
    return vmx_ctl_adjust(hw, L0_EXIT_CONTROLS | (exit12 & (EXIT_ACK_INTR_ON_EXIT | EXIT_SAVE_PREEMPT_TIMER)), 0);
}

uint32_t vmcs02_entry(uint32_t entry12, struct vmx_ctl hw)
{
    return vmx_ctl_adjust(hw, L0_ENTRY_CONTROLS | (entry12 & ENTRY_IA32E_MODE_GUEST), 0);
}

/* Without "load IA32_EFER", L2 gets L1's EFER with LMA/LME from the
 * "IA-32e mode guest" control (SDM 26.3.2.1). */
uint64_t vmcs02_guest_efer(const struct vmcs12 *c, uint64_t l1_efer)
{
    if (VMCS12(c, VM_ENTRY_CONTROLS) & ENTRY_LOAD_EFER)
        return VMCS12(c, GUEST_IA32_EFER);
    if (VMCS12(c, VM_ENTRY_CONTROLS) & ENTRY_IA32E_MODE_GUEST)
        return l1_efer | EFER_LMA | EFER_LME;
    return l1_efer & ~(EFER_LMA | EFER_LME);
}

void bitmap_merge(uint8_t *dst, const uint8_t *a, const uint8_t *b)
{
    uint64_t *d = (uint64_t *)dst;
    const uint64_t *x = (const uint64_t *)a, *y = (const uint64_t *)b;
    for (unsigned i = 0; i < BITMAP_BYTES / 8; i++)
        d[i] = x[i] | y[i];
}

bool vmcs02_create(struct vcpu *v)
{
    struct nested_vmx *n = v->nested;
    static const enum vmcs_field host_fields[] = {
        VMCS_HOST_CR0, VMCS_HOST_CR3, VMCS_HOST_CR4, VMCS_HOST_ES_SELECTOR, VMCS_HOST_CS_SELECTOR,
        VMCS_HOST_SS_SELECTOR, VMCS_HOST_DS_SELECTOR, VMCS_HOST_FS_SELECTOR, VMCS_HOST_GS_SELECTOR,
        VMCS_HOST_TR_SELECTOR, VMCS_HOST_FS_BASE, VMCS_HOST_GS_BASE, VMCS_HOST_TR_BASE,
        VMCS_HOST_GDTR_BASE, VMCS_HOST_IDTR_BASE, VMCS_HOST_IA32_SYSENTER_CS,
        VMCS_HOST_IA32_SYSENTER_ESP, VMCS_HOST_IA32_SYSENTER_EIP, VMCS_HOST_IA32_EFER,
        VMCS_HOST_IA32_PAT, VMCS_HOST_RSP, VMCS_HOST_RIP};
    enum { HOST_FIELDS = sizeof(host_fields) / sizeof(host_fields[0]) };
    uint64_t values[HOST_FIELDS];
    for (unsigned i = 0; i < HOST_FIELDS; i++)
        values[i] = vmcs_read(host_fields[i]);
    n->vmcs02 = pmm_alloc_page();
    n->msr_bitmap02 = pmm_alloc_page();
    n->io_bitmap02_a = pmm_alloc_page();
    n->io_bitmap02_b = pmm_alloc_page();
    n->scratch02 = pmm_alloc_page();
    if (!n->vmcs02 || !n->msr_bitmap02 || !n->io_bitmap02_a || !n->io_bitmap02_b || !n->scratch02 ||
        !vmcs_region_init(the_vm.caps, n->vmcs02, false) || !vmcs_load(n->vmcs02))
        return false;
    for (unsigned i = 0; i < HOST_FIELDS; i++)
        vmcs_write(host_fields[i], values[i]);
    vmcs_write(VMCS_VMCS_LINK_POINTER, VMCS_LINK_NONE);
    vmcs_write(VMCS_EPT_POINTER, the_vm.eptp01);
    vmcs_write(VMCS_VPID, NESTED_VPID02);
    vmcs_write(VMCS_VM_EXIT_MSR_STORE_COUNT, 0);
    vmcs_write(VMCS_VM_EXIT_MSR_LOAD_COUNT, 0);
    vmcs_write(VMCS_VM_ENTRY_MSR_LOAD_COUNT, 0);
    vmcs_write(VMCS_MSR_BITMAP, n->msr_bitmap02);
    vmcs_load(v->vmcs01);
    return true;
}

bool vmcs12_ept_enabled(const struct vmcs12 *c)
{
    return (VMCS12(c, CPU_BASED_VM_EXEC_CONTROL) & PROC_SECONDARY_CONTROLS) &&
           (VMCS12(c, SECONDARY_VM_EXEC_CONTROL) & PROC2_ENABLE_EPT);
}

static bool l2_pae_paging(const struct vmcs12 *c)
{
    return (VMCS12(c, GUEST_CR0) & CR0_PG) && (VMCS12(c, GUEST_CR4) & CR4_PAE) &&
           !(VMCS12(c, VM_ENTRY_CONTROLS) & ENTRY_IA32E_MODE_GUEST);
}

/* L2's PAE PDPTEs: under EPT12 they are vmcs12's (checked with the guest
 * state); under EPT01 L0 reads them from L2's CR3 in L1 memory. */
static bool load_pdptes(const struct vmcs12 *c)
{
    if (!l2_pae_paging(c))
        return true;
    if (!vmcs12_ept_enabled(c))
        return vcpu_load_pae_pdptes(VMCS12(c, GUEST_CR3));
    for (unsigned i = 0; i < PAE_PDPTE_COUNT; i++)
        vmcs_write((enum vmcs_field)vmcs12_fields[VMCS_IDX_GUEST_PDPTE0 + i].encoding,
                   c->field[VMCS_IDX_GUEST_PDPTE0 + i]);
    return true;
}


/* L2's rare guest state is read only when L1 could notice it missing. */
void nested_sync_rare(struct vcpu *v)
{
    struct nested_vmx *n = v->nested;
    if (!n->rare_stale)
        return;
    vmcs_load(n->vmcs02);
    fieldset_read(n->cache, &fieldsets.guest_rare);
    vmcs_load(v->vmcs01);
    n->rare_stale = false;
}

/* The host-physical page the CPU is to use for an L1 page vmcs02 names:
 * where L1's own accesses to it go (its RAM, or the sink), else the
 * vCPU's scratch page (a device: L1 could not reach memory there either).
 * Never L0's. */
static uint64_t l1_page_for_cpu(struct nested_vmx *n, uint64_t l1_pa, uint64_t len)
{
    void *p = vm_l1_view(l1_pa, len);
    return p ? virt_to_phys(p) : n->scratch02 | (l1_pa & (PAGE_SIZE - 1));
}

/* Fields of the features L1 was offered besides the basic ones, written
 * only when vmcs02 uses them (SDM 25.6.8 APIC virtualization, 25.6.13
 * PAUSE-loop exiting, 25.6.20 XSS-exiting bitmap, 25.6.5 TSC multiplier). */
static void write_feature_fields(struct vcpu *v, const struct vmcs12 *c, uint32_t proc, uint32_t proc2,
                                 uint32_t pin)
{
    struct nested_vmx *n = v->nested;
    if (proc & PROC_TPR_SHADOW) {
        uint64_t vapic = l1_page_for_cpu(n, VMCS12(c, VIRTUAL_APIC_PAGE_ADDR), PAGE_SIZE);
        n->vapic_on_scratch = (vapic & ~(PAGE_SIZE - 1)) == n->scratch02;
        vmcs_write(VMCS_VIRTUAL_APIC_PAGE_ADDR, vapic);
    }
    /* Only compared with the translation of L2's accesses (EPT02 never
     * leads to L0's pages), never accessed itself. */
    if (proc2 & PROC2_VIRT_APIC_ACCESS)
        vmcs_write(VMCS_APIC_ACCESS_ADDR, VMCS12(c, APIC_ACCESS_ADDR));
    if (proc2 & PROC2_VIRT_INTR_DELIVERY) {
        vmcs_write(VMCS_EOI_EXIT_BITMAP0, VMCS12(c, EOI_EXIT_BITMAP0));
        vmcs_write(VMCS_EOI_EXIT_BITMAP1, VMCS12(c, EOI_EXIT_BITMAP1));
        vmcs_write(VMCS_EOI_EXIT_BITMAP2, VMCS12(c, EOI_EXIT_BITMAP2));
        vmcs_write(VMCS_EOI_EXIT_BITMAP3, VMCS12(c, EOI_EXIT_BITMAP3));
    }
    if (pin & PIN_POSTED_INTERRUPTS) {
        vmcs_write(VMCS_POSTED_INTR_NV, VMCS12(c, POSTED_INTR_NV));
        vmcs_write(VMCS_POSTED_INTR_DESC_ADDR,
                   l1_page_for_cpu(n, VMCS12(c, POSTED_INTR_DESC_ADDR), POSTED_INTR_DESC_SIZE));
    }
    if (proc2 & PROC2_PAUSE_LOOP_EXITING) {
        vmcs_write(VMCS_PLE_GAP, VMCS12(c, PLE_GAP));
        vmcs_write(VMCS_PLE_WINDOW, VMCS12(c, PLE_WINDOW));
    }
    if (proc2 & PROC2_ENABLE_XSAVES)
        vmcs_write(VMCS_XSS_EXIT_BITMAP, VMCS12(c, XSS_EXIT_BITMAP));
    /* L1 runs on the host's TSC (no offset, no scaling): L2's is L1's
     * multiplier and offset as L1 set them. */
    if (proc2 & PROC2_TSC_SCALING)
        vmcs_write(VMCS_TSC_MULTIPLIER, VMCS12(c, TSC_MULTIPLIER));
    /* SDM 26.5.6.1: with no function enabled every VMFUNC of L2 is a VM
     * exit, and L0 does EPTP switching itself (eptfeat.c). */
    if (proc2 & PROC2_ENABLE_VMFUNC)
        vmcs_write(VMCS_VM_FUNCTION_CONTROL, 0);
}

/* Fields that only a VMWRITE with an exit (which clears
 * vmcs02_for_current) or a change of the controls can make stale. */
static void write_unshadowed_controls(struct vcpu *v, const struct vmcs12 *c, uint32_t proc)
{
    vmcs_write(VMCS_PAGE_FAULT_ERROR_CODE_MASK, VMCS12(c, PAGE_FAULT_ERROR_CODE_MASK));
    vmcs_write(VMCS_PAGE_FAULT_ERROR_CODE_MATCH, VMCS12(c, PAGE_FAULT_ERROR_CODE_MATCH));
    /* CR masks (and read shadows) are L1's: VMX-fixed bits of L2's CRs are
     * enforced by the CPU itself (SDM 24.8). */
    vmcs_write(VMCS_CR0_GUEST_HOST_MASK, VMCS12(c, CR0_GUEST_HOST_MASK));
    vmcs_write(VMCS_CR4_GUEST_HOST_MASK, VMCS12(c, CR4_GUEST_HOST_MASK));
    vmcs_write(VMCS_CR3_TARGET_COUNT, VMCS12(c, CR3_TARGET_COUNT));
    vmcs_write(VMCS_CR3_TARGET_VALUE0, VMCS12(c, CR3_TARGET_VALUE0));
    vmcs_write(VMCS_CR3_TARGET_VALUE1, VMCS12(c, CR3_TARGET_VALUE1));
    vmcs_write(VMCS_CR3_TARGET_VALUE2, VMCS12(c, CR3_TARGET_VALUE2));
    vmcs_write(VMCS_CR3_TARGET_VALUE3, VMCS12(c, CR3_TARGET_VALUE3));
    write_feature_fields(v, c, proc, vmcs_read32(VMCS_SECONDARY_VM_EXEC_CONTROL),
                         vmcs_read32(VMCS_PIN_BASED_VM_EXEC_CONTROL));
}

static void write_controls(struct vcpu *v, const struct vmcs12 *c, bool full)
{
    struct nested_vmx *n = v->nested;
    const struct vmx_caps *hw = the_vm.caps;
    uint32_t ctls[5] = {(uint32_t)VMCS12(c, PIN_BASED_VM_EXEC_CONTROL), (uint32_t)VMCS12(c, CPU_BASED_VM_EXEC_CONTROL),
                        (uint32_t)VMCS12(c, SECONDARY_VM_EXEC_CONTROL), (uint32_t)VMCS12(c, VM_EXIT_CONTROLS),
                        (uint32_t)VMCS12(c, VM_ENTRY_CONTROLS)};
    uint32_t proc12 = ctls[1], proc2_12 = ctls[2];
    uint32_t proc = vmcs02_proc(proc12, hw->proc);
    vmcs_write(VMCS_PIN_BASED_VM_EXEC_CONTROL, vmcs02_pin(ctls[0], hw->pin));
    vmcs_write(VMCS_CPU_BASED_VM_EXEC_CONTROL, proc);
    vmcs_write(VMCS_SECONDARY_VM_EXEC_CONTROL, vmcs02_proc2(proc12, proc2_12, hw->proc2));
    vmcs_write(VMCS_VM_EXIT_CONTROLS, vmcs02_exit(ctls[3], hw->exit));
    vmcs_write(VMCS_VM_ENTRY_CONTROLS, vmcs02_entry(ctls[4], hw->entry));
    /* The shadowed companions: L1 writes them without an exit. */
    vmcs_write(VMCS_EXCEPTION_BITMAP, VMCS12(c, EXCEPTION_BITMAP));
    vmcs_write(VMCS_CR0_READ_SHADOW, VMCS12(c, CR0_READ_SHADOW));
    vmcs_write(VMCS_CR4_READ_SHADOW, VMCS12(c, CR4_READ_SHADOW));
    bool same = !full;
    for (unsigned i = 0; i < sizeof(ctls) / sizeof(ctls[0]); i++) {
        same = same && ctls[i] == n->written_ctls[i];
        n->written_ctls[i] = ctls[i];
    }
    if (!same)
        write_unshadowed_controls(v, c, proc);
    if (proc12 & PROC_TPR_SHADOW) {
        vmcs_write(VMCS_TPR_THRESHOLD, VMCS12(c, TPR_THRESHOLD));
        /* A virtual-APIC page on a device reads as all ones (the entry
         * checks read VTPR so): the stand-in page does too at each entry,
         * whatever L2 wrote there. */
        if (n->vapic_on_scratch)
            *(uint32_t *)((uint8_t *)phys_to_virt(n->scratch02) + XAPIC_TPR) = ~0U; /* VTPR, SDM 30.1 */
    }
    uint64_t tsc_offset = L1_TSC_OFFSET;
    if (proc12 & PROC_TSC_OFFSETTING)
        tsc_offset += VMCS12(c, TSC_OFFSET);
    vmcs_write(VMCS_TSC_OFFSET, tsc_offset);
    vmcs_write(VMCS_VM_ENTRY_INTR_INFO_FIELD, VMCS12(c, VM_ENTRY_INTR_INFO_FIELD));
    vmcs_write(VMCS_VM_ENTRY_EXCEPTION_ERROR_CODE, VMCS12(c, VM_ENTRY_EXCEPTION_ERROR_CODE));
    vmcs_write(VMCS_VM_ENTRY_INSTRUCTION_LEN, VMCS12(c, VM_ENTRY_INSTRUCTION_LEN));
    vmcs02_merge_bitmaps(v);
}

void vmcs02_merge_bitmaps(struct vcpu *v)
{
    struct nested_vmx *n = v->nested;
    const struct vmcs12 *c = n->cache;
    uint32_t proc12 = (uint32_t)VMCS12(c, CPU_BASED_VM_EXEC_CONTROL);
    uint32_t proc = vmcs02_proc(proc12, the_vm.caps->proc);
    /* An exit if L0 or L1 wants it. */
    if (proc12 & PROC_USE_MSR_BITMAPS)
        nested_bitmap_merge(&n->bitmaps, BITMAP_MSR, n->msr_bitmap02, the_vm.msr_bitmap, VMCS12(c, MSR_BITMAP));
    else
        nested_bitmap_unused(&n->bitmaps, BITMAP_MSR);
    if (!(proc12 & PROC_USE_IO_BITMAPS)) {
        nested_bitmap_unused(&n->bitmaps, BITMAP_IO_A);
        nested_bitmap_unused(&n->bitmaps, BITMAP_IO_B);
    }
    if (proc & PROC_USE_IO_BITMAPS) {
        if (proc12 & PROC_USE_IO_BITMAPS) {
            nested_bitmap_merge(&n->bitmaps, BITMAP_IO_A, n->io_bitmap02_a, the_vm.io_bitmap_a, VMCS12(c, IO_BITMAP_A));
            nested_bitmap_merge(&n->bitmaps, BITMAP_IO_B, n->io_bitmap02_b, the_vm.io_bitmap_b, VMCS12(c, IO_BITMAP_B));
            vmcs_write(VMCS_IO_BITMAP_A, n->io_bitmap02_a);
            vmcs_write(VMCS_IO_BITMAP_B, n->io_bitmap02_b);
        } else {
            vmcs_write(VMCS_IO_BITMAP_A, the_vm.io_bitmap_a);
            vmcs_write(VMCS_IO_BITMAP_B, the_vm.io_bitmap_b);
        }
    }
    /* After the merges: protecting a bitmap page drops every shadow EPT02,
     * and vmcs02 must not keep the EPTP of a dropped (freed) one. */
    vmcs02_load_eptp(v);
}

void nested_l1_stored(uint64_t l1_gpa, size_t len)
{
    (void)len; /* within one page */
    if (!nested_bitmap_is_protected(l1_gpa))
        return;
    /* L0 stored into a bitmap page for its guest (an operand of an
     * instruction it emulated, L2's VMWRITE into a shadow vmcs12): as the
     * guest's own store would (bitmap_write.c), past the protection. */
    struct vcpu *v = this_cpu()->vcpu;
    nested_bitmap_page_written();
    if (v->in_l2)
        vmcs02_merge_bitmaps(v);
    smp_nudge_l2_cpus(v);
}

void vmcs02_load_eptp(struct vcpu *v)
{
    struct nested_vmx *n = v->nested;
    const struct vmcs12 *c = n->cache;
    vmcs_write(VMCS_EPT_POINTER, vmcs12_ept_enabled(c) ? ept02_eptp_for(n->ept02, VMCS12(c, EPT_POINTER))
                                                        : the_vm.eptp01);
}

/* TLB: every vpid12 (and VPID-less L2) shares vpid02 (SDM 29.4.3). */
static void flush_vpid02_if_needed(struct nested_vmx *n, const struct vmcs12 *c)
{
    bool vpid12_on = (VMCS12(c, CPU_BASED_VM_EXEC_CONTROL) & PROC_SECONDARY_CONTROLS) &&
                     (VMCS12(c, SECONDARY_VM_EXEC_CONTROL) & PROC2_ENABLE_VPID);
    uint16_t vpid12 = (uint16_t)VMCS12(c, VPID);
    if (!vpid12_on || !n->vpid12_seen || vpid12 != n->last_vpid12)
        invvpid(INVVPID_SINGLE_CONTEXT, NESTED_VPID02, 0);
    n->vpid12_seen = vpid12_on;
    n->last_vpid12 = vpid12;
}

static bool vmcs12_shadowing(const struct vmcs12 *c)
{
    return (VMCS12(c, CPU_BASED_VM_EXEC_CONTROL) & PROC_SECONDARY_CONTROLS) &&
           (VMCS12(c, SECONDARY_VM_EXEC_CONTROL) & PROC2_VMCS_SHADOWING);
}

/* L1's VMCS shadowing for L2 (shadow12.c): where vmcs12's bitmaps and
 * shadow vmcs12 are in L1's RAM. */
void nested_shadow12_bind(struct nested_vmx *n)
{
    const struct vmcs12 *c = n->cache;
    n->shadow12.vmread_bitmap = n->shadow12.vmwrite_bitmap = 0;
    n->shadow12.region = 0;
    n->shadow12.on = vmcs12_shadowing(c);
    if (!n->shadow12.on)
        return;
    n->shadow12.vmread_bitmap = vm_l1_ram(VMCS12(c, VMREAD_BITMAP), PAGE_SIZE);
    n->shadow12.vmwrite_bitmap = vm_l1_ram(VMCS12(c, VMWRITE_BITMAP), PAGE_SIZE);
    /* In L1's RAM whenever L2 runs: the entry checks it (26.3.1.5). */
    uint64_t link = VMCS12(c, VMCS_LINK_POINTER);
    n->shadow12.region = link == VMCS_LINK_NONE ? 0 : vm_l1_ram(link, VMCS12_SIZE);
}

bool vmcs02_prepare(struct vcpu *v, const struct l1_inherit *l1, bool full)
{
    struct nested_vmx *n = v->nested;
    const struct vmcs12 *c = n->cache;
    write_controls(v, c, full);
    fieldset_write(c, &fieldsets.guest_hot);
    if (full)
        fieldset_write(c, &fieldsets.guest_rare);
    /* The bitmap and link-pointer fields exit on VMWRITE (then full is
     * set); the controls may change without an exit. */
    if (full || vmcs12_shadowing(c) != n->shadow12.on)
        nested_shadow12_bind(n);
    uint32_t entry12 = (uint32_t)VMCS12(c, VM_ENTRY_CONTROLS);
    vmcs_write(VMCS_GUEST_IA32_EFER, vmcs02_guest_efer(c, l1->efer));
    vmcs_write(VMCS_GUEST_IA32_PAT, (entry12 & ENTRY_LOAD_PAT) ? VMCS12(c, GUEST_IA32_PAT) : l1->pat);
    bool debug = entry12 & ENTRY_LOAD_DEBUG_CONTROLS;
    vmcs_write(VMCS_GUEST_IA32_DEBUGCTL, debug ? VMCS12(c, GUEST_IA32_DEBUGCTL) : l1->debugctl);
    vmcs_write(VMCS_GUEST_DR7, debug ? VMCS12(c, GUEST_DR7) : l1->dr7);
    flush_vpid02_if_needed(n, c);
    return load_pdptes(c);
}

void vmcs02_sync_to_vmcs12(struct vcpu *v)
{
    struct vmcs12 *c = v->nested->cache;
    /* Exit information (SDM 28.2). I/O RCX/RSI/RDI/RIP are left out: they
     * are defined only for SMIs after an I/O instruction (SDM 28.2.5),
     * which never exit to L1 here. */
    static const enum vmcs_field_index exit_info[] = {
        VMCS_IDX_VM_EXIT_REASON, VMCS_IDX_EXIT_QUALIFICATION, VMCS_IDX_VM_EXIT_INTR_INFO,
        VMCS_IDX_VM_EXIT_INTR_ERROR_CODE, VMCS_IDX_IDT_VECTORING_INFO_FIELD,
        VMCS_IDX_IDT_VECTORING_ERROR_CODE, VMCS_IDX_VM_EXIT_INSTRUCTION_LEN,
        VMCS_IDX_VMX_INSTRUCTION_INFO, VMCS_IDX_GUEST_LINEAR_ADDRESS,
        VMCS_IDX_GUEST_PHYSICAL_ADDRESS, VMCS_IDX_VM_ENTRY_INTR_INFO_FIELD};
    for (unsigned i = 0; i < sizeof(exit_info) / sizeof(exit_info[0]); i++)
        c->field[exit_info[i]] = vmcs_read((enum vmcs_field)vmcs12_fields[exit_info[i]].encoding);
    /* SDM 28.2.1: an instruction without a displacement (a register
     * operand) stores zero as the qualification; Bochs 2.7 leaves whatever
     * displacement it decoded last there (docs/bochs.md). */
    unsigned reason = VMCS12(c, VM_EXIT_REASON) & EXIT_REASON_BASIC_MASK;
    if ((reason == EXIT_REASON_VMREAD || reason == EXIT_REASON_VMWRITE || reason == EXIT_REASON_LDTR_TR) &&
        (VMCS12(c, VMX_INSTRUCTION_INFO) & VMX_INSN_INFO_REGISTER))
        VMCS12(c, EXIT_QUALIFICATION) = 0;
    uint64_t timer12 = VMCS12(c, VMX_PREEMPTION_TIMER_VALUE);
    fieldset_read(c, &fieldsets.guest_hot);
    fieldset_read(c, &fieldsets.guest_checked);
    v->nested->rare_stale = true;
    uint32_t exit12 = (uint32_t)VMCS12(c, VM_EXIT_CONTROLS);
    if (exit12 & EXIT_SAVE_EFER)
        VMCS12(c, GUEST_IA32_EFER) = vmcs_read(VMCS_GUEST_IA32_EFER);
    if (exit12 & EXIT_SAVE_PAT)
        VMCS12(c, GUEST_IA32_PAT) = vmcs_read(VMCS_GUEST_IA32_PAT);
    if (exit12 & EXIT_SAVE_DEBUG_CONTROLS) {
        VMCS12(c, GUEST_IA32_DEBUGCTL) = vmcs_read(VMCS_GUEST_IA32_DEBUGCTL);
        VMCS12(c, GUEST_DR7) = vmcs_read(VMCS_GUEST_DR7);
    }
    if (!(exit12 & EXIT_SAVE_PREEMPT_TIMER))
        VMCS12(c, VMX_PREEMPTION_TIMER_VALUE) = timer12;
    if (vmcs12_ept_enabled(c) && l2_pae_paging(c))
        for (unsigned i = 0; i < PAE_PDPTE_COUNT; i++)
            c->field[VMCS_IDX_GUEST_PDPTE0 + i] =
                vmcs_read((enum vmcs_field)vmcs12_fields[VMCS_IDX_GUEST_PDPTE0 + i].encoding);
    /* The CPU keeps "IA-32e mode guest" = EFER.LMA on exit (IA32_VMX_MISC bit 5). */
    uint32_t ia32e = vmcs_read32(VMCS_VM_ENTRY_CONTROLS) & ENTRY_IA32E_MODE_GUEST;
    VMCS12(c, VM_ENTRY_CONTROLS) = (VMCS12(c, VM_ENTRY_CONTROLS) & ~(uint64_t)ENTRY_IA32E_MODE_GUEST) | ia32e;
}

static void write_host_segment(enum vmcs_field sel_field, uint16_t sel, uint64_t base, uint32_t ar)
{
    unsigned i = (sel_field - VMCS_GUEST_ES_SELECTOR) / 2;
    bool unusable = sel == 0;
    vmcs_write(sel_field, sel);
    vmcs_write((enum vmcs_field)(VMCS_GUEST_ES_BASE + 2 * i), base);
    vmcs_write((enum vmcs_field)(VMCS_GUEST_ES_LIMIT + 2 * i), HOST_SEG_LIMIT);
    vmcs_write((enum vmcs_field)(VMCS_GUEST_ES_AR_BYTES + 2 * i), unusable ? AR_UNUSABLE : ar);
}

/* SDM 28.5.1-28.5.2: what L1 looks like right after the nested VM exit. */
bool vmcs12_load_host_state(struct vcpu *v)
{
    const struct vmcs12 *c = v->nested->cache;
    uint32_t exit12 = (uint32_t)VMCS12(c, VM_EXIT_CONTROLS);
    bool host64 = exit12 & EXIT_HOST_ADDR_SPACE_SIZE;
    const struct vmx_msrs *fixed = &the_vm.caps->raw;

    /* CR0/CR4: L1's values in the shadows, the CPU's with L0's bits. */
    uint64_t cr0 = VMCS12(c, HOST_CR0), cr4 = VMCS12(c, HOST_CR4);
    v->cr0_shadow = cr0;
    v->cr4_shadow = cr4;
    vmcs_write(VMCS_GUEST_CR0, cr0 | (fixed->cr0_fixed0 & ~(CR0_PG | CR0_PE)));
    vmcs_write(VMCS_CR0_READ_SHADOW, cr0);
    vmcs_write(VMCS_GUEST_CR4, cr4 | fixed->cr4_fixed0 | CR4_VMXE);
    vmcs_write(VMCS_CR4_READ_SHADOW, cr4);
    vmcs_write(VMCS_GUEST_CR3, VMCS12(c, HOST_CR3));
    vmcs_write(VMCS_GUEST_DR7, DR7_INIT);
    vmcs_write(VMCS_GUEST_IA32_DEBUGCTL, 0);
    vmcs_write(VMCS_GUEST_SYSENTER_CS, VMCS12(c, HOST_IA32_SYSENTER_CS));
    vmcs_write(VMCS_GUEST_SYSENTER_ESP, VMCS12(c, HOST_IA32_SYSENTER_ESP));
    vmcs_write(VMCS_GUEST_SYSENTER_EIP, VMCS12(c, HOST_IA32_SYSENTER_EIP));
    if (exit12 & EXIT_LOAD_PAT)
        vmcs_write(VMCS_GUEST_IA32_PAT, VMCS12(c, HOST_IA32_PAT));
    uint64_t efer = vmcs_read(VMCS_GUEST_IA32_EFER);
    if (exit12 & EXIT_LOAD_EFER)
        efer = VMCS12(c, HOST_IA32_EFER);
    else
        efer = host64 ? efer | EFER_LMA | EFER_LME : efer & ~(EFER_LMA | EFER_LME);
    vmcs_write(VMCS_GUEST_IA32_EFER, efer);
    uint32_t entry01 = vmcs_read32(VMCS_VM_ENTRY_CONTROLS) & ~ENTRY_IA32E_MODE_GUEST;
    vmcs_write(VMCS_VM_ENTRY_CONTROLS, entry01 | (host64 ? ENTRY_IA32E_MODE_GUEST : 0));

    /* Segments (SDM 28.5.2). */
    const uint32_t data = SEG_TYPE_WRITABLE | SEG_TYPE_ACCESSED | AR_S | AR_P | AR_DB | AR_G;
    uint32_t code = SEG_TYPE_CODE | SEG_TYPE_READABLE | SEG_TYPE_ACCESSED | AR_S | AR_P | AR_G |
                    (host64 ? AR_L : AR_DB);
    write_host_segment(VMCS_GUEST_CS_SELECTOR, (uint16_t)VMCS12(c, HOST_CS_SELECTOR), 0, code);
    write_host_segment(VMCS_GUEST_SS_SELECTOR, (uint16_t)VMCS12(c, HOST_SS_SELECTOR), 0, data);
    write_host_segment(VMCS_GUEST_DS_SELECTOR, (uint16_t)VMCS12(c, HOST_DS_SELECTOR), 0, data);
    write_host_segment(VMCS_GUEST_ES_SELECTOR, (uint16_t)VMCS12(c, HOST_ES_SELECTOR), 0, data);
    write_host_segment(VMCS_GUEST_FS_SELECTOR, (uint16_t)VMCS12(c, HOST_FS_SELECTOR),
                       VMCS12(c, HOST_FS_BASE), data);
    write_host_segment(VMCS_GUEST_GS_SELECTOR, (uint16_t)VMCS12(c, HOST_GS_SELECTOR),
                       VMCS12(c, HOST_GS_BASE), data);
    /* FS/GS bases are loaded even with null selectors. */
    vmcs_write(VMCS_GUEST_FS_BASE, VMCS12(c, HOST_FS_BASE));
    vmcs_write(VMCS_GUEST_GS_BASE, VMCS12(c, HOST_GS_BASE));
    vmcs_write(VMCS_GUEST_TR_SELECTOR, VMCS12(c, HOST_TR_SELECTOR));
    vmcs_write(VMCS_GUEST_TR_BASE, VMCS12(c, HOST_TR_BASE));
    vmcs_write(VMCS_GUEST_TR_LIMIT, HOST_TR_LIMIT);
    vmcs_write(VMCS_GUEST_TR_AR_BYTES, SEG_TYPE_TSS_BUSY_32 | AR_P);
    vmcs_write(VMCS_GUEST_LDTR_SELECTOR, 0);
    vmcs_write(VMCS_GUEST_LDTR_AR_BYTES, AR_UNUSABLE);
    vmcs_write(VMCS_GUEST_GDTR_BASE, VMCS12(c, HOST_GDTR_BASE));
    vmcs_write(VMCS_GUEST_GDTR_LIMIT, HOST_DT_LIMIT);
    vmcs_write(VMCS_GUEST_IDTR_BASE, VMCS12(c, HOST_IDTR_BASE));
    vmcs_write(VMCS_GUEST_IDTR_LIMIT, HOST_DT_LIMIT);

    vmcs_write(VMCS_GUEST_RIP, VMCS12(c, HOST_RIP));
    vmcs_write(VMCS_GUEST_RSP, VMCS12(c, HOST_RSP));
    vmcs_write(VMCS_GUEST_RFLAGS, RFLAGS_FIXED1);
    vmcs_write(VMCS_GUEST_INTERRUPTIBILITY_INFO, 0);
    vmcs_write(VMCS_GUEST_ACTIVITY_STATE, ACTIVITY_ACTIVE);
    vmcs_write(VMCS_GUEST_PENDING_DBG_EXCEPTIONS, 0);
    vmcs_write(VMCS_VM_ENTRY_INTR_INFO_FIELD, 0);
    return msr_list_load(v, VMCS12(c, VM_EXIT_MSR_LOAD_ADDR), VMCS12(c, VM_EXIT_MSR_LOAD_COUNT)) == 0;
}
