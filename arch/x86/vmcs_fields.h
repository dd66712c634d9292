/* Every VMCS field nestvisor knows, once (SDM Vol. 3C Appendix B).
 *
 *   VMCS_FIELD(name, encoding, flags)
 *
 * Width and type come from the encoding itself (SDM 25.11.2): bits 14:13
 * width, bits 11:10 type (1 = read-only exit information), bit 0 the "high"
 * access of a 64-bit field. Flags:
 *   FIELD_SHADOW   L1's VMREAD/VMWRITE of it goes to the shadow VMCS with no
 *                  exit (read-only fields: VMREAD only). docs/nested.md says
 *                  why each is here.
 *   FIELD_L0_ONLY  used by L0 but not offered in vmcs12: L1's VMREAD/VMWRITE
 *                  fails with "unsupported VMCS component" (error 12).
 * Everything else derives from this list: the enum of encodings, the dense
 * index used for vmcs12, the shadow bitmaps, the sync loops, the unit-test
 * tables. */
#ifndef ARCH_X86_VMCS_FIELDS_H
#define ARCH_X86_VMCS_FIELDS_H

#define FIELD_SHADOW  (1U << 0)
#define FIELD_L0_ONLY (1U << 1)

#define VMCS_FIELD_LIST(X)                                                      \
    /* 16-bit control fields */                                                 \
    X(VPID, 0x0000, 0)                                                          \
    X(POSTED_INTR_NV, 0x0002, 0)                                                \
    X(EPTP_INDEX, 0x0004, 0)                                                    \
    /* 16-bit guest-state fields */                                             \
    X(GUEST_ES_SELECTOR, 0x0800, 0)                                             \
    X(GUEST_CS_SELECTOR, 0x0802, 0)                                             \
    X(GUEST_SS_SELECTOR, 0x0804, 0)                                             \
    X(GUEST_DS_SELECTOR, 0x0806, 0)                                             \
    X(GUEST_FS_SELECTOR, 0x0808, 0)                                             \
    X(GUEST_GS_SELECTOR, 0x080a, 0)                                             \
    X(GUEST_LDTR_SELECTOR, 0x080c, 0)                                           \
    X(GUEST_TR_SELECTOR, 0x080e, 0)                                             \
    X(GUEST_INTR_STATUS, 0x0810, 0)                                             \
    X(GUEST_PML_INDEX, 0x0812, FIELD_SHADOW)                                    \
    /* 16-bit host-state fields */                                              \
    X(HOST_ES_SELECTOR, 0x0c00, 0)                                              \
    X(HOST_CS_SELECTOR, 0x0c02, 0)                                              \
    X(HOST_SS_SELECTOR, 0x0c04, 0)                                              \
    X(HOST_DS_SELECTOR, 0x0c06, 0)                                              \
    X(HOST_FS_SELECTOR, 0x0c08, 0)                                              \
    X(HOST_GS_SELECTOR, 0x0c0a, 0)                                              \
    X(HOST_TR_SELECTOR, 0x0c0c, 0)                                              \
    /* 64-bit control fields */                                                 \
    X(IO_BITMAP_A, 0x2000, 0)                                                   \
    X(IO_BITMAP_B, 0x2002, 0)                                                   \
    X(MSR_BITMAP, 0x2004, 0)                                                    \
    X(VM_EXIT_MSR_STORE_ADDR, 0x2006, 0)                                        \
    X(VM_EXIT_MSR_LOAD_ADDR, 0x2008, 0)                                         \
    X(VM_ENTRY_MSR_LOAD_ADDR, 0x200a, 0)                                        \
    X(EXECUTIVE_VMCS_POINTER, 0x200c, FIELD_L0_ONLY)                            \
    X(PML_ADDRESS, 0x200e, 0)                                                   \
    X(TSC_OFFSET, 0x2010, FIELD_SHADOW)                                         \
    X(VIRTUAL_APIC_PAGE_ADDR, 0x2012, 0)                                        \
    X(APIC_ACCESS_ADDR, 0x2014, 0)                                              \
    X(POSTED_INTR_DESC_ADDR, 0x2016, 0)                                         \
    X(VM_FUNCTION_CONTROL, 0x2018, 0)                                           \
    X(EPT_POINTER, 0x201a, 0)                                                   \
    X(EOI_EXIT_BITMAP0, 0x201c, 0)                                              \
    X(EOI_EXIT_BITMAP1, 0x201e, 0)                                              \
    X(EOI_EXIT_BITMAP2, 0x2020, 0)                                              \
    X(EOI_EXIT_BITMAP3, 0x2022, 0)                                              \
    X(EPTP_LIST_ADDRESS, 0x2024, 0)                                             \
    X(VMREAD_BITMAP, 0x2026, 0)                                                 \
    X(VMWRITE_BITMAP, 0x2028, 0)                                                \
    X(VE_INFO_ADDRESS, 0x202a, 0)                                               \
    X(XSS_EXIT_BITMAP, 0x202c, 0)                                               \
    X(TSC_MULTIPLIER, 0x2032, 0)                                                \
    /* 64-bit read-only data field */                                           \
    X(GUEST_PHYSICAL_ADDRESS, 0x2400, FIELD_SHADOW)                             \
    /* 64-bit guest-state fields */                                             \
    X(VMCS_LINK_POINTER, 0x2800, 0)                                             \
    X(GUEST_IA32_DEBUGCTL, 0x2802, 0)                                           \
    X(GUEST_IA32_PAT, 0x2804, 0)                                                \
    X(GUEST_IA32_EFER, 0x2806, 0)                                               \
    X(GUEST_IA32_PERF_GLOBAL_CTRL, 0x2808, 0)                                   \
    X(GUEST_PDPTE0, 0x280a, 0)                                                  \
    X(GUEST_PDPTE1, 0x280c, 0)                                                  \
    X(GUEST_PDPTE2, 0x280e, 0)                                                  \
    X(GUEST_PDPTE3, 0x2810, 0)                                                  \
    /* 64-bit host-state fields */                                              \
    X(HOST_IA32_PAT, 0x2c00, 0)                                                 \
    X(HOST_IA32_EFER, 0x2c02, 0)                                                \
    X(HOST_IA32_PERF_GLOBAL_CTRL, 0x2c04, 0)                                    \
    /* 32-bit control fields */                                                 \
    X(PIN_BASED_VM_EXEC_CONTROL, 0x4000, FIELD_SHADOW)                          \
    X(CPU_BASED_VM_EXEC_CONTROL, 0x4002, FIELD_SHADOW)                          \
    X(EXCEPTION_BITMAP, 0x4004, FIELD_SHADOW)                                   \
    X(PAGE_FAULT_ERROR_CODE_MASK, 0x4006, 0)                                    \
    X(PAGE_FAULT_ERROR_CODE_MATCH, 0x4008, 0)                                   \
    X(CR3_TARGET_COUNT, 0x400a, 0)                                              \
    X(VM_EXIT_CONTROLS, 0x400c, FIELD_SHADOW)                                   \
    X(VM_EXIT_MSR_STORE_COUNT, 0x400e, 0)                                       \
    X(VM_EXIT_MSR_LOAD_COUNT, 0x4010, 0)                                        \
    X(VM_ENTRY_CONTROLS, 0x4012, FIELD_SHADOW)                                  \
    X(VM_ENTRY_MSR_LOAD_COUNT, 0x4014, 0)                                       \
    X(VM_ENTRY_INTR_INFO_FIELD, 0x4016, FIELD_SHADOW)                           \
    X(VM_ENTRY_EXCEPTION_ERROR_CODE, 0x4018, FIELD_SHADOW)                      \
    X(VM_ENTRY_INSTRUCTION_LEN, 0x401a, FIELD_SHADOW)                           \
    X(TPR_THRESHOLD, 0x401c, FIELD_SHADOW)                                      \
    X(SECONDARY_VM_EXEC_CONTROL, 0x401e, FIELD_SHADOW)                          \
    X(PLE_GAP, 0x4020, 0)                                                       \
    X(PLE_WINDOW, 0x4022, 0)                                                    \
    /* 32-bit read-only data fields */                                          \
    X(VM_INSTRUCTION_ERROR, 0x4400, FIELD_SHADOW)                               \
    X(VM_EXIT_REASON, 0x4402, FIELD_SHADOW)                                     \
    X(VM_EXIT_INTR_INFO, 0x4404, FIELD_SHADOW)                                  \
    X(VM_EXIT_INTR_ERROR_CODE, 0x4406, FIELD_SHADOW)                            \
    X(IDT_VECTORING_INFO_FIELD, 0x4408, FIELD_SHADOW)                           \
    X(IDT_VECTORING_ERROR_CODE, 0x440a, FIELD_SHADOW)                           \
    X(VM_EXIT_INSTRUCTION_LEN, 0x440c, FIELD_SHADOW)                            \
    X(VMX_INSTRUCTION_INFO, 0x440e, FIELD_SHADOW)                               \
    /* 32-bit guest-state fields */                                             \
    X(GUEST_ES_LIMIT, 0x4800, 0)                                                \
    X(GUEST_CS_LIMIT, 0x4802, 0)                                                \
    X(GUEST_SS_LIMIT, 0x4804, 0)                                                \
    X(GUEST_DS_LIMIT, 0x4806, 0)                                                \
    X(GUEST_FS_LIMIT, 0x4808, 0)                                                \
    X(GUEST_GS_LIMIT, 0x480a, 0)                                                \
    X(GUEST_LDTR_LIMIT, 0x480c, 0)                                              \
    X(GUEST_TR_LIMIT, 0x480e, 0)                                                \
    X(GUEST_GDTR_LIMIT, 0x4810, 0)                                              \
    X(GUEST_IDTR_LIMIT, 0x4812, 0)                                              \
    X(GUEST_ES_AR_BYTES, 0x4814, 0)                                             \
    X(GUEST_CS_AR_BYTES, 0x4816, FIELD_SHADOW)                                  \
    X(GUEST_SS_AR_BYTES, 0x4818, FIELD_SHADOW)                                  \
    X(GUEST_DS_AR_BYTES, 0x481a, 0)                                             \
    X(GUEST_FS_AR_BYTES, 0x481c, 0)                                             \
    X(GUEST_GS_AR_BYTES, 0x481e, 0)                                             \
    X(GUEST_LDTR_AR_BYTES, 0x4820, 0)                                           \
    X(GUEST_TR_AR_BYTES, 0x4822, 0)                                             \
    X(GUEST_INTERRUPTIBILITY_INFO, 0x4824, FIELD_SHADOW)                        \
    X(GUEST_ACTIVITY_STATE, 0x4826, FIELD_SHADOW)                               \
    X(GUEST_SMBASE, 0x4828, 0)                                                  \
    X(GUEST_SYSENTER_CS, 0x482a, 0)                                             \
    X(VMX_PREEMPTION_TIMER_VALUE, 0x482e, FIELD_SHADOW)                         \
    /* 32-bit host-state field */                                               \
    X(HOST_IA32_SYSENTER_CS, 0x4c00, 0)                                         \
    /* natural-width control fields */                                          \
    X(CR0_GUEST_HOST_MASK, 0x6000, 0)                                           \
    X(CR4_GUEST_HOST_MASK, 0x6002, 0)                                           \
    X(CR0_READ_SHADOW, 0x6004, FIELD_SHADOW)                                    \
    X(CR4_READ_SHADOW, 0x6006, FIELD_SHADOW)                                    \
    X(CR3_TARGET_VALUE0, 0x6008, 0)                                             \
    X(CR3_TARGET_VALUE1, 0x600a, 0)                                             \
    X(CR3_TARGET_VALUE2, 0x600c, 0)                                             \
    X(CR3_TARGET_VALUE3, 0x600e, 0)                                             \
    /* natural-width read-only data fields */                                   \
    X(EXIT_QUALIFICATION, 0x6400, FIELD_SHADOW)                                 \
    X(IO_RCX, 0x6402, 0)                                                        \
    X(IO_RSI, 0x6404, 0)                                                        \
    X(IO_RDI, 0x6406, 0)                                                        \
    X(IO_RIP, 0x6408, 0)                                                        \
    X(GUEST_LINEAR_ADDRESS, 0x640a, FIELD_SHADOW)                               \
    /* natural-width guest-state fields */                                      \
    X(GUEST_CR0, 0x6800, FIELD_SHADOW)                                          \
    X(GUEST_CR3, 0x6802, FIELD_SHADOW)                                          \
    X(GUEST_CR4, 0x6804, FIELD_SHADOW)                                          \
    X(GUEST_ES_BASE, 0x6806, 0)                                                 \
    X(GUEST_CS_BASE, 0x6808, FIELD_SHADOW)                                      \
    X(GUEST_SS_BASE, 0x680a, 0)                                                 \
    X(GUEST_DS_BASE, 0x680c, 0)                                                 \
    X(GUEST_FS_BASE, 0x680e, 0)                                                 \
    X(GUEST_GS_BASE, 0x6810, 0)                                                 \
    X(GUEST_LDTR_BASE, 0x6812, 0)                                               \
    X(GUEST_TR_BASE, 0x6814, 0)                                                 \
    X(GUEST_GDTR_BASE, 0x6816, 0)                                               \
    X(GUEST_IDTR_BASE, 0x6818, 0)                                               \
    X(GUEST_DR7, 0x681a, 0)                                                     \
    X(GUEST_RSP, 0x681c, FIELD_SHADOW)                                          \
    X(GUEST_RIP, 0x681e, FIELD_SHADOW)                                          \
    X(GUEST_RFLAGS, 0x6820, FIELD_SHADOW)                                       \
    X(GUEST_PENDING_DBG_EXCEPTIONS, 0x6822, 0)                                  \
    X(GUEST_SYSENTER_ESP, 0x6824, 0)                                            \
    X(GUEST_SYSENTER_EIP, 0x6826, 0)                                            \
    /* natural-width host-state fields */                                       \
    X(HOST_CR0, 0x6c00, 0)                                                      \
    X(HOST_CR3, 0x6c02, 0)                                                      \
    X(HOST_CR4, 0x6c04, 0)                                                      \
    X(HOST_FS_BASE, 0x6c06, 0)                                                  \
    X(HOST_GS_BASE, 0x6c08, 0)                                                  \
    X(HOST_TR_BASE, 0x6c0a, 0)                                                  \
    X(HOST_GDTR_BASE, 0x6c0c, 0)                                                \
    X(HOST_IDTR_BASE, 0x6c0e, 0)                                                \
    X(HOST_IA32_SYSENTER_ESP, 0x6c10, 0)                                        \
    X(HOST_IA32_SYSENTER_EIP, 0x6c12, 0)                                        \
    X(HOST_RSP, 0x6c14, FIELD_SHADOW)                                           \
    X(HOST_RIP, 0x6c16, 0)

/* Encodings, usable wherever a field is named: VMCS_GUEST_RIP etc. */
enum vmcs_field {
#define VMCS_FIELD_ENUM(name, enc, flags) VMCS_##name = (enc),
    VMCS_FIELD_LIST(VMCS_FIELD_ENUM)
#undef VMCS_FIELD_ENUM
};

/* Dense indices, for tables (vmcs12 storage, statistics). */
enum vmcs_field_index {
#define VMCS_FIELD_IDX(name, enc, flags) VMCS_IDX_##name,
    VMCS_FIELD_LIST(VMCS_FIELD_IDX)
#undef VMCS_FIELD_IDX
    VMCS_FIELD_COUNT
};

/* Decoding an encoding (SDM 25.11.2). */
#define VMCS_ENC_HIGH_ACCESS  1U
#define VMCS_ENC_INDEX_SHIFT  1
#define VMCS_ENC_INDEX_MASK   0x1ffU
#define VMCS_ENC_TYPE_SHIFT   10
#define VMCS_ENC_TYPE_MASK    3U
#define VMCS_ENC_WIDTH_SHIFT  13
#define VMCS_ENC_WIDTH_MASK   3U
#define VMCS_ENC_RESERVED_MASK 0xffff9000U /* bits 31:15 and bit 12 */

enum vmcs_width { VMCS_WIDTH_16 = 0, VMCS_WIDTH_64 = 1, VMCS_WIDTH_32 = 2, VMCS_WIDTH_NATURAL = 3 };
enum vmcs_type { VMCS_TYPE_CONTROL = 0, VMCS_TYPE_READONLY = 1, VMCS_TYPE_GUEST = 2, VMCS_TYPE_HOST = 3 };

static inline enum vmcs_width vmcs_enc_width(unsigned enc)
{
    return (enum vmcs_width)((enc >> VMCS_ENC_WIDTH_SHIFT) & VMCS_ENC_WIDTH_MASK);
}
static inline enum vmcs_type vmcs_enc_type(unsigned enc)
{
    return (enum vmcs_type)((enc >> VMCS_ENC_TYPE_SHIFT) & VMCS_ENC_TYPE_MASK);
}

#endif
