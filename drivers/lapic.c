#include "drivers/lapic.h"
#include "arch/x86/apic.h"
#include "arch/x86/cpu.h"
#include "arch/x86/msr_index.h"
#include "arch/x86/physmem.h"

#define ICR_SPIN_LIMIT     1000000

/* The mode is read from IA32_APIC_BASE on every use: once L1 runs, the
 * APIC is L1's and each CPU's may be in either mode (or moved). */
static uint64_t apic_base_msr(void) { return rdmsr(MSR_IA32_APIC_BASE); }

bool lapic_init(void) { return apic_base_msr() & APIC_BASE_ENABLE; }

bool lapic_x2apic_mode(void) { return apic_base_msr() & APIC_BASE_X2APIC; }

static volatile uint32_t *reg(uint64_t msr, unsigned off)
{
    return (volatile uint32_t *)phys_to_virt((msr & APIC_BASE_ADDR_MASK) + off);
}

uint32_t lapic_id(void)
{
    uint64_t msr = apic_base_msr();
    if (msr & APIC_BASE_X2APIC)
        return (uint32_t)rdmsr(MSR_X2APIC_ID);
    return *reg(msr, XAPIC_ID) >> XAPIC_ID_SHIFT;
}

/* xAPIC: wait until the previous IPI has left (delivery status). */
static bool xapic_idle(uint64_t msr)
{
    for (unsigned i = 0; i < ICR_SPIN_LIMIT; i++) {
        if (!(*reg(msr, XAPIC_ICR_LOW) & ICR_PENDING))
            return true;
        cpu_relax();
    }
    return false;
}

static bool send_ipi(uint32_t apic_id, uint32_t icr_low)
{
    uint64_t msr = apic_base_msr();
    if (!(msr & APIC_BASE_ENABLE))
        return false;
    if (msr & APIC_BASE_X2APIC) {
        wrmsr(MSR_X2APIC_ICR, ((uint64_t)apic_id << 32) | icr_low);
        return true;
    }
    if (!xapic_idle(msr))
        return false;
    /* L1 may have written ICR_HIGH for an IPI it has not sent yet (it was
     * interrupted between the two writes): put its value back. */
    uint32_t l1_high = *reg(msr, XAPIC_ICR_HIGH);
    *reg(msr, XAPIC_ICR_HIGH) = apic_id << XAPIC_ID_SHIFT;
    *reg(msr, XAPIC_ICR_LOW) = icr_low;
    bool sent = xapic_idle(msr);
    *reg(msr, XAPIC_ICR_HIGH) = l1_high;
    return sent;
}

bool lapic_send_init(uint32_t apic_id)
{
    if (!send_ipi(apic_id, ICR_DELIVERY_INIT | ICR_LEVEL_ASSERT | ICR_TRIGGER_LEVEL))
        return false;
    /* De-assert: needed by the 82489DX, ignored by later CPUs (SDM 11.6.1). */
    return lapic_x2apic_mode() || send_ipi(apic_id, ICR_DELIVERY_INIT | ICR_TRIGGER_LEVEL);
}

bool lapic_send_sipi(uint32_t apic_id, uint8_t vector)
{
    return send_ipi(apic_id, ICR_DELIVERY_SIPI | vector);
}

bool lapic_send_nmi(uint32_t apic_id)
{
    return send_ipi(apic_id, ICR_DELIVERY_NMI | ICR_LEVEL_ASSERT);
}
