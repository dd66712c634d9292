#include "vmm/l1.h"
#include "vmm/loader_mb.h"
#include "vmm/vm.h"
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

void l1_boot(const struct nv_options *opts, const struct vmx_caps *caps, const struct hostmem *hm,
             const struct acpi_info *acpi, uint64_t acpi_rsdp)
{
    char why[REASON_MAX];
    const struct handoff_module *image = l1_find_image(hm);
    struct vm_config cfg = {
        .nested = opts->nested,
        .shadow = opts->shadow && caps->shadow_vmcs,
        .hlt_exit = opts->hlt_exit,
        .hidden = opts->hidden_stop ? HIDDEN_STOP : HIDDEN_DISCARD,
    };
    if (!vm_create(&the_vm, &cfg, caps, hm, &acpi->s5, why, sizeof(why))) {
        log_error("vm: cannot run L1: %s\n", why);
        power_off(POWER_FAIL);
    }
    struct l1_boot_input in = {.l1_map = &the_vm.l1_map, .image = image, .acpi_rsdp = acpi_rsdp};
    for (unsigned i = 0; i < hm->module_count; i++)
        if (!strcmp(hm->modules[i].name, MODULE_NAME_L1_MODULE))
            in.modules[in.module_count++] = &hm->modules[i];
    struct l1_entry_state entry;
    uint32_t eax, ebx;
    if (!mb_load_l1(&in, &entry, &eax, &ebx, why, sizeof(why))) {
        log_error("L1 image refused: %s\n", why);
        power_off(POWER_FAIL);
    }
    log_info("L1: Multiboot%s kernel, %u module(s), command line \"%s\", entry 0x%llx\n",
             eax == MB2_BOOTLOADER_MAGIC ? "2" : "", in.module_count, image->cmdline,
             (unsigned long long)entry.rip);
    the_vm.vcpu.regs.rax = eax;
    the_vm.vcpu.regs.rbx = ebx;
    vm_run(&the_vm, &entry);
}
