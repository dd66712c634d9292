/* L1's own GDT (kernel and user segments, a TSS whose RSP0 takes ring-3
 * faults) and running a snippet at CPL 3. The runtime's GDT has neither user
 * segments nor an RSP0, so l1hv loads this one at start; the runtime's IDT
 * gates use selector 0x08, which means the same here. */
#include "l1hv.h"

struct tss64 {
    uint32_t reserved0;
    uint64_t rsp[3];
    uint64_t reserved1;
    uint64_t ist[7];
    uint64_t reserved2;
    uint16_t reserved3, iomap_base;
} __attribute__((packed));

#define GDT_CODE64      0x00209a0000000000ULL /* P, DPL 0, exec/read, L */
#define GDT_DATA        0x00cf92000000ffffULL /* P, DPL 0, read/write, 4 GiB */
#define GDT_USER_DATA   0x00cff2000000ffffULL /* same, DPL 3 */
#define GDT_USER_CODE64 0x0020fa0000000000ULL /* same as GDT_CODE64, DPL 3 */
#define GDT_ENTRIES 8

static uint64_t l1_gdt[GDT_ENTRIES] __attribute__((aligned(16)));
static struct tss64 l1_tss __attribute__((aligned(16)));
#define RING0_STACK_SIZE 16384
#define USER_STACK_SIZE  8192
static uint8_t ring0_stack[RING0_STACK_SIZE] __attribute__((aligned(16)));
static uint8_t user_stack[USER_STACK_SIZE] __attribute__((aligned(16)));
uint64_t l1_gdt_base, l1_tss_base;

void l1_gdt_init(void)
{
    uint64_t tss = (uintptr_t)&l1_tss;
    uint32_t limit = sizeof l1_tss - 1;
    l1_tss.rsp[0] = (uintptr_t)(ring0_stack + RING0_STACK_SIZE);
    l1_tss.iomap_base = sizeof l1_tss; /* no I/O permission bitmap */
    l1_gdt[SEL_KERNEL_CS / 8] = GDT_CODE64;
    l1_gdt[SEL_KERNEL_DS / 8] = GDT_DATA;
    tss_descriptor(&l1_gdt[SEL_TSS / 8], tss, limit, AR_TYPE_TSS64_AVAILABLE);
    l1_gdt[SEL_USER_DS / 8] = GDT_USER_DATA;
    l1_gdt[SEL_USER_CS / 8] = GDT_USER_CODE64;
    l1_gdt_base = (uintptr_t)l1_gdt;
    l1_tss_base = tss;

    struct desc_ptr gdtr = {sizeof l1_gdt - 1, l1_gdt_base};
    __asm__ volatile("lgdt %0\n\t"
                     "pushq %1\n\t"
                     "leaq 1f(%%rip), %%rax\n\t"
                     "pushq %%rax\n\t"
                     "lretq\n"
                     "1:\n\t"
                     "movl %2, %%eax\n\t"
                     "movl %%eax, %%ds\n\t"
                     "movl %%eax, %%es\n\t"
                     "movl %%eax, %%ss\n\t"
                     "movl %%eax, %%fs\n\t"
                     "movl %%eax, %%gs\n\t"
                     "movl %3, %%eax\n\t"
                     "ltr %%ax"
                     :
                     : "m"(gdtr), "i"(SEL_KERNEL_CS), "i"(SEL_KERNEL_DS), "i"(SEL_TSS)
                     : "rax", "memory");
}

/* ---- CPL 3 ---- */
int cpl3_enter(void (*fn)(void), uint64_t user_rsp);
extern char cpl3_trap_ud[], cpl3_trap_gp[], cpl3_trap_pf[], cpl3_trap_return[];

static struct idt_gate cpl3_idt[256] __attribute__((aligned(16)));

static void set_gate(int v, void *handler, uint8_t type_attr)
{
    cpl3_idt[v] = idt_gate((uintptr_t)handler, SEL_KERNEL_CS, type_attr);
}

/* The runtime maps 0-4 GiB supervisor-only with 2 MiB pages; ring 3 needs
 * the U bit on the path to everything it touches. It only touches l1hv's
 * image, in the first GiB: PML4[0], PDPT[0] and that GiB's PDEs get U for
 * the duration and their old values back afterwards. */
#define PTE_U (1ULL << 2)
#define PTE_ADDR_MASK 0x000ffffffffff000ULL
#define ENTRIES 512
static uint64_t saved_pml4e, saved_pdpte, saved_pde[ENTRIES];

static void user_access(bool on)
{
    uint64_t *pml4 = (uint64_t *)(uintptr_t)(read_cr3() & PTE_ADDR_MASK);
    uint64_t *pdpt = (uint64_t *)(uintptr_t)(pml4[0] & PTE_ADDR_MASK);
    uint64_t *pd = (uint64_t *)(uintptr_t)(pdpt[0] & PTE_ADDR_MASK);
    if (on) {
        saved_pml4e = pml4[0];
        saved_pdpte = pdpt[0];
        memcpy(saved_pde, pd, sizeof saved_pde);
        pml4[0] |= PTE_U;
        pdpt[0] |= PTE_U;
        for (int i = 0; i < ENTRIES; i++)
            pd[i] |= PTE_U;
    } else {
        memcpy(pd, saved_pde, sizeof saved_pde);
        pdpt[0] = saved_pdpte;
        pml4[0] = saved_pml4e;
    }
    write_cr3(read_cr3());
}

int cpl3_run(void (*fn)(void))
{
    struct desc_ptr old;
    sidt(&old);
    memcpy(cpl3_idt, (const void *)(uintptr_t)old.base, sizeof cpl3_idt);
    set_gate(VEC_UD, cpl3_trap_ud, IDT_GATE_INTR64);
    set_gate(VEC_GP, cpl3_trap_gp, IDT_GATE_INTR64);
    set_gate(VEC_PF, cpl3_trap_pf, IDT_GATE_INTR64);
    set_gate(CPL3_RETURN_VECTOR, cpl3_trap_return, IDT_GATE_INTR64_DPL3);
    struct desc_ptr idtr = {sizeof cpl3_idt - 1, (uintptr_t)cpl3_idt};
    cli();
    lidt(&idtr);
    user_access(true);
    int v = cpl3_enter(fn, (uintptr_t)(user_stack + USER_STACK_SIZE));
    user_access(false);
    lidt(&old);
    return v;
}
