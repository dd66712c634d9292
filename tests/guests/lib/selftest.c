/* Runtime self-checks, enabled from any guest's command line:
 *   rtselftest   catch #DE #BP #UD #GP #PF through try_call() and check the
 *                recorded vector, error code and CR2 (cases "rt_*")
 *   crash=KIND   raise an unexpected exception (ud, gp, pf, de) before the
 *                guest's own cases: the runtime must print
 *                "FAIL unexpected exception N at RIP ..." and power off with 1 */
#include "guest.h"

#define NONCANONICAL 0x8000000000000000ULL
#define UNMAPPED     0x100000000ULL /* only the first 4 GiB are mapped */

static void do_ud(void *p)
{
    (void)p;
    __asm__ volatile("ud2");
}

static void do_gp(void *p)
{
    (void)p;
    __asm__ volatile("movq (%0), %%rax" : : "r"(NONCANONICAL) : "rax", "memory");
}

static void do_pf(void *p)
{
    (void)p;
    __asm__ volatile("movq %%rax, (%0)" : : "r"(UNMAPPED) : "memory");
}

static void do_de(void *p)
{
    (void)p;
    __asm__ volatile("xor %%edx, %%edx\n\t"
                     "xor %%ecx, %%ecx\n\t"
                     "mov $1, %%eax\n\t"
                     "div %%ecx"
                     :
                     :
                     : "rax", "rcx", "rdx");
}

static void do_bp(void *p)
{
    (void)p;
    __asm__ volatile("int3");
}

static void do_nothing(void *p)
{
    *(int *)p = 42;
}

static void rt_selftest(void)
{
    int x = 0;
    check(try_call(do_nothing, &x) == NO_FAULT && x == 42, "rt_no_fault",
          "try_call of a harmless function: vector %d, x %d", last_fault.vector, x);
    expect_fault(VEC_DE, "rt_de", do_de, NULL);
    expect_fault(VEC_BP, "rt_bp", do_bp, NULL);
    expect_fault(VEC_UD, "rt_ud", do_ud, NULL);
    if (expect_fault(VEC_GP, "rt_gp", do_gp, NULL))
        check(last_fault.error == 0, "rt_gp_error", "error code %#lx", last_fault.error);
    if (expect_fault(VEC_PF, "rt_pf", do_pf, NULL))
        check(last_fault.cr2 == UNMAPPED && (last_fault.error & 3) == 2, "rt_pf_info",
              "CR2 %#lx error %#lx (want %#llx, not-present write)", last_fault.cr2,
              last_fault.error, UNMAPPED);
    /* The state after recovery is sane: callee-saved registers and stack. */
    volatile uint64_t canary = 0x1122334455667788ULL;
    for (int i = 0; i < 100; i++)
        try_call(do_ud, NULL);
    check(canary == 0x1122334455667788ULL && (read_rflags() & (1 << 10)) == 0, "rt_recovery",
          "state after 100 recoveries: canary %#lx", (uint64_t)canary);
}

void rt_options(void);
void rt_options(void)
{
    if (cmdline_get("rtselftest"))
        rt_selftest();
    const char *c = cmdline_get("crash");
    if (!c)
        return;
    if (!strncmp(c, "ud", 2))
        do_ud(NULL);
    else if (!strncmp(c, "gp", 2))
        do_gp(NULL);
    else if (!strncmp(c, "pf", 2))
        do_pf(NULL);
    else if (!strncmp(c, "de", 2))
        do_de(NULL);
}
