/* unit-srcs: vmm/cr.c vmm/vcpu.c vmm/l1ram.c vmm/memmap.c tests/unit/fake_vmx.c */
/* vmm/cr.c: L1's control-register exits (docs/l1-platform.md, "Control
 * registers"). Rules: SDM Vol. 3A 2.5 (CR0/CR4 bits), Vol. 2B MOV CR
 * (#GP(0) for reserved bits CR0[63:32], NW without CD, PG without PE,
 * clearing PG in 64-bit mode or with CR4.PCIDE set, reserved CR4 bits,
 * clearing CR4.PAE in IA-32e mode), Vol. 3A 10.8.5 (paging with EFER.LME
 * needs PAE and activates IA-32e mode: EFER.LMA), Vol. 2A CLTS and LMSW
 * (LMSW loads bits 3:0 and cannot clear PE). The VMX side: guest/host masks
 * and read shadows (SDM Vol. 3C 25.6.6), the CR-access exit qualification
 * (Table 28-3: bits 3:0 CR, 5:4 access type, 6 LMSW operand type, 11:8 GPR,
 * 31:16 LMSW source), the IA-32e-mode-guest entry control that must match
 * EFER.LMA (26.2.4), event injection (26.6) and RIP advanced by the exit
 * instruction length (28.2.4). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>
#include "vmm/cr.h"
#include "vmm/vm.h"
#include "arch/x86/cpu_bits.h"
#include "arch/x86/exit_reasons.h"
#include "arch/x86/vmx.h"
#include "arch/x86/vmx_bits.h"
#include "tests/unit/fake_vmx.h"

#define GP_INFO (INTR_INFO_VALID | INTR_TYPE_HW_EXCEPTION | INTR_INFO_DELIVER_CODE | VEC_GP)
#define CODE64 (AR_L | AR_P | AR_S | 0xb)
#define CODE32 (AR_DB | AR_P | AR_S | 0xb)
#define RIP0 0x10000

/* Qualifications (Table 28-3). */
#define MOV_TO(cr, gpr)   ((uint64_t)(cr) | (CR_ACCESS_MOV_TO_CR << 4) | ((uint64_t)(gpr) << 8))
#define MOV_FROM(cr, gpr) ((uint64_t)(cr) | (CR_ACCESS_MOV_FROM_CR << 4) | ((uint64_t)(gpr) << 8))
#define CLTS_Q            ((uint64_t)CR_ACCESS_CLTS << 4)
#define LMSW_Q(src)       ((uint64_t)CR_ACCESS_LMSW << 4 | ((uint64_t)(src) << 16))

struct vm the_vm;
static struct vmx_caps caps;

static void test_qualification_decoding(void **state)
{
    (void)state;
    /* mov cr4, rcx (64-bit: REX.R not involved): CR 4, type 0, GPR 1. */
    assert_int_equal(CR_QUAL_NUMBER(0x104), 4);
    assert_int_equal(CR_QUAL_TYPE(0x104), CR_ACCESS_MOV_TO_CR);
    assert_int_equal(CR_QUAL_GPR(0x104), 1);
    /* mov r15, cr0: type 1, GPR 15. */
    assert_int_equal(CR_QUAL_TYPE(0xf10), CR_ACCESS_MOV_FROM_CR);
    assert_int_equal(CR_QUAL_GPR(0xf10), 15);
    assert_int_equal(CR_QUAL_NUMBER(0xf10), 0);
    /* lmsw [mem] with source 0x0001: type 3, memory operand, data. */
    assert_int_equal(CR_QUAL_TYPE(0x10070), CR_ACCESS_LMSW);
    assert_true(0x10070 & CR_QUAL_LMSW_MEMORY);
    assert_int_equal(CR_QUAL_LMSW_DATA(0x10070), 1);
    assert_int_equal(CR_QUAL_LMSW_DATA(0xffff0030ULL), 0xffff);
    assert_int_equal(CR_QUAL_TYPE(0x20), CR_ACCESS_CLTS);
    assert_int_equal(CR_QUAL_NUMBER(0x8), 8);
}

static void test_cr0_rules(void **state)
{
    (void)state;
    uint64_t pe = CR0_PE | CR0_ET;
    assert_true(cr0_write_valid(0, pe, 0, 0));
    assert_true(cr0_write_valid(pe, 0, 0, 0)); /* back to real mode: unrestricted guest */
    assert_false(cr0_write_valid(pe, pe | (1ULL << 32), 0, 0));
    assert_false(cr0_write_valid(pe, pe | (1ULL << 63), 0, 0));
    assert_false(cr0_write_valid(pe, pe | CR0_NW, 0, 0));
    assert_true(cr0_write_valid(pe, pe | CR0_NW | CR0_CD, 0, 0));
    assert_true(cr0_write_valid(pe, pe | CR0_CD, 0, 0));
    assert_false(cr0_write_valid(0, CR0_PG, CR4_PAE, 0));
    assert_true(cr0_write_valid(pe, pe | CR0_PG, 0, 0));
    /* Paging with LME needs PAE. */
    assert_false(cr0_write_valid(pe, pe | CR0_PG, 0, EFER_LME));
    assert_true(cr0_write_valid(pe, pe | CR0_PG, CR4_PAE, EFER_LME));
    /* Paging cannot be turned off with PCIDE set. */
    assert_false(cr0_write_valid(pe | CR0_PG, pe, CR4_PAE | CR4_PCIDE, EFER_LME | EFER_LMA));
    assert_true(cr0_write_valid(pe | CR0_PG, pe, CR4_PAE, EFER_LME | EFER_LMA));
}

static void test_cr4_rules(void **state)
{
    (void)state;
    uint64_t allowed = 0xf72fff & ~CR4_VMXE & ~CR4_SMXE;
    assert_true(cr4_write_valid(CR4_PAE | CR4_PGE | CR4_OSFXSR, 0, allowed));
    assert_false(cr4_write_valid(CR4_VMXE, 0, allowed));
    assert_false(cr4_write_valid(CR4_LA57, 0, allowed)); /* not in FIXED1 */
    assert_false(cr4_write_valid(1ULL << 40, 0, allowed));
    assert_true(cr4_write_valid(CR4_VMXE, 0, allowed | CR4_VMXE));
    /* In IA-32e mode PAE stays set. */
    assert_false(cr4_write_valid(CR4_PGE, EFER_LME | EFER_LMA, allowed));
    assert_true(cr4_write_valid(CR4_PAE, EFER_LME | EFER_LMA, allowed));
    assert_true(cr4_write_valid(CR4_PGE, EFER_LME, allowed));
}

/* L1 as vmcs01_write_entry_state leaves it (Bochs tigerlake fixed bits):
 * 32-bit protected mode, paging off. */
static int setup(void **state)
{
    (void)state;
    memset(&the_vm, 0, sizeof(the_vm));
    memset(&caps, 0, sizeof(caps));
    caps.raw.cr0_fixed0 = 0x80000021;
    caps.raw.cr0_fixed1 = 0xffffffff;
    caps.raw.cr4_fixed0 = 0x2000;
    caps.raw.cr4_fixed1 = 0xf72fff;
    the_vm.caps = &caps;
    struct vcpu *v = &the_vm.vcpus[0];
    v->cr0_mask = CR0_NE | CR0_PE | CR0_PG;
    v->cr4_mask = CR4_VMXE | CR4_SMXE | ~caps.raw.cr4_fixed1 | caps.raw.cr4_fixed0;
    v->cr0_shadow = CR0_PE | CR0_ET;
    v->cr4_shadow = 0;
    fake_vmx_reset();
    assert_true(vmx_on(0x1000));
    assert_true(vmcs_load(0x2000));
    fake_vmcs_set(VMCS_GUEST_CR0, CR0_PE | CR0_ET | CR0_NE);
    fake_vmcs_set(VMCS_CR0_READ_SHADOW, CR0_PE | CR0_ET);
    fake_vmcs_set(VMCS_GUEST_CR4, CR4_VMXE);
    fake_vmcs_set(VMCS_CR4_READ_SHADOW, 0);
    fake_vmcs_set(VMCS_GUEST_CS_AR_BYTES, CODE32);
    fake_vmcs_set(VMCS_GUEST_RIP, RIP0);
    fake_vmcs_set(VMCS_VM_EXIT_INSTRUCTION_LEN, 3);
    fake_vmcs_set(VMCS_VM_ENTRY_CONTROLS, ENTRY_LOAD_EFER | ENTRY_LOAD_PAT | 0x11fb);
    return 0;
}

static void cr_exit(uint64_t q)
{
    fake_vmcs_set(VMCS_EXIT_QUALIFICATION, q);
    handle_cr_access(&the_vm.vcpus[0]);
}

static void assert_gp_and_no_progress(void)
{
    assert_int_equal(fake_vmcs_get(VMCS_VM_ENTRY_INTR_INFO_FIELD), GP_INFO);
    assert_int_equal(fake_vmcs_get(VMCS_VM_ENTRY_EXCEPTION_ERROR_CODE), 0);
    assert_int_equal(fake_vmcs_get(VMCS_GUEST_RIP), RIP0);
}

static void test_mov_to_cr0_keeps_ne_host_owned(void **state)
{
    (void)state;
    struct vcpu *v = &the_vm.vcpus[0];
    v->regs.rdx = 0xffffffff00000000ULL | CR0_PE | CR0_ET | CR0_MP; /* 32-bit code: EDX */
    cr_exit(MOV_TO(0, 2));
    /* L1 cleared NE: the CPU keeps it (FIXED0), L1's reads see it clear. */
    assert_int_equal(fake_vmcs_get(VMCS_GUEST_CR0), CR0_PE | CR0_ET | CR0_MP | CR0_NE);
    assert_int_equal(fake_vmcs_get(VMCS_CR0_READ_SHADOW), CR0_PE | CR0_ET | CR0_MP);
    assert_int_equal(v->cr0_shadow, CR0_PE | CR0_ET | CR0_MP);
    assert_int_equal(fake_vmcs_get(VMCS_GUEST_RIP), RIP0 + 3);
    assert_int_equal(fake_vmcs_get(VMCS_VM_ENTRY_INTR_INFO_FIELD), 0);
    /* MOV from CR0 returns L1's value. */
    v->regs.rsi = ~0ULL;
    cr_exit(MOV_FROM(0, 6));
    assert_int_equal(v->regs.rsi, CR0_PE | CR0_ET | CR0_MP);
    /* Real mode again (unrestricted guest): PE clear reaches the VMCS. */
    v->regs.rax = CR0_ET;
    cr_exit(MOV_TO(0, 0));
    assert_int_equal(fake_vmcs_get(VMCS_GUEST_CR0), CR0_ET | CR0_NE);
    assert_int_equal(fake_vmcs_get(VMCS_CR0_READ_SHADOW), CR0_ET);
}

static void test_pg_without_pe_injects_gp(void **state)
{
    (void)state;
    the_vm.vcpus[0].regs.rax = CR0_PG | CR0_ET;
    cr_exit(MOV_TO(0, 0));
    assert_gp_and_no_progress();
    assert_int_equal(fake_vmcs_get(VMCS_GUEST_CR0), CR0_PE | CR0_ET | CR0_NE);
    assert_int_equal(the_vm.vcpus[0].cr0_shadow, CR0_PE | CR0_ET);
}

static void test_entering_and_leaving_long_mode(void **state)
{
    (void)state;
    struct vcpu *v = &the_vm.vcpus[0];
    fake_vmcs_set(VMCS_GUEST_IA32_EFER, EFER_LME | EFER_SCE);
    fake_vmcs_set(VMCS_GUEST_CR4, CR4_VMXE | CR4_PAE);
    v->regs.rax = CR0_PG | CR0_PE | CR0_ET | CR0_WP;
    cr_exit(MOV_TO(0, 0));
    assert_int_equal(fake_vmcs_get(VMCS_GUEST_IA32_EFER), EFER_LME | EFER_LMA | EFER_SCE);
    assert_true(fake_vmcs_get(VMCS_VM_ENTRY_CONTROLS) & ENTRY_IA32E_MODE_GUEST);
    assert_int_equal(fake_vmcs_get(VMCS_GUEST_CR0), CR0_PG | CR0_PE | CR0_ET | CR0_WP | CR0_NE);
    assert_int_equal(fake_vmcs_get(VMCS_VM_ENTRY_CONTROLS) & ~ENTRY_IA32E_MODE_GUEST,
                     ENTRY_LOAD_EFER | ENTRY_LOAD_PAT | 0x11fb);
    /* Writing CR0 again with paging on changes nothing about the mode. */
    v->regs.rax = CR0_PG | CR0_PE | CR0_ET;
    cr_exit(MOV_TO(0, 0));
    assert_int_equal(fake_vmcs_get(VMCS_GUEST_IA32_EFER), EFER_LME | EFER_LMA | EFER_SCE);
    assert_true(fake_vmcs_get(VMCS_VM_ENTRY_CONTROLS) & ENTRY_IA32E_MODE_GUEST);
    /* Leaving from compatibility mode (CS.L clear): LMA and the control go. */
    v->regs.rax = CR0_PE | CR0_ET;
    cr_exit(MOV_TO(0, 0));
    assert_int_equal(fake_vmcs_get(VMCS_GUEST_IA32_EFER), EFER_LME | EFER_SCE);
    assert_false(fake_vmcs_get(VMCS_VM_ENTRY_CONTROLS) & ENTRY_IA32E_MODE_GUEST);
    assert_int_equal(fake_vmcs_get(VMCS_GUEST_RIP), RIP0 + 9);
    /* Paging without LME stays 32-bit. */
    fake_vmcs_set(VMCS_GUEST_IA32_EFER, 0);
    v->regs.rax = CR0_PG | CR0_PE | CR0_ET;
    cr_exit(MOV_TO(0, 0));
    assert_int_equal(fake_vmcs_get(VMCS_GUEST_IA32_EFER), 0);
    assert_false(fake_vmcs_get(VMCS_VM_ENTRY_CONTROLS) & ENTRY_IA32E_MODE_GUEST);
}

/* An AP's trampoline enters long mode without LTR: TR is still the 16-bit
 * busy TSS of INIT, which VM entry refuses in IA-32e mode (SDM 27.3.1.2):
 * it becomes type 11, the rest of TR as it was. A loaded TR is kept. */
static void test_long_mode_fixes_up_the_reset_tr(void **state)
{
    (void)state;
    struct vcpu *v = &the_vm.vcpus[0];
    fake_vmcs_set(VMCS_GUEST_IA32_EFER, EFER_LME);
    fake_vmcs_set(VMCS_GUEST_CR4, CR4_VMXE | CR4_PAE);
    fake_vmcs_set(VMCS_GUEST_TR_AR_BYTES, AR_P | SEG_TYPE_TSS_BUSY_16);
    v->regs.rax = CR0_PG | CR0_PE | CR0_ET;
    cr_exit(MOV_TO(0, 0));
    assert_int_equal(fake_vmcs_get(VMCS_GUEST_TR_AR_BYTES), AR_P | SEG_TYPE_TSS_BUSY_32);
    /* Out and back in with a TR of its own: untouched. */
    fake_vmcs_set(VMCS_GUEST_CS_AR_BYTES, AR_P | AR_S | 0xb);
    v->regs.rax = CR0_PE | CR0_ET;
    cr_exit(MOV_TO(0, 0));
    fake_vmcs_set(VMCS_GUEST_TR_AR_BYTES, AR_P | AR_G | SEG_TYPE_TSS_BUSY_32);
    v->regs.rax = CR0_PG | CR0_PE | CR0_ET;
    cr_exit(MOV_TO(0, 0));
    assert_int_equal(fake_vmcs_get(VMCS_GUEST_TR_AR_BYTES), AR_P | AR_G | SEG_TYPE_TSS_BUSY_32);
}

static void test_long_mode_without_pae_and_pg_off_in_64bit_mode_fault(void **state)
{
    (void)state;
    struct vcpu *v = &the_vm.vcpus[0];
    fake_vmcs_set(VMCS_GUEST_IA32_EFER, EFER_LME);
    v->regs.rax = CR0_PG | CR0_PE | CR0_ET;
    cr_exit(MOV_TO(0, 0));
    assert_gp_and_no_progress();
    assert_int_equal(fake_vmcs_get(VMCS_GUEST_IA32_EFER), EFER_LME);
    /* In 64-bit mode (CS.L set) paging cannot be turned off: #GP, and the
     * CPU stays in IA-32e mode. */
    fake_vmcs_set(VMCS_VM_ENTRY_INTR_INFO_FIELD, 0);
    fake_vmcs_set(VMCS_GUEST_CS_AR_BYTES, CODE64);
    fake_vmcs_set(VMCS_GUEST_IA32_EFER, EFER_LME | EFER_LMA);
    fake_vmcs_set(VMCS_VM_ENTRY_CONTROLS, ENTRY_IA32E_MODE_GUEST | ENTRY_LOAD_EFER);
    fake_vmcs_set(VMCS_GUEST_CR4, CR4_VMXE | CR4_PAE);
    fake_vmcs_set(VMCS_GUEST_CR0, CR0_PG | CR0_PE | CR0_ET | CR0_NE);
    v->cr0_shadow = CR0_PG | CR0_PE | CR0_ET;
    v->regs.rax = CR0_PE | CR0_ET;
    cr_exit(MOV_TO(0, 0));
    assert_gp_and_no_progress();
    assert_int_equal(fake_vmcs_get(VMCS_GUEST_IA32_EFER), EFER_LME | EFER_LMA);
    assert_true(fake_vmcs_get(VMCS_VM_ENTRY_CONTROLS) & ENTRY_IA32E_MODE_GUEST);
    assert_int_equal(fake_vmcs_get(VMCS_GUEST_CR0), CR0_PG | CR0_PE | CR0_ET | CR0_NE);
}

static void test_mov_to_cr4_vmxe_by_nesting(void **state)
{
    (void)state;
    struct vcpu *v = &the_vm.vcpus[0];
    /* Nesting off: VMXE is refused as on a CPU without VMX. */
    v->regs.rbx = CR4_VMXE | CR4_PAE;
    cr_exit(MOV_TO(4, 3));
    assert_gp_and_no_progress();
    assert_int_equal(v->cr4_shadow, 0);
    /* Other bits are fine; the real CR4 keeps VMXE, L1 reads its own. */
    fake_vmcs_set(VMCS_VM_ENTRY_INTR_INFO_FIELD, 0);
    v->regs.rbx = CR4_PAE | CR4_OSFXSR;
    cr_exit(MOV_TO(4, 3));
    assert_int_equal(fake_vmcs_get(VMCS_GUEST_CR4), CR4_PAE | CR4_OSFXSR | CR4_VMXE);
    assert_int_equal(fake_vmcs_get(VMCS_CR4_READ_SHADOW), CR4_PAE | CR4_OSFXSR);
    v->regs.rcx = ~0ULL;
    cr_exit(MOV_FROM(4, 1));
    assert_int_equal(v->regs.rcx, CR4_PAE | CR4_OSFXSR);
    /* SMXE and bits FIXED1 clears are refused whatever the setting. */
    the_vm.cfg.nested = true;
    fake_vmcs_set(VMCS_GUEST_RIP, RIP0);
    v->regs.rbx = CR4_SMXE;
    cr_exit(MOV_TO(4, 3));
    assert_gp_and_no_progress();
    fake_vmcs_set(VMCS_VM_ENTRY_INTR_INFO_FIELD, 0);
    v->regs.rbx = CR4_LA57;
    cr_exit(MOV_TO(4, 3));
    assert_gp_and_no_progress();
    /* Nesting on: L1 may set VMXE; it shows in L1's reads. */
    fake_vmcs_set(VMCS_VM_ENTRY_INTR_INFO_FIELD, 0);
    v->regs.rbx = CR4_VMXE | CR4_PAE;
    cr_exit(MOV_TO(4, 3));
    assert_int_equal(fake_vmcs_get(VMCS_VM_ENTRY_INTR_INFO_FIELD), 0);
    assert_int_equal(fake_vmcs_get(VMCS_CR4_READ_SHADOW), CR4_VMXE | CR4_PAE);
    assert_int_equal(v->cr4_shadow, CR4_VMXE | CR4_PAE);
    cr_exit(MOV_FROM(4, 1));
    assert_int_equal(v->regs.rcx, CR4_VMXE | CR4_PAE);
    /* In IA-32e mode PAE cannot be cleared. */
    fake_vmcs_set(VMCS_GUEST_IA32_EFER, EFER_LME | EFER_LMA);
    fake_vmcs_set(VMCS_GUEST_RIP, RIP0);
    v->regs.rbx = CR4_VMXE;
    cr_exit(MOV_TO(4, 3));
    assert_gp_and_no_progress();
}

static void test_gprs_including_rsp(void **state)
{
    (void)state;
    struct vcpu *v = &the_vm.vcpus[0];
    fake_vmcs_set(VMCS_GUEST_CS_AR_BYTES, CODE64);
    /* mov rsp, cr0: GPR 4 is the VMCS's guest RSP, not the register block. */
    fake_vmcs_set(VMCS_GUEST_RSP, 0x7000);
    v->regs.rsp_unused = 0x1234;
    cr_exit(MOV_FROM(0, 4));
    assert_int_equal(fake_vmcs_get(VMCS_GUEST_RSP), CR0_PE | CR0_ET);
    assert_int_equal(v->regs.rsp_unused, 0x1234);
    /* mov cr0, rsp reads it from there too. */
    fake_vmcs_set(VMCS_GUEST_RSP, CR0_PE | CR0_ET | CR0_TS);
    cr_exit(MOV_TO(0, 4));
    assert_int_equal(v->cr0_shadow, CR0_PE | CR0_ET | CR0_TS);
    /* r15 and the 64-bit value in 64-bit mode. */
    fake_vmcs_set(VMCS_GUEST_CR3, 0x123456789000ULL);
    cr_exit(MOV_FROM(3, 15));
    assert_int_equal(v->regs.r15, 0x123456789000ULL);
    v->regs.r9 = 0xabcdef000ULL;
    cr_exit(MOV_TO(3, 9));
    assert_int_equal(fake_vmcs_get(VMCS_GUEST_CR3), 0xabcdef000ULL);
    /* Outside 64-bit mode a MOV from CR writes 32 bits. */
    fake_vmcs_set(VMCS_GUEST_CS_AR_BYTES, CODE32);
    v->regs.rdi = ~0ULL;
    cr_exit(MOV_FROM(3, 7));
    assert_int_equal(v->regs.rdi, 0xbcdef000ULL);
    v->regs.rbp = 0xffffffff00002000ULL;
    cr_exit(MOV_TO(3, 5));
    assert_int_equal(fake_vmcs_get(VMCS_GUEST_CR3), 0x2000);
    assert_int_equal(fake_vmcs_get(VMCS_GUEST_RIP), RIP0 + 6 * 3);
}

static void test_clts_and_lmsw(void **state)
{
    (void)state;
    struct vcpu *v = &the_vm.vcpus[0];
    v->cr0_shadow = CR0_PE | CR0_ET | CR0_TS | CR0_MP;
    fake_vmcs_set(VMCS_GUEST_CR0, CR0_PE | CR0_ET | CR0_TS | CR0_MP | CR0_NE);
    cr_exit(CLTS_Q);
    assert_int_equal(v->cr0_shadow, CR0_PE | CR0_ET | CR0_MP);
    assert_int_equal(fake_vmcs_get(VMCS_GUEST_CR0), CR0_PE | CR0_ET | CR0_MP | CR0_NE);
    /* LMSW loads MP, EM, TS... */
    cr_exit(LMSW_Q(CR0_PE | CR0_TS | CR0_EM));
    assert_int_equal(v->cr0_shadow, CR0_PE | CR0_ET | CR0_TS | CR0_EM);
    /* ...only bits 3:0 of its source... */
    cr_exit(LMSW_Q(0xfff0 | CR0_PE));
    assert_int_equal(v->cr0_shadow, CR0_PE | CR0_ET);
    /* ...and cannot clear PE. */
    cr_exit(LMSW_Q(CR0_MP));
    assert_int_equal(v->cr0_shadow, CR0_PE | CR0_ET | CR0_MP);
    assert_true(fake_vmcs_get(VMCS_GUEST_CR0) & CR0_PE);
    /* From real mode it can set PE. */
    v->cr0_shadow = CR0_ET;
    fake_vmcs_set(VMCS_GUEST_CR0, CR0_ET | CR0_NE);
    cr_exit(LMSW_Q(CR0_PE) | CR_QUAL_LMSW_MEMORY);
    assert_int_equal(v->cr0_shadow, CR0_PE | CR0_ET);
    assert_int_equal(fake_vmcs_get(VMCS_GUEST_RIP), RIP0 + 5 * 3);
    assert_int_equal(fake_vmcs_get(VMCS_VM_ENTRY_INTR_INFO_FIELD), 0);
}

static void test_cr8_faults(void **state)
{
    (void)state;
    cr_exit(MOV_TO(8, 0));
    assert_gp_and_no_progress();
    fake_vmcs_set(VMCS_VM_ENTRY_INTR_INFO_FIELD, 0);
    cr_exit(MOV_FROM(8, 0));
    assert_gp_and_no_progress();
}

int main(void)
{
#define T(f) cmocka_unit_test_setup(f, setup)
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_qualification_decoding),
        cmocka_unit_test(test_cr0_rules),
        cmocka_unit_test(test_cr4_rules),
        T(test_mov_to_cr0_keeps_ne_host_owned),
        T(test_pg_without_pe_injects_gp),
        T(test_entering_and_leaving_long_mode),
        T(test_long_mode_fixes_up_the_reset_tr),
        T(test_long_mode_without_pae_and_pg_off_in_64bit_mode_fault),
        T(test_mov_to_cr4_vmxe_by_nesting),
        T(test_gprs_including_rsp),
        T(test_clts_and_lmsw),
        T(test_cr8_faults),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
