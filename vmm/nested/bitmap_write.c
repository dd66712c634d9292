/* Writes to L1's bitmap pages while L0 has them merged into vmcs02
 * (bitmaps.c keeps those pages read-only in EPT01). On hardware a bitmap
 * change takes effect at once: the CPU reads the bitmap at each access, on
 * every CPU. So L0 does each store itself (store.c) and keeps the page
 * protected; every merge becomes stale, this CPU merges again at once if it
 * runs L2 (the store may be L2's, its next IN or RDMSR must see it), and
 * every other CPU that runs L2 is nudged to do the same before it resumes
 * (smp_attention). A store L0 cannot decode (REP STOS, say) lifts the
 * protection instead, and later writes are seen only at the next nested
 * entry (docs/nested.md, "Known limits"). So does a store into a page no
 * vmcs02 merges from any more: L1 freed it, and each of its stores there
 * would otherwise cost an exit and L0's emulation for good. */
#include "vmm/nested/nested.h"
#include "vmm/nested/vmcs02.h"
#include "vmm/smp.h"
#include "vmm/store.h"
#include "vmm/vm.h"
#include "arch/x86/vmx.h"
#include "lib/log.h"

bool nested_bitmap_emulate_write(struct vcpu *v, uint64_t l1_gpa)
{
    struct guest_store st;
    const char *why;
    uint64_t offset = l1_gpa & (PAGE_SIZE - 1);
    uint8_t *page = vm_l1_ram(l1_gpa - offset, PAGE_SIZE);
    /* A page no vmcs02 merges from any more is L1's plain memory again
     * (KVM freed the guest whose bitmap it was): the caller lifts the
     * protection, rather than L0 doing every later store there. */
    if (!nested_bitmap_in_use(l1_gpa)) {
        v->nested->stats.bitmap_pages_released++;
        return false;
    }
    if (!page || !store_decode(v, &st, &why) || offset + st.insn.size > PAGE_SIZE) {
        v->nested->stats.bitmap_writes_unprotected++;
        return false;
    }
    uint64_t old;
    store_apply(page + offset, &st, &old);
    store_complete(v, &st, old);
    v->nested->stats.bitmap_writes_emulated++;
    nested_bitmap_page_written();
    if (v->in_l2)
        vmcs02_merge_bitmaps(v);
    smp_nudge_l2_cpus(v);
    return true;
}

void nested_bitmaps_refresh(struct vcpu *v)
{
    if (v->in_l2 && v->nested)
        vmcs02_merge_bitmaps(v);
}

bool nested_bitmap_emulate_l2_write(uint64_t l1_gpa)
{
    return nested_bitmap_emulate_write(this_cpu()->vcpu, l1_gpa);
}
