/* basic: VMXON, VMCLEAR, VMPTRLD, VMPTRST and VMREAD/VMWRITE of every field
 * width, with register and memory operands (SDM 31.3 "VMREAD", "VMWRITE":
 * in 64-bit mode the operand size is 64 bits; a shorter field is
 * zero-extended on VMREAD and the excess high bits are ignored on VMWRITE;
 * encoding | 1 accesses the high 32 bits of a 64-bit field, 25.11.2). */
#include "l1hv.h"

#define JUNK 0xa5a5a5a5a5a5a5a5ULL

/* VMWRITE `value` (register form), VMREAD it back with both forms, and
 * compare with `want`. */
static void round_trip_r(const char *what, uint64_t field, uint64_t value, uint64_t want)
{
    int r = vmwrite_r(field, value);
    if (!expect_vmok(r, what))
        return;
    uint64_t got = JUNK;
    r = vmread_r(field, &got);
    expect(r == VMX_OK && got == want, "%s: VMREAD (register) of %#lx gave %s %#lx, want %#lx",
           what, field, vmx_outcome(r), got, want);
    uint64_t mem[2] = {JUNK, JUNK};
    r = vmread_m(field, &mem[0]);
    expect(r == VMX_OK && mem[0] == want && mem[1] == JUNK,
           "%s: VMREAD (memory) of %#lx gave %s %#lx (next qword %#lx), want %#lx", what, field,
           vmx_outcome(r), mem[0], mem[1], want);
}

/* Same with the memory form of VMWRITE. */
static void round_trip_m(const char *what, uint64_t field, uint64_t value, uint64_t want)
{
    uint64_t src = value;
    int r = vmwrite_m(field, &src);
    if (!expect_vmok(r, what))
        return;
    uint64_t got = JUNK;
    r = vmread_r(field, &got);
    expect(r == VMX_OK && got == want, "%s: VMREAD of %#lx gave %s %#lx, want %#lx", what, field,
           vmx_outcome(r), got, want);
}

void case_basic(void)
{
    /* Start outside VMX operation: the harness entered it for us. */
    REQUIRE(vmx_disable(), "VMXOFF at the start failed");
    write_cr0((read_cr0() | caps.cr0_fixed0) & caps.cr0_fixed1);
    write_cr4((read_cr4() | CR4_VMXE | caps.cr4_fixed0) & caps.cr4_fixed1);
    memset(vmxon_region, 0, sizeof vmxon_region);
    *(uint32_t *)vmxon_region = caps.revision;
    int r = vmxon((uintptr_t)vmxon_region);
    in_vmx_root = r == VMX_OK;
    REQUIRE(r == VMX_OK, "VMXON with CR4.VMXE and the fixed CR0/CR4 bits: %s",
            vmx_result_name(r));

    uint64_t ptr = 0;
    vmptrst(&ptr);
    EXPECT(ptr == VMCS_LINK_POINTER_NONE, "VMPTRST right after VMXON gave %#lx, want ~0", ptr);

    struct vcpu *v = &vcpus[0];
    memset(v->vmcs, 0, PAGE_SIZE);
    *(uint32_t *)v->vmcs = caps.revision;
    TRY(expect_vmok(vmclear(vmcs_pa(v)), "VMCLEAR"));
    TRY(expect_vmok(vmptrld(vmcs_pa(v)), "VMPTRLD"));
    ptr = 0;
    vmptrst(&ptr);
    EXPECT(ptr == vmcs_pa(v), "VMPTRST gave %#lx, want the VMCS %#lx", ptr, vmcs_pa(v));

    /* 16-bit: high bits of the source ignored, VMREAD zero-extends. */
    round_trip_r("16-bit field", VMCS_GUEST_ES_SEL, 0xffffffffffff1238ULL, 0x1238);
    round_trip_m("16-bit field (memory source)", VMCS_GUEST_FS_SEL, 0x123456789abcdef0ULL,
                 0xdef0);
    /* 32-bit */
    round_trip_r("32-bit field", VMCS_GUEST_ES_LIMIT, 0xdeadbeefcafebabeULL, 0xcafebabe);
    round_trip_m("32-bit field (memory source)", VMCS_GUEST_FS_LIMIT, 0x00000001fffff00fULL,
                 0xfffff00f);
    /* 64-bit, full and high access */
    round_trip_r("64-bit field", VMCS_TSC_OFFSET, 0x1122334455667788ULL, 0x1122334455667788ULL);
    uint64_t high = JUNK;
    r = vmread_r(VMCS_TSC_OFFSET | VMCS_ENC_HIGH, &high);
    EXPECT(r == VMX_OK && high == 0x11223344,
           "VMREAD of the high half (%#x) gave %s %#lx, want 0x11223344",
           VMCS_TSC_OFFSET | VMCS_ENC_HIGH, vmx_outcome(r), high);
    r = vmwrite_r(VMCS_TSC_OFFSET | VMCS_ENC_HIGH, 0xffffffff99aabbccULL);
    EXPECT(r == VMX_OK, "VMWRITE of the high half: %s", vmx_outcome(r));
    uint64_t full = JUNK;
    r = vmread_r(VMCS_TSC_OFFSET, &full);
    EXPECT(r == VMX_OK && full == 0x99aabbcc55667788ULL,
           "after a high-half VMWRITE the full field reads %s %#lx, want 0x99aabbcc55667788",
           vmx_outcome(r), full);
    uint64_t high_mem[2] = {JUNK, JUNK};
    r = vmread_m(VMCS_TSC_OFFSET | VMCS_ENC_HIGH, &high_mem[0]);
    EXPECT(r == VMX_OK && high_mem[0] == 0x99aabbcc && high_mem[1] == JUNK,
           "VMREAD (memory) of the high half gave %s %#lx", vmx_outcome(r), high_mem[0]);
    round_trip_m("64-bit field (memory source)", VMCS_LINK_POINTER, 0xfedcba9876543210ULL,
                 0xfedcba9876543210ULL);
    /* natural width: 64 bits on a 64-bit processor */
    round_trip_r("natural-width field", VMCS_GUEST_RSP, 0x8765432112345678ULL,
                 0x8765432112345678ULL);
    round_trip_m("natural-width field (memory source)", VMCS_CR0_READ_SHADOW,
                 0x0123456789abcdefULL, 0x0123456789abcdefULL);
    /* A read-only field can be read. */
    uint64_t err = JUNK;
    r = vmread_r(VMCS_VM_INSTRUCTION_ERROR, &err);
    EXPECT(r == VMX_OK && err <= 0xffffffffULL, "VMREAD of the VM-instruction error: %s %#lx",
           vmx_outcome(r), err);

    /* VMCLEAR of the current VMCS makes the pointer invalid; the data
     * survive in the region and come back with VMPTRLD. */
    TRY(expect_vmok(vmclear(vmcs_pa(v)), "VMCLEAR of the current VMCS"));
    ptr = 0;
    vmptrst(&ptr);
    EXPECT(ptr == VMCS_LINK_POINTER_NONE, "VMPTRST after VMCLEAR of the current VMCS gave %#lx",
           ptr);
    TRY(expect_vmok(vmptrld(vmcs_pa(v)), "VMPTRLD again"));
    full = JUNK;
    r = vmread_r(VMCS_TSC_OFFSET, &full);
    EXPECT(r == VMX_OK && full == 0x99aabbcc55667788ULL,
           "TSC offset after VMCLEAR + VMPTRLD reads %s %#lx", vmx_outcome(r), full);
    uint64_t sel = JUNK;
    r = vmread_r(VMCS_GUEST_ES_SEL, &sel);
    EXPECT(r == VMX_OK && sel == 0x1238, "guest ES selector after VMCLEAR + VMPTRLD reads %s %#lx",
           vmx_outcome(r), sel);
}
