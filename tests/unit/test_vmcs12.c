/* unit-srcs: vmm/nested/vmcs12.c */
/* vmm/nested/vmcs12.c and the field list of arch/x86/vmcs_fields.h against
 * the SDM (Vol. 3C). The table below is typed from Appendix B, tables B-1
 * to B-15 (one table per width and type: B-1 16-bit control ... B-15
 * natural-width host state), independently of the header: every field the
 * header names must appear here with the same encoding, in the table whose
 * width and type the encoding decodes to (25.11.2: bits 14:13 width, bits
 * 11:10 type, bit 0 the access type). VMREAD/VMWRITE semantics: SDM 25.11.2
 * (a 16- or 32-bit field written with VMWRITE keeps only its low bits; the
 * high access of a 64-bit field reads/writes bits 63:32; a high access of a
 * field of another width is not a field), Vol. 3C 31 VMREAD/VMWRITE
 * (encodings with bits 63:32 set in the register operand fail with VM-
 * instruction error 12, "unsupported VMCS component"; VMWRITE of a
 * read-only data field fails with error 13 unless IA32_VMX_MISC bit 29),
 * IA32_VMX_VMCS_ENUM bits 9:1 (A.9). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>
#include "vmm/nested/vmcs12.h"

enum w { W16 = VMCS_WIDTH_16, W64 = VMCS_WIDTH_64, W32 = VMCS_WIDTH_32, WN = VMCS_WIDTH_NATURAL };
enum t { CTL = VMCS_TYPE_CONTROL, RO = VMCS_TYPE_READONLY, GST = VMCS_TYPE_GUEST, HST = VMCS_TYPE_HOST };

struct sdm_field {
    const char *name;
    unsigned header_enum;  /* VMCS_<name> from the header */
    int header_index;      /* VMCS_IDX_<name> */
    unsigned sdm_encoding; /* typed from Appendix B */
    enum w width;          /* the table it is listed in */
    enum t type;
    const char *table;
};

#define F(n, enc, wd, ty, tab) {#n, VMCS_##n, VMCS_IDX_##n, enc, wd, ty, tab}

static const struct sdm_field sdm[] = {
    /* Table B-1. Encodings for 16-Bit Control Fields (0000_00xx_xxxx_xxx0B) */
    F(VPID, 0x0000, W16, CTL, "B-1"),
    F(POSTED_INTR_NV, 0x0002, W16, CTL, "B-1"),
    F(EPTP_INDEX, 0x0004, W16, CTL, "B-1"),
    /* Table B-2. Encodings for 16-Bit Guest-State Fields (0000_10xx_xxxx_xxx0B) */
    F(GUEST_ES_SELECTOR, 0x0800, W16, GST, "B-2"),
    F(GUEST_CS_SELECTOR, 0x0802, W16, GST, "B-2"),
    F(GUEST_SS_SELECTOR, 0x0804, W16, GST, "B-2"),
    F(GUEST_DS_SELECTOR, 0x0806, W16, GST, "B-2"),
    F(GUEST_FS_SELECTOR, 0x0808, W16, GST, "B-2"),
    F(GUEST_GS_SELECTOR, 0x080A, W16, GST, "B-2"),
    F(GUEST_LDTR_SELECTOR, 0x080C, W16, GST, "B-2"),
    F(GUEST_TR_SELECTOR, 0x080E, W16, GST, "B-2"),
    F(GUEST_INTR_STATUS, 0x0810, W16, GST, "B-2"),
    F(GUEST_PML_INDEX, 0x0812, W16, GST, "B-2"),
    /* Table B-3. Encodings for 16-Bit Host-State Fields (0000_11xx_xxxx_xxx0B) */
    F(HOST_ES_SELECTOR, 0x0C00, W16, HST, "B-3"),
    F(HOST_CS_SELECTOR, 0x0C02, W16, HST, "B-3"),
    F(HOST_SS_SELECTOR, 0x0C04, W16, HST, "B-3"),
    F(HOST_DS_SELECTOR, 0x0C06, W16, HST, "B-3"),
    F(HOST_FS_SELECTOR, 0x0C08, W16, HST, "B-3"),
    F(HOST_GS_SELECTOR, 0x0C0A, W16, HST, "B-3"),
    F(HOST_TR_SELECTOR, 0x0C0C, W16, HST, "B-3"),
    /* Table B-4. Encodings for 64-Bit Control Fields (0010_00xx_xxxx_xxxAb) */
    F(IO_BITMAP_A, 0x2000, W64, CTL, "B-4"),
    F(IO_BITMAP_B, 0x2002, W64, CTL, "B-4"),
    F(MSR_BITMAP, 0x2004, W64, CTL, "B-4"),
    F(VM_EXIT_MSR_STORE_ADDR, 0x2006, W64, CTL, "B-4"),
    F(VM_EXIT_MSR_LOAD_ADDR, 0x2008, W64, CTL, "B-4"),
    F(VM_ENTRY_MSR_LOAD_ADDR, 0x200A, W64, CTL, "B-4"),
    F(EXECUTIVE_VMCS_POINTER, 0x200C, W64, CTL, "B-4"),
    F(PML_ADDRESS, 0x200E, W64, CTL, "B-4"),
    F(TSC_OFFSET, 0x2010, W64, CTL, "B-4"),
    F(VIRTUAL_APIC_PAGE_ADDR, 0x2012, W64, CTL, "B-4"),
    F(APIC_ACCESS_ADDR, 0x2014, W64, CTL, "B-4"),
    F(POSTED_INTR_DESC_ADDR, 0x2016, W64, CTL, "B-4"),
    F(VM_FUNCTION_CONTROL, 0x2018, W64, CTL, "B-4"),
    F(EPT_POINTER, 0x201A, W64, CTL, "B-4"),
    F(EOI_EXIT_BITMAP0, 0x201C, W64, CTL, "B-4"),
    F(EOI_EXIT_BITMAP1, 0x201E, W64, CTL, "B-4"),
    F(EOI_EXIT_BITMAP2, 0x2020, W64, CTL, "B-4"),
    F(EOI_EXIT_BITMAP3, 0x2022, W64, CTL, "B-4"),
    F(EPTP_LIST_ADDRESS, 0x2024, W64, CTL, "B-4"),
    F(VMREAD_BITMAP, 0x2026, W64, CTL, "B-4"),
    F(VMWRITE_BITMAP, 0x2028, W64, CTL, "B-4"),
    F(VE_INFO_ADDRESS, 0x202A, W64, CTL, "B-4"),
    F(XSS_EXIT_BITMAP, 0x202C, W64, CTL, "B-4"),
    F(TSC_MULTIPLIER, 0x2032, W64, CTL, "B-4"),
    /* Table B-5. Encodings for 64-Bit Read-Only Data Field (0010_01xx_xxxx_xxxAb) */
    F(GUEST_PHYSICAL_ADDRESS, 0x2400, W64, RO, "B-5"),
    /* Table B-6. Encodings for 64-Bit Guest-State Fields (0010_10xx_xxxx_xxxAb) */
    F(VMCS_LINK_POINTER, 0x2800, W64, GST, "B-6"),
    F(GUEST_IA32_DEBUGCTL, 0x2802, W64, GST, "B-6"),
    F(GUEST_IA32_PAT, 0x2804, W64, GST, "B-6"),
    F(GUEST_IA32_EFER, 0x2806, W64, GST, "B-6"),
    F(GUEST_IA32_PERF_GLOBAL_CTRL, 0x2808, W64, GST, "B-6"),
    F(GUEST_PDPTE0, 0x280A, W64, GST, "B-6"),
    F(GUEST_PDPTE1, 0x280C, W64, GST, "B-6"),
    F(GUEST_PDPTE2, 0x280E, W64, GST, "B-6"),
    F(GUEST_PDPTE3, 0x2810, W64, GST, "B-6"),
    /* Table B-7. Encodings for 64-Bit Host-State Fields (0010_11xx_xxxx_xxxAb) */
    F(HOST_IA32_PAT, 0x2C00, W64, HST, "B-7"),
    F(HOST_IA32_EFER, 0x2C02, W64, HST, "B-7"),
    F(HOST_IA32_PERF_GLOBAL_CTRL, 0x2C04, W64, HST, "B-7"),
    /* Table B-8. Encodings for 32-Bit Control Fields (0100_00xx_xxxx_xxx0B) */
    F(PIN_BASED_VM_EXEC_CONTROL, 0x4000, W32, CTL, "B-8"),
    F(CPU_BASED_VM_EXEC_CONTROL, 0x4002, W32, CTL, "B-8"),
    F(EXCEPTION_BITMAP, 0x4004, W32, CTL, "B-8"),
    F(PAGE_FAULT_ERROR_CODE_MASK, 0x4006, W32, CTL, "B-8"),
    F(PAGE_FAULT_ERROR_CODE_MATCH, 0x4008, W32, CTL, "B-8"),
    F(CR3_TARGET_COUNT, 0x400A, W32, CTL, "B-8"),
    F(VM_EXIT_CONTROLS, 0x400C, W32, CTL, "B-8"),
    F(VM_EXIT_MSR_STORE_COUNT, 0x400E, W32, CTL, "B-8"),
    F(VM_EXIT_MSR_LOAD_COUNT, 0x4010, W32, CTL, "B-8"),
    F(VM_ENTRY_CONTROLS, 0x4012, W32, CTL, "B-8"),
    F(VM_ENTRY_MSR_LOAD_COUNT, 0x4014, W32, CTL, "B-8"),
    F(VM_ENTRY_INTR_INFO_FIELD, 0x4016, W32, CTL, "B-8"),
    F(VM_ENTRY_EXCEPTION_ERROR_CODE, 0x4018, W32, CTL, "B-8"),
    F(VM_ENTRY_INSTRUCTION_LEN, 0x401A, W32, CTL, "B-8"),
    F(TPR_THRESHOLD, 0x401C, W32, CTL, "B-8"),
    F(SECONDARY_VM_EXEC_CONTROL, 0x401E, W32, CTL, "B-8"),
    F(PLE_GAP, 0x4020, W32, CTL, "B-8"),
    F(PLE_WINDOW, 0x4022, W32, CTL, "B-8"),
    /* Table B-9. Encodings for 32-Bit Read-Only Data Fields (0100_01xx_xxxx_xxx0B) */
    F(VM_INSTRUCTION_ERROR, 0x4400, W32, RO, "B-9"),
    F(VM_EXIT_REASON, 0x4402, W32, RO, "B-9"),
    F(VM_EXIT_INTR_INFO, 0x4404, W32, RO, "B-9"),
    F(VM_EXIT_INTR_ERROR_CODE, 0x4406, W32, RO, "B-9"),
    F(IDT_VECTORING_INFO_FIELD, 0x4408, W32, RO, "B-9"),
    F(IDT_VECTORING_ERROR_CODE, 0x440A, W32, RO, "B-9"),
    F(VM_EXIT_INSTRUCTION_LEN, 0x440C, W32, RO, "B-9"),
    F(VMX_INSTRUCTION_INFO, 0x440E, W32, RO, "B-9"),
    /* Table B-10. Encodings for 32-Bit Guest-State Fields (0100_10xx_xxxx_xxx0B) */
    F(GUEST_ES_LIMIT, 0x4800, W32, GST, "B-10"),
    F(GUEST_CS_LIMIT, 0x4802, W32, GST, "B-10"),
    F(GUEST_SS_LIMIT, 0x4804, W32, GST, "B-10"),
    F(GUEST_DS_LIMIT, 0x4806, W32, GST, "B-10"),
    F(GUEST_FS_LIMIT, 0x4808, W32, GST, "B-10"),
    F(GUEST_GS_LIMIT, 0x480A, W32, GST, "B-10"),
    F(GUEST_LDTR_LIMIT, 0x480C, W32, GST, "B-10"),
    F(GUEST_TR_LIMIT, 0x480E, W32, GST, "B-10"),
    F(GUEST_GDTR_LIMIT, 0x4810, W32, GST, "B-10"),
    F(GUEST_IDTR_LIMIT, 0x4812, W32, GST, "B-10"),
    F(GUEST_ES_AR_BYTES, 0x4814, W32, GST, "B-10"),
    F(GUEST_CS_AR_BYTES, 0x4816, W32, GST, "B-10"),
    F(GUEST_SS_AR_BYTES, 0x4818, W32, GST, "B-10"),
    F(GUEST_DS_AR_BYTES, 0x481A, W32, GST, "B-10"),
    F(GUEST_FS_AR_BYTES, 0x481C, W32, GST, "B-10"),
    F(GUEST_GS_AR_BYTES, 0x481E, W32, GST, "B-10"),
    F(GUEST_LDTR_AR_BYTES, 0x4820, W32, GST, "B-10"),
    F(GUEST_TR_AR_BYTES, 0x4822, W32, GST, "B-10"),
    F(GUEST_INTERRUPTIBILITY_INFO, 0x4824, W32, GST, "B-10"),
    F(GUEST_ACTIVITY_STATE, 0x4826, W32, GST, "B-10"),
    F(GUEST_SMBASE, 0x4828, W32, GST, "B-10"),
    F(GUEST_SYSENTER_CS, 0x482A, W32, GST, "B-10"),
    F(VMX_PREEMPTION_TIMER_VALUE, 0x482E, W32, GST, "B-10"),
    /* Table B-11. Encoding for 32-Bit Host-State Field (0100_11xx_xxxx_xxx0B) */
    F(HOST_IA32_SYSENTER_CS, 0x4C00, W32, HST, "B-11"),
    /* Table B-12. Encodings for Natural-Width Control Fields (0110_00xx_xxxx_xxx0B) */
    F(CR0_GUEST_HOST_MASK, 0x6000, WN, CTL, "B-12"),
    F(CR4_GUEST_HOST_MASK, 0x6002, WN, CTL, "B-12"),
    F(CR0_READ_SHADOW, 0x6004, WN, CTL, "B-12"),
    F(CR4_READ_SHADOW, 0x6006, WN, CTL, "B-12"),
    F(CR3_TARGET_VALUE0, 0x6008, WN, CTL, "B-12"),
    F(CR3_TARGET_VALUE1, 0x600A, WN, CTL, "B-12"),
    F(CR3_TARGET_VALUE2, 0x600C, WN, CTL, "B-12"),
    F(CR3_TARGET_VALUE3, 0x600E, WN, CTL, "B-12"),
    /* Table B-13. Encodings for Natural-Width Read-Only Data Fields (0110_01xx_xxxx_xxx0B) */
    F(EXIT_QUALIFICATION, 0x6400, WN, RO, "B-13"),
    F(IO_RCX, 0x6402, WN, RO, "B-13"),
    F(IO_RSI, 0x6404, WN, RO, "B-13"),
    F(IO_RDI, 0x6406, WN, RO, "B-13"),
    F(IO_RIP, 0x6408, WN, RO, "B-13"),
    F(GUEST_LINEAR_ADDRESS, 0x640A, WN, RO, "B-13"),
    /* Table B-14. Encodings for Natural-Width Guest-State Fields (0110_10xx_xxxx_xxx0B) */
    F(GUEST_CR0, 0x6800, WN, GST, "B-14"),
    F(GUEST_CR3, 0x6802, WN, GST, "B-14"),
    F(GUEST_CR4, 0x6804, WN, GST, "B-14"),
    F(GUEST_ES_BASE, 0x6806, WN, GST, "B-14"),
    F(GUEST_CS_BASE, 0x6808, WN, GST, "B-14"),
    F(GUEST_SS_BASE, 0x680A, WN, GST, "B-14"),
    F(GUEST_DS_BASE, 0x680C, WN, GST, "B-14"),
    F(GUEST_FS_BASE, 0x680E, WN, GST, "B-14"),
    F(GUEST_GS_BASE, 0x6810, WN, GST, "B-14"),
    F(GUEST_LDTR_BASE, 0x6812, WN, GST, "B-14"),
    F(GUEST_TR_BASE, 0x6814, WN, GST, "B-14"),
    F(GUEST_GDTR_BASE, 0x6816, WN, GST, "B-14"),
    F(GUEST_IDTR_BASE, 0x6818, WN, GST, "B-14"),
    F(GUEST_DR7, 0x681A, WN, GST, "B-14"),
    F(GUEST_RSP, 0x681C, WN, GST, "B-14"),
    F(GUEST_RIP, 0x681E, WN, GST, "B-14"),
    F(GUEST_RFLAGS, 0x6820, WN, GST, "B-14"),
    F(GUEST_PENDING_DBG_EXCEPTIONS, 0x6822, WN, GST, "B-14"),
    F(GUEST_SYSENTER_ESP, 0x6824, WN, GST, "B-14"),
    F(GUEST_SYSENTER_EIP, 0x6826, WN, GST, "B-14"),
    /* Table B-15. Encodings for Natural-Width Host-State Fields (0110_11xx_xxxx_xxx0B) */
    F(HOST_CR0, 0x6C00, WN, HST, "B-15"),
    F(HOST_CR3, 0x6C02, WN, HST, "B-15"),
    F(HOST_CR4, 0x6C04, WN, HST, "B-15"),
    F(HOST_FS_BASE, 0x6C06, WN, HST, "B-15"),
    F(HOST_GS_BASE, 0x6C08, WN, HST, "B-15"),
    F(HOST_TR_BASE, 0x6C0A, WN, HST, "B-15"),
    F(HOST_GDTR_BASE, 0x6C0C, WN, HST, "B-15"),
    F(HOST_IDTR_BASE, 0x6C0E, WN, HST, "B-15"),
    F(HOST_IA32_SYSENTER_ESP, 0x6C10, WN, HST, "B-15"),
    F(HOST_IA32_SYSENTER_EIP, 0x6C12, WN, HST, "B-15"),
    F(HOST_RSP, 0x6C14, WN, HST, "B-15"),
    F(HOST_RIP, 0x6C16, WN, HST, "B-15"),
};
#define SDM_COUNT (sizeof(sdm) / sizeof(sdm[0]))

/* The VM-exit information fields (SDM 25.9.1-25.9.5): basic exit
 * information, vectored-event and event-delivery information, instruction
 * information and the VM-instruction error. With VMCS shadowing nestvisor
 * lets L1 VMREAD these without an exit (docs/nested.md, the hot set). */
static const unsigned shadowed_exit_info[] = {
    0x4400 /* VM-instruction error, 25.9.5 */,
    0x4402 /* exit reason, 25.9.1 */,
    0x6400 /* exit qualification, 25.9.1 */,
    0x640A /* guest-linear address, 25.9.1 */,
    0x2400 /* guest-physical address, 25.9.1 */,
    0x4404 /* VM-exit interruption information, 25.9.2 */,
    0x4406 /* VM-exit interruption error code, 25.9.2 */,
    0x4408 /* IDT-vectoring information, 25.9.3 */,
    0x440A /* IDT-vectoring error code, 25.9.3 */,
    0x440C /* VM-exit instruction length, 25.9.4 */,
    0x440E /* VM-exit instruction information, 25.9.4 */,
};

static const struct sdm_field *sdm_by_encoding(unsigned enc)
{
    for (unsigned i = 0; i < SDM_COUNT; i++)
        if (sdm[i].sdm_encoding == enc)
            return &sdm[i];
    return 0;
}

/* Every header field is in the SDM table once, with the SDM's encoding
 * (Appendix B): the enum values are right. */
static void test_every_enum_matches_appendix_b(void **state)
{
    (void)state;
    assert_int_equal(SDM_COUNT, VMCS_FIELD_COUNT);
    bool seen[VMCS_FIELD_COUNT] = {false};
    for (unsigned i = 0; i < SDM_COUNT; i++) {
        const struct sdm_field *f = &sdm[i];
        if (f->header_enum != f->sdm_encoding)
            fail_msg("%s: header encoding 0x%04x, SDM table %s says 0x%04x", f->name, f->header_enum,
                     f->table, f->sdm_encoding);
        assert_in_range(f->header_index, 0, VMCS_FIELD_COUNT - 1);
        assert_false(seen[f->header_index]);
        seen[f->header_index] = true;
        assert_int_equal(vmcs12_fields[f->header_index].encoding, f->sdm_encoding);
    }
}

/* SDM 25.11.2: the encoding's bits 14:13 (width) and 11:10 (type) put each
 * field in the Appendix B table it is listed in; bit 0 (access type) is 0
 * and bits 12 and 31:15 are reserved (0) in every full encoding. */
static void test_width_and_type_decode_as_the_appendix(void **state)
{
    (void)state;
    for (unsigned i = 0; i < SDM_COUNT; i++) {
        const struct sdm_field *f = &sdm[i];
        if ((int)vmcs_enc_width(f->sdm_encoding) != (int)f->width)
            fail_msg("%s: width %d, listed in table %s", f->name, vmcs_enc_width(f->sdm_encoding), f->table);
        if ((int)vmcs_enc_type(f->sdm_encoding) != (int)f->type)
            fail_msg("%s: type %d, listed in table %s", f->name, vmcs_enc_type(f->sdm_encoding), f->table);
        assert_int_equal(f->sdm_encoding & VMCS_ENC_HIGH_ACCESS, 0);
        assert_int_equal(f->sdm_encoding & VMCS_ENC_RESERVED_MASK, 0);
    }
    /* The decoders on hand-picked encodings of each table. */
    assert_int_equal(vmcs_enc_width(0x0000), VMCS_WIDTH_16);
    assert_int_equal(vmcs_enc_width(0x2001), VMCS_WIDTH_64);
    assert_int_equal(vmcs_enc_width(0x4826), VMCS_WIDTH_32);
    assert_int_equal(vmcs_enc_width(0x6C16), VMCS_WIDTH_NATURAL);
    assert_int_equal(vmcs_enc_type(0x4002), VMCS_TYPE_CONTROL);
    assert_int_equal(vmcs_enc_type(0x4402), VMCS_TYPE_READONLY);
    assert_int_equal(vmcs_enc_type(0x681E), VMCS_TYPE_GUEST);
    assert_int_equal(vmcs_enc_type(0x0C0C), VMCS_TYPE_HOST);
}

/* vmcs_field_index is the inverse of the table, and nothing else is a
 * field: of the 32768 values of bits 14:0 exactly the table's encodings
 * resolve; high accesses (bit 0), bit 12, bits 31:15 and encodings the SDM
 * has but nestvisor does not know (HLAT prefix size 0x0006, tertiary
 * controls 0x2034, IA32_BNDCFGS 0x2812, IA32_S_CET 0x6828) do not. */
static void test_field_index_round_trips_and_rejects(void **state)
{
    (void)state;
    for (unsigned i = 0; i < VMCS_FIELD_COUNT; i++)
        assert_int_equal(vmcs_field_index(vmcs12_fields[i].encoding), (int)i);
    unsigned hits = 0;
    for (uint32_t enc = 0; enc < 0x8000; enc++) {
        int i = vmcs_field_index(enc);
        if (i < 0) {
            assert_null(sdm_by_encoding(enc));
            continue;
        }
        hits++;
        const struct sdm_field *f = sdm_by_encoding(enc);
        assert_non_null(f);
        assert_int_equal(i, f->header_index);
    }
    assert_int_equal(hits, VMCS_FIELD_COUNT);
    static const uint32_t not_fields[] = {0x0001, 0x2001, 0x2011, 0x0006, 0x2034, 0x2812, 0x6828,
                                          0x1000, 0x5000, 0x8000, 0x10000 | 0x681E, 0xffffffffU,
                                          0x80000000U | 0x4002};
    for (unsigned i = 0; i < sizeof(not_fields) / sizeof(not_fields[0]); i++)
        assert_int_equal(vmcs_field_index(not_fields[i]), -1);
}

static void test_no_two_fields_share_an_encoding(void **state)
{
    (void)state;
    for (unsigned i = 0; i < VMCS_FIELD_COUNT; i++)
        for (unsigned j = i + 1; j < VMCS_FIELD_COUNT; j++)
            if (vmcs12_fields[i].encoding == vmcs12_fields[j].encoding)
                fail_msg("fields %u and %u share encoding 0x%04x", i, j, vmcs12_fields[i].encoding);
}

/* Read-only fields (type 1) are exactly the VM-exit information fields of
 * tables B-5, B-9 and B-13 (SDM 25.9); the ones nestvisor shadows are the
 * exit information L1 reads on every exit, and no field is both shadowed
 * and withheld from L1. */
static void test_shadowed_read_only_fields_are_exit_information(void **state)
{
    (void)state;
    for (unsigned i = 0; i < SDM_COUNT; i++) {
        bool exit_info_table = !strcmp(sdm[i].table, "B-5") || !strcmp(sdm[i].table, "B-9") ||
                               !strcmp(sdm[i].table, "B-13");
        assert_int_equal(vmcs_enc_type(sdm[i].header_enum) == VMCS_TYPE_READONLY, exit_info_table);
    }
    unsigned shadowed_ro = 0;
    for (unsigned i = 0; i < VMCS_FIELD_COUNT; i++) {
        const struct vmcs12_field_info *f = &vmcs12_fields[i];
        if ((f->flags & FIELD_SHADOW) && (f->flags & FIELD_L0_ONLY))
            fail_msg("field 0x%04x is both shadowed and L0-only", f->encoding);
        if (!(f->flags & FIELD_SHADOW) || vmcs_enc_type(f->encoding) != VMCS_TYPE_READONLY)
            continue;
        shadowed_ro++;
        bool listed = false;
        for (unsigned k = 0; k < sizeof(shadowed_exit_info) / sizeof(shadowed_exit_info[0]); k++)
            listed |= shadowed_exit_info[k] == f->encoding;
        if (!listed)
            fail_msg("shadowed read-only field 0x%04x is not exit information L1 reads per exit", f->encoding);
    }
    assert_int_equal(shadowed_ro, sizeof(shadowed_exit_info) / sizeof(shadowed_exit_info[0]));
}

/* Of the host state only RSP is shadowed: L1s write it before every entry
 * (issue 13: 102,421 of one L1's 113,143 VMWRITE exits), and no entry
 * check reads it, so the checks that skip unchanged host state stay right.
 * Every other host field has a check (SDM 26.2.2-26.2.4). */
static void test_host_rsp_is_the_only_shadowed_host_field(void **state)
{
    (void)state;
    for (unsigned i = 0; i < VMCS_FIELD_COUNT; i++) {
        const struct vmcs12_field_info *f = &vmcs12_fields[i];
        if (vmcs_enc_type(f->encoding) != VMCS_TYPE_HOST)
            continue;
        assert_int_equal(!!(f->flags & FIELD_SHADOW), f->encoding == VMCS_HOST_RSP);
    }
}

static struct vmcs12 v12;

static int setup(void **state)
{
    (void)state;
    memset(&v12, 0, sizeof(v12));
    return 0;
}

#define PATTERN 0x1122334455667788ULL

/* SDM 25.11.2: VMWRITE to a 16-bit or 32-bit field writes only its low 16
 * or 32 bits; VMREAD returns the field zero-extended; 64-bit and natural-
 * width fields (on Intel 64) keep all 64 bits. */
static void test_width_truncation(void **state)
{
    (void)state;
    struct {
        uint32_t enc;
        uint64_t expect;
    } cases[] = {
        {VMCS_VPID, 0x7788},                       /* 16-bit control */
        {VMCS_GUEST_CS_SELECTOR, 0x7788},          /* 16-bit guest */
        {VMCS_HOST_TR_SELECTOR, 0x7788},           /* 16-bit host */
        {VMCS_PIN_BASED_VM_EXEC_CONTROL, 0x55667788}, /* 32-bit control */
        {VMCS_GUEST_CS_AR_BYTES, 0x55667788},      /* 32-bit guest */
        {VMCS_HOST_IA32_SYSENTER_CS, 0x55667788},  /* 32-bit host */
        {VMCS_TSC_OFFSET, PATTERN},                /* 64-bit control */
        {VMCS_GUEST_IA32_EFER, PATTERN},           /* 64-bit guest */
        {VMCS_HOST_IA32_PAT, PATTERN},             /* 64-bit host */
        {VMCS_CR0_GUEST_HOST_MASK, PATTERN},       /* natural control */
        {VMCS_GUEST_RIP, PATTERN},                 /* natural guest */
        {VMCS_HOST_RSP, PATTERN},                  /* natural host */
    };
    for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint64_t v = 0;
        assert_int_equal(vmcs12_write(&v12, cases[i].enc, PATTERN, false), VMCS12_OK);
        assert_int_equal(vmcs12_read(&v12, cases[i].enc, &v), VMCS12_OK);
        assert_int_equal(v, cases[i].expect);
        assert_int_equal(v12.field[vmcs_field_index(cases[i].enc)], cases[i].expect);
        assert_int_equal(vmcs_width_mask(cases[i].enc) & PATTERN, cases[i].expect);
    }
}

/* SDM 25.11.2: access type 1 (bit 0) of a 64-bit field is its high 32
 * bits: VMREAD gives bits 63:32 in bits 31:0, VMWRITE writes bits 63:32
 * from the operand's bits 31:0 and leaves bits 31:0 alone. */
static void test_high_access_of_64_bit_fields(void **state)
{
    (void)state;
    uint64_t v;
    static const uint32_t fields64[] = {VMCS_TSC_OFFSET, VMCS_IO_BITMAP_A, VMCS_VMCS_LINK_POINTER,
                                        VMCS_GUEST_IA32_EFER, VMCS_HOST_IA32_EFER, VMCS_EPT_POINTER};
    for (unsigned i = 0; i < sizeof(fields64) / sizeof(fields64[0]); i++) {
        uint32_t full = fields64[i], high = full | VMCS_ENC_HIGH_ACCESS;
        assert_int_equal(vmcs12_write(&v12, full, PATTERN, false), VMCS12_OK);
        assert_int_equal(vmcs12_read(&v12, high, &v), VMCS12_OK);
        assert_int_equal(v, 0x11223344);
        assert_int_equal(vmcs12_write(&v12, high, 0xdeadbeefcafef00dULL, false), VMCS12_OK);
        assert_int_equal(vmcs12_read(&v12, full, &v), VMCS12_OK);
        assert_int_equal(v, 0xcafef00d55667788ULL);
        assert_int_equal(vmcs12_read(&v12, high, &v), VMCS12_OK);
        assert_int_equal(v, 0xcafef00d);
    }
    /* The high half of the 64-bit read-only field reads too. */
    assert_int_equal(vmcs12_write(&v12, VMCS_GUEST_PHYSICAL_ADDRESS, PATTERN, true), VMCS12_OK);
    assert_int_equal(vmcs12_read(&v12, VMCS_GUEST_PHYSICAL_ADDRESS | 1, &v), VMCS12_OK);
    assert_int_equal(v, 0x11223344);
}

/* A high access of a 16-bit, 32-bit or natural-width field is no field
 * (only 64-bit fields have one): VMfailValid(12). */
static void test_high_access_of_other_widths_unsupported(void **state)
{
    (void)state;
    uint64_t v = 0x55;
    for (unsigned i = 0; i < VMCS_FIELD_COUNT; i++) {
        uint32_t enc = vmcs12_fields[i].encoding;
        if (vmcs_enc_width(enc) == VMCS_WIDTH_64)
            continue;
        assert_int_equal(vmcs12_read(&v12, enc | 1, &v), VMCS12_UNSUPPORTED);
        assert_int_equal(vmcs12_write(&v12, enc | 1, 1, true), VMCS12_UNSUPPORTED);
    }
    assert_int_equal(v, 0x55);
    for (unsigned i = 0; i < VMCS_FIELD_COUNT; i++)
        assert_int_equal(v12.field[i], 0);
}

/* SDM 31 VMREAD/VMWRITE: in 64-bit mode, an encoding operand with any of
 * bits 63:32 set is an unsupported component. */
static void test_encoding_bits_63_32_unsupported(void **state)
{
    (void)state;
    uint64_t v;
    assert_int_equal(vmcs12_write(&v12, VMCS_GUEST_RIP, 0x1234, false), VMCS12_OK);
    for (unsigned bit = 32; bit < 64; bit++) {
        uint64_t enc = (1ULL << bit) | VMCS_GUEST_RIP;
        assert_int_equal(vmcs12_read(&v12, enc, &v), VMCS12_UNSUPPORTED);
        assert_int_equal(vmcs12_write(&v12, enc, 0x5678, false), VMCS12_UNSUPPORTED);
        assert_int_equal(vmcs12_read(&v12, (1ULL << bit) | VMCS_TSC_OFFSET | 1, &v), VMCS12_UNSUPPORTED);
    }
    assert_int_equal(VMCS12(&v12, GUEST_RIP), 0x1234);
    /* Unknown encodings (bits 31:15, bit 12, unused indices). */
    assert_int_equal(vmcs12_read(&v12, 0x8000 | VMCS_GUEST_RIP, &v), VMCS12_UNSUPPORTED);
    assert_int_equal(vmcs12_read(&v12, 0x1000 | VMCS_GUEST_RIP, &v), VMCS12_UNSUPPORTED);
    assert_int_equal(vmcs12_write(&v12, 0x2034, 1, false), VMCS12_UNSUPPORTED);
}

/* Fields L0 uses but does not offer (FIELD_L0_ONLY: the executive-VMCS
 * pointer) are unsupported components for L1, full and high access alike. */
static void test_l0_only_fields_unsupported(void **state)
{
    (void)state;
    unsigned n = 0;
    uint64_t v;
    for (unsigned i = 0; i < VMCS_FIELD_COUNT; i++) {
        if (!(vmcs12_fields[i].flags & FIELD_L0_ONLY))
            continue;
        n++;
        uint32_t enc = vmcs12_fields[i].encoding;
        assert_int_equal(vmcs12_read(&v12, enc, &v), VMCS12_UNSUPPORTED);
        assert_int_equal(vmcs12_write(&v12, enc, 1, true), VMCS12_UNSUPPORTED);
        if (vmcs_enc_width(enc) == VMCS_WIDTH_64)
            assert_int_equal(vmcs12_write(&v12, enc | 1, 1, true), VMCS12_UNSUPPORTED);
        assert_int_equal(v12.field[i], 0);
    }
    assert_true(n > 0);
    /* Spot checks by name. */
    assert_int_equal(vmcs12_read(&v12, VMCS_EXECUTIVE_VMCS_POINTER, &v), VMCS12_UNSUPPORTED);
    /* Fields of the features offered are L1's (issue 13): PML, VM
     * functions, #VE and the VMREAD/VMWRITE bitmaps among them. */
    assert_int_equal(vmcs12_read(&v12, VMCS_PML_ADDRESS, &v), VMCS12_OK);
    assert_int_equal(vmcs12_write(&v12, VMCS_GUEST_PML_INDEX, 0x1ff, false), VMCS12_OK);
    assert_int_equal(vmcs12_read(&v12, VMCS_VE_INFO_ADDRESS, &v), VMCS12_OK);
    assert_int_equal(vmcs12_read(&v12, VMCS_EPTP_LIST_ADDRESS, &v), VMCS12_OK);
    assert_int_equal(vmcs12_read(&v12, VMCS_VM_FUNCTION_CONTROL, &v), VMCS12_OK);
    assert_int_equal(vmcs12_write(&v12, VMCS_EPTP_INDEX, 3, false), VMCS12_OK);
    assert_int_equal(vmcs12_read(&v12, VMCS_VMREAD_BITMAP, &v), VMCS12_OK);
    assert_int_equal(vmcs12_read(&v12, VMCS_VMWRITE_BITMAP, &v), VMCS12_OK);
    assert_int_equal(vmcs12_read(&v12, VMCS_POSTED_INTR_DESC_ADDR, &v), VMCS12_OK);
    assert_int_equal(vmcs12_read(&v12, VMCS_PLE_WINDOW, &v), VMCS12_OK);
    assert_int_equal(vmcs12_read(&v12, VMCS_TSC_MULTIPLIER, &v), VMCS12_OK);
    /* VMCS shadowing is offered: its bitmaps are L1's, high access too. */
    assert_int_equal(vmcs12_write(&v12, VMCS_VMREAD_BITMAP, 0x5000, false), VMCS12_OK);
    assert_int_equal(vmcs12_write(&v12, VMCS_VMWRITE_BITMAP | VMCS_ENC_HIGH_ACCESS, 1, false), VMCS12_OK);
    assert_int_equal(vmcs12_read(&v12, VMCS_VMREAD_BITMAP, &v), VMCS12_OK);
    assert_int_equal(v, 0x5000);
    assert_int_equal(vmcs12_read(&v12, VMCS_VMWRITE_BITMAP, &v), VMCS12_OK);
    assert_int_equal(v, 1ULL << 32);
}

/* SDM 31 VMWRITE: a read-only data field (type 1) fails with error 13
 * unless the "VMWRITE to any field" capability applies (L0's own writes of
 * exit information into vmcs12 use write_read_only). */
static void test_read_only_fields_refused_unless_forced(void **state)
{
    (void)state;
    uint64_t v;
    for (unsigned i = 0; i < VMCS_FIELD_COUNT; i++) {
        uint32_t enc = vmcs12_fields[i].encoding;
        if (vmcs_enc_type(enc) != VMCS_TYPE_READONLY || (vmcs12_fields[i].flags & FIELD_L0_ONLY))
            continue;
        assert_int_equal(vmcs12_write(&v12, enc, 0x42, false), VMCS12_READ_ONLY);
        assert_int_equal(v12.field[i], 0);
        assert_int_equal(vmcs12_write(&v12, enc, 0x42, true), VMCS12_OK);
        assert_int_equal(vmcs12_read(&v12, enc, &v), VMCS12_OK);
        assert_int_equal(v, 0x42);
    }
    assert_int_equal(vmcs12_write(&v12, VMCS_GUEST_PHYSICAL_ADDRESS | 1, 7, false), VMCS12_READ_ONLY);
    assert_int_equal(vmcs12_write(&v12, VMCS_GUEST_PHYSICAL_ADDRESS | 1, 7, true), VMCS12_OK);
    assert_int_equal(VMCS12(&v12, GUEST_PHYSICAL_ADDRESS), (7ULL << 32) | 0x42);
    /* Writable fields are writable either way. */
    assert_int_equal(vmcs12_write(&v12, VMCS_GUEST_RSP, 9, false), VMCS12_OK);
    assert_int_equal(vmcs12_write(&v12, VMCS_GUEST_RSP, 10, true), VMCS12_OK);
    assert_int_equal(VMCS12(&v12, GUEST_RSP), 10);
}

/* IA32_VMX_VMCS_ENUM bits 9:1 (A.9): the highest index (encoding bits
 * 9:1) of any field L1 may access. Computed here from the SDM table minus
 * the L0-only fields: the TSC multiplier, 0x2032, index 0x19. */
static void test_highest_index(void **state)
{
    (void)state;
    unsigned highest = 0;
    for (unsigned i = 0; i < SDM_COUNT; i++) {
        if (vmcs12_fields[sdm[i].header_index].flags & FIELD_L0_ONLY)
            continue;
        unsigned idx = (sdm[i].sdm_encoding >> 1) & 0x1ff;
        if (idx > highest)
            highest = idx;
    }
    assert_int_equal(vmcs12_highest_index(), highest);
    assert_int_equal(vmcs12_highest_index(), 0x19);
    /* Every field L1 may access has an index <= it. */
    for (unsigned i = 0; i < VMCS_FIELD_COUNT; i++)
        if (!(vmcs12_fields[i].flags & FIELD_L0_ONLY))
            assert_true(((vmcs12_fields[i].encoding >> 1) & 0x1ff) <= vmcs12_highest_index());
}

/* The region layout (SDM 25.2): revision identifier and abort indicator
 * first; nestvisor's cache fits one 4 KiB region. */
static void test_region_layout(void **state)
{
    (void)state;
    assert_int_equal(offsetof(struct vmcs12, revision_id), 0);
    assert_int_equal(offsetof(struct vmcs12, abort), 4);
    assert_true(sizeof(struct vmcs12) <= VMCS12_SIZE);
    assert_int_equal(VMCS_LINK_NONE, ~0ULL);
}

#define T(f) cmocka_unit_test_setup(f, setup)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_every_enum_matches_appendix_b),
        T(test_width_and_type_decode_as_the_appendix),
        T(test_field_index_round_trips_and_rejects),
        T(test_no_two_fields_share_an_encoding),
        T(test_shadowed_read_only_fields_are_exit_information),
        T(test_host_rsp_is_the_only_shadowed_host_field),
        T(test_width_truncation),
        T(test_high_access_of_64_bit_fields),
        T(test_high_access_of_other_widths_unsupported),
        T(test_encoding_bits_63_32_unsupported),
        T(test_l0_only_fields_unsupported),
        T(test_read_only_fields_refused_unless_forced),
        T(test_highest_index),
        T(test_region_layout),
    };
    return cmocka_run_group_tests(tests, 0, 0);
}
