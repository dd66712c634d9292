/* VMLAUNCH/VMRESUME from L1: the checks of SDM 26.1-26.4 in order, then
 * vmcs02 is prepared and the exit stub enters L2 on it. */
#include "vmm/nested/nested.h"
#include "vmm/nested/checks.h"
#include "vmm/nested/ept02.h"
#include "vmm/nested/msrlist.h"
#include "vmm/nested/vmcs02.h"
#include "vmm/sipi.h"
#include "vmm/vm.h"
#include "arch/x86/cpu_bits.h"
#include "arch/x86/exit_reasons.h"
#include "arch/x86/physmem.h"
#include "arch/x86/vmx.h"
#include "arch/x86/vmx_bits.h"
#include "lib/log.h"

static uint32_t read_l1_dword(uint64_t pa) { return *(const uint32_t *)phys_to_virt(pa); }

static uint32_t read_l1_view_dword(uint64_t pa)
{
    const uint32_t *p = vm_l1_view(pa, sizeof(*p));
    return p ? __atomic_load_n(p, __ATOMIC_RELAXED) : ~0U;
}

static bool same_check_key(const struct check_key *a, const struct check_key *b)
{
    return a->pin == b->pin && a->proc == b->proc && a->proc2 == b->proc2 && a->exit == b->exit &&
           a->entry == b->entry && a->l1_long_mode == b->l1_long_mode && a->v86 == b->v86;
}

/* L1 handled the EPT violation it was given and resumes L2 where it
 * faulted, with no event to inject: L2's next act is the same access. */
static void nested_prefault(struct nested_vmx *n, bool launch)
{
    if (!n->prefault.pending)
        return;
    n->prefault.pending = false;
    struct vmcs12 *c = n->cache;
    if (launch || n->current != n->prefault.vmcs12 || !vmcs12_ept_enabled(c) ||
        VMCS12(c, GUEST_RIP) != n->prefault.rip ||
        (VMCS12(c, VM_ENTRY_INTR_INFO_FIELD) & INTR_INFO_VALID))
        return;
    uint64_t eptp12 = VMCS12(c, EPT_POINTER);
    struct ept02_pml pml, *log = nested_pml_begin(c, &pml);
    bool filled = ept02_prefault(n->ept02, eptp12, n->prefault.gpa, n->prefault.qualification, log);
    nested_pml_end(c, log);
    if (filled)
        vmcs_write(VMCS_EPT_POINTER, ept02_eptp_for(n->ept02, eptp12)); /* a reclaim may have moved it */
}

static void nested_enter(struct vcpu *v, bool launch)
{
    struct nested_vmx *n = v->nested;
    /* An NMI of L1's that arrived before this instruction is L1's to take
     * first (it runs VMLAUNCH/VMRESUME again after its handler). */
    if (v->nmi_pending && !(vmcs_read32(VMCS_GUEST_INTERRUPTIBILITY_INFO) &
                            (INTERRUPTIBILITY_STI | INTERRUPTIBILITY_MOV_SS | INTERRUPTIBILITY_NMI)))
        return;
    if (!nested_vmx_insn_allowed(v))
        return;
    /* SDM 26.1: no current VMCS, or a shadow VMCS current (25.10), is
     * VMfailInvalid. */
    if (!nested_has_current(v) || (n->cache->revision_id & VMCS_SHADOW_INDICATOR)) {
        nested_vmfail_invalid(v);
        return;
    }
    if (vmcs_read32(VMCS_GUEST_INTERRUPTIBILITY_INFO) & INTERRUPTIBILITY_MOV_SS) {
        nested_vmfail_valid(v, VMXERR_ENTRY_EVENTS_BLOCKED_BY_MOV_SS);
        return;
    }
    shadow_pull(n);
    if (launch && n->cache->launch_state != VMCS12_CLEAR) {
        nested_vmfail_valid(v, VMXERR_VMLAUNCH_NONCLEAR_VMCS);
        return;
    }
    if (!launch && n->cache->launch_state != VMCS12_LAUNCHED) {
        nested_vmfail_valid(v, VMXERR_VMRESUME_NONLAUNCHED_VMCS);
        return;
    }
    struct entry_context ctx = {
        .l1_long_mode = vmcs_read(VMCS_GUEST_IA32_EFER) & EFER_LMA,
        .phys_mask = the_vm.host_mtrr.phys_addr_mask | 0xfffULL,
        .l1_ram = vm_l1_ram_range,
        .read32 = read_l1_dword,
        .read_view32 = read_l1_view_dword,
        .current_vmcs = n->current,
    };
    struct check_key key = {
        .pin = (uint32_t)VMCS12(n->cache, PIN_BASED_VM_EXEC_CONTROL),
        .proc = (uint32_t)VMCS12(n->cache, CPU_BASED_VM_EXEC_CONTROL),
        .proc2 = (uint32_t)VMCS12(n->cache, SECONDARY_VM_EXEC_CONTROL),
        .exit = (uint32_t)VMCS12(n->cache, VM_EXIT_CONTROLS),
        .entry = (uint32_t)VMCS12(n->cache, VM_ENTRY_CONTROLS),
        .l1_long_mode = ctx.l1_long_mode,
        .v86 = VMCS12(n->cache, GUEST_RFLAGS) & RFLAGS_VM,
    };
    ctx.static_checked = n->vmcs02_for_current && !launch && n->static_checked &&
                         same_check_key(&key, &n->check_key);
    /* The static checks read the rare guest fields: they must see what L2
     * left in vmcs02, not the cache's older copy. */
    if (!ctx.static_checked)
        nested_sync_rare(v);
    uint64_t qual;
    switch (nested_check_vmcs12(n->cache, &ctx, &qual)) {
    case ENTRY_FAIL_CONTROLS:
        log_debug("nested: VM entry refused: %s\n", nested_check_failed_name());
        nested_vmfail_valid(v, VMXERR_ENTRY_INVALID_CONTROL_FIELD);
        return;
    case ENTRY_FAIL_HOST:
        log_debug("nested: VM entry refused: %s\n", nested_check_failed_name());
        nested_vmfail_valid(v, VMXERR_ENTRY_INVALID_HOST_STATE);
        return;
    case ENTRY_FAIL_GUEST:
        log_debug("nested: VM entry fails: %s\n", nested_check_failed_name());
        nested_entry_failure(v, EXIT_REASON_INVALID_GUEST_STATE, qual);
        return;
    case ENTRY_OK:
        break;
    }
    n->static_checked = true;
    n->check_key = key;
    struct l1_inherit l1 = {
        .efer = vmcs_read(VMCS_GUEST_IA32_EFER),
        .pat = vmcs_read(VMCS_GUEST_IA32_PAT),
        .debugctl = vmcs_read(VMCS_GUEST_IA32_DEBUGCTL),
        .dr7 = vmcs_read(VMCS_GUEST_DR7),
    };
    vmcs_load(n->vmcs02);
    if (!vmcs02_prepare(v, &l1, launch || !n->vmcs02_for_current)) {
        vmcs_load(v->vmcs01);
        nested_entry_failure(v, EXIT_REASON_INVALID_GUEST_STATE, ENTRY_FAIL_PDPTE);
        return;
    }
    uint32_t bad = msr_list_load(v, VMCS12(n->cache, VM_ENTRY_MSR_LOAD_ADDR),
                                 VMCS12(n->cache, VM_ENTRY_MSR_LOAD_COUNT));
    if (bad) {
        vmcs_load(v->vmcs01);
        nested_entry_failure(v, EXIT_REASON_MSR_LOADING, bad);
        return;
    }
    nested_prefault(n, launch);
    n->entry_was_launch = launch;
    if (launch)
        n->cache->launch_state = VMCS12_LAUNCHED;
    n->vmcs02_for_current = true;
    v->in_l2 = true;
    if (VMCS12(n->cache, GUEST_ACTIVITY_STATE) == ACTIVITY_WAIT_SIPI) {
        sipi_wait_l2(v); /* back in L1 by the SIPI exit */
        return;
    }
    /* An INIT L1 blocked in VMX root operation (or an L2 in wait-for-SIPI
     * held) exits as soon as L2 can take it (SDM 25.2). */
    if (v->init_pending) {
        v->init_pending = false;
        nested_vmexit_signal(v, EXIT_REASON_INIT_SIGNAL, 0);
        return;
    }
    v->regs.launch = !n->vmcs02_launched;
    n->vmcs02_launched = true;
}

void handle_vmlaunch(struct vcpu *v) { nested_enter(v, true); }
void handle_vmresume(struct vcpu *v) { nested_enter(v, false); }

/* L0's checks passed but the CPU refused vmcs02: an L0 bug. L1 gets the
 * architectural VMfail and nestvisor keeps running. */
void nested_vmcs02_entry_failed(struct vcpu *v, uint32_t error)
{
    struct nested_vmx *n = v->nested;
    n->stats.vmcs02_hw_failures++;
    log_error("BUG: the CPU refused vmcs02 (VM-instruction error %u) although vmcs12 passed L0's checks\n",
              error);
    vmcs_load(v->vmcs01);
    v->in_l2 = false;
    n->vmcs02_launched = false;
    vmcs_clear(n->vmcs02);
    if (n->entry_was_launch)
        n->cache->launch_state = VMCS12_CLEAR;
    n->vmcs02_for_current = false;
    nested_vmfail_valid(v, error == VMXERR_ENTRY_INVALID_HOST_STATE ? VMXERR_ENTRY_INVALID_HOST_STATE
                                                                     : VMXERR_ENTRY_INVALID_CONTROL_FIELD);
}
