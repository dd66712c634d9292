/* libFuzzer target for vmm/nested/ept12.c: L1 writes its EPT12 however it
 * likes, and L0 walks it on every EPT violation of L2, so the walker must
 * survive any table contents.
 *
 * The input is everything the walk depends on:
 *   bytes 0-7   EPTP (little-endian)
 *   bytes 8-15  L2 guest-physical address
 *   byte 16     access: bits 2:0 = read, write, fetch
 *   byte 17     what L1 was offered: bit 0 execute-only, 1 2 MiB pages,
 *               2 1 GiB pages, 3 A/D, 4 EPTP UC, 5 EPTP WB
 *   byte 18     MAXPHYADDR = 32 + byte % 21 (32..52)
 *   byte 19     L1 RAM ends at byte * 1 MiB (0: everything is RAM)
 *   the rest    L1 memory: the 8-byte entry at physical address pa is
 *               entry number (pa / 8) mod count (folded, so that a short
 *               input describes a whole walk)
 *
 * Checked on every input: no crash or undefined behaviour (ASan, UBSan),
 * at most four entries read, each where the EPTP or the previous entry
 * says (SDM 29.3.2), the walk's record of them matching, the same result
 * twice, and a result consistent with the SDM (29.3.3.1 misconfigurations,
 * 29.3.3.2 violations): OK means a leaf at level 1-3 whose size is offered,
 * a valid memory type, an address within MAXPHYADDR and permissions (the
 * AND over the walk) that contain the access; a violation ends at a
 * not-present entry or a leaf that lacks the access; a misconfiguration
 * ends at a present entry. A compact reference walk must agree exactly.
 * ept12_eptp_valid is checked against the EPTP rules (SDM 26.2.1.1). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "vmm/nested/ept12.h"
#include "vmm/ept.h"

#define HEADER 20

static const uint8_t *mem;
static size_t mem_entries;
static uint64_t ram_limit;
static unsigned reads;
static uint64_t read_pa[8], read_val[8];

#define CHECK(cond)                                                                        \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            fprintf(stderr, "fuzz_ept12: %s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            abort();                                                                       \
        }                                                                                  \
    } while (0)

static uint64_t le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static bool in_ram(uint64_t pa) { return !ram_limit || pa < ram_limit; }

static uint64_t entry_at(uint64_t pa) { return mem_entries ? le64(mem + ((pa / 8) % mem_entries) * 8) : 0; }

static bool fuzz_read(uint64_t pa, uint64_t *entry)
{
    CHECK(reads < 4); /* a fifth read: the walk does not terminate in time */
    read_pa[reads] = pa;
    bool ok = in_ram(pa);
    if (ok)
        *entry = entry_at(pa);
    read_val[reads++] = ok ? *entry : 0;
    return ok;
}

/* The compact reference (SDM 29.3.2, 29.3.3). */
static enum ept12_status ref_walk(uint64_t eptp, uint64_t gpa, uint64_t access, const struct ept12_caps *c,
                                  unsigned *level, uint64_t *perms, uint64_t *l1)
{
    uint64_t beyond = EPT_ADDR_MASK & ~c->phys_mask;
    uint64_t table = eptp & EPT_ADDR_MASK, p = 7;
    for (unsigned l = 4; l >= 1; l--) {
        uint64_t pa = table + EPT_INDEX(gpa, l) * 8;
        uint64_t e = in_ram(pa) ? entry_at(pa) : 0;
        p &= e & 7;
        *perms = p;
        if (!(e & 7))
            return EPT12_VIOLATION;
        if ((e & 3) == 2 || ((e & 7) == 4 && !c->exec_only) || (e & beyond))
            return EPT12_MISCONFIG;
        bool ps = e & 0x80, leaf = l == 1 || (l < 4 && ps);
        if (!leaf && (e & (l == 4 ? 0xf8 : 0x78)))
            return EPT12_MISCONFIG;
        if (leaf) {
            unsigned mt = (e >> 3) & 7;
            uint64_t size = EPT_LEVEL_SIZE(l);
            if (mt == 2 || mt == 3 || mt == 7 || (l == 3 && !c->pages_1g) || (l == 2 && !c->pages_2m) ||
                (e & EPT_ADDR_MASK & (size - 1)))
                return EPT12_MISCONFIG;
            *level = l;
            *l1 = (e & EPT_ADDR_MASK) | (gpa & (size - 1));
            return (access & ~p) ? EPT12_VIOLATION : EPT12_OK;
        }
        table = e & EPT_ADDR_MASK;
    }
    abort();
}

static void check_eptp(uint64_t eptp, const struct ept12_caps *c)
{
    if (!ept12_eptp_valid(eptp, c))
        return;
    uint64_t type = eptp & 7;
    CHECK((type == 0 && c->memtype_uc) || (type == 6 && c->memtype_wb));
    CHECK(((eptp >> 3) & 7) == 3);
    CHECK(!(eptp & EPTP_AD_ENABLE) || c->ad);
    CHECK(!(eptp & 0xf80));
    CHECK(!(eptp & ~(c->phys_mask | 0xfff)));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t h[HEADER] = {0};
    memcpy(h, data, size < HEADER ? size : HEADER);
    mem = size > HEADER ? data + HEADER : data;
    mem_entries = size > HEADER ? (size - HEADER) / 8 : 0;
    uint64_t eptp = le64(h), gpa = le64(h + 8), access = h[16] & 7;
    unsigned maxphy = 32 + h[18] % 21;
    ram_limit = (uint64_t)h[19] << 20;
    struct ept12_caps c = {
        .exec_only = h[17] & 1,
        .pages_2m = h[17] & 2,
        .pages_1g = h[17] & 4,
        .ad = h[17] & 8,
        .memtype_uc = h[17] & 16,
        .memtype_wb = h[17] & 32,
        .phys_mask = (1ULL << maxphy) - 1,
    };
    check_eptp(eptp, &c);

    struct ept12_walk w, again;
    reads = 0;
    ept12_walk(eptp, gpa, access, &c, fuzz_read, &w);
    unsigned n = reads;

    /* The entries read: at most four, each where it belongs. */
    CHECK(n >= 1 && n <= 4 && w.entries == n);
    uint64_t table = eptp & EPT_ADDR_MASK, and = 7;
    for (unsigned i = 0; i < n; i++) {
        unsigned level = 4 - i;
        CHECK(read_pa[i] == table + EPT_INDEX(gpa, level) * 8);
        CHECK(w.entry_pa[i] == read_pa[i]);
        and &= read_val[i] & 7;
        if (i + 1 < n) { /* walked through: a present table pointer */
            CHECK(read_val[i] & 7);
            CHECK(level == 4 || !(read_val[i] & EPT_LARGE));
        }
        table = read_val[i] & EPT_ADDR_MASK;
    }
    uint64_t last = read_val[n - 1];
    CHECK(!(w.perms & ~EPT_RWX));

    switch (w.status) {
    case EPT12_OK:
        CHECK(w.level >= 1 && w.level <= 3 && n == 5 - w.level);
        CHECK(w.leaf == last && (last & 7));
        CHECK(w.perms == and && !(access & ~w.perms));
        CHECK(!(w.perms & EPT_WRITE) || (w.perms & EPT_READ));
        CHECK(w.perms != EPT_EXEC || c.exec_only);
        CHECK(w.level != 3 || c.pages_1g);
        CHECK(w.level != 2 || c.pages_2m);
        CHECK(w.l1_gpa == ((last & EPT_ADDR_MASK & ~(EPT_LEVEL_SIZE(w.level) - 1)) |
                           (gpa & (EPT_LEVEL_SIZE(w.level) - 1))));
        CHECK(!(w.l1_gpa & ~c.phys_mask & EPT_ADDR_MASK));
        CHECK(ept12_leaf_memtype(w.leaf) != 2 && ept12_leaf_memtype(w.leaf) != 3 && ept12_leaf_memtype(w.leaf) != 7);
        break;
    case EPT12_VIOLATION:
        CHECK(w.perms == and);
        CHECK(!(last & 7) ? w.perms == 0 : (access & ~w.perms) != 0);
        break;
    case EPT12_MISCONFIG:
        CHECK(last & 7);
        break;
    default:
        CHECK(!"unknown status");
    }

    /* The reference agrees. */
    unsigned ref_level = 0;
    uint64_t ref_perms = 0, ref_l1 = 0;
    enum ept12_status ref = ref_walk(eptp, gpa, access, &c, &ref_level, &ref_perms, &ref_l1);
    CHECK(ref == w.status);
    if (ref != EPT12_MISCONFIG)
        CHECK(ref_perms == w.perms);
    if (ref == EPT12_OK)
        CHECK(ref_level == w.level && ref_l1 == w.l1_gpa);

    /* Same input, same result. */
    reads = 0;
    ept12_walk(eptp, gpa, access, &c, fuzz_read, &again);
    CHECK(reads == n && again.status == w.status && again.l1_gpa == w.l1_gpa && again.level == w.level &&
          again.perms == w.perms && again.leaf == w.leaf && again.entries == w.entries);
    for (unsigned i = 0; i < n; i++)
        CHECK(again.entry_pa[i] == w.entry_pa[i]);
    return 0;
}
