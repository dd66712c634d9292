/* EPT12: the EPT paging structures L1 builds for its L2 (SDM 29.3), and
 * what every EPT case shares: the capability check, INVEPT, the expected
 * EPT-violation qualification and free RAM to map.
 *
 * Entry formats (29.3.2, tables 29-1 .. 29-6): bits 2:0 R/W/X (an entry is
 * present if any is set), bits 5:3 the memory type and bit 6 "ignore PAT"
 * in leaves (bits 6:3 reserved in non-leaf entries), bit 7 "maps a large
 * page" in PDPTEs (1 GiB) and PDEs (2 MiB), bit 8 accessed, bit 9 dirty
 * (leaves; both with EPTP bit 6), bits 51:12 the address. */
#include "l1hv.h"

#define EPT_POOL_PAGES 64
static uint64_t ept_pool[EPT_POOL_PAGES][EPT_ENTRIES] __attribute__((aligned(PAGE_SIZE)));
static unsigned ept_pool_used;

/* L2 guest-physical space that the identity map covers (L2's own page
 * tables map the same 4 GiB). */
#define EPT_IDENTITY_BYTES (4 * PAGE_1G)

bool ept_offered(void)
{
    uint64_t need = EPT_CAP_WALK_4 | EPT_CAP_WB | EPT_CAP_2M_PAGE | EPT_CAP_INVEPT;
    if (cap_proc2(PROC2_EPT) && (caps.ept_vpid & need) == need &&
        (caps.ept_vpid & (EPT_CAP_INVEPT_SINGLE | EPT_CAP_INVEPT_ALL)))
        return true;
    case_skip("EPT (4-level walk, WB, 2 MiB pages, INVEPT) not offered");
    return false;
}

void ept_pool_reset(void)
{
    ept_pool_used = 0;
}

static uint64_t *ept_table_alloc(void)
{
    if (ept_pool_used == EPT_POOL_PAGES)
        return NULL;
    uint64_t *t = ept_pool[ept_pool_used++];
    memset(t, 0, PAGE_SIZE);
    return t;
}

static inline uint64_t level_size(int level)
{
    return (uint64_t)PAGE_SIZE << (9 * (level - 1));
}

static inline unsigned level_index(uint64_t gpa, int level)
{
    return (unsigned)(gpa >> (12 + 9 * (level - 1))) & (EPT_ENTRIES - 1);
}

static inline bool present(uint64_t entry)
{
    return (entry & EPT_RWX) != 0;
}

static inline uint64_t *table_of(uint64_t entry)
{
    return (uint64_t *)(uintptr_t)(entry & EPT_ADDR_MASK);
}

bool ept_init(struct ept *e, uint64_t eptp_extra)
{
    e->pml4 = ept_table_alloc();
    if (!e->pml4)
        return false;
    e->eptp = (uintptr_t)e->pml4 | EPTP_MEMTYPE_WB | EPTP_WALK_4 | eptp_extra;
    return true;
}

/* Replaces the large leaf *entry (at `level`) by a table of 512 leaves one
 * level down that map the same memory with the same attributes. */
static bool split(uint64_t *entry, int level)
{
    uint64_t *t = ept_table_alloc();
    if (!t)
        return false;
    uint64_t attrs = *entry & (EPT_RWX | EPT_MEMTYPE_MASK | EPT_IGNORE_PAT | EPT_ACCESSED |
                               EPT_DIRTY);
    if (level - 1 > EPT_LEVEL_PT)
        attrs |= EPT_LARGE_PAGE;
    uint64_t base = *entry & EPT_ADDR_MASK & ~(level_size(level) - 1);
    for (unsigned i = 0; i < EPT_ENTRIES; i++)
        t[i] = (base + i * level_size(level - 1)) | attrs;
    *entry = (uintptr_t)t | EPT_RWX;
    return true;
}

uint64_t *ept_entry(struct ept *e, uint64_t gpa, int level)
{
    uint64_t *table = e->pml4;
    for (int l = EPT_LEVEL_PML4;; l--) {
        uint64_t *entry = &table[level_index(gpa, l)];
        if (l == level)
            return entry;
        if (!present(*entry)) {
            uint64_t *t = ept_table_alloc();
            if (!t)
                return NULL;
            *entry = (uintptr_t)t | EPT_RWX;
        } else if (*entry & EPT_LARGE_PAGE) {
            if (!split(entry, l))
                return NULL;
        }
        table = table_of(*entry);
    }
}

uint64_t *ept_walk(const struct ept *e, uint64_t gpa, int *level)
{
    uint64_t *table = e->pml4;
    for (int l = EPT_LEVEL_PML4;; l--) {
        uint64_t *entry = &table[level_index(gpa, l)];
        if (l == EPT_LEVEL_PT || !present(*entry) || (*entry & EPT_LARGE_PAGE)) {
            *level = l;
            return entry;
        }
        table = table_of(*entry);
    }
}

uint64_t *ept_map(struct ept *e, uint64_t gpa, uint64_t pa, uint64_t size, uint64_t perms)
{
    int level = size == PAGE_1G ? EPT_LEVEL_PDPT : size == PAGE_2M ? EPT_LEVEL_PD : EPT_LEVEL_PT;
    uint64_t *entry = ept_entry(e, gpa, level);
    if (!entry)
        return NULL;
    *entry = (pa & EPT_ADDR_MASK) | perms | (EPT_MEMTYPE_WB << EPT_MEMTYPE_SHIFT) |
             (level > EPT_LEVEL_PT ? EPT_LARGE_PAGE : 0);
    return entry;
}

bool ept_map_range(struct ept *e, uint64_t gpa, uint64_t pa, uint64_t len, uint64_t size,
                   uint64_t perms)
{
    for (uint64_t off = 0; off < len; off += size)
        if (!ept_map(e, gpa + off, pa + off, size, perms))
            return false;
    return true;
}

bool ept_identity(struct ept *e)
{
    return ept_map_range(e, 0, 0, EPT_IDENTITY_BYTES, PAGE_2M, EPT_RWX);
}

bool ept_set_perms(struct ept *e, uint64_t gpa, uint64_t perms)
{
    uint64_t *pte = ept_entry(e, gpa, EPT_LEVEL_PT);
    if (!pte)
        return false;
    *pte = (*pte & ~EPT_RWX) | perms;
    return true;
}

int ept_invalidate(uint64_t eptp)
{
    struct inv_desc d = {eptp, 0};
    if (caps.ept_vpid & EPT_CAP_INVEPT_SINGLE)
        return invept(INVEPT_SINGLE_CONTEXT, &d);
    return invept(INVEPT_ALL_CONTEXT, &d);
}

bool ept_vcpu_setup(struct vcpu *v, void (*entry)(void), const struct ept *e)
{
    if (!vcpu_setup(v, entry))
        return false;
    vmx_setup_errors_reset();
    vmcs_enable_proc2(PROC2_EPT);
    vmw(VMCS_EPT_POINTER, e->eptp);
    uint64_t bad;
    if (!expect(vmx_setup_errors(&bad) == 0, "enabling EPT in %s: VMWRITE of %#lx failed",
                v->name, bad))
        return false;
    /* The pool reuses pages: drop whatever an earlier EPT with the same
     * EPTP left cached (29.4.3.1). */
    return expect_vmok(ept_invalidate(e->eptp), "INVEPT of a new EPT12");
}

uint64_t ept_violation_qual(uint32_t access, uint64_t perms)
{
    uint64_t q = access | ((perms & EPT_RWX) << QUAL_EPT_PERM_SHIFT) | QUAL_EPT_LINEAR_VALID |
                 QUAL_EPT_TRANSLATED;
    /* Bits 11:9 with advanced information: L2's own page tables map
     * everything supervisor-mode, writable, executable. */
    if (caps.ept_vpid & EPT_CAP_ADV_EXIT_INFO)
        q |= QUAL_EPT_ADV_WRITABLE;
    return q;
}

/* ---- free RAM: usable, above 1 MiB, and clear of l1hv's image, the boot
 * information and the modules (the loader may put those anywhere) ---- */
extern char __image_start[], __bss_end[];

#define MAX_HOLES (2 + BOOT_MAX_MODS)
#define LOW_MEMORY (1ULL << 20)

static uint64_t align_up(uint64_t x, uint64_t a)
{
    return (x + a - 1) & ~(a - 1);
}

bool find_free_ram(uint64_t size, uint64_t align, uint64_t *base)
{
    struct {
        uint64_t start, end;
    } holes[MAX_HOLES];
    unsigned n = 0;
    holes[n].start = (uintptr_t)__image_start;
    holes[n++].end = (uintptr_t)__bss_end;
    if (boot.version == 2 && boot.info) {
        holes[n].start = boot.info;
        holes[n++].end = boot.info + *(const volatile uint32_t *)(uintptr_t)boot.info;
    }
    for (unsigned i = 0; i < boot.n_mods && n < MAX_HOLES; i++) {
        holes[n].start = boot.mods[i].start;
        holes[n++].end = boot.mods[i].end;
    }
    for (unsigned i = 0; i < boot.n_mmap; i++) {
        const struct mem_range *r = &boot.mmap[i];
        if (r->type != MEM_USABLE)
            continue;
        uint64_t start = align_up(r->base > LOW_MEMORY ? r->base : LOW_MEMORY, align);
        for (bool moved = true; moved;) {
            moved = false;
            for (unsigned h = 0; h < n; h++)
                if (start < holes[h].end && holes[h].start < start + size) {
                    start = align_up(holes[h].end, align);
                    moved = true;
                }
        }
        if (start + size <= r->base + r->len && start + size <= EPT_IDENTITY_BYTES) {
            *base = start;
            return true;
        }
    }
    if (cmdline_get("verbose")) {
        printf("l1hv: no free %#lx bytes clear of the image and boot information in:\n", size);
        boot_print_mmap();
    }
    return false;
}
