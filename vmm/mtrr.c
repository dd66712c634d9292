#include "vmm/mtrr.h"
#include "arch/x86/cpu.h"
#include "arch/x86/cpu_bits.h"
#include "arch/x86/msr_index.h"
#include "arch/x86/vmx_bits.h"
#include "lib/string.h"

#define MTRRCAP_VCNT_MASK 0xffULL
#define MTRRCAP_FIX       (1ULL << 8)
#define MTRRCAP_WC        (1ULL << 10)
#define MTRR_DEF_TYPE_MASK 0xffULL
#define MTRR_DEF_FE       (1ULL << 10)
#define MTRR_DEF_E        (1ULL << 11)
#define MTRR_PHYSMASK_VALID (1ULL << 11)
#define MTRR_TYPE_MASK    0xffULL
#define FIXED_LIMIT       0x100000ULL

/* Fixed-range MSRs and what they cover (SDM Table 12-9). */
static const struct {
    uint32_t msr;
    uint32_t base;
    uint32_t unit;
} fixed_ranges[MTRR_FIXED_MSRS] = {
    {MSR_IA32_MTRR_FIX64K_00000, 0x00000, 0x10000}, {MSR_IA32_MTRR_FIX16K_80000, 0x80000, 0x4000},
    {MSR_IA32_MTRR_FIX16K_A0000, 0xa0000, 0x4000},  {MSR_IA32_MTRR_FIX4K_C0000, 0xc0000, 0x1000},
    {MSR_IA32_MTRR_FIX4K_C0000 + 1, 0xc8000, 0x1000}, {MSR_IA32_MTRR_FIX4K_C0000 + 2, 0xd0000, 0x1000},
    {MSR_IA32_MTRR_FIX4K_C0000 + 3, 0xd8000, 0x1000}, {MSR_IA32_MTRR_FIX4K_C0000 + 4, 0xe0000, 0x1000},
    {MSR_IA32_MTRR_FIX4K_C0000 + 5, 0xe8000, 0x1000}, {MSR_IA32_MTRR_FIX4K_C0000 + 6, 0xf0000, 0x1000},
    {MSR_IA32_MTRR_FIX4K_F8000, 0xf8000, 0x1000},
};

void mtrr_read_host(struct mtrr_state *s)
{
    memset(s, 0, sizeof(*s));
    struct cpuid_regs r;
    cpuid_query(CPUID_LEAF_EXT_BASE, 0, &r);
    unsigned width = 36;
    if (r.eax >= CPUID_LEAF_EXT_ADDR) {
        cpuid_query(CPUID_LEAF_EXT_ADDR, 0, &r);
        width = r.eax & 0xff;
    }
    s->phys_addr_mask = ((1ULL << width) - 1) & ~0xfffULL;
    cpuid_query(CPUID_LEAF_FEATURES, 0, &r);
    if (!(r.edx & CPUID_1_EDX_MTRR) || !rdmsr_safe(MSR_IA32_MTRRCAP, &s->cap) ||
        !rdmsr_safe(MSR_IA32_MTRR_DEF_TYPE, &s->def_type_msr))
        return; /* no MTRRs: enabled stays false */
    s->enabled = s->def_type_msr & MTRR_DEF_E;
    s->fixed_enabled = (s->def_type_msr & MTRR_DEF_FE) && (s->cap & MTRRCAP_FIX);
    s->def_type = (uint8_t)(s->def_type_msr & MTRR_DEF_TYPE_MASK);
    if (s->cap & MTRRCAP_FIX)
        for (unsigned i = 0; i < MTRR_FIXED_MSRS; i++)
            rdmsr_safe(fixed_ranges[i].msr, &s->fixed[i]);
    s->var_count = (unsigned)(s->cap & MTRRCAP_VCNT_MASK);
    if (s->var_count > MTRR_MAX_VAR)
        s->var_count = MTRR_MAX_VAR;
    for (unsigned i = 0; i < s->var_count; i++) {
        rdmsr_safe(MSR_IA32_MTRR_PHYSBASE0 + 2 * i, &s->var_base[i]);
        rdmsr_safe(MSR_IA32_MTRR_PHYSMASK0 + 2 * i, &s->var_mask[i]);
    }
}

static int fixed_type(const struct mtrr_state *s, uint64_t addr)
{
    for (int i = MTRR_FIXED_MSRS - 1; i >= 0; i--) {
        if (addr >= fixed_ranges[i].base) {
            unsigned slot = (unsigned)((addr - fixed_ranges[i].base) / fixed_ranges[i].unit);
            return (int)((s->fixed[i] >> (8 * slot)) & MTRR_TYPE_MASK);
        }
    }
    return MEMTYPE_UC;
}

/* Combining overlapping variable ranges (SDM 12.11.4.1). */
static int combine(int a, int b)
{
    if (a < 0)
        return b;
    if (a == b)
        return a;
    if (a == MEMTYPE_UC || b == MEMTYPE_UC)
        return MEMTYPE_UC;
    if ((a == MEMTYPE_WT && b == MEMTYPE_WB) || (a == MEMTYPE_WB && b == MEMTYPE_WT))
        return MEMTYPE_WT;
    return MEMTYPE_UC; /* undefined combinations: be safe */
}

/* Type of [base, base+size) from the variable ranges, or MTRR_MIXED if a
 * range boundary falls inside it. Masks are taken as contiguous, so each
 * variable range is one aligned block (SDM 12.11.3). */
static int var_type(const struct mtrr_state *s, uint64_t base, uint64_t size)
{
    int type = -1;
    uint64_t end = base + size;
    for (unsigned i = 0; i < s->var_count; i++) {
        if (!(s->var_mask[i] & MTRR_PHYSMASK_VALID))
            continue;
        uint64_t mask = s->var_mask[i] & s->phys_addr_mask;
        uint64_t vstart = s->var_base[i] & mask;
        uint64_t vend = vstart + (~mask & s->phys_addr_mask) + 0x1000;
        if (vend <= base || vstart >= end)
            continue;
        if (vstart > base || vend < end)
            return MTRR_MIXED;
        type = combine(type, (int)(s->var_base[i] & MTRR_TYPE_MASK));
    }
    return type < 0 ? s->def_type : type;
}

int mtrr_range_type(const struct mtrr_state *s, uint64_t base, uint64_t size)
{
    if (!size)
        return MTRR_MIXED;
    if (!s->enabled)
        return MEMTYPE_UC;
    if (s->fixed_enabled && base < FIXED_LIMIT) {
        if (base + size > FIXED_LIMIT)
            return MTRR_MIXED;
        int t = fixed_type(s, base);
        for (uint64_t a = base; a < base + size; a += 0x1000)
            if (fixed_type(s, a) != t)
                return MTRR_MIXED;
        return t;
    }
    return var_type(s, base, size);
}

bool mtrr_is_msr(uint32_t msr)
{
    if (msr == MSR_IA32_MTRRCAP || msr == MSR_IA32_MTRR_DEF_TYPE)
        return true;
    if (msr >= MSR_IA32_MTRR_PHYSBASE0 && msr < MSR_IA32_MTRR_PHYSBASE0 + 2 * MTRR_MAX_VAR)
        return true;
    for (unsigned i = 0; i < MTRR_FIXED_MSRS; i++)
        if (fixed_ranges[i].msr == msr)
            return true;
    return false;
}

bool mtrr_msr_read(const struct mtrr_state *s, uint32_t msr, uint64_t *value)
{
    if (msr == MSR_IA32_MTRRCAP) {
        *value = s->cap & ~MTRRCAP_WC; /* no WC via MTRRs in EPT */
        return true;
    }
    if (msr == MSR_IA32_MTRR_DEF_TYPE) {
        *value = s->def_type_msr;
        return true;
    }
    for (unsigned i = 0; i < MTRR_FIXED_MSRS; i++)
        if (fixed_ranges[i].msr == msr) {
            *value = s->fixed[i];
            return (s->cap & MTRRCAP_FIX) != 0;
        }
    unsigned idx = (msr - MSR_IA32_MTRR_PHYSBASE0) / 2;
    if (idx >= s->var_count)
        return false;
    *value = (msr - MSR_IA32_MTRR_PHYSBASE0) % 2 ? s->var_mask[idx] : s->var_base[idx];
    return true;
}

static bool valid_type(uint64_t t)
{
    return t == MEMTYPE_UC || t == MEMTYPE_WC || t == MEMTYPE_WT || t == MEMTYPE_WP || t == MEMTYPE_WB;
}

bool mtrr_msr_write(struct mtrr_state *s, uint32_t msr, uint64_t value)
{
    if (msr == MSR_IA32_MTRRCAP)
        return false; /* read-only */
    if (msr == MSR_IA32_MTRR_DEF_TYPE) {
        if ((value & ~(MTRR_DEF_TYPE_MASK | MTRR_DEF_FE | MTRR_DEF_E)) ||
            !valid_type(value & MTRR_DEF_TYPE_MASK))
            return false;
        s->def_type_msr = value;
        return true;
    }
    for (unsigned i = 0; i < MTRR_FIXED_MSRS; i++)
        if (fixed_ranges[i].msr == msr) {
            for (unsigned b = 0; b < 8; b++)
                if (!valid_type((value >> (8 * b)) & MTRR_TYPE_MASK))
                    return false;
            if (!(s->cap & MTRRCAP_FIX))
                return false;
            s->fixed[i] = value;
            return true;
        }
    unsigned idx = (msr - MSR_IA32_MTRR_PHYSBASE0) / 2;
    if (idx >= s->var_count)
        return false;
    if ((msr - MSR_IA32_MTRR_PHYSBASE0) % 2) {
        if (value & ~(s->phys_addr_mask | MTRR_PHYSMASK_VALID))
            return false;
        s->var_mask[idx] = value;
    } else {
        if ((value & ~(s->phys_addr_mask | MTRR_TYPE_MASK)) || !valid_type(value & MTRR_TYPE_MASK))
            return false;
        s->var_base[idx] = value;
    }
    return true;
}
