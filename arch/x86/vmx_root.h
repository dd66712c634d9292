/* Entering VMX root operation on this CPU (SDM 24.7). */
#ifndef ARCH_X86_VMX_ROOT_H
#define ARCH_X86_VMX_ROOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "arch/x86/vmx_caps.h"

/* Applies the CR0/CR4 fixed bits, writes the revision id into the VMXON
 * region (a zeroed page at vmxon_pa) and executes VMXON. */
bool vmx_enter_root(const struct vmx_caps *caps, uint64_t vmxon_pa, char *why, size_t whysz);
/* Prepares a zeroed page as a VMCS region: revision id (and the shadow
 * indicator if shadow is set), then VMCLEAR. */
bool vmcs_region_init(const struct vmx_caps *caps, uint64_t pa, bool shadow);

#endif
