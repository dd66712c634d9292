/* unit-srcs: vmm/loader_mb.c vmm/placer.c vmm/memmap.c lib/elf.c vmm/ept01.c vmm/ept.c vmm/mtrr.c vmm/pmm.c */
/* vmm/loader_mb.c: finding the Multiboot header and loading L1.
 * Multiboot 0.6.96: 3.1.1-3.1.3 the header (magic 1BADB002, checksum, flags:
 * bits 0-15 required, bit 2 video mode, bit 16 the a.out-kludge address
 * fields; within the first 8192 bytes, 4-aligned), 3.2 machine state (EAX
 * 2BADB002, EBX the info), 3.3 the information structure (flags bit 0
 * mem_lower/upper in KiB, bit 2 cmdline, bit 3 mods of 16 bytes, bit 6 mmap
 * entries with a 'size' field not counting itself, 20, bit 9 loader name).
 * Multiboot2 2.0: 3.1.1-3.1.3 the header (magic E85250D6, architecture 0 =
 * i386, header_length, checksum; 8-aligned tags {type, flags, size}, bit 0
 * of flags = optional; within the first 32768 bytes), 3.1.4 information
 * request, 3.1.5 address tag, 3.1.6 entry address tag (needed with the
 * address tag: without ELF the entry is unknown), 3.2 EAX 36D76289,
 * 3.6 the information (total_size, reserved, 8-aligned tags: 1 cmdline,
 * 2 loader name, 3 module, 4 basic meminfo, 6 mmap with entry_size 24 and
 * entry_version 0, 14/15 ACPI RSDP, 0 end). Without the address fields
 * (Multiboot 3.1.2-3.1.3, Multiboot2 3.1.5) an ELF32 (i386) or ELF64 image
 * is loaded per the gABI program headers as GRUB does (PT_LOAD: p_filesz
 * bytes from p_offset to p_paddr, zero to p_memsz; e_entry translated from
 * p_vaddr to p_paddr by the PT_LOAD holding it, which must exist; program
 * headers within the first 8 KiB (v1) or 32 KiB (v2); no overlapping
 * segments); a bad image loads nothing. The memory map is a 64 MiB machine with nestvisor at
 * 48-52 MiB; images and modules sit in nestvisor's memory, as hostmem
 * leaves them. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>
#include "vmm/loader_mb.h"
#include "vmm/ept01.h"
#include "lib/elf.h"
#include "arch/x86/physmem.h"
#include "tests/unit/fake_arch.h"

#define MiB (1ULL << 20)
#define IMAGE_PA  0x3100000ULL /* in nestvisor's memory */
#define MOD0_PA   0x3200000ULL
#define MOD1_PA   0x3280000ULL
#define RSDP_PA   0x000f6a00ULL
#define HV_BASE   0x3000000ULL
#define HV_END    0x3400000ULL
#define RAM_TOP   0x3f00000ULL

#define MB2_ITAG_CMDLINE 1
#define MB2_ITAG_LOADER  2
#define MB2_ITAG_MODULE  3
#define MB2_ITAG_MEMINFO 4
#define MB2_ITAG_MMAP    6
#define MB2_ITAG_ACPI1   14
#define MB2_ITAG_ACPI2   15
#define MB2_ITAG_FB      8

static struct memmap host, l1;
static struct handoff_module image, mod[2];
static struct l1_boot_input in;
static struct l1_entry_state entry;
static uint32_t eax, ebx;
static char err[256];

static int setup(void **state)
{
    (void)state;
    fake_phys_reset();
    memmap_init(&host);
    memmap_set(&host, 0, 0x9f000, MEM_USABLE);
    memmap_set(&host, 0x9f000, 0x61000, MEM_RESERVED);
    memmap_set(&host, 0x100000, HV_BASE - 0x100000, MEM_USABLE);
    memmap_set(&host, HV_BASE, HV_END - HV_BASE, MEM_HV);
    memmap_set(&host, HV_END, RAM_TOP - HV_END, MEM_USABLE);
    memmap_set(&host, RAM_TOP, 0x100000, MEM_ACPI_RECLAIM);
    ept01_l1_memmap(&host, &l1);
    memset(&in, 0, sizeof(in));
    in.l1_map = &l1;
    in.image = &image;
    memset(&image, 0, sizeof(image));
    image.base = IMAGE_PA;
    strcpy(image.name, "l1");
    strcpy(image.cmdline, "console=ttyS0 nested=1");
    memset(mod, 0, sizeof(mod));
    memset(&entry, 0, sizeof(entry));
    eax = ebx = 0;
    err[0] = 0;
    return 0;
}

/* ---- building headers ---- */

static void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static uint32_t get32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}
static uint64_t get64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

/* Multiboot2 header at p: tags are appended with mb2_tag, mb2_finish sets
 * header_length and the checksum (checksum_delta != 0 breaks it). */
static uint8_t *mb2_hdr;
static uint32_t mb2_len;

static void mb2_start(uint8_t *p, uint32_t arch)
{
    mb2_hdr = p;
    put32(p, MB2_HEADER_MAGIC);
    put32(p + 4, arch);
    mb2_len = 16;
}

static void mb2_tag(uint16_t type, uint16_t flags, const uint32_t *payload, uint32_t words)
{
    uint8_t *t = mb2_hdr + mb2_len;
    uint32_t size = 8 + 4 * words;
    memcpy(t, &type, 2);
    memcpy(t + 2, &flags, 2);
    put32(t + 4, size);
    if (words)
        memcpy(t + 8, payload, 4 * words);
    mb2_len += (size + 7) & ~7U;
}

static void mb2_finish(bool end_tag, uint32_t checksum_delta)
{
    if (end_tag)
        mb2_tag(0, 0, 0, 0);
    put32(mb2_hdr + 8, mb2_len);
    put32(mb2_hdr + 12, (uint32_t)(0 - (MB2_HEADER_MAGIC + get32(mb2_hdr + 4) + mb2_len)) + checksum_delta);
}

static void mb1_header(uint8_t *p, uint32_t flags, uint32_t checksum_delta)
{
    put32(p, MB1_HEADER_MAGIC);
    put32(p + 4, flags);
    put32(p + 8, (uint32_t)(0 - (MB1_HEADER_MAGIC + flags)) + checksum_delta);
}

static void mb1_addresses(uint8_t *p, uint32_t header, uint32_t load, uint32_t load_end, uint32_t bss_end,
                          uint32_t entry_addr)
{
    put32(p + 12, header);
    put32(p + 16, load);
    put32(p + 20, load_end);
    put32(p + 24, bss_end);
    put32(p + 28, entry_addr);
}

/* ---- mb_find_header on buffers ---- */

static uint8_t buf[40000];
static struct mb_header_info h;

static bool find(uint64_t size) { return mb_find_header(buf, size, &h, err, sizeof(err)); }

static int setup_buf(void **state)
{
    (void)state;
    memset(buf, 0x90, sizeof(buf));
    memset(&h, 0x5a, sizeof(h));
    err[0] = 0;
    return 0;
}

static void test_mb2_header_with_tags(void **state)
{
    (void)state;
    mb2_start(buf + 0x40, 0);
    uint32_t req[] = {MB2_ITAG_CMDLINE, MB2_ITAG_MMAP, MB2_ITAG_MODULE};
    mb2_tag(1, 0, req, 3); /* 20 bytes: padded to 24 */
    uint32_t addr[] = {0x100040, 0x100000, 0x180000, 0x190000};
    mb2_tag(2, 0, addr, 4);
    uint32_t ent[] = {0x100100};
    mb2_tag(3, 0, ent, 1);
    mb2_finish(true, 0);
    assert_true(find(sizeof(buf)));
    assert_int_equal(h.version, MB_V2);
    assert_int_equal(h.offset, 0x40);
    assert_true(h.has_addresses);
    assert_int_equal(h.header_addr, 0x100040);
    assert_int_equal(h.load_addr, 0x100000);
    assert_int_equal(h.load_end_addr, 0x180000);
    assert_int_equal(h.bss_end_addr, 0x190000);
    assert_true(h.has_entry);
    assert_int_equal(h.entry_addr, 0x100100);
    /* Without those tags: nothing about addresses. */
    setup_buf(0);
    mb2_start(buf + 8, 0);
    mb2_finish(true, 0);
    assert_true(find(sizeof(buf)));
    assert_int_equal(h.offset, 8);
    assert_false(h.has_addresses);
    assert_false(h.has_entry);
}

static void test_mb2_header_errors(void **state)
{
    (void)state;
    mb2_start(buf, 0);
    mb2_finish(true, 1);
    assert_false(find(sizeof(buf)));
    assert_non_null(strstr(err, "no valid Multiboot or Multiboot2 header: the Multiboot2 magic at "
                                "offset 0 has a bad checksum"));

    setup_buf(0);
    mb2_start(buf, 4); /* MIPS */
    mb2_finish(true, 0);
    assert_false(find(sizeof(buf)));
    assert_non_null(strstr(err, "architecture 4"));

    setup_buf(0);
    mb2_start(buf, 0);
    mb2_finish(false, 0); /* no end tag before header_length */
    assert_false(find(sizeof(buf)));
    assert_non_null(strstr(err, "no end tag"));

    /* header_length beyond the image. */
    setup_buf(0);
    mb2_start(buf, 0);
    mb2_finish(true, 0);
    assert_false(find(20));
    assert_non_null(strstr(err, "runs past the image"));

    /* An address tag with too few fields. */
    setup_buf(0);
    mb2_start(buf, 0);
    uint32_t short_addr[] = {0x100000, 0x100000};
    mb2_tag(2, 0, short_addr, 2);
    mb2_finish(true, 0);
    assert_false(find(sizeof(buf)));
    assert_non_null(strstr(err, "address tag too short"));

    /* A tag whose size runs past header_length. */
    setup_buf(0);
    mb2_start(buf, 0);
    mb2_finish(true, 0);
    put32(buf + 16 + 4, 64);
    assert_false(find(sizeof(buf)));
    assert_non_null(strstr(err, "bad size"));
}

static void test_mb2_requests(void **state)
{
    (void)state;
    /* A required information tag nestvisor does not give (boot device). */
    mb2_start(buf, 0);
    uint32_t bootdev[] = {MB2_ITAG_CMDLINE, 5};
    mb2_tag(1, 0, bootdev, 2);
    mb2_finish(true, 0);
    assert_false(find(sizeof(buf)));
    assert_non_null(strstr(err, "information tag 5"));
    /* A required framebuffer: given when the machine has one, so the
     * header is fine and says so (test_loader_fb.c: the load). */
    setup_buf(0);
    mb2_start(buf, 0);
    uint32_t req[] = {MB2_ITAG_CMDLINE, MB2_ITAG_FB};
    mb2_tag(1, 0, req, 2);
    mb2_finish(true, 0);
    assert_true(find(sizeof(buf)));
    assert_true(h.needs_framebuffer);
    /* The same request marked optional is fine. */
    setup_buf(0);
    mb2_start(buf, 0);
    mb2_tag(1, 1, req, 2);
    mb2_finish(true, 0);
    assert_true(find(sizeof(buf)));
    assert_false(h.needs_framebuffer);
    /* Every tag nestvisor provides may be required. */
    setup_buf(0);
    mb2_start(buf, 0);
    uint32_t all[] = {1, 2, 3, 4, 6, 14, 15};
    mb2_tag(1, 0, all, 7);
    mb2_finish(true, 0);
    assert_true(find(sizeof(buf)));
    /* Header tags nestvisor does not implement: refused unless optional
     * (10 = relocatable). The framebuffer tag (5) is a preferred mode the
     * loader may disregard: a required one only needs a framebuffer. */
    setup_buf(0);
    mb2_start(buf, 0);
    uint32_t reloc[] = {0x100000, 0xffffffff, 0x1000, 0};
    mb2_tag(10, 0, reloc, 4);
    mb2_finish(true, 0);
    assert_false(find(sizeof(buf)));
    assert_non_null(strstr(err, "header tag 10"));
    setup_buf(0);
    mb2_start(buf, 0);
    uint32_t fb[] = {1024, 768, 32};
    mb2_tag(5, 0, fb, 3);
    mb2_finish(true, 0);
    assert_true(find(sizeof(buf)));
    assert_true(h.needs_framebuffer);
    setup_buf(0);
    mb2_start(buf, 0);
    mb2_tag(5, 1, fb, 3);
    mb2_tag(10, 1, reloc, 4);
    mb2_finish(true, 0);
    assert_true(find(sizeof(buf)));
    assert_false(h.needs_framebuffer);
}

/* A magic without a valid checksum or for another architecture is not a
 * header (GRUB's find_header): the search goes on past it. nasm puts an
 * "equ" constant in the symbol table, so a v1 kernel that merely defines
 * the Multiboot2 magic can carry it at an 8-aligned offset. */
static void test_stray_magic_is_passed_over(void **state)
{
    (void)state;
    put32(buf + 0x600, MB2_HEADER_MAGIC); /* followed by 0x90909090s */
    mb1_header(buf + 0x1000, 0x3, 0);
    assert_true(find(sizeof(buf)));
    assert_int_equal(h.version, MB_V1);
    assert_int_equal(h.offset, 0x1000);
    /* A stray one before a real Multiboot2 header, and one for MIPS. */
    setup_buf(0);
    put32(buf + 0x10, MB2_HEADER_MAGIC);
    mb2_start(buf + 0x200, 4);
    mb2_finish(true, 0);
    mb2_start(buf + 0x400, 0);
    mb2_finish(true, 0);
    assert_true(find(sizeof(buf)));
    assert_int_equal(h.version, MB_V2);
    assert_int_equal(h.offset, 0x400);
    /* A Multiboot magic with a bad checksum before the real header. */
    setup_buf(0);
    mb1_header(buf + 0x20, 0x3, 1);
    mb1_header(buf + 0x40, 0x10003, 0);
    mb1_addresses(buf + 0x40, 0x100040, 0x100000, 0, 0, 0x100080);
    assert_true(find(sizeof(buf)));
    assert_int_equal(h.version, MB_V1);
    assert_int_equal(h.offset, 0x40);
    assert_true(h.has_addresses);
    /* Nothing valid: the first candidate passed over is the reason. */
    setup_buf(0);
    put32(buf + 0x18, MB2_HEADER_MAGIC);
    mb1_header(buf + 0x30, 0x3, 1);
    assert_false(find(sizeof(buf)));
    assert_non_null(strstr(err, "the Multiboot2 magic at offset 24 has a bad checksum"));
    setup_buf(0);
    mb1_header(buf + 0x30, 0x3, 1);
    assert_false(find(sizeof(buf)));
    assert_non_null(strstr(err, "the Multiboot magic at offset 48 has a bad checksum"));
}

static void test_mb1_header(void **state)
{
    (void)state;
    mb1_header(buf + 0x100, 0x3, 0); /* page-align, memory info */
    assert_true(find(sizeof(buf)));
    assert_int_equal(h.version, MB_V1);
    assert_int_equal(h.offset, 0x100);
    assert_int_equal(h.flags, 0x3);
    assert_false(h.has_addresses);
    assert_false(h.has_entry);
    /* With the a.out kludge. */
    setup_buf(0);
    mb1_header(buf + 4, 0x10003, 0);
    mb1_addresses(buf + 4, 0x100004, 0x100000, 0x120000, 0x130000, 0x100020);
    assert_true(find(sizeof(buf)));
    assert_true(h.has_addresses);
    assert_true(h.has_entry);
    assert_int_equal(h.header_addr, 0x100004);
    assert_int_equal(h.load_addr, 0x100000);
    assert_int_equal(h.load_end_addr, 0x120000);
    assert_int_equal(h.bss_end_addr, 0x130000);
    assert_int_equal(h.entry_addr, 0x100020);
    /* The address fields must be in the image. */
    assert_false(find(4 + 20));
    assert_non_null(strstr(err, "run past the image"));
    /* A required feature nestvisor lacks (video mode, bit 2). */
    setup_buf(0);
    mb1_header(buf, 0x7, 0);
    assert_false(find(sizeof(buf)));
    assert_non_null(strstr(err, "0x4"));
    /* Optional bits (16-31) other than the kludge are ignored. */
    setup_buf(0);
    mb1_header(buf, 0x00f00001, 0);
    assert_true(find(sizeof(buf)));
    setup_buf(0);
    mb1_header(buf, 0x3, 0x10);
    assert_false(find(sizeof(buf)));
    assert_non_null(strstr(err, "checksum"));
    /* Multiboot2 wins when an image has both. */
    setup_buf(0);
    mb1_header(buf, 0x3, 0);
    mb2_start(buf + 0x200, 0);
    mb2_finish(true, 0);
    assert_true(find(sizeof(buf)));
    assert_int_equal(h.version, MB_V2);
}

static void test_search_windows(void **state)
{
    (void)state;
    assert_false(find(sizeof(buf)));
    assert_non_null(strstr(err, "not a Multiboot kernel"));
    /* Past 32 KiB a Multiboot2 header is not looked for... */
    mb2_start(buf + 32768, 0);
    mb2_finish(true, 0);
    assert_false(find(sizeof(buf)));
    /* ...nor a Multiboot one past 8 KiB, nor one not 4-aligned. */
    setup_buf(0);
    mb1_header(buf + 8192, 0x3, 0);
    mb1_header(buf + 102, 0x3, 0);
    assert_false(find(sizeof(buf)));
    /* Just inside the windows they are found. */
    setup_buf(0);
    mb1_header(buf + 8180, 0x3, 0);
    assert_true(find(sizeof(buf)));
    assert_int_equal(h.offset, 8180);
    setup_buf(0);
    mb2_start(buf + 32768 - 24, 0);
    mb2_finish(true, 0);
    assert_true(find(sizeof(buf)));
    assert_int_equal(h.offset, 32768 - 24);
    /* Headers cut off by the end of the image are not read. */
    setup_buf(0);
    mb1_header(buf + 96, 0x3, 0);
    assert_false(find(104));
}

/* ---- loading: an ELF64 kernel ---- */

#define SEG0_PADDR 0x100000ULL
#define SEG1_PADDR 0x200000ULL
#define SEG0_VADDR 0xffffffff80100000ULL
#define SEG1_VADDR 0xffffffff80200000ULL
#define SEG0_SIZE  0x2000ULL
#define SEG1_FILE  0x1000ULL
#define SEG1_MEM   0x5000ULL
#define ELF_SIZE   0x4000ULL

static uint8_t pattern(uint64_t i) { return (uint8_t)(i * 13 + (i >> 8) + 1); }

/* The physical ranges of the kernel under test (set by its builder): no
 * boot data may be placed there. */
#define KERNEL_RANGES_MAX 4
static struct {
    uint64_t base, size;
} kernel_ranges[KERNEL_RANGES_MAX];
static unsigned kernel_range_count;

static void kernel_range(unsigned i, uint64_t base, uint64_t size)
{
    kernel_ranges[i].base = base;
    kernel_ranges[i].size = size;
    kernel_range_count = i + 1;
}

/* ELF header, two PT_LOAD program headers (text at file 0x1000, data at
 * 0x3000 with 16 KiB of bss), entry in the first, and a Multiboot header at
 * the start of the text (its version chosen by the caller). */
static uint8_t *build_elf(void)
{
    uint8_t *p = phys_to_virt(IMAGE_PA);
    memset(p, 0, ELF_SIZE);
    struct elf64_ehdr eh = {0};
    memcpy(eh.e_ident, ELF_MAGIC, 4);
    eh.e_ident[ELF_EI_CLASS] = ELF_CLASS64;
    eh.e_ident[ELF_EI_DATA] = ELF_DATA2LSB;
    eh.e_ident[ELF_EI_VERSION] = ELF_EV_CURRENT;
    eh.e_type = ELF_ET_EXEC;
    eh.e_machine = ELF_EM_X86_64;
    eh.e_version = 1;
    eh.e_entry = SEG0_VADDR + 0x40;
    eh.e_phoff = sizeof(eh);
    eh.e_ehsize = sizeof(eh);
    eh.e_phentsize = sizeof(struct elf64_phdr);
    eh.e_phnum = 2;
    memcpy(p, &eh, sizeof(eh));
    struct elf64_phdr ph[2] = {
        {ELF_PT_LOAD, ELF_PF_R | ELF_PF_X, 0x1000, SEG0_VADDR, SEG0_PADDR, SEG0_SIZE, SEG0_SIZE, 0x1000},
        {ELF_PT_LOAD, ELF_PF_R | ELF_PF_W, 0x3000, SEG1_VADDR, SEG1_PADDR, SEG1_FILE, SEG1_MEM, 0x1000},
    };
    memcpy(p + sizeof(eh), ph, sizeof(ph));
    for (uint64_t i = 0x1000; i < ELF_SIZE; i++)
        p[i] = pattern(i);
    image.size = ELF_SIZE;
    kernel_range(0, SEG0_PADDR, SEG0_SIZE);
    kernel_range(1, SEG1_PADDR, SEG1_MEM);
    /* L1 memory is dirty: bss must be zeroed by the loader. */
    memset(phys_to_virt(SEG0_PADDR), 0xcc, SEG0_SIZE);
    memset(phys_to_virt(SEG1_PADDR), 0xcc, SEG1_MEM + 0x1000);
    return p;
}

static struct elf64_phdr *phdr(unsigned i)
{
    return (struct elf64_phdr *)((uint8_t *)phys_to_virt(IMAGE_PA) + sizeof(struct elf64_ehdr)) + i;
}

static void add_module(unsigned i, uint64_t pa, uint64_t size, const char *cmdline)
{
    mod[i].base = pa;
    mod[i].size = size;
    strcpy(mod[i].name, "l1-module");
    strcpy(mod[i].cmdline, cmdline);
    uint8_t *p = phys_to_virt(pa);
    for (uint64_t j = 0; j < size; j++)
        p[j] = (uint8_t)(j * 7 + i + 3);
    in.modules[i] = &mod[i];
    in.module_count = i + 1;
}

static bool do_load(void) { return mb_load_l1(&in, &entry, &eax, &ebx, err, sizeof(err)); }

static void assert_elf_loaded(void)
{
    const uint8_t *img = phys_to_virt(IMAGE_PA);
    assert_memory_equal(phys_to_virt(SEG0_PADDR), img + 0x1000, SEG0_SIZE);
    assert_memory_equal(phys_to_virt(SEG1_PADDR), img + 0x3000, SEG1_FILE);
    const uint8_t *bss = (const uint8_t *)phys_to_virt(SEG1_PADDR) + SEG1_FILE;
    for (uint64_t i = 0; i < SEG1_MEM - SEG1_FILE; i++)
        assert_int_equal(bss[i], 0);
    /* Nothing beyond the segment's memory size. */
    assert_int_equal(*((const uint8_t *)phys_to_virt(SEG1_PADDR) + SEG1_MEM), 0xcc);
    /* The entry: e_entry translated from virtual to physical. */
    assert_int_equal(entry.rip, SEG0_PADDR + 0x40);
}

static bool overlaps(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen) { return a < b + blen && b < a + alen; }

/* A block L1 was given: usable RAM in L1's map, above 1 MiB and below
 * 4 GiB, clear of the kernel's segments. */
static void assert_placed(uint64_t pa, uint64_t len)
{
    assert_true(pa >= MiB);
    assert_true(pa + len <= (1ULL << 32));
    assert_true(memmap_is_all(&l1, pa, len ? len : 1, MEM_USABLE));
    for (unsigned i = 0; i < kernel_range_count; i++)
        assert_false(overlaps(pa, len, kernel_ranges[i].base, kernel_ranges[i].size));
    assert_false(overlaps(pa, len, HV_BASE, HV_END - HV_BASE));
}

static void assert_entry_state(void)
{
    /* 32-bit flat segments from a GDT the loader placed (the Linux boot
     * protocol's selectors 0x10/0x18). */
    assert_int_equal(entry.cs, 0x10);
    assert_int_equal(entry.ds, 0x18);
    assert_int_equal(entry.gdt_limit, 31);
    assert_placed(entry.gdt_base, 32);
    const uint64_t *gdt = phys_to_virt(entry.gdt_base);
    assert_int_equal(gdt[2], 0x00cf9a000000ffffULL);
    assert_int_equal(gdt[3], 0x00cf92000000ffffULL);
}

struct mb2_info {
    const char *cmdline, *loader;
    unsigned nmods;
    uint32_t mod_start[4], mod_end[4];
    const char *mod_string[4];
    bool meminfo;
    uint32_t mem_lower, mem_upper;
    const uint8_t *mmap;
    uint32_t mmap_entries, entry_size, entry_version;
    uint32_t rsdp_type, rsdp_len;
    const uint8_t *rsdp;
};

static void parse_mb2(uint32_t pa, struct mb2_info *out)
{
    memset(out, 0, sizeof(*out));
    assert_int_equal(pa % 8, 0);
    const uint8_t *base = phys_to_virt(pa);
    uint32_t total = get32(base);
    assert_int_equal(get32(base + 4), 0);
    assert_placed(pa, total);
    uint32_t off = 8;
    for (;;) {
        assert_true(off + 8 <= total);
        const uint8_t *t = base + off;
        uint32_t type = get32(t), size = get32(t + 4);
        assert_true(size >= 8 && off + size <= total);
        if (type == 0) {
            assert_int_equal(size, 8);
            assert_int_equal(off + 8, total);
            return;
        }
        switch (type) {
        case MB2_ITAG_CMDLINE: out->cmdline = (const char *)t + 8; break;
        case MB2_ITAG_LOADER: out->loader = (const char *)t + 8; break;
        case MB2_ITAG_MODULE:
            out->mod_start[out->nmods] = get32(t + 8);
            out->mod_end[out->nmods] = get32(t + 12);
            out->mod_string[out->nmods++] = (const char *)t + 16;
            assert_int_equal(size, 16 + strlen((const char *)t + 16) + 1);
            break;
        case MB2_ITAG_MEMINFO:
            assert_int_equal(size, 16);
            out->meminfo = true;
            out->mem_lower = get32(t + 8);
            out->mem_upper = get32(t + 12);
            break;
        case MB2_ITAG_MMAP:
            out->entry_size = get32(t + 8);
            out->entry_version = get32(t + 12);
            out->mmap = t + 16;
            out->mmap_entries = (size - 16) / out->entry_size;
            assert_int_equal((size - 16) % out->entry_size, 0);
            break;
        case MB2_ITAG_ACPI1:
        case MB2_ITAG_ACPI2:
            out->rsdp_type = type;
            out->rsdp_len = size - 8;
            out->rsdp = t + 8;
            break;
        default: fail_msg("unexpected Multiboot2 tag %u", type);
        }
        off += (size + 7) & ~7U;
    }
}

static void assert_mmap_is_l1_map(const uint8_t *entries, uint32_t n, uint32_t stride, uint32_t first_field)
{
    assert_int_equal(n, l1.count);
    for (unsigned i = 0; i < n; i++) {
        const uint8_t *e = entries + i * stride + first_field;
        assert_int_equal(get64(e), l1.r[i].base);
        assert_int_equal(get64(e + 8), l1.r[i].size);
        assert_int_equal(get32(e + 16), l1.r[i].type);
    }
}

static void test_elf_with_mb2_end_to_end(void **state)
{
    (void)state;
    uint8_t *p = build_elf();
    mb2_start(p + 0x1000, 0);
    uint32_t req[] = {MB2_ITAG_CMDLINE, MB2_ITAG_MMAP, MB2_ITAG_MODULE, MB2_ITAG_ACPI2};
    mb2_tag(1, 0, req, 4);
    mb2_finish(true, 0);
    add_module(0, MOD0_PA, 0x12345, "initrd.img");
    add_module(1, MOD1_PA, 0x3000, "extra module with words");
    /* An ACPI 2.0 RSDP (revision 2 at byte 15). */
    uint8_t *rsdp = phys_to_virt(RSDP_PA);
    memcpy(rsdp, "RSD PTR ", 8);
    rsdp[15] = 2;
    for (int i = 16; i < 36; i++)
        rsdp[i] = (uint8_t)i;
    in.acpi_rsdp = RSDP_PA;
    assert_true(do_load());
    assert_elf_loaded();
    assert_entry_state();
    assert_int_equal(eax, MB2_BOOTLOADER_MAGIC);
    struct mb2_info info;
    parse_mb2(ebx, &info);
    assert_string_equal(info.cmdline, "console=ttyS0 nested=1");
    assert_string_equal(info.loader, "nestvisor");
    /* Modules: copied whole, with their strings, in L1 RAM, apart. */
    assert_int_equal(info.nmods, 2);
    for (unsigned i = 0; i < 2; i++) {
        assert_int_equal(info.mod_end[i] - info.mod_start[i], mod[i].size);
        assert_placed(info.mod_start[i], mod[i].size);
        assert_memory_equal(phys_to_virt(info.mod_start[i]), phys_to_virt(mod[i].base), mod[i].size);
        assert_string_equal(info.mod_string[i], mod[i].cmdline);
        assert_false(overlaps(info.mod_start[i], mod[i].size, ebx, get32(phys_to_virt(ebx))));
        assert_false(overlaps(info.mod_start[i], mod[i].size, entry.gdt_base, 32));
    }
    assert_false(overlaps(info.mod_start[0], mod[0].size, info.mod_start[1], mod[1].size));
    /* Basic memory information: 636 KiB low, up to nestvisor's memory. */
    assert_true(info.meminfo);
    assert_int_equal(info.mem_lower, 0x9f000 >> 10);
    assert_int_equal(info.mem_upper, (HV_BASE - MiB) >> 10);
    /* The memory map is L1's: nestvisor's memory reserved. */
    assert_int_equal(info.entry_size, 24);
    assert_int_equal(info.entry_version, 0);
    assert_mmap_is_l1_map(info.mmap, info.mmap_entries, 24, 0);
    bool hv_reserved = false;
    for (unsigned i = 0; i < info.mmap_entries; i++) {
        const uint8_t *e = info.mmap + 24 * i;
        if (get64(e) <= HV_BASE && get64(e) + get64(e + 8) >= HV_END)
            hv_reserved = get32(e + 16) == MEM_RESERVED;
        assert_int_equal(get32(e + 20), 0);
    }
    assert_true(hv_reserved);
    /* The RSDP copy. */
    assert_int_equal(info.rsdp_type, MB2_ITAG_ACPI2);
    assert_int_equal(info.rsdp_len, 36);
    assert_memory_equal(info.rsdp, rsdp, 36);
}

static void test_elf_with_mb1_info(void **state)
{
    (void)state;
    uint8_t *p = build_elf();
    mb1_header(p + 0x1000, 0x3, 0);
    add_module(0, MOD0_PA, 0x800, "mod0 arg");
    assert_true(do_load());
    assert_elf_loaded();
    assert_entry_state();
    assert_int_equal(eax, MB1_BOOTLOADER_MAGIC);
    assert_placed(ebx, 96);
    const uint8_t *info = phys_to_virt(ebx);
    uint32_t flags = get32(info);
    /* mem (0), cmdline (2), mods (3), mmap (6), loader name (9). */
    assert_int_equal(flags, (1U << 0) | (1U << 2) | (1U << 3) | (1U << 6) | (1U << 9));
    assert_int_equal(get32(info + 4), 0x9f000 >> 10);
    assert_int_equal(get32(info + 8), (HV_BASE - MiB) >> 10);
    assert_string_equal((const char *)phys_to_virt(get32(info + 16)), image.cmdline);
    assert_int_equal(get32(info + 20), 1);
    const uint8_t *mods = phys_to_virt(get32(info + 24));
    uint32_t start = get32(mods), end = get32(mods + 4);
    assert_int_equal(end - start, 0x800);
    assert_placed(start, 0x800);
    assert_memory_equal(phys_to_virt(start), phys_to_virt(MOD0_PA), 0x800);
    assert_string_equal((const char *)phys_to_virt(get32(mods + 8)), "mod0 arg");
    assert_int_equal(get32(mods + 12), 0);
    /* mmap: entries of 24 bytes whose size field says 20. */
    uint32_t mmap_len = get32(info + 44);
    const uint8_t *mmap = phys_to_virt(get32(info + 48));
    assert_int_equal(mmap_len, 24 * l1.count);
    for (unsigned i = 0; i < l1.count; i++)
        assert_int_equal(get32(mmap + 24 * i), 20);
    assert_mmap_is_l1_map(mmap, l1.count, 24, 4);
    assert_string_equal((const char *)phys_to_virt(get32(info + 64)), "nestvisor");
}

static void test_aout_kludge(void **state)
{
    (void)state;
    /* A flat binary loaded at 1 MiB + 64 KiB, header 32 bytes in, 8 KiB of
     * text+data from the file, bss up to 16 KiB, entry after the header. */
    uint8_t *p = phys_to_virt(IMAGE_PA);
    for (unsigned i = 0; i < 0x3000; i++)
        p[i] = pattern(i);
    uint32_t load = 0x110000;
    mb1_header(p + 32, 0x10003, 0);
    mb1_addresses(p + 32, load + 32, load, load + 0x2000, load + 0x4000, load + 0x40);
    image.size = 0x3000;
    memset(phys_to_virt(load), 0xcc, 0x5000);
    assert_true(do_load());
    assert_memory_equal(phys_to_virt(load), p, 0x2000);
    const uint8_t *bss = (const uint8_t *)phys_to_virt(load) + 0x2000;
    for (unsigned i = 0; i < 0x2000; i++)
        assert_int_equal(bss[i], 0);
    assert_int_equal(bss[0x2000], 0xcc);
    assert_int_equal(entry.rip, load + 0x40);
    assert_int_equal(eax, MB1_BOOTLOADER_MAGIC);
    /* load_end_addr 0: the rest of the file; bss_end_addr 0: no bss. */
    setup(0);
    p = phys_to_virt(IMAGE_PA);
    for (unsigned i = 0; i < 0x3000; i++)
        p[i] = pattern(i);
    mb1_header(p, 0x10000, 0);
    mb1_addresses(p, load, load, 0, 0, load + 0x100);
    image.size = 0x3000;
    memset(phys_to_virt(load), 0xcc, 0x5000);
    assert_true(do_load());
    assert_memory_equal(phys_to_virt(load), p, 0x3000);
    assert_int_equal(*(const uint8_t *)phys_to_virt(load + 0x3000), 0xcc);
    assert_int_equal(entry.rip, load + 0x100);
}

/* ---- loading: an ELF32 kernel (i686-elf, -m32) without address fields ---- */

#define E32_BOOT_PADDR 0x100000U /* linked where it is loaded: the header and a stub */
#define E32_BOOT_OFF   0x1000U
#define E32_BOOT_SIZE  0x1000U
#define E32_HIGH       0xc0000000U /* the rest is linked at 3 GiB, loaded low (AT()) */
#define E32_TEXT_PADDR 0x180000U
#define E32_TEXT_OFF   0x2000U
#define E32_TEXT_SIZE  0x1000U
#define E32_DATA_PADDR 0x1c0000U
#define E32_DATA_OFF   0x3000U
#define E32_DATA_FILE  0x800U
#define E32_DATA_MEM   0x4800U
#define E32_NOTE_OFF   0x3800U
#define E32_NOTE_SIZE  0x20U
#define E32_SIZE       0x3900U
#define E32_ENTRY_OFF  0x40U
#define E32_PHNUM      5
#define PT_GNU_STACK   0x6474e551U

static struct elf32_ehdr *ehdr32(void) { return phys_to_virt(IMAGE_PA); }

static struct elf32_phdr *phdr32(unsigned i)
{
    return (struct elf32_phdr *)((uint8_t *)phys_to_virt(IMAGE_PA) + sizeof(struct elf32_ehdr)) + i;
}

/* Boot segment, a note (not loaded: its paddr is nestvisor's memory), text
 * linked high with the entry, data with bss, and PT_GNU_STACK, as
 * i686-elf-ld lays out a higher-half kernel. The caller adds the Multiboot
 * header at the start of the boot segment. */
static uint8_t *build_elf32(void)
{
    uint8_t *p = phys_to_virt(IMAGE_PA);
    memset(p, 0, E32_SIZE);
    for (uint64_t i = E32_BOOT_OFF; i < E32_SIZE; i++)
        p[i] = pattern(i);
    struct elf32_ehdr eh = {0};
    memcpy(eh.e_ident, ELF_MAGIC, 4);
    eh.e_ident[ELF_EI_CLASS] = ELF_CLASS32;
    eh.e_ident[ELF_EI_DATA] = ELF_DATA2LSB;
    eh.e_ident[ELF_EI_VERSION] = ELF_EV_CURRENT;
    eh.e_type = ELF_ET_EXEC;
    eh.e_machine = ELF_EM_386;
    eh.e_version = ELF_EV_CURRENT;
    eh.e_entry = E32_HIGH + E32_TEXT_PADDR + E32_ENTRY_OFF;
    eh.e_phoff = sizeof(eh);
    eh.e_ehsize = sizeof(eh);
    eh.e_phentsize = sizeof(struct elf32_phdr);
    eh.e_phnum = E32_PHNUM;
    memcpy(p, &eh, sizeof(eh));
    const struct elf32_phdr ph[E32_PHNUM] = {
        {ELF_PT_LOAD, E32_BOOT_OFF, E32_BOOT_PADDR, E32_BOOT_PADDR, E32_BOOT_SIZE, E32_BOOT_SIZE,
         ELF_PF_R | ELF_PF_X, 0x1000},
        {ELF_PT_NOTE, E32_NOTE_OFF, E32_HIGH + 0x500000, HV_BASE, E32_NOTE_SIZE, E32_NOTE_SIZE,
         ELF_PF_R, 4},
        {ELF_PT_LOAD, E32_TEXT_OFF, E32_HIGH + E32_TEXT_PADDR, E32_TEXT_PADDR, E32_TEXT_SIZE,
         E32_TEXT_SIZE, ELF_PF_R | ELF_PF_X, 0x1000},
        {ELF_PT_LOAD, E32_DATA_OFF, E32_HIGH + E32_DATA_PADDR, E32_DATA_PADDR, E32_DATA_FILE,
         E32_DATA_MEM, ELF_PF_R | ELF_PF_W, 0x1000},
        {PT_GNU_STACK, 0, 0, 0, 0, 0, ELF_PF_R | ELF_PF_W, 16},
    };
    memcpy(p + sizeof(eh), ph, sizeof(ph));
    image.size = E32_SIZE;
    kernel_range(0, E32_BOOT_PADDR, E32_BOOT_SIZE);
    kernel_range(1, E32_TEXT_PADDR, E32_TEXT_SIZE);
    kernel_range(2, E32_DATA_PADDR, E32_DATA_MEM);
    memset(phys_to_virt(E32_BOOT_PADDR), 0xcc, E32_BOOT_SIZE);
    memset(phys_to_virt(E32_TEXT_PADDR), 0xcc, E32_TEXT_SIZE);
    memset(phys_to_virt(E32_DATA_PADDR), 0xcc, E32_DATA_MEM + PAGE_SIZE);
    memset(phys_to_virt(HV_BASE), 0, PAGE_SIZE);
    return p;
}

static void assert_elf32_loaded(void)
{
    const uint8_t *img = phys_to_virt(IMAGE_PA);
    assert_memory_equal(phys_to_virt(E32_BOOT_PADDR), img + E32_BOOT_OFF, E32_BOOT_SIZE);
    assert_memory_equal(phys_to_virt(E32_TEXT_PADDR), img + E32_TEXT_OFF, E32_TEXT_SIZE);
    const uint8_t *data = phys_to_virt(E32_DATA_PADDR);
    assert_memory_equal(data, img + E32_DATA_OFF, E32_DATA_FILE);
    for (uint64_t i = E32_DATA_FILE; i < E32_DATA_MEM; i++)
        assert_int_equal(data[i], 0);
    assert_int_equal(data[E32_DATA_MEM], 0xcc);
    /* The note is not loaded anywhere, least of all at its paddr. */
    assert_int_equal(*(const uint8_t *)phys_to_virt(HV_BASE), 0);
    /* e_entry is virtual (3 GiB up): run at its physical address. */
    assert_int_equal(entry.rip, E32_TEXT_PADDR + E32_ENTRY_OFF);
}

/* A refused image: no byte of any segment written, no entry state. */
static void assert_nothing_loaded32(void)
{
    static const struct {
        uint32_t base, size;
    } r[] = {{E32_BOOT_PADDR, E32_BOOT_SIZE}, {E32_TEXT_PADDR, E32_TEXT_SIZE},
             {E32_DATA_PADDR, E32_DATA_MEM}};
    for (unsigned i = 0; i < sizeof(r) / sizeof(r[0]); i++)
        for (uint32_t j = 0; j < r[i].size; j++)
            if (((const uint8_t *)phys_to_virt(r[i].base))[j] != 0xcc)
                fail_msg("byte 0x%x of segment range %u was written", j, i);
    assert_int_equal(entry.rip, 0);
    assert_int_equal(eax, 0);
}

static void test_elf32_with_mb1(void **state)
{
    (void)state;
    uint8_t *p = build_elf32();
    mb1_header(p + E32_BOOT_OFF, 0x3, 0); /* no a.out kludge (bit 16) */
    add_module(0, MOD0_PA, 0x1234, "mod0");
    assert_true(do_load());
    assert_elf32_loaded();
    assert_entry_state();
    assert_int_equal(eax, MB1_BOOTLOADER_MAGIC);
    assert_placed(ebx, 96);
    const uint8_t *info = phys_to_virt(ebx);
    assert_int_equal(get32(info + 20), 1);
    const uint8_t *mods = phys_to_virt(get32(info + 24));
    assert_placed(get32(mods), 0x1234);
    assert_memory_equal(phys_to_virt(get32(mods)), phys_to_virt(MOD0_PA), 0x1234);
    /* ET_DYN loads the same way (GRUB takes both). */
    setup(0);
    p = build_elf32();
    mb1_header(p + E32_BOOT_OFF, 0x3, 0);
    ehdr32()->e_type = ELF_ET_DYN;
    assert_true(do_load());
    assert_elf32_loaded();
}

static void test_elf32_with_mb2(void **state)
{
    (void)state;
    uint8_t *p = build_elf32();
    mb2_start(p + E32_BOOT_OFF, 0);
    uint32_t req[] = {MB2_ITAG_CMDLINE, MB2_ITAG_MMAP, MB2_ITAG_MODULE};
    mb2_tag(1, 0, req, 3);
    mb2_finish(true, 0);
    add_module(0, MOD0_PA, 0x2000, "initrd");
    assert_true(do_load());
    assert_elf32_loaded();
    assert_entry_state();
    assert_int_equal(eax, MB2_BOOTLOADER_MAGIC);
    struct mb2_info info;
    parse_mb2(ebx, &info);
    assert_string_equal(info.cmdline, image.cmdline);
    assert_int_equal(info.nmods, 1);
    assert_placed(info.mod_start[0], 0x2000);
    assert_mmap_is_l1_map(info.mmap, info.mmap_entries, 24, 0);
    /* An entry tag (3.1.6) is where it starts; e_entry must still be in a
     * segment, as GRUB wants. */
    setup(0);
    p = build_elf32();
    mb2_start(p + E32_BOOT_OFF, 0);
    uint32_t ent[] = {E32_BOOT_PADDR + 0x100};
    mb2_tag(3, 0, ent, 1);
    mb2_finish(true, 0);
    assert_true(do_load());
    assert_int_equal(entry.rip, E32_BOOT_PADDR + 0x100);
    setup(0);
    p = build_elf32();
    mb2_start(p + E32_BOOT_OFF, 0);
    mb2_tag(3, 0, ent, 1);
    mb2_finish(true, 0);
    ehdr32()->e_entry = E32_HIGH + 0x700000;
    assert_false(do_load());
    assert_non_null(strstr(err, "entry point 0xc0700000 is not in a loadable ELF segment"));
    assert_nothing_loaded32();
}

/* The entry may be anywhere in a PT_LOAD's memory, bss included (GRUB
 * compares with p_memsz), and is translated by the first one holding it. */
static void test_elf32_entry_translation(void **state)
{
    (void)state;
    uint8_t *p = build_elf32();
    mb1_header(p + E32_BOOT_OFF, 0x3, 0);
    ehdr32()->e_entry = E32_HIGH + E32_DATA_PADDR + E32_DATA_MEM - 1;
    assert_true(do_load());
    assert_int_equal(entry.rip, E32_DATA_PADDR + E32_DATA_MEM - 1);
    /* An identity-linked entry (p_vaddr == p_paddr). */
    setup(0);
    p = build_elf32();
    mb1_header(p + E32_BOOT_OFF, 0x3, 0);
    ehdr32()->e_entry = E32_BOOT_PADDR + 0x20;
    assert_true(do_load());
    assert_int_equal(entry.rip, E32_BOOT_PADDR + 0x20);
    /* One past the end of the data segment's memory: in no segment. */
    setup(0);
    p = build_elf32();
    mb1_header(p + E32_BOOT_OFF, 0x3, 0);
    ehdr32()->e_entry = E32_HIGH + E32_DATA_PADDR + E32_DATA_MEM;
    assert_false(do_load());
    assert_non_null(strstr(err, "entry point"));
    /* In the note's virtual range: not loaded, so not an entry. */
    setup(0);
    p = build_elf32();
    mb1_header(p + E32_BOOT_OFF, 0x3, 0);
    ehdr32()->e_entry = phdr32(1)->p_vaddr + 4;
    assert_false(do_load());
    assert_non_null(strstr(err, "entry point"));
    assert_nothing_loaded32();
}

/* A Multiboot (v1, no a.out kludge) or Multiboot2 (no address tag) header. */
static void add_mb_header(int version, uint8_t *at)
{
    if (version == 1) {
        mb1_header(at, 0x3, 0);
        return;
    }
    mb2_start(at, 0);
    mb2_finish(true, 0);
}

/* One defect per case, in a v1 and a v2 image that otherwise load: refused
 * with the reason, nothing written. */
static void test_elf32_bad_images_are_refused(void **state)
{
    (void)state;
    enum { EH, PH };
    static const struct {
        int where;
        unsigned ph;
        size_t field, width;
        uint32_t value;
        const char *want;
    } cases[] = {
        {EH, 0, ELF_EI_CLASS, 1, 3, "kernel image: neither a 32-bit nor a 64-bit ELF file"},
        {EH, 0, ELF_EI_DATA, 1, 2, "kernel image: not a little-endian ELF file"},
        {EH, 0, offsetof(struct elf32_ehdr, e_version), 4, 0, "kernel image: unknown ELF version"},
        {EH, 0, offsetof(struct elf32_ehdr, e_type), 2, 1, "kernel image: ELF file is not an executable"},
        {EH, 0, offsetof(struct elf32_ehdr, e_machine), 2, ELF_EM_X86_64,
         "kernel image: 32-bit ELF file is not for i386"},
        {EH, 0, offsetof(struct elf32_ehdr, e_phentsize), 2, 20,
         "kernel image: ELF program headers have a bad entry size"},
        {EH, 0, offsetof(struct elf32_ehdr, e_phnum), 2, 0, "kernel image: ELF file has no loadable segment"},
        {EH, 0, offsetof(struct elf32_ehdr, e_phnum), 2, ELF_PN_XNUM,
         "kernel image: ELF file has too many program headers"},
        {EH, 0, offsetof(struct elf32_ehdr, e_phnum), 2, 1000,
         "kernel image: ELF program headers extend beyond the end of the file"},
        {EH, 0, offsetof(struct elf32_ehdr, e_phoff), 4, E32_SIZE - 16,
         "kernel image: ELF program headers extend beyond the end of the file"},
        {EH, 0, offsetof(struct elf32_ehdr, e_phoff), 4, UINT32_MAX,
         "kernel image: ELF program headers extend beyond the end of the file"},
        {EH, 0, offsetof(struct elf32_ehdr, e_entry), 4, E32_HIGH + 0x900000,
         "kernel entry point 0xc0900000 is not in a loadable ELF segment"},
        {PH, 3, offsetof(struct elf32_phdr, p_filesz), 4, 0x1000,
         "kernel image: ELF segment extends beyond the end of the file (program header 3)"},
        {PH, 3, offsetof(struct elf32_phdr, p_offset), 4, UINT32_MAX,
         "kernel image: ELF segment extends beyond the end of the file (program header 3)"},
        {PH, 1, offsetof(struct elf32_phdr, p_offset), 4, E32_SIZE,
         "kernel image: ELF segment extends beyond the end of the file (program header 1)"},
        {PH, 3, offsetof(struct elf32_phdr, p_memsz), 4, E32_DATA_FILE - 1,
         "kernel image: ELF segment has a file size larger than its memory size (program header 3)"},
        {PH, 3, offsetof(struct elf32_phdr, p_paddr), 4, 0xfffff000,
         "kernel image: ELF segment wraps around the address space (program header 3)"},
        {PH, 2, offsetof(struct elf32_phdr, p_vaddr), 4, 0xfffffff0,
         "kernel image: ELF segment wraps around the address space (program header 2)"},
        {PH, 3, offsetof(struct elf32_phdr, p_memsz), 4, UINT32_MAX,
         "kernel image: ELF segment wraps around the address space (program header 3)"},
        /* The last segment is the bad one: the others would have been
         * copied by a loader that copies as it checks. */
        {PH, 3, offsetof(struct elf32_phdr, p_paddr), 4, HV_BASE - PAGE_SIZE,
         "segment 3 at 0x2fff000-0x3003800 does not fit in L1's usable RAM"},
        {PH, 3, offsetof(struct elf32_phdr, p_paddr), 4, HV_END - PAGE_SIZE, "segment 3 at 0x33ff000"},
        {PH, 3, offsetof(struct elf32_phdr, p_paddr), 4, RAM_TOP - PAGE_SIZE, "segment 3 at 0x3eff000"},
        {PH, 3, offsetof(struct elf32_phdr, p_paddr), 4, 0x9e000, "segment 3 at 0x9e000-0xa2800 does not fit"},
        {PH, 3, offsetof(struct elf32_phdr, p_paddr), 4, 0xfff00000, "segment 3 at 0xfff00000"},
        {PH, 3, offsetof(struct elf32_phdr, p_paddr), 4, E32_TEXT_PADDR + E32_TEXT_SIZE - 1,
         "kernel image: ELF segments 2 and 3 overlap (0x180000-0x181000 and 0x180fff-0x1857ff)"},
        {PH, 2, offsetof(struct elf32_phdr, p_paddr), 4, E32_BOOT_PADDR + 0x800,
         "kernel image: ELF segments 0 and 2 overlap"},
    };
    for (int v = 1; v <= 2; v++) {
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
            setup(0);
            uint8_t *p = build_elf32();
            add_mb_header(v, p + E32_BOOT_OFF);
            uint8_t *at = cases[i].where == EH ? p : (uint8_t *)phdr32(cases[i].ph);
            memcpy(at + cases[i].field, &cases[i].value, cases[i].width);
            if (do_load())
                fail_msg("v%d case %zu loaded", v, i);
            if (!strstr(err, cases[i].want))
                fail_msg("v%d case %zu: \"%s\" is not \"%s\"", v, i, err, cases[i].want);
            assert_nothing_loaded32();
        }
        /* Cut inside the ELF header (the Multiboot header moved into it). */
        setup(0);
        uint8_t *p = build_elf32();
        add_mb_header(v, p + (v == 1 ? 36 : 24));
        image.size = sizeof(struct elf32_ehdr) - 4;
        assert_false(do_load());
        assert_non_null(strstr(err, "kernel image: not an ELF file (shorter than an ELF header)"));
        assert_nothing_loaded32();
    }
}

/* GRUB reads the program headers from the first 8 KiB (Multiboot) or
 * 32 KiB (Multiboot2) of the file: beyond, an image is refused. That also
 * bounds how many there can be. */
static void test_elf32_program_headers_where_grub_reads(void **state)
{
    (void)state;
    /* The header table moved to the end of the file, past 8 KiB. */
    for (int v = 1; v <= 2; v++) {
        setup(0);
        uint8_t *p = build_elf32();
        if (v == 1)
            mb1_header(p + E32_BOOT_OFF, 0x3, 0);
        else {
            mb2_start(p + E32_BOOT_OFF, 0);
            mb2_finish(true, 0);
        }
        memcpy(p + E32_SIZE, phdr32(0), E32_PHNUM * sizeof(struct elf32_phdr));
        image.size = E32_SIZE + E32_PHNUM * sizeof(struct elf32_phdr);
        ehdr32()->e_phoff = E32_SIZE;
        if (v == 1) {
            assert_false(do_load());
            assert_non_null(strstr(err, "kernel image: its 5 ELF program headers end at byte 14752, "
                                        "past the first 8192 bytes"));
            assert_nothing_loaded32();
        } else {
            assert_true(do_load());
            assert_elf32_loaded();
        }
    }
    /* Just inside 8 KiB is fine for v1. */
    setup(0);
    uint8_t *p = build_elf32();
    mb1_header(p + E32_BOOT_OFF, 0x3, 0);
    memcpy(p + MB1_SEARCH_LIMIT - E32_PHNUM * sizeof(struct elf32_phdr), phdr32(0),
           E32_PHNUM * sizeof(struct elf32_phdr));
    ehdr32()->e_phoff = MB1_SEARCH_LIMIT - E32_PHNUM * sizeof(struct elf32_phdr);
    assert_true(do_load());
    assert_elf32_loaded();
}

/* The a.out kludge still wins over the ELF headers of an ELF32 file, as in
 * GRUB (3.1.2: bit 16 set, the fields are used instead). */
static void test_elf32_with_aout_kludge_uses_the_fields(void **state)
{
    (void)state;
    uint8_t *p = build_elf32();
    uint32_t load = 0x110000, hdr = load + E32_BOOT_OFF;
    mb1_header(p + E32_BOOT_OFF, 0x10003, 0);
    mb1_addresses(p + E32_BOOT_OFF, hdr, load, load + 0x2000, load + 0x3000, hdr + 0x40);
    memset(phys_to_virt(load), 0xcc, 0x4000);
    assert_true(do_load());
    assert_memory_equal(phys_to_virt(load), p, 0x2000);
    assert_int_equal(entry.rip, hdr + 0x40);
    /* The program headers' addresses were not used. */
    for (uint32_t i = 0; i < E32_TEXT_SIZE; i++)
        assert_int_equal(((const uint8_t *)phys_to_virt(E32_TEXT_PADDR))[i], 0xcc);
}

static void test_mb2_address_tag_needs_entry_tag(void **state)
{
    (void)state;
    uint8_t *p = phys_to_virt(IMAGE_PA);
    memset(p, 0x90, 0x2000);
    uint32_t load = 0x110000;
    mb2_start(p, 0);
    uint32_t addr[] = {load, load, load + 0x2000, load + 0x3000};
    mb2_tag(2, 0, addr, 4);
    mb2_finish(true, 0);
    image.size = 0x2000;
    assert_false(do_load());
    assert_non_null(strstr(err, "entry"));
    /* With the entry tag it loads and starts there. */
    mb2_start(p, 0);
    mb2_tag(2, 0, addr, 4);
    uint32_t ent[] = {load + 0x80};
    mb2_tag(3, 0, ent, 1);
    mb2_finish(true, 0);
    assert_true(do_load());
    assert_int_equal(entry.rip, load + 0x80);
    assert_int_equal(eax, MB2_BOOTLOADER_MAGIC);
}

static void test_segments_outside_l1_ram_are_refused(void **state)
{
    (void)state;
    uint8_t *p = build_elf();
    mb2_start(p + 0x1000, 0);
    mb2_finish(true, 0);
    /* Onto nestvisor's memory. Segment 0 was fine, but nothing is copied
     * before every segment is. */
    phdr(1)->p_paddr = HV_BASE - 0x2000;
    assert_false(do_load());
    assert_non_null(strstr(err, "segment 1"));
    assert_non_null(strstr(err, "does not fit in L1's usable RAM"));
    for (uint64_t i = 0; i < SEG0_SIZE; i++)
        assert_int_equal(((const uint8_t *)phys_to_virt(SEG0_PADDR))[i], 0xcc);
    /* Over the reserved area below 1 MiB. */
    phdr(1)->p_paddr = 0x9e000;
    assert_false(do_load());
    assert_non_null(strstr(err, "segment 1"));
    /* Past the end of RAM, and above 4 GiB. */
    phdr(1)->p_paddr = RAM_TOP - 0x1000;
    assert_false(do_load());
    phdr(1)->p_paddr = 0x100000000ULL;
    assert_false(do_load());
    assert_non_null(strstr(err, "0x100000000"));
    /* An a.out image over nestvisor's memory. */
    setup(0);
    p = phys_to_virt(IMAGE_PA);
    memset(p, 0, 0x1000);
    mb1_header(p, 0x10000, 0);
    mb1_addresses(p, HV_BASE - 0x1000, HV_BASE - 0x1000, 0, HV_BASE + 0x1000, HV_BASE - 0x1000);
    image.size = 0x1000;
    assert_false(do_load());
    assert_non_null(strstr(err, "does not fit"));
    /* Nothing was written to nestvisor's memory. */
    assert_int_equal(*(const uint8_t *)phys_to_virt(HV_BASE), 0);
}

static void test_bad_images_are_refused(void **state)
{
    (void)state;
    image.size = 0;
    assert_false(do_load());
    assert_non_null(strstr(err, "empty"));
    /* An ELF cut short: its program headers are past the end (the
     * Multiboot header sits where they would start). */
    uint8_t *p = build_elf();
    mb1_header(p + 0x40, 0x3, 0);
    image.size = 0x80;
    assert_false(do_load());
    assert_non_null(strstr(err, "kernel image: ELF program headers extend beyond the end"));
    /* The segments past the end. */
    p = build_elf();
    mb1_header(p + 0x1ff0, 0x3, 0);
    image.size = 0x2000;
    assert_false(do_load());
    assert_non_null(strstr(err, "kernel image: ELF segment extends beyond the end of the file (program header 0)"));
    /* An ELF class that is neither 32- nor 64-bit. */
    p = build_elf();
    mb1_header(p + 0x1000, 0x3, 0);
    p[ELF_EI_CLASS] = 3;
    assert_false(do_load());
    assert_non_null(strstr(err, "kernel image: neither a 32-bit nor a 64-bit ELF file"));
    /* An entry point outside every segment. */
    p = build_elf();
    mb1_header(p + 0x1000, 0x3, 0);
    ((struct elf64_ehdr *)p)->e_entry = 0xffffffff90000000ULL;
    assert_false(do_load());
    assert_non_null(strstr(err, "entry point"));
    /* GRUB wants e_entry in a segment even when an entry tag overrides it. */
    p = build_elf();
    mb2_start(p + 0x1000, 0);
    uint32_t ent[] = {SEG0_PADDR + 0x80};
    mb2_tag(3, 0, ent, 1);
    mb2_finish(true, 0);
    ((struct elf64_ehdr *)p)->e_entry = 0xffffffff90000000ULL;
    assert_false(do_load());
    assert_non_null(strstr(err, "entry point 0xffffffff90000000"));
    ((struct elf64_ehdr *)p)->e_entry = SEG0_VADDR + 0x40;
    assert_true(do_load());
    assert_int_equal(entry.rip, SEG0_PADDR + 0x80);
    /* Not a Multiboot kernel at all. */
    p = build_elf();
    assert_false(do_load());
    assert_non_null(strstr(err, "not a Multiboot kernel"));
}

static void test_modules_that_do_not_fit(void **state)
{
    (void)state;
    uint8_t *p = build_elf();
    mb2_start(p + 0x1000, 0);
    mb2_finish(true, 0);
    /* 46 MiB of module: more than any free block of L1's RAM (the largest
     * runs from the kernel's bss to nestvisor's memory). Never copied, so
     * its contents do not matter. */
    mod[0] = (struct handoff_module){.base = 0, .size = 0x2e00000, .name = "l1-module", .cmdline = "huge"};
    in.modules[0] = &mod[0];
    in.module_count = 1;
    assert_false(do_load());
    assert_non_null(strstr(err, "no room"));
    assert_non_null(strstr(err, "module 0"));
}

int main(void)
{
#define B(f) cmocka_unit_test_setup(f, setup_buf)
#define L(f) cmocka_unit_test_setup(f, setup)
    const struct CMUnitTest tests[] = {
        B(test_mb2_header_with_tags),
        B(test_mb2_header_errors),
        B(test_mb2_requests),
        B(test_mb1_header),
        B(test_stray_magic_is_passed_over),
        B(test_search_windows),
        L(test_elf_with_mb2_end_to_end),
        L(test_elf_with_mb1_info),
        L(test_aout_kludge),
        L(test_elf32_with_mb1),
        L(test_elf32_with_mb2),
        L(test_elf32_entry_translation),
        L(test_elf32_bad_images_are_refused),
        L(test_elf32_program_headers_where_grub_reads),
        L(test_elf32_with_aout_kludge_uses_the_fields),
        L(test_mb2_address_tag_needs_entry_tag),
        L(test_segments_outside_l1_ram_are_refused),
        L(test_bad_images_are_refused),
        L(test_modules_that_do_not_fit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
