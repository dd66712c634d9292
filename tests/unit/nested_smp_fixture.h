/* Several vCPUs of L1, each on its own "physical CPU" with its own VMCS01,
 * nested VMX state (nested_init: vmcs12 cache, shadow VMCS, vmcs02, EPT02
 * pool) and current VMCS, over one L1 memory, one EPT01 and one registry
 * of protected bitmap pages, as vmm/ has them since the SMP rework. L1's
 * VMX instructions go through the real exit handlers that
 * nested_install_insn_handlers registers (vmm/nested/vmx_insn.c, entry.c).
 *
 * The fake VMX layer has one current-VMCS pointer; each fake CPU keeps its
 * own here and loads it when the test switches to that CPU (smp_cpu), so
 * that every CPU sees its own current VMCS as on hardware (SDM 25.11.1).
 * L1 runs in 64-bit mode at CPL 0 with identity paging (one 1 GiB page).
 * The CPU's side of VMCS shadowing (SDM 25.10; ch. 31 VMREAD/VMWRITE: with
 * "VMCS shadowing" on and the field's bit clear in the VMREAD/VMWRITE
 * bitmap, VMREAD/VMWRITE in VMX non-root operation use the VMCS that the
 * VMCS link pointer names, without a VM exit) is played by l1_vmread and
 * l1_vmwrite from vmcs01's controls and bitmaps, never from nestvisor's
 * bookkeeping.
 *
 * smp.c is not linked: smp_invept01_everywhere is played as smp.c does it
 * (every CPU: INVEPT of EPT01 and ept02_flush_all of its vCPU's shadows),
 * or by the hook smp_flush_hook; smp_nudge_l2_cpus is counted. A test lists the sources of
 * test_vmcs12_migration.c's unit-srcs line. Include after
 * `struct vm the_vm;`. Used by test_vmcs12_migration.c, test_ept02_smp.c. */
#ifndef TESTS_UNIT_NESTED_SMP_FIXTURE_H
#define TESTS_UNIT_NESTED_SMP_FIXTURE_H

#include <stdlib.h>
#include <string.h>
#include "vmm/nested/nested.h"
#include "vmm/nested/ept02.h"
#include "vmm/nested/vmx_msrs.h"
#include "vmm/exit.h"
#include "vmm/io.h"
#include "vmm/msr.h"
#include "vmm/nmi.h"
#include "vmm/memfault.h"
#include "vmm/pmm.h"
#include "vmm/sipi.h"
#include "vmm/smp.h"
#include "vmm/vm.h"
#include "arch/x86/cpu_bits.h"
#include "arch/x86/exit_reasons.h"
#include "arch/x86/physmem.h"
#include "arch/x86/vmx.h"
#include "arch/x86/vmx_bits.h"
#include "arch/x86/vmx_root.h"
#include "tests/unit/fake_arch.h"
#include "tests/unit/fake_vmx.h"
#include "tests/unit/cpu_models.h"
#include "tests/unit/vmcs12_fixture.h"

#define KiB (1ULL << 10)
#define MiB (1ULL << 20)
#define GiB (1ULL << 30)

#define SMP_MAX_CPUS 4
/* Fake physical memory: L1's RAM (identity in EPT01, L1-physical = host-
 * physical as in nestvisor) and L0's page pool, which EPT01 does not map. */
#define L1_RAM_BASE   (1 * MiB)
#define L1_RAM_END    (24 * MiB)
#define L1_PML4       (1 * MiB) /* L1's page tables: identity, one 1 GiB page */
#define L1_PDPT       (L1_PML4 + 4 * KiB)
#define L1_VMXON(c)   (0x110000ULL + (uint64_t)(c) * 4 * KiB)   /* each CPU's VMXON region */
#define L1_OPERAND(c) (0x120000ULL + (uint64_t)(c) * 4 * KiB)   /* its memory operands */
#define L1_VMCS12(k)  (0x200000ULL + (uint64_t)(k) * 4 * KiB)   /* vmcs12 regions */
#define L1_IO_A       0x300000ULL
#define L1_IO_B       0x301000ULL
#define L1_MSR_BMP    0x302000ULL
#define L1_EPT12      0x400000ULL /* EPT12 tables from here up */
#define POOL_BASE     (32 * MiB)
#define POOL_SIZE     (32 * MiB)
#define PHYS_BITS     39
#define EPT02_PAGES_PER_CPU 256
#define L1_RIP        0xffffffff81000000ULL
#define INSN_LEN      4
#define PTE_PRESENT_RW 3ULL
#define PTE_AD         (3ULL << 5) /* accessed and dirty: walks change nothing */
#define PTE_LARGE      (1ULL << 7)
#define EPTP12_OF(root) ((root) | EPTP_WALK_4 | EPTP_MEMTYPE_WB)

/* VM-exit instruction information (SDM 28.2.5): a 64-bit memory operand
 * at [base] in DS, no index; or VMREAD/VMWRITE with two registers. */
#define II_REG_FORM   (1U << 10)
#define II_ADDR64     (2U << 7)
#define II_SEG_DS     (3U << 15)
#define II_NO_INDEX   (1U << 22)
#define II_REG1(r)    ((uint32_t)(r) << 3)
#define II_BASE(r)    ((uint32_t)(r) << 23)
#define II_REG2(r)    ((uint32_t)(r) << 28)
#define II_MEM(base)  (II_ADDR64 | II_SEG_DS | II_NO_INDEX | II_BASE(base))
#define GPR_RAX 0
#define GPR_RCX 1
#define GPR_RBX 3
#define VMX_BITMAP_BIT_MASK 0x7fffU /* VMREAD/VMWRITE bitmaps: encoding bits 14:0 */
#define OPERAND_POISON 0x5a5a5a5a5a5a5a5aULL

/* Every helper may go unused in a given test. */
#define FIXTURE static __attribute__((unused))

/* What an L1 VMX instruction did (SDM 31.2 conventions). */
enum l1_result { VMX_OK, VMX_FAIL_INVALID, VMX_FAIL_VALID, VMX_FAULT, VMX_ENTERED };

static struct vmx_caps smp_caps;
static struct percpu smp_pc[SMP_MAX_CPUS];
static uint64_t smp_cpu_vmcs[SMP_MAX_CPUS]; /* each CPU's current VMCS */
static unsigned smp_ncpus, smp_cur;
static exit_handler_fn smp_handlers[EXIT_REASON_COUNT];
static unsigned smp_flushes;            /* smp_invept01_everywhere calls */
static unsigned smp_l2_nudges;          /* smp_nudge_l2_cpus calls */
static void (*smp_flush_hook)(void);    /* replaces the default flush */
static struct {
    unsigned shadow_reads, shadow_writes, exits;
} smp_l1;

FIXTURE struct vcpu *VCPU(unsigned c) { return &the_vm.vcpus[c]; }

/* ---- what the linked vmm/ sources call that is not linked ---- */

void exit_set_handler(unsigned reason, exit_handler_fn fn) { smp_handlers[reason] = fn; }
void sipi_after_vmxoff(struct vcpu *v) { (void)v; }
void sipi_wait_l2(struct vcpu *v) { (void)v; fail_msg("L2 entered in wait-for-SIPI"); }
bool nmi_exit_l2(struct vcpu *v, bool l1_wants) { (void)v; (void)l1_wants; fail_msg("NMI"); return false; }
void handle_nmi_window(struct vcpu *v) { (void)v; fail_msg("NMI window"); }
void memfault_contain(struct vcpu *v, uint64_t gpa, uint64_t q)
{
    (void)v;
    fail_msg("memfault_contain 0x%llx (qualification 0x%llx)", (unsigned long long)gpa, (unsigned long long)q);
    abort();
}
void vm_stop(enum power_status status, const char *why)
{
    (void)status;
    fail_msg("vm_stop: %s", why);
    abort();
}

/* smp.c's EPT01 flush as every CPU answers it (flush_ept01_here). */
void smp_invept01_everywhere(void)
{
    smp_flushes++;
    if (smp_flush_hook) {
        smp_flush_hook();
        return;
    }
    for (unsigned c = 0; c < smp_ncpus; c++) {
        invept(INVEPT_SINGLE_CONTEXT, the_vm.eptp01);
        ept02_flush_all(VCPU(c)->nested->ept02);
    }
}

/* smp.c nudges every other CPU in L2 to look at its merges: counted. */
void smp_nudge_l2_cpus(const struct vcpu *self)
{
    (void)self;
    smp_l2_nudges++;
}

/* ---- the machine ---- */

FIXTURE uint64_t smp_page(void)
{
    uint64_t pa = pmm_alloc_page();
    assert_true(pa != 0);
    return pa;
}

FIXTURE uint64_t *l1_u64(uint64_t pa) { return phys_to_virt(pa); }

/* Makes CPU c the running one: its current VMCS becomes the fake's. */
FIXTURE struct vcpu *smp_cpu(unsigned c)
{
    assert_true(c < smp_ncpus);
    if (c != smp_cur) {
        smp_cpu_vmcs[smp_cur] = vmcs_current();
        smp_cur = c;
        assert_true(vmcs_load(smp_cpu_vmcs[c]));
    }
    fake_this_cpu = &smp_pc[c];
    return VCPU(c);
}

FIXTURE void smp_vcpu_init(unsigned c)
{
    struct vcpu *v = VCPU(c);
    struct percpu *pc = &smp_pc[c];
    pc->self = pc;
    pc->id = c;
    pc->vcpu = v;
    v->id = c;
    v->cpu = pc;
    v->role = VCPU_L1;
    fake_this_cpu = pc;
    v->vmcs01 = smp_page();
    assert_true(vmcs_region_init(&smp_caps, v->vmcs01, false));
    assert_true(vmcs_load(v->vmcs01));
    fixture_l0_host_state();
    /* L1: 64-bit mode, CPL 0, paging on, CR4.VMXE (SDM 31.3). */
    vmcs_write(VMCS_GUEST_CR0, FIXTURE_CR0);
    vmcs_write(VMCS_GUEST_CR3, L1_PML4);
    vmcs_write(VMCS_GUEST_CR4, FIXTURE_CR4);
    vmcs_write(VMCS_GUEST_IA32_EFER, FIXTURE_EFER);
    vmcs_write(VMCS_GUEST_CS_AR_BYTES, AR_CODE64);
    vmcs_write(VMCS_GUEST_SS_AR_BYTES, AR_DATA);
    vmcs_write(VMCS_GUEST_DS_AR_BYTES, AR_DATA);
    vmcs_write(VMCS_GUEST_RFLAGS, RFLAGS_FIXED1);
    vmcs_write(VMCS_GUEST_RIP, L1_RIP);
    vmcs_write(VMCS_CPU_BASED_VM_EXEC_CONTROL, PROC_SECONDARY_CONTROLS);
    vmcs_write(VMCS_SECONDARY_VM_EXEC_CONTROL, PROC2_ENABLE_EPT);
    v->cr0_shadow = FIXTURE_CR0;
    v->cr4_shadow = FIXTURE_CR4;
    assert_true(nested_init(&the_vm, v, EPT02_PAGES_PER_CPU));
    assert_true(vmcs_load(v->vmcs01));
    smp_cpu_vmcs[c] = v->vmcs01;
    smp_cur = c;
}

/* ncpus vCPUs; VMCS shadowing used if `shadow` (tigerlake has it). */
FIXTURE void smp_machine_init(unsigned ncpus, bool shadow)
{
    fake_phys_reset();
    fake_vmx_reset();
    fake_msr_clear();
    memset(&the_vm, 0, sizeof(the_vm));
    memset(smp_pc, 0, sizeof(smp_pc));
    memset(&smp_l1, 0, sizeof(smp_l1));
    smp_flushes = 0;
    smp_l2_nudges = 0;
    smp_flush_hook = 0;
    smp_ncpus = ncpus;
    assert_true(pmm_init(POOL_BASE, POOL_SIZE));
    vmx_caps_decode(&tigerlake, &smp_caps);
    the_vm.caps = &smp_caps;
    the_vm.cfg = (struct vm_config){.l1_cpus = ncpus, .nested = true, .shadow = shadow};
    the_vm.vcpu_count = ncpus;
    the_vm.host_mtrr.phys_addr_mask = ((1ULL << PHYS_BITS) - 1) & ~0xfffULL;
    memmap_init(&the_vm.l1_map);
    assert_true(memmap_set(&the_vm.l1_map, L1_RAM_BASE, L1_RAM_END - L1_RAM_BASE, MEM_USABLE));
    assert_true(ept_init(&the_vm.ept01, 2));
    assert_true(ept_map(&the_vm.ept01, L1_RAM_BASE, L1_RAM_BASE, L1_RAM_END - L1_RAM_BASE,
                        EPT_RWX | (MEMTYPE_WB << EPT_MEMTYPE_SHIFT)));
    the_vm.eptp01 = ept_eptp(&the_vm.ept01, false);
    the_vm.msr_bitmap = smp_page();
    the_vm.io_bitmap_a = smp_page();
    the_vm.io_bitmap_b = smp_page();
    msr_bitmap_build_l1(phys_to_virt(the_vm.msr_bitmap));
    io_bitmaps_build_l1(&the_vm, phys_to_virt(the_vm.io_bitmap_a), phys_to_virt(the_vm.io_bitmap_b));
    fake_cpuid_set(CPUID_LEAF_EXT_FEATURES_1, 0,
                   (struct cpuid_regs){0, 0, 0, CPUID_80000001_EDX_LM | CPUID_80000001_EDX_NX});
    uint64_t vmxon = smp_page();
    *(uint32_t *)phys_to_virt(vmxon) = smp_caps.revision_id;
    assert_true(vmx_on(vmxon));
    nested_global_init(&the_vm);
    nested_bitmaps_unprotect_all();
    *l1_u64(L1_PML4) = L1_PDPT | PTE_PRESENT_RW | PTE_AD;
    *l1_u64(L1_PDPT) = 0 | PTE_PRESENT_RW | PTE_AD | PTE_LARGE;
    for (unsigned c = 0; c < ncpus; c++)
        smp_vcpu_init(c);
    for (unsigned c = 0; c < ncpus; c++)
        nested_bitmaps_init(&VCPU(c)->nested->bitmaps);
    smp_cpu(0);
}

/* ---- L1's instructions ---- */

/* L1 executes the instruction of exit `reason` on CPU c (it exits to L0,
 * whose handler runs). VMsucceed / VMfail advance RIP (SDM 31.2). */
FIXTURE enum l1_result l1_exec(unsigned c, unsigned reason, uint32_t info)
{
    struct vcpu *v = smp_cpu(c);
    assert_false(v->in_l2);
    assert_int_equal(vmcs_current(), v->vmcs01);
    smp_l1.exits++;
    vmcs_write(VMCS_VM_EXIT_REASON, reason);
    vmcs_write(VMCS_EXIT_QUALIFICATION, 0); /* the displacement */
    vmcs_write(VMCS_VMX_INSTRUCTION_INFO, info);
    vmcs_write(VMCS_VM_EXIT_INSTRUCTION_LEN, INSN_LEN);
    vmcs_write(VMCS_VM_ENTRY_INTR_INFO_FIELD, 0);
    uint64_t rip = vmcs_read(VMCS_GUEST_RIP);
    assert_non_null(smp_handlers[reason]);
    smp_handlers[reason](v);
    if (v->in_l2)
        return VMX_ENTERED;
    assert_int_equal(vmcs_current(), v->vmcs01);
    if (vmcs_read(VMCS_VM_ENTRY_INTR_INFO_FIELD) & INTR_INFO_VALID)
        return VMX_FAULT;
    assert_int_equal(vmcs_read(VMCS_GUEST_RIP), rip + INSN_LEN);
    uint64_t flags = vmcs_read(VMCS_GUEST_RFLAGS);
    return (flags & RFLAGS_CF) ? VMX_FAIL_INVALID : (flags & RFLAGS_ZF) ? VMX_FAIL_VALID : VMX_OK;
}

/* VMXON, VMCLEAR, VMPTRLD: a 64-bit physical address in memory. */
FIXTURE enum l1_result l1_ptr_insn(unsigned c, unsigned reason, uint64_t pa)
{
    *l1_u64(L1_OPERAND(c)) = pa;
    VCPU(c)->regs.rbx = L1_OPERAND(c);
    return l1_exec(c, reason, II_MEM(GPR_RBX));
}

/* VMPTRST: the current-VMCS pointer, all ones if none (SDM ch. 31). */
FIXTURE uint64_t l1_vmptrst(unsigned c)
{
    *l1_u64(L1_OPERAND(c)) = OPERAND_POISON;
    VCPU(c)->regs.rbx = L1_OPERAND(c);
    assert_int_equal(l1_exec(c, EXIT_REASON_VMPTRST, II_MEM(GPR_RBX)), VMX_OK);
    return *l1_u64(L1_OPERAND(c));
}

/* INVEPT type, with the descriptor {eptp, 0} in memory. */
FIXTURE enum l1_result l1_invept(unsigned c, uint64_t type, uint64_t eptp)
{
    l1_u64(L1_OPERAND(c))[0] = eptp;
    l1_u64(L1_OPERAND(c))[1] = 0;
    VCPU(c)->regs.rbx = L1_OPERAND(c);
    VCPU(c)->regs.rcx = type;
    return l1_exec(c, EXIT_REASON_INVEPT, II_MEM(GPR_RBX) | II_REG2(GPR_RCX));
}

/* Does the CPU itself serve L1's VMREAD/VMWRITE of enc from the shadow
 * VMCS (SDM ch. 31 VMREAD/VMWRITE, the VM-exit condition)? */
FIXTURE bool cpu_shadows(unsigned c, uint32_t enc, bool write)
{
    smp_cpu(c);
    if (!(vmcs_read(VMCS_CPU_BASED_VM_EXEC_CONTROL) & PROC_SECONDARY_CONTROLS) ||
        !(vmcs_read(VMCS_SECONDARY_VM_EXEC_CONTROL) & PROC2_VMCS_SHADOWING))
        return false;
    const uint8_t *bitmap = phys_to_virt(vmcs_read(write ? VMCS_VMWRITE_BITMAP : VMCS_VMREAD_BITMAP));
    unsigned bit = enc & VMX_BITMAP_BIT_MASK;
    return !(bitmap[bit / 8] & (1U << (bit % 8)));
}

FIXTURE enum l1_result l1_vmread(unsigned c, uint32_t enc, uint64_t *value)
{
    if (cpu_shadows(c, enc, false)) {
        uint64_t link = vmcs_read(VMCS_VMCS_LINK_POINTER);
        if (link == VMCS_LINK_NONE)
            return VMX_FAIL_INVALID; /* non-root, link pointer invalid */
        smp_l1.shadow_reads++;
        *value = fake_vmcs_get_at(link, (enum vmcs_field)enc);
        return VMX_OK;
    }
    VCPU(c)->regs.rcx = enc;
    VCPU(c)->regs.rax = OPERAND_POISON;
    enum l1_result r = l1_exec(c, EXIT_REASON_VMREAD, II_REG_FORM | II_REG1(GPR_RAX) | II_REG2(GPR_RCX));
    *value = VCPU(c)->regs.rax;
    return r;
}

FIXTURE enum l1_result l1_vmwrite(unsigned c, uint32_t enc, uint64_t value)
{
    if (cpu_shadows(c, enc, true)) {
        struct vcpu *v = VCPU(c);
        uint64_t link = vmcs_read(VMCS_VMCS_LINK_POINTER);
        if (link == VMCS_LINK_NONE)
            return VMX_FAIL_INVALID;
        smp_l1.shadow_writes++;
        assert_true(vmcs_load(link));
        vmcs_write((enum vmcs_field)enc, value);
        assert_true(vmcs_load(v->vmcs01));
        return VMX_OK;
    }
    VCPU(c)->regs.rcx = enc;
    VCPU(c)->regs.rax = value;
    return l1_exec(c, EXIT_REASON_VMWRITE, II_REG_FORM | II_REG1(GPR_RAX) | II_REG2(GPR_RCX));
}

/* The VM-instruction error L1 reads after a VMfailValid. */
FIXTURE uint64_t l1_vm_error(unsigned c)
{
    uint64_t err = 0;
    assert_int_equal(l1_vmread(c, VMCS_VM_INSTRUCTION_ERROR, &err), VMX_OK);
    return err;
}

/* May L1 VMWRITE field i (offered, not read-only: L1 is not offered
 * "VMWRITE to any field", IA32_VMX_MISC bit 29)? */
FIXTURE bool l1_writable(unsigned i)
{
    return !(vmcs12_fields[i].flags & FIELD_L0_ONLY) &&
           vmcs_enc_type(vmcs12_fields[i].encoding) != VMCS_TYPE_READONLY;
}

FIXTURE bool l1_readable(unsigned i) { return !(vmcs12_fields[i].flags & FIELD_L0_ONLY); }

/* L1 fills the current vmcs12 of CPU c from an image, field by field. */
FIXTURE void l1_vmwrite_image(unsigned c, const struct vmcs12 *img)
{
    for (unsigned i = 0; i < VMCS_FIELD_COUNT; i++)
        if (l1_writable(i))
            assert_int_equal(l1_vmwrite(c, vmcs12_fields[i].encoding, img->field[i]), VMX_OK);
}

/* A valid vmcs12 for a 64-bit L2 under EPT12 rooted at ept12_root, whose
 * host state is this L1 (its page tables). */
FIXTURE void smp_vmcs12_image(struct vmcs12 *img, uint64_t ept12_root)
{
    struct vmcs12_fixture_pages p = {L1_IO_A, L1_IO_B, L1_MSR_BMP, EPTP12_OF(ept12_root)};
    vmcs12_fixture_64(img, &p);
    VMCS12(img, HOST_CR3) = L1_PML4;
}

/* L2 runs on CPU c and exits with `reason`; L1 wants it (it is reflected). */
FIXTURE void l2_exit_to_l1(unsigned c, uint32_t reason)
{
    struct vcpu *v = smp_cpu(c);
    assert_true(v->in_l2);
    assert_int_equal(vmcs_current(), v->nested->vmcs02);
    v->regs.launch = 0; /* the exit stub: after an exit vmcs02 is launched */
    vmcs_write(VMCS_VM_EXIT_REASON, reason);
    vmcs_write(VMCS_VM_EXIT_INSTRUCTION_LEN, 1);
    vmcs_write(VMCS_VM_EXIT_INTR_INFO, 0);
    vmcs_write(VMCS_IDT_VECTORING_INFO_FIELD, 0);
    assert_int_equal(nested_l2_exit(v, reason), L2_EXIT_REFLECTED);
    assert_false(v->in_l2);
    assert_int_equal(vmcs_current(), v->vmcs01);
}

/* ---- shadow EPTs ---- */

/* The EPT-violation qualification of an access (SDM Table 28-7 bits 2:0). */
FIXTURE uint64_t smp_ept_qual(uint64_t access)
{
    return (access & EPT_READ ? EPT_QUAL_READ : 0) | (access & EPT_WRITE ? EPT_QUAL_WRITE : 0) |
           (access & EPT_EXEC ? EPT_QUAL_FETCH : 0);
}

typedef void smp_leaf_fn(unsigned c, unsigned e, uint64_t gpa, unsigned level, uint64_t entry);

FIXTURE void smp_leaves_in(uint64_t table, unsigned level, uint64_t base, smp_leaf_fn *fn, unsigned c, unsigned e)
{
    const uint64_t *t = phys_to_virt(table);
    for (unsigned k = 0; k < EPT_ENTRIES; k++) {
        uint64_t ent = t[k], gpa = base + k * EPT_LEVEL_SIZE(level);
        if (!(ent & EPT_RWX))
            continue;
        if (level > 1 && !(ent & EPT_LARGE))
            smp_leaves_in(ent & EPT_ADDR_MASK, level - 1, gpa, fn, c, e);
        else
            fn(c, e, gpa, level, ent);
    }
}

/* fn(c, e, ...) for every leaf of the shadow of eptp12 in e2, if any. */
FIXTURE void smp_ept02_leaves(struct ept02 *e2, uint64_t eptp12, smp_leaf_fn *fn, unsigned c, unsigned e)
{
    uint64_t eptp02;
    struct ept *sh = ept02_shadow(e2, eptp12, &eptp02);
    if (sh)
        smp_leaves_in(sh->root, EPT_LEVELS, 0, fn, c, e);
}

#endif
