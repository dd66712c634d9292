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

/* Reaching a CPU that runs L1 or L2 (docs/smp.md): L1 owns the local
 * APICs, so L0 sends an NMI, which exits to L0 wherever the CPU is (NMI
 * exiting in vmcs01 and vmcs02); the CPU looks at what it was asked before
 * its next VM entry. L1's own NMIs still reach L1 (vmm/nmi.c). */

/* EPT01 lost a permission: every CPU does INVEPT of it and drops its
 * EPT02s before it next enters a guest; returns when all did (a CPU that
 * waits in L0 for a SIPI answers too: the NMI wakes it). */
void smp_invept01_everywhere(void);
/* Every other CPU that runs L2 looks at smp_attention before it resumes L2
 * (a merged bitmap changed: nested/bitmaps.c). */
void smp_nudge_l2_cpus(const struct vcpu *self);
/* vm_stop: every other CPU leaves its guest and halts. Only the first CPU
 * to call it returns; a later caller halts at once. */
void smp_stop_others(void);
/* Makes pc look at what it was asked: sets its attention flag and sends
 * it an NMI (L1's NMIs are told apart by pc->l0_nmi). */
void smp_nudge(struct percpu *pc);
/* Does what pc was asked (stop, EPT01 flush), if anything: before a VM
 * entry and while waiting in L0. */
void smp_answer(struct percpu *pc);
/* Before a VM entry of v, when v->cpu->attention or v->nmi_pending: the
 * above, an INIT posted to v (sipi.c), an NMI of L1's to deliver. */
void smp_attention(struct vcpu *v);
/* An NMI: L0's nudge (true) or one of L1's (false, to deliver). */
bool smp_nmi_is_l0s(struct percpu *pc);

#endif
