/* VMX instruction wrappers for the L1 test hypervisor.
 *
 * Every wrapper returns how the instruction ended (SDM 31.2 "Conventions"):
 *   VMX_OK            CF = 0 and ZF = 0 (VMsucceed)
 *   VMX_FAIL_INVALID  CF = 1 (VMfailInvalid: no current VMCS to hold an error)
 *   VMX_FAIL_VALID    ZF = 1 (VMfailValid: error number in VMCS field 0x4400)
 * In 64-bit mode VMREAD/VMWRITE always use 64-bit operands (SDM 31.3). Each
 * has a register-operand ("_r") and a memory-operand ("_m") form so that
 * both encodings are exercised. */
#ifndef L1HV_VMX_H
#define L1HV_VMX_H

#include <stdint.h>

#include "vmx_defs.h"

enum vmx_result {
    VMX_OK = 0,
    VMX_FAIL_INVALID = 1,
    VMX_FAIL_VALID = 2,
};

const char *vmx_result_name(int r);

#define VMX_FLAGS_OUT(cf, zf) [cf] "=qm"(cf), [zf] "=qm"(zf)
#define VMX_SET_FLAGS         "\n\tsetc %[cf]\n\tsetz %[zf]"

static inline int vmx_result_of(uint8_t cf, uint8_t zf)
{
    return cf ? VMX_FAIL_INVALID : zf ? VMX_FAIL_VALID : VMX_OK;
}

static inline int vmxon(uint64_t pa)
{
    uint8_t cf, zf;
    __asm__ volatile("vmxon %[pa]" VMX_SET_FLAGS
                     : VMX_FLAGS_OUT(cf, zf)
                     : [pa] "m"(pa)
                     : "cc", "memory");
    return vmx_result_of(cf, zf);
}

static inline int vmxoff(void)
{
    uint8_t cf, zf;
    __asm__ volatile("vmxoff" VMX_SET_FLAGS : VMX_FLAGS_OUT(cf, zf) : : "cc", "memory");
    return vmx_result_of(cf, zf);
}

static inline int vmclear(uint64_t pa)
{
    uint8_t cf, zf;
    __asm__ volatile("vmclear %[pa]" VMX_SET_FLAGS
                     : VMX_FLAGS_OUT(cf, zf)
                     : [pa] "m"(pa)
                     : "cc", "memory");
    return vmx_result_of(cf, zf);
}

static inline int vmptrld(uint64_t pa)
{
    uint8_t cf, zf;
    __asm__ volatile("vmptrld %[pa]" VMX_SET_FLAGS
                     : VMX_FLAGS_OUT(cf, zf)
                     : [pa] "m"(pa)
                     : "cc", "memory");
    return vmx_result_of(cf, zf);
}

/* VMPTRST has no failure mode (it stores ~0 when there is no current VMCS). */
static inline int vmptrst(uint64_t *pa)
{
    uint8_t cf, zf;
    __asm__ volatile("vmptrst %[pa]" VMX_SET_FLAGS
                     : [pa] "=m"(*pa), VMX_FLAGS_OUT(cf, zf)
                     :
                     : "cc", "memory");
    return vmx_result_of(cf, zf);
}

/* VMREAD into a register. *value goes in as the register's previous content
 * so that "the destination is unmodified on failure" is observable. */
static inline int vmread_r(uint64_t field, uint64_t *value)
{
    uint8_t cf, zf;
    uint64_t v = *value;
    __asm__ volatile("vmread %[f], %[v]" VMX_SET_FLAGS
                     : [v] "+r"(v), VMX_FLAGS_OUT(cf, zf)
                     : [f] "r"(field)
                     : "cc");
    *value = v;
    return vmx_result_of(cf, zf);
}

/* VMREAD into memory: always stores 8 bytes in 64-bit mode. */
static inline int vmread_m(uint64_t field, uint64_t *dest)
{
    uint8_t cf, zf;
    __asm__ volatile("vmread %[f], %[m]" VMX_SET_FLAGS
                     : [m] "+m"(*dest), VMX_FLAGS_OUT(cf, zf)
                     : [f] "r"(field)
                     : "cc", "memory");
    return vmx_result_of(cf, zf);
}

static inline int vmwrite_r(uint64_t field, uint64_t value)
{
    uint8_t cf, zf;
    __asm__ volatile("vmwrite %[v], %[f]" VMX_SET_FLAGS
                     : VMX_FLAGS_OUT(cf, zf)
                     : [f] "r"(field), [v] "r"(value)
                     : "cc");
    return vmx_result_of(cf, zf);
}

static inline int vmwrite_m(uint64_t field, const uint64_t *src)
{
    uint8_t cf, zf;
    __asm__ volatile("vmwrite %[m], %[f]" VMX_SET_FLAGS
                     : VMX_FLAGS_OUT(cf, zf)
                     : [f] "r"(field), [m] "m"(*src)
                     : "cc", "memory");
    return vmx_result_of(cf, zf);
}

/* INVEPT / INVVPID: 128-bit descriptor in memory, type in a register. */
struct inv_desc {
    uint64_t lo, hi;
};

static inline int invept(uint64_t type, const struct inv_desc *d)
{
    uint8_t cf, zf;
    __asm__ volatile("invept %[d], %[t]" VMX_SET_FLAGS
                     : VMX_FLAGS_OUT(cf, zf)
                     : [t] "r"(type), [d] "m"(*d)
                     : "cc", "memory");
    return vmx_result_of(cf, zf);
}

static inline int invvpid(uint64_t type, const struct inv_desc *d)
{
    uint8_t cf, zf;
    __asm__ volatile("invvpid %[d], %[t]" VMX_SET_FLAGS
                     : VMX_FLAGS_OUT(cf, zf)
                     : [t] "r"(type), [d] "m"(*d)
                     : "cc", "memory");
    return vmx_result_of(cf, zf);
}

/* ---- conveniences for setup code (vmcs.c) ----
 * vmr(): VMREAD that returns the value (0 if it failed) and counts failures;
 * vmw(): VMWRITE that counts failures. A setup sequence checks
 * vmx_setup_errors() once at its end instead of after every field. */
uint64_t vmr(uint64_t field);
void vmw(uint64_t field, uint64_t value);
void vmx_setup_errors_reset(void);
/* Number of failed vmr/vmw since the reset; *first_field gets the first
 * failing encoding. */
unsigned vmx_setup_errors(uint64_t *first_field);
/* VMREAD of the VM-instruction error field (0x4400); ~0u if that fails. */
uint32_t vmx_instruction_error(void);

#endif
