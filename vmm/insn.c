#include "vmm/insn.h"
#include "vmm/vm.h"
#include "arch/x86/cpu.h"
#include "arch/x86/cpu_bits.h"
#include "arch/x86/vmx.h"
#include "arch/x86/vmx_bits.h"
#include "lib/log.h"

#define XCR0_X87      (1ULL << 0)
#define XCR0_SSE      (1ULL << 1)
#define XCR0_YMM      (1ULL << 2)
#define XCR0_BNDREGS  (1ULL << 3)
#define XCR0_BNDCSR   (1ULL << 4)
#define XCR0_AVX512   (7ULL << 5) /* opmask, ZMM_Hi256, Hi16_ZMM */

bool xcr0_valid(uint64_t value, uint64_t supported)
{
    if (!(value & XCR0_X87) || (value & ~supported))
        return false;
    if ((value & XCR0_YMM) && !(value & XCR0_SSE))
        return false;
    if (!!(value & XCR0_BNDREGS) != !!(value & XCR0_BNDCSR))
        return false;
    if ((value & XCR0_AVX512) && ((value & XCR0_AVX512) != XCR0_AVX512 || !(value & XCR0_YMM)))
        return false;
    return true;
}

void handle_xsetbv(struct vcpu *v)
{
    struct cpuid_regs r;
    cpuid_query(CPUID_LEAF_XSAVE, 0, &r);
    uint64_t supported = ((uint64_t)r.edx << 32) | r.eax;
    uint64_t value = (v->regs.rdx << 32) | (uint32_t)v->regs.rax;
    if (vcpu_cpl() != 0 || (uint32_t)v->regs.rcx != 0 || !xcr0_valid(value, supported)) {
        vcpu_inject_gp(v);
        return;
    }
    /* L0 never uses extended state (-mgeneral-regs-only), so XCR0 can hold
     * L1's value while L0 runs. */
    xsetbv(0, value);
    vcpu_skip_instruction(v);
}

void handle_invd(struct vcpu *v)
{
    /* Dropping dirty lines would lose memory L0 or L1 wrote: write back. */
    wbinvd();
    vcpu_skip_instruction(v);
}

void handle_wbinvd(struct vcpu *v)
{
    wbinvd();
    vcpu_skip_instruction(v);
}

void handle_hlt(struct vcpu *v)
{
    /* Resume in the HLT activity state: the CPU waits for L1's next
     * interrupt in non-root operation (SDM 25.4.2). */
    vcpu_skip_instruction(v);
    vmcs_write(VMCS_GUEST_ACTIVITY_STATE, ACTIVITY_HLT);
}

void handle_triple_fault(struct vcpu *v)
{
    vcpu_dump(v, "L1 triple fault");
    vm_stop(POWER_GUEST_FAULT, "L1 triple fault");
}

void handle_vmx_instruction_disabled(struct vcpu *v)
{
    /* With VMX hidden, CR4.VMXE is clear for L1 and VMX instructions #UD. */
    vcpu_inject_ud(v);
}
