/* Negative cases: each checks the exact architectural outcome of a VMX
 * instruction used wrongly (SDM ch. 31 "Operation" sections, 31.4 error
 * numbers, 27.1-27.3 VM-entry checks, 27.8 entry failures). */
#include "l1hv.h"

static struct vcpu *const V = &vcpus[0];

static uint64_t current_vmcs(void)
{
    uint64_t p = 0;
    vmptrst(&p);
    return p;
}

/* After a VMfail the current VMCS must not have changed. */
static void expect_still_current(const struct vcpu *v, const char *after)
{
    uint64_t p = current_vmcs();
    expect(p == vmcs_pa(v), "after %s the current VMCS is %#lx, want %#lx", after, p,
           vmcs_pa(v));
}

/* An address just beyond the physical-address width: 4 KiB aligned, but
 * not a valid physical address (31.3 VMCLEAR/VMPTRLD "invalid address"). */
static uint64_t beyond_phys(void)
{
    return 1ULL << caps.phys_bits;
}

/* ---- VMXON in VMX root operation (error 15) ---- */
void case_neg_vmxon_root(void)
{
    TRY(vcpu_setup(V, l2_vmcall));
    expect_vmfail_valid(vmxon((uintptr_t)vmxon_region), VMXERR_VMXON_IN_ROOT,
                        "VMXON in VMX root, same region");
    memset(scratch_page, 0, PAGE_SIZE);
    *(uint32_t *)scratch_page = caps.revision;
    expect_vmfail_valid(vmxon((uintptr_t)scratch_page), VMXERR_VMXON_IN_ROOT,
                        "VMXON in VMX root, another region");
    expect_still_current(V, "VMXON in root");
    /* No current VMCS: nowhere to store the error. */
    TRY(vcpu_clear(V));
    expect_vmfail_invalid(vmxon((uintptr_t)vmxon_region), "VMXON in VMX root, no current VMCS");
}

/* ---- VMCLEAR: invalid address (2), VMXON pointer (3) ---- */
void case_neg_vmclear(void)
{
    TRY(vcpu_setup(V, l2_vmcall));
    expect_vmfail_valid(vmclear(vmcs_pa(V) + 8), VMXERR_VMCLEAR_INVALID_ADDR,
                        "VMCLEAR of an unaligned address");
    expect_vmfail_valid(vmclear(beyond_phys()), VMXERR_VMCLEAR_INVALID_ADDR,
                        "VMCLEAR beyond the physical-address width");
    expect_vmfail_valid(vmclear((uintptr_t)vmxon_region), VMXERR_VMCLEAR_VMXON_PTR,
                        "VMCLEAR of the VMXON region");
    expect_still_current(V, "the failed VMCLEARs");
}

/* ---- VMPTRLD: invalid address (9), VMXON pointer (10), revision (11) ---- */
void case_neg_vmptrld(void)
{
    TRY(vcpu_setup(V, l2_vmcall));
    expect_vmfail_valid(vmptrld(vmcs_pa(V) + 0x10), VMXERR_VMPTRLD_INVALID_ADDR,
                        "VMPTRLD of an unaligned address");
    expect_vmfail_valid(vmptrld(beyond_phys()), VMXERR_VMPTRLD_INVALID_ADDR,
                        "VMPTRLD beyond the physical-address width");
    expect_vmfail_valid(vmptrld((uintptr_t)vmxon_region), VMXERR_VMPTRLD_VMXON_PTR,
                        "VMPTRLD of the VMXON region");
    memset(scratch_page, 0, PAGE_SIZE);
    *(uint32_t *)scratch_page = caps.revision ^ 1;
    expect_vmfail_valid(vmptrld((uintptr_t)scratch_page), VMXERR_VMPTRLD_BAD_REVISION,
                        "VMPTRLD with a wrong revision identifier");
    expect_still_current(V, "the failed VMPTRLDs");
    /* Bit 31 of the revision word marks a shadow VMCS: accepted only if
     * VMCS shadowing may be enabled. */
    *(uint32_t *)scratch_page = caps.revision | VMCS_REVISION_SHADOW;
    int r = vmptrld((uintptr_t)scratch_page);
    if (cap_proc2(PROC2_VMCS_SHADOWING)) {
        expect_vmok(r, "VMPTRLD of a shadow VMCS (shadowing offered)");
        vmclear((uintptr_t)scratch_page);
    } else {
        expect_vmfail_valid(r, VMXERR_VMPTRLD_BAD_REVISION,
                            "VMPTRLD of a shadow VMCS (shadowing not offered)");
    }
}

/* ---- VMLAUNCH of a launched VMCS (4), VMRESUME of a clear one (5) ---- */
void case_neg_launch_state(void)
{
    TRY(vcpu_setup(V, l2_vmcall));
    expect_vmfail_valid(vmx_enter(&V->regs, 1), VMXERR_VMRESUME_NOT_LAUNCHED,
                        "VMRESUME of a clear VMCS");
    TRY(run_expect(V, EXIT_VMCALL, "VMLAUNCH"));
    vcpu_skip_instruction();
    expect_vmfail_valid(vmx_enter(&V->regs, 0), VMXERR_VMLAUNCH_NOT_CLEAR,
                        "VMLAUNCH of a launched VMCS");
    TRY(run_expect(V, EXIT_VMCALL, "VMRESUME after the failed VMLAUNCH"));
    EXPECT(V->regs.r9 == 2, "L2 did not continue after its first VMCALL (r9 %#lx)", V->regs.r9);
}

/* ---- VMREAD/VMWRITE of unsupported encodings (12) ---- */
#define UNCHANGED 0x5a5a5a5a5a5a5a5aULL

static void unsupported_field(uint64_t enc, const char *what)
{
    char buf[96];
    uint64_t v = UNCHANGED;
    int r = vmread_r(enc, &v);
    snprintf(buf, sizeof buf, "VMREAD of %s (%#lx)", what, enc);
    expect_vmfail_valid(r, VMXERR_UNSUPPORTED_FIELD, buf);
    expect(v == UNCHANGED, "%s changed the destination to %#lx", buf, v);
    snprintf(buf, sizeof buf, "VMWRITE of %s (%#lx)", what, enc);
    expect_vmfail_valid(vmwrite_r(enc, 0), VMXERR_UNSUPPORTED_FIELD, buf);
}

void case_neg_field(void)
{
    TRY(vcpu_setup(V, l2_vmcall));
    unsupported_field(VMCS_GUEST_RIP | VMCS_ENC_RESERVED_BIT12, "an encoding with bit 12 set");
    unsupported_field(VMCS_GUEST_RIP | VMCS_ENC_HIGH, "high access to a natural-width field");
    unsupported_field(VMCS_GUEST_ES_SEL | VMCS_ENC_HIGH, "high access to a 16-bit field");
    unsupported_field((1ULL << 32) | VMCS_GUEST_RIP, "an encoding with bit 32 set");
    unsigned next = (unsigned)VMX_VMCS_ENUM_MAX_INDEX(caps.vmcs_enum) + 1;
    if (next <= 0x1ff)
        unsupported_field(VMCS_ENC_TYPE_GUEST | VMCS_ENC_WIDTH_16 |
                              (next << VMCS_ENC_INDEX_SHIFT),
                          "index above IA32_VMX_VMCS_ENUM's highest");
}

/* ---- VMWRITE to a read-only field (13, unless IA32_VMX_MISC[29]) ---- */
#define RO_TEST_VALUE 0x1234u

void case_neg_vmwrite_ro(void)
{
    TRY(vcpu_setup(V, l2_vmcall));
    int r = vmwrite_r(VMCS_EXIT_REASON, RO_TEST_VALUE);
    if (caps.misc & VMX_MISC_VMWRITE_ANY) {
        expect_vmok(r, "VMWRITE of the exit reason with IA32_VMX_MISC[29] = 1");
        uint64_t v = 0;
        vmread_r(VMCS_EXIT_REASON, &v);
        expect(v == RO_TEST_VALUE, "exit reason reads %#lx after VMWRITE of %#x", v,
               RO_TEST_VALUE);
        expect_vmok(vmwrite_r(VMCS_EXIT_QUALIFICATION, RO_TEST_VALUE),
                    "VMWRITE of the exit qualification with IA32_VMX_MISC[29] = 1");
    } else {
        expect_vmfail_valid(r, VMXERR_VMWRITE_READONLY, "VMWRITE of the exit reason (0x4402)");
        expect_vmfail_valid(vmwrite_r(VMCS_EXIT_QUALIFICATION, RO_TEST_VALUE),
                            VMXERR_VMWRITE_READONLY, "VMWRITE of the exit qualification");
    }
}

/* ---- VM entry with invalid controls (7) ---- */
static void bad_control(uint64_t field, uint64_t bad, const char *what)
{
    uint64_t good = vmr(field);
    vmw(field, bad);
    V->launched = false;
    expect_vmfail_valid(vmx_enter(&V->regs, 0), VMXERR_ENTRY_INVALID_CONTROL, what);
    vmw(field, good);
}

void case_neg_control(void)
{
    TRY(vcpu_setup(V, l2_vmcall));
    uint32_t must1 = ctl_must1(caps.ctl_pin);
    uint32_t must0 = ~ctl_may1(caps.ctl_pin);
    uint32_t pin = (uint32_t)vmr(VMCS_PIN_CONTROLS);
    if (must1)
        bad_control(VMCS_PIN_CONTROLS, pin & ~(must1 & -must1),
                    "VMLAUNCH with a must-be-1 pin-based control cleared");
    else if (must0)
        bad_control(VMCS_PIN_CONTROLS, pin | (must0 & -must0),
                    "VMLAUNCH with a must-be-0 pin-based control set");
    uint32_t exit_must1 = ctl_must1(caps.ctl_exit);
    if (exit_must1)
        bad_control(VMCS_EXIT_CONTROLS,
                    vmr(VMCS_EXIT_CONTROLS) & ~(exit_must1 & -exit_must1),
                    "VMLAUNCH with a must-be-1 VM-exit control cleared");
    bad_control(VMCS_CR3_TARGET_COUNT, VMX_MISC_CR3_TARGETS(caps.misc) + 1,
                "VMLAUNCH with CR3-target count above IA32_VMX_MISC's");
    if (cap_proc(PROC_USE_IO_BITMAPS)) {
        vmcs_set_bits(VMCS_PROC_CONTROLS, PROC_USE_IO_BITMAPS);
        bad_control(VMCS_IO_BITMAP_A, (uintptr_t)io_bitmap_a + 8,
                    "VMLAUNCH with an unaligned I/O-bitmap address");
        vmcs_clear_bits(VMCS_PROC_CONTROLS, PROC_USE_IO_BITMAPS);
    }
    V->launched = false;
    run_expect(V, EXIT_VMCALL, "VMLAUNCH with the controls repaired");
}

/* ---- VM entry with invalid host state (8) ---- */
static void bad_host(uint64_t field, uint64_t bad, const char *what)
{
    uint64_t good = vmr(field);
    vmw(field, bad);
    V->launched = false;
    expect_vmfail_valid(vmx_enter(&V->regs, 0), VMXERR_ENTRY_INVALID_HOST, what);
    vmw(field, good);
}

#define SEL_RPL3 3u

void case_neg_host(void)
{
    TRY(vcpu_setup(V, l2_vmcall));
    bad_host(VMCS_HOST_CR0, read_cr0() & ~CR0_PE, "VMLAUNCH with host CR0.PE = 0");
    bad_host(VMCS_HOST_CS_SEL, 0, "VMLAUNCH with host CS selector 0");
    bad_host(VMCS_HOST_CS_SEL, SEL_KERNEL_CS | SEL_RPL3, "VMLAUNCH with host CS RPL 3");
    bad_host(VMCS_HOST_TR_SEL, 0, "VMLAUNCH with host TR selector 0");
    bad_host(VMCS_HOST_RIP, NONCANONICAL_ADDR, "VMLAUNCH with a non-canonical host RIP");
    V->launched = false;
    run_expect(V, EXIT_VMCALL, "VMLAUNCH with the host state repaired");
}

/* ---- VM entry with invalid guest state: exit 33 | 1 << 31 (27.8) ---- */
#define HOST_DESC_LIMIT_AFTER_EXIT 0xffff /* GDTR/IDTR limits after a VM exit (28.5.2) */

static void bad_guest(uint64_t field, uint64_t bad, const char *what)
{
    uint64_t good = vmr(field);
    vmw(field, bad);
    V->launched = false;
    uint64_t cr3 = read_cr3();
    write_cr3(cr3); /* nothing changes it, but it must be the host CR3 after */
    int r = vmx_enter(&V->regs, 0);
    uint64_t reason = 0;
    vmread_r(VMCS_EXIT_REASON, &reason);
    uint32_t want = EXIT_REASON_ENTRY_FAILURE | EXIT_INVALID_GUEST_STATE;
    if (expect(r == VMX_OK && reason == want,
               "%s: expected VM exit with reason %#x, got %s reason %#lx", what, want,
               vmx_outcome(r), reason)) {
        uint64_t q = vmr(VMCS_EXIT_QUALIFICATION);
        expect(q == 0, "%s: exit qualification %#lx, want 0", what, q);
        struct desc_ptr gdtr, idtr;
        __asm__ volatile("sgdt %0" : "=m"(gdtr));
        sidt(&idtr);
        expect(gdtr.base == l1_gdt_base && gdtr.limit == HOST_DESC_LIMIT_AFTER_EXIT &&
                   idtr.limit == HOST_DESC_LIMIT_AFTER_EXIT && read_cr3() == cr3,
               "%s: host state after the failed entry: GDTR %#lx/%#x IDTR limit %#x CR3 %#lx",
               what, gdtr.base, gdtr.limit, idtr.limit, read_cr3());
    }
    /* The launch state stayed clear (only a successful VMLAUNCH sets it). */
    expect_vmfail_valid(vmx_enter(&V->regs, 1), VMXERR_VMRESUME_NOT_LAUNCHED,
                        "VMRESUME after the failed entry");
    vmw(field, good);
}

void case_neg_guest(void)
{
    TRY(vcpu_setup(V, l2_vmcall));
    uint64_t cr0 = vmr(VMCS_GUEST_CR0);
    bad_guest(VMCS_GUEST_CR0, (cr0 & ~CR0_PE) | CR0_PG, "guest CR0.PG = 1 with PE = 0");
    uint64_t tr_ar = vmr(VMCS_GUEST_TR_AR);
    bad_guest(VMCS_GUEST_TR_AR, (tr_ar & ~AR_TYPE_MASK) | AR_TYPE_TSS64_AVAILABLE,
              "guest TR type 9 (available TSS)");
    /* 27.3.1.4: in 64-bit mode RIP must be canonical. Bochs 2.7 checks only
     * bits 63:32 outside 64-bit mode and enters L2 at a non-canonical RIP. */
    if (opt_strict)
        bad_guest(VMCS_GUEST_RIP, NONCANONICAL_ADDR, "non-canonical guest RIP");
    V->launched = false;
    run_expect(V, EXIT_VMCALL, "VMLAUNCH with the guest state repaired");
}

/* ---- INVEPT/INVVPID with an invalid type (28) ---- */
#define INV_TYPE_UNDEFINED 4

void case_neg_inv(void)
{
    bool ept = cap_proc2(PROC2_EPT) && (caps.ept_vpid & EPT_CAP_INVEPT);
    bool vpid = cap_proc2(PROC2_VPID) && (caps.ept_vpid & VPID_CAP_INVVPID);
    if (!ept && !vpid) {
        case_skip("neither INVEPT nor INVVPID offered");
        return;
    }
    TRY(vcpu_setup(V, l2_vmcall));
    struct inv_desc d = {0, 0};
    if (ept) {
        expect_vmfail_valid(invept(0, &d), VMXERR_INVALID_INVEPT_INVVPID, "INVEPT type 0");
        expect_vmfail_valid(invept(INV_TYPE_UNDEFINED, &d), VMXERR_INVALID_INVEPT_INVVPID,
                            "INVEPT type 4");
        if (caps.ept_vpid & EPT_CAP_INVEPT_ALL)
            expect_vmok(invept(INVEPT_ALL_CONTEXT, &d), "INVEPT all-context");
    }
    if (vpid) {
        expect_vmfail_valid(invvpid(INV_TYPE_UNDEFINED, &d), VMXERR_INVALID_INVEPT_INVVPID,
                            "INVVPID type 4");
        if (caps.ept_vpid & VPID_CAP_INVVPID_SINGLE)
            expect_vmfail_valid(invvpid(INVVPID_SINGLE_CONTEXT, &d),
                                VMXERR_INVALID_INVEPT_INVVPID,
                                "INVVPID single-context with VPID 0");
        if (caps.ept_vpid & VPID_CAP_INVVPID_ALL)
            expect_vmok(invvpid(INVVPID_ALL_CONTEXT, &d), "INVVPID all-context");
    }
    expect_still_current(V, "INVEPT/INVVPID");
}

/* ---- no current VMCS: VMfailInvalid everywhere, VMPTRST gives ~0 ---- */
void case_neg_no_current(void)
{
    /* The harness left no VMCS current. */
    uint64_t p = current_vmcs();
    EXPECT(p == VMCS_LINK_POINTER_NONE, "VMPTRST with no current VMCS gave %#lx", p);
    uint64_t v = UNCHANGED;
    expect_vmfail_invalid(vmread_r(VMCS_GUEST_RIP, &v), "VMREAD with no current VMCS");
    expect(v == UNCHANGED, "the failed VMREAD changed its destination to %#lx", v);
    expect_vmfail_invalid(vmwrite_r(VMCS_GUEST_RIP, 0), "VMWRITE with no current VMCS");
    struct guest_regs regs = {0};
    expect_vmfail_invalid(vmx_enter(&regs, 0), "VMLAUNCH with no current VMCS");
    expect_vmfail_invalid(vmx_enter(&regs, 1), "VMRESUME with no current VMCS");
    expect_vmfail_invalid(vmclear(vmcs_pa(V) + 8),
                          "VMCLEAR of an unaligned address with no current VMCS");
    expect_vmfail_invalid(vmptrld((uintptr_t)vmxon_region),
                          "VMPTRLD of the VMXON region with no current VMCS");
}

/* ---- CPL 3: VMXON/VMREAD/VMPTRST are #GP(0) in VMX root operation ---- */
extern char cpl3_nop[], cpl3_vmxon[], cpl3_vmread[], cpl3_vmread_insn[], cpl3_vmptrst[];
extern uint64_t cpl3_operand;

static void at_cpl3(const char *what, char *snippet, int want)
{
    int got = cpl3_run((void (*)(void))(void *)snippet);
    if (want == NO_FAULT) {
        expect(got == NO_FAULT, "%s at CPL 3: %s at RIP %#lx", what, vector_name(got),
               cpl3_fault_rip);
        return;
    }
    char *insn = snippet == cpl3_vmread ? cpl3_vmread_insn : snippet;
    expect(got == want && cpl3_fault_error == 0 && cpl3_fault_rip == (uintptr_t)insn,
           "%s at CPL 3: got %s (error %#lx) at RIP %#lx, want %s(0) at the instruction", what,
           vector_name(got), cpl3_fault_error, cpl3_fault_rip, vector_name(want));
}

void case_neg_cpl3(void)
{
    TRY(vcpu_setup(V, l2_vmcall));
    cpl3_operand = (uintptr_t)vmxon_region;
    at_cpl3("INT 0x81 (trampoline check)", cpl3_nop, NO_FAULT);
    if (case_failed())
        return;
    at_cpl3("VMXON", cpl3_vmxon, VEC_GP);
    at_cpl3("VMREAD", cpl3_vmread, VEC_GP);
    at_cpl3("VMPTRST", cpl3_vmptrst, VEC_GP);
    expect_still_current(V, "the CPL 3 attempts");
}

/* ---- outside VMX operation: #UD; VMXON's own checks ---- */
static void do_vmread(void *p)
{
    uint64_t v = 0;
    *(int *)p = vmread_r(VMCS_GUEST_RIP, &v);
}

static void do_vmwrite(void *p)
{
    *(int *)p = vmwrite_r(VMCS_GUEST_RIP, 0);
}

static void do_vmptrld(void *p)
{
    *(int *)p = vmptrld(vmcs_pa(V));
}

static void do_vmxoff(void *p)
{
    *(int *)p = vmxoff();
}

static void do_vmxon(void *p)
{
    *(int *)p = vmxon(*(uint64_t *)p);
}

/* VMXON that must end in VMfailInvalid; leaves VMX again if it did not. */
static void vmxon_fails(uint64_t pa, const char *what)
{
    int r = vmxon(pa);
    expect_vmfail_invalid(r, what);
    if (r == VMX_OK)
        vmxoff();
}

static void expect_ud(const char *what, void (*fn)(void *))
{
    int res = -1;
    int v = try_call(fn, &res);
    expect(v == VEC_UD, "%s outside VMX operation: %s (result %d), want #UD", what,
           vector_name(v), res);
}

void case_neg_outside(void)
{
    TRY(expect(vmx_disable(), "VMXOFF failed"));
    expect_ud("VMREAD", do_vmread);
    expect_ud("VMWRITE", do_vmwrite);
    expect_ud("VMPTRLD", do_vmptrld);
    expect_ud("VMXOFF", do_vmxoff);

    /* CR4.VMXE = 0 (vmx_disable cleared it): VMXON is #UD. */
    uint64_t pa = (uintptr_t)vmxon_region;
    int v = try_call(do_vmxon, &pa);
    expect(v == VEC_UD, "VMXON with CR4.VMXE = 0: %s, want #UD", vector_name(v));

    write_cr4(read_cr4() | CR4_VMXE);
    /* A CR0 bit fixed to 1 in VMX operation cleared: #GP(0) (31.3 VMXON). */
    if (caps.cr0_fixed0 & CR0_NE) {
        uint64_t cr0 = read_cr0();
        write_cr0(cr0 & ~CR0_NE);
        pa = (uintptr_t)vmxon_region;
        v = try_call(do_vmxon, &pa);
        write_cr0(cr0);
        expect(v == VEC_GP && last_fault.error == 0,
               "VMXON with CR0.NE = 0: %s (error %#lx), want #GP(0)", vector_name(v),
               last_fault.error);
    }
    /* Bad VMXON regions: VMfailInvalid (no current VMCS outside VMX). */
    *(uint32_t *)vmxon_region = caps.revision;
    vmxon_fails((uintptr_t)vmxon_region + 8, "VMXON of an unaligned address");
    vmxon_fails(beyond_phys(), "VMXON beyond the physical-address width");
    *(uint32_t *)vmxon_region = caps.revision ^ 1;
    vmxon_fails((uintptr_t)vmxon_region, "VMXON with a wrong revision");
    write_cr4(read_cr4() & ~CR4_VMXE);
    /* The harness's vmx_enable() re-enters VMX operation for what follows. */
    TRY(expect(vmx_enable(), "VMXON after the negative checks failed"));
}
