#include "vmm/nested/bitmaps.h"
#include "vmm/nested/vmcs02.h"
#include "vmm/nested/ept02.h"
#include "vmm/ept.h"
#include "vmm/vm.h"
#include "arch/x86/physmem.h"
#include "arch/x86/vmx.h"
#include "arch/x86/vmx_bits.h"

#define NO_PAGE (~0ULL)

struct merged {
    uint64_t l1_pa; /* the protected L1 page dst was merged from, or NO_PAGE */
};

static struct merged merged[BITMAP_COUNT] = {{NO_PAGE}, {NO_PAGE}, {NO_PAGE}};

static void flush_ept01(void) { invept(INVEPT_SINGLE_CONTEXT, the_vm.eptp01); }

/* Sets or clears the write permission of one 4 KiB page of L1 RAM in
 * EPT01, keeping its target and other attributes (ept_map splits a large
 * page around it). Anything else (the sink, a device) stays as it is. */
static bool set_writable(uint64_t pa, bool writable)
{
    unsigned level;
    uint64_t *e = ept_lookup(&the_vm.ept01, pa, &level);
    if (!e || !vm_l1_ram_range(pa, PAGE_SIZE))
        return false;
    uint64_t size = EPT_LEVEL_SIZE(level);
    uint64_t hpa = (*e & EPT_ADDR_MASK & ~(size - 1)) | (pa & (size - 1));
    uint64_t flags = *e & ~(EPT_ADDR_MASK | EPT_LARGE);
    flags = writable ? flags | EPT_WRITE : flags & ~EPT_WRITE;
    return ept_map(&the_vm.ept01, pa, hpa, PAGE_SIZE, flags);
}

static bool page_still_used(uint64_t pa, enum nested_bitmap except)
{
    for (unsigned i = 0; i < BITMAP_COUNT; i++)
        if (i != except && merged[i].l1_pa == pa)
            return true;
    return false;
}

static void forget(enum nested_bitmap which)
{
    uint64_t pa = merged[which].l1_pa;
    merged[which].l1_pa = NO_PAGE;
    if (pa != NO_PAGE && !page_still_used(pa, which)) {
        set_writable(pa, true);
        flush_ept01();
    }
}

void nested_bitmap_merge(enum nested_bitmap which, uint64_t dst, uint64_t l0, uint64_t l1_pa)
{
    if (merged[which].l1_pa == l1_pa)
        return;
    forget(which);
    bitmap_merge(phys_to_virt(dst), phys_to_virt(l0), phys_to_virt(l1_pa));
    /* Without the protection the merge could go stale unseen: then keep
     * it unmarked so that every entry merges again. */
    if (set_writable(l1_pa, false)) {
        merged[which].l1_pa = l1_pa;
        flush_ept01();
        ept02_flush_all(); /* no shadow may keep a writable copy */
    }
}

bool nested_bitmap_write_fault(uint64_t gpa)
{
    uint64_t page = gpa & ~(PAGE_SIZE - 1);
    bool hit = false;
    for (unsigned i = 0; i < BITMAP_COUNT; i++) {
        if (merged[i].l1_pa == page) {
            merged[i].l1_pa = NO_PAGE;
            hit = true;
        }
    }
    if (hit) {
        set_writable(page, true);
        flush_ept01();
    }
    return hit;
}

void nested_bitmaps_reset(void)
{
    for (unsigned i = 0; i < BITMAP_COUNT; i++)
        forget(i);
}
