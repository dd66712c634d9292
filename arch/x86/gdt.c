#include "arch/x86/gdt.h"
#include "lib/string.h"

/* Descriptor bits (SDM 3.4.5). */
#define DESC_CODE64 0x00af9a000000ffffULL /* present, DPL0, exec/read, L=1 */
#define DESC_DATA   0x00cf92000000ffffULL /* present, DPL0, read/write */
#define DESC_TSS_AVAILABLE 0x89ULL

static void set_tss_descriptor(uint64_t *slot, const struct tss64 *tss)
{
    uint64_t base = (uint64_t)tss;
    uint64_t limit = sizeof(*tss) - 1;
    slot[0] = (limit & 0xffff) | ((base & 0xffffff) << 16) | (DESC_TSS_AVAILABLE << 40) |
              (((limit >> 16) & 0xf) << 48) | (((base >> 24) & 0xff) << 56);
    slot[1] = base >> 32;
}

void gdt_init_cpu(struct cpu_tables *t)
{
    memset(t->gdt, 0, sizeof(t->gdt));
    memset(&t->tss, 0, sizeof(t->tss));
    t->gdt[GDT_KERNEL_CS / 8] = DESC_CODE64;
    t->gdt[GDT_KERNEL_DS / 8] = DESC_DATA;
    t->tss.ist[IST_DF - 1] = (uint64_t)t->ist_stacks[0] + IST_STACK_SIZE;
    t->tss.ist[IST_NMI - 1] = (uint64_t)t->ist_stacks[1] + IST_STACK_SIZE;
    t->tss.ist[IST_MC - 1] = (uint64_t)t->ist_stacks[2] + IST_STACK_SIZE;
    t->tss.iomap_base = sizeof(t->tss); /* no I/O bitmap */
    set_tss_descriptor(&t->gdt[GDT_TSS / 8], &t->tss);

    struct descriptor_table_ptr gdtr = {sizeof(t->gdt) - 1, (uint64_t)t->gdt};
    __asm__ volatile("lgdt %0\n\t"
                     "pushq %1\n\t"
                     "leaq 1f(%%rip), %%rax\n\t"
                     "pushq %%rax\n\t"
                     "lretq\n"
                     "1:\n\t"
                     "movw %w2, %%ds\n\t"
                     "movw %w2, %%es\n\t"
                     "movw %w2, %%ss\n\t"
                     "ltr %w3"
                     :
                     : "m"(gdtr), "i"(GDT_KERNEL_CS), "r"(GDT_KERNEL_DS), "r"(GDT_TSS)
                     : "rax", "memory");
}
