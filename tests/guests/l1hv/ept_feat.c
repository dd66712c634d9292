/* The EPT features a hypervisor builds dirty logging, view switching and
 * in-guest fault handling on, as L1 uses them (SDM Vol. 3C):
 *   ept_pml     page-modification logging (29.3.6): the log of the pages
 *               whose EPT dirty flag went 0 -> 1, the index, the log-full
 *               exit (reason 62);
 *   ept_vmfunc  VMFUNC EPTP switching (26.5.6): L2 changes EPT12 without
 *               an exit; what fails exits with reason 59; EAX > 63 #UD;
 *   ept_ve      EPT-violation #VE (26.5.7): convertible violations reach
 *               L2's own handler (vector 20) with the information area
 *               filled; busy area, suppress #VE, event delivery and the
 *               exception bitmap make them exits.
 * Each case is skipped when its feature is not offered. Under nestvisor,
 * where L0 emulates all three, the log, list and area are also put in
 * nestvisor's memory: they must behave as the sink there. */
#include "l1hv.h"

static struct vcpu *const V = &vcpus[0];

#define WIN           0x40000000UL  /* L2-physical window where L1 has no RAM */
#define WIN_PAGE(n)   (WIN + (uint64_t)(n) * PAGE_SIZE)
#define NPAGES        8
#define OFF           0x3a8 /* the accesses' offset in their page */
#define SEED_A        0xa11ce00000000000ULL
#define SEED_B        0xb0b0000000000000ULL
#define EPTP_INDEX_L1 5     /* what L1 leaves in the EPTP index */
#define STACK_OFF     0x800 /* an L2 stack pointer inside a page */
#define POOL_MSG      "EPT12 table pool exhausted"

static volatile uint64_t pages[NPAGES][PAGE_SIZE / 8] __attribute__((aligned(PAGE_SIZE)));
static volatile uint64_t pml_log[PML_ENTRIES] __attribute__((aligned(PAGE_SIZE)));
static volatile uint64_t eptp_list[EPTP_LIST_ENTRIES] __attribute__((aligned(PAGE_SIZE)));
static volatile uint8_t ve_area[PAGE_SIZE] __attribute__((aligned(PAGE_SIZE)));

static uint64_t page_pa(unsigned i) { return (uintptr_t)pages[i]; }

/* EPT12 with A/D: identity, every entry accessed and every leaf dirty, so
 * that only entries a case makes fresh take flags (and log). */
static void preset_ad(uint64_t *table, int level)
{
    for (unsigned i = 0; i < EPT_ENTRIES; i++) {
        uint64_t *en = &table[i];
        if (!(*en & EPT_RWX))
            continue;
        if (level == EPT_LEVEL_PT || (*en & EPT_LARGE_PAGE)) {
            *en |= EPT_ACCESSED | EPT_DIRTY;
        } else {
            *en |= EPT_ACCESSED;
            preset_ad((uint64_t *)(uintptr_t)(*en & EPT_ADDR_MASK), level - 1);
        }
    }
}

static bool ept_start(struct ept *e, uint64_t eptp_extra)
{
    if (!ept_offered())
        return false;
    ept_pool_reset();
    return expect(ept_init(e, eptp_extra) && ept_identity(e), "%s for the identity map", POOL_MSG);
}

static uint32_t ve32(unsigned off) { return *(volatile uint32_t *)(ve_area + off); }
static uint64_t ve64(unsigned off) { return *(volatile uint64_t *)(ve_area + off); }
static uint16_t ve16(unsigned off) { return *(volatile uint16_t *)(ve_area + off); }

static bool l2_exception(const struct vcpu *v, unsigned vector)
{
    return v->regs.r15 == L2_EXC_MARK && v->regs.r14 == vector;
}

/* ================= ept_pml ================= */

#define PML_FIRST_PAGES 4 /* written in order by the first l2_touch */
#define PML_READ_PAGE   4
#define PML_FULL_FIRST  5 /* 5 and 6 fill the last two slots, 7 finds the log full */

static unsigned pml_index(void) { return (unsigned)vmr(VMCS_GUEST_PML_INDEX); }

/* A log entry is the 4 KiB-aligned address (29.3.6: bits 11:0 are 0).
 * Bochs 2.7 writes the whole guest-physical address of the access: only
 * its page is compared, except with `strict`. */
static bool pml_entry_is(uint64_t got, uint64_t page)
{
    return opt_strict ? got == page : (got & ~(uint64_t)(PAGE_SIZE - 1)) == page;
}

static bool pml_touch(uint64_t first, uint64_t count, const char *what)
{
    l2_restart(V, l2_touch);
    V->regs.rbx = first;
    V->regs.rcx = count;
    return run_expect(V, EXIT_VMCALL, what);
}

/* Under nestvisor: the log in nestvisor's memory (the canary page). The
 * CPU writes where the address points; for L1 that is the sink, so the
 * entry is read back through the canary's address, and the canary stays
 * intact. */
static void pml_log_in_l0_memory(struct ept *e, uint64_t *leaf0)
{
    const struct l0_view *l0 = l0_view();
    if (!l0)
        return;
    struct witness w;
    witness_begin(&w);
    vmw(VMCS_PML_ADDRESS, l0->canary);
    vmw(VMCS_GUEST_PML_INDEX, PML_ENTRIES - 1);
    *leaf0 &= ~EPT_DIRTY;
    if (!expect_vmok(ept_invalidate(e->eptp), "INVEPT after clearing a dirty flag") ||
        !pml_touch(WIN_PAGE(0), 1, "L2's write logged into nestvisor's memory"))
        return;
    l1hv_sink_written = true;
    uint64_t got = sink_read((PML_ENTRIES - 1) * 8);
    EXPECT(got == WIN_PAGE(0), "the log entry in nestvisor's memory (the sink) reads %#lx, want %#lx", got,
           WIN_PAGE(0));
    EXPECT(pml_index() == PML_ENTRIES - 2, "PML index %u after logging into nestvisor's memory", pml_index());
    witness_end(&w, "ept_pml");
}

void case_ept_pml(void)
{
    if (!cap_proc2(PROC2_PML) || !(caps.ept_vpid & EPT_CAP_AD)) {
        case_skip("PML with EPT accessed and dirty flags not offered");
        return;
    }
    struct ept e;
    TRY(ept_start(&e, EPTP_AD_ENABLE));
    uint64_t *leaf[NPAGES];
    for (unsigned i = 0; i < NPAGES; i++)
        TRY(expect((leaf[i] = ept_map(&e, WIN_PAGE(i), page_pa(i), PAGE_SIZE, EPT_RWX)) != NULL, POOL_MSG));
    uint64_t *pml4_leaf = ept_map(&e, l2_cr3, l2_cr3, PAGE_SIZE, EPT_RWX);
    TRY(expect(pml4_leaf != NULL, POOL_MSG));
    preset_ad(e.pml4, EPT_LEVEL_PML4);
    for (unsigned i = 0; i < NPAGES; i++)
        *leaf[i] &= ~(EPT_ACCESSED | EPT_DIRTY);
    *pml4_leaf &= ~(EPT_ACCESSED | EPT_DIRTY);
    memset((void *)pml_log, 0, sizeof pml_log);
    TRY(ept_vcpu_setup(V, l2_read, &e));
    vmcs_enable_proc2(PROC2_PML);
    vmw(VMCS_PML_ADDRESS, (uintptr_t)pml_log);
    vmw(VMCS_GUEST_PML_INDEX, PML_ENTRIES - 1);

    /* A read sets the accessed flag only. L2's first page walk reads its
     * PML4 page: with EPT A/D that counts as a write (29.3.5), so that
     * page is the first one logged. */
    V->regs.rbx = WIN_PAGE(PML_READ_PAGE) + OFF;
    TRY(run_expect(V, EXIT_VMCALL, "L2's read"));
    EXPECT((*leaf[PML_READ_PAGE] & (EPT_ACCESSED | EPT_DIRTY)) == EPT_ACCESSED,
           "after a read the leaf is %#lx: want accessed, not dirty", *leaf[PML_READ_PAGE]);
    EXPECT(pml_log[PML_ENTRIES - 1] == l2_cr3, "log entry 511 is %#lx, want L2's PML4 page %#lx (its walk)",
           pml_log[PML_ENTRIES - 1], l2_cr3);
    unsigned next = PML_ENTRIES - 2;
    EXPECT(pml_index() == next, "PML index %u after the page walk, want %u", pml_index(), next);

    /* Writes to clean pages: logged in order, 4 KiB aligned, the index
     * going down; written again: nothing more. */
    TRY(pml_touch(WIN_PAGE(0), PML_FIRST_PAGES, "L2 writes pages 0-3"));
    for (unsigned i = 0; i < PML_FIRST_PAGES; i++)
        EXPECT(pml_log[next - i] == WIN_PAGE(i), "log entry %u is %#lx, want page %u at %#lx", next - i,
               pml_log[next - i], i, WIN_PAGE(i));
    next -= PML_FIRST_PAGES;
    EXPECT(pml_index() == next, "PML index %u after 4 writes, want %u", pml_index(), next);
    EXPECT(pml_log[next] == 0, "log entry %u is %#lx, the read page was not written", next, pml_log[next]);
    TRY(pml_touch(WIN_PAGE(0), 2, "L2 writes pages 0-1 again"));
    EXPECT(pml_index() == next, "PML index %u: pages already dirty were logged again", pml_index());
    /* The page that was only read: its first write logs it. */
    l2_restart(V, l2_write);
    V->regs.rbx = WIN_PAGE(PML_READ_PAGE) + OFF;
    TRY(run_expect(V, EXIT_VMCALL, "L2 writes the page it read"));
    EXPECT(pml_entry_is(pml_log[next], WIN_PAGE(PML_READ_PAGE)) && pml_index() == next - 1,
           "log entry %u is %#lx (index %u), want %#lx", next, pml_log[next], pml_index(),
           WIN_PAGE(PML_READ_PAGE));

    /* Index 1: pages 5 and 6 fill slots 1 and 0, the index wraps to FFFFH,
     * and page 7's write is a log-full exit: qualification 0, nothing set,
     * L2 at the store with RBX on page 7 (29.3.6). */
    vmw(VMCS_GUEST_PML_INDEX, 1);
    l2_restart(V, l2_touch);
    V->regs.rbx = WIN_PAGE(PML_FULL_FIRST);
    V->regs.rcx = 3;
    TRY(run_expect(V, EXIT_PML_FULL, "L2's third write with two log slots left"));
    EXPECT(pml_log[1] == WIN_PAGE(PML_FULL_FIRST) && pml_log[0] == WIN_PAGE(PML_FULL_FIRST + 1),
           "log entries 1 and 0 are %#lx and %#lx", pml_log[1], pml_log[0]);
    EXPECT(pml_index() == PML_INDEX_FULL, "PML index %#x after logging at 0, want FFFFH", pml_index());
    uint64_t q = vmr(VMCS_EXIT_QUALIFICATION), rip = vmr(VMCS_GUEST_RIP);
    EXPECT(q == 0, "log-full exit qualification %#lx, want 0", q);
    EXPECT(rip == (uintptr_t)l2_touch_store && V->regs.rbx == WIN_PAGE(PML_FULL_FIRST + 2),
           "log-full exit at RIP %#lx RBX %#lx, want the store %#lx on page 7", rip, V->regs.rbx,
           (uintptr_t)l2_touch_store);
    EXPECT(!(*leaf[PML_FULL_FIRST + 2] & (EPT_ACCESSED | EPT_DIRTY)), "page 7's leaf is %#lx after the log-full exit",
           *leaf[PML_FULL_FIRST + 2]);

    /* SDM: only an access that has a flag to set finds the log full; a
     * read of page 0 (accessed and dirty) goes on. Bochs 2.7 checks the
     * index on every EPT walk: the exit comes at L2's first fetch. */
    if (opt_strict) {
        struct guest_regs saved = V->regs;
        l2_restart(V, l2_read);
        V->regs.rbx = WIN_PAGE(0) + OFF;
        EXPECT(run_expect(V, EXIT_VMCALL, "L2's read of a dirty page with the log full"),
               "an access with no flag to set made a log-full exit");
        V->regs = saved;
        vmw(VMCS_GUEST_RIP, (uintptr_t)l2_touch_store);
    }

    /* L1 empties its log: the store is done and logged at 511. */
    vmw(VMCS_GUEST_PML_INDEX, PML_ENTRIES - 1);
    TRY(run_expect(V, EXIT_VMCALL, "L2's write once the log has room"));
    EXPECT(pml_log[PML_ENTRIES - 1] == WIN_PAGE(PML_FULL_FIRST + 2) && pml_index() == PML_ENTRIES - 2,
           "after the log-full exit: entry 511 %#lx, index %u", pml_log[PML_ENTRIES - 1], pml_index());
    EXPECT((*leaf[PML_FULL_FIRST + 2] & (EPT_ACCESSED | EPT_DIRTY)) == (EPT_ACCESSED | EPT_DIRTY),
           "page 7's leaf %#lx", *leaf[PML_FULL_FIRST + 2]);
    pml_log_in_l0_memory(&e, leaf[0]);
}

/* ================= ept_vmfunc ================= */

#define LIST_A          0 /* the list: EPT A, EPT B, two invalid EPTPs */
#define LIST_B          1
#define LIST_BAD_BIT8   2
#define LIST_BAD_TYPE   3
#define VMFUNC_LEN      3

static bool vmfunc_run(uint32_t eax, uint32_t ecx, uint64_t gpa)
{
    l2_restart(V, l2_vmfunc_read);
    V->regs.rsi = eax;
    V->regs.rdi = ecx;
    V->regs.rbx = gpa;
    V->regs.r15 = 0;
    return true;
}

/* A VMFUNC that must exit: reason 59, length 3, L2 at it, EPT pointer
 * unchanged. */
static void vmfunc_expect_exit(uint32_t eax, uint32_t ecx, uint64_t eptp, const char *what)
{
    vmfunc_run(eax, ecx, WIN_PAGE(0) + OFF);
    if (!run_expect(V, EXIT_VMFUNC, what))
        return;
    uint64_t rip = vmr(VMCS_GUEST_RIP), len = vmr(VMCS_EXIT_INSTR_LEN), now = vmr(VMCS_EPT_POINTER);
    EXPECT(rip == (uintptr_t)l2_vmfunc_read_insn && len == VMFUNC_LEN,
           "%s: exit at RIP %#lx length %lu, want %#lx length 3", what, rip, len, (uintptr_t)l2_vmfunc_read_insn);
    EXPECT(now == eptp, "%s: EPT pointer %#lx, want %#lx unchanged", what, now, eptp);
}

void case_ept_vmfunc(void)
{
    if (!cap_proc2(PROC2_VMFUNC) || !(caps.vmfunc & VMFUNC_EPTP_SWITCHING)) {
        case_skip("VM functions with EPTP switching not offered");
        return;
    }
    struct ept a, b;
    TRY(ept_start(&a, 0));
    TRY(expect(ept_init(&b, 0) && ept_identity(&b), POOL_MSG));
    TRY(expect(ept_map(&a, WIN_PAGE(0), page_pa(0), PAGE_SIZE, EPT_RWX) &&
                   ept_map(&b, WIN_PAGE(0), page_pa(1), PAGE_SIZE, EPT_RWX),
               POOL_MSG));
    pages[0][OFF / 8] = SEED_A;
    pages[1][OFF / 8] = SEED_B;
    memset((void *)eptp_list, 0, sizeof eptp_list);
    eptp_list[LIST_A] = a.eptp;
    eptp_list[LIST_B] = b.eptp;
    eptp_list[LIST_BAD_BIT8] = a.eptp | EPTP_RESERVED_11_8;
    eptp_list[LIST_BAD_TYPE] = (a.eptp & ~7ULL) | EPTP_MEMTYPE_INVALID;
    bool ve = cap_proc2(PROC2_EPT_VIOLATION_VE); /* then VMFUNC sets the EPTP index */
    TRY(ept_vcpu_setup(V, l2_vmfunc_switch, &a));
    TRY(expect_vmok(ept_invalidate(b.eptp), "INVEPT of EPT B"));
    vmcs_enable_proc2(PROC2_VMFUNC);
    vmw(VMCS_VMFUNC_CONTROLS, VMFUNC_EPTP_SWITCHING);
    vmw(VMCS_EPTP_LIST_ADDRESS, (uintptr_t)eptp_list);
    if (ve)
        vmw(VMCS_EPTP_INDEX, EPTP_INDEX_L1);

    /* A, B, A, B without an exit; the last VMFUNC names an invalid entry
     * and exits, with B in use. */
    V->regs.rbx = WIN_PAGE(0) + OFF;
    V->regs.r12 = LIST_BAD_BIT8;
    TRY(run_expect(V, EXIT_VMFUNC, "L2's four VMFUNCs, the last one invalid"));
    EXPECT(V->regs.r8 == SEED_A && V->regs.r9 == SEED_B && V->regs.r10 == SEED_A && V->regs.r11 == SEED_B,
           "L2 read %#lx %#lx %#lx %#lx across its EPTP switches, want A B A B (%#llx %#llx)", V->regs.r8,
           V->regs.r9, V->regs.r10, V->regs.r11, SEED_A, SEED_B);
    uint64_t rip = vmr(VMCS_GUEST_RIP), len = vmr(VMCS_EXIT_INSTR_LEN);
    EXPECT(rip == (uintptr_t)l2_vmfunc_switch_last && len == VMFUNC_LEN,
           "VMFUNC exit at RIP %#lx length %lu, want %#lx length 3", rip, len, (uintptr_t)l2_vmfunc_switch_last);
    EXPECT(vmr(VMCS_EPT_POINTER) == b.eptp, "EPT pointer %#lx after the switches, want B %#lx",
           vmr(VMCS_EPT_POINTER), b.eptp);
    if (ve)
        EXPECT(vmr(VMCS_EPTP_INDEX) == LIST_B, "EPTP index %lu after switching to entry 1", vmr(VMCS_EPTP_INDEX));
    vcpu_skip_instruction();
    TRY(run_expect(V, EXIT_VMCALL, "L2 past the failed VMFUNC"));

    /* What fails: ECX 512, invalid entries, a function not enabled. */
    vmfunc_expect_exit(0, EPTP_LIST_ENTRIES, b.eptp, "VMFUNC(0, 512)");
    vmfunc_expect_exit(0, LIST_BAD_TYPE, b.eptp, "VMFUNC(0, entry with memory type 2)");
    vmfunc_expect_exit(1, LIST_A, b.eptp, "VMFUNC(1): function 1 not enabled");
    /* EAX above 63: #UD, delivered to L2's own handler. */
    vmfunc_run(VMFUNC_FN_LIMIT, LIST_A, WIN_PAGE(0) + OFF);
    TRY(run_expect(V, EXIT_VMCALL, "VMFUNC(64)"));
    EXPECT(l2_exception(V, VEC_UD), "VMFUNC(64) did not #UD in L2 (R15 %#lx R14 %lu)", V->regs.r15, V->regs.r14);
    /* Back to A, no exit. */
    vmfunc_run(VMFUNC_FN_EPTP_SWITCHING, LIST_A, WIN_PAGE(0) + OFF);
    TRY(run_expect(V, EXIT_VMCALL, "VMFUNC(0, 0)"));
    EXPECT(V->regs.r8 == SEED_A && vmr(VMCS_EPT_POINTER) == a.eptp, "after VMFUNC(0, 0) L2 read %#lx, EPTP %#lx",
           V->regs.r8, vmr(VMCS_EPT_POINTER));
    /* EPTP switching off in the VM-function controls: exits. */
    vmw(VMCS_VMFUNC_CONTROLS, 0);
    vmfunc_expect_exit(0, LIST_B, a.eptp, "VMFUNC(0) with EPTP switching off");
    /* Under nestvisor, the list in its memory reads as the sink. */
    const struct l0_view *l0 = l0_view();
    if (l0) {
        vmw(VMCS_VMFUNC_CONTROLS, VMFUNC_EPTP_SWITCHING);
        vmw(VMCS_EPTP_LIST_ADDRESS, l0->canary);
        sink_write(LIST_B * 8, b.eptp);
        vmfunc_run(VMFUNC_FN_EPTP_SWITCHING, LIST_B, WIN_PAGE(0) + OFF);
        TRY(run_expect(V, EXIT_VMCALL, "VMFUNC(0, 1) with the list in nestvisor's memory (the sink)"));
        EXPECT(V->regs.r8 == SEED_B, "with the list in the sink L2 read %#lx, want B's %#llx", V->regs.r8, SEED_B);
        sink_write(LIST_B * 8, ~0ULL);
        vmfunc_expect_exit(0, LIST_B, b.eptp, "VMFUNC(0, 1) with all ones in the sink");
    }
    /* "Enable VM functions" off: VMFUNC is #UD. */
    vmcs_clear_bits(VMCS_PROC_CONTROLS2, PROC2_VMFUNC);
    vmfunc_run(VMFUNC_FN_EPTP_SWITCHING, LIST_A, WIN_PAGE(0) + OFF);
    TRY(run_expect(V, EXIT_VMCALL, "VMFUNC with VM functions off"));
    EXPECT(l2_exception(V, VEC_UD), "VMFUNC with VM functions off did not #UD (R15 %#lx R14 %lu)", V->regs.r15,
           V->regs.r14);
}

/* ================= ept_ve ================= */

#define VE_NOT_PRESENT 0 /* window pages: not present, suppress #VE clear */
#define VE_SUPPRESSED  1 /* not present, suppress #VE set */
#define VE_READ_ONLY   2 /* present, read-only */
#define VE_STACK       3 /* not present: the stack of an injected event */
#define VE_INTR_INFO   (INTR_INFO_VALID | (INTR_TYPE_HW_EXCEPTION << 8) | VEC_VE)
#define UD_INTR_INFO   (INTR_INFO_VALID | (INTR_TYPE_HW_EXCEPTION << 8) | VEC_UD)

static void ve_clear(void) { memset((void *)ve_area, 0, sizeof ve_area); }

/* L2 reads (or writes) gpa: a #VE reaches L2's handler, and the area says
 * what the exit would have (26.5.7.2), the EPTP index included: the
 * field's current value. Bochs 2.7 (and upstream Bochs) never loads the
 * field at VM entry and writes the index of the last VMFUNC instead: the
 * index L1 wrote is checked with `strict` only. */
static void ve_expect(void (*entry)(void), uint32_t access, uint64_t gpa, uint64_t perms, uint16_t index,
                      const char *what)
{
    l2_restart(V, entry);
    V->regs.rbx = gpa;
    V->regs.r15 = 0;
    if (!run_expect(V, EXIT_VMCALL, what))
        return;
    if (!expect(l2_exception(V, VEC_VE) && V->regs.r13 == 0, "%s: L2's handler got vector %lu (mark %#lx)", what,
                V->regs.r14, V->regs.r15))
        return;
    uint64_t want = ept_violation_qual(access, perms);
    EXPECT(ve32(VE_INFO_REASON) == EXIT_EPT_VIOLATION && ve32(VE_INFO_BUSY) == VE_INFO_BUSY_VALUE,
           "%s: area reason %u, busy %#x", what, ve32(VE_INFO_REASON), ve32(VE_INFO_BUSY));
    EXPECT(ve64(VE_INFO_QUALIFICATION) == want, "%s: area qualification %#lx, want %#lx", what,
           ve64(VE_INFO_QUALIFICATION), want);
    EXPECT(ve64(VE_INFO_LINEAR) == gpa && ve64(VE_INFO_PHYSICAL) == gpa, "%s: area addresses %#lx %#lx, want %#lx",
           what, ve64(VE_INFO_LINEAR), ve64(VE_INFO_PHYSICAL), gpa);
    EXPECT(!opt_strict || ve16(VE_INFO_EPTP_INDEX) == index, "%s: area EPTP index %u, want %u", what,
           ve16(VE_INFO_EPTP_INDEX), index);
}

/* The violation exits to L1 instead, and the area is left as it was. */
static void ve_expect_exit(uint64_t gpa, const char *what)
{
    uint8_t before[VE_INFO_EPTP_INDEX + 2];
    memcpy(before, (const void *)ve_area, sizeof before);
    l2_restart(V, l2_read);
    V->regs.rbx = gpa;
    if (!run_expect(V, EXIT_EPT_VIOLATION, what))
        return;
    EXPECT(!memcmp(before, (const void *)ve_area, sizeof before), "%s: the #VE area changed", what);
}

void case_ept_ve(void)
{
    if (!cap_proc2(PROC2_EPT_VIOLATION_VE)) {
        case_skip("EPT-violation #VE not offered");
        return;
    }
    struct ept e;
    TRY(ept_start(&e, 0));
    uint64_t *pte[4];
    for (unsigned i = 0; i < 4; i++)
        TRY(expect((pte[i] = ept_entry(&e, WIN_PAGE(i), EPT_LEVEL_PT)) != NULL, POOL_MSG));
    *pte[VE_NOT_PRESENT] = 0;
    *pte[VE_SUPPRESSED] = EPT_SUPPRESS_VE;
    *pte[VE_READ_ONLY] = page_pa(VE_READ_ONLY) | EPT_READ | (EPT_MEMTYPE_WB << EPT_MEMTYPE_SHIFT);
    *pte[VE_STACK] = 0;
    ve_clear();
    TRY(ept_vcpu_setup(V, l2_read, &e));
    vmcs_enable_proc2(PROC2_EPT_VIOLATION_VE);
    vmw(VMCS_VE_INFO_ADDRESS, (uintptr_t)ve_area);
    vmw(VMCS_EPTP_INDEX, EPTP_INDEX_L1);
    const uint64_t g0 = WIN_PAGE(VE_NOT_PRESENT) + OFF;

    ve_expect(l2_read, QUAL_EPT_READ, g0, 0, EPTP_INDEX_L1, "L2's read of a not-present page");
    /* The area is busy now: the same violation exits. */
    ve_expect_exit(g0, "a second violation with the area busy");
    ve_clear();
    ve_expect_exit(WIN_PAGE(VE_SUPPRESSED) + OFF, "a not-present entry with suppress #VE");
    ve_expect(l2_write, QUAL_EPT_WRITE, WIN_PAGE(VE_READ_ONLY) + OFF, EPT_READ, EPTP_INDEX_L1,
              "L2's write to a read-only page");

    /* Bit 20 in the exception bitmap: the #VE is an exit (reason 0). */
    ve_clear();
    vmw(VMCS_EXCEPTION_BITMAP, 1u << VEC_VE);
    l2_restart(V, l2_read);
    V->regs.rbx = g0;
    if (run_expect(V, EXIT_EXCEPTION_NMI, "a #VE with bit 20 in the exception bitmap")) {
        uint64_t info = vmr(VMCS_EXIT_INTR_INFO);
        EXPECT(info == VE_INTR_INFO, "exit interruption information %#lx, want %#x", info, VE_INTR_INFO);
        EXPECT(ve32(VE_INFO_BUSY) == VE_INFO_BUSY_VALUE && ve64(VE_INFO_PHYSICAL) == g0,
               "the area before the exception exit: busy %#x, address %#lx", ve32(VE_INFO_BUSY),
               ve64(VE_INFO_PHYSICAL));
    }
    vmw(VMCS_EXCEPTION_BITMAP, 0);

    /* During event delivery (L1 injects #UD, the push hits a not-present
     * stack page): an exit with the event in the IDT-vectoring field. */
    ve_clear();
    l2_restart(V, l2_vmcall);
    vmw(VMCS_GUEST_RSP, WIN_PAGE(VE_STACK) + STACK_OFF);
    vmw(VMCS_ENTRY_INTR_INFO, UD_INTR_INFO);
    if (run_expect(V, EXIT_EPT_VIOLATION, "a violation while delivering an injected #UD")) {
        uint64_t idt = vmr(VMCS_IDT_VECTORING_INFO);
        EXPECT((idt & ~(uint64_t)(1u << 12)) == UD_INTR_INFO, "IDT-vectoring information %#lx, want %#x", idt,
               UD_INTR_INFO);
        EXPECT(ve32(VE_INFO_BUSY) == 0, "the #VE area was used during event delivery (busy %#x)", ve32(VE_INFO_BUSY));
    }
    vmw(VMCS_ENTRY_INTR_INFO, 0);

    /* After an EPTP switch, the area names the new EPTP index. */
    if (cap_proc2(PROC2_VMFUNC) && (caps.vmfunc & VMFUNC_EPTP_SWITCHING)) {
        struct ept b;
        TRY(expect(ept_init(&b, 0) && ept_identity(&b), POOL_MSG));
        uint64_t *bpte = ept_entry(&b, WIN_PAGE(VE_NOT_PRESENT), EPT_LEVEL_PT);
        TRY(expect(bpte != NULL, POOL_MSG));
        *bpte = 0;
        TRY(expect_vmok(ept_invalidate(b.eptp), "INVEPT of EPT B"));
        memset((void *)eptp_list, 0, sizeof eptp_list);
        eptp_list[LIST_A] = e.eptp;
        eptp_list[LIST_B] = b.eptp;
        vmcs_enable_proc2(PROC2_VMFUNC);
        vmw(VMCS_VMFUNC_CONTROLS, VMFUNC_EPTP_SWITCHING);
        vmw(VMCS_EPTP_LIST_ADDRESS, (uintptr_t)eptp_list);
        ve_clear();
        vmfunc_run(VMFUNC_FN_EPTP_SWITCHING, LIST_B, g0);
        V->regs.r15 = 0;
        if (run_expect(V, EXIT_VMCALL, "VMFUNC(0, 1), then a read of a page B leaves out"))
            EXPECT(l2_exception(V, VEC_VE) && ve16(VE_INFO_EPTP_INDEX) == LIST_B && ve64(VE_INFO_PHYSICAL) == g0,
                   "after VMFUNC(0, 1): vector %lu, area EPTP index %u, address %#lx", V->regs.r14,
                   ve16(VE_INFO_EPTP_INDEX), ve64(VE_INFO_PHYSICAL));
    }
    /* Under nestvisor, the area in its memory reads as the sink: all ones
     * (busy) until L1 clears it there. */
    const struct l0_view *l0 = l0_view();
    if (l0) {
        vmcs_clear_bits(VMCS_PROC_CONTROLS2, PROC2_VMFUNC);
        vmw(VMCS_EPT_POINTER, e.eptp);
        vmw(VMCS_VE_INFO_ADDRESS, l0->canary);
        sink_write(VE_INFO_BUSY & ~7u, ~0ULL);
        ve_expect_exit(g0, "the #VE area in nestvisor's memory, busy");
        sink_write(VE_INFO_BUSY & ~7u, 0);
        l2_restart(V, l2_read);
        V->regs.rbx = g0;
        V->regs.r15 = 0;
        if (run_expect(V, EXIT_VMCALL, "the #VE area in nestvisor's memory, free"))
            EXPECT(l2_exception(V, VEC_VE) && sink_read(VE_INFO_PHYSICAL) == g0 &&
                       (uint32_t)(sink_read(VE_INFO_REASON) >> 32) == VE_INFO_BUSY_VALUE,
                   "with the area in the sink: vector %lu, address %#lx", V->regs.r14, sink_read(VE_INFO_PHYSICAL));
    }
}
