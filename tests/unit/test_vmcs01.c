/* unit-srcs: vmm/vmcs01.c vmm/pmm.c arch/x86/vmx_root.c arch/x86/vmx_caps.c tests/unit/fake_vmx.c */
/* vmm/vmcs01.c on the fake VMX layer, with the capability MSRs of Bochs
 * 2.7 models (as in test_vmxcaps.c). Control fields: SDM Vol. 3C 25.6-25.8
 * and Appendix A.3-A.5 (a capability MSR's bits 31:0 are the allowed
 * 0-settings: a 1 there means the control must be 1; bits 63:32 the allowed
 * 1-settings; with IA32_VMX_BASIC bit 55 the TRUE_* MSRs say which of the
 * "default1" controls may be 0, A.2). Secondary controls A.3.3. Host state
 * 25.5 and 27.2.3 (TR base from the GDT's TSS descriptor, Vol. 3A 8.2.3).
 * Guest entry state 26.3.1 (CR0/CR4 fixed bits A.7/A.8, unusable LDTR, busy
 * TSS, VMCS link pointer all ones). Field encodings Appendix B. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>
#include "vmm/vmcs01.h"
#include "vmm/vm.h"
#include "vmm/pmm.h"
#include "arch/x86/cpu_bits.h"
#include "arch/x86/exit_reasons.h"
#include "arch/x86/gdt.h"
#include "arch/x86/msr_index.h"
#include "arch/x86/physmem.h"
#include "arch/x86/vmx.h"
#include "arch/x86/vmx_bits.h"
#include "arch/x86/vmx_caps.h"
#include "tests/unit/fake_arch.h"
#include "tests/unit/fake_vmx.h"
#include "tests/unit/cpu_models.h"

#define POOL_BASE  0x1000000ULL
#define POOL_PAGES 64ULL
#define VMXON_PA   0x800000ULL
#define TSS_BASE   0xffffffff80123450ULL

extern char vmx_exit_stub[]; /* tests/unit/fake_vmx.c */

static struct vm vm;
static struct vmx_caps caps;
static struct percpu cpu;
static uint64_t gdt[GDT_ENTRIES];
static char why[160];

static void use_caps(const struct vmx_msrs *raw)
{
    vmx_caps_decode(raw, &caps);
    vm.caps = &caps;
    fake_vmx_require_revision(caps.revision_id);
    *(uint32_t *)phys_to_virt(VMXON_PA) = caps.revision_id;
    assert_true(vmx_on(VMXON_PA));
}

static int setup(void **state)
{
    (void)state;
    fake_phys_reset();
    fake_vmx_reset();
    fake_msr_clear();
    assert_true(pmm_init(POOL_BASE, POOL_PAGES * 4096));
    memset(&vm, 0, sizeof(vm));
    memset(&cpu, 0, sizeof(cpu));
    vm.vcpus[0].cpu = &cpu;
    cpu.vcpu = &vm.vcpus[0];
    vm.msr_bitmap = 0x1234000;
    vm.io_bitmap_a = 0x1235000;
    vm.io_bitmap_b = 0x1236000;
    vm.eptp01 = 0x1237000 | 0x1e;
    fake_msr_set(MSR_IA32_EFER, EFER_LME | EFER_LMA | EFER_NXE | EFER_SCE);
    fake_msr_set(MSR_IA32_PAT, 0x0007010600070106ULL);
    fake_cr_set(0, 0x80050033);
    fake_cr_set(3, 0x105000);
    fake_cr_set(4, 0x2020);
    /* The TSS descriptor (16 bytes, Vol. 3A 8.2.3) of the kernel's GDT. */
    memset(gdt, 0, sizeof(gdt));
    gdt[GDT_TSS / 8] = 0x67 | ((TSS_BASE & 0xffffff) << 16) | (0x89ULL << 40) | (((TSS_BASE >> 24) & 0xff) << 56);
    gdt[GDT_TSS / 8 + 1] = TSS_BASE >> 32;
    fake_gdtr_set((uint64_t)(uintptr_t)gdt, sizeof(gdt) - 1);
    fake_idtr_set(0xffffffff80200000ULL, 0xfff);
    why[0] = 0;
    return 0;
}

/* value respects a capability MSR exactly: every bit of the allowed
 * 0-settings set, no bit outside the allowed 1-settings (A.3). */
static void assert_fits(uint64_t value, uint64_t cap_msr)
{
    uint32_t must1 = (uint32_t)cap_msr, may1 = (uint32_t)(cap_msr >> 32);
    assert_int_equal(value & must1, must1);
    assert_int_equal(value & ~(uint64_t)may1, 0);
}

static void test_tigerlake_controls(void **state)
{
    (void)state;
    use_caps(&tigerlake);
    assert_true(vmcs01_setup(&vm, &vm.vcpus[0], why, sizeof(why)));
    uint64_t pin = fake_vmcs_get(VMCS_PIN_BASED_VM_EXEC_CONTROL);
    uint64_t proc = fake_vmcs_get(VMCS_CPU_BASED_VM_EXEC_CONTROL);
    uint64_t proc2 = fake_vmcs_get(VMCS_SECONDARY_VM_EXEC_CONTROL);
    uint64_t exit = fake_vmcs_get(VMCS_VM_EXIT_CONTROLS);
    uint64_t entry = fake_vmcs_get(VMCS_VM_ENTRY_CONTROLS);
    /* BASIC bit 55 is set: the TRUE MSRs rule. */
    assert_fits(pin, tigerlake.true_pinbased);
    assert_fits(proc, tigerlake.true_procbased);
    assert_fits(proc2, tigerlake.procbased2);
    assert_fits(exit, tigerlake.true_exit);
    assert_fits(entry, tigerlake.true_entry);
    /* L1 owns its interrupts: no external-interrupt exiting. NMIs exit:
     * L0 reaches a busy CPU with one, and hands L1 its own (docs/smp.md). */
    assert_int_equal(pin & PIN_EXTINT_EXITING, 0);
    assert_int_equal(pin & (PIN_NMI_EXITING | PIN_VIRTUAL_NMIS), PIN_NMI_EXITING | PIN_VIRTUAL_NMIS);
    assert_int_equal(proc & (PROC_USE_MSR_BITMAPS | PROC_USE_IO_BITMAPS | PROC_SECONDARY_CONTROLS),
                     PROC_USE_MSR_BITMAPS | PROC_USE_IO_BITMAPS | PROC_SECONDARY_CONTROLS);
    assert_int_equal(proc & PROC_UNCOND_IO_EXITING, 0);
    /* CR3 exits are "default1" but the TRUE MSR lets them be 0. */
    assert_int_equal(proc & (PROC_CR3_LOAD_EXITING | PROC_CR3_STORE_EXITING), 0);
    assert_int_equal(proc & PROC_HLT_EXITING, 0);
    uint32_t want2 = PROC2_ENABLE_EPT | PROC2_UNRESTRICTED_GUEST | PROC2_ENABLE_VPID | PROC2_ENABLE_RDTSCP |
                     PROC2_ENABLE_INVPCID | PROC2_ENABLE_XSAVES;
    assert_int_equal(proc2, want2);
    assert_int_equal(exit & (EXIT_HOST_ADDR_SPACE_SIZE | EXIT_SAVE_EFER | EXIT_LOAD_EFER | EXIT_SAVE_PAT |
                             EXIT_LOAD_PAT | EXIT_SAVE_DEBUG_CONTROLS),
                     EXIT_HOST_ADDR_SPACE_SIZE | EXIT_SAVE_EFER | EXIT_LOAD_EFER | EXIT_SAVE_PAT | EXIT_LOAD_PAT |
                         EXIT_SAVE_DEBUG_CONTROLS);
    assert_int_equal(entry & (ENTRY_LOAD_EFER | ENTRY_LOAD_PAT | ENTRY_LOAD_DEBUG_CONTROLS),
                     ENTRY_LOAD_EFER | ENTRY_LOAD_PAT | ENTRY_LOAD_DEBUG_CONTROLS);
    assert_int_equal(entry & ENTRY_IA32E_MODE_GUEST, 0); /* L1 starts in 32-bit mode */
    /* The structures vm_create built. */
    assert_int_equal(fake_vmcs_get(VMCS_MSR_BITMAP), vm.msr_bitmap);
    assert_int_equal(fake_vmcs_get(VMCS_IO_BITMAP_A), vm.io_bitmap_a);
    assert_int_equal(fake_vmcs_get(VMCS_IO_BITMAP_B), vm.io_bitmap_b);
    assert_int_equal(fake_vmcs_get(VMCS_EPT_POINTER), vm.eptp01);
    assert_true(fake_vmcs_written(VMCS_VPID));
    assert_int_equal(fake_vmcs_get(VMCS_VPID), 1); /* VPID 0 is VMX root's (26.2.1.1) */
    assert_true(fake_vmcs_written(VMCS_XSS_EXIT_BITMAP));
    assert_int_equal(fake_vmcs_get(VMCS_EXCEPTION_BITMAP), 0);
    assert_int_equal(fake_vmcs_get(VMCS_CR3_TARGET_COUNT), 0);
    assert_int_equal(fake_vmcs_get(VMCS_VM_ENTRY_INTR_INFO_FIELD), 0);
    assert_int_equal(fake_vmcs_get(VMCS_VM_EXIT_MSR_STORE_COUNT) | fake_vmcs_get(VMCS_VM_EXIT_MSR_LOAD_COUNT) |
                         fake_vmcs_get(VMCS_VM_ENTRY_MSR_LOAD_COUNT),
                     0);
}

static void test_guest_host_masks(void **state)
{
    (void)state;
    use_caps(&tigerlake);
    assert_true(vmcs01_setup(&vm, &vm.vcpus[0], why, sizeof(why)));
    /* CR0: NE (VMX needs it), PE and PG (so L0 follows paging switches). */
    assert_int_equal(fake_vmcs_get(VMCS_CR0_GUEST_HOST_MASK), CR0_NE | CR0_PE | CR0_PG);
    assert_int_equal(vm.vcpus[0].cr0_mask, CR0_NE | CR0_PE | CR0_PG);
    /* CR4: VMXE, SMXE, every bit FIXED1 forbids and FIXED0 forces. */
    uint64_t cr4_mask = fake_vmcs_get(VMCS_CR4_GUEST_HOST_MASK);
    assert_int_equal(cr4_mask, vm.vcpus[0].cr4_mask);
    assert_true(cr4_mask & CR4_VMXE);
    assert_true(cr4_mask & CR4_SMXE);
    assert_true(cr4_mask & CR4_LA57);       /* bit 12, clear in 0xf72fff */
    assert_true(cr4_mask & (1ULL << 19));   /* reserved, clear in FIXED1 */
    assert_true(cr4_mask & (1ULL << 40));
    assert_false(cr4_mask & CR4_PAE);
    assert_false(cr4_mask & CR4_OSXSAVE);
    assert_false(cr4_mask & CR4_PGE);
    assert_false(cr4_mask & CR4_PKE);
}

static void test_host_state(void **state)
{
    (void)state;
    use_caps(&tigerlake);
    assert_true(vmcs01_setup(&vm, &vm.vcpus[0], why, sizeof(why)));
    assert_int_equal(fake_vmcs_get(VMCS_HOST_CR0), 0x80050033);
    assert_int_equal(fake_vmcs_get(VMCS_HOST_CR3), 0x105000);
    assert_int_equal(fake_vmcs_get(VMCS_HOST_CR4), 0x2020);
    assert_int_equal(fake_vmcs_get(VMCS_HOST_CS_SELECTOR), GDT_KERNEL_CS);
    assert_int_equal(fake_vmcs_get(VMCS_HOST_SS_SELECTOR), GDT_KERNEL_DS);
    assert_int_equal(fake_vmcs_get(VMCS_HOST_DS_SELECTOR), GDT_KERNEL_DS);
    assert_int_equal(fake_vmcs_get(VMCS_HOST_ES_SELECTOR), GDT_KERNEL_DS);
    assert_int_equal(fake_vmcs_get(VMCS_HOST_TR_SELECTOR), GDT_TSS);
    /* Host selectors have RPL 0 and TI 0 (26.2.3). */
    assert_int_equal(fake_vmcs_get(VMCS_HOST_CS_SELECTOR) & 7, 0);
    assert_int_equal(fake_vmcs_get(VMCS_HOST_TR_SELECTOR) & 7, 0);
    assert_int_equal(fake_vmcs_get(VMCS_HOST_TR_BASE), TSS_BASE);
    assert_int_equal(fake_vmcs_get(VMCS_HOST_GDTR_BASE), (uint64_t)(uintptr_t)gdt);
    assert_int_equal(fake_vmcs_get(VMCS_HOST_IDTR_BASE), 0xffffffff80200000ULL);
    assert_int_equal(fake_vmcs_get(VMCS_HOST_IA32_EFER), EFER_LME | EFER_LMA | EFER_NXE | EFER_SCE);
    assert_int_equal(fake_vmcs_get(VMCS_HOST_IA32_PAT), 0x0007010600070106ULL);
    /* The exit stub finds the vCPU's registers at HOST_RSP. */
    uint64_t rsp = fake_vmcs_get(VMCS_HOST_RSP);
    assert_true(rsp >= (uint64_t)(uintptr_t)cpu.exit_stack);
    assert_true(rsp + 8 <= (uint64_t)(uintptr_t)(cpu.exit_stack + EXIT_STACK_SIZE));
    assert_int_equal(rsp % 16, 0);
    assert_int_equal(*(uint64_t *)(uintptr_t)rsp, (uint64_t)(uintptr_t)&vm.vcpus[0].regs);
    assert_int_equal(fake_vmcs_get(VMCS_HOST_RIP), (uint64_t)(uintptr_t)vmx_exit_stub);
}

static void test_vmcs_region_is_created_and_current(void **state)
{
    (void)state;
    use_caps(&tigerlake);
    uint64_t free_before = pmm_free_pages();
    assert_true(vmcs01_setup(&vm, &vm.vcpus[0], why, sizeof(why)));
    assert_int_equal(pmm_free_pages(), free_before - 1);
    assert_true(pmm_owns(vm.vcpus[0].vmcs01));
    /* Revision identifier in the first dword, shadow indicator clear
     * (25.2), and VMPTRLD'ed: the fake checks the revision. */
    assert_int_equal(*(uint32_t *)phys_to_virt(vm.vcpus[0].vmcs01), caps.revision_id);
    assert_int_equal(vmcs_current(), vm.vcpus[0].vmcs01);
    assert_int_equal(fake_vmcs_regions(), 1);
}

static void test_hlt_exiting_follows_the_option(void **state)
{
    (void)state;
    use_caps(&tigerlake);
    vm.cfg.hlt_exit = true;
    assert_true(vmcs01_setup(&vm, &vm.vcpus[0], why, sizeof(why)));
    uint64_t proc = fake_vmcs_get(VMCS_CPU_BASED_VM_EXEC_CONTROL);
    assert_true(proc & PROC_HLT_EXITING);
    assert_fits(proc, tigerlake.true_procbased);
}

static void test_without_true_controls_defaults_are_forced(void **state)
{
    (void)state;
    struct vmx_msrs old = tigerlake;
    old.basic &= ~VMX_BASIC_TRUE_CTLS;
    use_caps(&old);
    assert_true(vmcs01_setup(&vm, &vm.vcpus[0], why, sizeof(why)));
    uint64_t proc = fake_vmcs_get(VMCS_CPU_BASED_VM_EXEC_CONTROL);
    assert_fits(fake_vmcs_get(VMCS_PIN_BASED_VM_EXEC_CONTROL), old.pinbased);
    assert_fits(proc, old.procbased);
    assert_fits(fake_vmcs_get(VMCS_VM_EXIT_CONTROLS), old.exit);
    assert_fits(fake_vmcs_get(VMCS_VM_ENTRY_CONTROLS), old.entry);
    assert_fits(fake_vmcs_get(VMCS_SECONDARY_VM_EXEC_CONTROL), old.procbased2);
    /* The default1 CR3 exits are on: the CPU does not let them be 0. */
    assert_int_equal(proc & (PROC_CR3_LOAD_EXITING | PROC_CR3_STORE_EXITING),
                     PROC_CR3_LOAD_EXITING | PROC_CR3_STORE_EXITING);
    assert_true(fake_vmcs_get(VMCS_VM_ENTRY_CONTROLS) & ENTRY_LOAD_DEBUG_CONTROLS);
    assert_true(fake_vmcs_get(VMCS_VM_EXIT_CONTROLS) & EXIT_SAVE_DEBUG_CONTROLS);
}

static void test_cpu_without_ept_or_unrestricted_guest_is_refused(void **state)
{
    (void)state;
    use_caps(&penryn);
    uint64_t free_before = pmm_free_pages();
    assert_false(vmcs01_setup(&vm, &vm.vcpus[0], why, sizeof(why)));
    assert_non_null(strstr(why, "lacks EPT"));
    assert_non_null(strstr(why, "unrestricted guest"));
    assert_int_equal(pmm_free_pages(), free_before);
    assert_int_equal(fake_vmcs_regions(), 0);
    /* EPT but no unrestricted guest (secondary bit 7 not allowed). */
    struct vmx_msrs no_ug = tigerlake;
    no_ug.procbased2 &= ~((uint64_t)PROC2_UNRESTRICTED_GUEST << 32);
    vmx_caps_decode(&no_ug, &caps);
    why[0] = 0;
    assert_false(vmcs01_setup(&vm, &vm.vcpus[0], why, sizeof(why)));
    assert_non_null(strstr(why, "lacks unrestricted guest"));
    /* EPT without a WB paging-structure type. */
    struct vmx_msrs no_wb = tigerlake;
    no_wb.ept_vpid &= ~(1ULL << 14);
    vmx_caps_decode(&no_wb, &caps);
    why[0] = 0;
    assert_false(vmcs01_setup(&vm, &vm.vcpus[0], why, sizeof(why)));
    assert_non_null(strstr(why, "4-level WB EPT"));
    assert_int_equal(fake_vmcs_regions(), 0);
}

static void test_entry_state(void **state)
{
    (void)state;
    use_caps(&tigerlake);
    assert_true(vmcs01_setup(&vm, &vm.vcpus[0], why, sizeof(why)));
    fake_vmcs_set(VMCS_VM_ENTRY_CONTROLS, fake_vmcs_get(VMCS_VM_ENTRY_CONTROLS) | ENTRY_IA32E_MODE_GUEST);
    struct l1_entry_state s = {.rip = 0x100020, .rsp = 0x7ff0, .cs = 0x10, .ds = 0x18,
                               .gdt_base = 0x9000, .gdt_limit = 31};
    vmcs01_write_entry_state(&vm, &vm.vcpus[0], &s);
    const uint32_t code32 = 0xc09b, data32 = 0xc093; /* G, D/B, P, S, type */
    assert_int_equal(fake_vmcs_get(VMCS_GUEST_CS_SELECTOR), 0x10);
    assert_int_equal(fake_vmcs_get(VMCS_GUEST_CS_AR_BYTES), code32);
    assert_int_equal(fake_vmcs_get(VMCS_GUEST_CS_LIMIT), 0xffffffff);
    assert_int_equal(fake_vmcs_get(VMCS_GUEST_CS_BASE), 0);
    /* Every data segment: selector, limit, AR and base at their own
     * encodings (Appendix B), not a neighbour's. */
    enum vmcs_field sel[] = {VMCS_GUEST_SS_SELECTOR, VMCS_GUEST_DS_SELECTOR, VMCS_GUEST_ES_SELECTOR,
                             VMCS_GUEST_FS_SELECTOR, VMCS_GUEST_GS_SELECTOR};
    enum vmcs_field ar[] = {VMCS_GUEST_SS_AR_BYTES, VMCS_GUEST_DS_AR_BYTES, VMCS_GUEST_ES_AR_BYTES,
                            VMCS_GUEST_FS_AR_BYTES, VMCS_GUEST_GS_AR_BYTES};
    enum vmcs_field lim[] = {VMCS_GUEST_SS_LIMIT, VMCS_GUEST_DS_LIMIT, VMCS_GUEST_ES_LIMIT,
                             VMCS_GUEST_FS_LIMIT, VMCS_GUEST_GS_LIMIT};
    for (unsigned i = 0; i < 5; i++) {
        assert_int_equal(fake_vmcs_get(sel[i]), 0x18);
        assert_int_equal(fake_vmcs_get(ar[i]), data32);
        assert_int_equal(fake_vmcs_get(lim[i]), 0xffffffff);
    }
    assert_true(fake_vmcs_written(VMCS_GUEST_GS_BASE));
    assert_true(fake_vmcs_written(VMCS_GUEST_LDTR_BASE));
    assert_int_equal(fake_vmcs_get(VMCS_GUEST_LDTR_AR_BYTES), AR_UNUSABLE);
    /* TR: a busy 32-bit TSS, present, usable (26.3.1.2). */
    assert_int_equal(fake_vmcs_get(VMCS_GUEST_TR_AR_BYTES), 0x8b);
    assert_int_equal(fake_vmcs_get(VMCS_GUEST_TR_LIMIT), 0xff);
    assert_int_equal(fake_vmcs_get(VMCS_GUEST_GDTR_BASE), 0x9000);
    assert_int_equal(fake_vmcs_get(VMCS_GUEST_GDTR_LIMIT), 31);
    /* CR0: PE|ET for L1, NE forced underneath; CR4: VMXE underneath only. */
    assert_int_equal(fake_vmcs_get(VMCS_GUEST_CR0), CR0_PE | CR0_ET | CR0_NE);
    assert_int_equal(fake_vmcs_get(VMCS_CR0_READ_SHADOW), CR0_PE | CR0_ET);
    assert_int_equal(fake_vmcs_get(VMCS_GUEST_CR4), CR4_VMXE);
    assert_int_equal(fake_vmcs_get(VMCS_CR4_READ_SHADOW), 0);
    assert_int_equal(vm.vcpus[0].cr0_shadow, CR0_PE | CR0_ET);
    assert_int_equal(vm.vcpus[0].cr4_shadow, 0);
    assert_int_equal(fake_vmcs_get(VMCS_GUEST_RIP), 0x100020);
    assert_int_equal(fake_vmcs_get(VMCS_GUEST_RSP), 0x7ff0);
    assert_int_equal(fake_vmcs_get(VMCS_GUEST_RFLAGS), RFLAGS_FIXED1);
    assert_int_equal(fake_vmcs_get(VMCS_GUEST_IA32_EFER), 0);
    assert_int_equal(fake_vmcs_get(VMCS_GUEST_DR7), 0x400);
    assert_int_equal(fake_vmcs_get(VMCS_VMCS_LINK_POINTER), ~0ULL);
    assert_int_equal(fake_vmcs_get(VMCS_GUEST_ACTIVITY_STATE), ACTIVITY_ACTIVE);
    assert_false(fake_vmcs_get(VMCS_VM_ENTRY_CONTROLS) & ENTRY_IA32E_MODE_GUEST);
}

/* The fake itself, where vmcs01 relies on it behaving like the CPU. */
static void test_fake_vmx_semantics(void **state)
{
    (void)state;
    uint64_t v;
    /* No VMX operation: everything fails. */
    assert_false(vmcs_load(0x3000));
    assert_false(vmcs_try_read(VMCS_GUEST_RIP, &v));
    *(uint32_t *)phys_to_virt(VMXON_PA) = 4;
    fake_vmx_require_revision(4);
    assert_true(vmx_on(VMXON_PA));
    assert_false(vmx_on(VMXON_PA));
    assert_int_equal(vmcs_current(), FAKE_NO_VMCS);
    /* VMPTRLD: alignment, the VMXON region, the revision (31.3 VMPTRLD). */
    *(uint32_t *)phys_to_virt(0x3000) = 4;
    *(uint32_t *)phys_to_virt(0x4000) = 5;
    assert_false(vmcs_load(0x3008));
    assert_false(vmcs_load(VMXON_PA));
    assert_false(vmcs_load(0x4000));
    assert_true(vmcs_load(0x3000));
    assert_false(vmcs_load(0x4000));
    assert_int_equal(fake_vmcs_get(VMCS_VM_INSTRUCTION_ERROR), VMXERR_VMPTRLD_INCORRECT_REVISION);
    /* Widths: a 16-bit field keeps 16 bits, natural width all 64. */
    vmcs_write(VMCS_VPID, 0x12345);
    assert_int_equal(vmcs_read(VMCS_VPID), 0x2345);
    vmcs_write(VMCS_GUEST_INTERRUPTIBILITY_INFO, 0x100000003ULL);
    assert_int_equal(vmcs_read(VMCS_GUEST_INTERRUPTIBILITY_INFO), 3);
    vmcs_write(VMCS_GUEST_RIP, ~0ULL);
    assert_int_equal(vmcs_read(VMCS_GUEST_RIP), ~0ULL);
    /* Unknown encodings (incl. a 64-bit field's high half) fail with 12. */
    assert_false(vmcs_try_read(0x2001, &v));
    assert_int_equal(fake_vmcs_get(VMCS_VM_INSTRUCTION_ERROR), VMXERR_UNSUPPORTED_VMCS_COMPONENT);
    assert_false(vmcs_try_write(0x6c18, 0));
    /* Read-only fields: writable only with "VMWRITE to any field". */
    assert_true(vmcs_try_write(VMCS_EXIT_QUALIFICATION, 1));
    fake_vmx_set_vmwrite_any(false);
    assert_false(vmcs_try_write(VMCS_EXIT_QUALIFICATION, 2));
    assert_int_equal(fake_vmcs_get(VMCS_VM_INSTRUCTION_ERROR), VMXERR_VMWRITE_READ_ONLY_COMPONENT);
    assert_int_equal(vmcs_read(VMCS_EXIT_QUALIFICATION), 1);
    /* Regions are kept by address; VMCLEAR of the current one leaves none. */
    *(uint32_t *)phys_to_virt(0x5000) = 4;
    assert_true(vmcs_load(0x5000));
    assert_int_equal(vmcs_read(VMCS_GUEST_RIP), 0);
    assert_true(vmcs_load(0x3000));
    assert_int_equal(vmcs_read(VMCS_GUEST_RIP), ~0ULL);
    assert_int_equal(fake_vmcs_get_at(0x5000, VMCS_GUEST_RIP), 0);
    assert_true(vmcs_clear(0x3000));
    assert_int_equal(vmcs_current(), FAKE_NO_VMCS);
    assert_false(vmcs_clear(VMXON_PA));
    assert_int_equal(fake_vmcs_regions(), 2);
    /* INVEPT/INVVPID are counted. */
    assert_true(invept(INVEPT_SINGLE_CONTEXT, 0x1e));
    assert_true(invvpid(INVVPID_SINGLE_CONTEXT, 1, 0));
    uint64_t type, eptp, gla;
    uint16_t vpid;
    fake_invept_last(&type, &eptp);
    fake_invvpid_last(&type, &vpid, &gla);
    assert_int_equal(fake_invept_count(), 1);
    assert_int_equal(fake_invvpid_count(), 1);
    assert_int_equal(eptp, 0x1e);
    assert_int_equal(vpid, 1);
    vmx_off();
    assert_false(fake_vmx_is_on());
    assert_false(invept(INVEPT_ALL_CONTEXT, 0));
}


/* A CPU in the state INIT leaves it in (SDM Vol. 3A 10.1.1, Table 10-1),
 * active (it waits for its SIPI in L0, sipi.c): CS F000 with base
 * FFFF0000, IP FFF0, real-mode data segments, CR0 = 60000010H as the guest
 * reads it (the CPU's with the VMX-fixed NE, no PE/PG: unrestricted guest,
 * 26.3.1.1), EDX = the processor signature. Exits of this CPU find its own
 * per-CPU data through GS (HOST_GS_BASE). */
static void test_init_state(void **state)
{
    (void)state;
    use_caps(&tigerlake);
    struct vcpu *v = &vm.vcpus[0];
    fake_cpuid_set(0x1, 0, (struct cpuid_regs){0x000806c1, 0, 0, 0});
    assert_true(vmcs01_setup(&vm, v, why, sizeof(why)));
    assert_int_equal(fake_vmcs_get(VMCS_HOST_GS_BASE), (uint64_t)(uintptr_t)&cpu);
    fake_vmcs_set(VMCS_VM_ENTRY_CONTROLS, fake_vmcs_get(VMCS_VM_ENTRY_CONTROLS) | ENTRY_IA32E_MODE_GUEST);
    vmcs01_write_init_state(&vm, v);
    assert_int_equal(fake_vmcs_get(VMCS_GUEST_ACTIVITY_STATE), ACTIVITY_ACTIVE);
    assert_int_equal(fake_vmcs_get(VMCS_GUEST_CS_SELECTOR), 0xf000);
    assert_int_equal(fake_vmcs_get(VMCS_GUEST_CS_BASE), 0xffff0000);
    assert_int_equal(fake_vmcs_get(VMCS_GUEST_CS_LIMIT), 0xffff);
    assert_int_equal(fake_vmcs_get(VMCS_GUEST_CS_AR_BYTES), 0x9b);
    assert_int_equal(fake_vmcs_get(VMCS_GUEST_RIP), 0xfff0);
    assert_int_equal(fake_vmcs_get(VMCS_GUEST_RFLAGS), 0x2);
    enum vmcs_field sel[] = {VMCS_GUEST_SS_SELECTOR, VMCS_GUEST_DS_SELECTOR, VMCS_GUEST_ES_SELECTOR,
                             VMCS_GUEST_FS_SELECTOR, VMCS_GUEST_GS_SELECTOR};
    for (unsigned i = 0; i < 5; i++) {
        assert_int_equal(fake_vmcs_get(sel[i]), 0);
        unsigned k = (sel[i] - VMCS_GUEST_ES_SELECTOR) / 2; /* Appendix B strides */
        assert_int_equal(fake_vmcs_get((enum vmcs_field)(VMCS_GUEST_ES_LIMIT + 2 * k)), 0xffff);
        assert_int_equal(fake_vmcs_get((enum vmcs_field)(VMCS_GUEST_ES_AR_BYTES + 2 * k)), 0x93);
        assert_int_equal(fake_vmcs_get((enum vmcs_field)(VMCS_GUEST_ES_BASE + 2 * k)), 0);
    }
    assert_int_equal(fake_vmcs_get(VMCS_GUEST_TR_AR_BYTES), 0x83);
    assert_int_equal(fake_vmcs_get(VMCS_GUEST_LDTR_AR_BYTES), 0x82);
    assert_int_equal(fake_vmcs_get(VMCS_GUEST_IDTR_LIMIT), 0xffff);
    assert_int_equal(fake_vmcs_get(VMCS_CR0_READ_SHADOW), 0x60000010);
    uint64_t cr0 = fake_vmcs_get(VMCS_GUEST_CR0);
    assert_int_equal(cr0 & (CR0_PE | CR0_PG), 0);
    assert_true(cr0 & CR0_NE);
    assert_int_equal(cr0 & 0x60000010, 0x60000010);
    assert_int_equal(fake_vmcs_get(VMCS_CR4_READ_SHADOW), 0);
    assert_int_equal(fake_vmcs_get(VMCS_GUEST_IA32_EFER), 0);
    assert_int_equal(fake_vmcs_get(VMCS_VM_ENTRY_CONTROLS) & ENTRY_IA32E_MODE_GUEST, 0);
    assert_int_equal(v->regs.rdx, 0x000806c1);
    assert_int_equal(v->regs.rax, 0);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup(f, setup)
    const struct CMUnitTest tests[] = {
        T(test_tigerlake_controls),
        T(test_guest_host_masks),
        T(test_host_state),
        T(test_vmcs_region_is_created_and_current),
        T(test_hlt_exiting_follows_the_option),
        T(test_without_true_controls_defaults_are_forced),
        T(test_cpu_without_ept_or_unrestricted_guest_is_refused),
        T(test_entry_state),
        T(test_init_state),
        T(test_fake_vmx_semantics),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
