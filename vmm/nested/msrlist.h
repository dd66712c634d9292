/* The VM-entry MSR-load, VM-exit MSR-store and VM-exit MSR-load lists of
 * vmcs12 (SDM 25.7.2, 25.8.2, 26.4, 28.4, 28.6). */
#ifndef VMM_NESTED_MSRLIST_H
#define VMM_NESTED_MSRLIST_H

#include <stdint.h>

struct vcpu;

/* Loads the list into the guest the current VMCS runs (vmcs02 at entry,
 * vmcs01 at a nested exit) with WRMSR's rules, as the CPU does. Returns 0,
 * or the 1-based index of the entry that failed (the ones before it are
 * done): VM-entry failure 34 at entry, VMX abort 4 at exit. The lists are
 * read as L1 sees its memory (vm_l1_view): RAM, or the sink over
 * nestvisor's memory and beyond RAM; an entry on a device reads as all
 * ones, which fails. */
uint32_t msr_list_load(struct vcpu *v, uint64_t addr, uint64_t count);
/* Stores the MSRs named by the list (0, or the failing entry's index). */
uint32_t msr_list_store(uint64_t addr, uint64_t count);

#endif
