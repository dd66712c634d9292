/* VMCALL from L1: nestvisor's hypercalls (docs/hypercalls.md). */
#ifndef VMM_HYPERCALL_H
#define VMM_HYPERCALL_H

struct vcpu;
void handle_vmcall(struct vcpu *v);

#endif
