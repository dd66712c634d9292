/* unit-srcs: vmm/nested/vmcs02.c vmm/nested/msrlist.c vmm/l1view.c vmm/nested/fieldsets.c vmm/nested/bitmaps.c vmm/nested/ept02.c vmm/nested/ept12.c vmm/nested/vmx_msrs.c vmm/nested/vmcs12.c vmm/ept.c vmm/pmm.c vmm/msr.c vmm/mtrr.c vmm/memmap.c vmm/vcpu.c vmm/l1ram.c vmm/io.c arch/x86/vmx_root.c arch/x86/vmx_caps.c tests/unit/fake_vmx.c tests/unit/fake_ipi.c */
/* vmm/nested/vmcs02.c on the fake VMX layer, with the Bochs tigerlake
 * capabilities as the hardware's: the merge rules (vmcs12's wishes with
 * L0's needs, within the hardware's allowed settings: SDM Vol. 3C A.3-A.5),
 * vmcs02_prepare (SDM 26.3.2: how a VM entry loads guest state, EFER/PAT/
 * debug controls from the entry controls; 25.6.3-25.6.9 exception bitmap,
 * I/O and MSR bitmaps, CR masks, CR3 targets, TSC offset; 26.6 event
 * injection; 26.3.1.6 and 29.3.1 PAE PDPTEs), vmcs02_sync_to_vmcs12 (SDM
 * 28.2 exit information, 28.3 saving guest state and the save controls,
 * the IA-32e mode guest control from IA32_VMX_MISC bit 5), vmcs12_load_host_
 * state (SDM 28.5: CR0/CR3/CR4, DR7, MSRs, segments, descriptor tables,
 * RIP/RSP/RFLAGS; 28.6 the VM-exit MSR-load list) and the MSR lists (SDM
 * 26.4 loading on VM entry, 28.4 storing and 28.6 loading on VM exit,
 * 25.7.2/25.8.2 the 16-byte entries, failures reported by 1-based index). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>
#include "vmm/nested/vmcs02.h"
#include "vmm/nested/msrlist.h"
#include "vmm/nested/vmx_msrs.h"
#include "vmm/nested/fieldsets.h"
#include "vmm/nested/bitmaps.h"
#include "vmm/nested/ept02.h"
#include "vmm/nested/vmcs12.h"
#include "vmm/ept.h"
#include "vmm/io.h"
#include "vmm/msr.h"
#include "vmm/pmm.h"
#include "vmm/vm.h"
#include "arch/x86/apic.h"
#include "arch/x86/cpu_bits.h"
#include "arch/x86/msr_index.h"
#include "arch/x86/physmem.h"
#include "arch/x86/vmx.h"
#include "arch/x86/vmx_bits.h"
#include "arch/x86/vmx_root.h"
#include "tests/unit/fake_arch.h"
#include "tests/unit/fake_vmx.h"
#include "tests/unit/cpu_models.h"
#include "tests/unit/vmcs12_fixture.h"

struct vm the_vm;
#include "tests/unit/ept02_fixture.h"
void vm_stop(enum power_status status, const char *why)
{
    (void)status;
    fail_msg("vm_stop: %s", why);
    abort();
}

/* Fake physical memory: L1's RAM below 16 MiB, L0's page pool above. */
#define L1_RAM_BASE  0x100000ULL
#define L1_RAM_END   0x1000000ULL
#define POOL_BASE    0x1000000ULL
#define POOL_PAGES   4096ULL
#define L1_IO_A      0x200000ULL
#define L1_IO_B      0x201000ULL
#define L1_MSR_BMP   0x202000ULL
#define L1_LIST      0x203000ULL
#define L1_PDPT      0x204000ULL
#define VMCS12_PA    0x210000ULL
#define EPTP12       (0x300000ULL | EPTP_WALK_4 | EPTP_MEMTYPE_WB)
#define PHYS_BITS    39

static struct vmx_caps caps;
static struct nested_vmx nv;
static struct vmcs12 *c;
static struct vcpu *v = &the_vm.vcpus[0];

#define V(name) VMCS12(c, name)

static uint64_t page(void)
{
    uint64_t pa = pmm_alloc_page();
    assert_true(pa != 0);
    return pa;
}

static int setup(void **state)
{
    (void)state;
    fake_phys_reset();
    fake_vmx_reset();
    fake_msr_clear();
    memset(&the_vm, 0, sizeof(the_vm));
    memset(&nv, 0, sizeof(nv));
    assert_true(pmm_init(POOL_BASE, POOL_PAGES * PAGE_SIZE));
    vmx_caps_decode(&tigerlake, &caps);
    nested_vmx_msrs_init(&caps);
    the_vm.caps = &caps;
    the_vm.host_mtrr.phys_addr_mask = ((1ULL << PHYS_BITS) - 1) & ~0xfffULL;
    memmap_init(&the_vm.l1_map);
    assert_true(memmap_set(&the_vm.l1_map, L1_RAM_BASE, L1_RAM_END - L1_RAM_BASE, MEM_USABLE));
    /* EPT01: L1's memory identity-mapped, 2 MiB pages, write-back. */
    assert_true(ept_init(&the_vm.ept01, 2));
    assert_true(ept_map(&the_vm.ept01, 0, 0, L1_RAM_END, EPT_RWX | (MEMTYPE_WB << EPT_MEMTYPE_SHIFT)));
    the_vm.eptp01 = ept_eptp(&the_vm.ept01, false);
    /* L0's bitmaps for L1. */
    the_vm.msr_bitmap = page();
    the_vm.io_bitmap_a = page();
    the_vm.io_bitmap_b = page();
    msr_bitmap_build_l1(phys_to_virt(the_vm.msr_bitmap));
    io_bitmaps_build_l1(&the_vm, phys_to_virt(the_vm.io_bitmap_a), phys_to_virt(the_vm.io_bitmap_b));
    /* VMX root and vmcs01. */
    uint64_t vmxon = page();
    *(uint32_t *)phys_to_virt(vmxon) = caps.revision_id;
    assert_true(vmx_on(vmxon));
    v->vmcs01 = page();
    assert_true(vmcs_region_init(&caps, v->vmcs01, false));
    assert_true(vmcs_load(v->vmcs01));
    fixture_l0_host_state();
    /* Nested state. */
    fieldsets_init(true, true, true);
    v->nested = &nv;
    nv.ept02 = &E2;
    nv.vcpu = v;
    nv.current = VMCS12_PA;
    nv.cache = phys_to_virt(page());
    c = nv.cache;
    struct ept12_caps ec;
    nested_ept12_caps(the_vm.host_mtrr.phys_addr_mask | 0xfff, &ec);
    ept02_set_caps(&ec);
    assert_true(ept02_init(&E2, EPT02_POOL_PAGES));
    (nested_bitmaps_unprotect_all(), nested_bitmaps_init(&nv.bitmaps));
    assert_true(vmcs02_create(v));
    assert_int_equal(vmcs_current(), v->vmcs01);
    /* A 64-bit CPU with NX: what EFER may hold. */
    fake_cpuid_set(CPUID_LEAF_EXT_FEATURES_1, 0,
                   (struct cpuid_regs){0, 0, 0, CPUID_80000001_EDX_LM | CPUID_80000001_EDX_NX});
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    (nested_bitmaps_unprotect_all(), nested_bitmaps_init(&nv.bitmaps));
    return 0;
}

static void expect_field(enum vmcs_field f, uint64_t value)
{
    uint64_t got = fake_vmcs_get(f), want = value & vmcs_width_mask(f);
    if (got != want)
        fail_msg("field 0x%04x: 0x%llx, expected 0x%llx", f, (unsigned long long)got, (unsigned long long)want);
}

static bool fits(uint32_t value, struct vmx_ctl cap) { return (value & cap.must1) == cap.must1 && !(value & ~cap.may1); }

/* ---- the merge rules ---- */

/* Pin-based: L1's, within the hardware's settings, and NMI exiting with
 * virtual NMIs always (L0 reaches the CPU with NMIs, vmm/nmi.c). */
static void test_merge_pin(void **state)
{
    (void)state;
    assert_int_equal(vmcs02_pin(0, caps.pin), caps.pin.must1 | PIN_NMI_EXITING | PIN_VIRTUAL_NMIS);
    uint32_t pin12 = PIN_EXTINT_EXITING | PIN_NMI_EXITING | PIN_VIRTUAL_NMIS | PIN_PREEMPTION_TIMER;
    assert_int_equal(vmcs02_pin(pin12, caps.pin), pin12 | caps.pin.must1);
    assert_true(fits(vmcs02_pin(~0U, caps.pin), caps.pin));
    assert_int_equal(vmcs02_pin(PIN_POSTED_INTERRUPTS, caps.pin) & PIN_POSTED_INTERRUPTS, 0);
}

/* Primary: I/O per SDM 25.6.4 (L1's bitmaps merged with L0's;
 * unconditional I/O exiting if L1 asks for it without bitmaps; L0's own
 * bitmaps otherwise), MSR bitmaps only if L1 uses them (else every MSR
 * access exits, as L1 expects), secondary controls always. */
static void test_merge_proc(void **state)
{
    (void)state;
    struct vmx_ctl hw = caps.proc;
    uint32_t p;
    p = vmcs02_proc(PROC_USE_IO_BITMAPS | PROC_UNCOND_IO_EXITING, hw);
    assert_true(p & PROC_USE_IO_BITMAPS);
    assert_false(p & PROC_UNCOND_IO_EXITING);
    p = vmcs02_proc(PROC_UNCOND_IO_EXITING, hw);
    assert_true(p & PROC_UNCOND_IO_EXITING);
    assert_false(p & PROC_USE_IO_BITMAPS);
    p = vmcs02_proc(0, hw);
    assert_true(p & PROC_USE_IO_BITMAPS);
    assert_false(p & PROC_UNCOND_IO_EXITING);
    assert_false(p & PROC_USE_MSR_BITMAPS);
    assert_true(p & PROC_SECONDARY_CONTROLS);
    assert_true(vmcs02_proc(PROC_USE_MSR_BITMAPS, hw) & PROC_USE_MSR_BITMAPS);
    /* L1's exiting controls pass; the hardware's must-be-1 bits are set. */
    uint32_t mine = PROC_HLT_EXITING | PROC_RDTSC_EXITING | PROC_CR3_LOAD_EXITING | PROC_CR8_STORE_EXITING |
                    PROC_MOV_DR_EXITING | PROC_TSC_OFFSETTING | PROC_PAUSE_EXITING;
    p = vmcs02_proc(mine, hw);
    assert_int_equal(p & mine, mine);
    for (uint32_t x = 0; x < 4096; x++) {
        uint32_t proc12 = (x * 0x9e3779b9U) & nested_vmx_caps()->proc.may1;
        assert_true(fits(vmcs02_proc(proc12, hw), hw));
    }
}

/* Secondary: L2 always runs under EPT (EPT01 or a shadow of EPT12) and on
 * its own VPID; L1's secondary controls count only when it activates them. */
static void test_merge_proc2(void **state)
{
    (void)state;
    struct vmx_ctl hw = caps.proc2;
    uint32_t l1 = PROC2_ENABLE_RDTSCP | PROC2_UNRESTRICTED_GUEST | PROC2_DESC_TABLE_EXITING | PROC2_ENABLE_INVPCID;
    uint32_t p = vmcs02_proc2(PROC_SECONDARY_CONTROLS, l1, hw);
    assert_int_equal(p, l1 | PROC2_ENABLE_EPT | PROC2_ENABLE_VPID);
    assert_int_equal(vmcs02_proc2(0, l1, hw), PROC2_ENABLE_EPT | PROC2_ENABLE_VPID);
    assert_int_equal(vmcs02_proc2(PROC_SECONDARY_CONTROLS, 0, hw), PROC2_ENABLE_EPT | PROC2_ENABLE_VPID);
    assert_true(fits(vmcs02_proc2(PROC_SECONDARY_CONTROLS, ~0U, hw), hw));
    /* L1's VMCS shadowing is L0's to emulate (SDM 25.10): vmcs02 never
     * has it, so every VMREAD/VMWRITE of L2 exits to L0. */
    assert_true(hw.may1 & PROC2_VMCS_SHADOWING);
    assert_int_equal(vmcs02_proc2(PROC_SECONDARY_CONTROLS, PROC2_VMCS_SHADOWING | PROC2_ENABLE_RDTSCP, hw),
                     PROC2_ENABLE_RDTSCP | PROC2_ENABLE_EPT | PROC2_ENABLE_VPID);
    assert_int_equal(vmcs02_proc2(PROC_SECONDARY_CONTROLS, ~0U, hw) & PROC2_VMCS_SHADOWING, 0);
    /* PML and #VE are emulated by L0 for EPT12 (eptfeat.c): never the
     * CPU's, which would log and convert for EPT02. VM functions pass, so
     * that L2's VMFUNC exits rather than #UD (SDM 26.5.6.1). */
    uint32_t emulated = PROC2_ENABLE_PML | PROC2_EPT_VIOLATION_VE | PROC2_ENABLE_VMFUNC;
    p = vmcs02_proc2(PROC_SECONDARY_CONTROLS, PROC2_ENABLE_EPT | emulated, hw);
    assert_int_equal(p, PROC2_ENABLE_EPT | PROC2_ENABLE_VPID | PROC2_ENABLE_VMFUNC);
    assert_false(vmcs02_proc2(PROC_SECONDARY_CONTROLS, ~0U, hw) & (PROC2_ENABLE_PML | PROC2_EPT_VIOLATION_VE));
}

/* Exit controls: L0 always gets its host state back in 64-bit mode and
 * saves/loads L2's EFER, PAT and debug controls; of L1's only "acknowledge
 * interrupt on exit" and "save VMX-preemption timer value" shape vmcs02. */
static void test_merge_exit(void **state)
{
    (void)state;
    uint32_t l0 = EXIT_HOST_ADDR_SPACE_SIZE | EXIT_SAVE_EFER | EXIT_LOAD_EFER | EXIT_SAVE_PAT | EXIT_LOAD_PAT |
                  EXIT_SAVE_DEBUG_CONTROLS;
    uint32_t e = vmcs02_exit(0, caps.exit);
    assert_int_equal(e, l0 | caps.exit.must1);
    assert_false(e & (EXIT_ACK_INTR_ON_EXIT | EXIT_SAVE_PREEMPT_TIMER));
    e = vmcs02_exit(EXIT_ACK_INTR_ON_EXIT | EXIT_SAVE_PREEMPT_TIMER, caps.exit);
    assert_int_equal(e, l0 | caps.exit.must1 | EXIT_ACK_INTR_ON_EXIT | EXIT_SAVE_PREEMPT_TIMER);
    /* A 32-bit L1 host does not make L0's exits 32-bit. */
    assert_true(vmcs02_exit(EXIT_LOAD_EFER, caps.exit) & EXIT_HOST_ADDR_SPACE_SIZE);
    assert_true(fits(vmcs02_exit(~0U, caps.exit), caps.exit));
}

/* Entry controls: L0 always loads L2's EFER, PAT and debug controls;
 * "IA-32e mode guest" is L1's. */
static void test_merge_entry(void **state)
{
    (void)state;
    uint32_t l0 = ENTRY_LOAD_EFER | ENTRY_LOAD_PAT | ENTRY_LOAD_DEBUG_CONTROLS;
    assert_int_equal(vmcs02_entry(0, caps.entry), l0 | caps.entry.must1);
    assert_int_equal(vmcs02_entry(ENTRY_IA32E_MODE_GUEST, caps.entry), l0 | caps.entry.must1 | ENTRY_IA32E_MODE_GUEST);
    assert_int_equal(vmcs02_entry(~0U, caps.entry), l0 | caps.entry.must1 | ENTRY_IA32E_MODE_GUEST);
}

/* SDM 26.3.2.1: with "load IA32_EFER" the field is L2's EFER; without it,
 * L1's EFER with LMA and LME set to the "IA-32e mode guest" control. */
static void test_guest_efer(void **state)
{
    (void)state;
    uint64_t l1 = EFER_SCE | EFER_LME | EFER_LMA | EFER_NXE;
    V(VM_ENTRY_CONTROLS) = ENTRY_LOAD_EFER;
    V(GUEST_IA32_EFER) = EFER_NXE;
    assert_int_equal(vmcs02_guest_efer(c, l1), EFER_NXE);
    V(VM_ENTRY_CONTROLS) = ENTRY_LOAD_EFER | ENTRY_IA32E_MODE_GUEST;
    V(GUEST_IA32_EFER) = EFER_LME | EFER_LMA;
    assert_int_equal(vmcs02_guest_efer(c, l1), EFER_LME | EFER_LMA);
    V(VM_ENTRY_CONTROLS) = ENTRY_IA32E_MODE_GUEST;
    assert_int_equal(vmcs02_guest_efer(c, EFER_SCE), EFER_SCE | EFER_LME | EFER_LMA);
    V(VM_ENTRY_CONTROLS) = 0;
    assert_int_equal(vmcs02_guest_efer(c, l1), EFER_SCE | EFER_NXE);
    assert_int_equal(vmcs02_guest_efer(c, 0), 0);
}

static void test_bitmap_merge(void **state)
{
    (void)state;
    static uint8_t a[4096], b[4096], d[4096];
    for (unsigned i = 0; i < 4096; i++) {
        a[i] = (uint8_t)(i * 7);
        b[i] = (uint8_t)(i * 13 + 1);
        d[i] = 0xa5;
    }
    a[0] = 0x01;
    b[4095] = 0x80;
    bitmap_merge(d, a, b);
    for (unsigned i = 0; i < 4096; i++)
        assert_int_equal(d[i], (uint8_t)(a[i] | b[i]));
    /* In place. */
    bitmap_merge(a, a, b);
    assert_memory_equal(a, d, sizeof(d));
}

/* ---- vmcs02_prepare ---- */

/* The guest fields that pass between vmcs12 and vmcs02 as they are (SDM
 * 26.3.2: loaded from the guest-state area): every guest-state field
 * except the VMCS link pointer (L0's), the ones the entry controls govern
 * (EFER, PAT, DEBUGCTL, DR7, PERF_GLOBAL_CTRL) and the PDPTEs. */
static bool plain_guest(unsigned i)
{
    uint32_t enc = vmcs12_fields[i].encoding;
    if (vmcs_enc_type(enc) != VMCS_TYPE_GUEST || (vmcs12_fields[i].flags & FIELD_L0_ONLY))
        return false;
    switch (enc) {
    case VMCS_VMCS_LINK_POINTER:
    case VMCS_GUEST_IA32_EFER:
    case VMCS_GUEST_IA32_PAT:
    case VMCS_GUEST_IA32_DEBUGCTL:
    case VMCS_GUEST_DR7:
    case VMCS_GUEST_IA32_PERF_GLOBAL_CTRL:
    case VMCS_GUEST_PDPTE0:
    case VMCS_GUEST_PDPTE1:
    case VMCS_GUEST_PDPTE2:
    case VMCS_GUEST_PDPTE3:
    case VMCS_GUEST_PML_INDEX: /* vmcs12's alone: L0 logs for L1, vmcs02 has no PML */
        return false;
    default:
        return true;
    }
}

/* Hot: the shadowed fields, copied on every switch (L1 changes them
 * without an exit). */
static bool hot(unsigned i) { return vmcs12_fields[i].flags & FIELD_SHADOW; }

/* The few others the per-entry checks read: every exit brings them back
 * (L2 changes them without L1 seeing an exit); vmcs02 gets them only when
 * rebuilt (L1 cannot change them without a trapped VMWRITE). */
static bool entry_checked(unsigned i)
{
    switch (vmcs12_fields[i].encoding) {
    case VMCS_GUEST_CS_SELECTOR:
    case VMCS_GUEST_CS_LIMIT:
    case VMCS_GUEST_SS_SELECTOR:
    case VMCS_GUEST_SS_BASE:
    case VMCS_GUEST_SS_LIMIT:
    case VMCS_GUEST_PENDING_DBG_EXCEPTIONS:
        return true;
    default:
        return false;
    }
}

static uint64_t pattern(unsigned i, uint64_t seed) { return ((seed << 40) | (seed << 12)) ^ (0x10000ULL + i * 0x1011ULL); }

/* Every field gets a distinct value; the controls are those of a 64-bit
 * guest (no PAE PDPTEs to load). */
static void fill_cache(uint64_t seed)
{
    for (unsigned i = 0; i < VMCS_FIELD_COUNT; i++)
        c->field[i] = pattern(i, seed) & vmcs_width_mask(vmcs12_fields[i].encoding);
    V(PIN_BASED_VM_EXEC_CONTROL) = PIN_EXTINT_EXITING | PIN_NMI_EXITING | PIN_VIRTUAL_NMIS;
    V(CPU_BASED_VM_EXEC_CONTROL) = PROC_HLT_EXITING | PROC_SECONDARY_CONTROLS | PROC_UNCOND_IO_EXITING;
    V(SECONDARY_VM_EXEC_CONTROL) = PROC2_ENABLE_RDTSCP;
    V(VM_EXIT_CONTROLS) = EXIT_HOST_ADDR_SPACE_SIZE | EXIT_ACK_INTR_ON_EXIT;
    V(VM_ENTRY_CONTROLS) = ENTRY_IA32E_MODE_GUEST | ENTRY_LOAD_EFER | ENTRY_LOAD_PAT | ENTRY_LOAD_DEBUG_CONTROLS;
    V(GUEST_CR0) = 0x80050033;
    V(GUEST_CR4) = 0x26a0;
    V(CR3_TARGET_COUNT) = 2;
    V(VM_ENTRY_INTR_INFO_FIELD) = INTR_INFO_VALID | INTR_TYPE_HW_EXCEPTION | INTR_INFO_DELIVER_CODE | VEC_GP;
}

static const struct l1_inherit l1 = {
    .efer = EFER_SCE | EFER_LME | EFER_LMA | EFER_NXE,
    .pat = 0x0007040600070406ULL,
    .debugctl = 0x1,
    .dr7 = 0x401,
};

static void prepare(bool full, bool expect_ok)
{
    assert_true(vmcs_load(nv.vmcs02));
    assert_int_equal(vmcs02_prepare(v, &l1, full), expect_ok);
}

/* full: every plain guest field, hot and rare, is copied as it is. */
static void test_prepare_full_copies_guest_state(void **state)
{
    (void)state;
    fill_cache(1);
    prepare(true, true);
    unsigned n = 0;
    for (unsigned i = 0; i < VMCS_FIELD_COUNT; i++) {
        if (!plain_guest(i))
            continue;
        n++;
        expect_field((enum vmcs_field)vmcs12_fields[i].encoding, c->field[i]);
    }
    assert_int_equal(n, 51); /* 8 selectors and the guest interrupt status, 23 32-bit and 19
                                natural-width fields */
    /* The link pointer stays L0's (no shadow VMCS for L2); no PDPTEs for a
     * 64-bit guest. */
    expect_field(VMCS_VMCS_LINK_POINTER, VMCS_LINK_NONE);
    assert_false(fake_vmcs_written(VMCS_GUEST_PDPTE0));
    expect_field(VMCS_VPID, NESTED_VPID02);
}

/* partial: only the fields L1 can change without an exit (the shadowed,
 * hot ones) are rewritten; the rare ones keep what the last full prepare
 * wrote. */
static void test_prepare_partial_rewrites_only_hot_fields(void **state)
{
    (void)state;
    static struct vmcs12 first;
    fill_cache(1);
    first = *c;
    prepare(true, true);
    fill_cache(2);
    prepare(false, true);
    unsigned nhot = 0, nrare = 0;
    for (unsigned i = 0; i < VMCS_FIELD_COUNT; i++) {
        if (!plain_guest(i))
            continue;
        enum vmcs_field f = (enum vmcs_field)vmcs12_fields[i].encoding;
        if (hot(i)) {
            nhot++;
            expect_field(f, c->field[i]);
        } else {
            nrare++;
            assert_true(first.field[i] != c->field[i]);
            expect_field(f, first.field[i]);
        }
    }
    assert_true(nhot > 5 && nrare > 20);
    /* The controls and the shadowed companions are rewritten either way;
     * the unshadowed ones (CR masks, CR3 targets, #PF mask/match, feature
     * fields) only when the controls changed: otherwise only a VMWRITE
     * with an exit, which makes the next prepare full, changes them. */
    expect_field(VMCS_EXCEPTION_BITMAP, pattern(VMCS_IDX_EXCEPTION_BITMAP, 2));
    /* Every shadowed (FIELD_SHADOW) field vmcs02 takes from vmcs12 as is. */
    expect_field(VMCS_CR0_READ_SHADOW, pattern(VMCS_IDX_CR0_READ_SHADOW, 2));
    expect_field(VMCS_CR4_READ_SHADOW, pattern(VMCS_IDX_CR4_READ_SHADOW, 2));
    bool ctls_same = first.field[VMCS_IDX_PIN_BASED_VM_EXEC_CONTROL] == V(PIN_BASED_VM_EXEC_CONTROL) &&
                     first.field[VMCS_IDX_CPU_BASED_VM_EXEC_CONTROL] == V(CPU_BASED_VM_EXEC_CONTROL) &&
                     first.field[VMCS_IDX_SECONDARY_VM_EXEC_CONTROL] == V(SECONDARY_VM_EXEC_CONTROL) &&
                     first.field[VMCS_IDX_VM_EXIT_CONTROLS] == V(VM_EXIT_CONTROLS) &&
                     first.field[VMCS_IDX_VM_ENTRY_CONTROLS] == V(VM_ENTRY_CONTROLS);
    assert_true(ctls_same);
    expect_field(VMCS_CR0_GUEST_HOST_MASK, pattern(VMCS_IDX_CR0_GUEST_HOST_MASK, 1));
    expect_field(VMCS_CR3_TARGET_VALUE0, pattern(VMCS_IDX_CR3_TARGET_VALUE0, 1));
    /* A control L1 changed through the shadow VMCS: all rewritten. */
    V(CPU_BASED_VM_EXEC_CONTROL) ^= PROC_HLT_EXITING;
    prepare(false, true);
    expect_field(VMCS_CR0_GUEST_HOST_MASK, pattern(VMCS_IDX_CR0_GUEST_HOST_MASK, 2));
    expect_field(VMCS_CR3_TARGET_VALUE0, pattern(VMCS_IDX_CR3_TARGET_VALUE0, 2));
}

/* The fields the controls govern, and the control companions (SDM 25.6). */
static void test_prepare_controls_and_companions(void **state)
{
    (void)state;
    fill_cache(3);
    prepare(true, true);
    expect_field(VMCS_PIN_BASED_VM_EXEC_CONTROL, vmcs02_pin((uint32_t)V(PIN_BASED_VM_EXEC_CONTROL), caps.pin));
    uint32_t proc = vmcs02_proc((uint32_t)V(CPU_BASED_VM_EXEC_CONTROL), caps.proc);
    expect_field(VMCS_CPU_BASED_VM_EXEC_CONTROL, proc);
    expect_field(VMCS_SECONDARY_VM_EXEC_CONTROL,
                 vmcs02_proc2((uint32_t)V(CPU_BASED_VM_EXEC_CONTROL), (uint32_t)V(SECONDARY_VM_EXEC_CONTROL), caps.proc2));
    expect_field(VMCS_VM_EXIT_CONTROLS, vmcs02_exit((uint32_t)V(VM_EXIT_CONTROLS), caps.exit));
    expect_field(VMCS_VM_ENTRY_CONTROLS, vmcs02_entry((uint32_t)V(VM_ENTRY_CONTROLS), caps.entry));
    static const enum vmcs_field_index copied[] = {
        VMCS_IDX_EXCEPTION_BITMAP, VMCS_IDX_PAGE_FAULT_ERROR_CODE_MASK, VMCS_IDX_PAGE_FAULT_ERROR_CODE_MATCH,
        VMCS_IDX_CR0_GUEST_HOST_MASK, VMCS_IDX_CR4_GUEST_HOST_MASK, VMCS_IDX_CR0_READ_SHADOW,
        VMCS_IDX_CR4_READ_SHADOW, VMCS_IDX_CR3_TARGET_COUNT, VMCS_IDX_CR3_TARGET_VALUE0,
        VMCS_IDX_CR3_TARGET_VALUE1, VMCS_IDX_CR3_TARGET_VALUE2, VMCS_IDX_CR3_TARGET_VALUE3,
        VMCS_IDX_VM_ENTRY_INTR_INFO_FIELD, VMCS_IDX_VM_ENTRY_EXCEPTION_ERROR_CODE,
        VMCS_IDX_VM_ENTRY_INSTRUCTION_LEN,
    };
    for (unsigned i = 0; i < sizeof(copied) / sizeof(copied[0]); i++)
        expect_field((enum vmcs_field)vmcs12_fields[copied[i]].encoding, c->field[copied[i]]);
    /* Without TSC offsetting in vmcs12, L2 sees L1's TSC (offset 0). */
    expect_field(VMCS_TSC_OFFSET, 0);
    assert_false(fake_vmcs_get(VMCS_CPU_BASED_VM_EXEC_CONTROL) & PROC_TSC_OFFSETTING);
    V(CPU_BASED_VM_EXEC_CONTROL) |= PROC_TSC_OFFSETTING;
    V(TSC_OFFSET) = (uint64_t)-12345;
    prepare(false, true);
    expect_field(VMCS_TSC_OFFSET, (uint64_t)-12345);
    assert_true(fake_vmcs_get(VMCS_CPU_BASED_VM_EXEC_CONTROL) & PROC_TSC_OFFSETTING);
    /* Unconditional I/O exiting: no bitmaps in vmcs02. */
    assert_true(fake_vmcs_get(VMCS_CPU_BASED_VM_EXEC_CONTROL) & PROC_UNCOND_IO_EXITING);
    assert_false(fake_vmcs_written(VMCS_IO_BITMAP_A));
}

/* PML, VM functions and #VE are L0's to emulate (eptfeat.c): with all
 * three in vmcs12, vmcs02 has "enable VM functions" with no function
 * enabled, so that every VMFUNC of L2 exits to L0 (SDM 26.5.6.1), and
 * neither PML nor #VE; L1's log, EPTP list and #VE information addresses
 * and its PML index are never handed to the CPU. */
/* A virtual-APIC page L1 cannot reach (on hardware a device, which reads
 * as all ones): vmcs02 gets the stand-in page, whose VTPR reads all ones
 * at every entry, as the entry checks assumed (SDM 26.2.1.1: TPR threshold
 * not above VTPR), whatever L2 wrote there meanwhile. */
static void test_prepare_vapic_on_a_device(void **state)
{
    (void)state;
    fill_cache(5);
    V(CPU_BASED_VM_EXEC_CONTROL) |= PROC_TPR_SHADOW;
    V(VIRTUAL_APIC_PAGE_ADDR) = L1_RAM_END + 0x10000000ULL;
    V(TPR_THRESHOLD) = 3;
    prepare(true, true);
    uint64_t vapic = fake_vmcs_get(VMCS_VIRTUAL_APIC_PAGE_ADDR);
    assert_int_equal(vapic, nv.scratch02);
    uint32_t *vtpr = (uint32_t *)((uint8_t *)phys_to_virt(vapic) + XAPIC_TPR);
    assert_int_equal(*vtpr, ~0U);
    *vtpr = 0; /* L2's MOV to CR8 */
    prepare(false, true);
    assert_int_equal(*vtpr, ~0U);
    expect_field(VMCS_TPR_THRESHOLD, 3);
}

static void test_prepare_ept_features_stay_l0s(void **state)
{
    (void)state;
    fill_cache(4);
    V(SECONDARY_VM_EXEC_CONTROL) =
        PROC2_ENABLE_EPT | PROC2_ENABLE_VMFUNC | PROC2_ENABLE_PML | PROC2_EPT_VIOLATION_VE;
    V(VM_FUNCTION_CONTROL) = VMFUNC_EPTP_SWITCHING;
    V(EPT_POINTER) = 0x300000 | EPTP_WALK_4 | EPTP_MEMTYPE_WB | EPTP_AD_ENABLE;
    prepare(true, true);
    uint32_t proc2 = (uint32_t)fake_vmcs_get(VMCS_SECONDARY_VM_EXEC_CONTROL);
    assert_true(proc2 & PROC2_ENABLE_VMFUNC);
    assert_false(proc2 & (PROC2_ENABLE_PML | PROC2_EPT_VIOLATION_VE));
    expect_field(VMCS_VM_FUNCTION_CONTROL, 0);
    assert_false(fake_vmcs_written(VMCS_EPTP_LIST_ADDRESS));
    assert_false(fake_vmcs_written(VMCS_PML_ADDRESS));
    assert_false(fake_vmcs_written(VMCS_GUEST_PML_INDEX));
    assert_false(fake_vmcs_written(VMCS_VE_INFO_ADDRESS));
    assert_false(fake_vmcs_written(VMCS_EPTP_INDEX));
}

/* SDM 26.3.2.1: EFER, PAT, DEBUGCTL and DR7 come from vmcs12 with the
 * matching "load" entry controls, else L2 keeps L1's (vmcs02 loads them
 * always, so L0 hands it L1's values). */
static void test_prepare_inherits_l1_state(void **state)
{
    (void)state;
    fill_cache(4);
    V(GUEST_IA32_EFER) = EFER_LME | EFER_LMA;
    V(GUEST_IA32_PAT) = 0x0606060606060606ULL;
    V(GUEST_IA32_DEBUGCTL) = 0x2;
    V(GUEST_DR7) = 0x455;
    prepare(true, true);
    expect_field(VMCS_GUEST_IA32_EFER, EFER_LME | EFER_LMA);
    expect_field(VMCS_GUEST_IA32_PAT, 0x0606060606060606ULL);
    expect_field(VMCS_GUEST_IA32_DEBUGCTL, 0x2);
    expect_field(VMCS_GUEST_DR7, 0x455);
    V(VM_ENTRY_CONTROLS) = ENTRY_IA32E_MODE_GUEST;
    prepare(false, true);
    expect_field(VMCS_GUEST_IA32_EFER, l1.efer);
    expect_field(VMCS_GUEST_IA32_PAT, l1.pat);
    expect_field(VMCS_GUEST_IA32_DEBUGCTL, l1.debugctl);
    expect_field(VMCS_GUEST_DR7, l1.dr7);
    V(VM_ENTRY_CONTROLS) = ENTRY_LOAD_PAT;
    V(GUEST_CR4) &= ~CR4_PAE; /* a 32-bit guest without PAE: no PDPTEs */
    prepare(false, true);
    expect_field(VMCS_GUEST_IA32_EFER, l1.efer & ~(EFER_LME | EFER_LMA));
    expect_field(VMCS_GUEST_IA32_PAT, 0x0606060606060606ULL);
}

/* EPT: L2 without EPT12 runs on EPT01; with it, on the shadow EPT02 of
 * that EPTP12. */
static void test_prepare_ept_pointer(void **state)
{
    (void)state;
    fill_cache(5);
    prepare(true, true);
    expect_field(VMCS_EPT_POINTER, the_vm.eptp01);
    V(SECONDARY_VM_EXEC_CONTROL) |= PROC2_ENABLE_EPT;
    V(EPT_POINTER) = EPTP12;
    prepare(false, true);
    uint64_t eptp02 = fake_vmcs_get(VMCS_EPT_POINTER);
    assert_true(eptp02 != the_vm.eptp01);
    uint64_t named = 0;
    assert_non_null(ept02_shadow(&E2, EPTP12, &named));
    assert_int_equal(eptp02, named);
    assert_int_equal(eptp02 & ~EPT_ADDR_MASK, EPTP_MEMTYPE_WB | EPTP_WALK_4);
    /* With bitmaps to merge (which drops every shadow EPT02 when it
     * protects L1's page) vmcs02 still names a live shadow, not the freed
     * one (found by fuzz_vmcs12). */
    V(CPU_BASED_VM_EXEC_CONTROL) |= PROC_USE_MSR_BITMAPS;
    V(MSR_BITMAP) = L1_MSR_BMP;
    prepare(false, true);
    assert_non_null(ept02_shadow(&E2, EPTP12, &named));
    expect_field(VMCS_EPT_POINTER, named);
    assert_int_equal(ept02_root_count(&E2), 1);
    /* Secondary controls off: EPT12 is not in effect. */
    V(CPU_BASED_VM_EXEC_CONTROL) &= ~(uint64_t)PROC_SECONDARY_CONTROLS;
    prepare(false, true);
    expect_field(VMCS_EPT_POINTER, the_vm.eptp01);
}

static void guest32_pae(uint64_t cr3)
{
    V(VM_ENTRY_CONTROLS) = ENTRY_LOAD_EFER;
    V(GUEST_IA32_EFER) = 0;
    V(GUEST_CR0) = 0x80000031;
    V(GUEST_CR4) = CR4_PAE | CR4_VMXE;
    V(GUEST_CR3) = cr3;
}

/* PAE paging without EPT12: the PDPTEs come from L2's CR3 in L1's memory
 * (with EPT the CPU takes them from the VMCS, SDM 29.3.1), checked for
 * reserved bits (SDM 4.4.1: bits 2:1, 8:5, beyond MAXPHYADDR): a bad one
 * refuses the entry (qualification 2, SDM 26.3.1.6). */
static void test_prepare_pae_pdptes(void **state)
{
    (void)state;
    fill_cache(6);
    uint64_t *pdpt = phys_to_virt(L1_PDPT + 0x20);
    pdpt[0] = 0x500001;
    pdpt[1] = 0x501001;
    pdpt[2] = 0; /* not present: anything goes */
    pdpt[3] = 0x503001;
    guest32_pae(L1_PDPT + 0x20 + 0x8); /* CR3 bits 4:0 are ignored by PAE paging */
    prepare(true, true);
    expect_field(VMCS_GUEST_PDPTE0, 0x500001);
    expect_field(VMCS_GUEST_PDPTE1, 0x501001);
    expect_field(VMCS_GUEST_PDPTE2, 0);
    expect_field(VMCS_GUEST_PDPTE3, 0x503001);
    pdpt[1] = 0x501001 | (1ULL << 1); /* reserved bit 1 */
    prepare(false, false);
    pdpt[1] = 0x501001 | (1ULL << PHYS_BITS); /* beyond the address width */
    prepare(false, false);
    pdpt[1] = 0x501000 | (1ULL << 1); /* not present: not checked */
    prepare(false, true);
    /* The PDPT must be L1's memory. */
    guest32_pae(L1_RAM_END);
    prepare(false, false);
    /* Under EPT12, vmcs12's PDPTE fields are used as they are. */
    V(SECONDARY_VM_EXEC_CONTROL) |= PROC2_ENABLE_EPT;
    V(EPT_POINTER) = EPTP12;
    V(GUEST_PDPTE0) = 0x700001;
    V(GUEST_PDPTE3) = 0x703001;
    prepare(false, true);
    expect_field(VMCS_GUEST_PDPTE0, 0x700001);
    expect_field(VMCS_GUEST_PDPTE3, 0x703001);
}

/* MSR and I/O bitmaps (SDM 25.6.4, 25.6.9): an exit if L0 or L1 wants it. */
static void test_prepare_bitmaps(void **state)
{
    (void)state;
    fill_cache(7);
    uint8_t *l1_msr = phys_to_virt(L1_MSR_BMP), *l1_a = phys_to_virt(L1_IO_A), *l1_b = phys_to_virt(L1_IO_B);
    msr_bitmap_set(l1_msr, MSR_IA32_LSTAR, true, false); /* L0 passes LSTAR through */
    io_bitmap_trap(l1_a, l1_b, 0x3f8, 8);
    io_bitmap_trap(l1_a, l1_b, 0xc000, 1);
    V(CPU_BASED_VM_EXEC_CONTROL) = PROC_SECONDARY_CONTROLS | PROC_USE_MSR_BITMAPS | PROC_USE_IO_BITMAPS;
    V(MSR_BITMAP) = L1_MSR_BMP;
    V(IO_BITMAP_A) = L1_IO_A;
    V(IO_BITMAP_B) = L1_IO_B;
    prepare(true, true);
    expect_field(VMCS_MSR_BITMAP, nv.msr_bitmap02);
    expect_field(VMCS_IO_BITMAP_A, nv.io_bitmap02_a);
    expect_field(VMCS_IO_BITMAP_B, nv.io_bitmap02_b);
    const uint8_t *m02 = phys_to_virt(nv.msr_bitmap02), *m0 = phys_to_virt(the_vm.msr_bitmap);
    const uint8_t *a02 = phys_to_virt(nv.io_bitmap02_a), *b02 = phys_to_virt(nv.io_bitmap02_b);
    const uint8_t *a0 = phys_to_virt(the_vm.io_bitmap_a), *b0 = phys_to_virt(the_vm.io_bitmap_b);
    for (unsigned i = 0; i < 4096; i++) {
        assert_int_equal(m02[i], (uint8_t)(m0[i] | l1_msr[i]));
        assert_int_equal(a02[i], (uint8_t)(a0[i] | l1_a[i]));
        assert_int_equal(b02[i], (uint8_t)(b0[i] | l1_b[i]));
    }
    assert_true(msr_bitmap_exits(m02, MSR_IA32_LSTAR, false));
    assert_false(msr_bitmap_exits(m02, MSR_IA32_LSTAR, true));
    assert_true(io_bitmap_exits(a02, b02, 0x3fc));
    assert_true(io_bitmap_exits(a02, b02, 0xc000));
    /* Without I/O bitmaps or unconditional exiting in vmcs12, L0's own. */
    V(CPU_BASED_VM_EXEC_CONTROL) = PROC_SECONDARY_CONTROLS;
    prepare(false, true);
    expect_field(VMCS_IO_BITMAP_A, the_vm.io_bitmap_a);
    expect_field(VMCS_IO_BITMAP_B, the_vm.io_bitmap_b);
    assert_false(fake_vmcs_get(VMCS_CPU_BASED_VM_EXEC_CONTROL) & PROC_USE_MSR_BITMAPS);
}

/* VPID (SDM 29.4.3): vmcs02 always runs on VPID02; its TLB entries are
 * flushed unless the same VPID-tagged L2 runs again. */
static void test_prepare_vpid_flushes(void **state)
{
    (void)state;
    fill_cache(8);
    V(SECONDARY_VM_EXEC_CONTROL) = PROC2_ENABLE_VPID;
    V(VPID) = 5;
    unsigned n0 = fake_invvpid_count();
    prepare(true, true);
    assert_int_equal(fake_invvpid_count(), n0 + 1);
    uint64_t type, gla;
    uint16_t vpid;
    fake_invvpid_last(&type, &vpid, &gla);
    assert_int_equal(type, INVVPID_SINGLE_CONTEXT);
    assert_int_equal(vpid, NESTED_VPID02);
    prepare(false, true);
    assert_int_equal(fake_invvpid_count(), n0 + 1);
    V(VPID) = 6;
    prepare(false, true);
    assert_int_equal(fake_invvpid_count(), n0 + 2);
    prepare(false, true);
    assert_int_equal(fake_invvpid_count(), n0 + 2);
    V(SECONDARY_VM_EXEC_CONTROL) = 0;
    prepare(false, true);
    prepare(false, true);
    assert_int_equal(fake_invvpid_count(), n0 + 4);
}

/* ---- vmcs02_sync_to_vmcs12 ---- */

static const enum vmcs_field exit_info[] = {
    VMCS_VM_EXIT_REASON, VMCS_EXIT_QUALIFICATION, VMCS_VM_EXIT_INTR_INFO, VMCS_VM_EXIT_INTR_ERROR_CODE,
    VMCS_IDT_VECTORING_INFO_FIELD, VMCS_IDT_VECTORING_ERROR_CODE, VMCS_VM_EXIT_INSTRUCTION_LEN,
    VMCS_VMX_INSTRUCTION_INFO, VMCS_GUEST_LINEAR_ADDRESS, VMCS_GUEST_PHYSICAL_ADDRESS,
};

/* An exit of L2 as the CPU leaves vmcs02: new exit information and new
 * values in every guest field. */
static void cpu_exit(uint64_t seed)
{
    assert_int_equal(vmcs_current(), nv.vmcs02);
    for (unsigned i = 0; i < VMCS_FIELD_COUNT; i++) {
        uint32_t enc = vmcs12_fields[i].encoding;
        if (vmcs_enc_type(enc) == VMCS_TYPE_READONLY || plain_guest(i))
            fake_vmcs_set((enum vmcs_field)enc, pattern(i, seed));
    }
    fake_vmcs_set(VMCS_VM_ENTRY_INTR_INFO_FIELD, 0); /* the CPU clears the valid bit */
    fake_vmcs_set(VMCS_GUEST_IA32_EFER, EFER_SCE | EFER_LME | EFER_LMA);
    fake_vmcs_set(VMCS_GUEST_IA32_PAT, 0x0101010101010101ULL);
    fake_vmcs_set(VMCS_GUEST_IA32_DEBUGCTL, 0x3);
    fake_vmcs_set(VMCS_GUEST_DR7, 0x4ff);
}

/* SDM 28.2 / 28.3: exit information and the hot guest state go to vmcs12
 * at once; the rare guest state stays in vmcs02 until L1 could see it
 * (nested_sync_rare). */
static void test_sync_exit_info_hot_and_rare(void **state)
{
    (void)state;
    fill_cache(1);
    prepare(true, true);
    cpu_exit(9);
    vmcs02_sync_to_vmcs12(v);
    for (unsigned i = 0; i < sizeof(exit_info) / sizeof(exit_info[0]); i++) {
        int k = vmcs_field_index(exit_info[i]);
        assert_int_equal(c->field[k], pattern((unsigned)k, 9) & vmcs_width_mask(exit_info[i]));
    }
    assert_int_equal(V(VM_ENTRY_INTR_INFO_FIELD), 0);
    assert_true(nv.rare_stale);
    for (unsigned i = 0; i < VMCS_FIELD_COUNT; i++) {
        if (!plain_guest(i) || i == VMCS_IDX_VMX_PREEMPTION_TIMER_VALUE)
            continue;
        uint64_t mask = vmcs_width_mask(vmcs12_fields[i].encoding);
        assert_int_equal(c->field[i], pattern(i, hot(i) || entry_checked(i) ? 9 : 1) & mask);
    }
    /* The rare ones arrive when L1 could look. */
    assert_true(vmcs_load(v->vmcs01));
    nested_sync_rare(v);
    assert_false(nv.rare_stale);
    assert_int_equal(vmcs_current(), v->vmcs01);
    for (unsigned i = 0; i < VMCS_FIELD_COUNT; i++)
        if (plain_guest(i) && !hot(i))
            assert_int_equal(c->field[i], pattern(i, 9) & vmcs_width_mask(vmcs12_fields[i].encoding));
    /* Nothing stale: no VMCS switch. */
    c->field[VMCS_IDX_GUEST_ES_SELECTOR] = 0x77;
    nested_sync_rare(v);
    assert_int_equal(V(GUEST_ES_SELECTOR), 0x77);
}

/* SDM 28.3.1-28.3.2: EFER, PAT, DEBUGCTL/DR7 and the preemption timer are
 * saved only with their "save" exit controls. */
static void test_sync_save_controls(void **state)
{
    (void)state;
    for (int save = 0; save < 2; save++) {
        fill_cache(1);
        V(PIN_BASED_VM_EXEC_CONTROL) |= PIN_PREEMPTION_TIMER;
        V(VMX_PREEMPTION_TIMER_VALUE) = 5000;
        V(VM_EXIT_CONTROLS) = EXIT_HOST_ADDR_SPACE_SIZE |
                              (save ? EXIT_SAVE_EFER | EXIT_SAVE_PAT | EXIT_SAVE_DEBUG_CONTROLS |
                                          EXIT_SAVE_PREEMPT_TIMER
                                    : 0);
        uint64_t efer = V(GUEST_IA32_EFER), pat = V(GUEST_IA32_PAT), dbg = V(GUEST_IA32_DEBUGCTL),
                 dr7 = V(GUEST_DR7);
        prepare(true, true);
        cpu_exit(10);
        fake_vmcs_set(VMCS_VMX_PREEMPTION_TIMER_VALUE, 1234);
        vmcs02_sync_to_vmcs12(v);
        assert_int_equal(V(GUEST_IA32_EFER), save ? EFER_SCE | EFER_LME | EFER_LMA : efer);
        assert_int_equal(V(GUEST_IA32_PAT), save ? 0x0101010101010101ULL : pat);
        assert_int_equal(V(GUEST_IA32_DEBUGCTL), save ? 0x3 : dbg);
        assert_int_equal(V(GUEST_DR7), save ? 0x4ff : dr7);
        assert_int_equal(V(VMX_PREEMPTION_TIMER_VALUE), save ? 1234 : 5000);
    }
}

/* IA32_VMX_MISC bit 5: on exit "IA-32e mode guest" takes EFER.LMA, which
 * the CPU keeps in vmcs02's entry controls; the other entry controls are
 * L1's as they were. */
static void test_sync_ia32e_entry_control(void **state)
{
    (void)state;
    fill_cache(1);
    uint64_t entry12 = V(VM_ENTRY_CONTROLS);
    prepare(true, true);
    cpu_exit(11);
    fake_vmcs_set(VMCS_VM_ENTRY_CONTROLS, fake_vmcs_get(VMCS_VM_ENTRY_CONTROLS) & ~(uint64_t)ENTRY_IA32E_MODE_GUEST);
    vmcs02_sync_to_vmcs12(v);
    assert_int_equal(V(VM_ENTRY_CONTROLS), entry12 & ~(uint64_t)ENTRY_IA32E_MODE_GUEST);
    V(VM_ENTRY_CONTROLS) = ENTRY_LOAD_PAT;
    fake_vmcs_set(VMCS_VM_ENTRY_CONTROLS, fake_vmcs_get(VMCS_VM_ENTRY_CONTROLS) | ENTRY_IA32E_MODE_GUEST);
    vmcs02_sync_to_vmcs12(v);
    assert_int_equal(V(VM_ENTRY_CONTROLS), ENTRY_LOAD_PAT | ENTRY_IA32E_MODE_GUEST);
}

/* SDM 28.3.4: with EPT (EPT12) and PAE paging the PDPTEs are saved. */
static void test_sync_pdptes_with_ept12(void **state)
{
    (void)state;
    fill_cache(1);
    guest32_pae(L1_PDPT);
    V(SECONDARY_VM_EXEC_CONTROL) = PROC2_ENABLE_EPT;
    V(EPT_POINTER) = EPTP12;
    prepare(true, true);
    cpu_exit(12);
    fake_vmcs_set(VMCS_GUEST_CR0, 0x80000031);
    fake_vmcs_set(VMCS_GUEST_CR4, CR4_PAE | CR4_VMXE);
    fake_vmcs_set(VMCS_GUEST_PDPTE2, 0x802001);
    vmcs02_sync_to_vmcs12(v);
    assert_int_equal(V(GUEST_PDPTE2), 0x802001);
    /* Without EPT12 the PDPTEs are not vmcs12's business. */
    V(SECONDARY_VM_EXEC_CONTROL) = 0;
    V(GUEST_PDPTE2) = 0x42;
    vmcs02_sync_to_vmcs12(v);
    assert_int_equal(V(GUEST_PDPTE2), 0x42);
}

/* ---- vmcs12_load_host_state (SDM 28.5) ---- */

static void host_state64(void)
{
    V(VM_EXIT_CONTROLS) = EXIT_HOST_ADDR_SPACE_SIZE | EXIT_LOAD_PAT | EXIT_LOAD_EFER;
    V(HOST_CR0) = 0x80010031; /* PG WP ET PE, NE clear: L0 sets it in CR0, not in L1's view */
    V(HOST_CR3) = 0x123000;
    V(HOST_CR4) = CR4_PAE | CR4_PGE | CR4_VMXE;
    V(HOST_CS_SELECTOR) = 0x10;
    V(HOST_SS_SELECTOR) = 0;
    V(HOST_DS_SELECTOR) = 0x18;
    V(HOST_ES_SELECTOR) = 0;
    V(HOST_FS_SELECTOR) = 0;
    V(HOST_GS_SELECTOR) = 0x18;
    V(HOST_TR_SELECTOR) = 0x40;
    V(HOST_FS_BASE) = 0x7ff000001000ULL;
    V(HOST_GS_BASE) = 0xffff888000002000ULL;
    V(HOST_TR_BASE) = 0xffffffff81003000ULL;
    V(HOST_GDTR_BASE) = 0xffffffff81004000ULL;
    V(HOST_IDTR_BASE) = 0xffffffff81005000ULL;
    V(HOST_IA32_SYSENTER_CS) = 0x10;
    V(HOST_IA32_SYSENTER_ESP) = 0xffffffff81006000ULL;
    V(HOST_IA32_SYSENTER_EIP) = 0xffffffff81007000ULL;
    V(HOST_IA32_PAT) = 0x0007040600070406ULL;
    V(HOST_IA32_EFER) = EFER_SCE | EFER_LME | EFER_LMA | EFER_NXE;
    V(HOST_RSP) = 0xffffffff81008000ULL;
    V(HOST_RIP) = 0xffffffff81009000ULL;
    V(VM_EXIT_MSR_LOAD_COUNT) = 0;
}

/* L1's state in vmcs01 as L1 left it for its VMLAUNCH. */
static void l1_at_launch(void)
{
    assert_true(vmcs_load(v->vmcs01));
    fake_vmcs_set(VMCS_GUEST_IA32_EFER, EFER_SCE | EFER_LME | EFER_LMA);
    fake_vmcs_set(VMCS_GUEST_IA32_PAT, 0x1111111111111111ULL);
    fake_vmcs_set(VMCS_VM_ENTRY_CONTROLS, caps.entry.must1 | ENTRY_IA32E_MODE_GUEST | ENTRY_LOAD_EFER);
    fake_vmcs_set(VMCS_GUEST_RFLAGS, RFLAGS_FIXED1 | RFLAGS_IF | RFLAGS_ZF);
    fake_vmcs_set(VMCS_GUEST_INTERRUPTIBILITY_INFO, INTERRUPTIBILITY_STI);
    fake_vmcs_set(VMCS_GUEST_ACTIVITY_STATE, ACTIVITY_HLT);
    fake_vmcs_set(VMCS_GUEST_PENDING_DBG_EXCEPTIONS, 0x4000);
    fake_vmcs_set(VMCS_VM_ENTRY_INTR_INFO_FIELD, INTR_INFO_VALID | INTR_TYPE_EXT_INTR | 0x30);
    fake_vmcs_set(VMCS_GUEST_DR7, 0x4ff);
    fake_vmcs_set(VMCS_GUEST_IA32_DEBUGCTL, 3);
    fake_vmcs_set(VMCS_GUEST_LDTR_SELECTOR, 0x50);
    fake_vmcs_set(VMCS_GUEST_LDTR_AR_BYTES, 0x82);
}

static void test_host_state_64(void **state)
{
    (void)state;
    fill_cache(1);
    host_state64();
    l1_at_launch();
    assert_true(vmcs12_load_host_state(v));
    /* 28.5.1: CR0/CR4 from the fields; L1 reads them back through the
     * shadows, the CPU gets L0's fixed bits (CR0.NE, CR4.VMXE) too. */
    expect_field(VMCS_GUEST_CR0, 0x80010031 | CR0_NE);
    expect_field(VMCS_CR0_READ_SHADOW, 0x80010031);
    assert_int_equal(v->cr0_shadow, 0x80010031);
    expect_field(VMCS_GUEST_CR4, CR4_PAE | CR4_PGE | CR4_VMXE);
    expect_field(VMCS_CR4_READ_SHADOW, CR4_PAE | CR4_PGE | CR4_VMXE);
    assert_int_equal(v->cr4_shadow, CR4_PAE | CR4_PGE | CR4_VMXE);
    expect_field(VMCS_GUEST_CR3, 0x123000);
    expect_field(VMCS_GUEST_DR7, 0x400);
    expect_field(VMCS_GUEST_IA32_DEBUGCTL, 0);
    expect_field(VMCS_GUEST_SYSENTER_CS, 0x10);
    expect_field(VMCS_GUEST_SYSENTER_ESP, 0xffffffff81006000ULL);
    expect_field(VMCS_GUEST_SYSENTER_EIP, 0xffffffff81007000ULL);
    expect_field(VMCS_GUEST_IA32_PAT, 0x0007040600070406ULL);
    expect_field(VMCS_GUEST_IA32_EFER, EFER_SCE | EFER_LME | EFER_LMA | EFER_NXE);
    /* L1 continues in IA-32e mode: the entry control follows (26.2.4). */
    assert_true(fake_vmcs_get(VMCS_VM_ENTRY_CONTROLS) & ENTRY_IA32E_MODE_GUEST);
    assert_true(fake_vmcs_get(VMCS_VM_ENTRY_CONTROLS) & ENTRY_LOAD_EFER); /* L0's own bits kept */
    /* 28.5.2: CS 64-bit code (type 11, S, P, L, G), base 0, limit 4G. */
    expect_field(VMCS_GUEST_CS_SELECTOR, 0x10);
    expect_field(VMCS_GUEST_CS_BASE, 0);
    expect_field(VMCS_GUEST_CS_LIMIT, 0xffffffff);
    expect_field(VMCS_GUEST_CS_AR_BYTES, 0xa09b);
    /* Null selectors: unusable; others data (type 3, S, P, D/B, G). */
    expect_field(VMCS_GUEST_SS_SELECTOR, 0);
    assert_true(fake_vmcs_get(VMCS_GUEST_SS_AR_BYTES) & AR_UNUSABLE);
    assert_int_equal(fake_vmcs_get(VMCS_GUEST_SS_AR_BYTES) & AR_DPL_MASK, 0); /* CPL 0 */
    assert_true(fake_vmcs_get(VMCS_GUEST_ES_AR_BYTES) & AR_UNUSABLE);
    assert_true(fake_vmcs_get(VMCS_GUEST_FS_AR_BYTES) & AR_UNUSABLE);
    expect_field(VMCS_GUEST_DS_SELECTOR, 0x18);
    expect_field(VMCS_GUEST_DS_AR_BYTES, 0xc093);
    expect_field(VMCS_GUEST_DS_BASE, 0);
    expect_field(VMCS_GUEST_GS_AR_BYTES, 0xc093);
    /* FS and GS bases from the fields, even with a null selector. */
    expect_field(VMCS_GUEST_FS_BASE, 0x7ff000001000ULL);
    expect_field(VMCS_GUEST_GS_BASE, 0xffff888000002000ULL);
    /* TR: busy 32-bit TSS (type 11), P, limit 67H, base from the field. */
    expect_field(VMCS_GUEST_TR_SELECTOR, 0x40);
    expect_field(VMCS_GUEST_TR_BASE, 0xffffffff81003000ULL);
    expect_field(VMCS_GUEST_TR_LIMIT, 0x67);
    expect_field(VMCS_GUEST_TR_AR_BYTES, 0x8b);
    /* LDTR: null and unusable. */
    expect_field(VMCS_GUEST_LDTR_SELECTOR, 0);
    assert_true(fake_vmcs_get(VMCS_GUEST_LDTR_AR_BYTES) & AR_UNUSABLE);
    /* GDTR/IDTR: bases from the fields, limits FFFFH. */
    expect_field(VMCS_GUEST_GDTR_BASE, 0xffffffff81004000ULL);
    expect_field(VMCS_GUEST_GDTR_LIMIT, 0xffff);
    expect_field(VMCS_GUEST_IDTR_BASE, 0xffffffff81005000ULL);
    expect_field(VMCS_GUEST_IDTR_LIMIT, 0xffff);
    /* 28.5.3: RIP/RSP from the fields, RFLAGS = 2; active, no blocking,
     * no pending debug exceptions; nothing for L0 to inject into L1. */
    expect_field(VMCS_GUEST_RIP, 0xffffffff81009000ULL);
    expect_field(VMCS_GUEST_RSP, 0xffffffff81008000ULL);
    expect_field(VMCS_GUEST_RFLAGS, RFLAGS_FIXED1);
    expect_field(VMCS_GUEST_INTERRUPTIBILITY_INFO, 0);
    expect_field(VMCS_GUEST_ACTIVITY_STATE, ACTIVITY_ACTIVE);
    expect_field(VMCS_GUEST_PENDING_DBG_EXCEPTIONS, 0);
    expect_field(VMCS_VM_ENTRY_INTR_INFO_FIELD, 0);
}

/* Without "load IA32_EFER" LMA/LME follow "host address-space size";
 * without "load IA32_PAT" PAT is L1's as it was; a 32-bit host gets a
 * 32-bit CS and leaves IA-32e mode. */
static void test_host_state_32_and_no_loads(void **state)
{
    (void)state;
    fill_cache(1);
    host_state64();
    V(VM_EXIT_CONTROLS) = EXIT_HOST_ADDR_SPACE_SIZE;
    l1_at_launch();
    fake_vmcs_set(VMCS_GUEST_IA32_EFER, EFER_SCE | EFER_NXE);
    assert_true(vmcs12_load_host_state(v));
    expect_field(VMCS_GUEST_IA32_EFER, EFER_SCE | EFER_NXE | EFER_LME | EFER_LMA);
    expect_field(VMCS_GUEST_IA32_PAT, 0x1111111111111111ULL);
    /* 32-bit host. */
    V(VM_EXIT_CONTROLS) = 0;
    V(HOST_SS_SELECTOR) = 0x18;
    V(HOST_RIP) = 0x100000;
    l1_at_launch();
    assert_true(vmcs12_load_host_state(v));
    expect_field(VMCS_GUEST_IA32_EFER, EFER_SCE);
    assert_false(fake_vmcs_get(VMCS_VM_ENTRY_CONTROLS) & ENTRY_IA32E_MODE_GUEST);
    expect_field(VMCS_GUEST_CS_AR_BYTES, 0xc09b); /* D/B set, L clear */
    expect_field(VMCS_GUEST_SS_AR_BYTES, 0xc093);
    /* With "load IA32_EFER" the field wins even for a 32-bit host. */
    V(VM_EXIT_CONTROLS) = EXIT_LOAD_EFER;
    V(HOST_IA32_EFER) = EFER_NXE;
    l1_at_launch();
    assert_true(vmcs12_load_host_state(v));
    expect_field(VMCS_GUEST_IA32_EFER, EFER_NXE);
}

struct msr_entry {
    uint32_t index, reserved;
    uint64_t value;
};

static struct msr_entry *list(uint64_t pa) { return phys_to_virt(pa); }

/* SDM 28.6: the VM-exit MSR-load list is applied after the host state
 * (so it overrides it); a failing entry fails the exit (a VMX abort). */
static void test_host_state_exit_msr_load_list(void **state)
{
    (void)state;
    fill_cache(1);
    host_state64();
    fake_msr_set(MSR_IA32_LSTAR, 0);
    struct msr_entry *e = list(L1_LIST);
    e[0] = (struct msr_entry){MSR_IA32_EFER, 0, EFER_SCE | EFER_LME | EFER_LMA};
    e[1] = (struct msr_entry){MSR_IA32_LSTAR, 0, 0xffffffff81abc000ULL};
    V(VM_EXIT_MSR_LOAD_ADDR) = L1_LIST;
    V(VM_EXIT_MSR_LOAD_COUNT) = 2;
    l1_at_launch();
    assert_true(vmcs12_load_host_state(v));
    expect_field(VMCS_GUEST_IA32_EFER, EFER_SCE | EFER_LME | EFER_LMA);
    uint64_t lstar = 0;
    assert_true(rdmsr_safe(MSR_IA32_LSTAR, &lstar));
    assert_int_equal(lstar, 0xffffffff81abc000ULL);
    e[1].index = MSR_X2APIC_FIRST + 8;
    l1_at_launch();
    assert_false(vmcs12_load_host_state(v));
}

/* ---- MSR lists (SDM 26.4, 28.4, 28.6) ---- */

/* MSRs the VMCS switches go to the current VMCS's guest fields (vmcs02 on
 * entry, vmcs01 on exit), never to the CPU under L0. */
static void test_msr_list_load_vmcs_switched(void **state)
{
    (void)state;
    struct msr_entry *e = list(L1_LIST);
    e[0] = (struct msr_entry){MSR_IA32_EFER, 0, EFER_LME | EFER_LMA | EFER_SCE};
    e[1] = (struct msr_entry){MSR_IA32_PAT, 0, 0x0606060606060606ULL};
    e[2] = (struct msr_entry){MSR_IA32_DEBUGCTL, 0, 1};
    e[3] = (struct msr_entry){MSR_IA32_SYSENTER_CS, 0, 0x23};
    e[4] = (struct msr_entry){MSR_IA32_SYSENTER_ESP, 0, 0x1000};
    e[5] = (struct msr_entry){MSR_IA32_SYSENTER_EIP, 0, 0x2000};
    assert_true(vmcs_load(nv.vmcs02));
    fake_vmcs_set(VMCS_GUEST_IA32_EFER, EFER_LME | EFER_LMA);
    fake_vmcs_set(VMCS_GUEST_CR0, CR0_PE | CR0_PG);
    /* DEBUGCTL's valid bits are the CPU's: on one without the MSR (Bochs)
     * the entry fails as WRMSR would. */
    assert_int_equal(msr_list_load(v, L1_LIST, 6), 3);
    fake_msr_set(MSR_IA32_DEBUGCTL, 0);
    assert_int_equal(msr_list_load(v, L1_LIST, 6), 0);
    expect_field(VMCS_GUEST_IA32_EFER, EFER_LME | EFER_LMA | EFER_SCE);
    expect_field(VMCS_GUEST_IA32_PAT, 0x0606060606060606ULL);
    expect_field(VMCS_GUEST_IA32_DEBUGCTL, 1);
    expect_field(VMCS_GUEST_SYSENTER_CS, 0x23);
    expect_field(VMCS_GUEST_SYSENTER_ESP, 0x1000);
    expect_field(VMCS_GUEST_SYSENTER_EIP, 0x2000);
    /* vmcs01 untouched. */
    assert_int_equal(fake_vmcs_get_at(v->vmcs01, VMCS_GUEST_SYSENTER_CS), 0);
    /* An empty list does nothing. */
    assert_int_equal(msr_list_load(v, 0xdead0, 0), 0);
    /* MSR-store: the same MSRs read from the current VMCS. */
    e[0] = (struct msr_entry){MSR_IA32_PAT, 0, 0};
    e[1] = (struct msr_entry){MSR_IA32_SYSENTER_EIP, 0, 0};
    assert_int_equal(msr_list_store(L1_LIST, 2), 0);
    assert_int_equal(e[0].value, 0x0606060606060606ULL);
    assert_int_equal(e[1].value, 0x2000);
}

/* Pass-through MSRs are written to/read from the CPU; emulated ones go
 * through L0's emulation (L1's virtual MTRRs); MSRs neither can handle
 * fail their entry. */
static void test_msr_list_cpu_and_emulated(void **state)
{
    (void)state;
    fake_msr_set(MSR_IA32_STAR, 0x11);
    the_vm.l1_mtrr.def_type_msr = 0;
    struct msr_entry *e = list(L1_LIST);
    e[0] = (struct msr_entry){MSR_IA32_STAR, 0, 0x0023001000000000ULL};
    e[1] = (struct msr_entry){MSR_IA32_MTRR_DEF_TYPE, 0, 0xc06};
    e[2] = (struct msr_entry){0x1234, 0, 1}; /* no such MSR */
    assert_int_equal(msr_list_load(v, L1_LIST, 3), 3);
    uint64_t star;
    assert_true(rdmsr_safe(MSR_IA32_STAR, &star));
    assert_int_equal(star, 0x0023001000000000ULL);
    assert_int_equal(the_vm.l1_mtrr.def_type_msr, 0xc06);
    e[0].value = 0;
    e[1].value = 0;
    assert_int_equal(msr_list_store(L1_LIST, 3), 3);
    assert_int_equal(e[0].value, 0x0023001000000000ULL);
    assert_int_equal(e[1].value, 0xc06);
}

/* SDM 26.4 / 28.6: an entry fails if bits 63:32 (reserved) are set, for
 * an x2APIC MSR (800H-8FFH), for IA32_SMM_MONITOR_CTL, and for IA32_FS_BASE
 * and IA32_GS_BASE (loaded from the segment fields, never the lists); the
 * result is the entry's 1-based index and the entries before it are done. */
static void test_msr_list_refusals(void **state)
{
    (void)state;
    assert_true(vmcs_load(nv.vmcs02));
    struct msr_entry *e = list(L1_LIST);
    static const uint32_t refused[] = {MSR_X2APIC_FIRST, 0x830, MSR_X2APIC_LAST, MSR_IA32_SMM_MONITOR_CTL,
                                       MSR_IA32_FS_BASE, MSR_IA32_GS_BASE};
    for (int exit_list = 0; exit_list < 2; exit_list++) {
        for (unsigned i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
            fake_vmcs_set(VMCS_GUEST_SYSENTER_CS, 0);
            e[0] = (struct msr_entry){MSR_IA32_SYSENTER_CS, 0, 0x8};
            e[1] = (struct msr_entry){MSR_IA32_SYSENTER_CS, 0, 0x10};
            e[2] = (struct msr_entry){refused[i], 0, 0};
            e[3] = (struct msr_entry){MSR_IA32_SYSENTER_CS, 0, 0x18};
            if (msr_list_load(v, L1_LIST, 4) != 3)
                fail_msg("MSR 0x%x in the %s MSR-load list not refused as entry 3", refused[i],
                         exit_list ? "exit" : "entry");
            expect_field(VMCS_GUEST_SYSENTER_CS, 0x10);
        }
    }
    e[1] = (struct msr_entry){MSR_IA32_SYSENTER_CS, 1, 0x10};
    assert_int_equal(msr_list_load(v, L1_LIST, 4), 2);
    /* Store: x2APIC and reserved bits refused too. */
    e[0] = (struct msr_entry){MSR_IA32_SYSENTER_CS, 0, 0};
    e[1] = (struct msr_entry){MSR_X2APIC_FIRST + 3, 0, 0};
    assert_int_equal(msr_list_store(L1_LIST, 2), 2);
    e[1] = (struct msr_entry){MSR_IA32_SYSENTER_CS, 0x80, 0};
    assert_int_equal(msr_list_store(L1_LIST, 2), 2);
}

/* A list reaching past L1's RAM fails at the first entry outside it. */
static void test_msr_list_outside_l1_ram(void **state)
{
    (void)state;
    assert_true(vmcs_load(nv.vmcs02));
    uint64_t addr = L1_RAM_END - 2 * sizeof(struct msr_entry);
    struct msr_entry *e = list(addr);
    e[0] = (struct msr_entry){MSR_IA32_SYSENTER_CS, 0, 1};
    e[1] = (struct msr_entry){MSR_IA32_SYSENTER_CS, 0, 2};
    assert_int_equal(msr_list_load(v, addr, 2), 0);
    assert_int_equal(msr_list_load(v, addr, 3), 3);
    assert_int_equal(msr_list_store(addr, 5), 3);
    assert_int_equal(msr_list_load(v, 0x1000, 1), 1); /* below L1's RAM */
}


/* WRMSR's rules apply to the MSRs the VMCS switches (SDM 26.4, 28.6: an
 * entry fails if WRMSR of its value would #GP): EFER's reserved bits and a
 * change of LME under paging fail, LMA is read-only and keeps its value
 * (Bochs's SetEFER, KVM's set_efer); invalid PAT memory types and
 * non-canonical SYSENTER_ESP/EIP fail. A failing entry stops the list. */
static void test_msr_list_wrmsr_rules(void **state)
{
    (void)state;
    struct msr_entry *e = list(L1_LIST);
    /* vmcs01 after a nested exit to a 64-bit L1 host: EFER 0x500, paging. */
    assert_true(vmcs_load(v->vmcs01));
    fake_vmcs_set(VMCS_GUEST_IA32_EFER, EFER_LME | EFER_LMA);
    fake_vmcs_set(VMCS_GUEST_CR0, CR0_PE | CR0_PG);
    /* The issue-10 reproduction: EFER = LME alone loads as LME | LMA. */
    e[0] = (struct msr_entry){MSR_IA32_EFER, 0, EFER_LME | EFER_SCE};
    assert_int_equal(msr_list_load(v, L1_LIST, 1), 0);
    expect_field(VMCS_GUEST_IA32_EFER, EFER_LME | EFER_LMA | EFER_SCE);
    /* LMA written clear or set changes nothing. */
    e[0].value = EFER_LME | EFER_NXE;
    assert_int_equal(msr_list_load(v, L1_LIST, 1), 0);
    expect_field(VMCS_GUEST_IA32_EFER, EFER_LME | EFER_LMA | EFER_NXE);
    /* LME cleared under paging, a reserved bit: entry 1 fails, nothing changes. */
    static const uint64_t bad_efer[] = {0, EFER_LMA, EFER_LME | (1ULL << 1), EFER_LME | (1ULL << 12),
                                        EFER_LME | (1ULL << 63)};
    for (unsigned i = 0; i < sizeof(bad_efer) / sizeof(bad_efer[0]); i++) {
        e[0].value = bad_efer[i];
        if (msr_list_load(v, L1_LIST, 1) != 1)
            fail_msg("EFER 0x%llx loaded", (unsigned long long)bad_efer[i]);
        expect_field(VMCS_GUEST_IA32_EFER, EFER_LME | EFER_LMA | EFER_NXE);
    }
    /* Without NX in CPUID, NXE is reserved. */
    fake_cpuid_set(CPUID_LEAF_EXT_FEATURES_1, 0, (struct cpuid_regs){0, 0, 0, CPUID_80000001_EDX_LM});
    e[0].value = EFER_LME | EFER_NXE;
    assert_int_equal(msr_list_load(v, L1_LIST, 1), 1);
    /* Paging off: LME may change, LMA still stays. */
    fake_vmcs_set(VMCS_GUEST_CR0, CR0_PE);
    fake_vmcs_set(VMCS_GUEST_IA32_EFER, 0);
    e[0].value = EFER_LME | EFER_LMA;
    assert_int_equal(msr_list_load(v, L1_LIST, 1), 0);
    expect_field(VMCS_GUEST_IA32_EFER, EFER_LME);
    /* PAT: types 2, 3 and above 7 are reserved. */
    fake_vmcs_set(VMCS_GUEST_IA32_PAT, 0x0007040600070406ULL);
    e[0] = (struct msr_entry){MSR_IA32_PAT, 0, 0x0007040600070406ULL};
    e[1] = (struct msr_entry){MSR_IA32_PAT, 0, 0x0007040600070402ULL};
    assert_int_equal(msr_list_load(v, L1_LIST, 2), 2);
    e[1].value = 0x0807040600070406ULL;
    assert_int_equal(msr_list_load(v, L1_LIST, 2), 2);
    e[1].value = 0x0107050600070400ULL;
    assert_int_equal(msr_list_load(v, L1_LIST, 2), 0);
    expect_field(VMCS_GUEST_IA32_PAT, 0x0107050600070400ULL);
    /* SYSENTER_ESP/EIP must be canonical. */
    e[0] = (struct msr_entry){MSR_IA32_SYSENTER_ESP, 0, 0xffff800000001000ULL};
    e[1] = (struct msr_entry){MSR_IA32_SYSENTER_EIP, 0, 0x0000800000000000ULL};
    assert_int_equal(msr_list_load(v, L1_LIST, 2), 2);
    expect_field(VMCS_GUEST_SYSENTER_ESP, 0xffff800000001000ULL);
    e[0].index = MSR_IA32_SYSENTER_EIP;
    e[0].value = 0x00007ffffffff000ULL;
    e[1].index = MSR_IA32_SYSENTER_ESP;
    assert_int_equal(msr_list_load(v, L1_LIST, 2), 2);
}

/* L0 writing L1's TSC from an MSR list moves the TSC under the exit being
 * measured: the measurement's base moves with it, so that the exit's cost
 * stays what it was (issue 10: an exit-list TSC write corrupted them). */
static void test_msr_list_tsc_write_keeps_the_exit_cost(void **state)
{
    (void)state;
    assert_true(vmcs_load(v->vmcs01));
    struct msr_entry *e = list(L1_LIST);
    fake_msr_set(MSR_IA32_TSC, 0);
    assert_true(wrmsr_safe(MSR_IA32_TSC, 1000));
    v->regs.exit_tsc = rdtsc() - 10;
    e[0] = (struct msr_entry){MSR_IA32_TSC, 0, 5000000};
    assert_int_equal(msr_list_load(v, L1_LIST, 1), 0);
    assert_true(rdtsc() >= 5000000);
    uint64_t cost = rdtsc() - v->regs.exit_tsc;
    if (cost > 1000) /* every fake RDTSC ticks 100 */
        fail_msg("the exit now seems to have cost %llu ticks", (unsigned long long)cost);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_merge_pin),
        T(test_merge_proc),
        T(test_merge_proc2),
        T(test_merge_exit),
        T(test_merge_entry),
        T(test_guest_efer),
        T(test_bitmap_merge),
        T(test_prepare_full_copies_guest_state),
        T(test_prepare_partial_rewrites_only_hot_fields),
        T(test_prepare_controls_and_companions),
        T(test_prepare_ept_features_stay_l0s),
        T(test_prepare_vapic_on_a_device),
        T(test_prepare_inherits_l1_state),
        T(test_prepare_ept_pointer),
        T(test_prepare_pae_pdptes),
        T(test_prepare_bitmaps),
        T(test_prepare_vpid_flushes),
        T(test_sync_exit_info_hot_and_rare),
        T(test_sync_save_controls),
        T(test_sync_ia32e_entry_control),
        T(test_sync_pdptes_with_ept12),
        T(test_host_state_64),
        T(test_host_state_32_and_no_loads),
        T(test_host_state_exit_msr_load_list),
        T(test_msr_list_load_vmcs_switched),
        T(test_msr_list_wrmsr_rules),
        T(test_msr_list_tsc_write_keeps_the_exit_cost),
        T(test_msr_list_cpu_and_emulated),
        T(test_msr_list_refusals),
        T(test_msr_list_outside_l1_ram),
    };
    return cmocka_run_group_tests(tests, 0, 0);
}
