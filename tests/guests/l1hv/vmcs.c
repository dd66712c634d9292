/* The L2 environment, VMCS set-up and the run loop helpers. */
#include "l1hv.h"

/* ---- pages ---- */
#define ALIGNED_PAGE __attribute__((aligned(PAGE_SIZE)))
uint8_t vmxon_region[PAGE_SIZE] ALIGNED_PAGE;
uint8_t io_bitmap_a[PAGE_SIZE] ALIGNED_PAGE;
uint8_t io_bitmap_b[PAGE_SIZE] ALIGNED_PAGE;
uint8_t msr_bitmap[PAGE_SIZE] ALIGNED_PAGE;
uint8_t scratch_page[PAGE_SIZE] ALIGNED_PAGE;
static uint8_t vmcs_regions[NUM_VCPUS][PAGE_SIZE] ALIGNED_PAGE;

#define L2_STACK_SIZE 16384
static uint8_t l2_stacks[NUM_VCPUS][L2_STACK_SIZE] ALIGNED_PAGE;

struct vcpu vcpus[NUM_VCPUS];

/* ---- L2's page tables: identity map of 0-4 GiB with 2 MiB pages; the
 * PDPT entry for 4-5 GiB is left not present. Accessed and dirty flags are
 * preset, so L2 never writes its own tables (ept_ad relies on it). ---- */
#define PTE_P  (1ULL << 0)
#define PTE_W  (1ULL << 1)
#define PTE_A  (1ULL << 5)
#define PTE_D  (1ULL << 6)
#define PTE_PS (1ULL << 7)
#define PTE_TABLE (PTE_P | PTE_W | PTE_A)
#define L2_MAPPED_GIB 4
#define ENTRIES 512

static uint64_t l2_pml4[ENTRIES] ALIGNED_PAGE;
static uint64_t l2_pdpt[ENTRIES] ALIGNED_PAGE;
static uint64_t l2_pd[L2_MAPPED_GIB][ENTRIES] ALIGNED_PAGE;
uint64_t l2_cr3;
uint64_t l2_unmapped_addr;

/* ---- L2's descriptor tables ---- */
#define L2_SEL_CS  0x08
#define L2_SEL_DS  0x10
#define L2_SEL_TR  0x18
#define GDT_CODE64 0x00209a0000000000ULL /* P, DPL 0, code exec/read, L */
#define GDT_DATA   0x00cf92000000ffffULL /* P, DPL 0, data read/write, 4 GiB */
#define TSS_LIMIT  0x67
#define L2_IDT_VECTORS 32

static uint64_t l2_gdt[5] __attribute__((aligned(16)));
static struct idt_gate l2_idt[L2_IDT_VECTORS] __attribute__((aligned(16)));
static uint8_t l2_tss[TSS_LIMIT + 1] __attribute__((aligned(16)));

/* A 16-byte system-segment descriptor (Vol. 3A 7.2.3): limit 15:0, base
 * 23:0, type, present, limit 19:16, base 31:24, then base 63:32. */
#define DESC_TYPE_SHIFT 40
#define DESC_PRESENT    (1ULL << 47)
void tss_descriptor(uint64_t *d, uint64_t base, uint32_t limit, uint8_t type)
{
    d[0] = (limit & 0xffff) | ((base & 0xffffff) << 16) | ((uint64_t)type << DESC_TYPE_SHIFT) |
           DESC_PRESENT | ((uint64_t)((limit >> 16) & 0xf) << 48) |
           (((base >> 24) & 0xff) << 56);
    d[1] = base >> 32;
}

void l2_env_init(void)
{
    for (unsigned g = 0; g < L2_MAPPED_GIB; g++) {
        l2_pdpt[g] = (uintptr_t)l2_pd[g] | PTE_TABLE;
        for (unsigned i = 0; i < ENTRIES; i++)
            l2_pd[g][i] = ((uint64_t)g * ENTRIES + i) * PAGE_2M | PTE_TABLE | PTE_D | PTE_PS;
    }
    l2_pml4[0] = (uintptr_t)l2_pdpt | PTE_TABLE;
    l2_cr3 = (uintptr_t)l2_pml4;
    l2_unmapped_addr = ((uint64_t)L2_MAPPED_GIB << 30) + 0x5000;

    l2_gdt[0] = 0;
    l2_gdt[L2_SEL_CS / 8] = GDT_CODE64;
    l2_gdt[L2_SEL_DS / 8] = GDT_DATA;
    tss_descriptor(&l2_gdt[L2_SEL_TR / 8], (uintptr_t)l2_tss, TSS_LIMIT, AR_TYPE_TSS64_BUSY);
    for (int v = 0; v < L2_IDT_VECTORS; v++) {
        l2_idt[v] = idt_gate(l2_exc_stubs[v], L2_SEL_CS, IDT_GATE_INTR64);
    }
    for (int i = 0; i < NUM_VCPUS; i++) {
        vcpus[i].vmcs = vmcs_regions[i];
        vcpus[i].stack_top = l2_stacks[i] + L2_STACK_SIZE;
    }
    vcpus[0].name = "vmcs-A";
    vcpus[1].name = "vmcs-B";
}

/* ---- VMREAD/VMWRITE conveniences ---- */
static unsigned setup_errors;
static uint64_t setup_first_bad;

uint64_t vmr(uint64_t field)
{
    uint64_t v = 0;
    if (vmread_r(field, &v) != VMX_OK) {
        if (!setup_errors++)
            setup_first_bad = field;
        return 0;
    }
    return v;
}

void vmw(uint64_t field, uint64_t value)
{
    if (vmwrite_r(field, value) != VMX_OK && !setup_errors++)
        setup_first_bad = field;
}

void vmx_setup_errors_reset(void)
{
    setup_errors = 0;
    setup_first_bad = 0;
}

unsigned vmx_setup_errors(uint64_t *first_field)
{
    if (first_field)
        *first_field = setup_first_bad;
    return setup_errors;
}

uint32_t vmx_instruction_error(void)
{
    uint64_t v = 0;
    if (vmread_r(VMCS_VM_INSTRUCTION_ERROR, &v) != VMX_OK)
        return ~0u;
    return (uint32_t)v;
}

const char *vmx_result_name(int r)
{
    switch (r) {
    case VMX_OK:
        return "VMsucceed";
    case VMX_FAIL_INVALID:
        return "VMfailInvalid";
    case VMX_FAIL_VALID:
        return "VMfailValid";
    default:
        return "?";
    }
}

/* ---- host state: L1 as it runs now ---- */
static void write_host_state(void)
{
    struct desc_ptr idtr;
    sidt(&idtr);
    vmw(VMCS_HOST_CR0, read_cr0());
    vmw(VMCS_HOST_CR3, read_cr3());
    vmw(VMCS_HOST_CR4, read_cr4());
    vmw(VMCS_HOST_CS_SEL, SEL_KERNEL_CS);
    vmw(VMCS_HOST_SS_SEL, SEL_KERNEL_DS);
    vmw(VMCS_HOST_DS_SEL, SEL_KERNEL_DS);
    vmw(VMCS_HOST_ES_SEL, SEL_KERNEL_DS);
    vmw(VMCS_HOST_FS_SEL, SEL_KERNEL_DS);
    vmw(VMCS_HOST_GS_SEL, SEL_KERNEL_DS);
    vmw(VMCS_HOST_TR_SEL, SEL_TSS);
    vmw(VMCS_HOST_FS_BASE, rdmsr(MSR_FS_BASE));
    vmw(VMCS_HOST_GS_BASE, rdmsr(MSR_GS_BASE));
    vmw(VMCS_HOST_TR_BASE, l1_tss_base);
    vmw(VMCS_HOST_GDTR_BASE, l1_gdt_base);
    vmw(VMCS_HOST_IDTR_BASE, idtr.base);
    vmw(VMCS_HOST_SYSENTER_CS, rdmsr(MSR_SYSENTER_CS));
    vmw(VMCS_HOST_SYSENTER_ESP, rdmsr(MSR_SYSENTER_ESP));
    vmw(VMCS_HOST_SYSENTER_EIP, rdmsr(MSR_SYSENTER_EIP));
    if (cap_exit(EXIT_LOAD_EFER))
        vmw(VMCS_HOST_EFER, rdmsr(MSR_EFER));
    vmw(VMCS_HOST_RIP, (uintptr_t)vmx_exit_landing);
}

/* ---- guest state: a flat 64-bit L2 at CPL 0 ---- */
#define AR_CODE64 (AR_TYPE_CODE_XR_ACCESSED | AR_S | AR_P | AR_L | AR_G)
#define AR_DATA   (AR_TYPE_DATA_RW_ACCESSED | AR_S | AR_P | AR_DB | AR_G)
#define AR_TR     (AR_TYPE_TSS64_BUSY | AR_P)
#define FLAT_LIMIT 0xffffffffu

static void write_guest_state(struct vcpu *v, void (*entry)(void))
{
    static const uint32_t data_sel[] = {VMCS_GUEST_ES_SEL, VMCS_GUEST_SS_SEL, VMCS_GUEST_DS_SEL,
                                        VMCS_GUEST_FS_SEL, VMCS_GUEST_GS_SEL};
    /* Each data segment's fields are at the same offset from the ES ones. */
    for (unsigned i = 0; i < ARRAY_SIZE(data_sel); i++) {
        uint32_t k = data_sel[i] - VMCS_GUEST_ES_SEL;
        vmw(data_sel[i], L2_SEL_DS);
        vmw(VMCS_GUEST_ES_LIMIT + k, FLAT_LIMIT);
        vmw(VMCS_GUEST_ES_AR + k, AR_DATA);
        vmw(VMCS_GUEST_ES_BASE + k, 0);
    }
    vmw(VMCS_GUEST_CS_SEL, L2_SEL_CS);
    vmw(VMCS_GUEST_CS_LIMIT, FLAT_LIMIT);
    vmw(VMCS_GUEST_CS_AR, AR_CODE64);
    vmw(VMCS_GUEST_CS_BASE, 0);
    vmw(VMCS_GUEST_TR_SEL, L2_SEL_TR);
    vmw(VMCS_GUEST_TR_LIMIT, TSS_LIMIT);
    vmw(VMCS_GUEST_TR_AR, AR_TR);
    vmw(VMCS_GUEST_TR_BASE, (uintptr_t)l2_tss);
    vmw(VMCS_GUEST_LDTR_SEL, 0);
    vmw(VMCS_GUEST_LDTR_LIMIT, 0);
    vmw(VMCS_GUEST_LDTR_AR, AR_UNUSABLE);
    vmw(VMCS_GUEST_LDTR_BASE, 0);
    vmw(VMCS_GUEST_GDTR_BASE, (uintptr_t)l2_gdt);
    vmw(VMCS_GUEST_GDTR_LIMIT, sizeof l2_gdt - 1);
    vmw(VMCS_GUEST_IDTR_BASE, (uintptr_t)l2_idt);
    vmw(VMCS_GUEST_IDTR_LIMIT, sizeof l2_idt - 1);

    vmw(VMCS_GUEST_CR0, read_cr0() & ~CR0_TS);
    vmw(VMCS_GUEST_CR3, l2_cr3);
    vmw(VMCS_GUEST_CR4, read_cr4()); /* has PAE and the fixed VMXE */
    vmw(VMCS_GUEST_DR7, DR7_INIT);
    vmw(VMCS_GUEST_DEBUGCTL, 0);
    vmw(VMCS_GUEST_RSP, (uintptr_t)v->stack_top);
    vmw(VMCS_GUEST_RIP, (uintptr_t)entry);
    vmw(VMCS_GUEST_RFLAGS, RFLAGS_RESERVED_1);
    vmw(VMCS_GUEST_PENDING_DBG, 0);
    vmw(VMCS_GUEST_INTERRUPTIBILITY, 0);
    vmw(VMCS_GUEST_ACTIVITY_STATE, ACTIVITY_ACTIVE);
    vmw(VMCS_GUEST_SYSENTER_CS, 0);
    vmw(VMCS_GUEST_SYSENTER_ESP, 0);
    vmw(VMCS_GUEST_SYSENTER_EIP, 0);
    vmw(VMCS_LINK_POINTER, VMCS_LINK_POINTER_NONE);
    if (cap_entry(ENTRY_LOAD_EFER))
        vmw(VMCS_GUEST_EFER, rdmsr(MSR_EFER) | EFER_LME | EFER_LMA);
}

static void write_controls(void)
{
    vmw(VMCS_PIN_CONTROLS, ctl_value(caps.ctl_pin, 0));
    vmw(VMCS_PROC_CONTROLS, ctl_value(caps.ctl_proc, 0));
    if (cap_proc(PROC_SECONDARY_CONTROLS))
        vmw(VMCS_PROC_CONTROLS2, ctl_value(caps.ctl_proc2, 0));
    uint32_t exit = EXIT_HOST_ADDR_SPACE_SIZE;
    if (cap_exit(EXIT_SAVE_EFER | EXIT_LOAD_EFER))
        exit |= EXIT_SAVE_EFER | EXIT_LOAD_EFER;
    vmw(VMCS_EXIT_CONTROLS, ctl_value(caps.ctl_exit, exit));
    uint32_t entry = ENTRY_IA32E_MODE_GUEST;
    if (cap_entry(ENTRY_LOAD_EFER))
        entry |= ENTRY_LOAD_EFER;
    vmw(VMCS_ENTRY_CONTROLS, ctl_value(caps.ctl_entry, entry));
    vmw(VMCS_EXCEPTION_BITMAP, 0);
    vmw(VMCS_PF_ERROR_MASK, 0);
    vmw(VMCS_PF_ERROR_MATCH, 0);
    vmw(VMCS_CR3_TARGET_COUNT, 0);
    vmw(VMCS_EXIT_MSR_STORE_COUNT, 0);
    vmw(VMCS_EXIT_MSR_LOAD_COUNT, 0);
    vmw(VMCS_ENTRY_MSR_LOAD_COUNT, 0);
    vmw(VMCS_ENTRY_INTR_INFO, 0);
    vmw(VMCS_CR0_GUEST_HOST_MASK, 0);
    vmw(VMCS_CR4_GUEST_HOST_MASK, 0);
    vmw(VMCS_CR0_READ_SHADOW, 0);
    vmw(VMCS_CR4_READ_SHADOW, 0);
    if (cap_proc(PROC_TSC_OFFSETTING))
        vmw(VMCS_TSC_OFFSET, 0);
    /* Fields of features the CPU lacks may not exist: only write those. */
    if (cap_proc(PROC_USE_IO_BITMAPS)) {
        vmw(VMCS_IO_BITMAP_A, (uintptr_t)io_bitmap_a);
        vmw(VMCS_IO_BITMAP_B, (uintptr_t)io_bitmap_b);
    }
    if (cap_proc(PROC_USE_MSR_BITMAPS))
        vmw(VMCS_MSR_BITMAP, (uintptr_t)msr_bitmap);
}

bool vcpu_setup(struct vcpu *v, void (*entry)(void))
{
    memset(&v->regs, 0, sizeof v->regs);
    v->launched = false;
    v->entry_result = VMX_OK;
    v->entry_error = 0;
    v->reason = 0;
    /* The region may still be active from an earlier use: VMCLEAR it first
     * (the processor may write cached data back), only then initialize the
     * memory (25.11.1: never write to the region of an active VMCS). */
    vmclear(vmcs_pa(v));
    memset(v->vmcs, 0, PAGE_SIZE);
    *(uint32_t *)v->vmcs = caps.revision; /* bit 31 clear: an ordinary VMCS */
    int r = vmclear(vmcs_pa(v));
    if (!expect(r == VMX_OK, "VMCLEAR of %s: %s", v->name, vmx_outcome(r)))
        return false;
    r = vmptrld(vmcs_pa(v));
    if (!expect(r == VMX_OK, "VMPTRLD of %s: %s", v->name, vmx_outcome(r)))
        return false;
    vmx_setup_errors_reset();
    write_controls();
    write_host_state();
    write_guest_state(v, entry);
    uint64_t bad;
    unsigned n = vmx_setup_errors(&bad);
    return expect(n == 0, "VMCS set-up of %s: %u VMWRITEs failed, first field %#lx (error %u)",
                  v->name, n, bad, vmx_instruction_error());
}

bool vcpu_clear(struct vcpu *v)
{
    int r = vmclear(vmcs_pa(v));
    v->launched = false;
    return expect(r == VMX_OK, "VMCLEAR of %s: %s", v->name, vmx_outcome(r));
}

bool vcpu_run(struct vcpu *v)
{
    int r = vmx_enter(&v->regs, v->launched);
    v->entry_result = r;
    v->entry_error = 0;
    v->reason = 0;
    if (r != VMX_OK) {
        if (r == VMX_FAIL_VALID)
            v->entry_error = vmx_instruction_error();
        return false;
    }
    uint64_t reason = 0;
    vmread_r(VMCS_EXIT_REASON, &reason);
    v->reason = (uint32_t)reason;
    if (v->reason & EXIT_REASON_ENTRY_FAILURE)
        return false;
    v->launched = true;
    return true;
}

void vcpu_skip_instruction(void)
{
    vmw(VMCS_GUEST_RIP, vmr(VMCS_GUEST_RIP) + vmr(VMCS_EXIT_INSTR_LEN));
}

void l2_restart(struct vcpu *v, void (*entry)(void))
{
    vmw(VMCS_GUEST_RIP, (uintptr_t)entry);
    vmw(VMCS_GUEST_RSP, (uintptr_t)v->stack_top);
}

const char *exit_describe(const struct vcpu *v)
{
    static char buf[200];
    const char *insn = v->launched ? "VMRESUME" : "VMLAUNCH";
    if (v->entry_result == VMX_FAIL_VALID) {
        snprintf(buf, sizeof buf, "%s VMfailValid(error %u)", insn, v->entry_error);
        return buf;
    }
    if (v->entry_result != VMX_OK) {
        snprintf(buf, sizeof buf, "%s VMfailInvalid", insn);
        return buf;
    }
    snprintf(buf, sizeof buf,
             "exit reason %u%s qual %#lx RIP %#lx intr-info %#lx len %lu (r8 %#lx r14 %#lx)",
             v->reason & EXIT_REASON_BASIC_MASK,
             v->reason & EXIT_REASON_ENTRY_FAILURE ? " (entry failure)" : "",
             vmr(VMCS_EXIT_QUALIFICATION), vmr(VMCS_GUEST_RIP), vmr(VMCS_EXIT_INTR_INFO),
             vmr(VMCS_EXIT_INSTR_LEN), v->regs.r8, v->regs.r14);
    return buf;
}

bool run_expect(struct vcpu *v, uint32_t reason, const char *what)
{
    vcpu_run(v);
    if (v->entry_result == VMX_OK && v->reason == reason)
        return true; /* (exit_describe() costs VMREADs: only on failure) */
    return expect(false, "%s: expected exit reason %u, got %s", what, reason, exit_describe(v));
}

void vmcs_set_bits(uint64_t field, uint32_t bits)
{
    vmw(field, vmr(field) | bits);
}

void vmcs_clear_bits(uint64_t field, uint32_t bits)
{
    vmw(field, vmr(field) & ~(uint64_t)bits);
}

void vmcs_enable_proc2(uint32_t bits)
{
    vmcs_set_bits(VMCS_PROC_CONTROLS, PROC_SECONDARY_CONTROLS);
    vmcs_set_bits(VMCS_PROC_CONTROLS2, bits);
}
