/* Walking L1's EPT for L2 ("EPT12") by the book (SDM 29.3): the
 * translation of an L2 guest-physical address to an L1 guest-physical
 * address, with the EPT-violation and EPT-misconfiguration rules. Pure:
 * L1 memory is reached through a callback, and a walk touches at most four
 * entries, whatever the tables contain. */
#ifndef VMM_NESTED_EPT12_H
#define VMM_NESTED_EPT12_H

#include <stdbool.h>
#include <stdint.h>

/* What L1 was offered (IA32_VMX_EPT_VPID_CAP) decides what is valid. */
struct ept12_caps {
    bool exec_only;  /* execute-only entries (bit 0) */
    bool pages_2m;   /* bit 16 */
    bool pages_1g;   /* bit 17 */
    bool ad;         /* accessed/dirty flags (bit 21) */
    bool memtype_uc; /* EPTP memory type UC allowed (bit 8) */
    bool memtype_wb; /* ... WB (bit 14) */
    uint64_t phys_mask; /* valid physical-address bits (MAXPHYADDR) */
};

enum ept12_status {
    EPT12_OK,
    EPT12_VIOLATION,  /* not present, or the access is not permitted */
    EPT12_MISCONFIG,  /* a present entry is misconfigured (SDM 29.3.3.1) */
};

/* Reads the 8-byte entry at L1-physical pa; false if pa is not L1 memory
 * (the walk then sees a not-present entry). */
typedef bool (*ept12_read_fn)(uint64_t pa, uint64_t *entry);

struct ept12_walk {
    enum ept12_status status;
    uint64_t l1_gpa;       /* the translation (EPT12_OK) */
    unsigned level;        /* leaf level: 1 = 4 KiB, 2 = 2 MiB, 3 = 1 GiB */
    uint64_t perms;        /* AND of bits 2:0 over the entries walked */
    uint64_t leaf;         /* the leaf entry */
    unsigned entries;      /* entries walked, including a failing one */
    uint64_t entry_pa[4];  /* where each walked entry lives in L1 memory */
    uint64_t value[4];     /* ... and what it held when read */
};

/* The EPTP checks of VM entry and INVEPT (SDM 26.2.1.1, 31 INVEPT). */
bool ept12_eptp_valid(uint64_t eptp, const struct ept12_caps *caps);
/* Translates gpa for an access needing 'access' (EPT_READ/WRITE/EXEC). */
void ept12_walk(uint64_t eptp, uint64_t gpa, uint64_t access, const struct ept12_caps *caps,
                ept12_read_fn read, struct ept12_walk *w);
/* An EPT violation of this walk is convertible to a #VE (SDM 26.5.7.1)
 * iff bit 63 ("suppress #VE") of the one entry that decides is 0: the
 * entry that was not present, or the leaf whose permissions forbid it. */
bool ept12_violation_convertible(const struct ept12_walk *w);
/* The memory type and ignore-PAT bit of a leaf (SDM 29.3.7). */
unsigned ept12_leaf_memtype(uint64_t leaf);
bool ept12_leaf_ipat(uint64_t leaf);

#endif
