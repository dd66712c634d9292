/* unit-srcs: vmm/nested/bitmaps.c vmm/nested/vmcs02.c vmm/nested/msrlist.c vmm/l1view.c vmm/nested/fieldsets.c vmm/nested/ept02.c vmm/nested/ept12.c vmm/nested/vmx_msrs.c vmm/nested/vmcs12.c vmm/ept.c vmm/pmm.c vmm/msr.c vmm/mtrr.c vmm/memmap.c vmm/vcpu.c vmm/l1ram.c arch/x86/vmx_root.c arch/x86/vmx_caps.c tests/unit/fake_vmx.c tests/unit/fake_ipi.c */
/* vmm/nested/bitmaps.c: vmcs02's MSR and I/O bitmaps are L0's ORed with
 * L1's (SDM 25.6.4, 25.6.9: an access exits if either wants it). The merge
 * is cached: L1's page is write-protected in EPT01 (SDM 29.3.2: an EPT
 * entry without bit 1 makes writes cause EPT violations) and a write to it
 * lifts the protection and marks the merge stale; every change of EPT01
 * permissions is followed by INVEPT (SDM 29.4.3.1) and drops the shadow
 * EPT02s that could hold a writable copy. The cycle: merge -> protect ->
 * (cached merges) -> write fault -> unprotect -> merge again. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>
#include "vmm/nested/bitmaps.h"
#include "vmm/nested/ept02.h"
#include "vmm/nested/vmx_msrs.h"
#include "vmm/ept.h"
#include "vmm/pmm.h"
#include "vmm/vm.h"
#include "arch/x86/physmem.h"
#include "arch/x86/vmx.h"
#include "arch/x86/vmx_bits.h"
#include "tests/unit/fake_arch.h"
#include "tests/unit/fake_vmx.h"
#include "tests/unit/cpu_models.h"

struct vm the_vm;
#include "tests/unit/ept02_fixture.h"
void vm_stop(enum power_status status, const char *why)
{
    (void)status;
    fail_msg("vm_stop: %s", why);
    abort();
}

#define L1_RAM_END 0x1000000ULL /* EPT01 maps [0, 16 MiB) with 2 MiB pages */
#define POOL_BASE  0x1000000ULL
#define POOL_PAGES 2048ULL
#define P1         0x200000ULL  /* L1 bitmap pages, inside one 2 MiB page */
#define P2         0x201000ULL
#define P3         0x5ff000ULL
#define UNMAPPED   0x2800000ULL /* memory EPT01 does not map */
#define EPT01_FLAGS (EPT_RWX | (MEMTYPE_WB << EPT_MEMTYPE_SHIFT) | EPT_IGNORE_PAT)

static struct vmx_caps caps;
static uint64_t dst, l0;

static uint8_t *mem(uint64_t pa) { return phys_to_virt(pa); }

static int setup(void **state)
{
    (void)state;
    fake_phys_reset();
    fake_vmx_reset();
    memset(&the_vm, 0, sizeof(the_vm));
    assert_true(pmm_init(POOL_BASE, POOL_PAGES * PAGE_SIZE));
    vmx_caps_decode(&tigerlake, &caps);
    nested_vmx_msrs_init(&caps);
    the_vm.caps = &caps;
    memmap_init(&the_vm.l1_map);
    assert_true(memmap_set(&the_vm.l1_map, 0, L1_RAM_END, MEM_USABLE));
    assert_true(ept_init(&the_vm.ept01, 2));
    assert_true(ept_map(&the_vm.ept01, 0, 0, L1_RAM_END, EPT01_FLAGS));
    the_vm.eptp01 = ept_eptp(&the_vm.ept01, false);
    uint64_t vmxon = pmm_alloc_page();
    *(uint32_t *)phys_to_virt(vmxon) = caps.revision_id;
    assert_true(vmx_on(vmxon));
    assert_true(ept02_init(&E2, EPT02_POOL_PAGES));
    (nested_bitmaps_unprotect_all(), nested_bitmaps_init(&BM));
    dst = pmm_alloc_page();
    l0 = pmm_alloc_page();
    for (unsigned i = 0; i < 4096; i++)
        mem(l0)[i] = (uint8_t)(i & 0x11);
    for (unsigned i = 0; i < 4096; i++) {
        mem(P1)[i] = (uint8_t)(1U << (i % 8));
        mem(P2)[i] = 0x40;
        mem(P3)[i] = 0x02;
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    (nested_bitmaps_unprotect_all(), nested_bitmaps_init(&BM));
    return 0;
}

/* EPT01's leaf for pa: its level and whether it allows writes. */
static bool writable(uint64_t pa, unsigned *level)
{
    unsigned l = 0;
    uint64_t *e = ept_lookup(&the_vm.ept01, pa, &l);
    assert_non_null(e);
    if (level)
        *level = l;
    /* The mapping stays the identity with EPT01's other attributes. */
    uint64_t size = EPT_LEVEL_SIZE(l);
    assert_int_equal((*e & EPT_ADDR_MASK) + (pa & (size - 1)), pa);
    assert_int_equal(*e & (EPT_READ | EPT_EXEC | EPT_MEMTYPE_MASK | EPT_IGNORE_PAT),
                     EPT01_FLAGS & ~EPT_WRITE);
    return *e & EPT_WRITE;
}

static void assert_merged(uint64_t l1)
{
    for (unsigned i = 0; i < 4096; i++)
        if (mem(dst)[i] != (uint8_t)(mem(l0)[i] | mem(l1)[i]))
            fail_msg("byte %u: 0x%02x, expected 0x%02x | 0x%02x", i, mem(dst)[i], mem(l0)[i], mem(l1)[i]);
}

static void assert_flushed_since(unsigned before)
{
    assert_true(fake_invept_count() > before);
    uint64_t type, eptp;
    fake_invept_last(&type, &eptp);
    assert_int_equal(type, INVEPT_SINGLE_CONTEXT);
    assert_int_equal(eptp, the_vm.eptp01);
}

/* The merge ORs the pages and write-protects exactly L1's 4 KiB page,
 * splitting the 2 MiB page around it with its attributes kept. */
static void test_merge_protects_the_l1_page(void **state)
{
    (void)state;
    unsigned level, n = fake_invept_count();
    assert_true(writable(P1, &level));
    assert_int_equal(level, 2);
    nested_bitmap_merge(&BM, BITMAP_MSR, dst, l0, P1);
    assert_merged(P1);
    assert_false(writable(P1, &level));
    assert_int_equal(level, 1);
    assert_true(writable(P1 - PAGE_SIZE, 0));
    assert_true(writable(P1 + PAGE_SIZE, 0));
    assert_true(writable(P1 + 0x1ff000, 0));
    assert_true(writable(P1 + 0x200000, &level));
    assert_int_equal(level, 2);
    assert_flushed_since(n);
}

/* While protected, the merge is reused: L1 cannot have changed the page
 * without a fault. */
static void test_merge_is_cached_while_protected(void **state)
{
    (void)state;
    nested_bitmap_merge(&BM, BITMAP_IO_A, dst, l0, P1);
    memset(mem(dst), 0xee, 4096); /* not redone: dst keeps this */
    unsigned n = fake_invept_count();
    nested_bitmap_merge(&BM, BITMAP_IO_A, dst, l0, P1);
    assert_int_equal(mem(dst)[17], 0xee);
    assert_int_equal(fake_invept_count(), n);
}

/* A write to the page (an EPT01 violation) lifts the protection and marks
 * the merge stale: the next merge sees L1's new bits. */
static void test_write_fault_unprotects_and_remerges(void **state)
{
    (void)state;
    nested_bitmap_merge(&BM, BITMAP_IO_B, dst, l0, P1);
    unsigned n = fake_invept_count();
    assert_true(nested_bitmap_write_fault(P1 + 0x123));
    assert_true(writable(P1, 0));
    assert_flushed_since(n);
    mem(P1)[0x123] = 0xff; /* L1's write, now allowed */
    nested_bitmap_merge(&BM, BITMAP_IO_B, dst, l0, P1);
    assert_merged(P1);
    assert_int_equal(mem(dst)[0x123], 0xff);
    assert_false(writable(P1, 0));
    /* A fault on a page that is not a protected bitmap is not ours. */
    n = fake_invept_count();
    assert_false(nested_bitmap_write_fault(P2));
    assert_false(nested_bitmap_write_fault(P1 + PAGE_SIZE));
    assert_int_equal(fake_invept_count(), n);
    assert_false(writable(P1, 0));
}

/* Merging one bitmap from another page protects that one too; the old
 * page stays protected (another vCPU may use it) until L1 writes it. */
static void test_switching_pages(void **state)
{
    (void)state;
    nested_bitmap_merge(&BM, BITMAP_MSR, dst, l0, P1);
    unsigned flushes = smp_flushes;
    nested_bitmap_merge(&BM, BITMAP_MSR, dst, l0, P3);
    assert_merged(P3);
    assert_false(writable(P1, 0));
    assert_false(writable(P3, 0));
    assert_int_equal(smp_flushes, flushes + 1); /* every CPU dropped P3's writable entries */
    /* Back to P1: still protected, so no new flush, just the merge. */
    nested_bitmap_merge(&BM, BITMAP_MSR, dst, l0, P1);
    assert_merged(P1);
    assert_int_equal(smp_flushes, flushes + 1);
    assert_true(nested_bitmap_write_fault(P1));
    assert_true(nested_bitmap_write_fault(P3));
}

/* L1 may use one page for two bitmaps: a write makes both merges stale. */
static void test_shared_page(void **state)
{
    (void)state;
    uint64_t dst2 = pmm_alloc_page();
    nested_bitmap_merge(&BM, BITMAP_IO_A, dst, l0, P2);
    nested_bitmap_merge(&BM, BITMAP_IO_B, dst2, l0, P2);
    assert_false(writable(P2, 0));
    assert_true(nested_bitmap_write_fault(P2));
    assert_true(writable(P2, 0));
    mem(P2)[5] |= 0x01;
    mem(P2)[6] |= 0x01;
    nested_bitmap_merge(&BM, BITMAP_IO_A, dst, l0, P2);
    nested_bitmap_merge(&BM, BITMAP_IO_B, dst2, l0, P2);
    assert_int_equal(mem(dst)[6], (uint8_t)(mem(l0)[6] | mem(P2)[6]));
    assert_int_equal(mem(dst2)[5], (uint8_t)(mem(l0)[5] | 0x41));
    assert_false(writable(P2, 0));
}

/* Several vCPUs (each its own cache and bitmaps02) merging one L1 page:
 * it is protected once, and a write by L1 on any CPU makes every vCPU's
 * merge stale: each merges again at its next entry. */
static void test_merges_of_several_vcpus(void **state)
{
    (void)state;
    static struct nested_bitmaps other; /* a vCPU's: known for good */
    nested_bitmaps_init(&other);
    uint64_t dst2 = pmm_alloc_page();
    unsigned flushes = smp_flushes;
    nested_bitmap_merge(&BM, BITMAP_MSR, dst, l0, P1);
    nested_bitmap_merge(&other, BITMAP_MSR, dst2, l0, P1);
    assert_int_equal(smp_flushes, flushes + 1);
    memset(mem(dst2), 0xee, 4096);
    nested_bitmap_merge(&other, BITMAP_MSR, dst2, l0, P1); /* cached */
    assert_int_equal(mem(dst2)[0], 0xee);
    assert_true(nested_bitmap_write_fault(P1 + 8)); /* L1's write, from a third CPU */
    mem(P1)[8] = 0x33;
    nested_bitmap_merge(&other, BITMAP_MSR, dst2, l0, P1);
    nested_bitmap_merge(&BM, BITMAP_MSR, dst, l0, P1);
    assert_int_equal(mem(dst2)[8], (uint8_t)(mem(l0)[8] | 0x33));
    assert_int_equal(mem(dst)[8], (uint8_t)(mem(l0)[8] | 0x33));
    assert_false(writable(P1, 0));
}

/* Forgetting every merge lifts every protection. */
static void test_reset_unprotects(void **state)
{
    (void)state;
    nested_bitmap_merge(&BM, BITMAP_MSR, dst, l0, P1);
    nested_bitmap_merge(&BM, BITMAP_IO_A, dst, l0, P2);
    nested_bitmap_merge(&BM, BITMAP_IO_B, dst, l0, P3);
    (nested_bitmaps_unprotect_all(), nested_bitmaps_init(&BM));
    assert_true(writable(P1, 0));
    assert_true(writable(P2, 0));
    assert_true(writable(P3, 0));
    mem(P1)[0] = 0xfe;
    nested_bitmap_merge(&BM, BITMAP_MSR, dst, l0, P1);
    assert_merged(P1);
}

/* A bitmap address that is not L1's RAM reads as all ones, as a read of
 * a device or of nothing does on hardware (issue 13): every access it
 * governs exits. Nothing there is protected or cached. */
static void test_bitmap_outside_l1_ram_reads_as_all_ones(void **state)
{
    (void)state;
    memset(mem(UNMAPPED), 0x10, 4096);
    nested_bitmap_merge(&BM, BITMAP_MSR, dst, l0, UNMAPPED);
    for (unsigned i = 0; i < 4096; i++)
        assert_int_equal(mem(dst)[i], 0xff);
    memset(mem(dst), 0, 4096);
    nested_bitmap_merge(&BM, BITMAP_MSR, dst, l0, UNMAPPED);
    assert_int_equal(mem(dst)[77], 0xff);
    assert_null(ept_lookup(&the_vm.ept01, UNMAPPED, 0));
}

/* Protecting a page drops the shadow EPT02s (they compose EPT01's
 * permissions and could still map it writable for L2). */
static void test_protect_drops_shadow_ept02(void **state)
{
    (void)state;
    uint64_t eptp12 = 0x300000ULL | EPTP_WALK_4 | EPTP_MEMTYPE_WB;
    assert_true(ept02_eptp_for(&E2, eptp12) != 0);
    assert_int_equal(ept02_root_count(&E2), 1);
    nested_bitmap_merge(&BM, BITMAP_MSR, dst, l0, P1);
    assert_int_equal(ept02_root_count(&E2), 0);
}

/* In use: some vCPU's cache names the page, until that vCPU merges
 * another page for that bitmap, or its vmcs12 stops using the bitmap. A
 * page no cache names is L1's memory again (bitmap_write.c then lifts the
 * protection instead of doing L1's stores). */
static void test_in_use_follows_every_vcpus_cache(void **state)
{
    (void)state;
    static struct nested_bitmaps other;
    nested_bitmaps_init(&other);
    uint64_t dst2 = pmm_alloc_page();
    assert_false(nested_bitmap_in_use(P1));
    nested_bitmap_merge(&BM, BITMAP_MSR, dst, l0, P1);
    nested_bitmap_merge(&other, BITMAP_IO_A, dst2, l0, P2);
    assert_true(nested_bitmap_in_use(P1 + 0x123));
    assert_true(nested_bitmap_in_use(P2));
    assert_false(nested_bitmap_in_use(P3));
    /* The first vCPU's next vmcs12 has another MSR bitmap. */
    nested_bitmap_merge(&BM, BITMAP_MSR, dst, l0, P3);
    assert_false(nested_bitmap_in_use(P1));
    assert_true(nested_bitmap_is_protected(P1)); /* until written */
    assert_true(nested_bitmap_in_use(P3));
    /* The other's vmcs12 turns its I/O bitmaps off. */
    nested_bitmap_unused(&other, BITMAP_IO_A);
    assert_false(nested_bitmap_in_use(P2));
    /* A stale cache (a protected page was written) still names its pages
     * until its vCPU merges again. */
    nested_bitmap_page_written();
    assert_true(nested_bitmap_in_use(P3));
    nested_bitmap_merge(&BM, BITMAP_MSR, dst, l0, P1);
    assert_false(nested_bitmap_in_use(P3));
    assert_true(nested_bitmap_in_use(P1));
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_merge_protects_the_l1_page),
        T(test_merge_is_cached_while_protected),
        T(test_write_fault_unprotects_and_remerges),
        T(test_switching_pages),
        T(test_shared_page),
        T(test_merges_of_several_vcpus),
        T(test_reset_unprotects),
        T(test_bitmap_outside_l1_ram_reads_as_all_ones),
        T(test_protect_drops_shadow_ept02),
        T(test_in_use_follows_every_vcpus_cache),
    };
    return cmocka_run_group_tests(tests, 0, 0);
}
