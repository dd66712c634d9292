/* unit-srcs: lib/elf.c */
/* lib/elf.c against hand-built images: a kernel-like good one, one broken
 * header field at a time, every truncation, random garbage, and malformed
 * notes; the same for ELF32 (gABI 4-5: 52-byte header, 32-byte program
 * headers with p_flags after p_memsz) through elf_parse_x86. Images are
 * copied into exactly-sized heap buffers so that ASan catches any read past
 * the end. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "lib/elf.h"

#define PH_COUNT     4 /* boot, text, data (with bss), note */
#define PH_OFF       sizeof(struct elf64_ehdr)
#define DATA_OFF     0x200
#define SEG_SIZE     0x100
#define NOTE_OFF     (DATA_OFF + 3 * SEG_SIZE)
#define NOTE_TYPE    1
#define NOTE_NAME    "nestvisor"
#define IMAGE_SIZE   (NOTE_OFF + 0x40)
#define LINK_BASE    0x200000ULL
#define HIGH_BASE    0xffffffff80000000ULL
#define BSS_EXTRA    0x1000
#define ENTRY_PADDR  (LINK_BASE + 0x30)

struct image {
    uint8_t b[IMAGE_SIZE];
    size_t note_size; /* bytes of notes written at NOTE_OFF */
};

static struct elf64_ehdr *ehdr(struct image *im)
{
    return (struct elf64_ehdr *)im->b;
}

static struct elf64_phdr *phdr(struct image *im, unsigned i)
{
    return (struct elf64_phdr *)(im->b + PH_OFF) + i;
}

/* Appends one note; returns its offset in the image. */
static size_t add_note(struct image *im, const char *name, uint32_t namesz, uint32_t type,
                       const void *desc, uint32_t descsz)
{
    size_t at = NOTE_OFF + im->note_size;
    struct elf64_nhdr nh = {namesz, descsz, type};
    memcpy(im->b + at, &nh, sizeof(nh));
    size_t p = at + sizeof(nh);
    memcpy(im->b + p, name, strlen(name) + 1 < namesz ? strlen(name) + 1 : namesz);
    p += (namesz + 3) & ~3u;
    memcpy(im->b + p, desc, descsz);
    p += (descsz + 3) & ~3u;
    im->note_size = p - NOTE_OFF;
    phdr(im, 3)->p_filesz = phdr(im, 3)->p_memsz = im->note_size;
    return at;
}

static void set_load(struct image *im, unsigned i, uint32_t flags, uint64_t paddr, uint64_t vaddr,
                     uint64_t memsz)
{
    *phdr(im, i) = (struct elf64_phdr){
        .p_type = ELF_PT_LOAD, .p_flags = flags, .p_offset = DATA_OFF + i * SEG_SIZE,
        .p_vaddr = vaddr, .p_paddr = paddr, .p_filesz = SEG_SIZE, .p_memsz = memsz,
        .p_align = 0x1000,
    };
}

/* Shaped like build/nestvisor.elf: identity-linked boot segment, two
 * segments linked high, bss, and the entry note. */
static void make_kernel(struct image *im)
{
    memset(im, 0, sizeof(*im));
    struct elf64_ehdr *eh = ehdr(im);
    memcpy(eh->e_ident, ELF_MAGIC, ELF_MAGIC_LEN);
    eh->e_ident[ELF_EI_CLASS] = ELF_CLASS64;
    eh->e_ident[ELF_EI_DATA] = ELF_DATA2LSB;
    eh->e_ident[ELF_EI_VERSION] = ELF_EV_CURRENT;
    eh->e_type = ELF_ET_EXEC;
    eh->e_machine = ELF_EM_X86_64;
    eh->e_version = ELF_EV_CURRENT;
    eh->e_phoff = PH_OFF;
    eh->e_ehsize = sizeof(*eh);
    eh->e_phentsize = sizeof(struct elf64_phdr);
    eh->e_phnum = PH_COUNT;
    uint64_t text = LINK_BASE + SEG_SIZE, data = LINK_BASE + 2 * SEG_SIZE;
    set_load(im, 0, ELF_PF_R | ELF_PF_W | ELF_PF_X, LINK_BASE, LINK_BASE, SEG_SIZE);
    set_load(im, 1, ELF_PF_R | ELF_PF_X, text, HIGH_BASE + text, SEG_SIZE);
    set_load(im, 2, ELF_PF_R | ELF_PF_W, data, HIGH_BASE + data, SEG_SIZE + BSS_EXTRA);
    *phdr(im, 3) = (struct elf64_phdr){.p_type = ELF_PT_NOTE, .p_offset = NOTE_OFF, .p_align = 4};
    uint64_t entry = ENTRY_PADDR;
    add_note(im, NOTE_NAME, sizeof(NOTE_NAME), NOTE_TYPE, &entry, sizeof(entry));
}

typedef enum elf_status (*parse_fn)(const void *, size_t, struct elf_image *, int *);

/* Parses a copy of the first size bytes in a buffer of exactly that size. */
static enum elf_status parse_copy_with(parse_fn parse, const void *bytes, size_t size, int *bad)
{
    uint8_t *copy = malloc(size ? size : 1);
    memcpy(copy, bytes, size);
    struct elf_image img;
    enum elf_status s = parse(copy, size, &img, bad);
    if (s == ELF_OK) { /* walk everything a loader would */
        uint64_t lo, hi;
        const void *desc;
        uint32_t descsz;
        elf_load_extent(&img, &lo, &hi);
        elf_find_note(&img, NOTE_NAME, NOTE_TYPE, &desc, &descsz);
    }
    free(copy);
    return s;
}

static enum elf_status parse_copy(const void *bytes, size_t size, int *bad)
{
    return parse_copy_with(elf_parse, bytes, size, bad);
}

static enum elf_status parse_image(struct image *im, int *bad)
{
    return parse_copy(im->b, IMAGE_SIZE, bad);
}

static void test_good_kernel_image(void **state)
{
    (void)state;
    static struct image im;
    make_kernel(&im);
    struct elf_image img;
    int bad = 7;
    assert_int_equal(elf_parse(im.b, IMAGE_SIZE, &img, &bad), ELF_OK);
    assert_int_equal(bad, -1);
    assert_int_equal(elf_phnum(&img), PH_COUNT);
    uint64_t lo, hi;
    elf_load_extent(&img, &lo, &hi);
    assert_int_equal(lo, LINK_BASE);
    assert_int_equal(hi, LINK_BASE + 3 * SEG_SIZE + BSS_EXTRA);
    const void *desc;
    uint32_t descsz;
    assert_true(elf_find_note(&img, NOTE_NAME, NOTE_TYPE, &desc, &descsz));
    assert_int_equal(descsz, sizeof(uint64_t));
    uint64_t entry;
    memcpy(&entry, desc, sizeof(entry));
    assert_int_equal(entry, ENTRY_PADDR);
    assert_true(elf_paddr_is_loaded(&img, ENTRY_PADDR));
    assert_false(elf_paddr_is_loaded(&img, LINK_BASE + 3 * SEG_SIZE)); /* bss only */
    assert_false(elf_paddr_is_loaded(&img, LINK_BASE - 1));
    struct elf64_phdr ph;
    assert_true(elf_phdr(&img, 1, &ph));
    assert_int_equal(ph.p_vaddr, HIGH_BASE + LINK_BASE + SEG_SIZE);
    assert_false(elf_phdr(&img, PH_COUNT, &ph));
}

static void test_unaligned_buffer(void **state)
{
    (void)state;
    static struct image im;
    static uint8_t shifted[IMAGE_SIZE + 1];
    make_kernel(&im);
    memcpy(shifted + 1, im.b, IMAGE_SIZE);
    struct elf_image img;
    assert_int_equal(elf_parse(shifted + 1, IMAGE_SIZE, &img, NULL), ELF_OK);
    const void *desc;
    uint32_t descsz;
    assert_true(elf_find_note(&img, NOTE_NAME, NOTE_TYPE, &desc, &descsz));
}

static void test_too_small(void **state)
{
    (void)state;
    static struct image im;
    make_kernel(&im);
    struct elf_image img;
    assert_int_equal(elf_parse(NULL, IMAGE_SIZE, &img, NULL), ELF_TOO_SMALL);
    assert_int_equal(parse_copy(im.b, 0, NULL), ELF_TOO_SMALL);
    assert_int_equal(parse_copy(im.b, sizeof(struct elf64_ehdr) - 1, NULL), ELF_TOO_SMALL);
}

/* One header field broken at a time. */
static void test_bad_header_fields(void **state)
{
    (void)state;
    static struct image im;
    static const struct {
        size_t offset, width;
        uint64_t value;
        enum elf_status want;
    } cases[] = {
        {0, 1, 0x7e, ELF_BAD_MAGIC},
        {3, 1, 'f', ELF_BAD_MAGIC},
        {ELF_EI_CLASS, 1, 1, ELF_BAD_CLASS},
        {ELF_EI_DATA, 1, 2, ELF_BAD_DATA},
        {ELF_EI_VERSION, 1, 0, ELF_BAD_VERSION},
        {offsetof(struct elf64_ehdr, e_version), 4, 2, ELF_BAD_VERSION},
        {offsetof(struct elf64_ehdr, e_type), 2, 1 /* ET_REL */, ELF_BAD_TYPE},
        {offsetof(struct elf64_ehdr, e_machine), 2, 3 /* EM_386 */, ELF_BAD_MACHINE},
        {offsetof(struct elf64_ehdr, e_machine), 2, 183 /* EM_AARCH64 */, ELF_BAD_MACHINE},
        {offsetof(struct elf64_ehdr, e_phnum), 2, 0, ELF_NO_LOAD},
        {offsetof(struct elf64_ehdr, e_phnum), 2, ELF_PN_XNUM, ELF_TOO_MANY_PHDRS},
        {offsetof(struct elf64_ehdr, e_phnum), 2, 1000, ELF_PHDRS_OUTSIDE},
        {offsetof(struct elf64_ehdr, e_phentsize), 2, 55, ELF_BAD_PHENTSIZE},
        {offsetof(struct elf64_ehdr, e_phentsize), 2, 0, ELF_BAD_PHENTSIZE},
        {offsetof(struct elf64_ehdr, e_phoff), 8, IMAGE_SIZE, ELF_PHDRS_OUTSIDE},
        {offsetof(struct elf64_ehdr, e_phoff), 8, IMAGE_SIZE - 8, ELF_PHDRS_OUTSIDE},
        {offsetof(struct elf64_ehdr, e_phoff), 8, UINT64_MAX - 8, ELF_PHDRS_OUTSIDE},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        make_kernel(&im);
        memcpy(im.b + cases[i].offset, &cases[i].value, cases[i].width);
        int bad = 7;
        assert_int_equal(parse_image(&im, &bad), cases[i].want);
        assert_int_equal(bad, -1);
    }
}

/* One program-header field broken at a time; bad_index names the header. */
static void test_bad_segments(void **state)
{
    (void)state;
    static struct image im;
    static const struct {
        unsigned ph;
        size_t field;
        uint64_t value;
        enum elf_status want;
    } cases[] = {
        {0, offsetof(struct elf64_phdr, p_offset), IMAGE_SIZE, ELF_SEGMENT_OUTSIDE},
        {1, offsetof(struct elf64_phdr, p_offset), IMAGE_SIZE - SEG_SIZE + 1, ELF_SEGMENT_OUTSIDE},
        {1, offsetof(struct elf64_phdr, p_offset), UINT64_MAX, ELF_SEGMENT_OUTSIDE},
        {2, offsetof(struct elf64_phdr, p_filesz), UINT64_MAX, ELF_SEGMENT_OUTSIDE},
        {3, offsetof(struct elf64_phdr, p_filesz), IMAGE_SIZE, ELF_SEGMENT_OUTSIDE},
        {1, offsetof(struct elf64_phdr, p_memsz), SEG_SIZE - 1, ELF_FILESZ_OVER_MEMSZ},
        {2, offsetof(struct elf64_phdr, p_paddr), UINT64_MAX - SEG_SIZE, ELF_ADDR_OVERFLOW},
        {2, offsetof(struct elf64_phdr, p_vaddr), UINT64_MAX - SEG_SIZE, ELF_ADDR_OVERFLOW},
        {2, offsetof(struct elf64_phdr, p_memsz), UINT64_MAX, ELF_ADDR_OVERFLOW},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        make_kernel(&im);
        memcpy((uint8_t *)phdr(&im, cases[i].ph) + cases[i].field, &cases[i].value, 8);
        int bad = -7;
        assert_int_equal(parse_image(&im, &bad), cases[i].want);
        assert_int_equal(bad, (int)cases[i].ph);
    }
}

static void test_no_load_segment(void **state)
{
    (void)state;
    static struct image im;
    make_kernel(&im);
    for (unsigned i = 0; i < 3; i++)
        phdr(&im, i)->p_type = ELF_PT_NOTE;
    assert_int_equal(parse_image(&im, NULL), ELF_NO_LOAD);
}

/* Every prefix of a good image is refused, without reading past its end. */
static void test_every_truncation_fails_safely(void **state)
{
    (void)state;
    static struct image im;
    make_kernel(&im);
    size_t end = NOTE_OFF + im.note_size;
    for (size_t n = 0; n < end; n++)
        assert_int_not_equal(parse_copy(im.b, n, NULL), ELF_OK);
    assert_int_equal(parse_copy(im.b, end, NULL), ELF_OK);
}

/* Deterministic garbage, alone and behind a valid ident and header. */
static void test_garbage_never_crashes(void **state)
{
    (void)state;
    static struct image im;
    uint32_t seed = 12345;
    for (int round = 0; round < 2000; round++) {
        make_kernel(&im);
        size_t keep = round % 2 ? sizeof(struct elf64_ehdr) : 0;
        for (size_t i = keep; i < IMAGE_SIZE; i++) {
            seed = seed * 1103515245u + 12345u;
            im.b[i] = (uint8_t)(seed >> 16);
        }
        parse_image(&im, NULL);
    }
    /* Garbage program headers behind a good header: parse and walk. */
    for (int round = 0; round < 2000; round++) {
        make_kernel(&im);
        for (size_t i = 0; i < PH_COUNT * sizeof(struct elf64_phdr); i++) {
            seed = seed * 1103515245u + 12345u;
            if ((seed >> 8) % 8 == 0)
                im.b[PH_OFF + i] = (uint8_t)(seed >> 16);
        }
        parse_image(&im, NULL);
    }
}

static bool find(struct image *im, const char *name, uint32_t type, uint64_t *value)
{
    struct elf_image img;
    const void *desc = NULL;
    uint32_t descsz = 0;
    assert_int_equal(elf_parse(im->b, IMAGE_SIZE, &img, NULL), ELF_OK);
    if (!elf_find_note(&img, name, type, &desc, &descsz))
        return false;
    assert_int_equal(descsz, sizeof(*value));
    memcpy(value, desc, sizeof(*value));
    return true;
}

static void test_note_lookup(void **state)
{
    (void)state;
    static struct image im;
    uint64_t v, other = 0x1234;
    make_kernel(&im);
    assert_false(find(&im, NOTE_NAME, NOTE_TYPE + 1, &v));
    assert_false(find(&im, "nestviso", NOTE_TYPE, &v));
    assert_false(find(&im, "nestvisorx", NOTE_TYPE, &v));
    assert_false(find(&im, "", NOTE_TYPE, &v));
    /* A second note after the first is found too. */
    add_note(&im, "other", sizeof("other"), 7, &other, sizeof(other));
    assert_true(find(&im, "other", 7, &v));
    assert_int_equal(v, other);
    assert_true(find(&im, NOTE_NAME, NOTE_TYPE, &v));
    assert_int_equal(v, ENTRY_PADDR);
}

static void test_note_name_must_be_terminated(void **state)
{
    (void)state;
    static struct image im;
    uint64_t v = 1;
    make_kernel(&im);
    im.note_size = 0;
    /* namesz without the NUL: not "nestvisor" by the spec's rules. */
    add_note(&im, NOTE_NAME, sizeof(NOTE_NAME) - 1, NOTE_TYPE, &v, sizeof(v));
    assert_false(find(&im, NOTE_NAME, NOTE_TYPE, &v));
}

static void test_malformed_notes_end_the_search(void **state)
{
    (void)state;
    static struct image im;
    uint64_t v = 1;
    make_kernel(&im);
    im.note_size = 0;
    size_t at = add_note(&im, "first", sizeof("first"), 9, &v, sizeof(v));
    add_note(&im, NOTE_NAME, sizeof(NOTE_NAME), NOTE_TYPE, &v, sizeof(v));
    struct elf64_nhdr *nh = (struct elf64_nhdr *)(im.b + at);
    nh->n_descsz = 0xfffffff0; /* runs past the segment */
    assert_false(find(&im, NOTE_NAME, NOTE_TYPE, &v));
    nh->n_descsz = sizeof(v);
    nh->n_namesz = 0xffffffff;
    assert_false(find(&im, NOTE_NAME, NOTE_TYPE, &v));
    /* A segment too short for even a note header. */
    nh->n_namesz = sizeof("first");
    phdr(&im, 3)->p_filesz = sizeof(struct elf64_nhdr) - 1;
    assert_false(find(&im, NOTE_NAME, NOTE_TYPE, &v));
}

static void test_wide_aligned_notes(void **state)
{
    (void)state;
    static struct image im;
    make_kernel(&im);
    /* p_align 8: name "ab\0" pads to 8, so the descriptor starts at 20. */
    uint8_t *p = im.b + NOTE_OFF;
    struct elf64_nhdr nh = {3, 8, 5};
    uint64_t want = 0xabcdef;
    memset(p, 0, 64);
    memcpy(p, &nh, sizeof(nh));
    memcpy(p + 12, "ab", 3);
    memcpy(p + 20, &want, sizeof(want));
    phdr(&im, 3)->p_filesz = 28;
    phdr(&im, 3)->p_align = 8;
    uint64_t v;
    assert_true(find(&im, "ab", 5, &v));
    assert_int_equal(v, want);
}

static void test_status_strings(void **state)
{
    (void)state;
    for (int s = ELF_OK; s <= ELF_STATUS_LAST; s++) {
        const char *str = elf_status_str((enum elf_status)s);
        assert_non_null(str);
        assert_true(strlen(str) > 4);
        for (int t = ELF_OK; t < s; t++)
            assert_string_not_equal(str, elf_status_str((enum elf_status)t));
    }
    assert_string_equal(elf_status_str(ELF_BAD_MAGIC), "not an ELF file (bad magic)");
    assert_string_equal(elf_status_str((enum elf_status)999), "unknown ELF error");
    assert_string_equal(elf_status_str((enum elf_status)(ELF_STATUS_LAST + 1)), "unknown ELF error");
}

/* ---- ELF32 ---- */

#define PH32_OFF     sizeof(struct elf32_ehdr)
#define HIGH_BASE32  0xc0000000U
#define ENTRY32_VA   (HIGH_BASE32 + LINK_BASE + SEG_SIZE + 0x10)
#define ELF32_TOP    0x100000000ULL

static struct elf32_ehdr *ehdr32(struct image *im)
{
    return (struct elf32_ehdr *)im->b;
}

static struct elf32_phdr *phdr32(struct image *im, unsigned i)
{
    return (struct elf32_phdr *)(im->b + PH32_OFF) + i;
}

static void set_load32(struct image *im, unsigned i, uint32_t flags, uint32_t paddr, uint32_t vaddr,
                       uint32_t memsz)
{
    *phdr32(im, i) = (struct elf32_phdr){
        .p_type = ELF_PT_LOAD, .p_offset = DATA_OFF + i * SEG_SIZE, .p_vaddr = vaddr,
        .p_paddr = paddr, .p_filesz = SEG_SIZE, .p_memsz = memsz, .p_flags = flags,
        .p_align = 0x1000,
    };
}

/* An i686-elf kernel linked like make_kernel: a boot segment at its
 * physical address, two segments linked at 3 GiB and loaded low, bss, and
 * a note (ELF32 notes have the same layout). Every field of each segment
 * differs from the others, so a field read from the wrong place shows. */
static void make_kernel32(struct image *im)
{
    memset(im, 0, sizeof(*im));
    struct elf32_ehdr *eh = ehdr32(im);
    memcpy(eh->e_ident, ELF_MAGIC, ELF_MAGIC_LEN);
    eh->e_ident[ELF_EI_CLASS] = ELF_CLASS32;
    eh->e_ident[ELF_EI_DATA] = ELF_DATA2LSB;
    eh->e_ident[ELF_EI_VERSION] = ELF_EV_CURRENT;
    eh->e_type = ELF_ET_EXEC;
    eh->e_machine = ELF_EM_386;
    eh->e_version = ELF_EV_CURRENT;
    eh->e_entry = ENTRY32_VA;
    eh->e_phoff = PH32_OFF;
    eh->e_ehsize = sizeof(*eh);
    eh->e_phentsize = sizeof(struct elf32_phdr);
    eh->e_phnum = PH_COUNT;
    uint32_t text = LINK_BASE + SEG_SIZE, data = LINK_BASE + 2 * SEG_SIZE;
    set_load32(im, 0, ELF_PF_R | ELF_PF_W | ELF_PF_X, LINK_BASE, LINK_BASE, SEG_SIZE);
    set_load32(im, 1, ELF_PF_R | ELF_PF_X, text, HIGH_BASE32 + text, SEG_SIZE);
    set_load32(im, 2, ELF_PF_R | ELF_PF_W, data, HIGH_BASE32 + data, SEG_SIZE + BSS_EXTRA);
    *phdr32(im, 3) = (struct elf32_phdr){.p_type = ELF_PT_NOTE, .p_offset = NOTE_OFF, .p_align = 4};
    uint64_t entry = ENTRY_PADDR;
    size_t at = NOTE_OFF;
    struct elf64_nhdr nh = {sizeof(NOTE_NAME), sizeof(entry), NOTE_TYPE};
    memcpy(im->b + at, &nh, sizeof(nh));
    memcpy(im->b + at + sizeof(nh), NOTE_NAME, sizeof(NOTE_NAME));
    at += sizeof(nh) + ((sizeof(NOTE_NAME) + 3) & ~3u);
    memcpy(im->b + at, &entry, sizeof(entry));
    im->note_size = at + sizeof(entry) - NOTE_OFF;
    phdr32(im, 3)->p_filesz = phdr32(im, 3)->p_memsz = (uint32_t)im->note_size;
}

static enum elf_status parse_image32(struct image *im, int *bad)
{
    return parse_copy_with(elf_parse_x86, im->b, IMAGE_SIZE, bad);
}

static void test_elf32_good_kernel_image(void **state)
{
    (void)state;
    static struct image im;
    make_kernel32(&im);
    struct elf_image img;
    int bad = 7;
    assert_int_equal(elf_parse_x86(im.b, IMAGE_SIZE, &img, &bad), ELF_OK);
    assert_int_equal(bad, -1);
    assert_int_equal(img.elf_class, ELF_CLASS32);
    /* The header, widened. */
    assert_int_equal(img.ehdr.e_entry, ENTRY32_VA);
    assert_int_equal(img.ehdr.e_phoff, PH32_OFF);
    assert_int_equal(img.ehdr.e_phentsize, sizeof(struct elf32_phdr));
    assert_int_equal(img.ehdr.e_machine, ELF_EM_386);
    assert_int_equal(elf_phnum(&img), PH_COUNT);
    /* Every program-header field from its ELF32 place. */
    for (unsigned i = 0; i < PH_COUNT; i++) {
        const struct elf32_phdr *want = phdr32(&im, i);
        struct elf64_phdr ph;
        assert_true(elf_phdr(&img, i, &ph));
        assert_int_equal(ph.p_type, want->p_type);
        assert_int_equal(ph.p_flags, want->p_flags);
        assert_int_equal(ph.p_offset, want->p_offset);
        assert_int_equal(ph.p_vaddr, want->p_vaddr);
        assert_int_equal(ph.p_paddr, want->p_paddr);
        assert_int_equal(ph.p_filesz, want->p_filesz);
        assert_int_equal(ph.p_memsz, want->p_memsz);
        assert_int_equal(ph.p_align, want->p_align);
    }
    struct elf64_phdr ph;
    assert_true(elf_phdr(&img, 2, &ph));
    assert_int_equal(ph.p_vaddr, HIGH_BASE32 + LINK_BASE + 2 * SEG_SIZE);
    assert_int_equal(ph.p_paddr, LINK_BASE + 2 * SEG_SIZE);
    assert_int_equal(ph.p_memsz, SEG_SIZE + BSS_EXTRA);
    assert_int_equal(ph.p_flags, ELF_PF_R | ELF_PF_W);
    assert_false(elf_phdr(&img, PH_COUNT, &ph));
    uint64_t lo, hi;
    elf_load_extent(&img, &lo, &hi);
    assert_int_equal(lo, LINK_BASE);
    assert_int_equal(hi, LINK_BASE + 3 * SEG_SIZE + BSS_EXTRA);
    assert_true(elf_paddr_is_loaded(&img, ENTRY_PADDR));
    assert_false(elf_paddr_is_loaded(&img, LINK_BASE + 3 * SEG_SIZE));
    const void *desc;
    uint32_t descsz;
    assert_true(elf_find_note(&img, NOTE_NAME, NOTE_TYPE, &desc, &descsz));
    assert_int_equal(descsz, sizeof(uint64_t));
    /* ET_DYN is an executable too. */
    ehdr32(&im)->e_type = ELF_ET_DYN;
    assert_int_equal(parse_image32(&im, NULL), ELF_OK);
}

/* elf_parse stays ELF64-only (the UEFI loader's kernel); elf_parse_x86
 * takes an ELF64 image as elf_parse does. */
static void test_class_selection(void **state)
{
    (void)state;
    static struct image im;
    make_kernel32(&im);
    assert_int_equal(parse_image(&im, NULL), ELF_BAD_CLASS);
    make_kernel(&im);
    struct elf_image img;
    assert_int_equal(elf_parse_x86(im.b, IMAGE_SIZE, &img, NULL), ELF_OK);
    assert_int_equal(img.elf_class, ELF_CLASS64);
    struct elf64_phdr ph;
    assert_true(elf_phdr(&img, 1, &ph));
    assert_int_equal(ph.p_vaddr, HIGH_BASE + LINK_BASE + SEG_SIZE);
    assert_int_equal(ph.p_paddr, LINK_BASE + SEG_SIZE);
    /* A 64-bit image must be for x86-64, a 32-bit one for i386. */
    ehdr(&im)->e_machine = ELF_EM_386;
    assert_int_equal(parse_copy_with(elf_parse_x86, im.b, IMAGE_SIZE, NULL), ELF_BAD_MACHINE);
    /* 52 bytes are a whole ELF32 header but not an ELF64 one. */
    make_kernel32(&im);
    assert_int_not_equal(parse_copy_with(elf_parse_x86, im.b, sizeof(struct elf32_ehdr), NULL),
                         ELF_TOO_SMALL);
    assert_int_equal(parse_copy_with(elf_parse_x86, im.b, sizeof(struct elf32_ehdr) - 1, NULL),
                     ELF_TOO_SMALL);
    assert_int_equal(parse_copy_with(elf_parse_x86, im.b, ELF_EI_NIDENT - 1, NULL), ELF_TOO_SMALL);
    assert_int_equal(elf_parse_x86(NULL, IMAGE_SIZE, &img, NULL), ELF_TOO_SMALL);
}

static void test_elf32_bad_header_fields(void **state)
{
    (void)state;
    static struct image im;
    static const struct {
        size_t offset, width;
        uint32_t value;
        enum elf_status want;
    } cases[] = {
        {1, 1, 'e', ELF_BAD_MAGIC},
        {ELF_EI_CLASS, 1, 0, ELF_BAD_CLASS_X86},
        {ELF_EI_CLASS, 1, 3, ELF_BAD_CLASS_X86},
        {ELF_EI_DATA, 1, 2 /* big-endian */, ELF_BAD_DATA},
        {ELF_EI_VERSION, 1, 0, ELF_BAD_VERSION},
        {offsetof(struct elf32_ehdr, e_version), 4, 0, ELF_BAD_VERSION},
        {offsetof(struct elf32_ehdr, e_type), 2, 1 /* ET_REL */, ELF_BAD_TYPE},
        {offsetof(struct elf32_ehdr, e_type), 2, 4 /* ET_CORE */, ELF_BAD_TYPE},
        {offsetof(struct elf32_ehdr, e_machine), 2, ELF_EM_X86_64 /* x32 */, ELF_BAD_MACHINE_386},
        {offsetof(struct elf32_ehdr, e_machine), 2, 6 /* EM_IAMCU */, ELF_BAD_MACHINE_386},
        {offsetof(struct elf32_ehdr, e_phnum), 2, 0, ELF_NO_LOAD},
        {offsetof(struct elf32_ehdr, e_phnum), 2, ELF_PN_XNUM, ELF_TOO_MANY_PHDRS},
        {offsetof(struct elf32_ehdr, e_phnum), 2, 1000, ELF_PHDRS_OUTSIDE},
        {offsetof(struct elf32_ehdr, e_phentsize), 2, sizeof(struct elf32_phdr) - 1, ELF_BAD_PHENTSIZE},
        {offsetof(struct elf32_ehdr, e_phentsize), 2, 0, ELF_BAD_PHENTSIZE},
        {offsetof(struct elf32_ehdr, e_phoff), 4, IMAGE_SIZE, ELF_PHDRS_OUTSIDE},
        {offsetof(struct elf32_ehdr, e_phoff), 4, IMAGE_SIZE - 8, ELF_PHDRS_OUTSIDE},
        {offsetof(struct elf32_ehdr, e_phoff), 4, UINT32_MAX, ELF_PHDRS_OUTSIDE},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        make_kernel32(&im);
        memcpy(im.b + cases[i].offset, &cases[i].value, cases[i].width);
        int bad = 7;
        assert_int_equal(parse_image32(&im, &bad), cases[i].want);
        assert_int_equal(bad, -1);
    }
}

static void test_elf32_bad_segments(void **state)
{
    (void)state;
    static struct image im;
    static const struct {
        unsigned ph;
        size_t field;
        uint32_t value;
        enum elf_status want;
    } cases[] = {
        {0, offsetof(struct elf32_phdr, p_offset), IMAGE_SIZE, ELF_SEGMENT_OUTSIDE},
        {1, offsetof(struct elf32_phdr, p_offset), IMAGE_SIZE - SEG_SIZE + 1, ELF_SEGMENT_OUTSIDE},
        {1, offsetof(struct elf32_phdr, p_offset), UINT32_MAX, ELF_SEGMENT_OUTSIDE},
        {2, offsetof(struct elf32_phdr, p_filesz), UINT32_MAX, ELF_SEGMENT_OUTSIDE},
        {3, offsetof(struct elf32_phdr, p_filesz), IMAGE_SIZE, ELF_SEGMENT_OUTSIDE},
        {1, offsetof(struct elf32_phdr, p_memsz), SEG_SIZE - 1, ELF_FILESZ_OVER_MEMSZ},
        {2, offsetof(struct elf32_phdr, p_memsz), 0, ELF_FILESZ_OVER_MEMSZ},
        /* Past 4 GiB: the 32-bit end wraps. */
        {2, offsetof(struct elf32_phdr, p_paddr), UINT32_MAX - SEG_SIZE, ELF_ADDR_OVERFLOW},
        {2, offsetof(struct elf32_phdr, p_vaddr), UINT32_MAX - SEG_SIZE, ELF_ADDR_OVERFLOW},
        {0, offsetof(struct elf32_phdr, p_memsz), UINT32_MAX, ELF_ADDR_OVERFLOW},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        make_kernel32(&im);
        memcpy((uint8_t *)phdr32(&im, cases[i].ph) + cases[i].field, &cases[i].value, 4);
        int bad = -7;
        assert_int_equal(parse_image32(&im, &bad), cases[i].want);
        assert_int_equal(bad, (int)cases[i].ph);
    }
    /* Ending exactly at 4 GiB is allowed, one byte more is not. */
    make_kernel32(&im);
    phdr32(&im, 2)->p_paddr = (uint32_t)(ELF32_TOP - phdr32(&im, 2)->p_memsz);
    phdr32(&im, 2)->p_vaddr = phdr32(&im, 2)->p_paddr;
    assert_int_equal(parse_image32(&im, NULL), ELF_OK);
    phdr32(&im, 2)->p_paddr++;
    assert_int_equal(parse_image32(&im, NULL), ELF_ADDR_OVERFLOW);
    /* A non-loadable segment's addresses do not matter. */
    make_kernel32(&im);
    phdr32(&im, 3)->p_paddr = phdr32(&im, 3)->p_vaddr = UINT32_MAX;
    assert_int_equal(parse_image32(&im, NULL), ELF_OK);
}

static void test_elf32_every_truncation_fails_safely(void **state)
{
    (void)state;
    static struct image im;
    make_kernel32(&im);
    size_t end = NOTE_OFF + im.note_size;
    for (size_t n = 0; n < end; n++)
        assert_int_not_equal(parse_copy_with(elf_parse_x86, im.b, n, NULL), ELF_OK);
    assert_int_equal(parse_copy_with(elf_parse_x86, im.b, end, NULL), ELF_OK);
}

static void test_elf32_garbage_never_crashes(void **state)
{
    (void)state;
    static struct image im;
    uint32_t seed = 54321;
    for (int round = 0; round < 2000; round++) {
        make_kernel32(&im);
        size_t keep = round % 2 ? sizeof(struct elf32_ehdr) : ELF_EI_NIDENT;
        for (size_t i = keep; i < IMAGE_SIZE; i++) {
            seed = seed * 1103515245u + 12345u;
            im.b[i] = (uint8_t)(seed >> 16);
        }
        parse_image32(&im, NULL);
    }
    for (int round = 0; round < 2000; round++) {
        make_kernel32(&im);
        for (size_t i = 0; i < PH_COUNT * sizeof(struct elf32_phdr); i++) {
            seed = seed * 1103515245u + 12345u;
            if ((seed >> 8) % 8 == 0)
                im.b[PH32_OFF + i] = (uint8_t)(seed >> 16);
        }
        parse_image32(&im, NULL);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_kernel_image),
        cmocka_unit_test(test_unaligned_buffer),
        cmocka_unit_test(test_too_small),
        cmocka_unit_test(test_bad_header_fields),
        cmocka_unit_test(test_bad_segments),
        cmocka_unit_test(test_no_load_segment),
        cmocka_unit_test(test_every_truncation_fails_safely),
        cmocka_unit_test(test_garbage_never_crashes),
        cmocka_unit_test(test_note_lookup),
        cmocka_unit_test(test_note_name_must_be_terminated),
        cmocka_unit_test(test_malformed_notes_end_the_search),
        cmocka_unit_test(test_wide_aligned_notes),
        cmocka_unit_test(test_status_strings),
        cmocka_unit_test(test_elf32_good_kernel_image),
        cmocka_unit_test(test_class_selection),
        cmocka_unit_test(test_elf32_bad_header_fields),
        cmocka_unit_test(test_elf32_bad_segments),
        cmocka_unit_test(test_elf32_every_truncation_fails_safely),
        cmocka_unit_test(test_elf32_garbage_never_crashes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
