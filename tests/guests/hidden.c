/* hidden: what L1 sees where nestvisor keeps its own memory and beyond
 * RAM. Under the default policy (hidden=discard) EPT01 maps every page of
 * nestvisor's memory (kernel, pool, boot modules: "reserved" in L1's
 * memory map; NV_HC_L0_MEMORY names them) and every address beyond EPT01's
 * identity map onto ONE sink page: an access completes without an exit,
 * reads give 0xff until something is written, then whatever was last
 * written at that offset of ANY hidden page, and nothing reaches
 * nestvisor's memory. Under hidden=stop the first access stops L1.
 *
 * The checks, in order (the first access is a read, so hidden=stop stops
 * L1 before anything passes):
 *   first_read  every qword of the canary page, of a page of another
 *               nestvisor range and of (1 << MAXPHYADDR) - 4 KiB reads all
 *               ones before anything was written there;
 *   one_sink    a write at the canary page is read back at the same offset
 *               of the other hidden page and beyond RAM, a write beyond
 *               RAM at the canary page; other offsets stay all ones: one
 *               page stands in for all of them, not nestvisor's memory;
 *   canary      NV_HC_CANARY, nestvisor's own check of that page, says
 *               the pattern is intact after the writes aimed at it;
 *   range_ends  the first and last qword of every nestvisor range read
 *               what the sink holds at those offsets;
 *   apic_base_onto_hidden_gp  IA32_APIC_BASE may not move onto it;
 *   still_running.
 * Without nestvisor there is nothing to find: SKIP. Option hidden_addr=ADDR
 * adds an address that must behave like the sink too (e.g. one beyond RAM
 * below EPT01's reach). */
#include "guest.h"

const char guest_name[] = "hidden";

#define MAX_RANGES 8
#define PAGE       4096ULL
#define ALL_ONES   (~0ULL)
#define P1         ((uint64_t)0x5a5aa5a5c3c33c3cULL)
#define P2         ((uint64_t)0x0123456789abcdefULL)
#define OFF1       0x238
#define OFF2       0x5c8
#define OFF_UNTOUCHED 0x840

/* Window slots (guest.h phys_window) of the pages probed. */
enum { SLOT_A, SLOT_B, SLOT_TOP, SLOT_EXTRA, SLOT_RANGE };

struct range {
    uint64_t base, end;
};

static volatile uint64_t *qword(uint64_t pa, unsigned slot)
{
    return (volatile uint64_t *)phys_ptr(pa, slot);
}

/* Qwords of the page at pa that are not all ones. */
static unsigned not_ones(uint64_t pa, unsigned slot, uint64_t *first_off, uint64_t *first_val)
{
    volatile uint64_t *p = qword(pa, slot);
    unsigned n = 0;
    for (unsigned i = 0; i < PAGE / 8; i++) {
        uint64_t v = p[i];
        if (v != ALL_ONES && !n++) {
            *first_off = i * 8;
            *first_val = v;
        }
    }
    return n;
}

static void first_read(const char *what, uint64_t pa, unsigned slot, bool *ok)
{
    uint64_t off = 0, val = 0;
    printf("hidden: trying a read of every qword of %s page %#lx\n", what, pa);
    console_flush();
    unsigned n = not_ones(pa, slot, &off, &val);
    printf("hidden: %s page %#lx: %u of 512 qwords not all ones%s\n", what, pa, n,
           n ? "" : " (all ones)");
    if (n) {
        fail("first_read", "%s page %#lx: %u qwords are not all ones before any write, "
             "first at offset %#lx: %#lx", what, pa, n, off, val);
        *ok = false;
    }
}

static bool expect_q(const char *name, const char *what, uint64_t pa, unsigned slot, uint64_t want)
{
    uint64_t got = *qword(pa, slot);
    printf("hidden:   %s %#lx reads %#lx (want %#lx)\n", what, pa, got, want);
    if (got == want)
        return true;
    fail(name, "%s %#lx read %#lx, want %#lx", what, pa, got, want);
    return false;
}

/* IA32_APIC_BASE may not move the APIC onto nestvisor's memory. */
static void apic_onto_hidden(uint64_t hidden)
{
    uint64_t orig;
    if (rdmsr_safe(MSR_APIC_BASE, &orig) != NO_FAULT) {
        fail("apic_base_onto_hidden_gp", "cannot read IA32_APIC_BASE");
        return;
    }
    int f = wrmsr_safe(MSR_APIC_BASE, orig); /* same value: allowed */
    check(f == NO_FAULT, "apic_base_rewrite", "rewriting IA32_APIC_BASE %#lx: %s", orig,
          vector_name(f));
    uint64_t moved = (orig & 0xfffULL) | (hidden & ~0xfffULL);
    f = wrmsr_safe(MSR_APIC_BASE, moved);
    if (f == NO_FAULT)
        wrmsr(MSR_APIC_BASE, orig);
    check(f == VEC_GP, "apic_base_onto_hidden_gp", "moving the APIC base to %#lx: %s",
          moved & ~(uint64_t)0xfff, vector_name(f));
}

static unsigned phys_bits(void)
{
    if (cpuid(0x80000000).eax >= 0x80000008)
        return cpuid(0x80000008).eax & 0xff;
    return 36;
}

void guest_main(uint32_t magic, uint32_t info)
{
    (void)magic, (void)info;
    boot_print_mmap();
    if (!nv_present) {
        skip("sink", "nestvisor absent: no hidden memory");
        return;
    }
    struct range r[MAX_RANGES];
    unsigned n = 0;
    uint64_t base, size;
    while (n < MAX_RANGES && nv_l0_memory(n, &base, &size)) {
        r[n] = (struct range){base, base + size};
        printf("hidden: nestvisor range %u: %#lx-%#lx (NV_HC_L0_MEMORY)\n", n, base,
               base + size - 1);
        n++;
    }
    uint64_t canary;
    bool intact;
    if (!n || !nv_canary(&canary, &intact)) {
        fail("sink", "NV_HC_L0_MEMORY gave %u ranges; NV_HC_CANARY %s", n,
             n ? "failed" : "not tried");
        return;
    }
    printf("hidden: canary at %#lx, %s before the test\n", canary, intact ? "intact" : "CORRUPTED");
    /* Page B: in another nestvisor range than the canary, else the other
     * end of the canary's range. */
    uint64_t a = canary & ~(PAGE - 1), b = 0;
    for (unsigned i = 0; i < n && !b; i++)
        if (!(a >= r[i].base && a < r[i].end) && r[i].end - r[i].base >= PAGE)
            b = (r[i].base + PAGE - 1) & ~(PAGE - 1);
    for (unsigned i = 0; i < n && !b; i++)
        if (a >= r[i].base && a < r[i].end)
            b = ((r[i].end & ~(PAGE - 1)) - PAGE != a) ? (r[i].end & ~(PAGE - 1)) - PAGE
                                                        : r[i].base & ~(PAGE - 1);
    unsigned bits = phys_bits();
    uint64_t top = (1ULL << bits) - PAGE;
    const char *opt = cmdline_get("hidden_addr");
    uint64_t extra = opt && *opt ? strtou64(opt, NULL) & ~(PAGE - 1) : 0;
    printf("hidden: page A %#lx (the canary's), page B %#lx, beyond RAM %#lx "
           "((1 << MAXPHYADDR %u) - 4 KiB)%s\n", a, b, top, bits, extra ? ", hidden_addr" : "");

    /* ---- reads before any write ---- */
    bool ok = true;
    first_read("canary (A)", a, SLOT_A, &ok);
    first_read("nestvisor (B)", b, SLOT_B, &ok);
    first_read("beyond-RAM", top, SLOT_TOP, &ok);
    if (extra)
        first_read("hidden_addr", extra, SLOT_EXTRA, &ok);
    if (ok)
        pass("first_read");

    /* ---- one sink: a write anywhere is seen at the same offset everywhere ---- */
    printf("hidden: writing %#lx at A + %#x (the canary page)\n", P1, OFF1);
    *qword(a + OFF1, SLOT_A) = P1;
    ok = expect_q("one_sink", "A + OFF1", a + OFF1, SLOT_A, P1);
    ok &= expect_q("one_sink", "B + OFF1", b + OFF1, SLOT_B, P1);
    ok &= expect_q("one_sink", "beyond RAM + OFF1", top + OFF1, SLOT_TOP, P1);
    if (extra)
        ok &= expect_q("one_sink", "hidden_addr + OFF1", extra + OFF1, SLOT_EXTRA, P1);
    ok &= expect_q("one_sink", "A + untouched offset", a + OFF_UNTOUCHED, SLOT_A, ALL_ONES);
    printf("hidden: writing %#lx at beyond RAM + %#x\n", P2, OFF2);
    *qword(top + OFF2, SLOT_TOP) = P2;
    ok &= expect_q("one_sink", "A + OFF2", a + OFF2, SLOT_A, P2);
    ok &= expect_q("one_sink", "B + OFF2", b + OFF2, SLOT_B, P2);
    if (ok)
        pass("one_sink");

    /* ---- nestvisor's own witness ---- */
    uint64_t canary2;
    bool intact2 = false;
    bool got = nv_canary(&canary2, &intact2);
    printf("hidden: NV_HC_CANARY after the writes: %s\n",
           !got ? "failed" : intact2 ? "intact" : "CORRUPTED");
    check(got && intact2 && canary2 == canary, "canary",
          "NV_HC_CANARY after writing the canary page: %s (at %#lx)",
          !got ? "call failed" : intact2 ? "intact" : "CORRUPTED", canary2);

    /* ---- every range's ends read the sink ---- */
    ok = true;
    for (unsigned i = 0; i < n; i++) {
        uint64_t first = r[i].base & ~7ULL, last = (r[i].end - 8) & ~7ULL;
        uint64_t want_first = (first & (PAGE - 1)) == OFF1 ? P1 : (first & (PAGE - 1)) == OFF2 ? P2 : ALL_ONES;
        uint64_t want_last = (last & (PAGE - 1)) == OFF1 ? P1 : (last & (PAGE - 1)) == OFF2 ? P2 : ALL_ONES;
        ok &= expect_q("range_ends", "first qword of a range", first, SLOT_RANGE, want_first);
        ok &= expect_q("range_ends", "last qword of a range", last, SLOT_RANGE + 1, want_last);
    }
    if (ok)
        pass("range_ends");

    apic_onto_hidden(r[0].base);
    pass("still_running");
}
