#include "vmm/nested/bitmaps.h"
#include "vmm/nested/vmcs02.h"
#include "vmm/ept.h"
#include "vmm/percpu.h"
#include "vmm/smp.h"
#include "vmm/vm.h"
#include "arch/x86/physmem.h"
#include "arch/x86/vmx.h"
#include "arch/x86/vmx_bits.h"
#include "lib/spinlock.h"
#include "lib/string.h"

#define NO_PAGE (~0ULL)

static struct {
    struct spinlock lock;
    unsigned count;
    uint64_t page[BITMAP_PROTECTED_MAX];
} protected;
static uint64_t bitmap_epoch; /* bumped when a protected page is written */
/* Every vCPU's cache, for nested_bitmap_in_use (added under the lock, read
 * without it: a cache names a page with one aligned store). */
static struct nested_bitmaps *caches[NV_MAX_CPUS];
static unsigned ncaches;

static uint8_t all_ones[4096] __attribute__((aligned(8)));

/* Only L1's RAM is protected: anything else (the sink, a device) stays as
 * it is. */
static bool set_writable(uint64_t pa, bool writable)
{
    return vm_l1_ram_range(pa, PAGE_SIZE) && ept_set_writable(&the_vm.ept01, pa, writable);
}

static int find(uint64_t pa)
{
    for (unsigned i = 0; i < protected.count; i++)
        if (protected.page[i] == pa)
            return (int)i;
    return -1;
}

/* Write-protects pa in EPT01 for good (until L1 writes it); every CPU
 * drops its writable translations before this returns. */
static bool protect(uint64_t pa)
{
    spin_lock(&protected.lock);
    bool ok = find(pa) >= 0;
    bool added = false;
    if (!ok && protected.count < BITMAP_PROTECTED_MAX && set_writable(pa, false)) {
        protected.page[protected.count++] = pa;
        ok = added = true;
    }
    spin_unlock(&protected.lock);
    /* Outside the lock: other CPUs may need it to answer. */
    if (added)
        smp_invept01_everywhere();
    return ok;
}

static void forget_all(struct nested_bitmaps *cache)
{
    for (unsigned i = 0; i < BITMAP_COUNT; i++)
        __atomic_store_n(&cache->l1_pa[i], NO_PAGE, __ATOMIC_RELEASE);
    cache->epoch = __atomic_load_n(&bitmap_epoch, __ATOMIC_ACQUIRE);
}

void nested_bitmaps_init(struct nested_bitmaps *cache)
{
    forget_all(cache);
    spin_lock(&protected.lock);
    bool known = false;
    for (unsigned i = 0; i < ncaches; i++)
        known = known || caches[i] == cache;
    if (!known && ncaches < NV_MAX_CPUS)
        __atomic_store_n(&caches[ncaches++], cache, __ATOMIC_RELEASE);
    spin_unlock(&protected.lock);
}

bool nested_bitmap_in_use(uint64_t gpa)
{
    uint64_t page = gpa & ~(PAGE_SIZE - 1);
    unsigned n = __atomic_load_n(&ncaches, __ATOMIC_ACQUIRE);
    for (unsigned c = 0; c < n; c++) {
        const struct nested_bitmaps *cache = __atomic_load_n(&caches[c], __ATOMIC_ACQUIRE);
        for (unsigned i = 0; cache && i < BITMAP_COUNT; i++)
            if (__atomic_load_n(&cache->l1_pa[i], __ATOMIC_ACQUIRE) == page)
                return true;
    }
    return false;
}

void nested_bitmap_unused(struct nested_bitmaps *cache, enum nested_bitmap which)
{
    __atomic_store_n(&cache->l1_pa[which], NO_PAGE, __ATOMIC_RELEASE);
}

void nested_bitmap_merge(struct nested_bitmaps *cache, enum nested_bitmap which, uint64_t dst,
                         uint64_t l0, uint64_t l1_pa)
{
    uint64_t epoch = __atomic_load_n(&bitmap_epoch, __ATOMIC_ACQUIRE);
    if (cache->epoch != epoch)
        forget_all(cache);
    if (cache->l1_pa[which] == l1_pa)
        return;
    /* In use (nested_bitmap_in_use) before it is read, protected first,
     * then read: a store after this is done by L0 or faults. */
    __atomic_store_n(&cache->l1_pa[which], l1_pa, __ATOMIC_SEQ_CST);
    bool cached = protect(l1_pa);
    const uint8_t *l1 = vm_l1_ram(l1_pa, PAGE_SIZE);
    if (!l1) {
        memset(all_ones, 0xff, sizeof(all_ones));
        l1 = all_ones;
    }
    bitmap_merge(phys_to_virt(dst), phys_to_virt(l0), l1);
    cache->l1_pa[which] = cached ? l1_pa : NO_PAGE;
}

bool nested_bitmap_is_protected(uint64_t gpa)
{
    uint64_t page = gpa & ~(PAGE_SIZE - 1);
    spin_lock(&protected.lock);
    bool found = find(page) >= 0;
    spin_unlock(&protected.lock);
    return found;
}

void nested_bitmap_page_written(void) { __atomic_add_fetch(&bitmap_epoch, 1, __ATOMIC_RELEASE); }

bool nested_bitmap_write_fault(uint64_t gpa)
{
    uint64_t page = gpa & ~(PAGE_SIZE - 1);
    spin_lock(&protected.lock);
    int i = find(page);
    if (i >= 0) {
        protected.page[i] = protected.page[--protected.count];
        set_writable(page, true);
        __atomic_add_fetch(&bitmap_epoch, 1, __ATOMIC_RELEASE);
    }
    spin_unlock(&protected.lock);
    if (i < 0)
        return false;
    /* A permission was added: other CPUs' read-only translations fault
     * once more and find the page writable (memfault.c). */
    invept(INVEPT_SINGLE_CONTEXT, the_vm.eptp01);
    return true;
}

void nested_bitmaps_l0_changed(void) { __atomic_add_fetch(&bitmap_epoch, 1, __ATOMIC_RELEASE); }

void nested_bitmaps_unprotect_all(void)
{
    spin_lock(&protected.lock);
    while (protected.count)
        set_writable(protected.page[--protected.count], true);
    for (unsigned c = 0; c < ncaches; c++)
        forget_all(caches[c]);
    __atomic_add_fetch(&bitmap_epoch, 1, __ATOMIC_RELEASE);
    spin_unlock(&protected.lock);
    invept(INVEPT_SINGLE_CONTEXT, the_vm.eptp01);
}
