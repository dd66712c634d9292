/* SMBIOS entry points for L1; see smbios.h. */
#include "vmm/smbios.h"
#include "arch/x86/physmem.h"
#include "lib/format.h"
#include "lib/log.h"
#include "lib/string.h"

/* DSP0134 5.2.1: the 2.1 (32-bit) entry point. */
#define EP2_LEN_OFF      0x05
#define EP2_MAJOR_OFF    0x06
#define EP2_MINOR_OFF    0x07
#define EP2_DMI_OFF      0x10 /* "_DMI_", then its checksum over 15 bytes */
#define EP2_DMI_LEN      15
#define EP2_TABLE_LEN    0x16 /* u16 */
#define EP2_TABLE_ADDR   0x18 /* u32 */
#define EP2_SIZE         0x1F /* the structure; 2.1 said 0x1E by mistake */
#define EP2_LEN_MIN      0x1E /* what Linux accepts */
#define EP2_LEN_MAX      0x20
/* DSP0134 5.2.2: the 3.0 (64-bit) entry point. */
#define EP3_LEN_OFF      0x06
#define EP3_MAJOR_OFF    0x07
#define EP3_MINOR_OFF    0x08
#define EP3_TABLE_MAX    0x0C /* u32: structure table maximum size */
#define EP3_TABLE_ADDR   0x10 /* u64 */
#define EP3_SIZE         0x18
#define EP3_LEN_MAX      0x20 /* what Linux accepts */

static uint8_t sum(const uint8_t *p, size_t n)
{
    uint8_t s = 0;
    while (n--)
        s = (uint8_t)(s + *p++);
    return s;
}

static uint64_t le(const uint8_t *p, unsigned n)
{
    uint64_t v = 0;
    while (n--)
        v = v << 8 | p[n];
    return v;
}

static enum smbios_status parse3(const uint8_t *ep, size_t avail, struct smbios_ep *out)
{
    if (avail < EP3_SIZE || memcmp(ep, "_SM3_", 5))
        return SMBIOS_BAD_ANCHOR;
    uint8_t len = ep[EP3_LEN_OFF];
    if (len < EP3_SIZE || len > EP3_LEN_MAX || len > avail)
        return SMBIOS_BAD_LENGTH;
    if (sum(ep, len))
        return SMBIOS_BAD_CHECKSUM;
    *out = (struct smbios_ep){SMBIOS_EP3, ep[EP3_MAJOR_OFF], ep[EP3_MINOR_OFF], len,
                              le(ep + EP3_TABLE_ADDR, 8), le(ep + EP3_TABLE_MAX, 4)};
    return SMBIOS_OK;
}

static enum smbios_status parse2(const uint8_t *ep, size_t avail, struct smbios_ep *out)
{
    if (avail < EP2_SIZE || memcmp(ep, "_SM_", 4))
        return SMBIOS_BAD_ANCHOR;
    uint8_t len = ep[EP2_LEN_OFF];
    if (len < EP2_LEN_MIN || len > EP2_LEN_MAX || len > avail)
        return SMBIOS_BAD_LENGTH;
    if (sum(ep, len))
        return SMBIOS_BAD_CHECKSUM;
    if (memcmp(ep + EP2_DMI_OFF, "_DMI_", 5))
        return SMBIOS_BAD_DMI_ANCHOR;
    if (sum(ep + EP2_DMI_OFF, EP2_DMI_LEN))
        return SMBIOS_BAD_DMI_CHECKSUM;
    *out = (struct smbios_ep){SMBIOS_EP2, ep[EP2_MAJOR_OFF], ep[EP2_MINOR_OFF],
                              len > EP2_SIZE ? len : EP2_SIZE, le(ep + EP2_TABLE_ADDR, 4),
                              le(ep + EP2_TABLE_LEN, 2)};
    return SMBIOS_OK;
}

enum smbios_status smbios_parse(const uint8_t *ep, size_t avail, enum smbios_kind kind,
                                struct smbios_ep *out)
{
    enum smbios_status s = kind == SMBIOS_EP3 ? parse3(ep, avail, out) : parse2(ep, avail, out);
    if (s == SMBIOS_OK && !out->table_len)
        return SMBIOS_EMPTY_TABLE;
    return s;
}

const char *smbios_status_str(enum smbios_status s)
{
    switch (s) {
    case SMBIOS_OK: return "valid";
    case SMBIOS_BAD_ANCHOR: return "no anchor string";
    case SMBIOS_BAD_LENGTH: return "bad entry point length";
    case SMBIOS_BAD_CHECKSUM: return "bad checksum";
    case SMBIOS_BAD_DMI_ANCHOR: return "no intermediate anchor \"_DMI_\"";
    case SMBIOS_BAD_DMI_CHECKSUM: return "bad intermediate checksum";
    case SMBIOS_EMPTY_TABLE: return "empty structure table";
    }
    return "unknown SMBIOS error";
}

uint64_t smbios_find(uint64_t base, uint64_t end, struct smbios_ep *out)
{
    for (uint64_t at = base; at + SMBIOS_SLOT <= end; at += SMBIOS_STEP) {
        /* Only valid entry points count, as for Linux: an anchor with a
         * bad checksum is not one. */
        const uint8_t *p = phys_to_virt(at);
        if (smbios_parse(p, SMBIOS_SLOT, SMBIOS_EP3, out) == SMBIOS_OK ||
            smbios_parse(p, SMBIOS_SLOT, SMBIOS_EP2, out) == SMBIOS_OK)
            return at;
    }
    return 0;
}

/* ---- where things are ---- */

/* Memory the firmware describes and L1 can read (EPT01 maps RAM and
 * reserved ranges 1:1; nestvisor's own ranges it hides). */
static bool describes_memory(uint32_t type)
{
    return type == MEM_USABLE || type == MEM_RESERVED || type == MEM_ACPI_RECLAIM ||
           type == MEM_ACPI_NVS;
}

/* True if every byte of [base, base + len) lies in ranges whose type is
 * memory; else *bad is the first other type met (0: a hole). */
static bool all_memory(const struct memmap *m, uint64_t base, uint64_t len, uint32_t *bad)
{
    *bad = 0;
    if (!len || base + len < base)
        return false;
    uint64_t at = base, end = base + len;
    for (unsigned i = 0; i < m->count && at < end; i++) {
        const struct mem_range *r = &m->r[i];
        if (r->base + r->size <= at)
            continue;
        if (r->base > at)
            return false;
        if (!describes_memory(r->type)) {
            *bad = r->type;
            return false;
        }
        at = r->base + r->size;
    }
    return at >= end;
}

/* What a range that is not memory is, for the log. */
static const char *type_name(uint32_t type)
{
    return type ? memmap_type_name(type) : "outside the memory map";
}

enum fseg_kind {
    FSEG_FREE_RAM,   /* usable RAM throughout: nothing there, any slot */
    FSEG_FIRMWARE,   /* reserved, ACPI or left out of the map: all-zero slots only */
    FSEG_FORBIDDEN,  /* MMIO, bad or nestvisor's anywhere: not touched */
};

static enum fseg_kind fseg_kind(const struct memmap *m, uint32_t *bad)
{
    uint64_t len = SMBIOS_FSEG_END - SMBIOS_FSEG_BASE;
    if (memmap_is_all(m, SMBIOS_FSEG_BASE, len, MEM_USABLE))
        return FSEG_FREE_RAM;
    for (unsigned i = 0; i < m->count; i++) {
        const struct mem_range *r = &m->r[i];
        if (r->base >= SMBIOS_FSEG_END || r->base + r->size <= SMBIOS_FSEG_BASE)
            continue;
        if (r->type != MEM_USABLE && !describes_memory(r->type)) {
            *bad = r->type;
            return FSEG_FORBIDDEN;
        }
    }
    return FSEG_FIRMWARE;
}

static bool all_zero(uint64_t at)
{
    const volatile uint8_t *p = phys_to_virt(at);
    for (unsigned i = 0; i < SMBIOS_SLOT; i++)
        if (p[i])
            return false;
    return true;
}

/* The highest slot nothing uses, or 0. */
static uint64_t free_slot(enum fseg_kind kind, uint64_t taken)
{
    for (uint64_t at = SMBIOS_SLOT_LAST; at >= SMBIOS_FSEG_BASE; at -= SMBIOS_STEP) {
        if (taken && at + SMBIOS_SLOT > taken && at < taken + SMBIOS_SLOT)
            continue;
        if (kind == FSEG_FREE_RAM || all_zero(at))
            return at;
    }
    return 0;
}

/* Writes the entry point and reads it back: a read-only F-segment (the
 * firmware's ROM, a write-protected shadow) drops the write. */
static bool put(uint64_t at, const uint8_t *ep, size_t n)
{
    volatile uint8_t *dst = phys_to_virt(at);
    for (size_t i = 0; i < n; i++)
        dst[i] = ep[i];
    for (size_t i = 0; i < n; i++)
        if (dst[i] != ep[i])
            return false;
    return true;
}

/* ---- the entry points the loader found ---- */

struct candidate {
    const char *name; /* "SMBIOS 3" or "SMBIOS 2" */
    uint64_t addr;
    struct smbios_ep ep;
    uint8_t bytes[SMBIOS_SLOT];
};

/* Reads and checks one entry point; logs why it is not given to L1. */
static bool take(struct candidate *c, enum smbios_kind kind, const struct memmap *host)
{
    uint32_t bad;
    if (!c->addr)
        return false;
    if (c->addr > SMBIOS_READ_LIMIT - SMBIOS_SLOT) {
        log_warn("smbios: %s entry point at 0x%llx reaches past 4 GiB, beyond what the kernel "
                 "maps this early; not given to L1\n", c->name, (unsigned long long)c->addr);
        return false;
    }
    uint64_t head = kind == SMBIOS_EP3 ? EP3_SIZE : EP2_SIZE;
    if (!all_memory(host, c->addr, head, &bad)) {
        log_warn("smbios: %s entry point at 0x%llx is not in memory the firmware describes (%s); "
                 "not given to L1\n", c->name, (unsigned long long)c->addr, type_name(bad));
        return false;
    }
    /* Up to 32 bytes; only those in memory (the length byte says how many
     * the entry point has). */
    size_t avail = SMBIOS_SLOT;
    while (avail > head && !all_memory(host, c->addr, avail, &bad))
        avail--;
    memcpy(c->bytes, phys_to_virt(c->addr), avail);
    memset(c->bytes + avail, 0, SMBIOS_SLOT - avail);
    enum smbios_status s = smbios_parse(c->bytes, avail, kind, &c->ep);
    if (s != SMBIOS_OK) {
        log_warn("smbios: %s entry point at 0x%llx: %s; not given to L1\n", c->name,
                 (unsigned long long)c->addr, smbios_status_str(s));
        return false;
    }
    if (!all_memory(host, c->ep.table, c->ep.table_len, &bad)) {
        bool wraps = c->ep.table + c->ep.table_len < c->ep.table;
        log_warn("smbios: %s entry point at 0x%llx: its table 0x%llx-0x%llx is not all memory the "
                 "firmware describes (%s); not given to L1\n", c->name,
                 (unsigned long long)c->addr, (unsigned long long)c->ep.table,
                 (unsigned long long)(c->ep.table + c->ep.table_len - 1),
                 wraps ? "it wraps around" : type_name(bad));
        return false;
    }
    return true;
}

/* Whether the F-segment keeps a write: one byte changed and restored. */
static bool fseg_writable(uint64_t at)
{
    volatile uint8_t *p = phys_to_virt(at);
    uint8_t was = *p, probe = (uint8_t)(was ^ 0xff);
    *p = probe;
    bool kept = *p == probe;
    *p = was;
    return kept;
}

/* False when the F-segment proved read-only: no use trying again. */
static bool place(struct candidate *c, enum fseg_kind kind, uint64_t *taken)
{
    char what[160];
    format(what, sizeof(what), "smbios: SMBIOS %u.%u entry point from 0x%llx (table 0x%llx, %llu bytes)",
           c->ep.major, c->ep.minor, (unsigned long long)c->addr, (unsigned long long)c->ep.table,
           (unsigned long long)c->ep.table_len);
    uint64_t at = free_slot(kind, *taken);
    if (at && put(at, c->bytes, c->ep.size)) {
        *taken = at;
        log_info("%s for L1 at 0x%llx\n", what, (unsigned long long)at);
        return true;
    }
    if (at || !fseg_writable(SMBIOS_SLOT_LAST)) {
        log_warn("%s is valid, but 0xF0000-0xFFFFF does not keep what is written here (firmware "
                 "ROM or a write-protected shadow): L1 gets no SMBIOS\n", what);
        return false;
    }
    log_warn("%s is valid, but 0xF0000-0xFFFFF has no free 32-byte slot (none all zero): L1 gets "
             "no SMBIOS\n", what);
    return true;
}

void smbios_for_l1(const struct handoff *h, const struct memmap *host)
{
    struct candidate c3 = {.name = "SMBIOS 3", .addr = h->smbios3};
    struct candidate c2 = {.name = "SMBIOS 2", .addr = h->smbios};
    uint32_t bad = 0;
    enum fseg_kind kind = fseg_kind(host, &bad);
    if (kind == FSEG_FORBIDDEN) {
        log_warn("smbios: 0xF0000-0xFFFFF is partly %s here, not memory to read or write; L1 "
                 "gets no SMBIOS entry point\n", type_name(bad));
        return;
    }
    struct smbios_ep there;
    uint64_t found = smbios_find(SMBIOS_FSEG_BASE, SMBIOS_FSEG_END, &there);
    if (found) {
        log_info("smbios: SMBIOS %u.%u entry point already at 0x%llx in the F-segment: L1 "
                 "finds it there\n", there.major, there.minor, (unsigned long long)found);
        return;
    }
    bool ok3 = take(&c3, SMBIOS_EP3, host);
    bool ok2 = take(&c2, SMBIOS_EP2, host);
    if (!c3.addr && !c2.addr) {
        log_info("smbios: no SMBIOS entry point from the loader and none in the F-segment: L1 "
                 "sees no DMI\n");
        return;
    }
    /* Both when both are valid: Linux takes the 64-bit one, older
     * systems know only the 32-bit one. */
    uint64_t taken = 0;
    bool writable = !ok3 || place(&c3, kind, &taken);
    if (ok2 && writable)
        place(&c2, kind, &taken);
}
