/* Which exits of L2 belong to L1: the conditions under which each
 * instruction or event would cause a VM exit if vmcs12 ran on hardware
 * (SDM 26.1.2-26.2). */
#include "vmm/nested/nested.h"
#include "vmm/io.h"
#include "vmm/msr.h"
#include "vmm/vm.h"
#include "lib/string.h"
#include "arch/x86/cpu_bits.h"
#include "arch/x86/exit_reasons.h"
#include "arch/x86/vmx_bits.h"

#define CR0_LMSW_BITS  (CR0_PE | CR0_MP | CR0_EM | CR0_TS)
#define IO_PORT_LIMIT  0x10000U
#define BITMAP_BYTES   4096
#define VMX_BITMAP_INDEX_BITS 15 /* the VMREAD/VMWRITE bitmaps: encoding bits 14:0 */
#define BITS_PER_BYTE  8

/* A bitmap page L1 named: read only where it is L1's RAM; anywhere else
 * (nestvisor's memory, a device, beyond RAM) it reads as all ones, every
 * access exits, as nestvisor's merge of it does (bitmaps.c). Never L0's
 * memory through an address L1 chose. */
static const uint8_t *l1_bitmap(uint64_t pa)
{
    static uint8_t all_ones[BITMAP_BYTES]; /* every CPU stores the same bytes */
    const uint8_t *p = vm_l1_ram(pa, BITMAP_BYTES);
    if (p)
        return p;
    memset(all_ones, 0xff, sizeof(all_ones));
    return all_ones;
}

static bool has(uint64_t field, uint32_t bits) { return (field & bits) == bits; }

static uint32_t proc2_of(const struct vmcs12 *c)
{
    return has(VMCS12(c, CPU_BASED_VM_EXEC_CONTROL), PROC_SECONDARY_CONTROLS)
               ? (uint32_t)VMCS12(c, SECONDARY_VM_EXEC_CONTROL)
               : 0;
}

/* SDM ch. 31, VMREAD/VMWRITE in VMX non-root operation: an exit without
 * "VMCS shadowing", for an encoding with bits 63:15 set (31:15 outside
 * 64-bit mode: the caller truncates), or with its bit set in the bitmap. */
bool nested_vmcs_bitmap_exits(const struct vmcs12 *c, const uint8_t *bitmap, uint64_t encoding)
{
    if (!(proc2_of(c) & PROC2_VMCS_SHADOWING) || (encoding >> VMX_BITMAP_INDEX_BITS))
        return true;
    /* Index below 0x8000: within the page. No page: all ones. */
    return !bitmap || ((bitmap[encoding / BITS_PER_BYTE] >> (encoding % BITS_PER_BYTE)) & 1);
}

/* Exception bitmap, with the #PF error-code mask/match rule (SDM 26.2). */
static bool exception_wanted(const struct vmcs12 *c, const struct l2_exit *e)
{
    unsigned type = e->intr_info & INTR_INFO_TYPE_MASK;
    unsigned vector = e->intr_info & INTR_INFO_VECTOR_MASK;
    if (type == INTR_TYPE_NMI)
        return has(VMCS12(c, PIN_BASED_VM_EXEC_CONTROL), PIN_NMI_EXITING);
    bool bit = (VMCS12(c, EXCEPTION_BITMAP) >> vector) & 1;
    if (vector != VEC_PF)
        return bit;
    /* #PF: with the bit set, exit iff PFEC & mask == match; with it clear,
     * exit iff they differ (SDM 26.2). */
    bool match = (e->intr_error & VMCS12(c, PAGE_FAULT_ERROR_CODE_MASK)) ==
                 VMCS12(c, PAGE_FAULT_ERROR_CODE_MATCH);
    return bit == match;
}

static bool cr_access_wanted(const struct vmcs12 *c, const struct l2_exit *e)
{
    unsigned cr = CR_QUAL_NUMBER(e->qualification);
    uint64_t proc = VMCS12(c, CPU_BASED_VM_EXEC_CONTROL);
    uint64_t mask0 = VMCS12(c, CR0_GUEST_HOST_MASK), shadow0 = VMCS12(c, CR0_READ_SHADOW);
    switch (CR_QUAL_TYPE(e->qualification)) {
    case CR_ACCESS_MOV_TO_CR:
        if (cr == 0)
            return (e->cr_source ^ shadow0) & mask0;
        if (cr == 4)
            return (e->cr_source ^ VMCS12(c, CR4_READ_SHADOW)) & VMCS12(c, CR4_GUEST_HOST_MASK);
        if (cr == 8)
            return has(proc, PROC_CR8_LOAD_EXITING);
        if (cr == 3) {
            if (!has(proc, PROC_CR3_LOAD_EXITING))
                return false;
            /* Loads of one of the first CR3-target-count values do not exit. */
            for (uint64_t i = 0; i < VMCS12(c, CR3_TARGET_COUNT); i++)
                if (c->field[VMCS_IDX_CR3_TARGET_VALUE0 + i] == e->cr_source)
                    return false;
            return true;
        }
        return true;
    case CR_ACCESS_MOV_FROM_CR:
        if (cr == 3)
            return has(proc, PROC_CR3_STORE_EXITING);
        if (cr == 8)
            return has(proc, PROC_CR8_STORE_EXITING);
        return true;
    case CR_ACCESS_CLTS:
        return (mask0 & CR0_TS) && (shadow0 & CR0_TS);
    case CR_ACCESS_LMSW: {
        uint64_t src = CR_QUAL_LMSW_DATA(e->qualification) & CR0_LMSW_BITS;
        /* LMSW cannot clear PE: only setting an owned, clear PE exits. */
        if ((mask0 & CR0_PE) && !(shadow0 & CR0_PE) && (src & CR0_PE))
            return true;
        return ((src ^ shadow0) & mask0 & (CR0_MP | CR0_EM | CR0_TS)) != 0;
    }
    }
    return true;
}

/* I/O: unconditional, or any byte of the access set in L1's bitmaps; an
 * access wrapping past port 0xffff always exits (SDM 26.1.3). */
static bool io_wanted(const struct vmcs12 *c, const struct l2_exit *e)
{
    uint64_t proc = VMCS12(c, CPU_BASED_VM_EXEC_CONTROL);
    if (!has(proc, PROC_USE_IO_BITMAPS))
        return has(proc, PROC_UNCOND_IO_EXITING);
    unsigned port = IO_QUAL_PORT(e->qualification), size = IO_QUAL_SIZE(e->qualification);
    if (port + size > IO_PORT_LIMIT)
        return true;
    const uint8_t *a = l1_bitmap(VMCS12(c, IO_BITMAP_A));
    const uint8_t *b = l1_bitmap(VMCS12(c, IO_BITMAP_B));
    for (unsigned p = port; p < port + size; p++)
        if (io_bitmap_exits(a, b, (uint16_t)p))
            return true;
    return false;
}

static bool msr_wanted(const struct vmcs12 *c, const struct l2_exit *e, bool write)
{
    if (!has(VMCS12(c, CPU_BASED_VM_EXEC_CONTROL), PROC_USE_MSR_BITMAPS))
        return true;
    return msr_bitmap_exits(l1_bitmap(VMCS12(c, MSR_BITMAP)), e->msr, write);
}

bool nested_exit_wanted_by_l1(const struct vmcs12 *c, const struct l2_exit *e)
{
    uint64_t pin = VMCS12(c, PIN_BASED_VM_EXEC_CONTROL);
    uint64_t proc = VMCS12(c, CPU_BASED_VM_EXEC_CONTROL);
    uint32_t proc2 = proc2_of(c);
    switch (e->reason) {
    case EXIT_REASON_EXCEPTION_NMI: return exception_wanted(c, e);
    case EXIT_REASON_EXTERNAL_INTERRUPT: return has(pin, PIN_EXTINT_EXITING);
    case EXIT_REASON_INTERRUPT_WINDOW: return has(proc, PROC_INTR_WINDOW_EXITING);
    case EXIT_REASON_NMI_WINDOW: return has(proc, PROC_NMI_WINDOW_EXITING);
    case EXIT_REASON_HLT: return has(proc, PROC_HLT_EXITING);
    case EXIT_REASON_INVLPG: return has(proc, PROC_INVLPG_EXITING);
    case EXIT_REASON_RDPMC: return has(proc, PROC_RDPMC_EXITING);
    case EXIT_REASON_RDTSC: return has(proc, PROC_RDTSC_EXITING);
    case EXIT_REASON_RDTSCP:
        return has(proc, PROC_RDTSC_EXITING) && (proc2 & PROC2_ENABLE_RDTSCP);
    case EXIT_REASON_CR_ACCESS: return cr_access_wanted(c, e);
    case EXIT_REASON_DR_ACCESS: return has(proc, PROC_MOV_DR_EXITING);
    case EXIT_REASON_IO_INSTRUCTION: return io_wanted(c, e);
    case EXIT_REASON_MSR_READ: return msr_wanted(c, e, false);
    case EXIT_REASON_MSR_WRITE: return msr_wanted(c, e, true);
    case EXIT_REASON_MWAIT: return has(proc, PROC_MWAIT_EXITING);
    case EXIT_REASON_MONITOR: return has(proc, PROC_MONITOR_EXITING);
    /* PAUSE exits for PAUSE exiting, and for PAUSE-loop exiting (SDM 26.1.3). */
    case EXIT_REASON_PAUSE: return has(proc, PROC_PAUSE_EXITING) || (proc2 & PROC2_PAUSE_LOOP_EXITING);
    case EXIT_REASON_MONITOR_TRAP_FLAG: return has(proc, PROC_MONITOR_TRAP_FLAG);
    case EXIT_REASON_TPR_BELOW_THRESHOLD: return has(proc, PROC_TPR_SHADOW);
    case EXIT_REASON_GDTR_IDTR:
    case EXIT_REASON_LDTR_TR: return proc2 & PROC2_DESC_TABLE_EXITING;
    case EXIT_REASON_PREEMPTION_TIMER: return has(pin, PIN_PREEMPTION_TIMER);
    case EXIT_REASON_WBINVD: return proc2 & PROC2_WBINVD_EXITING;
    case EXIT_REASON_INVPCID:
        return has(proc, PROC_INVLPG_EXITING) && (proc2 & PROC2_ENABLE_INVPCID);
    case EXIT_REASON_RDRAND: return proc2 & PROC2_RDRAND_EXITING;
    case EXIT_REASON_RDSEED: return proc2 & PROC2_RDSEED_EXITING;
    /* With VMCS shadowing, by L1's VMREAD/VMWRITE bitmaps (ch. 31), read
     * where they are L1's RAM, all ones elsewhere (like the I/O and MSR
     * bitmaps). */
    case EXIT_REASON_VMREAD:
        return nested_vmcs_bitmap_exits(c, vm_l1_ram(VMCS12(c, VMREAD_BITMAP), BITMAP_BYTES), e->vmcs_encoding);
    case EXIT_REASON_VMWRITE:
        return nested_vmcs_bitmap_exits(c, vm_l1_ram(VMCS12(c, VMWRITE_BITMAP), BITMAP_BYTES), e->vmcs_encoding);
    /* L1 never offered EPT: violations of L2 are on EPT01, L0's own. */
    case EXIT_REASON_EPT_VIOLATION:
    case EXIT_REASON_EPT_MISCONFIG: return false;
    /* Unconditional in VMX non-root operation (SDM 26.1.2): CPUID, GETSEC,
     * INVD, XSETBV, VMX instructions, VMCALL, triple fault, INIT, SIPI,
     * task switches, and entry failures. */
    default: return true;
    }
}
