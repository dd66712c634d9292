/* Creating L1's virtual machine and running it. */
#include "vmm/vm.h"
#include "vmm/gva.h"
#include "vmm/ept01.h"
#include "vmm/cpuid.h"
#include "vmm/io.h"
#include "vmm/msr.h"
#include "vmm/pmm.h"
#include "vmm/stats.h"
#include "vmm/nested/ept02.h"
#include "vmm/smp.h"
#include "drivers/acpi.h"
#include "drivers/fbcon.h"
#include "vmm/vmcs01.h"
#include "vmm/nested/nested.h"
#include "arch/x86/cpu.h"
#include "arch/x86/cpu_bits.h"
#include "arch/x86/physmem.h"
#include "arch/x86/vmx.h"
#include "arch/x86/vmx_bits.h"
#include "arch/x86/vmx_root.h"
#include "arch/x86/exit_reasons.h"
#include "lib/format.h"
#include "lib/log.h"
#include "lib/string.h"

#define EPT01_1G_LIMIT (1ULL << 39) /* one PML4 entry of 1 GiB pages */
#define EPT_GPA_LIMIT  (1ULL << 48) /* what a 4-level EPT walk translates */
#define GIB            (1ULL << 30)
#define SINK_FILL      0xff         /* what the sink holds before L1 writes it */
#define CANARY_MAGIC   0xca7a7157c0a1f00dULL

struct vm the_vm;

static uint64_t phys_limit(const struct vm *vm)
{
    uint64_t limit = (vm->host_mtrr.phys_addr_mask | 0xfffULL) + 1;
    return limit < EPT_GPA_LIMIT ? limit : EPT_GPA_LIMIT;
}

static uint64_t ept01_extent(const struct vm *vm)
{
    uint64_t end = memmap_end(&vm->host->map);
    if (end < (4 * GIB))
        end = 4 * GIB;
    end = (end + GIB - 1) & ~(GIB - 1);
    /* With 1 GiB pages, covering all of the first 512 GiB (64-bit BARs)
     * costs one table page. */
    if (vm->caps->ept_1g && end < EPT01_1G_LIMIT) {
        uint64_t limit = phys_limit(vm);
        end = limit < EPT01_1G_LIMIT ? limit : EPT01_1G_LIMIT;
    }
    return end;
}

/* hidden=discard: one page stands in for nestvisor's memory and for every
 * address beyond EPT01's identity map, so that L1 (and L2 through EPT12)
 * can touch them without an exit and reach nothing of L0's: writes land
 * in the sink, reads see 0xff or what L1 wrote there (docs/security.md). */
static bool sink_create(struct vm *vm)
{
    uint64_t page = pmm_alloc_page();
    if (!page)
        return false;
    memset(phys_to_virt(page), SINK_FILL, PAGE_SIZE);
    return ept_sink_init(&vm->sink, page, EPT_RWX | ((uint64_t)MEMTYPE_WB << EPT_MEMTYPE_SHIFT));
}

static uint64_t canary_word(uint64_t pa) { return pa ^ CANARY_MAGIC; }

static bool canary_create(struct vm *vm)
{
    vm->canary_page = pmm_alloc_page();
    if (!vm->canary_page)
        return false;
    uint64_t *w = phys_to_virt(vm->canary_page);
    for (unsigned i = 0; i < PAGE_SIZE / 8; i++)
        w[i] = canary_word(vm->canary_page + 8 * i);
    return true;
}

int64_t vm_canary_check(const struct vm *vm)
{
    const uint64_t *w = phys_to_virt(vm->canary_page);
    for (unsigned i = 0; i < PAGE_SIZE / 8; i++)
        if (w[i] != canary_word(vm->canary_page + 8 * i))
            return 8 * i;
    return -1;
}

static uint8_t *alloc_zeroed_page(uint64_t *pa)
{
    *pa = pmm_alloc_page();
    return *pa ? phys_to_virt(*pa) : 0;
}

bool vm_create(struct vm *vm, const struct vm_config *cfg, const struct vmx_caps *caps,
               const struct hostmem *host, const struct acpi_info *acpi, char *why, size_t whysz)
{
    memset(vm, 0, sizeof(*vm));
    vm->cfg = *cfg;
    vm->caps = caps;
    vm->host = host;
    /* The boot CPU runs L1's first vCPU; the others come in vcpus.c. */
    struct percpu *pc = this_cpu();
    struct vcpu *v = &vm->vcpus[0];
    v->cpu = pc;
    v->role = VCPU_L1;
    pc->vcpu = v;
    vm->vcpu_count = 1;
    if (acpi && acpi->s5.valid) {
        vm->pm1a_cnt = acpi->s5.pm1a_cnt;
        vm->pm1b_cnt = acpi->s5.pm1b_cnt;
    }
    if (acpi) {
        vm->acpi_reset_port = acpi->reset_port;
        vm->acpi_reset_value = acpi->reset_value;
    }
    if (!caps->ept || !caps->unrestricted_guest) {
        format(why, whysz, "this CPU lacks %s; nestvisor needs EPT and unrestricted guest",
               !caps->ept ? "EPT" : "unrestricted guest");
        return false;
    }
    pc->vmxon_region = pmm_alloc_page();
    if (!pc->vmxon_region || !vmx_enter_root(caps, pc->vmxon_region, why, whysz))
        return false;
    mtrr_read_host(&vm->host_mtrr);
    cpuid_probe_msr_features();
    vm->l1_mtrr = vm->host_mtrr;

    unsigned max_level = caps->ept_1g ? 3 : caps->ept_2m ? 2 : 1;
    uint64_t extent = ept01_extent(vm);
    const struct ept_sink *sink = 0;
    if (cfg->hidden == HIDDEN_DISCARD) {
        if (!sink_create(vm)) {
            format(why, whysz, "out of memory for the sink page");
            return false;
        }
        sink = &vm->sink;
    }
    if (!ept_init(&vm->ept01, max_level) || !ept01_build(&vm->ept01, &host->map, &vm->host_mtrr, extent, sink) ||
        (sink && extent < phys_limit(vm) && !ept_map_sink(&vm->ept01, extent, phys_limit(vm) - extent, sink))) {
        format(why, whysz, "out of memory building EPT01");
        return false;
    }
    vm->eptp01 = ept_eptp(&vm->ept01, false);
    ept01_l1_memmap(&host->map, &vm->l1_map);

    uint8_t *msr_bitmap = alloc_zeroed_page(&vm->msr_bitmap);
    uint8_t *io_a = alloc_zeroed_page(&vm->io_bitmap_a);
    uint8_t *io_b = alloc_zeroed_page(&vm->io_bitmap_b);
    if (!msr_bitmap || !io_a || !io_b || !canary_create(vm)) {
        format(why, whysz, "out of memory for L1's bitmaps");
        return false;
    }
    msr_bitmap_build_l1(msr_bitmap);
    io_bitmaps_build_l1(vm, io_a, io_b);
    if (!vmcs01_setup(vm, v, why, whysz))
        return false;
    if (cfg->nested) {
        nested_global_init(vm);
        ept02_set_write_emulator(nested_bitmap_emulate_l2_write);
        gva_set_guest_phys_map(nested_l2_guest_phys);
        gva_set_store_hook(nested_l1_stored);
    }
    if (cfg->nested && !nested_init(vm, v, vm_ept02_pages(cfg->l1_cpus))) {
        format(why, whysz, "out of memory for nested VMX state");
        return false;
    }
    log_info("vm: EPT01 covers 0-0x%llx with %llu table pages (largest page %s), VPID %s\n",
             (unsigned long long)extent, (unsigned long long)vm->ept01.table_pages,
             max_level == 3 ? "1 GiB" : max_level == 2 ? "2 MiB" : "4 KiB",
             (vmcs_read32(VMCS_SECONDARY_VM_EXEC_CONTROL) & PROC2_ENABLE_VPID) ? "on" : "off");
    return true;
}

extern bool vmx_launch(struct guest_regs *regs);

void vm_run(struct vm *vm, const struct l1_entry_state *entry)
{
    struct vcpu *v = &vm->vcpus[0];
    vmcs01_write_entry_state(vm, v, entry);
    v->regs.ticks_slot = &v->stats.unknown_ticks;
    /* The TSC here lets a benchmark count L1's instructions from its entry. */
    log_info("vm: entering L1 at 0x%llx, TSC %llu\n", (unsigned long long)entry->rip,
             (unsigned long long)rdtsc());
    v->launched = true;
    fbcon_release(); /* the screen is L1's from here (drivers/fbcon.h) */
    vmx_launch(&v->regs);
    /* Only a failed VMLAUNCH comes back. */
    fbcon_reclaim();
    uint32_t err = vmcs_read32(VMCS_VM_INSTRUCTION_ERROR);
    log_error("VMLAUNCH of L1 failed: VM-instruction error %u (%s)\n", err,
              err == VMXERR_ENTRY_INVALID_CONTROL_FIELD ? "invalid control field"
              : err == VMXERR_ENTRY_INVALID_HOST_STATE  ? "invalid host state"
                                                        : "see SDM 31.4");
    vm_stop(POWER_PANIC, "VMLAUNCH failed");
}

/* Each vCPU's shadow-EPT pool: up to 4 MiB, less when there are many. */
unsigned vm_ept02_pages(unsigned l1_cpus)
{
    unsigned pages = EPT02_POOL_BUDGET_PAGES / (l1_cpus ? l1_cpus : 1);
    return pages > EPT02_POOL_PAGES ? EPT02_POOL_PAGES : pages < EPT02_POOL_MIN_PAGES ? EPT02_POOL_MIN_PAGES : pages;
}

void vm_stop(enum power_status status, const char *why)
{
    /* The other CPUs leave their guests first: nothing changes the
     * statistics while they are printed, and no CPU runs L1 after this. */
    smp_stop_others();
    fbcon_reclaim();
    log_raw("nestvisor: L1 stopped (%s)\n", why);
    if (the_vm.canary_page) {
        int64_t bad = vm_canary_check(&the_vm);
        if (bad < 0)
            log_info("canary at 0x%llx intact\n", (unsigned long long)the_vm.canary_page);
        else
            log_error("canary at 0x%llx CORRUPTED at offset 0x%llx: L0 memory was written\n",
                      (unsigned long long)the_vm.canary_page, (unsigned long long)bad);
    }
    stats_print_vm(&the_vm);
    nested_print_stats(&the_vm);
    power_off(status);
}
