/* Loading the kernel ELF; see kernel.h. */
#include <efi.h>
#include <efilib.h>
#include "boot/efi/kernel.h"
#include "boot/efi/fs.h"
#include "boot/efi/handover.h"
#include "boot/efi/output.h"
#include "boot/handoff.h"
#include "lib/elf.h"
#include "lib/format.h"

#define KERNEL_FILE_MAX (256ULL << 20) /* far above any real kernel */

/* What the file says, all in link-time physical addresses. */
struct kernel_layout {
    uint64_t lo, hi;   /* extent of the PT_LOAD segments */
    uint64_t entry;    /* from the entry note */
};

static EFI_STATUS check_elf(const char *path, const struct loaded_file *f, struct elf_image *img)
{
    int bad = -1;
    enum elf_status es = elf_parse(f->data, (size_t)f->size, img, &bad);
    if (es == ELF_OK)
        return EFI_SUCCESS;
    if (bad >= 0)
        return out_error(EFI_LOAD_ERROR, "%s: %s (program header %d)", path, elf_status_str(es),
                         bad);
    return out_error(EFI_LOAD_ERROR, "%s: %s", path, elf_status_str(es));
}

/* The note's descriptor is the entry's link-time physical address. */
static EFI_STATUS find_entry(const char *path, const struct elf_image *img, uint64_t *entry)
{
    const void *desc;
    uint32_t descsz;
    if (!elf_find_note(img, NESTVISOR_NOTE_NAME, NESTVISOR_NOTE_ENTRY64, &desc, &descsz))
        return out_error(EFI_LOAD_ERROR, "%s: no \"%s\" entry note (not a nestvisor kernel?)",
                         path, NESTVISOR_NOTE_NAME);
    if (descsz != sizeof(*entry))
        return out_error(EFI_LOAD_ERROR, "%s: entry note has %u bytes, want %u", path, descsz,
                         (unsigned)sizeof(*entry));
    CopyMem(entry, (void *)desc, sizeof(*entry));
    if (!elf_paddr_is_loaded(img, *entry))
        return out_error(EFI_LOAD_ERROR, "%s: entry 0x%llx is outside the loaded segments", path,
                         (unsigned long long)*entry);
    return EFI_SUCCESS;
}

static EFI_STATUS read_layout(const char *path, const struct elf_image *img,
                              struct kernel_layout *l)
{
    EFI_STATUS s = find_entry(path, img, &l->entry);
    if (EFI_ERROR(s))
        return s;
    elf_load_extent(img, &l->lo, &l->hi);
    if (l->hi - l->lo > MEM_LOW_LIMIT)
        return out_error(EFI_LOAD_ERROR, "%s: segments span 0x%llx bytes, more than 4 GiB", path,
                         (unsigned long long)(l->hi - l->lo));
    return EFI_SUCCESS;
}

/* A 2 MiB-aligned home below 4 GiB that the memory map shows as nothing
 * but our own fresh allocation: if the firmware also listed any of it as
 * reserved, runtime or MMIO, the kernel would be overwritten later. The
 * pages are EfiLoaderCode: the kernel runs from them, and firmware that
 * maps loader data non-executable (EDK2's PcdDxeNxMemoryProtectionPolicy)
 * leaves code types executable. */
static EFI_STATUS place(const char *path, UINT64 size, struct fw_map *map,
                        EFI_PHYSICAL_ADDRESS *base)
{
    EFI_STATUS s = mem_alloc_low(size, KERNEL_PHYS_ALIGN, EfiLoaderCode, base);
    if (EFI_ERROR(s))
        return out_error(EFI_OUT_OF_RESOURCES,
                         "%s: not enough memory below 4 GiB for the kernel (%llu KiB, 2 MiB "
                         "aligned)", path, (unsigned long long)(size >> 10));
    s = mem_map_get(map);
    if (EFI_ERROR(s))
        return out_error(s, "cannot get the memory map (%s)", efi_status_name(s));
    struct efimap view = mem_map_view(map);
    if (!efimap_range_is(&view, *base, size, UEFI_LOADER_CODE))
        return out_error(EFI_OUT_OF_RESOURCES,
                         "%s: memory at 0x%llx-0x%llx overlaps ranges the memory map does not "
                         "show as free", path, (unsigned long long)*base,
                         (unsigned long long)(*base + size));
    return EFI_SUCCESS;
}

/* EFI_MEMORY_ATTRIBUTE_PROTOCOL (UEFI 2.10), which gnu-efi 3.0.15 predates:
 * three functions, in this order. */
#define MEMORY_ATTRIBUTE_PROTOCOL_GUID                                                             \
    {0xf4560cf6, 0x40ec, 0x4b4a, {0xa1, 0x92, 0xbf, 0x1d, 0x57, 0xd0, 0xb1, 0x89}}

struct memory_attribute_protocol;
typedef EFI_STATUS(EFIAPI *memory_attribute_get)(struct memory_attribute_protocol *self,
                                                 EFI_PHYSICAL_ADDRESS base, UINT64 length,
                                                 UINT64 *attributes);
typedef EFI_STATUS(EFIAPI *memory_attribute_change)(struct memory_attribute_protocol *self,
                                                    EFI_PHYSICAL_ADDRESS base, UINT64 length,
                                                    UINT64 attributes);
struct memory_attribute_protocol {
    memory_attribute_get get;
    memory_attribute_change set;
    memory_attribute_change clear;
};

#ifdef LOADER_TEST_MEMATTR
/* The test builds behind make test-qemu's memattr cases (efi.mk): OVMF has
 * no memory attribute protocol, so this one stands in, called through
 * uefi_call_wrapper with the MS ABI like firmware's. It checks its
 * arguments as the spec asks (page-aligned, non-zero length, only RP, RO,
 * XP) and says every range is XP until cleared; with
 * LOADER_TEST_MEMATTR=2 clearing reports success and changes nothing. */
#define FAKE_ACCESS (UEFI_MEMORY_RP | UEFI_MEMORY_RO | UEFI_MEMORY_XP)
static UINT64 fake_attrs = UEFI_MEMORY_XP;

static BOOLEAN fake_range_ok(EFI_PHYSICAL_ADDRESS base, UINT64 length)
{
    return length && !((base | length) & (UEFI_PAGE_SIZE - 1));
}

static __attribute__((ms_abi)) EFI_STATUS fake_get(struct memory_attribute_protocol *self,
                                                   EFI_PHYSICAL_ADDRESS base, UINT64 length,
                                                   UINT64 *attrs)
{
    if (!self || !attrs || !fake_range_ok(base, length))
        return EFI_INVALID_PARAMETER;
    *attrs = fake_attrs;
    return EFI_SUCCESS;
}

static __attribute__((ms_abi)) EFI_STATUS fake_change(struct memory_attribute_protocol *self,
                                                      EFI_PHYSICAL_ADDRESS base, UINT64 length,
                                                      UINT64 attrs)
{
    if (!self || !fake_range_ok(base, length) || !attrs || (attrs & ~FAKE_ACCESS))
        return EFI_INVALID_PARAMETER;
    if (LOADER_TEST_MEMATTR == 1)
        fake_attrs &= ~attrs;
    return EFI_SUCCESS;
}

static struct memory_attribute_protocol fake_protocol = {
    (memory_attribute_get)fake_get, (memory_attribute_change)fake_change,
    (memory_attribute_change)fake_change};

static EFI_STATUS locate_memory_attribute(EFI_GUID *guid, struct memory_attribute_protocol **p)
{
    (void)guid;
    *p = &fake_protocol;
    return EFI_SUCCESS;
}
#else
static EFI_STATUS locate_memory_attribute(EFI_GUID *guid, struct memory_attribute_protocol **p)
{
    return uefi_call_wrapper(BS->LocateProtocol, 3, guid, NULL, (void **)p);
}
#endif

static enum handover_attr_answer get_attributes(struct memory_attribute_protocol *p,
                                                EFI_PHYSICAL_ADDRESS base, UINT64 length,
                                                UINT64 *attrs, EFI_STATUS *s)
{
    *attrs = 0;
    *s = uefi_call_wrapper(p->get, 4, p, base, length, attrs);
    if (!EFI_ERROR(*s))
        return ATTR_KNOWN;
    return *s == EFI_NO_MAPPING ? ATTR_MIXED : ATTR_UNKNOWN;
}

/* What an answer says, for the log: "XP", "none", "mixed (EFI_NO_MAPPING)",
 * "unknown (EFI_UNSUPPORTED)". */
static void answer_text(enum handover_attr_answer a, UINT64 attrs, EFI_STATUS s, char *buf,
                        UINTN size)
{
    if (a == ATTR_KNOWN)
        handover_attr_names(attrs, buf, size);
    else if (a == ATTR_MIXED)
        format(buf, size, "mixed (EFI_NO_MAPPING)");
    else
        format(buf, size, "unknown (%s)", efi_status_name(s));
}

/* The kernel's entry runs on the firmware's page tables and writes its own
 * into the image: the range must be readable, writable and executable
 * there. Where the firmware has the memory attribute protocol, clear
 * RP/RO/XP on it (before the copy, so that RO cannot stop it either).
 * Refuses only when the firmware says the range stays protected. */
static EFI_STATUS make_runnable(const char *path, EFI_PHYSICAL_ADDRESS base, UINT64 size)
{
    EFI_GUID guid = MEMORY_ATTRIBUTE_PROTOCOL_GUID;
    struct memory_attribute_protocol *p;
    EFI_STATUS s = locate_memory_attribute(&guid, &p);
    if (EFI_ERROR(s) || !p) {
        out_info("no EFI_MEMORY_ATTRIBUTE_PROTOCOL: the kernel's EfiLoaderCode pages keep the "
                 "firmware's mapping");
        return EFI_SUCCESS;
    }
    UINT64 length = (size + UEFI_PAGE_SIZE - 1) & ~(UEFI_PAGE_SIZE - 1);
    UINT64 attrs;
    char was[48], now[48];
    enum handover_attr_answer a = get_attributes(p, base, length, &attrs, &s);
    answer_text(a, attrs, s, was, sizeof(was));
    UINT64 clear = handover_attrs_to_clear(a, attrs);
    if (!clear) {
        out_info("kernel range 0x%llx-0x%llx has memory attributes %s: nothing to clear",
                 (unsigned long long)base, (unsigned long long)(base + length), was);
        return EFI_SUCCESS;
    }
    EFI_STATUS cs = uefi_call_wrapper(p->clear, 4, p, base, length, clear);
    a = get_attributes(p, base, length, &attrs, &s);
    answer_text(a, attrs, s, now, sizeof(now));
    if (handover_still_protected(a, attrs))
        return out_error(EFI_ACCESS_DENIED,
                         "%s: kernel range 0x%llx-0x%llx stays %s after ClearMemoryAttributes (%s); "
                         "the kernel would fault on its first instruction",
                         path, (unsigned long long)base, (unsigned long long)(base + length), now,
                         efi_status_name(cs));
    char cleared[32];
    handover_attr_names(clear, cleared, sizeof(cleared));
    if (EFI_ERROR(cs) || a != ATTR_KNOWN)
        out_info("kernel range 0x%llx-0x%llx was %s: ClearMemoryAttributes(%s) gave %s, "
                 "GetMemoryAttributes now %s; going on",
                 (unsigned long long)base, (unsigned long long)(base + length), was, cleared,
                 efi_status_name(cs), now);
    else
        out_info("kernel range 0x%llx-0x%llx was %s: cleared", (unsigned long long)base,
                 (unsigned long long)(base + length), was);
    return EFI_SUCCESS;
}

/* Zero everything (bss and the gaps between segments), then copy each
 * PT_LOAD's file bytes to base + (p_paddr - lo). */
static void copy_segments(const struct elf_image *img, uint64_t lo, const struct kernel_image *k)
{
    SetMem((void *)(UINTN)k->base, k->size, 0);
    for (unsigned i = 0; i < elf_phnum(img); i++) {
        struct elf64_phdr ph;
        elf_phdr(img, i, &ph);
        if (ph.p_type != ELF_PT_LOAD || !ph.p_filesz)
            continue;
        CopyMem((void *)(UINTN)(k->base + (ph.p_paddr - lo)), (void *)(img->data + ph.p_offset),
                ph.p_filesz);
    }
}

EFI_STATUS kernel_load(EFI_FILE_HANDLE root, const char *path, struct fw_map *map,
                       struct kernel_image *k)
{
    struct loaded_file f;
    struct elf_image img;
    struct kernel_layout l;
    EFI_STATUS s = fs_read_pool(root, path, KERNEL_FILE_MAX, FALSE, &f);
    if (EFI_ERROR(s))
        return s;
    s = check_elf(path, &f, &img);
    if (!EFI_ERROR(s))
        s = read_layout(path, &img, &l);
    if (!EFI_ERROR(s)) {
        k->size = l.hi - l.lo;
        s = place(path, k->size, map, &k->base);
    }
    if (!EFI_ERROR(s))
        s = make_runnable(path, k->base, k->size);
    if (!EFI_ERROR(s)) {
        copy_segments(&img, l.lo, k);
        k->entry = l.entry - l.lo + k->base;
        out_info("kernel %s: %llu bytes, loaded at 0x%llx-0x%llx, entry 0x%llx", path,
                 (unsigned long long)f.size, (unsigned long long)k->base,
                 (unsigned long long)(k->base + k->size), (unsigned long long)k->entry);
    }
    fs_free(&f);
    return s;
}
