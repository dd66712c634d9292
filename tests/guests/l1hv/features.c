/* Optional VMX features, each case skipped when the CPU (or nestvisor) does
 * not offer it: EPT (29.3), VPID (29.1) and unrestricted guest (27.3.1.1). */
#include "l1hv.h"

static struct vcpu *const V = &vcpus[0];

/* ---- EPT: identity map of 0-4 GiB, 2 MiB pages, except the 2 MiB region
 * holding ept_test_page, which is mapped with 4 KiB pages so that this one
 * page can be taken away. ---- */
#define ENTRIES 512
#define EPT_GIB 4
#define PAGE_2M (1ULL << 21)
#define EPT_LEAF (EPT_RWX | (EPTP_MEMTYPE_WB << EPT_MEMTYPE_SHIFT))

static uint64_t ept_pml4[ENTRIES] __attribute__((aligned(PAGE_SIZE)));
static uint64_t ept_pdpt[ENTRIES] __attribute__((aligned(PAGE_SIZE)));
static uint64_t ept_pd[EPT_GIB][ENTRIES] __attribute__((aligned(PAGE_SIZE)));
static uint64_t ept_pt[ENTRIES] __attribute__((aligned(PAGE_SIZE)));
static volatile uint64_t ept_test_page[PAGE_SIZE / 8] __attribute__((aligned(PAGE_SIZE)));
static uint64_t *ept_test_pte;

#define EPT_TEST_VALUE 0x5eedf00d12345678ULL
#define EPT_TEST_OFFSET 0x238

static uint64_t ept_build(void)
{
    uint64_t test = (uintptr_t)ept_test_page;
    uint64_t region = test & ~(PAGE_2M - 1);
    ept_pml4[0] = (uintptr_t)ept_pdpt | EPT_RWX;
    for (unsigned g = 0; g < EPT_GIB; g++) {
        ept_pdpt[g] = (uintptr_t)ept_pd[g] | EPT_RWX;
        for (unsigned i = 0; i < ENTRIES; i++)
            ept_pd[g][i] = ((uint64_t)g * ENTRIES + i) * PAGE_2M | EPT_LEAF | EPT_LARGE_PAGE;
    }
    for (unsigned i = 0; i < ENTRIES; i++)
        ept_pt[i] = (region + (uint64_t)i * PAGE_SIZE) | EPT_LEAF;
    ept_pd[region >> 30][(region >> 21) & (ENTRIES - 1)] = (uintptr_t)ept_pt | EPT_RWX;
    ept_test_pte = &ept_pt[(test >> 12) & (ENTRIES - 1)];
    return (uintptr_t)ept_pml4 | EPTP_MEMTYPE_WB | EPTP_WALK_4;
}

static bool ept_offered(const char *what)
{
    uint64_t need = EPT_CAP_WALK_4 | EPT_CAP_WB | EPT_CAP_2M_PAGE | EPT_CAP_INVEPT;
    if (cap_proc2(PROC2_EPT) && (caps.ept_vpid & need) == need &&
        (caps.ept_vpid & (EPT_CAP_INVEPT_SINGLE | EPT_CAP_INVEPT_ALL)))
        return true;
    case_skip("%s: EPT (4-level, WB, 2 MiB pages, INVEPT) not offered", what);
    return false;
}

static int invept_context(uint64_t eptp)
{
    struct inv_desc d = {eptp, 0};
    if (caps.ept_vpid & EPT_CAP_INVEPT_SINGLE)
        return invept(INVEPT_SINGLE_CONTEXT, &d);
    return invept(INVEPT_ALL_CONTEXT, &d);
}

void case_ept(void)
{
    if (!ept_offered("ept"))
        return;
    uint64_t eptp = ept_build();
    uint64_t gpa = (uintptr_t)ept_test_page + EPT_TEST_OFFSET;
    ept_test_page[EPT_TEST_OFFSET / 8] = EPT_TEST_VALUE;
    *ept_test_pte &= ~EPT_RWX; /* not present */

    TRY(vcpu_setup(V, l2_read));
    vmcs_enable_proc2(PROC2_EPT);
    vmw(VMCS_EPT_POINTER, eptp);
    V->regs.rbx = gpa; /* L2's page tables map it 1:1 */
    TRY(expect_vmok(invept_context(eptp), "INVEPT before the first entry"));
    TRY(run_expect(V, EXIT_EPT_VIOLATION, "L2 read of a page EPT does not map"));
    uint64_t q = vmr(VMCS_EXIT_QUALIFICATION);
    uint64_t want = QUAL_EPT_READ | QUAL_EPT_LINEAR_VALID | QUAL_EPT_TRANSLATED;
    EXPECT((q & QUAL_EPT_BASIC_MASK) == want,
           "EPT-violation qualification %#lx, want %#lx in bits 8:0 (read, not present, "
           "linear address valid, translated access)",
           q, want);
    uint64_t got_gpa = vmr(VMCS_GUEST_PHYSICAL_ADDR), gla = vmr(VMCS_GUEST_LINEAR_ADDR);
    EXPECT(got_gpa == gpa && gla == gpa, "guest-physical %#lx linear %#lx, want %#lx for both",
           got_gpa, gla, gpa);
    EXPECT(vmr(VMCS_GUEST_RIP) == (uintptr_t)l2_read, "EPT violation at RIP %#lx, want %#lx",
           vmr(VMCS_GUEST_RIP), (uint64_t)(uintptr_t)l2_read);

    /* Map it and retry the instruction. */
    *ept_test_pte |= EPT_RWX;
    TRY(expect_vmok(invept_context(eptp), "INVEPT after mapping the page"));
    TRY(run_expect(V, EXIT_VMCALL, "L2 read after the page was mapped"));
    EXPECT(V->regs.r8 == EPT_TEST_VALUE, "L2 read %#lx through EPT, want %#llx", V->regs.r8,
           EPT_TEST_VALUE);
}

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

/* ---- unrestricted guest: L2 in real mode (needs EPT) ---- */
#define REAL_AR_CODE (AR_TYPE_CODE_XR_ACCESSED | AR_S | AR_P) /* 16-bit, G = 0 */
#define REAL_AR_DATA (AR_TYPE_DATA_RW_ACCESSED | AR_S | AR_P)
#define REAL_LIMIT   0xffffu
#define REAL_STACK   0xff0u
#define L2_REAL_AX   0x1234u /* l2.asm */
#define REAL_BX      0x0042u

void case_unrestricted(void)
{
    if (!cap_proc2(PROC2_UNRESTRICTED_GUEST)) {
        case_skip("unrestricted guest not offered");
        return;
    }
    if (!ept_offered("unrestricted"))
        return;
    uint64_t eptp = ept_build();
    TRY(vcpu_setup(V, l2_vmcall));
    vmcs_enable_proc2(PROC2_EPT | PROC2_UNRESTRICTED_GUEST);
    vmw(VMCS_EPT_POINTER, eptp);
    TRY(expect_vmok(invept_context(eptp), "INVEPT"));

    vmcs_clear_bits(VMCS_ENTRY_CONTROLS, ENTRY_IA32E_MODE_GUEST);
    if (cap_entry(ENTRY_LOAD_EFER))
        vmw(VMCS_GUEST_EFER, rdmsr(MSR_EFER) & ~(EFER_LME | EFER_LMA));
    /* CR0.PE = CR0.PG = 0 is allowed by "unrestricted guest" even though
     * IA32_VMX_CR0_FIXED0 has them. */
    vmw(VMCS_GUEST_CR0, (caps.cr0_fixed0 & ~(CR0_PE | CR0_PG)) | CR0_ET);
    vmw(VMCS_GUEST_CR4, caps.cr4_fixed0);
    static const uint32_t data_sel[] = {VMCS_GUEST_ES_SEL, VMCS_GUEST_SS_SEL, VMCS_GUEST_DS_SEL,
                                        VMCS_GUEST_FS_SEL, VMCS_GUEST_GS_SEL};
    for (unsigned i = 0; i < ARRAY_SIZE(data_sel); i++) {
        uint32_t k = data_sel[i] - VMCS_GUEST_ES_SEL;
        vmw(data_sel[i], 0);
        vmw(VMCS_GUEST_ES_LIMIT + k, REAL_LIMIT);
        vmw(VMCS_GUEST_ES_AR + k, REAL_AR_DATA);
        vmw(VMCS_GUEST_ES_BASE + k, 0);
    }
    vmw(VMCS_GUEST_SS_BASE, (uintptr_t)V->stack_top - PAGE_SIZE);
    vmw(VMCS_GUEST_CS_SEL, 0);
    vmw(VMCS_GUEST_CS_BASE, (uintptr_t)l2_real);
    vmw(VMCS_GUEST_CS_LIMIT, REAL_LIMIT);
    vmw(VMCS_GUEST_CS_AR, REAL_AR_CODE);
    vmw(VMCS_GUEST_RIP, 0);
    vmw(VMCS_GUEST_RSP, REAL_STACK);
    V->regs.rbx = REAL_BX;

    TRY(run_expect(V, EXIT_VMCALL, "real-mode L2"));
    uint64_t cr0 = vmr(VMCS_GUEST_CR0);
    EXPECT(!(cr0 & (CR0_PE | CR0_PG)), "guest CR0 %#lx at the exit: not real mode", cr0);
    EXPECT((uint16_t)V->regs.rax == L2_REAL_AX + REAL_BX, "L2 computed AX %#lx, want %#x",
           V->regs.rax, L2_REAL_AX + REAL_BX);
    EXPECT(vmr(VMCS_EXIT_INSTR_LEN) == 3, "VMCALL length %lu", vmr(VMCS_EXIT_INSTR_LEN));
}
