#include "vmm/nested/ept12.h"
#include "vmm/ept.h"
#include "arch/x86/vmx_bits.h"

#define EPTP_ADDR_LOW_MASK 0xfffULL
#define LARGE_RESERVED_2M  0x1ff000ULL    /* address bits 20:12 of a 2 MiB leaf */
#define LARGE_RESERVED_1G  0x3ffff000ULL  /* address bits 29:12 of a 1 GiB leaf */
#define NONLEAF_RESERVED   0xf8ULL        /* bits 7:3 of a non-leaf entry (PS at 7 checked apart) */
#define MEMTYPE_INVALID_2  2
#define MEMTYPE_INVALID_3  3
#define MEMTYPE_INVALID_7  7

bool ept12_eptp_valid(uint64_t eptp, const struct ept12_caps *caps)
{
    uint64_t type = eptp & 7;
    if (!((type == EPTP_MEMTYPE_UC && caps->memtype_uc) || (type == EPTP_MEMTYPE_WB && caps->memtype_wb)))
        return false;
    if ((eptp & EPTP_WALK_MASK) != EPTP_WALK_4)
        return false;
    if ((eptp & EPTP_AD_ENABLE) && !caps->ad)
        return false;
    if (eptp & EPTP_RESERVED_LOW)
        return false;
    return !(eptp & ~(caps->phys_mask | EPTP_ADDR_LOW_MASK));
}

bool ept12_violation_convertible(const struct ept12_walk *w)
{
    return w->status == EPT12_VIOLATION && w->entries && !(w->value[w->entries - 1] & EPT_SUPPRESS_VE);
}

unsigned ept12_leaf_memtype(uint64_t leaf) { return (unsigned)((leaf & EPT_MEMTYPE_MASK) >> EPT_MEMTYPE_SHIFT); }
bool ept12_leaf_ipat(uint64_t leaf) { return leaf & EPT_IGNORE_PAT; }

/* SDM 29.3.3.1: when a present entry is an EPT misconfiguration. */
static bool misconfigured(uint64_t e, unsigned level, bool leaf, const struct ept12_caps *caps)
{
    uint64_t rwx = e & EPT_RWX;
    if ((rwx & EPT_WRITE) && !(rwx & EPT_READ))
        return true; /* write without read */
    if (rwx == EPT_EXEC && !caps->exec_only)
        return true; /* execute-only not offered */
    /* Address bits beyond MAXPHYADDR (bits 51:N) are reserved. */
    if ((e & EPT_ADDR_MASK) & ~caps->phys_mask)
        return true;
    if (!leaf) {
        if (e & NONLEAF_RESERVED & ~EPT_LARGE)
            return true;
        return level == 4 && (e & EPT_LARGE); /* no large page in a PML4E */
    }
    unsigned type = ept12_leaf_memtype(e);
    if (type == MEMTYPE_INVALID_2 || type == MEMTYPE_INVALID_3 || type == MEMTYPE_INVALID_7)
        return true;
    if (level == 2 && (e & LARGE_RESERVED_2M))
        return true;
    if (level == 3 && (e & LARGE_RESERVED_1G))
        return true;
    return false;
}

static bool large_allowed(unsigned level, const struct ept12_caps *caps)
{
    return (level == 2 && caps->pages_2m) || (level == 3 && caps->pages_1g);
}

void ept12_walk(uint64_t eptp, uint64_t gpa, uint64_t access, const struct ept12_caps *caps,
                ept12_read_fn read, struct ept12_walk *w)
{
    *w = (struct ept12_walk){.status = EPT12_VIOLATION, .perms = EPT_RWX};
    uint64_t table = eptp & EPT_ADDR_MASK;
    for (unsigned level = EPT_LEVELS; level >= 1; level--) {
        uint64_t pa = table + EPT_INDEX(gpa, level) * sizeof(uint64_t);
        uint64_t e = 0;
        w->entry_pa[w->entries++] = pa;
        if (!read(pa, &e))
            e = 0;
        w->value[w->entries - 1] = e;
        w->perms &= e & EPT_RWX;
        if (!(e & EPT_RWX))
            return; /* not present: a violation with the permissions so far */
        /* A large-page bit where large pages are not offered is reserved. */
        bool large = level > 1 && (e & EPT_LARGE);
        if (large && level != 4 && !large_allowed(level, caps)) {
            w->status = EPT12_MISCONFIG;
            return;
        }
        bool leaf = level == 1 || (large && level != 4);
        if (misconfigured(e, level, leaf, caps)) {
            w->status = EPT12_MISCONFIG;
            return;
        }
        if (leaf) {
            uint64_t size = EPT_LEVEL_SIZE(level);
            w->leaf = e;
            w->level = level;
            w->l1_gpa = (e & EPT_ADDR_MASK & ~(size - 1)) | (gpa & (size - 1));
            w->status = (access & ~w->perms) ? EPT12_VIOLATION : EPT12_OK;
            return;
        }
        table = e & EPT_ADDR_MASK;
    }
}
