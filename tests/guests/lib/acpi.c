/* ACPI for the test guests: finding the RSDP as an operating system does
 * and walking the MADT's local APICs (ACPI 6.x, 5.2.5 and 5.2.12). */
#include "guest.h"

#define RSDP_V1_LEN       20 /* the part the first checksum covers */
#define RSDP_ALIGN        16
#define MB2_HEADER        8  /* total size, reserved */
#define MB2_TAG_HEADER    8  /* type, size */
#define MB2_TAG_SIZE      4  /* offset of a tag's size */
#define MB2_TAG_ALIGN     7u
#define MB2_TAG_ACPI_OLD  14
#define MB2_TAG_ACPI_NEW  15
#define BDA_EBDA_SEGMENT  0x40e
#define PARA_SHIFT        4  /* real-mode segment -> address */
#define EBDA_MIN          0x80000
#define EBDA_MAX          0xa0000
#define EBDA_SCAN         1024
#define BIOS_AREA         0xe0000
#define BIOS_AREA_END     0x100000
#define LOW_4G            (1ULL << 32)
#define MADT_ENTRIES      44 /* header + local APIC address + flags */
#define MADT_ENTRY_TYPE   0
#define MADT_ENTRY_LEN    1
#define MADT_ENTRY_MIN    2
#define MADT_LAPIC        0
#define MADT_LAPIC_LEN    8
#define MADT_LAPIC_ID     3  /* byte */
#define MADT_LAPIC_FLAGS  4
#define MADT_X2APIC       9
#define MADT_X2APIC_LEN   16
#define MADT_X2APIC_ID    4  /* dword */
#define MADT_X2APIC_FLAGS 8

static uint8_t sum(const void *p, size_t n)
{
    const uint8_t *b = p;
    uint8_t s = 0;
    while (n--)
        s = (uint8_t)(s + *b++);
    return s;
}

static const struct acpi_rsdp *rsdp_at(uintptr_t a)
{
    const struct acpi_rsdp *r = (const struct acpi_rsdp *)a;
    return !memcmp(r->signature, "RSD PTR ", sizeof r->signature) && !sum(r, RSDP_V1_LEN) ? r : NULL;
}

static const struct acpi_rsdp *scan(uintptr_t from, uintptr_t to)
{
    for (uintptr_t a = from; a < to; a += RSDP_ALIGN)
        if (rsdp_at(a))
            return rsdp_at(a);
    return NULL;
}

const struct acpi_rsdp *acpi_find_rsdp(const char **from)
{
    const char *where = NULL;
    const struct acpi_rsdp *r = NULL;
    if (boot.version == 2 && boot.info) {
        uintptr_t p = boot.info + MB2_HEADER, end = boot.info + *(const volatile uint32_t *)(uintptr_t)boot.info;
        const struct acpi_rsdp *old = NULL, *newer = NULL;
        while (p + MB2_TAG_HEADER <= end) {
            uint32_t type = *(const uint32_t *)p, size = *(const uint32_t *)(p + MB2_TAG_SIZE);
            if (!type || size < MB2_TAG_HEADER)
                break;
            if (type == MB2_TAG_ACPI_NEW && rsdp_at(p + MB2_TAG_HEADER))
                newer = rsdp_at(p + MB2_TAG_HEADER);
            if (type == MB2_TAG_ACPI_OLD && rsdp_at(p + MB2_TAG_HEADER))
                old = rsdp_at(p + MB2_TAG_HEADER);
            p += (size + MB2_TAG_ALIGN) & ~MB2_TAG_ALIGN;
        }
        r = newer ? newer : old;
        where = newer ? "the Multiboot2 ACPI (new) tag" : "the Multiboot2 ACPI (old) tag";
    }
    if (!r) {
        uintptr_t bda = BDA_EBDA_SEGMENT;
        __asm__("" : "+r"(bda)); /* a low address, not a null-derived pointer */
        uintptr_t ebda = (uintptr_t)(*(const volatile uint16_t *)bda) << PARA_SHIFT;
        if (ebda >= EBDA_MIN && ebda < EBDA_MAX)
            r = scan(ebda, ebda + EBDA_SCAN);
        where = "the EBDA";
    }
    if (!r) {
        r = scan(BIOS_AREA, BIOS_AREA_END);
        where = "the BIOS area 0xE0000-0xFFFFF";
    }
    if (from)
        *from = r ? where : "";
    return r;
}

const struct acpi_sdt_header *acpi_table(uint64_t pa)
{
    if (!pa || pa >= LOW_4G)
        return NULL;
    const struct acpi_sdt_header *h = (const struct acpi_sdt_header *)(uintptr_t)pa;
    return h->length >= sizeof *h && !sum(h, h->length) ? h : NULL;
}

const struct acpi_sdt_header *acpi_madt_of(const struct acpi_sdt_header *root, unsigned entry_size)
{
    if (!root)
        return NULL;
    const uint8_t *e = (const uint8_t *)(root + 1);
    unsigned n = (root->length - sizeof *root) / entry_size;
    for (unsigned i = 0; i < n; i++) {
        uint64_t pa = entry_size == ACPI_XSDT_ENTRY ? *(const uint64_t *)(e + ACPI_XSDT_ENTRY * i)
                                                    : *(const uint32_t *)(e + ACPI_RSDT_ENTRY * i);
        const struct acpi_sdt_header *t = acpi_table(pa);
        if (t && !memcmp(t->signature, "APIC", sizeof t->signature))
            return t;
    }
    return NULL;
}

void acpi_madt_cpus(const struct acpi_sdt_header *madt, void (*fn)(uint32_t apic_id, uint32_t flags, void *arg),
                    void *arg)
{
    const uint8_t *p = (const uint8_t *)madt + MADT_ENTRIES, *end = (const uint8_t *)madt + madt->length;
    while (p + MADT_ENTRY_MIN <= end && p[MADT_ENTRY_LEN] >= MADT_ENTRY_MIN && p + p[MADT_ENTRY_LEN] <= end) {
        uint8_t type = p[MADT_ENTRY_TYPE], len = p[MADT_ENTRY_LEN];
        if (type == MADT_LAPIC && len >= MADT_LAPIC_LEN)
            fn(p[MADT_LAPIC_ID], *(const uint32_t *)(p + MADT_LAPIC_FLAGS), arg);
        else if (type == MADT_X2APIC && len >= MADT_X2APIC_LEN)
            fn(*(const uint32_t *)(p + MADT_X2APIC_ID), *(const uint32_t *)(p + MADT_X2APIC_FLAGS), arg);
        p += len;
    }
}
