#include "vmm/ipi.h"
#include "vmm/ept.h"
#include "vmm/store.h"
#include "vmm/msr.h"
#include "vmm/sipi.h"
#include "vmm/smp.h"
#include "vmm/vm.h"
#include "vmm/nested/bitmaps.h"
#include "vmm/nested/nested.h"
#include "arch/x86/apic.h"
#include "arch/x86/cpu.h"
#include "arch/x86/cpu_bits.h"
#include "arch/x86/msr_index.h"
#include "arch/x86/physmem.h"
#include "arch/x86/vmx.h"
#include "arch/x86/vmx_bits.h"
#include "lib/log.h"
#include "lib/spinlock.h"

#define NO_PAGE         (~0ULL)
#define REPORT_LIMIT    4

/* Shared: whether L1's ICR is watched and which xAPIC page is protected
 * for it. Changed under the lock by whichever CPU starts or stops waiting;
 * read without it on the exit path (a stale answer only emulates a write
 * the hardware would have done the same way, or retries the access). */
static struct {
    struct spinlock lock;
    bool on;
    uint64_t page;
} watch = {.page = NO_PAGE};

/* Shared, atomic: reports of IPIs that reached no CPU, L1-wide. */
static uint32_t unreached_reports;

static bool watch_needed(const struct vm *vm)
{
    if (vm->cfg.icr_watch_always)
        return true;
    for (unsigned i = 0; i < vm->vcpu_count; i++)
        if (__atomic_load_n(&vm->vcpus[i].wait_for_sipi, __ATOMIC_ACQUIRE))
            return true;
    return false;
}

static uint64_t this_cpus_apic_page(void) { return rdmsr(MSR_IA32_APIC_BASE) & APIC_BASE_ADDR_MASK; }

/* Under watch.lock. True if a permission was taken (every CPU must flush). */
static bool protect_page(struct vm *vm, uint64_t page)
{
    if (watch.page == page)
        return false;
    if (watch.page != NO_PAGE)
        ept_set_writable(&vm->ept01, watch.page, true);
    watch.page = page;
    if (page != NO_PAGE && !ept_set_writable(&vm->ept01, page, false)) {
        log_warn("ipi: L1's local APIC page 0x%llx is not in EPT01: its xAPIC writes are not watched\n",
                 (unsigned long long)page);
        watch.page = NO_PAGE;
    }
    return watch.page != NO_PAGE;
}

void ipi_update_watch(struct vm *vm)
{
    spin_lock(&watch.lock);
    bool need = watch_needed(vm), flush = false;
    if (need != watch.on) {
        watch.on = need;
        msr_bitmap_set(phys_to_virt(vm->msr_bitmap), MSR_X2APIC_ICR, false, need);
        nested_bitmaps_l0_changed();
        flush = protect_page(vm, need ? this_cpus_apic_page() : NO_PAGE);
        log_debug("ipi: %s L1's INIT and SIPI\n", need ? "watching" : "no longer watching");
    }
    spin_unlock(&watch.lock);
    if (flush)
        smp_invept01_everywhere();
}

void ipi_apic_base_changed(struct vm *vm, uint64_t value)
{
    spin_lock(&watch.lock);
    bool flush = watch.on && protect_page(vm, value & APIC_BASE_ADDR_MASK);
    spin_unlock(&watch.lock);
    if (flush)
        smp_invept01_everywhere();
}

bool ipi_reaches(uint32_t low, uint32_t dest, bool x2apic, uint32_t self, uint32_t id)
{
    switch (low & ICR_SHORTHAND_MASK) {
    case ICR_SHORTHAND_SELF:
        return id == self;
    case ICR_SHORTHAND_ALL:
        return true;
    case ICR_SHORTHAND_OTHERS:
        return id != self;
    default:
        break;
    }
    if (x2apic && dest == X2APIC_BROADCAST)
        return true;
    if (low & ICR_DEST_LOGICAL) {
        /* x2APIC logical ID: cluster id >> 4, bit id & 15 (11.12.10.2). */
        return x2apic && dest >> X2APIC_CLUSTER_SHIFT == id / X2APIC_CLUSTER_CPUS &&
               (dest >> (id % X2APIC_CLUSTER_CPUS) & 1);
    }
    return (!x2apic && dest == XAPIC_BROADCAST) || dest == id;
}

static bool may_report(uint32_t *counter)
{
    return __atomic_fetch_add(counter, 1, __ATOMIC_RELAXED) < REPORT_LIMIT;
}

void ipi_route_init_sipi(struct vcpu *v, uint32_t low, uint32_t dest, bool x2apic)
{
    bool init = (low & ICR_DELIVERY_MASK) == ICR_DELIVERY_INIT;
    const char *what = init ? "INIT" : "SIPI";
    /* INIT level de-assert: a no-op since the Pentium 4 (11.6.1). */
    if (init && !(low & ICR_LEVEL_ASSERT))
        return;
    if (!x2apic && (low & ICR_DEST_LOGICAL) && (low & ICR_SHORTHAND_MASK) == ICR_SHORTHAND_NONE) {
        if (may_report(&unreached_reports))
            log_warn("cpu%u: L1 sent %s to logical destination 0x%x in xAPIC mode; nestvisor resolves "
                     "only physical destinations there: dropped (docs/smp.md)\n",
                     v->id, what, dest);
        return;
    }
    log_debug("cpu%u: L1's %s, ICR 0x%x, destination 0x%x (%s)\n", v->id, what, low, dest,
              x2apic ? "x2APIC" : "xAPIC");
    bool reached = false;
    for (unsigned i = 0; i < the_vm.vcpu_count; i++) {
        struct vcpu *u = &the_vm.vcpus[i];
        if (!u->cpu || !ipi_reaches(low, dest, x2apic, v->cpu->apic_id, u->cpu->apic_id))
            continue;
        reached = true;
        if (init)
            sipi_post_init(u);
        else
            sipi_post_start(u, (uint8_t)(low & ICR_VECTOR_MASK));
    }
    if (!reached && may_report(&unreached_reports))
        log_warn("cpu%u: L1 sent %s to APIC ID 0x%x: no such CPU, dropped\n", v->id, what, dest);
}

bool ipi_x2apic_icr_write(struct vcpu *v, uint64_t value)
{
    if (!(rdmsr(MSR_IA32_APIC_BASE) & APIC_BASE_X2APIC))
        return false; /* x2APIC MSRs #GP in xAPIC mode */
    uint32_t low = (uint32_t)value, mode = low & ICR_DELIVERY_MASK;
    if (mode != ICR_DELIVERY_INIT && mode != ICR_DELIVERY_SIPI)
        return wrmsr_safe(MSR_X2APIC_ICR, value);
    if (value & X2APIC_ICR_RESERVED)
        return false;
    ipi_route_init_sipi(v, low, (uint32_t)(value >> X2APIC_DEST_SHIFT), true);
    return true;
}

/* ---- xAPIC writes: emulated while the page is protected ---- */

static __attribute__((noreturn)) void cannot_emulate(struct vcpu *v, uint64_t gpa, const char *why)
{
    log_error("%s wrote L1's local APIC at 0x%llx while nestvisor watches its INIT and SIPI, and %s "
              "(docs/smp.md)\n",
              v->in_l2 ? "L2" : "L1", (unsigned long long)gpa, why);
    vcpu_dump(v, "local APIC write not emulated");
    vm_stop(POWER_GUEST_FAULT, "a local APIC write nestvisor cannot emulate");
}

bool ipi_apic_write(struct vcpu *v, uint64_t gpa)
{
    uint64_t page = __atomic_load_n(&watch.page, __ATOMIC_ACQUIRE);
    if (page == NO_PAGE || (gpa & ~(uint64_t)(APIC_PAGE_SIZE - 1)) != page)
        return false;
    /* L1 made its own APIC page L2's APIC-access page: L2's write is L1's
     * to virtualize, never a write to L1's local APIC. */
    if (nested_is_apic_access_page(v, gpa) && nested_apic_access_write(v, gpa))
        return true;
    struct guest_store st;
    const char *why;
    if (!store_decode(v, &st, &why)) {
        log_error("ipi: the write at RIP 0x%llx cannot be emulated\n",
                  (unsigned long long)vmcs_read(VMCS_GUEST_RIP));
        cannot_emulate(v, gpa, why);
    }
    unsigned offset = (unsigned)(gpa & (APIC_PAGE_SIZE - 1));
    if (offset + st.insn.size > APIC_PAGE_SIZE)
        cannot_emulate(v, gpa, "the store crosses the end of the page");
    uint64_t old = 0;
    if (offset == XAPIC_ICR_LOW && st.insn.size == XAPIC_REG_SIZE) {
        volatile uint32_t *icr_low = phys_to_virt(gpa);
        old = st.insn.op == MMIO_OP_MOV ? 0 : *icr_low;
        uint32_t low = (uint32_t)store_result(&st, old);
        uint32_t mode_bits = low & ICR_DELIVERY_MASK;
        if (mode_bits == ICR_DELIVERY_INIT || mode_bits == ICR_DELIVERY_SIPI) {
            uint32_t high = *(volatile uint32_t *)phys_to_virt(page + XAPIC_ICR_HIGH);
            ipi_route_init_sipi(v, low, high >> XAPIC_DEST_SHIFT, false);
        } else {
            *icr_low = low;
        }
    } else {
        store_apply(phys_to_virt(gpa), &st, &old);
    }
    store_complete(v, &st, old);
    return true;
}
