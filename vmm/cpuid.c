#include "vmm/cpuid.h"
#include "vmm/vm.h"
#include "vmm/hypercall_abi.h"
#include "drivers/tsc.h"
#include "arch/x86/cpu_bits.h"
#include "arch/x86/vmx.h"
#include "arch/x86/msr_index.h"

#define CPUID_LEAF_PMU        0x0000000a
#define CPUID_LEAF_PT         0x00000014
#define CPUID_7_ECX_OSPKE     (1U << 4)

/* Features whose MSRs L1 would find missing are hidden: some emulators
 * (Bochs) announce thermal and power features without the MSRs, and
 * Linux then reads them on every tick without a #GP handler. */
enum cpuid_reg { REG_EAX = 1, REG_ECX, REG_EDX };

static const struct msr_backed_feature {
    uint32_t leaf;
    enum cpuid_reg reg;
    uint32_t bits;
    uint32_t msr;
} msr_backed[] = {
    {CPUID_LEAF_THERMAL, REG_ECX, 1U << 0, MSR_IA32_MPERF},                /* APERF/MPERF */
    {CPUID_LEAF_THERMAL, REG_ECX, 1U << 3, MSR_IA32_ENERGY_PERF_BIAS},     /* EPB */
    {CPUID_LEAF_THERMAL, REG_EAX, 1U << 0, MSR_IA32_THERM_STATUS},         /* DTS */
    {CPUID_LEAF_THERMAL, REG_EAX, 1U << 6, MSR_IA32_PACKAGE_THERM_STATUS}, /* PTM */
    {CPUID_LEAF_THERMAL, REG_EAX, 0x1fU << 7, MSR_IA32_PM_ENABLE},         /* HWP */
    {CPUID_LEAF_FEATURES, REG_ECX, 1U << 7, MSR_IA32_PERF_STATUS},         /* EST */
    {CPUID_LEAF_FEATURES, REG_EDX, 1U << 22, MSR_IA32_THERM_CONTROL},      /* ACPI (TM) */
    {CPUID_LEAF_EXT_FEATURES, REG_EDX, CPUID_7_EDX_ARCH_CAPS, MSR_IA32_ARCH_CAPABILITIES},
    {CPUID_LEAF_EXT_FEATURES, REG_EDX, CPUID_7_EDX_CORE_CAPS, MSR_IA32_CORE_CAPABILITIES},
};

/* What cpuid_probe_msr_features() found missing, per leaf and register:
 * the exit path only ANDs these in. */
struct hidden_regs {
    uint32_t eax, ecx, edx;
};
static struct hidden_regs hidden_1, hidden_6, hidden_7;

/* The table's leaves: 1, 6 and 7. */
static struct hidden_regs *hidden_for(uint32_t leaf)
{
    return leaf == CPUID_LEAF_FEATURES ? &hidden_1 : leaf == CPUID_LEAF_THERMAL ? &hidden_6 : &hidden_7;
}

void cpuid_probe_msr_features(void)
{
    hidden_1 = hidden_6 = hidden_7 = (struct hidden_regs){0, 0, 0};
    for (unsigned i = 0; i < sizeof(msr_backed) / sizeof(msr_backed[0]); i++) {
        uint64_t v;
        if (rdmsr_safe(msr_backed[i].msr, &v))
            continue;
        struct hidden_regs *h = hidden_for(msr_backed[i].leaf);
        uint32_t *reg = msr_backed[i].reg == REG_EAX ? &h->eax : msr_backed[i].reg == REG_ECX ? &h->ecx : &h->edx;
        *reg |= msr_backed[i].bits;
    }
}

/* CPUID 0x15/0x16 for L1 when the CPU's own disagree with the TSC L0
 * measured (tsc.c): TSC = crystal (ECX) * EBX / EAX with the crystal at
 * the TSC's rate, and 0x16's base and maximum frequency in MHz. Linux
 * takes its TSC rate from these (native_calibrate_tsc) and then needs no
 * tsc_early_khz. The crystal also clocks the local APIC timer, which in
 * Bochs counts the same ticks as the TSC. */
static struct {
    bool on;
    struct cpuid_regs leaf_15, leaf_16;
} tsc_leaves;

void cpuid_set_tsc(const struct tsc_info *tsc)
{
    tsc_leaves.on = false;
    struct cpuid_regs r;
    cpuid_query(CPUID_LEAF_BASIC, 0, &r);
    if (tsc->cpuid_trusted || !tsc->measured_hz || r.eax < CPUID_LEAF_TSC)
        return;
    /* A crystal of TSC / ratio that fits ECX. */
    uint32_t ratio = 1;
    while (tsc->measured_hz / ratio > UINT32_MAX)
        ratio *= 2;
    uint32_t mhz = (uint32_t)(tsc->measured_hz / 1000000);
    tsc_leaves.leaf_15 = (struct cpuid_regs){1, ratio, (uint32_t)(tsc->measured_hz / ratio), 0};
    tsc_leaves.leaf_16 = r.eax >= CPUID_LEAF_FREQ ? (struct cpuid_regs){mhz, mhz, 0, 0} : (struct cpuid_regs){0, 0, 0, 0};
    tsc_leaves.on = true;
}

static void hide(struct cpuid_regs *r, const struct hidden_regs *h)
{
    r->eax &= ~h->eax;
    r->ecx &= ~h->ecx;
    r->edx &= ~h->edx;
}

void cpuid_filter(uint32_t leaf, uint32_t subleaf, const struct cpuid_view *view,
                  struct cpuid_regs *r)
{
    if (leaf >= CPUID_LEAF_HV_BASE && leaf <= CPUID_LEAF_HV_LAST) {
        *r = (struct cpuid_regs){0, 0, 0, 0};
        if (leaf == CPUID_LEAF_HV_BASE)
            *r = (struct cpuid_regs){CPUID_LEAF_HV_BASE + 1, NV_CPUID_SIGNATURE_EBX,
                                     NV_CPUID_SIGNATURE_ECX, NV_CPUID_SIGNATURE_EDX};
        else if (leaf == CPUID_LEAF_HV_BASE + 1)
            *r = (struct cpuid_regs){NV_ABI_VERSION, view->hv_features, 0, 0};
        return;
    }
    switch (leaf) {
    case CPUID_LEAF_FEATURES:
        hide(r, &hidden_1);
        r->ecx |= CPUID_1_ECX_HYPERVISOR;
        r->ecx &= ~(CPUID_1_ECX_SMX | CPUID_1_ECX_OSXSAVE | CPUID_1_ECX_VMX);
        if (view->nested)
            r->ecx |= CPUID_1_ECX_VMX;
        if (view->guest_cr4 & CR4_OSXSAVE)
            r->ecx |= CPUID_1_ECX_OSXSAVE;
        break;
    case CPUID_LEAF_THERMAL:
        hide(r, &hidden_6);
        break;
    case CPUID_LEAF_EXT_FEATURES:
        if (subleaf == 0) {
            hide(r, &hidden_7);
            r->ecx &= ~(CPUID_7_ECX_WAITPKG | CPUID_7_ECX_OSPKE);
            if (view->guest_cr4 & CR4_PKE)
                r->ecx |= CPUID_7_ECX_OSPKE;
        }
        break;
    case CPUID_LEAF_TSC:
        if (tsc_leaves.on)
            *r = tsc_leaves.leaf_15;
        break;
    case CPUID_LEAF_FREQ:
        if (tsc_leaves.on)
            *r = tsc_leaves.leaf_16;
        break;
    case CPUID_LEAF_PMU:
    case CPUID_LEAF_PT:
        *r = (struct cpuid_regs){0, 0, 0, 0};
        break;
    default:
        break;
    }
}

void handle_cpuid(struct vcpu *v)
{
    uint32_t leaf = (uint32_t)v->regs.rax, subleaf = (uint32_t)v->regs.rcx;
    struct cpuid_regs r;
    cpuid_query(leaf, subleaf, &r);
    struct cpuid_view view = {
        .nested = the_vm.cfg.nested,
        .guest_cr4 = vmcs_read(VMCS_GUEST_CR4),
        .hv_features = (the_vm.cfg.nested ? NV_FEATURE_NESTED : 0) |
                       (the_vm.cfg.nested && the_vm.cfg.shadow ? NV_FEATURE_SHADOW : 0),
    };
    cpuid_filter(leaf, subleaf, &view, &r);
    v->regs.rax = r.eax;
    v->regs.rbx = r.ebx;
    v->regs.rcx = r.ecx;
    v->regs.rdx = r.edx;
    vcpu_skip_instruction(v);
}
