/* unit-srcs: vmm/nested/vmx_insn.c vmm/nested/operand.c vmm/nested/shadow.c vmm/nested/shadow12.c vmm/nested/fieldsets.c vmm/nested/vmcs12.c vmm/nested/vmx_msrs.c vmm/nested/vmcs02.c vmm/nested/entry.c vmm/nested/checks.c vmm/nested/checks_guest.c vmm/nested/msrlist.c vmm/nested/vmexit.c vmm/nested/nested.c vmm/nested/eptfeat.c vmm/nested/reflect.c vmm/nested/ept02.c vmm/nested/ept12.c vmm/nested/bitmaps.c vmm/ept.c vmm/pmm.c vmm/msr.c vmm/mtrr.c vmm/memmap.c vmm/vcpu.c vmm/l1ram.c vmm/io.c vmm/gva.c vmm/l1view.c arch/x86/vmx_root.c arch/x86/vmx_caps.c tests/unit/fake_vmx.c tests/unit/fake_ipi.c */
/* L1's own VMCS shadowing for its L2 (vmm/nested/shadow12.c and the rules
 * around it), through the real VMX exit handlers (nested_smp_fixture.h):
 * L1 executes VMXON, VMCLEAR, VMPTRLD, VMREAD, VMWRITE, VMLAUNCH as exits;
 * L2's VMREAD/VMWRITE are exits of L2 that nested_l2_exit gets. SDM Vol. 3C:
 *   25.10    VMCS shadowing: with the control set, VMREAD/VMWRITE in VMX
 *            non-root operation of a field whose bit is clear in the
 *            VMREAD/VMWRITE bitmap access the VMCS the link pointer names.
 *   26.1     VMLAUNCH/VMRESUME with a shadow VMCS current: VMfailInvalid.
 *   26.2.1.1 the bitmap addresses; 26.3.1.5 the link pointer (bit 31 of the
 *            dword there = "VMCS shadowing"; not the current VMCS).
 *   ch. 31   VMPTRLD: rev[30:0] must be the revision, rev[31] = 1 only if
 *            shadowing is supported, else VMfail(11). VMREAD/VMWRITE in
 *            non-root operation: #UD (modes), then a VM exit if "VMCS
 *            shadowing" is 0, the encoding sets bits 63:15 or its bitmap
 *            bit is 1; then #GP(0) at CPL > 0; VMfailInvalid if the link
 *            pointer is not valid; VMfailValid(12) for an unsupported
 *            field, (13) for VMWRITE of a read-only one; the VM-instruction
 *            error goes into the current VMCS (vmcs12, not the shadow).
 *   26.2 / 28.2.1 exceptions of L2 with L1's exception bitmap (a #PF that
 *            exits leaves CR2 alone, the qualification is the address);
 *   29.3.3 / Table 28-7 an EPT12 violation of the memory operand.
 * Every test runs with and without nestvisor's own hardware shadowing of
 * L1's VMREAD/VMWRITE (the CPU's part played by the fixture). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "vmm/nested/nested.h"
#include "vmm/gva.h"
#include "vmm/vm.h"
#include "arch/x86/paging.h"

struct vm the_vm;
#include "tests/unit/nested_smp_fixture.h"

extern uint64_t fake_cr2;

#define C 0          /* the CPU */
#define V  L1_VMCS12(0) /* L1's ordinary VMCS for its L2 */
#define S  L1_VMCS12(1) /* the shadow VMCS linked from it */
#define S2 L1_VMCS12(2) /* another one, never VMCLEARed */
#define RB 0x303000ULL  /* L1's VMREAD bitmap */
#define WB 0x304000ULL  /* L1's VMWRITE bitmap */
#define PML_LOG 0x305000ULL
#define STALE_DISP 0xffffffffffffffffULL /* what Bochs 2.7 may leave for a register form */ /* L1's page-modification log */
/* L2's page tables (L2-physical = L1-physical without EPT12; EPT12 maps
 * them 1:1): 0-1 GiB identity in one 1 GiB page, 1-2 GiB not present. */
#define L2_PML4 0x500000ULL
#define L2_PDPT 0x501000ULL
#define L2_UNMAPPED 0x40000100ULL
/* EPT12 (at L1_EPT12): 0-24 MiB identity in 2 MiB leaves, but 6-8 MiB in
 * 4 KiB leaves with a read/execute-only page and a missing one. */
#define EPT12_PDPT (L1_EPT12 + 4 * KiB)
#define EPT12_PD   (L1_EPT12 + 8 * KiB)
#define EPT12_PT   (L1_EPT12 + 12 * KiB)
#define EPT12_PT_BASE 0x600000ULL
#define OPERAND    0x600800ULL /* an ordinary operand page */
#define OPERAND_RO 0x601040ULL /* EPT12: read and execute only */
#define OPERAND_NP 0x602080ULL /* EPT12: not present */
#define EPT12_2M_LEAVES 12
#define WB12     ((uint64_t)MEMTYPE_WB << EPT_MEMTYPE_SHIFT)
#define L0_PAGE  (POOL_BASE + 16 * MiB) /* L0's memory (its pool), not L1's */
#define L2_RIP0  0xffffffff80001000ULL
#define PTE_A_D  (PTE_A | PTE_D)
#define NOT_A_FIELD 0x2034U /* bits 14:0 only, no such field */
#define DPL3     (3U << AR_DPL_SHIFT)
/* The values L1 puts in its shadow VMCS: a hot field (nestvisor's own
 * shadowing serves it to L1 without an exit) and two that are not. */
#define S_RIP    0xffffffff81234567ULL
#define S_ES_SEL 0x2bU
#define S_TSC    0x1122334455667788ULL
#define NEW_RSP  0xffffc90000001230ULL
#define L1_VALUE 0xabcdef01ULL

struct mode {
    bool shadow;
};
static const struct mode with_shadowing = {true}, without_shadowing = {false};

static bool with_l0_shadowing;
static uint32_t rev(void) { return nested_vmx_caps()->revision_id; }
static struct vmcs12 *region(uint64_t pa) { return phys_to_virt(pa); }

static void set_bit_in(uint64_t bitmap, uint32_t enc)
{
    uint8_t *b = phys_to_virt(bitmap);
    b[enc / 8] |= (uint8_t)(1U << (enc % 8));
}

/* EPT12 as described above. */
static void build_ept12(void)
{
    uint64_t *pml4 = l1_u64(L1_EPT12), *pdpt = l1_u64(EPT12_PDPT), *pd = l1_u64(EPT12_PD), *pt = l1_u64(EPT12_PT);
    memset(pml4, 0, 16 * KiB);
    pml4[0] = EPT12_PDPT | EPT_RWX;
    pdpt[0] = EPT12_PD | EPT_RWX;
    for (unsigned i = 0; i < EPT12_2M_LEAVES; i++)
        pd[i] = (uint64_t)i * 2 * MiB | EPT_RWX | EPT_LARGE | WB12;
    pd[EPT12_PT_BASE / (2 * MiB)] = EPT12_PT | EPT_RWX;
    for (unsigned i = 0; i < EPT_ENTRIES; i++)
        pt[i] = (EPT12_PT_BASE + (uint64_t)i * 4 * KiB) | EPT_RWX | WB12;
    pt[(OPERAND_RO - EPT12_PT_BASE) / (4 * KiB)] = (OPERAND_RO & ~0xfffULL) | EPT_READ | EPT_EXEC | WB12;
    pt[(OPERAND_NP - EPT12_PT_BASE) / (4 * KiB)] = 0;
}

static int setup(void **state)
{
    const struct mode *m = *state;
    smp_machine_init(1, m->shadow);
    with_l0_shadowing = m->shadow;
    gva_set_guest_phys_map(nested_l2_guest_phys);
    gva_set_store_hook(nested_l1_stored);
    *(uint32_t *)phys_to_virt(L1_VMXON(C)) = rev();
    assert_int_equal(l1_ptr_insn(C, EXIT_REASON_VMXON, L1_VMXON(C)), VMX_OK);
    *(uint32_t *)phys_to_virt(V) = rev();
    memset(phys_to_virt(RB), 0, 4 * KiB); /* every field shadowed */
    memset(phys_to_virt(WB), 0, 4 * KiB);
    *l1_u64(L2_PML4) = L2_PDPT | PTE_PRESENT_RW | PTE_AD;
    *l1_u64(L2_PDPT) = 0 | PTE_PRESENT_RW | PTE_A_D | PTE_LARGE;
    build_ept12();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    gva_set_guest_phys_map(0);
    gva_set_store_hook(0);
    nested_bitmaps_unprotect_all();
    nested_vmx_msrs_init(&smp_caps);
    return 0;
}

/* ---- L1 ---- */

/* L1 makes pa a shadow VMCS (SDM 25.10: bit 31 of the revision dword,
 * VMCLEAR), VMPTRLDs it and writes the three values, then makes V current. */
static void l1_make_shadow(uint64_t pa)
{
    *(uint32_t *)phys_to_virt(pa) = rev() | VMCS_SHADOW_INDICATOR;
    assert_int_equal(l1_ptr_insn(C, EXIT_REASON_VMCLEAR, pa), VMX_OK);
    assert_int_equal(l1_ptr_insn(C, EXIT_REASON_VMPTRLD, pa), VMX_OK);
    assert_int_equal(l1_vmwrite(C, VMCS_GUEST_RIP, S_RIP), VMX_OK);
    assert_int_equal(l1_vmwrite(C, VMCS_GUEST_ES_SELECTOR, S_ES_SEL), VMX_OK);
    assert_int_equal(l1_vmwrite(C, VMCS_TSC_OFFSET, S_TSC), VMX_OK);
    assert_int_equal(l1_ptr_insn(C, EXIT_REASON_VMPTRLD, V), VMX_OK);
}

/* vmcs12 for a 64-bit L2 with VMCS shadowing, the bitmaps RB/WB and the
 * given link pointer; under EPT12 or not. */
static void shadow_image(struct vmcs12 *img, bool ept12, uint64_t link)
{
    smp_vmcs12_image(img, L1_EPT12);
    VMCS12(img, SECONDARY_VM_EXEC_CONTROL) |= PROC2_VMCS_SHADOWING;
    if (!ept12)
        VMCS12(img, SECONDARY_VM_EXEC_CONTROL) &= ~(uint64_t)PROC2_ENABLE_EPT;
    VMCS12(img, VMREAD_BITMAP) = RB;
    VMCS12(img, VMWRITE_BITMAP) = WB;
    VMCS12(img, VMCS_LINK_POINTER) = link;
    VMCS12(img, GUEST_CR3) = L2_PML4;
    VMCS12(img, GUEST_RIP) = L2_RIP0;
    VMCS12(img, EXCEPTION_BITMAP) = 0;
}

/* V gets img; VMLAUNCH enters L2. */
static void launch(const struct vmcs12 *img)
{
    assert_int_equal(l1_ptr_insn(C, EXIT_REASON_VMCLEAR, V), VMX_OK);
    assert_int_equal(l1_ptr_insn(C, EXIT_REASON_VMPTRLD, V), VMX_OK);
    l1_vmwrite_image(C, img);
    assert_int_equal(l1_exec(C, EXIT_REASON_VMLAUNCH, 0), VMX_ENTERED);
}

/* The usual start: shadow S prepared, L2 launched with it linked. */
static void start_l2(bool ept12)
{
    struct vmcs12 img;
    l1_make_shadow(S);
    shadow_image(&img, ept12, S);
    launch(&img);
}

/* VMLAUNCH that is to fail as a VM entry (SDM 26.7): L1 continues at its
 * host RIP with the exit reason and qualification in vmcs12. */
static void launch_fails_guest_state(const struct vmcs12 *img, uint64_t qual)
{
    assert_int_equal(l1_ptr_insn(C, EXIT_REASON_VMCLEAR, V), VMX_OK);
    assert_int_equal(l1_ptr_insn(C, EXIT_REASON_VMPTRLD, V), VMX_OK);
    l1_vmwrite_image(C, img);
    struct vcpu *v = smp_cpu(C);
    vmcs_write(VMCS_VM_EXIT_REASON, EXIT_REASON_VMLAUNCH);
    vmcs_write(VMCS_VM_EXIT_INSTRUCTION_LEN, INSN_LEN);
    smp_handlers[EXIT_REASON_VMLAUNCH](v);
    assert_false(v->in_l2);
    assert_int_equal(vmcs_read(VMCS_GUEST_RIP), VMCS12(img, HOST_RIP));
    uint64_t r = 0, q = 0;
    assert_int_equal(l1_vmread(C, VMCS_VM_EXIT_REASON, &r), VMX_OK);
    assert_int_equal(l1_vmread(C, VMCS_EXIT_QUALIFICATION, &q), VMX_OK);
    assert_int_equal(r, EXIT_REASON_INVALID_GUEST_STATE | EXIT_REASON_FAILED_ENTRY);
    assert_int_equal(q, qual);
}

/* ---- L2 ---- */

/* L2 executes VMREAD or VMWRITE (exit `reason` to L0) with instruction
 * information info and displacement disp. */
static enum l2_exit_outcome l2_vmx(unsigned reason, uint32_t info, uint64_t disp)
{
    struct vcpu *v = smp_cpu(C);
    assert_true(v->in_l2);
    assert_int_equal(vmcs_current(), v->nested->vmcs02);
    v->regs.launch = 0;
    vmcs_write(VMCS_VM_EXIT_REASON, reason);
    /* A register operand has no displacement: the qualification is 0
     * (SDM 28.2.1), which L1 must see although Bochs 2.7 leaves a stale
     * one in vmcs02. */
    vmcs_write(VMCS_EXIT_QUALIFICATION, (info & VMX_INSN_INFO_REGISTER) ? STALE_DISP : disp);
    vmcs_write(VMCS_VMX_INSTRUCTION_INFO, info);
    vmcs_write(VMCS_VM_EXIT_INSTRUCTION_LEN, INSN_LEN);
    vmcs_write(VMCS_VM_EXIT_INTR_INFO, 0);
    vmcs_write(VMCS_IDT_VECTORING_INFO_FIELD, 0);
    vmcs_write(VMCS_VM_ENTRY_INTR_INFO_FIELD, 0);
    return nested_l2_exit(v, reason);
}

#define REG_FORM (II_REG_FORM | II_REG1(GPR_RAX) | II_REG2(GPR_RCX))
#define MEM_FORM (II_MEM(GPR_RBX) | II_REG2(GPR_RCX))

/* How an L2 instruction L0 completed ended (SDM 31.2), RIP checked. */
static enum l1_result l2_result(uint64_t rip_before)
{
    struct vcpu *v = smp_cpu(C);
    assert_true(v->in_l2);
    if (vmcs_read(VMCS_VM_ENTRY_INTR_INFO_FIELD) & INTR_INFO_VALID) {
        assert_int_equal(vmcs_read(VMCS_GUEST_RIP), rip_before);
        return VMX_FAULT;
    }
    assert_int_equal(vmcs_read(VMCS_GUEST_RIP), rip_before + INSN_LEN);
    uint64_t f = vmcs_read(VMCS_GUEST_RFLAGS);
    return (f & RFLAGS_CF) ? VMX_FAIL_INVALID : (f & RFLAGS_ZF) ? VMX_FAIL_VALID : VMX_OK;
}

static enum l1_result l2_vmread(uint32_t enc, uint64_t *value)
{
    struct vcpu *v = smp_cpu(C);
    uint64_t rip = vmcs_read(VMCS_GUEST_RIP);
    v->regs.rcx = enc;
    v->regs.rax = OPERAND_POISON;
    assert_int_equal(l2_vmx(EXIT_REASON_VMREAD, REG_FORM, 0), L2_EXIT_HANDLED);
    *value = v->regs.rax;
    return l2_result(rip);
}

static enum l1_result l2_vmwrite(uint32_t enc, uint64_t value)
{
    struct vcpu *v = smp_cpu(C);
    uint64_t rip = vmcs_read(VMCS_GUEST_RIP);
    v->regs.rcx = enc;
    v->regs.rax = value;
    assert_int_equal(l2_vmx(EXIT_REASON_VMWRITE, REG_FORM, 0), L2_EXIT_HANDLED);
    return l2_result(rip);
}

/* The memory forms: [RBX + disp]. */
static enum l2_exit_outcome l2_vmx_mem(unsigned reason, uint32_t enc, uint64_t gla)
{
    struct vcpu *v = smp_cpu(C);
    v->regs.rcx = enc;
    v->regs.rbx = gla - 8;
    return l2_vmx(reason, MEM_FORM, 8);
}

/* L1 reads a field of its current VMCS. */
static uint64_t l1_field(uint32_t enc)
{
    uint64_t v = 0;
    assert_int_equal(l1_vmread(C, enc, &v), VMX_OK);
    return v;
}

/* ---- VMPTRLD and VM entry with the shadow-VMCS indicator ---- */

static void test_vmptrld_and_launch_of_a_shadow_vmcs(void **state)
{
    (void)state;
    /* Offered: VMPTRLD accepts bit 31; VMREAD/VMWRITE in VMX root
     * operation use it like any current VMCS; VMPTRST names it. */
    l1_make_shadow(S);
    assert_int_equal(l1_ptr_insn(C, EXIT_REASON_VMPTRLD, S), VMX_OK);
    assert_int_equal(l1_vmptrst(C), S);
    assert_int_equal(l1_field(VMCS_GUEST_RIP), S_RIP);
    assert_int_equal(l1_field(VMCS_TSC_OFFSET), S_TSC);
    /* SDM 26.1: entering with a shadow VMCS current is VMfailInvalid
     * (RIP past the instruction, no error number: CF, not ZF). */
    assert_int_equal(l1_exec(C, EXIT_REASON_VMLAUNCH, 0), VMX_FAIL_INVALID);
    assert_int_equal(l1_exec(C, EXIT_REASON_VMRESUME, 0), VMX_FAIL_INVALID);
    assert_false(smp_cpu(C)->in_l2);
    /* Bits 30:0 must still be the revision, bit 31 or not. */
    *(uint32_t *)phys_to_virt(S2) = (rev() + 1) | VMCS_SHADOW_INDICATOR;
    assert_int_equal(l1_ptr_insn(C, EXIT_REASON_VMPTRLD, S2), VMX_FAIL_VALID);
    assert_int_equal(l1_vm_error(C), VMXERR_VMPTRLD_INCORRECT_REVISION);
    assert_int_equal(l1_vmptrst(C), S);
    /* An ordinary VMCS made current again enters as usual. */
    struct vmcs12 img;
    shadow_image(&img, false, S);
    launch(&img);
}

/* Without "VMCS shadowing" offered (a CPU without it), bit 31 is
 * VMfail(11) (ch. 31 VMPTRLD). */
static void test_vmptrld_shadow_without_the_offer(void **state)
{
    (void)state;
    struct vmx_msrs m = tigerlake;
    m.procbased2 &= ~((uint64_t)PROC2_VMCS_SHADOWING << 32);
    static struct vmx_caps no_shadow;
    vmx_caps_decode(&m, &no_shadow);
    nested_vmx_msrs_init(&no_shadow);
    assert_false(nested_vmx_caps()->shadow_vmcs);
    *(uint32_t *)phys_to_virt(S) = rev() | VMCS_SHADOW_INDICATOR;
    assert_int_equal(l1_ptr_insn(C, EXIT_REASON_VMPTRLD, V), VMX_OK);
    assert_int_equal(l1_ptr_insn(C, EXIT_REASON_VMPTRLD, S), VMX_FAIL_VALID);
    assert_int_equal(l1_vm_error(C), VMXERR_VMPTRLD_INCORRECT_REVISION);
    assert_int_equal(l1_vmptrst(C), V);
}

/* ---- L2's VMREAD/VMWRITE served from the shadow vmcs12 ---- */

static void test_l2_reads_and_writes_the_shadow_vmcs(void **state)
{
    (void)state;
    start_l2(false);
    unsigned l1_exits = smp_l1.exits;
    uint64_t v = 0;
    /* What L1 wrote into S, also the field its own VMWRITE left in
     * nestvisor's hardware shadow VMCS until the VMPTRLD of V. */
    assert_int_equal(l2_vmread(VMCS_GUEST_RIP, &v), VMX_OK);
    assert_int_equal(v, S_RIP);
    assert_int_equal(l2_vmread(VMCS_GUEST_ES_SELECTOR, &v), VMX_OK);
    assert_int_equal(v, S_ES_SEL);
    assert_int_equal(l2_vmread(VMCS_TSC_OFFSET | VMCS_ENC_HIGH_ACCESS, &v), VMX_OK);
    assert_int_equal(v, S_TSC >> 32);
    /* VMWRITE: a register source, a memory source, a 16-bit field. */
    assert_int_equal(l2_vmwrite(VMCS_GUEST_RSP, NEW_RSP), VMX_OK);
    *l1_u64(OPERAND) = 0x1234567890abcdefULL;
    uint64_t rip = vmcs_read(VMCS_GUEST_RIP);
    assert_int_equal(l2_vmx_mem(EXIT_REASON_VMWRITE, VMCS_GUEST_CS_SELECTOR, OPERAND), L2_EXIT_HANDLED);
    assert_int_equal(l2_result(rip), VMX_OK);
    /* VMREAD into memory: 8 bytes in 64-bit mode. */
    *l1_u64(OPERAND + 8) = OPERAND_POISON;
    rip = vmcs_read(VMCS_GUEST_RIP);
    assert_int_equal(l2_vmx_mem(EXIT_REASON_VMREAD, VMCS_GUEST_CS_SELECTOR, OPERAND + 8), L2_EXIT_HANDLED);
    assert_int_equal(l2_result(rip), VMX_OK);
    assert_int_equal(*l1_u64(OPERAND + 8), 0xcdef); /* truncated to the 16-bit field */
    /* It is all in S's region, in nestvisor's layout. */
    assert_int_equal(VMCS12(region(S), GUEST_RSP), NEW_RSP);
    assert_int_equal(VMCS12(region(S), GUEST_CS_SELECTOR), 0xcdef);
    assert_int_equal(VMCS12(region(S), GUEST_RIP), S_RIP);
    /* No exit reached L1; L0 did them (its statistics). */
    assert_int_equal(smp_l1.exits, l1_exits);
    assert_int_equal(smp_cpu(C)->nested->stats.l2_vmreads, 4);
    assert_int_equal(smp_cpu(C)->nested->stats.l2_vmwrites, 2);

    /* L1 sees L2's writes when it makes S current (25.11.1), and its own
     * VMCS is untouched by them. */
    uint64_t l2_rip = vmcs_read(VMCS_GUEST_RIP);
    l2_exit_to_l1(C, EXIT_REASON_HLT);
    assert_int_equal(l1_field(VMCS_GUEST_RIP), l2_rip);
    assert_int_equal(l1_ptr_insn(C, EXIT_REASON_VMPTRLD, S), VMX_OK);
    assert_int_equal(l1_field(VMCS_GUEST_RSP), NEW_RSP);
    assert_int_equal(l1_field(VMCS_GUEST_CS_SELECTOR), 0xcdef);
    assert_int_equal(l1_field(VMCS_TSC_OFFSET), S_TSC);
    /* ... and L2 sees L1's: L1 writes S (hot and not), VMPTRLDs V back. */
    assert_int_equal(l1_vmwrite(C, VMCS_GUEST_RIP, L1_VALUE), VMX_OK);
    assert_int_equal(l1_vmwrite(C, VMCS_GUEST_ES_SELECTOR, L1_VALUE & 0xffff), VMX_OK);
    assert_int_equal(l1_ptr_insn(C, EXIT_REASON_VMPTRLD, V), VMX_OK);
    assert_int_equal(l1_exec(C, EXIT_REASON_VMRESUME, 0), VMX_ENTERED);
    assert_int_equal(l2_vmread(VMCS_GUEST_RIP, &v), VMX_OK);
    assert_int_equal(v, L1_VALUE);
    assert_int_equal(l2_vmread(VMCS_GUEST_ES_SELECTOR, &v), VMX_OK);
    assert_int_equal(v, L1_VALUE & 0xffff);
    assert_int_equal(l2_vmread(VMCS_GUEST_RSP, &v), VMX_OK);
    assert_int_equal(v, NEW_RSP);
}

/* Outside 64-bit mode (a 32-bit L2): the encoding and the operands are 32
 * bits (ch. 31), so bits 63:32 of the register do not make it exit. */
static void test_l2_in_32bit_mode(void **state)
{
    (void)state;
    start_l2(false);
    vmcs_write(VMCS_GUEST_IA32_EFER, vmcs_read(VMCS_GUEST_IA32_EFER) & ~(EFER_LMA | EFER_LME));
    vmcs_write(VMCS_GUEST_CS_AR_BYTES, AR_CODE32);
    vmcs_write(VMCS_GUEST_RIP, (uint32_t)L2_RIP0);
    uint64_t v = 0;
    assert_int_equal(l2_vmread((uint32_t)VMCS_TSC_OFFSET, &v), VMX_OK);
    assert_int_equal(v, (uint32_t)S_TSC);
    struct vcpu *vc = smp_cpu(C);
    uint64_t rip = vmcs_read(VMCS_GUEST_RIP);
    vc->regs.rcx = (1ULL << 32) | VMCS_GUEST_RIP;
    vc->regs.rax = 0xffffffff00001000ULL;
    assert_int_equal(l2_vmx(EXIT_REASON_VMWRITE, REG_FORM, 0), L2_EXIT_HANDLED);
    assert_int_equal(l2_result(rip), VMX_OK);
    assert_int_equal(VMCS12(region(S), GUEST_RIP), 0x1000);
}

/* ---- what exits to L1 ---- */

/* The exit L1 gets for L2's VMREAD/VMWRITE is the CPU's, as is. */
static void expect_reflected(unsigned reason, uint32_t info, uint64_t disp, uint64_t rip)
{
    struct vcpu *v = smp_cpu(C);
    assert_false(v->in_l2);
    assert_int_equal(l1_field(VMCS_VM_EXIT_REASON), reason);
    assert_int_equal(l1_field(VMCS_VMX_INSTRUCTION_INFO), info);
    assert_int_equal(l1_field(VMCS_EXIT_QUALIFICATION), disp);
    assert_int_equal(l1_field(VMCS_VM_EXIT_INSTRUCTION_LEN), INSN_LEN);
    assert_int_equal(l1_field(VMCS_GUEST_RIP), rip);
    assert_int_equal(l1_exec(C, EXIT_REASON_VMRESUME, 0), VMX_ENTERED);
}

static void test_bitmap_bit_or_high_encoding_bits_exit_to_l1(void **state)
{
    (void)state;
    set_bit_in(RB, VMCS_GUEST_RIP);
    set_bit_in(WB, VMCS_GUEST_RSP);
    set_bit_in(RB, VMCS_TSC_OFFSET | VMCS_ENC_HIGH_ACCESS); /* the high access has its own bit */
    start_l2(false);
    struct vcpu *v = smp_cpu(C);
    uint64_t rip = vmcs_read(VMCS_GUEST_RIP), value;
    v->regs.rcx = VMCS_GUEST_RIP;
    assert_int_equal(l2_vmx(EXIT_REASON_VMREAD, REG_FORM, 0), L2_EXIT_REFLECTED);
    expect_reflected(EXIT_REASON_VMREAD, REG_FORM, 0, rip);
    v->regs.rcx = VMCS_GUEST_RSP;
    assert_int_equal(l2_vmx(EXIT_REASON_VMWRITE, MEM_FORM, 0x40), L2_EXIT_REFLECTED);
    expect_reflected(EXIT_REASON_VMWRITE, MEM_FORM, 0x40, rip);
    /* The other direction of each is shadowed. */
    assert_int_equal(l2_vmwrite(VMCS_GUEST_RIP, L1_VALUE), VMX_OK);
    assert_int_equal(l2_vmread(VMCS_GUEST_RSP, &value), VMX_OK);
    assert_int_equal(l2_vmread(VMCS_TSC_OFFSET, &value), VMX_OK);
    assert_int_equal(value, S_TSC);
    rip = vmcs_read(VMCS_GUEST_RIP);
    v->regs.rcx = VMCS_TSC_OFFSET | VMCS_ENC_HIGH_ACCESS;
    assert_int_equal(l2_vmx(EXIT_REASON_VMREAD, REG_FORM, 0), L2_EXIT_REFLECTED);
    expect_reflected(EXIT_REASON_VMREAD, REG_FORM, 0, rip);
    /* Bits 63:15 set: an exit whatever bit 14:0 says in the bitmap (bits
     * of RB/WB for 0x0800 etc. are clear). */
    static const uint64_t high[] = {0x8000 | VMCS_GUEST_ES_SELECTOR, 1ULL << 32 | VMCS_GUEST_ES_SELECTOR,
                                    1ULL << 63 | VMCS_GUEST_ES_SELECTOR, 0xffffffffffffffffULL};
    for (unsigned i = 0; i < sizeof(high) / sizeof(high[0]); i++) {
        for (unsigned w = 0; w < 2; w++) {
            rip = vmcs_read(VMCS_GUEST_RIP);
            v->regs.rcx = high[i];
            unsigned reason = w ? EXIT_REASON_VMWRITE : EXIT_REASON_VMREAD;
            assert_int_equal(l2_vmx(reason, REG_FORM, 0), L2_EXIT_REFLECTED);
            expect_reflected(reason, REG_FORM, 0, rip);
        }
    }
}

/* "VMCS shadowing" 0 in vmcs12 (or secondary controls off): every VMREAD
 * and VMWRITE of L2 exits to L1, link pointer or not. */
static void test_without_shadowing_everything_exits(void **state)
{
    (void)state;
    struct vmcs12 img;
    l1_make_shadow(S);
    shadow_image(&img, false, VMCS_LINK_NONE);
    VMCS12(&img, SECONDARY_VM_EXEC_CONTROL) &= ~(uint64_t)PROC2_VMCS_SHADOWING;
    launch(&img);
    struct vcpu *v = smp_cpu(C);
    uint64_t rip = vmcs_read(VMCS_GUEST_RIP);
    v->regs.rcx = VMCS_GUEST_RIP;
    assert_int_equal(l2_vmx(EXIT_REASON_VMREAD, REG_FORM, 0), L2_EXIT_REFLECTED);
    expect_reflected(EXIT_REASON_VMREAD, REG_FORM, 0, rip);
    assert_int_equal(l2_vmx(EXIT_REASON_VMWRITE, REG_FORM, 0), L2_EXIT_REFLECTED);
    expect_reflected(EXIT_REASON_VMWRITE, REG_FORM, 0, rip);
    /* vmcs02 never has shadowing: the CPU sends all of them to L0. */
    assert_int_equal(vmcs_read(VMCS_SECONDARY_VM_EXEC_CONTROL) & PROC2_VMCS_SHADOWING, 0);
}

/* "VMCS shadowing" switched by L1 between two entries with no other
 * change: the secondary controls are a field L1 writes without an exit
 * (nestvisor's own shadowing), yet the next L2 VMREAD follows the new
 * setting. With the link pointer all ones (the only link valid both ways,
 * 26.3.1.5): reflected while off, VMfailInvalid while on. */
static void test_shadowing_switched_by_l1_alone(void **state)
{
    (void)state;
    struct vmcs12 img;
    shadow_image(&img, false, VMCS_LINK_NONE);
    uint64_t proc2 = VMCS12(&img, SECONDARY_VM_EXEC_CONTROL);
    VMCS12(&img, SECONDARY_VM_EXEC_CONTROL) &= ~(uint64_t)PROC2_VMCS_SHADOWING;
    launch(&img);
    struct vcpu *v = smp_cpu(C);
    uint64_t value, rip = vmcs_read(VMCS_GUEST_RIP);
    v->regs.rcx = VMCS_GUEST_RIP;
    assert_int_equal(l2_vmx(EXIT_REASON_VMREAD, REG_FORM, 0), L2_EXIT_REFLECTED);
    assert_int_equal(l1_field(VMCS_VM_EXIT_REASON), EXIT_REASON_VMREAD);
    unsigned exits = smp_l1.exits;
    assert_int_equal(l1_vmwrite(C, VMCS_SECONDARY_VM_EXEC_CONTROL, proc2), VMX_OK);
    assert_int_equal(smp_l1.exits - exits, with_l0_shadowing ? 0 : 1);
    assert_int_equal(l1_exec(C, EXIT_REASON_VMRESUME, 0), VMX_ENTERED);
    assert_int_equal(vmcs_read(VMCS_GUEST_RIP), rip);
    assert_int_equal(l2_vmread(VMCS_GUEST_RIP, &value), VMX_FAIL_INVALID);
    l2_exit_to_l1(C, EXIT_REASON_HLT);
    assert_int_equal(l1_vmwrite(C, VMCS_SECONDARY_VM_EXEC_CONTROL, proc2 & ~(uint64_t)PROC2_VMCS_SHADOWING),
                     VMX_OK);
    assert_int_equal(l1_exec(C, EXIT_REASON_VMRESUME, 0), VMX_ENTERED);
    assert_int_equal(l2_vmx(EXIT_REASON_VMREAD, REG_FORM, 0), L2_EXIT_REFLECTED);
    assert_int_equal(l1_field(VMCS_VM_EXIT_REASON), EXIT_REASON_VMREAD);
}

/* ---- VMfail ---- */

static void test_l2_vmfail(void **state)
{
    (void)state;
    start_l2(false);
    assert_int_equal(vmcs_read(VMCS_SECONDARY_VM_EXEC_CONTROL) & PROC2_VMCS_SHADOWING, 0);
    uint64_t v = OPERAND_POISON;
    /* Not a field: VMfailValid(12), destination unchanged. */
    assert_int_equal(l2_vmread(NOT_A_FIELD, &v), VMX_FAIL_VALID);
    assert_int_equal(v, OPERAND_POISON);
    assert_int_equal(l2_vmwrite(NOT_A_FIELD, 1), VMX_FAIL_VALID);
    /* L0's fields are unsupported components for L1 and its L2. */
    assert_int_equal(l2_vmwrite(VMCS_EXECUTIVE_VMCS_POINTER, 0x1000), VMX_FAIL_VALID);
    /* The error number is in vmcs12 (the current VMCS, SDM 31.2), not in
     * the shadow vmcs12; L1 reads it after the exit. */
    assert_int_equal(VMCS12(region(S), VM_INSTRUCTION_ERROR), 0);
    assert_int_equal(VMCS12(smp_cpu(C)->nested->cache, VM_INSTRUCTION_ERROR), VMXERR_UNSUPPORTED_VMCS_COMPONENT);
    /* A read-only field: written, since L1 is offered IA32_VMX_MISC[29]
     * (the CPU has it); without it error 13 (test_l2_vmwrite_read_only). */
    assert_true(nested_vmx_caps()->vmwrite_any_field);
    assert_int_equal(l2_vmwrite(VMCS_VM_EXIT_REASON, 1), VMX_OK);
    l2_exit_to_l1(C, EXIT_REASON_HLT);
    assert_int_equal(l1_vm_error(C), VMXERR_UNSUPPORTED_VMCS_COMPONENT);
    /* The shadow vmcs12 holds no error, and the field L2 wrote. */
    assert_int_equal(l1_ptr_insn(C, EXIT_REASON_VMPTRLD, S), VMX_OK);
    assert_int_equal(l1_vm_error(C), 0);
    assert_int_equal(l1_field(VMCS_VM_EXIT_REASON), 1);
}

/* L1 itself may VMWRITE exit information under MISC[29] (KVM does when it
 * shadows such fields for its own L2): the next VMREAD sees it, also where
 * nestvisor's hardware shadow VMCS serves that field without an exit. */
static void test_l1_vmwrite_read_only_field(void **state)
{
    (void)state;
    start_l2(false);
    l2_exit_to_l1(C, EXIT_REASON_HLT);
    assert_int_equal(l1_field(VMCS_VM_EXIT_REASON), EXIT_REASON_HLT);
    assert_int_equal(l1_vmwrite(C, VMCS_EXIT_QUALIFICATION, 0x1234), VMX_OK);
    assert_int_equal(l1_vmwrite(C, VMCS_VM_EXIT_REASON, EXIT_REASON_CPUID), VMX_OK);
    assert_int_equal(l1_field(VMCS_EXIT_QUALIFICATION), 0x1234);
    assert_int_equal(l1_field(VMCS_VM_EXIT_REASON), EXIT_REASON_CPUID);
    /* The next exit writes its own. */
    assert_int_equal(l1_exec(C, EXIT_REASON_VMRESUME, 0), VMX_ENTERED);
    l2_exit_to_l1(C, EXIT_REASON_HLT);
    assert_int_equal(l1_field(VMCS_VM_EXIT_REASON), EXIT_REASON_HLT);
}

/* Without IA32_VMX_MISC[29] a VMWRITE of a read-only field is VMfailValid
 * (13) into vmcs12 (SDM ch. 31 VMWRITE). */
static void test_l2_vmwrite_read_only(void **state)
{
    (void)state;
    struct vmx_caps *caps = (struct vmx_caps *)nested_vmx_caps();
    caps->vmwrite_any_field = false;
    start_l2(false);
    assert_int_equal(l2_vmwrite(VMCS_VM_EXIT_REASON, 1), VMX_FAIL_VALID);
    caps->vmwrite_any_field = true;
    assert_int_equal(VMCS12(region(S), VM_EXIT_REASON), 0);
    l2_exit_to_l1(C, EXIT_REASON_HLT);
    assert_int_equal(l1_vm_error(C), VMXERR_VMWRITE_READ_ONLY_COMPONENT);
}

/* "VMCS shadowing" with the link pointer all ones passes the entry checks
 * (26.3.1.5 checks other values only); L2's VMREAD/VMWRITE then fail
 * invalid (ch. 31: "VMCS link pointer is not valid"). */
static void test_l2_vmfail_invalid_without_a_link(void **state)
{
    (void)state;
    struct vmcs12 img;
    shadow_image(&img, false, VMCS_LINK_NONE);
    launch(&img);
    uint64_t v = OPERAND_POISON;
    assert_int_equal(l2_vmread(VMCS_GUEST_RIP, &v), VMX_FAIL_INVALID);
    assert_int_equal(v, OPERAND_POISON);
    assert_int_equal(l2_vmwrite(VMCS_GUEST_RIP, 1), VMX_FAIL_INVALID);
    assert_int_equal(l2_vmread(NOT_A_FIELD, &v), VMX_FAIL_INVALID);
}

/* A shadow VMCS L1 never VMCLEARed (only its revision dword written):
 * the entry reads only that dword; L2 reads zeros and its VMWRITE makes
 * the region a valid vmcs12 with that one field set. */
static void test_never_cleared_shadow(void **state)
{
    (void)state;
    memset(phys_to_virt(S2), 0x5a, 4 * KiB);
    *(uint32_t *)phys_to_virt(S2) = rev() | VMCS_SHADOW_INDICATOR;
    struct vmcs12 img;
    shadow_image(&img, false, S2);
    launch(&img);
    uint64_t v = OPERAND_POISON;
    assert_int_equal(l2_vmread(VMCS_GUEST_RIP, &v), VMX_OK);
    assert_int_equal(v, 0);
    assert_int_equal(l2_vmwrite(VMCS_GUEST_CR3, 0x7000), VMX_OK);
    assert_int_equal(region(S2)->magic, VMCS12_MAGIC);
    assert_int_equal(region(S2)->revision_id, rev() | VMCS_SHADOW_INDICATOR);
    assert_int_equal(VMCS12(region(S2), GUEST_CR3), 0x7000);
    assert_int_equal(l2_vmread(VMCS_GUEST_RIP, &v), VMX_OK);
    assert_int_equal(v, 0);
    l2_exit_to_l1(C, EXIT_REASON_HLT);
    assert_int_equal(l1_ptr_insn(C, EXIT_REASON_VMPTRLD, S2), VMX_OK);
    assert_int_equal(l1_field(VMCS_GUEST_CR3), 0x7000);
}

/* ---- faults of L2's VMREAD/VMWRITE ---- */

/* The exception L0 gave L2 (not L1). */
static void expect_l2_exception(unsigned vector, bool code, uint32_t error)
{
    struct vcpu *v = smp_cpu(C);
    assert_true(v->in_l2);
    uint32_t info = (uint32_t)vmcs_read(VMCS_VM_ENTRY_INTR_INFO_FIELD);
    assert_int_equal(info, INTR_INFO_VALID | INTR_TYPE_HW_EXCEPTION | vector | (code ? INTR_INFO_DELIVER_CODE : 0));
    if (code)
        assert_int_equal(vmcs_read(VMCS_VM_ENTRY_EXCEPTION_ERROR_CODE), error);
    vmcs_write(VMCS_VM_ENTRY_INTR_INFO_FIELD, 0);
}

/* ... or the exception exit L1 got (reason 0, SDM 28.2.2). */
static void expect_exception_exit(unsigned vector, uint32_t error, uint64_t qual, uint64_t rip)
{
    assert_false(smp_cpu(C)->in_l2);
    assert_int_equal(l1_field(VMCS_VM_EXIT_REASON), EXIT_REASON_EXCEPTION_NMI);
    assert_int_equal(l1_field(VMCS_VM_EXIT_INTR_INFO),
                     INTR_INFO_VALID | INTR_TYPE_HW_EXCEPTION | INTR_INFO_DELIVER_CODE | vector);
    assert_int_equal(l1_field(VMCS_VM_EXIT_INTR_ERROR_CODE), error);
    assert_int_equal(l1_field(VMCS_EXIT_QUALIFICATION), qual);
    assert_int_equal(l1_field(VMCS_IDT_VECTORING_INFO_FIELD), 0);
    assert_int_equal(l1_field(VMCS_GUEST_RIP), rip);
}

static void test_l2_faults_go_by_l1s_exception_bitmap(void **state)
{
    (void)state;
    start_l2(false);
    uint64_t rip = vmcs_read(VMCS_GUEST_RIP), v;
    /* CPL 3 in L2: #GP(0) after the exit condition (bit clear here). */
    uint32_t ss = (uint32_t)vmcs_read(VMCS_GUEST_SS_AR_BYTES);
    vmcs_write(VMCS_GUEST_SS_AR_BYTES, ss | DPL3);
    smp_cpu(C)->regs.rcx = VMCS_GUEST_RIP;
    assert_int_equal(l2_vmx(EXIT_REASON_VMREAD, REG_FORM, 0), L2_EXIT_HANDLED);
    assert_int_equal(l2_result(rip), VMX_FAULT);
    expect_l2_exception(VEC_GP, true, 0);
    vmcs_write(VMCS_GUEST_SS_AR_BYTES, ss);
    /* A memory operand L2's paging does not map: #PF with CR2, error code
     * "write, not present" for VMREAD's store; VMWRITE's load: "read". */
    fake_cr2 = 0;
    assert_int_equal(l2_vmx_mem(EXIT_REASON_VMREAD, VMCS_GUEST_RIP, L2_UNMAPPED), L2_EXIT_HANDLED);
    assert_int_equal(l2_result(rip), VMX_FAULT);
    expect_l2_exception(VEC_PF, true, PFEC_W);
    assert_int_equal(fake_cr2, L2_UNMAPPED);
    assert_int_equal(l2_vmx_mem(EXIT_REASON_VMWRITE, VMCS_GUEST_RIP, L2_UNMAPPED + 8), L2_EXIT_HANDLED);
    expect_l2_exception(VEC_PF, true, 0);
    assert_int_equal(fake_cr2, L2_UNMAPPED + 8);
    /* Non-canonical: #GP(0). */
    assert_int_equal(l2_vmx_mem(EXIT_REASON_VMREAD, VMCS_GUEST_RIP, 0x0000800000000000ULL), L2_EXIT_HANDLED);
    expect_l2_exception(VEC_GP, true, 0);
    /* (#UD in real, virtual-8086 and compatibility mode comes before the
     * exit: the CPU raises it in L2 itself.) Nothing was read or written. */
    (void)v;
    assert_int_equal(VMCS12(region(S), GUEST_RIP), S_RIP);

    /* Now L1 intercepts #GP and #PF (mask = match = 0: every #PF). */
    l2_exit_to_l1(C, EXIT_REASON_HLT);
    assert_int_equal(l1_vmwrite(C, VMCS_EXCEPTION_BITMAP, 1U << VEC_GP | 1U << VEC_PF), VMX_OK);
    assert_int_equal(l1_exec(C, EXIT_REASON_VMRESUME, 0), VMX_ENTERED);
    rip = vmcs_read(VMCS_GUEST_RIP);
    vmcs_write(VMCS_GUEST_SS_AR_BYTES, ss | DPL3);
    smp_cpu(C)->regs.rcx = VMCS_GUEST_RIP;
    assert_int_equal(l2_vmx(EXIT_REASON_VMREAD, REG_FORM, 0), L2_EXIT_REFLECTED);
    expect_exception_exit(VEC_GP, 0, 0, rip);
    assert_int_equal(l1_field(VMCS_GUEST_SS_AR_BYTES), ss | DPL3);
    assert_int_equal(l1_vmwrite(C, VMCS_GUEST_SS_AR_BYTES, ss), VMX_OK);
    assert_int_equal(l1_exec(C, EXIT_REASON_VMRESUME, 0), VMX_ENTERED);
    fake_cr2 = 0x77;
    assert_int_equal(l2_vmx_mem(EXIT_REASON_VMREAD, VMCS_GUEST_RIP, L2_UNMAPPED), L2_EXIT_REFLECTED);
    expect_exception_exit(VEC_PF, PFEC_W, L2_UNMAPPED, rip);
    assert_int_equal(fake_cr2, 0x77); /* 28.2.1: CR2 unchanged */
    /* The #PF error-code mask/match rule applies (26.2): with bit 14 set,
     * only matching codes exit; "write" does not match "present". */
    assert_int_equal(l1_vmwrite(C, VMCS_PAGE_FAULT_ERROR_CODE_MASK, PFEC_P), VMX_OK);
    assert_int_equal(l1_vmwrite(C, VMCS_PAGE_FAULT_ERROR_CODE_MATCH, PFEC_P), VMX_OK);
    assert_int_equal(l1_exec(C, EXIT_REASON_VMRESUME, 0), VMX_ENTERED);
    assert_int_equal(l2_vmx_mem(EXIT_REASON_VMREAD, VMCS_GUEST_RIP, L2_UNMAPPED), L2_EXIT_HANDLED);
    expect_l2_exception(VEC_PF, true, PFEC_W);
    assert_int_equal(fake_cr2, L2_UNMAPPED);
}

/* Under EPT12 the memory operand goes through L1's EPT as the CPU's own
 * access would: a write to a read-only page or any access to a missing one
 * is L1's EPT violation (qualification of Table 28-7: the access, the
 * R/W/X of the walk, linear address valid, to its translation), L2 stays
 * at the instruction and memory is untouched. A/D flags of EPT12 are set
 * for the accesses that happen. */
static void test_l2_operand_through_ept12(void **state)
{
    (void)state;
    start_l2(true);
    uint64_t rip = vmcs_read(VMCS_GUEST_RIP);
    /* Readable and writable: works. */
    *l1_u64(OPERAND) = 0;
    assert_int_equal(l2_vmx_mem(EXIT_REASON_VMREAD, VMCS_GUEST_RIP, OPERAND), L2_EXIT_HANDLED);
    assert_int_equal(l2_result(rip), VMX_OK);
    assert_int_equal(*l1_u64(OPERAND), S_RIP);
    /* VMWRITE reads the read-only page: fine. */
    *l1_u64(OPERAND_RO) = L1_VALUE;
    rip = vmcs_read(VMCS_GUEST_RIP);
    assert_int_equal(l2_vmx_mem(EXIT_REASON_VMWRITE, VMCS_GUEST_RSP, OPERAND_RO), L2_EXIT_HANDLED);
    assert_int_equal(l2_result(rip), VMX_OK);
    assert_int_equal(VMCS12(region(S), GUEST_RSP), L1_VALUE);
    /* VMREAD stores into it: an EPT violation for L1. */
    rip = vmcs_read(VMCS_GUEST_RIP);
    assert_int_equal(l2_vmx_mem(EXIT_REASON_VMREAD, VMCS_GUEST_RIP, OPERAND_RO), L2_EXIT_REFLECTED);
    assert_int_equal(*l1_u64(OPERAND_RO), L1_VALUE);
    assert_int_equal(l1_field(VMCS_VM_EXIT_REASON), EXIT_REASON_EPT_VIOLATION);
    assert_int_equal(l1_field(VMCS_EXIT_QUALIFICATION), EPT_QUAL_WRITE | EPT_QUAL_READABLE | EPT_QUAL_EXECUTABLE |
                                                            EPT_QUAL_GLA_VALID | EPT_QUAL_GLA_TRANSLATED);
    assert_int_equal(l1_field(VMCS_GUEST_PHYSICAL_ADDRESS), OPERAND_RO);
    assert_int_equal(l1_field(VMCS_GUEST_LINEAR_ADDRESS), OPERAND_RO);
    assert_int_equal(l1_field(VMCS_GUEST_RIP), rip);
    assert_int_equal(l1_exec(C, EXIT_REASON_VMRESUME, 0), VMX_ENTERED);
    /* A missing page: read by VMWRITE. */
    assert_int_equal(l2_vmx_mem(EXIT_REASON_VMWRITE, VMCS_GUEST_RIP, OPERAND_NP), L2_EXIT_REFLECTED);
    assert_int_equal(l1_field(VMCS_VM_EXIT_REASON), EXIT_REASON_EPT_VIOLATION);
    assert_int_equal(l1_field(VMCS_EXIT_QUALIFICATION), EPT_QUAL_READ | EPT_QUAL_GLA_VALID | EPT_QUAL_GLA_TRANSLATED);
    assert_int_equal(l1_field(VMCS_GUEST_PHYSICAL_ADDRESS), OPERAND_NP);
    assert_int_equal(VMCS12(region(S), GUEST_RIP), S_RIP);
    /* L2's page walk refused: its page tables (PML4 and PDPT, in one 2 MiB
     * region) not in EPT12. Bit 8 clear, the address of the PML4 entry. */
    uint64_t *pd = l1_u64(EPT12_PD);
    uint64_t saved = pd[L2_PDPT / (2 * MiB)];
    pd[L2_PDPT / (2 * MiB)] = 0;
    assert_int_equal(l1_exec(C, EXIT_REASON_VMRESUME, 0), VMX_ENTERED);
    assert_int_equal(l2_vmx_mem(EXIT_REASON_VMREAD, VMCS_GUEST_RIP, OPERAND), L2_EXIT_REFLECTED);
    assert_int_equal(l1_field(VMCS_VM_EXIT_REASON), EXIT_REASON_EPT_VIOLATION);
    assert_int_equal(l1_field(VMCS_EXIT_QUALIFICATION), EPT_QUAL_READ | EPT_QUAL_GLA_VALID);
    assert_int_equal(l1_field(VMCS_GUEST_PHYSICAL_ADDRESS), L2_PML4);
    assert_int_equal(l1_field(VMCS_GUEST_LINEAR_ADDRESS), OPERAND);
    pd[L2_PDPT / (2 * MiB)] = saved;
    /* A misconfigured leaf (write without read): reason 49. */
    uint64_t *pt = l1_u64(EPT12_PT);
    pt[(OPERAND_NP - EPT12_PT_BASE) / (4 * KiB)] = (OPERAND_NP & ~0xfffULL) | EPT_WRITE | WB12;
    assert_int_equal(l1_exec(C, EXIT_REASON_VMRESUME, 0), VMX_ENTERED);
    assert_int_equal(l2_vmx_mem(EXIT_REASON_VMREAD, VMCS_GUEST_RIP, OPERAND_NP), L2_EXIT_REFLECTED);
    assert_int_equal(l1_field(VMCS_VM_EXIT_REASON), EXIT_REASON_EPT_MISCONFIG);
    assert_int_equal(l1_field(VMCS_GUEST_PHYSICAL_ADDRESS), OPERAND_NP);
}

/* With EPT A/D flags (EPTP bit 6), the accesses set them in EPT12, and a
 * page walk counts as a write (29.3.5; Table 28-7 note 1: bits 0 and 1). */
static void test_l2_operand_ept12_ad_flags(void **state)
{
    (void)state;
    struct vmcs12 img;
    l1_make_shadow(S);
    shadow_image(&img, true, S);
    VMCS12(&img, EPT_POINTER) |= EPTP_AD_ENABLE;
    launch(&img);
    uint64_t *pt = l1_u64(EPT12_PT);
    unsigned leaf = (OPERAND - EPT12_PT_BASE) / (4 * KiB);
    assert_int_equal(pt[leaf] & (EPT_ACCESSED | EPT_DIRTY), 0);
    assert_int_equal(l2_vmx_mem(EXIT_REASON_VMWRITE, VMCS_GUEST_RIP, OPERAND), L2_EXIT_HANDLED);
    assert_int_equal(pt[leaf] & (EPT_ACCESSED | EPT_DIRTY), EPT_ACCESSED);
    assert_int_equal(l2_vmx_mem(EXIT_REASON_VMREAD, VMCS_GUEST_RIP, OPERAND), L2_EXIT_HANDLED);
    assert_int_equal(pt[leaf] & (EPT_ACCESSED | EPT_DIRTY), EPT_ACCESSED | EPT_DIRTY);
    /* L2's page tables read-only in EPT12: its walk is a write, refused. */
    uint64_t *pd = l1_u64(EPT12_PD);
    pd[L2_PDPT / (2 * MiB)] &= ~EPT_WRITE;
    assert_int_equal(l2_vmx_mem(EXIT_REASON_VMREAD, VMCS_GUEST_RIP, OPERAND), L2_EXIT_REFLECTED);
    assert_int_equal(l1_field(VMCS_EXIT_QUALIFICATION),
                     EPT_QUAL_READ | EPT_QUAL_WRITE | EPT_QUAL_READABLE | EPT_QUAL_EXECUTABLE | EPT_QUAL_GLA_VALID);
}

/* With PML (SDM 29.3.6) a dirty flag L0 sets for L2's memory operand is
 * logged as the CPU's own would be: the page at the index, the index one
 * lower; with the index outside 0-511 the access that would set a flag is
 * a log-full exit (reason 62), nothing set, the index kept. */
static void test_l2_operand_logged_by_pml(void **state)
{
    (void)state;
    struct vmcs12 img;
    l1_make_shadow(S);
    shadow_image(&img, true, S);
    VMCS12(&img, EPT_POINTER) |= EPTP_AD_ENABLE;
    VMCS12(&img, SECONDARY_VM_EXEC_CONTROL) |= PROC2_ENABLE_PML;
    VMCS12(&img, PML_ADDRESS) = PML_LOG;
    VMCS12(&img, GUEST_PML_INDEX) = PML_ENTRIES - 1;
    /* Only the operand's leaf still to be dirtied: L2's page walks log
     * nothing. */
    uint64_t *pd = l1_u64(EPT12_PD), *pt = l1_u64(EPT12_PT), *log = l1_u64(PML_LOG);
    for (unsigned i = 0; i < EPT12_2M_LEAVES; i++)
        pd[i] |= EPT_ACCESSED | (pd[i] & EPT_LARGE ? EPT_DIRTY : 0);
    memset(log, 0, 4 * KiB);
    launch(&img);
    unsigned leaf = (OPERAND - EPT12_PT_BASE) / (4 * KiB);
    assert_int_equal(l2_vmx_mem(EXIT_REASON_VMREAD, VMCS_GUEST_RIP, OPERAND), L2_EXIT_HANDLED);
    assert_int_equal(pt[leaf] & (EPT_ACCESSED | EPT_DIRTY), EPT_ACCESSED | EPT_DIRTY);
    assert_int_equal(log[PML_ENTRIES - 1], OPERAND & ~0xfffULL);
    /* A second store to the page: the flag is already set, no entry. */
    assert_int_equal(l2_vmx_mem(EXIT_REASON_VMREAD, VMCS_GUEST_RIP, OPERAND), L2_EXIT_HANDLED);
    assert_int_equal(log[PML_ENTRIES - 2], 0);
    l2_exit_to_l1(C, EXIT_REASON_HLT);
    assert_int_equal(l1_field(VMCS_GUEST_PML_INDEX), PML_ENTRIES - 2);
    /* The log full: the store that would dirty the leaf exits instead. */
    pt[leaf] &= ~(uint64_t)EPT_DIRTY;
    assert_int_equal(l1_vmwrite(C, VMCS_GUEST_PML_INDEX, 0xffff), VMX_OK);
    assert_int_equal(l1_exec(C, EXIT_REASON_VMRESUME, 0), VMX_ENTERED);
    uint64_t rip = vmcs_read(VMCS_GUEST_RIP);
    assert_int_equal(l2_vmx_mem(EXIT_REASON_VMREAD, VMCS_GUEST_RIP, OPERAND), L2_EXIT_REFLECTED);
    assert_int_equal(l1_field(VMCS_VM_EXIT_REASON), EXIT_REASON_PML_FULL);
    assert_int_equal(l1_field(VMCS_GUEST_RIP), rip);
    assert_int_equal(l1_field(VMCS_GUEST_PML_INDEX), 0xffff);
    assert_int_equal(pt[leaf] & EPT_DIRTY, 0);
    /* A read sets no flag here (accessed is set): no exit. */
    assert_int_equal(l1_exec(C, EXIT_REASON_VMRESUME, 0), VMX_ENTERED);
    assert_int_equal(l2_vmx_mem(EXIT_REASON_VMWRITE, VMCS_GUEST_RIP, OPERAND), L2_EXIT_HANDLED);
}

/* The monitor trap flag: an L2 VMREAD that L0 completes is followed by
 * L1's MTF exit (26.5.2), RIP past it. */
static void test_mtf_after_an_emulated_vmread(void **state)
{
    (void)state;
    struct vmcs12 img;
    l1_make_shadow(S);
    shadow_image(&img, false, S);
    VMCS12(&img, CPU_BASED_VM_EXEC_CONTROL) |= PROC_MONITOR_TRAP_FLAG;
    launch(&img);
    struct vcpu *v = smp_cpu(C);
    uint64_t rip = vmcs_read(VMCS_GUEST_RIP);
    v->regs.rcx = VMCS_GUEST_RIP;
    assert_int_equal(l2_vmx(EXIT_REASON_VMREAD, REG_FORM, 0), L2_EXIT_REFLECTED);
    assert_false(v->in_l2);
    assert_int_equal(v->regs.rax, S_RIP);
    assert_int_equal(l1_field(VMCS_VM_EXIT_REASON), EXIT_REASON_MONITOR_TRAP_FLAG);
    assert_int_equal(l1_field(VMCS_GUEST_RIP), rip + INSN_LEN);
}

/* ---- hostile L1 ---- */

static void test_hostile_addresses(void **state)
{
    (void)state;
    struct vmcs12 img;
    l1_make_shadow(S);
    /* A VMREAD bitmap in L0's memory (zeros there): read as all ones, every
     * VMREAD exits; L0 never reads its own memory through L1's address. */
    shadow_image(&img, false, S);
    VMCS12(&img, VMREAD_BITMAP) = L0_PAGE;
    launch(&img);
    struct vcpu *v = smp_cpu(C);
    uint64_t rip = vmcs_read(VMCS_GUEST_RIP), value;
    v->regs.rcx = VMCS_GUEST_RIP;
    assert_int_equal(l2_vmx(EXIT_REASON_VMREAD, REG_FORM, 0), L2_EXIT_REFLECTED);
    expect_reflected(EXIT_REASON_VMREAD, REG_FORM, 0, rip);
    assert_int_equal(l2_vmwrite(VMCS_GUEST_RIP, 5), VMX_OK); /* VMWRITE's bitmap is L1's */
    l2_exit_to_l1(C, EXIT_REASON_HLT);

    /* Link pointers that are not a shadow VMCS in L1's RAM: a VM-entry
     * failure with qualification 4 (26.3.1.5). L0's page made to look like
     * one; the page past L1's RAM; the current VMCS; an ordinary VMCS. */
    *(uint32_t *)phys_to_virt(L0_PAGE) = rev() | VMCS_SHADOW_INDICATOR;
    uint64_t l0_before[8];
    memcpy(l0_before, phys_to_virt(L0_PAGE), sizeof(l0_before));
    static const uint64_t bad_links[] = {L0_PAGE, L1_RAM_END, V, S | 0x800, 1ULL << PHYS_BITS};
    for (unsigned i = 0; i < sizeof(bad_links) / sizeof(bad_links[0]); i++) {
        shadow_image(&img, false, bad_links[i]);
        launch_fails_guest_state(&img, ENTRY_FAIL_VMCS_LINK);
    }
    assert_memory_equal(phys_to_virt(L0_PAGE), l0_before, sizeof(l0_before));
    *(uint32_t *)phys_to_virt(S2) = rev();
    shadow_image(&img, false, S2);
    launch_fails_guest_state(&img, ENTRY_FAIL_VMCS_LINK);
    /* ... and the indicator is read at every entry, VMRESUME too: L1
     * clearing it behind L0's back (no exit) fails the next entry. */
    shadow_image(&img, false, S);
    launch(&img);
    l2_exit_to_l1(C, EXIT_REASON_HLT);
    region(S)->revision_id = rev();
    assert_int_equal(l1_ptr_insn(C, EXIT_REASON_VMPTRLD, V), VMX_OK);
    vmcs_write(VMCS_VM_EXIT_REASON, EXIT_REASON_VMRESUME);
    vmcs_write(VMCS_VM_EXIT_INSTRUCTION_LEN, INSN_LEN);
    smp_handlers[EXIT_REASON_VMRESUME](v);
    assert_false(v->in_l2);
    assert_int_equal(l1_field(VMCS_VM_EXIT_REASON), EXIT_REASON_INVALID_GUEST_STATE | EXIT_REASON_FAILED_ENTRY);
    assert_int_equal(l1_field(VMCS_EXIT_QUALIFICATION), ENTRY_FAIL_VMCS_LINK);
    region(S)->revision_id = rev() | VMCS_SHADOW_INDICATOR;

    /* The VMXON region as the shadow VMCS (the SDM does not forbid it):
     * L2's writes land there, in L1's RAM. */
    *(uint32_t *)phys_to_virt(L1_VMXON(C)) = rev() | VMCS_SHADOW_INDICATOR;
    shadow_image(&img, false, L1_VMXON(C));
    launch(&img);
    assert_int_equal(l2_vmwrite(VMCS_GUEST_RIP, L1_VALUE), VMX_OK);
    assert_int_equal(VMCS12(region(L1_VMXON(C)), GUEST_RIP), L1_VALUE);
    assert_int_equal(l2_vmread(VMCS_GUEST_RIP, &value), VMX_OK);
    assert_int_equal(value, L1_VALUE);

    /* L2's memory operand in L0's memory (L2's paging maps it; without
     * EPT12 L2's addresses are L1's): not L1's, so nothing there is read or
     * written; the access faults as on a device. */
    l2_exit_to_l1(C, EXIT_REASON_HLT);
    uint64_t *pdpt = l1_u64(L2_PDPT);
    pdpt[1] = (POOL_BASE & ~(GiB - 1)) | PTE_PRESENT_RW | PTE_A_D | PTE_LARGE;
    assert_int_equal(l1_exec(C, EXIT_REASON_VMRESUME, 0), VMX_ENTERED);
    uint64_t gla = GiB + (L0_PAGE & (GiB - 1));
    assert_int_equal(l2_vmx_mem(EXIT_REASON_VMREAD, VMCS_GUEST_RIP, gla), L2_EXIT_HANDLED);
    expect_l2_exception(VEC_GP, true, 0);
    assert_memory_equal(phys_to_virt(L0_PAGE), l0_before, sizeof(l0_before));
    *l1_u64(L0_PAGE + 8) = L1_VALUE; /* what VMWRITE must not take */
    assert_int_equal(l2_vmx_mem(EXIT_REASON_VMWRITE, VMCS_GUEST_RIP, gla + 8), L2_EXIT_HANDLED);
    expect_l2_exception(VEC_GP, true, 0);
    assert_int_equal(VMCS12(region(L1_VMXON(C)), GUEST_RIP), L1_VALUE);
}

/* A shadow VMCS on top of L1's MSR bitmap, which L0 merged into vmcs02 and
 * keeps write-protected: L2's VMWRITE is a store into that page (done by
 * L0, past the protection), so the merge must follow at once, here and on
 * the other CPUs (nudged), as for a store by L1 or L2 themselves. */
static void test_l2_vmwrite_into_a_merged_bitmap_page(void **state)
{
    (void)state;
    struct vmcs12 img;
    l1_make_shadow(L1_MSR_BMP);
    memset((uint8_t *)phys_to_virt(L1_MSR_BMP) + sizeof(uint64_t), 0, 4 * KiB - sizeof(uint64_t));
    shadow_image(&img, false, L1_MSR_BMP);
    launch(&img);
    struct nested_vmx *n = smp_cpu(C)->nested;
    assert_true(nested_bitmap_is_protected(L1_MSR_BMP));
    size_t off = offsetof(struct vmcs12, field) + VMCS_IDX_GUEST_RIP * sizeof(uint64_t);
    const uint8_t *merged = phys_to_virt(n->msr_bitmap02);
    const uint8_t *l0 = phys_to_virt(the_vm.msr_bitmap);
    assert_int_equal(merged[off], l0[off]);
    unsigned nudges = smp_l2_nudges;
    assert_int_equal(l2_vmwrite(VMCS_GUEST_RIP, ~0ULL), VMX_OK);
    assert_int_equal(merged[off], 0xff);
    assert_int_equal(merged[off + 7], 0xff);
    assert_int_equal(smp_l2_nudges, nudges + 1);
}

int main(void)
{
#define T(f, m, how) {#f " (" how ")", f, setup, teardown, (void *)&m}
#define BOTH(f) T(f, with_shadowing, "L0 shadowing"), T(f, without_shadowing, "no L0 shadowing")
    const struct CMUnitTest tests[] = {
        BOTH(test_vmptrld_and_launch_of_a_shadow_vmcs),
        BOTH(test_vmptrld_shadow_without_the_offer),
        BOTH(test_l2_reads_and_writes_the_shadow_vmcs),
        BOTH(test_l2_in_32bit_mode),
        BOTH(test_bitmap_bit_or_high_encoding_bits_exit_to_l1),
        BOTH(test_without_shadowing_everything_exits),
        BOTH(test_shadowing_switched_by_l1_alone),
        BOTH(test_l2_vmfail),
        BOTH(test_l2_vmwrite_read_only),
        BOTH(test_l1_vmwrite_read_only_field),
        BOTH(test_l2_vmfail_invalid_without_a_link),
        BOTH(test_never_cleared_shadow),
        BOTH(test_l2_faults_go_by_l1s_exception_bitmap),
        BOTH(test_l2_operand_through_ept12),
        BOTH(test_l2_operand_ept12_ad_flags),
        BOTH(test_l2_operand_logged_by_pml),
        BOTH(test_mtf_after_an_emulated_vmread),
        BOTH(test_hostile_addresses),
        BOTH(test_l2_vmwrite_into_a_merged_bitmap_page),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
