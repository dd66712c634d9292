/* unit-srcs: vmm/nested/vmx_insn.c vmm/nested/operand.c vmm/nested/shadow.c vmm/nested/fieldsets.c vmm/nested/vmcs12.c vmm/nested/vmx_msrs.c vmm/nested/vmcs02.c vmm/nested/entry.c vmm/nested/checks.c vmm/nested/checks_guest.c vmm/nested/msrlist.c vmm/nested/vmexit.c vmm/nested/nested.c vmm/nested/shadow12.c vmm/nested/eptfeat.c vmm/nested/reflect.c vmm/nested/ept02.c vmm/nested/ept12.c vmm/nested/bitmaps.c vmm/ept.c vmm/pmm.c vmm/msr.c vmm/mtrr.c vmm/memmap.c vmm/vcpu.c vmm/l1ram.c vmm/io.c vmm/gva.c vmm/l1view.c arch/x86/vmx_root.c arch/x86/vmx_caps.c tests/unit/fake_vmx.c tests/unit/fake_ipi.c */
/* PML, VMFUNC EPTP switching and EPT-violation #VE, which L0 emulates for
 * L1 on top of EPT-on-EPT (vmm/nested/eptfeat.c, ept02.c), end to end: L1
 * sets up vmcs12 with its VMX instructions (the real exit handlers), L2's
 * exits (EPT violations of EPT02, VMFUNC) go through nested_l2_exit as the
 * CPU delivers them, and L1 looks at the result with its own VMREADs and
 * in its memory.
 *
 * SDM Vol. 3C:
 *   29.3.6  page-modification logging: before setting an EPT accessed or
 *           dirty flag the CPU checks the PML index: outside 0-511 a
 *           "page-modification log-full" VM exit (reason 62), the flag not
 *           set and the access not done; else, when a dirty flag goes from
 *           0 to 1, the 4 KiB-aligned guest-physical address is written at
 *           PML address + 8 * index and the index decremented (0 -> FFFFH).
 *           Accesses to guest paging structures count as writes with A/D
 *           (29.3.5). 28.2.1: the exit qualification of a PML-full exit
 *           has only bit 12 (NMI unblocking due to IRET) defined.
 *   26.5.6  VM functions: VMFUNC with EAX = 0 (EPTP switching, enabled
 *           in the VM-function controls): ECX >= 512 or a list entry that
 *           is no valid EPTP (26.2.1.1) is a VM exit (reason 59);
 *           otherwise the entry becomes the EPT pointer, ECX[15:0] the
 *           EPTP index (where #VE is supported), and the guest goes on
 *           after VMFUNC without an exit. A function not enabled: VM exit.
 *   26.5.7  #VE: an EPT violation is convertible iff bit 63 of the entry
 *           that decides (the not-present one, or the leaf) is 0; it
 *           causes a #VE (vector 20, a fault, no error code) instead of a
 *           VM exit if CR0.PE = 1, no event is being delivered, and the
 *           dword at offset 4 of the information area is 0; the area
 *           receives exit reason 48, FFFFFFFFH at offset 4, the
 *           qualification, guest-linear and guest-physical address and
 *           the EPTP index; with bit 20 in the exception bitmap the #VE is
 *           itself a VM exit (reason 0).
 * And nestvisor's rule: every address L1 names for these (log, list,
 * information area) is reached as L1 reaches it, never in L0's memory. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "vmm/nested/nested.h"
#include "vmm/nested/ept02.h"
#include "vmm/vm.h"

struct vm the_vm;
#include "tests/unit/nested_smp_fixture.h"

#define X          L1_VMCS12(0)
#define ROOT_A     L1_EPT12            /* EPT12 A: PML4, PDPT, PD, PT */
#define ROOT_B     (L1_EPT12 + 0x4000) /* EPT12 B, the same shape */
#define TABLE(root, level) ((root) + (uint64_t)(EPT_LEVELS - (level)) * 4 * KiB)
#define L2_BASE    0x40000000ULL /* PML4 0, PDPT 1, PD 0: L2's pages in PT slots 0.. */
#define L2_PAGE(i) (L2_BASE + (uint64_t)(i) * 4 * KiB)
#define NPAGES     16
#define DATA_A     0x800000ULL /* EPT12 A maps L2 page i here, B at DATA_B */
#define DATA_B     0x900000ULL
#define PML_PA     0x600000ULL
#define LIST_PA    0x601000ULL
#define VE_PA      0x602000ULL
#define OFFSET     0x2a8 /* the accesses' offset in their page */
#define WB12       ((uint64_t)MEMTYPE_WB << EPT_MEMTYPE_SHIFT)
#define EPTP_A     (EPTP12_OF(ROOT_A) | EPTP_AD_ENABLE)
#define EPTP_B     (EPTP12_OF(ROOT_B) | EPTP_AD_ENABLE)
#define VMFUNC_LEN 3 /* 0F 01 D4 */
#define L2_RIP     0xffffffff80001000ULL
#define LINEAR     0x7f0000002000ULL /* L2's linear address of the access */
#define QUAL_CPU(access) (smp_ept_qual(access) | EPT_QUAL_GLA_VALID | EPT_QUAL_GLA_TRANSLATED)
#define QUAL_PERM_SHIFT 3
#define INDEX_FULL 0xffffU
#define EPTP_INDEX_SET 7 /* what L1 leaves in the EPTP index */
#define VE_INFO_INTR (INTR_INFO_VALID | INTR_TYPE_HW_EXCEPTION | VEC_VE)
#define POISON     0xa5a5a5a5a5a5a5a5ULL

static uint64_t l0_page; /* a page of L0's own memory, named by L1 */

/* ---- L1's memory ---- */

static void build_ept12(uint64_t root, uint64_t data)
{
    for (unsigned l = EPT_LEVELS; l >= 1; l--)
        memset(phys_to_virt(TABLE(root, l)), 0, 4 * KiB);
    l1_u64(TABLE(root, 4))[EPT_INDEX(L2_BASE, 4)] = TABLE(root, 3) | EPT_RWX;
    l1_u64(TABLE(root, 3))[EPT_INDEX(L2_BASE, 3)] = TABLE(root, 2) | EPT_RWX;
    l1_u64(TABLE(root, 2))[EPT_INDEX(L2_BASE, 2)] = TABLE(root, 1) | EPT_RWX;
    for (unsigned i = 0; i < NPAGES; i++)
        l1_u64(TABLE(root, 1))[i] = (data + i * 4 * KiB) | EPT_RWX | WB12;
}

/* EPT12 A's entry of `level` on L2 page i's walk. */
static uint64_t *entry12(unsigned i, unsigned level)
{
    uint64_t gpa = L2_PAGE(i);
    return &l1_u64(TABLE(ROOT_A, level))[EPT_INDEX(gpa, level)];
}

static uint64_t pml_slot(unsigned index) { return l1_u64(PML_PA)[index]; }

/* ---- L1's VMX work ---- */

static uint64_t vmread12(uint32_t enc)
{
    uint64_t v = POISON;
    assert_int_equal(l1_vmread(0, enc, &v), VMX_OK);
    return v;
}

static void vmwrite12(uint32_t enc, uint64_t value) { assert_int_equal(l1_vmwrite(0, enc, value), VMX_OK); }

static void resume(void) { assert_int_equal(l1_exec(0, EXIT_REASON_VMRESUME, 0), VMX_ENTERED); }

/* vmcs12 for a 64-bit L2 on EPT12 A with A/D, PML (index 511), VM
 * functions with EPTP switching (list: A, B) and #VE; L2 entered. */
static int setup_with(bool shadow)
{
    smp_machine_init(1, shadow);
    uint32_t rev = nested_vmx_caps()->revision_id;
    *(uint32_t *)phys_to_virt(L1_VMXON(0)) = rev;
    assert_int_equal(l1_ptr_insn(0, EXIT_REASON_VMXON, L1_VMXON(0)), VMX_OK);
    *(uint32_t *)phys_to_virt(X) = rev;
    assert_int_equal(l1_ptr_insn(0, EXIT_REASON_VMCLEAR, X), VMX_OK);
    assert_int_equal(l1_ptr_insn(0, EXIT_REASON_VMPTRLD, X), VMX_OK);
    build_ept12(ROOT_A, DATA_A);
    build_ept12(ROOT_B, DATA_B);
    memset(phys_to_virt(PML_PA), 0, 4 * KiB);
    memset(phys_to_virt(LIST_PA), 0, 4 * KiB);
    memset(phys_to_virt(VE_PA), 0, 4 * KiB);
    l1_u64(LIST_PA)[0] = EPTP_A;
    l1_u64(LIST_PA)[1] = EPTP_B;
    struct vmcs12 img;
    smp_vmcs12_image(&img, ROOT_A);
    VMCS12(&img, EPT_POINTER) = EPTP_A;
    VMCS12(&img, SECONDARY_VM_EXEC_CONTROL) |= PROC2_ENABLE_PML | PROC2_ENABLE_VMFUNC | PROC2_EPT_VIOLATION_VE;
    VMCS12(&img, PML_ADDRESS) = PML_PA;
    VMCS12(&img, GUEST_PML_INDEX) = PML_ENTRIES - 1;
    VMCS12(&img, VM_FUNCTION_CONTROL) = VMFUNC_EPTP_SWITCHING;
    VMCS12(&img, EPTP_LIST_ADDRESS) = LIST_PA;
    VMCS12(&img, VE_INFO_ADDRESS) = VE_PA;
    VMCS12(&img, EPTP_INDEX) = EPTP_INDEX_SET;
    VMCS12(&img, GUEST_RIP) = L2_RIP;
    l1_vmwrite_image(0, &img);
    assert_int_equal(l1_exec(0, EXIT_REASON_VMLAUNCH, 0), VMX_ENTERED);
    l0_page = smp_page();
    memset(phys_to_virt(l0_page), 0x5a, 4 * KiB);
    return 0;
}

static int setup(void **state)
{
    (void)state;
    return setup_with(false);
}

/* The same with VMCS shadowing for L1 (tigerlake has it and PML). */
static int setup_shadow(void **state)
{
    (void)state;
    return setup_with(true);
}

static int teardown(void **state)
{
    (void)state;
    nested_bitmaps_unprotect_all();
    return 0;
}

/* ---- L2's exits, as the CPU gives them to L0 ---- */

static struct vcpu *in_l2(void)
{
    struct vcpu *v = smp_cpu(0);
    assert_true(v->in_l2);
    assert_int_equal(vmcs_current(), v->nested->vmcs02);
    return v;
}

static enum l2_exit_outcome l2_exit(uint32_t reason, uint64_t qual, uint64_t gpa, uint32_t vectoring, uint64_t len)
{
    struct vcpu *v = in_l2();
    v->regs.launch = 0; /* vmcs02 is launched after an exit */
    vmcs_write(VMCS_VM_EXIT_REASON, reason);
    vmcs_write(VMCS_EXIT_QUALIFICATION, qual);
    vmcs_write(VMCS_GUEST_PHYSICAL_ADDRESS, gpa);
    vmcs_write(VMCS_GUEST_LINEAR_ADDRESS, LINEAR);
    vmcs_write(VMCS_VM_EXIT_INSTRUCTION_LEN, len);
    vmcs_write(VMCS_VM_EXIT_INTR_INFO, 0);
    vmcs_write(VMCS_IDT_VECTORING_INFO_FIELD, vectoring);
    vmcs_write(VMCS_VM_ENTRY_INTR_INFO_FIELD, 0); /* the CPU clears it on every exit */
    return nested_l2_exit(v, reason);
}

/* L2 accesses page i at OFFSET and misses EPT02 (qual: what the CPU says). */
static enum l2_exit_outcome l2_fault(unsigned i, uint64_t qual)
{
    return l2_exit(EXIT_REASON_EPT_VIOLATION, qual, L2_PAGE(i) + OFFSET, 0, 0);
}

static enum l2_exit_outcome l2_vmfunc(uint64_t eax, uint64_t ecx)
{
    struct vcpu *v = in_l2();
    v->regs.rax = eax;
    v->regs.rcx = ecx;
    return l2_exit(EXIT_REASON_VMFUNC, 0, 0, 0, VMFUNC_LEN);
}

/* The EPT02 leaf of page i under eptp12 (0: none). */
static uint64_t shadow02(uint64_t eptp12, unsigned i)
{
    uint64_t eptp02;
    unsigned level = 0;
    struct ept *sh = ept02_shadow(smp_cpu(0)->nested->ept02, eptp12, &eptp02);
    uint64_t *e = sh ? ept_lookup(sh, L2_PAGE(i), &level) : 0;
    return e ? *e : 0;
}

/* The exit L1 got. */
static void expect_exit(uint32_t reason, uint64_t qual)
{
    assert_false(smp_cpu(0)->in_l2);
    assert_int_equal(vmread12(VMCS_VM_EXIT_REASON), reason);
    assert_int_equal(vmread12(VMCS_EXIT_QUALIFICATION), qual);
}

/* ================= PML (SDM 29.3.6) ================= */

/* The first write to a clean page sets EPT12's dirty flag and logs the
 * page (4 KiB aligned) at the index, which goes down; the order of the
 * log is the order of first dirtying; a read logs nothing and leaves
 * EPT02 read-only; a write to a page already dirty, or a second fault on
 * it after INVEPT, logs nothing. */
static void test_pml_logs_first_dirtying_in_order(void **state)
{
    (void)state;
    assert_int_equal(l2_fault(3, QUAL_CPU(EPT_WRITE)), L2_EXIT_HANDLED);
    assert_true(*entry12(3, 1) & EPT_DIRTY);
    assert_int_equal(pml_slot(511), L2_PAGE(3));
    assert_int_equal(l2_fault(5, QUAL_CPU(EPT_READ)), L2_EXIT_HANDLED);
    assert_int_equal(*entry12(5, 1) & (EPT_ACCESSED | EPT_DIRTY), EPT_ACCESSED);
    assert_int_equal(shadow02(EPTP_A, 5) & EPT_RWX, EPT_READ | EPT_EXEC);
    assert_int_equal(pml_slot(510), 0);
    /* The write after the read: the EPT02 entry was read-only, so it
     * comes back to L0, which dirties and logs. */
    uint64_t qual_ro = QUAL_CPU(EPT_WRITE) | (EPT_READ | EPT_EXEC) << QUAL_PERM_SHIFT;
    assert_int_equal(l2_fault(5, qual_ro), L2_EXIT_HANDLED);
    assert_int_equal(pml_slot(510), L2_PAGE(5));
    assert_int_equal(shadow02(EPTP_A, 5) & EPT_RWX, EPT_RWX);
    /* A page whose leaf L1 left dirty: writable at once, no entry. */
    *entry12(7, 1) |= EPT_ACCESSED | EPT_DIRTY;
    assert_int_equal(l2_fault(7, QUAL_CPU(EPT_WRITE)), L2_EXIT_HANDLED);
    assert_int_equal(pml_slot(509), 0);
    /* L2 page walk through page 9 (a paging-structure access counts as a
     * write with A/D, 29.3.5; bit 8 clear): logged. */
    assert_int_equal(l2_fault(9, smp_ept_qual(EPT_READ | EPT_WRITE) | EPT_QUAL_GLA_VALID), L2_EXIT_HANDLED);
    assert_int_equal(pml_slot(509), L2_PAGE(9));
    /* L1 looks: after an exit, the index it reads is 508, and a fault of
     * page 3 after INVEPT (dirty flag still set) logs nothing more. */
    assert_int_equal(l2_exit(EXIT_REASON_CPUID, 0, 0, 0, 2), L2_EXIT_REFLECTED);
    assert_int_equal(vmread12(VMCS_GUEST_PML_INDEX), 508);
    assert_int_equal(l1_invept(0, INVEPT_SINGLE_CONTEXT, EPTP_A), VMX_OK);
    resume();
    assert_int_equal(l2_fault(3, QUAL_CPU(EPT_WRITE)), L2_EXIT_HANDLED);
    assert_int_equal(pml_slot(508), 0);
    assert_int_equal(in_l2()->nested->ept02->stats.pml_logged, 3);
    /* L1 clears the dirty flag and invalidates (its dirty-log harvest):
     * the next write logs page 3 again. */
    assert_int_equal(l2_exit(EXIT_REASON_CPUID, 0, 0, 0, 2), L2_EXIT_REFLECTED);
    *entry12(3, 1) &= ~EPT_DIRTY;
    assert_int_equal(l1_invept(0, INVEPT_SINGLE_CONTEXT, EPTP_A), VMX_OK);
    resume();
    assert_int_equal(l2_fault(3, QUAL_CPU(EPT_WRITE)), L2_EXIT_HANDLED);
    assert_int_equal(pml_slot(508), L2_PAGE(3));
}

/* A dirty flag set on a 2 MiB EPT12 leaf logs the 4 KiB page written, once
 * for the whole leaf. */
static void test_pml_large_leaf(void **state)
{
    (void)state;
    uint64_t g = 0x40200000ULL; /* PD slot 1 */
    uint64_t *pde = &l1_u64(TABLE(ROOT_A, 2))[EPT_INDEX(g, 2)];
    *pde = 0xa00000ULL | EPT_RWX | WB12 | EPT_LARGE;
    assert_int_equal(l2_exit(EXIT_REASON_EPT_VIOLATION, QUAL_CPU(EPT_WRITE), g + 0x5123, 0, 0), L2_EXIT_HANDLED);
    assert_int_equal(pml_slot(511), g + 0x5000);
    assert_int_equal(l2_exit(EXIT_REASON_EPT_VIOLATION, QUAL_CPU(EPT_WRITE), g + 0x9000, 0, 0), L2_EXIT_HANDLED);
    assert_int_equal(pml_slot(510), 0);
    assert_true(*pde & EPT_DIRTY);
}

/* Index 0 logs at slot 0 and wraps to FFFFH; then the next access that
 * has a flag to set is a log-full exit: qualification 0 (bit 12 only when
 * the CPU's says so), nothing set, nothing logged, index unchanged, L2 at
 * the access. Accesses with no flag to set go on. An index above 511 is
 * as full. */
static void test_pml_full(void **state)
{
    (void)state;
    assert_int_equal(l2_exit(EXIT_REASON_CPUID, 0, 0, 0, 2), L2_EXIT_REFLECTED);
    vmwrite12(VMCS_GUEST_PML_INDEX, 0);
    resume();
    assert_int_equal(l2_fault(1, QUAL_CPU(EPT_WRITE)), L2_EXIT_HANDLED);
    assert_int_equal(pml_slot(0), L2_PAGE(1));
    uint64_t before[4], log_before[PML_ENTRIES];
    for (unsigned l = 1; l <= EPT_LEVELS; l++)
        before[l - 1] = *entry12(2, l);
    memcpy(log_before, phys_to_virt(PML_PA), sizeof(log_before));
    assert_int_equal(l2_fault(2, QUAL_CPU(EPT_WRITE) | EPT_QUAL_NMI_UNBLOCKING), L2_EXIT_REFLECTED);
    expect_exit(EXIT_REASON_PML_FULL, EPT_QUAL_NMI_UNBLOCKING);
    assert_int_equal(vmread12(VMCS_GUEST_PML_INDEX), INDEX_FULL);
    assert_int_equal(vmread12(VMCS_GUEST_RIP), L2_RIP);
    for (unsigned l = 1; l <= EPT_LEVELS; l++)
        assert_int_equal(*entry12(2, l), before[l - 1]);
    assert_memory_equal(log_before, phys_to_virt(PML_PA), sizeof(log_before));
    assert_int_equal(shadow02(EPTP_A, 2), 0);
    /* A read of page 2 also wants accessed flags: full too. */
    resume();
    assert_int_equal(l2_fault(2, QUAL_CPU(EPT_READ)), L2_EXIT_REFLECTED);
    expect_exit(EXIT_REASON_PML_FULL, 0);
    /* Page 1 is accessed and dirty already: its faults set nothing, go on. */
    resume();
    assert_int_equal(l2_exit(EXIT_REASON_EPT_VIOLATION, QUAL_CPU(EPT_WRITE), L2_PAGE(1), 0, 0), L2_EXIT_HANDLED);
    /* 600 is as full as FFFFH; with a fresh index L2's retry completes. */
    assert_int_equal(l2_exit(EXIT_REASON_CPUID, 0, 0, 0, 2), L2_EXIT_REFLECTED);
    vmwrite12(VMCS_GUEST_PML_INDEX, 600);
    resume();
    assert_int_equal(l2_fault(2, QUAL_CPU(EPT_WRITE)), L2_EXIT_REFLECTED);
    expect_exit(EXIT_REASON_PML_FULL, 0);
    vmwrite12(VMCS_GUEST_PML_INDEX, PML_ENTRIES - 1);
    resume();
    assert_int_equal(l2_fault(2, QUAL_CPU(EPT_WRITE)), L2_EXIT_HANDLED);
    assert_int_equal(pml_slot(511), L2_PAGE(2));
    assert_int_equal(in_l2()->nested->ept02->stats.pml_full, 3);
}

/* The prefault at VMRESUME (ept02_prefault) dirties and logs as the
 * retried write would; with the log full it does nothing, and the retry
 * is the log-full exit. */
static void test_pml_prefault(void **state)
{
    (void)state;
    *entry12(4, 1) = EPT_SUPPRESS_VE; /* not present, and no #VE instead of the exit */
    assert_int_equal(l2_fault(4, QUAL_CPU(EPT_WRITE)), L2_EXIT_REFLECTED);
    expect_exit(EXIT_REASON_EPT_VIOLATION, QUAL_CPU(EPT_WRITE));
    *entry12(4, 1) = (DATA_A + 4 * 4 * KiB) | EPT_RWX | WB12;
    resume(); /* same RIP, nothing to inject: L0 prefaults */
    assert_int_equal(pml_slot(511), L2_PAGE(4));
    assert_true(*entry12(4, 1) & EPT_DIRTY);
    assert_int_equal(shadow02(EPTP_A, 4) & EPT_RWX, EPT_RWX);
    assert_int_equal(in_l2()->nested->ept02->stats.prefaults, 1);
    /* The same with the log full: no prefault, the flags untouched. */
    *entry12(6, 1) = EPT_SUPPRESS_VE;
    assert_int_equal(l2_fault(6, QUAL_CPU(EPT_WRITE)), L2_EXIT_REFLECTED);
    *entry12(6, 1) = (DATA_A + 6 * 4 * KiB) | EPT_RWX | WB12;
    vmwrite12(VMCS_GUEST_PML_INDEX, INDEX_FULL);
    resume();
    assert_int_equal(shadow02(EPTP_A, 6), 0);
    assert_false(*entry12(6, 1) & (EPT_ACCESSED | EPT_DIRTY));
    assert_int_equal(in_l2()->nested->ept02->stats.prefaults, 1);
    assert_int_equal(l2_fault(6, QUAL_CPU(EPT_WRITE)), L2_EXIT_REFLECTED);
    expect_exit(EXIT_REASON_PML_FULL, 0);
}

/* L1 names L0's memory as its log: the index moves as the CPU's would,
 * the entry goes nowhere (not L1's to reach), L0's page is untouched. Its
 * own RAM at the end of its range works as any. */
static void test_pml_log_where_l1_cannot_reach(void **state)
{
    (void)state;
    assert_int_equal(l2_exit(EXIT_REASON_CPUID, 0, 0, 0, 2), L2_EXIT_REFLECTED);
    vmwrite12(VMCS_PML_ADDRESS, l0_page);
    resume();
    assert_int_equal(l2_fault(3, QUAL_CPU(EPT_WRITE)), L2_EXIT_HANDLED);
    for (unsigned i = 0; i < 4 * KiB; i++)
        assert_int_equal(((const uint8_t *)phys_to_virt(l0_page))[i], 0x5a);
    assert_int_equal(l2_exit(EXIT_REASON_CPUID, 0, 0, 0, 2), L2_EXIT_REFLECTED);
    assert_int_equal(vmread12(VMCS_GUEST_PML_INDEX), 510);
    vmwrite12(VMCS_PML_ADDRESS, L1_RAM_END - 4 * KiB);
    resume();
    assert_int_equal(l2_fault(5, QUAL_CPU(EPT_WRITE)), L2_EXIT_HANDLED);
    assert_int_equal(l1_u64(L1_RAM_END - 4 * KiB)[510], L2_PAGE(5));
}

/* The log page is L1's MSR bitmap, merged into vmcs02 and write-protected
 * in EPT01: L0's log entry makes the merge stale, and the next entry
 * merges it again, as after L1's own store. */
static void test_pml_into_a_merged_bitmap(void **state)
{
    (void)state;
    assert_int_equal(l2_exit(EXIT_REASON_CPUID, 0, 0, 0, 2), L2_EXIT_REFLECTED);
    assert_int_equal(l1_u64(L1_MSR_BMP)[511], 0);
    vmwrite12(VMCS_PML_ADDRESS, L1_MSR_BMP);
    resume();
    struct nested_vmx *n = in_l2()->nested;
    assert_true(nested_bitmap_is_protected(L1_MSR_BMP));
    const uint64_t *merged = phys_to_virt(n->msr_bitmap02), *l0 = phys_to_virt(the_vm.msr_bitmap);
    assert_int_equal(merged[511], l0[511]);
    assert_int_equal(l2_fault(3, QUAL_CPU(EPT_WRITE)), L2_EXIT_HANDLED);
    assert_int_equal(l1_u64(L1_MSR_BMP)[511], L2_PAGE(3));
    assert_int_equal(l2_exit(EXIT_REASON_CPUID, 0, 0, 0, 2), L2_EXIT_REFLECTED);
    resume();
    assert_int_equal(merged[511], l0[511] | L2_PAGE(3));
}

/* With VMCS shadowing the guest PML index is a shadowed field: KVM reads
 * it after every exit of its guest (to flush the log), which must not cost
 * an exit. L1 reads the index L0 logged down to, from the shadow VMCS, and
 * its VMWRITE there is what L0 logs at next. */
static void test_pml_index_in_the_shadow_vmcs(void **state)
{
    (void)state;
    assert_true(smp_cpu(0)->nested->shadow_enabled);
    assert_int_equal(l2_fault(3, QUAL_CPU(EPT_WRITE)), L2_EXIT_HANDLED);
    assert_int_equal(l2_fault(4, QUAL_CPU(EPT_WRITE)), L2_EXIT_HANDLED);
    assert_int_equal(l2_exit(EXIT_REASON_CPUID, 0, 0, 0, 2), L2_EXIT_REFLECTED);
    unsigned exits = smp_l1.exits, reads = smp_l1.shadow_reads;
    assert_int_equal(vmread12(VMCS_GUEST_PML_INDEX), 509);
    assert_int_equal(smp_l1.exits, exits);
    assert_int_equal(smp_l1.shadow_reads, reads + 1);
    vmwrite12(VMCS_GUEST_PML_INDEX, 100);
    assert_int_equal(smp_l1.exits, exits);
    resume();
    assert_int_equal(l2_fault(5, QUAL_CPU(EPT_WRITE)), L2_EXIT_HANDLED);
    assert_int_equal(pml_slot(100), L2_PAGE(5));
    assert_int_equal(l2_exit(EXIT_REASON_CPUID, 0, 0, 0, 2), L2_EXIT_REFLECTED);
    assert_int_equal(vmread12(VMCS_GUEST_PML_INDEX), 99);
}

/* Without "enable PML" nothing is logged; without A/D in the EPTP nothing
 * either (and nothing is ever full). */
static void test_pml_off(void **state)
{
    (void)state;
    assert_int_equal(l2_exit(EXIT_REASON_CPUID, 0, 0, 0, 2), L2_EXIT_REFLECTED);
    uint64_t proc2 = vmread12(VMCS_SECONDARY_VM_EXEC_CONTROL);
    vmwrite12(VMCS_SECONDARY_VM_EXEC_CONTROL, proc2 & ~(uint64_t)PROC2_ENABLE_PML);
    resume();
    assert_int_equal(l2_fault(3, QUAL_CPU(EPT_WRITE)), L2_EXIT_HANDLED);
    assert_true(*entry12(3, 1) & EPT_DIRTY);
    assert_int_equal(l2_exit(EXIT_REASON_CPUID, 0, 0, 0, 2), L2_EXIT_REFLECTED);
    vmwrite12(VMCS_SECONDARY_VM_EXEC_CONTROL, proc2);
    vmwrite12(VMCS_EPT_POINTER, EPTP_A & ~EPTP_AD_ENABLE);
    vmwrite12(VMCS_GUEST_PML_INDEX, INDEX_FULL);
    resume();
    assert_int_equal(l2_fault(4, QUAL_CPU(EPT_WRITE)), L2_EXIT_HANDLED);
    assert_false(*entry12(4, 1) & EPT_DIRTY);
    for (unsigned i = 0; i < PML_ENTRIES; i++)
        assert_int_equal(pml_slot(i), 0);
}

/* ================= VMFUNC: EPTP switching (SDM 26.5.6) ================= */

/* VMFUNC(0, 1): EPT pointer B in vmcs12 and in use (vmcs02 runs on B's
 * shadow), EPTP index 1 (#VE is offered), RIP past VMFUNC, no exit to
 * L1; L2's faults fill B's shadow with B's pages; VMFUNC(0, 0) back. */
static void test_vmfunc_switches(void **state)
{
    (void)state;
    struct vcpu *v = in_l2();
    assert_int_equal(l2_fault(3, QUAL_CPU(EPT_READ)), L2_EXIT_HANDLED);
    assert_int_equal(l2_vmfunc(0, 1), L2_EXIT_HANDLED);
    assert_int_equal(vmcs_read(VMCS_GUEST_RIP), L2_RIP + VMFUNC_LEN);
    uint64_t eptp02;
    assert_non_null(ept02_shadow(v->nested->ept02, EPTP_B, &eptp02));
    assert_int_equal(vmcs_read(VMCS_EPT_POINTER), eptp02);
    assert_int_equal(l2_fault(3, QUAL_CPU(EPT_READ)), L2_EXIT_HANDLED);
    assert_int_equal(shadow02(EPTP_B, 3) & EPT_ADDR_MASK, DATA_B + 3 * 4 * KiB);
    assert_true(l1_u64(TABLE(ROOT_B, 1))[3] & EPT_ACCESSED);
    /* A's shadow is kept for the way back. */
    assert_int_equal(shadow02(EPTP_A, 3) & EPT_ADDR_MASK, DATA_A + 3 * 4 * KiB);
    assert_int_equal(l2_vmfunc(0, 0), L2_EXIT_HANDLED);
    assert_non_null(ept02_shadow(v->nested->ept02, EPTP_A, &eptp02));
    assert_int_equal(vmcs_read(VMCS_EPT_POINTER), eptp02);
    assert_int_equal(vmcs_read(VMCS_GUEST_RIP), L2_RIP + 2 * VMFUNC_LEN);
    assert_int_equal(l2_vmfunc(0, 1), L2_EXIT_HANDLED);
    /* L1 sees it all at its next exit. */
    assert_int_equal(l2_exit(EXIT_REASON_CPUID, 0, 0, 0, 2), L2_EXIT_REFLECTED);
    assert_int_equal(vmread12(VMCS_EPT_POINTER), EPTP_B);
    assert_int_equal(vmread12(VMCS_EPTP_INDEX), 1);
    assert_int_equal(vmread12(VMCS_GUEST_RIP), L2_RIP + 3 * VMFUNC_LEN);
    /* VMRESUME runs on B. */
    resume();
    assert_non_null(ept02_shadow(v->nested->ept02, EPTP_B, &eptp02));
    assert_int_equal(vmcs_read(VMCS_EPT_POINTER), eptp02);
}

/* Every failing VMFUNC is L1's exit 59 with the instruction length, L2 at
 * the VMFUNC and the EPT pointer and EPTP index unchanged: ECX >= 512
 * (also with bits above 31 of RCX ignored: ECX = 1 from RCX 1 << 32 | 1
 * succeeds), function 1 (not enabled), EPTP switching not enabled, and
 * list entries that are no EPTP VM entry would accept. */
static void expect_vmfunc_exit(uint64_t eax, uint64_t ecx, uint64_t eptp_index, const char *what)
{
    assert_int_equal(l2_vmfunc(eax, ecx), L2_EXIT_REFLECTED);
    if (vmread12(VMCS_VM_EXIT_REASON) != EXIT_REASON_VMFUNC)
        fail_msg("%s: exit reason %llu", what, (unsigned long long)vmread12(VMCS_VM_EXIT_REASON));
    assert_int_equal(vmread12(VMCS_VM_EXIT_INSTRUCTION_LEN), VMFUNC_LEN);
    assert_int_equal(vmread12(VMCS_GUEST_RIP), L2_RIP);
    assert_int_equal(vmread12(VMCS_EPT_POINTER), EPTP_A);
    assert_int_equal(vmread12(VMCS_EPTP_INDEX), eptp_index);
    resume();
}

static void test_vmfunc_failures_exit(void **state)
{
    (void)state;
    expect_vmfunc_exit(0, EPTP_LIST_ENTRIES, EPTP_INDEX_SET, "ECX 512");
    expect_vmfunc_exit(0, 0xffffffffU, EPTP_INDEX_SET, "ECX all ones");
    expect_vmfunc_exit(1, 1, EPTP_INDEX_SET, "function 1");
    static const uint64_t bad[] = {
        0,                                                 /* empty */
        (EPTP_B & ~EPTP_WALK_MASK) | (4ULL << 3),          /* 5-level walk */
        (EPTP_B & ~7ULL) | 2,                              /* memory type 2 */
        EPTP_B | 1ULL << 7,                                /* reserved bit 7 */
        EPTP_B | 1ULL << PHYS_BITS,                        /* beyond MAXPHYADDR */
    };
    for (unsigned k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
        l1_u64(LIST_PA)[2 + k] = bad[k];
        expect_vmfunc_exit(0, 2 + k, EPTP_INDEX_SET, "invalid list entry");
    }
    /* RCX bits 63:32 are not ECX. */
    assert_int_equal(l2_vmfunc(0, 1ULL << 32 | 1), L2_EXIT_HANDLED);
    assert_int_equal(l2_vmfunc(0, 0), L2_EXIT_HANDLED);
    assert_int_equal(vmcs_read(VMCS_GUEST_RIP), L2_RIP + 2 * VMFUNC_LEN);
    vmcs_write(VMCS_GUEST_RIP, L2_RIP);
    /* VM functions on, EPTP switching off: EAX 0 exits too. */
    assert_int_equal(l2_exit(EXIT_REASON_CPUID, 0, 0, 0, 2), L2_EXIT_REFLECTED);
    vmwrite12(VMCS_GUEST_RIP, L2_RIP);
    vmwrite12(VMCS_VM_FUNCTION_CONTROL, 0);
    resume();
    expect_vmfunc_exit(0, 1, 0, "EPTP switching not enabled");
}

/* The list where L1 cannot reach (L0's page, holding what would be a valid
 * EPTP): never read, the VMFUNC exits. */
static void test_vmfunc_list_where_l1_cannot_reach(void **state)
{
    (void)state;
    l1_u64(l0_page)[1] = EPTP_B;
    assert_int_equal(l2_exit(EXIT_REASON_CPUID, 0, 0, 0, 2), L2_EXIT_REFLECTED);
    vmwrite12(VMCS_GUEST_RIP, L2_RIP);
    vmwrite12(VMCS_EPTP_LIST_ADDRESS, l0_page);
    resume();
    expect_vmfunc_exit(0, 1, EPTP_INDEX_SET, "list in L0's memory");
}

/* SDM 26.5.2: with the monitor trap flag, the VMFUNC L0 completed is
 * followed by L1's MTF exit, L2 past the VMFUNC on EPTP B. */
static void test_vmfunc_then_mtf(void **state)
{
    (void)state;
    assert_int_equal(l2_exit(EXIT_REASON_CPUID, 0, 0, 0, 2), L2_EXIT_REFLECTED);
    vmwrite12(VMCS_GUEST_RIP, L2_RIP);
    uint64_t proc = vmread12(VMCS_CPU_BASED_VM_EXEC_CONTROL);
    vmwrite12(VMCS_CPU_BASED_VM_EXEC_CONTROL, proc | PROC_MONITOR_TRAP_FLAG);
    resume();
    assert_int_equal(l2_vmfunc(0, 1), L2_EXIT_REFLECTED);
    expect_exit(EXIT_REASON_MONITOR_TRAP_FLAG, 0);
    assert_int_equal(vmread12(VMCS_GUEST_RIP), L2_RIP + VMFUNC_LEN);
    assert_int_equal(vmread12(VMCS_EPT_POINTER), EPTP_B);
}

/* ================= #VE (SDM 26.5.7) ================= */

static const uint8_t *ve_area(void) { return phys_to_virt(VE_PA); }
static uint32_t ve32(unsigned off) { return *(const uint32_t *)(ve_area() + off); }
static uint64_t ve64(unsigned off) { return *(const uint64_t *)(ve_area() + off); }

/* A read of a page whose EPT12 leaf is not present (bit 63 clear): a #VE
 * for L2 (vector 20, hardware exception, no error code), no exit to L1;
 * the area holds reason 48, FFFFFFFFH, the qualification L1's exit would
 * have had, guest-linear and guest-physical address, the EPTP index. */
static void test_ve_delivered(void **state)
{
    (void)state;
    *entry12(3, 1) = 0;
    uint64_t qual = QUAL_CPU(EPT_READ) | EPT_QUAL_NMI_UNBLOCKING;
    assert_int_equal(l2_fault(3, qual), L2_EXIT_HANDLED);
    assert_true(in_l2()->in_l2);
    assert_int_equal(vmcs_read(VMCS_VM_ENTRY_INTR_INFO_FIELD), VE_INFO_INTR);
    assert_int_equal(ve32(VE_INFO_EXIT_REASON), EXIT_REASON_EPT_VIOLATION);
    assert_int_equal(ve32(VE_INFO_BUSY), VE_INFO_BUSY_VALUE);
    assert_int_equal(ve64(VE_INFO_QUALIFICATION), qual);
    assert_int_equal(ve64(VE_INFO_GUEST_LINEAR), LINEAR);
    assert_int_equal(ve64(VE_INFO_GUEST_PHYSICAL), L2_PAGE(3) + OFFSET);
    assert_int_equal(*(const uint16_t *)(ve_area() + VE_INFO_EPTP_INDEX), EPTP_INDEX_SET);
    assert_int_equal(ve_area()[VE_INFO_SIZE], 0); /* nothing beyond the area */
    /* A permission violation of a present leaf: bits 5:3 in the area. */
    memset(phys_to_virt(VE_PA), 0, 4 * KiB);
    *entry12(4, 1) = (DATA_A + 4 * 4 * KiB) | EPT_READ | WB12;
    assert_int_equal(l2_fault(4, QUAL_CPU(EPT_WRITE)), L2_EXIT_HANDLED);
    assert_int_equal(ve64(VE_INFO_QUALIFICATION), QUAL_CPU(EPT_WRITE) | EPT_READ << QUAL_PERM_SHIFT);
    /* After VMFUNC the area names the new EPTP index. */
    memset(phys_to_virt(VE_PA), 0, 4 * KiB);
    assert_int_equal(l2_vmfunc(0, 1), L2_EXIT_HANDLED);
    l1_u64(TABLE(ROOT_B, 1))[5] = 0;
    assert_int_equal(l2_fault(5, QUAL_CPU(EPT_EXEC)), L2_EXIT_HANDLED);
    assert_int_equal(*(const uint16_t *)(ve_area() + VE_INFO_EPTP_INDEX), 1);
}

/* Not converted, L1's EPT violation exit instead, the area untouched: the
 * area busy (offset 4 not 0); bit 63 of the deciding entry set (the
 * not-present one, or the leaf); during event delivery; CR0.PE = 0; #VE
 * not enabled. Bit 63 of a non-leaf entry above the deciding one does not
 * matter. An EPT misconfiguration is never converted. */
static void expect_violation_exit(unsigned i, uint64_t qual, uint32_t vectoring, const char *what)
{
    uint8_t area[VE_INFO_SIZE];
    memcpy(area, ve_area(), sizeof(area));
    assert_int_equal(l2_exit(EXIT_REASON_EPT_VIOLATION, qual, L2_PAGE(i) + OFFSET, vectoring, 0), L2_EXIT_REFLECTED);
    if (vmread12(VMCS_VM_EXIT_REASON) != EXIT_REASON_EPT_VIOLATION)
        fail_msg("%s: exit reason %llu", what, (unsigned long long)vmread12(VMCS_VM_EXIT_REASON));
    assert_memory_equal(area, ve_area(), sizeof(area));
    resume();
}

static void test_ve_conditions(void **state)
{
    (void)state;
    *entry12(3, 1) = 0;
    *(uint32_t *)(phys_to_virt(VE_PA) + VE_INFO_BUSY) = 1;
    expect_violation_exit(3, QUAL_CPU(EPT_READ), 0, "area busy");
    *(uint32_t *)(phys_to_virt(VE_PA) + VE_INFO_BUSY) = 0;
    *entry12(3, 1) = EPT_SUPPRESS_VE;
    expect_violation_exit(3, QUAL_CPU(EPT_READ), 0, "not-present entry with suppress #VE");
    *entry12(3, 1) = (DATA_A + 3 * 4 * KiB) | EPT_READ | WB12 | EPT_SUPPRESS_VE;
    expect_violation_exit(3, QUAL_CPU(EPT_WRITE), 0, "leaf with suppress #VE");
    *entry12(3, 1) = 0;
    uint32_t vectoring = INTR_INFO_VALID | INTR_TYPE_EXT_INTR | 0x30;
    assert_int_equal(l2_exit(EXIT_REASON_EPT_VIOLATION, QUAL_CPU(EPT_READ), L2_PAGE(3) + OFFSET, vectoring, 0),
                     L2_EXIT_REFLECTED);
    expect_exit(EXIT_REASON_EPT_VIOLATION, QUAL_CPU(EPT_READ));
    assert_int_equal(vmread12(VMCS_IDT_VECTORING_INFO_FIELD), vectoring);
    assert_int_equal(ve32(VE_INFO_BUSY), 0);
    resume();
    /* Suppress #VE above, in the PDE that references the table: converted. */
    *entry12(3, 2) |= EPT_SUPPRESS_VE;
    assert_int_equal(l2_fault(3, QUAL_CPU(EPT_READ)), L2_EXIT_HANDLED);
    assert_int_equal(ve32(VE_INFO_BUSY), VE_INFO_BUSY_VALUE);
    /* ... but a not-present PDE with bit 63 decides. */
    memset(phys_to_virt(VE_PA), 0, 4 * KiB);
    uint64_t pde = *entry12(3, 2);
    *entry12(3, 2) = EPT_SUPPRESS_VE;
    expect_violation_exit(3, QUAL_CPU(EPT_READ), 0, "not-present PDE with suppress #VE");
    *entry12(3, 2) = pde & ~EPT_SUPPRESS_VE;
    /* CR0.PE = 0 (as for an unrestricted L2 in real mode); L1 then puts
     * its L2 back into protected mode. */
    uint64_t cr0 = vmcs_read(VMCS_GUEST_CR0);
    vmcs_write(VMCS_GUEST_CR0, cr0 & ~CR0_PE);
    assert_int_equal(l2_fault(3, QUAL_CPU(EPT_READ)), L2_EXIT_REFLECTED);
    assert_int_equal(vmread12(VMCS_VM_EXIT_REASON), EXIT_REASON_EPT_VIOLATION);
    assert_int_equal(ve32(VE_INFO_BUSY), 0);
    vmwrite12(VMCS_GUEST_CR0, cr0);
    resume();
    /* A misconfigured leaf (write without read). */
    *entry12(3, 1) = (DATA_A + 3 * 4 * KiB) | EPT_WRITE | WB12;
    assert_int_equal(l2_fault(3, QUAL_CPU(EPT_READ)), L2_EXIT_REFLECTED);
    assert_int_equal(vmread12(VMCS_VM_EXIT_REASON), EXIT_REASON_EPT_MISCONFIG);
    assert_int_equal(ve32(VE_INFO_BUSY), 0);
    resume();
    /* #VE off. */
    *entry12(3, 1) = 0;
    assert_int_equal(l2_exit(EXIT_REASON_CPUID, 0, 0, 0, 2), L2_EXIT_REFLECTED);
    uint64_t proc2 = vmread12(VMCS_SECONDARY_VM_EXEC_CONTROL);
    vmwrite12(VMCS_SECONDARY_VM_EXEC_CONTROL, proc2 & ~(uint64_t)PROC2_EPT_VIOLATION_VE);
    resume();
    expect_violation_exit(3, QUAL_CPU(EPT_READ), 0, "#VE not enabled");
}

/* Bit 20 in L1's exception bitmap: the #VE is L1's exception exit (reason
 * 0, interruption information 0x80000314), after the area was written. */
static void test_ve_exit_by_exception_bitmap(void **state)
{
    (void)state;
    assert_int_equal(l2_exit(EXIT_REASON_CPUID, 0, 0, 0, 2), L2_EXIT_REFLECTED);
    vmwrite12(VMCS_EXCEPTION_BITMAP, 1U << VEC_VE);
    resume();
    *entry12(3, 1) = 0;
    assert_int_equal(l2_fault(3, QUAL_CPU(EPT_READ)), L2_EXIT_REFLECTED);
    expect_exit(EXIT_REASON_EXCEPTION_NMI, 0);
    assert_int_equal(vmread12(VMCS_VM_EXIT_INTR_INFO), VE_INFO_INTR);
    assert_int_equal(vmread12(VMCS_IDT_VECTORING_INFO_FIELD), 0);
    assert_int_equal(ve32(VE_INFO_BUSY), VE_INFO_BUSY_VALUE);
    assert_int_equal(ve64(VE_INFO_GUEST_PHYSICAL), L2_PAGE(3) + OFFSET);
}

/* The area in L0's memory: never read or written there; as on a device
 * that reads all ones, the area counts as busy and L1 gets the exit. */
static void test_ve_area_where_l1_cannot_reach(void **state)
{
    (void)state;
    memset(phys_to_virt(l0_page), 0, 4 * KiB);
    assert_int_equal(l2_exit(EXIT_REASON_CPUID, 0, 0, 0, 2), L2_EXIT_REFLECTED);
    vmwrite12(VMCS_VE_INFO_ADDRESS, l0_page);
    resume();
    *entry12(3, 1) = 0;
    assert_int_equal(l2_fault(3, QUAL_CPU(EPT_READ)), L2_EXIT_REFLECTED);
    assert_int_equal(vmread12(VMCS_VM_EXIT_REASON), EXIT_REASON_EPT_VIOLATION);
    for (unsigned i = 0; i < 4 * KiB; i++)
        assert_int_equal(((const uint8_t *)phys_to_virt(l0_page))[i], 0);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_pml_logs_first_dirtying_in_order),
        T(test_pml_large_leaf),
        T(test_pml_full),
        T(test_pml_prefault),
        T(test_pml_log_where_l1_cannot_reach),
        T(test_pml_into_a_merged_bitmap),
        T(test_pml_off),
        cmocka_unit_test_setup_teardown(test_pml_index_in_the_shadow_vmcs, setup_shadow, teardown),
        T(test_vmfunc_switches),
        T(test_vmfunc_failures_exit),
        T(test_vmfunc_list_where_l1_cannot_reach),
        T(test_vmfunc_then_mtf),
        T(test_ve_delivered),
        T(test_ve_conditions),
        T(test_ve_exit_by_exception_bitmap),
        T(test_ve_area_where_l1_cannot_reach),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
