/* unit-srcs: vmm/hostmem.c vmm/memmap.c vmm/pmm.c */
/* vmm/hostmem.c: from the hand-off's memory map to nestvisor's pool, with
 * the boot modules moved into it. The memory map is the one Bochs gives a
 * 256 MiB machine, scaled down to the 64 MiB of fake physical memory. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>
#include "vmm/hostmem.h"
#include "vmm/pmm.h"
#include "arch/x86/physmem.h"
#include "tests/unit/fake_arch.h"

#define MiB (1ULL << 20)
#define POOL_ALIGN (2 * MiB)

static struct handoff h;
static struct hostmem hm;
static char err[200];

static void add_mem(uint64_t base, uint64_t size, uint32_t type)
{
    h.mem[h.mem_count++] = (struct handoff_mem_range){base, size, type, 0};
}

/* The Bochs map (usable 0-0x9efff, reserved 0x9f000-0x9ffff and
 * 0xe8000-0xfffff, usable from 1 MiB, ACPI data in the last 64 KiB of RAM,
 * the BIOS ROM below 4 GiB) for a machine of 'ram' bytes. */
static void bochs_map(uint64_t ram)
{
    add_mem(0x0, 0x9f000, MEM_USABLE);
    add_mem(0x9f000, 0x1000, MEM_RESERVED);
    add_mem(0xe8000, 0x18000, MEM_RESERVED);
    add_mem(0x100000, ram - 0x10000 - 0x100000, MEM_USABLE);
    add_mem(ram - 0x10000, 0x10000, MEM_ACPI_RECLAIM);
    add_mem(0xfffc0000, 0x40000, MEM_RESERVED);
}

static uint8_t pattern(unsigned module, uint64_t i) { return (uint8_t)(i * 7 + module * 31 + (i >> 9)); }

/* A module at base filled with a recognisable pattern. */
static void add_module(uint64_t base, uint64_t size, const char *name, const char *cmdline)
{
    unsigned n = h.module_count++;
    struct handoff_module *m = &h.modules[n];
    m->base = base;
    m->size = size;
    strcpy(m->name, name);
    strcpy(m->cmdline, cmdline);
    uint8_t *p = phys_to_virt(base);
    for (uint64_t i = 0; i < size; i++)
        p[i] = pattern(n, i);
}

static int setup(void **state)
{
    (void)state;
    fake_phys_reset();
    fake_console_reset();
    memset(&h, 0, sizeof(h));
    memset(&hm, 0x5a, sizeof(hm));
    strcpy(err, "untouched");
    return 0;
}

/* The 64 MiB machine as GRUB leaves it: the kernel near the top of RAM,
 * two guest images low (the second one not page-aligned in size). */
#define RAM        (64 * MiB)
#define KERNEL_LO  0x3e00000ULL
#define KERNEL_HI  0x3e2c000ULL
#define MOD0_BASE  0x400000ULL
#define MOD0_SIZE  0x123457ULL
#define MOD1_BASE  0x524000ULL
#define MOD1_SIZE  0x2800ULL

static void realistic_boot(void)
{
    bochs_map(RAM);
    h.kernel_base = KERNEL_LO;
    h.kernel_end = KERNEL_HI;
    add_module(MOD0_BASE, MOD0_SIZE, "l1", "console=ttyS0 quiet");
    add_module(MOD1_BASE, MOD1_SIZE, "l2-guest", "");
}

static uint64_t page_up(uint64_t x) { return (x + 0xfff) & ~0xfffULL; }

static void test_pool_carved_at_the_top_2mib_aligned(void **state)
{
    (void)state;
    realistic_boot();
    assert_true(hostmem_init(&hm, &h, HOSTMEM_DEFAULT_POOL, err, sizeof(err)));
    uint64_t modules = page_up(MOD0_SIZE) + page_up(MOD1_SIZE);
    uint64_t want_size = (HOSTMEM_DEFAULT_POOL + modules + POOL_ALIGN - 1) & ~(POOL_ALIGN - 1);
    assert_int_equal(hm.pool_size, want_size);
    assert_int_equal(hm.pool_size, 34 * MiB);
    /* The highest 2 MiB-aligned block of usable RAM below the kernel (the
     * usable bit above the kernel is too small). */
    assert_int_equal(hm.pool_base % POOL_ALIGN, 0);
    assert_int_equal(hm.pool_base, (KERNEL_LO - want_size) & ~(POOL_ALIGN - 1));
    assert_true(hm.pool_base + hm.pool_size <= KERNEL_LO);
    assert_true(hm.pool_base + hm.pool_size + POOL_ALIGN > KERNEL_LO);
    assert_true(memmap_is_all(&hm.map, hm.pool_base, hm.pool_size, MEM_HV));
    assert_int_equal(memmap_type_at(&hm.map, hm.pool_base - 1), MEM_USABLE);
    /* The allocator runs on exactly that pool. */
    assert_int_equal(pmm_pool_base(), hm.pool_base);
    assert_int_equal(pmm_total_pages(), hm.pool_size / PAGE_SIZE);
    assert_int_equal(pmm_free_pages(), (hm.pool_size - modules) / PAGE_SIZE);
}

static void test_kernel_and_firmware_ranges(void **state)
{
    (void)state;
    realistic_boot();
    assert_true(hostmem_init(&hm, &h, HOSTMEM_DEFAULT_POOL, err, sizeof(err)));
    assert_int_equal(hm.kernel_base, KERNEL_LO);
    assert_int_equal(hm.kernel_end, KERNEL_HI);
    assert_true(memmap_is_all(&hm.map, KERNEL_LO, KERNEL_HI - KERNEL_LO, MEM_HV));
    assert_int_equal(memmap_type_at(&hm.map, KERNEL_HI), MEM_USABLE);
    assert_int_equal(memmap_type_at(&hm.map, 0x9f000), MEM_RESERVED);
    assert_int_equal(memmap_type_at(&hm.map, 0xe8000), MEM_RESERVED);
    assert_int_equal(memmap_type_at(&hm.map, 0xa0000), 0); /* the VGA hole stays a hole */
    assert_int_equal(memmap_type_at(&hm.map, RAM - 0x10000), MEM_ACPI_RECLAIM);
    assert_int_equal(memmap_type_at(&hm.map, 0xfffc0000), MEM_RESERVED);
    /* What is left for L1: all usable RAM but the pool and the kernel. */
    uint64_t usable = 0x9f000 + (RAM - 0x10000 - 0x100000);
    assert_int_equal(memmap_total(&hm.map, MEM_USABLE),
                     usable - hm.pool_size - (KERNEL_HI - KERNEL_LO));
    assert_int_equal(memmap_total(&hm.map, MEM_HV), hm.pool_size + (KERNEL_HI - KERNEL_LO));
}

static void test_modules_moved_into_the_pool(void **state)
{
    (void)state;
    realistic_boot();
    assert_true(hostmem_init(&hm, &h, HOSTMEM_DEFAULT_POOL, err, sizeof(err)));
    assert_int_equal(hm.module_count, 2);
    for (unsigned n = 0; n < 2; n++) {
        const struct handoff_module *orig = &h.modules[n], *copy = &hm.modules[n];
        assert_true(pmm_owns(copy->base));
        assert_true(pmm_owns(copy->base + copy->size - 1));
        assert_int_equal(copy->base % PAGE_SIZE, 0);
        assert_int_equal(copy->size, orig->size);
        assert_string_equal(copy->name, orig->name);
        assert_string_equal(copy->cmdline, orig->cmdline);
        const uint8_t *p = phys_to_virt(copy->base);
        for (uint64_t i = 0; i < copy->size; i++)
            if (p[i] != pattern(n, i))
                fail_msg("module %u byte 0x%llx differs in the copy", n, (unsigned long long)i);
        /* The rest of the copy's last page is zeroed, not stale. */
        for (uint64_t i = copy->size; i < page_up(copy->size); i++)
            assert_int_equal(p[i], 0);
    }
    /* The two copies do not overlap. */
    const struct handoff_module *a = &hm.modules[0], *b = &hm.modules[1];
    assert_true(a->base + page_up(a->size) <= b->base || b->base + page_up(b->size) <= a->base);
    /* The memory they arrived in is L1's again. */
    assert_true(memmap_is_all(&hm.map, MOD0_BASE, page_up(MOD0_SIZE), MEM_USABLE));
    assert_true(memmap_is_all(&hm.map, MOD1_BASE, page_up(MOD1_SIZE), MEM_USABLE));
    assert_int_equal(memmap_total(&hm.map, MEM_IMAGE), 0);
}

static void test_unaligned_and_empty_modules(void **state)
{
    (void)state;
    bochs_map(RAM);
    h.kernel_base = 0x200000;
    h.kernel_end = 0x22b123; /* rounded out to pages */
    add_module(0x600800, 0x1000, "straddles", "two pages"); /* not page-aligned */
    add_module(0x601800, 0x10, "neighbour", "");            /* shares its last page */
    add_module(0x700000, 0, "empty", "");
    assert_true(hostmem_init(&hm, &h, 4 * MiB, err, sizeof(err)));
    assert_int_equal(hm.kernel_end, 0x22c000);
    assert_int_equal(hm.pool_size, 6 * MiB); /* 4 MiB + 2 pages, rounded up to 2 MiB */
    for (unsigned n = 0; n < 2; n++) {
        const uint8_t *p = phys_to_virt(hm.modules[n].base);
        assert_true(pmm_owns(hm.modules[n].base));
        for (uint64_t i = 0; i < h.modules[n].size; i++)
            assert_int_equal(p[i], pattern(n, i));
    }
    assert_int_equal(hm.modules[2].size, 0);
    assert_string_equal(hm.modules[2].name, "empty");
    assert_true(memmap_is_all(&hm.map, 0x600000, 0x2000, MEM_USABLE));
    assert_true(memmap_is_all(&hm.map, 0x200000, 0x2c000, MEM_HV));
    assert_int_equal(memmap_total(&hm.map, MEM_IMAGE), 0);
}

static void test_module_in_the_way_survives(void **state)
{
    (void)state;
    /* A module where the pool would otherwise go, and one right above the
     * kernel (where GRUB tends to put them): the pool (which pmm zeroes)
     * must avoid both until they are copied. */
    bochs_map(RAM);
    h.kernel_base = KERNEL_LO;
    h.kernel_end = KERNEL_HI;
    add_module(0x3000000, MiB, "l1", "");
    add_module(KERNEL_HI, 0x20000, "l2", "");
    assert_true(hostmem_init(&hm, &h, HOSTMEM_DEFAULT_POOL, err, sizeof(err)));
    assert_true(hm.pool_base + hm.pool_size <= 0x3000000);
    assert_int_equal(hm.pool_base, (0x3000000 - 34 * MiB) & ~(POOL_ALIGN - 1));
    for (unsigned n = 0; n < 2; n++) {
        const uint8_t *p = phys_to_virt(hm.modules[n].base);
        assert_true(pmm_owns(hm.modules[n].base));
        for (uint64_t i = 0; i < h.modules[n].size; i++)
            if (p[i] != pattern(n, i))
                fail_msg("module %u byte 0x%llx differs in the copy", n, (unsigned long long)i);
    }
    assert_true(memmap_is_all(&hm.map, 0x3000000, MiB, MEM_USABLE));
    assert_true(memmap_is_all(&hm.map, KERNEL_HI, 0x20000, MEM_USABLE));
    assert_true(memmap_is_all(&hm.map, KERNEL_LO, KERNEL_HI - KERNEL_LO, MEM_HV));
}

static void test_pool_stays_below_4gib(void **state)
{
    (void)state;
    /* Plenty of RAM above 4 GiB, but the pool must be reachable with 32-bit
     * addresses: it goes to the top of the low 64 MiB. */
    bochs_map(RAM);
    add_mem(0x100000000ULL, 0x100000000ULL, MEM_USABLE);
    h.kernel_base = 0x200000;
    h.kernel_end = 0x240000;
    assert_true(hostmem_init(&hm, &h, HOSTMEM_DEFAULT_POOL, err, sizeof(err)));
    assert_true(hm.pool_base + hm.pool_size <= HOSTMEM_POOL_LIMIT);
    assert_int_equal(hm.pool_base, (RAM - 0x10000 - 32 * MiB) & ~(POOL_ALIGN - 1));
    assert_int_equal(memmap_type_at(&hm.map, 0x100000000ULL), MEM_USABLE);
    assert_true(memmap_is_all(&hm.map, 0x100000000ULL, 0x100000000ULL, MEM_USABLE));
}

static void test_too_little_memory(void **state)
{
    (void)state;
    bochs_map(16 * MiB);
    h.kernel_base = 0x200000;
    h.kernel_end = 0x240000;
    add_module(0x400000, 3 * MiB, "l1", "");
    assert_false(hostmem_init(&hm, &h, HOSTMEM_DEFAULT_POOL, err, sizeof(err)));
    assert_string_equal(err, "too little memory: nestvisor needs 36 MiB of contiguous RAM below "
                             "4 GiB (32 MiB for itself + 3 MiB of guest images)");

    /* Enough RAM in total, but only above 4 GiB. */
    setup(NULL);
    bochs_map(16 * MiB);
    add_mem(0x100000000ULL, 0x40000000ULL, MEM_USABLE);
    assert_false(hostmem_init(&hm, &h, HOSTMEM_DEFAULT_POOL, err, sizeof(err)));
    assert_non_null(strstr(err, "too little memory: nestvisor needs 32 MiB"));

    /* Enough in total below 4 GiB, but not contiguous: the kernel splits it. */
    setup(NULL);
    bochs_map(48 * MiB);
    h.kernel_base = 24 * MiB;
    h.kernel_end = 24 * MiB + 0x1000;
    assert_false(hostmem_init(&hm, &h, HOSTMEM_DEFAULT_POOL, err, sizeof(err)));
    assert_non_null(strstr(err, "too little memory"));
}

static void test_pool_beyond_the_allocator(void **state)
{
    (void)state;
    /* 3 GiB of (never touched) RAM and a pool bigger than pmm can manage. */
    add_mem(0x100000, 0xc0000000ULL - 0x100000, MEM_USABLE);
    assert_false(hostmem_init(&hm, &h, PMM_MAX_POOL_PAGES * PAGE_SIZE + POOL_ALIGN, err, sizeof(err)));
    assert_string_equal(err, "pool of 1026 MiB exceeds the allocator's limit");
}

static void test_too_many_ranges(void **state)
{
    (void)state;
    for (unsigned i = 0; i < HANDOFF_MAX_MEM; i++)
        add_mem(i * 0x2000ULL, 0x1000, i % 2 ? MEM_USABLE : MEM_RESERVED);
    assert_false(hostmem_init(&hm, &h, HOSTMEM_DEFAULT_POOL, err, sizeof(err)));
    assert_string_equal(err, "memory map has too many ranges (limit 256)");
}

static void test_print(void **state)
{
    (void)state;
    realistic_boot();
    assert_true(hostmem_init(&hm, &h, HOSTMEM_DEFAULT_POOL, err, sizeof(err)));
    hostmem_print(&hm);
    const char *out = fake_console_output();
    char want[160];
    snprintf(want, sizeof(want), "[info] nestvisor owns: kernel 3e00000-3e2c000, pool %llx-%llx (34 MiB)\n",
             (unsigned long long)hm.pool_base, (unsigned long long)(hm.pool_base + hm.pool_size));
    if (!strstr(out, want))
        fail_msg("missing \"%s\" in:\n%s", want, out);
    /* Pool and kernel are adjacent: one range, as in the Bochs boot log. */
    assert_non_null(strstr(out, "[info]   0000000001c00000-0000000003e2bfff nestvisor     34992 KiB\n"));
    assert_non_null(strstr(out, "[info]   0000000003ff0000-0000000003ffffff ACPI data  "));
    assert_non_null(strstr(out, "[info]   00000000fffc0000-00000000ffffffff reserved   "));
}

int main(void)
{
#define T(name) cmocka_unit_test_setup(name, setup)
    const struct CMUnitTest tests[] = {
        T(test_pool_carved_at_the_top_2mib_aligned),
        T(test_kernel_and_firmware_ranges),
        T(test_modules_moved_into_the_pool),
        T(test_unaligned_and_empty_modules),
        T(test_module_in_the_way_survives),
        T(test_pool_stays_below_4gib),
        T(test_too_little_memory),
        T(test_pool_beyond_the_allocator),
        T(test_too_many_ranges),
        T(test_print),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
