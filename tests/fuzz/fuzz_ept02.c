/* libFuzzer target for the shadow EPT state machine (vmm/nested/ept02.c)
 * and what it stands on: EPT01 with the sink (vmm/ept01.c, vmm/ept.c), the
 * EPT12 walker (vmm/nested/ept12.c) and the bitmap write protection
 * (vmm/nested/bitmaps.c). L1 is the adversary: its EPT12 lives in its own
 * memory and the input writes it freely (any bits, tables pointing at
 * themselves, cycles, huge pages, reserved bits, A/D), then drives random
 * sequences of L2 accesses, reflected exits and VM entries (with the
 * prefault), INVEPTs, EPTP switches across more EPTP12s than the 8 cached
 * roots, EPT02 pool pressure, and MSR/I/O bitmap merges whose EPT01 write
 * protection drops every shadow.
 *
 * The machine (a 64 MiB fake; L1-physical = host-physical, as nestvisor):
 *   L1 RAM       0-0x9f000, 1-2 MiB, 4-28 MiB (EPT12 tables at 8 MiB, data
 *                pages at 12 MiB), ACPI 28 MiB + 128 KiB, 31-32 MiB
 *   devices      0x9f000 (reserved), 0xa0000-1 MiB (hole), 0x1c20000-30 MiB,
 *                everything from 64 MiB to EPT01's extent
 *   nestvisor    kernel 2-4 MiB, a boot module 30-31 MiB, the pool 32-64 MiB
 *                (the pmm: EPT01 and sink tables, the sink page, the EPT02
 *                pool, the canary, the bitmaps)
 * EPT01 is built as vm_create builds it: ept01_build over [0, extent) with
 * the sink (hidden=discard) or without (hidden=stop), then the sink over
 * [extent, MAXPHYADDR). The first two input bytes choose the host (1 GiB
 * pages or 2 MiB only, EPT A/D, execute-only, MAXPHYADDR 36/39/46/52,
 * hidden=stop, MTRRs on), what L1 is offered, and the starting EPT12.
 *
 * Two vCPUs, as vmm/ has them since the SMP rework: each with its own
 * struct ept02 (shadows and pool; INVEPT drops only the executing CPU's),
 * bitmap cache, merged bitmaps, vmcs02 and L2; one EPT01, one registry of
 * protected bitmap pages. smp.c is not linked: smp_invept01_everywhere is
 * played here as smp.c does it (each CPU flushes, a CPU in L2 at its nudge
 * exit, then resumes L2).
 *
 * The input: byte 0 the host (bit 0 1 GiB pages, 1 EPT A/D, 2 execute-only,
 * 4:3 MAXPHYADDR 36/39/46/52, 5 hidden=stop, 6 MTRRs: UC, WB 0-32 MiB, WT
 * 24-28 MiB, 7 the smallest pools, 64 and 128 pages), byte 1 the offer to
 * L1 (bit 0 execute-only, 1 no 2 MiB, 2 no 1 GiB, 3 no A/D, 4 no UC EPTP)
 * and the starting EPT12 (bits 7:5: 7 empty,
 * else 16 tables at 8 MiB with PML4/PDPT/PD/PT chains, leaves to data pages,
 * to the kernel, the EPT02 pool, devices, beyond the extent, L1's own EPT12,
 * two PML4s in a cycle; bit 5 A/D set, 6 read-only data, 7 every PDPTE/PDE
 * leading on). Then up to 256 operations, one byte each (low 4 bits; bit 4
 * the vCPU it runs on) and its operands: 0-2 L2 access (a guest-physical
 * address from hot indices 0-5, 256, 511 per level or 48 raw bits;
 * read/write/fetch; qualification
 * bits), 3 an L2 sweep (up to 2017 pages at a 4 KiB/2 MiB/1 GiB/512 GiB
 * stride), 4 VMPTRLD+VMRESUME of one of 3 vmcs12s (with or without the
 * prefault), 5/6/13 an EPT12 edit (a table pointer, a 4 KiB/2 MiB/1 GiB leaf
 * to one of 16 kinds of L1 address, raw bits, a bit flip, a copy, a whole
 * table of pointers or of consecutive leaves, a cleared table; reserved,
 * ignored and A/D bits from the input), 7 an L1 store (data, a bitmap
 * page, a table), 8 INVEPT single (14 EPTP12s, low bits varied) or all, 9
 * VMWRITE of the EPT pointer, 10 of a bitmap address (an EPT12 table page,
 * data, low RAM, ACPI), 11 an EPT02 misconfiguration exit (flush + new
 * EPTP) or nested_bitmaps_reset, 12 rapid EPTP switches with one access
 * each, 14/15 an L2 store of 8 raw bytes. FUZZ_EPT02_TRACE=1 prints what
 * each step did.
 *
 * The simulated CPU runs L2 on the EPTP that vmcs02 holds, walking the
 * EPT02 tables itself (setting their A/D flags when the EPTP asks): an
 * access the tables allow is performed (a write stores 8 bytes at the host
 * address), one they do not is an EPT violation handed to
 * ept02_handle_violation; a fill is followed by ept02_eptp_for and the
 * retried access, as vmm/nested/nested.c does; a reflected violation lets
 * L1 run, and its next VM entry merges the bitmaps, loads
 * ept02_eptp_for(&C->e2, EPTP12) and prefaults (vmm/nested/entry.c, vmcs02.c).
 *
 * Checked after every step, by walking every live EPT02 root and EPT01 with
 * this file's own walkers (never the code under test's):
 *   - every EPT02 leaf maps L1 RAM, L1's device space or the sink page:
 *     never the kernel, the boot module, the pmm pool, the EPT02 pool, the
 *     sink's tables; EPT01 maps the same host range to L1 as the identity
 *     with at least the permissions EPT02 grants, and a device (non-WB)
 *     type stays UC-or-less with ignore-PAT;
 *   - every EPT02 table pointer leads to a page of its vCPU's EPT02 pool
 *     that the pool has handed out to that very root (a freed table is a finding:
 *     the issue-10 bug class), each page once (no sharing, no cycle), and
 *     the pages a root reaches are exactly its table_pages; entries are
 *     well-formed (no reserved bits, no write-without-read, no large page
 *     the host lacks);
 *   - where EPT12 has not been written on the path since the root was
 *     created, each EPT02 leaf agrees with a reference walk of EPT12
 *     (mirrored from tests/unit/test_ept12_model.c) composed with EPT01:
 *     same host address, no larger page, no permission beyond EPT12 AND
 *     EPT01 (and no write before EPT12's dirty flag with A/D), the memory
 *     type of the composition rule;
 *   - vmcs02's EPTP, whenever L2 runs on a vCPU, is the live shadow (of that
 *     vCPU) of the EPTP12 L2 runs on, and every EPT02 root the vCPU dropped
 *     since has had its INVEPT there; an EPT01 write protection is followed
 *     by an INVEPT of EPT01;
 *   - EPT01: every leaf is the identity over L1 RAM or devices, or the sink
 *     page over nestvisor's memory and beyond the extent; its tables are
 *     pmm pages it allocated, each once, as many as it counts; the sink's
 *     shared tables are never freed and unchanged (every entry still leads
 *     to the sink page);
 *   - the code writes L1 memory only through vm_l1_ram, only L1 RAM, and
 *     in EPT12's tables only A/D flags, exactly where a CPU would set them
 *     (each fault is compared with the reference: outcome, reflected
 *     qualification, the filled entry, the A/D flags);
 *   - a fill makes the retried access succeed; the merged bitmaps are
 *     L0's ORed with L1's page as it is at the VM entry;
 *   - after the input, INVEPT all-context gives the whole EPT02 pool back
 *     and tearing EPT01 down gives the pmm back every page.
 * Freed EPT02 tables, the kernel, the boot module, device holes and the
 * canary are poisoned for ASan, so that any access to them by the code
 * under test stops at the access with its stack.
 *
 * FUZZ_EPT02_REMOTE_FLUSH_RELOADS=1 reloads vmcs02's EPT pointer after
 * another CPU's EPT01 flush, which smp.c does not do (the finding
 * tests/fuzz/corpus/ept02/remote-flush-stale-vmcs02-eptp, docs/fuzzing.md),
 * so that what lies beyond can be fuzzed until it is fixed.
 *
 * One divergence is known and reported, not a finding by default: L0's own
 * A/D writes into an EPT12 entry that lies in a write-protected bitmap page
 * do not mark the merged bitmap stale (they bypass EPT01);
 * FUZZ_EPT02_STRICT_BITMAPS=1 makes it one (docs/fuzzing.md).
 *
 * Each host configuration's EPT01 is built once (the first input that uses
 * it) and restored after every input, so that an input replays exactly.
 *
 * Seams (tests/fuzz/fuzz_ept02.mk, all with -D on the objects, vmm/ is
 * unchanged): ept02.c's ept_init/ept_destroy/invept/vm_l1_ram/pmm_alloc go
 * through wrappers here that mirror the pool's allocations exactly (the
 * pool is a LIFO free list; ept02_init resets it per input), record
 * INVEPTs and L1-memory accesses; ept.c's pmm_alloc/pmm_free are tracked
 * the same way for EPT01 and the sink; bitmaps.c's invept is recorded. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sanitizer/asan_interface.h>
#include "vmm/nested/ept02.h"
#include "vmm/nested/ept12.h"
#include "vmm/nested/bitmaps.h"
#include "vmm/nested/vmcs02.h"
#include "vmm/smp.h"
#include "vmm/ept.h"
#include "vmm/ept01.h"
#include "vmm/memmap.h"
#include "vmm/mtrr.h"
#include "vmm/pmm.h"
#include "vmm/vm.h"
#include "boot/handoff.h"
#include "arch/x86/exit_reasons.h"
#include "arch/x86/physmem.h"
#include "arch/x86/vmx.h"
#include "arch/x86/vmx_bits.h"
#include "tests/unit/fake_arch.h"
#include "tests/unit/fake_vmx.h"

#define KiB       (1ULL << 10)
#define MiB       (1ULL << 20)
#define GiB       (1ULL << 30)
#define PG        4096ULL
#define GPA_LIMIT (1ULL << 48) /* what a 4-level EPT translates (bits 47:0) */

/* ---- the fake machine ---- */

#define FAKE_END    FAKE_PHYS_SIZE /* 64 MiB */
#define KERNEL_BASE 0x200000ULL
#define KERNEL_END  0x400000ULL
#define T12_BASE    0x800000ULL /* EPT12 tables (L1 RAM) */
#define NT12        16
#define DATA_BASE   0xc00000ULL /* L2 data pages (L1 RAM) */
#define ACPI_BASE   0x1c00000ULL
#define DEV_BASE    0x1c20000ULL
#define IMAGE_BASE  0x1e00000ULL
#define IMAGE_END   0x1f00000ULL
#define POOL_BASE   0x2000000ULL
#define POOL_END    0x4000000ULL
#define POOL_PAGES  ((POOL_END - POOL_BASE) / PG)

static const struct host_range {
    uint64_t base, end;
    uint32_t type;
} host_ranges[] = {
    {0x0, 0x9f000, MEM_USABLE},
    {0x9f000, 0xa0000, MEM_RESERVED},
    {0x100000, 0x200000, MEM_USABLE},
    {KERNEL_BASE, KERNEL_END, MEM_HV},
    {0x400000, ACPI_BASE, MEM_USABLE},
    {ACPI_BASE, ACPI_BASE + 0x10000, MEM_ACPI_RECLAIM},
    {ACPI_BASE + 0x10000, DEV_BASE, MEM_ACPI_NVS},
    {DEV_BASE, 0x1d00000, MEM_RESERVED},
    {IMAGE_BASE, IMAGE_END, MEM_IMAGE},
    {IMAGE_END, POOL_BASE, MEM_USABLE},
    {POOL_BASE, POOL_END, MEM_HV},
};
#define NHOST (sizeof(host_ranges) / sizeof(host_ranges[0]))

enum { C_RAM = 1, C_DEV = 2, C_KERNEL = 4, C_IMAGE = 8, C_POOL = 16, C_BEYOND = 32 };
#define C_HIDDEN (C_KERNEL | C_IMAGE | C_POOL | C_BEYOND)

static uint8_t class4k[FAKE_END / PG];
static uint8_t class2m[FAKE_END / (2 * MiB)];

struct vm the_vm;
static struct vmx_caps host;
static struct ept12_caps caps12;
static struct memmap host_map;
static unsigned maxphy;
static uint64_t extent, phys_limit;
static bool sink_on, mtrr_on;

/* nestvisor pages allocated once */
static uint64_t ept02_pool_base, canary_page, vmxon_page;
static uint64_t bm_l0[BITMAP_COUNT],
    bm_dst[2][BITMAP_COUNT]; /* L0's bitmaps; each vCPU's merged ones */
static uint64_t pmm_at_start;

/* EPT01 per host configuration (1 GiB pages, MAXPHYADDR, hidden policy,
 * MTRRs): built on first use, restored after each input. */
#define MAX01 64
static struct conf01 {
    bool built, checked;
    struct ept ept;
    unsigned npages;
    uint64_t pages[MAX01];
    uint8_t copy[MAX01][4096];
} conf01[32], *conf;
static bool track01; /* record ept.c's pmm pages */
static uint64_t alloc01[4096];
static unsigned n01alloc, n01freed;

/* ---- reporting ---- */

static struct {
    unsigned step, cpu;
    const char *op;
    uint64_t eptp12, gpa;
} ctx;

static void report(int line, const char *cond)
{
    fprintf(stderr, "fuzz_ept02: FINDING at tests/fuzz/fuzz_ept02.c:%d: %s\n", line, cond);
    fprintf(stderr,
            "  step %u (%s on cpu%u), eptp12 0x%llx, gpa 0x%llx; host %s%s%s maxphy %u %s%s; "
            "L1 offered%s%s%s%s\n",
            ctx.step, ctx.op ? ctx.op : "setup", ctx.cpu, (unsigned long long)ctx.eptp12,
            (unsigned long long)ctx.gpa, host.ept_1g ? "1G" : "2M", host.ept_ad ? " A/D" : "",
            host.ept_exec_only ? " x-only" : "", maxphy, sink_on ? "hidden=discard" : "hidden=stop",
            mtrr_on ? " MTRRs" : "", caps12.pages_2m ? " 2M" : "", caps12.pages_1g ? " 1G" : "",
            caps12.ad ? " A/D" : "", caps12.exec_only ? " x-only" : "");
}

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            report(__LINE__, #cond);                                                               \
            fprintf(stderr, "  " __VA_ARGS__);                                                     \
            fprintf(stderr, "\n");                                                                 \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#define U(x) ((unsigned long long)(x))

/* FUZZ_EPT02_TRACE=1: one line per step and per fault, to read a reproducer. */
static bool tracing;
#define TRACE(...)                                                                                 \
    do {                                                                                           \
        if (tracing) fprintf(stderr, "  trace: " __VA_ARGS__);                                     \
    } while (0)
/* The checks and the helpers are not the code under test: no coverage
 * feedback (and no comparison tracing, which would dominate the time). */
#define NOCOV __attribute__((no_sanitize("coverage"), noinline))

/* Totals over the run, printed at exit: evidence of what was reached. */
static struct {
    uint64_t inputs, steps, accesses, fills, prefaults, reflected, misconfigs, hidden, stopped;
    uint64_t sink_fills, device_fills, leaves, strict_leaves, roots_created, roots_dropped;
    uint64_t pool_reclaims, roots_reclaimed, pool_exhausted, protections, write_faults, invepts;
    uint64_t entries, entry_fails, ad_writes, max_pool_used, stale_ad_merges, remote_flushes,
        remote_flushes_in_l2;
    uint64_t pml_logged, pml_log_ram, pml_log_sink, pml_full, vmfuncs, vmfunc_switches, views;
} tot;

static void print_totals(void)
{
    fprintf(
        stderr,
        "fuzz_ept02: %llu inputs, %llu steps, %llu L2 accesses: %llu fills (%llu onto the sink, "
        "%llu "
        "devices), %llu prefaults, %llu violations and %llu misconfigurations reflected, %llu "
        "hidden, "
        "%llu stops; %llu VM entries (%llu refused); EPT02 roots %llu created, %llu dropped (%llu "
        "reclaimed), %llu pool reclaims, pool empty %llu times, most pages in use %llu; %llu "
        "bitmap "
        "protections, %llu write faults, %llu INVEPTs; %llu EPT12 A/D writes; %llu EPT02 leaves "
        "audited, %llu against the reference; %llu merged-bitmap bytes stale after L0's A/D "
        "writes; %llu "
        "EPT01 flushes of every CPU, %llu of them reaching a CPU in L2; PML: %llu entries logged "
        "(%llu into L1 RAM, %llu into the sink), %llu log-full exits; %llu VMFUNCs, %llu EPTP "
        "switches; %llu vm_l1_view calls\n",
        U(tot.inputs), U(tot.steps), U(tot.accesses), U(tot.fills), U(tot.sink_fills),
        U(tot.device_fills), U(tot.prefaults), U(tot.reflected), U(tot.misconfigs), U(tot.hidden),
        U(tot.stopped), U(tot.entries), U(tot.entry_fails), U(tot.roots_created),
        U(tot.roots_dropped), U(tot.roots_reclaimed), U(tot.pool_reclaims), U(tot.pool_exhausted),
        U(tot.max_pool_used), U(tot.protections), U(tot.write_faults), U(tot.invepts),
        U(tot.ad_writes), U(tot.leaves), U(tot.strict_leaves), U(tot.stale_ad_merges),
        U(tot.remote_flushes), U(tot.remote_flushes_in_l2), U(tot.pml_logged), U(tot.pml_log_ram),
        U(tot.pml_log_sink), U(tot.pml_full), U(tot.vmfuncs), U(tot.vmfunc_switches), U(tot.views));
}

/* ---- the input ---- */

static const uint8_t *in_p, *in_end;

static uint8_t in8(void)
{
    return in_p < in_end ? *in_p++ : 0;
}
static bool in_left(void)
{
    return in_p < in_end;
}
static uint64_t in_n(unsigned n)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < n; i++)
        v |= (uint64_t)in8() << (8 * i);
    return v;
}

/* ---- classes of host memory (this file's own map) ---- */

static unsigned class_of_type(uint64_t base, uint32_t type)
{
    switch (type) {
    case MEM_USABLE:
    case MEM_ACPI_RECLAIM:
    case MEM_ACPI_NVS:
        return C_RAM;
    case MEM_HV:
        return base < POOL_BASE ? C_KERNEL : C_POOL;
    case MEM_IMAGE:
        return C_IMAGE;
    default:
        return C_DEV;
    }
}

NOCOV static void classes_init(void)
{
    for (uint64_t p = 0; p < FAKE_END / PG; p++) {
        uint64_t a = p * PG;
        class4k[p] = C_DEV; /* holes are devices */
        for (unsigned i = 0; i < NHOST; i++)
            if (a >= host_ranges[i].base && a < host_ranges[i].end)
                class4k[p] = (uint8_t)class_of_type(a, host_ranges[i].type);
        class2m[p / 512] |= class4k[p];
    }
}

/* The classes [a, a+size) touches. */
NOCOV static unsigned class_range(uint64_t a, uint64_t size)
{
    unsigned m = 0;
    uint64_t end = a + size < a ? ~0ULL : a + size;
    if (a < FAKE_END) {
        uint64_t e = end < FAKE_END ? end : FAKE_END;
        for (uint64_t p = a / PG; p * PG < e;) {
            if (!(p % 512) && (p + 512) * PG <= e) {
                m |= class2m[p / 512];
                p += 512;
            } else {
                m |= class4k[p++];
            }
        }
    }
    if (end > FAKE_END) {
        uint64_t lo = a > FAKE_END ? a : FAKE_END;
        if (lo < extent) m |= C_DEV;
        if (end > extent) m |= C_BEYOND;
    }
    return m;
}

NOCOV static bool is_l1_ram(uint64_t pa, uint64_t len)
{
    if (!len || pa + len < pa || pa + len > FAKE_END) return false;
    for (unsigned i = 0; i < NHOST; i++) {
        const struct host_range *r = &host_ranges[i];
        if (pa >= r->base && pa + len <= r->end) return class_of_type(r->base, r->type) == C_RAM;
    }
    return false;
}

static const char *class_name(unsigned m)
{
    if (m & C_POOL) return "nestvisor's pool";
    if (m & C_KERNEL) return "nestvisor's kernel";
    if (m & C_IMAGE) return "a boot module";
    if (m & C_BEYOND) return "beyond EPT01's extent";
    if (m & C_DEV) return "device space";
    return "L1 RAM";
}

static uint64_t *phys64(uint64_t pa)
{
    return (uint64_t *)(fake_phys + pa);
}

static void poison(uint64_t pa, uint64_t size)
{
    __asan_poison_memory_region(fake_phys + pa, size);
}
static void unpoison(uint64_t pa, uint64_t size)
{
    __asan_unpoison_memory_region(fake_phys + pa, size);
}

/* ---- L1 memory: what the harness wrote, reset per input ---- */

static uint8_t l1_dirty[POOL_BASE / PG];
static uint32_t l1_dirty_list[POOL_BASE / PG];
static unsigned l1_ndirty;
static uint64_t t12_shadow[NT12][512]; /* EPT12 tables as L1 (the harness) wrote them */

NOCOV static void mark_dirty(uint64_t pa)
{
    uint64_t p = pa / PG;
    if (p < POOL_BASE / PG && !l1_dirty[p]) {
        l1_dirty[p] = 1;
        l1_dirty_list[l1_ndirty++] = (uint32_t)p;
    }
}

/* Where each EPT12 entry was last written by L1 or L2 (event clock), for
 * the reference comparison: a shadow may hold an older EPT12 until INVEPT. */
#define EDIT_SLOTS 8192
static uint64_t edit_key[EDIT_SLOTS], edit_when[EDIT_SLOTS];
static uint16_t edit_used[EDIT_SLOTS];
static unsigned edit_nused;
static uint64_t edit_all; /* the log overflowed: everything counts as written then */
static uint64_t clock_now;

NOCOV static unsigned edit_slot(uint64_t pa)
{
    uint64_t k = (pa >> 3) * 0x9e3779b97f4a7c15ULL;
    return (unsigned)(k >> 51) & (EDIT_SLOTS - 1);
}

NOCOV static void note_edit(uint64_t pa)
{
    pa &= ~7ULL;
    ++clock_now;
    if (edit_nused >= EDIT_SLOTS / 2) {
        edit_all = clock_now;
        return;
    }
    for (unsigned i = edit_slot(pa);; i = (i + 1) & (EDIT_SLOTS - 1)) {
        if (edit_key[i] == pa + 1) {
            edit_when[i] = clock_now;
            return;
        }
        if (!edit_key[i]) {
            edit_key[i] = pa + 1;
            edit_when[i] = clock_now;
            edit_used[edit_nused++] = (uint16_t)i;
            return;
        }
    }
}

NOCOV static uint64_t last_edit(uint64_t pa)
{
    pa &= ~7ULL;
    for (unsigned i = edit_slot(pa);; i = (i + 1) & (EDIT_SLOTS - 1)) {
        if (edit_key[i] == pa + 1) return edit_when[i] > edit_all ? edit_when[i] : edit_all;
        if (!edit_key[i]) return edit_all;
    }
}

/* The harness stores into L1 RAM (as L1 or as L2). */
NOCOV static void l1_store(uint64_t pa, uint64_t v)
{
    pa &= ~7ULL;
    CHECK(is_l1_ram(pa, 8), "harness store outside L1 RAM at 0x%llx", U(pa));
    *phys64(pa) = v;
    mark_dirty(pa);
    note_edit(pa);
    if (pa >= T12_BASE && pa < T12_BASE + NT12 * PG)
        t12_shadow[(pa - T12_BASE) / PG][(pa % PG) / 8] = v;
}

NOCOV static uint64_t l1_load(uint64_t pa)
{
    return is_l1_ram(pa, 8) ? *phys64(pa & ~7ULL) : 0;
}

/* L0 stored v at pa in L1 RAM as the CPU does for L1 (a PML entry), which
 * the harness checked: its model of L1 memory follows. */
NOCOV static void l1_stored_by_l0(uint64_t pa, uint64_t v)
{
    mark_dirty(pa);
    note_edit(pa);
    if (pa >= T12_BASE && pa < T12_BASE + NT12 * PG)
        t12_shadow[(pa - T12_BASE) / PG][(pa % PG) / 8] = v;
}

/* ---- the vCPUs: each its own shadow EPTs and pool (mirrored), bitmap
 * cache, vmcs02 and L2 ---- */

#define NCPU   2
#define NEPTP  14
#define NSLOTS 3
static uint64_t eptps[NEPTP];
static struct slot {
    uint64_t eptp12;           /* its EPT pointer: one of eptps, or what VMFUNC loaded */
    uint64_t bm[BITMAP_COUNT]; /* L1 bitmap pages, 0: not used */
    bool pml;                  /* "enable PML", its log and index (SDM 29.3.6) */
    uint64_t pml_addr;
    uint16_t pml_index;
    bool vmfunc;               /* VM functions with EPTP switching, its list (26.5.6.3) */
    uint64_t list;
} slots[NSLOTS];
struct pending_fault {
    bool valid;
    unsigned slot;
    uint64_t gpa, qual;
};
static struct cpu {
    struct ept02 e2;
    struct nested_bitmaps bm;
    /* the EPT02 pool as the harness mirrors it */
    uint64_t pool_base;
    unsigned pool_pages;
    struct ept *pool_owner[EPT02_POOL_PAGES];
    uint16_t mfree[EPT02_POOL_PAGES];
    unsigned mnfree;
    /* dropped roots whose INVEPT this CPU has not executed yet */
    uint64_t pending_invept[64];
    unsigned npending;
    /* what runs here */
    unsigned cur_slot;
    bool l2_running;
    uint64_t l2_eptp12; /* the EPT pointer of the vmcs12 L2 was entered with */
    uint64_t vmcs02_eptp;
    struct pending_fault pending; /* a reflected violation, for the prefault */
} cpus[NCPU];
static unsigned cur; /* the CPU the current operation runs on */
_Static_assert(sizeof(bm_dst) / sizeof(bm_dst[0]) == NCPU, "merged bitmaps per vCPU");
#define C (&cpus[cur])
static unsigned initing = NCPU; /* the CPU whose ept02_init is running */
static bool remote_reload;      /* FUZZ_EPT02_REMOTE_FLUSH_RELOADS */

static uint64_t (*pool_alloc_fn)(void *);
static void (*pool_free_fn)(void *, uint64_t);

/* ept02_init's pmm_alloc: the pool's pages, the same ones every input (so
 * that an input replays exactly); the free list restarts as ept02_init
 * builds it (page 0 on top). */
uint64_t fuzz_ept02_pmm_alloc(uint64_t pages);
NOCOV uint64_t fuzz_ept02_pmm_alloc(uint64_t pages)
{
    CHECK(initing < NCPU, "pmm_alloc from ept02.c outside ept02_init");
    struct cpu *pc = &cpus[initing];
    CHECK(pages >= EPT02_POOL_MIN_PAGES && pages <= EPT02_POOL_PAGES,
          "ept02_init asked the pmm for %llu pages", U(pages));
    for (unsigned i = 0; i < EPT02_POOL_PAGES; i++)
        CHECK(!pc->pool_owner[i], "ept02_init with page %u of the pool still in use", i);
    for (unsigned i = 0; i < pages; i++)
        pc->mfree[i] = (uint16_t)(pages - 1 - i);
    pc->mnfree = pc->pool_pages = (unsigned)pages;
    return pc->pool_base;
}

/* Live EPT02 roots, as ept_init/ept_destroy saw them. */
#define MAX_LIVE (NCPU * EPT02_ROOTS)
static struct live {
    struct ept *e;
    unsigned cpu;
    uint64_t created; /* event clock */
    uint64_t eptp12;
    bool known;
} live[MAX_LIVE];
static unsigned nlive;

static uint64_t invept01_count;

NOCOV static struct live *live_of(const struct ept *e)
{
    for (unsigned i = 0; i < nlive; i++)
        if (live[i].e == e) return &live[i];
    return 0;
}

/* The index of pa in CPU c's pool (a finding if it is not one of its pages). */
NOCOV static unsigned pool_index(unsigned c, uint64_t pa, const char *what)
{
    const struct cpu *pc = &cpus[c];
    CHECK(pa >= pc->pool_base && pa < pc->pool_base + pc->pool_pages * PG && !(pa & (PG - 1)),
          "%s 0x%llx is not a page of cpu%u's EPT02 pool [0x%llx, 0x%llx)", what, U(pa), c,
          U(pc->pool_base), U(pc->pool_base + pc->pool_pages * PG));
    return (unsigned)((pa - pc->pool_base) / PG);
}

/* Each EPT02 root's allocator context is wrapped: which root asks, on
 * which CPU, and the pool's own context (the CPU's struct ept02). */
static struct ctx_wrap {
    struct ept *e;
    unsigned cpu;
    void *ctx;
} ctx_wraps[NCPU * EPT02_ROOTS * 2];

NOCOV static uint64_t wrap_alloc(void *c)
{
    const struct ctx_wrap *w = c;
    struct cpu *pc = &cpus[w->cpu];
    if (!pc->mnfree) {
        uint64_t pa = pool_alloc_fn(w->ctx);
        CHECK(!pa, "cpu%u's EPT02 pool handed out 0x%llx with no page free", w->cpu, U(pa));
        tot.pool_exhausted++;
        return 0;
    }
    uint64_t want = pc->pool_base + (uint64_t)pc->mfree[pc->mnfree - 1] * PG;
    unpoison(want, PG);
    uint64_t pa = pool_alloc_fn(w->ctx);
    CHECK(pa == want, "cpu%u's EPT02 pool handed out 0x%llx, its free list says 0x%llx", w->cpu,
          U(pa), U(want));
    pc->mnfree--;
    pc->pool_owner[(pa - pc->pool_base) / PG] = w->e;
    if (pc->pool_pages - pc->mnfree > tot.max_pool_used)
        tot.max_pool_used = pc->pool_pages - pc->mnfree;
    return pa;
}

NOCOV static void wrap_free(void *c, uint64_t pa)
{
    const struct ctx_wrap *w = c;
    struct cpu *pc = &cpus[w->cpu];
    unsigned i = pool_index(w->cpu, pa, "freed EPT02 table");
    CHECK(pc->pool_owner[i] == w->e, "EPT02 frees table 0x%llx it does not own (%s)", U(pa),
          pc->pool_owner[i] ? "another root's" : "already free: double free");
    pc->pool_owner[i] = 0;
    pc->mfree[pc->mnfree++] = (uint16_t)i;
    poison(pa, PG);
    pool_free_fn(w->ctx, pa);
}

bool fuzz_ept_init(struct ept *e, unsigned max_level);
bool fuzz_ept_init(struct ept *e, unsigned max_level)
{
    if (e->alloc_table != wrap_alloc) {
        CHECK(e->alloc_table && e->free_table, "an EPT02 root without the pool's allocator");
        CHECK(!pool_alloc_fn || (pool_alloc_fn == e->alloc_table && pool_free_fn == e->free_table),
              "EPT02 roots with different allocators");
        pool_alloc_fn = e->alloc_table;
        pool_free_fn = e->free_table;
        unsigned cpu = NCPU;
        for (unsigned c = 0; c < NCPU; c++)
            if (e->ctx == &cpus[c].e2) cpu = c;
        CHECK(cpu < NCPU, "an EPT02 root whose allocator context is no vCPU's struct ept02");
        struct ctx_wrap *w = 0;
        for (unsigned i = 0; i < sizeof(ctx_wraps) / sizeof(ctx_wraps[0]) && !w; i++)
            if (ctx_wraps[i].e == e || !ctx_wraps[i].e) w = &ctx_wraps[i];
        CHECK(w, "more EPT02 root structures than expected");
        *w = (struct ctx_wrap){.e = e, .cpu = cpu, .ctx = e->ctx};
        e->alloc_table = wrap_alloc;
        e->free_table = wrap_free;
        e->ctx = w;
    }
    CHECK(!live_of(e), "ept_init on a live EPT02 root");
    bool ok = ept_init(e, max_level);
    if (ok) {
        CHECK(nlive < MAX_LIVE, "more than %d live EPT02 roots", MAX_LIVE);
        live[nlive++] = (struct live){
            .e = e, .cpu = ((const struct ctx_wrap *)e->ctx)->cpu, .created = ++clock_now};
        tot.roots_created++;
    }
    return ok;
}

void fuzz_ept_destroy(struct ept *e);
NOCOV void fuzz_ept_destroy(struct ept *e)
{
    struct live *lv = live_of(e);
    CHECK(lv, "ept_destroy of an EPT02 root that is not live (root 0x%llx)", U(e->root));
    struct cpu *pc = &cpus[lv->cpu];
    CHECK(lv->cpu == cur, "cpu%u drops a root of cpu%u's", cur, lv->cpu);
    uint64_t root = e->root;
    ept_destroy(e);
    CHECK(!e->table_pages, "ept_destroy left %llu table pages counted", U(e->table_pages));
    for (unsigned i = 0; i < EPT02_POOL_PAGES; i++)
        CHECK(pc->pool_owner[i] != e, "ept_destroy kept EPT02 table 0x%llx",
              U(pc->pool_base + i * PG));
    *lv = live[--nlive];
    if (pc->npending < 64) pc->pending_invept[pc->npending++] = root;
    tot.roots_dropped++;
}

/* INVEPT, executed by the current CPU: it invalidates that CPU's cached
 * translations only (SDM 29.4.3.1). */
bool fuzz_invept(uint64_t type, uint64_t eptp);
NOCOV bool fuzz_invept(uint64_t type, uint64_t eptp)
{
    tot.invepts++;
    if (type == INVEPT_SINGLE_CONTEXT) {
        for (unsigned i = 0; i < C->npending;)
            if (C->pending_invept[i] == (eptp & EPT_ADDR_MASK))
                C->pending_invept[i] = C->pending_invept[--C->npending];
            else
                i++;
        if (eptp == the_vm.eptp01) invept01_count++;
    } else {
        C->npending = 0;
        invept01_count++;
    }
    return invept(type, eptp);
}

/* vmm/smp.c's EPT01 flush, which the harness plays (smp.c itself is not
 * linked): this CPU flushes (flush_ept01_here: INVEPT of EPT01, every shadow
 * of its vCPU dropped), then nudges every other CPU with an NMI and waits
 * until each has flushed too. A CPU running L2 takes the NMI as an exit
 * from L2 that L0 handles itself (nmi_exit_l2), flushes in smp_attention
 * (vmm/exit.c, after the dispatch) and resumes L2 with vmcs02 as it was:
 * nothing reloads vmcs02's EPT pointer there (as of bb1f5f2), so L2 resumes
 * on a dropped root. FUZZ_EPT02_REMOTE_FLUSH_RELOADS=1 models the fix
 * (ept02_eptp_for after the flush, as vmm/nested/nested.c does after its
 * own flush) to fuzz what lies beyond. */
static void flush_ept01_here(unsigned c)
{
    unsigned was = cur;
    cur = c;
    fuzz_invept(INVEPT_SINGLE_CONTEXT, the_vm.eptp01);
    ept02_flush_all(&C->e2);
    if (c != was && C->l2_running) {
        tot.remote_flushes_in_l2++;
        if (remote_reload) C->vmcs02_eptp = ept02_eptp_for(&C->e2, C->l2_eptp12);
    }
    cur = was;
}

/* Only nested_l1_stored calls it, which the fuzzer does not reach. */
void smp_nudge_l2_cpus(const struct vcpu *self);
NOCOV void smp_nudge_l2_cpus(const struct vcpu *self) { (void)self; }

void smp_invept01_everywhere(void);
NOCOV void smp_invept01_everywhere(void)
{
    tot.remote_flushes++;
    flush_ept01_here(cur);
    for (unsigned c = 0; c < NCPU; c++)
        if (c != cur) flush_ept01_here(c);
}

/* ept02.c reaches L1 memory only through here. */
void *fuzz_vm_l1_ram(uint64_t gpa, uint64_t len);
NOCOV void *fuzz_vm_l1_ram(uint64_t gpa, uint64_t len)
{
    void *p = vm_l1_ram(gpa, len);
    bool ram = is_l1_ram(gpa, len ? len : 1);
    CHECK(!p == !ram, "vm_l1_ram(0x%llx, %llu) is %s, but that is %s", U(gpa), U(len),
          p ? "given" : "refused", ram ? "L1 RAM" : "not L1 RAM");
    if (p) {
        CHECK(p == fake_phys + gpa, "vm_l1_ram(0x%llx) points elsewhere", U(gpa));
        mark_dirty(gpa);
    }
    return p;
}

/* ---- seam: ept.c's pmm pages (EPT01 tables and the sink's) ---- */

static uint8_t ept_owned[POOL_PAGES];

NOCOV static uint64_t pmm_page(uint64_t pa)
{
    CHECK(pa >= POOL_BASE && pa < POOL_END && !(pa & (PG - 1)), "0x%llx is not a pmm page", U(pa));
    return (pa - POOL_BASE) / PG;
}

uint64_t fuzz_pmm_alloc(uint64_t pages);
NOCOV uint64_t fuzz_pmm_alloc(uint64_t pages)
{
    uint64_t pa = pmm_alloc(pages);
    for (uint64_t i = 0; pa && i < pages; i++) {
        uint64_t p = pmm_page(pa + i * PG);
        CHECK(!ept_owned[p], "the pmm handed out 0x%llx twice", U(pa + i * PG));
        ept_owned[p] = 1;
        if (track01) {
            CHECK(n01alloc < 4096, "EPT01 allocates more than 4096 tables in one input");
            alloc01[n01alloc++] = pa + i * PG;
        }
    }
    return pa;
}

NOCOV static bool is_sink_table(uint64_t pa)
{
    return sink_on &&
           (pa == the_vm.sink.table[1] || pa == the_vm.sink.table[2] || pa == the_vm.sink.table[3]);
}

void fuzz_pmm_free(uint64_t pa, uint64_t pages);
NOCOV void fuzz_pmm_free(uint64_t pa, uint64_t pages)
{
    for (uint64_t i = 0; i < pages; i++) {
        uint64_t q = pa + i * PG;
        CHECK(!is_sink_table(q), "an EPT frees the sink's shared table 0x%llx", U(q));
        CHECK(ept_owned[pmm_page(q)], "an EPT frees 0x%llx, not an EPT table", U(q));
        ept_owned[pmm_page(q)] = 0;
        if (track01) {
            bool mine = false; /* allocated during this input: forget it */
            for (unsigned k = 0; k < n01alloc && !mine; k++)
                if (alloc01[k] == q) {
                    alloc01[k] = alloc01[--n01alloc];
                    mine = true;
                }
            n01freed += !mine;
        }
    }
    pmm_free(pa, pages);
}

/* vmcs02.c's merge, which bitmaps.c needs. */
NOCOV void bitmap_merge(uint8_t *dst, const uint8_t *a, const uint8_t *b)
{
    for (unsigned i = 0; i < 4096; i++)
        dst[i] = a[i] | b[i];
}

/* ---- reference walks ---- */

/* EPT01 as the CPU walks it (bits 47:0 of the address, SDM 29.3.2). */
NOCOV static bool walk01(uint64_t gpa, uint64_t *entry, unsigned *level)
{
    uint64_t t = the_vm.ept01.root;
    gpa &= GPA_LIMIT - 1;
    for (unsigned l = 4; l >= 1; l--) {
        uint64_t e = phys64(t)[EPT_INDEX(gpa, l)];
        if (!(e & EPT_RWX)) return false;
        if (l == 1 || (l < 4 && (e & EPT_LARGE))) {
            *entry = e;
            *level = l;
            return true;
        }
        t = e & EPT_ADDR_MASK;
    }
    return false;
}

static uint64_t xlate01(uint64_t e, unsigned level, uint64_t gpa)
{
    uint64_t size = EPT_LEVEL_SIZE(level);
    return (e & EPT_ADDR_MASK & ~(size - 1)) | (gpa & (size - 1));
}

/* Does EPT01 give L1 the sink page at pa (hidden=discard, 4 KiB sink leaf)? */
NOCOV static bool sink_at(uint64_t pa)
{
    uint64_t e01;
    unsigned l01;
    return sink_on && walk01(pa, &e01, &l01) && l01 == 1 && (e01 & EPT_ADDR_MASK) == the_vm.sink.page;
}

/* L1 memory at pa (8 bytes, not across a page) as L1 reaches it: its RAM,
 * the sink, or a device (all ones). */
NOCOV static uint64_t l1_view_load(uint64_t pa)
{
    if (is_l1_ram(pa, 8)) return l1_load(pa);
    if (sink_at(pa)) return *phys64(the_vm.sink.page + (pa & (PG - 1)));
    return ~0ULL;
}

/* ept02.c's other way to L1 memory (PML entries, EPTP lists): what L1
 * itself reaches, its RAM or the sink page where EPT01 puts it, never
 * anything else. */
void *fuzz_vm_l1_view(uint64_t gpa, uint64_t size);
NOCOV void *fuzz_vm_l1_view(uint64_t gpa, uint64_t size)
{
    void *p = vm_l1_view(gpa, size);
    tot.views++;
    CHECK(size && size <= PG && (gpa & (PG - 1)) + size <= PG, "vm_l1_view(0x%llx, %llu) across a page",
          U(gpa), U(size));
    if (is_l1_ram(gpa, size)) {
        CHECK(p == fake_phys + gpa, "vm_l1_view(0x%llx) of L1 RAM gives %p", U(gpa), p);
        mark_dirty(gpa);
        return p;
    }
    if (!p) return 0;
    CHECK(sink_at(gpa) && p == fake_phys + the_vm.sink.page + (gpa & (PG - 1)),
          "vm_l1_view(0x%llx) gives %p: neither L1 RAM nor the sink EPT01 maps there (%s)", U(gpa), p,
          class_name(class_range(gpa, size)));
    return p;
}

/* EPT12, straight from SDM 29.3.2/29.3.3 (mirrors tests/unit/test_ept12_model.c). */
enum { REF_OK, REF_VIOLATION, REF_MISCONFIG };

struct ref12 {
    int status;
    uint64_t l1_gpa, perms, leaf;
    unsigned level, n;
    uint64_t pa[4];
};

NOCOV static void ref_walk(uint64_t eptp, uint64_t gpa, uint64_t access, struct ref12 *r)
{
    memset(r, 0, sizeof(*r));
    const struct ept12_caps *c = &caps12;
    uint64_t beyond = ((1ULL << 52) - 1) & ~((1ULL << maxphy) - 1);
    uint64_t next = eptp & 0x000ffffffffff000ULL;
    bool r_ok = true, w_ok = true, x_ok = true;
    for (int lvl = 4; lvl >= 1; lvl--) {
        unsigned shift = 12 + 9 * (unsigned)(lvl - 1);
        uint64_t pa = next | (((gpa >> shift) & 0x1ff) << 3);
        r->pa[r->n++] = pa;
        uint64_t e = l1_load(pa);
        bool rd = e & 1, wr = e & 2, ex = e & 4;
        r_ok = r_ok && rd;
        w_ok = w_ok && wr;
        x_ok = x_ok && ex;
        r->perms = (r_ok ? 1 : 0) | (w_ok ? 2 : 0) | (x_ok ? 4 : 0);
        if (!rd && !wr && !ex) {
            r->status = REF_VIOLATION;
            return;
        }
        if ((wr && !rd) || (ex && !rd && !wr && !c->exec_only) || (e & beyond)) {
            r->status = REF_MISCONFIG;
            return;
        }
        bool ps = (e >> 7) & 1;
        unsigned mt = (unsigned)((e >> 3) & 7);
        bool bad_mt = mt == 2 || mt == 3 || mt == 7;
        bool leaf = false;
        if (lvl == 4) {
            if ((e >> 3) & 0x1f) {
                r->status = REF_MISCONFIG;
                return;
            }
        } else if (lvl == 3 || lvl == 2) {
            bool offered = lvl == 3 ? c->pages_1g : c->pages_2m;
            uint64_t low = lvl == 3 ? 0x3ffff : 0x1ff;
            if (ps) {
                if (!offered || ((e >> 12) & low) || bad_mt) {
                    r->status = REF_MISCONFIG;
                    return;
                }
                leaf = true;
            } else if ((e >> 3) & 0xf) {
                r->status = REF_MISCONFIG;
                return;
            }
        } else {
            if (bad_mt) {
                r->status = REF_MISCONFIG;
                return;
            }
            leaf = true;
        }
        if (leaf) {
            uint64_t off = (1ULL << shift) - 1;
            r->level = (unsigned)lvl;
            r->leaf = e;
            r->l1_gpa = (e & 0x000ffffffffff000ULL & ~off) | (gpa & off);
            bool denied =
                ((access & 1) && !r_ok) || ((access & 2) && !w_ok) || ((access & 4) && !x_ok);
            r->status = denied ? REF_VIOLATION : REF_OK;
            return;
        }
        next = e & 0x000ffffffffff000ULL;
    }
    CHECK(0, "the reference walk ran past level 1");
}

static const int rank_of[8] = {
    [MEMTYPE_UC] = 0, [MEMTYPE_WC] = 1, [MEMTYPE_WT] = 2, [MEMTYPE_WP] = 3, [MEMTYPE_WB] = 4};

/* The composition rule of ept02.h, restated. */
static void ref_memtype(unsigned t12, bool ipat12, unsigned t01, unsigned *t, bool *ipat)
{
    if (t01 == MEMTYPE_WB) {
        *t = t12;
        *ipat = ipat12;
    } else {
        *t = rank_of[t12] <= rank_of[t01] ? t12 : t01;
        *ipat = true;
    }
}

static bool memtype_valid(unsigned t)
{
    return t == 0 || t == 1 || t == 4 || t == 5 || t == 6;
}

/* ---- the world: EPTP12s, vmcs12s, vmcs02 ---- */

static bool l1_stopped;
static uint64_t ever_protected[64];
static unsigned nprotected;
/* EPT12 entries where L0 itself set A/D (it writes L1 memory directly, not
 * through EPT01): see the bitmap check in vm_entry. */
#define MAX_AD 1024
static uint64_t ad_written[MAX_AD];
static unsigned nad;
static bool ad_overflow, strict_bitmaps;

static uint64_t table12(unsigned i)
{
    return T12_BASE + (uint64_t)(i % NT12) * PG;
}

/* ---- checks after every step ---- */

static uint32_t stamp02[NCPU][EPT02_POOL_PAGES], stamp01[POOL_PAGES], stamp_now;

/* Which EPTP12 each live root shadows, from ept02_shadow of every EPTP12
 * the cache holds (an EPTP VMFUNC loaded from L1's list may be none of
 * eptps): every live root shadows exactly one, and the cache agrees. */
#define NO_ROOT12 (~0ULL) /* a free slot of struct ept02's cache */
NOCOV static void identify_roots(void)
{
    for (unsigned i = 0; i < nlive; i++)
        live[i].known = false;
    unsigned found = 0, counted = 0;
    for (unsigned c = 0; c < NCPU; c++) {
        struct ept02 *e2 = &cpus[c].e2;
        counted += ept02_root_count(e2);
        for (unsigned k = 0; k < EPT02_ROOTS; k++) {
            uint64_t eptp12 = e2->roots[k].eptp12, eptp02 = 0;
            if (eptp12 == NO_ROOT12) continue;
            struct ept *sh = ept02_shadow(e2, eptp12, &eptp02);
            CHECK(sh == &e2->roots[k].ept, "cpu%u caches EPTP12 0x%llx twice", c, U(eptp12));
            struct live *lv = live_of(sh);
            CHECK(lv && lv->cpu == c,
                  "cpu%u's ept02_shadow(0x%llx) returns an EPT that is not its live root (0x%llx)",
                  c, U(eptp12), U(sh->root));
            CHECK(!lv->known, "one EPT02 root shadows 0x%llx and 0x%llx", U(lv->eptp12), U(eptp12));
            lv->known = true;
            lv->eptp12 = eptp12;
            found++;
            bool ad = (eptp12 & EPTP_AD_ENABLE) && host.ept_ad;
            CHECK(eptp02 == (sh->root | EPTP_MEMTYPE_WB | EPTP_WALK_4 | (ad ? EPTP_AD_ENABLE : 0)),
                  "EPTP02 0x%llx for root 0x%llx", U(eptp02), U(sh->root));
        }
    }
    CHECK(found == nlive && nlive == counted, "%u live roots, %u shadows found, %u counted", nlive,
          found, counted);
}

/* EPT01 covers [hpa, hpa+size) for L1 as the identity, granting at least
 * perms; device types keep EPT02's no more cacheable, with ignore-PAT. */
NOCOV static void check_covered01(uint64_t gpa2, uint64_t hpa, uint64_t size, uint64_t perms,
                                  unsigned mt, bool ipat)
{
    for (uint64_t a = hpa; a < hpa + size;) {
        uint64_t e01;
        unsigned l01;
        CHECK(walk01(a, &e01, &l01),
              "EPT02 maps L2 0x%llx to host 0x%llx, which EPT01 does not give L1", U(gpa2), U(a));
        uint64_t s01 = EPT_LEVEL_SIZE(l01), base01 = a & ~(s01 - 1);
        CHECK((e01 & EPT_ADDR_MASK & ~(s01 - 1)) == base01,
              "EPT02 maps L2 0x%llx to host 0x%llx, but EPT01 maps L1 0x%llx elsewhere (0x%llx)",
              U(gpa2), U(a), U(a), U(e01));
        CHECK(!(perms & ~e01 & EPT_RWX),
              "EPT02 grants %llx at host 0x%llx (L2 0x%llx), EPT01 only %llx", U(perms), U(a),
              U(gpa2), U(e01 & EPT_RWX));
        unsigned t01 = (unsigned)((e01 >> 3) & 7);
        if (t01 != MEMTYPE_WB)
            CHECK(rank_of[mt] <= rank_of[t01] && ipat,
                  "EPT02 type %u ipat %d at host 0x%llx over EPT01 type %u", mt, ipat, U(a), t01);
        a = base01 + s01;
    }
}

/* Against the reference, where EPT12 has not been written on the path
 * since the root was created (else the shadow may keep the older EPT12
 * until INVEPT, as the CPU's TLB would). */
NOCOV static void check_strict(const struct live *lv, uint64_t g, unsigned level, uint64_t e)
{
    if (!lv->known || edit_all > lv->created) return;
    struct ref12 r;
    ref_walk(lv->eptp12, g, 0, &r);
    for (unsigned i = 0; i < r.n; i++)
        if (last_edit(r.pa[i]) > lv->created) return;
    tot.strict_leaves++;
    ctx.eptp12 = lv->eptp12;
    ctx.gpa = g;
    CHECK(r.status == REF_OK,
          "EPT02 maps L2 0x%llx (entry 0x%llx) that EPT12 does not translate (status %d)", U(g),
          U(e), r.status);
    CHECK(level <= r.level, "EPT02 level %u above EPT12's %u at L2 0x%llx", level, r.level, U(g));
    uint64_t e01;
    unsigned l01;
    CHECK(walk01(r.l1_gpa, &e01, &l01), "EPT02 maps L2 0x%llx whose L1 0x%llx EPT01 does not map",
          U(g), U(r.l1_gpa));
    uint64_t want = xlate01(e01, l01, r.l1_gpa);
    CHECK((e & EPT_ADDR_MASK) == want,
          "EPT02 maps L2 0x%llx to 0x%llx, EPT12+EPT01 say 0x%llx (L1 0x%llx)", U(g),
          U(e & EPT_ADDR_MASK), U(want), U(r.l1_gpa));
    uint64_t allowed = r.perms & e01 & EPT_RWX;
    if ((lv->eptp12 & EPTP_AD_ENABLE) && !(r.leaf & EPT_DIRTY)) allowed &= ~EPT_WRITE;
    CHECK(!(e & EPT_RWX & ~allowed),
          "EPT02 grants %llx at L2 0x%llx, EPT12 %llx AND EPT01 %llx allow %llx", U(e & EPT_RWX),
          U(g), U(r.perms), U(e01 & EPT_RWX), U(allowed));
    unsigned t;
    bool ipat;
    ref_memtype(ept12_leaf_memtype(r.leaf), ept12_leaf_ipat(r.leaf), (unsigned)((e01 >> 3) & 7), &t,
                &ipat);
    CHECK(((e >> 3) & 7) == t && (bool)(e & EPT_IGNORE_PAT) == ipat,
          "EPT02 type %llu ipat %d at L2 0x%llx, composition %u ipat %d", U((e >> 3) & 7),
          !!(e & EPT_IGNORE_PAT), U(g), t, ipat);
}

NOCOV static void check02_leaf(const struct live *lv, uint64_t g, unsigned level, uint64_t e,
                               bool ad02)
{
    uint64_t size = EPT_LEVEL_SIZE(level), hpa = e & EPT_ADDR_MASK, p = e & EPT_RWX;
    tot.leaves++;
    CHECK(!(hpa & (size - 1)), "EPT02 leaf 0x%llx at level %u is misaligned (L2 0x%llx)", U(e),
          level, U(g));
    CHECK(level <= lv->e->max_level, "EPT02 leaf at level %u, the root allows %u", level,
          lv->e->max_level);
    CHECK(level == 1 || (e & EPT_LARGE), "EPT02 large leaf without bit 7");
    CHECK(!(p & EPT_WRITE) || (p & EPT_READ),
          "EPT02 leaf 0x%llx writes without read (misconfiguration)", U(e));
    CHECK(p != EPT_EXEC || host.ept_exec_only, "EPT02 execute-only leaf 0x%llx on a CPU without it",
          U(e));
    CHECK(memtype_valid((unsigned)((e >> 3) & 7)), "EPT02 leaf 0x%llx has a reserved memory type",
          U(e));
    uint64_t allowed = EPT_ADDR_MASK | EPT_RWX | EPT_MEMTYPE_MASK | EPT_IGNORE_PAT |
                       (level > 1 ? EPT_LARGE : 0) | (ad02 ? EPT_ACCESSED | EPT_DIRTY : 0);
    CHECK(!(e & ~allowed), "EPT02 leaf 0x%llx has stray bits 0x%llx", U(e), U(e & ~allowed));
    CHECK(!(hpa & ~((1ULL << maxphy) - 1)), "EPT02 leaf 0x%llx beyond MAXPHYADDR", U(e));
    if (sink_on && hpa == the_vm.sink.page) {
        CHECK(level == 1, "EPT02 maps %llu bytes from the sink page", U(size));
        CHECK(!(p & ~the_vm.sink.leaf_flags), "EPT02 grants more than the sink");
    } else {
        unsigned m = class_range(hpa, size);
        CHECK(!(m & ~(C_RAM | C_DEV)),
              "EPT02 maps L2 0x%llx to host 0x%llx-0x%llx: %s, not L1's (entry 0x%llx)", U(g),
              U(hpa), U(hpa + size - 1), class_name(m & ~(C_RAM | C_DEV)), U(e));
        check_covered01(g, hpa, size, p, (unsigned)((e >> 3) & 7), e & EPT_IGNORE_PAT);
    }
    check_strict(lv, g, level, e);
}

NOCOV static unsigned check02_table(const struct live *lv, uint64_t t, unsigned level,
                                    uint64_t base, bool ad02)
{
    unsigned i = pool_index(lv->cpu, t, "EPT02 table");
    const struct cpu *pc = &cpus[lv->cpu];
    CHECK(pc->pool_owner[i] == lv->e,
          "cpu%u's EPT02 root 0x%llx reaches table 0x%llx (level %u, L2 0x%llx) that is %s",
          lv->cpu, U(lv->e->root), U(t), level, U(base),
          pc->pool_owner[i] ? "another root's" : "FREE: use after free");
    CHECK(stamp02[lv->cpu][i] != stamp_now, "EPT02 table 0x%llx reached twice (shared or a cycle)",
          U(t));
    stamp02[lv->cpu][i] = stamp_now;
    unsigned pages = 1;
    const uint64_t *T = phys64(t);
    for (unsigned k = 0; k < 512; k++) {
        uint64_t e = T[k];
        if (!(e & EPT_RWX)) {
            CHECK(!e, "EPT02 not-present entry 0x%llx with other bits", U(e));
            continue;
        }
        uint64_t g = base + k * EPT_LEVEL_SIZE(level);
        if (level == 1 || (level < 4 && (e & EPT_LARGE))) {
            check02_leaf(lv, g, level, e, ad02);
        } else {
            CHECK(!(e & EPT_LARGE), "EPT02 PML4E 0x%llx with bit 7", U(e));
            CHECK((e & ~(EPT_ADDR_MASK | (ad02 ? EPT_ACCESSED : 0))) == EPT_RWX,
                  "EPT02 table entry 0x%llx (level %u) is not a plain pointer", U(e), level);
            pages += check02_table(lv, e & EPT_ADDR_MASK, level - 1, g, ad02);
        }
    }
    return pages;
}

NOCOV static void check_ept02_all(void)
{
    identify_roots();
    unsigned used[NCPU] = {0};
    for (unsigned i = 0; i < nlive; i++) {
        const struct live *lv = &live[i];
        bool ad02 = lv->known && (lv->eptp12 & EPTP_AD_ENABLE) && host.ept_ad;
        unsigned max = host.ept_1g ? 3 : host.ept_2m ? 2 : 1;
        CHECK(lv->e->max_level == max, "EPT02 root with max level %u, the host allows %u",
              lv->e->max_level, max);
        unsigned pages = check02_table(lv, lv->e->root, 4, 0, ad02);
        CHECK(pages == lv->e->table_pages, "EPT02 root 0x%llx reaches %u tables, counts %llu",
              U(lv->e->root), pages, U(lv->e->table_pages));
        used[lv->cpu] += pages;
    }
    for (unsigned c = 0; c < NCPU; c++) {
        const struct cpu *pc = &cpus[c];
        CHECK(
            used[c] + pc->mnfree == pc->pool_pages && pc->mnfree == ept02_pool_free(&pc->e2),
            "cpu%u's EPT02 pool: %u pages in live trees + %u free (the pool says %u) != %u: a leak",
            c, used[c], pc->mnfree, ept02_pool_free(&pc->e2), pc->pool_pages);
    }
}

static uint64_t sink_copy[4][512]; /* what the sink's tables must hold */

NOCOV static void check_sink(void)
{
    const struct ept_sink *s = &the_vm.sink;
    CHECK(s->leaf_flags == (EPT_RWX | ((uint64_t)MEMTYPE_WB << EPT_MEMTYPE_SHIFT)),
          "sink leaf flags changed");
    for (unsigned l = 1; l <= 3; l++) {
        CHECK(ept_owned[pmm_page(s->table[l])], "the sink's table %u (0x%llx) was freed", l,
              U(s->table[l]));
        uint64_t want = l == 1 ? s->page | s->leaf_flags : s->table[l - 1] | EPT_RWX;
        const uint64_t *t = phys64(s->table[l]);
        if (!memcmp(t, sink_copy[l], PG)) continue;
        for (unsigned i = 0; i < 512; i++)
            CHECK(t[i] == want, "the sink's shared table %u entry %u is 0x%llx, not 0x%llx", l, i,
                  U(t[i]), U(want));
    }
}

NOCOV static bool ever_protected_page(uint64_t pa)
{
    for (unsigned i = 0; i < nprotected; i++)
        if (ever_protected[i] == pa) return true;
    return false;
}

NOCOV static unsigned check01_table(uint64_t t, unsigned level, uint64_t base)
{
    uint64_t p = pmm_page(t);
    CHECK(ept_owned[p] && !is_sink_table(t),
          "EPT01 reaches 0x%llx (level %u, L1 0x%llx), not one of its tables", U(t), level,
          U(base));
    CHECK(stamp01[p] != stamp_now, "EPT01 table 0x%llx reached twice", U(t));
    stamp01[p] = stamp_now;
    unsigned pages = 1;
    const uint64_t *T = phys64(t);
    for (unsigned k = 0; k < 512; k++) {
        uint64_t e = T[k];
        if (!(e & EPT_RWX)) {
            CHECK(!e, "EPT01 not-present entry 0x%llx with other bits", U(e));
            continue;
        }
        uint64_t g = base + k * EPT_LEVEL_SIZE(level), size = EPT_LEVEL_SIZE(level);
        if (!(level == 1 || (level < 4 && (e & EPT_LARGE)))) {
            CHECK(!(e & EPT_LARGE), "EPT01 PML4E with bit 7");
            CHECK((e & ~EPT_ADDR_MASK) == EPT_RWX,
                  "EPT01 table entry 0x%llx is not a plain pointer", U(e));
            uint64_t sub = e & EPT_ADDR_MASK;
            if (is_sink_table(sub)) {
                CHECK(sub == the_vm.sink.table[level - 1],
                      "EPT01 level-%u entry points at the sink's table of "
                      "another level",
                      level);
                unsigned m = class_range(g, size);
                CHECK(!(m & ~C_HIDDEN), "EPT01 sinks L1 0x%llx-0x%llx, which holds %s", U(g),
                      U(g + size - 1), class_name(m & ~C_HIDDEN));
                continue;
            }
            pages += check01_table(sub, level - 1, g);
            continue;
        }
        uint64_t hpa = e & EPT_ADDR_MASK;
        CHECK(level <= the_vm.ept01.max_level && (level == 1 || (e & EPT_LARGE)),
              "EPT01 leaf 0x%llx at level %u", U(e), level);
        CHECK(!(e & ~(EPT_ADDR_MASK | EPT_RWX | EPT_MEMTYPE_MASK | EPT_LARGE)),
              "EPT01 leaf 0x%llx stray bits", U(e));
        CHECK(memtype_valid((unsigned)((e >> 3) & 7)), "EPT01 leaf 0x%llx memory type", U(e));
        if (sink_on && level == 1 && hpa == the_vm.sink.page) {
            CHECK(e == (the_vm.sink.page | the_vm.sink.leaf_flags), "EPT01 sink leaf 0x%llx", U(e));
            unsigned m = class_range(g, size);
            CHECK(!(m & ~C_HIDDEN), "EPT01 sinks L1 0x%llx, which is %s", U(g), class_name(m));
            continue;
        }
        CHECK(hpa == g, "EPT01 maps L1 0x%llx to host 0x%llx: not the identity, not the sink", U(g),
              U(hpa));
        unsigned m = class_range(g, size);
        CHECK(!(m & ~(C_RAM | C_DEV)), "EPT01 gives L1 0x%llx-0x%llx: %s", U(g), U(g + size - 1),
              class_name(m & ~(C_RAM | C_DEV)));
        CHECK(m == C_RAM || m == C_DEV, "EPT01 leaf 0x%llx mixes RAM and devices", U(e));
        if ((e & EPT_RWX) != EPT_RWX)
            CHECK(level == 1 && m == C_RAM && (e & EPT_RWX) == (EPT_READ | EPT_EXEC) &&
                      ever_protected_page(g),
                  "EPT01 leaf 0x%llx at L1 0x%llx lost permissions but is no bitmap page", U(e),
                  U(g));
        if (!mtrr_on)
            CHECK(((e >> 3) & 7) == (m == C_RAM ? MEMTYPE_WB : MEMTYPE_UC), "EPT01 type of 0x%llx",
                  U(e));
    }
    return pages;
}

NOCOV static void check_ept01(void)
{
    /* Unchanged since it was built (and checked): nothing to walk. Most
     * inputs never touch EPT01; memcmp is much cheaper than the walk. */
    if (conf->checked && the_vm.ept01.table_pages == conf->ept.table_pages && !n01alloc) {
        bool same = true;
        for (unsigned i = 0; i < conf->npages && same; i++)
            same = !memcmp(fake_phys + conf->pages[i], conf->copy[i], PG);
        if (same) return;
    }
    unsigned pages = check01_table(the_vm.ept01.root, 4, 0);
    CHECK(pages == the_vm.ept01.table_pages, "EPT01 reaches %u tables, counts %llu", pages,
          U(the_vm.ept01.table_pages));
    if (the_vm.ept01.table_pages == conf->ept.table_pages && !n01alloc) conf->checked = true;
}

/* The code changes EPT12 tables only by setting A/D flags. */
NOCOV static void check_t12(void)
{
    for (unsigned t = 0; t < NT12; t++) {
        const uint64_t *T = phys64(table12(t));
        if (!memcmp(T, t12_shadow[t], PG)) continue;
        for (unsigned i = 0; i < 512; i++) {
            if (T[i] == t12_shadow[t][i]) continue;
            uint64_t diff = T[i] ^ t12_shadow[t][i];
            CHECK(!(diff & ~(EPT_ACCESSED | EPT_DIRTY)) && (T[i] & diff) == diff,
                  "EPT12 entry at 0x%llx changed by L0 from 0x%llx to 0x%llx",
                  U(table12(t) + i * 8), U(t12_shadow[t][i]), U(T[i]));
            t12_shadow[t][i] = T[i];
            tot.ad_writes++;
        }
    }
}

NOCOV static void check_all(void)
{
    stamp_now++;
    check_sink();
    check_ept01();
    check_ept02_all();
    check_t12();
}

/* ---- the simulated CPU ---- */

struct walk02 {
    bool present;
    uint64_t perms, hpa, leaf;
    unsigned level, n;
    uint64_t *ent[4];
};

NOCOV static void cpu_walk02(uint64_t eptp02, uint64_t gpa, struct walk02 *w)
{
    memset(w, 0, sizeof(*w));
    uint64_t t = eptp02 & EPT_ADDR_MASK, perms = EPT_RWX;
    for (unsigned l = 4; l >= 1; l--) {
        unsigned i = pool_index(cur, t, "the CPU's EPT02 table");
        CHECK(C->pool_owner[i], "cpu%u walks EPT02 table 0x%llx, which is FREE (use after free)",
              cur, U(t));
        uint64_t *e = &phys64(t)[EPT_INDEX(gpa, l)];
        w->ent[w->n++] = e;
        perms &= *e & EPT_RWX;
        w->perms = perms;
        if (!(*e & EPT_RWX)) return;
        if (l == 1 || (l < 4 && (*e & EPT_LARGE))) {
            w->present = true;
            w->level = l;
            w->leaf = *e;
            w->hpa = xlate01(*e, l, gpa);
            return;
        }
        t = *e & EPT_ADDR_MASK;
    }
}

/* L2 is about to run: vmcs02 holds the live shadow of its EPTP12, and
 * every dropped root has been INVEPTed. */
/* What a page of the current CPU's pool is now, for a report. */
NOCOV static const char *pool_page_is(uint64_t pa)
{
    if (pa < C->pool_base || pa >= C->pool_base + C->pool_pages * PG)
        return "not in this CPU's pool";
    const struct ept *owner = C->pool_owner[(pa - C->pool_base) / PG];
    if (!owner) return "FREE: a dropped root, use after free";
    return owner->root == pa ? "the root of another shadow" : "a table of another shadow";
}

NOCOV static void check_vmcs02(uint64_t eptp12)
{
    CHECK(!C->npending,
          "L2 runs on cpu%u while %u dropped EPT02 root(s) (first 0x%llx) had no INVEPT there", cur,
          C->npending, U(C->pending_invept[0]));
    uint64_t eptp02 = 0;
    struct ept *sh = ept02_shadow(&C->e2, eptp12, &eptp02);
    CHECK(sh && C->vmcs02_eptp == eptp02,
          "L2 runs on cpu%u with vmcs02's EPTP 0x%llx, whose root page is %s; the live shadow of "
          "EPTP12 0x%llx is %s0x%llx",
          cur, U(C->vmcs02_eptp), pool_page_is(C->vmcs02_eptp & EPT_ADDR_MASK), U(eptp12),
          sh ? "" : "none, ", U(eptp02));
}

static uint64_t qual_of(uint64_t access)
{
    return ((access & EPT_READ) ? EPT_QUAL_READ : 0) | ((access & EPT_WRITE) ? EPT_QUAL_WRITE : 0) |
           ((access & EPT_EXEC) ? EPT_QUAL_FETCH : 0);
}

#define QUAL_KEPT                                                                                  \
    (EPT_QUAL_READ | EPT_QUAL_WRITE | EPT_QUAL_FETCH | EPT_QUAL_GLA_VALID |                        \
     EPT_QUAL_GLA_TRANSLATED | EPT_QUAL_NMI_UNBLOCKING)

/* ept02_handle_violation (or ept02_prefault) against the reference. */
static enum ept02_outcome resolve_checked(uint64_t eptp12, uint64_t gpa, uint64_t qual,
                                          bool prefault)
{
    uint64_t access = ((qual & EPT_QUAL_READ) ? EPT_READ : 0) |
                      ((qual & EPT_QUAL_WRITE) ? EPT_WRITE : 0) |
                      ((qual & EPT_QUAL_FETCH) ? EPT_EXEC : 0);
    struct ref12 r;
    ref_walk(eptp12, gpa, access, &r);
    uint64_t before[4];
    for (unsigned i = 0; i < r.n; i++)
        before[i] = l1_load(r.pa[i]);
    struct ept02_fault f;
    memset(&f, 0xa5, sizeof(f));
    uint64_t reclaims = C->e2.stats.pool_reclaims, reclaimed = C->e2.stats.roots_reclaimed;
    /* vmcs12's log, as nested.c and entry.c hand it over (SDM 29.3.6). */
    struct slot *sl = &slots[C->cur_slot];
    struct ept02_pml pml = {.address = sl->pml_addr, .index = sl->pml_index};
    struct ept02_pml *plog = sl->pml ? &pml : 0;
    uint16_t index_before = sl->pml_index;
    uint64_t log_pa = sl->pml_addr + (uint64_t)index_before * PML_ENTRY_SIZE;
    uint64_t log_before = index_before < PML_ENTRIES ? l1_view_load(log_pa) : 0;
    if (prefault)
        f.outcome = ept02_prefault(&C->e2, eptp12, gpa, qual, plog) ? EPT02_FILLED
                                                                   : EPT02_REFLECT_VIOLATION;
    else
        ept02_handle_violation(&C->e2, eptp12, gpa, qual, plog, &f);
    if (plog) sl->pml_index = pml.index;
    TRACE("%s eptp12 0x%llx gpa 0x%llx qual 0x%llx: reference %s (L1 0x%llx, level %u, perms "
          "%llx), outcome %d\n",
          prefault ? "prefault" : "violation", U(eptp12), U(gpa), U(qual),
          r.status == REF_OK          ? "ok"
          : r.status == REF_VIOLATION ? "violation"
                                      : "misconfig",
          U(r.l1_gpa), r.level, U(r.perms), f.outcome);
    tot.pool_reclaims += C->e2.stats.pool_reclaims - reclaims;
    tot.roots_reclaimed += C->e2.stats.roots_reclaimed - reclaimed;

    bool ad = eptp12 & EPTP_AD_ENABLE, write = access & EPT_WRITE;
    /* SDM 29.3.6: with a flag to set and the index outside 0-511, a
     * log-full exit; nothing set, nothing logged. */
    bool flag_due = false;
    for (unsigned i = 0; ad && r.status == REF_OK && i < r.n; i++) {
        uint64_t want = EPT_ACCESSED | (write && i == r.n - 1 ? EPT_DIRTY : 0);
        flag_due |= (before[i] & want) != want;
    }
    if (plog && flag_due && index_before >= PML_ENTRIES) {
        CHECK(prefault ? f.outcome != EPT02_FILLED : f.outcome == EPT02_PML_FULL,
              "outcome %d, the log is full (index 0x%x) and a flag is due", f.outcome, index_before);
        CHECK(sl->pml_index == index_before, "the index moved from 0x%x to 0x%x on a full log",
              index_before, sl->pml_index);
        for (unsigned i = 0; i < r.n; i++)
            CHECK(l1_load(r.pa[i]) == before[i], "EPT12 entry at 0x%llx changed on a full log",
                  U(r.pa[i]));
        tot.pml_full += !prefault;
        return EPT02_PML_FULL;
    }
    /* A dirty flag from 0 to 1 with a log: the page at the index (29.3.6). */
    bool logs = plog && ad && r.status == REF_OK && write && !(before[r.n - 1] & EPT_DIRTY);
    uint64_t entry = gpa & ~(PG - 1);
    CHECK(sl->pml_index == (uint16_t)(index_before - logs), "PML index 0x%x after the fault, expected 0x%x",
          sl->pml_index, (uint16_t)(index_before - logs));
    if (logs) {
        tot.pml_logged++;
        uint64_t now = l1_view_load(log_pa);
        if (is_l1_ram(log_pa, 8) || sink_at(log_pa)) {
            CHECK(now == entry, "PML entry %u at 0x%llx is 0x%llx, expected 0x%llx", index_before,
                  U(log_pa), U(now), U(entry));
            if (is_l1_ram(log_pa, 8)) {
                tot.pml_log_ram++;
                l1_stored_by_l0(log_pa, entry);
            } else {
                tot.pml_log_sink++;
            }
        }
    } else if (index_before < PML_ENTRIES) {
        bool walked = false; /* the slot may be an EPT12 entry that took a flag */
        for (unsigned i = 0; i < r.n; i++)
            walked |= r.pa[i] == (log_pa & ~7ULL);
        CHECK(walked || l1_view_load(log_pa) == log_before || !is_l1_ram(log_pa, 8),
              "PML slot at 0x%llx written with nothing to log", U(log_pa));
    }
    if (ad && r.status == REF_OK)
        for (unsigned i = 0; i < r.n; i++) {
            if (nad < MAX_AD)
                ad_written[nad++] = r.pa[i];
            else
                ad_overflow = true;
        }
    for (unsigned i = 0; i < r.n; i++) {
        uint64_t want = before[i];
        if (ad && r.status == REF_OK) {
            want |= EPT_ACCESSED;
            for (unsigned j = 0; j < r.n; j++)
                if (r.pa[j] == r.pa[i] && j == r.n - 1 && write) want |= EPT_DIRTY;
        }
        if (logs && r.pa[i] == log_pa) want = entry; /* the log entry came after the flags */
        uint64_t now = l1_load(r.pa[i]);
        CHECK(now == want,
              "EPT12 entry %u at 0x%llx is 0x%llx after the fault, expected 0x%llx (was 0x%llx)", i,
              U(r.pa[i]), U(now), U(want), U(before[i]));
    }
    if (r.status == REF_MISCONFIG) {
        CHECK(f.outcome == (prefault ? EPT02_REFLECT_VIOLATION : EPT02_REFLECT_MISCONFIG),
              "outcome %d, the reference says misconfiguration", f.outcome);
        return EPT02_REFLECT_MISCONFIG;
    }
    if (r.status == REF_VIOLATION) {
        CHECK(f.outcome == EPT02_REFLECT_VIOLATION, "outcome %d, the reference says violation",
              f.outcome);
        if (!prefault)
            CHECK(f.qualification == ((qual & QUAL_KEPT) | r.perms << 3),
                  "reflected qualification 0x%llx, expected 0x%llx", U(f.qualification),
                  U((qual & QUAL_KEPT) | r.perms << 3));
        return EPT02_REFLECT_VIOLATION;
    }
    uint64_t e01;
    unsigned l01;
    bool mapped = walk01(r.l1_gpa, &e01, &l01);
    if (!mapped || (access & ~e01 & EPT_RWX)) {
        CHECK(!sink_on,
              "L2's access (%llx) to L1 0x%llx is refused under hidden=discard (EPT01 %s0x%llx)",
              U(access), U(r.l1_gpa), mapped ? "" : "unmapped, ", U(mapped ? e01 : 0));
        if (prefault)
            CHECK(f.outcome != EPT02_FILLED, "prefault filled an access EPT01 forbids");
        else
            CHECK(f.outcome == EPT02_L1_HIDDEN && f.l1_gpa == r.l1_gpa,
                  "outcome %d (L1 0x%llx), expected hidden 0x%llx", f.outcome, U(f.l1_gpa),
                  U(r.l1_gpa));
        return EPT02_L1_HIDDEN;
    }
    CHECK(f.outcome == EPT02_FILLED,
          "outcome %d, the reference says fill (L1 0x%llx, EPT01 0x%llx)", f.outcome, U(r.l1_gpa),
          U(e01));
    uint64_t eptp02 = 0;
    struct ept *sh = ept02_shadow(&C->e2, eptp12, &eptp02);
    CHECK(sh, "no shadow after a fill");
    struct live *lv = live_of(sh);
    CHECK(lv, "the shadow after a fill is not live");
    /* the filled entry */
    struct walk02 w;
    cpu_walk02(eptp02, gpa, &w);
    CHECK(w.present, "EPT02 does not map L2 0x%llx after a fill", U(gpa));
    unsigned want_level = r.level < l01 ? r.level : l01;
    CHECK(w.level == want_level, "EPT02 level %u after a fill, expected %u (EPT12 %u, EPT01 %u)",
          w.level, want_level, r.level, l01);
    CHECK(w.hpa == xlate01(e01, l01, r.l1_gpa), "EPT02 maps L2 0x%llx to 0x%llx, expected 0x%llx",
          U(gpa), U(w.hpa), U(xlate01(e01, l01, r.l1_gpa)));
    uint64_t perms = r.perms & e01 & EPT_RWX;
    if (ad && !write && !(r.leaf & EPT_DIRTY)) perms &= ~EPT_WRITE;
    CHECK((w.leaf & EPT_RWX) == perms, "EPT02 perms %llx after a fill, expected %llx",
          U(w.leaf & EPT_RWX), U(perms));
    unsigned t;
    bool ipat;
    ref_memtype(ept12_leaf_memtype(r.leaf), ept12_leaf_ipat(r.leaf), (unsigned)((e01 >> 3) & 7), &t,
                &ipat);
    CHECK(((w.leaf >> 3) & 7) == t && (bool)(w.leaf & EPT_IGNORE_PAT) == ipat,
          "EPT02 type after a fill");
    if (sink_on && (e01 & EPT_ADDR_MASK) == the_vm.sink.page)
        tot.sink_fills++;
    else if (class_range(w.hpa, 1) & C_DEV)
        tot.device_fills++;
    return EPT02_FILLED;
}

/* One access of L2 at gpa, as the CPU does it; false if L2 stopped running. */
static bool l2_access(uint64_t gpa, uint64_t access, uint64_t qual_extra, uint64_t value,
                      bool full_check_fill)
{
    uint64_t eptp12 =
        C->l2_eptp12; /* vmcs12's EPT pointer as L2 was entered (the vCPU's cache of it) */
    ctx.eptp12 = eptp12;
    ctx.gpa = gpa;
    tot.accesses++;
    for (int attempt = 0;; attempt++) {
        check_vmcs02(eptp12);
        struct walk02 w;
        cpu_walk02(C->vmcs02_eptp, gpa, &w);
        if (w.present && !(access & ~w.perms)) {
            if (C->vmcs02_eptp & EPTP_AD_ENABLE) {
                for (unsigned i = 0; i < w.n; i++)
                    *w.ent[i] |= EPT_ACCESSED;
                if (access & EPT_WRITE) *w.ent[w.n - 1] |= EPT_DIRTY;
            }
            uint64_t at = w.hpa & ~7ULL; /* one aligned quadword: never across a page */
            unsigned m = class_range(at, 8);
            bool sink = sink_on && (at & ~(PG - 1)) == the_vm.sink.page;
            CHECK(sink || !(m & ~(C_RAM | C_DEV)), "L2 %s at L2 0x%llx reaches host 0x%llx: %s",
                  (access & EPT_WRITE) ? "writes" : "reads", U(gpa), U(w.hpa), class_name(m));
            if (access & EPT_WRITE) {
                if (sink)
                    *phys64(at) = value;
                else if (m == C_RAM)
                    l1_store(at, value);
            }
            return true;
        }
        CHECK(!attempt, "after a fill L2's access (%llx) at 0x%llx still faults (EPT02 perms %llx)",
              U(access), U(gpa), U(w.perms));
        uint64_t qual = qual_of(access) | (w.perms << 3) | qual_extra;
        enum ept02_outcome o = resolve_checked(eptp12, gpa, qual, false);
        switch (o) {
        case EPT02_FILLED:
            tot.fills++;
            C->vmcs02_eptp =
                ept02_eptp_for(&C->e2, eptp12); /* nested.c: a reclaim may have moved it */
            CHECK(C->vmcs02_eptp, "ept02_eptp_for(&C->e2, 0x%llx) is 0 after a fill", U(eptp12));
            if (full_check_fill) check_all();
            continue;
        case EPT02_REFLECT_VIOLATION:
            tot.reflected++;
            C->pending = (struct pending_fault){
                .valid = true, .slot = C->cur_slot, .gpa = gpa, .qual = qual};
            C->l2_running = false;
            return false;
        case EPT02_REFLECT_MISCONFIG:
            tot.misconfigs++;
            C->l2_running = false;
            return false;
        case EPT02_PML_FULL: /* L1 gets exit 62 and empties its log */
            C->l2_running = false;
            return false;
        case EPT02_L1_HIDDEN:
            tot.hidden++;
            tot.stopped++;
            C->l2_running = false;
            l1_stopped = true; /* memfault_contain: vm_stop */
            return false;
        case EPT02_WRITE_EMULATED:
            /* Only with a write emulator (nested/bitmap_write.c), which the
             * harness does not install: protections are lifted here. */
            CHECK(false, "EPT02_WRITE_EMULATED without a write emulator at 0x%llx", U(gpa));
            return false;
        }
    }
}

/* L1 writes its own memory: through EPT01, where a protected bitmap page
 * takes the write fault of vmm/memfault.c. */
static bool l1_write(uint64_t pa, uint64_t v)
{
    pa &= ~7ULL;
    if (!is_l1_ram(pa, 8)) return false;
    uint64_t e01;
    unsigned l01;
    CHECK(walk01(pa, &e01, &l01) && xlate01(e01, l01, pa) == pa,
          "EPT01 does not give L1 its RAM at 0x%llx", U(pa));
    if (!(e01 & EPT_WRITE)) {
        tot.write_faults++;
        CHECK(nested_bitmap_write_fault(pa),
              "L1's write to its RAM at 0x%llx is refused (EPT01 0x%llx)", U(pa), U(e01));
        CHECK(walk01(pa, &e01, &l01) && (e01 & EPT_WRITE),
              "the write fault at 0x%llx left the page read-only", U(pa));
    }
    C->l2_running = false;
    l1_store(pa, v);
    return true;
}

NOCOV static bool ad_by_l0(uint64_t pa)
{
    if (ad_overflow) return true;
    for (unsigned i = 0; i < nad; i++)
        if (ad_written[i] == pa) return true;
    return false;
}

/* The merged bitmap is L0's ORed with L1's page as it is now. */
NOCOV static void check_merged(unsigned b, uint64_t l1)
{
    static uint64_t want[512];
    const uint8_t *d = fake_phys + bm_dst[cur][b], *l0 = fake_phys + bm_l0[b], *p1 = fake_phys + l1;
    for (unsigned i = 0; i < 512; i++)
        want[i] = ((const uint64_t *)l0)[i] | ((const uint64_t *)p1)[i];
    if (!memcmp(d, want, sizeof(want))) return;
    for (unsigned i = 0; i < 4096; i++) {
        if (d[i] == (l0[i] | p1[i])) continue;
        /* L0 never loses its own exits. */
        CHECK((d[i] & l0[i]) == l0[i], "merged bitmap %u byte %u is 0x%x without L0's 0x%x", b, i,
              d[i], l0[i]);
        /* Known divergence, reported (docs/fuzzing.md): L0's A/D writes into
         * an EPT12 entry that lies in a protected bitmap page bypass the
         * EPT01 protection, so the merge is not marked stale and misses
         * L1's new bits 8-9 (byte 1 of the entry, bits 0-1).
         * FUZZ_EPT02_STRICT_BITMAPS=1 makes it a finding. */
        bool ad_only = (i % 8) == 1 && !((d[i] ^ (l0[i] | p1[i])) & ~3) &&
                       !(d[i] & ~(l0[i] | p1[i])) && ad_by_l0(l1 + (i & ~7u));
        CHECK(ad_only && !strict_bitmaps,
              "merged bitmap %u byte %u is 0x%x, L0 0x%x | L1 (0x%llx) 0x%x%s", b, i, d[i], l0[i],
              U(l1), p1[i], ad_only ? " (L0's own A/D write into the protected page)" : "");
        tot.stale_ad_merges++;
    }
}

/* A VM entry (VMLAUNCH/VMRESUME of the current vmcs12): the checks of the
 * EPTP, the bitmap merges, vmcs02's EPTP, the prefault. */
static bool vm_entry(bool try_prefault)
{
    const struct slot *s = &slots[C->cur_slot];
    uint64_t eptp12 = s->eptp12;
    ctx.eptp12 = eptp12;
    tot.entries++;
    uint64_t beyond = ~((1ULL << maxphy) - 1) | (PG - 1);
    if (!ept12_eptp_valid(eptp12, &caps12) || (s->pml && (s->pml_addr & beyond)) ||
        (s->vmfunc && (s->list & beyond))) {
        tot.entry_fails++;
        C->pending.valid = false;
        return false;
    }
    for (unsigned b = 0; b < BITMAP_COUNT; b++) {
        uint64_t l1 = s->bm[b];
        if (!l1) continue;
        uint64_t e01 = 0;
        unsigned l01;
        bool was_w = walk01(l1, &e01, &l01) && (e01 & EPT_WRITE);
        uint64_t inv = invept01_count;
        nested_bitmap_merge(&C->bm, (enum nested_bitmap)b, bm_dst[cur][b], bm_l0[b], l1);
        check_merged(b, l1);
        bool now_w = walk01(l1, &e01, &l01) && (e01 & EPT_WRITE);
        if (was_w && !now_w) {
            tot.protections++;
            CHECK(invept01_count > inv, "EPT01 lost write at 0x%llx without an INVEPT", U(l1));
            if (nprotected < 64 && !ever_protected_page(l1)) ever_protected[nprotected++] = l1;
        }
    }
    C->vmcs02_eptp = ept02_eptp_for(&C->e2, eptp12);
    CHECK(C->vmcs02_eptp, "ept02_eptp_for(&C->e2, 0x%llx) is 0", U(eptp12));
    if (C->pending.valid && try_prefault && C->pending.slot == C->cur_slot) {
        ctx.gpa = C->pending.gpa;
        if (resolve_checked(eptp12, C->pending.gpa, C->pending.qual, true) == EPT02_FILLED) {
            tot.prefaults++;
            C->vmcs02_eptp = ept02_eptp_for(&C->e2, eptp12);
            uint64_t access = ((C->pending.qual & EPT_QUAL_READ) ? EPT_READ : 0) |
                              ((C->pending.qual & EPT_QUAL_WRITE) ? EPT_WRITE : 0) |
                              ((C->pending.qual & EPT_QUAL_FETCH) ? EPT_EXEC : 0);
            struct walk02 w;
            cpu_walk02(C->vmcs02_eptp, C->pending.gpa, &w);
            CHECK(w.present && !(access & ~w.perms), "prefault said yes, EPT02 says %llx at 0x%llx",
                  U(w.perms), U(C->pending.gpa));
        }
    }
    C->pending.valid = false;
    C->l2_running = true;
    C->l2_eptp12 = eptp12;
    return true;
}

/* ---- decoding the input ---- */

static const unsigned hot[8] = {0, 1, 2, 3, 4, 5, 256, 511};

static uint64_t pick_gpa(void)
{
    uint8_t a = in8(), b = in8();
    if (b & 0x10) return in_n(6) & (GPA_LIMIT - 1);
    uint64_t l4 = (a & 3) == 3 ? 511 : a & 3;
    uint64_t g = l4 << 39 | (uint64_t)hot[(a >> 2) & 7] << 30 | (uint64_t)hot[(a >> 5) & 7] << 21 |
                 (uint64_t)hot[b & 7] << 12;
    return g | (uint64_t)(b >> 5) << 9 | (b & 8 ? 0xff8 : 0);
}

static uint64_t pick_access(uint8_t a)
{
    static const uint64_t acc[8] = {EPT_READ,
                                    EPT_WRITE,
                                    EPT_EXEC,
                                    EPT_READ,
                                    EPT_WRITE,
                                    EPT_READ | EPT_WRITE,
                                    EPT_READ | EPT_EXEC,
                                    EPT_WRITE};
    return acc[a & 7];
}

static uint64_t pick_qual_extra(uint8_t a)
{
    uint64_t q = 0;
    if (a & 0x08) q |= EPT_QUAL_GLA_VALID | ((a & 0x10) ? EPT_QUAL_GLA_TRANSLATED : 0);
    if (a & 0x20) q |= EPT_QUAL_NMI_UNBLOCKING;
    if (a & 0x40)
        q |= (uint64_t)((a >> 2) & 7) << 9 | 1ULL << 16; /* advanced information, shadow stack */
    return q;
}

/* An L1-physical address for an EPT12 leaf. */
static uint64_t pick_l1_target(void)
{
    uint8_t sel = in8(), idx = in8();
    switch (sel & 15) {
    case 0:
    case 1:
    case 2:
        return DATA_BASE + (uint64_t)idx * PG;
    case 3:
        return table12(idx);
    case 4:
        return KERNEL_BASE + (uint64_t)idx * PG;
    case 5:
        return POOL_BASE + (uint64_t)idx * 32 * PG;
    case 6:
        return cpus[(sel >> 4) % NCPU].pool_base +
               (uint64_t)(idx * 4 + (sel >> 5)) % EPT02_POOL_PAGES * PG;
    case 7:
        if (!sink_on) return POOL_BASE;
        return (idx & 3) ? the_vm.sink.table[idx & 3] : the_vm.sink.page;
    case 8: {
        static const uint64_t dev[4] = {0x9f000, 0xa0000, DEV_BASE, 0x1d00000};
        return dev[idx & 3] + (uint64_t)(idx >> 2) * PG;
    }
    case 9:
        return FAKE_END + (uint64_t)idx * 2 * MiB + (sel >> 4) * GiB;
    case 10:
        return extent + (uint64_t)idx * GiB + (sel >> 4) * PG;
    case 11:
        return (1ULL << maxphy) + (uint64_t)idx * GiB;
    case 12:
        return IMAGE_BASE + (uint64_t)idx * PG;
    case 13: {
        static const uint64_t ram[4] = {0x0, 0x100000, ACPI_BASE, IMAGE_END};
        return ram[idx & 3] + (uint64_t)(idx >> 2) * PG;
    }
    case 14:
        return in_n(5) << 12;
    default:
        return ((uint64_t)idx << 17 | (uint64_t)(sel >> 4) << 13) % POOL_BASE;
    }
}

static uint64_t make_leaf(unsigned level)
{
    uint8_t f1 = in8(), f2 = in8();
    uint64_t size = EPT_LEVEL_SIZE(level), a = pick_l1_target();
    if (!(f2 & 0x80)) a &= ~(size - 1);
    uint64_t e = (a & EPT_ADDR_MASK) | (f1 & 7) | (uint64_t)((f1 >> 3) & 7) << 3;
    e |= (f1 & 0x40) ? EPT_IGNORE_PAT : 0;
    e |= (level > 1 || (f1 & 0x80)) ? EPT_LARGE : 0;
    e |= (f2 & 1) ? EPT_ACCESSED : 0;
    e |= (f2 & 2) ? EPT_DIRTY : 0;
    e |= (f2 & 4) ? EPT_USER_EXEC : 0;
    e |= (f2 & 8) ? 1ULL << 11 : 0;
    e |= (f2 & 0x10) ? EPT_SUPPRESS_VE : 0;
    e |= (f2 & 0x20) ? 1ULL << (52 + (f1 & 7)) : 0; /* ignored bits 62:52 */
    if ((f2 & 0x40) && maxphy < 52)
        e |= 1ULL << (maxphy + (f1 >> 3) % (52 - maxphy)); /* beyond MAXPHYADDR */
    return e;
}

static uint64_t make_pointer(void)
{
    uint8_t f = in8(), t = in8();
    uint64_t target = (f & 0x80) ? pick_l1_target() & EPT_ADDR_MASK : table12(t & 15);
    uint64_t e = target | (f & 7);
    e |= (f & 8) ? EPT_ACCESSED : 0;
    e |= (f & 0x10) ? EPT_LARGE : 0;
    e |= (f & 0x20) ? (uint64_t)((t >> 4) & 15) << 3 : 0; /* reserved bits 6:3 */
    e |= (f & 0x40) ? EPT_DIRTY | EPT_USER_EXEC : 0;
    return e;
}

static unsigned pick_index(void)
{
    uint8_t b = in8();
    return (b & 1) ? hot[(b >> 1) & 7] : ((b >> 1) | (unsigned)(in8() & 3) << 7);
}

/* L1 edits its EPT12 (through EPT01, like any store of L1). */
static void op_edit(void)
{
    uint8_t b = in8();
    unsigned t = b & 15, kind = b >> 4, idx = pick_index();
    uint64_t pa = table12(t) + idx * 8, cur = l1_load(pa);
    switch (kind) {
    case 0:
    case 1:
    case 2:
        l1_write(pa, make_pointer());
        break;
    case 3:
    case 13:
    case 14:
        l1_write(pa, make_leaf(1));
        break;
    case 4:
        l1_write(pa, make_leaf(2));
        break;
    case 5:
        l1_write(pa, make_leaf(3));
        break;
    case 6:
        l1_write(pa, (in8() & 1) ? 0 : in_n(8) & ~EPT_RWX);
        break;
    case 7:
        l1_write(pa, in_n(8));
        break;
    case 8:
        l1_write(pa, cur ^ 1ULL << (in8() & 63));
        break;
    case 9: {
        uint8_t s = in8();
        l1_write(pa, l1_load(table12(s & 15) + pick_index() * 8));
        break;
    }
    case 10: { /* a whole table of pointers */
        uint64_t e = make_pointer();
        for (unsigned i = 0; i < 512; i++)
            l1_write(table12(t) + i * 8, e);
        break;
    }
    case 11: { /* a whole table of leaves, consecutive */
        unsigned level = 1 + in8() % 3;
        uint64_t e = make_leaf(level);
        for (unsigned i = 0; i < 512; i++)
            l1_write(table12(t) + i * 8, e + (uint64_t)i * EPT_LEVEL_SIZE(level));
        break;
    }
    default: /* 12, 15: clear a table */
        for (unsigned i = 0; i < 512; i++)
            if (l1_load(table12(t) + i * 8)) l1_write(table12(t) + i * 8, 0);
        break;
    }
}

static uint64_t pick_bitmap_page(uint8_t sel)
{
    switch (sel & 7) {
    case 0:
        return 0;
    case 1:
    case 2:
    case 3:
    case 4:
        return table12((sel & 7) - 1 + ((sel >> 3) & 4));
    case 5:
        return DATA_BASE + (uint64_t)(sel >> 3) * PG;
    case 6:
        return 0x1000 + (uint64_t)(sel >> 3) * PG;
    default:
        return ACPI_BASE + (uint64_t)((sel >> 3) & 15) * PG;
    }
}

/* An address L1 names for its log or EPTP list (VMWRITE): page-aligned,
 * in its data, its EPT12 tables, a bitmap page, nestvisor's memory, the
 * sink beyond EPT01's extent, a device; or invalid (unaligned, beyond
 * MAXPHYADDR: the VM entry fails). */
static uint64_t pick_l1_page(void)
{
    uint8_t sel = in8(), idx = in8();
    switch (sel & 7) {
    case 0:
    case 1:
        return DATA_BASE + (uint64_t)idx * PG;
    case 2:
        return table12(idx);
    case 3:
        return pick_bitmap_page(idx);
    case 4:
        return (sel & 8) ? KERNEL_BASE + (uint64_t)idx * PG : ept02_pool_base + (uint64_t)idx * PG;
    case 5:
        return (sel & 8) ? extent + (uint64_t)idx * PG : 0xa0000 + (uint64_t)(idx & 31) * PG;
    case 6:
        return (sel & 8) ? 1ULL << maxphy : DATA_BASE + 8;
    default:
        return (in_n(5) << 12) & ((1ULL << maxphy) - 1);
    }
}

static uint16_t pick_pml_index(void)
{
    static const uint16_t hot_index[8] = {PML_ENTRIES - 1, PML_ENTRIES - 2, 1, 0, 0xffff, PML_ENTRIES, 256, 3};
    uint8_t b = in8();
    return (b & 8) ? (uint16_t)in_n(2) : hot_index[b & 7];
}

static uint32_t pick_list_index(void)
{
    static const uint32_t hot_list[8] = {0, 1, 2, 3, EPTP_LIST_ENTRIES - 1, EPTP_LIST_ENTRIES, 7, 0xffffffffU};
    uint8_t b = in8();
    return (b & 8) ? (uint32_t)in_n(4) : hot_list[b & 7];
}

/* A value L1 puts into its EPTP list: one of the EPTP12s, one with a bit
 * flipped (often invalid), or raw. */
static uint64_t pick_list_value(void)
{
    uint8_t b = in8();
    uint64_t e = eptps[(b >> 2) % NEPTP];
    switch (b & 3) {
    case 0:
    case 1:
        return e;
    case 2:
        return e ^ 1ULL << (in8() & 63);
    default:
        return in_n(8);
    }
}

/* L2's VMFUNC with EAX = 0 and ECX = index, as vmm/nested/eptfeat.c
 * handles it: the list entry as L1 reaches it, valid as a VM entry would
 * check it, becomes the EPT pointer in use, with no exit; else L1 gets
 * exit 59. Checked against the harness's own reading of the list. */
static void l2_vmfunc(uint32_t index)
{
    struct slot *sl = &slots[C->cur_slot];
    tot.vmfuncs++;
    if (!sl->vmfunc) { /* #UD in L2 (the CPU's, no exit): nothing changes */
        return;
    }
    uint64_t want = index < EPTP_LIST_ENTRIES ? l1_view_load(sl->list + (uint64_t)index * EPTP_LIST_ENTRY_SIZE)
                                              : 0;
    uint64_t beyond = ((1ULL << 52) - 1) & ~((1ULL << maxphy) - 1);
    unsigned type = (unsigned)(want & 7);
    bool valid = index < EPTP_LIST_ENTRIES && ((type == 0 && caps12.memtype_uc) || type == 6) &&
                 ((want >> 3) & 7) == 3 && (!(want & EPTP_AD_ENABLE) || caps12.ad) && !(want & 0xf80) &&
                 !(want >> 52) && !(want & beyond);
    uint64_t got = 0x5a5a;
    bool switched = ept02_eptp_list_entry(sl->list, index, &got);
    TRACE("VMFUNC(0, %u) list 0x%llx: entry 0x%llx, reference %s, code %s\n", index, U(sl->list), U(want),
          valid ? "valid" : "invalid", switched ? "switches" : "exits");
    CHECK(switched == valid, "VMFUNC(0, %u): list entry 0x%llx at 0x%llx is %s, the code %s", index, U(want),
          U(sl->list + (uint64_t)index * EPTP_LIST_ENTRY_SIZE), valid ? "a valid EPTP" : "no valid EPTP",
          switched ? "switches" : "exits");
    if (!switched) {
        C->l2_running = false;
        return;
    }
    CHECK(got == want, "VMFUNC(0, %u) loads 0x%llx, the list holds 0x%llx", index, U(got), U(want));
    tot.vmfunc_switches++;
    sl->eptp12 = got;
    C->l2_eptp12 = got;
    ctx.eptp12 = got;
    C->vmcs02_eptp = ept02_eptp_for(&C->e2, got);
    CHECK(C->vmcs02_eptp, "ept02_eptp_for(0x%llx) is 0 after VMFUNC", U(got));
}

/* PML, VM functions and the EPTP list (op byte bits 7:5 all set). */
static void run_feature_op(unsigned kind)
{
    struct slot *sl = &slots[C->cur_slot];
    switch (kind) {
    case 0:
    case 1: /* VMWRITEs of "enable PML", the log address and the index */
        ctx.op = "VMWRITE PML";
        sl->pml = !(in8() & 1) || kind;
        sl->pml_addr = pick_l1_page();
        sl->pml_index = pick_pml_index();
        C->l2_running = false;
        break;
    case 2: /* ... of the index only (L1 emptied its log) */
        ctx.op = "VMWRITE PML index";
        sl->pml_index = pick_pml_index();
        C->l2_running = false;
        break;
    case 3:
    case 4: /* VMWRITEs of "enable VM functions" with EPTP switching, the list */
        ctx.op = "VMWRITE VMFUNC";
        sl->vmfunc = !(in8() & 1) || kind == 4;
        sl->list = pick_l1_page();
        C->l2_running = false;
        break;
    case 5:
    case 6:
    case 7: { /* L1 stores into its EPTP list */
        ctx.op = "EPTP list store";
        uint64_t pa = sl->list + (uint64_t)(pick_list_index() % EPTP_LIST_ENTRIES) * EPTP_LIST_ENTRY_SIZE;
        uint64_t v = pick_list_value();
        if (!l1_write(pa, v) && sink_at(pa)) *phys64(the_vm.sink.page + (pa & (PG - 1))) = v;
        break;
    }
    case 8:
    case 9:
    case 10:
    case 11:
    case 12: { /* L2's VMFUNC, then an access */
        ctx.op = "L2 VMFUNC";
        uint32_t index = pick_list_index();
        uint64_t gpa = pick_gpa();
        uint8_t a = in8();
        if (!C->l2_running && !vm_entry(true)) return;
        l2_vmfunc(index);
        if (C->l2_running) l2_access(gpa, pick_access(a), 0, a, false);
        break;
    }
    default: { /* L2 switches back and forth quickly, touching memory in each */
        ctx.op = "VMFUNC switches";
        uint8_t b = in8();
        uint64_t gpa = pick_gpa();
        if (!C->l2_running && !vm_entry(true)) return;
        for (unsigned i = 0; i < 1 + (b & 15) && C->l2_running && !l1_stopped; i++) {
            l2_vmfunc((b >> 4) + i % 3);
            if (C->l2_running) l2_access(gpa + i * PG, (i & 1) ? EPT_WRITE : EPT_READ, 0, i, false);
        }
        break;
    }
    }
}

static void run_op(void)
{
    uint8_t op = in8();
    cur = (op >> 4) % NCPU; /* the CPU this operation runs on */
    ctx.cpu = cur;
    if ((op & 0xe0) == 0xe0) {
        run_feature_op(op & 15);
        return;
    }
    switch (op & 15) {
    case 0:
    case 1:
    case 2: { /* L2 accesses memory */
        ctx.op = "L2 access";
        uint64_t gpa = pick_gpa();
        uint8_t a = in8();
        uint64_t v = in_n(1) * 0x0101010101010101ULL;
        if (!C->l2_running && !vm_entry(true)) return;
        l2_access(gpa, pick_access(a), pick_qual_extra(a), v, false);
        break;
    }
    case 3: { /* L2 sweeps a range: many fills, pool pressure */
        ctx.op = "L2 sweep";
        uint64_t gpa = pick_gpa();
        uint8_t a = in8(), c = in8();
        static const uint64_t stride[4] = {PG, 2 * MiB, GiB, 512 * GiB};
        unsigned count = 1 + (c & 0x3f) * ((c & 0x40) ? 32 : 1);
        if (!C->l2_running && !vm_entry(true)) return;
        uint64_t st = (c & 0x80) ? stride[(a >> 3) & 3] : 2 * MiB;
        for (unsigned i = 0; i < count; i++)
            if (!l2_access((gpa + i * st) & (GPA_LIMIT - 1), pick_access(a), 0, i, false)) break;
        break;
    }
    case 4: { /* L1: VMPTRLD a vmcs12 and VMRESUME it */
        ctx.op = "VM entry";
        uint8_t b = in8();
        if ((b & 3) < NSLOTS && (b & 3) != C->cur_slot) {
            C->cur_slot = b & 3;
            C->l2_running = false;
        }
        vm_entry(!(b & 4));
        break;
    }
    case 5:
    case 6:
    case 13:
        ctx.op = "EPT12 edit";
        op_edit();
        break;
    case 7: { /* L1 writes its memory: data, bitmaps, tables */
        ctx.op = "L1 write";
        uint8_t b = in8();
        uint64_t pa = (b & 1) ? pick_bitmap_page(in8()) + (in8() & 0x1ff) * 8 : pick_l1_target();
        l1_write(pa, in_n(8));
        break;
    }
    case 8: { /* INVEPT */
        ctx.op = "INVEPT";
        uint8_t b = in8();
        C->l2_running = false;
        if (b & 1) {
            ept02_invalidate(&C->e2, EPT02_ALL_CONTEXTS);
            CHECK(!ept02_root_count(&C->e2), "roots survive INVEPT all-context");
        } else {
            uint64_t desc = eptps[(b >> 1) % NEPTP] ^ ((b & 0x20) ? EPTP_AD_ENABLE : 0) ^
                            ((b & 0x40) ? EPTP_MEMTYPE_WB : 0);
            if (b & 0x80) desc = table12(b >> 1) | EPTP_MEMTYPE_WB | EPTP_WALK_4;
            ctx.eptp12 = desc;
            if (!ept12_eptp_valid(desc, &caps12)) break; /* VMfail: nothing dropped */
            ept02_invalidate(&C->e2, desc);
            for (unsigned k = 0; k < NEPTP; k++) {
                uint64_t dummy;
                if ((eptps[k] & EPT_ADDR_MASK) == (desc & EPT_ADDR_MASK))
                    CHECK(!ept02_shadow(&C->e2, eptps[k], &dummy),
                          "the shadow of 0x%llx survives INVEPT 0x%llx", U(eptps[k]), U(desc));
            }
        }
        break;
    }
    case 9: { /* L1 VMWRITEs the EPT pointer of the current vmcs12 */
        ctx.op = "VMWRITE EPTP";
        slots[C->cur_slot].eptp12 = eptps[in8() % NEPTP];
        C->l2_running = false;
        break;
    }
    case 10: { /* L1 VMWRITEs the bitmap addresses */
        ctx.op = "VMWRITE bitmaps";
        uint8_t b = in8();
        slots[C->cur_slot].bm[b % BITMAP_COUNT] = pick_bitmap_page(in8());
        C->l2_running = false;
        break;
    }
    case 11: { /* L0: an EPT misconfiguration in EPT02 (nested.c), or forget the merges */
        ctx.op = "flush";
        uint8_t b = in8();
        if ((b & 1) && C->l2_running) {
            ept02_flush_all(&C->e2);
            C->vmcs02_eptp = ept02_eptp_for(&C->e2, C->l2_eptp12);
        } else if (b & 2) {
            (nested_bitmaps_unprotect_all(), nested_bitmaps_init(&C->bm));
        }
        break;
    }
    case 12: { /* switch between several L2s quickly: more EPTP12s than cached roots */
        ctx.op = "EPTP switches";
        uint8_t b = in8(), c = in8();
        for (unsigned i = 0; i < 1 + (b & 15); i++) {
            slots[C->cur_slot].eptp12 = eptps[(c + i * (1 + (b >> 4))) % NEPTP];
            C->l2_running = false;
            if (vm_entry(false)) l2_access(pick_gpa(), EPT_READ, 0, 0, false);
            if (l1_stopped) break;
        }
        break;
    }
    default: { /* 14, 15: L2 writes into L1's memory where EPT12 says (e.g. its own tables) */
        ctx.op = "L2 write";
        uint64_t gpa = pick_gpa();
        uint64_t v = in_n(8);
        if (!C->l2_running && !vm_entry(true)) return;
        l2_access(gpa, EPT_WRITE, 0, v, false);
        break;
    }
    }
}

/* ---- the starting EPT12 ---- */

static void put12(unsigned t, unsigned i, uint64_t e)
{
    uint64_t pa = table12(t) + i * 8;
    *phys64(pa) = e;
    t12_shadow[t][i] = e;
    mark_dirty(pa);
}

/* v (0-7): 7 all zero, else bit 0 A/D set, bit 1 read-execute data
 * leaves, bit 2 "wide" (every PDPTE and PDE of the first PML4E leads on,
 * for pool pressure). */
static void skeleton(uint8_t v)
{
    if (v == 7) return;
    uint64_t ad = (v & 1) ? EPT_ACCESSED | EPT_DIRTY : 0;
    uint64_t leafp = (v & 2) ? EPT_READ | EPT_EXEC : EPT_RWX;
    uint64_t wb = (uint64_t)MEMTYPE_WB << EPT_MEMTYPE_SHIFT,
             uc = (uint64_t)MEMTYPE_UC << EPT_MEMTYPE_SHIFT;
    /* T0: PML4 (EPTP 0); T1: PDPT; T2: PD; T3, T4: PTs; T5: a second PML4 */
    put12(0, 0, table12(1) | EPT_RWX | (ad & EPT_ACCESSED));
    put12(0, 1, table12(1) | EPT_RWX);
    put12(0, 511, table12(5) | EPT_RWX);
    put12(5, 0, table12(1) | EPT_READ | EPT_EXEC);
    put12(5, 511, table12(0) | EPT_RWX); /* a cycle through two PML4s */
    put12(1, 0, table12(2) | EPT_RWX);
    put12(1, 1, caps12.pages_1g ? 0 | EPT_RWX | wb | EPT_LARGE | ad : table12(2) | EPT_RWX);
    put12(1, 2, table12(2) | EPT_RWX);
    put12(1, 3, caps12.pages_1g ? extent | EPT_RWX | wb | EPT_LARGE : table12(4) | EPT_RWX);
    put12(1, 4, caps12.pages_1g ? 3 * GiB | EPT_RWX | uc | EPT_LARGE : table12(4) | EPT_RWX);
    put12(1, 511, table12(1) | EPT_RWX); /* a PDPT used as a PD, and so on */
    put12(2, 0, table12(3) | EPT_RWX);
    put12(2, 1, table12(3) | EPT_RWX);
    put12(2, 4, table12(4) | EPT_RWX);
    if (caps12.pages_2m) {
        put12(2, 2, DATA_BASE | leafp | wb | EPT_LARGE | ad);
        put12(2, 3, KERNEL_BASE | EPT_RWX | wb | EPT_LARGE);
        put12(2, 5, POOL_BASE | EPT_RWX | wb | EPT_LARGE);
        put12(2, 256, 0 | EPT_RWX | wb | EPT_LARGE);
        put12(2, 511, ACPI_BASE | EPT_RWX | uc | EPT_LARGE);
    }
    for (unsigned i = 0; i < 8; i++)
        put12(3, i, (DATA_BASE + i * PG) | leafp | wb | ad);
    put12(3, 8, table12(0) | EPT_READ | EPT_WRITE | wb); /* L2 sees L1's EPT12 */
    put12(3, 9, KERNEL_BASE | EPT_RWX | wb);
    put12(3, 10, ept02_pool_base | EPT_RWX | wb);
    put12(3, 11, table12(2) | EPT_RWX | wb);
    put12(3, 256, 0xa0000 | EPT_RWX | uc);
    put12(3, 511, (extent + 5 * GiB) | EPT_RWX | wb);
    for (unsigned i = 0; i < 16; i++)
        put12(4, i, (IMAGE_END + i * PG) | EPT_RWX | wb);
    put12(4, 16, IMAGE_BASE | EPT_RWX | wb);
    put12(4, 17, (ACPI_BASE + 0x10000) | EPT_READ | uc);
    if (v & 4) {
        for (unsigned i = 0; i < 512; i++) {
            put12(1, i, table12(2) | EPT_RWX);
            put12(2, i, table12(3) | EPT_RWX);
        }
    }
}

/* ---- one input ---- */

static void setup_world(uint8_t h0, uint8_t h1)
{
    static const unsigned maxphys[4] = {36, 39, 46, 52};
    host = (struct vmx_caps){.ept = true,
                             .ept_wb = true,
                             .ept_uc = true,
                             .ept_4level = true,
                             .ept_2m = true,
                             .ept_1g = h0 & 1,
                             .ept_ad = h0 & 2,
                             .ept_exec_only = h0 & 4};
    maxphy = maxphys[(h0 >> 3) & 3];
    sink_on = !(h0 & 0x20);
    mtrr_on = h0 & 0x40;
    caps12 = (struct ept12_caps){
        .exec_only = host.ept_exec_only && (h1 & 1),
        .pages_2m = !(h1 & 2),
        .ad = host.ept_ad && !(h1 & 8),
        .memtype_uc = !(h1 & 0x10),
        .memtype_wb = true,
        .phys_mask = (1ULL << maxphy) - 1,
    };
    caps12.pages_1g = host.ept_1g && caps12.pages_2m && !(h1 & 4);
    the_vm.caps = &host;
    the_vm.cfg.hidden = sink_on ? HIDDEN_DISCARD : HIDDEN_STOP;

    struct mtrr_state *m = &the_vm.host_mtrr;
    memset(m, 0, sizeof(*m));
    m->phys_addr_mask = ((1ULL << maxphy) - 1) & ~0xfffULL;
    if (mtrr_on) { /* UC by default, WB 0-32 MiB, WT over 24-28 MiB (WB+WT = WT) */
        m->enabled = true;
        m->def_type = MEMTYPE_UC;
        m->var_count = 2;
        m->var_base[0] = 0 | MEMTYPE_WB;
        m->var_mask[0] = (~(32 * MiB - 1) & m->phys_addr_mask) | (1ULL << 11);
        m->var_base[1] = 24 * MiB | MEMTYPE_WT;
        m->var_mask[1] = (~(4 * MiB - 1) & m->phys_addr_mask) | (1ULL << 11);
    }
    /* vm.c: ept01_extent and phys_limit */
    phys_limit = (m->phys_addr_mask | 0xfff) + 1;
    if (phys_limit > GPA_LIMIT) phys_limit = GPA_LIMIT;
    extent = 4 * GiB; /* memmap_end is 64 MiB */
    if (host.ept_1g) extent = phys_limit < (1ULL << 39) ? phys_limit : (1ULL << 39);

    /* EPT01 of this configuration: built once (as vm_create builds it) and
     * restored after every input (see teardown_world). */
    unsigned ci = (h0 & 1) | ((h0 >> 3) & 3) << 1 | (sink_on ? 8 : 0) | (mtrr_on ? 16 : 0);
    conf = &conf01[ci];
    if (!conf->built) {
        memset(&the_vm.ept01, 0, sizeof(the_vm.ept01));
        track01 = true;
        n01alloc = 0;
        unsigned max_level = host.ept_1g ? 3 : 2;
        CHECK(ept_init(&the_vm.ept01, max_level) &&
                  ept01_build(&the_vm.ept01, &host_map, m, extent, sink_on ? &the_vm.sink : 0) &&
                  (!sink_on || extent >= phys_limit ||
                   ept_map_sink(&the_vm.ept01, extent, phys_limit - extent, &the_vm.sink)),
              "building EPT01");
        CHECK(n01alloc == the_vm.ept01.table_pages && n01alloc <= MAX01,
              "EPT01 built with %u pages, counts %llu", n01alloc, U(the_vm.ept01.table_pages));
        conf->ept = the_vm.ept01;
        conf->npages = n01alloc;
        for (unsigned i = 0; i < n01alloc; i++) {
            conf->pages[i] = alloc01[i];
            memcpy(conf->copy[i], fake_phys + alloc01[i], PG);
        }
        conf->built = true;
    }
    the_vm.ept01 = conf->ept;
    track01 = true;
    n01alloc = n01freed = 0;
    pmm_at_start = pmm_free_pages();
    the_vm.eptp01 = ept_eptp(&the_vm.ept01, false);
    ept01_l1_memmap(&host_map, &the_vm.l1_map);

    /* Per vCPU: its shadows and their pool (the largest, or the smallest
     * pools ept02_init takes, for pressure), its bitmap cache. */
    ept02_set_caps(&caps12);
    for (unsigned c = 0; c < NCPU; c++) {
        struct cpu *pc = &cpus[c];
        unsigned pages = (h0 & 0x80) ? EPT02_POOL_MIN_PAGES << c : EPT02_POOL_PAGES;
        memset(&pc->e2.stats, 0, sizeof(pc->e2.stats));
        initing = c;
        CHECK(ept02_init(&pc->e2, pages), "ept02_init(%u pages)", pages);
        initing = NCPU;
        nested_bitmaps_init(&pc->bm);
        pc->cur_slot = c;
        pc->l2_running = false;
        pc->pending.valid = false;
        pc->vmcs02_eptp = 0;
        pc->npending = 0;
    }
    cur = 0;
    l1_stopped = false;

    /* EPTP12s: roots in the tables (with and without A/D, WB and UC), in
     * data, outside L1 RAM; more than EPT02_ROOTS of them. */
    for (unsigned i = 0; i < 6; i++)
        eptps[i] = table12(i) | EPTP_MEMTYPE_WB | EPTP_WALK_4;
    for (unsigned i = 6; i < 10; i++) /* the same roots with A/D, or further tables */
        eptps[i] =
            caps12.ad ? eptps[i - 6] | EPTP_AD_ENABLE : table12(i) | EPTP_MEMTYPE_WB | EPTP_WALK_4;
    eptps[10] = table12(0) | EPTP_MEMTYPE_UC | EPTP_WALK_4;
    eptps[11] = DATA_BASE | EPTP_MEMTYPE_WB | EPTP_WALK_4;
    eptps[12] = 0x1d00000 | EPTP_MEMTYPE_WB | EPTP_WALK_4; /* a device hole */
    /* nestvisor's kernel; with A/D, invalid (VM entry fails) where A/D is not offered */
    eptps[13] = KERNEL_BASE | EPTP_MEMTYPE_WB | EPTP_WALK_4 | EPTP_AD_ENABLE;
    for (unsigned i = 0; i < NSLOTS; i++)
        slots[i] = (struct slot){.eptp12 = eptps[i], .pml_addr = DATA_BASE, .pml_index = PML_ENTRIES - 1,
                                 .list = DATA_BASE + PG};
    nprotected = 0;
    nad = 0;
    ad_overflow = false;
}

NOCOV static void teardown_world(void)
{
    ctx.op = "teardown";
    for (cur = 0; cur < NCPU; cur++) {
        ept02_invalidate(&C->e2, EPT02_ALL_CONTEXTS);
        CHECK(!ept02_root_count(&C->e2), "cpu%u has roots after INVEPT all-context", cur);
        CHECK(C->mnfree == C->pool_pages && ept02_pool_free(&C->e2) == C->pool_pages,
              "cpu%u's EPT02 pool leaks: %u free (the pool says %u) of %u", cur, C->mnfree,
              ept02_pool_free(&C->e2), C->pool_pages);
    }
    cur = 0;
    CHECK(!nlive, "%u roots live after INVEPT all-context on every CPU", nlive);
    nested_bitmaps_unprotect_all();
    /* EPT01 back to what it was: the tables allocated during the input
     * (splits around protected bitmap pages) freed, the others restored. */
    CHECK(the_vm.ept01.table_pages == conf->ept.table_pages + n01alloc - n01freed,
          "EPT01 counts %llu tables: %llu built + %u allocated - %u freed during the input",
          U(the_vm.ept01.table_pages), U(conf->ept.table_pages), n01alloc, n01freed);
    track01 = false;
    if (n01freed) { /* a built table was freed: build this configuration afresh next time */
        ept_destroy(&the_vm.ept01);
        conf->built = conf->checked = false;
    } else {
        for (unsigned i = 0; i < n01alloc; i++) {
            ept_owned[pmm_page(alloc01[i])] = 0;
            pmm_free(alloc01[i], 1);
        }
        for (unsigned i = 0; i < conf->npages; i++)
            memcpy(fake_phys + conf->pages[i], conf->copy[i], PG);
    }
    CHECK(pmm_free_pages() == pmm_at_start || !conf->built,
          "the pmm has %llu pages free, %llu before the input", U(pmm_free_pages()),
          U(pmm_at_start));
    /* L1 memory back to zero */
    for (unsigned i = 0; i < l1_ndirty; i++) {
        memset(fake_phys + (uint64_t)l1_dirty_list[i] * PG, 0, PG);
        l1_dirty[l1_dirty_list[i]] = 0;
    }
    l1_ndirty = 0;
    memset(t12_shadow, 0, sizeof(t12_shadow));
    /* The sink as it started (PML entries and list entries go there too),
     * so that every input replays the same. */
    memset(fake_phys + the_vm.sink.page, 0xff, PG);
    for (unsigned i = 0; i < edit_nused; i++)
        edit_key[edit_used[i]] = 0;
    edit_nused = 0;
    edit_all = 0;
}

static void init_once(void)
{
    fake_phys_reset();
    fake_vmx_reset();
    classes_init();
    memmap_init(&host_map);
    for (unsigned i = 0; i < NHOST; i++)
        CHECK(memmap_set(&host_map, host_ranges[i].base, host_ranges[i].end - host_ranges[i].base,
                         host_ranges[i].type),
              "host map");
    CHECK(pmm_init(POOL_BASE, POOL_END - POOL_BASE), "pmm_init");
    vmxon_page = pmm_alloc_page();
    CHECK(vmx_on(vmxon_page), "vmx_on");
    for (unsigned c = 0; c < NCPU; c++) {
        cpus[c].pool_base = pmm_alloc(EPT02_POOL_PAGES);
        CHECK(cpus[c].pool_base, "pmm");
        poison(cpus[c].pool_base, EPT02_POOL_PAGES * PG);
    }
    ept02_pool_base = cpus[0].pool_base;
    canary_page = pmm_alloc_page();
    for (unsigned b = 0; b < BITMAP_COUNT; b++) {
        bm_l0[b] = pmm_alloc_page();
        for (unsigned c = 0; c < NCPU; c++)
            bm_dst[c][b] = pmm_alloc_page();
        for (unsigned i = 0; i < 4096; i += 61)
            fake_phys[bm_l0[b] + i] = (uint8_t)(1u << (i % 8)); /* L0's own exits */
    }
    CHECK(ept02_pool_base && canary_page && bm_dst[NCPU - 1][BITMAP_COUNT - 1], "pmm");
    /* One sink for every configuration (vm.c: sink_create). */
    uint64_t sink_page = pmm_alloc_page();
    CHECK(sink_page, "no sink page");
    memset(fake_phys + sink_page, 0xff, PG);
    CHECK(ept_sink_init(&the_vm.sink, sink_page,
                        EPT_RWX | ((uint64_t)MEMTYPE_WB << EPT_MEMTYPE_SHIFT)),
          "sink");
    for (unsigned l = 1; l <= 3; l++)
        for (unsigned i = 0; i < 512; i++)
            sink_copy[l][i] =
                l == 1 ? sink_page | the_vm.sink.leaf_flags : the_vm.sink.table[l - 1] | EPT_RWX;
    memset(fake_phys + canary_page, 0xca, PG);
    /* What the code under test must never touch. */
    poison(KERNEL_BASE, KERNEL_END - KERNEL_BASE);
    poison(IMAGE_BASE, IMAGE_END - IMAGE_BASE);
    poison(0x9f000, 0x100000 - 0x9f000);
    poison(DEV_BASE, IMAGE_BASE - DEV_BASE);
    poison(canary_page, PG);
    const char *trace = getenv("FUZZ_EPT02_TRACE");
    tracing = trace && *trace && *trace != '0';
    const char *strict = getenv("FUZZ_EPT02_STRICT_BITMAPS");
    strict_bitmaps = strict && *strict && *strict != '0';
    /* smp.c reloads vmcs02's EPT pointer after a flush in L2 since the
     * finding below; =0 replays the old behaviour. */
    const char *reload = getenv("FUZZ_EPT02_REMOTE_FLUSH_RELOADS");
    remote_reload = !reload || *reload != '0';
    atexit(print_totals);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool ready;
    if (!ready) {
        init_once();
        ready = true;
    }
    in_p = data;
    in_end = data + size;
    memset(&ctx, 0, sizeof(ctx));
    uint8_t h0 = in8(), h1 = in8();
    setup_world(h0, h1);
    skeleton(h1 >> 5);
    tot.inputs++;
    ctx.op = "start";
    check_all();
    for (ctx.step = 1; in_left() && !l1_stopped && ctx.step <= 256; ctx.step++) {
        run_op();
        TRACE("step %u on cpu%u: %s; L2 %s, slot %u, EPTP12 0x%llx, vmcs02 EPTP 0x%llx, %u roots, "
              "%u pool pages "
              "free\n",
              ctx.step, cur, ctx.op, C->l2_running ? "running" : "stopped", C->cur_slot,
              U(C->l2_eptp12), U(C->vmcs02_eptp), nlive, C->mnfree);
        tot.steps++;
        check_all();
    }
    teardown_world();
    return 0;
}
