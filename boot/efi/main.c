/* nestvisor's UEFI loader (BOOTX64.EFI): reads \EFI\nestvisor\nestvisor.cfg,
 * loads the kernel and its modules below 4 GiB, fills the one struct handoff
 * (boot/handoff.h), exits boot services and enters the kernel's 64-bit entry
 * with RDI = the hand-off. Any failure before that prints one error line and
 * returns the EFI status to the firmware. See docs/boot.md.
 *
 * gnu-efi conventions: efi_main is called by crt0 with the SysV ABI, so it
 * is not EFIAPI; every firmware call goes through uefi_call_wrapper. */
#include <efi.h>
#include <efilib.h>
#include "boot/efi/bootinfo.h"
#include "boot/efi/config.h"
#include "boot/efi/fs.h"
#include "boot/efi/handover.h"
#include "boot/efi/kernel.h"
#include "boot/efi/mem.h"
#include "boot/efi/output.h"

#define UEFI_REV_MAJOR(r) ((r) >> 16)
#define UEFI_REV_MINOR(r) ((r) & 0xffff)

/* The test build behind make test-qemu's stale-key case hands the first
 * ExitBootServices() a wrong key, so that the retry runs on real firmware. */
#ifdef LOADER_TEST_STALE_MAP_KEY
#define FIRST_MAP_KEY(key) ((key) + 1)
#else
#define FIRST_MAP_KEY(key) (key)
#endif

/* The test build behind make test-qemu's la57 case reads CR4 with LA57 set,
 * so that the refusal runs on real firmware (OVMF does not enable 5-level
 * paging). */
#ifdef LOADER_TEST_LA57
#define SEEN_CR4(cr4) ((cr4) | CR4_LA57)
#else
#define SEEN_CR4(cr4) (cr4)
#endif

static struct config cfg;
static struct fw_map map;

/* A missing config file means the defaults; a bad one stops the boot. */
static EFI_STATUS read_config(EFI_FILE_HANDLE root)
{
    struct loaded_file f;
    char err[CONFIG_ERR_MAX];
    EFI_STATUS s = fs_read_pool(root, CONFIG_PATH, CONFIG_FILE_MAX, TRUE, &f);
    if (s == EFI_NOT_FOUND) {
        config_defaults(&cfg);
        out_info("no %s, using the defaults", CONFIG_PATH);
        return EFI_SUCCESS;
    }
    if (EFI_ERROR(s))
        return s;
    BOOLEAN ok = config_parse(f.data, (size_t)f.size, &cfg, err, sizeof(err));
    fs_free(&f);
    if (!ok)
        return out_error(EFI_INVALID_PARAMETER, "%s: %s", CONFIG_PATH, err);
    out_info("config %s: kernel %s, %u module(s), command line \"%s\"", CONFIG_PATH, cfg.kernel,
             cfg.module_count, cfg.kernel_cmdline);
    if ((cfg.has_serial || cfg.has_baud) && !out_set_serial(cfg.serial_port, cfg.baud))
        out_info("no UART answers at port 0x%x: serial output off", cfg.serial_port);
    return EFI_SUCCESS;
}

/* Translating the map is pure computation, so it may run between
 * GetMemoryMap() and ExitBootServices(). */
static EFI_STATUS fill_memory(struct handoff *h)
{
    struct efimap view = mem_map_view(&map);
    enum efimap_status es = efimap_translate(&view, h->mem, HANDOFF_MAX_MEM, &h->mem_count);
    if (es != EFIMAP_OK)
        return out_error(EFI_BUFFER_TOO_SMALL, "memory map: %s", efimap_status_str(es));
    return EFI_SUCCESS;
}

/* UEFI 2.10, 7.4 "EFI_BOOT_SERVICES.ExitBootServices()": a stale map key
 * gives EFI_INVALID_PARAMETER; then get the map again and retry, calling
 * nothing but GetMemoryMap() in between. After the first attempt ConOut may
 * be gone, so only the UART hears from us. */
static EFI_STATUS exit_boot_services(EFI_HANDLE image, struct handoff *h, BOOLEAN *retried)
{
    EFI_STATUS s = mem_map_get(&map);
    if (EFI_ERROR(s))
        return out_error(s, "cannot get the memory map (%s)", efi_status_name(s));
    s = fill_memory(h);
    if (EFI_ERROR(s))
        return s;
    out_firmware_gone();
    s = uefi_call_wrapper(BS->ExitBootServices, 2, image, FIRST_MAP_KEY(map.key));
    if (s != EFI_INVALID_PARAMETER)
        return EFI_ERROR(s) ? out_error(s, "ExitBootServices failed (%s)", efi_status_name(s)) : s;
    *retried = TRUE;
    s = mem_map_refresh(&map);
    if (EFI_ERROR(s))
        return out_error(s, "cannot get the memory map again (%s)", efi_status_name(s));
    s = fill_memory(h);
    if (EFI_ERROR(s))
        return s;
    s = uefi_call_wrapper(BS->ExitBootServices, 2, image, map.key);
    if (EFI_ERROR(s))
        return out_error(s, "ExitBootServices failed twice (%s)", efi_status_name(s));
    return s;
}

/* The kernel's entry convention (boot/handoff.h): long mode on the
 * firmware's identity map, interrupts off, RDI = hand-off. */
__attribute__((noreturn)) static void enter_kernel(UINT64 entry, struct handoff *h)
{
    __asm__ volatile("cli\n\tjmp *%0" ::"r"(entry), "D"(h) : "memory");
    __builtin_unreachable();
}

/* The kernel's entry builds 4-level page tables: under 5-level paging the
 * CPU would take its PML4 for a PML5, and LA57 cannot be turned off
 * without leaving long mode. Refused before anything is loaded. */
static EFI_STATUS check_paging(void)
{
    UINT64 cr4;
    __asm__ volatile("mov %%cr4, %0" : "=r"(cr4));
    const char *why = handover_paging_problem(SEEN_CR4(cr4));
    return why ? out_error(EFI_UNSUPPORTED, "%s", why) : EFI_SUCCESS;
}

/* Everything that needs the ESP: config, kernel, hand-off, modules. */
static EFI_STATUS load(EFI_FILE_HANDLE root, struct kernel_image *k, struct handoff **h)
{
    EFI_STATUS s = read_config(root);
    if (!EFI_ERROR(s))
        s = kernel_load(root, cfg.kernel, &map, k);
    if (!EFI_ERROR(s))
        s = bootinfo_create(k, &cfg, h);
    if (!EFI_ERROR(s))
        s = bootinfo_load_modules(root, &cfg, *h);
    return s;
}

/* Returns only on failure. */
static EFI_STATUS boot(EFI_HANDLE image)
{
    EFI_FILE_HANDLE root;
    struct kernel_image k;
    struct handoff *h = NULL;
    BOOLEAN retried = FALSE;
    EFI_STATUS s = check_paging();
    if (EFI_ERROR(s))
        return s;
    s = fs_open_root(image, &root);
    if (EFI_ERROR(s))
        return s;
    s = load(root, &k, &h);
    uefi_call_wrapper(root->Close, 1, root);
    if (EFI_ERROR(s))
        return s;
    bootinfo_find_tables(h);
    bootinfo_find_framebuffer(h);
    out_info("hand-off at 0x%llx: ACPI RSDP 0x%llx, SMBIOS3 0x%llx, SMBIOS 0x%llx, framebuffer "
             "%ux%u at 0x%llx",
             (unsigned long long)(UINTN)h, (unsigned long long)h->acpi_rsdp,
             (unsigned long long)h->smbios3, (unsigned long long)h->smbios, h->fb.width,
             h->fb.height, (unsigned long long)h->fb.base);
    out_info("exiting boot services and entering the kernel");
    s = exit_boot_services(image, h, &retried);
    if (EFI_ERROR(s))
        return s;
    if (retried)
        out_info("ExitBootServices refused the first map key; a fresh map did it");
    out_info("boot services exited, %u memory ranges; jumping to 0x%llx", h->mem_count,
             (unsigned long long)k.entry);
    enter_kernel(k.entry, h);
}

EFI_STATUS efi_main(EFI_HANDLE image, EFI_SYSTEM_TABLE *systab)
{
    InitializeLib(image, systab);
    out_init();
    out_info("starting on UEFI %u.%u firmware", (unsigned)UEFI_REV_MAJOR(systab->Hdr.Revision),
             (unsigned)UEFI_REV_MINOR(systab->Hdr.Revision));
    EFI_STATUS s = boot(image);
    mem_free_all();
    out_info("returning %s to the firmware", efi_status_name(s));
    return s;
}
