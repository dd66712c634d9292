/* Reading and writing guest memory by linear address, through the paging
 * structures of the guest the current VMCS runs (SDM Vol. 3A ch. 4), as the
 * CPU would for a supervisor data access at the guest's CPL. Used to fetch
 * the memory operands of emulated instructions. */
#include "vmm/gva.h"
#include "vmm/vm.h"
#include "arch/x86/cpu.h"
#include "arch/x86/cpu_bits.h"
#include "arch/x86/paging.h"
#include "arch/x86/physmem.h"
#include "arch/x86/vmx.h"
#include "arch/x86/vmx_bits.h"
#include "lib/string.h"

#define PAE_PDPTE_COUNT   4
#define PTE_ADDR_4K       0x000ffffffffff000ULL
#define PTE_ADDR_2M       0x000fffffffe00000ULL
#define PTE_ADDR_1G       0x000fffffc0000000ULL
#define PTE32_ADDR        0xfffff000U
#define PTE32_ADDR_4M_LOW 0xffc00000U
#define PTE32_ADDR_4M_HIGH_SHIFT 13 /* PSE-36: bits 20:13 hold address bits 39:32 */
#define PTE32_ADDR_4M_HIGH_MASK 0xffULL

struct walk {
    bool write, fetch, user;
    bool wp, nxe;
    uint64_t rsvd_addr; /* address bits beyond MAXPHYADDR */
    uint32_t error;
    struct gva_fault *f;
    bool refused;       /* the guest-physical space refused an access: *f says how */
};

static uint64_t phys_addr_mask(void)
{
    return the_vm.host_mtrr.phys_addr_mask | 0xfffULL;
}

/* The guest's physical addresses are L1's, unless the guest is L2 under
 * an EPT of L1's: then this translates them (nested.c). */
static bool (*guest_phys_map)(uint64_t gpa, unsigned access, uint64_t *l1_gpa);
static void (*store_hook)(uint64_t l1_gpa, size_t len);

void gva_set_guest_phys_map(bool (*fn)(uint64_t gpa, unsigned access, uint64_t *l1_gpa)) { guest_phys_map = fn; }
void gva_set_store_hook(void (*fn)(uint64_t l1_gpa, size_t len)) { store_hook = fn; }

/* [gpa, gpa + size) of the guest, within one page, as L0 may touch it for
 * `access` (GVA_ACCESS_*): 0 if there is no memory there, or if the
 * guest-physical space refuses the access (then *f says so). */
static void *guest_mem(uint64_t gpa, size_t size, unsigned access, struct gva_fault *f, uint64_t *l1_out)
{
    uint64_t l1_gpa = gpa;
    if (guest_phys_map && !guest_phys_map(gpa, access, &l1_gpa)) {
        *f = (struct gva_fault){.vector = GVA_FAULT_GUEST_PHYS, .gpa = gpa, .access = access};
        return 0;
    }
    if (l1_out)
        *l1_out = l1_gpa;
    return vm_l1_view(l1_gpa, size);
}

static void stored(uint64_t l1_gpa, size_t len)
{
    if (store_hook)
        store_hook(l1_gpa, len);
}

/* Reads a paging-structure entry; tables outside the guest's memory read as
 * not present. */
static void *entry_at(struct walk *w, uint64_t pa, size_t size)
{
    void *e = guest_mem(pa, size, GVA_ACCESS_READ | GVA_ACCESS_WALK, w->f, 0);
    w->refused |= !e && w->f->vector == GVA_FAULT_GUEST_PHYS;
    return e;
}

/* Checks one entry; false with w->error set on a fault. *set gets the
 * accessed/dirty flags the walk must set in it (SDM 4.8). */
static bool visit(struct walk *w, uint64_t e, bool leaf, uint64_t *set)
{
    if (!(e & PTE_P))
        return false;
    uint64_t rsvd = w->rsvd_addr;
    if (!w->nxe)
        rsvd |= PTE_NX;
    if (e & rsvd) {
        w->error |= PFEC_P | PFEC_RSVD;
        return false;
    }
    if (w->user && !(e & PTE_U)) {
        w->error |= PFEC_P;
        return false;
    }
    if (w->write && !(e & PTE_W) && (w->user || w->wp)) {
        w->error |= PFEC_P;
        return false;
    }
    if (w->fetch && (e & PTE_NX)) { /* bit 63 is reserved above unless NXE */
        w->error |= PFEC_P;
        return false;
    }
    *set = (PTE_A | (leaf && w->write ? PTE_D : 0)) & ~e;
    return true;
}

/* Sets flags in the size-byte entry at guest-physical pa: a write to the
 * paging structure, which the guest-physical space may refuse. */
static bool mark(struct walk *w, uint64_t pa, size_t size, uint64_t set)
{
    if (!set)
        return true;
    uint64_t l1_gpa;
    void *e = guest_mem(pa, size, GVA_ACCESS_WRITE | GVA_ACCESS_WALK, w->f, &l1_gpa);
    if (!e) {
        w->refused |= w->f->vector == GVA_FAULT_GUEST_PHYS;
        return false;
    }
    if (size == sizeof(uint32_t))
        *(uint32_t *)e |= (uint32_t)set;
    else
        *(uint64_t *)e |= set;
    stored(l1_gpa, size);
    return true;
}

static bool walk_long(struct walk *w, uint64_t cr3, uint64_t gla, uint64_t *gpa)
{
    uint64_t table = cr3 & PTE_ADDR_4K;
    for (int level = 4; level >= 1; level--) {
        unsigned idx = (gla >> (12 + 9 * (level - 1))) & 511;
        uint64_t pa = table + idx * 8, set;
        uint64_t *e = entry_at(w, pa, 8);
        if (!e)
            return false;
        bool large = level > 1 && level < 4 && (*e & PTE_PS);
        if (level == 4 && (*e & PTE_PS) && (*e & PTE_P)) { /* PS is reserved in a PML4E */
            w->error |= PFEC_P | PFEC_RSVD;
            return false;
        }
        if (!visit(w, *e, level == 1 || large, &set) || !mark(w, pa, 8, set))
            return false;
        if (large) {
            uint64_t mask = level == 3 ? PTE_ADDR_1G : PTE_ADDR_2M;
            uint64_t size = 1ULL << (12 + 9 * (level - 1));
            *gpa = (*e & mask) | (gla & (size - 1));
            return true;
        }
        table = *e & PTE_ADDR_4K;
    }
    *gpa = table | (gla & 0xfff);
    return true;
}

static bool walk_pae(struct walk *w, uint64_t gla, uint64_t *gpa)
{
    static const enum vmcs_field pdptes[PAE_PDPTE_COUNT] = {
        VMCS_GUEST_PDPTE0, VMCS_GUEST_PDPTE1, VMCS_GUEST_PDPTE2, VMCS_GUEST_PDPTE3};
    /* With EPT the PDPTE registers live in the VMCS (SDM 29.3.1). */
    uint64_t pdpte = vmcs_read(pdptes[(gla >> 30) & 3]);
    if (!(pdpte & PTE_P))
        return false;
    uint64_t table = pdpte & PTE_ADDR_4K;
    for (int level = 2; level >= 1; level--) {
        unsigned idx = (gla >> (12 + 9 * (level - 1))) & 511;
        uint64_t pa = table + idx * 8, set;
        uint64_t *e = entry_at(w, pa, 8);
        if (!e)
            return false;
        bool large = level == 2 && (*e & PTE_PS);
        if (!visit(w, *e, level == 1 || large, &set) || !mark(w, pa, 8, set))
            return false;
        if (large) {
            *gpa = (*e & PTE_ADDR_2M) | (gla & (PAGE_SIZE_2M - 1));
            return true;
        }
        table = *e & PTE_ADDR_4K;
    }
    *gpa = table | (gla & 0xfff);
    return true;
}

/* A 32-bit entry: no reserved address bits, no NX (SDM 4.3). */
static bool visit32(struct walk *w, uint64_t pa, uint32_t e, bool leaf)
{
    struct walk w32 = *w;
    w32.rsvd_addr = 0;
    w32.nxe = true; /* keeps bit 63 out of the reserved bits; a 32-bit entry has none */
    uint64_t set;
    bool ok = visit(&w32, e, leaf, &set);
    w->error = w32.error;
    return ok && mark(w, pa, sizeof(uint32_t), set);
}

static bool walk_32(struct walk *w, uint64_t cr3, uint64_t cr4, uint64_t gla, uint64_t *gpa)
{
    uint64_t pde_pa = (cr3 & PTE32_ADDR) + ((gla >> 22) & 1023) * 4;
    uint32_t *pde = entry_at(w, pde_pa, 4);
    if (!pde)
        return false;
    bool large = (cr4 & CR4_PSE) && (*pde & PTE_PS);
    if (!visit32(w, pde_pa, *pde, large))
        return false;
    if (large) {
        uint64_t high = ((uint64_t)*pde >> PTE32_ADDR_4M_HIGH_SHIFT) & PTE32_ADDR_4M_HIGH_MASK;
        *gpa = (*pde & PTE32_ADDR_4M_LOW) | (high << 32) | (gla & 0x3fffff);
        return true;
    }
    uint64_t pte_pa = (*pde & PTE32_ADDR) + ((gla >> 12) & 1023) * 4;
    uint32_t *pte = entry_at(w, pte_pa, 4);
    if (!pte || !visit32(w, pte_pa, *pte, true))
        return false;
    *gpa = (*pte & PTE32_ADDR) | (gla & 0xfff);
    return true;
}

/* Linear -> guest-physical for one byte's page. */
static bool translate(uint64_t gla, unsigned access, uint64_t *gpa, struct gva_fault *f)
{
    uint64_t cr0 = vmcs_read(VMCS_GUEST_CR0), cr4 = vmcs_read(VMCS_GUEST_CR4);
    uint64_t efer = vmcs_read(VMCS_GUEST_IA32_EFER);
    if (!(cr0 & CR0_PG)) {
        *gpa = gla & 0xffffffffULL;
        return true;
    }
    bool write = access & GVA_ACCESS_WRITE;
    struct walk w = {
        .write = write,
        .fetch = access & GVA_ACCESS_FETCH,
        .user = vcpu_cpl() == 3,
        .wp = cr0 & CR0_WP,
        .nxe = efer & EFER_NXE,
        .rsvd_addr = PTE_ADDR_4K & ~phys_addr_mask(),
        .f = f,
    };
    bool ok;
    uint64_t cr3 = vmcs_read(VMCS_GUEST_CR3);
    if (efer & EFER_LMA)
        ok = walk_long(&w, cr3, gla, gpa);
    else if (cr4 & CR4_PAE)
        ok = walk_pae(&w, gla, gpa);
    else
        ok = walk_32(&w, cr3, cr4, gla, gpa);
    if (!ok && w.refused) {
        f->address = gla;
    } else if (!ok) {
        f->vector = VEC_PF;
        /* I/D for a fetch with SMEP, or with NXE under PAE or 4-level paging (SDM 4.7). */
        bool id = w.fetch && ((cr4 & CR4_SMEP) || ((cr4 & CR4_PAE) && w.nxe));
        f->error = w.error | (write ? PFEC_W : 0) | (w.user ? PFEC_U : 0) | (id ? PFEC_I : 0);
        f->address = gla;
    }
    return ok;
}

static bool copy(uint64_t gla, void *buf, size_t len, unsigned access, struct gva_fault *f)
{
    uint8_t *p = buf;
    bool write = access & GVA_ACCESS_WRITE;
    while (len) {
        size_t chunk = PAGE_SIZE - (gla & (PAGE_SIZE - 1));
        if (chunk > len)
            chunk = len;
        uint64_t gpa, l1_gpa;
        if (!translate(gla, access, &gpa, f))
            return false;
        uint8_t *host = guest_mem(gpa, chunk, access, f, &l1_gpa);
        if (!host && f->vector == GVA_FAULT_GUEST_PHYS) {
            f->address = gla;
            return false;
        }
        if (!host) {
            /* A device: hardware would reach it; we cannot emulate MMIO
             * operands, so fault like an inaccessible page. */
            f->vector = VEC_GP;
            f->error = 0;
            f->address = gla;
            return false;
        }
        if (write) {
            memcpy(host, p, chunk);
            stored(l1_gpa, chunk);
        } else {
            memcpy(p, host, chunk);
        }
        p += chunk;
        gla += chunk;
        len -= chunk;
    }
    return true;
}

bool gva_read(uint64_t gla, void *buf, size_t len, struct gva_fault *f)
{
    return copy(gla, buf, len, GVA_ACCESS_READ, f);
}

bool gva_write(uint64_t gla, const void *buf, size_t len, struct gva_fault *f)
{
    return copy(gla, (void *)buf, len, GVA_ACCESS_WRITE, f);
}

bool gva_fetch(uint64_t gla, void *buf, size_t len, struct gva_fault *f)
{
    return copy(gla, buf, len, GVA_ACCESS_FETCH, f);
}

void gva_inject_fault(struct vcpu *v, const struct gva_fault *f)
{
    if (f->vector == VEC_PF)
        write_cr2(f->address); /* CR2 is not in the VMCS: the guest sees ours */
    if (f->vector == VEC_PF || f->vector == VEC_GP || f->vector == VEC_SS)
        vcpu_inject_exception_code(v, f->vector, f->error);
    else
        vcpu_inject_exception(v, f->vector);
}
