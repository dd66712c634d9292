#include "vmm/nested/operand.h"
#include "vmm/gva.h"
#include "vmm/vcpu.h"
#include "vmm/nested/nested.h"
#include "arch/x86/cpu_bits.h"
#include "arch/x86/vmx.h"
#include "arch/x86/vmx_bits.h"

#define SEG_ES 0
#define SEG_SS 2
#define SEG_FS 4
#define SEG_GS 5
#define GPR_RSP 4
#define CANONICAL_BITS 48

void vmx_insn_info_decode(uint32_t raw, struct vmx_insn_info *o)
{
    o->scale = raw & 3;
    o->reg1 = (raw >> 3) & 15;
    o->addr_size = (raw >> 7) & 7;
    o->is_register = (raw >> 10) & 1;
    o->segment = (raw >> 15) & 7;
    o->index = (raw >> 18) & 15;
    o->index_valid = !((raw >> 22) & 1);
    o->base = (raw >> 23) & 15;
    o->base_valid = !((raw >> 27) & 1);
    o->reg2 = (raw >> 28) & 15;
}

bool guest_in_64bit_mode(void)
{
    return (vmcs_read(VMCS_GUEST_IA32_EFER) & EFER_LMA) && (vmcs_read32(VMCS_GUEST_CS_AR_BYTES) & AR_L);
}

unsigned vmx_operand_bytes(void) { return guest_in_64bit_mode() ? sizeof(uint64_t) : sizeof(uint32_t); }

uint64_t vmx_field_operand(struct vcpu *v, const struct vmx_insn_info *ii)
{
    uint64_t enc = guest_gpr_read(v, ii->reg2);
    return guest_in_64bit_mode() ? enc : (uint32_t)enc;
}

void vmx_access_decode(struct vcpu *v, struct vmx_access *a)
{
    vmx_insn_info_decode(vmcs_read32(VMCS_VMX_INSTRUCTION_INFO), &a->ii);
    bool wide = guest_in_64bit_mode();
    a->bytes = wide ? sizeof(uint64_t) : sizeof(uint32_t);
    a->encoding = guest_gpr_read(v, a->ii.reg2);
    if (!wide)
        a->encoding = (uint32_t)a->encoding;
}

uint64_t guest_gpr_read(struct vcpu *v, unsigned n)
{
    return (n & 15) == GPR_RSP ? vmcs_read(VMCS_GUEST_RSP) : *guest_gpr(&v->regs, n);
}

void guest_gpr_write(struct vcpu *v, unsigned n, uint64_t value)
{
    if ((n & 15) == GPR_RSP)
        vmcs_write(VMCS_GUEST_RSP, value);
    else
        *guest_gpr(&v->regs, n) = value;
}

static bool canonical(uint64_t a)
{
    int64_t s = (int64_t)(a << (64 - CANONICAL_BITS)) >> (64 - CANONICAL_BITS);
    return (uint64_t)s == a;
}

/* A fault of the instruction: to L1 if it is L1's; L2's go through L1's
 * exception bitmap and EPT12 (nested/vmexit.c). */
static void deliver(struct vcpu *v, const struct gva_fault *f)
{
    if (v->in_l2)
        nested_l2_fault(v, f);
    else
        gva_inject_fault(v, f);
}

static void inject_segment_fault(struct vcpu *v, unsigned segment)
{
    deliver(v, &(struct gva_fault){.vector = segment == SEG_SS ? VEC_SS : VEC_GP});
}

bool operand_linear_address(struct vcpu *v, const struct vmx_insn_info *ii, uint64_t size,
                            uint64_t *gla)
{
    uint64_t ea = (uint64_t)vmcs_read(VMCS_EXIT_QUALIFICATION); /* displacement */
    if (ii->base_valid)
        ea += guest_gpr_read(v, ii->base);
    if (ii->index_valid)
        ea += guest_gpr_read(v, ii->index) << ii->scale;
    if (ii->addr_size == 0)
        ea &= 0xffff;
    else if (ii->addr_size == 1)
        ea &= 0xffffffffULL;
    /* Segment fields are laid out at stride 2 from ES (SDM Appendix B). */
    enum vmcs_field base_f = (enum vmcs_field)(VMCS_GUEST_ES_BASE + 2 * ii->segment);
    enum vmcs_field limit_f = (enum vmcs_field)(VMCS_GUEST_ES_LIMIT + 2 * ii->segment);
    enum vmcs_field ar_f = (enum vmcs_field)(VMCS_GUEST_ES_AR_BYTES + 2 * ii->segment);
    if (guest_in_64bit_mode()) {
        uint64_t base = (ii->segment == SEG_FS || ii->segment == SEG_GS) ? vmcs_read(base_f) : 0;
        *gla = base + ea;
        if (!canonical(*gla) || !canonical(*gla + size - 1)) {
            inject_segment_fault(v, ii->segment);
            return false;
        }
        return true;
    }
    uint32_t ar = vmcs_read32(ar_f);
    uint64_t limit = vmcs_read32(limit_f);
    if ((ar & AR_UNUSABLE) || ea + size - 1 > limit || ea + size - 1 < ea) {
        inject_segment_fault(v, ii->segment);
        return false;
    }
    *gla = (vmcs_read(base_f) + ea) & 0xffffffffULL;
    return true;
}

static bool access(struct vcpu *v, const struct vmx_insn_info *ii, void *buf, uint64_t size,
                   bool write)
{
    uint64_t gla;
    struct gva_fault f;
    if (!operand_linear_address(v, ii, size, &gla))
        return false;
    bool ok = write ? gva_write(gla, buf, size, &f) : gva_read(gla, buf, size, &f);
    if (!ok)
        deliver(v, &f);
    return ok;
}

bool operand_read(struct vcpu *v, const struct vmx_insn_info *ii, void *buf, uint64_t size)
{
    return access(v, ii, buf, size, false);
}

bool operand_write(struct vcpu *v, const struct vmx_insn_info *ii, const void *buf, uint64_t size)
{
    return access(v, ii, (void *)buf, size, true);
}
