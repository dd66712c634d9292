#include "vmm/nested/msrlist.h"
#include "vmm/msr.h"
#include "vmm/vm.h"
#include "arch/x86/cpu.h"
#include "arch/x86/cpu_bits.h"
#include "arch/x86/msr_index.h"
#include "arch/x86/vmx.h"

#define CANONICAL_BITS 48

/* MSR-list entries (SDM 25.7.2): index, reserved, value. */
struct msr_list_entry {
    uint32_t index;
    uint32_t reserved;
    uint64_t value;
};

/* MSRs the VMCS switches itself: a list entry for them goes to the guest
 * field of the current VMCS (vmcs02 on entry, vmcs01 on exit), never to
 * the CPU under L0. */
static bool vmcs_msr_field(uint32_t msr, enum vmcs_field *f)
{
    switch (msr) {
    case MSR_IA32_EFER: *f = VMCS_GUEST_IA32_EFER; return true;
    case MSR_IA32_PAT: *f = VMCS_GUEST_IA32_PAT; return true;
    case MSR_IA32_DEBUGCTL: *f = VMCS_GUEST_IA32_DEBUGCTL; return true;
    case MSR_IA32_SYSENTER_CS: *f = VMCS_GUEST_SYSENTER_CS; return true;
    case MSR_IA32_SYSENTER_ESP: *f = VMCS_GUEST_SYSENTER_ESP; return true;
    case MSR_IA32_SYSENTER_EIP: *f = VMCS_GUEST_SYSENTER_EIP; return true;
    case MSR_IA32_FS_BASE: *f = VMCS_GUEST_FS_BASE; return true;
    case MSR_IA32_GS_BASE: *f = VMCS_GUEST_GS_BASE; return true;
    default: return false;
    }
}

static bool msr_list_index_allowed(uint32_t msr)
{
    /* SDM 26.4 / 28.6, the same for both lists: no FS/GS base (they come
     * from the segment fields), no x2APIC MSRs, no SMM monitor control. */
    if (msr >> 8 == MSR_X2APIC_FIRST >> 8)
        return false;
    if (msr == MSR_IA32_FS_BASE || msr == MSR_IA32_GS_BASE)
        return false;
    return msr != MSR_IA32_SMM_MONITOR_CTL;
}

static bool canonical(uint64_t a)
{
    int64_t s = (int64_t)(a << (64 - CANONICAL_BITS)) >> (64 - CANONICAL_BITS);
    return (uint64_t)s == a;
}

static uint64_t efer_supported(void)
{
    struct cpuid_regs r;
    cpuid_query(CPUID_LEAF_EXT_FEATURES_1, 0, &r);
    return EFER_SCE | EFER_LMA | ((r.edx & CPUID_80000001_EDX_LM) ? EFER_LME : 0) |
           ((r.edx & CPUID_80000001_EDX_NX) ? EFER_NXE : 0);
}

/* PAT entries 2, 3 and 8-255 are reserved memory types (SDM 13.12.2). */
static bool pat_valid(uint64_t pat)
{
    for (unsigned i = 0; i < 8; i++) {
        uint8_t t = (uint8_t)(pat >> (8 * i));
        if (t == 2 || t == 3 || t > 7)
            return false;
    }
    return true;
}

/* What WRMSR of a VMCS-switched MSR does to the guest the current VMCS
 * runs: false where it would #GP; *out is the value the MSR then holds. */
static bool vmcs_msr_wrmsr(uint32_t msr, uint64_t value, uint64_t *out)
{
    *out = value;
    switch (msr) {
    case MSR_IA32_EFER: {
        /* Reserved bits #GP, LME may not change while paging is on, and
         * LMA is read-only: WRMSR keeps the current one. */
        uint64_t cur = vmcs_read(VMCS_GUEST_IA32_EFER);
        if ((value & ~efer_supported()) ||
            ((vmcs_read(VMCS_GUEST_CR0) & CR0_PG) && ((value ^ cur) & EFER_LME)))
            return false;
        *out = (value & ~EFER_LMA) | (cur & EFER_LMA);
        return true;
    }
    case MSR_IA32_PAT:
        return pat_valid(value);
    case MSR_IA32_SYSENTER_ESP:
    case MSR_IA32_SYSENTER_EIP:
        return canonical(value);
    case MSR_IA32_DEBUGCTL:
        /* Which bits are reserved is model-specific: ask the CPU (L0 runs
         * with DEBUGCTL clear, as every VM exit leaves it, SDM 28.5.1). */
        if (!wrmsr_safe(MSR_IA32_DEBUGCTL, value))
            return false;
        wrmsr_safe(MSR_IA32_DEBUGCTL, 0);
        return true;
    default:
        return true;
    }
}

/* A pass-through MSR written by L0 for L1. Moving the TSC shifts the base
 * of the exit's cost measurement (vmx_entry.asm) with it. */
static bool cpu_msr_write(struct vcpu *v, uint32_t msr, uint64_t value)
{
    if (msr != MSR_IA32_TSC && msr != MSR_IA32_TSC_ADJUST)
        return wrmsr_safe(msr, value);
    uint64_t before = rdtsc();
    bool ok = wrmsr_safe(msr, value);
    v->regs.exit_tsc += rdtsc() - before;
    return ok;
}

uint32_t msr_list_load(struct vcpu *v, uint64_t addr, uint64_t count)
{
    for (uint64_t i = 0; i < count; i++) {
        const struct msr_list_entry *e = vm_l1_view(addr + i * sizeof(*e), sizeof(*e));
        if (!e || e->reserved || !msr_list_index_allowed(e->index))
            return (uint32_t)i + 1;
        enum vmcs_field f;
        uint64_t value;
        bool ok;
        if (vmcs_msr_field(e->index, &f)) {
            ok = vmcs_msr_wrmsr(e->index, e->value, &value);
            if (ok)
                vmcs_write(f, value);
        } else {
            ok = msr_is_passthrough(e->index) ? cpu_msr_write(v, e->index, e->value)
                                              : msr_emulate_write(&the_vm, e->index, e->value);
        }
        if (!ok)
            return (uint32_t)i + 1;
    }
    return 0;
}

uint32_t msr_list_store(uint64_t addr, uint64_t count)
{
    for (uint64_t i = 0; i < count; i++) {
        struct msr_list_entry *e = vm_l1_view(addr + i * sizeof(*e), sizeof(*e));
        if (!e || e->reserved || e->index >> 8 == MSR_X2APIC_FIRST >> 8)
            return (uint32_t)i + 1;
        uint64_t value = 0;
        enum vmcs_field f;
        bool ok;
        if (vmcs_msr_field(e->index, &f)) {
            value = vmcs_read(f);
            ok = true;
        } else {
            ok = msr_is_passthrough(e->index) ? rdmsr_safe(e->index, &value)
                                              : msr_emulate_read(&the_vm, e->index, &value);
        }
        if (!ok)
            return (uint32_t)i + 1;
        e->value = value;
    }
    return 0;
}
