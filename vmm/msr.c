#include "vmm/msr.h"
#include "vmm/ipi.h"
#include "vmm/vm.h"
#include "vmm/nested/vmx_msrs.h"
#include "arch/x86/apic.h"
#include "arch/x86/cpu.h"
#include "arch/x86/cpu_bits.h"
#include "arch/x86/msr_index.h"
#include "lib/log.h"
#include "lib/spinlock.h"
#include "lib/string.h"

#define MSR_WARN_SLOTS      16

/* Safe to hand to L1: context-switched by the VMCS (EFER, PAT, SYSENTER,
 * DEBUGCTL), or architectural per-thread state L0 never uses. */
static const uint32_t passthrough[] = {
    MSR_IA32_FS_BASE, MSR_IA32_GS_BASE, MSR_IA32_KERNEL_GS_BASE, MSR_IA32_SYSENTER_CS,
    MSR_IA32_SYSENTER_ESP, MSR_IA32_SYSENTER_EIP, MSR_IA32_STAR, MSR_IA32_LSTAR,
    MSR_IA32_CSTAR, MSR_IA32_FMASK, MSR_IA32_TSC_AUX, MSR_IA32_PAT, MSR_IA32_EFER,
    MSR_IA32_TSC, MSR_IA32_TSC_DEADLINE, MSR_IA32_SPEC_CTRL, MSR_IA32_PRED_CMD,
    MSR_IA32_FLUSH_CMD, MSR_IA32_XSS, MSR_IA32_DEBUGCTL,
    /* The platform is L1's: its TSC adjustment, machine-check banks and
     * power hints behave natively, #GP included where the CPU has none. */
    MSR_IA32_PLATFORM_ID, MSR_IA32_TSC_ADJUST, MSR_IA32_MCG_STATUS,
    MSR_IA32_MCG_CTL, MSR_IA32_PERF_CTL, MSR_IA32_PERF_STATUS, MSR_IA32_ENERGY_PERF_BIAS,
};

static bool bitmap_slot(uint32_t msr, unsigned *byte, unsigned *bit, unsigned *half)
{
    uint32_t off;
    if (msr < MSR_BITMAP_RANGE) {
        off = msr;
        *half = 0;
    } else if (msr >= MSR_HIGH_BASE && msr < MSR_HIGH_BASE + MSR_BITMAP_RANGE) {
        off = msr - MSR_HIGH_BASE;
        *half = 1;
    } else {
        return false;
    }
    *byte = off / 8;
    *bit = off % 8;
    return true;
}

void msr_bitmap_set(uint8_t *bitmap, uint32_t msr, bool read_exits, bool write_exits)
{
    unsigned byte, bit, half;
    if (!bitmap_slot(msr, &byte, &bit, &half))
        return;
    uint8_t *rd = bitmap + (half ? MSR_BITMAP_READ_HIGH : MSR_BITMAP_READ_LOW) + byte;
    uint8_t *wr = bitmap + (half ? MSR_BITMAP_WRITE_HIGH : MSR_BITMAP_WRITE_LOW) + byte;
    *rd = (uint8_t)(read_exits ? *rd | (1U << bit) : *rd & ~(1U << bit));
    *wr = (uint8_t)(write_exits ? *wr | (1U << bit) : *wr & ~(1U << bit));
}

bool msr_bitmap_exits(const uint8_t *bitmap, uint32_t msr, bool write)
{
    unsigned byte, bit, half;
    if (!bitmap_slot(msr, &byte, &bit, &half))
        return true;
    unsigned base = write ? (half ? MSR_BITMAP_WRITE_HIGH : MSR_BITMAP_WRITE_LOW)
                          : (half ? MSR_BITMAP_READ_HIGH : MSR_BITMAP_READ_LOW);
    return bitmap[base + byte] >> bit & 1;
}

bool msr_is_passthrough(uint32_t msr)
{
    if (msr >= MSR_X2APIC_FIRST && msr <= MSR_X2APIC_LAST)
        return true;
    if (msr >= MSR_IA32_MC0_CTL && msr <= MSR_IA32_MC_LAST)
        return true;
    for (unsigned i = 0; i < sizeof(passthrough) / sizeof(passthrough[0]); i++)
        if (passthrough[i] == msr)
            return true;
    return false;
}

void msr_bitmap_build_l1(uint8_t *bitmap)
{
    memset(bitmap, 0xff, 4096);
    for (unsigned i = 0; i < sizeof(passthrough) / sizeof(passthrough[0]); i++)
        msr_bitmap_set(bitmap, passthrough[i], false, false);
    for (uint32_t m = MSR_X2APIC_FIRST; m <= MSR_X2APIC_LAST; m++)
        msr_bitmap_set(bitmap, m, false, false);
    for (uint32_t m = MSR_IA32_MC0_CTL; m <= MSR_IA32_MC_LAST; m++)
        msr_bitmap_set(bitmap, m, false, false);
}

/* Shared by the vCPUs, under msr_lock: L1's MTRRs (vm->l1_mtrr: SDM
 * 12.11.8 has every CPU of a machine use the same settings, and an L1
 * writes the same values on each), IA32_MISC_ENABLE (package scope on most
 * CPUs) and the warning table. MSR exits of these are rare. */
static struct spinlock msr_lock;

/* IA32_MISC_ENABLE exists on every Intel CPU and early Linux code reads it
 * without a #GP handler; it is kept virtual: the hardware's value if there
 * is one, else fast strings on and BTS/PEBS unavailable. Writes change only
 * L1's copy. */
static uint64_t misc_enable;
static bool misc_enable_set;

static uint64_t misc_enable_value(void)
{
    if (!misc_enable_set && !rdmsr_safe(MSR_IA32_MISC_ENABLE, &misc_enable))
        misc_enable = MISC_ENABLE_FAST_STRING | MISC_ENABLE_BTS_UNAVAILABLE | MISC_ENABLE_PEBS_UNAVAILABLE;
    misc_enable_set = true;
    return misc_enable;
}

/* IA32_BIOS_SIGN_ID (microcode revision in bits 63:32) exists on every
 * Intel CPU of family 6 on; Linux writes 0 to it and reads it back without
 * a #GP handler. Virtual: reads give the CPU's revision (0 where the CPU has
 * no such MSR, as Bochs), writes are accepted and change nothing. */
static uint64_t microcode_revision(void)
{
    uint64_t rev;
    return rdmsr_safe(MSR_IA32_BIOS_SIGN_ID, &rev) ? rev & BIOS_SIGN_ID_REVISION_MASK : 0;
}

/* One warning per MSR, for the first few MSRs, so a loop cannot flood the
 * log. Once the table is full, nothing more is logged (before, every access
 * to an MSR not in the table was). */
static void warn_once(uint32_t msr, const char *what)
{
    static uint32_t warned[MSR_WARN_SLOTS];
    static unsigned n;
    spin_lock(&msr_lock);
    bool known = n == MSR_WARN_SLOTS;
    for (unsigned i = 0; i < n && !known; i++)
        known = warned[i] == msr;
    if (!known)
        warned[n++] = msr;
    bool last = n == MSR_WARN_SLOTS;
    spin_unlock(&msr_lock);
    if (!known)
        log_warn("msr: L1 %s MSR 0x%x: #GP%s\n", what, msr, last ? " (further MSR warnings suppressed)" : "");
}

/* The MSRs kept in shared virtual state, under msr_lock. */
static bool shared_read(struct vm *vm, uint32_t msr, uint64_t *value, bool *done)
{
    *done = true;
    if (mtrr_is_msr(msr))
        return mtrr_msr_read(&vm->l1_mtrr, msr, value);
    if (msr == MSR_IA32_MISC_ENABLE) {
        *value = misc_enable_value();
        return true;
    }
    *done = false;
    return false;
}

static bool shared_write(struct vm *vm, uint32_t msr, uint64_t value, bool *done)
{
    *done = true;
    if (mtrr_is_msr(msr))
        return mtrr_msr_write(&vm->l1_mtrr, msr, value);
    if (msr == MSR_IA32_MISC_ENABLE) {
        misc_enable_value();
        misc_enable = value;
        return true;
    }
    *done = false;
    return false;
}

bool msr_emulate_read(struct vm *vm, uint32_t msr, uint64_t *value)
{
    if (msr == MSR_IA32_FEATURE_CONTROL) {
        *value = FEATURE_CONTROL_LOCK | (vm->cfg.nested ? FEATURE_CONTROL_VMX_OUTSIDE_SMX : 0);
        return true;
    }
    if (msr >= MSR_IA32_VMX_BASIC && msr <= MSR_IA32_VMX_PROCBASED_CTLS3)
        return vm->cfg.nested && nested_vmx_msr_read(msr, value); /* else #GP: no VMX */
    spin_lock(&msr_lock);
    bool done, ok = shared_read(vm, msr, value, &done);
    spin_unlock(&msr_lock);
    if (done)
        return ok;
    if (msr == MSR_IA32_BIOS_SIGN_ID) {
        *value = microcode_revision();
        return true;
    }
    if (rdmsr_safe(msr, value))
        return true;
    warn_once(msr, "read of nonexistent");
    return false;
}

bool msr_emulate_write(struct vm *vm, uint32_t msr, uint64_t value)
{
    spin_lock(&msr_lock);
    bool done, ok = shared_write(vm, msr, value, &done);
    spin_unlock(&msr_lock);
    if (done)
        return ok;
    if (msr == MSR_IA32_BIOS_SIGN_ID)
        return true;
    if (msr == MSR_IA32_APIC_BASE) {
        if (memmap_type_at(&vm->host->map, value & APIC_BASE_ADDR_MASK) == MEM_HV) {
            warn_once(msr, "move of the APIC onto nestvisor memory via");
            return false;
        }
        if (!wrmsr_safe(msr, value))
            return false;
        ipi_apic_base_changed(vm, value);
        return true;
    }
    warn_once(msr, "write to unemulated");
    return false;
}

static void complete_msr(struct vcpu *v, bool ok)
{
    if (ok)
        vcpu_skip_instruction(v);
    else
        vcpu_inject_gp(v);
}

void handle_rdmsr(struct vcpu *v)
{
    uint64_t value = 0;
    bool ok = msr_emulate_read(&the_vm, (uint32_t)v->regs.rcx, &value);
    if (ok) {
        v->regs.rax = (uint32_t)value;
        v->regs.rdx = value >> 32;
    }
    complete_msr(v, ok);
}

void handle_wrmsr(struct vcpu *v)
{
    uint64_t value = (v->regs.rdx << 32) | (uint32_t)v->regs.rax;
    uint32_t msr = (uint32_t)v->regs.rcx;
    /* Exits only while L0 watches L1's INIT and SIPI. */
    if (msr == MSR_X2APIC_ICR)
        complete_msr(v, ipi_x2apic_icr_write(v, value));
    else
        complete_msr(v, msr_emulate_write(&the_vm, msr, value));
}
