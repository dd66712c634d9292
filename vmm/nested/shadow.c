/* VMCS shadowing (SDM 25.10, 26.3.1.5): L1's VMREAD/VMWRITE of the hot
 * fields go to a hardware shadow VMCS linked from vmcs01, with no exit.
 * Like KVM, nestvisor keeps its own shadow VMCS and copies the shadowed
 * fields between it and the vmcs12 cache at the points the architecture
 * makes visible: VMPTRLD, VMCLEAR, VMLAUNCH/VMRESUME, nested VM exit. */
#include "vmm/nested/nested.h"
#include "vmm/nested/fieldsets.h"
#include "vmm/pmm.h"
#include "vmm/vm.h"
#include "arch/x86/physmem.h"
#include "arch/x86/vmx.h"
#include "arch/x86/vmx_bits.h"
#include "arch/x86/vmx_root.h"
#include "lib/string.h"

#define VMX_BITMAP_BITS 0x8000U /* indexed by encoding bits 14:0 */

bool nested_shadowing_used(const struct vm *vm) { return vm->cfg.shadow && vm->caps->shadow_vmcs; }

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
    if (!nested_shadowing_used(vm))
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
    for (unsigned i = 0; i < fieldsets.shadow_read.count; i++)
        clear_field(rd, vmcs12_fields[fieldsets.shadow_read.idx[i]].encoding);
    for (unsigned i = 0; i < fieldsets.shadow_write.count; i++)
        clear_field(wr, vmcs12_fields[fieldsets.shadow_write.idx[i]].encoding);
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
static void leave_shadow(struct nested_vmx *n) { vmcs_load(n->vcpu->vmcs01); }

static void copy_from_shadow(struct nested_vmx *n, const struct field_set *set)
{
    enter_shadow(n);
    fieldset_read(n->cache, set);
    leave_shadow(n);
}

static void copy_to_shadow(struct nested_vmx *n, const struct field_set *set)
{
    enter_shadow(n);
    fieldset_write(n->cache, set);
    leave_shadow(n);
}

static bool shadow_live(const struct nested_vmx *n)
{
    return n->shadow_enabled && n->current != VMCS_LINK_NONE;
}

void shadow_pull(struct nested_vmx *n)
{
    if (shadow_live(n))
        copy_from_shadow(n, &fieldsets.shadow_write);
}

void shadow_push(struct nested_vmx *n)
{
    if (shadow_live(n))
        copy_to_shadow(n, &fieldsets.shadow_read);
}

void shadow_push_exit(struct nested_vmx *n)
{
    if (shadow_live(n))
        copy_to_shadow(n, &fieldsets.exit_push);
}

void shadow_push_field(struct nested_vmx *n, enum vmcs_field_index i)
{
    if (!shadow_live(n) || !field_in_set(&fieldsets.shadow_read, i))
        return;
    enter_shadow(n);
    vmcs_write((enum vmcs_field)vmcs12_fields[i].encoding, n->cache->field[i]);
    leave_shadow(n);
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
