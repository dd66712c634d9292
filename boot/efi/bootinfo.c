/* Filling the hand-off; see bootinfo.h. */
#include <efi.h>
#include <efilib.h>
#include "boot/efi/bootinfo.h"
#include "boot/efi/fs.h"
#include "boot/efi/mem.h"
#include "boot/efi/output.h"

#define BITS_PER_BYTE     8
#define GOP_BYTES_PER_PIXEL 4 /* the two 8-bit-per-colour formats */

static void copy_str(char *dst, UINTN size, const char *src)
{
    UINTN n = 0;
    for (; src[n] && n + 1 < size; n++)
        dst[n] = src[n];
    dst[n] = 0;
}

EFI_STATUS bootinfo_create(const struct kernel_image *k, const struct config *cfg,
                           struct handoff **out)
{
    EFI_PHYSICAL_ADDRESS at;
    EFI_STATUS s = mem_alloc_low(sizeof(struct handoff), UEFI_PAGE_SIZE, EfiLoaderData, &at);
    if (EFI_ERROR(s))
        return out_error(EFI_OUT_OF_RESOURCES, "not enough memory below 4 GiB for the hand-off");
    struct handoff *h = (struct handoff *)(UINTN)at;
    SetMem(h, sizeof(*h), 0);
    h->magic = HANDOFF_MAGIC;
    h->version = HANDOFF_VERSION;
    h->loader = LOADER_UEFI;
    h->kernel_base = k->base;
    h->kernel_end = k->base + k->size;
    copy_str(h->cmdline, sizeof(h->cmdline), cfg->kernel_cmdline);
    *out = h;
    return EFI_SUCCESS;
}

EFI_STATUS bootinfo_load_modules(EFI_FILE_HANDLE root, const struct config *cfg,
                                 struct handoff *h)
{
    for (unsigned i = 0; i < cfg->module_count; i++) {
        const struct config_module *cm = &cfg->modules[i];
        struct loaded_file f;
        EFI_STATUS s = fs_read_low(root, cm->path, &f);
        if (EFI_ERROR(s))
            return s;
        struct handoff_module *m = &h->modules[h->module_count++];
        m->base = (UINT64)(UINTN)f.data;
        m->size = f.size;
        copy_str(m->name, sizeof(m->name), cm->name);
        copy_str(m->cmdline, sizeof(m->cmdline), cm->args);
        out_info("module %s: %s, %llu bytes at 0x%llx, arguments \"%s\"", m->name, cm->path,
                 (unsigned long long)m->size, (unsigned long long)m->base, m->cmdline);
    }
    return EFI_SUCCESS;
}

void bootinfo_find_tables(struct handoff *h)
{
    EFI_GUID acpi20 = ACPI_20_TABLE_GUID;
    EFI_GUID smbios3 = SMBIOS3_TABLE_GUID;
    EFI_GUID smbios = SMBIOS_TABLE_GUID;
    for (UINTN i = 0; i < ST->NumberOfTableEntries; i++) {
        EFI_CONFIGURATION_TABLE *t = &ST->ConfigurationTable[i];
        UINT64 at = (UINT64)(UINTN)t->VendorTable;
        if (!CompareGuid(&t->VendorGuid, &acpi20))
            h->acpi_rsdp = at; /* the 2.0 table wins */
        else if (!CompareGuid(&t->VendorGuid, &AcpiTableGuid) && !h->acpi_rsdp)
            h->acpi_rsdp = at;
        else if (!CompareGuid(&t->VendorGuid, &smbios3))
            h->smbios3 = at;
        else if (!CompareGuid(&t->VendorGuid, &smbios))
            h->smbios = at;
    }
}

static UINT32 highest_bit(UINT32 mask)
{
    UINT32 n = 0;
    while (mask) {
        n++;
        mask >>= 1;
    }
    return n;
}

static UINT32 bits_per_pixel(const EFI_GRAPHICS_OUTPUT_MODE_INFORMATION *info)
{
    if (info->PixelFormat == PixelRedGreenBlueReserved8BitPerColor ||
        info->PixelFormat == PixelBlueGreenRedReserved8BitPerColor)
        return GOP_BYTES_PER_PIXEL * BITS_PER_BYTE;
    if (info->PixelFormat == PixelBitMask) {
        const EFI_PIXEL_BITMASK *m = &info->PixelInformation;
        return highest_bit(m->RedMask | m->GreenMask | m->BlueMask | m->ReservedMask);
    }
    return 0; /* PixelBltOnly: no linear framebuffer */
}

/* Position and width of the contiguous bits of mask (0, 0 if none). */
static void mask_field(UINT32 mask, uint8_t *pos, uint8_t *size)
{
    *pos = *size = 0;
    if (!mask)
        return;
    while (!(mask & 1)) {
        mask >>= 1;
        (*pos)++;
    }
    while (mask & 1) {
        mask >>= 1;
        (*size)++;
    }
}

/* Where the colours sit (UEFI 2.10 12.9, EFI_GRAPHICS_PIXEL_FORMAT). */
static void colour_layout(const EFI_GRAPHICS_OUTPUT_MODE_INFORMATION *info, struct handoff_framebuffer *fb)
{
    UINT32 r, g, b, x;
    if (info->PixelFormat == PixelRedGreenBlueReserved8BitPerColor) {
        r = 0xff, g = 0xff00, b = 0xff0000, x = 0xff000000;
    } else if (info->PixelFormat == PixelBlueGreenRedReserved8BitPerColor) {
        r = 0xff0000, g = 0xff00, b = 0xff, x = 0xff000000;
    } else {
        const EFI_PIXEL_BITMASK *m = &info->PixelInformation;
        r = m->RedMask, g = m->GreenMask, b = m->BlueMask, x = m->ReservedMask;
    }
    mask_field(r, &fb->red_pos, &fb->red_size);
    mask_field(g, &fb->green_pos, &fb->green_size);
    mask_field(b, &fb->blue_pos, &fb->blue_size);
    mask_field(x, &fb->rsvd_pos, &fb->rsvd_size);
}

void bootinfo_find_framebuffer(struct handoff *h)
{
    EFI_GRAPHICS_OUTPUT_PROTOCOL *gop;
    EFI_STATUS s = uefi_call_wrapper(BS->LocateProtocol, 3, &GraphicsOutputProtocol, NULL,
                                     (void **)&gop);
    if (EFI_ERROR(s) || !gop->Mode || !gop->Mode->Info)
        return;
    const EFI_GRAPHICS_OUTPUT_MODE_INFORMATION *info = gop->Mode->Info;
    UINT32 bpp = bits_per_pixel(info);
    if (!bpp)
        return;
    h->fb.base = gop->Mode->FrameBufferBase;
    h->fb.width = info->HorizontalResolution;
    h->fb.height = info->VerticalResolution;
    h->fb.bpp = bpp;
    h->fb.pitch = info->PixelsPerScanLine * ((bpp + BITS_PER_BYTE - 1) / BITS_PER_BYTE);
    colour_layout(info, &h->fb);
}
