/* ELF validation and walking; see lib/elf.h for the rules and sources. */
#include "lib/elf.h"

#define NOTE_ALIGN      4 /* ELF-64 spec 7: name and desc padded to 4 bytes */
#define NOTE_ALIGN_WIDE 8 /* GNU notes in segments with p_align 8 pad to 8 */

/* The buffer may be unaligned, so headers are copied out byte by byte. */
static void copy_bytes(void *dst, const uint8_t *src, size_t n)
{
    uint8_t *d = dst;
    for (size_t i = 0; i < n; i++)
        d[i] = src[i];
}

/* True if [off, off + len) lies inside a buffer of size bytes. */
static bool range_inside(uint64_t off, uint64_t len, uint64_t size)
{
    return off <= size && len <= size - off;
}

static bool add_overflows(uint64_t a, uint64_t b)
{
    return a + b < a;
}

static enum elf_status check_ident(const uint8_t *ident, bool allow32)
{
    for (int i = 0; i < ELF_MAGIC_LEN; i++)
        if (ident[ELF_EI_MAG0 + i] != (uint8_t)ELF_MAGIC[i])
            return ELF_BAD_MAGIC;
    if (ident[ELF_EI_CLASS] != ELF_CLASS64 && !(allow32 && ident[ELF_EI_CLASS] == ELF_CLASS32))
        return allow32 ? ELF_BAD_CLASS_X86 : ELF_BAD_CLASS;
    if (ident[ELF_EI_DATA] != ELF_DATA2LSB)
        return ELF_BAD_DATA;
    if (ident[ELF_EI_VERSION] != ELF_EV_CURRENT)
        return ELF_BAD_VERSION;
    return ELF_OK;
}

static bool is32(const struct elf_image *img)
{
    return img->elf_class == ELF_CLASS32;
}

/* The header in ELF64 form: an ELF32 one is widened field by field. */
static void read_ehdr(struct elf_image *img)
{
    if (!is32(img)) {
        copy_bytes(&img->ehdr, img->data, sizeof(img->ehdr));
        return;
    }
    struct elf32_ehdr e;
    copy_bytes(&e, img->data, sizeof(e));
    struct elf64_ehdr *w = &img->ehdr;
    copy_bytes(w->e_ident, e.e_ident, sizeof(w->e_ident));
    w->e_type = e.e_type;
    w->e_machine = e.e_machine;
    w->e_version = e.e_version;
    w->e_entry = e.e_entry;
    w->e_phoff = e.e_phoff;
    w->e_shoff = e.e_shoff;
    w->e_flags = e.e_flags;
    w->e_ehsize = e.e_ehsize;
    w->e_phentsize = e.e_phentsize;
    w->e_phnum = e.e_phnum;
    w->e_shentsize = e.e_shentsize;
    w->e_shnum = e.e_shnum;
    w->e_shstrndx = e.e_shstrndx;
}

static enum elf_status check_header(const struct elf_image *img)
{
    const struct elf64_ehdr *eh = &img->ehdr;
    if (eh->e_version != ELF_EV_CURRENT)
        return ELF_BAD_VERSION;
    if (eh->e_type != ELF_ET_EXEC && eh->e_type != ELF_ET_DYN)
        return ELF_BAD_TYPE;
    if (is32(img) && eh->e_machine != ELF_EM_386)
        return ELF_BAD_MACHINE_386;
    if (!is32(img) && eh->e_machine != ELF_EM_X86_64)
        return ELF_BAD_MACHINE;
    if (eh->e_phnum == 0)
        return ELF_NO_LOAD;
    if (eh->e_phnum == ELF_PN_XNUM)
        return ELF_TOO_MANY_PHDRS;
    if (eh->e_phentsize < (is32(img) ? sizeof(struct elf32_phdr) : sizeof(struct elf64_phdr)))
        return ELF_BAD_PHENTSIZE;
    /* Both factors are 16-bit: the product cannot overflow. */
    uint64_t table = (uint64_t)eh->e_phnum * eh->e_phentsize;
    if (!range_inside(eh->e_phoff, table, img->size))
        return ELF_PHDRS_OUTSIDE;
    return ELF_OK;
}

static enum elf_status check_segment(const struct elf_image *img, const struct elf64_phdr *ph)
{
    if (!range_inside(ph->p_offset, ph->p_filesz, img->size))
        return ELF_SEGMENT_OUTSIDE;
    if (ph->p_type != ELF_PT_LOAD)
        return ELF_OK;
    /* gABI 5 "Program Header": p_filesz may not be larger than p_memsz. */
    if (ph->p_filesz > ph->p_memsz)
        return ELF_FILESZ_OVER_MEMSZ;
    if (add_overflows(ph->p_paddr, ph->p_memsz) || add_overflows(ph->p_vaddr, ph->p_memsz))
        return ELF_ADDR_OVERFLOW;
    /* Widened 32-bit fields: these sums are exact in 64 bits. */
    if (is32(img) && (ph->p_paddr + ph->p_memsz > ELF32_ADDR_LIMIT ||
                      ph->p_vaddr + ph->p_memsz > ELF32_ADDR_LIMIT))
        return ELF_ADDR_OVERFLOW;
    return ELF_OK;
}

static enum elf_status parse(const void *data, size_t size, struct elf_image *img,
                             int *bad_index, bool allow32)
{
    if (bad_index)
        *bad_index = -1;
    if (!data || size < ELF_EI_NIDENT)
        return ELF_TOO_SMALL;
    const uint8_t *bytes = data;
    bool class32 = allow32 && bytes[ELF_EI_CLASS] == ELF_CLASS32;
    if (size < (class32 ? sizeof(struct elf32_ehdr) : sizeof(struct elf64_ehdr)))
        return ELF_TOO_SMALL;
    img->data = bytes;
    img->size = size;
    img->elf_class = class32 ? ELF_CLASS32 : ELF_CLASS64;
    enum elf_status s = check_ident(bytes, allow32);
    if (s != ELF_OK)
        return s;
    read_ehdr(img);
    s = check_header(img);
    if (s != ELF_OK)
        return s;
    bool any_load = false;
    for (unsigned i = 0; i < elf_phnum(img); i++) {
        struct elf64_phdr ph;
        elf_phdr(img, i, &ph);
        s = check_segment(img, &ph);
        if (s != ELF_OK) {
            if (bad_index)
                *bad_index = (int)i;
            return s;
        }
        any_load |= ph.p_type == ELF_PT_LOAD;
    }
    return any_load ? ELF_OK : ELF_NO_LOAD;
}

enum elf_status elf_parse(const void *data, size_t size, struct elf_image *img, int *bad_index)
{
    return parse(data, size, img, bad_index, false);
}

enum elf_status elf_parse_x86(const void *data, size_t size, struct elf_image *img,
                              int *bad_index)
{
    return parse(data, size, img, bad_index, true);
}

const char *elf_status_str(enum elf_status s)
{
    switch (s) {
    case ELF_OK: return "valid";
    case ELF_TOO_SMALL: return "not an ELF file (shorter than an ELF header)";
    case ELF_BAD_MAGIC: return "not an ELF file (bad magic)";
    case ELF_BAD_CLASS: return "not a 64-bit ELF file";
    case ELF_BAD_DATA: return "not a little-endian ELF file";
    case ELF_BAD_VERSION: return "unknown ELF version";
    case ELF_BAD_TYPE: return "ELF file is not an executable";
    case ELF_BAD_MACHINE: return "ELF file is not for x86-64";
    case ELF_BAD_PHENTSIZE: return "ELF program headers have a bad entry size";
    case ELF_TOO_MANY_PHDRS: return "ELF file has too many program headers";
    case ELF_PHDRS_OUTSIDE: return "ELF program headers extend beyond the end of the file";
    case ELF_SEGMENT_OUTSIDE: return "ELF segment extends beyond the end of the file";
    case ELF_FILESZ_OVER_MEMSZ: return "ELF segment has a file size larger than its memory size";
    case ELF_ADDR_OVERFLOW: return "ELF segment wraps around the address space";
    case ELF_NO_LOAD: return "ELF file has no loadable segment";
    case ELF_BAD_CLASS_X86: return "neither a 32-bit nor a 64-bit ELF file";
    case ELF_BAD_MACHINE_386: return "32-bit ELF file is not for i386";
    }
    return "unknown ELF error";
}

bool elf_phdr(const struct elf_image *img, unsigned i, struct elf64_phdr *out)
{
    if (i >= elf_phnum(img))
        return false;
    uint64_t off = img->ehdr.e_phoff + (uint64_t)i * img->ehdr.e_phentsize;
    if (!is32(img)) {
        copy_bytes(out, img->data + off, sizeof(*out));
        return true;
    }
    struct elf32_phdr p;
    copy_bytes(&p, img->data + off, sizeof(p));
    *out = (struct elf64_phdr){
        .p_type = p.p_type, .p_flags = p.p_flags, .p_offset = p.p_offset,
        .p_vaddr = p.p_vaddr, .p_paddr = p.p_paddr, .p_filesz = p.p_filesz,
        .p_memsz = p.p_memsz, .p_align = p.p_align,
    };
    return true;
}

void elf_load_extent(const struct elf_image *img, uint64_t *lo, uint64_t *hi)
{
    *lo = UINT64_MAX;
    *hi = 0;
    for (unsigned i = 0; i < elf_phnum(img); i++) {
        struct elf64_phdr ph;
        elf_phdr(img, i, &ph);
        if (ph.p_type != ELF_PT_LOAD)
            continue;
        if (ph.p_paddr < *lo)
            *lo = ph.p_paddr;
        if (ph.p_paddr + ph.p_memsz > *hi)
            *hi = ph.p_paddr + ph.p_memsz;
    }
}

bool elf_paddr_is_loaded(const struct elf_image *img, uint64_t paddr)
{
    for (unsigned i = 0; i < elf_phnum(img); i++) {
        struct elf64_phdr ph;
        elf_phdr(img, i, &ph);
        if (ph.p_type == ELF_PT_LOAD && paddr >= ph.p_paddr && paddr - ph.p_paddr < ph.p_filesz)
            return true;
    }
    return false;
}

static uint64_t pad_to(uint64_t n, uint64_t align)
{
    return (n + align - 1) & ~(align - 1);
}

static bool name_matches(const uint8_t *p, uint32_t namesz, const char *name)
{
    uint32_t len = 0;
    while (name[len])
        len++;
    if (namesz != len + 1 || p[len] != 0) /* namesz counts the NUL */
        return false;
    for (uint32_t i = 0; i < len; i++)
        if (p[i] != (uint8_t)name[i])
            return false;
    return true;
}

/* Searches one PT_NOTE segment, already known to lie inside the file. */
static bool find_in_segment(const struct elf_image *img, const struct elf64_phdr *ph,
                            const char *name, uint32_t type, const void **desc, uint32_t *descsz)
{
    uint64_t align = ph->p_align == NOTE_ALIGN_WIDE ? NOTE_ALIGN_WIDE : NOTE_ALIGN;
    const uint8_t *p = img->data + ph->p_offset;
    uint64_t left = ph->p_filesz;
    while (left >= sizeof(struct elf64_nhdr)) {
        struct elf64_nhdr nh;
        copy_bytes(&nh, p, sizeof(nh));
        /* 32-bit sizes padded in 64-bit arithmetic cannot overflow. */
        uint64_t name_len = pad_to(nh.n_namesz, align);
        uint64_t desc_len = pad_to(nh.n_descsz, align);
        uint64_t body = sizeof(nh) + name_len;
        if (body > left || nh.n_descsz > left - body)
            return false;
        if (nh.n_type == type && name_matches(p + sizeof(nh), nh.n_namesz, name)) {
            *desc = p + body;
            *descsz = nh.n_descsz;
            return true;
        }
        if (desc_len >= left - body)
            return false;
        p += body + desc_len;
        left -= body + desc_len;
    }
    return false;
}

bool elf_find_note(const struct elf_image *img, const char *name, uint32_t type,
                   const void **desc, uint32_t *descsz)
{
    for (unsigned i = 0; i < elf_phnum(img); i++) {
        struct elf64_phdr ph;
        elf_phdr(img, i, &ph);
        if (ph.p_type == ELF_PT_NOTE && find_in_segment(img, &ph, name, type, desc, descsz))
            return true;
    }
    return false;
}
