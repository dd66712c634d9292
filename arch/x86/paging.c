#include "arch/x86/paging.h"
#include "arch/x86/cpu.h"
#include "arch/x86/cpu_bits.h"
#include "arch/x86/msr_index.h"
#include "arch/x86/physmem.h"
#include "vmm/pmm.h"

extern char __kernel_high_start[], __text_end[], __rodata_end[], __kernel_high_end[];

static uint64_t root;
static uint64_t mapped_end;
static uint64_t nx_bit;

static uint64_t *table(uint64_t entry) { return phys_to_virt(entry & PTE_ADDR_MASK); }

/* The next-level table under *entry, allocated on first use. */
static uint64_t *next_table(uint64_t *entry)
{
    if (!(*entry & PTE_P)) {
        uint64_t pa = pmm_alloc_page();
        if (!pa)
            return 0;
        *entry = pa | PTE_P | PTE_W;
    }
    return table(*entry);
}

static bool map_identity(uint64_t end, bool use_1g)
{
    uint64_t *pml4 = phys_to_virt(root);
    for (uint64_t pa = 0; pa < end;) {
        uint64_t *pdpt = next_table(&pml4[(pa >> 39) & 511]);
        if (!pdpt)
            return false;
        if (use_1g) {
            pdpt[(pa >> 30) & 511] = pa | PTE_P | PTE_W | PTE_PS | nx_bit;
            pa += PAGE_SIZE_1G;
            continue;
        }
        uint64_t *pd = next_table(&pdpt[(pa >> 30) & 511]);
        if (!pd)
            return false;
        pd[(pa >> 21) & 511] = pa | PTE_P | PTE_W | PTE_PS | nx_bit;
        pa += PAGE_SIZE_2M;
    }
    return true;
}

static bool map_kernel_page(uint64_t va, uint64_t pa, uint64_t flags)
{
    uint64_t *pml4 = phys_to_virt(root);
    uint64_t *pdpt = next_table(&pml4[(va >> 39) & 511]);
    uint64_t *pd = pdpt ? next_table(&pdpt[(va >> 30) & 511]) : 0;
    uint64_t *pt = pd ? next_table(&pd[(va >> 21) & 511]) : 0;
    if (!pt)
        return false;
    pt[(va >> 12) & 511] = pa | flags | PTE_P | PTE_G;
    return true;
}

static bool map_kernel(void)
{
    for (uint64_t va = (uint64_t)__kernel_high_start; va < (uint64_t)__kernel_high_end; va += 4096) {
        uint64_t flags;
        if (va < (uint64_t)__text_end)
            flags = 0; /* text: read + execute */
        else if (va < (uint64_t)__rodata_end)
            flags = nx_bit;
        else
            flags = PTE_W | nx_bit;
        if (!map_kernel_page(va, virt_to_phys((void *)va), flags))
            return false;
    }
    return true;
}

bool paging_init(uint64_t identity_end)
{
    struct cpuid_regs r;
    cpuid_query(CPUID_LEAF_EXT_BASE, 0, &r);
    bool have_ext = r.eax >= CPUID_LEAF_EXT_FEATURES_1;
    uint32_t ext_edx = 0;
    if (have_ext) {
        cpuid_query(CPUID_LEAF_EXT_FEATURES_1, 0, &r);
        ext_edx = r.edx;
    }
    nx_bit = (ext_edx & CPUID_80000001_EDX_NX) ? PTE_NX : 0;
    if (nx_bit)
        wrmsr(MSR_IA32_EFER, rdmsr(MSR_IA32_EFER) | EFER_NXE);
    bool use_1g = ext_edx & CPUID_80000001_EDX_PDPE1GB;

    identity_end = (identity_end + PAGE_SIZE_1G - 1) & ~(PAGE_SIZE_1G - 1);
    root = pmm_alloc_page();
    if (!root || !map_identity(identity_end, use_1g) || !map_kernel())
        return false;
    mapped_end = identity_end;
    write_cr0(read_cr0() | CR0_WP);
    write_cr4(read_cr4() | CR4_PGE);
    write_cr3(root);
    return true;
}

uint64_t paging_root(void) { return root; }
uint64_t paging_identity_end(void) { return mapped_end; }
