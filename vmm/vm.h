/* The guest nestvisor runs (L1): its configuration, memory, bitmaps and
 * vCPU. One L1 per machine; one vCPU for now (per-CPU state is ready for
 * more). */
#ifndef VMM_VM_H
#define VMM_VM_H

#include <stdbool.h>
#include <stdint.h>
#include "arch/x86/vmx_caps.h"
#include "vmm/ept.h"
#include "vmm/hostmem.h"
#include "vmm/memmap.h"
#include "vmm/mtrr.h"
#include "vmm/vcpu.h"
#include "drivers/power.h"

struct l1_entry_state;
struct acpi_info;

enum hidden_policy {
    HIDDEN_DISCARD, /* map onto the sink page: writes never reach L0 */
    HIDDEN_STOP,    /* report and stop L1 */
};

struct vm_config {
    unsigned l1_cpus; /* CPUs L1 gets (the boot CPU first); the others are held */
    bool nested;   /* expose VMX to L1 */
    bool shadow;   /* use VMCS shadowing for L1's VMREAD/VMWRITE if the CPU has it */
    bool apicv;    /* offer APIC virtualization for L2 */
    bool hlt_exit; /* HLT exits (else L1 halts natively) */
    enum hidden_policy hidden;
    bool icr_watch_always; /* watch L1's INIT/SIPI even when no CPU waits (ipi.h) */
};

struct vm {
    struct vm_config cfg;
    const struct vmx_caps *caps;
    const struct hostmem *host;
    struct memmap l1_map;      /* what L1's boot information reports */
    struct ept ept01;
    uint64_t eptp01;
    uint64_t msr_bitmap;       /* 4 KiB, SDM 25.6.9 */
    uint64_t io_bitmap_a, io_bitmap_b;
    struct ept_sink sink;      /* stands in for hidden pages (HIDDEN_DISCARD) */
    struct mtrr_state host_mtrr;
    struct mtrr_state l1_mtrr; /* L1's virtual MTRRs */
    uint16_t pm1a_cnt, pm1b_cnt; /* ACPI sleep control ports, 0 if unknown */
    uint16_t acpi_reset_port;    /* FADT RESET_REG in I/O space, 0 if none */
    uint8_t acpi_reset_value;
    uint64_t canary_page;      /* L0 memory with a known pattern (vm_canary_intact) */
    uint64_t acpi_rsdp;        /* the firmware's, for L1 (0: search the BIOS area) */
    unsigned vcpu_count;        /* one per physical CPU nestvisor runs on */
    struct vcpu vcpus[NV_MAX_CPUS];
};

extern struct vm the_vm;

/* Builds EPT01, the bitmaps and vmcs01, after entering VMX root. */
bool vm_create(struct vm *vm, const struct vm_config *cfg, const struct vmx_caps *caps,
               const struct hostmem *host, const struct acpi_info *acpi, char *why, size_t whysz);
/* vcpus.c: every other CPU gets a vCPU: L1's (cfg.l1_cpus - 1 of them,
 * waiting for L1's INIT-SIPI-SIPI) or held (VCPU_HELD: waiting for a SIPI
 * that never comes to L1, and hidden from L1's MADT). Runs on the boot CPU
 * after vm_create; returns when every AP has entered its vCPU. */
void vm_create_aps(struct vm *vm);
/* On an AP: enters its vCPU. Returns only if that failed (the CPU then
 * stays in VMX root, where INIT is blocked, SDM 24.8). */
void vm_run_ap(struct vcpu *v);
/* The shadow-EPT pool each vCPU gets (nested/ept02.h). */
unsigned vm_ept02_pages(unsigned l1_cpus);
/* Launches L1; never returns (exits run until L1 stops). */
__attribute__((noreturn)) void vm_run(struct vm *vm, const struct l1_entry_state *entry);
/* Ends L1: prints why and the exit statistics, then powers off. */
__attribute__((noreturn)) void vm_stop(enum power_status status, const char *why);

/* The canary: a page of nestvisor's memory holding a pattern that only a
 * write by L1 or L2 escaping containment could change (the attack suite
 * aims at it; vm_stop checks it). Offset of the first changed byte, or -1. */
int64_t vm_canary_check(const struct vm *vm);

/* L1 guest-physical -> host pointer for [gpa, gpa+len) if it is all L1 RAM
 * (usable or ACPI), else 0. */
void *vm_l1_ram(uint64_t gpa, uint64_t len);
/* l1view.c: [gpa, gpa + size), within one page, as L1's own accesses
 * reach it: its RAM, or the sink page over nestvisor's memory and beyond
 * RAM. 0 for anything else (a device: reads all ones, writes dropped). */
void *vm_l1_view(uint64_t gpa, uint64_t size);
bool vm_l1_ram_range(uint64_t gpa, uint64_t len);

#endif
