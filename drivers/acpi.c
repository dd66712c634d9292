#include "drivers/acpi.h"
#include "arch/x86/physmem.h"
#include "lib/log.h"
#include "lib/string.h"

struct __attribute__((packed)) acpi_rsdp {
    char signature[8];
    uint8_t checksum;
    char oem_id[6];
    uint8_t revision;
    uint32_t rsdt;
    uint32_t length; /* revision >= 2 from here */
    uint64_t xsdt;
    uint8_t ext_checksum;
    uint8_t reserved[3];
};

struct __attribute__((packed)) acpi_header {
    char signature[4];
    uint32_t length;
    uint8_t revision;
    uint8_t checksum;
    char oem_id[6];
    char oem_table_id[8];
    uint32_t oem_revision;
    uint32_t creator_id;
    uint32_t creator_revision;
};

struct __attribute__((packed)) acpi_madt {
    struct acpi_header h;
    uint32_t lapic_address;
    uint32_t flags;
};

/* MADT entry types (ACPI 6.4 5.2.12). */
#define MADT_LAPIC          0
#define MADT_IOAPIC         1
#define MADT_LAPIC_OVERRIDE 5
#define MADT_X2APIC         9
#define MADT_LAPIC_ENABLED  (1U << 0)
#define MADT_LAPIC_ONLINE_CAPABLE (1U << 1)

/* FADT field offsets (ACPI 6.4 5.2.9). */
#define FADT_DSDT_OFFSET      40
#define FADT_PM1A_CNT_OFFSET  64
#define FADT_PM1B_CNT_OFFSET  68
#define FADT_X_DSDT_OFFSET    140
#define FADT_MIN_LENGTH       116
#define FADT_FLAGS_OFFSET     112
#define FADT_RESET_REG_OFFSET 116 /* a Generic Address Structure */
#define FADT_RESET_VALUE_OFFSET 128
#define FADT_FLAG_RESET_REG_SUP (1U << 10)
#define FADT_FLAG_TMR_VAL_EXT (1U << 8)
#define FADT_PM_TMR_BLK_OFFSET 76
#define GAS_SPACE_IO          1

/* AML opcodes for the \_S5 package. */
#define AML_NAME_OP    0x08
#define AML_PACKAGE_OP 0x12
#define AML_BYTE_PREFIX 0x0a
#define AML_ZERO_OP    0x00
#define AML_ONE_OP     0x01

#define BIOS_AREA_START 0xe0000
#define BIOS_AREA_END   0x100000
#define RSDP_V1_SIZE    20

static uint8_t sum_bytes(const void *p, size_t n)
{
    const uint8_t *b = p;
    uint8_t s = 0;
    while (n--)
        s += *b++;
    return s;
}

static uint64_t phys_limit = UINT64_MAX;

/* An RSDP is usable if it lies below the physical limit and its checksums
 * hold. */
static bool rsdp_valid(uint64_t pa)
{
    if (pa >= phys_limit || phys_limit - pa < RSDP_V1_SIZE)
        return false;
    const struct acpi_rsdp *r = phys_to_virt(pa);
    if (memcmp(r->signature, "RSD PTR ", 8) || sum_bytes(r, RSDP_V1_SIZE))
        return false;
    if (r->revision >= 2 && (r->length < sizeof(*r) || r->length > 4096 ||
                             r->length > phys_limit - pa || sum_bytes(r, r->length)))
        return false;
    return true;
}

static uint64_t rsdp_search_bios(void)
{
    for (uint64_t pa = BIOS_AREA_START; pa < BIOS_AREA_END; pa += 16)
        if (rsdp_valid(pa))
            return pa;
    return 0;
}

void acpi_set_phys_limit(uint64_t limit) { phys_limit = limit; }

/* A table is usable if it lies in mapped memory, its length is sane and it
 * sums to zero. */
static const struct acpi_header *table_at(uint64_t pa, struct acpi_info *info)
{
    if (!pa)
        return 0;
    if (pa >= phys_limit || phys_limit - pa < sizeof(struct acpi_header)) {
        log_warn("acpi: table pointer 0x%llx is outside physical memory; skipped\n",
                 (unsigned long long)pa);
        info->warnings++;
        return 0;
    }
    const struct acpi_header *h = phys_to_virt(pa);
    if (h->length < sizeof(*h) || h->length > ACPI_MAX_TABLE_SIZE || h->length > phys_limit - pa) {
        log_warn("acpi: table %.4s at 0x%llx has bad length %u; skipped\n", h->signature,
                 (unsigned long long)pa, h->length);
        info->warnings++;
        return 0;
    }
    if (sum_bytes(h, h->length)) {
        log_warn("acpi: table %.4s at 0x%llx has a bad checksum; skipped\n", h->signature,
                 (unsigned long long)pa);
        info->warnings++;
        return 0;
    }
    return h;
}

/* A processor local APIC (type 0: 8-bit ID at 3, flags at 4) or x2APIC
 * (type 9: ID at 4, flags at 8) entry; offset of its flags in *flags_off. */
static bool madt_cpu_entry_at(const uint8_t *p, uint8_t len, uint32_t *apic_id, unsigned *flags_off)
{
    if (p[0] == MADT_LAPIC && len >= 8) {
        *apic_id = p[3];
        *flags_off = 4;
        return true;
    }
    if (p[0] == MADT_X2APIC && len >= 16) {
        memcpy(apic_id, p + 4, 4);
        *flags_off = 8;
        return true;
    }
    return false;
}

static bool madt_cpu_entry(const uint8_t *p, uint8_t len, uint32_t *apic_id, uint32_t *flags)
{
    unsigned off;
    if (!madt_cpu_entry_at(p, len, apic_id, &off))
        return false;
    memcpy(flags, p + off, 4);
    return true;
}

static void parse_madt(const struct acpi_madt *madt, struct acpi_info *info)
{
    if (madt->h.length < sizeof(*madt)) {
        log_warn("acpi: MADT truncated (%u bytes)\n", madt->h.length);
        info->warnings++;
        return;
    }
    info->have_madt = true;
    info->lapic_base = madt->lapic_address;
    const uint8_t *p = (const uint8_t *)(madt + 1);
    const uint8_t *end = (const uint8_t *)madt + madt->h.length;
    while (p + 2 <= end) {
        uint8_t type = p[0], len = p[1];
        if (len < 2 || p + len > end) {
            log_warn("acpi: MADT entry type %u has bad length %u; rest ignored\n", type, len);
            info->warnings++;
            return;
        }
        uint32_t flags, apic_id;
        switch (type) {
        case MADT_LAPIC:
        case MADT_X2APIC:
            if (!madt_cpu_entry(p, len, &apic_id, &flags))
                break;
            if (flags & (MADT_LAPIC_ENABLED | MADT_LAPIC_ONLINE_CAPABLE))
                info->cpu_count++;
            if ((flags & MADT_LAPIC_ENABLED) && info->enabled_count < ACPI_MAX_CPUS)
                info->apic_ids[info->enabled_count++] = apic_id;
            break;
        case MADT_IOAPIC:
            if (len >= 12 && !info->ioapic_base) {
                uint32_t addr;
                memcpy(&addr, p + 4, 4);
                info->ioapic_base = addr;
            }
            break;
        case MADT_LAPIC_OVERRIDE:
            if (len >= 12)
                memcpy(&info->lapic_base, p + 4, 8);
            break;
        default:
            break;
        }
        p += len;
    }
}

/* Finds "Name(_S5_, Package(){a, b, ...})" in the DSDT's AML. */
static bool find_s5(const struct acpi_header *dsdt, uint16_t *typ_a, uint16_t *typ_b)
{
    const uint8_t *p = (const uint8_t *)(dsdt + 1);
    const uint8_t *end = (const uint8_t *)dsdt + dsdt->length;
    for (; p + 4 < end; p++) {
        if (memcmp(p, "_S5_", 4))
            continue;
        bool named = (p >= (const uint8_t *)(dsdt + 1) + 1 && p[-1] == AML_NAME_OP) ||
                     (p >= (const uint8_t *)(dsdt + 1) + 2 && p[-2] == AML_NAME_OP && p[-1] == '\\');
        const uint8_t *q = p + 4;
        if (!named || q >= end || *q != AML_PACKAGE_OP)
            continue;
        q++;
        if (q >= end)
            return false;
        q += ((*q >> 6) & 3) + 1; /* PkgLength */
        q++;                      /* NumElements */
        uint16_t vals[2];
        for (int i = 0; i < 2; i++) {
            if (q >= end)
                return false;
            if (*q == AML_BYTE_PREFIX) {
                if (q + 1 >= end)
                    return false;
                vals[i] = q[1];
                q += 2;
            } else if (*q == AML_ZERO_OP || *q == AML_ONE_OP) {
                vals[i] = *q;
                q++;
            } else {
                return false;
            }
        }
        *typ_a = vals[0];
        *typ_b = vals[1];
        return true;
    }
    return false;
}

static void parse_fadt(const struct acpi_header *fadt, uint64_t pa, struct acpi_info *info)
{
    if (fadt->length < FADT_MIN_LENGTH) {
        log_warn("acpi: FADT truncated (%u bytes)\n", fadt->length);
        info->warnings++;
        return;
    }
    const uint8_t *b = (const uint8_t *)fadt;
    uint32_t dsdt32, pm1a, pm1b;
    uint64_t dsdt64 = 0;
    memcpy(&dsdt32, b + FADT_DSDT_OFFSET, 4);
    memcpy(&pm1a, b + FADT_PM1A_CNT_OFFSET, 4);
    memcpy(&pm1b, b + FADT_PM1B_CNT_OFFSET, 4);
    if (fadt->length >= FADT_X_DSDT_OFFSET + 8)
        memcpy(&dsdt64, b + FADT_X_DSDT_OFFSET, 8);
    info->fadt = pa;
    info->dsdt = dsdt64 ? dsdt64 : dsdt32;
    uint32_t flags, pm_tmr;
    memcpy(&flags, b + FADT_FLAGS_OFFSET, 4);
    memcpy(&pm_tmr, b + FADT_PM_TMR_BLK_OFFSET, 4);
    if (pm_tmr && pm_tmr <= 0xffff) {
        info->pm_timer_port = (uint16_t)pm_tmr;
        info->pm_timer_32bit = flags & FADT_FLAG_TMR_VAL_EXT;
    }
    if (fadt->length > FADT_RESET_VALUE_OFFSET && (flags & FADT_FLAG_RESET_REG_SUP) &&
        b[FADT_RESET_REG_OFFSET] == GAS_SPACE_IO) {
        uint64_t addr;
        memcpy(&addr, b + FADT_RESET_REG_OFFSET + 4, 8);
        if (addr && addr <= 0xffff) {
            info->reset_port = (uint16_t)addr;
            info->reset_value = b[FADT_RESET_VALUE_OFFSET];
        }
    }
    const struct acpi_header *dsdt = table_at(info->dsdt, info);
    if (!pm1a || pm1a > 0xffff || !dsdt)
        return;
    uint16_t a, bb;
    if (find_s5(dsdt, &a, &bb)) {
        info->s5 = (struct acpi_sleep_info){(uint16_t)pm1a, (uint16_t)(pm1b <= 0xffff ? pm1b : 0), a, bb, 1};
    }
}

static void parse_table(uint64_t pa, struct acpi_info *info)
{
    const struct acpi_header *h = table_at(pa, info);
    if (!h)
        return;
    if (!memcmp(h->signature, "APIC", 4))
        parse_madt((const struct acpi_madt *)h, info);
    else if (!memcmp(h->signature, "FACP", 4))
        parse_fadt(h, pa, info);
    else if (!memcmp(h->signature, "HPET", 4))
        info->hpet = pa;
    else if (!memcmp(h->signature, "MCFG", 4))
        info->mcfg = pa;
}

static unsigned hide_in_madt(struct acpi_madt *madt, uint32_t apic_id)
{
    unsigned changed = 0;
    uint8_t *p = (uint8_t *)(madt + 1);
    uint8_t *end = (uint8_t *)madt + madt->h.length;
    while (p + 2 <= end && p[1] >= 2 && p + p[1] <= end) {
        uint32_t id, flags;
        unsigned off;
        if (madt_cpu_entry_at(p, p[1], &id, &off) && id == apic_id) {
            memcpy(&flags, p + off, 4);
            if (flags & (MADT_LAPIC_ENABLED | MADT_LAPIC_ONLINE_CAPABLE)) {
                flags &= ~(MADT_LAPIC_ENABLED | MADT_LAPIC_ONLINE_CAPABLE);
                memcpy(p + off, &flags, 4);
                changed++;
            }
        }
        p += p[1];
    }
    if (changed) {
        madt->h.checksum = 0;
        madt->h.checksum = (uint8_t)-sum_bytes(madt, madt->h.length);
    }
    return changed;
}

/* Every MADT the root table at root_pa lists (entries of entry_size bytes). */
static unsigned hide_in_root(uint64_t root_pa, size_t entry_size, uint32_t apic_id, struct acpi_info *scratch)
{
    const struct acpi_header *root = table_at(root_pa, scratch);
    if (!root)
        return 0;
    unsigned changed = 0;
    size_t n = (root->length - sizeof(*root)) / entry_size;
    const uint8_t *entries = (const uint8_t *)(root + 1);
    for (size_t i = 0; i < n; i++) {
        uint64_t pa = 0;
        memcpy(&pa, entries + i * entry_size, entry_size);
        const struct acpi_header *h = table_at(pa, scratch);
        if (h && !memcmp(h->signature, "APIC", 4) && h->length >= sizeof(struct acpi_madt))
            changed += hide_in_madt(phys_to_virt(pa), apic_id);
    }
    return changed;
}

unsigned acpi_madt_hide_cpu(uint64_t rsdp_pa, uint32_t apic_id)
{
    struct acpi_info scratch;
    memset(&scratch, 0, sizeof(scratch));
    if (!rsdp_pa || !rsdp_valid(rsdp_pa))
        rsdp_pa = rsdp_search_bios();
    if (!rsdp_pa)
        return 0;
    const struct acpi_rsdp *rsdp = phys_to_virt(rsdp_pa);
    unsigned changed = hide_in_root(rsdp->rsdt, 4, apic_id, &scratch);
    /* The XSDT may list the same MADT: hidden already, not counted twice. */
    if (rsdp->revision >= 2 && rsdp->xsdt)
        changed += hide_in_root(rsdp->xsdt, 8, apic_id, &scratch);
    return changed;
}

bool acpi_parse(uint64_t rsdp_pa, struct acpi_info *info)
{
    memset(info, 0, sizeof(*info));
    if (rsdp_pa && !rsdp_valid(rsdp_pa)) {
        log_warn("acpi: RSDP at 0x%llx is invalid; searching the BIOS area\n",
                 (unsigned long long)rsdp_pa);
        info->warnings++;
        rsdp_pa = 0;
    }
    if (!rsdp_pa)
        rsdp_pa = rsdp_search_bios();
    if (!rsdp_pa) {
        log_warn("acpi: no valid RSDP found\n");
        info->warnings++;
        return false;
    }
    const struct acpi_rsdp *rsdp = phys_to_virt(rsdp_pa);
    memcpy(info->oem_id, rsdp->oem_id, sizeof(rsdp->oem_id));
    bool use_xsdt = rsdp->revision >= 2 && rsdp->xsdt;
    uint64_t root_pa = use_xsdt ? rsdp->xsdt : rsdp->rsdt;
    const struct acpi_header *root = table_at(root_pa, info);
    if (!root && use_xsdt && rsdp->rsdt) {
        log_warn("acpi: XSDT unusable, falling back to the RSDT\n");
        use_xsdt = false;
        root = table_at(rsdp->rsdt, info);
    }
    if (!root)
        return false;
    size_t entry_size = use_xsdt ? 8 : 4;
    size_t n = (root->length - sizeof(*root)) / entry_size;
    const uint8_t *entries = (const uint8_t *)(root + 1);
    for (size_t i = 0; i < n; i++) {
        uint64_t pa = 0;
        memcpy(&pa, entries + i * entry_size, entry_size);
        parse_table(pa, info);
    }
    if (!info->have_madt)
        log_warn("acpi: no MADT; assuming one CPU\n");
    if (!info->cpu_count)
        info->cpu_count = 1;
    return true;
}
