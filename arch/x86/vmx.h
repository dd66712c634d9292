/* VMX instructions as typed C functions keyed by enum vmcs_field. On unit
 * tests (UNIT_TEST) they come from a fake that keeps VMCS fields in memory
 * (tests/unit/fake_vmx.c). */
#ifndef ARCH_X86_VMX_H
#define ARCH_X86_VMX_H

#include <stdbool.h>
#include <stdint.h>
#include "arch/x86/vmcs_fields.h"

#ifdef UNIT_TEST
uint64_t vmcs_read(enum vmcs_field f);
void vmcs_write(enum vmcs_field f, uint64_t v);
bool vmcs_try_read(uint32_t enc, uint64_t *v);
bool vmcs_try_write(uint32_t enc, uint64_t v);
bool vmx_on(uint64_t pa);
void vmx_off(void);
bool vmcs_clear(uint64_t pa);
bool vmcs_load(uint64_t pa);
uint64_t vmcs_current(void);
bool invept(uint64_t type, uint64_t eptp);
bool invvpid(uint64_t type, uint16_t vpid, uint64_t gla);
#else
/* CF or ZF set after a VMX instruction means VMfailInvalid / VMfailValid. */
static inline uint64_t vmcs_read(enum vmcs_field f)
{
    uint64_t v;
    __asm__ volatile("vmread %1, %0" : "=rm"(v) : "r"((uint64_t)f) : "cc");
    return v;
}

static inline void vmcs_write(enum vmcs_field f, uint64_t v)
{
    __asm__ volatile("vmwrite %1, %0" ::"r"((uint64_t)f), "rm"(v) : "cc");
}

static inline bool vmcs_try_read(uint32_t enc, uint64_t *v)
{
    bool fail;
    __asm__ volatile("vmread %2, %0; setna %1" : "=rm"(*v), "=qm"(fail) : "r"((uint64_t)enc) : "cc");
    return !fail;
}

static inline bool vmcs_try_write(uint32_t enc, uint64_t v)
{
    bool fail;
    __asm__ volatile("vmwrite %2, %1; setna %0" : "=qm"(fail) : "r"((uint64_t)enc), "rm"(v) : "cc");
    return !fail;
}

static inline bool vmx_on(uint64_t pa)
{
    bool fail;
    __asm__ volatile("vmxon %1; setna %0" : "=qm"(fail) : "m"(pa) : "cc", "memory");
    return !fail;
}

static inline void vmx_off(void) { __asm__ volatile("vmxoff" ::: "cc", "memory"); }

static inline bool vmcs_clear(uint64_t pa)
{
    bool fail;
    __asm__ volatile("vmclear %1; setna %0" : "=qm"(fail) : "m"(pa) : "cc", "memory");
    return !fail;
}

static inline bool vmcs_load(uint64_t pa)
{
    bool fail;
    __asm__ volatile("vmptrld %1; setna %0" : "=qm"(fail) : "m"(pa) : "cc", "memory");
    return !fail;
}

static inline uint64_t vmcs_current(void)
{
    uint64_t pa;
    __asm__ volatile("vmptrst %0" : "=m"(pa)::"memory");
    return pa;
}

static inline bool invept(uint64_t type, uint64_t eptp)
{
    struct {
        uint64_t eptp, reserved;
    } desc = {eptp, 0};
    bool fail;
    __asm__ volatile("invept %1, %2; setna %0" : "=qm"(fail) : "m"(desc), "r"(type) : "cc", "memory");
    return !fail;
}

static inline bool invvpid(uint64_t type, uint16_t vpid, uint64_t gla)
{
    struct {
        uint64_t vpid, gla;
    } desc = {vpid, gla};
    bool fail;
    __asm__ volatile("invvpid %1, %2; setna %0" : "=qm"(fail) : "m"(desc), "r"(type) : "cc", "memory");
    return !fail;
}
#endif

static inline uint32_t vmcs_read32(enum vmcs_field f) { return (uint32_t)vmcs_read(f); }

#endif
