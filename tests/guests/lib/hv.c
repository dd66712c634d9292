/* nestvisor detection and the VMCALL interface (docs/hypercalls.md). */
#include "guest.h"

bool nv_present;

bool nv_detect(void)
{
    struct cpuid_regs r = cpuid(0x40000000);
    nv_present = r.ebx == NV_CPUID_SIGNATURE_EBX && r.ecx == NV_CPUID_SIGNATURE_ECX &&
                 r.edx == NV_CPUID_SIGNATURE_EDX;
    return nv_present;
}

int64_t nv_hypercall(uint64_t fn, uint64_t *rbx, uint64_t *rcx, uint64_t rdx)
{
    uint64_t rax = fn, b = rbx ? *rbx : 0, c = rcx ? *rcx : 0;
    /* RDX is an argument; the ABI does not promise it back, so treat it as
     * clobbered. */
    __asm__ volatile("vmcall" : "+a"(rax), "+b"(b), "+c"(c), "+d"(rdx) : : "memory");
    if (rbx)
        *rbx = b;
    if (rcx)
        *rcx = c;
    return (int64_t)rax;
}

bool nv_exit_stats(uint32_t reason, uint32_t level, uint64_t *count, uint64_t *ticks)
{
    if (!nv_present)
        return false;
    uint64_t b = reason, c = level;
    if (nv_hypercall(NV_HC_EXIT_STATS, &b, &c, 0) != NV_OK)
        return false;
    if (count)
        *count = b;
    if (ticks)
        *ticks = c;
    return true;
}

bool nv_l0_memory(unsigned index, uint64_t *base, uint64_t *size)
{
    if (!nv_present)
        return false;
    uint64_t b = index, c = 0;
    if (nv_hypercall(NV_HC_L0_MEMORY, &b, &c, 0) != NV_OK)
        return false;
    *base = b;
    *size = c;
    return true;
}

bool nv_canary(uint64_t *pa, bool *intact)
{
    if (!nv_present)
        return false;
    uint64_t b = 0, c = 0;
    if (nv_hypercall(NV_HC_CANARY, &b, &c, 0) != NV_OK)
        return false;
    *pa = b;
    *intact = c == 1;
    return true;
}

noreturn void power_off(int status)
{
    console_flush();
    __asm__ volatile("cli");
    if (nv_present) {
        uint64_t b = (uint64_t)status;
        nv_hypercall(NV_HC_POWER_OFF, &b, NULL, 0);
        /* Not reached under a working nestvisor; fall through to the port. */
    }
    com1_drain();
    static const char cmd[] = "Shutdown";
    for (const char *p = cmd; *p; p++)
        outb(0x8900, (uint8_t)*p);
    for (;;)
        __asm__ volatile("cli; hlt");
}
