/* L1's own VMCS shadowing, for its L2 (SDM Vol. 3C 25.10; ch. 31 VMREAD
 * and VMWRITE in VMX non-root operation). With "VMCS shadowing" in vmcs12,
 * L2's VMREAD/VMWRITE of a field whose bit is clear in L1's VMREAD/VMWRITE
 * bitmap does not exit to L1: it reads or writes the VMCS that vmcs12's
 * link pointer names, the "shadow vmcs12" (a region L1 prepared with bit 31
 * of its revision dword set, in nestvisor's layout, vmcs12.h).
 *
 * vmcs02 never has shadowing on (vmcs02.c): every VMREAD/VMWRITE of L2
 * exits to L0. The ones L1 asked for go to L1 (nested_vmcs_access_exits in
 * reflect.c); L0 completes the others here, as KVM does.
 *
 * No field is cached: the shadow vmcs12 is read and written in L1's memory
 * at each instruction (only where it and the bitmaps are is looked up once,
 * when vmcs02 is built: nested_shadow12_bind in vmcs02.c). While L2 runs it is never the current vmcs12 of
 * this CPU (26.3.1.5: the link pointer is not the current VMCS), and L1's
 * own changes to a vmcs12 reach its region at VMCLEAR and at the VMPTRLD
 * of another (vmx_insn.c): L2 reads what L1 wrote, and L1 sees L2's writes
 * when it next makes the shadow vmcs12 current. */
#include "vmm/nested/nested.h"
#include "vmm/nested/operand.h"
#include "vmm/nested/vmx_msrs.h"
#include "vmm/vm.h"
#include "arch/x86/cpu_bits.h"
#include "arch/x86/exit_reasons.h"
#include "arch/x86/vmx.h"
#include "arch/x86/vmx_bits.h"
#include "lib/string.h"

/* The checks of ch. 31 that come after the exit condition in VMX non-root
 * operation (the #UD ones come before it: the CPU made them): #GP(0) at
 * CPL > 0, VMfailInvalid when the link pointer is not valid. The shadow
 * vmcs12, or 0 once the instruction is over. */
static struct vmcs12 *l2_checks(struct vcpu *v)
{
    if (vcpu_cpl() > 0) {
        nested_l2_exception(v, VEC_GP, true, 0, 0);
        return 0;
    }
    struct vmcs12 *s = v->nested->shadow12.region;
    if (!s)
        nested_vmfail_invalid(v);
    return s;
}

/* VMsucceed, and what the CPU does after an instruction that completes
 * (exit.c's dispatch does the same for any L2 exit; here too so that the
 * MTF exit comes from nested_l2_exit alone). */
static void completed(struct vcpu *v)
{
    nested_vmsucceed(v);
    nested_l2_instruction_emulated(v);
}

void nested_l2_vmread(struct vcpu *v, const struct vmx_access *a)
{
    /* A region L1 never VMCLEARed reads as empty, as at VMPTRLD. */
    static const struct vmcs12 never_cleared;
    v->nested->stats.l2_vmreads++;
    const struct vmcs12 *s = l2_checks(v);
    if (!s)
        return;
    uint64_t value;
    if (vmcs12_read(s->magic == VMCS12_MAGIC ? s : &never_cleared, a->encoding, &value) != VMCS12_OK) {
        nested_vmfail_valid(v, VMXERR_UNSUPPORTED_VMCS_COMPONENT);
        return;
    }
    if (a->bytes == sizeof(uint32_t))
        value = (uint32_t)value;
    if (a->ii.is_register)
        guest_gpr_write(v, a->ii.reg1, value);
    else if (!operand_write(v, &a->ii, &value, a->bytes))
        return;
    completed(v);
}

void nested_l2_vmwrite(struct vcpu *v, const struct vmx_access *a)
{
    v->nested->stats.l2_vmwrites++;
    struct vmcs12 *s = l2_checks(v);
    if (!s)
        return;
    uint64_t value = 0;
    if (a->ii.is_register)
        value = guest_gpr_read(v, a->ii.reg1);
    else if (!operand_read(v, &a->ii, &value, a->bytes))
        return;
    if (a->bytes == sizeof(uint32_t))
        value = (uint32_t)value;
    bool any = nested_vmx_caps()->vmwrite_any_field;
    if (!nested_vmwrite_allowed(v, vmcs12_write_check(a->encoding, any)))
        return;
    if (s->magic != VMCS12_MAGIC) { /* never VMCLEARed: it starts empty */
        s->magic = VMCS12_MAGIC;
        s->launch_state = VMCS12_CLEAR;
        memset(s->field, 0, sizeof(s->field));
    }
    vmcs12_write(s, a->encoding, value, any);
    nested_l1_stored(VMCS12(v->nested->cache, VMCS_LINK_POINTER), sizeof(*s));
    completed(v);
}
