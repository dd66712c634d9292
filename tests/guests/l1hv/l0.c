/* What l1hv knows of nestvisor's own memory and how it watches it: the
 * hidden ranges (NV_HC_L0_MEMORY), the canary (NV_HC_CANARY), the sink that
 * stands in for all of them, and the witness every attack case reads
 * before and after its attack (l1hv.h, "nestvisor's memory"). */
#include "l1hv.h"

#define ALL_EXITS 0xffff
#define WITNESS_CPUIDS 3
#define GIB512 (1ULL << 39)

bool l1hv_sink_written;

static struct l0_view view;
static bool view_done, view_ok;

const struct l0_view *l0_view(void)
{
    if (view_done)
        return view_ok ? &view : NULL;
    view_done = true;
    if (!nv_present)
        return NULL;
    uint64_t base, size;
    while (view.n < L0_MAX_RANGES && nv_l0_memory(view.n, &base, &size)) {
        view.base[view.n] = base;
        view.end[view.n] = base + size;
        view.n++;
    }
    bool intact;
    if (!view.n || !nv_canary(&view.canary, &intact))
        return NULL;
    view.canary &= ~(uint64_t)(PAGE_SIZE - 1);
    for (unsigned i = 0; i < view.n; i++)
        if (view.canary >= view.base[i] && view.canary < view.end[i]) {
            view.range_base = view.base[i];
            view.range_end = view.end[i];
        }
    /* Another page of nestvisor's: in another range, else the far end of
     * the canary's. */
    for (unsigned i = 0; i < view.n && !view.other; i++)
        if (view.base[i] != view.range_base && view.end[i] - view.base[i] >= PAGE_SIZE)
            view.other = (view.base[i] + PAGE_SIZE - 1) & ~(uint64_t)(PAGE_SIZE - 1);
    if (!view.other) {
        uint64_t last = (view.range_end & ~(uint64_t)(PAGE_SIZE - 1)) - PAGE_SIZE;
        view.other = last != view.canary ? last : (view.range_base + PAGE_SIZE - 1) & ~(uint64_t)(PAGE_SIZE - 1);
    }
    view.top = (1ULL << caps.phys_bits) - PAGE_SIZE;
    view.above512 = GIB512 + PAGE_SIZE < view.top ? GIB512 + PAGE_SIZE : 0;
    view_ok = true;
    for (unsigned i = 0; i < view.n; i++)
        printf("l1hv: nestvisor memory %u: %#lx-%#lx\n", i, view.base[i], view.end[i] - 1);
    printf("l1hv: canary page %#lx, another nestvisor page %#lx, beyond RAM %#lx (MAXPHYADDR %u)\n",
           view.canary, view.other, view.top, caps.phys_bits);
    return &view;
}

bool l0_is_hidden(uint64_t pa)
{
    const struct l0_view *v = l0_view();
    if (!v)
        return false;
    for (unsigned i = 0; i < v->n; i++)
        if (pa >= v->base[i] && pa < v->end[i])
            return true;
    return pa >= v->top;
}

/* The sink through the canary's own address (below 4 GiB: identity). */
uint64_t sink_read(uint64_t off)
{
    const struct l0_view *v = l0_view();
    return *(volatile uint64_t *)(uintptr_t)(v->canary + (off & (PAGE_SIZE - 8)));
}

/* ... and written through the page beyond RAM. */
void sink_write(uint64_t off, uint64_t value)
{
    const struct l0_view *v = l0_view();
    *(volatile uint64_t *)phys_window(v->top + (off & (PAGE_SIZE - 8)), PHYS_SLOT_SINK) = value;
    l1hv_sink_written = true;
}

void sink_snapshot(uint64_t *qwords)
{
    for (unsigned i = 0; i < PAGE_SIZE / 8; i++)
        qwords[i] = sink_read(i * 8);
}

/* ---- the witness ---- */
static uint64_t exit_count(uint32_t reason)
{
    uint64_t n = 0;
    nv_exit_stats(reason, NV_LEVEL_L1, &n, NULL);
    return n;
}

void witness_begin(struct witness *w)
{
    memset(w, 0, sizeof *w);
    w->on = l0_view() != NULL;
    if (!w->on)
        return;
    bool intact = false;
    nv_canary(&w->canary, &intact);
    w->intact_before = intact;
    w->cpuid0 = exit_count(EXIT_CPUID);
    w->all0 = exit_count(ALL_EXITS);
}

bool witness_end(struct witness *w, const char *name)
{
    if (!w->on) {
        printf("l1hv: %s: no witness (nestvisor absent)\n", name);
        return true;
    }
    uint64_t canary = 0;
    bool intact = false, called = nv_canary(&canary, &intact);
    uint64_t c1 = exit_count(EXIT_CPUID);
    for (int i = 0; i < WITNESS_CPUIDS; i++)
        cpuid(0);
    uint64_t c2 = exit_count(EXIT_CPUID);
    uint64_t all1 = exit_count(ALL_EXITS);
    bool canary_ok = called && intact && w->intact_before && canary == w->canary;
    bool counters_ok = c1 >= w->cpuid0 && c2 == c1 + WITNESS_CPUIDS && all1 >= w->all0;
    if (canary_ok && counters_ok) {
        printf("l1hv: %s: contained (canary %#lx intact before and after; L0's count of L1 CPUID "
               "exits %lu -> %lu, +%lu for %d more; all L1 exits %lu -> %lu)\n",
               name, canary, w->cpuid0, c1, c2 - c1, WITNESS_CPUIDS, w->all0, all1);
        return true;
    }
    printf("l1hv: %s: ESCAPED: canary %#lx %s (before: %s); L0's CPUID exit count %lu -> %lu, "
           "then %lu after %d CPUIDs; all L1 exits %lu -> %lu\n",
           name, canary, !called ? "unreadable" : intact ? "intact" : "CORRUPTED",
           w->intact_before ? "intact" : "CORRUPTED", w->cpuid0, c1, c2, WITNESS_CPUIDS, w->all0,
           all1);
    return expect(false, "nestvisor's memory changed: canary %s, CPUID exit count %lu -> %lu -> %lu",
                  intact ? "intact" : "CORRUPTED", w->cpuid0, c1, c2);
}
