/* libFuzzer target: "every vmcs02 nestvisor would enter passes the checks".
 *
 * The input fills a vmcs12: a starting layout chosen by the first byte (a
 * valid 64-bit L2 and seven other valid shapes: 32-bit PAE on EPT01 or
 * EPT12, real mode, virtual-8086, CPL 3, HLT with an event, unconditional
 * I/O), then one selector per field (in field-list order) that keeps the
 * value, takes one of a few plausible values for that kind of field, flips
 * a bit or takes 8 raw bytes; or, with bit 4 of the first byte, every field
 * raw from the input. When nested_check_vmcs12 passes, vmcs02_prepare runs
 * on the fake VMCS and the vmcs02 it built is checked:
 *   - its controls against the HARDWARE's capabilities (tigerlake): every
 *     must-be-1 bit set, nothing outside the allowed 1-settings;
 *   - its whole state with nested_check_vmcs12 applied to a vmcs12 rebuilt
 *     from the vmcs02 fields, with the hardware's capabilities in place of
 *     the offered ones and L0's host state (SDM 26.2-26.3);
 *   - the EPT pointer, VPID and link pointer L0 owns; the guest state copied
 *     as it is; the PAE PDPTEs; the merged MSR and I/O bitmaps exiting
 *     exactly when L0 or L1 wants (sampled).
 * The rest of the input then plays L1 after a nested exit: it writes
 * shadowed (hot) fields and bytes of its bitmap pages (with the EPT01
 * write fault a protected page takes), and VMRESUMEs: the static checks
 * are skipped when the controls are unchanged (as vmm/nested/entry.c does),
 * vmcs02 is prepared partially, and the same properties must hold.
 *
 * A finding aborts with the property and the failed check's name. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "vmm/nested/checks.h"
#include "vmm/nested/vmcs02.h"
#include "vmm/nested/vmx_msrs.h"
#include "vmm/nested/fieldsets.h"
#include "vmm/nested/bitmaps.h"
#include "vmm/nested/ept02.h"
#include "vmm/nested/vmcs12.h"
#include "vmm/ept.h"
#include "vmm/io.h"
#include "vmm/msr.h"
#include "vmm/pmm.h"
#include "vmm/vm.h"
#include "arch/x86/cpu_bits.h"
#include "arch/x86/exit_reasons.h"
#include "arch/x86/msr_index.h"
#include "arch/x86/physmem.h"
#include "arch/x86/vmx.h"
#include "arch/x86/vmx_bits.h"
#include "arch/x86/vmx_root.h"
#include "tests/unit/fake_arch.h"
#include "tests/unit/fake_vmx.h"
#include "tests/unit/cpu_models.h"
#include "tests/unit/vmcs12_fixture.h"

struct vm the_vm;
#include "tests/unit/ept02_fixture.h"

__attribute__((noreturn)) void vm_stop(enum power_status status, const char *why)
{
    fprintf(stderr, "fuzz_vmcs12: vm_stop(%d): %s\n", (int)status, why);
    abort();
}

/* The checks read the capabilities through nested_vmx_caps(); fuzz.mk
 * renames vmx_msrs.c's to nested_vmx_caps_offered so that the vmcs02
 * checks can run against the hardware's. */
const struct vmx_caps *nested_vmx_caps_offered(void);
static const struct vmx_caps *caps_override;
const struct vmx_caps *nested_vmx_caps(void) { return caps_override ? caps_override : nested_vmx_caps_offered(); }

#define L1_RAM_BASE   0x100000ULL
#define L1_RAM_END    0x1000000ULL
#define POOL_BASE     0x1000000ULL
#define POOL_PAGES    4096ULL
#define L1_IO_A       0x200000ULL
#define L1_IO_B       0x201000ULL
#define L1_MSR_BMP    0x202000ULL
#define L1_LIST       0x203000ULL
#define L1_PDPT       0x204000ULL
#define LINK_PA       0x205000ULL
#define VMCS12_PA     0x210000ULL
#define EPTP12        (0x300000ULL | EPTP_WALK_4 | EPTP_MEMTYPE_WB)
#define PHYS_BITS     39
#define PHYS_MASK     (((1ULL << PHYS_BITS) - 1) | 0xfffULL)
#define NONCANONICAL  0x0000800000000000ULL
#define L1_PAGES      6

#define AR_V86    0xf3U

static struct vmx_caps hw;
static struct nested_vmx nv;
static struct vcpu *v = &the_vm.vcpus[0];
static struct vmcs12 *c;
static uint8_t l1_pages[L1_PAGES][4096]; /* the pristine contents of L1's pages */
static const uint64_t l1_page_pa[L1_PAGES] = {L1_IO_A, L1_IO_B, L1_MSR_BMP, L1_LIST, L1_PDPT, LINK_PA};

#define V(name) VMCS12(c, name)

static __attribute__((noreturn)) void finding(const char *what, unsigned long long a, unsigned long long b)
{
    fprintf(stderr, "fuzz_vmcs12: FINDING: %s (0x%llx, 0x%llx)\n", what, a, b);
    abort();
}

/* ---- the input ---- */

struct input {
    const uint8_t *p;
    size_t n;
};

static bool more(const struct input *in) { return in->n > 0; }

static uint8_t byte(struct input *in)
{
    if (!in->n)
        return 0;
    in->n--;
    return *in->p++;
}

static uint64_t raw64(struct input *in)
{
    uint64_t x = 0;
    for (unsigned i = 0; i < 8; i++)
        x |= (uint64_t)byte(in) << (8 * i);
    return x;
}

/* ---- one-time setup: L1's memory, EPT01, vmcs01, vmcs02 ---- */

static void init_once(void)
{
    fake_phys_reset();
    fake_vmx_reset();
    fake_msr_clear();
    if (!pmm_init(POOL_BASE, POOL_PAGES * PAGE_SIZE))
        finding("pmm_init", 0, 0);
    vmx_caps_decode(&tigerlake, &hw);
    nested_vmx_msrs_init(&hw);
    the_vm.caps = &hw;
    the_vm.host_mtrr.phys_addr_mask = PHYS_MASK & ~0xfffULL;
    memmap_init(&the_vm.l1_map);
    memmap_set(&the_vm.l1_map, L1_RAM_BASE, L1_RAM_END - L1_RAM_BASE, MEM_USABLE);
    if (!ept_init(&the_vm.ept01, 2) ||
        !ept_map(&the_vm.ept01, 0, 0, L1_RAM_END, EPT_RWX | (MEMTYPE_WB << EPT_MEMTYPE_SHIFT)))
        finding("EPT01", 0, 0);
    the_vm.eptp01 = ept_eptp(&the_vm.ept01, false);
    the_vm.msr_bitmap = pmm_alloc_page();
    the_vm.io_bitmap_a = pmm_alloc_page();
    the_vm.io_bitmap_b = pmm_alloc_page();
    msr_bitmap_build_l1(phys_to_virt(the_vm.msr_bitmap));
    io_bitmaps_build_l1(&the_vm, phys_to_virt(the_vm.io_bitmap_a), phys_to_virt(the_vm.io_bitmap_b));
    uint64_t vmxon = pmm_alloc_page();
    *(uint32_t *)phys_to_virt(vmxon) = hw.revision_id;
    if (!vmx_on(vmxon))
        finding("VMXON", 0, 0);
    v->vmcs01 = pmm_alloc_page();
    vmcs_region_init(&hw, v->vmcs01, false);
    vmcs_load(v->vmcs01);
    fixture_l0_host_state();
    fieldsets_init(true, true, true);
    v->nested = &nv;
    nv.ept02 = &E2;
    nv.vcpu = v;
    nv.current = VMCS12_PA;
    nv.cache = phys_to_virt(pmm_alloc_page());
    c = nv.cache;
    struct ept12_caps ec;
    nested_ept12_caps(PHYS_MASK, &ec);
    ept02_set_caps(&ec);
    if (!ept02_init(&E2, EPT02_POOL_PAGES) || !vmcs02_create(v))
        finding("vmcs02_create", 0, 0);
    /* L1's pages: I/O bitmaps trapping a few ports, an MSR bitmap, an MSR
     * list, a PDPT (valid at 0 and 0x20, a reserved bit at 0x40) and a
     * page holding an ordinary VMCS. */
    memset(l1_pages, 0, sizeof(l1_pages));
    io_bitmap_trap(l1_pages[0], l1_pages[1], 0x3f8, 8);
    io_bitmap_trap(l1_pages[0], l1_pages[1], 0x60, 1);
    io_bitmap_trap(l1_pages[0], l1_pages[1], 0xc000, 4);
    io_bitmap_trap(l1_pages[0], l1_pages[1], 0xffff, 1);
    msr_bitmap_set(l1_pages[2], MSR_IA32_LSTAR, true, true);
    msr_bitmap_set(l1_pages[2], MSR_IA32_SYSENTER_CS, false, true);
    msr_bitmap_set(l1_pages[2], 0x10, true, false);
    uint64_t pdpt[12] = {0x500001, 0x501001, 0x502001, 0x503001, 0x600001, 0, 0x602001, 0,
                         0x700001, 0x701003 /* reserved bit 1 */, 0, 0};
    memcpy(l1_pages[4], pdpt, sizeof(pdpt));
    *(uint32_t *)l1_pages[5] = hw.revision_id;
}

/* ---- the starting layouts (valid vmcs12s) ---- */

static void baseline64(void)
{
    static const struct vmcs12_fixture_pages pages = {L1_IO_A, L1_IO_B, L1_MSR_BMP, EPTP12};
    vmcs12_fixture_64(c, &pages);
    c->revision_id = hw.revision_id;
}

static void guest32_pae(bool ept12)
{
    V(VM_ENTRY_CONTROLS) &= ~(uint64_t)ENTRY_IA32E_MODE_GUEST;
    V(GUEST_IA32_EFER) &= ~(EFER_LMA | EFER_LME);
    V(GUEST_CS_AR_BYTES) = AR_CODE32;
    V(GUEST_RIP) = 0x1000;
    V(GUEST_RSP) = 0x8000;
    V(GUEST_TR_BASE) = 0x9000;
    V(GUEST_GDTR_BASE) = 0xa000;
    V(GUEST_IDTR_BASE) = 0xb000;
    V(GUEST_CR3) = L1_PDPT + 0x20;
    if (!ept12)
        V(SECONDARY_VM_EXEC_CONTROL) &= ~(uint64_t)PROC2_ENABLE_EPT;
    V(GUEST_PDPTE0) = 0x600001;
    V(GUEST_PDPTE2) = 0x602001;
}

static void set_seg(unsigned i, uint16_t sel, uint64_t base, uint32_t limit, uint32_t ar)
{
    c->field[VMCS_IDX_GUEST_ES_SELECTOR + i] = sel;
    c->field[VMCS_IDX_GUEST_ES_BASE + i] = base;
    c->field[VMCS_IDX_GUEST_ES_LIMIT + i] = limit;
    c->field[VMCS_IDX_GUEST_ES_AR_BYTES + i] = ar;
}

static void layout(unsigned which)
{
    baseline64();
    switch (which & 7) {
    case 1: guest32_pae(false); break;
    case 2: guest32_pae(true); break;
    case 3: /* real mode at the reset vector, unrestricted guest */
        V(SECONDARY_VM_EXEC_CONTROL) |= PROC2_UNRESTRICTED_GUEST;
        V(VM_ENTRY_CONTROLS) &= ~(uint64_t)ENTRY_IA32E_MODE_GUEST;
        V(GUEST_IA32_EFER) = 0;
        V(GUEST_CR0) = CR0_NE | CR0_ET;
        V(GUEST_CR4) = CR4_VMXE;
        set_seg(1, 0xf000, 0xf0000, 0xffff, 0x93);
        for (unsigned i = 0; i < 6; i++)
            if (i != 1)
                set_seg(i, 0, 0, 0xffff, 0x93);
        V(GUEST_TR_BASE) = V(GUEST_GDTR_BASE) = V(GUEST_IDTR_BASE) = 0;
        V(GUEST_RIP) = 0xfff0;
        V(GUEST_RSP) = 0;
        break;
    case 4: /* virtual-8086 code of a 32-bit PAE L2 */
        guest32_pae(false);
        V(GUEST_RFLAGS) |= RFLAGS_VM;
        for (unsigned i = 0; i < 6; i++)
            set_seg(i, (uint16_t)(0x1000 * (i + 1)), (uint64_t)0x1000 * (i + 1) << 4, 0xffff, AR_V86);
        V(GUEST_RIP) = 0x100;
        break;
    case 5: /* CPL 3 */
        V(GUEST_CS_SELECTOR) = 0x2b;
        V(GUEST_CS_AR_BYTES) = AR_CODE64 | AR_DPL_MASK;
        V(GUEST_SS_SELECTOR) = 0x33;
        V(GUEST_SS_AR_BYTES) = AR_DATA | AR_DPL_MASK;
        V(GUEST_RIP) = 0x400000;
        break;
    case 6: /* halted, an interrupt to deliver */
        V(GUEST_ACTIVITY_STATE) = ACTIVITY_HLT;
        V(GUEST_RFLAGS) |= RFLAGS_IF;
        V(VM_ENTRY_INTR_INFO_FIELD) = INTR_INFO_VALID | INTR_TYPE_EXT_INTR | 0x30;
        break;
    case 7: /* unconditional I/O, no MSR bitmaps, preemption timer */
        V(CPU_BASED_VM_EXEC_CONTROL) =
            (V(CPU_BASED_VM_EXEC_CONTROL) & ~(uint64_t)(PROC_USE_IO_BITMAPS | PROC_USE_MSR_BITMAPS)) |
            PROC_UNCOND_IO_EXITING;
        V(PIN_BASED_VM_EXEC_CONTROL) |= PIN_PREEMPTION_TIMER;
        V(VM_EXIT_CONTROLS) |= EXIT_SAVE_PREEMPT_TIMER;
        V(VMX_PREEMPTION_TIMER_VALUE) = 100000;
        break;
    default: break;
    }
}

/* ---- plausible values, by kind of field ---- */

#define PICK(arr) (arr)[k % (sizeof(arr) / sizeof((arr)[0]))]

static uint64_t plausible(unsigned i, unsigned k)
{
    uint32_t enc = vmcs12_fields[i].encoding;
    uint64_t cur = c->field[i];
    static const uint64_t sel[] = {0, 0x8, 0x10, 0x13, 0x18, 0x1c, 0x2b, 0x33, 0xf000, 0x1000};
    static const uint64_t ar[] = {AR_CODE64, AR_CODE32, AR_DATA, AR_UNUSABLE, AR_TSS64, 0x83, 0x82, AR_V86,
                                  0x93, 0x9b, 0xc0f3, 0xa0fb, 0x809b, AR_UNUSABLE | AR_DATA, 0xc097};
    static const uint64_t limit[] = {0xffff, 0xffffffff, 0x67, 0xfffff, 0, 0xfff};
    static const uint64_t base[] = {0, 0x10000, 0xf0000, NONCANONICAL, 0xffffffff80000000ULL, 1ULL << 32,
                                    0x7fffffffffffULL};
    static const uint64_t cr0[] = {0x80050033, 0x80000031, 0x31, 0x30, 0x80000011, 0xe0000031, 0x80010033};
    static const uint64_t cr4[] = {0x26a0, 0x2020, 0x2000, 0x22020, 0x20, 0x22a0, 0x2220};
    static const uint64_t cr3[] = {0x400000, L1_PDPT, L1_PDPT + 0x20, L1_PDPT + 0x40, 1ULL << 40, 0x400fff};
    static const uint64_t efer[] = {0, EFER_SCE | EFER_LME | EFER_LMA | EFER_NXE, EFER_LME | EFER_LMA, EFER_NXE,
                                    EFER_LME, EFER_LMA};
    static const uint64_t pat[] = {0x0007040600070406ULL, 0x0606060606060606ULL, 0x0202020202020202ULL, 0};
    static const uint64_t rflags[] = {2, 0x202, 0x20202, 0x302, 0x10002, 0x102, 0x3002};
    static const uint64_t rip[] = {0x1000, 0x100, NONCANONICAL, 1ULL << 32, 0xffffffff80001000ULL, 0xfff0};
    static const uint64_t intr[] = {0, INTR_INFO_VALID | INTR_TYPE_EXT_INTR | 0x20,
                                    INTR_INFO_VALID | INTR_TYPE_NMI | VEC_NMI,
                                    INTR_INFO_VALID | INTR_TYPE_HW_EXCEPTION | INTR_INFO_DELIVER_CODE | VEC_GP,
                                    INTR_INFO_VALID | INTR_TYPE_HW_EXCEPTION | INTR_INFO_DELIVER_CODE | VEC_PF,
                                    INTR_INFO_VALID | INTR_TYPE_HW_EXCEPTION | VEC_UD,
                                    INTR_INFO_VALID | INTR_TYPE_SW_INTR | 0x80,
                                    INTR_INFO_VALID | INTR_TYPE_SW_EXCEPTION | VEC_BP,
                                    INTR_INFO_VALID | INTR_TYPE_PRIV_SW_EXCEPTION | VEC_DB,
                                    INTR_INFO_VALID | INTR_TYPE_HW_EXCEPTION | VEC_DB,
                                    INTR_INFO_VALID | INTR_TYPE_HW_EXCEPTION | VEC_MC};
    static const uint64_t link[] = {VMCS_LINK_NONE, LINK_PA, VMCS12_PA, 0x1234, L1_RAM_END};
    static const uint64_t eptp[] = {EPTP12, EPTP12 | EPTP_AD_ENABLE, (EPTP12 & ~7ULL) | EPTP_MEMTYPE_UC,
                                    EPTP12 & ~EPTP_WALK_MASK, 0x310000ULL | EPTP_WALK_4 | EPTP_MEMTYPE_WB};
    static const uint64_t bitmap[] = {L1_IO_A, L1_IO_B, L1_MSR_BMP, L1_IO_A + 8, L1_RAM_END, 1ULL << 40};
    static const uint64_t list_addr[] = {0, L1_LIST, L1_LIST + 8, L1_RAM_END - 16};
    static const uint64_t count[] = {0, 1, 2, 4, 5, 512, 513};
    static const uint64_t pdpte[] = {0, 0x500001, 0x500003, (1ULL << 45) | 1, 0x500000};
    static const uint64_t generic[] = {0, 1, ~0ULL, 0x1000, 0xffffffff, NONCANONICAL, 0x8000};
    switch (enc) {
    case VMCS_PIN_BASED_VM_EXEC_CONTROL:
    case VMCS_CPU_BASED_VM_EXEC_CONTROL:
    case VMCS_SECONDARY_VM_EXEC_CONTROL:
    case VMCS_VM_EXIT_CONTROLS:
    case VMCS_VM_ENTRY_CONTROLS:
        return cur ^ (1ULL << (k % 32));
    case VMCS_GUEST_CR0:
    case VMCS_HOST_CR0:
    case VMCS_CR0_READ_SHADOW:
        return PICK(cr0);
    case VMCS_GUEST_CR4:
    case VMCS_HOST_CR4:
    case VMCS_CR4_READ_SHADOW:
        return PICK(cr4);
    case VMCS_GUEST_CR3:
    case VMCS_HOST_CR3:
        return PICK(cr3);
    case VMCS_GUEST_IA32_EFER:
    case VMCS_HOST_IA32_EFER:
        return PICK(efer);
    case VMCS_GUEST_IA32_PAT:
    case VMCS_HOST_IA32_PAT:
        return PICK(pat);
    case VMCS_GUEST_RFLAGS: return PICK(rflags);
    case VMCS_GUEST_RIP:
    case VMCS_HOST_RIP: return PICK(rip);
    case VMCS_GUEST_ACTIVITY_STATE: return k % 4;
    case VMCS_GUEST_INTERRUPTIBILITY_INFO: return k % 32;
    case VMCS_GUEST_PENDING_DBG_EXCEPTIONS: return (k & 1 ? 0x4000 : 0) | (k & 2 ? 0x1000 : 0) | (k & 4 ? 0x10000 : 0);
    case VMCS_GUEST_IA32_DEBUGCTL: return k % 4;
    case VMCS_GUEST_DR7: return 0x400 | (k & 1 ? 0xff : 0) | (k & 2 ? 1ULL << 32 : 0);
    case VMCS_VM_ENTRY_INTR_INFO_FIELD: return PICK(intr);
    case VMCS_VM_ENTRY_EXCEPTION_ERROR_CODE: return (uint64_t)(k % 4) << 14;
    case VMCS_VM_ENTRY_INSTRUCTION_LEN: return k % 17;
    case VMCS_VMCS_LINK_POINTER: return PICK(link);
    case VMCS_EPT_POINTER: return PICK(eptp);
    case VMCS_IO_BITMAP_A:
    case VMCS_IO_BITMAP_B:
    case VMCS_MSR_BITMAP: return PICK(bitmap);
    case VMCS_VM_EXIT_MSR_STORE_ADDR:
    case VMCS_VM_EXIT_MSR_LOAD_ADDR:
    case VMCS_VM_ENTRY_MSR_LOAD_ADDR: return PICK(list_addr);
    case VMCS_VM_EXIT_MSR_STORE_COUNT:
    case VMCS_VM_EXIT_MSR_LOAD_COUNT:
    case VMCS_VM_ENTRY_MSR_LOAD_COUNT:
    case VMCS_CR3_TARGET_COUNT: return PICK(count);
    case VMCS_VPID: return k % 3;
    case VMCS_GUEST_PDPTE0:
    case VMCS_GUEST_PDPTE1:
    case VMCS_GUEST_PDPTE2:
    case VMCS_GUEST_PDPTE3: return PICK(pdpte);
    default: break;
    }
    if (vmcs_enc_width(enc) == VMCS_WIDTH_16 && vmcs_enc_type(enc) != VMCS_TYPE_CONTROL)
        return PICK(sel);
    if (i >= VMCS_IDX_GUEST_ES_AR_BYTES && i <= VMCS_IDX_GUEST_TR_AR_BYTES)
        return PICK(ar);
    if (i >= VMCS_IDX_GUEST_ES_LIMIT && i <= VMCS_IDX_GUEST_IDTR_LIMIT)
        return PICK(limit);
    if ((i >= VMCS_IDX_GUEST_ES_BASE && i <= VMCS_IDX_GUEST_IDTR_BASE) ||
        (i >= VMCS_IDX_HOST_FS_BASE && i <= VMCS_IDX_HOST_IA32_SYSENTER_EIP) || enc == VMCS_GUEST_SYSENTER_ESP ||
        enc == VMCS_GUEST_SYSENTER_EIP)
        return PICK(base);
    return PICK(generic);
}

static void set_field(unsigned i, uint64_t value)
{
    c->field[i] = value & vmcs_width_mask(vmcs12_fields[i].encoding); /* as VMWRITE stores it */
}

/* One selector for field i: keep, plausible, flip a bit or raw. */
static void mutate_field(struct input *in, unsigned i)
{
    uint8_t s = byte(in);
    if (s < 0xa0)
        return;
    if (s < 0xe0)
        set_field(i, plausible(i, byte(in)));
    else if (s < 0xf0)
        set_field(i, c->field[i] ^ (1ULL << (byte(in) % 64)));
    else
        set_field(i, raw64(in));
}

/* ---- the properties of a vmcs02 ---- */

static bool fits(uint64_t value, struct vmx_ctl cap)
{
    return ((uint32_t)value & cap.must1) == cap.must1 && !(value & ~(uint64_t)cap.may1);
}

static bool any_ram(uint64_t pa, uint64_t len) { return pa + len >= pa && pa + len <= FAKE_PHYS_SIZE; }
static uint32_t read32(uint64_t pa) { return *(const uint32_t *)phys_to_virt(pa); }
/* L1's memory as the CPU running vmcs02 sees it (vm_l1_view: RAM or the
 * sink; all ones on a device). */
static uint32_t read_view32(uint64_t pa)
{
    const uint32_t *p = vm_l1_view(pa, sizeof(*p));
    return p ? *p : ~0U;
}

/* L0's own pages (its bitmaps, vmcs02's merges). */
static const uint8_t *page_at(uint64_t pa) { return phys_to_virt(pa); }

/* One of L1's bitmap pages as the CPU reads it: outside L1's RAM all ones
 * (the entry checks accept such addresses, SDM 26.2.1.1). */
static const uint8_t *l1_page_at(uint64_t pa)
{
    static uint8_t all_ones[4096];
    const uint8_t *p = vm_l1_ram(pa, sizeof(all_ones));
    if (p)
        return p;
    memset(all_ones, 0xff, sizeof(all_ones));
    return all_ones;
}

/* Does an L1 with this vmcs12 want an I/O exit at port p (SDM 26.1.3)? */
static bool l1_io_exit(unsigned p)
{
    uint64_t proc = V(CPU_BASED_VM_EXEC_CONTROL);
    if (!(proc & PROC_USE_IO_BITMAPS))
        return proc & PROC_UNCOND_IO_EXITING;
    return io_bitmap_exits(l1_page_at(V(IO_BITMAP_A)), l1_page_at(V(IO_BITMAP_B)), (uint16_t)p);
}

static bool vmcs02_io_exit(unsigned p)
{
    uint64_t proc = fake_vmcs_get(VMCS_CPU_BASED_VM_EXEC_CONTROL);
    if (!(proc & PROC_USE_IO_BITMAPS))
        return proc & PROC_UNCOND_IO_EXITING;
    return io_bitmap_exits(page_at(fake_vmcs_get(VMCS_IO_BITMAP_A)), page_at(fake_vmcs_get(VMCS_IO_BITMAP_B)),
                           (uint16_t)p);
}

static bool l1_msr_exit(uint32_t m, bool w)
{
    if (!(V(CPU_BASED_VM_EXEC_CONTROL) & PROC_USE_MSR_BITMAPS))
        return true;
    return msr_bitmap_exits(l1_page_at(V(MSR_BITMAP)), m, w);
}

static bool vmcs02_msr_exit(uint32_t m, bool w)
{
    if (!(fake_vmcs_get(VMCS_CPU_BASED_VM_EXEC_CONTROL) & PROC_USE_MSR_BITMAPS))
        return true;
    return msr_bitmap_exits(page_at(fake_vmcs_get(VMCS_MSR_BITMAP)), m, w);
}

static bool plain_guest(unsigned i)
{
    static bool table[VMCS_FIELD_COUNT], filled;
    if (!filled) {
        for (unsigned k = 0; k < VMCS_FIELD_COUNT; k++)
            table[k] = field_in_set(&fieldsets.guest_hot, k) || field_in_set(&fieldsets.guest_rare, k);
        filled = true;
    }
    return table[i];
}

/* A known divergence, reported and not fixed (FUZZ_VMCS12_STRICT=1 turns
 * it into a finding; tests/fuzz/corpus/vmcs12/known-btf-divergence shows
 * it): without "load debug controls" L2 runs with L1's IA32_DEBUGCTL, so
 * vmcs02 holds L1's value, but the pending-BS check of SDM 26.3.1.5 reads
 * BTF from vmcs12's DEBUGCTL field. When the two BTF bits differ, a vmcs12
 * the CPU would enter gives a vmcs02 the CPU refuses (L1 then sees an
 * entry failure, exit reason 33). KVM has the same behaviour. */
static const struct l1_inherit *cur_l1;

static bool known_btf_divergence(void)
{
    if (getenv("FUZZ_VMCS12_STRICT") || strcmp(nested_check_failed_name(), "pending BS matches single-stepping"))
        return false;
    return !(V(VM_ENTRY_CONTROLS) & ENTRY_LOAD_DEBUG_CONTROLS) &&
           ((cur_l1->debugctl ^ V(GUEST_IA32_DEBUGCTL)) & 2 /* BTF */);
}

static void verify_vmcs02(bool full, const uint8_t *ports)
{
    /* 1. The controls against the hardware (SDM A.3-A.5). */
    static const struct {
        enum vmcs_field f;
        const struct vmx_ctl *cap;
    } ctls[] = {{VMCS_PIN_BASED_VM_EXEC_CONTROL, &hw.pin}, {VMCS_CPU_BASED_VM_EXEC_CONTROL, &hw.proc},
                {VMCS_SECONDARY_VM_EXEC_CONTROL, &hw.proc2}, {VMCS_VM_EXIT_CONTROLS, &hw.exit},
                {VMCS_VM_ENTRY_CONTROLS, &hw.entry}};
    for (unsigned i = 0; i < sizeof(ctls) / sizeof(ctls[0]); i++) {
        uint64_t x = fake_vmcs_get(ctls[i].f);
        if (!fits(x, *ctls[i].cap))
            finding("vmcs02 control outside the hardware's allowed settings", ctls[i].f, x);
    }
    /* 1b. PML and #VE are L0's to emulate for EPT12 (vmm/nested/eptfeat.c):
     * never the CPU's in vmcs02; VM functions only with every function off,
     * so that each VMFUNC of L2 exits to L0 (SDM 26.5.6.1). */
    uint64_t p2 = fake_vmcs_get(VMCS_SECONDARY_VM_EXEC_CONTROL);
    if (p2 & (PROC2_ENABLE_PML | PROC2_EPT_VIOLATION_VE))
        finding("vmcs02 enables PML or EPT-violation #VE", VMCS_SECONDARY_VM_EXEC_CONTROL, p2);
    if ((p2 & PROC2_ENABLE_VMFUNC) && fake_vmcs_get(VMCS_VM_FUNCTION_CONTROL))
        finding("vmcs02 enables a VM function", VMCS_VM_FUNCTION_CONTROL, fake_vmcs_get(VMCS_VM_FUNCTION_CONTROL));
    if ((p2 & PROC2_ENABLE_VMFUNC) && !(V(SECONDARY_VM_EXEC_CONTROL) & PROC2_ENABLE_VMFUNC))
        finding("vmcs02 enables VM functions vmcs12 does not", VMCS_SECONDARY_VM_EXEC_CONTROL, p2);
    /* 2. The whole vmcs02 through the entry checks, hardware capabilities. */
    static struct vmcs12 r02;
    memset(&r02, 0, sizeof(r02));
    for (unsigned i = 0; i < VMCS_FIELD_COUNT; i++)
        r02.field[i] = fake_vmcs_get((enum vmcs_field)vmcs12_fields[i].encoding);
    struct entry_context ctx02 = {
        .l1_long_mode = true,
        .phys_mask = PHYS_MASK,
        .l1_ram = any_ram,
        .read32 = read32,
        .read_view32 = read32,
        .current_vmcs = nv.vmcs02,
    };
    uint64_t q = 0;
    caps_override = &hw;
    enum entry_check_result r = nested_check_vmcs12(&r02, &ctx02, &q);
    caps_override = 0;
    if (r != ENTRY_OK && !known_btf_divergence()) {
        fprintf(stderr, "fuzz_vmcs12: vmcs02 fails the entry checks (class %d, qualification %llu): %s\n", (int)r,
                (unsigned long long)q, nested_check_failed_name());
        for (unsigned i = 0; i < VMCS_FIELD_COUNT; i++)
            if (c->field[i] != r02.field[i])
                fprintf(stderr, "  field 0x%04x: vmcs12 0x%llx vmcs02 0x%llx\n", vmcs12_fields[i].encoding,
                        (unsigned long long)c->field[i], (unsigned long long)r02.field[i]);
        finding("vmcs02 that vmcs12's checks let through fails the hardware's checks", r, q);
    }
    /* 3. What L0 owns. */
    uint64_t eptp = fake_vmcs_get(VMCS_EPT_POINTER);
    if (vmcs12_ept_enabled(c)) {
        uint64_t eptp02 = 0;
        if (!ept02_shadow(&E2, V(EPT_POINTER), &eptp02) || eptp != eptp02)
            finding("vmcs02 EPT pointer is not the shadow of EPTP12", eptp, eptp02);
    } else if (eptp != the_vm.eptp01) {
        finding("vmcs02 EPT pointer is not EPT01", eptp, the_vm.eptp01);
    }
    if (fake_vmcs_get(VMCS_VPID) != NESTED_VPID02 || fake_vmcs_get(VMCS_VMCS_LINK_POINTER) != VMCS_LINK_NONE)
        finding("vmcs02 VPID or link pointer changed", fake_vmcs_get(VMCS_VPID), fake_vmcs_get(VMCS_VMCS_LINK_POINTER));
    /* 4. The guest state as vmcs12 has it. */
    for (unsigned i = 0; i < VMCS_FIELD_COUNT; i++) {
        if (!plain_guest(i) || (!full && !field_in_set(&fieldsets.guest_hot, i)))
            continue;
        if (r02.field[i] != c->field[i])
            finding("vmcs02 guest field differs from vmcs12", vmcs12_fields[i].encoding, r02.field[i]);
    }
    /* 5. PAE PDPTEs under EPT01 are L2's PDPT (SDM 29.3.1). */
    bool pae = (V(GUEST_CR0) & CR0_PG) && (V(GUEST_CR4) & CR4_PAE) && !(V(VM_ENTRY_CONTROLS) & ENTRY_IA32E_MODE_GUEST);
    if (pae) {
        for (unsigned k = 0; k < 4; k++) {
            uint64_t want = vmcs12_ept_enabled(c) ? c->field[VMCS_IDX_GUEST_PDPTE0 + k]
                                                  : ((const uint64_t *)page_at(V(GUEST_CR3) & 0xffffffe0ULL))[k];
            if (r02.field[VMCS_IDX_GUEST_PDPTE0 + k] != want)
                finding("vmcs02 PDPTE is not L2's", k, r02.field[VMCS_IDX_GUEST_PDPTE0 + k]);
        }
    }
    /* 6. Exits: L0's and L1's, no more (sampled ports and MSRs). */
    const uint8_t *l0a = page_at(the_vm.io_bitmap_a), *l0b = page_at(the_vm.io_bitmap_b);
    static const unsigned fixed_ports[] = {0, 0x60, 0x61, 0x64, 0x80, 0x3f7, 0x3f8, 0x3ff, 0x400, 0xcf8, 0xcf9,
                                           0x7fff, 0x8000, 0x8900, 0xc000, 0xc003, 0xfffe, 0xffff};
    for (unsigned k = 0; k < sizeof(fixed_ports) / sizeof(fixed_ports[0]) + 8; k++) {
        unsigned p = k < sizeof(fixed_ports) / sizeof(fixed_ports[0])
                         ? fixed_ports[k]
                         : (unsigned)ports[k % 8] << 8 | ports[(k + 3) % 8];
        bool l1w = l1_io_exit(p), l0w = io_bitmap_exits(l0a, l0b, (uint16_t)p), got = vmcs02_io_exit(p);
        bool uncond = !(V(CPU_BASED_VM_EXEC_CONTROL) & PROC_USE_IO_BITMAPS) &&
                      (V(CPU_BASED_VM_EXEC_CONTROL) & PROC_UNCOND_IO_EXITING);
        if (got != (l1w || l0w) && !(uncond && got))
            finding("vmcs02 I/O exiting is not L0's | L1's", p, got);
    }
    static const uint32_t msrs[] = {0x10, MSR_IA32_SYSENTER_CS, MSR_IA32_EFER, MSR_IA32_LSTAR, MSR_IA32_FS_BASE,
                                    MSR_IA32_APIC_BASE, MSR_X2APIC_FIRST + 8, 0x1fff, 0xc0001fff, 0x2000};
    const uint8_t *l0m = page_at(the_vm.msr_bitmap);
    for (unsigned k = 0; k < sizeof(msrs) / sizeof(msrs[0]); k++)
        for (int w = 0; w < 2; w++) {
            bool want = l1_msr_exit(msrs[k], w) || msr_bitmap_exits(l0m, msrs[k], w);
            if (vmcs02_msr_exit(msrs[k], w) != want)
                finding("vmcs02 MSR exiting is not L0's | L1's", msrs[k], (unsigned long long)w);
        }
}

/* ---- an entry, as vmm/nested/entry.c makes it ---- */

struct key {
    uint64_t pin, proc, proc2, exit, entry;
    bool v86;
};

static struct key key_of(void)
{
    return (struct key){V(PIN_BASED_VM_EXEC_CONTROL), V(CPU_BASED_VM_EXEC_CONTROL), V(SECONDARY_VM_EXEC_CONTROL),
                        V(VM_EXIT_CONTROLS), V(VM_ENTRY_CONTROLS), (V(GUEST_RFLAGS) & RFLAGS_VM) != 0};
}

static bool same_key(struct key a, struct key b)
{
    return a.pin == b.pin && a.proc == b.proc && a.proc2 == b.proc2 && a.exit == b.exit && a.entry == b.entry &&
           a.v86 == b.v86;
}

/* How far inputs get (printed at exit with FUZZ_VMCS12_STATS=1): the
 * seeds and mutations must pass the checks often enough to reach the
 * merge. */
static struct {
    unsigned long inputs, launches_checked, launches_merged, resumes_checked, resumes_merged, static_resumes;
} stats;

static void print_stats(void)
{
    fprintf(stderr,
            "fuzz_vmcs12: %lu inputs; launches: %lu checked, %lu merged and verified; resumes: %lu checked, "
            "%lu merged and verified (%lu with the static checks skipped)\n",
            stats.inputs, stats.launches_checked, stats.launches_merged, stats.resumes_checked,
            stats.resumes_merged, stats.static_resumes);
}

static bool enter(bool launch, bool static_checked, bool l1_long_mode, const struct l1_inherit *l1,
                  const uint8_t *ports)
{
    if (launch)
        stats.launches_checked++;
    else
        stats.resumes_checked++;
    struct entry_context ctx = {
        .l1_long_mode = l1_long_mode,
        .phys_mask = PHYS_MASK,
        .l1_ram = vm_l1_ram_range,
        .read32 = read32,
        .read_view32 = read_view32,
        .current_vmcs = VMCS12_PA,
        .static_checked = static_checked,
    };
    /* As vmm/nested/entry.c: the rare fields come back from vmcs02 before
     * the static checks read them. */
    if (!static_checked)
        nested_sync_rare(v);
    uint64_t q = 0;
    enum entry_check_result r = nested_check_vmcs12(c, &ctx, &q);
    if (r != ENTRY_OK) {
        if (!*nested_check_failed_name())
            finding("a failed check without a name", r, q);
        if (r == ENTRY_FAIL_GUEST && q != ENTRY_FAIL_DEFAULT && q != ENTRY_FAIL_PDPTE && q != ENTRY_FAIL_VMCS_LINK)
            finding("entry-failure qualification", q, 0);
        return false;
    }
    vmcs_load(nv.vmcs02);
    cur_l1 = l1;
    bool ok = vmcs02_prepare(v, l1, launch);
    if (ok) {
        verify_vmcs02(launch, ports);
        if (launch)
            stats.launches_merged++;
        else {
            stats.resumes_merged++;
            stats.static_resumes += static_checked;
        }
    }
    else if (vmcs12_ept_enabled(c) ||
             !((V(GUEST_CR0) & CR0_PG) && (V(GUEST_CR4) & CR4_PAE) && !(V(VM_ENTRY_CONTROLS) & ENTRY_IA32E_MODE_GUEST)))
        finding("vmcs02_prepare refused an entry without PAE PDPTEs to load", 0, 0);
    vmcs_load(v->vmcs01);
    return ok;
}

/* L2 runs and changes its guest state (segments, descriptor tables,
 * SYSENTER MSRs, RIP, RFLAGS...) in vmcs02, the way the CPU would: only to
 * values that keep the guest state valid under the current controls. */
static void l2_runs(struct input *in, bool l1_long_mode)
{
    static struct vmcs12 now;
    unsigned changes = byte(in) % 4;
    for (unsigned k = 0; k < changes && more(in); k++) {
        uint8_t pick = byte(in);
        const struct field_set *s = pick & 0x80 ? &fieldsets.guest_hot : &fieldsets.guest_rare;
        unsigned i = s->idx[pick % s->count];
        now = *c;
        for (unsigned r = 0; r < VMCS_FIELD_COUNT; r++)
            if (plain_guest(r))
                now.field[r] = fake_vmcs_get((enum vmcs_field)vmcs12_fields[r].encoding);
        struct vmcs12 *saved = c;
        c = &now;
        mutate_field(in, i);
        c = saved;
        struct entry_context ctx = {
            .l1_long_mode = l1_long_mode,
            .phys_mask = PHYS_MASK,
            .l1_ram = vm_l1_ram_range,
            .read32 = read32,
            .read_view32 = read_view32,
            .current_vmcs = VMCS12_PA,
        };
        uint64_t q;
        if (nested_check_vmcs12(&now, &ctx, &q) == ENTRY_OK)
            fake_vmcs_set((enum vmcs_field)vmcs12_fields[i].encoding, now.field[i]);
    }
}

/* L1 writes a byte of one of its bitmap pages: a protected page takes the
 * EPT01 write fault first, as vmm/memfault.c routes it. */
static void l1_writes_bitmap(struct input *in)
{
    uint64_t pa = l1_page_pa[byte(in) % 3] + ((unsigned)byte(in) << 4 | (byte(in) & 0xf));
    uint8_t value = byte(in);
    unsigned level;
    uint64_t *e = ept_lookup(&the_vm.ept01, pa, &level);
    if (e && !(*e & EPT_WRITE) && !nested_bitmap_write_fault(pa))
        finding("a write-protected page that is no merged bitmap", pa, 0);
    *(uint8_t *)phys_to_virt(pa) = value;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool inited;
    if (!inited) {
        init_once();
        inited = true;
        if (getenv("FUZZ_VMCS12_STATS"))
            atexit(print_stats);
    }
    stats.inputs++;
    struct input in = {data, size};
    /* A fresh start: no merges, no shadows, L1's pages as built. */
    (nested_bitmaps_unprotect_all(), nested_bitmaps_init(&nv.bitmaps));
    ept02_flush_all(&E2);
    for (unsigned i = 0; i < L1_PAGES; i++)
        memcpy(phys_to_virt(l1_page_pa[i]), l1_pages[i], 4096);
    nv.vpid12_seen = false;
    nv.rare_stale = false;

    uint8_t mode = byte(&in);
    bool l1_long_mode = !(mode & 8);
    static const struct l1_inherit inherit[] = {
        {EFER_SCE | EFER_LME | EFER_LMA | EFER_NXE, 0x0007040600070406ULL, 0, 0x400},
        {EFER_SCE | EFER_LME | EFER_LMA, 0x0606060606060606ULL, 1, 0x401},
        {EFER_NXE, 0x0007040600070406ULL, 2 /* BTF */, 0x4ff},
    };
    const struct l1_inherit *l1 = &inherit[(mode >> 5) % 3];
    uint8_t ports[8];
    for (unsigned i = 0; i < 8; i++)
        ports[i] = byte(&in);
    layout(mode >> 5);
    if (mode & 0x10) {
        for (unsigned i = 0; i < VMCS_FIELD_COUNT; i++)
            set_field(i, raw64(&in));
    } else {
        for (unsigned i = 0; i < VMCS_FIELD_COUNT && more(&in); i++)
            mutate_field(&in, i);
    }
    if (!enter(true, false, l1_long_mode, l1, ports))
        return 0;

    /* L1 after a nested exit: writes shadowed fields and bitmap bytes,
     * then VMRESUMEs, a few times. */
    for (unsigned round = 0; round < 4 && more(&in); round++) {
        vmcs_load(nv.vmcs02);
        l2_runs(&in, l1_long_mode);
        vmcs02_sync_to_vmcs12(v);
        vmcs_load(v->vmcs01);
        struct key before = key_of();
        unsigned writes = byte(&in) % 8;
        for (unsigned w = 0; w < writes && more(&in); w++) {
            uint8_t op = byte(&in);
            if (op < 0x30) {
                l1_writes_bitmap(&in);
                continue;
            }
            const struct field_set *s = &fieldsets.shadow_write;
            unsigned i = s->idx[byte(&in) % s->count];
            mutate_field(&in, i);
        }
        if (!enter(false, same_key(before, key_of()), l1_long_mode, l1, ports))
            return 0;
    }
    return 0;
}
