/* Reading whole files from the ESP; see fs.h. */
#include <efi.h>
#include <efilib.h>
#include "boot/efi/fs.h"
#include "boot/efi/config.h"
#include "boot/efi/mem.h"
#include "boot/efi/output.h"

/* ASCII path -> UCS-2 path with '\' separators. */
static BOOLEAN wide_path(const char *path, CHAR16 *out, UINTN max)
{
    UINTN n = 0;
    for (; path[n]; n++) {
        if (n + 1 >= max)
            return FALSE;
        out[n] = path[n] == '/' ? L'\\' : (CHAR16)(unsigned char)path[n];
    }
    out[n] = 0;
    return TRUE;
}

EFI_STATUS fs_open_root(EFI_HANDLE image, EFI_FILE_HANDLE *root)
{
    EFI_LOADED_IMAGE *li;
    EFI_STATUS s = uefi_call_wrapper(BS->HandleProtocol, 3, image, &LoadedImageProtocol,
                                     (void **)&li);
    if (EFI_ERROR(s))
        return out_error(s, "cannot find the loader's own image (%s)", efi_status_name(s));
    *root = LibOpenRoot(li->DeviceHandle);
    if (!*root)
        return out_error(EFI_NOT_FOUND, "cannot open the file system the loader was started from");
    return EFI_SUCCESS;
}

/* Opens path and learns its size. */
static EFI_STATUS open_file(EFI_FILE_HANDLE root, const char *path, BOOLEAN missing_ok,
                            EFI_FILE_HANDLE *fh, UINT64 *size)
{
    CHAR16 wide[CONFIG_PATH_MAX];
    if (!wide_path(path, wide, CONFIG_PATH_MAX))
        return out_error(EFI_INVALID_PARAMETER, "%s: path too long", path);
    EFI_STATUS s = uefi_call_wrapper(root->Open, 5, root, fh, wide, EFI_FILE_MODE_READ, 0ULL);
    if (s == EFI_NOT_FOUND && missing_ok)
        return s;
    if (EFI_ERROR(s))
        return out_error(s, "%s: cannot open (%s)", path, efi_status_name(s));
    EFI_FILE_INFO *info = LibFileInfo(*fh);
    if (!info) {
        uefi_call_wrapper((*fh)->Close, 1, *fh);
        return out_error(EFI_DEVICE_ERROR, "%s: cannot read its file information", path);
    }
    BOOLEAN is_dir = (info->Attribute & EFI_FILE_DIRECTORY) != 0;
    *size = info->FileSize;
    FreePool(info);
    if (is_dir) {
        uefi_call_wrapper((*fh)->Close, 1, *fh);
        return out_error(EFI_INVALID_PARAMETER, "%s: is a directory, not a file", path);
    }
    return EFI_SUCCESS;
}

/* Read() may return less than asked (UEFI 2.10, 13.5 EFI_FILE_PROTOCOL.Read()). */
static EFI_STATUS read_all(EFI_FILE_HANDLE fh, const char *path, void *buf, UINT64 size)
{
    UINT64 done = 0;
    while (done < size) {
        UINTN chunk = (UINTN)(size - done);
        EFI_STATUS s = uefi_call_wrapper(fh->Read, 3, fh, &chunk, (UINT8 *)buf + done);
        if (EFI_ERROR(s))
            return out_error(s, "%s: read error after %llu bytes (%s)", path,
                             (unsigned long long)done, efi_status_name(s));
        if (!chunk)
            return out_error(EFI_END_OF_FILE, "%s: file ended after %llu of %llu bytes", path,
                             (unsigned long long)done, (unsigned long long)size);
        done += chunk;
    }
    return EFI_SUCCESS;
}

EFI_STATUS fs_read_pool(EFI_FILE_HANDLE root, const char *path, UINT64 limit, BOOLEAN missing_ok,
                        struct loaded_file *f)
{
    EFI_FILE_HANDLE fh;
    *f = (struct loaded_file){.in_pool = TRUE};
    EFI_STATUS s = open_file(root, path, missing_ok, &fh, &f->size);
    if (EFI_ERROR(s))
        return s;
    if (f->size > limit)
        s = out_error(EFI_BAD_BUFFER_SIZE, "%s: %llu bytes, more than the %llu allowed", path,
                      (unsigned long long)f->size, (unsigned long long)limit);
    else if (f->size && !(f->data = AllocatePool((UINTN)f->size)))
        s = out_error(EFI_OUT_OF_RESOURCES, "%s: no memory for its %llu bytes", path,
                      (unsigned long long)f->size);
    else
        s = read_all(fh, path, f->data, f->size);
    uefi_call_wrapper(fh->Close, 1, fh);
    if (EFI_ERROR(s))
        fs_free(f);
    return s;
}

EFI_STATUS fs_read_low(EFI_FILE_HANDLE root, const char *path, struct loaded_file *f)
{
    EFI_FILE_HANDLE fh;
    EFI_PHYSICAL_ADDRESS at;
    *f = (struct loaded_file){.in_pool = FALSE};
    EFI_STATUS s = open_file(root, path, FALSE, &fh, &f->size);
    if (EFI_ERROR(s))
        return s;
    /* An empty file still gets a page, so that it has an address. */
    s = mem_alloc_low(f->size ? f->size : 1, UEFI_PAGE_SIZE, EfiLoaderData, &at);
    if (EFI_ERROR(s)) {
        s = out_error(EFI_OUT_OF_RESOURCES, "%s: not enough memory below 4 GiB for its %llu bytes",
                      path, (unsigned long long)f->size);
    } else {
        f->data = (void *)(UINTN)at;
        s = read_all(fh, path, f->data, f->size);
    }
    uefi_call_wrapper(fh->Close, 1, fh);
    return s;
}

void fs_free(struct loaded_file *f)
{
    if (f->in_pool && f->data)
        FreePool(f->data);
    f->data = NULL;
}
