/* 8259 PIC, 8254 PIT channel 0 and the local APIC timer. */
#include "guest.h"

#define PIC1_CMD  0x20
#define PIC1_DATA 0x21
#define PIC2_CMD  0xa0
#define PIC2_DATA 0xa1

static uint16_t pic_mask = 0xffff;

static void pic_write_mask(void)
{
    outb(PIC1_DATA, (uint8_t)pic_mask);
    outb(PIC2_DATA, (uint8_t)(pic_mask >> 8));
}

void pic_remap(void)
{
    outb(PIC1_CMD, 0x11); /* ICW1: edge, cascade, ICW4 follows */
    io_wait();
    outb(PIC2_CMD, 0x11);
    io_wait();
    outb(PIC1_DATA, PIC_BASE_VECTOR); /* ICW2: vector base */
    io_wait();
    outb(PIC2_DATA, PIC_BASE_VECTOR + 8);
    io_wait();
    outb(PIC1_DATA, 0x04); /* ICW3: slave on IRQ2 */
    io_wait();
    outb(PIC2_DATA, 0x02);
    io_wait();
    outb(PIC1_DATA, 0x01); /* ICW4: 8086 mode */
    io_wait();
    outb(PIC2_DATA, 0x01);
    io_wait();
    pic_mask = 0xffff;
    pic_write_mask();
}

void pic_unmask(int irq)
{
    pic_mask &= (uint16_t) ~(1u << irq);
    if (irq >= 8)
        pic_mask &= (uint16_t) ~(1u << 2); /* the cascade */
    pic_write_mask();
}

void pic_mask_all(void)
{
    pic_mask = 0xffff;
    pic_write_mask();
}

void pic_eoi(int irq)
{
    if (irq >= 8)
        outb(PIC2_CMD, 0x20);
    outb(PIC1_CMD, 0x20);
}

void pit_periodic(uint32_t hz)
{
    uint32_t divisor = PIT_HZ / hz;
    if (divisor > 0xffff)
        divisor = 0xffff;
    outb(0x43, 0x34); /* channel 0, lobyte/hibyte, mode 2 (rate generator), binary */
    outb(0x40, (uint8_t)divisor);
    outb(0x40, (uint8_t)(divisor >> 8));
}

void pit_stop(void)
{
    outb(0x43, 0x30); /* mode 0 with no count written: the output stays low */
}

/* ---- local APIC (xAPIC MMIO, or x2APIC MSRs if the loader left it on) ---- */

#define APIC_BASE_X2APIC (1u << 10)
#define APIC_BASE_ENABLE (1u << 11)
#define LAPIC_EOI     0x0b0
#define LAPIC_SVR     0x0f0
#define LAPIC_LVT_TMR 0x320
#define LAPIC_TMR_ICR 0x380
#define LAPIC_TMR_DCR 0x3e0

static uintptr_t lapic_mmio;
static bool lapic_x2;

static void lapic_write(uint32_t reg, uint32_t v)
{
    if (lapic_x2)
        wrmsr(0x800 + (reg >> 4), v);
    else
        *(volatile uint32_t *)(lapic_mmio + reg) = v;
}

static uint32_t lapic_read(uint32_t reg)
{
    if (lapic_x2)
        return (uint32_t)rdmsr(0x800 + (reg >> 4));
    return *(volatile uint32_t *)(lapic_mmio + reg);
}

bool lapic_present(void)
{
    return (cpuid(1).edx & CPUID1_EDX_APIC) != 0;
}

void lapic_enable(void)
{
    uint64_t base = rdmsr(MSR_APIC_BASE);
    if (!(base & APIC_BASE_ENABLE)) {
        base |= APIC_BASE_ENABLE;
        wrmsr(MSR_APIC_BASE, base);
    }
    lapic_x2 = (base & APIC_BASE_X2APIC) != 0;
    lapic_mmio = (uintptr_t)(base & 0xfffff000ULL);
    lapic_write(LAPIC_SVR, lapic_read(LAPIC_SVR) | 0x100 | 0xff); /* enable, spurious 0xff */
}

void lapic_timer_oneshot(uint8_t vector, uint32_t count)
{
    lapic_write(LAPIC_TMR_DCR, 0x3); /* divide by 16 */
    lapic_write(LAPIC_LVT_TMR, vector); /* one-shot, unmasked */
    lapic_write(LAPIC_TMR_ICR, count);
}

void lapic_eoi(void)
{
    lapic_write(LAPIC_EOI, 0);
}
