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
#define MAX_CPUS 64

struct madt_count {
    unsigned enabled, online_capable;
    uint32_t ids[MAX_CPUS];
};

static void count_cpu(uint32_t id, uint32_t flags, void *arg)
{
    struct madt_count *c = arg;
    if ((flags & MADT_CPU_ENABLED) && c->enabled < MAX_CPUS)
        c->ids[c->enabled++] = id;
    else if (flags & MADT_CPU_ONLINE_CAPABLE)
        c->online_capable++;
}

static void count_cpus(const struct acpi_sdt_header *madt, struct madt_count *c)
{
    memset(c, 0, sizeof *c);
    acpi_madt_cpus(madt, count_cpu, c);
}

static bool check_madt(const char *root_name, const struct acpi_sdt_header *madt, uint32_t self)
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
    const struct acpi_rsdp *r = acpi_find_rsdp(&from);
    if (!r) {
        fail("madt_found", "no valid ACPI RSDP (Multiboot2 tags, EBDA, 0xE0000-0xFFFFF)");
        return;
    }
    const struct acpi_sdt_header *rsdt = acpi_table(r->rsdt);
    const struct acpi_sdt_header *xsdt = r->revision >= ACPI_REVISION_2 ? acpi_table(r->xsdt) : NULL;
    const struct acpi_sdt_header *m_r = acpi_madt_of(rsdt, ACPI_RSDT_ENTRY);
    const struct acpi_sdt_header *m_x = acpi_madt_of(xsdt, ACPI_XSDT_ENTRY);
    printf("apsteal: RSDP revision %u from %s: RSDT %#x%s, XSDT %#lx%s\n", r->revision, from, r->rsdt,
           m_r ? " (has a MADT)" : "", r->revision >= ACPI_REVISION_2 ? r->xsdt : 0, m_x ? " (has a MADT)" : "");
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
