/* Bitmaps that change while L2 runs (issue 13: an L1 mapped its own I/O
 * bitmap into L2, L2 set bits and did IN/OUT with no exit in between, and
 * only 2 of 8 I/O exits reached L1). The CPU consults the I/O and MSR
 * bitmaps at each access (SDM 26.1.3: "the logical processor uses the I/O
 * bitmaps ... to determine whether the instruction causes a VM exit"), so
 * a bit L2 sets takes effect at its very next IN or RDMSR. L2 changes the
 * bits here itself with LOCK BTS/BTR, the way guests set bits; L2's page
 * tables map L1's memory 1:1, so it reaches L1's bitmap pages. Runs for a
 * port in bitmap A and one in bitmap B (the high part), and under an EPT12
 * where L1 offers EPT. */
#include "l1hv.h"

static struct vcpu *const V = &vcpus[0];

#define LIVE_PORT_A  (0x3f8 + 7)  /* the UART scratch register: harmless */
#define LIVE_PORT_B  0x9abcu      /* bitmap B; nothing there reads 0xff */
#define LIVE_MSR     0x174u       /* IA32_SYSENTER_CS: L2 reads its own */
#define LIVE_SYSENTER_CS 0x5a5aULL
#define DWORD_BITS   32u
#define DWORD_BYTES  4u
#define IN_DWORD_SPAN 3u          /* IN EAX from port - 3 covers port - 3 .. port */

static uint64_t qual(void) { return vmr(VMCS_EXIT_QUALIFICATION); }

static bool io_exit(const char *what, unsigned size, bool in, uint16_t port)
{
    if (!run_expect(V, EXIT_IO_INSTRUCTION, what))
        return false;
    uint64_t q = qual();
    bool ok = expect(QUAL_IO_SIZE(q) == size && !!(q & QUAL_IO_IN) == in && QUAL_IO_PORT(q) == port,
                     "%s: qualification %#lx, want size %u %s port %#x", what, q, size, in ? "IN" : "OUT",
                     port);
    vcpu_skip_instruction();
    return ok;
}

/* One run of l2_bitmap_live for `port`, with L2 under an identity EPT12
 * or not (the store then reaches L0 through the shadow EPT); true if every
 * exit came. */
static bool live_round(uint16_t port, bool with_ept)
{
    uint8_t *page = port < IO_BITMAP_B_FIRST_PORT ? io_bitmap_a : io_bitmap_b;
    unsigned bit = port % IO_BITMAP_B_FIRST_PORT;
    memset(io_bitmap_a, 0, PAGE_SIZE);
    memset(io_bitmap_b, 0, PAGE_SIZE);
    memset(msr_bitmap, 0, PAGE_SIZE);
    struct ept e;
    if (with_ept) {
        ept_pool_reset();
        if (!ept_init(&e, 0) || !ept_identity(&e) || !ept_vcpu_setup(V, l2_bitmap_live, &e))
            return false;
    } else if (!vcpu_setup(V, l2_bitmap_live)) {
        return false;
    }
    vmcs_clear_bits(VMCS_PROC_CONTROLS, PROC_UNCOND_IO_EXITING);
    vmcs_set_bits(VMCS_PROC_CONTROLS, PROC_USE_IO_BITMAPS | PROC_USE_MSR_BITMAPS);
    vmw(VMCS_GUEST_SYSENTER_CS, LIVE_SYSENTER_CS);
    V->regs.rdi = (uintptr_t)&page[bit / DWORD_BITS * DWORD_BYTES];
    V->regs.rsi = bit % DWORD_BITS;
    V->regs.rdx = port;
    V->regs.rbx = (uintptr_t)&msr_bitmap[MSR_BITMAP_READ_LOW + LIVE_MSR / DWORD_BITS * DWORD_BYTES];
    V->regs.r10 = LIVE_MSR % DWORD_BITS;
    V->regs.rcx = LIVE_MSR;
    char what[80];
    snprintf(what, sizeof what, "port %#x: IN AL after L2 set its bit", port);
    if (!io_exit(what, 1, true, port))
        return false;
    snprintf(what, sizeof what, "port %#x: OUT after L2 set its bit", port);
    if (!io_exit(what, 1, false, port))
        return false;
    snprintf(what, sizeof what, "port %#x: IN EAX from %#x (only the last port's bit set)", port,
             port - IN_DWORD_SPAN);
    if (!io_exit(what, 4, true, (uint16_t)(port - IN_DWORD_SPAN)))
        return false;
    if (!run_expect(V, EXIT_RDMSR, "RDMSR after L2 set the MSR's bit"))
        return false;
    expect((uint32_t)V->regs.rcx == LIVE_MSR, "RDMSR exit for MSR %#lx, want %#x", V->regs.rcx, LIVE_MSR);
    vcpu_skip_instruction();
    /* L2 cleared both bits again: the rest runs without an exit. */
    if (!run_expect(V, EXIT_VMCALL, "the end, after L2 cleared the bits (no more exits)"))
        return false;
    expect((uint32_t)V->regs.r9 == LIVE_SYSENTER_CS, "L2's RDMSR after clearing read %#lx, want %#llx",
           V->regs.r9, LIVE_SYSENTER_CS);
    bool clear = !(page[bit / 8] & (1u << (bit % 8)));
    return expect(clear, "port %#x: L2's BTR did not clear the bit in L1's page", port);
}

void case_bitmap_live(void)
{
    if (!cap_proc(PROC_USE_IO_BITMAPS) || !cap_proc(PROC_USE_MSR_BITMAPS)) {
        case_skip("I/O or MSR bitmaps not offered");
        return;
    }
    if (!live_round(LIVE_PORT_A, false) || !live_round(LIVE_PORT_B, false))
        return;
    if (cap_proc2(PROC2_EPT) && ept_offered())
        live_round(LIVE_PORT_A, true);
}
