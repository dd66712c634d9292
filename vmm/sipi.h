/* INIT and start-up IPIs that reach a vCPU (SDM 25.2: in VMX non-root
 * operation both cause VM exits, a SIPI only in the wait-for-SIPI state). */
#ifndef VMM_SIPI_H
#define VMM_SIPI_H

struct vcpu;

void handle_init_signal(struct vcpu *v);
void handle_sipi(struct vcpu *v);
/* L1 left VMX operation: an INIT it blocked meanwhile takes effect. */
void sipi_after_vmxoff(struct vcpu *v);

#endif
