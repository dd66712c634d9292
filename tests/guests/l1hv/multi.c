/* Many VM entries, two VMCSs, and the launch state across VMCLEAR. */
#include "l1hv.h"

#define RESUME_LOOPS 1000u
#define CTX_ID_A 0xaaaa
#define CTX_ID_B 0xbbbb

/* One CPUID exit of l2_count: checks the context id and the count in R15,
 * answers with values derived from the count, skips the CPUID. */
static bool count_step(struct vcpu *v, uint64_t id, uint64_t want_count)
{
    if (!run_expect(v, EXIT_CPUID, v->name))
        return false;
    if (!expect(v->regs.r13 == id && v->regs.r15 == want_count,
                "%s: at the CPUID exit L2 has id %#lx count %lu, want %#lx %lu", v->name,
                v->regs.r13, v->regs.r15, id, want_count))
        return false;
    v->regs.rax = want_count;
    v->regs.rbx = ~want_count;
    vcpu_skip_instruction();
    return true;
}

void case_resume_loop(void)
{
    struct vcpu *v = &vcpus[0];
    TRY(vcpu_setup(v, l2_count));
    v->regs.r13 = CTX_ID_A;
    v->regs.r14 = RESUME_LOOPS;
    for (uint64_t i = 1; i <= RESUME_LOOPS; i++)
        TRY(count_step(v, CTX_ID_A, i));
    TRY(run_expect(v, EXIT_VMCALL, "end of the loop"));
    EXPECT(v->regs.r15 == RESUME_LOOPS && v->regs.r13 == CTX_ID_A,
           "L2 finished with count %lu id %#lx", v->regs.r15, v->regs.r13);
}

/* Two L2 contexts, switched with VMPTRLD in an irregular order. */
void case_two_vmcs(void)
{
    static const char order[] = "AABABBBAABAB";
    struct vcpu *a = &vcpus[0], *b = &vcpus[1];
    uint64_t count[2] = {0, 0};
    TRY(vcpu_setup(a, l2_count));
    a->regs.r13 = CTX_ID_A;
    a->regs.r14 = ~0ULL;
    TRY(vcpu_setup(b, l2_count));
    b->regs.r13 = CTX_ID_B;
    b->regs.r14 = ~0ULL;
    for (const char *p = order; *p; p++) {
        int i = *p == 'A' ? 0 : 1;
        struct vcpu *v = &vcpus[i];
        TRY(expect_vmok(vmptrld(vmcs_pa(v)), "VMPTRLD"));
        uint64_t cur = 0;
        vmptrst(&cur);
        TRY(expect(cur == vmcs_pa(v), "VMPTRST gave %#lx after VMPTRLD of %s (%#lx)", cur,
                   v->name, vmcs_pa(v)));
        uint64_t rsp = vmr(VMCS_GUEST_RSP);
        TRY(expect(rsp == (uintptr_t)v->stack_top,
                   "%s: guest RSP %#lx is not its own stack (%p)", v->name, rsp,
                   (void *)v->stack_top));
        TRY(count_step(v, i ? CTX_ID_B : CTX_ID_A, ++count[i]));
    }
    EXPECT(a->launched && b->launched, "not both contexts ran");
}

/* VMCLEAR puts the launch state back to clear: VMRESUME fails, VMLAUNCH
 * continues the guest where it stopped. */
void case_vmclear_relaunch(void)
{
    struct vcpu *v = &vcpus[0];
    TRY(vcpu_setup(v, l2_count));
    v->regs.r13 = CTX_ID_A;
    v->regs.r14 = ~0ULL;
    TRY(count_step(v, CTX_ID_A, 1));
    TRY(count_step(v, CTX_ID_A, 2));
    TRY(vcpu_clear(v));
    uint64_t cur = 0;
    vmptrst(&cur);
    EXPECT(cur == VMCS_LINK_POINTER_NONE, "VMPTRST after VMCLEAR of the current VMCS: %#lx", cur);

    /* No current VMCS at all: VMfailInvalid. */
    int r = vmx_enter(&v->regs, 1);
    expect_vmfail_invalid(r, "VMRESUME with no current VMCS");

    TRY(expect_vmok(vmptrld(vmcs_pa(v)), "VMPTRLD after VMCLEAR"));
    r = vmx_enter(&v->regs, 1);
    expect_vmfail_valid(r, VMXERR_VMRESUME_NOT_LAUNCHED, "VMRESUME after VMCLEAR");

    v->launched = false; /* VMLAUNCH */
    TRY(count_step(v, CTX_ID_A, 3));
    TRY(count_step(v, CTX_ID_A, 4)); /* and VMRESUME works again */
}
