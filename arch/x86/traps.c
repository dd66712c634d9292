#include "arch/x86/traps.h"
#include "arch/x86/gdt.h"
#include "arch/x86/cpu.h"
#include "arch/x86/cpu_bits.h"
#include "drivers/power.h"
#include "drivers/fbcon.h"
#include "lib/log.h"

#define IDT_VECTORS 256
#define IDT_INTERRUPT_GATE 0x8e

struct __attribute__((packed)) idt_entry {
    uint16_t offset_low;
    uint16_t selector;
    uint8_t ist;
    uint8_t type_attr;
    uint16_t offset_mid;
    uint32_t offset_high;
    uint32_t reserved;
};

/* An exception at 'insn' resumes at 'fixup' (rdmsr_safe and friends). */
struct extable_entry {
    uint64_t insn;
    uint64_t fixup;
};

extern const uint64_t isr_stub_table[IDT_VECTORS];
extern const struct extable_entry __extable_start[], __extable_end[];

static struct idt_entry idt[IDT_VECTORS] __attribute__((aligned(16)));

static const char *const exception_names[32] = {
    "#DE divide error", "#DB debug", "NMI", "#BP breakpoint", "#OF overflow",
    "#BR bound range", "#UD invalid opcode", "#NM device not available", "#DF double fault",
    "coprocessor overrun", "#TS invalid TSS", "#NP segment not present", "#SS stack fault",
    "#GP general protection", "#PF page fault", "reserved", "#MF x87 error",
    "#AC alignment check", "#MC machine check", "#XM SIMD error", "#VE virtualization",
    "#CP control protection",
};

static uint8_t ist_for_vector(unsigned v)
{
    switch (v) {
    case VEC_DF: return IST_DF;
    case VEC_NMI: return IST_NMI;
    case VEC_MC: return IST_MC;
    default: return 0;
    }
}

void idt_init(void)
{
    for (unsigned v = 0; v < IDT_VECTORS; v++) {
        uint64_t addr = isr_stub_table[v];
        idt[v] = (struct idt_entry){
            .offset_low = (uint16_t)addr,
            .selector = GDT_KERNEL_CS,
            .ist = ist_for_vector(v),
            .type_attr = IDT_INTERRUPT_GATE,
            .offset_mid = (uint16_t)(addr >> 16),
            .offset_high = (uint32_t)(addr >> 32),
        };
    }
    idt_load();
}

void idt_load(void)
{
    struct descriptor_table_ptr idtr = {sizeof(idt) - 1, (uint64_t)idt};
    __asm__ volatile("lidt %0" ::"m"(idtr));
}

static void dump_frame(const struct trap_frame *f)
{
    const char *name = f->vector < 32 && exception_names[f->vector] ? exception_names[f->vector]
                                                                   : "interrupt";
    log_error("L0 exception: vector %llu (%s), error code 0x%llx\n",
              (unsigned long long)f->vector, name, (unsigned long long)f->error);
    log_error("  RIP %016llx  CS %04llx  RFLAGS %016llx  RSP %016llx  SS %04llx\n",
              (unsigned long long)f->rip, (unsigned long long)f->cs,
              (unsigned long long)f->rflags, (unsigned long long)f->rsp,
              (unsigned long long)f->ss);
    log_error("  CR0 %016llx  CR2 %016llx  CR3 %016llx  CR4 %016llx\n",
              (unsigned long long)read_cr0(), (unsigned long long)read_cr2(),
              (unsigned long long)read_cr3(), (unsigned long long)read_cr4());
    log_error("  RAX %016llx  RBX %016llx  RCX %016llx  RDX %016llx\n",
              (unsigned long long)f->rax, (unsigned long long)f->rbx,
              (unsigned long long)f->rcx, (unsigned long long)f->rdx);
    log_error("  RSI %016llx  RDI %016llx  RBP %016llx  R8  %016llx\n",
              (unsigned long long)f->rsi, (unsigned long long)f->rdi,
              (unsigned long long)f->rbp, (unsigned long long)f->r8);
    log_error("  R9  %016llx  R10 %016llx  R11 %016llx  R12 %016llx\n",
              (unsigned long long)f->r9, (unsigned long long)f->r10,
              (unsigned long long)f->r11, (unsigned long long)f->r12);
    log_error("  R13 %016llx  R14 %016llx  R15 %016llx\n", (unsigned long long)f->r13,
              (unsigned long long)f->r14, (unsigned long long)f->r15);
}

static void (*nmi_handler)(void);

void traps_set_nmi_handler(void (*fn)(void)) { nmi_handler = fn; }

/* arch/x86/vmx_entry.asm: from the last look at the CPU's attention flag
 * to VMLAUNCH/VMRESUME. */
extern const char vmx_entry_window[], vmx_entry_window_end[];

void trap_dispatch(struct trap_frame *f)
{
    if (f->vector == VEC_NMI && nmi_handler) {
        /* An NMI just before a VM entry: look at the flag again, or what the
         * NMI asked for waits until the guest's next exit. */
        if (f->rip >= (uint64_t)vmx_entry_window && f->rip <= (uint64_t)vmx_entry_window_end)
            f->rip = (uint64_t)vmx_entry_window;
        nmi_handler();
        return;
    }
    for (const struct extable_entry *e = __extable_start; e < __extable_end; e++) {
        if (e->insn == f->rip) {
            f->rip = e->fixup;
            return;
        }
    }
    fbcon_reclaim();
    dump_frame(f);
    log_error("nestvisor stopped: unexpected exception in L0\n");
    power_off(POWER_PANIC);
}

/* The instruction at label 1 may fault; the fixup at 3 sets 'fault' and
 * resumes after it. */
bool rdmsr_safe(uint32_t msr, uint64_t *value)
{
    uint32_t lo = 0, hi = 0;
    int fault = 0;
    __asm__ volatile("1: rdmsr\n2:\n"
                     ".pushsection .extable, \"a\"\n .quad 1b, 3f\n .popsection\n"
                     ".pushsection .text.fixup, \"ax\"\n3: movl $1, %2\n jmp 2b\n .popsection"
                     : "+a"(lo), "+d"(hi), "+r"(fault)
                     : "c"(msr));
    *value = ((uint64_t)hi << 32) | lo;
    return !fault;
}

bool wrmsr_safe(uint32_t msr, uint64_t value)
{
    int fault = 0;
    __asm__ volatile("1: wrmsr\n2:\n"
                     ".pushsection .extable, \"a\"\n .quad 1b, 3f\n .popsection\n"
                     ".pushsection .text.fixup, \"ax\"\n3: movl $1, %0\n jmp 2b\n .popsection"
                     : "+r"(fault)
                     : "c"(msr), "a"((uint32_t)value), "d"((uint32_t)(value >> 32))
                     : "memory");
    return !fault;
}
