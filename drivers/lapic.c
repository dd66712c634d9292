#include "drivers/lapic.h"
#include "arch/x86/cpu.h"
#include "arch/x86/msr_index.h"
#include "arch/x86/physmem.h"

#define APIC_BASE_ENABLE   (1ULL << 11)
#define APIC_BASE_X2APIC   (1ULL << 10)
#define APIC_BASE_ADDR     0x000ffffffffff000ULL
#define XAPIC_ID           0x20
#define XAPIC_ICR_LOW      0x300
#define XAPIC_ICR_HIGH     0x310
#define XAPIC_ID_SHIFT     24
#define X2APIC_MSR_ID      0x802
#define X2APIC_MSR_ICR     0x830
#define ICR_DELIVERY_NMI   (4U << 8)
#define ICR_DELIVERY_INIT  (5U << 8)
#define ICR_DELIVERY_SIPI  (6U << 8)
#define ICR_PENDING        (1U << 12)
#define ICR_LEVEL_ASSERT   (1U << 14)
#define ICR_TRIGGER_LEVEL  (1U << 15)
#define ICR_SPIN_LIMIT     1000000

static uint64_t base;
static bool x2apic;

bool lapic_init(void)
{
    uint64_t msr = rdmsr(MSR_IA32_APIC_BASE);
    if (!(msr & APIC_BASE_ENABLE))
        return false;
    x2apic = msr & APIC_BASE_X2APIC;
    base = msr & APIC_BASE_ADDR;
    return true;
}

bool lapic_x2apic_mode(void) { return x2apic; }

static volatile uint32_t *reg(unsigned off) { return (volatile uint32_t *)phys_to_virt(base + off); }

uint32_t lapic_id(void)
{
    if (x2apic)
        return (uint32_t)rdmsr(X2APIC_MSR_ID);
    return *reg(XAPIC_ID) >> XAPIC_ID_SHIFT;
}

/* xAPIC: wait until the previous IPI has left (delivery status). */
static bool xapic_idle(void)
{
    for (unsigned i = 0; i < ICR_SPIN_LIMIT; i++) {
        if (!(*reg(XAPIC_ICR_LOW) & ICR_PENDING))
            return true;
        cpu_relax();
    }
    return false;
}

static bool send_ipi(uint32_t apic_id, uint32_t icr_low)
{
    if (x2apic) {
        wrmsr(X2APIC_MSR_ICR, ((uint64_t)apic_id << 32) | icr_low);
        return true;
    }
    if (!xapic_idle())
        return false;
    *reg(XAPIC_ICR_HIGH) = apic_id << XAPIC_ID_SHIFT;
    *reg(XAPIC_ICR_LOW) = icr_low;
    return xapic_idle();
}

bool lapic_send_init(uint32_t apic_id)
{
    if (!send_ipi(apic_id, ICR_DELIVERY_INIT | ICR_LEVEL_ASSERT | ICR_TRIGGER_LEVEL))
        return false;
    /* De-assert: needed by the 82489DX, ignored by later CPUs (SDM 11.6.1). */
    return x2apic || send_ipi(apic_id, ICR_DELIVERY_INIT | ICR_TRIGGER_LEVEL);
}

bool lapic_send_sipi(uint32_t apic_id, uint8_t vector)
{
    return send_ipi(apic_id, ICR_DELIVERY_SIPI | vector);
}

bool lapic_send_nmi(uint32_t apic_id)
{
    return send_ipi(apic_id, ICR_DELIVERY_NMI | ICR_LEVEL_ASSERT);
}
