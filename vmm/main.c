/* Kernel bring-up: from the loader's hand-off to a running hypervisor. */
#include "boot/handoff_take.h"
#include "arch/x86/cpu.h"
#include "arch/x86/gdt.h"
#include "arch/x86/traps.h"
#include "arch/x86/paging.h"
#include "arch/x86/physmem.h"
#include "arch/x86/vmx_detect.h"
#include "drivers/acpi.h"
#include "drivers/console.h"
#include "drivers/power.h"
#include "drivers/tsc.h"
#include "vmm/hostmem.h"
#include "vmm/l1.h"
#include "vmm/options.h"
#include "vmm/selftest.h"
#include "vmm/cpuid.h"
#include "vmm/smbios.h"
#include "vmm/smp.h"
#include "vmm/nmi.h"
#include "lib/log.h"

#define NESTVISOR_VERSION "0.1"

uint64_t kernel_phys_base;
extern char __kernel_link_start[], __kernel_link_end[];

static struct handoff boot;
static struct nv_options opts;
static struct hostmem host;
static struct acpi_info acpi;
static struct vmx_caps vmx;

static const char *loader_name(uint32_t kind)
{
    return kind == LOADER_UEFI ? "UEFI" : kind == LOADER_MULTIBOOT2 ? "Multiboot2" : "unknown";
}

static void setup_console(void)
{
    options_parse(boot.cmdline, &opts);
    struct console_config cc = {opts.serial_port, opts.baud, opts.e9};
    console_init(&cc);
    log_set_level(opts.log_level);
    power_set_method_halt(opts.power_halt);
    /* Until ACPI says more: only QEMU's CPUID signature counts. */
    power_set_emulator(power_platform_is_emulator(0));
}

void kmain(uint64_t loader_data, uint32_t kind, uint64_t phys_base);

void kmain(uint64_t loader_data, uint32_t kind, uint64_t phys_base)
{
    char err[160] = "";
    kernel_phys_base = phys_base;
    bool handoff_ok = handoff_take(kind, (const void *)loader_data, &boot, err, sizeof(err));
    setup_console();
    console_set_framebuffer(&boot.fb);
    log_raw("\nnestvisor " NESTVISOR_VERSION " - nested VT-x micro-hypervisor\n");
    struct percpu *bsp = smp_boot_cpu();
    gdt_init_cpu(&bsp->tables);
    idt_init();
    percpu_install(bsp);
    percpu_register(bsp);
    log_set_cpu_source(percpu_this_id);
    traps_set_nmi_handler(nmi_in_l0);
    if (!handoff_ok) {
        log_error("boot: %s\n", err);
        power_off(POWER_FAIL);
    }
    boot.kernel_base = phys_base;
    boot.kernel_end = phys_base + (uint64_t)(__kernel_link_end - __kernel_link_start);
    log_info("loaded by %s at 0x%llx-0x%llx, command line \"%s\"\n", loader_name(kind),
             (unsigned long long)boot.kernel_base, (unsigned long long)boot.kernel_end, boot.cmdline);
    if (opts.bad[0])
        log_warn("ignored bad option values: %s\n", opts.bad);

    if (!hostmem_init(&host, &boot, opts.l0mem, err, sizeof(err))) {
        log_error("memory: %s\n", err);
        power_off(POWER_FAIL);
    }
    hostmem_print(&host);
    smbios_for_l1(&boot, &host.map);
    uint64_t identity_end = memmap_end(&host.map);
    if (identity_end < HOSTMEM_POOL_LIMIT)
        identity_end = HOSTMEM_POOL_LIMIT;
    if (!paging_init(identity_end)) {
        log_error("paging: out of pool memory for the page tables\n");
        power_off(POWER_FAIL);
    }
    log_info("paging: identity map 0-0x%llx, kernel at 0x%llx\n",
             (unsigned long long)paging_identity_end(), (unsigned long long)KERNEL_VMA);

    acpi_set_phys_limit(paging_identity_end());
    if (acpi_parse(boot.acpi_rsdp, &acpi)) {
        log_info("acpi: OEM \"%s\", %u CPU(s), local APIC at 0x%llx, I/O APIC at 0x%llx, S5 %s%s\n",
                 acpi.oem_id, acpi.cpu_count, (unsigned long long)acpi.lapic_base,
                 (unsigned long long)acpi.ioapic_base, acpi.s5.valid ? "found" : "not found",
                 acpi.warnings ? " (with warnings)" : "");
        if (acpi.s5.valid)
            power_set_acpi(&acpi.s5);
    }
    bool emulator = power_platform_is_emulator(acpi.oem_id);
    power_set_emulator(emulator);
    log_info("power: %s\n", emulator ? "an emulator's exit ports (QEMU 0xf4, Bochs 0x8900), then ACPI S5"
                                       : acpi.s5.valid ? "ACPI S5" : "no ACPI S5: the CPU halts");
    struct tsc_info tsc;
    tsc_init(&tsc, acpi.pm_timer_port, acpi.pm_timer_32bit);
    log_info("tsc: %llu kHz (%s)\n", (unsigned long long)(tsc.hz / 1000), tsc.source);
    if (tsc.cpuid_hz && !tsc.cpuid_trusted)
        log_warn("tsc: CPUID says %llu kHz but %s measures %llu kHz: L1 gets the measured rate in CPUID 0x15/0x16\n",
                 (unsigned long long)(tsc.cpuid_hz / 1000), tsc.timer,
                 (unsigned long long)(tsc.measured_hz / 1000));
    cpuid_set_tsc(&tsc);

    if (selftest_run_early(opts.selftest))
        power_off(POWER_OK);

    if (!vmx_detect(&vmx, err, sizeof(err))) {
        log_raw("VMX unavailable: %s\n", err);
        power_off(POWER_NO_VMX);
    }
    log_info("vmx: revision 0x%x, EPT %s, unrestricted guest %s, VPID %s, VMCS shadowing %s\n",
             vmx.revision_id, vmx.ept ? "yes" : "no", vmx.unrestricted_guest ? "yes" : "no",
             vmx.vpid ? "yes" : "no", vmx.shadow_vmcs ? "yes" : "no");
    if (opts.vmxcaps)
        vmx_caps_print(&vmx);

    /* Every other CPU into VMX root before L1 could reach it. */
    if (!smp_start_aps(&acpi, &vmx, &host.map, err, sizeof(err))) {
        log_error("smp: %s\n", err);
        power_off(POWER_FAIL);
    }

    if (!l1_find_image(&host)) {
        log_raw("nestvisor: bring-up complete (no L1 image given: add a module named \"l1\")\n");
        power_off(POWER_OK);
    }
    l1_boot(&opts, &vmx, &host, &acpi, boot.acpi_rsdp);
}
