#include "vmm/l1.h"
#include "vmm/loader_mb.h"
#include "vmm/loader_linux.h"
#include "arch/x86/physmem.h"
#include "vmm/vm.h"
#include "drivers/fbcon.h"
#include "vmm/percpu.h"
#include "lib/log.h"
#include "lib/string.h"

#define REASON_MAX 200

const struct handoff_module *l1_find_image(const struct hostmem *hm)
{
    for (unsigned i = 0; i < hm->module_count; i++)
        if (!strcmp(hm->modules[i].name, MODULE_NAME_L1))
            return &hm->modules[i];
    return 0;
}

static __attribute__((noreturn)) void refuse(const char *why)
{
    log_error("L1 image refused: %s\n", why);
    power_off(POWER_FAIL);
}

static void boot_multiboot(const struct hostmem *hm, const struct handoff_module *image,
                           uint64_t acpi_rsdp, struct l1_entry_state *entry)
{
    char why[REASON_MAX];
    struct l1_boot_input in = {
        .l1_map = &the_vm.l1_map, .image = image, .acpi_rsdp = acpi_rsdp, .fb = fbcon_framebuffer()};
    for (unsigned i = 0; i < hm->module_count; i++)
        if (!strcmp(hm->modules[i].name, MODULE_NAME_L1_MODULE))
            in.modules[in.module_count++] = &hm->modules[i];
    uint32_t eax, ebx;
    if (!mb_load_l1(&in, entry, &eax, &ebx, why, sizeof(why)))
        refuse(why);
    log_info("L1: Multiboot%s kernel, %u module(s), command line \"%s\", entry 0x%llx\n",
             eax == MB2_BOOTLOADER_MAGIC ? "2" : "", in.module_count, image->cmdline,
             (unsigned long long)entry->rip);
    the_vm.vcpus[0].regs.rax = eax;
    the_vm.vcpus[0].regs.rbx = ebx;
}

/* The RSDP is handed to Linux only where Linux cannot overwrite it before
 * reading it (firmware memory); else Linux searches the BIOS area itself. */
static uint64_t rsdp_for_linux(uint64_t rsdp)
{
    uint32_t type = memmap_type_at(&the_vm.l1_map, rsdp);
    return rsdp && type != MEM_USABLE ? rsdp : 0;
}

static void boot_linux(const struct hostmem *hm, const struct handoff_module *image,
                       uint64_t acpi_rsdp, struct l1_entry_state *entry)
{
    char why[REASON_MAX];
    struct linux_boot_input in = {
        .l1_map = &the_vm.l1_map,
        .kernel = image,
        .acpi_rsdp = rsdp_for_linux(acpi_rsdp),
        .fb = fbcon_framebuffer(),
    };
    /* The initrd: a module named "l1-initrd", or else the first "l1-module". */
    for (unsigned i = 0; i < hm->module_count && !in.initrd; i++)
        if (!strcmp(hm->modules[i].name, MODULE_NAME_L1_INITRD))
            in.initrd = &hm->modules[i];
    for (unsigned i = 0; i < hm->module_count && !in.initrd; i++)
        if (!strcmp(hm->modules[i].name, MODULE_NAME_L1_MODULE))
            in.initrd = &hm->modules[i];
    uint32_t esi;
    if (!linux_load_l1(&in, entry, &esi, why, sizeof(why)))
        refuse(why);
    log_info("L1: Linux bzImage, initrd %llu KiB, command line \"%s\", entry 0x%llx\n",
             in.initrd ? (unsigned long long)(in.initrd->size >> 10) : 0ULL, image->cmdline,
             (unsigned long long)entry->rip);
    the_vm.vcpus[0].regs.rsi = esi;
}

void l1_boot(const struct nv_options *opts, const struct vmx_caps *caps, const struct hostmem *hm,
             const struct acpi_info *acpi, uint64_t acpi_rsdp)
{
    char why[REASON_MAX];
    const struct handoff_module *image = l1_find_image(hm);
    unsigned cpus = percpu_count();
    struct vm_config cfg = {
        .l1_cpus = opts->cpus && opts->cpus < cpus ? opts->cpus : cpus,
        .nested = opts->nested,
        .shadow = opts->shadow && caps->shadow_vmcs,
        .apicv = opts->apicv,
        .hlt_exit = opts->hlt_exit,
        .hidden = opts->hidden_stop ? HIDDEN_STOP : HIDDEN_DISCARD,
        .icr_watch_always = opts->icr_watch_always,
    };
    if (!vm_create(&the_vm, &cfg, caps, hm, acpi, why, sizeof(why))) {
        log_error("vm: cannot run L1: %s\n", why);
        power_off(POWER_FAIL);
    }
    the_vm.acpi_rsdp = acpi_rsdp;
    vm_create_aps(&the_vm);
    struct l1_entry_state entry;
    if (linux_is_bzimage(phys_to_virt(image->base), image->size))
        boot_linux(hm, image, acpi_rsdp, &entry);
    else
        boot_multiboot(hm, image, acpi_rsdp, &entry);
    vm_run(&the_vm, &entry);
}
