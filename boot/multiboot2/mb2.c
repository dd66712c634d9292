#include "boot/multiboot2/mb2.h"
#include "arch/x86/physmem.h"
#include "lib/format.h"
#include "lib/string.h"

struct mb2_tag {
    uint32_t type;
    uint32_t size;
};

struct mb2_tag_module {
    uint32_t type, size;
    uint32_t mod_start, mod_end;
    char string[];
};

struct mb2_tag_mmap {
    uint32_t type, size;
    uint32_t entry_size, entry_version;
};

struct mb2_mmap_entry {
    uint64_t base, len;
    uint32_t type, reserved;
};

struct mb2_tag_framebuffer {
    uint32_t type, size;
    uint64_t addr;
    uint32_t pitch, width, height;
    uint8_t bpp, fb_type;
    uint16_t reserved;
};

/* After the tag above when fb_type is MB2_FB_RGB (Multiboot2 3.6.12). */
struct mb2_fb_rgb {
    uint8_t red_pos, red_size, green_pos, green_size, blue_pos, blue_size;
};
#define MB2_FB_RGB 1

bool module_string_split(const char *s, char *name, size_t namesz, char *rest, size_t restsz)
{
    while (*s == ' ')
        s++;
    size_t n = 0;
    while (s[n] && s[n] != ' ')
        n++;
    size_t copy = n < namesz - 1 ? n : namesz - 1;
    memcpy(name, s, copy);
    name[copy] = 0;
    s += n;
    while (*s == ' ')
        s++;
    str_copy(rest, s, restsz);
    return copy == n && strlen(s) < restsz;
}

static uint32_t mem_type_from_mb2(uint32_t t)
{
    switch (t) {
    case MB2_MMAP_AVAILABLE: return MEM_USABLE;
    case MB2_MMAP_ACPI: return MEM_ACPI_RECLAIM;
    case MB2_MMAP_NVS: return MEM_ACPI_NVS;
    case MB2_MMAP_BAD: return MEM_BAD;
    default: return MEM_RESERVED;
    }
}

/* A string inside a tag: it must end there. */
static bool tag_string_ends(const char *s, size_t avail)
{
    size_t n = 0;
    while (n < avail && s[n])
        n++;
    return n < avail;
}

/* SMBIOS3_TABLE_GUID and SMBIOS_TABLE_GUID as bytes in memory (UEFI 2.10,
 * 4.6.1: Data1-3 little-endian). */
static const uint8_t guid_smbios3[16] = {0x44, 0x15, 0xfd, 0xf2, 0x94, 0x97, 0x2c, 0x4a,
                                         0x99, 0x2e, 0xe5, 0xbb, 0xcf, 0x20, 0xe3, 0x94};
static const uint8_t guid_smbios[16] = {0x31, 0x2d, 0x9d, 0xeb, 0x88, 0x2d, 0xd3, 0x11,
                                        0x9a, 0x16, 0x00, 0x90, 0x27, 0x3f, 0xc1, 0x4d};

static bool below_read_limit(uint64_t pa, uint64_t len)
{
    return pa && len <= MB2_READ_LIMIT && pa <= MB2_READ_LIMIT - len;
}

/* The SMBIOS entries of the EFI configuration table behind GRUB's EFI
 * 64-bit system table pointer (the table is runtime memory: still there
 * after GRUB exited boot services). Anything implausible: none. */
static void smbios_from_efi(uint64_t st_pa, struct handoff *h)
{
    if (!below_read_limit(st_pa, EFI_ST_SIZE))
        return;
    const uint8_t *st = phys_to_virt(st_pa);
    uint64_t sig, count, tables;
    memcpy(&sig, st, 8);
    memcpy(&count, st + EFI_ST_NUM_TABLES_OFF, 8);
    memcpy(&tables, st + EFI_ST_TABLES_OFF, 8);
    if (sig != EFI_ST_SIGNATURE || count > EFI_CONFIG_MAX_ENTRIES ||
        !below_read_limit(tables, count * EFI_CONFIG_ENTRY_SIZE))
        return;
    for (uint64_t i = 0; i < count; i++) {
        const uint8_t *e = (const uint8_t *)phys_to_virt(tables) + i * EFI_CONFIG_ENTRY_SIZE;
        uint64_t at;
        memcpy(&at, e + 16, 8);
        if (!memcmp(e, guid_smbios3, 16))
            h->smbios3 = at;
        else if (!memcmp(e, guid_smbios, 16))
            h->smbios = at;
    }
}

/* Multiboot2 3.6.13: major, minor, 6 reserved bytes, then a copy of an
 * entry point; its anchor says which. */
static void smbios_from_tag(const char *payload, size_t size, struct handoff *h)
{
    const size_t head = 8;
    if (size < head + 5)
        return;
    const char *ep = payload + head;
    if (!memcmp(ep, "_SM3_", 5))
        h->smbios3 = virt_to_phys(ep);
    else if (!memcmp(ep, "_SM_", 4))
        h->smbios = virt_to_phys(ep);
}

#define FAIL(...)                                                                                  \
    do {                                                                                           \
        format(err, errsz, __VA_ARGS__);                                                           \
        return false;                                                                              \
    } while (0)

static bool parse_mmap(const struct mb2_tag *tag, struct handoff *h, char *err, size_t errsz)
{
    const struct mb2_tag_mmap *mm = (const void *)tag;
    /* Spec 3.6.8: entry_size is a multiple of 8, which keeps entries aligned. */
    if (tag->size < sizeof(*mm) || mm->entry_size < sizeof(struct mb2_mmap_entry) ||
        mm->entry_size % 8)
        FAIL("multiboot2: bad memory map tag (entry size %u)", tag->size < sizeof(*mm) ? 0 : mm->entry_size);
    const uint8_t *p = (const uint8_t *)(mm + 1);
    const uint8_t *end = (const uint8_t *)tag + tag->size;
    for (; p + mm->entry_size <= end; p += mm->entry_size) {
        const struct mb2_mmap_entry *e = (const void *)p;
        if (!e->len)
            continue;
        if (h->mem_count == HANDOFF_MAX_MEM)
            FAIL("multiboot2: more than %d memory map entries", HANDOFF_MAX_MEM);
        h->mem[h->mem_count++] =
            (struct handoff_mem_range){e->base, e->len, mem_type_from_mb2(e->type), 0};
    }
    return true;
}

static bool parse_module(const struct mb2_tag *tag, struct handoff *h, char *err, size_t errsz)
{
    const struct mb2_tag_module *mod = (const void *)tag;
    if (tag->size < sizeof(*mod) + 1)
        FAIL("multiboot2: module tag too small (%u bytes)", tag->size);
    if (mod->mod_end < mod->mod_start)
        FAIL("multiboot2: module ends (0x%x) before it starts (0x%x)", mod->mod_end, mod->mod_start);
    if (h->module_count == HANDOFF_MAX_MODULES)
        FAIL("multiboot2: more than %d modules", HANDOFF_MAX_MODULES);
    if (!tag_string_ends(mod->string, tag->size - sizeof(*mod)))
        FAIL("multiboot2: module string not terminated");
    struct handoff_module *m = &h->modules[h->module_count++];
    m->base = mod->mod_start;
    m->size = mod->mod_end - mod->mod_start;
    /* A cut command line would silently drop the guest's last options. */
    if (!module_string_split(mod->string, m->name, sizeof(m->name), m->cmdline, sizeof(m->cmdline)))
        FAIL("multiboot2: module '%s': name over %d or arguments over %d characters", m->name,
             HANDOFF_NAME_MAX - 1, HANDOFF_MODLINE_MAX - 1);
    return true;
}

bool mb2_parse(const void *mbi, struct handoff *h, char *err, size_t errsz)
{
    const uint8_t *base = mbi;
    uint32_t total = *(const uint32_t *)base;
    memset(h, 0, sizeof(*h));
    h->magic = HANDOFF_MAGIC;
    h->version = HANDOFF_VERSION;
    h->loader = LOADER_MULTIBOOT2;
    if (total < 16 || total > MB2_INFO_MAX_SIZE)
        FAIL("multiboot2: implausible information size %u", total);
    bool have_end = false;
    uint64_t efi_st = 0;
    for (uint32_t off = 8; off + sizeof(struct mb2_tag) <= total;) {
        const struct mb2_tag *tag = (const void *)(base + off);
        if (tag->size < sizeof(*tag) || tag->size > total - off)
            FAIL("multiboot2: tag type %u at offset %u has bad size %u", tag->type, off, tag->size);
        if (tag->type == MB2_TAG_END) {
            have_end = true;
            break;
        }
        const char *payload = (const char *)(tag + 1);
        size_t payload_size = tag->size - sizeof(*tag);
        switch (tag->type) {
        case MB2_TAG_CMDLINE:
            if (!tag_string_ends(payload, payload_size))
                FAIL("multiboot2: command line not terminated");
            if (strlen(payload) >= sizeof(h->cmdline))
                FAIL("multiboot2: command line over %d characters", HANDOFF_CMDLINE_MAX - 1);
            str_copy(h->cmdline, payload, sizeof(h->cmdline));
            break;
        case MB2_TAG_MODULE:
            if (!parse_module(tag, h, err, errsz))
                return false;
            break;
        case MB2_TAG_MMAP:
            if (!parse_mmap(tag, h, err, errsz))
                return false;
            break;
        case MB2_TAG_FRAMEBUFFER: {
            /* Direct colour only: not GRUB's EGA text mode or a palette. */
            const struct mb2_tag_framebuffer *fb = (const void *)tag;
            const struct mb2_fb_rgb *rgb = (const void *)(fb + 1);
            if (tag->size >= sizeof(*fb) + sizeof(*rgb) && fb->fb_type == MB2_FB_RGB)
                h->fb = (struct handoff_framebuffer){
                    .base = fb->addr, .width = fb->width, .height = fb->height, .pitch = fb->pitch,
                    .bpp = fb->bpp, .red_pos = rgb->red_pos, .red_size = rgb->red_size,
                    .green_pos = rgb->green_pos, .green_size = rgb->green_size,
                    .blue_pos = rgb->blue_pos, .blue_size = rgb->blue_size};
            break;
        }
        case MB2_TAG_ACPI_NEW:
            h->acpi_rsdp = virt_to_phys(payload); /* a copy of the RSDP */
            break;
        case MB2_TAG_ACPI_OLD:
            if (!h->acpi_rsdp)
                h->acpi_rsdp = virt_to_phys(payload);
            break;
        case MB2_TAG_SMBIOS:
            smbios_from_tag(payload, payload_size, h);
            break;
        case MB2_TAG_EFI64:
            if (payload_size >= sizeof(efi_st))
                memcpy(&efi_st, payload, sizeof(efi_st));
            break;
        default:
            break;
        }
        off += (tag->size + 7) & ~7U;
    }
    if (!have_end)
        FAIL("multiboot2: no end tag within %u bytes", total);
    if (!h->mem_count) /* no memory map tag, or one with no entries */
        FAIL("multiboot2: the loader gave no memory map");
    if (!h->smbios3 && !h->smbios)
        smbios_from_efi(efi_st, h);
    return true;
}
