/* ELF validation and program-header walking, for loading images from
 * untrusted bytes: the kernel (by the UEFI loader, ELF64 only) and guest
 * images (by the kernel: ELF64, or ELF32 for Multiboot kernels). Pure C over
 * a byte buffer: no firmware, no kernel, no libc.
 *
 * Layouts and numbers: "ELF-64 Object File Format" version 1.5 (the ELF-64
 * spec below) and the System V ABI generic chapter 4-5 (gABI), whose ELF32
 * layouts are the same fields in 32 bits, in another order for program
 * headers. Only what a loader of x86 executables needs is here. An ELF32
 * image is read into the ELF64 structures (every field widened), so one
 * walker serves both classes. */
#ifndef LIB_ELF_H
#define LIB_ELF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* e_ident indexes and values (ELF-64 spec 3.1, table 2-4). */
#define ELF_EI_MAG0       0
#define ELF_EI_CLASS      4
#define ELF_EI_DATA       5
#define ELF_EI_VERSION    6
#define ELF_EI_NIDENT     16
#define ELF_MAGIC         "\177ELF"
#define ELF_MAGIC_LEN     4
#define ELF_CLASS32       1
#define ELF_CLASS64       2
#define ELF_DATA2LSB      1
#define ELF_EV_CURRENT    1
#define ELF_ET_EXEC       2
#define ELF_ET_DYN        3
#define ELF_EM_386        3  /* gABI 4, e_machine: Intel 80386 */
#define ELF_EM_X86_64     62 /* gABI 4, e_machine */
#define ELF_PN_XNUM       0xffff /* gABI: real e_phnum is elsewhere; not supported */

/* Segment types (ELF-64 spec 6, table 16). */
#define ELF_PT_LOAD 1
#define ELF_PT_NOTE 4

/* Segment flags. */
#define ELF_PF_X 1
#define ELF_PF_W 2
#define ELF_PF_R 4

struct elf64_ehdr {
    uint8_t e_ident[ELF_EI_NIDENT];
    uint16_t e_type;
    uint16_t e_machine;
    uint32_t e_version;
    uint64_t e_entry;
    uint64_t e_phoff;
    uint64_t e_shoff;
    uint32_t e_flags;
    uint16_t e_ehsize;
    uint16_t e_phentsize;
    uint16_t e_phnum;
    uint16_t e_shentsize;
    uint16_t e_shnum;
    uint16_t e_shstrndx;
};

struct elf64_phdr {
    uint32_t p_type;
    uint32_t p_flags;
    uint64_t p_offset;
    uint64_t p_vaddr;
    uint64_t p_paddr;
    uint64_t p_filesz;
    uint64_t p_memsz;
    uint64_t p_align;
};

/* gABI 4 "ELF Header" and 5 "Program Header", 32-bit class. */
struct elf32_ehdr {
    uint8_t e_ident[ELF_EI_NIDENT];
    uint16_t e_type;
    uint16_t e_machine;
    uint32_t e_version;
    uint32_t e_entry;
    uint32_t e_phoff;
    uint32_t e_shoff;
    uint32_t e_flags;
    uint16_t e_ehsize;
    uint16_t e_phentsize;
    uint16_t e_phnum;
    uint16_t e_shentsize;
    uint16_t e_shnum;
    uint16_t e_shstrndx;
};

struct elf32_phdr {
    uint32_t p_type;
    uint32_t p_offset;
    uint32_t p_vaddr;
    uint32_t p_paddr;
    uint32_t p_filesz;
    uint32_t p_memsz;
    uint32_t p_flags;
    uint32_t p_align;
};

#define ELF32_EHDR_SIZE 52 /* gABI 4 */
#define ELF32_PHDR_SIZE 32 /* gABI 5 */
_Static_assert(sizeof(struct elf32_ehdr) == ELF32_EHDR_SIZE, "ELF32 header layout");
_Static_assert(sizeof(struct elf32_phdr) == ELF32_PHDR_SIZE, "ELF32 program header layout");

/* An ELF32 segment must end at or below 4 GiB, in physical and in virtual
 * addresses: beyond it the 32-bit sum wraps. */
#define ELF32_ADDR_LIMIT (1ULL << 32)

/* Note header (ELF-64 spec 7; gABI "Note Section"): 4-byte words in both
 * classes, then the name and the descriptor, each padded to 4 bytes. */
struct elf64_nhdr {
    uint32_t n_namesz;
    uint32_t n_descsz;
    uint32_t n_type;
};

enum elf_status {
    ELF_OK = 0,
    ELF_TOO_SMALL,
    ELF_BAD_MAGIC,
    ELF_BAD_CLASS,
    ELF_BAD_DATA,
    ELF_BAD_VERSION,
    ELF_BAD_TYPE,
    ELF_BAD_MACHINE,
    ELF_BAD_PHENTSIZE,
    ELF_TOO_MANY_PHDRS,
    ELF_PHDRS_OUTSIDE,
    ELF_SEGMENT_OUTSIDE,
    ELF_FILESZ_OVER_MEMSZ,
    ELF_ADDR_OVERFLOW,
    ELF_NO_LOAD,
    ELF_BAD_CLASS_X86,   /* elf_parse_x86: neither ELF32 nor ELF64 */
    ELF_BAD_MACHINE_386, /* elf_parse_x86: an ELF32 file not for i386 */
};
#define ELF_STATUS_LAST ELF_BAD_MACHINE_386

/* A validated image. Holds a pointer into the caller's buffer. ehdr is the
 * file's header, widened if the file is ELF32 (elf_class). */
struct elf_image {
    const uint8_t *data;
    size_t size;
    uint8_t elf_class; /* ELF_CLASS32 or ELF_CLASS64 */
    struct elf64_ehdr ehdr;
};

/* Validates an x86-64 little-endian ELF64 executable (ET_EXEC or ET_DYN) in
 * data[0..size): the header, the program-header table and every segment's
 * file range lie inside the buffer, no address arithmetic overflows,
 * p_filesz <= p_memsz, and there is at least one PT_LOAD. On failure bad_index
 * (if not NULL) gets the offending program header's index, or -1. */
enum elf_status elf_parse(const void *data, size_t size, struct elf_image *img, int *bad_index);

/* The same checks for an x86-64 ELF64 executable or an i386 (EM_386) ELF32
 * one, as a Multiboot loader takes them. For ELF32 a PT_LOAD must also end
 * at or below 4 GiB in both address spaces (ELF32_ADDR_LIMIT), or it is
 * ELF_ADDR_OVERFLOW. */
enum elf_status elf_parse_x86(const void *data, size_t size, struct elf_image *img,
                              int *bad_index);

/* A readable English phrase for a status ("not an ELF file (bad magic)"). */
const char *elf_status_str(enum elf_status s);

/* Program header i of a parsed image (copied: the table may be unaligned;
 * an ELF32 one widened into the ELF64 layout). */
bool elf_phdr(const struct elf_image *img, unsigned i, struct elf64_phdr *out);
static inline unsigned elf_phnum(const struct elf_image *img)
{
    return img->ehdr.e_phnum;
}

/* The physical extent of the PT_LOAD segments: lowest p_paddr and highest
 * p_paddr + p_memsz (exclusive). */
void elf_load_extent(const struct elf_image *img, uint64_t *lo, uint64_t *hi);

/* True if paddr lies in the file-backed part of some PT_LOAD segment. */
bool elf_paddr_is_loaded(const struct elf_image *img, uint64_t paddr);

/* Finds the first note with this name and type in the PT_NOTE segments. On
 * success *desc points into the image and *descsz is its size. Malformed
 * notes end the search of their segment. */
bool elf_find_note(const struct elf_image *img, const char *name, uint32_t type,
                   const void **desc, uint32_t *descsz);

#endif
