/* Shared by checks.c and checks_guest.c: the CHECK macro that names each
 * VM-entry check, and small architectural predicates. */
#ifndef VMM_NESTED_CHECKS_UTIL_H
#define VMM_NESTED_CHECKS_UTIL_H

#include <stdbool.h>
#include <stdint.h>
#include "vmm/nested/checks.h"
#include "arch/x86/apic.h"
#include "arch/x86/vmx_bits.h"

extern const char *nested_failed_check;

#define CHECK(cond, name)                                                                          \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            nested_failed_check = (name);                                                          \
            return false;                                                                          \
        }                                                                                          \
    } while (0)

static inline void failed_check_reset(void) { nested_failed_check = ""; }

#define CANONICAL_BITS      48
#define CHECK_PAGE_SIZE     4096ULL
#define MSR_LIST_ENTRY_SIZE 16
#define MSR_LIST_ALIGN      16
#define TPR_THRESHOLD_MASK  0xfU   /* TPR threshold bits 3:0 */
#define VAPIC_VTPR          XAPIC_TPR /* VTPR: the virtual-APIC page has the xAPIC layout (SDM 30.1) */
#define VTPR_CLASS_SHIFT    4      /* VTPR bits 7:4, the priority class */
#define POSTED_INTR_NV_MASK 0xffU  /* the notification vector is 8 bits */
#define POSTED_INTR_DESC_ALIGN 64  /* SDM 30.6 */
#define DEBUGCTL_RESERVED   0xffffffffffff003cULL /* SDM 18.4.1: bits 5:2 and 63:16 */
#define DEBUGCTL_BTF        (1ULL << 1)
#define DR7_RESERVED_HIGH   0xffffffff00000000ULL
#define EFER_RESERVED       (~(EFER_SCE | EFER_LME | EFER_LMA | EFER_NXE))
#define RFLAGS_RESERVED     0xffffffffffc08028ULL /* 63:22, 15, 5, 3 */
#define INTR_INFO_RESERVED  0x7ffff000U
#define INTERRUPTIBILITY_RESERVED 0xffffffe0U
#define PENDING_DBG_RESERVED 0xffffffffffffaff0ULL /* 63:17, 15, 13, 11:4, and 16 (RTM) as on a CPU without RTM */
#define PENDING_DBG_BS      (1ULL << 14)
#define SEG_LIMIT_G_LOW     0xfffU
#define SEG_LIMIT_G_HIGH    0xfff00000U
#define AR_RESERVED_LOW     0xf00U
#define AR_RESERVED_HIGH    0xfffe0000U
#define SEG_TYPE_CODE_RX_A  11
#define SEG_TYPE_DATA_RW_A  3
#define MAX_INSTRUCTION_LEN 15
#define SELECTOR_RPL_TI     7U
#define PAE_PDPTE_COUNT     4
#define PDPTE_RESERVED      0x1e6ULL /* bits 2:1 and 8:5 (SDM 4.4.1) */

static inline bool canonical(uint64_t a)
{
    int64_t s = (int64_t)(a << (64 - CANONICAL_BITS)) >> (64 - CANONICAL_BITS);
    return (uint64_t)s == a;
}

static inline bool pat_valid(uint64_t pat)
{
    for (int i = 0; i < 8; i++) {
        unsigned t = (pat >> (8 * i)) & 0xff;
        if (t != MEMTYPE_UC && t != MEMTYPE_WC && t != MEMTYPE_WT && t != MEMTYPE_WP &&
            t != MEMTYPE_WB && t != MEMTYPE_UC_MINUS)
            return false;
    }
    return true;
}

/* A page-aligned physical address within the width: all the SDM asks of
 * the bitmap addresses (26.2.1.1). It need not be RAM: the CPU reads all
 * ones beyond RAM (every access exits), and so does nestvisor's merge. */
static inline bool page_address_ok(const struct entry_context *ctx, uint64_t pa)
{
    return !(pa & (CHECK_PAGE_SIZE - 1)) && !(pa & ~ctx->phys_mask);
}

/* The same, and [pa, pa + len) in L1's memory (what must be read now). */
static inline bool page_ok(const struct entry_context *ctx, uint64_t pa, uint64_t len)
{
    return page_address_ok(ctx, pa) && ctx->l1_ram(pa, len);
}

#endif
