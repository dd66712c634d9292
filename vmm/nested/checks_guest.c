/* VM-entry checks on vmcs12's guest-state area (SDM 26.3.1). A failure is
 * a VM-entry failure exit for L1, not a VMfail. */
#include "vmm/nested/checks.h"
#include "vmm/nested/checks_util.h"
#include "vmm/nested/vmx_msrs.h"
#include "arch/x86/cpu_bits.h"
#include "arch/x86/exit_reasons.h"
#include "arch/x86/vmx_bits.h"

struct guest_view {
    const struct vmcs12 *c;
    bool ia32e;        /* "IA-32e mode guest" */
    bool unrestricted; /* "unrestricted guest" in effect */
    bool v86;          /* RFLAGS.VM: the guest will be virtual-8086 */
};

/* Segment i (0 = ES .. 7 = TR) of vmcs12: fields at stride 1 in the dense
 * index from ES in each group (the order of arch/x86/vmcs_fields.h). */
struct seg {
    uint16_t sel;
    uint64_t base;
    uint32_t limit, ar;
};

enum { SEG_ES, SEG_CS, SEG_SS, SEG_DS, SEG_FS, SEG_GS, SEG_LDTR, SEG_TR };

static struct seg seg_of(const struct vmcs12 *c, unsigned i)
{
    return (struct seg){
        .sel = (uint16_t)c->field[VMCS_IDX_GUEST_ES_SELECTOR + i],
        .base = c->field[VMCS_IDX_GUEST_ES_BASE + i],
        .limit = (uint32_t)c->field[VMCS_IDX_GUEST_ES_LIMIT + i],
        .ar = (uint32_t)c->field[VMCS_IDX_GUEST_ES_AR_BYTES + i],
    };
}

static unsigned dpl(uint32_t ar) { return (ar & AR_DPL_MASK) >> AR_DPL_SHIFT; }
static unsigned type_of(uint32_t ar) { return ar & AR_TYPE_MASK; }

/* Limit and granularity agree (SDM 26.3.1.2): G=0 if any of limit bits
 * 11:0 is 0; G=1 if any of bits 31:20 is 1. */
static bool limit_g_ok(struct seg s)
{
    if ((s.limit & SEG_LIMIT_G_LOW) != SEG_LIMIT_G_LOW && (s.ar & AR_G))
        return false;
    if ((s.limit & SEG_LIMIT_G_HIGH) && !(s.ar & AR_G))
        return false;
    return true;
}

static bool ar_reserved_ok(uint32_t ar) { return !(ar & (AR_RESERVED_LOW | AR_RESERVED_HIGH)); }

static bool check_control_registers(const struct guest_view *g)
{
    const struct vmcs12 *c = g->c;
    const struct vmx_msrs *caps = &nested_vmx_caps()->raw;
    uint64_t cr0 = VMCS12(c, GUEST_CR0), cr4 = VMCS12(c, GUEST_CR4);
    uint64_t fixed0 = caps->cr0_fixed0;
    if (g->unrestricted)
        fixed0 &= ~(CR0_PE | CR0_PG); /* SDM 26.3.1.1 */
    CHECK((cr0 & fixed0) == fixed0 && !(cr0 & ~caps->cr0_fixed1), "guest CR0 fixed bits");
    CHECK(!(cr0 & CR0_PG) || (cr0 & CR0_PE), "guest CR0.PG needs CR0.PE");
    CHECK((cr4 & caps->cr4_fixed0) == caps->cr4_fixed0 && !(cr4 & ~caps->cr4_fixed1),
          "guest CR4 fixed bits");
    if (g->ia32e) {
        CHECK(cr0 & CR0_PG, "IA-32e guest has CR0.PG");
        CHECK(cr4 & CR4_PAE, "IA-32e guest has CR4.PAE");
    } else {
        CHECK(!(cr4 & CR4_PCIDE), "guest outside IA-32e mode has CR4.PCIDE 0");
    }
    if (VMCS12(c, VM_ENTRY_CONTROLS) & ENTRY_LOAD_EFER) {
        uint64_t efer = VMCS12(c, GUEST_IA32_EFER);
        CHECK(!!(efer & EFER_LMA) == g->ia32e, "guest EFER.LMA = IA-32e mode guest");
        CHECK(!(cr0 & CR0_PG) || !!(efer & EFER_LME) == !!(efer & EFER_LMA),
              "guest EFER.LME = LMA with paging");
    }
    return true;
}

/* Guest MSR-backed and debug state: fields outside the shadow set. */
static bool check_static_registers(const struct guest_view *g)
{
    const struct vmcs12 *c = g->c;
    if (VMCS12(c, VM_ENTRY_CONTROLS) & ENTRY_LOAD_DEBUG_CONTROLS) {
        CHECK(!(VMCS12(c, GUEST_IA32_DEBUGCTL) & DEBUGCTL_RESERVED), "guest DEBUGCTL reserved bits 0");
        CHECK(!(VMCS12(c, GUEST_DR7) & DR7_RESERVED_HIGH), "guest DR7 bits 63:32 are 0");
    }
    CHECK(canonical(VMCS12(c, GUEST_SYSENTER_ESP)) && canonical(VMCS12(c, GUEST_SYSENTER_EIP)),
          "guest SYSENTER_ESP/EIP canonical");
    if (VMCS12(c, VM_ENTRY_CONTROLS) & ENTRY_LOAD_PAT)
        CHECK(pat_valid(VMCS12(c, GUEST_IA32_PAT)), "guest PAT valid");
    if (VMCS12(c, VM_ENTRY_CONTROLS) & ENTRY_LOAD_EFER)
        CHECK(!(VMCS12(c, GUEST_IA32_EFER) & EFER_RESERVED), "guest EFER reserved bits 0");
    return true;
}

static bool check_code_segment(const struct guest_view *g, struct seg cs, struct seg ss)
{
    unsigned t = type_of(cs.ar);
    if (g->unrestricted)
        CHECK(t == SEG_TYPE_DATA_RW_A || t == 9 || t == SEG_TYPE_CODE_RX_A || t == 13 || t == 15,
              "guest CS type 3, 9, 11, 13 or 15");
    else
        CHECK(t == 9 || t == SEG_TYPE_CODE_RX_A || t == 13 || t == 15, "guest CS type 9, 11, 13 or 15");
    CHECK(cs.ar & AR_S, "guest CS is a code/data segment");
    if (t == SEG_TYPE_DATA_RW_A)
        CHECK(dpl(cs.ar) == 0, "guest CS type 3 has DPL 0");
    else if (t == 9 || t == SEG_TYPE_CODE_RX_A)
        CHECK(dpl(cs.ar) == dpl(ss.ar), "guest non-conforming CS DPL = SS DPL");
    else
        CHECK(dpl(cs.ar) <= dpl(ss.ar), "guest conforming CS DPL <= SS DPL");
    CHECK(cs.ar & AR_P, "guest CS present");
    CHECK(ar_reserved_ok(cs.ar), "guest CS access-rights reserved bits 0");
    CHECK(!(g->ia32e && (cs.ar & AR_L) && (cs.ar & AR_DB)), "guest 64-bit CS has D/B 0");
    CHECK(limit_g_ok(cs), "guest CS limit agrees with G");
    CHECK(!(cs.base >> 32), "guest CS base bits 63:32 are 0");
    return true;
}

static bool check_data_segment(const struct guest_view *g, struct seg s, unsigned i)
{
    /* FS and GS bases are loaded even when the segment is unusable, and
     * must be canonical either way (SDM 26.3.1.2, base-address fields). */
    if (i == SEG_FS || i == SEG_GS)
        CHECK(canonical(s.base), "guest FS/GS base canonical");
    if (s.ar & AR_UNUSABLE)
        return true;
    unsigned t = type_of(s.ar);
    if (i == SEG_SS) {
        CHECK(t == SEG_TYPE_DATA_RW_A || t == 7, "guest SS type 3 or 7");
    } else {
        CHECK(t & SEG_TYPE_ACCESSED, "guest data segments accessed");
        CHECK(!(t & SEG_TYPE_CODE) || (t & SEG_TYPE_READABLE), "guest code in a data register is readable");
        if (!g->unrestricted && t <= SEG_TYPE_CODE_RX_A)
            CHECK(dpl(s.ar) >= (s.sel & 3), "guest data segment DPL >= RPL");
    }
    CHECK(s.ar & AR_S, "guest data segment is a code/data segment");
    CHECK(s.ar & AR_P, "guest usable data segment present");
    CHECK(ar_reserved_ok(s.ar), "guest data segment access-rights reserved bits 0");
    CHECK(limit_g_ok(s), "guest data segment limit agrees with G");
    if (i != SEG_FS && i != SEG_GS)
        CHECK(!(s.base >> 32), "guest ES/SS/DS base bits 63:32 are 0");
    return true;
}

/* A virtual-8086 guest's CS, SS, DS, ES, FS and GS: base = selector * 16,
 * limit 0xffff, access rights 0xf3 (SDM 26.3.1.2); the other segment checks
 * do not apply to them. */
#define V86_SEG_LIMIT 0xffffU
#define V86_SEG_AR    (AR_P | AR_DPL_MASK | AR_S | SEG_TYPE_DATA_RW_A) /* 0xf3 */

static bool check_v86_segment(struct seg s)
{
    CHECK(s.base == (uint64_t)s.sel << 4, "virtual-8086 segment base = selector * 16");
    CHECK(s.limit == V86_SEG_LIMIT, "virtual-8086 segment limit 0xffff");
    CHECK(s.ar == V86_SEG_AR, "virtual-8086 segment access rights 0xf3");
    return true;
}

/* CS and SS: their access rights and CS's base are in the shadow set. */
static bool check_cs_ss(const struct guest_view *g)
{
    struct seg cs = seg_of(g->c, SEG_CS), ss = seg_of(g->c, SEG_SS);
    if (g->v86)
        return check_v86_segment(cs) && check_v86_segment(ss);
    if (!g->unrestricted)
        CHECK((ss.sel & 3) == (cs.sel & 3), "guest SS RPL = CS RPL");
    if (!check_code_segment(g, cs, ss))
        return false;
    /* SS.DPL is the CPL: checked whether or not SS is usable (SDM 26.3.1.2). */
    if (!g->unrestricted)
        CHECK(dpl(ss.ar) == (ss.sel & 3), "guest SS DPL = RPL");
    CHECK(dpl(ss.ar) == 0 || (type_of(cs.ar) != SEG_TYPE_DATA_RW_A && (VMCS12(g->c, GUEST_CR0) & CR0_PE)),
          "guest SS DPL 0 with a data CS or CR0.PE 0");
    return check_data_segment(g, ss, SEG_SS);
}

static bool check_static_segments(const struct guest_view *g)
{
    const struct vmcs12 *c = g->c;
    struct seg tr = seg_of(c, SEG_TR), ldtr = seg_of(c, SEG_LDTR);
    CHECK(!(tr.sel & 4), "guest TR selector TI 0");
    static const unsigned data[] = {SEG_ES, SEG_DS, SEG_FS, SEG_GS};
    for (unsigned i = 0; i < sizeof(data) / sizeof(data[0]); i++) {
        struct seg s = seg_of(c, data[i]);
        if (!(g->v86 ? check_v86_segment(s) : check_data_segment(g, s, data[i])))
            return false;
    }
    /* TR (SDM 26.3.1.2). */
    unsigned t = type_of(tr.ar);
    CHECK(t == SEG_TYPE_TSS_BUSY_32 || (!g->ia32e && t == SEG_TYPE_TSS_BUSY_16), "guest TR type busy TSS");
    CHECK(!(tr.ar & AR_S), "guest TR is a system segment");
    CHECK(tr.ar & AR_P, "guest TR present");
    CHECK(!(tr.ar & AR_UNUSABLE), "guest TR usable");
    CHECK(ar_reserved_ok(tr.ar), "guest TR access-rights reserved bits 0");
    CHECK(limit_g_ok(tr), "guest TR limit agrees with G");
    CHECK(canonical(tr.base), "guest TR base canonical");
    if (!(ldtr.ar & AR_UNUSABLE)) {
        CHECK(!(ldtr.sel & 4), "guest LDTR selector TI 0");
        CHECK(type_of(ldtr.ar) == SEG_TYPE_LDT, "guest LDTR type 2");
        CHECK(!(ldtr.ar & AR_S), "guest LDTR is a system segment");
        CHECK(ldtr.ar & AR_P, "guest LDTR present");
        CHECK(ar_reserved_ok(ldtr.ar), "guest LDTR access-rights reserved bits 0");
        CHECK(limit_g_ok(ldtr), "guest LDTR limit agrees with G");
        CHECK(canonical(ldtr.base), "guest LDTR base canonical");
    }
    /* SDM 26.3.1.3: descriptor-table registers. */
    CHECK(canonical(VMCS12(c, GUEST_GDTR_BASE)) && canonical(VMCS12(c, GUEST_IDTR_BASE)),
          "guest GDTR/IDTR base canonical");
    CHECK(VMCS12(c, GUEST_GDTR_LIMIT) <= 0xffff && VMCS12(c, GUEST_IDTR_LIMIT) <= 0xffff,
          "guest GDTR/IDTR limit bits 31:16 are 0");
    return true;
}

/* SDM 26.3.1.4 (RIP, RFLAGS) and 26.3.1.5 (non-register state). */
static bool check_rip_rflags_events(const struct guest_view *g)
{
    const struct vmcs12 *c = g->c;
    uint64_t rip = VMCS12(c, GUEST_RIP), rflags = VMCS12(c, GUEST_RFLAGS);
    uint32_t cs_ar = (uint32_t)VMCS12(c, GUEST_CS_AR_BYTES);
    if (g->ia32e && (cs_ar & AR_L))
        CHECK(canonical(rip), "guest RIP canonical in 64-bit mode");
    else
        CHECK(!(rip >> 32), "guest RIP bits 63:32 are 0 outside 64-bit mode");
    CHECK(!(rflags & RFLAGS_RESERVED) && (rflags & RFLAGS_FIXED1), "guest RFLAGS reserved bits");
    if (g->ia32e || !(VMCS12(c, GUEST_CR0) & CR0_PE))
        CHECK(!(rflags & RFLAGS_VM), "guest RFLAGS.VM 0 in IA-32e or real mode");
    uint32_t intr = (uint32_t)VMCS12(c, VM_ENTRY_INTR_INFO_FIELD);
    bool injecting = intr & INTR_INFO_VALID;
    unsigned itype = intr & INTR_INFO_TYPE_MASK;
    if (injecting && itype == INTR_TYPE_EXT_INTR)
        CHECK(rflags & RFLAGS_IF, "injecting an interrupt needs RFLAGS.IF");

    uint32_t activity = (uint32_t)VMCS12(c, GUEST_ACTIVITY_STATE);
    uint32_t blocking = (uint32_t)VMCS12(c, GUEST_INTERRUPTIBILITY_INFO);
    uint64_t misc = nested_vmx_caps()->raw.misc;
    CHECK(activity == ACTIVITY_ACTIVE || (activity == ACTIVITY_HLT && (misc & VMX_MISC_ACTIVITY_HLT)) ||
              (activity == ACTIVITY_WAIT_SIPI && (misc & VMX_MISC_ACTIVITY_SIPI)),
          "guest activity state offered");
    /* Wait-for-SIPI blocks every event (SDM 26.3.1.5). */
    if (activity == ACTIVITY_WAIT_SIPI)
        CHECK(!injecting, "no event injection into wait-for-SIPI");
    if (activity == ACTIVITY_HLT)
        CHECK(dpl((uint32_t)VMCS12(c, GUEST_SS_AR_BYTES)) == 0, "HLT activity needs SS.DPL 0");
    /* An event injected into a halted guest must be one HLT does not block:
     * external interrupt, NMI, #DB or #MC (SDM 26.3.1.5). */
    if (injecting && activity == ACTIVITY_HLT) {
        unsigned vector = intr & INTR_INFO_VECTOR_MASK;
        CHECK(itype == INTR_TYPE_EXT_INTR || itype == INTR_TYPE_NMI ||
                  (itype == INTR_TYPE_HW_EXCEPTION && (vector == VEC_DB || vector == VEC_MC)),
              "HLT activity allows only external interrupts, NMIs, #DB and #MC");
    }
    if (blocking & (INTERRUPTIBILITY_STI | INTERRUPTIBILITY_MOV_SS))
        CHECK(activity == ACTIVITY_ACTIVE, "interrupt blocking needs the active state");
    CHECK(!(blocking & INTERRUPTIBILITY_RESERVED), "guest interruptibility reserved bits 0");
    CHECK((blocking & (INTERRUPTIBILITY_STI | INTERRUPTIBILITY_MOV_SS)) !=
              (INTERRUPTIBILITY_STI | INTERRUPTIBILITY_MOV_SS),
          "not blocked by both STI and MOV SS");
    CHECK((rflags & RFLAGS_IF) || !(blocking & INTERRUPTIBILITY_STI), "STI blocking needs RFLAGS.IF");
    if (injecting && itype == INTR_TYPE_EXT_INTR)
        CHECK(!(blocking & (INTERRUPTIBILITY_STI | INTERRUPTIBILITY_MOV_SS)),
              "injecting an interrupt needs no STI/MOV SS blocking");
    if (injecting && itype == INTR_TYPE_NMI) {
        CHECK(!(blocking & INTERRUPTIBILITY_MOV_SS), "injecting an NMI needs no MOV SS blocking");
        if (VMCS12(c, PIN_BASED_VM_EXEC_CONTROL) & PIN_VIRTUAL_NMIS)
            CHECK(!(blocking & INTERRUPTIBILITY_NMI), "injecting a virtual NMI needs no NMI blocking");
    }
    CHECK(!(blocking & INTERRUPTIBILITY_SMI), "no SMI blocking outside SMM");
    /* Enclave interruption needs SGX, which L1 is not offered (SDM 26.3.1.5). */
    CHECK(!(blocking & INTERRUPTIBILITY_ENCLAVE), "no enclave interruption without SGX");

    uint64_t pending = VMCS12(c, GUEST_PENDING_DBG_EXCEPTIONS);
    CHECK(!(pending & PENDING_DBG_RESERVED), "guest pending debug exceptions reserved bits 0");
    if ((blocking & (INTERRUPTIBILITY_STI | INTERRUPTIBILITY_MOV_SS)) || activity == ACTIVITY_HLT) {
        bool single_step = (rflags & RFLAGS_TF) && !(VMCS12(c, GUEST_IA32_DEBUGCTL) & DEBUGCTL_BTF);
        CHECK(!!(pending & PENDING_DBG_BS) == single_step, "pending BS matches single-stepping");
    }
    return true;
}

/* VMCS link pointer (SDM 26.3.1.5), exit qualification 4. With "VMCS
 * shadowing" it names the shadow VMCS that L2's VMREAD/VMWRITE use
 * (shadow12.c), and bit 31 of its revision dword must say so. Checked at
 * every entry, not with the static checks: it reads L1 memory, which L1
 * changes without an exit. In L1's RAM, or the entry fails: a link pointer
 * elsewhere would have L2's VMREAD/VMWRITE read and write there. */
static bool check_link_pointer(const struct vmcs12 *c, const struct entry_context *ctx,
                               uint64_t *qualification)
{
    uint64_t link = VMCS12(c, VMCS_LINK_POINTER);
    if (link == VMCS_LINK_NONE)
        return true;
    uint32_t proc = (uint32_t)VMCS12(c, CPU_BASED_VM_EXEC_CONTROL);
    bool shadowing = (proc & PROC_SECONDARY_CONTROLS) &&
                     (VMCS12(c, SECONDARY_VM_EXEC_CONTROL) & PROC2_VMCS_SHADOWING);
    *qualification = ENTRY_FAIL_VMCS_LINK;
    CHECK(page_ok(ctx, link, VMCS12_SIZE), "VMCS link pointer valid");
    uint32_t rev = ctx->read32(link);
    CHECK((rev & ~VMCS_SHADOW_INDICATOR) == nested_vmx_caps()->revision_id,
          "VMCS link pointer names a VMCS of this revision");
    CHECK(!!(rev & VMCS_SHADOW_INDICATOR) == shadowing,
          "VMCS link pointer's shadow-VMCS indicator = VMCS shadowing");
    CHECK(link != ctx->current_vmcs, "VMCS link pointer is not the current VMCS");
    *qualification = ENTRY_FAIL_DEFAULT;
    return true;
}

bool nested_check_guest_state(const struct vmcs12 *c, const struct entry_context *ctx,
                              uint64_t *qualification)
{
    uint32_t proc = (uint32_t)VMCS12(c, CPU_BASED_VM_EXEC_CONTROL);
    struct guest_view g = {
        .c = c,
        .ia32e = VMCS12(c, VM_ENTRY_CONTROLS) & ENTRY_IA32E_MODE_GUEST,
        .unrestricted = (proc & PROC_SECONDARY_CONTROLS) &&
                        (VMCS12(c, SECONDARY_VM_EXEC_CONTROL) & PROC2_UNRESTRICTED_GUEST),
        .v86 = VMCS12(c, GUEST_RFLAGS) & RFLAGS_VM,
    };
    *qualification = ENTRY_FAIL_DEFAULT;
    if (!check_control_registers(&g) ||
        (!ctx->static_checked && !check_static_registers(&g)) || !check_cs_ss(&g) ||
        (!ctx->static_checked && !check_static_segments(&g)) || !check_rip_rflags_events(&g))
        return false;
    CHECK(!(VMCS12(c, GUEST_CR3) & ~ctx->phys_mask), "guest CR3 within the physical-address width");
    /* With EPT, PAE PDPTEs come from vmcs12 and are checked (SDM 26.3.1.6). */
    bool ept = (proc & PROC_SECONDARY_CONTROLS) && (VMCS12(c, SECONDARY_VM_EXEC_CONTROL) & PROC2_ENABLE_EPT);
    if (ept && (VMCS12(c, GUEST_CR0) & CR0_PG) && (VMCS12(c, GUEST_CR4) & CR4_PAE) && !g.ia32e) {
        *qualification = ENTRY_FAIL_PDPTE;
        for (unsigned i = 0; i < PAE_PDPTE_COUNT; i++) {
            uint64_t e = c->field[VMCS_IDX_GUEST_PDPTE0 + i];
            CHECK(!(e & 1) || !(e & (PDPTE_RESERVED | ~ctx->phys_mask)), "guest PDPTEs valid");
        }
        *qualification = ENTRY_FAIL_DEFAULT;
    }
    return check_link_pointer(c, ctx, qualification);
}

enum entry_check_result nested_check_vmcs12(const struct vmcs12 *c, const struct entry_context *ctx,
                                            uint64_t *qualification)
{
    failed_check_reset();
    if (!nested_check_controls(c, ctx))
        return ENTRY_FAIL_CONTROLS;
    if (!ctx->static_checked && !nested_check_host_state(c, ctx))
        return ENTRY_FAIL_HOST;
    if (!nested_check_guest_state(c, ctx, qualification))
        return ENTRY_FAIL_GUEST;
    return ENTRY_OK;
}
