/* Start-up and the PASS/FAIL bookkeeping the test runner greps. */
#include "guest.h"

static unsigned n_pass, n_fail;
bool cpu_has_rdtscp;

void pass(const char *name)
{
    n_pass++;
    console_break();
    printf("PASS %s.%s\n", guest_name, name);
}

static void vfail(const char *name, const char *fmt, va_list ap)
{
    char detail[400];
    vsnprintf(detail, sizeof detail, fmt, ap);
    n_fail++;
    console_break();
    printf("FAIL %s.%s: %s\n", guest_name, name, detail);
}

void fail(const char *name, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail(name, fmt, ap);
    va_end(ap);
}

bool check(bool ok, const char *name, const char *fmt, ...)
{
    if (ok) {
        pass(name);
    } else {
        va_list ap;
        va_start(ap, fmt);
        vfail(name, fmt, ap);
        va_end(ap);
    }
    return ok;
}

void skip(const char *name, const char *fmt, ...)
{
    char reason[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof reason, fmt, ap);
    va_end(ap);
    console_break();
    printf("SKIP %s.%s: %s\n", guest_name, name, reason);
}

unsigned tests_passed(void)
{
    return n_pass;
}

unsigned tests_failed(void)
{
    return n_fail;
}

noreturn void guest_finish(void)
{
    console_break();
    printf("GUEST %s DONE %u passed %u failed\n", guest_name, n_pass, n_fail);
    power_off(n_fail ? 1 : 0);
}

void rt_options(void); /* selftest.c */

/* Called by the entry stub in long mode, on the boot stack. */
noreturn void rt_entry(uint32_t magic, uint32_t info);
noreturn void rt_entry(uint32_t magic, uint32_t info)
{
    trap_init();
    cpu_has_rdtscp = cpuid(0x80000000).eax >= 0x80000001 &&
                     (cpuid(0x80000001).edx & CPUID81_EDX_RDTSCP);
    if (!nv_detect())
        com1_init();
    boot_parse(magic, info);
    printf("GUEST %s START multiboot%d nestvisor=%s cmdline='%s'\n", guest_name, boot.version,
           nv_present ? "yes" : "no", boot.cmdline);
    if (!boot.version)
        fail("boot", "unknown boot magic %#x", magic);
    rt_options();
    guest_main(magic, info);
    guest_finish();
}
