/* unit-srcs: vmm/mtrr.c */
/* vmm/mtrr.c: memory types from the MTRRs and L1's virtual MTRR MSRs.
 * SDM Vol. 3A 12.11 (Memory Type Range Registers): 12.11.1 IA32_MTRRCAP,
 * 12.11.2.1 IA32_MTRR_DEF_TYPE, 12.11.2.2 the fixed ranges (Table 12-9),
 * 12.11.2.3 the variable ranges (PHYSBASEn/PHYSMASKn, Figure 12-8),
 * 12.11.4.1 precedence of overlapping ranges; memory-type encodings in
 * Table 12-8 (0 UC, 1 WC, 4 WT, 5 WP, 6 WB; 2, 3 and 7+ reserved). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>
#include "vmm/mtrr.h"
#include "arch/x86/cpu_bits.h"
#include "arch/x86/msr_index.h"
#include "arch/x86/vmx_bits.h"
#include "tests/unit/fake_arch.h"

#define KiB (1ULL << 10)
#define MiB (1ULL << 20)
#define GiB (1ULL << 30)
#define VALID (1ULL << 11)
#define DEF_E (1ULL << 11)
#define DEF_FE (1ULL << 10)
#define CAP_FIX (1ULL << 8)
#define CAP_WC (1ULL << 10)
#define MASK39 (((1ULL << 39) - 1) & ~0xfffULL)

static struct mtrr_state s;

static int setup(void **state)
{
    (void)state;
    memset(&s, 0, sizeof(s));
    s.phys_addr_mask = MASK39;
    s.enabled = true;
    s.def_type = MEMTYPE_WB;
    fake_cpuid_clear();
    fake_msr_clear();
    return 0;
}

static void set_var(unsigned i, uint64_t base, uint64_t size, uint8_t type)
{
    s.var_base[i] = base | type;
    s.var_mask[i] = (~(size - 1) & s.phys_addr_mask) | VALID;
    if (s.var_count <= i)
        s.var_count = i + 1;
}

static void test_disabled_is_uc_and_empty_range_is_mixed(void **state)
{
    (void)state;
    set_var(0, 0, 4 * GiB, MEMTYPE_WB);
    s.enabled = false; /* 12.11.2.1: E clear, all of memory UC */
    assert_int_equal(mtrr_range_type(&s, 0, 4 * KiB), MEMTYPE_UC);
    assert_int_equal(mtrr_range_type(&s, 1 * GiB, 1 * GiB), MEMTYPE_UC);
    s.enabled = true;
    assert_int_equal(mtrr_range_type(&s, 1 * GiB, 1 * GiB), MEMTYPE_WB);
    assert_int_equal(mtrr_range_type(&s, 1 * GiB, 0), MTRR_MIXED);
}

static void test_fixed_ranges(void **state)
{
    (void)state;
    s.fixed_enabled = true;
    s.def_type = MEMTYPE_UC;
    /* One distinct type per slot where it matters, to catch slot mix-ups. */
    s.fixed[0] = 0x0606060606060604ULL; /* 64 KiB slots: 0-0xffff WT, rest WB */
    s.fixed[1] = 0x0006060606060606ULL; /* 16 KiB slots: 0x9c000-0x9ffff UC */
    s.fixed[2] = 0x0101010101010101ULL; /* 0xa0000-0xbffff WC */
    s.fixed[3] = 0x0000000000000505ULL; /* 4 KiB: 0xc0000-0xc1fff WP */
    s.fixed[10] = 0x0600000000000000ULL; /* 0xff000-0xfffff WB */
    assert_int_equal(mtrr_range_type(&s, 0x0, 64 * KiB), MEMTYPE_WT);
    assert_int_equal(mtrr_range_type(&s, 0x10000, 4 * KiB), MEMTYPE_WB);
    assert_int_equal(mtrr_range_type(&s, 0x70000, 64 * KiB), MEMTYPE_WB);
    assert_int_equal(mtrr_range_type(&s, 0x0, 128 * KiB), MTRR_MIXED);
    assert_int_equal(mtrr_range_type(&s, 0x98000, 16 * KiB), MEMTYPE_WB);
    assert_int_equal(mtrr_range_type(&s, 0x9c000, 4 * KiB), MEMTYPE_UC);
    assert_int_equal(mtrr_range_type(&s, 0x9b000, 8 * KiB), MTRR_MIXED);
    assert_int_equal(mtrr_range_type(&s, 0xa0000, 128 * KiB), MEMTYPE_WC);
    assert_int_equal(mtrr_range_type(&s, 0xc1000, 4 * KiB), MEMTYPE_WP);
    assert_int_equal(mtrr_range_type(&s, 0xc2000, 4 * KiB), MEMTYPE_UC);
    assert_int_equal(mtrr_range_type(&s, 0xfe000, 4 * KiB), MEMTYPE_UC);
    assert_int_equal(mtrr_range_type(&s, 0xff000, 4 * KiB), MEMTYPE_WB);
    /* A range crossing 1 MiB is part fixed, part variable. */
    assert_int_equal(mtrr_range_type(&s, 0xff000, 8 * KiB), MTRR_MIXED);
    assert_int_equal(mtrr_range_type(&s, 0, 2 * MiB), MTRR_MIXED);
    /* From 1 MiB on the fixed ranges do not apply. */
    assert_int_equal(mtrr_range_type(&s, 1 * MiB, 4 * KiB), MEMTYPE_UC);
    /* Fixed ranges take priority over variable ones (12.11.4.1). */
    set_var(0, 0, 1 * GiB, MEMTYPE_WP);
    assert_int_equal(mtrr_range_type(&s, 0x0, 4 * KiB), MEMTYPE_WT);
    assert_int_equal(mtrr_range_type(&s, 1 * MiB, 4 * KiB), MEMTYPE_WP);
    /* With FE clear, the variable ranges cover the first MiB too. */
    s.fixed_enabled = false;
    assert_int_equal(mtrr_range_type(&s, 0x0, 4 * KiB), MEMTYPE_WP);
    assert_int_equal(mtrr_range_type(&s, 0, 2 * MiB), MEMTYPE_WP);
}

static void test_variable_ranges_and_overlaps(void **state)
{
    (void)state;
    set_var(0, 0, 4 * GiB, MEMTYPE_WB);
    set_var(1, 0xc0000000, 1 * GiB, MEMTYPE_UC);
    set_var(2, 0x80000000, 256 * MiB, MEMTYPE_WT);
    set_var(3, 0x90000000, 256 * MiB, MEMTYPE_WP);
    /* Inside one range. */
    assert_int_equal(mtrr_range_type(&s, 0, 1 * GiB), MEMTYPE_WB);
    /* UC with anything is UC. */
    assert_int_equal(mtrr_range_type(&s, 0xc0000000, 1 * GiB), MEMTYPE_UC);
    assert_int_equal(mtrr_range_type(&s, 0xfee00000, 4 * KiB), MEMTYPE_UC);
    /* WT and WB is WT. */
    assert_int_equal(mtrr_range_type(&s, 0x80000000, 2 * MiB), MEMTYPE_WT);
    /* WP and WB is undefined by the SDM: nestvisor takes UC. */
    assert_int_equal(mtrr_range_type(&s, 0x90000000, 2 * MiB), MEMTYPE_UC);
    /* A range boundary inside the asked range: mixed. */
    assert_int_equal(mtrr_range_type(&s, 0x80000000, 1 * GiB), MTRR_MIXED);
    assert_int_equal(mtrr_range_type(&s, 0xbfe00000, 4 * MiB), MTRR_MIXED);
    assert_int_equal(mtrr_range_type(&s, 3 * GiB + 512 * MiB, 1 * GiB), MTRR_MIXED);
    /* Outside every range: the default type. */
    assert_int_equal(mtrr_range_type(&s, 4 * GiB, 1 * GiB), MEMTYPE_WB);
    s.def_type = MEMTYPE_UC;
    assert_int_equal(mtrr_range_type(&s, 4 * GiB, 1 * GiB), MEMTYPE_UC);
    assert_int_equal(mtrr_range_type(&s, 4 * GiB - 4 * KiB, 8 * KiB), MTRR_MIXED);
    /* A range whose valid bit is clear does not count. */
    s.var_mask[1] &= ~VALID;
    assert_int_equal(mtrr_range_type(&s, 0xc0000000, 1 * GiB), MEMTYPE_WB);
    /* Identical types overlapping stay that type. */
    set_var(4, 0, 2 * GiB, MEMTYPE_WB);
    assert_int_equal(mtrr_range_type(&s, 1 * GiB, 1 * GiB), MEMTYPE_WB);
}

static void test_variable_range_mask_matching(void **state)
{
    (void)state;
    /* PHYSMASK selects the address bits compared (Figure 12-8): base bits
     * below the mask's lowest bit do not move the range; bits above
     * MAXPHYADDR in the mask are ignored. */
    s.def_type = MEMTYPE_UC;
    s.var_base[0] = (0x40000000ULL | 0x123000) | MEMTYPE_WB;
    s.var_mask[0] = (~(1 * GiB - 1) & 0xffffffffffff000ULL) | VALID;
    s.var_count = 1;
    assert_int_equal(mtrr_range_type(&s, 1 * GiB, 1 * GiB), MEMTYPE_WB);
    assert_int_equal(mtrr_range_type(&s, 0, 1 * GiB), MEMTYPE_UC);
    assert_int_equal(mtrr_range_type(&s, 2 * GiB, 4 * KiB), MEMTYPE_UC);
    /* The last page of the physical address space. */
    set_var(1, (1ULL << 39) - 4 * KiB, 4 * KiB, MEMTYPE_WT);
    assert_int_equal(mtrr_range_type(&s, (1ULL << 39) - 4 * KiB, 4 * KiB), MEMTYPE_WT);
    assert_int_equal(mtrr_range_type(&s, (1ULL << 39) - 8 * KiB, 4 * KiB), MEMTYPE_UC);
}

static void host_cpu(bool mtrr, uint32_t max_ext, uint32_t width)
{
    fake_cpuid_set(CPUID_LEAF_FEATURES, 0, (struct cpuid_regs){0, 0, 0, mtrr ? CPUID_1_EDX_MTRR : 0});
    fake_cpuid_set(CPUID_LEAF_EXT_BASE, 0, (struct cpuid_regs){max_ext, 0, 0, 0});
    fake_cpuid_set(CPUID_LEAF_EXT_ADDR, 0, (struct cpuid_regs){width, 0, 0, 0});
}

static void test_read_host(void **state)
{
    (void)state;
    host_cpu(true, CPUID_LEAF_EXT_ADDR, 0x3027); /* 39 physical, 48 linear bits */
    fake_msr_set(MSR_IA32_MTRRCAP, CAP_WC | CAP_FIX | 2);
    fake_msr_set(MSR_IA32_MTRR_DEF_TYPE, DEF_E | DEF_FE | MEMTYPE_WB);
    fake_msr_set(MSR_IA32_MTRR_FIX64K_00000, 0x0606060606060606ULL);
    fake_msr_set(MSR_IA32_MTRR_FIX16K_A0000, 0x0101010101010101ULL);
    fake_msr_set(MSR_IA32_MTRR_FIX4K_C0000 + 3, 0x0505050505050505ULL); /* 0xd8000 */
    fake_msr_set(MSR_IA32_MTRR_FIX4K_F8000, 0x0000000000000005ULL);
    fake_msr_set(MSR_IA32_MTRR_PHYSBASE0, 0xc0000000 | MEMTYPE_UC);
    fake_msr_set(MSR_IA32_MTRR_PHYSMASK0, 0x7fc0000000ULL | VALID);
    fake_msr_set(MSR_IA32_MTRR_PHYSBASE0 + 2, 0x0);
    fake_msr_set(MSR_IA32_MTRR_PHYSMASK0 + 2, 0x0);
    struct mtrr_state h;
    memset(&h, 0xaa, sizeof(h));
    mtrr_read_host(&h);
    assert_true(h.enabled);
    assert_true(h.fixed_enabled);
    assert_int_equal(h.def_type, MEMTYPE_WB);
    assert_int_equal(h.phys_addr_mask, MASK39);
    assert_int_equal(h.var_count, 2);
    assert_int_equal(h.var_base[0], 0xc0000000 | MEMTYPE_UC);
    assert_int_equal(h.var_mask[1], 0);
    assert_int_equal(h.fixed[0], 0x0606060606060606ULL);
    assert_int_equal(h.fixed[1], 0); /* FIX16K_80000 absent: stays zero */
    assert_int_equal(h.fixed[2], 0x0101010101010101ULL);
    assert_int_equal(h.fixed[6], 0x0505050505050505ULL);
    assert_int_equal(h.fixed[10], 0x5);
    assert_int_equal(mtrr_range_type(&h, 0xa0000, 4 * KiB), MEMTYPE_WC);
    assert_int_equal(mtrr_range_type(&h, 0xd8000, 32 * KiB), MEMTYPE_WP);
    assert_int_equal(mtrr_range_type(&h, 0xf8000, 4 * KiB), MEMTYPE_WP);
    assert_int_equal(mtrr_range_type(&h, 0xf9000, 4 * KiB), MEMTYPE_UC);
    assert_int_equal(mtrr_range_type(&h, 0xc0000000, 1 * GiB), MEMTYPE_UC);
    assert_int_equal(mtrr_range_type(&h, 0x80000000, 1 * GiB), MEMTYPE_WB);
    /* L1 sees the same values through its virtual MSRs. */
    uint64_t v;
    assert_true(mtrr_msr_read(&h, MSR_IA32_MTRR_DEF_TYPE, &v));
    assert_int_equal(v, DEF_E | DEF_FE | MEMTYPE_WB);
    assert_true(mtrr_msr_read(&h, MSR_IA32_MTRR_PHYSMASK0, &v));
    assert_int_equal(v, 0x7fc0000000ULL | VALID);
    assert_true(mtrr_msr_read(&h, MSR_IA32_MTRR_FIX16K_A0000, &v));
    assert_int_equal(v, 0x0101010101010101ULL);
}

static void test_read_host_variants(void **state)
{
    (void)state;
    struct mtrr_state h;
    /* No CPUID.1:EDX.MTRR: MTRRs are off whatever the MSRs say. */
    host_cpu(false, CPUID_LEAF_EXT_ADDR, 39);
    fake_msr_set(MSR_IA32_MTRRCAP, CAP_FIX | 1);
    fake_msr_set(MSR_IA32_MTRR_DEF_TYPE, DEF_E | MEMTYPE_WB);
    mtrr_read_host(&h);
    assert_false(h.enabled);
    assert_int_equal(mtrr_range_type(&h, 0, 4 * KiB), MEMTYPE_UC);
    /* No leaf 0x80000008: 36 physical address bits (CPUID, Vol. 2A). */
    host_cpu(true, CPUID_LEAF_EXT_BASE + 4, 39);
    mtrr_read_host(&h);
    assert_int_equal(h.phys_addr_mask, 0xffffff000ULL);
    assert_true(h.enabled);
    /* E clear: disabled; FE without MTRRCAP.FIX: no fixed ranges. */
    fake_msr_set(MSR_IA32_MTRRCAP, 1);
    fake_msr_set(MSR_IA32_MTRR_DEF_TYPE, DEF_FE | MEMTYPE_WB);
    fake_msr_set(MSR_IA32_MTRR_FIX64K_00000, 0x0101010101010101ULL);
    mtrr_read_host(&h);
    assert_false(h.enabled);
    assert_false(h.fixed_enabled);
    assert_int_equal(h.fixed[0], 0);
    /* More variable ranges than nestvisor keeps: capped. */
    fake_msr_set(MSR_IA32_MTRRCAP, 0xff);
    mtrr_read_host(&h);
    assert_int_equal(h.var_count, MTRR_MAX_VAR);
    /* MTRRCAP that faults: no MTRRs. */
    fake_msr_clear();
    mtrr_read_host(&h);
    assert_false(h.enabled);
    assert_int_equal(h.var_count, 0);
}

static void test_is_msr(void **state)
{
    (void)state;
    uint32_t yes[] = {MSR_IA32_MTRRCAP, MSR_IA32_MTRR_DEF_TYPE, 0x200, 0x201, 0x23e, 0x23f,
                      0x250, 0x258, 0x259, 0x268, 0x26c, 0x26f};
    uint32_t no[] = {0x1ff, 0x240, 0x251, 0x257, 0x25a, 0x267, 0x270, MSR_IA32_PAT, 0x2fe, 0x300, 0xff};
    for (unsigned i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
        assert_true(mtrr_is_msr(yes[i]));
    for (unsigned i = 0; i < sizeof(no) / sizeof(no[0]); i++)
        assert_false(mtrr_is_msr(no[i]));
}

/* L1's copy, as vm_create makes it: the host's values. */
static void l1_copy(void)
{
    s.cap = CAP_WC | CAP_FIX | 2;
    s.def_type_msr = DEF_E | DEF_FE | MEMTYPE_WB;
    s.var_count = 2;
    s.fixed[0] = 0x0606060606060606ULL;
}

static void test_l1_mtrrcap_read_only_without_wc(void **state)
{
    (void)state;
    l1_copy();
    uint64_t v;
    assert_true(mtrr_msr_read(&s, MSR_IA32_MTRRCAP, &v));
    /* 12.11.1: VCNT and FIX as the host's, WC (bit 10) hidden: EPT gives
     * the memory types, L1's WC ranges would not be honoured. */
    assert_int_equal(v, CAP_FIX | 2);
    assert_false(mtrr_msr_write(&s, MSR_IA32_MTRRCAP, CAP_FIX | 2));
    assert_false(mtrr_msr_write(&s, MSR_IA32_MTRRCAP, 0));
    assert_int_equal(s.cap, CAP_WC | CAP_FIX | 2);
}

static void test_l1_def_type_writes(void **state)
{
    (void)state;
    l1_copy();
    uint64_t v;
    /* 12.11.2.1: type in bits 7:0, FE bit 10, E bit 11, all else reserved. */
    assert_true(mtrr_msr_write(&s, MSR_IA32_MTRR_DEF_TYPE, DEF_E | MEMTYPE_UC));
    assert_true(mtrr_msr_read(&s, MSR_IA32_MTRR_DEF_TYPE, &v));
    assert_int_equal(v, DEF_E | MEMTYPE_UC);
    uint64_t bad[] = {DEF_E | 2, DEF_E | 3, DEF_E | 7, DEF_E | 8, DEF_E | 0xff, DEF_E | (1ULL << 9),
                      DEF_E | (1ULL << 12), DEF_E | (1ULL << 32) | MEMTYPE_WB};
    for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_false(mtrr_msr_write(&s, MSR_IA32_MTRR_DEF_TYPE, bad[i]));
    assert_true(mtrr_msr_read(&s, MSR_IA32_MTRR_DEF_TYPE, &v));
    assert_int_equal(v, DEF_E | MEMTYPE_UC);
    assert_true(mtrr_msr_write(&s, MSR_IA32_MTRR_DEF_TYPE, DEF_E | DEF_FE | MEMTYPE_WP));
    assert_true(mtrr_msr_write(&s, MSR_IA32_MTRR_DEF_TYPE, MEMTYPE_WT));
    assert_true(mtrr_msr_write(&s, MSR_IA32_MTRR_DEF_TYPE, MEMTYPE_WC));
}

static void test_l1_fixed_writes(void **state)
{
    (void)state;
    l1_copy();
    uint64_t v;
    assert_true(mtrr_msr_write(&s, MSR_IA32_MTRR_FIX4K_C0000 + 2, 0x0001040506000504ULL));
    assert_true(mtrr_msr_read(&s, MSR_IA32_MTRR_FIX4K_C0000 + 2, &v));
    assert_int_equal(v, 0x0001040506000504ULL);
    assert_int_equal(s.fixed[5], 0x0001040506000504ULL);
    /* Each byte is a type: a reserved encoding in any of them #GPs. */
    for (unsigned b = 0; b < 8; b++) {
        assert_false(mtrr_msr_write(&s, MSR_IA32_MTRR_FIX16K_80000, 0x0606060606060606ULL ^ (4ULL << (8 * b))));
        assert_false(mtrr_msr_write(&s, MSR_IA32_MTRR_FIX16K_80000, 0x0606060606060606ULL | (0x10ULL << (8 * b))));
    }
    assert_int_equal(s.fixed[1], 0);
    /* Without MTRRCAP.FIX the fixed-range MSRs do not exist. */
    s.cap &= ~CAP_FIX;
    assert_false(mtrr_msr_read(&s, MSR_IA32_MTRR_FIX64K_00000, &v));
    assert_false(mtrr_msr_write(&s, MSR_IA32_MTRR_FIX64K_00000, 0));
}

static void test_l1_variable_writes(void **state)
{
    (void)state;
    l1_copy();
    uint64_t v;
    uint32_t base1 = MSR_IA32_MTRR_PHYSBASE0 + 2, mask1 = MSR_IA32_MTRR_PHYSMASK0 + 2;
    /* PHYSBASE: type 7:0, 11:8 reserved, base up to MAXPHYADDR. */
    assert_true(mtrr_msr_write(&s, base1, 0x7f00000000ULL | MEMTYPE_WT));
    assert_true(mtrr_msr_read(&s, base1, &v));
    assert_int_equal(v, 0x7f00000000ULL | MEMTYPE_WT);
    assert_int_equal(s.var_base[1], 0x7f00000000ULL | MEMTYPE_WT);
    assert_false(mtrr_msr_write(&s, base1, 0x100 | MEMTYPE_WB));
    assert_false(mtrr_msr_write(&s, base1, (1ULL << 39) | MEMTYPE_WB));
    assert_false(mtrr_msr_write(&s, base1, 0x80000000ULL | 2));
    assert_false(mtrr_msr_write(&s, base1, 0x80000000ULL | 7));
    /* PHYSMASK: 10:0 reserved, V bit 11, mask up to MAXPHYADDR. */
    assert_true(mtrr_msr_write(&s, mask1, 0x7ff0000000ULL | VALID));
    assert_true(mtrr_msr_read(&s, mask1, &v));
    assert_int_equal(v, 0x7ff0000000ULL | VALID);
    assert_false(mtrr_msr_write(&s, mask1, 0x7ff0000000ULL | VALID | 1));
    assert_false(mtrr_msr_write(&s, mask1, 0x7ff0000000ULL | VALID | 0x400));
    assert_false(mtrr_msr_write(&s, mask1, (1ULL << 40) | VALID));
    assert_int_equal(s.var_mask[1], 0x7ff0000000ULL | VALID);
    /* Pairs beyond MTRRCAP.VCNT do not exist. */
    assert_false(mtrr_msr_read(&s, MSR_IA32_MTRR_PHYSBASE0 + 4, &v));
    assert_false(mtrr_msr_write(&s, MSR_IA32_MTRR_PHYSMASK0 + 4, 0));
    /* Writes change L1's copy only: nothing reaches the hardware MSRs. */
    fake_msr_clear();
    assert_true(mtrr_msr_write(&s, MSR_IA32_MTRR_PHYSBASE0, 0));
    uint64_t hw;
    assert_false(rdmsr_safe(MSR_IA32_MTRR_PHYSBASE0, &hw));
}

int main(void)
{
#define T(f) cmocka_unit_test_setup(f, setup)
    const struct CMUnitTest tests[] = {
        T(test_disabled_is_uc_and_empty_range_is_mixed),
        T(test_fixed_ranges),
        T(test_variable_ranges_and_overlaps),
        T(test_variable_range_mask_matching),
        T(test_read_host),
        T(test_read_host_variants),
        T(test_is_msr),
        T(test_l1_mtrrcap_read_only_without_wc),
        T(test_l1_def_type_writes),
        T(test_l1_fixed_writes),
        T(test_l1_variable_writes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
