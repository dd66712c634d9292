/* The IDT and the kernel's own exception handling. */
#ifndef ARCH_X86_TRAPS_H
#define ARCH_X86_TRAPS_H

#include <stdint.h>

struct trap_frame {
    uint64_t r15, r14, r13, r12, r11, r10, r9, r8;
    uint64_t rbp, rdi, rsi, rdx, rcx, rbx, rax;
    uint64_t vector, error;
    uint64_t rip, cs, rflags, rsp, ss; /* pushed by the CPU */
};

void idt_init(void);
void idt_load(void);
void trap_dispatch(struct trap_frame *f);
/* An NMI while the CPU runs L0 goes to fn (vmm/nmi.c) instead of being an
 * unexpected exception: other CPUs nudge this one with NMIs, and L1's own
 * may arrive at any time. */
void traps_set_nmi_handler(void (*fn)(void));

#endif
