/* unit-srcs: vmm/loader_linux.c vmm/placer.c vmm/memmap.c vmm/ept01.c vmm/ept.c vmm/mtrr.c vmm/pmm.c */
/* vmm/loader_linux.c: loading a Linux bzImage as L1 by the x86 boot
 * protocol (Documentation/arch/x86/boot.rst). Cited sections: "The
 * Real-Mode Kernel Header" (setup_sects 0 means 4, boot_flag 0xAA55,
 * "HdrS", version, loadflags LOADED_HIGH/KEEP_SEGMENTS, the header's end at
 * 0x202 + the byte at 0x201), "Details of Header Fields" (syssize in 16-byte
 * paragraphs, code32_start, relocatable_kernel, pref_address, init_size,
 * cmdline_size without the terminating zero, initrd_addr_max = the highest
 * byte the initrd may occupy, type_of_loader 0xff = undefined), "Loading
 * The Rest of The Kernel" (the protected-mode kernel starts at
 * (setup_sects+1)*512 in the file), "32-bit Boot Protocol" (flat
 * __BOOT_CS 0x10 / __BOOT_DS 0x18, ESI = boot_params) and zero-page.rst
 * (acpi_rsdp_addr at 0x070, e820_entries at 0x1e8, e820_table at 0x2d0).
 * The machine: 64 MiB with nestvisor at 48-52 MiB; the bzImage and the
 * initrd sit in nestvisor's memory, as hostmem leaves them. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "vmm/loader_linux.h"
#include "vmm/ept01.h"
#include "arch/x86/physmem.h"
#include "tests/unit/fake_arch.h"

#define MiB (1ULL << 20)
#define GiB (1ULL << 30)

/* ---- the machine ---- */
#define LOW_RAM_END   0x9f000ULL   /* conventional memory, then the BIOS area */
#define HV_BASE       0x3000000ULL /* nestvisor: reserved in L1's map */
#define HV_END        0x3400000ULL
#define RAM_TOP       0x3f00000ULL /* then ACPI tables to the end of memory */
#define IOAPIC_BASE   0xfec00000ULL /* MMIO: only in the maps, never touched */
#define IOAPIC_SIZE   0x1000ULL
#define IMAGE_PA      0x3100000ULL /* the bzImage file, in nestvisor's memory */
#define INITRD_SRC_PA 0x3200000ULL /* the initrd module, likewise */
#define RSDP_PA       0x000f6a00ULL
#define DIRTY         0xcc /* what L1's RAM holds before loading */

/* ---- the real-mode kernel header (boot.rst), offsets in the file and in
 * the zero page alike ---- */
#define SECTOR_SIZE         512
#define SYSSIZE_UNIT        16
#define HDR_START           0x1f1
#define HDR_SETUP_SECTS     0x1f1
#define HDR_SYSSIZE         0x1f4
#define HDR_BOOT_FLAG       0x1fe
#define HDR_JUMP            0x200 /* a short jump: 0xEB, then the offset */
#define HDR_JUMP_OFFSET     0x201
#define HDR_MAGIC           0x202
#define HDR_VERSION         0x206
#define HDR_TYPE_OF_LOADER  0x210
#define HDR_LOADFLAGS       0x211
#define HDR_CODE32_START    0x214
#define HDR_RAMDISK_IMAGE   0x218
#define HDR_RAMDISK_SIZE    0x21c
#define HDR_CMD_LINE_PTR    0x228
#define HDR_INITRD_ADDR_MAX 0x22c
#define HDR_KERNEL_ALIGN    0x230
#define HDR_RELOCATABLE     0x234
#define HDR_MIN_ALIGNMENT   0x235
#define HDR_CMDLINE_SIZE    0x238
#define HDR_PREF_ADDRESS    0x258
#define HDR_INIT_SIZE       0x260
#define HDR_INIT_SIZE_END   0x264 /* the last field protocol 2.10 defines */
#define HDR_KERNEL_INFO_OFS 0x264 /* protocol 2.15 */
#define JMP_SHORT           0xeb
#define BOOT_FLAG           0xaa55
#define HDRS                "HdrS"
#define LOADED_HIGH         0x01
#define QUIET_FLAG          0x20
#define KEEP_SEGMENTS       0x40
#define LOADER_UNDEFINED    0xff
#define DEFAULT_SETUP_SECTS 4 /* setup_sects 0 */

/* ---- the zero page (zero-page.rst) ---- */
#define ZP_SIZE         4096
#define ZP_ACPI_RSDP    0x070
#define ZP_E820_ENTRIES 0x1e8
#define ZP_E820_TABLE   0x2d0
#define ZP_E820_MAX     128
#define E820_ENTRY_SIZE 20
#define E820_RESERVED   2
#define CMDLINE_BLOCK   4096 /* what the loader sets aside for the command line */

/* ---- 32-bit boot protocol: the GDT ---- */
#define BOOT_CS       0x10
#define BOOT_DS       0x18
#define GDT_ENTRIES   4
#define DESC_PRESENT  0x80
#define DESC_S        0x10 /* code or data, not system */
#define TYPE_CODE     0x8
#define TYPE_RW       0x2 /* readable code, writable data */
#define FLAG_G        0x8 /* 4 KiB granularity */
#define FLAG_DB       0x4 /* 32-bit */
#define FLAG_L        0x2 /* 64-bit code */
#define LIMIT_4G_PAGES 0xfffff

/* ---- the synthetic kernel: realistic values of a current x86_64 bzImage ---- */
#define SETUP_SECTS     6
#define PM_SIZE         0x7000ULL /* the protected-mode payload */
#define PROTOCOL        0x020f
#define CODE32_START    0x100000U
#define PREF_ADDRESS    0x1000000ULL /* LOAD_PHYSICAL_ADDR, 16 MiB */
#define INIT_SIZE       0x800000U
#define KERNEL_ALIGN    0x200000U
#define MIN_ALIGNMENT   21
#define INITRD_ADDR_MAX 0x7fffffffU
#define CMDLINE_SIZE    2047 /* COMMAND_LINE_SIZE - 1 */
#define HDR_END         0x268 /* 0x202 + the jump offset */
#define KERNEL_INFO_OFS 0x12345678U
#define INITRD_SIZE     0x23456ULL /* not a whole number of pages */
#define CMDLINE         "console=ttyS0 earlyprintk=serial rdinit=/init kvm_intel.nested=1"

static uint64_t pm_offset(unsigned setup_sects) { return (uint64_t)(setup_sects + 1) * SECTOR_SIZE; }

static struct memmap host, l1;
static struct handoff_module kernel, initrd;
static struct linux_boot_input in;
static struct l1_entry_state entry;
static uint32_t esi;
static char err[256];
static char expect[256];

static void put16(uint8_t *p, unsigned off, uint16_t v) { memcpy(p + off, &v, 2); }
static void put32(uint8_t *p, unsigned off, uint32_t v) { memcpy(p + off, &v, 4); }
static void put64(uint8_t *p, unsigned off, uint64_t v) { memcpy(p + off, &v, 8); }
static uint16_t get16(const uint8_t *p, unsigned off)
{
    uint16_t v;
    memcpy(&v, p + off, 2);
    return v;
}
static uint32_t get32(const uint8_t *p, unsigned off)
{
    uint32_t v;
    memcpy(&v, p + off, 4);
    return v;
}
static uint64_t get64(const uint8_t *p, unsigned off)
{
    uint64_t v;
    memcpy(&v, p + off, 8);
    return v;
}

static uint8_t pattern(uint64_t i) { return (uint8_t)(i * 13 + (i >> 8) + 1); }
static uint8_t initrd_pattern(uint64_t i) { return (uint8_t)(i * 7 + (i >> 9) + 0x55); }
static bool overlaps(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen) { return a < b + blen && b < a + alen; }

static uint8_t *image(void) { return phys_to_virt(kernel.base); }

/* A bzImage at kernel.base: setup sectors of pattern (real-mode code), the
 * header, then pm_size bytes of payload, also pattern (by file offset). */
static void build_bzimage(unsigned setup_sects_field, uint64_t pm_size)
{
    unsigned sects = setup_sects_field ? setup_sects_field : DEFAULT_SETUP_SECTS;
    uint64_t size = pm_offset(sects) + pm_size;
    uint8_t *p = image();
    for (uint64_t i = 0; i < size; i++)
        p[i] = pattern(i);
    /* The header proper: fields the loader writes are zero in the file. */
    memset(p + HDR_START, 0, HDR_END - HDR_START);
    p[HDR_SETUP_SECTS] = (uint8_t)setup_sects_field;
    put32(p, HDR_SYSSIZE, (uint32_t)(pm_size / SYSSIZE_UNIT));
    put16(p, HDR_BOOT_FLAG, BOOT_FLAG);
    p[HDR_JUMP] = JMP_SHORT;
    p[HDR_JUMP_OFFSET] = HDR_END - (HDR_MAGIC);
    memcpy(p + HDR_MAGIC, HDRS, 4);
    put16(p, HDR_VERSION, PROTOCOL);
    p[HDR_LOADFLAGS] = LOADED_HIGH | KEEP_SEGMENTS;
    put32(p, HDR_CODE32_START, CODE32_START);
    put32(p, HDR_INITRD_ADDR_MAX, INITRD_ADDR_MAX);
    put32(p, HDR_KERNEL_ALIGN, KERNEL_ALIGN);
    p[HDR_RELOCATABLE] = 1;
    p[HDR_MIN_ALIGNMENT] = MIN_ALIGNMENT;
    put32(p, HDR_CMDLINE_SIZE, CMDLINE_SIZE);
    put64(p, HDR_PREF_ADDRESS, PREF_ADDRESS);
    put32(p, HDR_INIT_SIZE, INIT_SIZE);
    put32(p, HDR_KERNEL_INFO_OFS, KERNEL_INFO_OFS);
    kernel.size = size;
}

static void host_map(void)
{
    memmap_init(&host);
    memmap_set(&host, 0, LOW_RAM_END, MEM_USABLE);
    memmap_set(&host, LOW_RAM_END, MiB - LOW_RAM_END, MEM_RESERVED);
    memmap_set(&host, MiB, HV_BASE - MiB, MEM_USABLE);
    memmap_set(&host, HV_BASE, HV_END - HV_BASE, MEM_HV);
    memmap_set(&host, HV_END, RAM_TOP - HV_END, MEM_USABLE);
    memmap_set(&host, RAM_TOP, FAKE_PHYS_SIZE - RAM_TOP, MEM_ACPI_RECLAIM);
    memmap_set(&host, IOAPIC_BASE, IOAPIC_SIZE, MEM_MMIO);
}

static int setup(void **state)
{
    (void)state;
    fake_phys_reset();
    host_map();
    ept01_l1_memmap(&host, &l1);
    memset(phys_to_virt(0), DIRTY, HV_BASE);
    memset(phys_to_virt(HV_END), DIRTY, RAM_TOP - HV_END);
    memset(&kernel, 0, sizeof(kernel));
    kernel.base = IMAGE_PA;
    strcpy(kernel.name, "l1");
    strcpy(kernel.cmdline, CMDLINE);
    build_bzimage(SETUP_SECTS, PM_SIZE);
    memset(&initrd, 0, sizeof(initrd));
    initrd.base = INITRD_SRC_PA;
    initrd.size = INITRD_SIZE;
    strcpy(initrd.name, MODULE_NAME_L1_INITRD);
    uint8_t *rd = phys_to_virt(INITRD_SRC_PA);
    for (uint64_t i = 0; i < INITRD_SIZE; i++)
        rd[i] = initrd_pattern(i);
    in = (struct linux_boot_input){.l1_map = &l1, .kernel = &kernel, .initrd = &initrd, .acpi_rsdp = RSDP_PA};
    memset(&entry, 0, sizeof(entry));
    esi = 0;
    err[0] = expect[0] = 0;
    return 0;
}

static bool load(void) { return linux_load_l1(&in, &entry, &esi, err, sizeof(err)); }

static const uint8_t *zero_page(void) { return phys_to_virt(esi); }

/* ---- checks shared by the loading tests ---- */

/* "Loading The Rest of The Kernel": the payload, byte for byte, where
 * the kernel starts, and code32_start says so. */
static void assert_kernel_at(uint64_t load_pa, unsigned setup_sects)
{
    assert_int_equal(entry.rip, load_pa);
    assert_memory_equal(phys_to_virt(load_pa), image() + pm_offset(setup_sects), PM_SIZE);
    assert_int_equal(get32(zero_page(), HDR_CODE32_START), load_pa);
}

static void assert_descriptor_flat32(uint64_t d, bool code)
{
    uint32_t base = (uint32_t)(((d >> 16) & 0xffffff) | ((d >> 56) << 24));
    uint32_t limit = (uint32_t)((d & 0xffff) | (((d >> 48) & 0xf) << 16));
    unsigned access = (d >> 40) & 0xff, flags = (d >> 52) & 0xf;
    assert_int_equal(base, 0);
    assert_int_equal(limit, LIMIT_4G_PAGES);
    assert_true(flags & FLAG_G);
    assert_true(flags & FLAG_DB);
    assert_false(flags & FLAG_L);
    assert_true(access & DESC_PRESENT);
    assert_true(access & DESC_S);
    assert_int_equal((access >> 5) & 3, 0); /* DPL 0 */
    assert_int_equal(!!(access & TYPE_CODE), code);
    assert_true(access & TYPE_RW);
}

/* "32-bit Boot Protocol": a GDT with 4 GiB flat __BOOT_CS (execute/read)
 * and __BOOT_DS (read/write), CS = __BOOT_CS, DS = __BOOT_DS. */
static void assert_entry_state(void)
{
    assert_int_equal(entry.cs, BOOT_CS);
    assert_int_equal(entry.ds, BOOT_DS);
    assert_int_equal(entry.gdt_limit, GDT_ENTRIES * 8 - 1);
    const uint64_t *gdt = phys_to_virt(entry.gdt_base);
    assert_int_equal(gdt[0], 0);
    assert_descriptor_flat32(gdt[BOOT_CS / 8], true);
    assert_descriptor_flat32(gdt[BOOT_DS / 8], false);
}

/* Zero page, command line and GDT: in L1's RAM below 1 MiB, apart, and
 * clear of the kernel's init_size range and of the initrd. */
static void assert_boot_data_placed(uint64_t load_pa, uint32_t init_size)
{
    const uint8_t *bp = zero_page();
    uint64_t blocks[3][2] = {
        {esi, ZP_SIZE},
        {get32(bp, HDR_CMD_LINE_PTR), CMDLINE_BLOCK},
        {entry.gdt_base, GDT_ENTRIES * 8},
    };
    for (unsigned i = 0; i < 3; i++) {
        assert_true(blocks[i][0] + blocks[i][1] <= MiB);
        assert_true(memmap_is_all(&l1, blocks[i][0], blocks[i][1], MEM_USABLE));
        assert_false(overlaps(blocks[i][0], blocks[i][1], load_pa, init_size));
        assert_false(overlaps(blocks[i][0], blocks[i][1], get32(bp, HDR_RAMDISK_IMAGE),
                              get32(bp, HDR_RAMDISK_SIZE)));
        for (unsigned j = 0; j < i; j++)
            assert_false(overlaps(blocks[i][0], blocks[i][1], blocks[j][0], blocks[j][1]));
    }
}

/* The initrd's bytes where ramdisk_image says: page aligned, above 1 MiB,
 * wholly at or below initrd_addr_max ("Details of Header Fields"), in
 * L1's RAM and clear of the kernel. */
static void assert_initrd_placed(uint64_t load_pa, uint32_t init_size, uint32_t addr_max)
{
    const uint8_t *bp = zero_page();
    uint32_t at = get32(bp, HDR_RAMDISK_IMAGE);
    assert_int_equal(get32(bp, HDR_RAMDISK_SIZE), initrd.size);
    assert_int_equal(at % PAGE_SIZE, 0);
    assert_true(at >= MiB);
    assert_true((uint64_t)at + initrd.size - 1 <= addr_max);
    assert_true(memmap_is_all(&l1, at, initrd.size, MEM_USABLE));
    assert_false(overlaps(at, initrd.size, load_pa, init_size));
    assert_memory_equal(phys_to_virt(at), phys_to_virt(initrd.base), initrd.size);
}

static uint32_t e820_type_for(uint32_t type) { return type == MEM_MMIO ? E820_RESERVED : type; }

static void assert_e820_is_l1_map(void)
{
    const uint8_t *bp = zero_page();
    assert_int_equal(bp[ZP_E820_ENTRIES], l1.count);
    bool saw_mmio = false, saw_hv = false;
    for (unsigned i = 0; i < l1.count; i++) {
        const uint8_t *e = bp + ZP_E820_TABLE + i * E820_ENTRY_SIZE;
        assert_int_equal(get64(e, 0), l1.r[i].base);
        assert_int_equal(get64(e, 8), l1.r[i].size);
        assert_int_equal(get32(e, 16), e820_type_for(l1.r[i].type));
        saw_mmio |= l1.r[i].type == MEM_MMIO;
        saw_hv |= l1.r[i].base == HV_BASE && l1.r[i].size == HV_END - HV_BASE &&
                  get32(e, 16) == E820_RESERVED;
    }
    assert_true(saw_mmio);
    assert_true(saw_hv);
}

/* ---- linux_is_bzimage ---- */

static void test_is_bzimage(void **state)
{
    (void)state;
    /* Exact-size heap buffers: ASan sees any read past their end. */
    size_t whole = HDR_MAGIC + 4 + 1;
    uint8_t *buf = malloc(whole);
    memset(buf, 0, whole);
    memcpy(buf + HDR_MAGIC, HDRS, 4);
    assert_true(linux_is_bzimage(buf, whole));
    assert_false(linux_is_bzimage(buf, 0));
    assert_false(linux_is_bzimage(buf, HDR_MAGIC));
    assert_false(linux_is_bzimage(buf, HDR_MAGIC + 3)); /* magic cut short */
    memcpy(buf + HDR_MAGIC, "HdrX", 4);
    assert_false(linux_is_bzimage(buf, whole));
    free(buf);
    size_t cut = HDR_MAGIC + 2;
    buf = malloc(cut);
    memset(buf, 0, cut);
    memcpy(buf + HDR_MAGIC, HDRS, 2);
    assert_false(linux_is_bzimage(buf, cut));
    free(buf);
    /* A whole synthetic bzImage (and not a Multiboot ELF). */
    setup(0);
    assert_true(linux_is_bzimage(image(), kernel.size));
    static const uint8_t elf[] = {0x7f, 'E', 'L', 'F', 2, 1, 1};
    memcpy(image(), elf, sizeof(elf));
    memset(image() + HDR_MAGIC, 0, 4);
    assert_false(linux_is_bzimage(image(), kernel.size));
}

/* ---- loading ---- */

static void test_good_image(void **state)
{
    (void)state;
    assert_true(load());
    assert_string_equal(err, "");
    /* Relocatable: at pref_address. */
    assert_kernel_at(PREF_ADDRESS, SETUP_SECTS);
    assert_entry_state();

    /* The zero page at ESI: the header as in the file up to its end, with
     * what the loader must write ("Details of Header Fields"). */
    const uint8_t *bp = zero_page();
    uint8_t hdr[HDR_END];
    memcpy(hdr, image(), HDR_END);
    hdr[HDR_TYPE_OF_LOADER] = LOADER_UNDEFINED;
    hdr[HDR_LOADFLAGS] = LOADED_HIGH; /* KEEP_SEGMENTS cleared */
    put32(hdr, HDR_CODE32_START, (uint32_t)PREF_ADDRESS);
    put32(hdr, HDR_CMD_LINE_PTR, get32(bp, HDR_CMD_LINE_PTR));
    put32(hdr, HDR_RAMDISK_IMAGE, get32(bp, HDR_RAMDISK_IMAGE));
    put32(hdr, HDR_RAMDISK_SIZE, (uint32_t)INITRD_SIZE);
    assert_memory_equal(bp + HDR_START, hdr + HDR_START, HDR_END - HDR_START);
    assert_int_equal(get32(bp, HDR_KERNEL_INFO_OFS), KERNEL_INFO_OFS);
    assert_int_equal(get16(bp, HDR_VERSION), PROTOCOL);

    /* The command line, exactly. */
    assert_string_equal((const char *)phys_to_virt(get32(bp, HDR_CMD_LINE_PTR)), CMDLINE);
    assert_initrd_placed(PREF_ADDRESS, INIT_SIZE, INITRD_ADDR_MAX);
    assert_boot_data_placed(PREF_ADDRESS, INIT_SIZE);

    /* zero-page.rst: the e820 map is L1's, MMIO as reserved; the RSDP. */
    assert_e820_is_l1_map();
    assert_int_equal(get64(bp, ZP_ACPI_RSDP), RSDP_PA);

    /* Everything else in the zero page is zero: not the real-mode code
     * around the header, nor L1's old memory. */
    for (unsigned i = 0; i < HDR_START; i++)
        if (i != ZP_E820_ENTRIES && (i < ZP_ACPI_RSDP || i >= ZP_ACPI_RSDP + 8))
            assert_int_equal(bp[i], 0);
    for (unsigned i = HDR_END; i < ZP_E820_TABLE; i++)
        assert_int_equal(bp[i], 0);
    for (unsigned i = ZP_E820_TABLE + l1.count * E820_ENTRY_SIZE; i < ZP_SIZE; i++)
        assert_int_equal(bp[i], 0);
}

static void test_no_rsdp(void **state)
{
    (void)state;
    in.acpi_rsdp = 0; /* Linux searches the BIOS area itself */
    assert_true(load());
    assert_int_equal(get64(zero_page(), ZP_ACPI_RSDP), 0);
}

static void test_header_end_from_jump(void **state)
{
    (void)state;
    /* A header ending at the 2.10 fields: nothing after is copied. */
    image()[HDR_JUMP_OFFSET] = HDR_INIT_SIZE_END - HDR_MAGIC;
    assert_true(load());
    assert_int_equal(get32(zero_page(), HDR_INIT_SIZE), INIT_SIZE);
    assert_int_equal(get32(zero_page(), HDR_KERNEL_INFO_OFS), 0);
    /* One that would run into the e820 table (0x202 + 0xff): only the
     * 2.10 fields. */
    enum { JUMP_TOO_FAR = 0xff };
    setup(0);
    image()[HDR_JUMP_OFFSET] = JUMP_TOO_FAR;
    assert_true(load());
    assert_int_equal(get32(zero_page(), HDR_INIT_SIZE), INIT_SIZE);
    for (unsigned i = HDR_INIT_SIZE_END; i < ZP_E820_TABLE; i++)
        assert_int_equal(zero_page()[i], 0);
    assert_e820_is_l1_map();
}

/* boot.rst (init_size): a non-relocatable kernel is loaded at
 * code32_start (0x100000 for a bzImage) and moves itself to pref_address,
 * where it needs init_size bytes: the loader keeps all of that for it. */
static void test_non_relocatable_goes_to_code32_start(void **state)
{
    (void)state;
    image()[HDR_RELOCATABLE] = 0;
    assert_true(load());
    assert_kernel_at(CODE32_START, SETUP_SECTS);
    assert_entry_state();
    assert_initrd_placed(PREF_ADDRESS, INIT_SIZE, INITRD_ADDR_MAX);
    assert_boot_data_placed(CODE32_START, PREF_ADDRESS + INIT_SIZE - CODE32_START);
    /* Nothing was written at pref_address. */
    assert_int_equal(*(const uint8_t *)phys_to_virt(PREF_ADDRESS), DIRTY);
}

/* A relocatable kernel runs at its load address rounded up to
 * kernel_alignment, never below pref_address (boot.rst, init_size): where
 * pref_address is not L1's RAM it goes to an aligned address above it. */
static void assert_kernel_above_pref(uint64_t pref, uint64_t align)
{
    uint64_t at = entry.rip;
    assert_true(at >= pref);
    assert_int_equal(at % align, 0);
    assert_true(at + INIT_SIZE <= 4 * GiB);
    assert_true(memmap_is_all(&l1, at, INIT_SIZE, MEM_USABLE));
    assert_kernel_at(at, SETUP_SECTS);
    assert_initrd_placed(at, INIT_SIZE, INITRD_ADDR_MAX);
    assert_boot_data_placed(at, INIT_SIZE);
}

static void test_pref_address_not_l1_ram(void **state)
{
    (void)state;
    /* On nestvisor's memory: above it, L1 has 11 MiB. */
    put64(image(), HDR_PREF_ADDRESS, HV_BASE);
    assert_true(load());
    assert_kernel_above_pref(HV_BASE, KERNEL_ALIGN);
    assert_int_equal(*(const uint8_t *)phys_to_virt(HV_BASE), 0);
    /* Partly: init_size runs into nestvisor's memory. */
    setup(0);
    put64(image(), HDR_PREF_ADDRESS, HV_BASE - INIT_SIZE / 2);
    assert_true(load());
    assert_kernel_above_pref(HV_BASE - INIT_SIZE / 2, KERNEL_ALIGN);
    /* Not aligned to kernel_alignment: the next aligned address that fits. */
    setup(0);
    put64(image(), HDR_PREF_ADDRESS, PREF_ADDRESS + PAGE_SIZE);
    assert_true(load());
    assert_kernel_above_pref(PREF_ADDRESS + PAGE_SIZE, KERNEL_ALIGN);
}

/* The 32-bit entry runs with paging off: the kernel must be below 4 GiB
 * even where L1 has RAM above; a pref_address above (or wrapping) leaves
 * nowhere to go. */
static void test_pref_address_above_4g_refused(void **state)
{
    (void)state;
    memmap_set(&host, 4 * GiB, GiB, MEM_USABLE);
    ept01_l1_memmap(&host, &l1);
    put64(image(), HDR_PREF_ADDRESS, 4 * GiB);
    assert_false(load());
    snprintf(expect, sizeof(expect), "the kernel needs %u MiB of L1 RAM at or above 0x%llx, below 4 GiB",
             INIT_SIZE >> 20, 4 * GiB);
    assert_string_equal(err, expect);
    setup(0);
    put64(image(), HDR_PREF_ADDRESS, ~0ULL - PAGE_SIZE + 1);
    assert_false(load());
    assert_non_null(strstr(err, "at or above 0xfffffffffffff000, below 4 GiB"));
}

static void test_no_room_for_the_kernel(void **state)
{
    (void)state;
    /* Relocatable: 12 MiB from nestvisor's memory up is not there. */
    put64(image(), HDR_PREF_ADDRESS, HV_BASE);
    put32(image(), HDR_INIT_SIZE, 12 * MiB);
    assert_false(load());
    snprintf(expect, sizeof(expect), "the kernel needs 12 MiB of L1 RAM at or above 0x%llx, below 4 GiB",
             HV_BASE);
    assert_string_equal(err, expect);
    /* init_size, not the payload, is what must fit: 48 MiB from 16 MiB up
     * crosses nestvisor's memory. */
    setup(0);
    put32(image(), HDR_INIT_SIZE, 48 * MiB);
    assert_false(load());
    snprintf(expect, sizeof(expect), "the kernel needs 48 MiB of L1 RAM at or above 0x%llx, below 4 GiB",
             PREF_ADDRESS);
    assert_string_equal(err, expect);
    /* Non-relocatable, loaded where L1 has no RAM. */
    setup(0);
    image()[HDR_RELOCATABLE] = 0;
    put32(image(), HDR_CODE32_START, (uint32_t)LOW_RAM_END);
    assert_false(load());
    snprintf(expect, sizeof(expect),
             "the kernel needs L1 RAM at 0x%llx-0x%llx (loaded at 0x%llx, runs at 0x%llx)", LOW_RAM_END,
             PREF_ADDRESS + INIT_SIZE, LOW_RAM_END, PREF_ADDRESS);
    assert_string_equal(err, expect);
    /* Non-relocatable, running where nestvisor is. */
    setup(0);
    image()[HDR_RELOCATABLE] = 0;
    put64(image(), HDR_PREF_ADDRESS, HV_BASE - MiB);
    assert_false(load());
    assert_non_null(strstr(err, "runs at 0x2f00000)"));
}

/* An init_size smaller than the payload counts as the payload. */
static void test_init_size_at_least_the_payload(void **state)
{
    (void)state;
    put32(image(), HDR_KERNEL_ALIGN, PAGE_SIZE);
    put32(image(), HDR_INIT_SIZE, 0);
    put64(image(), HDR_PREF_ADDRESS, HV_BASE - PM_SIZE);
    assert_true(load());
    assert_kernel_at(HV_BASE - PM_SIZE, SETUP_SECTS);
    /* One page more would reach nestvisor's memory: the kernel goes above. */
    setup(0);
    put32(image(), HDR_KERNEL_ALIGN, PAGE_SIZE);
    put32(image(), HDR_INIT_SIZE, 0);
    put64(image(), HDR_PREF_ADDRESS, HV_BASE - PM_SIZE + PAGE_SIZE);
    assert_true(load());
    assert_true(entry.rip >= HV_END);
    assert_kernel_at(entry.rip, SETUP_SECTS);
}

/* kernel_alignment must be a power of two, at least a page. */
static void test_bad_kernel_alignment(void **state)
{
    (void)state;
    static const uint32_t bad[] = {0, 0x800, 0x300000};
    for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        setup(0);
        put32(image(), HDR_KERNEL_ALIGN, bad[i]);
        assert_false(load());
        snprintf(expect, sizeof(expect), "kernel_alignment 0x%x is not a power of two of at least 4 KiB",
                 bad[i]);
        assert_string_equal(err, expect);
    }
}

/* "The Real-Mode Kernel Header": setup_sects 0 means 4. */
static void test_setup_sects_zero_means_four(void **state)
{
    (void)state;
    build_bzimage(0, PM_SIZE);
    assert_int_equal(kernel.size, pm_offset(DEFAULT_SETUP_SECTS) + PM_SIZE);
    assert_true(load());
    assert_kernel_at(PREF_ADDRESS, DEFAULT_SETUP_SECTS);
    assert_int_equal(zero_page()[HDR_SETUP_SECTS], 0);
    /* And the file must hold the payload after 4 sectors. */
    kernel.size--;
    assert_false(load());
    snprintf(expect, sizeof(expect), "bzImage truncated: %llu bytes, the header describes %llu",
             (unsigned long long)kernel.size, (unsigned long long)(pm_offset(DEFAULT_SETUP_SECTS) + PM_SIZE));
    assert_string_equal(err, expect);
}

/* cmdline_size is "the maximum size of the command line without the
 * terminating zero": exactly that many characters are fine. */
static void test_cmdline_size_limit(void **state)
{
    (void)state;
    enum { SHORT_LIMIT = 64 };
    put32(image(), HDR_CMDLINE_SIZE, SHORT_LIMIT);
    memset(kernel.cmdline, 'a', SHORT_LIMIT);
    kernel.cmdline[SHORT_LIMIT] = 0;
    assert_true(load());
    assert_string_equal((const char *)phys_to_virt(get32(zero_page(), HDR_CMD_LINE_PTR)), kernel.cmdline);
    kernel.cmdline[SHORT_LIMIT] = 'b';
    kernel.cmdline[SHORT_LIMIT + 1] = 0;
    assert_false(load());
    assert_string_equal(err, "command line of 65 bytes exceeds the kernel's limit of 64");
    /* The longest a module string can be (COMMAND_LINE_SIZE - 1). */
    setup(0);
    memset(kernel.cmdline, 'c', HANDOFF_MODLINE_MAX - 1);
    kernel.cmdline[HANDOFF_MODLINE_MAX - 1] = 0;
    assert_true(load());
    assert_string_equal((const char *)phys_to_virt(get32(zero_page(), HDR_CMD_LINE_PTR)), kernel.cmdline);
    /* An empty one. */
    setup(0);
    kernel.cmdline[0] = 0;
    assert_true(load());
    assert_string_equal((const char *)phys_to_virt(get32(zero_page(), HDR_CMD_LINE_PTR)), "");
}

static void test_initrd_addr_max(void **state)
{
    (void)state;
    /* initrd_addr_max is the highest byte the initrd may use: 1 MiB ending
     * exactly there (the 24-32 MiB gap after the kernel is free). */
    enum { MAX_32M = 0x1ffffff };
    put32(image(), HDR_INITRD_ADDR_MAX, MAX_32M);
    initrd.size = MiB;
    assert_true(load());
    assert_initrd_placed(PREF_ADDRESS, INIT_SIZE, MAX_32M);
    assert_int_equal(get32(zero_page(), HDR_RAMDISK_IMAGE), MAX_32M + 1 - MiB);
    /* 16 MiB fits nowhere below 32 MiB (15 MiB under the kernel, 8 above). */
    setup(0);
    put32(image(), HDR_INITRD_ADDR_MAX, MAX_32M);
    initrd = (struct handoff_module){.base = 0, .size = 16 * MiB, .name = MODULE_NAME_L1_INITRD};
    assert_false(load());
    assert_string_equal(err, "the initrd (16384 KiB) does not fit in L1's RAM below 0x1ffffff");
    /* A big one with the usual limit goes above nestvisor (its source
     * here: L1 RAM after the kernel, apart from where it lands). */
    setup(0);
    initrd.base = PREF_ADDRESS + INIT_SIZE;
    initrd.size = 10 * MiB;
    assert_true(load());
    assert_initrd_placed(PREF_ADDRESS, INIT_SIZE, INITRD_ADDR_MAX);
    assert_true(get32(zero_page(), HDR_RAMDISK_IMAGE) >= HV_END);
}

static void test_no_or_empty_initrd(void **state)
{
    (void)state;
    in.initrd = 0;
    assert_true(load());
    assert_int_equal(get32(zero_page(), HDR_RAMDISK_IMAGE), 0);
    assert_int_equal(get32(zero_page(), HDR_RAMDISK_SIZE), 0);
    assert_kernel_at(PREF_ADDRESS, SETUP_SECTS);
    setup(0);
    initrd.size = 0;
    assert_true(load());
    assert_int_equal(get32(zero_page(), HDR_RAMDISK_IMAGE), 0);
    assert_int_equal(get32(zero_page(), HDR_RAMDISK_SIZE), 0);
}

static void test_protocol_2_10_is_enough(void **state)
{
    (void)state;
    put16(image(), HDR_VERSION, LINUX_MIN_PROTOCOL);
    assert_true(load());
    assert_kernel_at(PREF_ADDRESS, SETUP_SECTS);
}

/* ---- refusals: each breaks the good image one way ---- */

static void no_magic(void) { memcpy(image() + HDR_MAGIC, "HdrZ", 4); }
static void no_boot_flag(void) { put16(image(), HDR_BOOT_FLAG, 0); }
static void protocol_2_09(void) { put16(image(), HDR_VERSION, LINUX_MIN_PROTOCOL - 1); }
static void zimage(void) { image()[HDR_LOADFLAGS] = QUIET_FLAG; }
static void truncated(void) { kernel.size -= SYSSIZE_UNIT; }
static void payload_past_end(void) { put32(image(), HDR_SYSSIZE, (uint32_t)(PM_SIZE / SYSSIZE_UNIT + 1)); }
static void no_payload(void) { put32(image(), HDR_SYSSIZE, 0); }
static void cmdline_too_long(void) { put32(image(), HDR_CMDLINE_SIZE, (uint32_t)strlen(CMDLINE) - 1); }
/* Only 64 KiB above 1 MiB allowed, for 141 KiB. */
#define INITRD_ROOM 0x10000
static void initrd_too_low(void) { put32(image(), HDR_INITRD_ADDR_MAX, (uint32_t)(MiB + INITRD_ROOM - 1)); }
static void no_low_memory(void) { memmap_set(&l1, 0, MiB, MEM_RESERVED); }

/* More ranges than the zero page's e820 table holds: reserved pages
 * scattered through L1's RAM between 2 and 3 MiB. */
static void e820_overflow(void)
{
    for (uint64_t pa = 2 * MiB; l1.count <= ZP_E820_MAX; pa += 2 * PAGE_SIZE)
        memmap_set(&l1, pa, PAGE_SIZE, MEM_RESERVED);
}

#define TRUNCATED_MSG "bzImage truncated: %llu bytes, the header describes %llu"

static const struct refusal {
    const char *what;
    void (*break_it)(void);
    const char *msg; /* a format with the file size and the size described */
} refusals[] = {
    {"bad magic", no_magic, "not a Linux bzImage (no \"HdrS\" boot header)"},
    {"no boot flag", no_boot_flag, "not a Linux bzImage (no \"HdrS\" boot header)"},
    {"protocol 2.09", protocol_2_09, "Linux boot protocol 2.09 is too old (nestvisor needs 2.10 or later)"},
    {"zImage", zimage, "zImage (loaded low) kernels are not supported"},
    {"truncated", truncated, TRUNCATED_MSG},
    {"syssize too big", payload_past_end, TRUNCATED_MSG},
    {"syssize 0", no_payload, "not a usable bzImage: its header gives no protected-mode kernel (syssize 0)"},
    {"command line", cmdline_too_long, "command line of 64 bytes exceeds the kernel's limit of 63"},
    {"initrd_addr_max", initrd_too_low, "the initrd (141 KiB) does not fit in L1's RAM below 0x10ffff"},
    {"no low memory", no_low_memory, "no room below 1 MiB in L1's memory for the zero page"},
    {"e820 overflow", e820_overflow, "L1's memory map has 129 ranges; the zero page holds 128"},
};

static void expected_message(const struct refusal *r)
{
    uint64_t described = pm_offset(SETUP_SECTS) + (uint64_t)get32(image(), HDR_SYSSIZE) * SYSSIZE_UNIT;
    snprintf(expect, sizeof(expect), r->msg, (unsigned long long)kernel.size, (unsigned long long)described);
}

static void test_refusals(void **state)
{
    (void)state;
    assert_int_equal(strlen(CMDLINE), 64);
    assert_int_equal(INITRD_SIZE >> 10, 141);
    for (unsigned i = 0; i < sizeof(refusals) / sizeof(refusals[0]); i++) {
        setup(0);
        refusals[i].break_it();
        expected_message(&refusals[i]);
        bool ok = load();
        if (ok || strcmp(err, expect))
            fail_msg("%s: loaded %d, error \"%s\", expected \"%s\"", refusals[i].what, ok, err, expect);
    }
}

/* The error text is cut to the buffer given, and ends within it. */
static void test_small_error_buffer(void **state)
{
    (void)state;
    enum { SMALL = 12, GUARD = 16, CANARY = 0x5a };
    char buf[SMALL + GUARD];
    for (unsigned i = 0; i < sizeof(refusals) / sizeof(refusals[0]); i++) {
        for (size_t size = 1; size <= SMALL; size += SMALL - 1) {
            setup(0);
            refusals[i].break_it();
            expected_message(&refusals[i]);
            memset(buf, CANARY, sizeof(buf));
            assert_false(linux_load_l1(&in, &entry, &esi, buf, size));
            assert_int_equal(strlen(buf), size - 1);
            assert_memory_equal(buf, expect, size - 1);
            for (size_t j = size; j < sizeof(buf); j++)
                assert_int_equal((unsigned char)buf[j], CANARY);
        }
    }
}

/* A file that ends inside its header: refused, and nothing past its end
 * is read (it sits at the very end of memory, so ASan or the fake would
 * see a read beyond). */
static void test_short_file(void **state)
{
    (void)state;
    static const uint64_t sizes[] = {HDR_MAGIC + 5, HDR_VERSION + 2, HDR_LOADFLAGS, HDR_INIT_SIZE_END,
                                     SECTOR_SIZE * 2};
    for (unsigned i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        setup(0);
        uint8_t header[SECTOR_SIZE * 2];
        memcpy(header, image(), sizeof(header));
        kernel.size = sizes[i];
        kernel.base = FAKE_PHYS_SIZE - kernel.size;
        memcpy(image(), header, kernel.size);
        assert_true(linux_is_bzimage(image(), kernel.size));
        assert_false(load());
        snprintf(expect, sizeof(expect), TRUNCATED_MSG, (unsigned long long)kernel.size,
                 (unsigned long long)(pm_offset(SETUP_SECTS) + PM_SIZE));
        assert_string_equal(err, expect);
    }
}

int main(void)
{
#define T(f) cmocka_unit_test_setup(f, setup)
    const struct CMUnitTest tests[] = {
        T(test_is_bzimage),
        T(test_good_image),
        T(test_no_rsdp),
        T(test_header_end_from_jump),
        T(test_non_relocatable_goes_to_code32_start),
        T(test_init_size_at_least_the_payload),
        T(test_bad_kernel_alignment),
        T(test_pref_address_not_l1_ram),
        T(test_pref_address_above_4g_refused),
        T(test_no_room_for_the_kernel),
        T(test_setup_sects_zero_means_four),
        T(test_cmdline_size_limit),
        T(test_initrd_addr_max),
        T(test_no_or_empty_initrd),
        T(test_protocol_2_10_is_enough),
        T(test_refusals),
        T(test_small_error_buffer),
        T(test_short_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
