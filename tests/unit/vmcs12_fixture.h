/* What the nested-VMX tests start from, written once: L0's host state in
 * vmcs01, and a valid vmcs12 as an L1 hypervisor writes it for a 64-bit L2
 * under a 64-bit L1 (controls within what nestvisor offers, SDM 26.2-26.3).
 * Used by test_nested_checks.c, test_vmcs02.c and fuzz_vmcs12.c. */
#ifndef TESTS_UNIT_VMCS12_FIXTURE_H
#define TESTS_UNIT_VMCS12_FIXTURE_H

#include <string.h>
#include "vmm/nested/vmcs12.h"
#include "vmm/nested/vmx_msrs.h"
#include "arch/x86/cpu_bits.h"
#include "arch/x86/msr_index.h"
#include "arch/x86/vmx.h"
#include "arch/x86/vmx_bits.h"

/* Access rights (SDM 25.4.1, Table 25-2). */
#define AR_CODE64 (AR_G | AR_L | AR_P | AR_S | SEG_TYPE_CODE | SEG_TYPE_READABLE | SEG_TYPE_ACCESSED) /* 0xa09b */
#define AR_CODE32 (AR_G | AR_DB | AR_P | AR_S | SEG_TYPE_CODE | SEG_TYPE_READABLE | SEG_TYPE_ACCESSED)
#define AR_DATA   (AR_G | AR_DB | AR_P | AR_S | SEG_TYPE_WRITABLE | SEG_TYPE_ACCESSED) /* 0xc093 */
#define AR_TSS64  (AR_P | SEG_TYPE_TSS_BUSY_32) /* 0x8b */

#define FIXTURE_CR0 0x80050033ULL /* PG AM WP NE ET MP PE */
#define FIXTURE_CR4 (CR4_VMXE | CR4_PAE | CR4_PGE | CR4_OSFXSR | CR4_OSXMMEXCPT)
#define FIXTURE_EFER (EFER_SCE | EFER_LME | EFER_LMA | EFER_NXE)

/* Where the test's L1 put what vmcs12 points at. */
struct vmcs12_fixture_pages {
    uint64_t io_a, io_b, msr_bitmap, eptp;
};

/* L0's host state in vmcs01 (copied into vmcs02 by vmcs02_create). */
static inline void fixture_l0_host_state(void)
{
    vmcs_write(VMCS_HOST_CR0, FIXTURE_CR0);
    vmcs_write(VMCS_HOST_CR3, 0x105000);
    vmcs_write(VMCS_HOST_CR4, FIXTURE_CR4);
    vmcs_write(VMCS_HOST_CS_SELECTOR, 0x08);
    vmcs_write(VMCS_HOST_SS_SELECTOR, 0x10);
    vmcs_write(VMCS_HOST_TR_SELECTOR, 0x18);
    vmcs_write(VMCS_HOST_TR_BASE, 0xffffffff80123450ULL);
    vmcs_write(VMCS_HOST_GDTR_BASE, 0xffffffff80120000ULL);
    vmcs_write(VMCS_HOST_IDTR_BASE, 0xffffffff80200000ULL);
    vmcs_write(VMCS_HOST_IA32_EFER, FIXTURE_EFER);
    vmcs_write(VMCS_HOST_IA32_PAT, 0x0007010600070106ULL);
    vmcs_write(VMCS_HOST_RIP, 0xffffffff80100000ULL);
    vmcs_write(VMCS_HOST_RSP, 0xffffffff80300000ULL);
}

/* The must-be-1 bits of an offered control (a TRUE capability MSR). */
static inline uint32_t fixture_offered_must1(uint32_t msr)
{
    uint64_t v = 0;
    nested_vmx_msr_read(msr, &v);
    return (uint32_t)v;
}

static inline void vmcs12_fixture_64(struct vmcs12 *c, const struct vmcs12_fixture_pages *p)
{
    memset(c->field, 0, sizeof(c->field));
    c->revision_id = nested_vmx_caps()->revision_id;
    /* Controls: the offered must-be-1 bits plus what L1 wants. */
    VMCS12(c, PIN_BASED_VM_EXEC_CONTROL) = fixture_offered_must1(MSR_IA32_VMX_TRUE_PINBASED_CTLS) |
                                           PIN_EXTINT_EXITING | PIN_NMI_EXITING | PIN_VIRTUAL_NMIS;
    VMCS12(c, CPU_BASED_VM_EXEC_CONTROL) = fixture_offered_must1(MSR_IA32_VMX_TRUE_PROCBASED_CTLS) |
                                           PROC_HLT_EXITING | PROC_TSC_OFFSETTING | PROC_USE_IO_BITMAPS |
                                           PROC_USE_MSR_BITMAPS | PROC_SECONDARY_CONTROLS;
    VMCS12(c, SECONDARY_VM_EXEC_CONTROL) =
        PROC2_ENABLE_EPT | PROC2_ENABLE_RDTSCP | PROC2_ENABLE_VPID | PROC2_ENABLE_INVPCID;
    VMCS12(c, VM_EXIT_CONTROLS) = fixture_offered_must1(MSR_IA32_VMX_TRUE_EXIT_CTLS) |
                                  EXIT_SAVE_DEBUG_CONTROLS | EXIT_HOST_ADDR_SPACE_SIZE | EXIT_ACK_INTR_ON_EXIT |
                                  EXIT_SAVE_PAT | EXIT_LOAD_PAT | EXIT_SAVE_EFER | EXIT_LOAD_EFER;
    VMCS12(c, VM_ENTRY_CONTROLS) = fixture_offered_must1(MSR_IA32_VMX_TRUE_ENTRY_CTLS) |
                                   ENTRY_LOAD_DEBUG_CONTROLS | ENTRY_IA32E_MODE_GUEST | ENTRY_LOAD_PAT |
                                   ENTRY_LOAD_EFER;
    VMCS12(c, VPID) = 1;
    VMCS12(c, EPT_POINTER) = p->eptp;
    VMCS12(c, IO_BITMAP_A) = p->io_a;
    VMCS12(c, IO_BITMAP_B) = p->io_b;
    VMCS12(c, MSR_BITMAP) = p->msr_bitmap;
    VMCS12(c, EXCEPTION_BITMAP) = 1U << VEC_UD;
    VMCS12(c, CR0_GUEST_HOST_MASK) = CR0_PE | CR0_PG | CR0_NE;
    VMCS12(c, CR4_GUEST_HOST_MASK) = CR4_VMXE;
    VMCS12(c, CR0_READ_SHADOW) = FIXTURE_CR0;
    VMCS12(c, CR4_READ_SHADOW) = 0x6a0;
    VMCS12(c, TSC_OFFSET) = (uint64_t)-1000;
    /* Host state: L1 itself, in 64-bit mode. */
    VMCS12(c, HOST_CR0) = FIXTURE_CR0;
    VMCS12(c, HOST_CR3) = 0x105000;
    VMCS12(c, HOST_CR4) = FIXTURE_CR4;
    VMCS12(c, HOST_CS_SELECTOR) = 0x08;
    VMCS12(c, HOST_SS_SELECTOR) = 0x10;
    VMCS12(c, HOST_DS_SELECTOR) = 0x10;
    VMCS12(c, HOST_ES_SELECTOR) = 0x10;
    VMCS12(c, HOST_TR_SELECTOR) = 0x18;
    VMCS12(c, HOST_GS_BASE) = 0xffff888000000000ULL;
    VMCS12(c, HOST_TR_BASE) = 0xffffffff81200000ULL;
    VMCS12(c, HOST_GDTR_BASE) = 0xffffffff81201000ULL;
    VMCS12(c, HOST_IDTR_BASE) = 0xffffffff81202000ULL;
    VMCS12(c, HOST_IA32_PAT) = 0x0007040600070406ULL;
    VMCS12(c, HOST_IA32_EFER) = FIXTURE_EFER;
    VMCS12(c, HOST_RSP) = 0xffffffff81300000ULL;
    VMCS12(c, HOST_RIP) = 0xffffffff81000000ULL;
    /* Guest state: a 64-bit L2 at CPL 0. */
    VMCS12(c, GUEST_CR0) = FIXTURE_CR0;
    VMCS12(c, GUEST_CR3) = 0x400000;
    VMCS12(c, GUEST_CR4) = FIXTURE_CR4;
    VMCS12(c, GUEST_DR7) = 0x400;
    VMCS12(c, GUEST_IA32_PAT) = 0x0007040600070406ULL;
    VMCS12(c, GUEST_IA32_EFER) = FIXTURE_EFER;
    VMCS12(c, GUEST_CS_SELECTOR) = 0x08;
    VMCS12(c, GUEST_CS_LIMIT) = 0xffffffff;
    VMCS12(c, GUEST_CS_AR_BYTES) = AR_CODE64;
    VMCS12(c, GUEST_SS_SELECTOR) = VMCS12(c, GUEST_DS_SELECTOR) = VMCS12(c, GUEST_ES_SELECTOR) = 0x10;
    VMCS12(c, GUEST_SS_LIMIT) = VMCS12(c, GUEST_DS_LIMIT) = VMCS12(c, GUEST_ES_LIMIT) = 0xffffffff;
    VMCS12(c, GUEST_SS_AR_BYTES) = VMCS12(c, GUEST_DS_AR_BYTES) = VMCS12(c, GUEST_ES_AR_BYTES) = AR_DATA;
    VMCS12(c, GUEST_FS_AR_BYTES) = AR_UNUSABLE;
    VMCS12(c, GUEST_FS_BASE) = 0x7f0000001000ULL;
    VMCS12(c, GUEST_GS_AR_BYTES) = AR_UNUSABLE;
    VMCS12(c, GUEST_GS_BASE) = 0xffff888000100000ULL;
    VMCS12(c, GUEST_LDTR_AR_BYTES) = AR_UNUSABLE;
    VMCS12(c, GUEST_TR_SELECTOR) = 0x18;
    VMCS12(c, GUEST_TR_BASE) = 0xffffffff82000000ULL;
    VMCS12(c, GUEST_TR_LIMIT) = 0x67;
    VMCS12(c, GUEST_TR_AR_BYTES) = AR_TSS64;
    VMCS12(c, GUEST_GDTR_BASE) = 0xffffffff82001000ULL;
    VMCS12(c, GUEST_GDTR_LIMIT) = 0x37;
    VMCS12(c, GUEST_IDTR_BASE) = 0xffffffff82002000ULL;
    VMCS12(c, GUEST_IDTR_LIMIT) = 0xfff;
    VMCS12(c, GUEST_RIP) = 0xffffffff80001000ULL;
    VMCS12(c, GUEST_RSP) = 0xffffffff80008000ULL;
    VMCS12(c, GUEST_RFLAGS) = RFLAGS_FIXED1;
    VMCS12(c, GUEST_ACTIVITY_STATE) = ACTIVITY_ACTIVE;
    VMCS12(c, VMCS_LINK_POINTER) = VMCS_LINK_NONE;
}

#endif
