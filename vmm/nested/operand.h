/* The operands of L1's VMX instructions, from the VM-exit instruction
 * information and qualification (SDM 28.2.5, Tables 28-9..28-14). */
#ifndef VMM_NESTED_OPERAND_H
#define VMM_NESTED_OPERAND_H

#include <stdbool.h>
#include <stdint.h>

struct vcpu;

/* Decoded instruction information. */
struct vmx_insn_info {
    unsigned scale;      /* 0..3 */
    unsigned reg1;       /* bits 6:3 (VMREAD/VMWRITE register operand) */
    unsigned addr_size;  /* 0: 16, 1: 32, 2: 64 bits */
    bool is_register;    /* bit 10 */
    unsigned segment;    /* bits 17:15: ES CS SS DS FS GS */
    unsigned index;
    bool index_valid;
    unsigned base;
    bool base_valid;
    unsigned reg2;       /* bits 31:28 */
};

void vmx_insn_info_decode(uint32_t raw, struct vmx_insn_info *out);
/* 64-bit mode (EFER.LMA and CS.L) decides operand sizes (SDM 31.3). */
bool guest_in_64bit_mode(void);

/* VMREAD/VMWRITE: the operand size (8 bytes in 64-bit mode, else 4), and
 * the field encoding from the register of bits 31:28, at that size. */
unsigned vmx_operand_bytes(void);
uint64_t vmx_field_operand(struct vcpu *v, const struct vmx_insn_info *ii);
/* All three at once (one look at the mode). */
struct vmx_access {
    struct vmx_insn_info ii;
    unsigned bytes;
    uint64_t encoding;
};
void vmx_access_decode(struct vcpu *v, struct vmx_access *a);

uint64_t guest_gpr_read(struct vcpu *v, unsigned n);
void guest_gpr_write(struct vcpu *v, unsigned n, uint64_t value);

/* Linear address of the memory operand, with the segmentation checks of
 * SDM 31.3 (canonical in 64-bit mode, limit otherwise). False if a fault
 * was injected. */
bool operand_linear_address(struct vcpu *v, const struct vmx_insn_info *ii, uint64_t size,
                            uint64_t *gla);
/* Reads/writes the memory operand; false if a fault (#PF, #GP, #SS) was
 * injected. */
bool operand_read(struct vcpu *v, const struct vmx_insn_info *ii, void *buf, uint64_t size);
bool operand_write(struct vcpu *v, const struct vmx_insn_info *ii, const void *buf, uint64_t size);

#endif
