/* mb32: a 32-bit Multiboot kernel as i686-elf and -m32 toolchains build
 * them: ELF32 (EM_386), no a.out address fields, part of it linked at 3 GiB
 * and loaded low, entered through e_entry, a virtual address (entry.asm,
 * mb32.ld). It never leaves 32-bit protected mode and checks what a loader
 * that reads the program headers as GRUB does must have done:
 *
 *   magic             EAX is the bootloader magic of the header it carries
 *   entry_physical    it runs at e_entry translated by p_vaddr -> p_paddr
 *   protected_mode    CR0.PE set, CR0.PG clear (Multiboot 3.2)
 *   eflags            IF and VM clear (Multiboot 3.2)
 *   low_data          an initialized word of the data segment
 *   low_bss_zero      the data segment's bss (p_memsz > p_filesz) is zero
 *   high_data         the 3 GiB segment's bytes are at its p_paddr
 *   high_bss_zero     and its bss is zero there
 *   info              the information structure: the command line carries
 *                     "mb32=yes", the memory map shows the kernel's
 *                     physical range as available RAM
 *
 * Output (tests/guests/README.md convention): through NV_HC_CONSOLE_WRITE
 * under nestvisor, else COM1; then NV_HC_POWER_OFF(status) or Bochs's
 * shutdown port. Not built on tests/guests/lib, which is 64-bit. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "vmm/hypercall_abi.h"

#define MB1_BOOTLOADER_MAGIC 0x2badb002U
#define MB2_BOOTLOADER_MAGIC 0x36d76289U
#define MB1_INFO_CMDLINE     (1U << 2) /* Multiboot 3.3 flags */
#define MB1_INFO_MMAP        (1U << 6)
#define MB2_TAG_END          0 /* Multiboot2 3.6 tag types */
#define MB2_TAG_CMDLINE      1
#define MB2_TAG_MMAP         6
#define MB2_TAG_ALIGN        8
#define MB2_INFO_MAX         (64U << 10) /* a sanity bound on total_size */
#define MMAP_AVAILABLE       1
#define CMDLINE_TOKEN        "mb32=yes"

#define CR0_PE     (1U << 0)
#define CR0_PG     (1U << 31)
#define EFLAGS_IF  (1U << 9)
#define EFLAGS_VM  (1U << 17)

#define COM1            0x3f8
#define COM1_IER        (COM1 + 1)
#define COM1_FCR        (COM1 + 2)
#define COM1_LCR        (COM1 + 3)
#define COM1_MCR        (COM1 + 4)
#define COM1_LSR        (COM1 + 5)
#define LCR_DLAB        0x80
#define LCR_8N1         0x03
#define FCR_FIFO_CLEAR  0x07
#define MCR_DTR_RTS     0x03
#define DIVISOR_115200  1
#define LSR_THRE        0x20
#define LSR_TEMT        0x40
#define UART_WAIT_MAX   1000000
#define BOCHS_SHUTDOWN  0x8900
#define LINE_MAX        256

#define HIGH_PATTERN_SIZE 256 /* entry.asm */
#define LOW_WORD          0x6d623332U

/* entry.asm and mb32.ld. High symbols are linked at __kernel_vma + their
 * physical address; with paging off only the latter can be used. */
extern const uint32_t mb32_header_version;
extern char __kernel_vma[], __image_start[], __image_phys_end[];
extern uint8_t high_pattern[], high_bss[], high_bss_end[];

void mb32_main(uint32_t magic, uint32_t info, uint32_t linked_here, uint32_t actual_here,
               uint32_t eflags);

static volatile uint32_t low_word = LOW_WORD;
static volatile uint8_t low_bss[4096];
static bool nestvisor;
static unsigned passed, failed;
static char line[LINE_MAX];
static unsigned line_len;

static inline void outb(uint16_t port, uint8_t v)
{
    __asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}

static inline uint8_t inb(uint16_t port)
{
    uint8_t v;
    __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
    return v;
}

static uint32_t hypercall(uint32_t fn, uint32_t b, uint32_t c)
{
    __asm__ volatile("vmcall" : "+a"(fn), "+b"(b), "+c"(c) : : "edx", "memory");
    return fn;
}

static bool detect_nestvisor(void)
{
    uint32_t a = 0x40000000, b, c = 0, d;
    __asm__ volatile("cpuid" : "+a"(a), "=b"(b), "+c"(c), "=d"(d));
    return b == NV_CPUID_SIGNATURE_EBX && c == NV_CPUID_SIGNATURE_ECX &&
           d == NV_CPUID_SIGNATURE_EDX;
}

/* 115200 8N1 (as tests/guests/lib/console.c): the UART may be in its reset
 * state, 5-bit words, when the loader did not use it. */
static void com1_init(void)
{
    outb(COM1_IER, 0);
    outb(COM1_LCR, LCR_DLAB);
    outb(COM1, DIVISOR_115200);
    outb(COM1_IER, 0);
    outb(COM1_LCR, LCR_8N1);
    outb(COM1_FCR, FCR_FIFO_CLEAR);
    outb(COM1_MCR, MCR_DTR_RTS);
}

static void com1_putc(char ch)
{
    for (unsigned i = 0; i < UART_WAIT_MAX && !(inb(COM1_LSR) & LSR_THRE); i++)
        __asm__ volatile("pause");
    outb(COM1, (uint8_t)ch);
}

static void flush(void)
{
    line[line_len++] = '\n';
    if (nestvisor) {
        hypercall(NV_HC_CONSOLE_WRITE, (uint32_t)(uintptr_t)line, line_len);
    } else {
        for (unsigned i = 0; i < line_len; i++) {
            if (line[i] == '\n')
                com1_putc('\r');
            com1_putc(line[i]);
        }
    }
    line_len = 0;
}

static void put(const char *s)
{
    while (*s && line_len < LINE_MAX - 1)
        line[line_len++] = *s++;
}

static void put_hex(uint32_t v)
{
    char d[9];
    for (int i = 7; i >= 0; i--, v >>= 4)
        d[i] = "0123456789abcdef"[v & 0xf];
    d[8] = 0;
    put("0x");
    put(d);
}

static void put_dec(uint32_t v)
{
    char d[11];
    int i = 10;
    d[i] = 0;
    do
        d[--i] = (char)('0' + v % 10);
    while (v /= 10);
    put(d + i);
}

static void check(bool ok, const char *name, const char *what, uint32_t value)
{
    put(ok ? "PASS mb32." : "FAIL mb32.");
    put(name);
    if (!ok) {
        put(": ");
        put(what);
        put(" ");
        put_hex(value);
    }
    flush();
    if (ok)
        passed++;
    else
        failed++;
}

static __attribute__((noreturn)) void power_off(uint32_t status)
{
    if (nestvisor)
        hypercall(NV_HC_POWER_OFF, status, 0);
    for (unsigned i = 0; i < UART_WAIT_MAX && !(inb(COM1_LSR) & LSR_TEMT); i++)
        __asm__ volatile("pause");
    for (const char *p = "Shutdown"; *p; p++)
        outb(BOCHS_SHUTDOWN, (uint8_t)*p);
    for (;;)
        __asm__ volatile("cli; hlt");
}

static uint32_t to_phys(const void *high)
{
    return (uint32_t)(uintptr_t)high - (uint32_t)(uintptr_t)__kernel_vma;
}

static bool contains(const char *s, const char *token)
{
    for (; *s; s++) {
        unsigned i = 0;
        while (token[i] && s[i] == token[i])
            i++;
        if (!token[i])
            return true;
    }
    return false;
}

/* First byte that is not zero, or -1. */
static int first_nonzero(const volatile uint8_t *p, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        if (p[i])
            return (int)i;
    return -1;
}

/* An available range of the map holds the whole kernel. */
static bool kernel_in_ram(uint64_t base, uint64_t len, uint32_t type)
{
    uint64_t lo = (uintptr_t)__image_start, hi = (uintptr_t)__image_phys_end;
    return type == MMAP_AVAILABLE && base <= lo && hi <= base + len;
}

enum info_problem { INFO_OK, INFO_NO_CMDLINE, INFO_NO_TOKEN, INFO_NO_MMAP, INFO_KERNEL_NOT_RAM, INFO_BAD };

/* Multiboot 3.3: flags, cmdline at +16, mmap_length/mmap_addr at +44/+48,
 * entries {size, base_addr, length, type} with size not counting itself. */
static enum info_problem check_mb1_info(const uint8_t *mbi)
{
    uint32_t flags = *(const uint32_t *)mbi;
    if (!(flags & MB1_INFO_CMDLINE))
        return INFO_NO_CMDLINE;
    if (!contains((const char *)(uintptr_t)*(const uint32_t *)(mbi + 16), CMDLINE_TOKEN))
        return INFO_NO_TOKEN;
    if (!(flags & MB1_INFO_MMAP))
        return INFO_NO_MMAP;
    uint32_t len = *(const uint32_t *)(mbi + 44), addr = *(const uint32_t *)(mbi + 48);
    for (uint32_t off = 0; off + 24 <= len;) {
        const uint8_t *e = (const uint8_t *)(uintptr_t)(addr + off);
        uint32_t size = *(const uint32_t *)e;
        if (kernel_in_ram(*(const uint64_t *)(e + 4), *(const uint64_t *)(e + 12),
                          *(const uint32_t *)(e + 20)))
            return INFO_OK;
        off += size + 4;
    }
    return INFO_KERNEL_NOT_RAM;
}

/* Multiboot2 3.6: total_size, reserved, then 8-aligned tags up to an end
 * tag; mmap entries of entry_size bytes {base_addr, length, type}. */
static enum info_problem check_mb2_info(const uint8_t *mbi)
{
    uint32_t total = *(const uint32_t *)mbi;
    bool cmdline = false, token = false, mmap = false, ram = false;
    if (total < 16 || total > MB2_INFO_MAX)
        return INFO_BAD;
    for (uint32_t off = 8; off + 8 <= total;) {
        const uint8_t *t = mbi + off;
        uint32_t type = *(const uint32_t *)t, size = *(const uint32_t *)(t + 4);
        if (type == MB2_TAG_END || size < 8)
            break;
        if (type == MB2_TAG_CMDLINE) {
            cmdline = true;
            token = contains((const char *)(t + 8), CMDLINE_TOKEN);
        } else if (type == MB2_TAG_MMAP) {
            uint32_t esize = *(const uint32_t *)(t + 8);
            mmap = true;
            for (uint32_t e = 16; esize >= 24 && e + esize <= size; e += esize)
                ram |= kernel_in_ram(*(const uint64_t *)(t + e), *(const uint64_t *)(t + e + 8),
                                     *(const uint32_t *)(t + e + 16));
        }
        off += (size + MB2_TAG_ALIGN - 1) & ~(MB2_TAG_ALIGN - 1);
    }
    if (!cmdline)
        return INFO_NO_CMDLINE;
    if (!token)
        return INFO_NO_TOKEN;
    if (!mmap)
        return INFO_NO_MMAP;
    return ram ? INFO_OK : INFO_KERNEL_NOT_RAM;
}

void mb32_main(uint32_t magic, uint32_t info, uint32_t linked_here, uint32_t actual_here,
               uint32_t eflags)
{
    nestvisor = detect_nestvisor();
    if (!nestvisor)
        com1_init();
    uint32_t version = mb32_header_version;
    put("GUEST mb32 START multiboot");
    put_dec(version);
    put(nestvisor ? " nestvisor=yes" : " nestvisor=no");
    flush();

    uint32_t want = version == 2 ? MB2_BOOTLOADER_MAGIC : MB1_BOOTLOADER_MAGIC;
    check(magic == want, "magic", "EAX", magic);
    check(actual_here == to_phys((const void *)(uintptr_t)linked_here), "entry_physical",
          "entered at", actual_here);
    uint32_t cr0;
    __asm__ volatile("mov %%cr0, %0" : "=r"(cr0));
    check((cr0 & CR0_PE) && !(cr0 & CR0_PG), "protected_mode", "CR0", cr0);
    check(!(eflags & (EFLAGS_IF | EFLAGS_VM)), "eflags", "EFLAGS", eflags);
    check(low_word == LOW_WORD, "low_data", "word", low_word);
    int nz = first_nonzero(low_bss, sizeof(low_bss));
    check(nz < 0, "low_bss_zero", "non-zero byte at offset", (uint32_t)nz);

    const uint8_t *pattern = (const uint8_t *)(uintptr_t)to_phys(high_pattern);
    uint32_t bad = HIGH_PATTERN_SIZE;
    for (uint32_t i = 0; i < HIGH_PATTERN_SIZE && bad == HIGH_PATTERN_SIZE; i++)
        if (pattern[i] != (uint8_t)((i * 7 + 3) & 0xff))
            bad = i;
    check(bad == HIGH_PATTERN_SIZE, "high_data", "wrong byte at offset", bad);
    nz = first_nonzero((const uint8_t *)(uintptr_t)to_phys(high_bss),
                       (uint32_t)(high_bss_end - high_bss));
    check(nz < 0, "high_bss_zero", "non-zero byte at offset", (uint32_t)nz);

    const uint8_t *mbi = (const uint8_t *)(uintptr_t)info;
    enum info_problem p = magic != want ? INFO_BAD
                          : version == 2 ? check_mb2_info(mbi)
                                         : check_mb1_info(mbi);
    check(p == INFO_OK, "info", "problem", p);

    put("GUEST mb32 DONE ");
    put_dec(passed);
    put(" passed ");
    put_dec(failed);
    put(" failed");
    flush();
    power_off(failed ? 1 : 0);
}
