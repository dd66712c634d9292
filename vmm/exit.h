/* The trap-and-emulate core: one table of handlers indexed by the basic
 * exit reason. */
#ifndef VMM_EXIT_H
#define VMM_EXIT_H

#include "vmm/vcpu.h"

typedef void (*exit_handler_fn)(struct vcpu *v);

/* Called by the exit stub with the vCPU's register block. */
void vmexit_dispatch(struct guest_regs *regs);
/* Called by the exit stub when VMRESUME/VMLAUNCH itself fails; returns
 * only after making an enterable VMCS current (L1's, with a VMfail). */
void vmx_entry_failed(struct guest_regs *regs);
/* Installs the handler for L1's exits with this basic reason. */
void exit_set_handler(unsigned reason, exit_handler_fn fn);

#endif
