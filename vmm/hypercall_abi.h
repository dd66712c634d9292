/* The VMCALL hypercall ABI between L1 and nestvisor (docs/hypercalls.md).
 * Shared by the hypervisor and the test guests; keep it self-contained. */
#ifndef VMM_HYPERCALL_ABI_H
#define VMM_HYPERCALL_ABI_H

/* Call: RAX = function, RBX/RCX/RDX = arguments, then VMCALL.
 * Return: RAX = status (NV_OK or a negative NV_E*), RBX/RCX = results.
 * Other registers are preserved. Only L1 can call (CPL 0); an L2's VMCALL
 * goes to its own hypervisor. */
#define NV_HC_VERSION       0 /* -> RBX = NV_ABI_VERSION, RCX = feature bits */
#define NV_HC_CONSOLE_WRITE 1 /* RBX = guest-physical address, RCX = length (<= NV_CONSOLE_MAX) */
#define NV_HC_EXIT_STATS    2 /* RBX = exit reason, RCX = NV_LEVEL_* -> RBX = count, RCX = L0 TSC ticks */
#define NV_HC_POWER_OFF     3 /* RBX = status: 0 success, else failure; does not return */
#define NV_HC_STATS_RESET   4 /* zero all exit counters */
#define NV_HC_SHADOW_STATS  5 /* RBX = EPTP12 or 0 for all -> RBX = shadow EPT table pages, RCX = fills */
#define NV_HC_L0_MEMORY     6 /* RBX = index -> RBX = base, RCX = size of nestvisor's index-th memory range */
#define NV_HC_CANARY        7 /* -> RBX = physical address of L0's canary page, RCX = 1 if it is intact */

#define NV_ABI_VERSION 1
#define NV_CONSOLE_MAX 4096

/* Which exits NV_HC_EXIT_STATS counts. */
#define NV_LEVEL_L1        0 /* exits of L1 itself */
#define NV_LEVEL_L2_L0     1 /* exits of L2 that L0 handled and resumed L2 */
#define NV_LEVEL_L2_TO_L1  2 /* exits of L2 reflected to L1 */
#define NV_LEVEL_COUNT     3
#define NV_EXIT_REASON_ALL 0xffff /* sum over all reasons */

/* NV_HC_VERSION feature bits. */
#define NV_FEATURE_NESTED  (1U << 0) /* VMX is exposed to L1 */
#define NV_FEATURE_SHADOW  (1U << 1) /* L1's VMREAD/VMWRITE use VMCS shadowing */

#define NV_OK          0
#define NV_EUNKNOWN   (-1) /* no such function */
#define NV_EINVAL     (-2) /* bad argument */
#define NV_EFAULT     (-3) /* a guest-physical range L1 does not own */

/* CPUID leaves 0x40000000-0x40000001. */
#define NV_CPUID_SIGNATURE_EBX 0x7473656e /* "nest" */
#define NV_CPUID_SIGNATURE_ECX 0x6f736976 /* "viso" */
#define NV_CPUID_SIGNATURE_EDX 0x00000072 /* "r\0\0\0" */

#endif
