#include "vmm/loader_mb.h"
#include "vmm/placer.h"
#include "drivers/fbcon.h"
#include "arch/x86/physmem.h"
#include "lib/elf.h"
#include "lib/format.h"
#include "lib/string.h"

/* Multiboot (v1) header flags (spec 3.1.2). */
#define MB1_FLAG_PAGE_ALIGN  (1U << 0)
#define MB1_FLAG_MEMORY_INFO (1U << 1)
#define MB1_FLAG_VIDEO_MODE  (1U << 2)
#define MB1_FLAG_AOUT_KLUDGE (1U << 16)
#define MB1_REQUIRED_MASK    0xffffU
#define MB1_SUPPORTED_REQUIRED (MB1_FLAG_PAGE_ALIGN | MB1_FLAG_MEMORY_INFO)

/* Multiboot (v1) information flags (spec 3.3). */
#define MB1_INFO_MEMORY      (1U << 0)
#define MB1_INFO_CMDLINE     (1U << 2)
#define MB1_INFO_MODS        (1U << 3)
#define MB1_INFO_MMAP        (1U << 6)
#define MB1_INFO_LOADER_NAME (1U << 9)

/* Multiboot2 header tags (spec 3.1.3) and information tags (3.6). */
#define MB2_ARCH_I386          0
#define MB2_HTAG_END           0
#define MB2_HTAG_INFO_REQUEST  1
#define MB2_HTAG_ADDRESS       2
#define MB2_HTAG_ENTRY         3
#define MB2_HTAG_FRAMEBUFFER   5
#define MB2_HTAG_OPTIONAL      1U
#define MB2_ITAG_END           0
#define MB2_ITAG_CMDLINE       1
#define MB2_ITAG_LOADER_NAME   2
#define MB2_ITAG_MODULE        3
#define MB2_ITAG_BASIC_MEMINFO 4
#define MB2_ITAG_MMAP          6
#define MB2_ITAG_FRAMEBUFFER   8
#define MB2_ITAG_ACPI_OLD      14
#define MB2_ITAG_ACPI_NEW      15
#define MB2_MMAP_ENTRY_VERSION 0
#define MB2_FB_TYPE_RGB        1

#define LOADER_NAME      "nestvisor"
#define MB_REASON_MAX    120
#define CONVENTIONAL_END 0xa0000ULL
#define RSDP_V1_SIZE     20
#define RSDP_V2_SIZE     36
#define BOOT_CS          0x10 /* the Linux boot protocol's __BOOT_CS/__BOOT_DS */
#define BOOT_DS          0x18
#define GDT_CODE32_FLAT  0x00cf9a000000ffffULL
#define GDT_DATA32_FLAT  0x00cf92000000ffffULL
#define BOOT_GDT_ENTRIES 4

#define FAIL(...)                                                                                  \
    do {                                                                                           \
        format(err, errsz, __VA_ARGS__);                                                           \
        return false;                                                                              \
    } while (0)

struct mb1_header {
    uint32_t magic, flags, checksum;
    uint32_t header_addr, load_addr, load_end_addr, bss_end_addr, entry_addr;
};

struct mb2_header {
    uint32_t magic, architecture, header_length, checksum;
};

struct mb2_header_tag {
    uint16_t type, flags;
    uint32_t size;
};

static bool mb2_tag_supported(uint32_t type)
{
    return type == MB2_ITAG_CMDLINE || type == MB2_ITAG_LOADER_NAME || type == MB2_ITAG_MODULE ||
           type == MB2_ITAG_BASIC_MEMINFO || type == MB2_ITAG_MMAP || type == MB2_ITAG_ACPI_OLD ||
           type == MB2_ITAG_ACPI_NEW;
}

static bool parse_mb2_tags(const uint8_t *image, uint64_t size, struct mb_header_info *h,
                           char *err, size_t errsz)
{
    const struct mb2_header *hdr = (const void *)(image + h->offset);
    uint64_t end = (uint64_t)h->offset + hdr->header_length;
    if (hdr->header_length < sizeof(*hdr) || end > size)
        FAIL("Multiboot2 header length %u runs past the image", hdr->header_length);
    for (uint64_t off = h->offset + sizeof(*hdr); off + sizeof(struct mb2_header_tag) <= end;) {
        const struct mb2_header_tag *t = (const void *)(image + off);
        if (t->size < sizeof(*t) || off + t->size > end)
            FAIL("Multiboot2 header tag %u has bad size %u", t->type, t->size);
        const uint32_t *w = (const uint32_t *)(t + 1);
        switch (t->type) {
        case MB2_HTAG_END:
            /* Loaded by the address tag, the image is not read as ELF:
             * only the entry tag says where it starts (spec 3.1.6). */
            if (h->has_addresses && !h->has_entry)
                FAIL("Multiboot2 address tag without an entry address tag: the entry point is unknown");
            return true;
        case MB2_HTAG_INFO_REQUEST:
            for (uint32_t i = 0; i < (t->size - sizeof(*t)) / 4; i++) {
                if (t->flags & MB2_HTAG_OPTIONAL)
                    continue;
                if (w[i] == MB2_ITAG_FRAMEBUFFER)
                    h->needs_framebuffer = true; /* given if there is one: mb_load_l1 */
                else if (!mb2_tag_supported(w[i]))
                    FAIL("the image requires Multiboot2 information tag %u, which nestvisor does not provide", w[i]);
            }
            break;
        case MB2_HTAG_FRAMEBUFFER:
            /* A preferred mode (spec 3.1.10: the boot loader may pick
             * another): L1 gets the framebuffer as it is. */
            if (!(t->flags & MB2_HTAG_OPTIONAL))
                h->needs_framebuffer = true;
            break;
        case MB2_HTAG_ADDRESS:
            if (t->size < sizeof(*t) + 16)
                FAIL("Multiboot2 address tag too short");
            h->has_addresses = true;
            h->header_addr = w[0];
            h->load_addr = w[1];
            h->load_end_addr = w[2];
            h->bss_end_addr = w[3];
            break;
        case MB2_HTAG_ENTRY:
            if (t->size < sizeof(*t) + 4)
                FAIL("Multiboot2 entry tag too short");
            h->has_entry = true;
            h->entry_addr = w[0];
            break;
        default:
            if (!(t->flags & MB2_HTAG_OPTIONAL))
                FAIL("the image requires Multiboot2 header tag %u, which nestvisor does not support", t->type);
            break;
        }
        off += (t->size + 7) & ~7U;
    }
    FAIL("Multiboot2 header has no end tag");
}

/* A magic number is a header only with a valid checksum (and, for
 * Multiboot2, the i386 architecture): as GRUB does, anything else is passed
 * over, because the magic may be a stray word (an assembler's constant in
 * the symbol table, say). The first one passed over is the reason given
 * when no header is found. */
bool mb_find_header(const uint8_t *image, uint64_t size, struct mb_header_info *h, char *err,
                    size_t errsz)
{
    char passed_over[MB_REASON_MAX] = "";
    memset(h, 0, sizeof(*h));
    for (uint64_t off = 0; off + sizeof(struct mb2_header) <= size && off < MB2_SEARCH_LIMIT; off += 8) {
        const struct mb2_header *m = (const void *)(image + off);
        if (m->magic != MB2_HEADER_MAGIC)
            continue;
        bool sum_ok = !(uint32_t)(m->magic + m->architecture + m->header_length + m->checksum);
        if (!sum_ok && !passed_over[0])
            format(passed_over, sizeof(passed_over),
                   "the Multiboot2 magic at offset %llu has a bad checksum", (unsigned long long)off);
        if (sum_ok && m->architecture != MB2_ARCH_I386 && !passed_over[0])
            format(passed_over, sizeof(passed_over),
                   "the Multiboot2 header at offset %llu is for architecture %u, not i386",
                   (unsigned long long)off, m->architecture);
        if (!sum_ok || m->architecture != MB2_ARCH_I386)
            continue;
        h->version = MB_V2;
        h->offset = (uint32_t)off;
        return parse_mb2_tags(image, size, h, err, errsz);
    }
    for (uint64_t off = 0; off + 12 <= size && off < MB1_SEARCH_LIMIT; off += 4) {
        const struct mb1_header *m = (const void *)(image + off);
        if (m->magic != MB1_HEADER_MAGIC)
            continue;
        if ((uint32_t)(m->magic + m->flags + m->checksum)) {
            if (!passed_over[0])
                format(passed_over, sizeof(passed_over),
                       "the Multiboot magic at offset %llu has a bad checksum", (unsigned long long)off);
            continue;
        }
        uint32_t unsupported = m->flags & MB1_REQUIRED_MASK & ~MB1_SUPPORTED_REQUIRED;
        if (unsupported)
            FAIL("the image requires Multiboot features 0x%x (video mode?) that nestvisor does not provide",
                 unsupported);
        h->version = MB_V1;
        h->offset = (uint32_t)off;
        h->flags = m->flags;
        if (m->flags & MB1_FLAG_AOUT_KLUDGE) {
            if (off + sizeof(*m) > size)
                FAIL("Multiboot header address fields run past the image");
            h->has_addresses = true;
            h->header_addr = m->header_addr;
            h->load_addr = m->load_addr;
            h->load_end_addr = m->load_end_addr;
            h->bss_end_addr = m->bss_end_addr;
            h->entry_addr = m->entry_addr;
            h->has_entry = true;
        }
        return true;
    }
    if (passed_over[0])
        FAIL("no valid Multiboot or Multiboot2 header: %s", passed_over);
    FAIL("no Multiboot or Multiboot2 header in the first %u bytes: not a Multiboot kernel "
         "(nor a Linux bzImage)",
         MB2_SEARCH_LIMIT);
}

/* ---- loading the image ---- */

static bool load_aout(const uint8_t *image, uint64_t size, const struct mb_header_info *h,
                      struct placer *p, uint32_t *entry, char *err, size_t errsz)
{
    if (h->load_addr > h->header_addr || h->header_addr - h->load_addr > h->offset)
        FAIL("Multiboot address fields are inconsistent (load 0x%x, header 0x%x)", h->load_addr,
             h->header_addr);
    uint64_t file_off = h->offset - (h->header_addr - h->load_addr);
    uint64_t load_size = h->load_end_addr ? (uint64_t)h->load_end_addr - h->load_addr : size - file_off;
    if (h->load_end_addr && h->load_end_addr < h->load_addr)
        FAIL("Multiboot load_end_addr 0x%x is below load_addr 0x%x", h->load_end_addr, h->load_addr);
    if (file_off + load_size > size)
        FAIL("Multiboot load range needs %llu bytes but the image has %llu",
             (unsigned long long)(file_off + load_size), (unsigned long long)size);
    uint64_t mem_end = h->bss_end_addr ? h->bss_end_addr : h->load_addr + load_size;
    if (mem_end < h->load_addr + load_size)
        FAIL("Multiboot bss_end_addr 0x%x is below the loaded end", h->bss_end_addr);
    if (!placer_take(p, h->load_addr, mem_end - h->load_addr))
        FAIL("kernel at 0x%x-0x%llx does not fit in L1's usable RAM", h->load_addr,
             (unsigned long long)mem_end);
    uint8_t *dst = phys_to_virt(h->load_addr);
    memcpy(dst, image + file_off, load_size);
    memset(dst + load_size, 0, mem_end - h->load_addr - load_size);
    *entry = h->entry_addr;
    return true;
}

/* An image without the address fields is an ELF executable (Multiboot
 * 0.6.96 3.1.2, flag bit 16, and 3.1.3; Multiboot2 3.1.5), loaded from its
 * program headers as GRUB does (grub-core/loader/multiboot_elfxx.c), ELF32
 * (i386) and ELF64 (x86-64) alike: each PT_LOAD's p_filesz bytes from
 * p_offset go to its physical address p_paddr, the rest up to p_memsz is
 * zeroed (gABI 5), and e_entry, a virtual address, runs at the physical
 * address the PT_LOAD holding it gives it. GRUB's rules kept: the program
 * headers lie in the part of the file searched for the Multiboot header,
 * segments do not overlap, the entry is inside a segment (also when a
 * Multiboot2 entry tag overrides it). Everything is checked before anything
 * is copied. */

/* The most program headers that fit in GRUB's window (the smallest entry
 * is an ELF32 one). */
#define ELF_MAX_PHDRS (MB2_SEARCH_LIMIT / ELF32_PHDR_SIZE)

struct load_range {
    uint64_t lo, hi; /* physical, hi exclusive */
    unsigned index;  /* program header */
};

static bool elf_phdrs_in_window(const struct elf_image *img, const struct mb_header_info *h,
                                char *err, size_t errsz)
{
    uint32_t window = h->version == MB_V2 ? MB2_SEARCH_LIMIT : MB1_SEARCH_LIMIT;
    /* elf_parse_x86 put the table inside the file: no overflow. */
    uint64_t end = img->ehdr.e_phoff + (uint64_t)elf_phnum(img) * img->ehdr.e_phentsize;
    if (end > window)
        FAIL("kernel image: its %u ELF program headers end at byte %llu, past the first %u "
             "bytes where Multiboot loaders read them",
             elf_phnum(img), (unsigned long long)end, window);
    return true;
}

/* Claims every non-empty PT_LOAD's physical range in L1's RAM. */
static bool elf_claim_segments(const struct elf_image *img, struct placer *p, char *err,
                               size_t errsz)
{
    static struct load_range taken[ELF_MAX_PHDRS];
    unsigned n = 0;
    for (unsigned i = 0; i < elf_phnum(img); i++) {
        struct elf64_phdr ph;
        if (!elf_phdr(img, i, &ph) || ph.p_type != ELF_PT_LOAD || !ph.p_memsz)
            continue;
        /* No wrap: elf_parse_x86 checked the sum. */
        uint64_t lo = ph.p_paddr, hi = ph.p_paddr + ph.p_memsz;
        for (unsigned j = 0; j < n; j++)
            if (lo < taken[j].hi && taken[j].lo < hi)
                FAIL("kernel image: ELF segments %u and %u overlap (0x%llx-0x%llx and 0x%llx-0x%llx)",
                     taken[j].index, i, (unsigned long long)taken[j].lo,
                     (unsigned long long)taken[j].hi, (unsigned long long)lo,
                     (unsigned long long)hi);
        if (hi > PLACER_HIGH_LIMIT || !placer_take(p, lo, ph.p_memsz))
            FAIL("segment %u at 0x%llx-0x%llx does not fit in L1's usable RAM", i,
                 (unsigned long long)lo, (unsigned long long)hi);
        if (n == ELF_MAX_PHDRS) /* unreachable after elf_phdrs_in_window */
            FAIL("kernel image: more than %u ELF segments", ELF_MAX_PHDRS);
        taken[n++] = (struct load_range){lo, hi, i};
    }
    return true;
}

/* e_entry's physical address: through the first PT_LOAD whose virtual
 * range holds it, as GRUB picks it. */
static bool elf_entry(const struct elf_image *img, uint64_t *entry)
{
    uint64_t e = img->ehdr.e_entry;
    for (unsigned i = 0; i < elf_phnum(img); i++) {
        struct elf64_phdr ph;
        if (!elf_phdr(img, i, &ph) || ph.p_type != ELF_PT_LOAD)
            continue;
        if (e >= ph.p_vaddr && e - ph.p_vaddr < ph.p_memsz) {
            *entry = e - ph.p_vaddr + ph.p_paddr;
            return true;
        }
    }
    return false;
}

static void elf_copy_segments(const struct elf_image *img)
{
    for (unsigned i = 0; i < elf_phnum(img); i++) {
        struct elf64_phdr ph;
        if (!elf_phdr(img, i, &ph) || ph.p_type != ELF_PT_LOAD || !ph.p_memsz)
            continue;
        uint8_t *dst = phys_to_virt(ph.p_paddr);
        memcpy(dst, img->data + ph.p_offset, ph.p_filesz);
        memset(dst + ph.p_filesz, 0, ph.p_memsz - ph.p_filesz);
    }
}

static bool load_elf(const uint8_t *image, uint64_t size, const struct mb_header_info *h,
                     struct placer *p, uint32_t *entry, char *err, size_t errsz)
{
    struct elf_image img;
    int bad;
    enum elf_status st = elf_parse_x86(image, size, &img, &bad);
    if (st != ELF_OK && bad >= 0)
        FAIL("kernel image: %s (program header %d)", elf_status_str(st), bad);
    if (st != ELF_OK)
        FAIL("kernel image: %s", elf_status_str(st));
    if (!elf_phdrs_in_window(&img, h, err, errsz) || !elf_claim_segments(&img, p, err, errsz))
        return false;
    uint64_t e;
    /* Below 4 GiB: the segment holding it is (elf_claim_segments). */
    if (!elf_entry(&img, &e))
        FAIL("kernel entry point 0x%llx is not in a loadable ELF segment",
             (unsigned long long)img.ehdr.e_entry);
    elf_copy_segments(&img);
    *entry = h->has_entry ? h->entry_addr : (uint32_t)e; /* Multiboot2 3.1.6 */
    return true;
}

/* ---- the information structures ---- */

struct mb1_info {
    uint32_t flags, mem_lower, mem_upper, boot_device, cmdline, mods_count, mods_addr;
    uint32_t syms[4];
    uint32_t mmap_length, mmap_addr, drives_length, drives_addr, config_table, boot_loader_name;
    uint32_t apm_table, vbe[6];
};

struct __attribute__((packed)) mb1_mmap_entry {
    uint32_t size;
    uint64_t base, len;
    uint32_t type;
};

struct mb1_module {
    uint32_t mod_start, mod_end, string, reserved;
};

/* KiB of usable memory from 0 and from 1 MiB (Multiboot mem_lower/upper). */
static void basic_meminfo(const struct memmap *m, uint32_t *lower, uint32_t *upper)
{
    uint64_t lo = 0, hi = PLACER_LOW_LIMIT;
    while (lo < CONVENTIONAL_END && memmap_type_at(m, lo) == MEM_USABLE)
        lo += PAGE_SIZE;
    while (hi < PLACER_HIGH_LIMIT && memmap_type_at(m, hi) == MEM_USABLE)
        hi += PAGE_SIZE;
    *lower = (uint32_t)(lo >> 10);
    *upper = (uint32_t)((hi - PLACER_LOW_LIMIT) >> 10);
}

static bool place_modules(const struct l1_boot_input *in, struct placer *p,
                          struct mb1_module *mods, char *err, size_t errsz)
{
    for (unsigned i = 0; i < in->module_count; i++) {
        const struct handoff_module *m = in->modules[i];
        uint64_t at = placer_place(p, m->size, PAGE_SIZE, PLACER_LOW_LIMIT, PLACER_HIGH_LIMIT);
        uint32_t str = placer_string(p, m->cmdline);
        if (!at || !str)
            FAIL("no room below 4 GiB in L1's memory for module %u (%llu bytes)", i,
                 (unsigned long long)m->size);
        memcpy(phys_to_virt(at), phys_to_virt(m->base), m->size);
        mods[i] = (struct mb1_module){(uint32_t)at, (uint32_t)(at + m->size), str, 0};
    }
    return true;
}

static bool build_mb1_info(const struct l1_boot_input *in, struct placer *p, uint32_t *info_pa,
                           char *err, size_t errsz)
{
    struct mb1_info info = {0};
    struct mb1_module mods[HANDOFF_MAX_MODULES];
    struct mb1_mmap_entry mmap[MEMMAP_MAX];
    if (!place_modules(in, p, mods, err, errsz))
        return false;
    for (unsigned i = 0; i < in->l1_map->count; i++) {
        const struct mem_range *r = &in->l1_map->r[i];
        mmap[i] = (struct mb1_mmap_entry){sizeof(mmap[i]) - 4, r->base, r->size, r->type};
    }
    basic_meminfo(in->l1_map, &info.mem_lower, &info.mem_upper);
    info.flags = MB1_INFO_MEMORY | MB1_INFO_CMDLINE | MB1_INFO_MODS | MB1_INFO_MMAP |
                 MB1_INFO_LOADER_NAME;
    info.cmdline = placer_string(p, in->image->cmdline);
    info.boot_loader_name = placer_string(p, LOADER_NAME);
    info.mods_count = in->module_count;
    info.mods_addr = in->module_count ? placer_bytes(p, mods, in->module_count * sizeof(mods[0])) : 0;
    info.mmap_length = in->l1_map->count * (uint32_t)sizeof(mmap[0]);
    info.mmap_addr = placer_bytes(p, mmap, info.mmap_length);
    *info_pa = placer_bytes(p, &info, sizeof(info));
    if (!*info_pa || !info.cmdline || !info.mmap_addr || (in->module_count && !info.mods_addr))
        FAIL("no room below 4 GiB in L1's memory for the Multiboot information");
    return true;
}

/* Multiboot2 information is built in a buffer, then placed in one piece. */
#define MB2_INFO_MAX 16384

struct mb2_builder {
    uint8_t buf[MB2_INFO_MAX];
    uint32_t len;
    bool overflow;
};

static void *mb2_tag(struct mb2_builder *b, uint32_t type, uint32_t payload)
{
    uint32_t size = 8 + payload;
    uint32_t padded = (size + 7) & ~7U;
    if (b->len + padded > sizeof(b->buf)) {
        b->overflow = true;
        return 0;
    }
    uint32_t *t = (uint32_t *)(b->buf + b->len);
    memset(t, 0, padded);
    t[0] = type;
    t[1] = size;
    b->len += padded;
    return t + 2;
}

static void mb2_string_tag(struct mb2_builder *b, uint32_t type, const char *s)
{
    char *d = mb2_tag(b, type, (uint32_t)strlen(s) + 1);
    if (d)
        memcpy(d, s, strlen(s) + 1);
}

static bool build_mb2_info(const struct l1_boot_input *in, struct placer *p, uint32_t *info_pa,
                           char *err, size_t errsz)
{
    static struct mb2_builder b;
    struct mb1_module mods[HANDOFF_MAX_MODULES];
    if (!place_modules(in, p, mods, err, errsz))
        return false;
    b.len = 8; /* total_size, reserved */
    b.overflow = false;
    mb2_string_tag(&b, MB2_ITAG_CMDLINE, in->image->cmdline);
    mb2_string_tag(&b, MB2_ITAG_LOADER_NAME, LOADER_NAME);
    for (unsigned i = 0; i < in->module_count; i++) {
        const char *s = phys_to_virt(mods[i].string);
        uint32_t *t = mb2_tag(&b, MB2_ITAG_MODULE, 8 + (uint32_t)strlen(s) + 1);
        if (t) {
            t[0] = mods[i].mod_start;
            t[1] = mods[i].mod_end;
            memcpy(t + 2, s, strlen(s) + 1);
        }
    }
    uint32_t *mi = mb2_tag(&b, MB2_ITAG_BASIC_MEMINFO, 8);
    if (mi)
        basic_meminfo(in->l1_map, &mi[0], &mi[1]);
    uint32_t *mm = mb2_tag(&b, MB2_ITAG_MMAP, 8 + in->l1_map->count * 24);
    if (mm) {
        mm[0] = 24; /* entry_size */
        mm[1] = MB2_MMAP_ENTRY_VERSION;
        for (unsigned i = 0; i < in->l1_map->count; i++) {
            const struct mem_range *r = &in->l1_map->r[i];
            uint32_t *e = mm + 2 + 6 * i;
            memcpy(e, &r->base, 8);
            memcpy(e + 2, &r->size, 8);
            e[4] = r->type;
            e[5] = 0;
        }
    }
    struct fb_layout l;
    if (in->fb && fb_describe(in->fb, &l)) {
        /* Spec 3.6.12, with GRUB's layout (a 16-bit reserved field: the
         * colour information at offset 32 of the tag, where GRUB and Linux
         * put and read it). */
        uint8_t *f = mb2_tag(&b, MB2_ITAG_FRAMEBUFFER, 24 + 6);
        if (f) {
            memcpy(f, &in->fb->base, 8);
            memcpy(f + 8, &in->fb->pitch, 4);
            memcpy(f + 12, &in->fb->width, 4);
            memcpy(f + 16, &in->fb->height, 4);
            f[20] = (uint8_t)in->fb->bpp;
            f[21] = MB2_FB_TYPE_RGB;
            const uint8_t colours[6] = {l.red_pos,   l.red_size,  l.green_pos,
                                        l.green_size, l.blue_pos, l.blue_size};
            memcpy(f + 24, colours, sizeof(colours));
        }
    }
    if (in->acpi_rsdp) {
        const uint8_t *rsdp = phys_to_virt(in->acpi_rsdp);
        bool v2 = rsdp[15] >= 2; /* RSDP revision (ACPI 5.2.5.3) */
        uint32_t n = v2 ? RSDP_V2_SIZE : RSDP_V1_SIZE;
        void *d = mb2_tag(&b, v2 ? MB2_ITAG_ACPI_NEW : MB2_ITAG_ACPI_OLD, n);
        if (d)
            memcpy(d, rsdp, n);
    }
    mb2_tag(&b, MB2_ITAG_END, 0);
    if (b.overflow)
        FAIL("Multiboot2 information exceeds %u bytes", MB2_INFO_MAX);
    memcpy(b.buf, &b.len, 4);
    *info_pa = placer_bytes(p, b.buf, b.len);
    if (!*info_pa)
        FAIL("no room below 4 GiB in L1's memory for the Multiboot2 information");
    return true;
}

bool mb_load_l1(const struct l1_boot_input *in, struct l1_entry_state *entry, uint32_t *regs_eax,
                uint32_t *regs_ebx, char *err, size_t errsz)
{
    const uint8_t *image = phys_to_virt(in->image->base);
    uint64_t size = in->image->size;
    struct mb_header_info h;
    if (!size)
        FAIL("L1 image is empty");
    if (!mb_find_header(image, size, &h, err, errsz))
        return false;
    struct fb_layout layout;
    if (h.version == MB_V2 && h.needs_framebuffer && !(in->fb && fb_describe(in->fb, &layout)))
        FAIL("the image requires a framebuffer (Multiboot2 information tag 8) and this machine has "
             "no linear 24/32-bpp one");
    static struct placer p;
    placer_init(&p, in->l1_map);
    uint32_t rip;
    bool loaded = h.has_addresses ? load_aout(image, size, &h, &p, &rip, err, errsz)
                                  : load_elf(image, size, &h, &p, &rip, err, errsz);
    if (!loaded)
        return false;
    uint32_t info;
    if (!(h.version == MB_V2 ? build_mb2_info(in, &p, &info, err, errsz)
                             : build_mb1_info(in, &p, &info, err, errsz)))
        return false;
    uint64_t gdt[BOOT_GDT_ENTRIES] = {0, 0, GDT_CODE32_FLAT, GDT_DATA32_FLAT};
    uint32_t gdt_pa = placer_bytes(&p, gdt, sizeof(gdt));
    if (!gdt_pa)
        FAIL("no room below 4 GiB in L1's memory for the boot GDT");
    *entry = (struct l1_entry_state){
        .rip = rip,
        .rsp = 0, /* undefined on entry (Multiboot spec 3.2) */
        .cs = BOOT_CS,
        .ds = BOOT_DS,
        .gdt_base = gdt_pa,
        .gdt_limit = sizeof(gdt) - 1,
    };
    *regs_eax = h.version == MB_V2 ? MB2_BOOTLOADER_MAGIC : MB1_BOOTLOADER_MAGIC;
    *regs_ebx = info;
    return true;
}
