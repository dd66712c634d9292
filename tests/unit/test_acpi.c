/* unit-srcs: drivers/acpi.c */
/* drivers/acpi.c on synthetic tables built in the fake physical memory.
 * Layouts: ACPI 6.4, 5.2.5.3 RSDP, 5.2.6 system description table header,
 * 5.2.7 RSDT, 5.2.8 XSDT, 5.2.9 FADT (DSDT at offset 40, PM1a/PM1b_CNT_BLK at
 * 64/68, X_DSDT at 140), 5.2.12 MADT (5.2.12.2 processor local APIC,
 * 5.2.12.3 I/O APIC, 5.2.12.8 local APIC address override, 5.2.12.12
 * processor local x2APIC), and for \_S5 the AML encoding of 20.2.5
 * (NameOp 0x08, PackageOp 0x12, PkgLength, BytePrefix 0x0A, ZeroOp, OneOp). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdint.h>
#include <string.h>
#include "drivers/acpi.h"
#include "arch/x86/physmem.h"
#include "tests/unit/fake_arch.h"

/* Where the synthetic tables go: the top of a 64 MiB machine. */
#define RSDP_PA 0x000f6a00ULL /* in the BIOS area, 16-byte aligned */
#define XSDT_PA 0x03ff0000ULL
#define RSDT_PA 0x03ff0100ULL
#define MADT_PA 0x03ff1000ULL
#define FADT_PA 0x03ff2000ULL
#define DSDT_PA 0x03ff3000ULL
#define HPET_PA 0x03ff4000ULL
#define MCFG_PA 0x03ff5000ULL
#define SDT_HEADER 36

#define PM1A_CNT 0xb004
#define LAPIC_DEFAULT 0xfee00000ULL
#define IOAPIC 0xfec00000ULL

static uint8_t *at(uint64_t pa) { return phys_to_virt(pa); }
static void put32(uint64_t pa, uint32_t v) { memcpy(at(pa), &v, 4); }
static void put64(uint64_t pa, uint64_t v) { memcpy(at(pa), &v, 8); }
static uint32_t get32(uint64_t pa)
{
    uint32_t v;
    memcpy(&v, at(pa), 4);
    return v;
}

static uint8_t sum(uint64_t pa, size_t n)
{
    uint8_t s = 0;
    for (size_t i = 0; i < n; i++)
        s += at(pa)[i];
    return s;
}

/* ---- building tables ---- */

/* 5.2.6: Signature, Length, Revision, Checksum (offset 9), OEMID, OEM
 * Table ID, OEM Revision, Creator ID, Creator Revision. */
static void sdt_header(uint64_t pa, const char *sig, uint32_t length)
{
    memcpy(at(pa), sig, 4);
    put32(pa + 4, length);
    at(pa)[8] = 1;
    memcpy(at(pa + 10), "BOCHS ", 6);
    memcpy(at(pa + 16), "BXPC    ", 8);
    put32(pa + 24, 1);
    memcpy(at(pa + 28), "BXPC", 4);
    put32(pa + 32, 1);
}

/* Makes the table at pa sum to zero over its Length. */
static void sdt_checksum(uint64_t pa)
{
    at(pa)[9] = 0;
    at(pa)[9] = (uint8_t)-sum(pa, get32(pa + 4));
}

static void sdt_break_checksum(uint64_t pa) { at(pa)[9] ^= 0x55; }

/* 5.2.5.3: "RSD PTR ", Checksum (first 20 bytes), OEMID, Revision,
 * RsdtAddress; from revision 2: Length, XsdtAddress, Extended Checksum. */
static void rsdp(uint64_t pa, uint8_t revision, uint32_t rsdt, uint64_t xsdt)
{
    memset(at(pa), 0, 36);
    memcpy(at(pa), "RSD PTR ", 8);
    memcpy(at(pa + 9), "BOCHS ", 6);
    at(pa)[15] = revision;
    put32(pa + 16, rsdt);
    if (revision >= 2) {
        put32(pa + 20, 36);
        put64(pa + 24, xsdt);
    }
    at(pa)[8] = (uint8_t)-sum(pa, 20);
    if (revision >= 2)
        at(pa)[32] = (uint8_t)-sum(pa, 36);
}

/* RSDT (4-byte entries) or XSDT (8-byte entries). */
static void root_table(uint64_t pa, bool xsdt, const uint64_t *entries, size_t n)
{
    size_t esz = xsdt ? 8 : 4;
    sdt_header(pa, xsdt ? "XSDT" : "RSDT", (uint32_t)(SDT_HEADER + n * esz));
    for (size_t i = 0; i < n; i++) {
        if (xsdt)
            put64(pa + SDT_HEADER + i * 8, entries[i]);
        else
            put32(pa + SDT_HEADER + i * 4, (uint32_t)entries[i]);
    }
    sdt_checksum(pa);
}

/* MADT: header, Local Interrupt Controller Address, Flags, entries. */
static uint64_t madt_end; /* where the next entry goes */

static void madt_begin(uint32_t lapic)
{
    sdt_header(MADT_PA, "APIC", 0);
    put32(MADT_PA + 36, lapic);
    put32(MADT_PA + 40, 1); /* PCAT_COMPAT */
    madt_end = MADT_PA + 44;
}

static void madt_entry(const uint8_t *e, size_t n)
{
    memcpy(at(madt_end), e, n);
    madt_end += n;
}

static void madt_lapic(uint8_t uid, uint8_t apic_id, uint32_t flags)
{
    uint8_t e[8] = {0, 8, uid, apic_id};
    memcpy(e + 4, &flags, 4);
    madt_entry(e, sizeof(e));
}

static void madt_x2apic(uint32_t x2apic_id, uint32_t flags, uint32_t uid)
{
    uint8_t e[16] = {9, 16};
    memcpy(e + 4, &x2apic_id, 4);
    memcpy(e + 8, &flags, 4);
    memcpy(e + 12, &uid, 4);
    madt_entry(e, sizeof(e));
}

static void madt_ioapic(uint8_t id, uint32_t addr, uint32_t gsi_base)
{
    uint8_t e[12] = {1, 12, id, 0};
    memcpy(e + 4, &addr, 4);
    memcpy(e + 8, &gsi_base, 4);
    madt_entry(e, sizeof(e));
}

static void madt_lapic_override(uint64_t addr)
{
    uint8_t e[12] = {5, 12};
    memcpy(e + 4, &addr, 8);
    madt_entry(e, sizeof(e));
}

static void madt_finish(void)
{
    put32(MADT_PA + 4, (uint32_t)(madt_end - MADT_PA));
    sdt_checksum(MADT_PA);
}

#define MADT_ENABLED 1U
#define MADT_ONLINE_CAPABLE 2U

/* FADT of the given length (276 in ACPI 6.4, 116 in ACPI 1.0). */
static void fadt(uint32_t length, uint32_t dsdt, uint64_t x_dsdt, uint32_t pm1a, uint32_t pm1b)
{
    memset(at(FADT_PA), 0, 276);
    sdt_header(FADT_PA, "FACP", length);
    put32(FADT_PA + 40, dsdt);
    put32(FADT_PA + 64, pm1a);
    put32(FADT_PA + 68, pm1b);
    if (length >= 148)
        put64(FADT_PA + 140, x_dsdt);
    sdt_checksum(FADT_PA);
}

/* A DSDT whose AML is the given bytes. */
static void dsdt_at(uint64_t pa, const uint8_t *aml, size_t n)
{
    sdt_header(pa, "DSDT", (uint32_t)(SDT_HEADER + n));
    memcpy(at(pa + SDT_HEADER), aml, n);
    sdt_checksum(pa);
}

/* Name (_S5, Package (0x04) {0x05, 0x05, Zero, Zero}) behind some other AML,
 * as real firmware writes it (BytePrefix values). */
static const uint8_t aml_s5_byteprefix[] = {
    0x10, 0x05, 0x5c, 0x5f, 0x53, 0x42, 0x5f,            /* Scope (\_SB_) */
    0x08, 0x5f, 0x53, 0x33, 0x5f, 0x12, 0x06, 0x02,      /* Name (_S3_, Package (2) */
    0x0a, 0x01, 0x0a, 0x01,                              /*   {1, 1}) */
    0x08, 0x5f, 0x53, 0x35, 0x5f, 0x12, 0x08, 0x04,      /* Name (_S5_, Package (4) */
    0x0a, 0x05, 0x0a, 0x05, 0x00, 0x00,                  /*   {5, 5, Zero, Zero}) */
};

/* Name (\_S5, Package (0x04) {Zero, One, Zero, Zero}): ZeroOp/OneOp, with a
 * root prefix. */
static const uint8_t aml_s5_zero_one[] = {
    0x08, 0x5c, 0x5f, 0x53, 0x35, 0x5f, 0x12, 0x06, 0x04, 0x00, 0x01, 0x00, 0x00,
};

/* A machine as Bochs/QEMU describe it: RSDP v2 -> XSDT (and RSDT) -> MADT
 * with two enabled CPUs, FADT -> DSDT with \_S5, HPET, MCFG. */
static void standard_machine(void)
{
    madt_begin((uint32_t)LAPIC_DEFAULT);
    madt_lapic(0, 0, MADT_ENABLED);
    madt_lapic(1, 1, MADT_ENABLED);
    madt_ioapic(0, (uint32_t)IOAPIC, 0);
    madt_finish();
    fadt(276, (uint32_t)DSDT_PA, DSDT_PA, PM1A_CNT, 0);
    dsdt_at(DSDT_PA, aml_s5_byteprefix, sizeof(aml_s5_byteprefix));
    sdt_header(HPET_PA, "HPET", 56);
    sdt_checksum(HPET_PA);
    sdt_header(MCFG_PA, "MCFG", 60);
    sdt_checksum(MCFG_PA);
    const uint64_t tables[] = {FADT_PA, MADT_PA, HPET_PA, MCFG_PA};
    root_table(XSDT_PA, true, tables, 4);
    root_table(RSDT_PA, false, tables, 4);
    rsdp(RSDP_PA, 2, (uint32_t)RSDT_PA, XSDT_PA);
}

static int setup(void **state)
{
    (void)state;
    fake_phys_reset();
    fake_console_reset();
    acpi_set_phys_limit(FAKE_PHYS_SIZE);
    return 0;
}

static struct acpi_info info;

static void assert_standard_tables_found(void)
{
    assert_true(info.have_madt);
    assert_int_equal(info.cpu_count, 2);
    assert_int_equal(info.lapic_base, LAPIC_DEFAULT);
    assert_int_equal(info.ioapic_base, IOAPIC);
    assert_int_equal(info.fadt, FADT_PA);
    assert_int_equal(info.dsdt, DSDT_PA);
    assert_int_equal(info.hpet, HPET_PA);
    assert_int_equal(info.mcfg, MCFG_PA);
    assert_true(info.s5.valid);
    assert_int_equal(info.s5.pm1a_cnt, PM1A_CNT);
    assert_int_equal(info.s5.pm1b_cnt, 0);
    assert_int_equal(info.s5.slp_typ_a, 5);
    assert_int_equal(info.s5.slp_typ_b, 5);
}

static void assert_no_warnings(void)
{
    assert_int_equal(info.warnings, 0);
    if (strstr(fake_console_output(), "[warn]"))
        fail_msg("unexpected warning:\n%s", fake_console_output());
}

/* A bad input: at least one warning counted and printed, containing 'text'. */
static void assert_warned(const char *text)
{
    if (!info.warnings)
        fail_msg("no warning counted; console:\n%s", fake_console_output());
    const char *out = fake_console_output();
    const char *w = strstr(out, "[warn] ");
    if (!w)
        fail_msg("no [warn] line; console:\n%s", out);
    if (!strstr(out, text))
        fail_msg("no warning containing \"%s\"; console:\n%s", text, out);
}

/* ---- good tables ---- */

static void test_rsdp_v2_xsdt(void **state)
{
    (void)state;
    standard_machine();
    /* Make the RSDT different, to see that the XSDT is the one used. */
    const uint64_t only_madt[] = {MADT_PA};
    root_table(RSDT_PA, false, only_madt, 1);
    assert_true(acpi_parse(RSDP_PA, &info));
    assert_standard_tables_found();
    assert_no_warnings();
}

static void test_rsdp_v1_rsdt(void **state)
{
    (void)state;
    standard_machine();
    rsdp(RSDP_PA, 0, (uint32_t)RSDT_PA, 0);
    sdt_break_checksum(XSDT_PA); /* must not even be looked at */
    assert_true(acpi_parse(RSDP_PA, &info));
    assert_standard_tables_found();
    assert_no_warnings();
}

static void test_rsdp_v2_without_xsdt_uses_rsdt(void **state)
{
    (void)state;
    standard_machine();
    rsdp(RSDP_PA, 2, (uint32_t)RSDT_PA, 0);
    assert_true(acpi_parse(RSDP_PA, &info));
    assert_standard_tables_found();
    assert_no_warnings();
}

static void test_search_of_the_bios_area(void **state)
{
    (void)state;
    standard_machine();
    assert_true(acpi_parse(0, &info)); /* 0: search 0xe0000-0xfffff */
    assert_standard_tables_found();
    assert_no_warnings();

    /* At the very start and the very end of the area. */
    static const uint64_t where[] = {0xe0000, 0xffff0};
    for (size_t i = 0; i < 2; i++) {
        memset(at(RSDP_PA), 0, 36);
        memset(at(0xe0000), 0, 36);
        memset(at(0xffff0), 0, 36);
        rsdp(where[i], 0, (uint32_t)RSDT_PA, 0);
        assert_true(acpi_parse(0, &info));
        assert_int_equal(info.fadt, FADT_PA);
    }

    /* Only 16-byte-aligned addresses count, and nothing outside the area. */
    memset(at(0xffff0), 0, 36);
    rsdp(0xe0008, 0, (uint32_t)RSDT_PA, 0);
    rsdp(0xdfff0, 0, (uint32_t)RSDT_PA, 0);
    rsdp(0x100000, 0, (uint32_t)RSDT_PA, 0);
    fake_console_reset();
    assert_false(acpi_parse(0, &info));
    assert_warned("no valid RSDP");
}

static void test_madt_cpus_ioapic_and_override(void **state)
{
    (void)state;
    standard_machine();
    madt_begin((uint32_t)LAPIC_DEFAULT);
    madt_lapic(0, 0, MADT_ENABLED);
    madt_lapic(1, 1, 0);                   /* disabled: not counted */
    madt_lapic(2, 2, MADT_ONLINE_CAPABLE); /* hot-pluggable: counted */
    madt_ioapic(1, 0xfec01000, 0);
    madt_ioapic(2, 0xfec02000, 24); /* only the first I/O APIC is kept */
    madt_x2apic(0x100, MADT_ENABLED, 3);
    madt_x2apic(0x101, 0, 4);                   /* disabled */
    madt_x2apic(0x102, MADT_ONLINE_CAPABLE, 5); /* online capable */
    madt_lapic_override(0x0000000fee000000ULL);
    uint8_t unknown[6] = {0x7f, 6, 1, 2, 3, 4}; /* unknown types are skipped */
    madt_entry(unknown, sizeof(unknown));
    madt_lapic(6, 6, MADT_ENABLED);
    madt_finish();
    assert_true(acpi_parse(RSDP_PA, &info));
    assert_true(info.have_madt);
    assert_int_equal(info.cpu_count, 5);
    /* The CPUs to start: the enabled ones, in MADT order. */
    assert_int_equal(info.enabled_count, 3);
    assert_int_equal(info.apic_ids[0], 0);
    assert_int_equal(info.apic_ids[1], 0x100);
    assert_int_equal(info.apic_ids[2], 6);
    assert_int_equal(info.ioapic_base, 0xfec01000);
    assert_int_equal(info.lapic_base, 0x0000000fee000000ULL);
    assert_no_warnings();
}

/* A CPU nestvisor keeps from L1 leaves L1's MADT: its entry (local APIC or
 * x2APIC) loses Enabled and Online Capable (ACPI 6.4 Table 5.23) and the
 * checksum still holds, in every MADT the RSDT and XSDT list; L1 parsing
 * the tables finds only the other CPUs. */
static void test_madt_hide_cpu(void **state)
{
    (void)state;
    standard_machine();
    madt_begin((uint32_t)LAPIC_DEFAULT);
    madt_lapic(0, 0, MADT_ENABLED);
    madt_lapic(1, 1, MADT_ENABLED);
    madt_x2apic(0x100, MADT_ENABLED | MADT_ONLINE_CAPABLE, 3);
    madt_lapic(2, 2, MADT_ONLINE_CAPABLE);
    madt_finish();
    /* A second copy of the MADT, listed by the RSDT only. */
    uint64_t copy = MADT_PA + 0x800;
    memcpy(at(copy), at(MADT_PA), 0x100);
    const uint64_t x_tables[] = {FADT_PA, MADT_PA};
    const uint64_t r_tables[] = {FADT_PA, copy};
    root_table(XSDT_PA, true, x_tables, 2);
    root_table(RSDT_PA, false, r_tables, 2);
    rsdp(RSDP_PA, 2, (uint32_t)RSDT_PA, XSDT_PA);
    assert_int_equal(acpi_madt_hide_cpu(RSDP_PA, 1), 2);
    assert_int_equal(acpi_madt_hide_cpu(RSDP_PA, 0x100), 2);
    assert_int_equal(acpi_madt_hide_cpu(RSDP_PA, 2), 2);
    assert_int_equal(acpi_madt_hide_cpu(RSDP_PA, 1), 0); /* already hidden */
    assert_int_equal(acpi_madt_hide_cpu(RSDP_PA, 7), 0); /* no such CPU */
    fake_console_reset();
    assert_true(acpi_parse(RSDP_PA, &info)); /* the XSDT's copy */
    assert_int_equal(info.cpu_count, 1);
    assert_int_equal(info.enabled_count, 1);
    assert_int_equal(info.apic_ids[0], 0);
    assert_no_warnings();
    rsdp(RSDP_PA, 0, (uint32_t)RSDT_PA, 0); /* the RSDT's copy */
    assert_true(acpi_parse(RSDP_PA, &info));
    assert_int_equal(info.cpu_count, 1);
    assert_no_warnings();
}

/* The FADT's reset register (ACPI 6.4 4.8.3.6): used when RESET_REG_SUP
 * (flags bit 10) is set and it is in I/O space. */
static void test_fadt_reset_register(void **state)
{
    (void)state;
    standard_machine();
    assert_true(acpi_parse(RSDP_PA, &info));
    assert_int_equal(info.reset_port, 0);
    uint8_t *f = at(FADT_PA);
    put32(FADT_PA + 112, 1U << 10);
    f[116] = 1;        /* GAS: system I/O */
    f[117] = 8;        /* bit width */
    put64(FADT_PA + 120, 0xcf9);
    f[128] = 6;
    sdt_checksum(FADT_PA);
    assert_true(acpi_parse(RSDP_PA, &info));
    assert_int_equal(info.reset_port, 0xcf9);
    assert_int_equal(info.reset_value, 6);
    /* Memory space: not one nestvisor traps. */
    f[116] = 0;
    sdt_checksum(FADT_PA);
    assert_true(acpi_parse(RSDP_PA, &info));
    assert_int_equal(info.reset_port, 0);
    /* Not supported: ignored. */
    f[116] = 1;
    put32(FADT_PA + 112, 0);
    sdt_checksum(FADT_PA);
    assert_true(acpi_parse(RSDP_PA, &info));
    assert_int_equal(info.reset_port, 0);
}

static void test_s5_zero_and_one_ops(void **state)
{
    (void)state;
    standard_machine();
    dsdt_at(DSDT_PA, aml_s5_zero_one, sizeof(aml_s5_zero_one));
    fadt(276, (uint32_t)DSDT_PA, DSDT_PA, PM1A_CNT, 0xb104);
    assert_true(acpi_parse(RSDP_PA, &info));
    assert_true(info.s5.valid);
    assert_int_equal(info.s5.slp_typ_a, 0);
    assert_int_equal(info.s5.slp_typ_b, 1);
    assert_int_equal(info.s5.pm1a_cnt, PM1A_CNT);
    assert_int_equal(info.s5.pm1b_cnt, 0xb104);
    assert_no_warnings();
}

static void test_s5_two_byte_pkglength_and_references(void **state)
{
    (void)state;
    /* "_S5_" used (not named) before the definition; then a package with
     * a 2-byte PkgLength (lead byte 0x4n: one more byte follows). */
    static const uint8_t aml[] = {
        0x70, 0x5f, 0x53, 0x35, 0x5f, 0x60,                         /* Store (_S5_, Local0) */
        0x08, 0x5f, 0x53, 0x35, 0x5f, 0x12, 0x48, 0x00, 0x04,       /* Name (_S5_, Package (4) */
        0x0a, 0x07, 0x01, 0x00, 0x00,                               /*   {7, One, Zero, Zero}) */
    };
    standard_machine();
    dsdt_at(DSDT_PA, aml, sizeof(aml));
    assert_true(acpi_parse(RSDP_PA, &info));
    assert_true(info.s5.valid);
    assert_int_equal(info.s5.slp_typ_a, 7);
    assert_int_equal(info.s5.slp_typ_b, 1);
}

static void test_fadt_variants(void **state)
{
    (void)state;
    /* ACPI 1.0 FADT (116 bytes, no X_DSDT): the 32-bit DSDT pointer. */
    standard_machine();
    fadt(116, (uint32_t)DSDT_PA, 0, PM1A_CNT, 0);
    assert_true(acpi_parse(RSDP_PA, &info));
    assert_int_equal(info.dsdt, DSDT_PA);
    assert_true(info.s5.valid);
    assert_no_warnings();

    /* X_DSDT wins over DSDT. */
    dsdt_at(DSDT_PA + 0x800, aml_s5_zero_one, sizeof(aml_s5_zero_one));
    fadt(276, (uint32_t)DSDT_PA, DSDT_PA + 0x800, PM1A_CNT, 0);
    assert_true(acpi_parse(RSDP_PA, &info));
    assert_int_equal(info.dsdt, DSDT_PA + 0x800);
    assert_int_equal(info.s5.slp_typ_b, 1);

    /* No PM1a control block, or one outside the I/O space: no S5. */
    fadt(276, (uint32_t)DSDT_PA, 0, 0, 0);
    assert_true(acpi_parse(RSDP_PA, &info));
    assert_false(info.s5.valid);
    fadt(276, (uint32_t)DSDT_PA, 0, 0x10000, 0);
    assert_true(acpi_parse(RSDP_PA, &info));
    assert_false(info.s5.valid);

    /* A DSDT without \_S5: no S5, and nothing wrong with the tables. */
    static const uint8_t no_s5[] = {0x08, 0x5f, 0x53, 0x34, 0x5f, 0x0a, 0x01};
    dsdt_at(DSDT_PA, no_s5, sizeof(no_s5));
    fadt(276, (uint32_t)DSDT_PA, 0, PM1A_CNT, 0);
    fake_console_reset();
    assert_true(acpi_parse(RSDP_PA, &info));
    assert_false(info.s5.valid);
    assert_int_equal(info.fadt, FADT_PA);
    assert_no_warnings();
}

static void test_no_madt_means_one_cpu(void **state)
{
    (void)state;
    standard_machine();
    const uint64_t tables[] = {FADT_PA};
    root_table(XSDT_PA, true, tables, 1);
    assert_true(acpi_parse(RSDP_PA, &info));
    assert_false(info.have_madt);
    assert_int_equal(info.cpu_count, 1);
    assert_int_equal(info.lapic_base, 0);
    assert_non_null(strstr(fake_console_output(), "[warn] acpi: no MADT; assuming one CPU"));
}

/* ---- bad tables: skipped with a warning, never a crash ---- */

static void test_bad_rsdp_checksum_falls_back_to_the_bios_area(void **state)
{
    (void)state;
    standard_machine();
    /* The loader's RSDP is corrupt; a good one is in the BIOS area. */
    rsdp(0x9000, 2, (uint32_t)RSDT_PA, XSDT_PA);
    at(0x9000)[8] ^= 1;
    assert_true(acpi_parse(0x9000, &info));
    assert_standard_tables_found();
    assert_warned("RSDP");

    /* Corrupt and nothing to fall back to. */
    memset(at(RSDP_PA), 0, 36);
    fake_console_reset();
    assert_false(acpi_parse(0x9000, &info));
    assert_warned("no valid RSDP");

    /* Revision 2 with a bad extended checksum (the first 20 bytes are fine). */
    rsdp(0x9000, 2, (uint32_t)RSDT_PA, XSDT_PA);
    at(0x9000)[32] ^= 1;
    fake_console_reset();
    assert_false(acpi_parse(0x9000, &info));
    assert_warned("RSDP");

    /* Revision 2 with an implausible length. */
    rsdp(0x9000, 2, (uint32_t)RSDT_PA, XSDT_PA);
    put32(0x9000 + 20, 0x100000);
    fake_console_reset();
    assert_false(acpi_parse(0x9000, &info));
    assert_warned("RSDP");
}

static void test_rsdp_beyond_the_phys_limit(void **state)
{
    (void)state;
    standard_machine();
    acpi_set_phys_limit(0x4000000);
    /* Not readable at all: must not be touched (the fake would abort). */
    assert_true(acpi_parse(0x7fff0000ULL, &info));
    assert_standard_tables_found(); /* via the BIOS area */
    assert_warned("RSDP");
    /* Straddling the limit. */
    fake_console_reset();
    acpi_set_phys_limit(0x9000 + 30);
    rsdp(0x9000, 2, (uint32_t)RSDT_PA, XSDT_PA);
    assert_false(acpi_parse(0x9000, &info)); /* the tables are all beyond it too */
    assert_warned("RSDP");
}

static void test_bad_table_checksum(void **state)
{
    (void)state;
    standard_machine();
    sdt_break_checksum(MADT_PA);
    assert_true(acpi_parse(RSDP_PA, &info));
    assert_warned("table APIC at 0x3ff1000 has a bad checksum");
    assert_int_equal(info.warnings, 1);
    assert_false(info.have_madt);
    assert_int_equal(info.cpu_count, 1);
    assert_int_equal(info.fadt, FADT_PA); /* the others are still used */
    assert_true(info.s5.valid);

    /* A bad DSDT: FADT found, no S5. */
    standard_machine();
    sdt_break_checksum(DSDT_PA);
    fake_console_reset();
    assert_true(acpi_parse(RSDP_PA, &info));
    assert_warned("table DSDT at 0x3ff3000 has a bad checksum");
    assert_int_equal(info.fadt, FADT_PA);
    assert_false(info.s5.valid);
}

static void test_truncated_tables(void **state)
{
    (void)state;
    /* A header that claims less than itself. */
    standard_machine();
    put32(HPET_PA + 4, 20);
    sdt_checksum(HPET_PA);
    assert_true(acpi_parse(RSDP_PA, &info));
    assert_warned("table HPET at 0x3ff4000 has bad length 20");
    assert_int_equal(info.hpet, 0);
    assert_true(info.have_madt);

    /* A MADT with a valid header but no room for its fixed fields. */
    standard_machine();
    put32(MADT_PA + 4, 40);
    sdt_checksum(MADT_PA);
    fake_console_reset();
    assert_true(acpi_parse(RSDP_PA, &info));
    assert_warned("MADT truncated (40 bytes)");
    assert_false(info.have_madt);
    assert_int_equal(info.cpu_count, 1);

    /* A length beyond the sanity limit. */
    standard_machine();
    put32(MCFG_PA + 4, ACPI_MAX_TABLE_SIZE + 1);
    fake_console_reset();
    assert_true(acpi_parse(RSDP_PA, &info));
    assert_warned("table MCFG");
    assert_int_equal(info.mcfg, 0);

    /* A root table that is too short: nothing to parse. */
    standard_machine();
    rsdp(RSDP_PA, 0, (uint32_t)RSDT_PA, 0);
    put32(RSDT_PA + 4, 10);
    fake_console_reset();
    assert_false(acpi_parse(RSDP_PA, &info));
    assert_warned("table RSDT");
}

static void test_table_beyond_the_phys_limit(void **state)
{
    (void)state;
    /* The MADT's length runs past the end of mapped memory. */
    standard_machine();
    acpi_set_phys_limit(MADT_PA + 0x40);
    const uint64_t tables[] = {MADT_PA};
    root_table(RSDT_PA, false, tables, 1);
    rsdp(RSDP_PA, 0, (uint32_t)RSDT_PA, 0);
    assert_true(acpi_parse(RSDP_PA, &info));
    assert_warned("table APIC at 0x3ff1000 has bad length");
    assert_false(info.have_madt);

    /* Table pointers at or beyond the limit are not dereferenced (the fake
     * aborts on anything beyond 64 MiB). */
    acpi_set_phys_limit(FAKE_PHYS_SIZE);
    const uint64_t wild[] = {0xfffff000ULL, 0x7fffffffffff0000ULL, FAKE_PHYS_SIZE - 8, MADT_PA};
    root_table(XSDT_PA, true, wild, 4);
    rsdp(RSDP_PA, 2, (uint32_t)RSDT_PA, XSDT_PA);
    fake_console_reset();
    assert_true(acpi_parse(RSDP_PA, &info));
    assert_warned("outside physical memory");
    assert_int_equal(info.warnings, 3);
    assert_true(info.have_madt);
}

static void test_madt_entry_with_length_zero(void **state)
{
    (void)state;
    standard_machine();
    madt_begin((uint32_t)LAPIC_DEFAULT);
    madt_lapic(0, 0, MADT_ENABLED);
    uint8_t zero_len[8] = {0, 0, 1, 1, 1, 0, 0, 0};
    madt_entry(zero_len, sizeof(zero_len));
    madt_lapic(2, 2, MADT_ENABLED); /* after the bad entry: ignored */
    madt_finish();
    assert_true(acpi_parse(RSDP_PA, &info));
    assert_warned("MADT entry type 0 has bad length 0");
    assert_true(info.have_madt);
    assert_int_equal(info.cpu_count, 1);

    /* Length 1 is as bad. */
    standard_machine();
    madt_begin((uint32_t)LAPIC_DEFAULT);
    uint8_t one_len[2] = {1, 1};
    madt_entry(one_len, sizeof(one_len));
    madt_finish();
    fake_console_reset();
    assert_true(acpi_parse(RSDP_PA, &info));
    assert_warned("has bad length 1");
}

static void test_madt_entry_past_the_end(void **state)
{
    (void)state;
    standard_machine();
    madt_begin((uint32_t)LAPIC_DEFAULT);
    madt_lapic(0, 0, MADT_ENABLED);
    madt_lapic(1, 1, MADT_ENABLED);
    madt_finish();
    /* Cut the table in the middle of the second entry. */
    put32(MADT_PA + 4, 44 + 8 + 5);
    sdt_checksum(MADT_PA);
    assert_true(acpi_parse(RSDP_PA, &info));
    assert_warned("MADT entry type 0 has bad length 8");
    assert_int_equal(info.cpu_count, 1);

    /* An x2APIC entry that claims more than is left. */
    standard_machine();
    madt_begin((uint32_t)LAPIC_DEFAULT);
    uint8_t big[4] = {9, 200, 0, 0};
    madt_entry(big, sizeof(big));
    madt_finish();
    fake_console_reset();
    assert_true(acpi_parse(RSDP_PA, &info));
    assert_warned("MADT entry type 9 has bad length 200");
    assert_int_equal(info.cpu_count, 1);
}

static void test_fadt_too_short(void **state)
{
    (void)state;
    standard_machine();
    fadt(100, (uint32_t)DSDT_PA, 0, PM1A_CNT, 0);
    assert_true(acpi_parse(RSDP_PA, &info));
    assert_warned("FADT truncated (100 bytes)");
    assert_int_equal(info.fadt, 0);
    assert_int_equal(info.dsdt, 0);
    assert_false(info.s5.valid);
    assert_true(info.have_madt);
}

static void test_truncated_s5_packages(void **state)
{
    (void)state;
    /* The DSDT ends inside the \_S5 definition, before both SLP_TYP values
     * are complete (the first 12 bytes): no S5, no crash. */
    static const uint8_t full[] = {0x08, 0x5f, 0x53, 0x35, 0x5f, 0x12, 0x08,
                                   0x04, 0x0a, 0x05, 0x0a, 0x05, 0x00, 0x00};
    for (size_t n = 1; n < 12; n++) {
        standard_machine();
        dsdt_at(DSDT_PA, full, n);
        assert_true(acpi_parse(RSDP_PA, &info));
        if (info.s5.valid)
            fail_msg("S5 found in a DSDT cut after %zu bytes of its package", n);
    }
    standard_machine();
    dsdt_at(DSDT_PA, full, sizeof(full));
    assert_true(acpi_parse(RSDP_PA, &info));
    assert_true(info.s5.valid);
    /* Not a package, or an element that is neither a byte nor Zero/One. */
    static const uint8_t not_pkg[] = {0x08, 0x5f, 0x53, 0x35, 0x5f, 0x0a, 0x05};
    dsdt_at(DSDT_PA, not_pkg, sizeof(not_pkg));
    assert_true(acpi_parse(RSDP_PA, &info));
    assert_false(info.s5.valid);
    static const uint8_t word[] = {0x08, 0x5f, 0x53, 0x35, 0x5f, 0x12, 0x09, 0x04,
                                   0x0b, 0x05, 0x00, 0x0a, 0x05, 0x00, 0x00};
    dsdt_at(DSDT_PA, word, sizeof(word));
    assert_true(acpi_parse(RSDP_PA, &info));
    assert_false(info.s5.valid);
}

static void test_bad_xsdt_falls_back_to_rsdt(void **state)
{
    (void)state;
    standard_machine();
    sdt_break_checksum(XSDT_PA);
    assert_true(acpi_parse(RSDP_PA, &info));
    assert_warned("table XSDT at 0x3ff0000 has a bad checksum");
    assert_non_null(strstr(fake_console_output(), "falling back to the RSDT"));
    assert_standard_tables_found();

    /* An XSDT pointer beyond memory: same fallback. */
    standard_machine();
    rsdp(RSDP_PA, 2, (uint32_t)RSDT_PA, 0x0000100000000000ULL);
    fake_console_reset();
    assert_true(acpi_parse(RSDP_PA, &info));
    assert_warned("outside physical memory");
    assert_standard_tables_found();

    /* Both bad: nothing. */
    standard_machine();
    sdt_break_checksum(XSDT_PA);
    sdt_break_checksum(RSDT_PA);
    fake_console_reset();
    assert_false(acpi_parse(RSDP_PA, &info));
    assert_int_equal(info.warnings, 2);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup(name, setup)
    const struct CMUnitTest tests[] = {
        T(test_rsdp_v2_xsdt),
        T(test_rsdp_v1_rsdt),
        T(test_rsdp_v2_without_xsdt_uses_rsdt),
        T(test_search_of_the_bios_area),
        T(test_madt_cpus_ioapic_and_override),
        T(test_s5_zero_and_one_ops),
        T(test_s5_two_byte_pkglength_and_references),
        T(test_fadt_variants),
        T(test_no_madt_means_one_cpu),
        T(test_bad_rsdp_checksum_falls_back_to_the_bios_area),
        T(test_rsdp_beyond_the_phys_limit),
        T(test_bad_table_checksum),
        T(test_truncated_tables),
        T(test_table_beyond_the_phys_limit),
        T(test_madt_entry_with_length_zero),
        T(test_madt_entry_past_the_end),
        T(test_fadt_too_short),
        T(test_truncated_s5_packages),
        T(test_bad_xsdt_falls_back_to_rsdt),
        T(test_madt_hide_cpu),
        T(test_fadt_reset_register),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
