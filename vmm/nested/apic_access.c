/* L2's stores into its APIC-access page that reach L0 instead of the CPU's
 * APIC virtualization (SDM 30.4). L1 may put that page on its own xAPIC
 * page, which L0 keeps read-only in EPT01 while it watches L1's INIT and
 * SIPI (vmm/ipi.c). An APIC-access VM exit ranks below any EPT violation
 * (30.4.1), so the CPU reports the EPT violation to L0 and never looks at
 * the APIC-access page: L0 does what it would have done. That is the
 * APIC-access VM exit, or the write into the virtual-APIC page followed by
 * APIC-write emulation (30.4.3.1, 30.4.3.2). The evaluation of pending
 * virtual interrupts that follows is left to the VM entry that resumes L2
 * (27.3.2.5: VM entry performs PPR virtualization and that evaluation). */
#include "vmm/nested/nested.h"
#include "vmm/store.h"
#include "vmm/vcpu.h"
#include "arch/x86/apic.h"
#include "arch/x86/exit_reasons.h"
#include "arch/x86/physmem.h"
#include "arch/x86/vmx.h"
#include "arch/x86/vmx_bits.h"

/* Exit qualification of an APIC-access VM exit (SDM 28.2.1, table 28-6). */
#define APIC_ACCESS_OFFSET_MASK     0xfffU
#define APIC_ACCESS_TYPE_SHIFT      12
#define APIC_ACCESS_LINEAR_WRITE    1U
#define APIC_ACCESS_EVENT_DELIVERY  3U

/* Guest interrupt status (SDM 25.4.2): RVI in bits 7:0, SVI in 15:8. */
#define INTR_STATUS_SVI_SHIFT       8
#define INTR_STATUS_BYTE            0xffU

/* The self-IPI virtualization test on VICR_LO (30.4.3.2): reserved bits
 * 31:20, 17:16 and 13, trigger mode (15) and delivery mode (10:8) all 0,
 * the shorthand "self", a vector of 16 or more. */
#define SELF_IPI_ZERO_BITS          0xfff3b700U
#define VECTOR_CLASS_MASK           0xf0U

static uint32_t proc2_of(const struct vmcs12 *c)
{
    return (VMCS12(c, CPU_BASED_VM_EXEC_CONTROL) & PROC_SECONDARY_CONTROLS)
               ? (uint32_t)VMCS12(c, SECONDARY_VM_EXEC_CONTROL)
               : 0;
}

bool nested_is_apic_access_page(const struct vcpu *v, uint64_t l1_gpa)
{
    if (!v->in_l2 || !v->nested)
        return false;
    const struct vmcs12 *c = v->nested->cache;
    return (proc2_of(c) & PROC2_VIRT_APIC_ACCESS) &&
           (l1_gpa & ~(uint64_t)(APIC_PAGE_SIZE - 1)) == (VMCS12(c, APIC_ACCESS_ADDR) & ~(uint64_t)(APIC_PAGE_SIZE - 1));
}

/* Registers whose writes "APIC-register virtualization" virtualizes
 * (30.4.3.1), by their 16-byte slot. */
static bool register_virtualized(unsigned reg)
{
    switch (reg) {
    case XAPIC_ID: case XAPIC_TPR: case XAPIC_EOI: case XAPIC_LDR: case XAPIC_DFR:
    case XAPIC_SVR: case XAPIC_ESR: case XAPIC_ICR_LOW: case XAPIC_ICR_HIGH:
    case XAPIC_TIMER_INITIAL: case XAPIC_TIMER_DIVIDE:
        return true;
    default:
        return reg >= XAPIC_LVT_FIRST && reg <= XAPIC_LVT_LAST;
    }
}

/* SDM 30.4.3.1: whether a write of `size` bytes at `offset` is virtualized;
 * else it is an APIC-access VM exit. */
static bool write_virtualized(uint32_t proc, uint32_t proc2, unsigned offset, unsigned size)
{
    unsigned reg = offset & ~(XAPIC_REG_STRIDE - 1);
    if (!(proc & PROC_TPR_SHADOW) || (offset & (XAPIC_REG_STRIDE - 1)) + size > XAPIC_REG_SIZE)
        return false;
    if (proc2 & PROC2_APIC_REG_VIRT)
        return register_virtualized(reg);
    if (offset == XAPIC_TPR)
        return true;
    return (proc2 & PROC2_VIRT_INTR_DELIVERY) && (offset == XAPIC_EOI || offset == XAPIC_ICR_LOW);
}

static volatile uint32_t *vapic_reg(uint8_t *vapic, unsigned reg)
{
    return (volatile uint32_t *)(vapic + reg);
}

/* Bit `vector` of VISR or VIRR (30.1.1): 32 bits in each 16-byte slot. */
static void vector_set(uint8_t *vapic, unsigned base, unsigned vector, bool on)
{
    volatile uint32_t *r = vapic_reg(vapic, base + (vector / 32) * XAPIC_REG_STRIDE);
    uint32_t bit = 1U << (vector % 32);
    *r = on ? (*r | bit) : (*r & ~bit);
}

static unsigned highest_vector(uint8_t *vapic, unsigned base)
{
    for (int i = 7; i >= 0; i--) {
        uint32_t r = *vapic_reg(vapic, base + (unsigned)i * XAPIC_REG_STRIDE);
        if (r)
            return (unsigned)i * 32 + 31 - (unsigned)__builtin_clz(r);
    }
    return 0;
}

/* 30.1.3 */
static void ppr_virtualization(uint8_t *vapic, unsigned svi)
{
    uint32_t vtpr = *vapic_reg(vapic, XAPIC_TPR) & INTR_STATUS_BYTE;
    *vapic_reg(vapic, XAPIC_PPR) = (vtpr & VECTOR_CLASS_MASK) >= (svi & VECTOR_CLASS_MASK) ? vtpr : (svi & VECTOR_CLASS_MASK);
}

static bool eoi_exit_wanted(const struct vmcs12 *c, unsigned vector)
{
    static const unsigned idx[4] = {VMCS_IDX_EOI_EXIT_BITMAP0, VMCS_IDX_EOI_EXIT_BITMAP1,
                                    VMCS_IDX_EOI_EXIT_BITMAP2, VMCS_IDX_EOI_EXIT_BITMAP3};
    return c->field[idx[vector / 64]] >> (vector % 64) & 1;
}

/* APIC-write emulation (30.4.3.2) after the instruction completed: the
 * trap-like VM exit to L1 it calls for, if any (0: none). */
static uint32_t apic_write_emulation(struct vcpu *v, uint8_t *vapic, unsigned offset, uint64_t *qualification)
{
    const struct vmcs12 *c = v->nested->cache;
    bool vid = proc2_of(c) & PROC2_VIRT_INTR_DELIVERY;
    unsigned reg = offset & ~(XAPIC_REG_STRIDE - 1);
    uint64_t status = vmcs_read(VMCS_GUEST_INTR_STATUS);
    unsigned rvi = status & INTR_STATUS_BYTE, svi = (status >> INTR_STATUS_SVI_SHIFT) & INTR_STATUS_BYTE;
    *qualification = offset;
    switch (reg) {
    case XAPIC_TPR: /* TPR virtualization (30.1.2) */
        *vapic_reg(vapic, XAPIC_TPR) &= INTR_STATUS_BYTE;
        if (vid) {
            ppr_virtualization(vapic, svi);
            return 0;
        }
        *qualification = 0;
        return ((*vapic_reg(vapic, XAPIC_TPR) & VECTOR_CLASS_MASK) >> 4) < (VMCS12(c, TPR_THRESHOLD) & 0xf)
                   ? EXIT_REASON_TPR_BELOW_THRESHOLD
                   : 0;
    case XAPIC_EOI: /* EOI virtualization (30.1.4) */
        if (!vid)
            return EXIT_REASON_APIC_WRITE;
        vector_set(vapic, XAPIC_ISR, svi, false);
        unsigned vector = svi;
        svi = highest_vector(vapic, XAPIC_ISR);
        vmcs_write(VMCS_GUEST_INTR_STATUS, rvi | svi << INTR_STATUS_SVI_SHIFT);
        ppr_virtualization(vapic, svi);
        *qualification = vector;
        return eoi_exit_wanted(c, vector) ? EXIT_REASON_EOI_INDUCED : 0;
    case XAPIC_ICR_LOW: { /* self-IPI virtualization (30.1.5) */
        uint32_t icr = *vapic_reg(vapic, XAPIC_ICR_LOW);
        unsigned vec = icr & ICR_VECTOR_MASK;
        if (!vid || (icr & SELF_IPI_ZERO_BITS) || (icr & ICR_SHORTHAND_MASK) != ICR_SHORTHAND_SELF ||
            !(vec & VECTOR_CLASS_MASK))
            return EXIT_REASON_APIC_WRITE;
        vector_set(vapic, XAPIC_IRR, vec, true);
        if (vec > rvi)
            vmcs_write(VMCS_GUEST_INTR_STATUS, vec | svi << INTR_STATUS_SVI_SHIFT);
        return 0;
    }
    case XAPIC_ICR_HIGH: /* bytes 2:0 cleared, nothing else */
        *vapic_reg(vapic, XAPIC_ICR_HIGH) &= ~((1U << XAPIC_DEST_SHIFT) - 1);
        return 0;
    default:
        return EXIT_REASON_APIC_WRITE;
    }
}

bool nested_apic_access_write(struct vcpu *v, uint64_t l1_gpa)
{
    const struct vmcs12 *c = v->nested->cache;
    unsigned offset = (unsigned)(l1_gpa & APIC_ACCESS_OFFSET_MASK);
    uint32_t proc = (uint32_t)VMCS12(c, CPU_BASED_VM_EXEC_CONTROL), proc2 = proc2_of(c);
    /* A write while delivering an event (to the stack, say) is never
     * virtualized (30.4.2, 30.4.3.1 cover instruction execution only). */
    if (vmcs_read32(VMCS_IDT_VECTORING_INFO_FIELD) & INTR_INFO_VALID) {
        nested_vmexit(v, EXIT_REASON_APIC_ACCESS, offset | APIC_ACCESS_EVENT_DELIVERY << APIC_ACCESS_TYPE_SHIFT);
        return true;
    }
    struct guest_store st;
    const char *why;
    /* A write no size could make virtualized needs no decoding. */
    if (!write_virtualized(proc, proc2, offset, 1)) {
        nested_vmexit(v, EXIT_REASON_APIC_ACCESS, offset | APIC_ACCESS_LINEAR_WRITE << APIC_ACCESS_TYPE_SHIFT);
        return true;
    }
    if (!store_decode(v, &st, &why))
        return false; /* ipi.c stops L1 with the reason */
    if (!write_virtualized(proc, proc2, offset, st.insn.size)) {
        nested_vmexit(v, EXIT_REASON_APIC_ACCESS, offset | APIC_ACCESS_LINEAR_WRITE << APIC_ACCESS_TYPE_SHIFT);
        return true;
    }
    /* The CPU's own virtual-APIC page for L2 (vmcs02: L1's page, or the
     * scratch page where L1 named no RAM). */
    uint8_t *vapic = phys_to_virt(vmcs_read(VMCS_VIRTUAL_APIC_PAGE_ADDR));
    uint64_t old;
    store_apply(vapic + offset, &st, &old);
    store_complete(v, &st, old);
    uint64_t qualification;
    uint32_t reason = apic_write_emulation(v, vapic, offset, &qualification);
    if (reason)
        nested_vmexit_signal(v, reason, qualification);
    return true;
}
