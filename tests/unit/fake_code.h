/* The guest's instruction bytes for code under test that fetches them
 * (store.c, mmio_decode.c through gva_fetch): set_code(n, byte, ...) puts n
 * bytes at CODE_GLA, NOPs after them, and points the guest's RIP there.
 * Include once per test, after the fake VMCS (tests/unit/fake_vmx.h). */
#ifndef TESTS_UNIT_FAKE_CODE_H
#define TESTS_UNIT_FAKE_CODE_H

#include <stdarg.h>
#include <string.h>
#include "vmm/gva.h"
#include "arch/x86/vmx.h"
#include "tests/unit/fake_vmx.h"

#define CODE_GLA 0x401000ULL
#define NOP      0x90

static uint8_t code[32];

bool gva_fetch(uint64_t gla, void *buf, size_t len, struct gva_fault *f)
{
    (void)f;
    if (gla < CODE_GLA || gla + len > CODE_GLA + sizeof(code))
        return false;
    memcpy(buf, code + (gla - CODE_GLA), len);
    return true;
}

static void set_code(unsigned n, ...)
{
    va_list ap;
    va_start(ap, n);
    memset(code, NOP, sizeof(code));
    for (unsigned i = 0; i < n; i++)
        code[i] = (uint8_t)va_arg(ap, int);
    va_end(ap);
    fake_vmcs_set(VMCS_GUEST_RIP, CODE_GLA);
}

#endif
