/* The test-guest runtime: everything a guest in tests/guests/ can use.
 *
 * A guest defines
 *     const char guest_name[] = "NAME";
 *     void guest_main(uint32_t magic, uint32_t info);
 * The entry stub switches to long mode and calls rt_entry(), which sets up
 * the IDT, parses the Multiboot information, detects nestvisor, prints
 * "GUEST NAME START ..." and calls guest_main(). When guest_main returns,
 * the runtime prints "GUEST NAME DONE <n> passed <m> failed" and powers
 * off with status 0 (all passed) or 1. */
#ifndef GUEST_RT_H
#define GUEST_RT_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdnoreturn.h>

#include "cpu.h"
#include "vmm/hypercall_abi.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define PRINTF_LIKE(f, a) __attribute__((format(printf, f, a)))

/* ---- provided by the guest ---- */
extern const char guest_name[];
void guest_main(uint32_t magic, uint32_t info);

/* ---- strings (string.c) ---- */
void *memset(void *d, int c, size_t n);
void *memcpy(void *restrict d, const void *restrict s, size_t n);
void *memmove(void *d, const void *s, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
size_t strnlen(const char *s, size_t max);
int strcmp(const char *a, const char *b);
int strncmp(const char *a, const char *b, size_t n);
char *strchr(const char *s, int c);
/* Parses decimal or 0x-hex; *end (if given) gets the first unparsed char. */
uint64_t strtou64(const char *s, const char **end);

/* ---- formatted output (format.c, console.c) ----
 * %d %i %u %x %X %o %c %s %p %%, flags '-' '0' '+' ' ' '#', width and
 * precision (also '*'), length modifiers hh h l ll z j t. */
int vsnprintf(char *buf, size_t size, const char *fmt, va_list ap);
int snprintf(char *buf, size_t size, const char *fmt, ...) PRINTF_LIKE(3, 4);
int vprintf(const char *fmt, va_list ap);
int printf(const char *fmt, ...) PRINTF_LIKE(1, 2);
int puts(const char *s); /* appends '\n' */
int putchar(int c);
/* Output is line-buffered: through NV_HC_CONSOLE_WRITE when nestvisor is
 * present, else straight to COM1. */
void console_flush(void);
void console_break(void); /* flushes a partial line with a '\n' */
/* Writes bytes to COM1 with port I/O, whatever the console mode. */
void com1_write(const char *s, size_t n);
void com1_init(void);
void com1_drain(void); /* waits for LSR.TEMT */
#define COM1_PORT 0x3f8

/* ---- test bookkeeping (test.c) ----
 * Case names are printed as "<guest>.<case>". */
void pass(const char *name);
void fail(const char *name, const char *fmt, ...) PRINTF_LIKE(2, 3);
/* pass(name) if ok, else fail(name, fmt, ...). Returns ok. */
bool check(bool ok, const char *name, const char *fmt, ...) PRINTF_LIKE(3, 4);
/* "SKIP <guest>.<case>: reason": neither passed nor failed. */
void skip(const char *name, const char *fmt, ...) PRINTF_LIKE(2, 3);
unsigned tests_passed(void);
unsigned tests_failed(void);
/* Prints the GUEST ... DONE line and powers off (status 0 iff no failure). */
noreturn void guest_finish(void);
/* Powers off: NV_HC_POWER_OFF under nestvisor, else the Bochs port 0x8900. */
noreturn void power_off(int status);

/* ---- boot information (multiboot.c) ---- */
#define MB1_BOOTLOADER_MAGIC 0x2BADB002
#define MB2_BOOTLOADER_MAGIC 0x36D76289
#define MEM_USABLE   1
#define MEM_RESERVED 2
#define MEM_ACPI     3
#define MEM_NVS      4
#define MEM_BAD      5
#define BOOT_MAX_MMAP 128
#define BOOT_MAX_MODS 16

struct mem_range {
    uint64_t base, len;
    uint32_t type;
};

struct boot_module {
    uint64_t start, end;
    const char *string;
};

struct boot_info {
    int version;            /* 1 or 2; 0 if the magic was not recognized */
    uint32_t magic, info;   /* as the loader passed them */
    const char *cmdline;    /* never NULL ("" if none) */
    const char *loader;     /* boot loader name, or "" */
    uint32_t mem_lower_kb, mem_upper_kb;
    unsigned n_mmap;        /* sorted by base */
    struct mem_range mmap[BOOT_MAX_MMAP];
    unsigned n_mods;
    struct boot_module mods[BOOT_MAX_MODS];
};
extern struct boot_info boot;
void boot_parse(uint32_t magic, uint32_t info);
const char *mem_type_name(uint32_t type);
void boot_print_mmap(void);

/* Command line "key=value" words. cmdline_get returns a pointer to the
 * value (ending at a space or NUL) or NULL; a bare "key" gives "". */
const char *cmdline_get(const char *key);
uint64_t cmdline_u64(const char *key, uint64_t def);
/* nested=1 / nested=0 (default 0). */
bool opt_nested(void);

/* ---- nestvisor (hv.c) ---- */
extern bool nv_present;
bool nv_detect(void);
/* VMCALL: RAX = fn, RBX/RCX/RDX = args; returns RAX, results in *rbx and *rcx.
 * Only call when nv_present (a VMCALL without a VMM is #UD). */
int64_t nv_hypercall(uint64_t fn, uint64_t *rbx, uint64_t *rcx, uint64_t rdx);
/* false if nestvisor is absent or the call failed. */
bool nv_exit_stats(uint32_t reason, uint32_t level, uint64_t *count, uint64_t *ticks);
/* NV_HC_L0_MEMORY: nestvisor's index-th memory range (kernel, pool, boot
 * modules); false past the last one or without nestvisor. */
bool nv_l0_memory(unsigned index, uint64_t *base, uint64_t *size);
/* NV_HC_CANARY: the physical address of nestvisor's canary page and
 * whether its pattern is intact; false without nestvisor. */
bool nv_canary(uint64_t *pa, bool *intact);
#define EXIT_REASON_IO      30
#define EXIT_REASON_CPUID   10
#define EXIT_REASON_HLT     12
#define EXIT_REASON_CR      28
#define EXIT_REASON_VMCALL  18
#define EXIT_REASON_RDMSR   31
#define EXIT_REASON_WRMSR   32

/* ---- physical addresses beyond the boot identity map (physwin.c) ----
 * The entry stub maps only the first 4 GiB. phys_window(pa, slot) maps the
 * 2 MiB page holding pa at slot (0-511) of a window at virtual 512 GiB
 * (PML4 entry 1, created on first use; INVLPG of the slot) and returns
 * pa's virtual address there. Physical memory below 4 GiB needs no
 * window: it is identity-mapped. */
#define PHYS_WINDOW_SLOTS 512
volatile void *phys_window(uint64_t pa, unsigned slot);
/* Makes the slot not present (INVLPG). */
void phys_window_unmap(unsigned slot);
/* pa itself if it is below 4 GiB, else phys_window(pa, slot). */
volatile void *phys_ptr(uint64_t pa, unsigned slot);

/* ---- exceptions and interrupts (trap.c, isr.asm) ---- */
enum {
    VEC_DE = 0, VEC_DB = 1, VEC_NMI = 2, VEC_BP = 3, VEC_OF = 4, VEC_BR = 5,
    VEC_UD = 6, VEC_NM = 7, VEC_DF = 8, VEC_TS = 10, VEC_NP = 11, VEC_SS = 12,
    VEC_GP = 13, VEC_PF = 14, VEC_MF = 16, VEC_AC = 17, VEC_MC = 18, VEC_XM = 19,
    VEC_VE = 20, VEC_CP = 21,
};
#define NO_FAULT (-1)

/* A 64-bit IDT gate (SDM Vol. 3A 6.14.1). */
struct idt_gate {
    uint16_t offset_lo, selector;
    uint8_t ist, type_attr;
    uint16_t offset_mid;
    uint32_t offset_hi, zero;
} __attribute__((packed));
#define GUEST_CODE_SEL       0x08 /* the runtime's 64-bit code segment (entry.asm SEL_CODE64) */
#define IDT_GATE_INTR64      0x8e /* P, DPL 0, 64-bit interrupt gate */
#define IDT_GATE_INTR64_DPL3 0xee /* the same, reachable from CPL 3 */
static inline struct idt_gate idt_gate(uint64_t handler, uint16_t selector, uint8_t type_attr)
{
    return (struct idt_gate){.offset_lo = (uint16_t)handler,
                             .selector = selector,
                             .type_attr = type_attr,
                             .offset_mid = (uint16_t)(handler >> 16),
                             .offset_hi = (uint32_t)(handler >> 32)};
}

struct trap_frame {
    uint64_t r15, r14, r13, r12, r11, r10, r9, r8, rbp, rdi, rsi, rdx, rcx, rbx, rax;
    uint64_t vector, error;
    uint64_t rip, cs, rflags, rsp, ss;
};

struct fault_info {
    int vector;
    uint64_t error, rip, cr2;
};
extern struct fault_info last_fault;

void trap_init(void);
const char *vector_name(int vector);
/* Calls fn(arg). If it raises an exception (other than #DF/#MC), control
 * comes back here instead and the vector is returned (details in
 * last_fault); NO_FAULT if fn returned normally. Not nestable. */
int try_call(void (*fn)(void *), void *arg);
/* Same, then prints PASS/FAIL for name: the expected vector must fire. */
bool expect_fault(int vector, const char *name, void (*fn)(void *), void *arg);
/* Checked instruction wrappers: return NO_FAULT or the vector. */
int rdmsr_safe(uint32_t msr, uint64_t *value);
int wrmsr_safe(uint32_t msr, uint64_t value);
int write_cr0_safe(uint64_t value);
int write_cr4_safe(uint64_t value);
int xsetbv_safe(uint32_t index, uint64_t value);

/* Handlers for vectors 32-255 (called with interrupts off; send the EOI
 * yourself). Unhandled ones are counted in spurious_interrupts. */
typedef void (*irq_handler_t)(struct trap_frame *frame);
void irq_set_handler(int vector, irq_handler_t handler);
extern volatile uint64_t spurious_interrupts;

/* ---- timers (timer.c) ---- */
#define PIC_BASE_VECTOR 0x20 /* IRQ n -> vector 0x20 + n */
void pic_remap(void);     /* remaps both 8259s to 0x20/0x28, all masked */
void pic_unmask(int irq);
void pic_mask_all(void);
void pic_eoi(int irq);
#define PIT_HZ 1193182
void pit_periodic(uint32_t hz); /* channel 0, mode 2 */
void pit_stop(void);
#define LAPIC_TIMER_VECTOR 0x40
bool lapic_present(void);
void lapic_enable(void);  /* maps nothing: the APIC page is identity-mapped */
void lapic_timer_oneshot(uint8_t vector, uint32_t count);
void lapic_eoi(void);

/* ---- ACPI (acpi.c): the RSDP and the local APICs of the MADT ---- */
struct __attribute__((packed)) acpi_rsdp {
    char signature[8];
    uint8_t checksum;
    char oem_id[6];
    uint8_t revision;
    uint32_t rsdt;
    uint32_t length; /* revision 2 on */
    uint64_t xsdt;
};
struct __attribute__((packed)) acpi_sdt_header {
    char signature[4];
    uint32_t length;
    uint8_t revision, checksum;
    char oem_id[6], oem_table_id[8];
    uint32_t oem_revision, creator_id, creator_revision;
};
#define ACPI_REVISION_2   2 /* an RSDP with an XSDT */
#define ACPI_RSDT_ENTRY   4
#define ACPI_XSDT_ENTRY   8
#define MADT_CPU_ENABLED        1u /* local APIC flags (ACPI 5.2.12.2) */
#define MADT_CPU_ONLINE_CAPABLE 2u
/* The RSDP: Multiboot2's ACPI tags (the new one first), the EBDA, then
 * 0xE0000-0xFFFFF; *from (unless NULL) names where it was. */
const struct acpi_rsdp *acpi_find_rsdp(const char **from);
/* The table at pa (below 4 GiB) if its checksum holds, else NULL. */
const struct acpi_sdt_header *acpi_table(uint64_t pa);
/* The MADT a root table lists (entry_size ACPI_RSDT_ENTRY or
 * ACPI_XSDT_ENTRY), or NULL. */
const struct acpi_sdt_header *acpi_madt_of(const struct acpi_sdt_header *root, unsigned entry_size);
/* Every local APIC entry of the MADT (xAPIC and x2APIC), in order. */
void acpi_madt_cpus(const struct acpi_sdt_header *madt, void (*fn)(uint32_t apic_id, uint32_t flags, void *arg),
                    void *arg);

#endif
