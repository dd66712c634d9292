#include "vmm/smp.h"
#include "vmm/pmm.h"
#include "vmm/vm.h"
#include "vmm/nmi.h"
#include "vmm/sipi.h"
#include "vmm/nested/ept02.h"
#include "vmm/nested/vmcs02.h"
#include "arch/x86/vmx.h"
#include "arch/x86/vmx_bits.h"
#include "vmm/nested/nested.h"
#include "arch/x86/cpu.h"
#include "arch/x86/cpu_bits.h"
#include "arch/x86/msr_index.h"
#include "arch/x86/paging.h"
#include "arch/x86/physmem.h"
#include "arch/x86/traps.h"
#include "arch/x86/vmx_root.h"
#include "drivers/lapic.h"
#include "drivers/tsc.h"
#include "lib/format.h"
#include "lib/log.h"
#include "lib/string.h"

/* arch/x86/ap_boot.asm */
extern const char ap_trampoline[], ap_trampoline_end[];
extern char ap_entry64[];

#define AP_PARAMS_OFFSET 8
#define LOW_MEMORY_END   0x100000ULL /* a SIPI vector names a page below 1 MiB */
#define PTE_P            (1ULL << 0)
#define PTE_W            (1ULL << 1)
#define PTE_PS           (1ULL << 7)
#define PML4_KERNEL_SLOT 511
#define INIT_WAIT_US     10000  /* INIT to SIPI (SDM 8.4.4.1 / MP spec B.4) */
#define SIPI_WAIT_US     200
#define AP_ALIVE_WAIT_US 200000

/* The trampoline's parameter block (ap_boot.asm, .params). */
struct __attribute__((packed)) ap_params {
    uint64_t boot_cr3, efer, entry, kernel_cr3, stack, percpu;
    uint32_t far64;
    uint16_t far64_sel;
    uint16_t gdt_limit;
    uint32_t gdt_base;
};
_Static_assert(sizeof(struct ap_params) == 0x3c, "ap_boot.asm's .params");

enum ap_state { AP_OFF, AP_IN_L0, AP_VMX_FAILED };

/* Shared with the APs during bring-up only: written by the boot CPU before
 * the SIPI, read by the AP; the AP's state goes back through percpu. */
static const struct vmx_caps *ap_caps;
static struct percpu bsp;
static volatile uint32_t ap_state[NV_MAX_CPUS];

struct percpu *smp_boot_cpu(void) { return &bsp; }

/* The highest usable page below 1 MiB for the trampoline (page 0 holds
 * the real-mode IVT and BIOS data). It is L1's RAM: saved and restored. */
static uint64_t trampoline_page(const struct memmap *host)
{
    for (uint64_t pa = LOW_MEMORY_END - PAGE_SIZE; pa >= PAGE_SIZE; pa -= PAGE_SIZE)
        if (memmap_is_all(host, pa, PAGE_SIZE, MEM_USABLE))
            return pa;
    return 0;
}

/* The page table the AP turns paging on with: the first 2 MiB (the
 * trampoline) executable and identity-mapped, and the kernel as the kernel's
 * own tables map it. Pool pages are below 4 GiB, as a 32-bit CR3 needs. */
static uint64_t boot_page_table(void)
{
    uint64_t pml4 = pmm_alloc_page(), pdpt = pmm_alloc_page(), pd = pmm_alloc_page();
    if (!pml4 || !pdpt || !pd)
        return 0;
    ((uint64_t *)phys_to_virt(pd))[0] = 0 | PTE_P | PTE_W | PTE_PS;
    ((uint64_t *)phys_to_virt(pdpt))[0] = pd | PTE_P | PTE_W;
    uint64_t *t = phys_to_virt(pml4);
    t[0] = pdpt | PTE_P | PTE_W;
    t[PML4_KERNEL_SLOT] = ((const uint64_t *)phys_to_virt(paging_root()))[PML4_KERNEL_SLOT];
    return pml4;
}

static bool wait_alive(unsigned id, uint64_t us)
{
    for (uint64_t waited = 0; waited < us; waited += 10) {
        if (ap_state[id] != AP_OFF)
            return true;
        tsc_delay_us(10);
    }
    return ap_state[id] != AP_OFF;
}

static bool start_ap(struct percpu *pc, uint64_t page)
{
    struct ap_params *p = phys_to_virt(page + AP_PARAMS_OFFSET);
    p->stack = (uint64_t)pc->boot_stack + BOOT_STACK_SIZE;
    p->percpu = (uint64_t)pc;
    ap_state[pc->id] = AP_OFF;
    if (!lapic_send_init(pc->apic_id))
        return false;
    tsc_delay_us(INIT_WAIT_US);
    /* Two SIPIs, the second only if the first was lost (SDM 8.4.4.1). */
    for (int i = 0; i < 2 && ap_state[pc->id] == AP_OFF; i++) {
        if (!lapic_send_sipi(pc->apic_id, (uint8_t)(page >> 12)))
            return false;
        wait_alive(pc->id, SIPI_WAIT_US);
    }
    return wait_alive(pc->id, AP_ALIVE_WAIT_US);
}

bool smp_start_aps(const struct acpi_info *acpi, const struct vmx_caps *caps, const struct memmap *host,
                   char *why, size_t whysz)
{
    if (acpi->enabled_count <= 1)
        return true;
    if (!lapic_init()) {
        format(why, whysz, "the local APIC is disabled: the other CPUs cannot be started");
        return false;
    }
    uint64_t page = trampoline_page(host);
    uint64_t boot_cr3 = boot_page_table();
    if (!page || !boot_cr3) {
        format(why, whysz, "no %s to start the other CPUs with", page ? "pool memory" : "free page below 1 MiB");
        return false;
    }
    uint8_t saved[PAGE_SIZE];
    memcpy(saved, phys_to_virt(page), PAGE_SIZE);
    size_t size = (size_t)(ap_trampoline_end - ap_trampoline);
    memcpy(phys_to_virt(page), ap_trampoline, size);
    struct ap_params *p = phys_to_virt(page + AP_PARAMS_OFFSET);
    p->boot_cr3 = boot_cr3;
    p->efer = EFER_LME | (rdmsr(MSR_IA32_EFER) & EFER_NXE);
    p->entry = (uint64_t)ap_entry64;
    p->kernel_cr3 = paging_root();
    p->far64 += (uint32_t)page;
    p->gdt_base += (uint32_t)page;
    ap_caps = caps;
    uint32_t self = lapic_id();
    bsp.apic_id = self;

    bool ok = true;
    for (unsigned i = 0; i < acpi->enabled_count && ok; i++) {
        uint32_t apic_id = acpi->apic_ids[i];
        if (apic_id == self)
            continue;
        unsigned id = percpu_count();
        if (id >= NV_MAX_CPUS) {
            log_warn("smp: more than %u CPUs; APIC %u and later stay in wait-for-SIPI\n", NV_MAX_CPUS, apic_id);
            format(why, whysz, "the MADT lists more CPUs than nestvisor can hold (%u)", NV_MAX_CPUS);
            ok = false;
            break;
        }
        uint64_t pa = pmm_alloc((sizeof(struct percpu) + PAGE_SIZE - 1) / PAGE_SIZE);
        uint64_t vmxon = pmm_alloc_page();
        if (!pa || !vmxon) {
            format(why, whysz, "no pool memory for CPU %u", id);
            ok = false;
            break;
        }
        struct percpu *pc = phys_to_virt(pa);
        pc->id = id;
        pc->apic_id = apic_id;
        pc->vmxon_region = vmxon;
        if (!start_ap(pc, page)) {
            format(why, whysz, "cpu%u (APIC %u) did not come up; nestvisor cannot keep it from L1",
                   id, apic_id);
            ok = false;
        } else if (ap_state[id] == AP_VMX_FAILED) {
            format(why, whysz, "cpu%u (APIC %u) could not enter VMX root operation", id, apic_id);
            ok = false;
        } else {
            percpu_register(pc);
        }
    }
    memcpy(phys_to_virt(page), saved, PAGE_SIZE);
    pmm_free(boot_cr3, 1);
    if (ok)
        log_info("smp: %u CPUs in VMX root (APIC IDs from the MADT)\n", percpu_count());
    return ok;
}

void smp_release_cpu(struct percpu *pc, struct vcpu *v)
{
    __atomic_store_n(&pc->vcpu, v, __ATOMIC_RELEASE);
}

/* An AP, on its boot stack with the kernel's page tables (ap_entry64). */
void ap_main(struct percpu *pc);
void ap_main(struct percpu *pc)
{
    gdt_init_cpu(&pc->tables);
    idt_load();
    percpu_install(pc);
    write_cr0(read_cr0() | CR0_WP);
    write_cr4(read_cr4() | CR4_PGE);
    char why[160];
    bool vmx = vmx_enter_root(ap_caps, pc->vmxon_region, why, sizeof(why));
    __atomic_store_n(&ap_state[pc->id], vmx ? AP_IN_L0 : AP_VMX_FAILED, __ATOMIC_RELEASE);
    if (!vmx)
        cpu_stop();
    struct vcpu *v;
    while (!(v = __atomic_load_n(&pc->vcpu, __ATOMIC_ACQUIRE)))
        cpu_relax();
    vm_run_ap(v);
    for (;;)
        cpu_relax(); /* in VMX root: INIT stays blocked */
}

/* ---- Reaching another CPU ----
 * Shared, written by any CPU with atomics: the EPT01 generation (bumped
 * when EPT01 loses a permission) and the stop flag. Each CPU notices them
 * at its next safe point (smp_attention), nudged by an NMI. */
static uint64_t ept01_gen;
static uint32_t stopping;

#define NUDGE_WAIT_US 1000000

void smp_nudge(struct percpu *pc)
{
    __atomic_store_n(&pc->attention, 1, __ATOMIC_SEQ_CST);
    __atomic_store_n(&pc->l0_nmi, 1, __ATOMIC_SEQ_CST);
    lapic_send_nmi(pc->apic_id);
}

bool smp_nmi_is_l0s(struct percpu *pc) { return __atomic_exchange_n(&pc->l0_nmi, 0, __ATOMIC_SEQ_CST); }

static void flush_ept01_here(struct percpu *pc, uint64_t gen)
{
    invept(INVEPT_SINGLE_CONTEXT, the_vm.eptp01);
    struct vcpu *v = pc->vcpu;
    if (v && v->nested) {
        ept02_flush_all(v->nested->ept02);
        /* In L2 (vmcs02 current): it must not resume on a dropped root,
         * whose tables the pool hands out again (docs/fuzzing.md). */
        if (v->in_l2)
            vmcs02_load_eptp(v);
    }
    __atomic_store_n(&pc->ept01_seen, gen, __ATOMIC_RELEASE);
}

void smp_answer(struct percpu *pc)
{
    if (!__atomic_exchange_n(&pc->attention, 0, __ATOMIC_ACQ_REL))
        return;
    if (__atomic_load_n(&stopping, __ATOMIC_ACQUIRE)) {
        __atomic_store_n(&pc->stopped, 1, __ATOMIC_RELEASE);
        cpu_stop();
    }
    uint64_t gen = __atomic_load_n(&ept01_gen, __ATOMIC_ACQUIRE);
    if (pc->ept01_seen != gen)
        flush_ept01_here(pc, gen);
}

void smp_attention(struct vcpu *v)
{
    smp_answer(v->cpu);
    sipi_take(v);
    /* Another CPU wrote an L1 bitmap this CPU's L2 runs with (bitmap_write.c). */
    nested_bitmaps_refresh(v);
    if (v->nmi_pending)
        vcpu_deliver_nmi(v);
}

/* Waits for pc to reach generation gen, doing what this CPU is asked
 * meanwhile (two CPUs may wait for each other). */
static bool wait_flushed(struct percpu *self, struct percpu *pc, uint64_t gen)
{
    uint64_t deadline = rdtsc() + tsc_hz() / 1000000 * NUDGE_WAIT_US;
    while (__atomic_load_n(&pc->ept01_seen, __ATOMIC_ACQUIRE) < gen) {
        smp_answer(self);
        if (rdtsc() > deadline)
            return false;
        cpu_relax();
    }
    return true;
}

void smp_invept01_everywhere(void)
{
    struct percpu *self = this_cpu();
    uint64_t gen = __atomic_add_fetch(&ept01_gen, 1, __ATOMIC_SEQ_CST);
    flush_ept01_here(self, gen);
    for (unsigned id = 0; id < percpu_count(); id++) {
        struct percpu *pc = percpu_of(id);
        if (pc != self && pc->vcpu)
            smp_nudge(pc);
    }
    for (unsigned id = 0; id < percpu_count(); id++) {
        struct percpu *pc = percpu_of(id);
        if (pc == self || !pc->vcpu)
            continue;
        if (!wait_flushed(self, pc, gen))
            log_error("smp: cpu%u did not answer the EPT01 flush in %u ms (its NMI %s)\n", id, NUDGE_WAIT_US / 1000,
                      pc->l0_nmi ? "never arrived" : "arrived");
    }
}

void smp_nudge_l2_cpus(const struct vcpu *self)
{
    for (unsigned id = 0; id < percpu_count(); id++) {
        struct percpu *pc = percpu_of(id);
        struct vcpu *u = pc ? pc->vcpu : 0;
        if (u && u != self && __atomic_load_n(&u->in_l2, __ATOMIC_ACQUIRE))
            smp_nudge(pc);
    }
}

void smp_stop_others(void)
{
    struct percpu *self = this_cpu();
    /* Two CPUs may stop L1 at once (an AP's triple fault while the boot CPU
     * powers off): the first reports, the others halt as if asked. */
    if (__atomic_exchange_n(&stopping, 1, __ATOMIC_SEQ_CST)) {
        __atomic_store_n(&self->stopped, 1, __ATOMIC_RELEASE);
        cpu_stop();
    }
    for (unsigned id = 0; id < percpu_count(); id++) {
        struct percpu *pc = percpu_of(id);
        if (pc != self && pc->vcpu)
            smp_nudge(pc);
    }
    /* Give them a moment to leave their guests: statistics are read next. */
    uint64_t deadline = rdtsc() + tsc_hz() / 1000000 * NUDGE_WAIT_US;
    for (unsigned id = 0; id < percpu_count(); id++) {
        struct percpu *pc = percpu_of(id);
        if (pc == self || !pc->vcpu)
            continue;
        while (!__atomic_load_n(&pc->stopped, __ATOMIC_ACQUIRE) && rdtsc() < deadline)
            cpu_relax();
    }
}
