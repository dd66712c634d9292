/* IDT, exception reporting and fault recovery for the tests. */
#include "guest.h"

static struct idt_gate idt[256] __attribute__((aligned(16)));
static irq_handler_t irq_handlers[256];

extern const uint64_t isr_stub_table[256];
extern void rt_try_recover(void);
extern uint64_t rt_jmp[7];
extern volatile uint8_t rt_try_active;
extern uint32_t rt_try_vector;
extern int rt_try(void (*fn)(void *), void *arg);

struct fault_info last_fault;
volatile uint64_t spurious_interrupts;
static bool in_fatal;

static const char *const names[32] = {
    "#DE divide error", "#DB debug", "NMI", "#BP breakpoint", "#OF overflow",
    "#BR bound range", "#UD invalid opcode", "#NM device not available",
    "#DF double fault", "coprocessor segment overrun", "#TS invalid TSS",
    "#NP segment not present", "#SS stack fault", "#GP general protection",
    "#PF page fault", "reserved 15", "#MF x87 error", "#AC alignment check",
    "#MC machine check", "#XM SIMD error", "#VE virtualization exception",
    "#CP control protection", "reserved 22", "reserved 23", "reserved 24",
    "reserved 25", "reserved 26", "reserved 27", "#HV hypervisor injection",
    "#VC VMM communication", "#SX security", "reserved 31",
};

const char *vector_name(int vector)
{
    if (vector >= 0 && vector < 32)
        return names[vector];
    return vector == NO_FAULT ? "no fault" : "interrupt";
}

void trap_init(void)
{
    for (int v = 0; v < 256; v++) {
        idt[v] = idt_gate(isr_stub_table[v], GUEST_CODE_SEL, IDT_GATE_INTR64);
    }
    struct desc_ptr p = {sizeof idt - 1, (uintptr_t)idt};
    lidt(&p);
}

void irq_set_handler(int vector, irq_handler_t handler)
{
    irq_handlers[vector & 255] = handler;
}

static noreturn void fatal(struct trap_frame *f)
{
    if (in_fatal) { /* faulted while reporting: give up quietly */
        com1_write("FAIL nested exception while reporting\n", 38);
        power_off(1);
    }
    in_fatal = true;
    console_break();
    printf("FAIL unexpected exception %lu at RIP %#lx (%s, error %#lx, CR2 %#lx)\n", f->vector,
           f->rip, vector_name((int)f->vector), f->error, read_cr2());
    printf("  RAX %016lx RBX %016lx RCX %016lx RDX %016lx\n", f->rax, f->rbx, f->rcx, f->rdx);
    printf("  RSI %016lx RDI %016lx RBP %016lx RSP %016lx\n", f->rsi, f->rdi, f->rbp, f->rsp);
    printf("  CR0 %016lx CR3 %016lx CR4 %016lx RFLAGS %016lx\n", read_cr0(), read_cr3(),
           read_cr4(), f->rflags);
    fail("exception", "aborted by exception %lu", f->vector);
    guest_finish();
}

void rt_trap(struct trap_frame *f)
{
    int v = (int)f->vector;
    if (v < 32) {
        if (rt_try_active && v != VEC_DF && v != VEC_MC) {
            last_fault = (struct fault_info){v, f->error, f->rip, v == VEC_PF ? read_cr2() : 0};
            rt_try_vector = (uint32_t)v;
            rt_try_active = 0;
            f->rip = (uintptr_t)rt_try_recover;
            f->rsp = rt_jmp[6];
            return;
        }
        fatal(f);
    }
    if (irq_handlers[v])
        irq_handlers[v](f);
    else
        spurious_interrupts++;
}

int try_call(void (*fn)(void *), void *arg)
{
    last_fault = (struct fault_info){NO_FAULT, 0, 0, 0};
    return rt_try(fn, arg);
}

bool expect_fault(int vector, const char *name, void (*fn)(void *), void *arg)
{
    int got = try_call(fn, arg);
    if (got == vector) {
        pass(name);
        return true;
    }
    if (got == NO_FAULT)
        fail(name, "expected %s, no exception", vector_name(vector));
    else
        fail(name, "expected %s, got %s (error %#lx) at RIP %#lx", vector_name(vector),
             vector_name(got), last_fault.error, last_fault.rip);
    return false;
}

/* ---- checked instructions ---- */

struct msr_op {
    uint32_t msr;
    uint64_t value;
};

static void do_rdmsr(void *p)
{
    struct msr_op *op = p;
    op->value = rdmsr(op->msr);
}

static void do_wrmsr(void *p)
{
    struct msr_op *op = p;
    wrmsr(op->msr, op->value);
}

int rdmsr_safe(uint32_t msr, uint64_t *value)
{
    struct msr_op op = {msr, 0};
    int v = try_call(do_rdmsr, &op);
    if (v == NO_FAULT && value)
        *value = op.value;
    return v;
}

int wrmsr_safe(uint32_t msr, uint64_t value)
{
    struct msr_op op = {msr, value};
    return try_call(do_wrmsr, &op);
}

static void do_write_cr0(void *p)
{
    write_cr0(*(uint64_t *)p);
}

static void do_write_cr4(void *p)
{
    write_cr4(*(uint64_t *)p);
}

int write_cr0_safe(uint64_t value)
{
    return try_call(do_write_cr0, &value);
}

int write_cr4_safe(uint64_t value)
{
    return try_call(do_write_cr4, &value);
}

static void do_xsetbv(void *p)
{
    struct msr_op *op = p;
    xsetbv(op->msr, op->value);
}

int xsetbv_safe(uint32_t index, uint64_t value)
{
    struct msr_op op = {index, value};
    return try_call(do_xsetbv, &op);
}
