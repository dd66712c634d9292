/* apsteal: can L1 take a CPU nestvisor keeps? nestvisor starts every CPU
 * of the machine itself and holds the ones it does not give L1 in VMX
 * non-root, waiting for a SIPI it ignores; it removes them from every MADT
 * L1 can read (docs/security.md, "CPUs"). This guest
 *   1. finds the ACPI RSDP (the Multiboot2 ACPI tags, else the EBDA and
 *      0xE0000-0xFFFFF), and in the MADT of the RSDT and of the XSDT counts
 *      the enabled local APICs (xAPIC and x2APIC entries): it must be one,
 *      its own (madt_found, madt_one_cpu);
 *   2. puts a real-mode trampoline at 0x8000 that increments a counter next
 *      to it and halts, then sends every APIC ID 0-15 but its own INIT,
 *      waits 10 ms, SIPI (vector 0x08), 200 us, SIPI again, and waits until
 *      100 ms have passed since the INIT; the counter must still be 0: no
 *      CPU ran L1's code (no_cpu_taken). A CPU that did is reported as
 *      "ESCAPED".
 * The IPIs go through the xAPIC's ICR at IA32_APIC_BASE (+0x300/+0x310),
 * or the x2APIC ICR MSR if the loader left x2APIC mode on; delays come
 * from the PIT (channel 2, polled through port 0x61). On bare metal with
 * several CPUs the other CPUs do run the trampoline: the test then fails,
 * as it should. Options: apic_ids=N (default 16). */
#include "guest.h"

const char guest_name[] = "apsteal";

#define TRAMPOLINE_PAGE  ((uint64_t)0x8000) /* SIPI vector 0x08 */
#define COUNTER_OFFSET   0x800     /* the counter, in the trampoline's page */
#define PAGE             ((uint64_t)0x1000)
#define LOW_MEMORY_END   ((uint64_t)0x100000)

/* cli; mov ax, cs; mov ds, ax; lock inc dword [0x800]; .h: hlt; jmp .h
 * (nasm -f bin, bits 16): position independent, CS = the page's segment. */
static const uint8_t trampoline[] = {0xfa, 0x8c, 0xc8, 0x8e, 0xd8, 0xf0, 0x66, 0xff,
                                     0x06, 0x00, 0x08, 0xf4, 0xeb, 0xfd};

/* ---- delays: PIT channel 2 in mode 0, its output on port 0x61 bit 5 ---- */
#define PIT_CH2       0x42
#define PIT_CMD       0x43
#define PORT_61       0x61
#define P61_GATE2     0x01
#define P61_SPEAKER   0x02
#define P61_OUT2      0x20
#define PIT_MAX_US    50000
#define POLL_LIMIT    100000000ULL

static bool pit_ok = true;

static void pit_wait_us(uint64_t us)
{
    while (us) {
        uint64_t chunk = us > PIT_MAX_US ? PIT_MAX_US : us;
        uint32_t count = (uint32_t)(chunk * PIT_HZ / 1000000);
        if (count < 2)
            count = 2;
        uint8_t p61 = inb(PORT_61) & (uint8_t)~(P61_GATE2 | P61_SPEAKER);
        outb(PORT_61, p61);
        outb(PIT_CMD, 0xb0); /* channel 2, lobyte/hibyte, mode 0, binary */
        outb(PIT_CH2, (uint8_t)count);
        outb(PIT_CH2, (uint8_t)(count >> 8));
        outb(PORT_61, p61 | P61_GATE2);
        uint64_t n = 0;
        while (!(inb(PORT_61) & P61_OUT2) && ++n < POLL_LIMIT)
            pause();
        if (n >= POLL_LIMIT)
            pit_ok = false;
        outb(PORT_61, p61);
        us -= chunk;
    }
}

/* ---- the local APIC ---- */
#define APIC_BASE_X2APIC (1ULL << 10)
#define APIC_BASE_ENABLE (1ULL << 11)
#define XAPIC_ID         0x020
#define XAPIC_ICR_LOW    0x300
#define XAPIC_ICR_HIGH   0x310
#define ICR_PENDING      (1u << 12)
#define ICR_INIT         0x00004500u /* INIT, level assert */
#define ICR_SIPI         0x00004600u /* start-up, level assert */
#define MSR_X2APIC_ID    0x802
#define MSR_X2APIC_ICR   0x830

static bool x2apic;
static volatile uint32_t *xapic;

static uint32_t apic_id(void)
{
    if (x2apic)
        return (uint32_t)rdmsr(MSR_X2APIC_ID);
    return xapic[XAPIC_ID / 4] >> 24;
}

static bool send_ipi(uint32_t dest, uint32_t icr)
{
    if (x2apic) {
        wrmsr(MSR_X2APIC_ICR, ((uint64_t)dest << 32) | icr);
        return true;
    }
    for (uint64_t n = 0; xapic[XAPIC_ICR_LOW / 4] & ICR_PENDING; n++)
        if (n > POLL_LIMIT)
            return false;
    xapic[XAPIC_ICR_HIGH / 4] = dest << 24;
    xapic[XAPIC_ICR_LOW / 4] = icr;
    for (uint64_t n = 0; xapic[XAPIC_ICR_LOW / 4] & ICR_PENDING; n++)
        if (n > POLL_LIMIT)
            return false;
    return true;
}

/* ---- ACPI ---- */
struct __attribute__((packed)) rsdp {
    char signature[8];
    uint8_t checksum;
    char oem_id[6];
    uint8_t revision;
    uint32_t rsdt;
    uint32_t length;
    uint64_t xsdt;
    uint8_t ext_checksum;
    uint8_t reserved[3];
};

struct __attribute__((packed)) sdt_header {
    char signature[4];
    uint32_t length;
    uint8_t revision, checksum;
    char oem_id[6], oem_table_id[8];
    uint32_t oem_revision, creator_id, creator_revision;
};

#define RSDP_V1_LEN   20
#define MADT_ENTRIES  44 /* header + local APIC address + flags */
#define MADT_LAPIC    0
#define MADT_X2APIC   9
#define LAPIC_ENABLED        1u
#define LAPIC_ONLINE_CAPABLE 2u
#define MB2_TAG_ACPI_OLD 14
#define MB2_TAG_ACPI_NEW 15
#define MAX_CPUS 64

static uint8_t sum(const void *p, size_t n)
{
    const uint8_t *b = p;
    uint8_t s = 0;
    while (n--)
        s = (uint8_t)(s + *b++);
    return s;
}

static const struct rsdp *rsdp_at(uintptr_t a)
{
    const struct rsdp *r = (const struct rsdp *)a;
    return !memcmp(r->signature, "RSD PTR ", 8) && !sum(r, RSDP_V1_LEN) ? r : NULL;
}

static const struct rsdp *find_rsdp(const char **from)
{
    if (boot.version == 2 && boot.info) {
        uintptr_t p = boot.info + 8, end = boot.info + *(const volatile uint32_t *)(uintptr_t)boot.info;
        const struct rsdp *old = NULL, *newer = NULL;
        while (p + 8 <= end) {
            uint32_t type = *(const uint32_t *)p, size = *(const uint32_t *)(p + 4);
            if (!type || size < 8)
                break;
            if (type == MB2_TAG_ACPI_NEW && rsdp_at(p + 8))
                newer = rsdp_at(p + 8);
            if (type == MB2_TAG_ACPI_OLD && rsdp_at(p + 8))
                old = rsdp_at(p + 8);
            p += (size + 7) & ~7u;
        }
        if (newer || old) {
            *from = newer ? "the Multiboot2 ACPI (new) tag" : "the Multiboot2 ACPI (old) tag";
            return newer ? newer : old;
        }
    }
    uintptr_t bda = 0x40e; /* the BIOS data area's EBDA segment */
    __asm__("" : "+r"(bda)); /* a low address, not a null-derived pointer */
    uintptr_t ebda = (uintptr_t)(*(const volatile uint16_t *)bda) << 4;
    if (ebda >= 0x80000 && ebda < 0xa0000)
        for (uintptr_t a = ebda; a < ebda + 1024; a += 16)
            if (rsdp_at(a)) {
                *from = "the EBDA";
                return rsdp_at(a);
            }
    for (uintptr_t a = 0xe0000; a < 0x100000; a += 16)
        if (rsdp_at(a)) {
            *from = "the BIOS area 0xE0000-0xFFFFF";
            return rsdp_at(a);
        }
    return NULL;
}

static const struct sdt_header *table(uint64_t pa)
{
    if (!pa || pa >= (1ULL << 32))
        return NULL;
    const struct sdt_header *h = (const struct sdt_header *)(uintptr_t)pa;
    return h->length >= sizeof *h && !sum(h, h->length) ? h : NULL;
}

/* The MADT a root table (RSDT: 4-byte entries, XSDT: 8) lists, or NULL. */
static const struct sdt_header *madt_of(const struct sdt_header *root, unsigned entry_size)
{
    if (!root)
        return NULL;
    const uint8_t *e = (const uint8_t *)(root + 1);
    unsigned n = (root->length - sizeof *root) / entry_size;
    for (unsigned i = 0; i < n; i++) {
        uint64_t pa = entry_size == 8 ? *(const uint64_t *)(e + 8 * i) : *(const uint32_t *)(e + 4 * i);
        const struct sdt_header *t = table(pa);
        if (t && !memcmp(t->signature, "APIC", 4))
            return t;
    }
    return NULL;
}

struct madt_count {
    unsigned enabled, online_capable;
    uint32_t ids[MAX_CPUS];
};

static void count_cpus(const struct sdt_header *madt, struct madt_count *c)
{
    memset(c, 0, sizeof *c);
    const uint8_t *p = (const uint8_t *)madt + MADT_ENTRIES, *end = (const uint8_t *)madt + madt->length;
    while (p + 2 <= end && p[1] >= 2 && p + p[1] <= end) {
        uint32_t id = 0, flags = 0;
        bool cpu = false;
        if (p[0] == MADT_LAPIC && p[1] >= 8) {
            id = p[3];
            flags = *(const uint32_t *)(p + 4);
            cpu = true;
        } else if (p[0] == MADT_X2APIC && p[1] >= 16) {
            id = *(const uint32_t *)(p + 4);
            flags = *(const uint32_t *)(p + 8);
            cpu = true;
        }
        if (cpu && (flags & LAPIC_ENABLED) && c->enabled < MAX_CPUS)
            c->ids[c->enabled++] = id;
        else if (cpu && (flags & LAPIC_ONLINE_CAPABLE))
            c->online_capable++;
        p += p[1];
    }
}

static bool check_madt(const char *root_name, const struct sdt_header *madt, uint32_t self)
{
    struct madt_count c;
    count_cpus(madt, &c);
    char ids[MAX_CPUS * 4 + 1] = "";
    size_t len = 0;
    bool has_self = false;
    for (unsigned i = 0; i < c.enabled && len + 5 < sizeof ids; i++) {
        len += (size_t)snprintf(ids + len, sizeof ids - len, "%s%u", i ? " " : "", c.ids[i]);
        has_self |= c.ids[i] == self;
    }
    printf("apsteal: the MADT at %p (from the %s) lists %u enabled local APIC(s) [%s] and %u online-capable "
           "one(s); this CPU is APIC %u\n", (const void *)madt, root_name, c.enabled, ids, c.online_capable, self);
    if (c.enabled == 1 && has_self && !c.online_capable)
        return true;
    fail("madt_one_cpu", "the %s's MADT lists %u enabled local APICs [%s] (%s) and %u online-capable: want "
         "only this CPU's (%u)", root_name, c.enabled, ids, has_self ? "this one among them" : "not this one",
         c.online_capable, self);
    return false;
}

static void madt_checks(uint32_t self)
{
    const char *from = "";
    const struct rsdp *r = find_rsdp(&from);
    if (!r) {
        fail("madt_found", "no valid ACPI RSDP (Multiboot2 tags, EBDA, 0xE0000-0xFFFFF)");
        return;
    }
    const struct sdt_header *rsdt = table(r->rsdt);
    const struct sdt_header *xsdt = r->revision >= 2 ? table(r->xsdt) : NULL;
    const struct sdt_header *m_r = madt_of(rsdt, 4), *m_x = madt_of(xsdt, 8);
    printf("apsteal: RSDP revision %u from %s: RSDT %#x%s, XSDT %#lx%s\n", r->revision, from, r->rsdt,
           m_r ? " (has a MADT)" : "", r->revision >= 2 ? r->xsdt : 0, m_x ? " (has a MADT)" : "");
    if (!check(m_r || m_x, "madt_found", "neither the RSDT nor the XSDT lists a valid MADT"))
        return;
    bool ok = true;
    if (m_r)
        ok &= check_madt("RSDT", m_r, self);
    if (m_x && m_x != m_r)
        ok &= check_madt("XSDT", m_x, self);
    if (ok)
        pass("madt_one_cpu");
}

/* A page below 1 MiB that is usable RAM in the memory map and holds none of
 * this guest's boot information: 0x8000 if it can be. */
static bool page_free(uint64_t pa)
{
    bool usable = false;
    for (unsigned i = 0; i < boot.n_mmap; i++) {
        const struct mem_range *m = &boot.mmap[i];
        if (m->type == MEM_USABLE && pa >= m->base && pa + PAGE <= m->base + m->len)
            usable = true;
    }
    uint64_t info_end = boot.info ? boot.info + *(const volatile uint32_t *)(uintptr_t)boot.info : 0;
    return usable && !(boot.info && pa < info_end && boot.info < pa + PAGE) && pa >= PAGE;
}

void guest_main(uint32_t magic, uint32_t info)
{
    (void)magic, (void)info;
    uint64_t base;
    if (!lapic_present() || rdmsr_safe(MSR_APIC_BASE, &base) != NO_FAULT) {
        fail("apic", "no local APIC");
        return;
    }
    lapic_enable();
    base = rdmsr(MSR_APIC_BASE);
    x2apic = base & APIC_BASE_X2APIC;
    xapic = (volatile uint32_t *)(uintptr_t)(base & 0xfffff000ULL);
    uint32_t self = apic_id();
    printf("apsteal: this CPU is APIC %u (%s at %#lx)\n", self, x2apic ? "x2APIC" : "xAPIC",
           base & (uint64_t)0xfffff000);

    madt_checks(self);

    uint64_t page = TRAMPOLINE_PAGE;
    while (page < LOW_MEMORY_END && !page_free(page))
        page += PAGE;
    if (page >= LOW_MEMORY_END) {
        fail("no_cpu_taken", "no free page below 1 MiB for the trampoline");
        return;
    }
    uint8_t vector = (uint8_t)(page >> 12);
    memcpy((void *)(uintptr_t)page, trampoline, sizeof trampoline);
    volatile uint32_t *counter = (volatile uint32_t *)(uintptr_t)(page + COUNTER_OFFSET);
    *counter = 0;
    unsigned ids = (unsigned)cmdline_u64("apic_ids", 16);
    printf("apsteal: trampoline at %#lx (SIPI vector %#x), counter at %#lx; INIT, 10 ms, SIPI, 200 us, SIPI, "
           "to 100 ms, for APIC IDs 0-%u but %u\n", page, vector, page + COUNTER_OFFSET, ids - 1, self);
    console_flush();
    unsigned taken = 0, sent = 0;
    for (uint32_t id = 0; id < ids; id++) {
        if (id == self)
            continue;
        uint32_t before = *counter;
        bool ok = send_ipi(id, ICR_INIT);
        pit_wait_us(10000);
        ok &= send_ipi(id, ICR_SIPI | vector);
        pit_wait_us(200);
        ok &= send_ipi(id, ICR_SIPI | vector);
        pit_wait_us(100000 - 10000 - 200);
        sent += ok;
        uint32_t after = *counter;
        if (!ok)
            printf("apsteal: APIC %u: an IPI stayed pending in the ICR\n", id);
        if (after != before) {
            taken++;
            printf("apsteal: ESCAPED: APIC %u ran L1's trampoline (counter %u -> %u)\n", id, before, after);
        }
    }
    uint32_t total = *counter;
    printf("apsteal: INIT-SIPI-SIPI sent to %u APIC IDs; the counter is %u%s\n", sent, total,
           pit_ok ? "" : " (the PIT did not count: the waits were shorter)");
    if (total)
        fail("no_cpu_taken", "ESCAPED: %u CPU(s) ran L1's code at %#lx (counter %u)", taken, page, total);
    else
        pass("no_cpu_taken");
    check(self == apic_id(), "still_running", "this CPU's APIC ID changed from %u to %u", self, apic_id());
}
