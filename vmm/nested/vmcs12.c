#include "vmm/nested/vmcs12.h"

const struct vmcs12_field_info vmcs12_fields[VMCS_FIELD_COUNT] = {
#define VMCS_FIELD_INFO(name, enc, flags) [VMCS_IDX_##name] = {(enc), (flags)},
    VMCS_FIELD_LIST(VMCS_FIELD_INFO)
#undef VMCS_FIELD_INFO
};

int vmcs_field_index(uint32_t encoding)
{
    switch (encoding) {
#define VMCS_FIELD_CASE(name, enc, flags)                                                          \
    case (enc):                                                                                    \
        return VMCS_IDX_##name;
        VMCS_FIELD_LIST(VMCS_FIELD_CASE)
#undef VMCS_FIELD_CASE
    default:
        return -1;
    }
}

uint64_t vmcs_width_mask(uint32_t encoding)
{
    switch (vmcs_enc_width(encoding)) {
    case VMCS_WIDTH_16: return 0xffffULL;
    case VMCS_WIDTH_32: return 0xffffffffULL;
    default: return ~0ULL;
    }
}

/* Resolves an encoding to a field L1 may access; *high for the high
 * access of a 64-bit field. */
static int resolve(uint64_t encoding, bool *high)
{
    if (encoding >> 32)
        return -1;
    uint32_t enc = (uint32_t)encoding;
    *high = false;
    if ((enc & VMCS_ENC_HIGH_ACCESS) && vmcs_enc_width(enc) == VMCS_WIDTH_64) {
        *high = true;
        enc &= ~VMCS_ENC_HIGH_ACCESS;
    }
    int i = vmcs_field_index(enc);
    if (i < 0 || (vmcs12_fields[i].flags & FIELD_L0_ONLY))
        return -1;
    return i;
}

enum vmcs12_status vmcs12_read(const struct vmcs12 *v, uint64_t encoding, uint64_t *value)
{
    bool high;
    int i = resolve(encoding, &high);
    if (i < 0)
        return VMCS12_UNSUPPORTED;
    *value = high ? v->field[i] >> 32 : v->field[i];
    return VMCS12_OK;
}

enum vmcs12_status vmcs12_write_check(uint64_t encoding, bool write_read_only)
{
    bool high;
    int i = resolve(encoding, &high);
    if (i < 0)
        return VMCS12_UNSUPPORTED;
    if (vmcs_enc_type(vmcs12_fields[i].encoding) == VMCS_TYPE_READONLY && !write_read_only)
        return VMCS12_READ_ONLY;
    return VMCS12_OK;
}

enum vmcs12_status vmcs12_write(struct vmcs12 *v, uint64_t encoding, uint64_t value,
                                bool write_read_only)
{
    enum vmcs12_status st = vmcs12_write_check(encoding, write_read_only);
    if (st != VMCS12_OK)
        return st;
    bool high;
    int i = resolve(encoding, &high);
    if (high)
        v->field[i] = (v->field[i] & 0xffffffffULL) | (value << 32);
    else
        v->field[i] = value & vmcs_width_mask(vmcs12_fields[i].encoding);
    return VMCS12_OK;
}

unsigned vmcs12_highest_index(void)
{
    unsigned highest = 0;
    for (unsigned i = 0; i < VMCS_FIELD_COUNT; i++) {
        if (vmcs12_fields[i].flags & FIELD_L0_ONLY)
            continue;
        unsigned idx = (vmcs12_fields[i].encoding >> VMCS_ENC_INDEX_SHIFT) & VMCS_ENC_INDEX_MASK;
        if (idx > highest)
            highest = idx;
    }
    return highest;
}
