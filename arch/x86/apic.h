/* The local APIC's architectural interface (SDM Vol. 3A ch. 11 "Advanced
 * Programmable Interrupt Controller"): IA32_APIC_BASE, the xAPIC register
 * offsets and x2APIC MSRs nestvisor uses, and the interrupt command
 * register's fields (11.6.1, Figure 11-12; 11.12.9 for x2APIC). */
#ifndef ARCH_X86_APIC_H
#define ARCH_X86_APIC_H

/* IA32_APIC_BASE (11.4.4) */
#define APIC_BASE_X2APIC      (1ULL << 10)
#define APIC_BASE_ENABLE      (1ULL << 11)
#define APIC_BASE_ADDR_MASK   0x000ffffffffff000ULL
#define APIC_PAGE_SIZE        0x1000U

/* xAPIC registers, offsets in the APIC page (11.4.1, table 11-1): each
 * in a 16-byte slot; ISR, TMR and IRR are 8 slots of 32 bits each. */
#define XAPIC_REG_STRIDE      0x10U
#define XAPIC_ID              0x20
#define XAPIC_TPR             0x80
#define XAPIC_PPR             0xa0
#define XAPIC_EOI             0xb0
#define XAPIC_LDR             0xd0
#define XAPIC_DFR             0xe0
#define XAPIC_SVR             0xf0
#define XAPIC_ISR             0x100
#define XAPIC_IRR             0x200
#define XAPIC_ESR             0x280
#define XAPIC_ICR_LOW         0x300
#define XAPIC_ICR_HIGH        0x310
#define XAPIC_LVT_FIRST       0x320 /* timer, thermal, performance, LINT0, LINT1, error */
#define XAPIC_LVT_LAST        0x370
#define XAPIC_TIMER_INITIAL   0x380
#define XAPIC_TIMER_DIVIDE    0x3e0
#define XAPIC_ID_SHIFT        24
#define XAPIC_DEST_SHIFT      24 /* ICR_HIGH bits 31:24 */
#define XAPIC_BROADCAST       0xffU
#define XAPIC_REG_SIZE        4

/* x2APIC (11.12; its MSRs are in msr_index.h) */
#define X2APIC_BROADCAST      0xffffffffU
#define X2APIC_DEST_SHIFT     32
/* Reserved bits of the x2APIC ICR's low half (11.12.9): a WRMSR setting
 * one raises #GP (as KVM does; bit 12, delivery status, is ignored). */
#define X2APIC_ICR_RESERVED   0x00000000fff32000ULL
/* x2APIC logical IDs (11.12.10.2): cluster in 31:16, one bit per CPU. */
#define X2APIC_CLUSTER_SHIFT  16
#define X2APIC_CLUSTER_CPUS   16

/* ICR low dword */
#define ICR_VECTOR_MASK       0xffU
#define ICR_DELIVERY_SHIFT    8
#define ICR_DELIVERY_MASK     (7U << ICR_DELIVERY_SHIFT)
#define ICR_DELIVERY_FIXED    (0U << ICR_DELIVERY_SHIFT)
#define ICR_DELIVERY_NMI      (4U << ICR_DELIVERY_SHIFT)
#define ICR_DELIVERY_INIT     (5U << ICR_DELIVERY_SHIFT)
#define ICR_DELIVERY_SIPI     (6U << ICR_DELIVERY_SHIFT)
#define ICR_DEST_LOGICAL      (1U << 11)
#define ICR_PENDING           (1U << 12)
#define ICR_LEVEL_ASSERT      (1U << 14)
#define ICR_TRIGGER_LEVEL     (1U << 15)
#define ICR_SHORTHAND_SHIFT   18
#define ICR_SHORTHAND_MASK    (3U << ICR_SHORTHAND_SHIFT)
#define ICR_SHORTHAND_NONE    (0U << ICR_SHORTHAND_SHIFT)
#define ICR_SHORTHAND_SELF    (1U << ICR_SHORTHAND_SHIFT)
#define ICR_SHORTHAND_ALL     (2U << ICR_SHORTHAND_SHIFT)
#define ICR_SHORTHAND_OTHERS  (3U << ICR_SHORTHAND_SHIFT)

#endif
