/* The fake of the VMX layer (arch/x86/vmx.h under UNIT_TEST) and of the
 * privileged instructions the exit handlers execute (the UNIT_TEST part of
 * arch/x86/cpu.h and arch/x86/gdt.h), for tests that link vmm/ sources which
 * touch the VMCS. List tests/unit/fake_vmx.c in the test's unit-srcs line.
 *
 * VMCS regions live in a small table keyed by physical address. Each holds
 * every field of arch/x86/vmcs_fields.h, stored at the width its encoding
 * gives (SDM 25.11.2: VMWRITE drops the bits above a 16- or 32-bit field,
 * VMREAD zero-extends). Failures follow the instruction pages of SDM Vol. 3C
 * ch. 31: VMREAD/VMWRITE of an encoding outside VMCS_FIELD_LIST fail with
 * VM-instruction error 12 (unsupported VMCS component), VMWRITE of a
 * read-only field with error 13 unless "VMWRITE to any field" is on (the
 * default, as on the Bochs models nestvisor runs on), and with no current
 * VMCS they fail invalid. The kernel's vmcs_read/vmcs_write ignore failures,
 * so here they abort the test instead: code under test that reads or writes
 * without a current VMCS is a bug. */
#ifndef TESTS_UNIT_FAKE_VMX_H
#define TESTS_UNIT_FAKE_VMX_H

#include <stdbool.h>
#include <stdint.h>
#include "arch/x86/vmcs_fields.h"

#define FAKE_VMCS_SLOTS 16 /* three per vCPU with VMCS shadowing, for several vCPUs */
#define FAKE_NO_VMCS    (~0ULL) /* what VMPTRST stores without a current VMCS */

/* VMX off, no VMCS regions, every counter and log cleared, CRs zero. */
void fake_vmx_reset(void);

/* The current VMCS, as the test sees it (no width checks beyond storage,
 * read-only fields writable): aborts if there is no current VMCS. */
uint64_t fake_vmcs_get(enum vmcs_field f);
void fake_vmcs_set(enum vmcs_field f, uint64_t v);
/* True if the code under test wrote f with vmcs_write/vmcs_try_write since
 * the region was created (fake_vmcs_set does not count). */
bool fake_vmcs_written(enum vmcs_field f);
/* Any region by address, current or not; aborts if the region is unknown. */
uint64_t fake_vmcs_get_at(uint64_t pa, enum vmcs_field f);
/* Number of VMCS regions the fake has seen (VMCLEAR or VMPTRLD). */
unsigned fake_vmcs_regions(void);

/* VMX operation. */
bool fake_vmx_is_on(void);
uint64_t fake_vmxon_pa(void);
/* If nonzero, VMXON and VMPTRLD check the revision identifier in the first
 * dword of the region in fake memory (SDM 31.3 VMXON/VMPTRLD). */
void fake_vmx_require_revision(uint32_t rev);
/* IA32_VMX_MISC bit 29: VMWRITE may write read-only fields. */
void fake_vmx_set_vmwrite_any(bool on);

/* INVEPT and INVVPID: how often, and the last operands. */
unsigned fake_invept_count(void);
unsigned fake_invvpid_count(void);
void fake_invept_last(uint64_t *type, uint64_t *eptp);
void fake_invvpid_last(uint64_t *type, uint16_t *vpid, uint64_t *gla);

/* Port I/O: every IN and OUT in order; INs return what fake_port_set_in
 * gave the port (else all ones, as an empty bus). */
#define FAKE_PORT_LOG 64
struct fake_port_access {
    uint16_t port;
    uint8_t size; /* 1, 2 or 4 */
    bool in;
    uint32_t value;
};
unsigned fake_port_count(void);
const struct fake_port_access *fake_port_log(unsigned i);
void fake_port_set_in(uint16_t port, uint32_t value);

/* CR0, CR3 and CR4; descriptor-table registers; caches; XCR0. */
void fake_cr_set(unsigned n, uint64_t v);
uint64_t fake_cr_get(unsigned n);
void fake_gdtr_set(uint64_t base, uint16_t limit);
void fake_idtr_set(uint64_t base, uint16_t limit);
unsigned fake_wbinvd_count(void);
unsigned fake_xsetbv_count(void);
uint64_t fake_xcr0(void);

#endif
