/* Bringing up every CPU the MADT lists (docs/smp.md). The boot CPU starts
 * each AP with INIT-SIPI-SIPI through a trampoline below 1 MiB; the AP gets
 * its own GDT, TSS, stacks and GS base, enters VMX root operation and waits
 * there, where INIT is blocked (SDM 24.8), until the boot CPU gives it a
 * vCPU (smp_release_cpu). From then on no CPU of the machine runs outside
 * nestvisor's control. */
#ifndef VMM_SMP_H
#define VMM_SMP_H

#include <stdbool.h>
#include <stdint.h>
#include "arch/x86/vmx_caps.h"
#include "drivers/acpi.h"
#include "vmm/memmap.h"
#include "vmm/percpu.h"

struct vcpu;

/* The boot CPU's per-CPU data, usable before the allocator exists. */
struct percpu *smp_boot_cpu(void);
/* Starts every enabled CPU of the MADT but the calling one. False (with
 * *why) if one did not come up: nestvisor cannot keep such a CPU from L1,
 * so L1 must not run. */
bool smp_start_aps(const struct acpi_info *acpi, const struct vmx_caps *caps, const struct memmap *host,
                   char *why, size_t whysz);
/* Hands v to the AP waiting in VMX root (pc): it enters v on its own. */
void smp_release_cpu(struct percpu *pc, struct vcpu *v);

#endif
