/* VMCS shadowing (SDM 25.10, 26.3.1.5): L1's VMREAD/VMWRITE of the hot
 * fields go to a hardware shadow VMCS linked from vmcs01, with no exit.
 * Like KVM, nestvisor keeps its own shadow VMCS and copies the shadowed
 * fields between it and the vmcs12 cache at the points the architecture
 * makes visible: VMPTRLD, VMCLEAR, VMLAUNCH/VMRESUME, nested VM exit. */
#include "vmm/nested/nested.h"
#include "vmm/pmm.h"
#include "vmm/vm.h"
#include "arch/x86/physmem.h"
#include "arch/x86/vmx.h"
#include "arch/x86/vmx_bits.h"
#include "arch/x86/vmx_root.h"
#include "lib/string.h"

#define VMX_BITMAP_BITS 0x8000U /* indexed by encoding bits 14:0 */

/* Read-only fields can be put into the shadow VMCS only where the CPU lets
 * L0 VMWRITE them (IA32_VMX_MISC bit 29). */
bool shadow_field(enum vmcs_field_index i, bool write)
{
    const struct vmcs12_field_info *f = &vmcs12_fields[i];
    if (!(f->flags & FIELD_SHADOW) || (f->flags & FIELD_L0_ONLY))
        return false;
    if (vmcs_enc_type(f->encoding) == VMCS_TYPE_READONLY)
        return !write && the_vm.caps->vmwrite_any_field;
    return true;
}

static void clear_bit(uint8_t *bitmap, uint32_t enc)
{
    unsigned b = enc & (VMX_BITMAP_BITS - 1);
    bitmap[b / 8] &= (uint8_t)~(1U << (b % 8));
}

static void clear_field(uint8_t *bitmap, uint32_t enc)
{
    clear_bit(bitmap, enc);
    if (vmcs_enc_width(enc) == VMCS_WIDTH_64)
        clear_bit(bitmap, enc | VMCS_ENC_HIGH_ACCESS);
}

bool shadow_init(struct vm *vm, struct nested_vmx *n)
{
    n->shadow_enabled = false;
    if (!vm->cfg.shadow || !vm->caps->shadow_vmcs)
        return true;
    n->shadow_vmcs = pmm_alloc_page();
    n->vmread_bitmap = pmm_alloc_page();
    n->vmwrite_bitmap = pmm_alloc_page();
    if (!n->shadow_vmcs || !n->vmread_bitmap || !n->vmwrite_bitmap ||
        !vmcs_region_init(vm->caps, n->shadow_vmcs, true))
        return false;
    uint8_t *rd = phys_to_virt(n->vmread_bitmap), *wr = phys_to_virt(n->vmwrite_bitmap);
    memset(rd, 0xff, PAGE_SIZE);
    memset(wr, 0xff, PAGE_SIZE);
    for (unsigned i = 0; i < VMCS_FIELD_COUNT; i++) {
        if (shadow_field(i, false))
            clear_field(rd, vmcs12_fields[i].encoding);
        if (shadow_field(i, true))
            clear_field(wr, vmcs12_fields[i].encoding);
    }
    vmcs_write(VMCS_VMREAD_BITMAP, n->vmread_bitmap);
    vmcs_write(VMCS_VMWRITE_BITMAP, n->vmwrite_bitmap);
    vmcs_write(VMCS_VMCS_LINK_POINTER, VMCS_LINK_NONE);
    n->shadow_enabled = true;
    return true;
}

/* Shadowing is on only while L1 is in VMX operation: outside it, L1's
 * VMREAD/VMWRITE must exit to get their #UD (with shadowing on the CPU
 * would answer VMfailInvalid itself). */
void shadow_set_vmx_operation(struct nested_vmx *n, bool on)
{
    if (!n->shadow_enabled)
        return;
    uint32_t proc2 = vmcs_read32(VMCS_SECONDARY_VM_EXEC_CONTROL);
    vmcs_write(VMCS_SECONDARY_VM_EXEC_CONTROL,
               on ? proc2 | PROC2_VMCS_SHADOWING : proc2 & ~PROC2_VMCS_SHADOWING);
}

/* Runs with the shadow VMCS current, then makes vmcs01 current again
 * (these run while L1 is the guest, with vmcs01 loaded). */
static void enter_shadow(struct nested_vmx *n) { vmcs_load(n->shadow_vmcs); }
static void leave_shadow(struct vcpu *v) { vmcs_load(v->vmcs01); }

void shadow_pull(struct nested_vmx *n)
{
    if (!n->shadow_enabled || n->current == VMCS_LINK_NONE)
        return;
    enter_shadow(n);
    for (unsigned i = 0; i < VMCS_FIELD_COUNT; i++)
        if (shadow_field(i, true))
            n->cache->field[i] = vmcs_read((enum vmcs_field)vmcs12_fields[i].encoding);
    leave_shadow(&the_vm.vcpu);
}

void shadow_push(struct nested_vmx *n)
{
    if (!n->shadow_enabled || n->current == VMCS_LINK_NONE)
        return;
    enter_shadow(n);
    for (unsigned i = 0; i < VMCS_FIELD_COUNT; i++)
        if (shadow_field(i, false))
            vmcs_write((enum vmcs_field)vmcs12_fields[i].encoding, n->cache->field[i]);
    leave_shadow(&the_vm.vcpu);
}

void shadow_push_field(struct nested_vmx *n, enum vmcs_field_index i)
{
    if (!n->shadow_enabled || n->current == VMCS_LINK_NONE || !shadow_field(i, false))
        return;
    enter_shadow(n);
    vmcs_write((enum vmcs_field)vmcs12_fields[i].encoding, n->cache->field[i]);
    leave_shadow(&the_vm.vcpu);
}

void shadow_activate(struct nested_vmx *n)
{
    if (!n->shadow_enabled)
        return;
    shadow_push(n);
    vmcs_write(VMCS_VMCS_LINK_POINTER, n->shadow_vmcs);
}

void shadow_deactivate(struct nested_vmx *n)
{
    if (n->shadow_enabled)
        vmcs_write(VMCS_VMCS_LINK_POINTER, VMCS_LINK_NONE);
}
