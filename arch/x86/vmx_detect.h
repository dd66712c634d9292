/* Is VMX usable on this CPU? CPUID, IA32_FEATURE_CONTROL, capability MSRs. */
#ifndef ARCH_X86_VMX_DETECT_H
#define ARCH_X86_VMX_DETECT_H

#include <stdbool.h>
#include <stddef.h>
#include "arch/x86/vmx_caps.h"

/* True with caps filled if VMX can be used; otherwise one line in why.
 * Enables and locks IA32_FEATURE_CONTROL if the firmware left it unlocked. */
bool vmx_detect(struct vmx_caps *caps, char *why, size_t whysz);

#endif
