/* cr: the control-register policy of docs/l1-platform.md. CR0.NE and
 * CR4.VMXE are host-owned and shadowed; other CR4 bits are L1's; reserved
 * bits #GP; CR3 and CR8 never exit. Options: nested=0|1 (default 0). */
#include "guest.h"

const char guest_name[] = "cr";

static bool nested;

static void cr0_ne(void)
{
    uint64_t orig = read_cr0();
    printf("cr: CR0 %#lx CR4 %#lx at start\n", orig, read_cr4());

    int f = write_cr0_safe(orig & ~CR0_NE);
    uint64_t seen = read_cr0();
    /* Keep running with NE clear for a moment: output, a CPUID, a fault. */
    printf("cr: running with CR0.NE clear (CR0 reads %#lx)\n", seen);
    (void)cpuid(0);
    uint64_t dummy;
    int g = rdmsr_safe(0x12345678, &dummy);
    (void)g;
    check(f == NO_FAULT && !(seen & CR0_NE) && (seen | CR0_NE) == (orig | CR0_NE), "cr0_ne_clear",
          "cleared NE: %s, CR0 reads %#lx", vector_name(f), seen);

    f = write_cr0_safe(orig | CR0_NE);
    seen = read_cr0();
    check(f == NO_FAULT && (seen & CR0_NE) && (seen & ~CR0_NE) == (orig & ~CR0_NE), "cr0_ne_set",
          "set NE: %s, CR0 reads %#lx", vector_name(f), seen);
    write_cr0(orig);
    check(read_cr0() == orig, "cr0_restore", "CR0 reads %#lx after restoring %#lx", read_cr0(),
          orig);
}

static void cr4_vmxe(void)
{
    uint64_t orig = read_cr4();
    int f = write_cr4_safe(orig | CR4_VMXE);
    uint64_t seen = read_cr4();
    if (!nested) {
        check(f == VEC_GP && seen == orig, "cr4_vmxe",
              "setting CR4.VMXE with nested=0: %s, CR4 reads %#lx (was %#lx)", vector_name(f),
              seen, orig);
    } else {
        check(f == NO_FAULT && seen == (orig | CR4_VMXE), "cr4_vmxe",
              "setting CR4.VMXE with nested=1: %s, CR4 reads %#lx (was %#lx)", vector_name(f),
              seen, orig);
    }
    if (read_cr4() & CR4_VMXE) {
        f = write_cr4_safe(read_cr4() & ~CR4_VMXE);
        seen = read_cr4();
        check(f == NO_FAULT && !(seen & CR4_VMXE), "cr4_vmxe_clear",
              "clearing CR4.VMXE: %s, CR4 reads %#lx", vector_name(f), seen);
    }
}

static void cr4_bit(const char *name, uint64_t bit, bool supported)
{
    if (!supported) {
        skip(name, "not supported by this CPU");
        return;
    }
    uint64_t orig = read_cr4();
    int f1 = write_cr4_safe(orig | bit);
    uint64_t set = read_cr4();
    int f2 = write_cr4_safe(orig & ~bit);
    uint64_t clr = read_cr4();
    write_cr4(orig);
    check(f1 == NO_FAULT && f2 == NO_FAULT && set == (orig | bit) && clr == (orig & ~bit), name,
          "CR4 %#lx: set bit %#lx -> %s, reads %#lx; clear -> %s, reads %#lx", orig, bit,
          vector_name(f1), set, vector_name(f2), clr);
}

static void cr4_reserved(const char *name, uint64_t bit)
{
    uint64_t orig = read_cr4();
    int f = write_cr4_safe(orig | bit);
    uint64_t seen = read_cr4();
    if (seen != orig)
        write_cr4(orig);
    check(f == VEC_GP && seen == orig, name, "setting CR4 bit %#lx: %s, CR4 reads %#lx (was %#lx)",
          bit, vector_name(f), seen, orig);
}

static void cr3_cr8_no_exits(void)
{
    uint64_t c0 = 0, c1 = 0;
    console_flush();
    bool have = nv_exit_stats(EXIT_REASON_CR, NV_LEVEL_L1, &c0, NULL);
    uint64_t cr3 = read_cr3(), cr8, cr8b;
    for (int i = 0; i < 16; i++)
        write_cr3(cr3); /* flushes the TLB; must not exit with EPT */
    __asm__ volatile("mov %%cr8, %0" : "=r"(cr8));
    __asm__ volatile("mov %0, %%cr8" : : "r"((uint64_t)5));
    __asm__ volatile("mov %%cr8, %0" : "=r"(cr8b));
    __asm__ volatile("mov %0, %%cr8" : : "r"(cr8));
    have = have && nv_exit_stats(EXIT_REASON_CR, NV_LEVEL_L1, &c1, NULL);
    check(cr8b == 5, "cr8_rw", "CR8 reads %#lx after writing 5", cr8b);
    if (!have)
        fail("cr3_cr8_no_exits", "no exit statistics (nestvisor absent)");
    else
        check(c1 == c0, "cr3_cr8_no_exits", "CR-access exits went from %lu to %lu over 16 CR3 and 4 "
              "CR8 accesses", c0, c1);
}

void guest_main(uint32_t magic, uint32_t info)
{
    (void)magic, (void)info;
    nested = opt_nested();
    struct cpuid_regs l1 = cpuid(1);
    bool fsgsbase = cpuid(0).eax >= 7 && (cpuid2(7, 0).ebx & CPUID7_EBX_FSGSBASE);

    cr0_ne();
    cr4_vmxe();
    cr4_bit("cr4_pge", CR4_PGE, true);
    cr4_bit("cr4_osfxsr", CR4_OSFXSR, true);
    cr4_bit("cr4_osxmmexcpt", CR4_OSXMMEXCPT, true);
    cr4_bit("cr4_osxsave", CR4_OSXSAVE, l1.ecx & CPUID1_ECX_XSAVE);
    cr4_bit("cr4_fsgsbase", CR4_FSGSBASE, fsgsbase);
    if (!(l1.ecx & CPUID1_ECX_SMX))
        cr4_reserved("cr4_smxe_gp", CR4_SMXE); /* CPUID says no SMX */
    cr4_reserved("cr4_bit31_gp", 1ULL << 31);
    cr4_reserved("cr4_bit63_gp", 1ULL << 63);
    cr3_cr8_no_exits();
}
