/* Per-CPU GDT and TSS with IST stacks for #DF, NMI and #MC. */
#ifndef ARCH_X86_GDT_H
#define ARCH_X86_GDT_H

#include <stdint.h>

#define GDT_KERNEL_CS 0x08
#define GDT_KERNEL_DS 0x10
#define GDT_TSS       0x18
#define GDT_ENTRIES   5 /* null, code, data, TSS (two slots) */

#define IST_DF  1
#define IST_NMI 2
#define IST_MC  3
#define IST_STACK_SIZE 8192

struct __attribute__((packed)) tss64 {
    uint32_t reserved0;
    uint64_t rsp[3];
    uint64_t reserved1;
    uint64_t ist[7];
    uint64_t reserved2;
    uint16_t reserved3;
    uint16_t iomap_base;
};

struct __attribute__((packed)) descriptor_table_ptr {
    uint16_t limit;
    uint64_t base;
};

struct cpu_tables {
    uint64_t gdt[GDT_ENTRIES] __attribute__((aligned(16)));
    struct tss64 tss __attribute__((aligned(16)));
    uint8_t ist_stacks[3][IST_STACK_SIZE] __attribute__((aligned(16)));
};

/* SGDT / SIDT (unit tests: from the fake of the VMX layer). */
#ifdef UNIT_TEST
void read_gdtr(struct descriptor_table_ptr *p);
void read_idtr(struct descriptor_table_ptr *p);
#else
static inline void read_gdtr(struct descriptor_table_ptr *p) { __asm__ volatile("sgdt %0" : "=m"(*p)); }
static inline void read_idtr(struct descriptor_table_ptr *p) { __asm__ volatile("sidt %0" : "=m"(*p)); }
#endif

/* Builds and loads the GDT and TSS of the calling CPU. */
void gdt_init_cpu(struct cpu_tables *t);

#endif
