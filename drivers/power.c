#include "drivers/power.h"
#include "drivers/console.h"
#include "arch/x86/cpu.h"
#include "lib/log.h"

#define QEMU_DEBUG_EXIT_PORT 0xf4
#define BOCHS_SHUTDOWN_PORT  0x8900
#define ACPI_SLP_EN          (1U << 13)
#define ACPI_SLP_TYP_SHIFT   10

#define CPUID_HYPERVISOR_BIT (1U << 31)
#define CPUID_LEAF_HV        0x40000000U
#define ACPI_OEM_ID_LEN      6

static struct acpi_sleep_info acpi_s5;
static int halt_only;
static bool emulator;

void power_set_acpi(const struct acpi_sleep_info *info) { acpi_s5 = *info; }
void power_set_emulator(bool on) { emulator = on; }

static bool same(const char *a, const char *b, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        if (a[i] != b[i])
            return false;
    return true;
}

bool power_platform_is_emulator(const char *acpi_oem_id)
{
    if (acpi_oem_id && same(acpi_oem_id, "BOCHS ", ACPI_OEM_ID_LEN))
        return true;
    struct cpuid_regs r;
    cpuid_query(1, 0, &r);
    if (!(r.ecx & CPUID_HYPERVISOR_BIT))
        return false;
    cpuid_query(CPUID_LEAF_HV, 0, &r);
    char sig[12];
    for (unsigned i = 0; i < 4; i++) {
        sig[i] = (char)(r.ebx >> (8 * i));
        sig[4 + i] = (char)(r.ecx >> (8 * i));
        sig[8 + i] = (char)(r.edx >> (8 * i));
    }
    return same(sig, "TCGTCGTCGTCG", sizeof(sig)) || same(sig, "KVMKVMKVM\0\0\0", sizeof(sig));
}
void power_set_method_halt(int h) { halt_only = h; }

void power_off(enum power_status status)
{
    irq_disable();
    log_info("power off (status %d)\n", (int)status);
    console_flush();
    if (!halt_only) {
        if (emulator) {
            outb(QEMU_DEBUG_EXIT_PORT, (uint8_t)status);
            for (const char *s = "Shutdown"; *s; s++)
                outb(BOCHS_SHUTDOWN_PORT, (uint8_t)*s);
        }
        if (acpi_s5.valid) {
            outw(acpi_s5.pm1a_cnt, (uint16_t)((acpi_s5.slp_typ_a << ACPI_SLP_TYP_SHIFT) | ACPI_SLP_EN));
            if (acpi_s5.pm1b_cnt)
                outw(acpi_s5.pm1b_cnt,
                     (uint16_t)((acpi_s5.slp_typ_b << ACPI_SLP_TYP_SHIFT) | ACPI_SLP_EN));
        }
    }
    log_info("halted: it is safe to turn the machine off\n");
    console_flush();
    cpu_stop();
}
