/* Optional VMX features, each case skipped when the CPU (or nestvisor) does
 * not offer it: VPID (29.1). EPT and unrestricted guest: ept_cases.c. */
#include "l1hv.h"

static struct vcpu *const V = &vcpus[0];

/* ---- VPID ---- */
#define TEST_VPID 1

void case_vpid(void)
{
    if (!cap_proc2(PROC2_VPID) || !(caps.ept_vpid & VPID_CAP_INVVPID)) {
        case_skip("VPID with INVVPID not offered");
        return;
    }
    /* VPID 0 is reserved for VMX root: "enable VPID" with VPID 0 is an
     * invalid control (27.2.1.1). */
    TRY(vcpu_setup(V, l2_vmcall));
    vmcs_enable_proc2(PROC2_VPID);
    vmw(VMCS_VPID, 0);
    expect_vmfail_valid(vmx_enter(&V->regs, 0), VMXERR_ENTRY_INVALID_CONTROL,
                        "VMLAUNCH with \"enable VPID\" and VPID 0");
    vmw(VMCS_VPID, TEST_VPID);
    TRY(run_expect(V, EXIT_VMCALL, "L2 with VPID 1"));

    struct inv_desc d = {TEST_VPID, 0};
    if (caps.ept_vpid & VPID_CAP_INVVPID_SINGLE)
        expect_vmok(invvpid(INVVPID_SINGLE_CONTEXT, &d), "INVVPID single-context, VPID 1");
    if (caps.ept_vpid & VPID_CAP_INVVPID_ALL)
        expect_vmok(invvpid(INVVPID_ALL_CONTEXT, &d), "INVVPID all-context");
    if (caps.ept_vpid & VPID_CAP_INVVPID_ADDR) {
        d.hi = (uintptr_t)l2_vmcall;
        expect_vmok(invvpid(INVVPID_ADDRESS, &d), "INVVPID individual-address");
        d.hi = NONCANONICAL_ADDR;
        expect_vmfail_valid(invvpid(INVVPID_ADDRESS, &d), VMXERR_INVALID_INVEPT_INVVPID,
                            "INVVPID individual-address with a non-canonical address");
    }
    vcpu_skip_instruction();
    TRY(run_expect(V, EXIT_VMCALL, "VMRESUME with VPID 1 after INVVPID"));
    EXPECT(V->regs.r9 == 2, "L2 did not continue (r9 %#lx)", V->regs.r9);
}
