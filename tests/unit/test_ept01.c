/* unit-srcs: vmm/ept01.c vmm/ept.c vmm/mtrr.c vmm/pmm.c vmm/memmap.c */
/* vmm/ept01.c: L1's EPT from the host memory map (docs/l1-platform.md,
 * "Memory"): identity mapping except nestvisor's own memory, the largest
 * pages the ranges allow (SDM 29.3.2: 1 GiB PDPTE and 2 MiB PDE pages), and
 * the EPT memory type (SDM 29.3.7.2, bits 5:3 of a leaf) from the host MTRRs
 * (SDM 12.11: fixed ranges 12.11.2.2, variable ranges and their overlap
 * rules 12.11.4.1), or WB for RAM and UC for everything else when the MTRRs
 * are off. Only the EPT tables are in fake memory (a pmm pool); the
 * guest-physical space mapped is a 16 GiB machine. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>
#include "vmm/ept01.h"
#include "boot/handoff.h"
#include "vmm/pmm.h"
#include "arch/x86/physmem.h"
#include "arch/x86/msr_index.h"
#include "arch/x86/vmx_bits.h"
#include "tests/unit/fake_arch.h"

#define KiB (1ULL << 10)
#define MiB (1ULL << 20)
#define GiB (1ULL << 30)
#define POOL_BASE  (16 * MiB)
#define POOL_PAGES 2048ULL
#define MAP_END    (16 * GiB)
#define PHYS_MASK  (((1ULL << 39) - 1) & ~0xfffULL) /* MAXPHYADDR 39, as Bochs */
#define VALID      (1ULL << 11)                     /* IA32_MTRR_PHYSMASKn.V */

static struct ept e;
static struct memmap host;
static struct mtrr_state mtrr;

static int setup(void **state)
{
    (void)state;
    fake_phys_reset();
    if (!pmm_init(POOL_BASE, POOL_PAGES * 4096))
        return -1;
    memset(&e, 0, sizeof(e));
    memset(&mtrr, 0, sizeof(mtrr));
    mtrr.phys_addr_mask = PHYS_MASK;
    memmap_init(&host);
    return ept_init(&e, 3) ? 0 : -1;
}

static void add(uint64_t base, uint64_t size, uint32_t type) { assert_true(memmap_set(&host, base, size, type)); }

/* A PC-like 8 GiB machine: low RAM with the EBDA and BIOS area reserved,
 * nestvisor's kernel at 2 MiB and its pool at 1984 MiB, ACPI tables at the
 * top of low RAM, the PCI hole with the I/O APIC, local APIC and BIOS ROM
 * reserved, 4 GiB of RAM above 4 GiB with one boot module still in use. */
static void pc_map(void)
{
    add(0x0, 0x9f000, MEM_USABLE);
    add(0x9f000, 0x1000, MEM_RESERVED);
    add(0xe8000, 0x18000, MEM_RESERVED);
    add(0x100000, 0x100000, MEM_USABLE);
    add(0x200000, 0x400000, MEM_HV);
    add(0x600000, 0x7c000000 - 0x600000, MEM_USABLE);
    add(0x7c000000, 0x2000000, MEM_HV);
    add(0x7e000000, 0x7fee0000 - 0x7e000000, MEM_USABLE);
    add(0x7fee0000, 0x20000, MEM_ACPI_RECLAIM);
    add(0x7ff00000, 0x10000, MEM_ACPI_NVS);
    add(0xfec00000, 0x1000, MEM_RESERVED);
    add(0xfee00000, 0x1000, MEM_RESERVED);
    add(0xfffc0000, 0x40000, MEM_RESERVED);
    add(4 * GiB, 3 * GiB, MEM_USABLE);
    add(7 * GiB, 0x1000, MEM_IMAGE);
    add(7 * GiB + 0x1000, 1 * GiB - 0x1000, MEM_USABLE);
}

/* Level of the leaf mapping gpa (0: unmapped); the memory type in *type.
 * Every mapping must be the identity. */
static unsigned leaf(uint64_t gpa, int *type)
{
    unsigned level = 0;
    uint64_t *x = ept_lookup(&e, gpa, &level);
    if (!x)
        return 0;
    uint64_t size = EPT_LEVEL_SIZE(level);
    assert_int_equal((*x & EPT_ADDR_MASK & ~(size - 1)) + (gpa & (size - 1)), gpa);
    assert_int_equal(*x & EPT_RWX, EPT_RWX);
    if (type)
        *type = (int)((*x & EPT_MEMTYPE_MASK) >> EPT_MEMTYPE_SHIFT);
    return level;
}

static void assert_page(uint64_t gpa, unsigned level, int type)
{
    int t = -1;
    unsigned l = leaf(gpa, &t);
    if (l != level || t != type)
        fail_msg("gpa 0x%llx: level %u type %d, expected level %u type %d", (unsigned long long)gpa, l, t,
                 level, type);
}

static void assert_unmapped(uint64_t gpa)
{
    if (leaf(gpa, 0))
        fail_msg("gpa 0x%llx is mapped", (unsigned long long)gpa);
}

/* Walks the tree: every leaf is the identity, well formed (no bits 11:8,
 * bit 7 only on large leaves, a valid memory type: SDM 29.3.3.1 makes types
 * 2, 3 and 7 misconfigurations), and the bytes mapped are returned. */
static uint64_t walk(uint64_t table, unsigned level, uint64_t base)
{
    const uint64_t *t = phys_to_virt(table);
    uint64_t mapped = 0;
    for (unsigned i = 0; i < EPT_ENTRIES; i++) {
        uint64_t x = t[i], gpa = base + i * EPT_LEVEL_SIZE(level);
        if (!(x & EPT_RWX))
            continue;
        if (level == 1 || (x & EPT_LARGE)) {
            assert_int_equal(x & EPT_ADDR_MASK, gpa);
            assert_int_equal(x & 0xf00, 0);
            assert_int_equal(!!(x & EPT_LARGE), level > 1);
            unsigned type = (unsigned)((x & EPT_MEMTYPE_MASK) >> EPT_MEMTYPE_SHIFT);
            assert_true(type == MEMTYPE_UC || type == MEMTYPE_WC || type == MEMTYPE_WT ||
                        type == MEMTYPE_WP || type == MEMTYPE_WB);
            mapped += EPT_LEVEL_SIZE(level);
        } else {
            assert_int_equal(x & ~EPT_ADDR_MASK, EPT_RWX);
            mapped += walk(x & EPT_ADDR_MASK, level - 1, gpa);
        }
    }
    return mapped;
}

static uint64_t hidden_bytes(void)
{
    uint64_t n = 0;
    for (unsigned i = 0; i < host.count; i++)
        if (host.r[i].type == MEM_HV || host.r[i].type == MEM_IMAGE)
            n += host.r[i].size;
    return n;
}

static void test_mtrrs_off_ram_wb_devices_uc_hidden_unmapped(void **state)
{
    (void)state;
    pc_map();
    assert_true(ept01_build(&e, &host, &mtrr, MAP_END, 0));
    /* Everything but nestvisor's memory is mapped, once, as the identity. */
    assert_int_equal(walk(e.root, EPT_LEVELS, 0), MAP_END - hidden_bytes());
    /* Low memory: RAM WB, the EBDA, VGA hole and BIOS area UC. */
    assert_page(0x0, 1, MEMTYPE_WB);
    assert_page(0x9e000, 1, MEMTYPE_WB);
    assert_page(0x9f000, 1, MEMTYPE_UC);
    assert_page(0xa0000, 1, MEMTYPE_UC);
    assert_page(0xe7000, 1, MEMTYPE_UC);
    assert_page(0xff000, 1, MEMTYPE_UC);
    assert_page(0x100000, 1, MEMTYPE_WB);
    assert_page(0x1ff000, 1, MEMTYPE_WB);
    /* nestvisor's kernel and pool. */
    assert_unmapped(0x200000);
    assert_unmapped(0x5ff000);
    assert_unmapped(0x7c000000);
    assert_unmapped(0x7dffffff);
    /* RAM around them in 2 MiB pages: its GiBs hold hidden memory. */
    assert_page(0x600000, 2, MEMTYPE_WB);
    assert_page(0x3fe00000, 2, MEMTYPE_WB);
    assert_page(0x40000000, 2, MEMTYPE_WB);
    assert_page(0x7be00000, 2, MEMTYPE_WB);
    assert_page(0x7e000000, 2, MEMTYPE_WB);
    /* ACPI tables are RAM (WB); the 2 MiB block they share with the start
     * of the PCI hole is split into 4 KiB pages. */
    assert_page(0x7fdff000, 2, MEMTYPE_WB);
    assert_page(0x7fe00000, 1, MEMTYPE_WB);
    assert_page(0x7fee0000, 1, MEMTYPE_WB);
    assert_page(0x7ff0f000, 1, MEMTYPE_WB);
    assert_page(0x7ff10000, 1, MEMTYPE_UC);
    assert_page(0x7ffff000, 1, MEMTYPE_UC);
    /* The PCI hole with its reserved device ranges is one class: 1 GiB UC
     * pages for 2-3 GiB and 3-4 GiB. */
    assert_page(0x80000000, 3, MEMTYPE_UC);
    assert_page(0xfec00000, 3, MEMTYPE_UC);
    assert_page(0xffffffff, 3, MEMTYPE_UC);
    /* RAM above 4 GiB in 1 GiB pages, except the GiB with the module. */
    assert_page(4 * GiB, 3, MEMTYPE_WB);
    assert_page(6 * GiB + 123, 3, MEMTYPE_WB);
    assert_unmapped(7 * GiB);
    assert_page(7 * GiB + 4 * KiB, 1, MEMTYPE_WB);
    assert_page(7 * GiB + 2 * MiB - 4 * KiB, 1, MEMTYPE_WB);
    assert_page(7 * GiB + 2 * MiB, 2, MEMTYPE_WB);
    /* Beyond RAM: UC up to the end asked for, nothing after. */
    assert_page(8 * GiB, 3, MEMTYPE_UC);
    assert_page(MAP_END - 1, 3, MEMTYPE_UC);
    assert_unmapped(MAP_END);
}

static void test_max_level_2_uses_no_1g_pages(void **state)
{
    (void)state;
    ept_destroy(&e);
    memset(&e, 0, sizeof(e));
    assert_true(ept_init(&e, 2)); /* a CPU without 1 GiB EPT pages */
    pc_map();
    assert_true(ept01_build(&e, &host, &mtrr, 8 * GiB, 0));
    assert_int_equal(walk(e.root, EPT_LEVELS, 0), 8 * GiB - hidden_bytes());
    assert_page(4 * GiB, 2, MEMTYPE_WB);
    assert_page(0xc0000000, 2, MEMTYPE_UC);
}

/* A firmware map whose ranges do not end on page boundaries (QEMU reserves
 * the EBDA from 0x9fc00): after memmap_page_align_usable the page
 * 0x9f000-0x9ffff is half hole, half reserved. It is mapped once, UC, with
 * its page address and no stray low bits. */
static void test_ranges_ending_inside_a_page(void **state)
{
    (void)state;
    add(0x0, 0x9fc00, MEM_USABLE);
    add(0x9fc00, 0x400, MEM_RESERVED);
    add(0xf0000, 0x10000, MEM_RESERVED);
    add(0x100000, 0x3ee0000, MEM_USABLE);
    add(0x3fe0000, 0x20018, MEM_ACPI_RECLAIM); /* ends 24 bytes into a page */
    memmap_page_align_usable(&host);
    assert_true(ept01_build(&e, &host, &mtrr, 1 * GiB, 0));
    assert_int_equal(walk(e.root, EPT_LEVELS, 0), 1 * GiB);
    assert_page(0x9e000, 1, MEMTYPE_WB);
    assert_page(0x9f000, 1, MEMTYPE_UC);
    assert_page(0x4000000, 1, MEMTYPE_WB); /* the ACPI range's last page */
    assert_page(0x4001000, 1, MEMTYPE_UC);
    assert_page(0x4200000, 2, MEMTYPE_UC);
}

static void test_hidden_range_not_page_aligned_stays_hidden(void **state)
{
    (void)state;
    add(0x0, 64 * MiB, MEM_USABLE);
    add(20 * MiB + 0x800, 0x1000, MEM_HV);
    assert_true(ept01_build(&e, &host, &mtrr, 1 * GiB, 0));
    /* Both pages it touches are gone; the ones around stay. */
    assert_unmapped(20 * MiB);
    assert_unmapped(20 * MiB + 0x1000);
    assert_page(20 * MiB - 0x1000, 2, MEMTYPE_WB);
    assert_page(20 * MiB + 0x2000, 1, MEMTYPE_WB);
}

/* Host MTRRs (SDM 12.11.2.2 Table 12-9): default WB; fixed ranges below
 * 1 MiB with WB RAM, UC for the top 16 KiB of conventional memory, WC for
 * the VGA window, WP for the option and BIOS ROMs, UC between; variable
 * ranges: UC for 3-4 GiB, WB for 4-8 GiB with WT for 6-7 GiB on top
 * (WT + WB = WT, SDM 12.11.4.1), a UC 2 MiB at 5 GiB + 2 MiB and a UC 4 KiB
 * page at 4 GiB + 8 KiB. */
static void mtrrs_on(void)
{
    mtrr.enabled = true;
    mtrr.fixed_enabled = true;
    mtrr.def_type = MEMTYPE_WB;
    mtrr.fixed[0] = 0x0606060606060606ULL;  /* 0x00000-0x7ffff WB */
    mtrr.fixed[1] = 0x0006060606060606ULL;  /* 0x80000-0x9bfff WB, 0x9c000-0x9ffff UC */
    mtrr.fixed[2] = 0x0101010101010101ULL;  /* 0xa0000-0xbffff WC */
    mtrr.fixed[3] = 0x0505050505050505ULL;  /* 0xc0000-0xc7fff WP */
    for (int i = 4; i <= 7; i++)
        mtrr.fixed[i] = 0;                   /* 0xc8000-0xe7fff UC */
    mtrr.fixed[8] = 0x0505050505050505ULL;  /* 0xe8000-0xeffff WP */
    mtrr.fixed[9] = 0x0505050505050505ULL;
    mtrr.fixed[10] = 0x0505050505050505ULL; /* ...-0xfffff WP */
    struct {
        uint64_t base, size;
        uint8_t type;
    } var[] = {
        {0xc0000000, 1 * GiB, MEMTYPE_UC},  {4 * GiB, 4 * GiB, MEMTYPE_WB},
        {6 * GiB, 1 * GiB, MEMTYPE_WT},     {5 * GiB + 2 * MiB, 2 * MiB, MEMTYPE_UC},
        {4 * GiB + 8 * KiB, 4 * KiB, MEMTYPE_UC},
    };
    mtrr.var_count = 5;
    for (unsigned i = 0; i < 5; i++) {
        mtrr.var_base[i] = var[i].base | var[i].type;
        mtrr.var_mask[i] = (~(var[i].size - 1) & PHYS_MASK) | VALID;
    }
}

static void test_mtrrs_on_types_follow_mtrrs_and_split_mixed_ranges(void **state)
{
    (void)state;
    pc_map();
    mtrrs_on();
    assert_true(ept01_build(&e, &host, &mtrr, MAP_END, 0));
    assert_int_equal(walk(e.root, EPT_LEVELS, 0), MAP_END - hidden_bytes());
    /* Below 1 MiB: the fixed ranges, page by page, whatever the class. */
    assert_page(0x0, 1, MEMTYPE_WB);
    assert_page(0x9b000, 1, MEMTYPE_WB);
    assert_page(0x9c000, 1, MEMTYPE_UC);
    assert_page(0x9f000, 1, MEMTYPE_UC);
    assert_page(0xa0000, 1, MEMTYPE_WC);
    assert_page(0xbf000, 1, MEMTYPE_WC);
    assert_page(0xc0000, 1, MEMTYPE_WP);
    assert_page(0xc8000, 1, MEMTYPE_UC);
    assert_page(0xe7000, 1, MEMTYPE_UC);
    assert_page(0xe8000, 1, MEMTYPE_WP);
    assert_page(0xff000, 1, MEMTYPE_WP);
    /* From 1 MiB: variable ranges and the default. */
    assert_page(0x100000, 1, MEMTYPE_WB);
    assert_page(0x600000, 2, MEMTYPE_WB);
    assert_page(0x7ff10000, 1, MEMTYPE_WB); /* a hole, but WB by the MTRRs */
    assert_page(0x80000000, 3, MEMTYPE_WB);
    assert_page(0xc0000000, 3, MEMTYPE_UC);
    /* 4-5 GiB: WB but for one UC page: 4 KiB pages around it. */
    assert_page(4 * GiB, 1, MEMTYPE_WB);
    assert_page(4 * GiB + 8 * KiB, 1, MEMTYPE_UC);
    assert_page(4 * GiB + 12 * KiB, 1, MEMTYPE_WB);
    assert_page(4 * GiB + 2 * MiB, 2, MEMTYPE_WB);
    /* 5-6 GiB: 2 MiB pages around the UC 2 MiB. */
    assert_page(5 * GiB, 2, MEMTYPE_WB);
    assert_page(5 * GiB + 2 * MiB, 2, MEMTYPE_UC);
    assert_page(5 * GiB + 4 * MiB, 2, MEMTYPE_WB);
    /* 6-7 GiB: WT over WB is WT, in one page. */
    assert_page(6 * GiB, 3, MEMTYPE_WT);
    /* Above RAM: the default type. */
    assert_page(9 * GiB, 3, MEMTYPE_WB);
}

static void test_mtrrs_on_default_uc(void **state)
{
    (void)state;
    add(0x0, 2 * GiB, MEM_USABLE);
    mtrr.enabled = true;
    mtrr.def_type = MEMTYPE_UC;
    mtrr.var_count = 1;
    mtrr.var_base[0] = 0 | MEMTYPE_WB;
    mtrr.var_mask[0] = (~(1 * GiB - 1) & PHYS_MASK) | VALID;
    assert_true(ept01_build(&e, &host, &mtrr, 4 * GiB, 0));
    /* No fixed ranges (FE clear): the variable range covers low memory. */
    assert_page(0x0, 3, MEMTYPE_WB);
    /* RAM the MTRRs leave at the default is UC: the firmware said so. */
    assert_page(1 * GiB, 3, MEMTYPE_UC);
    assert_page(3 * GiB, 3, MEMTYPE_UC);
}

static void test_out_of_table_memory_is_reported(void **state)
{
    (void)state;
    /* A pool of 3 pages: PML4 + PDPT + one PD; the 4 KiB pages of low
     * memory need a PT. */
    ept_destroy(&e);
    assert_true(pmm_init(POOL_BASE, 3 * 4096));
    memset(&e, 0, sizeof(e));
    assert_true(ept_init(&e, 3));
    pc_map();
    assert_false(ept01_build(&e, &host, &mtrr, MAP_END, 0));
}

static void test_l1_memmap_reports_nestvisor_memory_reserved(void **state)
{
    (void)state;
    pc_map();
    static struct memmap l1;
    ept01_l1_memmap(&host, &l1);
    assert_int_equal(memmap_type_at(&l1, 0x200000), MEM_RESERVED);
    assert_int_equal(memmap_type_at(&l1, 0x5fffff), MEM_RESERVED);
    assert_int_equal(memmap_type_at(&l1, 0x7c000000), MEM_RESERVED);
    assert_int_equal(memmap_type_at(&l1, 7 * GiB), MEM_RESERVED);
    /* Everything else keeps its type, holes stay holes. */
    assert_int_equal(memmap_type_at(&l1, 0x1fffff), MEM_USABLE);
    assert_int_equal(memmap_type_at(&l1, 0x600000), MEM_USABLE);
    assert_int_equal(memmap_type_at(&l1, 0x9f000), MEM_RESERVED);
    assert_int_equal(memmap_type_at(&l1, 0x7fee0000), MEM_ACPI_RECLAIM);
    assert_int_equal(memmap_type_at(&l1, 0x7ff00000), MEM_ACPI_NVS);
    assert_int_equal(memmap_type_at(&l1, 0xa0000), 0);
    assert_int_equal(memmap_type_at(&l1, 0x80000000), 0);
    assert_int_equal(memmap_type_at(&l1, 7 * GiB + 4 * KiB), MEM_USABLE);
    for (unsigned i = 0; i < l1.count; i++) {
        assert_int_not_equal(l1.r[i].type, MEM_HV);
        assert_int_not_equal(l1.r[i].type, MEM_IMAGE);
    }
    assert_int_equal(memmap_total(&l1, MEM_USABLE), memmap_total(&host, MEM_USABLE));
    assert_int_equal(memmap_total(&l1, MEM_RESERVED),
                     memmap_total(&host, MEM_RESERVED) + hidden_bytes());
    /* RAM classes for the EPT: usable and both ACPI kinds. */
    assert_true(memtype_is_ram(MEM_USABLE));
    assert_true(memtype_is_ram(MEM_ACPI_RECLAIM));
    assert_true(memtype_is_ram(MEM_ACPI_NVS));
    assert_false(memtype_is_ram(MEM_RESERVED));
    assert_false(memtype_is_ram(MEM_BAD));
    assert_false(memtype_is_ram(MEM_MMIO));
    assert_false(memtype_is_ram(MEM_HV));
}

int main(void)
{
#define T(f) cmocka_unit_test_setup(f, setup)
    const struct CMUnitTest tests[] = {
        T(test_mtrrs_off_ram_wb_devices_uc_hidden_unmapped),
        T(test_max_level_2_uses_no_1g_pages),
        T(test_ranges_ending_inside_a_page),
        T(test_hidden_range_not_page_aligned_stays_hidden),
        T(test_mtrrs_on_types_follow_mtrrs_and_split_mixed_ranges),
        T(test_mtrrs_on_default_uc),
        T(test_out_of_table_memory_is_reported),
        T(test_l1_memmap_reports_nestvisor_memory_reserved),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
