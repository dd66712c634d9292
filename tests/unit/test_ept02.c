/* unit-srcs: vmm/nested/ept12.c vmm/nested/ept02.c vmm/l1view.c vmm/nested/bitmaps.c vmm/ept.c vmm/pmm.c vmm/memmap.c vmm/l1ram.c tests/unit/fake_vmx.c */
/* EPT-on-EPT, case by case (tests/unit/test_ept12_model.c does the same at
 * random against a reference model).
 *
 * EPT12, L1's EPT for L2, lives in L1 memory and is walked by the book
 * (Intel SDM Vol. 3C 29.3.2 and Tables 29-1..29-6 for the entry formats;
 * 29.3.3.1 misconfigurations: write without read, execute-only where not
 * offered, memory types 2/3/7 in a leaf, reserved bits (7:3 of a PML4E,
 * 6:3 of a non-leaf PDPTE/PDE, address bits of a large page below its
 * size, bits 51:MAXPHYADDR), a large page where the size is not offered;
 * 29.3.3.2 violations with the permissions ANDed over the walk; 29.3.5
 * accessed and dirty flags). The EPTP checks are SDM 26.2.1.1. The shadow
 * EPT02 composes EPT12 with L0's EPT01: permissions intersect, the page is
 * no larger than either, the memory type follows ept02_compose_memtype;
 * reflected violations carry the qualification of SDM Table 28-7 with
 * EPT12's permissions in bits 5:3. INVEPT (SDM 29.4.3.1, ch. 31 INVEPT)
 * drops shadows by EPT root address. The shadow roots live in an 8-entry
 * LRU cache and their tables in a 1024-page pool that is reclaimed, never
 * exhausted. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>
#include "vmm/nested/ept02.h"
#include "vmm/nested/ept12.h"
#include "vmm/nested/bitmaps.h"
#include "vmm/nested/vmcs02.h"
#include "vmm/ept.h"
#include "vmm/pmm.h"
#include "vmm/vm.h"
#include "arch/x86/exit_reasons.h"
#include "arch/x86/physmem.h"
#include "arch/x86/vmx.h"
#include "arch/x86/vmx_bits.h"
#include "tests/unit/fake_arch.h"
#include "tests/unit/fake_vmx.h"

#define KiB (1ULL << 10)
#define MiB (1ULL << 20)
#define GiB (1ULL << 30)

#define VMXON_PA    0x1000ULL
#define L1_RAM_BASE (4 * MiB) /* L1 RAM (identity: L1 physical = host physical) */
#define L1_RAM_END  (24 * MiB)
#define L1_TABLES   (8 * MiB) /* EPT12 tables are allocated from here up */
#define L1_HOLE     (25 * MiB) /* reserved, not L1 RAM */
#define POOL_BASE   (32 * MiB)
#define POOL_SIZE   (32 * MiB)
#define MAXPHY      39
#define HOST_OFFSET (64 * GiB) /* EPT01 maps L1 [0, 4 GiB) to host [64 GiB, ...) */

#define WB (6ULL << EPT_MEMTYPE_SHIFT)
#define UC (0ULL << EPT_MEMTYPE_SHIFT)
#define LEAF4K(l1, perms) ((l1) | (perms) | WB)
#define LEAF2M(l1, perms) ((l1) | (perms) | WB | EPT_LARGE)
#define LEAF1G(l1, perms) ((l1) | (perms) | WB | EPT_LARGE)

struct vm the_vm;
#include "tests/unit/ept02_fixture.h"
static struct vmx_caps host_caps;
static struct ept12_caps caps;
static uint64_t l1_next;
static uint64_t root12;  /* the EPT12 PML4 of most tests */
static uint64_t eptp12;  /* its EPTP: WB, 4 levels, no A/D */
static unsigned pool_start;

/* vmcs02.c's merge, which bitmaps.c needs. */
void bitmap_merge(uint8_t *dst, const uint8_t *a, const uint8_t *b)
{
    for (unsigned i = 0; i < 4096; i++)
        dst[i] = a[i] | b[i];
}

static uint64_t *at(uint64_t pa) { return phys_to_virt(pa); }

static uint64_t l1_page(void)
{
    uint64_t pa = l1_next;
    l1_next += 4 * KiB;
    assert_true(l1_next <= L1_RAM_END);
    memset(at(pa), 0, 4 * KiB);
    return pa;
}

static uint64_t eptp_of(uint64_t root, bool ad) { return root | EPTP_MEMTYPE_WB | EPTP_WALK_4 | (ad ? EPTP_AD_ENABLE : 0); }

/* Makes EPT12 (rooted at root) map gpa with 'leaf' at 'level', creating
 * the tables above it with permissions RWX. Returns where the leaf lives. */
static uint64_t map12_in(uint64_t root, uint64_t gpa, unsigned level, uint64_t leaf)
{
    uint64_t table = root;
    for (unsigned l = 4; l > level; l--) {
        uint64_t *e = at(table + EPT_INDEX(gpa, l) * 8);
        if (!(*e & EPT_RWX))
            *e = l1_page() | EPT_RWX;
        table = *e & EPT_ADDR_MASK;
    }
    uint64_t pa = table + EPT_INDEX(gpa, level) * 8;
    *at(pa) = leaf;
    return pa;
}

static uint64_t map12(uint64_t gpa, unsigned level, uint64_t leaf) { return map12_in(root12, gpa, level, leaf); }

/* Where the walk of gpa finds the entry of 'level' (tables must exist). */
static uint64_t entry12(uint64_t gpa, unsigned level)
{
    uint64_t table = root12;
    for (unsigned l = 4; l > level; l--)
        table = *at(table + EPT_INDEX(gpa, l) * 8) & EPT_ADDR_MASK;
    return table + EPT_INDEX(gpa, level) * 8;
}

static bool read_l1(uint64_t pa, uint64_t *e)
{
    const uint64_t *p = vm_l1_ram(pa, 8);
    if (!p)
        return false;
    *e = *p;
    return true;
}

static enum ept12_status walk(uint64_t gpa, uint64_t access, struct ept12_walk *w)
{
    ept12_walk(eptp12, gpa, access, &caps, read_l1, w);
    return w->status;
}

static struct ept02_fault fault_on(uint64_t eptp, uint64_t gpa, uint64_t qual)
{
    struct ept02_fault f;
    memset(&f, 0, sizeof(f));
    ept02_handle_violation(&E2, eptp, gpa, qual, 0, &f);
    return f;
}

static struct ept02_fault fault(uint64_t gpa, uint64_t qual) { return fault_on(eptp12, gpa, qual); }

/* The EPT02 leaf for gpa under eptp: its level, host address, attributes. */
static unsigned shadow_of(uint64_t eptp, uint64_t gpa, uint64_t *hpa, uint64_t *attrs)
{
    uint64_t eptp02;
    struct ept *sh = ept02_shadow(&E2, eptp, &eptp02);
    if (!sh)
        return 0;
    unsigned level = 0;
    uint64_t *e = ept_lookup(sh, gpa, &level);
    if (!e)
        return 0;
    uint64_t size = EPT_LEVEL_SIZE(level);
    if (hpa)
        *hpa = (*e & EPT_ADDR_MASK & ~(size - 1)) | (gpa & (size - 1));
    if (attrs)
        *attrs = *e & ~EPT_ADDR_MASK & ~EPT_LARGE;
    return level;
}

static unsigned shadow(uint64_t gpa, uint64_t *hpa, uint64_t *attrs) { return shadow_of(eptp12, gpa, hpa, attrs); }

static int setup(void **state)
{
    (void)state;
    fake_phys_reset();
    fake_vmx_reset();
    if (!vmx_on(VMXON_PA) || !pmm_init(POOL_BASE, POOL_SIZE))
        return -1;
    memset(&the_vm, 0, sizeof(the_vm));
    host_caps = (struct vmx_caps){.ept = true, .ept_wb = true, .ept_uc = true, .ept_2m = true, .ept_1g = true,
                                  .ept_ad = true, .ept_exec_only = true, .ept_4level = true};
    the_vm.caps = &host_caps;
    memmap_init(&the_vm.l1_map);
    memmap_set(&the_vm.l1_map, L1_RAM_BASE, L1_RAM_END - L1_RAM_BASE, MEM_USABLE);
    memmap_set(&the_vm.l1_map, L1_HOLE, 1 * MiB, MEM_RESERVED);
    /* EPT01: L1's [0, 4 GiB) in 1 GiB WB pages at HOST_OFFSET. */
    if (!ept_init(&the_vm.ept01, 3) || !ept_map(&the_vm.ept01, 0, HOST_OFFSET, 4 * GiB, EPT_RWX | WB))
        return -1;
    the_vm.eptp01 = ept_eptp(&the_vm.ept01, false);
    caps = (struct ept12_caps){.exec_only = true, .pages_2m = true, .pages_1g = true, .ad = true,
                               .memtype_uc = true, .memtype_wb = true, .phys_mask = (1ULL << MAXPHY) - 1};
    ept02_set_caps(&caps);
    memset(&E2.stats, 0, sizeof(E2.stats));
    (nested_bitmaps_unprotect_all(), nested_bitmaps_init(&BM));
    if (!ept02_init(&E2, EPT02_POOL_PAGES))
        return -1;
    pool_start = ept02_pool_free(&E2);
    l1_next = L1_TABLES;
    root12 = l1_page();
    eptp12 = eptp_of(root12, false);
    return 0;
}

/* After every test: invalidating everything gives the whole pool back. */
static int teardown(void **state)
{
    (void)state;
    ept02_invalidate(&E2, EPT02_ALL_CONTEXTS);
    assert_int_equal(ept02_root_count(&E2), 0);
    assert_int_equal(ept02_pool_free(&E2), EPT02_POOL_PAGES);
    assert_int_equal(pool_start, EPT02_POOL_PAGES);
    return 0;
}

#define G   0x12345000ULL /* an L2 address: PML4 0, PDPT 0, PD 0x91, PT 0x145 */
#define L1A 0x00600000ULL /* an L1 page (EPT01: host L1A + HOST_OFFSET) */

/* ---- misconfigurations (SDM 29.3.3.1) ---- */

static void assert_misconfig(uint64_t gpa)
{
    struct ept12_walk w;
    assert_int_equal(walk(gpa, EPT_READ, &w), EPT12_MISCONFIG);
    assert_int_equal(fault(gpa, EPT_QUAL_READ).outcome, EPT02_REFLECT_MISCONFIG);
    assert_int_equal(shadow(gpa, 0, 0), 0);
}

static void assert_translates(uint64_t gpa)
{
    struct ept12_walk w;
    assert_int_not_equal(walk(gpa, 0, &w), EPT12_MISCONFIG);
}

static void test_write_without_read(void **state)
{
    (void)state;
    /* Bits 2:0 = 010b or 110b: write without read, at any level. */
    map12(G, 1, LEAF4K(L1A, EPT_WRITE));
    assert_misconfig(G);
    map12(G, 1, LEAF4K(L1A, EPT_WRITE | EPT_EXEC));
    assert_misconfig(G);
    map12(G, 1, LEAF4K(L1A, EPT_RWX));
    assert_translates(G);
    for (unsigned level = 2; level <= 4; level++) {
        uint64_t pa = entry12(G, level), saved = *at(pa);
        *at(pa) = (saved & ~EPT_RWX) | EPT_WRITE;
        assert_misconfig(G);
        *at(pa) = (saved & ~EPT_RWX) | EPT_WRITE | EPT_EXEC;
        assert_misconfig(G);
        *at(pa) = saved;
    }
    assert_int_equal(E2.stats.misconfigs, 8);
}

static void test_execute_only(void **state)
{
    (void)state;
    map12(G, 1, LEAF4K(L1A, EPT_EXEC));
    /* Not offered (IA32_VMX_EPT_VPID_CAP bit 0 clear): misconfigured. */
    caps.exec_only = false;
    ept02_set_caps(&caps);
    assert_misconfig(G);
    uint64_t pa = entry12(G, 3);
    map12(G, 1, LEAF4K(L1A, EPT_RWX));
    *at(pa) = (*at(pa) & ~EPT_RWX) | EPT_EXEC; /* in a non-leaf entry too */
    assert_misconfig(G);
    /* Offered: a fetch goes through, a read is a violation whose
     * qualification says "executable only" (bits 5:3 = 100b). */
    caps.exec_only = true;
    ept02_set_caps(&caps);
    struct ept12_walk w;
    assert_int_equal(walk(G, EPT_EXEC, &w), EPT12_OK);
    assert_int_equal(w.perms, EPT_EXEC);
    assert_int_equal(walk(G, EPT_READ, &w), EPT12_VIOLATION);
    struct ept02_fault f = fault(G, EPT_QUAL_READ);
    assert_int_equal(f.outcome, EPT02_REFLECT_VIOLATION);
    assert_int_equal(f.qualification, EPT_QUAL_READ | EPT_QUAL_EXECUTABLE);
    f = fault(G, EPT_QUAL_FETCH);
    assert_int_equal(f.outcome, EPT02_FILLED);
    uint64_t attrs;
    assert_int_equal(shadow(G, 0, &attrs), 1);
    assert_int_equal(attrs & EPT_RWX, EPT_EXEC);
}

static void test_invalid_memory_types(void **state)
{
    (void)state;
    /* Bits 5:3 of a leaf: 2, 3 and 7 are reserved (SDM 29.3.7), in a PTE,
     * a 2 MiB PDE and a 1 GiB PDPTE; 0, 1, 4, 5, 6 are fine. */
    static const struct {
        uint64_t gpa;
        unsigned level;
    } leaves[] = {{G, 1}, {0x40000000ULL, 2}, {0x8000000000ULL, 3}};
    for (unsigned i = 0; i < 3; i++) {
        uint64_t gpa = leaves[i].gpa;
        for (uint64_t type = 0; type < 8; type++) {
            uint64_t leaf = L1A | EPT_RWX | type << EPT_MEMTYPE_SHIFT | (leaves[i].level > 1 ? EPT_LARGE : 0);
            if (leaves[i].level == 3)
                leaf = 1 * GiB | EPT_RWX | type << EPT_MEMTYPE_SHIFT | EPT_LARGE;
            map12(gpa, leaves[i].level, leaf);
            if (type == 2 || type == 3 || type == 7) {
                assert_misconfig(gpa);
            } else {
                struct ept12_walk w;
                assert_int_equal(walk(gpa, EPT_READ, &w), EPT12_OK);
                assert_int_equal(w.level, leaves[i].level);
                assert_int_equal(ept12_leaf_memtype(w.leaf), type);
            }
        }
    }
}

static void test_reserved_bits_in_non_leaf_entries(void **state)
{
    (void)state;
    map12(G, 1, LEAF4K(L1A, EPT_RWX));
    /* Bits 7:3 of a PML4E, bits 6:3 of a PDPTE or PDE that references a
     * table (Tables 29-1, 29-3, 29-5). */
    for (unsigned level = 2; level <= 4; level++) {
        uint64_t pa = entry12(G, level), saved = *at(pa);
        for (unsigned bit = 3; bit <= 6; bit++) {
            *at(pa) = saved | 1ULL << bit;
            assert_misconfig(G);
        }
        /* Ignored and flag bits: accessed 8, 9 (ignored in a non-leaf
         * entry), 10 (no mode-based execute control), 11, 62:52, 63. */
        *at(pa) = saved | EPT_ACCESSED | EPT_DIRTY | EPT_USER_EXEC | 1ULL << 11 | 0x7ffULL << 52 | 1ULL << 63;
        assert_translates(G);
        *at(pa) = saved;
    }
    /* Bit 7 of a PML4E is reserved: no 512 GiB pages. */
    uint64_t pml4e = entry12(G, 4);
    *at(pml4e) |= EPT_LARGE;
    assert_misconfig(G);
    *at(pml4e) &= ~EPT_LARGE;
    /* Bit 7 of a PTE is ignored (Table 29-6). */
    *at(entry12(G, 1)) |= EPT_LARGE;
    struct ept12_walk w;
    assert_int_equal(walk(G, EPT_READ, &w), EPT12_OK);
    assert_int_equal(w.level, 1);
    /* A leaf's bits 6:3 are its memory type and ignore-PAT, not reserved. */
    *at(entry12(G, 1)) = L1A | EPT_RWX | 4ULL << EPT_MEMTYPE_SHIFT | EPT_IGNORE_PAT;
    assert_int_equal(walk(G, EPT_READ, &w), EPT12_OK);
}

static void test_large_pages_where_not_offered(void **state)
{
    (void)state;
    uint64_t g2 = 0x40000000ULL, g1 = 0x8000000000ULL;
    map12(g2, 2, LEAF2M(0x200000, EPT_RWX));
    map12(g1, 3, LEAF1G(1 * GiB, EPT_RWX));
    struct ept12_walk w;
    assert_int_equal(walk(g2 + 0x1234, EPT_READ, &w), EPT12_OK);
    assert_int_equal(w.level, 2);
    assert_int_equal(w.l1_gpa, 0x201234);
    assert_int_equal(walk(g1 + 0x12345678, EPT_READ, &w), EPT12_OK);
    assert_int_equal(w.level, 3);
    assert_int_equal(w.l1_gpa, 1 * GiB + 0x12345678);
    /* IA32_VMX_EPT_VPID_CAP bit 17 clear: bit 7 of a PDPTE is reserved. */
    caps.pages_1g = false;
    ept02_set_caps(&caps);
    assert_misconfig(g1);
    assert_translates(g2);
    /* Bit 16 clear: bit 7 of a PDE too. */
    caps.pages_2m = false;
    ept02_set_caps(&caps);
    assert_misconfig(g2);
}

static void test_misaligned_large_pages(void **state)
{
    (void)state;
    /* Bits 20:12 of a 2 MiB leaf and 29:12 of a 1 GiB leaf are reserved
     * (Tables 29-2, 29-4). */
    uint64_t g2 = 0x40000000ULL, g1 = 0x8000000000ULL;
    for (unsigned bit = 12; bit <= 20; bit++) {
        map12(g2, 2, LEAF2M(0x200000 | 1ULL << bit, EPT_RWX));
        assert_misconfig(g2);
    }
    map12(g2, 2, LEAF2M(0x200000 | 1ULL << 21, EPT_RWX));
    assert_translates(g2);
    for (unsigned bit = 12; bit <= 29; bit++) {
        map12(g1, 3, LEAF1G(1 * GiB | 1ULL << bit, EPT_RWX));
        assert_misconfig(g1);
    }
    map12(g1, 3, LEAF1G(3 * GiB, EPT_RWX));
    assert_translates(g1);
}

static void test_address_beyond_maxphyaddr(void **state)
{
    (void)state;
    map12(G, 1, LEAF4K(L1A, EPT_RWX));
    /* Bits 51:MAXPHYADDR of any entry are reserved. */
    for (unsigned level = 1; level <= 4; level++) {
        uint64_t pa = entry12(G, level), saved = *at(pa);
        for (unsigned bit = MAXPHY; bit <= 51; bit++) {
            *at(pa) = saved | 1ULL << bit;
            assert_misconfig(G);
        }
        *at(pa) = saved;
    }
    /* Bit MAXPHYADDR-1 is an address bit: the leaf may point there (EPT01
     * does not map it: L1's own affair). */
    *at(entry12(G, 1)) = LEAF4K(1ULL << (MAXPHY - 1), EPT_RWX);
    struct ept12_walk w;
    assert_int_equal(walk(G, EPT_READ, &w), EPT12_OK);
    struct ept02_fault f = fault(G + 0x10, EPT_QUAL_READ);
    assert_int_equal(f.outcome, EPT02_L1_HIDDEN);
    assert_int_equal(f.l1_gpa, (1ULL << (MAXPHY - 1)) + 0x10);
}

/* ---- violations (SDM 29.3.3.2) and their qualification (Table 28-7) ---- */

static void test_not_present_at_each_level(void **state)
{
    (void)state;
    map12(G, 1, LEAF4K(L1A, EPT_RWX));
    for (unsigned level = 1; level <= 4; level++) {
        uint64_t pa = entry12(G, level), saved = *at(pa);
        /* Bits 2:0 clear: not present, whatever else the entry holds. */
        *at(pa) = ~EPT_RWX;
        struct ept12_walk w;
        assert_int_equal(walk(G, EPT_READ, &w), EPT12_VIOLATION);
        assert_int_equal(w.entries, 5 - level);
        assert_int_equal(w.perms, 0);
        struct ept02_fault f = fault(G, EPT_QUAL_WRITE | EPT_QUAL_GLA_VALID | EPT_QUAL_GLA_TRANSLATED);
        assert_int_equal(f.outcome, EPT02_REFLECT_VIOLATION);
        assert_int_equal(f.qualification, EPT_QUAL_WRITE | EPT_QUAL_GLA_VALID | EPT_QUAL_GLA_TRANSLATED);
        *at(pa) = saved;
    }
    /* A table outside L1's RAM reads as not present. */
    uint64_t pdpte = entry12(G, 3), saved = *at(pdpte);
    *at(pdpte) = L1_HOLE | EPT_RWX;
    struct ept12_walk w;
    assert_int_equal(walk(G, EPT_READ, &w), EPT12_VIOLATION);
    assert_int_equal(w.entries, 3);
    *at(pdpte) = saved;
    uint64_t eptp = eptp_of(L1_HOLE, false);
    assert_int_equal(fault_on(eptp, G, EPT_QUAL_READ).outcome, EPT02_REFLECT_VIOLATION);
    assert_int_equal(ept02_root_count(&E2), 0);
}

static void test_permissions_and_over_the_walk(void **state)
{
    (void)state;
    /* PML4E RWX, PDPTE R-X, PDE RWX, PTE RW-: readable only. */
    map12(G, 1, LEAF4K(L1A, EPT_READ | EPT_WRITE));
    uint64_t pdpte = entry12(G, 3);
    *at(pdpte) &= ~EPT_WRITE;
    struct ept12_walk w;
    assert_int_equal(walk(G, EPT_READ, &w), EPT12_OK);
    assert_int_equal(w.perms, EPT_READ);
    assert_int_equal(walk(G, EPT_WRITE, &w), EPT12_VIOLATION);
    assert_int_equal(walk(G, EPT_EXEC, &w), EPT12_VIOLATION);
    assert_int_equal(w.level, 1);
    assert_int_equal(w.entries, 4);

    /* The qualification L1 gets: L2's access (bits 2:0), EPT12's AND in
     * bits 5:3 (not EPT02's, which the CPU reported), the linear-address
     * bits 7-8 and NMI unblocking (bit 12) as the CPU gave them; nothing L1
     * was not offered (advanced information, bits 11:9; bit 16). */
    uint64_t hw = EPT_QUAL_WRITE | EPT_QUAL_READABLE | EPT_QUAL_EXECUTABLE | EPT_QUAL_GLA_VALID |
                  EPT_QUAL_GLA_TRANSLATED | 7ULL << 9 | EPT_QUAL_NMI_UNBLOCKING | 1ULL << 16;
    struct ept02_fault f = fault(G, hw);
    assert_int_equal(f.outcome, EPT02_REFLECT_VIOLATION);
    assert_int_equal(f.qualification, EPT_QUAL_WRITE | EPT_QUAL_READABLE | EPT_QUAL_GLA_VALID |
                                          EPT_QUAL_GLA_TRANSLATED | EPT_QUAL_NMI_UNBLOCKING);
    f = fault(G, EPT_QUAL_FETCH);
    assert_int_equal(f.qualification, EPT_QUAL_FETCH | EPT_QUAL_READABLE);
    /* A read-modify-write reports read and write (Table 28-7). */
    f = fault(G, EPT_QUAL_READ | EPT_QUAL_WRITE);
    assert_int_equal(f.qualification, EPT_QUAL_READ | EPT_QUAL_WRITE | EPT_QUAL_READABLE);
    assert_int_equal(E2.stats.reflected, 3);
    /* The read that is allowed fills, read-only. */
    assert_int_equal(fault(G, EPT_QUAL_READ).outcome, EPT02_FILLED);
    uint64_t attrs;
    assert_int_equal(shadow(G, 0, &attrs), 1);
    assert_int_equal(attrs & EPT_RWX, EPT_READ);
}

/* ---- the EPTP (SDM 26.2.1.1) ---- */

static void test_eptp_valid(void **state)
{
    (void)state;
    uint64_t good = eptp_of(0x800000, false);
    assert_true(ept12_eptp_valid(good, &caps));
    /* Memory type: UC (0) or WB (6), each only if offered. */
    for (uint64_t type = 0; type < 8; type++)
        assert_int_equal(ept12_eptp_valid((good & ~7ULL) | type, &caps), type == 0 || type == 6);
    caps.memtype_uc = false;
    assert_false(ept12_eptp_valid(good & ~7ULL, &caps));
    caps.memtype_uc = true;
    caps.memtype_wb = false;
    assert_false(ept12_eptp_valid(good, &caps));
    caps.memtype_wb = true;
    /* Bits 5:3: page-walk length minus one, 3 (4 levels) only. */
    for (uint64_t len = 0; len < 8; len++)
        assert_int_equal(ept12_eptp_valid((good & ~EPTP_WALK_MASK) | len << 3, &caps), len == 3);
    /* Bit 6: A/D only if offered. */
    assert_true(ept12_eptp_valid(good | EPTP_AD_ENABLE, &caps));
    caps.ad = false;
    assert_false(ept12_eptp_valid(good | EPTP_AD_ENABLE, &caps));
    assert_true(ept12_eptp_valid(good, &caps));
    caps.ad = true;
    /* Bits 11:7 reserved. */
    for (unsigned bit = 7; bit <= 11; bit++)
        assert_false(ept12_eptp_valid(good | 1ULL << bit, &caps));
    /* Bits 63:MAXPHYADDR reserved. */
    assert_true(ept12_eptp_valid(good | 1ULL << (MAXPHY - 1), &caps));
    for (unsigned bit = MAXPHY; bit <= 63; bit++)
        assert_false(ept12_eptp_valid(good | 1ULL << bit, &caps));
}

/* ---- memory types ---- */

static void test_compose_memtype_pairs(void **state)
{
    (void)state;
    /* ept02.h: L0 WB leaves L1's type and ignore-PAT alone; any other L0
     * type caps cacheability (UC < WC < WT < WP < WB) and sets ignore-PAT
     * so L2's PAT cannot raise it. */
    static const unsigned types[5] = {MEMTYPE_UC, MEMTYPE_WC, MEMTYPE_WT, MEMTYPE_WP, MEMTYPE_WB};
    static const unsigned want[5][5] = {
        /* type01:    UC          WC          WT          WP          WB */
        /* UC */ {MEMTYPE_UC, MEMTYPE_UC, MEMTYPE_UC, MEMTYPE_UC, MEMTYPE_UC},
        /* WC */ {MEMTYPE_UC, MEMTYPE_WC, MEMTYPE_WC, MEMTYPE_WC, MEMTYPE_WC},
        /* WT */ {MEMTYPE_UC, MEMTYPE_WC, MEMTYPE_WT, MEMTYPE_WT, MEMTYPE_WT},
        /* WP */ {MEMTYPE_UC, MEMTYPE_WC, MEMTYPE_WT, MEMTYPE_WP, MEMTYPE_WP},
        /* WB */ {MEMTYPE_UC, MEMTYPE_WC, MEMTYPE_WT, MEMTYPE_WP, MEMTYPE_WB},
    };
    for (unsigned i = 0; i < 5; i++)
        for (unsigned j = 0; j < 5; j++)
            for (int ipat12 = 0; ipat12 < 2; ipat12++) {
                unsigned type = 99;
                bool ipat = false;
                ept02_compose_memtype(types[i], ipat12, types[j], &type, &ipat);
                assert_int_equal(type, want[i][j]);
                assert_int_equal(ipat, types[j] == MEMTYPE_WB ? (bool)ipat12 : true);
            }
}

static void test_memtype_through_a_fill(void **state)
{
    (void)state;
    /* L1 says WC with ignore-PAT over L0's WB: WC, ignore-PAT. */
    map12(G, 1, L1A | EPT_RWX | (uint64_t)MEMTYPE_WC << EPT_MEMTYPE_SHIFT | EPT_IGNORE_PAT);
    assert_int_equal(fault(G, EPT_QUAL_READ).outcome, EPT02_FILLED);
    uint64_t attrs;
    assert_int_equal(shadow(G, 0, &attrs), 1);
    assert_int_equal(attrs & (EPT_MEMTYPE_MASK | EPT_IGNORE_PAT),
                     (uint64_t)MEMTYPE_WC << EPT_MEMTYPE_SHIFT | EPT_IGNORE_PAT);
    /* L1 says WB over L0's UC (device memory): UC, ignore-PAT. */
    assert_true(ept_map(&the_vm.ept01, 0x700000, 0xfee00000, 4 * KiB, EPT_RWX | UC));
    map12(G + 4 * KiB, 1, LEAF4K(0x700000, EPT_RWX));
    assert_int_equal(fault(G + 4 * KiB, EPT_QUAL_WRITE).outcome, EPT02_FILLED);
    uint64_t hpa;
    assert_int_equal(shadow(G + 4 * KiB + 8, &hpa, &attrs), 1);
    assert_int_equal(hpa, 0xfee00008);
    assert_int_equal(attrs & (EPT_MEMTYPE_MASK | EPT_IGNORE_PAT), UC | EPT_IGNORE_PAT);
}

/* ---- page sizes: the shadow page is no larger than either ---- */

static void test_large_page_split(void **state)
{
    (void)state;
    /* EPT01: L1 [1 GiB, 1 GiB + 2 MiB) in 4 KiB pages, in reverse order in
     * host memory; L1 [2 GiB, 3 GiB) in 2 MiB pages, also reversed; the
     * rest 1 GiB pages. */
    uint64_t h4k = 100 * GiB, h2m = 200 * GiB;
    for (uint64_t i = 0; i < 512; i++)
        assert_true(ept_map(&the_vm.ept01, 1 * GiB + i * 4 * KiB, h4k + (511 - i) * 4 * KiB, 4 * KiB, EPT_RWX | WB));
    for (uint64_t i = 0; i < 512; i++)
        assert_true(ept_map(&the_vm.ept01, 2 * GiB + i * 2 * MiB, h2m + (511 - i) * 2 * MiB, 2 * MiB, EPT_RWX | WB));

    /* EPT12 2 MiB over EPT01 4 KiB: 4 KiB shadow pages, one per fault. */
    uint64_t g2 = 0x40000000ULL;
    map12(g2, 2, LEAF2M(1 * GiB, EPT_RWX));
    assert_int_equal(fault(g2 + 5 * 4 * KiB + 0x123, EPT_QUAL_READ).outcome, EPT02_FILLED);
    uint64_t hpa;
    assert_int_equal(shadow(g2 + 5 * 4 * KiB, &hpa, 0), 1);
    assert_int_equal(hpa, h4k + 506 * 4 * KiB);
    assert_int_equal(shadow(g2 + 6 * 4 * KiB, 0, 0), 0);

    /* EPT12 1 GiB over EPT01 2 MiB: 2 MiB shadow pages. */
    uint64_t g1 = 0x8000000000ULL;
    map12(g1, 3, LEAF1G(2 * GiB, EPT_RWX));
    assert_int_equal(fault(g1 + 7 * 2 * MiB + 0x1234, EPT_QUAL_WRITE).outcome, EPT02_FILLED);
    assert_int_equal(shadow(g1 + 7 * 2 * MiB + 0x1234, &hpa, 0), 2);
    assert_int_equal(hpa, h2m + 504 * 2 * MiB + 0x1234);
    assert_int_equal(shadow(g1 + 8 * 2 * MiB, 0, 0), 0);

    /* EPT12 2 MiB over EPT01 1 GiB: 2 MiB. */
    uint64_t g3 = 0x40200000ULL;
    map12(g3, 2, LEAF2M(3 * GiB + 4 * MiB, EPT_RWX));
    assert_int_equal(fault(g3 + 0x1fffff, EPT_QUAL_READ).outcome, EPT02_FILLED);
    assert_int_equal(shadow(g3, &hpa, 0), 2);
    assert_int_equal(hpa, HOST_OFFSET + 3 * GiB + 4 * MiB);

    /* Both 1 GiB: 1 GiB. */
    uint64_t g4 = 0x8040000000ULL;
    map12(g4, 3, LEAF1G(3 * GiB, EPT_RWX));
    assert_int_equal(fault(g4 + 0x3456789, EPT_QUAL_FETCH).outcome, EPT02_FILLED);
    assert_int_equal(shadow(g4 + 0x3fffffff, &hpa, 0), 3);
    assert_int_equal(hpa, HOST_OFFSET + 3 * GiB + 0x3fffffff);

    /* EPT12 4 KiB over EPT01 1 GiB: 4 KiB. */
    map12(G, 1, LEAF4K(3 * GiB + 0x7000, EPT_RWX));
    assert_int_equal(fault(G, EPT_QUAL_READ).outcome, EPT02_FILLED);
    assert_int_equal(shadow(G + 0xfff, &hpa, 0), 1);
    assert_int_equal(hpa, HOST_OFFSET + 3 * GiB + 0x7fff);

    /* Without 1 GiB pages in the host, the shadow uses 2 MiB ones. */
    ept02_invalidate(&E2, EPT02_ALL_CONTEXTS);
    host_caps.ept_1g = false;
    caps.pages_1g = false;
    ept02_set_caps(&caps);
    uint64_t g5 = 0x40400000ULL;
    map12(g5, 2, LEAF2M(3 * GiB, EPT_RWX));
    assert_int_equal(fault(g5, EPT_QUAL_READ).outcome, EPT02_FILLED);
    assert_int_equal(shadow(g5, 0, 0), 2);
}

/* ---- accessed and dirty flags (SDM 29.3.5) ---- */

static void test_accessed_and_dirty_flags(void **state)
{
    (void)state;
    uint64_t eptp = eptp_of(root12, true);
    uint64_t leaf = map12(G, 1, LEAF4K(L1A, EPT_RWX));
    uint64_t pa[4] = {entry12(G, 4), entry12(G, 3), entry12(G, 2), leaf};
    /* A read: accessed set on every entry walked, dirty nowhere; the
     * shadow is write-protected although both EPTs allow writes, so the
     * first write comes back to L0. */
    assert_int_equal(fault_on(eptp, G, EPT_QUAL_READ).outcome, EPT02_FILLED);
    for (unsigned i = 0; i < 4; i++) {
        assert_true(*at(pa[i]) & EPT_ACCESSED);
        assert_false(*at(pa[i]) & EPT_DIRTY);
    }
    uint64_t attrs;
    assert_int_equal(shadow_of(eptp, G, 0, &attrs), 1);
    assert_int_equal(attrs & EPT_RWX, EPT_READ | EPT_EXEC);
    /* The write: dirty on the leaf only, and now the shadow is writable. */
    assert_int_equal(fault_on(eptp, G, EPT_QUAL_WRITE).outcome, EPT02_FILLED);
    for (unsigned i = 0; i < 3; i++)
        assert_false(*at(pa[i]) & EPT_DIRTY);
    assert_true(*at(leaf) & EPT_DIRTY);
    assert_int_equal(shadow_of(eptp, G, 0, &attrs), 1);
    assert_int_equal(attrs & EPT_RWX, EPT_RWX);
    assert_int_equal(E2.stats.dirty_upgrades, 1);
    /* A page whose leaf is already dirty is writable from its first read. */
    map12(G + 4 * KiB, 1, LEAF4K(L1A, EPT_RWX) | EPT_ACCESSED | EPT_DIRTY);
    assert_int_equal(fault_on(eptp, G + 4 * KiB, EPT_QUAL_READ).outcome, EPT02_FILLED);
    assert_int_equal(shadow_of(eptp, G + 4 * KiB, 0, &attrs), 1);
    assert_int_equal(attrs & EPT_RWX, EPT_RWX);
    /* A 2 MiB leaf takes the dirty flag, the entries above do not. */
    uint64_t g2 = 0x40000000ULL;
    uint64_t pde = map12(g2, 2, LEAF2M(0x200000, EPT_RWX));
    assert_int_equal(fault_on(eptp, g2 + 0x5000, EPT_QUAL_WRITE).outcome, EPT02_FILLED);
    assert_int_equal(*at(pde) & (EPT_ACCESSED | EPT_DIRTY), EPT_ACCESSED | EPT_DIRTY);
    assert_false(*at(entry12(g2, 3)) & EPT_DIRTY);
    /* A violation sets nothing (L1 gets the exit instead). */
    uint64_t ro = map12(G + 8 * KiB, 1, LEAF4K(L1A, EPT_READ));
    uint64_t before = *at(ro);
    assert_int_equal(fault_on(eptp, G + 8 * KiB, EPT_QUAL_WRITE).outcome, EPT02_REFLECT_VIOLATION);
    assert_int_equal(*at(ro), before);

    /* EPT02 carries the A/D enable, so that the CPU treats L2's guest
     * paging-structure accesses as writes (SDM 29.3.5) and they reach L0
     * while EPT12's dirty flag is clear: they arrive with bits 0 and 1 and
     * set it, or are reflected with both bits if EPT12 forbids writes. */
    assert_true(ept02_eptp_for(&E2, eptp) & EPTP_AD_ENABLE);
    assert_false(ept02_eptp_for(&E2, eptp12) & EPTP_AD_ENABLE);
    uint64_t pt = map12(G + 16 * KiB, 1, LEAF4K(L1A, EPT_RWX));
    uint64_t walk_qual = EPT_QUAL_READ | EPT_QUAL_WRITE | EPT_QUAL_GLA_VALID;
    assert_int_equal(fault_on(eptp, G + 16 * KiB, walk_qual).outcome, EPT02_FILLED);
    assert_true(*at(pt) & EPT_DIRTY);
    struct ept02_fault f = fault_on(eptp, G + 8 * KiB, walk_qual);
    assert_int_equal(f.outcome, EPT02_REFLECT_VIOLATION);
    assert_int_equal(f.qualification, walk_qual | EPT_QUAL_READABLE);

    /* Without A/D in the EPTP, EPT12 is never written and reads get write
     * permission at once. */
    leaf = map12(G + 12 * KiB, 1, LEAF4K(L1A, EPT_RWX));
    uint64_t pde_before = *at(entry12(G, 2));
    assert_int_equal(fault(G + 12 * KiB, EPT_QUAL_READ).outcome, EPT02_FILLED);
    assert_int_equal(fault(G + 12 * KiB, EPT_QUAL_WRITE).outcome, EPT02_FILLED);
    assert_int_equal(*at(leaf), LEAF4K(L1A, EPT_RWX));
    assert_int_equal(*at(entry12(G, 2)), pde_before);
    assert_int_equal(shadow(G + 12 * KiB, 0, &attrs), 1);
    assert_int_equal(attrs & EPT_RWX, EPT_RWX);
}

/* ept02_prefault: the fill done at L1's VMRESUME for the violation L1 was
 * just given. It fills exactly what the retried access would, counts as a
 * prefault (not a fill, not a reflection), and does nothing while EPT12
 * still forbids the access. */
static void test_prefault_at_vmresume(void **state)
{
    (void)state;
    uint64_t eptp = eptp_of(root12, true);
    /* L2 writes G: not mapped, so L1 gets the violation; the prefault before
     * L1 has mapped it fills nothing and counts nothing. */
    assert_int_equal(fault_on(eptp, G, EPT_QUAL_WRITE).outcome, EPT02_REFLECT_VIOLATION);
    struct ept02_stats before = E2.stats;
    assert_false(ept02_prefault(&E2, eptp, G, EPT_QUAL_WRITE, 0));
    assert_int_equal(shadow_of(eptp, G, 0, 0), 0);
    assert_memory_equal(&before, &E2.stats, sizeof(before));
    /* L1 maps it and resumes: EPT02 maps it writable, EPT12 has A and D as
     * if the write had happened, and the retried write takes no exit. */
    uint64_t leaf = map12(G, 1, LEAF4K(L1A, EPT_RWX));
    assert_true(ept02_prefault(&E2, eptp, G, EPT_QUAL_WRITE, 0));
    uint64_t hpa, attrs;
    assert_int_equal(shadow_of(eptp, G, &hpa, &attrs), 1);
    assert_int_equal(hpa, L1A + HOST_OFFSET);
    assert_int_equal(attrs & EPT_RWX, EPT_RWX);
    assert_int_equal(*at(leaf) & (EPT_ACCESSED | EPT_DIRTY), EPT_ACCESSED | EPT_DIRTY);
    assert_int_equal(E2.stats.prefaults, 1);
    assert_int_equal(E2.stats.fills, before.fills);
    assert_int_equal(E2.stats.reflected, before.reflected);
    /* A read prefault of a clean page stays write-protected, as a read fill. */
    leaf = map12(G + 4 * KiB, 1, LEAF4K(L1A, EPT_RWX));
    assert_true(ept02_prefault(&E2, eptp, G + 4 * KiB, EPT_QUAL_READ, 0));
    assert_int_equal(shadow_of(eptp, G + 4 * KiB, 0, &attrs), 1);
    assert_int_equal(attrs & EPT_RWX, EPT_READ | EPT_EXEC);
    assert_false(*at(leaf) & EPT_DIRTY);
    /* L1 "fixed" it into a misconfiguration: no fill, no count. */
    map12(G + 8 * KiB, 1, L1A | EPT_WRITE);
    assert_false(ept02_prefault(&E2, eptp, G + 8 * KiB, EPT_QUAL_READ, 0));
    assert_int_equal(E2.stats.misconfigs, before.misconfigs);
    assert_int_equal(E2.stats.prefaults, 2);
}

/* ---- INVEPT (SDM 29.4.3.1 and the INVEPT instruction, ch. 31) ---- */

static void test_invept_scope(void **state)
{
    (void)state;
    uint64_t rootb = l1_page();
    uint64_t a_wb_ad = eptp_of(root12, true);
    uint64_t a_uc = root12 | EPTP_MEMTYPE_UC | EPTP_WALK_4;
    uint64_t b = eptp_of(rootb, false);
    map12(G, 1, LEAF4K(L1A, EPT_RWX));
    map12_in(rootb, G, 1, LEAF4K(L1A, EPT_RWX));
    /* Each EPTP value gets its own shadow. */
    assert_int_equal(fault_on(a_wb_ad, G, EPT_QUAL_READ).outcome, EPT02_FILLED);
    assert_int_equal(fault_on(a_uc, G, EPT_QUAL_READ).outcome, EPT02_FILLED);
    assert_int_equal(fault_on(b, G, EPT_QUAL_READ).outcome, EPT02_FILLED);
    assert_int_equal(ept02_root_count(&E2), 3);
    unsigned n0 = fake_invept_count();
    unsigned free0 = ept02_pool_free(&E2);
    uint64_t eptp02_b;
    assert_non_null(ept02_shadow(&E2, b, &eptp02_b));

    /* Single-context names the EPT root, whatever the EPTP's other bits:
     * both shadows of root A go, B stays; one INVEPT per dropped shadow. */
    ept02_invalidate(&E2, root12 | EPTP_MEMTYPE_WB | EPTP_WALK_4 | EPTP_AD_ENABLE | 0x80);
    assert_int_equal(ept02_root_count(&E2), 1);
    uint64_t dummy;
    assert_null(ept02_shadow(&E2, a_wb_ad, &dummy));
    assert_null(ept02_shadow(&E2, a_uc, &dummy));
    assert_int_equal(shadow_of(b, G, 0, 0), 1);
    assert_int_equal(fake_invept_count(), n0 + 2);
    uint64_t type, eptp;
    fake_invept_last(&type, &eptp);
    assert_int_equal(type, INVEPT_SINGLE_CONTEXT);
    assert_int_equal(ept02_pool_free(&E2), free0 + 8); /* two shadows of 4 pages */

    /* An EPTP no shadow has: nothing happens. */
    ept02_invalidate(&E2, eptp_of(l1_page(), false));
    assert_int_equal(fake_invept_count(), n0 + 2);
    assert_int_equal(ept02_root_count(&E2), 1);

    /* All-context: everything, the INVEPT naming the dropped shadow. */
    ept02_invalidate(&E2, EPT02_ALL_CONTEXTS);
    assert_int_equal(ept02_root_count(&E2), 0);
    assert_int_equal(fake_invept_count(), n0 + 3);
    fake_invept_last(&type, &eptp);
    assert_int_equal(type, INVEPT_SINGLE_CONTEXT);
    assert_int_equal(eptp & EPT_ADDR_MASK, eptp02_b & EPT_ADDR_MASK);
    assert_int_equal(ept02_pool_free(&E2), EPT02_POOL_PAGES);

    /* The next fault builds afresh, and a new root is invalidated before
     * use: its page may have been a root or a table before (the CPU may
     * still cache translations under that address). ept02_flush_all is
     * all-context too. */
    assert_int_equal(fault_on(b, G, EPT_QUAL_READ).outcome, EPT02_FILLED);
    assert_int_equal(ept02_root_count(&E2), 1);
    assert_int_equal(fake_invept_count(), n0 + 4);
    uint64_t eptp02_new;
    assert_non_null(ept02_shadow(&E2, b, &eptp02_new));
    fake_invept_last(&type, &eptp);
    assert_int_equal(type, INVEPT_SINGLE_CONTEXT);
    assert_int_equal(eptp & EPT_ADDR_MASK, eptp02_new & EPT_ADDR_MASK);
    ept02_flush_all(&E2);
    assert_int_equal(ept02_root_count(&E2), 0);
    assert_int_equal(fake_invept_count(), n0 + 5);
}

/* ---- the cache of shadow roots ---- */

static void test_root_cache_lru(void **state)
{
    (void)state;
    uint64_t e[EPT02_ROOTS + 2];
    for (unsigned i = 0; i < EPT02_ROOTS + 2; i++)
        e[i] = eptp_of(l1_page(), false);
    uint64_t eptp02[EPT02_ROOTS];
    for (unsigned i = 0; i < EPT02_ROOTS; i++) {
        eptp02[i] = ept02_eptp_for(&E2, e[i]);
        assert_int_not_equal(eptp02[i], 0);
        assert_int_equal(eptp02[i] & ~EPT_ADDR_MASK, EPTP_MEMTYPE_WB | EPTP_WALK_4);
    }
    assert_int_equal(ept02_root_count(&E2), EPT02_ROOTS);
    assert_int_equal(E2.stats.roots_created, EPT02_ROOTS);
    /* The same EPTP gets the same shadow. */
    assert_int_equal(ept02_eptp_for(&E2, e[0]), eptp02[0]);
    assert_int_equal(E2.stats.roots_created, EPT02_ROOTS);
    /* A ninth: the least recently used (e[1], e[0] was just used) goes. */
    unsigned n0 = fake_invept_count();
    assert_int_not_equal(ept02_eptp_for(&E2, e[EPT02_ROOTS]), 0);
    uint64_t dummy, type, inv;
    assert_null(ept02_shadow(&E2, e[1], &dummy));
    assert_non_null(ept02_shadow(&E2, e[0], &dummy));
    assert_int_equal(ept02_root_count(&E2), EPT02_ROOTS);
    assert_int_equal(E2.stats.roots_reclaimed, 1);
    /* Two INVEPTs: of the dropped root, then of the new one (its page may
     * be the dropped root's, reused). */
    assert_int_equal(fake_invept_count(), n0 + 2);
    uint64_t eptp02_ninth;
    assert_non_null(ept02_shadow(&E2, e[EPT02_ROOTS], &eptp02_ninth));
    fake_invept_last(&type, &inv);
    assert_int_equal(inv & EPT_ADDR_MASK, eptp02_ninth & EPT_ADDR_MASK);
    /* A fault of L2 counts as a use: e[2] is now the youngest, e[3] goes. */
    map12_in(e[2] & EPT_ADDR_MASK, G, 1, LEAF4K(L1A, EPT_RWX));
    assert_int_equal(fault_on(e[2], G, EPT_QUAL_READ).outcome, EPT02_FILLED);
    assert_int_not_equal(ept02_eptp_for(&E2, e[EPT02_ROOTS + 1]), 0);
    assert_non_null(ept02_shadow(&E2, e[2], &dummy));
    assert_null(ept02_shadow(&E2, e[3], &dummy));
    assert_int_equal(E2.stats.roots_reclaimed, 2);
}

/* ---- the bounded pool ---- */

/* EPT12 at root: every L2 address maps to the L1 page L1A (one table per
 * level, each entry pointing to the one below). */
static uint64_t everything_to_one_page(void)
{
    uint64_t t[4] = {l1_page(), l1_page(), l1_page(), l1_page()};
    for (unsigned i = 0; i < 512; i++) {
        at(t[0])[i] = t[1] | EPT_RWX;
        at(t[1])[i] = t[2] | EPT_RWX;
        at(t[2])[i] = t[3] | EPT_RWX;
        at(t[3])[i] = LEAF4K(L1A, EPT_RWX);
    }
    return eptp_of(t[0], false);
}

/* A fault that costs the shadow 'cost' new tables (3: a new PML4 slot; 1:
 * a new page-directory slot under PML4 and PDPT slot 0, which G filled). */
static uint64_t next_gpa(unsigned cost, unsigned *n3, unsigned *n1)
{
    if (cost == 3)
        return (uint64_t)++*n3 << 39;
    return (uint64_t)++*n1 << 21;
}

static void fill(uint64_t eptp, uint64_t gpa)
{
    struct ept02_fault f = fault_on(eptp, gpa, EPT_QUAL_READ);
    assert_int_equal(f.outcome, EPT02_FILLED);
    uint64_t hpa;
    assert_int_equal(shadow_of(eptp, gpa, &hpa, 0), 1);
    assert_int_equal(hpa, HOST_OFFSET + L1A + (gpa & 0xfff));
}

/* Fills c until the pool is exactly empty, without reclaiming anything. */
static void fill_until_empty(uint64_t c, unsigned *n3, unsigned *n1)
{
    uint64_t reclaims = E2.stats.pool_reclaims;
    while (ept02_pool_free(&E2) >= 3)
        fill(c, next_gpa(3, n3, n1));
    while (ept02_pool_free(&E2) > 0)
        fill(c, next_gpa(1, n3, n1));
    assert_int_equal(E2.stats.pool_reclaims, reclaims);
}

static void test_pool_exhaustion(void **state)
{
    (void)state;
    uint64_t a = everything_to_one_page(), b = everything_to_one_page(), c = everything_to_one_page();
    unsigned n3 = 0, n1 = 0;
    /* Two other shadows of four pages each, used before c. */
    ept02_eptp_for(&E2, a);
    fill(a, G);
    ept02_eptp_for(&E2, b);
    fill(b, G);
    assert_int_equal(ept02_pool_free(&E2), EPT02_POOL_PAGES - 8);
    ept02_eptp_for(&E2, c);
    uint64_t first = G;
    fill(c, first);
    fill_until_empty(c, &n3, &n1);

    /* The next fill needs three pages: the least recently used other
     * shadow (a) goes, and c keeps everything. */
    uint64_t dummy;
    fill(c, next_gpa(3, &n3, &n1));
    assert_int_equal(E2.stats.pool_reclaims, 1);
    assert_null(ept02_shadow(&E2, a, &dummy));
    assert_non_null(ept02_shadow(&E2, b, &dummy));
    assert_int_equal(shadow_of(c, first, 0, 0), 1);

    /* Again: b goes. */
    fill_until_empty(c, &n3, &n1);
    fill(c, next_gpa(3, &n3, &n1));
    assert_null(ept02_shadow(&E2, b, &dummy));
    assert_int_equal(shadow_of(c, first, 0, 0), 1);
    assert_int_equal(ept02_root_count(&E2), 1);

    /* Again, with no other shadow left: c's own tables go, and the fill
     * still succeeds in a fresh shadow of c. */
    fill_until_empty(c, &n3, &n1);
    uint64_t last = next_gpa(3, &n3, &n1);
    fill(c, last);
    assert_int_equal(E2.stats.pool_reclaims, 3);
    assert_int_equal(ept02_root_count(&E2), 1);
    assert_int_equal(shadow_of(c, first, 0, 0), 0);
    assert_int_equal(ept02_pool_free(&E2), EPT02_POOL_PAGES - 4);
    assert_int_equal(E2.stats.roots_reclaimed, 2);
}

static void test_pool_exhaustion_never_reclaims_the_faulting_root(void **state)
{
    (void)state;
    /* As above, but the last EPTP that vmcs02 asked a shadow for is a,
     * not c: a fault of c must still never reclaim c's shadow under its
     * own fill. */
    uint64_t a = everything_to_one_page(), b = everything_to_one_page(), c = everything_to_one_page();
    unsigned n3 = 0, n1 = 0;
    fill(b, G);
    fill(c, G);
    ept02_eptp_for(&E2, a); /* empty shadow: one page */
    uint64_t first = G;
    fill_until_empty(c, &n3, &n1);
    uint64_t dummy;
    fill(c, next_gpa(3, &n3, &n1)); /* b goes (4 pages) */
    assert_null(ept02_shadow(&E2, b, &dummy));
    assert_int_equal(shadow_of(c, first, 0, 0), 1);
    fill_until_empty(c, &n3, &n1);
    /* Left: a (one page) and c. Dropping a frees one page, not enough;
     * then c's own shadow is dropped and rebuilt, never used dropped. */
    uint64_t last = next_gpa(3, &n3, &n1);
    fill(c, last);
    assert_non_null(ept02_shadow(&E2, c, &dummy));
    assert_int_equal(shadow_of(c, last, 0, 0), 1);
    assert_int_equal(*at(0), 0); /* nothing written through a dead root */
}

/* ---- EPT12 leading where L1 cannot go ---- */

static void test_hidden_l1_ranges(void **state)
{
    (void)state;
    /* EPT01 leaves out L1 [32 MiB, 34 MiB) (say, nestvisor's memory) and
     * makes L1 page 48 MiB read-only (e.g. a protected bitmap). */
    assert_true(ept_unmap(&the_vm.ept01, 32 * MiB, 2 * MiB));
    map12(G, 1, LEAF4K(32 * MiB + 0x1000, EPT_RWX));
    struct ept02_fault f = fault(G + 0x234, EPT_QUAL_READ);
    assert_int_equal(f.outcome, EPT02_L1_HIDDEN);
    assert_int_equal(f.l1_gpa, 32 * MiB + 0x1234);
    assert_int_equal(E2.stats.hidden, 1);
    /* Through a 2 MiB EPT12 page too, with the offset in it. */
    uint64_t g2 = 0x40000000ULL;
    map12(g2, 2, LEAF2M(32 * MiB, EPT_RWX));
    f = fault(g2 + 0x12345, EPT_QUAL_FETCH);
    assert_int_equal(f.outcome, EPT02_L1_HIDDEN);
    assert_int_equal(f.l1_gpa, 32 * MiB + 0x12345);
    /* Beyond everything EPT01 maps. */
    map12(G + 4 * KiB, 1, LEAF4K(64 * GiB, EPT_RWX));
    f = fault(G + 4 * KiB, EPT_QUAL_READ);
    assert_int_equal(f.outcome, EPT02_L1_HIDDEN);
    assert_int_equal(f.l1_gpa, 64 * GiB);
    /* Read-only in EPT01: a write is L1's problem, a read fills
     * read-only although EPT12 allows writes. */
    assert_true(ept_map(&the_vm.ept01, 48 * MiB, HOST_OFFSET + 48 * MiB, 4 * KiB, EPT_READ | EPT_EXEC | WB));
    map12(G + 8 * KiB, 1, LEAF4K(48 * MiB, EPT_RWX));
    f = fault(G + 8 * KiB, EPT_QUAL_WRITE);
    assert_int_equal(f.outcome, EPT02_L1_HIDDEN);
    assert_int_equal(f.l1_gpa, 48 * MiB);
    assert_int_equal(fault(G + 8 * KiB, EPT_QUAL_READ).outcome, EPT02_FILLED);
    uint64_t attrs;
    assert_int_equal(shadow(G + 8 * KiB, 0, &attrs), 1);
    assert_int_equal(attrs & EPT_RWX, EPT_READ | EPT_EXEC);
    assert_int_equal(shadow(G, 0, 0), 0);
}

static void test_write_to_a_protected_bitmap_page(void **state)
{
    (void)state;
    /* L0 merged L1's MSR bitmap at L1A and write-protected it in EPT01
     * (vmm/nested/bitmaps.c), which drops every shadow. An L2 write there
     * through EPT12 lifts the protection and fills writable. */
    map12(G, 1, LEAF4K(L1A, EPT_RWX));
    assert_int_equal(fault(G, EPT_QUAL_WRITE).outcome, EPT02_FILLED);
    uint64_t dst = pmm_alloc_page(), l0 = pmm_alloc_page();
    nested_bitmap_merge(&BM, BITMAP_MSR, dst, l0, L1A);
    assert_int_equal(ept02_root_count(&E2), 0);
    unsigned level;
    assert_false(*ept_lookup(&the_vm.ept01, L1A, &level) & EPT_WRITE);
    assert_int_equal(fault(G, EPT_QUAL_WRITE).outcome, EPT02_FILLED);
    assert_true(*ept_lookup(&the_vm.ept01, L1A, &level) & EPT_WRITE);
    uint64_t attrs;
    assert_int_equal(shadow(G, 0, &attrs), 1);
    assert_int_equal(attrs & EPT_RWX, EPT_RWX);
    (nested_bitmaps_unprotect_all(), nested_bitmaps_init(&BM));
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_write_without_read),
        T(test_execute_only),
        T(test_invalid_memory_types),
        T(test_reserved_bits_in_non_leaf_entries),
        T(test_large_pages_where_not_offered),
        T(test_misaligned_large_pages),
        T(test_address_beyond_maxphyaddr),
        T(test_not_present_at_each_level),
        T(test_permissions_and_over_the_walk),
        T(test_eptp_valid),
        T(test_compose_memtype_pairs),
        T(test_memtype_through_a_fill),
        T(test_large_page_split),
        T(test_accessed_and_dirty_flags),
        T(test_prefault_at_vmresume),
        T(test_invept_scope),
        T(test_root_cache_lru),
        T(test_pool_exhaustion),
        T(test_pool_exhaustion_never_reclaims_the_faulting_root),
        T(test_hidden_l1_ranges),
        T(test_write_to_a_protected_bitmap_page),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
