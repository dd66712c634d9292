/* vmcs01: the VMCS that runs L1. Every control is derived from the
 * capability MSRs (SDM 25.6 and Appendix A); nothing is assumed. */
#include "vmm/vmcs01.h"
#include "vmm/vm.h"
#include "vmm/io.h"
#include "vmm/msr.h"
#include "vmm/pmm.h"
#include "arch/x86/vmx_root.h"
#include "arch/x86/cpu.h"
#include "arch/x86/cpu_bits.h"
#include "arch/x86/gdt.h"
#include "arch/x86/msr_index.h"
#include "arch/x86/paging.h"
#include "arch/x86/physmem.h"
#include "arch/x86/vmx.h"
#include "arch/x86/vmx_bits.h"
#include "lib/format.h"
#include "lib/string.h"

#define L1_VPID           1
#define PAT_POWER_ON      0x0007040600070406ULL
#define DR7_INIT          0x400ULL
#define VMCS_LINK_NONE    (~0ULL)
#define SEG_LIMIT_FLAT    0xffffffffU
#define TR_LIMIT_MIN      0xffU
#define REAL_SEG_LIMIT    0xffffU
#define INIT_CS_SELECTOR  0xf000
#define INIT_CS_BASE      0xffff0000ULL
#define INIT_RIP          0xfff0ULL

extern char vmx_exit_stub[];

struct vmcs01_controls {
    uint32_t pin, proc, proc2, exit, entry;
};

static bool pick_controls(const struct vm *vm, struct vmcs01_controls *c, char *why, size_t whysz)
{
    const struct vmx_caps *caps = vm->caps;
    uint32_t dropped;
    if (!caps->ept || !caps->unrestricted_guest || !caps->ept_4level || !caps->ept_wb) {
        format(why, whysz, "this CPU lacks %s: nestvisor needs EPT (4-level, WB) and unrestricted guest",
               !caps->ept ? "EPT" : !caps->unrestricted_guest ? "unrestricted guest" : "4-level WB EPT");
        return false;
    }
    /* Every NMI exits: L0 reaches a CPU that runs a guest with one, and
     * hands L1 its own (vmm/nmi.c, docs/smp.md). */
    c->pin = vmx_ctl_adjust(caps->pin, PIN_NMI_EXITING | PIN_VIRTUAL_NMIS, 0);
    uint32_t proc = PROC_USE_MSR_BITMAPS | PROC_USE_IO_BITMAPS | PROC_SECONDARY_CONTROLS;
    if (vm->cfg.hlt_exit)
        proc |= PROC_HLT_EXITING;
    c->proc = vmx_ctl_adjust(caps->proc, proc, &dropped);
    if (dropped & (PROC_USE_MSR_BITMAPS | PROC_SECONDARY_CONTROLS)) {
        format(why, whysz, "this CPU lacks MSR bitmaps or secondary controls");
        return false;
    }
    uint32_t proc2 = PROC2_ENABLE_EPT | PROC2_UNRESTRICTED_GUEST | PROC2_ENABLE_VPID |
                     PROC2_ENABLE_RDTSCP | PROC2_ENABLE_INVPCID | PROC2_ENABLE_XSAVES;
    c->proc2 = vmx_ctl_adjust(caps->proc2, proc2, 0);
    c->exit = vmx_ctl_adjust(caps->exit,
                             EXIT_HOST_ADDR_SPACE_SIZE | EXIT_SAVE_DEBUG_CONTROLS | EXIT_SAVE_EFER |
                                 EXIT_LOAD_EFER | EXIT_SAVE_PAT | EXIT_LOAD_PAT,
                             &dropped);
    if (dropped & (EXIT_HOST_ADDR_SPACE_SIZE | EXIT_SAVE_EFER | EXIT_LOAD_EFER)) {
        format(why, whysz, "this CPU cannot switch EFER on VM exit");
        return false;
    }
    c->entry = vmx_ctl_adjust(caps->entry, ENTRY_LOAD_DEBUG_CONTROLS | ENTRY_LOAD_EFER | ENTRY_LOAD_PAT,
                              0) & ~ENTRY_IA32E_MODE_GUEST;
    return true;
}

static void write_host_state(struct percpu *cpu)
{
    struct descriptor_table_ptr gdtr, idtr;
    read_gdtr(&gdtr);
    read_idtr(&idtr);
    const uint64_t *gdt = (const uint64_t *)gdtr.base;
    uint64_t tr_base = ((gdt[GDT_TSS / 8] >> 16) & 0xffffff) | (((gdt[GDT_TSS / 8] >> 56) & 0xff) << 24) |
                       (gdt[GDT_TSS / 8 + 1] << 32);
    vmcs_write(VMCS_HOST_CR0, read_cr0());
    vmcs_write(VMCS_HOST_CR3, read_cr3());
    vmcs_write(VMCS_HOST_CR4, read_cr4());
    vmcs_write(VMCS_HOST_CS_SELECTOR, GDT_KERNEL_CS);
    vmcs_write(VMCS_HOST_SS_SELECTOR, GDT_KERNEL_DS);
    vmcs_write(VMCS_HOST_DS_SELECTOR, GDT_KERNEL_DS);
    vmcs_write(VMCS_HOST_ES_SELECTOR, GDT_KERNEL_DS);
    vmcs_write(VMCS_HOST_FS_SELECTOR, 0);
    vmcs_write(VMCS_HOST_GS_SELECTOR, 0);
    vmcs_write(VMCS_HOST_TR_SELECTOR, GDT_TSS);
    vmcs_write(VMCS_HOST_FS_BASE, 0);
    vmcs_write(VMCS_HOST_GS_BASE, (uint64_t)cpu); /* this_cpu() after an exit */
    vmcs_write(VMCS_HOST_TR_BASE, tr_base);
    vmcs_write(VMCS_HOST_GDTR_BASE, gdtr.base);
    vmcs_write(VMCS_HOST_IDTR_BASE, idtr.base);
    vmcs_write(VMCS_HOST_IA32_SYSENTER_CS, 0);
    vmcs_write(VMCS_HOST_IA32_SYSENTER_ESP, 0);
    vmcs_write(VMCS_HOST_IA32_SYSENTER_EIP, 0);
    vmcs_write(VMCS_HOST_IA32_EFER, rdmsr(MSR_IA32_EFER));
    vmcs_write(VMCS_HOST_IA32_PAT, rdmsr(MSR_IA32_PAT));
    /* The slot at HOST_RSP holds the vCPU's register block (vmx_entry.asm). */
    uint64_t *slot = (uint64_t *)(cpu->exit_stack + EXIT_STACK_SIZE - 16);
    *slot = (uint64_t)&cpu->vcpu->regs;
    vmcs_write(VMCS_HOST_RSP, (uint64_t)slot);
    vmcs_write(VMCS_HOST_RIP, (uint64_t)vmx_exit_stub);
}

static void write_segment(enum vmcs_field sel, uint16_t selector, uint64_t base, uint32_t limit,
                          uint32_t ar)
{
    /* Selector, limit, AR and base of one segment are laid out at fixed
     * strides from the selector's encoding (SDM Appendix B). */
    unsigned i = (sel - VMCS_GUEST_ES_SELECTOR) / 2;
    vmcs_write(sel, selector);
    vmcs_write((enum vmcs_field)(VMCS_GUEST_ES_LIMIT + 2 * i), limit);
    vmcs_write((enum vmcs_field)(VMCS_GUEST_ES_AR_BYTES + 2 * i), ar);
    vmcs_write((enum vmcs_field)(VMCS_GUEST_ES_BASE + 2 * i), base);
}

void vmcs01_write_entry_state(struct vm *vm, struct vcpu *v, const struct l1_entry_state *s)
{
    const uint32_t code32 = SEG_TYPE_CODE | SEG_TYPE_READABLE | SEG_TYPE_ACCESSED | AR_S | AR_P |
                            AR_DB | AR_G;
    const uint32_t data32 = SEG_TYPE_WRITABLE | SEG_TYPE_ACCESSED | AR_S | AR_P | AR_DB | AR_G;
    write_segment(VMCS_GUEST_CS_SELECTOR, s->cs, 0, SEG_LIMIT_FLAT, code32);
    write_segment(VMCS_GUEST_SS_SELECTOR, s->ds, 0, SEG_LIMIT_FLAT, data32);
    write_segment(VMCS_GUEST_DS_SELECTOR, s->ds, 0, SEG_LIMIT_FLAT, data32);
    write_segment(VMCS_GUEST_ES_SELECTOR, s->ds, 0, SEG_LIMIT_FLAT, data32);
    write_segment(VMCS_GUEST_FS_SELECTOR, s->ds, 0, SEG_LIMIT_FLAT, data32);
    write_segment(VMCS_GUEST_GS_SELECTOR, s->ds, 0, SEG_LIMIT_FLAT, data32);
    write_segment(VMCS_GUEST_LDTR_SELECTOR, 0, 0, 0, AR_UNUSABLE);
    /* TR must be usable even for an unrestricted guest (SDM 26.3.1.2). */
    write_segment(VMCS_GUEST_TR_SELECTOR, 0, 0, TR_LIMIT_MIN, SEG_TYPE_TSS_BUSY_32 | AR_P);
    vmcs_write(VMCS_GUEST_GDTR_BASE, s->gdt_base);
    vmcs_write(VMCS_GUEST_GDTR_LIMIT, s->gdt_limit);
    vmcs_write(VMCS_GUEST_IDTR_BASE, 0);
    vmcs_write(VMCS_GUEST_IDTR_LIMIT, 0);

    /* Protected mode, paging off: the host-owned bits live in the shadows. */
    uint64_t cr0 = CR0_PE | CR0_ET;
    uint64_t required = vm->caps->raw.cr0_fixed0 & ~(CR0_PG | CR0_PE); /* SDM 26.3.1.1 */
    vmcs_write(VMCS_GUEST_CR0, (cr0 | required) & vm->caps->raw.cr0_fixed1);
    vmcs_write(VMCS_CR0_READ_SHADOW, cr0);
    vmcs_write(VMCS_GUEST_CR3, 0);
    vmcs_write(VMCS_GUEST_CR4, vm->caps->raw.cr4_fixed0 | CR4_VMXE);
    vmcs_write(VMCS_CR4_READ_SHADOW, 0);
    v->cr0_shadow = cr0;
    v->cr4_shadow = 0;
    vmcs_write(VMCS_GUEST_DR7, DR7_INIT);
    vmcs_write(VMCS_GUEST_RSP, s->rsp);
    vmcs_write(VMCS_GUEST_RIP, s->rip);
    vmcs_write(VMCS_GUEST_RFLAGS, RFLAGS_FIXED1);
    vmcs_write(VMCS_GUEST_IA32_EFER, 0);
    vmcs_write(VMCS_GUEST_IA32_PAT, PAT_POWER_ON);
    vmcs_write(VMCS_GUEST_IA32_DEBUGCTL, 0);
    vmcs_write(VMCS_GUEST_SYSENTER_CS, 0);
    vmcs_write(VMCS_GUEST_SYSENTER_ESP, 0);
    vmcs_write(VMCS_GUEST_SYSENTER_EIP, 0);
    vmcs_write(VMCS_GUEST_PENDING_DBG_EXCEPTIONS, 0);
    vmcs_write(VMCS_GUEST_INTERRUPTIBILITY_INFO, 0);
    vmcs_write(VMCS_GUEST_ACTIVITY_STATE, ACTIVITY_ACTIVE);
    vmcs_write(VMCS_VMCS_LINK_POINTER, VMCS_LINK_NONE);
    vmcs_write(VMCS_VM_ENTRY_CONTROLS, vmcs_read32(VMCS_VM_ENTRY_CONTROLS) & ~ENTRY_IA32E_MODE_GUEST);
}

bool vmcs01_setup(struct vm *vm, struct vcpu *v, char *why, size_t whysz)
{
    struct vmcs01_controls c;
    if (!pick_controls(vm, &c, why, whysz))
        return false;
    if (!v->vmcs01)
        v->vmcs01 = pmm_alloc_page();
    if (!v->vmcs01 || !vmcs_region_init(vm->caps, v->vmcs01, false) || !vmcs_load(v->vmcs01)) {
        format(why, whysz, "could not create and load vmcs01");
        return false;
    }
    vmcs_write(VMCS_PIN_BASED_VM_EXEC_CONTROL, c.pin);
    vmcs_write(VMCS_CPU_BASED_VM_EXEC_CONTROL, c.proc);
    vmcs_write(VMCS_SECONDARY_VM_EXEC_CONTROL, c.proc2);
    vmcs_write(VMCS_VM_EXIT_CONTROLS, c.exit);
    vmcs_write(VMCS_VM_ENTRY_CONTROLS, c.entry);
    vmcs_write(VMCS_EXCEPTION_BITMAP, 0);
    vmcs_write(VMCS_PAGE_FAULT_ERROR_CODE_MASK, 0);
    vmcs_write(VMCS_PAGE_FAULT_ERROR_CODE_MATCH, 0);
    vmcs_write(VMCS_CR3_TARGET_COUNT, 0);
    vmcs_write(VMCS_VM_EXIT_MSR_STORE_COUNT, 0);
    vmcs_write(VMCS_VM_EXIT_MSR_LOAD_COUNT, 0);
    vmcs_write(VMCS_VM_ENTRY_MSR_LOAD_COUNT, 0);
    vmcs_write(VMCS_VM_ENTRY_INTR_INFO_FIELD, 0);
    vmcs_write(VMCS_MSR_BITMAP, vm->msr_bitmap);
    vmcs_write(VMCS_IO_BITMAP_A, vm->io_bitmap_a);
    vmcs_write(VMCS_IO_BITMAP_B, vm->io_bitmap_b);
    vmcs_write(VMCS_EPT_POINTER, vm->eptp01);
    if (c.proc2 & PROC2_ENABLE_VPID)
        vmcs_write(VMCS_VPID, L1_VPID);
    if (c.proc2 & PROC2_ENABLE_XSAVES)
        vmcs_write(VMCS_XSS_EXIT_BITMAP, 0);
    vmcs_write(VMCS_TSC_OFFSET, 0);

    /* CR0.NE and CR4.VMXE are required in VMX operation; other CR4 bits the
     * CPU does not allow there are host-owned too, so writes to them exit
     * and get #GP. CR0.PE/PG are host-owned so that L0 sees paging switch
     * and keeps EFER.LMA and the IA-32e entry control right. */
    v->cr0_mask = CR0_NE | CR0_PE | CR0_PG;
    v->cr4_mask = CR4_VMXE | CR4_SMXE | ~vm->caps->raw.cr4_fixed1 | vm->caps->raw.cr4_fixed0;
    vmcs_write(VMCS_CR0_GUEST_HOST_MASK, v->cr0_mask);
    vmcs_write(VMCS_CR4_GUEST_HOST_MASK, v->cr4_mask);
    write_host_state(v->cpu);
    return true;
}

/* Real-mode segment after INIT: base, limit 0xffff, present, accessed. */
static void write_real_segment(enum vmcs_field sel, uint16_t selector, uint32_t type)
{
    write_segment(sel, selector, (uint64_t)selector << 4, REAL_SEG_LIMIT, type | AR_S | AR_P);
}

void vmcs01_write_init_state(struct vm *vm, struct vcpu *v)
{
    const uint32_t data = SEG_TYPE_WRITABLE | SEG_TYPE_ACCESSED;
    write_real_segment(VMCS_GUEST_CS_SELECTOR, INIT_CS_SELECTOR,
                       SEG_TYPE_CODE | SEG_TYPE_READABLE | SEG_TYPE_ACCESSED);
    /* CS.base is 0xffff0000 after INIT, not selector << 4. */
    vmcs_write(VMCS_GUEST_CS_BASE, INIT_CS_BASE);
    write_real_segment(VMCS_GUEST_SS_SELECTOR, 0, data);
    write_real_segment(VMCS_GUEST_DS_SELECTOR, 0, data);
    write_real_segment(VMCS_GUEST_ES_SELECTOR, 0, data);
    write_real_segment(VMCS_GUEST_FS_SELECTOR, 0, data);
    write_real_segment(VMCS_GUEST_GS_SELECTOR, 0, data);
    write_segment(VMCS_GUEST_LDTR_SELECTOR, 0, 0, REAL_SEG_LIMIT, SEG_TYPE_LDT | AR_P);
    write_segment(VMCS_GUEST_TR_SELECTOR, 0, 0, REAL_SEG_LIMIT, SEG_TYPE_TSS_BUSY_16 | AR_P);
    vmcs_write(VMCS_GUEST_GDTR_BASE, 0);
    vmcs_write(VMCS_GUEST_GDTR_LIMIT, REAL_SEG_LIMIT);
    vmcs_write(VMCS_GUEST_IDTR_BASE, 0);
    vmcs_write(VMCS_GUEST_IDTR_LIMIT, REAL_SEG_LIMIT);
    /* CR0 = CD | NW | ET as L1 sees it; the CPU's has the VMX-fixed bits
     * (NE) but not PE or PG (unrestricted guest, SDM 26.3.1.1). */
    uint64_t cr0 = CR0_CD | CR0_NW | CR0_ET;
    uint64_t required = vm->caps->raw.cr0_fixed0 & ~(CR0_PG | CR0_PE);
    vmcs_write(VMCS_GUEST_CR0, (cr0 | required) & vm->caps->raw.cr0_fixed1);
    vmcs_write(VMCS_CR0_READ_SHADOW, cr0);
    vmcs_write(VMCS_GUEST_CR3, 0);
    vmcs_write(VMCS_GUEST_CR4, vm->caps->raw.cr4_fixed0 | CR4_VMXE);
    vmcs_write(VMCS_CR4_READ_SHADOW, 0);
    v->cr0_shadow = cr0;
    v->cr4_shadow = 0;
    vmcs_write(VMCS_GUEST_DR7, DR7_INIT);
    vmcs_write(VMCS_GUEST_RSP, 0);
    vmcs_write(VMCS_GUEST_RIP, INIT_RIP);
    vmcs_write(VMCS_GUEST_RFLAGS, RFLAGS_FIXED1);
    vmcs_write(VMCS_GUEST_IA32_EFER, 0);
    vmcs_write(VMCS_GUEST_IA32_PAT, PAT_POWER_ON);
    vmcs_write(VMCS_GUEST_IA32_DEBUGCTL, 0);
    vmcs_write(VMCS_GUEST_SYSENTER_CS, 0);
    vmcs_write(VMCS_GUEST_SYSENTER_ESP, 0);
    vmcs_write(VMCS_GUEST_SYSENTER_EIP, 0);
    vmcs_write(VMCS_GUEST_PENDING_DBG_EXCEPTIONS, 0);
    vmcs_write(VMCS_GUEST_INTERRUPTIBILITY_INFO, 0);
    /* Active: the vCPU waits for its SIPI in L0 (sipi.c), which sets CS
     * and RIP from the vector before it runs. */
    vmcs_write(VMCS_GUEST_ACTIVITY_STATE, ACTIVITY_ACTIVE);
    vmcs_write(VMCS_VMCS_LINK_POINTER, VMCS_LINK_NONE);
    vmcs_write(VMCS_VM_ENTRY_CONTROLS, vmcs_read32(VMCS_VM_ENTRY_CONTROLS) & ~ENTRY_IA32E_MODE_GUEST);
    memset(&v->regs, 0, offsetof(struct guest_regs, exit_tsc));
    struct cpuid_regs r;
    cpuid_query(CPUID_LEAF_FEATURES, 0, &r);
    v->regs.rdx = r.eax; /* EDX after INIT: the processor signature */
}
