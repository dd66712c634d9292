#include "drivers/power.h"
#include "drivers/console.h"
#include "arch/x86/cpu.h"
#include "lib/log.h"

#define QEMU_DEBUG_EXIT_PORT 0xf4
#define BOCHS_SHUTDOWN_PORT  0x8900
#define ACPI_SLP_EN          (1U << 13)
#define ACPI_SLP_TYP_SHIFT   10

static struct acpi_sleep_info acpi_s5;
static int halt_only;

void power_set_acpi(const struct acpi_sleep_info *info) { acpi_s5 = *info; }
void power_set_method_halt(int h) { halt_only = h; }

void power_off(enum power_status status)
{
    irq_disable();
    log_info("power off (status %d)\n", (int)status);
    console_flush();
    if (!halt_only) {
        outb(QEMU_DEBUG_EXIT_PORT, (uint8_t)status);
        for (const char *s = "Shutdown"; *s; s++)
            outb(BOCHS_SHUTDOWN_PORT, (uint8_t)*s);
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
