#include "vmm/selftest.h"
#include "vmm/pmm.h"
#include "arch/x86/cpu.h"
#include "lib/log.h"
#include "lib/string.h"

/* An address no page table maps: non-canonical addresses #GP, so use a
 * canonical one in the unmapped middle of the upper half. */
#define UNMAPPED_ADDRESS 0xffff900000000000ULL

static bool pool_selftest(void)
{
    uint64_t before = pmm_free_pages();
    uint64_t a = pmm_alloc(3), b = pmm_alloc_aligned(1, 512);
    bool ok = a && b && !(b & 0x1fffff) && pmm_free_pages() == before - 4;
    pmm_free(a, 3);
    pmm_free(b, 1);
    ok = ok && pmm_free_pages() == before;
    log_raw("selftest pool: %s\n", ok ? "PASS" : "FAIL");
    return true;
}

bool selftest_run_early(const char *name)
{
    if (!name[0])
        return false;
    if (!strcmp(name, "ud")) {
        log_raw("selftest ud: executing UD2\n");
        __asm__ volatile("ud2");
    } else if (!strcmp(name, "pf")) {
        log_raw("selftest pf: reading 0x%llx\n", (unsigned long long)UNMAPPED_ADDRESS);
        (void)*(volatile uint64_t *)UNMAPPED_ADDRESS;
    } else if (!strcmp(name, "pool")) {
        return pool_selftest();
    } else {
        return false;
    }
    log_raw("selftest %s: the fault did not happen\n", name);
    return true;
}
