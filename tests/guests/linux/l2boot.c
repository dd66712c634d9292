// l2boot: a minimal KVM VMM that boots a Linux bzImage as L2. It runs in
// the L1 Linux of the test image (tests/guests/linux/README.md, "Linux as
// L2"), where L1's kvm_intel drives whatever VT-x it sees: Bochs's own, or
// nestvisor's emulated one.
//
// The VM: one vCPU with KVM's supported CPUID (FSRM cleared, see README.md:
// Bochs's FSRM corrupts Linux's memmove), the in-kernel LAPIC, IOAPIC, PIC
// and PIT, one memslot of RAM at GPA 0. No ACPI, no MP table, no PCI: Linux
// runs its interrupts in virtual-wire mode through the PIC. Port I/O that
// KVM does not handle comes here:
//   0x3f8-0x3ff  a 16550A, enough for Linux's 8250 driver and its console:
//                THR writes go to stdout, one "[L2] " line at a time; THR
//                always empty; the THRE interrupt on IRQ 4; loopback MSR;
//                no receiver
//   0x70/0x71    a CMOS RTC that reads 2000-01-01 00:00:00, never updating
//   0x604        power off (any write: what the L2 /init's `l2boot -P` does)
//   0x610, 0x614 the L2's TSC, low and high halves (`l2boot -M` in its /init)
//   0x64 = 0xfe, 0xcf9 bit 2: reset (the L2 asked to reboot)
//   others       reads give all ones, writes are dropped (counted)
// MMIO outside RAM reads all ones too. KVM_EXIT_SHUTDOWN (a triple fault,
// e.g. L2 booted with panic=-1 reboot=t and panicked) ends the run.
//
// The kernel is loaded by the 32-bit boot protocol (Documentation/arch/x86/
// boot.rst): the protected-mode part at its preferred address, a zero page
// with the setup header, an e820 map, the command line and the initrd, and
// the vCPU at the 32-bit entry with flat __BOOT_CS/__BOOT_DS segments,
// paging off and ESI = the zero page.
//
// Output (stdout, line-buffered): "l2boot: ..." lines about the setup, the
// L2's console lines with "[L2] ", "L2BOOT RUN tsc=<L1 TSC before the first
// KVM_RUN> tsc_offset=<L2 TSC - L1 TSC>", "L2BOOT MARK l2_tsc=... l1_tsc=...
// tsc_offset=... boot_to_init_ticks=..." when the L2's /init reports its
// TSC (port 0x610), and at the end "L2BOOT EXIT <poweroff|reset|shutdown|
// timeout|error> ...", KVM's statistics, the interrupt controllers' state
// and the ports the L2 used.
// Exit status 0 only when the L2 powered off.
//
// usage: l2boot [-m RAM_MIB] [-T L1_SECONDS] [-o SUMMARY] [-s SECONDS] [-p] [-v]
//               BZIMAGE INITRD "CMDLINE"
//   -m  the L2's RAM (default 128 MiB)
//   -T  give up after that many seconds of the L1's time (default 3600)
//   -o  also write "end=... boot_to_init_ticks=... run_ticks=...
//       kvm_exits=..." to SUMMARY (the L1's /init reads it)
//   -s  sample the L2's RIP every SECONDS of the L1's time; the samples are
//       printed if the run fails (or with -v), named from the L1's
//       /proc/kallsyms (the L2 runs the same kernel, nokaslr)
//   -p  back the L2's RAM with 4 KiB pages only (default: huge pages where
//       the L1 has them)
//   -v  the first access to each port, the first MMIO accesses, the samples
// l2boot -t   prints the TSC and exits
// l2boot -M   prints the TSC and reports it to the VMM (port 0x610: the L2's
//             /init; "L2BOOT MARK ..." in the VMM)
// l2boot -P   powers the VM off from inside (port 0x604: the L2's /init)
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <asm/bootparam.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/io.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#include "kvm_stats.h"

#define MIB           (1024UL * 1024UL)
#define ZERO_PAGE     0x7000UL
#define GDT_GPA       0x6000UL
#define CMDLINE_GPA   0x20000UL
#define CMDLINE_MAX   2048UL
#define EBDA_START    0x9fc00UL
#define HIGH_MEM      0x100000UL
#define TSS_GPA       0xfffbd000UL
#define IDMAP_GPA     0xfffbc000UL
#define POWEROFF_PORT 0x604
#define MARK_PORT     0x610 // 32-bit writes: the L2's TSC, low half then high at +4
#define UART_BASE     0x3f8
#define UART_IRQ      4

static inline uint64_t rdtsc(void)
{
    uint32_t lo, hi;
    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return ((uint64_t)hi << 32) | lo;
}

static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("l2boot: error: ", stdout);
    vprintf(fmt, ap);
    fputc('\n', stdout);
    va_end(ap);
    printf("L2BOOT EXIT error\n");
    exit(1);
}

static int vm_fd, vcpu_fd;
static struct kvm_run *run;
static uint8_t *ram;
static uint64_t ram_size;
static int verbose;
static int small_pages; // -p: 4 KiB pages only (MADV_NOHUGEPAGE)
static volatile sig_atomic_t ticked;

static void on_alarm(int sig)
{
    (void)sig;
    ticked = 1;
}

static void irq_line(uint32_t irq, int level)
{
    struct kvm_irq_level l = {.irq = irq, .level = (uint32_t)level};
    if (ioctl(vm_fd, KVM_IRQ_LINE, &l) < 0) die("KVM_IRQ_LINE %u: %s", irq, strerror(errno));
}

// ---------------------------------------------------------------------------
// Devices.

static long long tsc_offset(int *ok);
static uint64_t run_t0;      // the L1's TSC just before the first KVM_RUN
static long long boot_to_init = -1;

// The console line being assembled from THR writes.
static char line[512];
static size_t line_len;

static void flush_line(void)
{
    if (line_len == 0) return;
    line[line_len] = 0;
    printf("[L2] %s\n", line);
    line_len = 0;
}

static void console_char(uint8_t c)
{
    if (c == '\n') {
        flush_line();
        return;
    }
    if (c == '\r') return;
    if (line_len == sizeof line - 1) flush_line();
    line[line_len++] = (char)c;
}

// 16550A at 0x3f8. Transmission is instant: THR and the transmitter are
// always empty, so the THRE interrupt is pending whenever it is enabled,
// except between an IIR read that reported it and the next THR or IER write
// (as a real 16550 does). IRQ 4 is edge-triggered on the PIC: each new THRE
// event is a 0 -> 1 transition of the line.
static struct {
    uint8_t ier, lcr, mcr, scr, dll, dlm, fcr;
    int thri_pending;
    int level;
} uart = {.dll = 1};

static void uart_update(int force_edge)
{
    int level = (uart.ier & 0x02) && uart.thri_pending;
    if (force_edge && level && uart.level) {
        irq_line(UART_IRQ, 0);
        uart.level = 0;
    }
    if (level != uart.level) {
        irq_line(UART_IRQ, level);
        uart.level = level;
    }
}

static uint8_t uart_in(unsigned reg)
{
    int dlab = uart.lcr & 0x80;
    switch (reg) {
    case 0:
        return dlab ? uart.dll : 0; // no receiver: RBR reads 0
    case 1:
        return dlab ? uart.dlm : uart.ier;
    case 2: {
        uint8_t fifo = (uart.fcr & 1) ? 0xc0 : 0;
        if ((uart.ier & 0x02) && uart.thri_pending) {
            uart.thri_pending = 0; // reading IIR clears the THRE interrupt
            uart_update(0);
            return fifo | 0x02;
        }
        return fifo | 0x01;
    }
    case 3:
        return uart.lcr;
    case 4:
        return uart.mcr;
    case 5:
        return 0x60; // THRE | TEMT
    case 6:
        if (uart.mcr & 0x10) { // loopback: CTS=RTS, DSR=DTR, RI=OUT1, DCD=OUT2
            uint8_t m = uart.mcr;
            return (uint8_t)(((m & 2) << 3) | ((m & 1) << 5) | ((m & 4) << 4) | ((m & 8) << 4));
        }
        return 0xb0; // DCD | DSR | CTS
    default:
        return uart.scr;
    }
}

static void uart_out(unsigned reg, uint8_t v)
{
    int dlab = uart.lcr & 0x80;
    switch (reg) {
    case 0:
        if (dlab) {
            uart.dll = v;
        } else {
            if (!(uart.mcr & 0x10)) console_char(v);
            uart.thri_pending = 1; // sent at once: THR empty again
            uart_update(1);
        }
        break;
    case 1:
        if (dlab) {
            uart.dlm = v;
        } else {
            // Enabling ETBEI with THR empty raises the THRE interrupt.
            if ((v & 0x02) && !(uart.ier & 0x02)) uart.thri_pending = 1;
            uart.ier = v & 0x0f;
            uart_update(0);
        }
        break;
    case 2:
        uart.fcr = v & 0xc9;
        break;
    case 3:
        uart.lcr = v;
        break;
    case 4:
        uart.mcr = v & 0x1f;
        break;
    case 7:
        uart.scr = v;
        break;
    }
}

// CMOS RTC: index register and a fixed time (BCD, 24-hour): 2000-01-01.
static uint8_t cmos_index;
static uint8_t cmos_read(void)
{
    switch (cmos_index & 0x7f) {
    case 0x07: // day of month
    case 0x08: // month
        return 0x01;
    case 0x06: // weekday (Saturday)
        return 0x07;
    case 0x32: // century
        return 0x20;
    case 0x0a:
        return 0x26; // UIP clear, 32.768 kHz, 1024 Hz
    case 0x0b:
        return 0x02; // 24-hour, BCD, no interrupts
    case 0x0c:
        return 0x00;
    case 0x0d:
        return 0x80; // valid RAM and time
    default:
        return 0x00;
    }
}

// Ports: what was seen, for the statistics.
#define NPORTS 0x10000
static uint32_t port_reads[NPORTS], port_writes[NPORTS];
static uint64_t mmio_exits, io_exits_user;

enum stop { RUNNING, POWEROFF, RESET, SHUTDOWN, TIMEOUT };
static enum stop stop;
static const char *stop_name[] = {"running", "poweroff", "reset", "shutdown", "timeout"};

static uint32_t port_in(uint16_t port, unsigned size)
{
    if (port >= UART_BASE && port < UART_BASE + 8 && size == 1) return uart_in(port - UART_BASE);
    if (port == 0x71 && size == 1) return cmos_read();
    if (port == 0x70 && size == 1) return cmos_index;
    return size == 1 ? 0xff : size == 2 ? 0xffff : 0xffffffffU;
}

// The L2's /init reports its TSC (l2boot -M): the L1's TSC at that exit,
// KVM's TSC offset then (it may move while the vCPU is not loaded), and so
// the L1's TSC when the L2 read its own: boot_to_init from the first KVM_RUN.
static uint32_t mark_low;
static void mark(uint32_t high)
{
    uint64_t now = rdtsc();
    uint64_t l2tsc = ((uint64_t)high << 32) | mark_low;
    int ok;
    long long off = tsc_offset(&ok);
    printf("L2BOOT MARK l2_tsc=%llu l1_tsc=%llu tsc_offset=%s%lld", (unsigned long long)l2tsc,
           (unsigned long long)now, ok ? "" : "unknown:", off);
    if (ok && boot_to_init < 0) {
        boot_to_init = (long long)(l2tsc - off - run_t0);
        printf(" boot_to_init_ticks=%lld", boot_to_init);
    }
    printf("\n");
}

static void port_out(uint16_t port, unsigned size, uint32_t v)
{
    if (port >= UART_BASE && port < UART_BASE + 8 && size == 1) {
        uart_out(port - UART_BASE, (uint8_t)v);
    } else if (port == 0x70 && size == 1) {
        cmos_index = (uint8_t)v;
    } else if (port == MARK_PORT && size == 4) {
        mark_low = v;
    } else if (port == MARK_PORT + 4 && size == 4) {
        mark(v);
    } else if (port == POWEROFF_PORT) {
        stop = POWEROFF;
    } else if ((port == 0x64 && size == 1 && (v & 0xff) == 0xfe) ||
               (port == 0xcf9 && size == 1 && (v & 0x04))) {
        stop = RESET;
    }
}

static void handle_io(void)
{
    uint8_t *data = (uint8_t *)run + run->io.data_offset;
    unsigned size = run->io.size;
    uint16_t port = run->io.port;
    io_exits_user++;
    for (uint32_t i = 0; i < run->io.count; i++, data += size) {
        if (run->io.direction == KVM_EXIT_IO_OUT) {
            uint32_t v = 0;
            memcpy(&v, data, size);
            port_writes[port]++;
            if (verbose && port_writes[port] == 1 && !(port >= UART_BASE && port < UART_BASE + 8))
                printf("l2boot: first write to port 0x%x (size %u, value 0x%x)\n", port, size, v);
            port_out(port, size, v);
        } else {
            uint32_t v = port_in(port, size);
            port_reads[port]++;
            if (verbose && port_reads[port] == 1 && !(port >= UART_BASE && port < UART_BASE + 8))
                printf("l2boot: first read of port 0x%x (size %u)\n", port, size);
            memcpy(data, &v, size);
        }
    }
}

// ---------------------------------------------------------------------------
// Loading the kernel.

static uint8_t *read_file(const char *path, size_t *size)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0) die("open %s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) < 0) die("stat %s: %s", path, strerror(errno));
    uint8_t *buf = malloc(st.st_size ? st.st_size : 1);
    if (!buf) die("%s: out of memory", path);
    size_t done = 0;
    while (done < (size_t)st.st_size) {
        ssize_t n = read(fd, buf + done, st.st_size - done);
        if (n <= 0) die("read %s: %s", path, n < 0 ? strerror(errno) : "short file");
        done += n;
    }
    close(fd);
    *size = done;
    return buf;
}

static void e820_add(struct boot_params *bp, uint64_t addr, uint64_t size, uint32_t type)
{
    struct boot_e820_entry *e = &bp->e820_table[bp->e820_entries++];
    e->addr = addr;
    e->size = size;
    e->type = type;
}

// Returns the 32-bit entry point.
static uint64_t load_linux(const char *kpath, const char *ipath, const char *cmdline)
{
    size_t ksize, isize;
    uint8_t *k = read_file(kpath, &ksize);
    if (ksize < 0x1000 || memcmp(k + 0x202, "HdrS", 4) != 0)
        die("%s: not a bzImage (no HdrS header)", kpath);
    struct setup_header *hdr = (struct setup_header *)(k + 0x1f1);
    if (hdr->version < 0x20a) die("%s: boot protocol %#x, need 2.10+", kpath, hdr->version);
    if (!(hdr->loadflags & LOADED_HIGH)) die("%s: not a bzImage (zImage loads low)", kpath);
    unsigned setup_sects = hdr->setup_sects ? hdr->setup_sects : 4;
    size_t setup_size = (setup_sects + 1) * 512UL;
    if (ksize <= setup_size) die("%s: truncated", kpath);
    size_t pm_size = ksize - setup_size;
    uint64_t load = hdr->relocatable_kernel ? hdr->pref_address : hdr->code32_start;
    uint64_t need = hdr->init_size > pm_size ? hdr->init_size : pm_size;
    if (load + need > ram_size)
        die("kernel needs %#llx-%#llx, RAM ends at %#llx", (unsigned long long)load,
            (unsigned long long)(load + need), (unsigned long long)ram_size);
    memcpy(ram + load, k + setup_size, pm_size);

    struct boot_params *bp = (struct boot_params *)(ram + ZERO_PAGE);
    memset(bp, 0, sizeof *bp);
    size_t hdr_len = 0x202 + k[0x201] - 0x1f1; // the header's own length
    if (hdr_len > sizeof bp->hdr) hdr_len = sizeof bp->hdr;
    memcpy(&bp->hdr, hdr, hdr_len);
    bp->hdr.type_of_loader = 0xff;
    bp->hdr.loadflags |= CAN_USE_HEAP;
    bp->hdr.heap_end_ptr = 0xfe00;
    bp->hdr.code32_start = (uint32_t)load;

    size_t clen = strlen(cmdline);
    size_t cmax = hdr->cmdline_size ? hdr->cmdline_size : 255;
    if (clen > cmax || clen >= CMDLINE_MAX)
        die("command line of %zu characters, the kernel takes %zu", clen, cmax);
    memcpy(ram + CMDLINE_GPA, cmdline, clen + 1);
    bp->hdr.cmd_line_ptr = (uint32_t)CMDLINE_GPA;

    uint8_t *initrd = read_file(ipath, &isize);
    uint64_t top = ram_size;
    if (top > (uint64_t)hdr->initrd_addr_max + 1) top = (uint64_t)hdr->initrd_addr_max + 1;
    uint64_t iaddr = (top - isize) & ~0xfffULL;
    if (isize > top || iaddr < load + need)
        die("initrd of %zu bytes does not fit between the kernel (to %#llx) and %#llx", isize,
            (unsigned long long)(load + need), (unsigned long long)top);
    memcpy(ram + iaddr, initrd, isize);
    free(initrd);
    bp->hdr.ramdisk_image = (uint32_t)iaddr;
    bp->hdr.ramdisk_size = (uint32_t)isize;

    e820_add(bp, 0, EBDA_START, 1);
    e820_add(bp, EBDA_START, 0x100000 - EBDA_START, 2);
    e820_add(bp, HIGH_MEM, ram_size - HIGH_MEM, 1);

    printf("l2boot: %s: %zu bytes, protocol %u.%02u, %s, protected-mode part (%zu bytes) at "
           "%#llx, init_size %#x\n",
           kpath, ksize, hdr->version >> 8, hdr->version & 0xff,
           hdr->relocatable_kernel ? "relocatable" : "fixed", pm_size, (unsigned long long)load,
           hdr->init_size);
    printf("l2boot: %s: %zu bytes at %#llx; RAM %llu MiB; command line \"%s\"\n", ipath, isize,
           (unsigned long long)iaddr, (unsigned long long)(ram_size / MIB), cmdline);
    free(k);
    return load;
}

// ---------------------------------------------------------------------------
// The VM.

static int kvm_fd;

static struct kvm_cpuid2 *supported_cpuid(void)
{
    for (int n = 64; n <= 1024; n *= 2) {
        struct kvm_cpuid2 *c = calloc(1, sizeof *c + n * sizeof(struct kvm_cpuid_entry2));
        if (!c) die("out of memory");
        c->nent = n;
        if (ioctl(kvm_fd, KVM_GET_SUPPORTED_CPUID, c) == 0) return c;
        int e = errno;
        free(c);
        if (e != E2BIG) die("KVM_GET_SUPPORTED_CPUID: %s", strerror(e));
    }
    die("KVM_GET_SUPPORTED_CPUID: too many entries");
    return NULL;
}

static void setup_vm(void)
{
    kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (kvm_fd < 0) die("open /dev/kvm: %s", strerror(errno));
    int v = ioctl(kvm_fd, KVM_GET_API_VERSION, 0);
    if (v != KVM_API_VERSION) die("KVM API version %d, want %d", v, KVM_API_VERSION);
    static const struct {
        int cap;
        const char *name;
    } caps[] = {{KVM_CAP_IRQCHIP, "IRQCHIP"},
                {KVM_CAP_PIT2, "PIT2"},
                {KVM_CAP_USER_MEMORY, "USER_MEMORY"},
                {KVM_CAP_SET_TSS_ADDR, "SET_TSS_ADDR"},
                {KVM_CAP_EXT_CPUID, "EXT_CPUID"}};
    for (unsigned i = 0; i < sizeof caps / sizeof caps[0]; i++)
        if (ioctl(kvm_fd, KVM_CHECK_EXTENSION, caps[i].cap) <= 0)
            die("KVM lacks KVM_CAP_%s", caps[i].name);
    int run_size = ioctl(kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
    if (run_size <= 0) die("KVM_GET_VCPU_MMAP_SIZE: %s", strerror(errno));

    vm_fd = ioctl(kvm_fd, KVM_CREATE_VM, 0);
    if (vm_fd < 0) die("KVM_CREATE_VM: %s", strerror(errno));
    if (ioctl(vm_fd, KVM_SET_TSS_ADDR, TSS_GPA) < 0) die("KVM_SET_TSS_ADDR: %s", strerror(errno));
    uint64_t idmap = IDMAP_GPA;
    if (ioctl(vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &idmap) < 0)
        die("KVM_SET_IDENTITY_MAP_ADDR: %s", strerror(errno));
    if (ioctl(vm_fd, KVM_CREATE_IRQCHIP, 0) < 0) die("KVM_CREATE_IRQCHIP: %s", strerror(errno));
    struct kvm_pit_config pit = {.flags = KVM_PIT_SPEAKER_DUMMY};
    if (ioctl(vm_fd, KVM_CREATE_PIT2, &pit) < 0) die("KVM_CREATE_PIT2: %s", strerror(errno));
    // PIT ticks the L2 could not take in time are dropped, not re-injected:
    // in Bochs an emulated tick can cost more instructions than its period,
    // and catching up would never end.
    struct kvm_reinject_control rc = {.pit_reinject = 0};
    if (ioctl(vm_fd, KVM_REINJECT_CONTROL, &rc) < 0)
        die("KVM_REINJECT_CONTROL: %s", strerror(errno));

    // RAM aligned to 2 MiB, as huge pages where the L1 can: KVM then maps
    // the L2's memory 2 MiB at a time (unless -p), one EPT violation for
    // each instead of one per 4 KiB page.
    uint8_t *area = mmap(NULL, ram_size + 2 * MIB, PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (area == MAP_FAILED)
        die("mmap %llu MiB: %s", (unsigned long long)(ram_size / MIB), strerror(errno));
    ram = (uint8_t *)(((uintptr_t)area + 2 * MIB - 1) & ~(uintptr_t)(2 * MIB - 1));
    madvise(ram, ram_size, small_pages ? MADV_NOHUGEPAGE : MADV_HUGEPAGE);
    struct kvm_userspace_memory_region region = {
        .slot = 0, .guest_phys_addr = 0, .memory_size = ram_size, .userspace_addr = (uintptr_t)ram};
    if (ioctl(vm_fd, KVM_SET_USER_MEMORY_REGION, &region) < 0)
        die("KVM_SET_USER_MEMORY_REGION: %s", strerror(errno));

    vcpu_fd = ioctl(vm_fd, KVM_CREATE_VCPU, 0);
    if (vcpu_fd < 0) die("KVM_CREATE_VCPU: %s", strerror(errno));
    run = mmap(NULL, run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu_fd, 0);
    if (run == MAP_FAILED) die("mmap kvm_run: %s", strerror(errno));

    struct kvm_cpuid2 *c = supported_cpuid();
    int deadline = ioctl(kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_TSC_DEADLINE_TIMER) > 0;
    for (uint32_t i = 0; i < c->nent; i++) {
        struct kvm_cpuid_entry2 *e = &c->entries[i];
        if (e->function == 1) {
            e->ebx &= 0x00ffffff; // initial APIC ID 0
            if (deadline) e->ecx |= 1u << 24; // the in-kernel LAPIC has TSC-deadline mode
        }
        if (e->function == 7 && e->index == 0) e->edx &= ~(1u << 4); // FSRM: see README.md
    }
    if (ioctl(vcpu_fd, KVM_SET_CPUID2, c) < 0) die("KVM_SET_CPUID2: %s", strerror(errno));
    printf("l2boot: %u CPUID entries, TSC deadline %s\n", c->nent, deadline ? "yes" : "no");
    free(c);
}

static void setup_vcpu(uint64_t entry)
{
    // GDT: null, null, __BOOT_CS (0x10) and __BOOT_DS (0x18), flat 4 GiB.
    uint64_t *gdt = (uint64_t *)(ram + GDT_GPA);
    gdt[0] = gdt[1] = 0;
    gdt[2] = 0x00cf9b000000ffffULL;
    gdt[3] = 0x00cf93000000ffffULL;

    struct kvm_sregs s;
    if (ioctl(vcpu_fd, KVM_GET_SREGS, &s) < 0) die("KVM_GET_SREGS: %s", strerror(errno));
    struct kvm_segment code = {.base = 0, .limit = 0xffffffff, .selector = 0x10, .type = 0xb,
                               .present = 1, .dpl = 0, .db = 1, .s = 1, .l = 0, .g = 1};
    struct kvm_segment data = code;
    data.selector = 0x18;
    data.type = 0x3;
    s.cs = code;
    s.ds = s.es = s.fs = s.gs = s.ss = data;
    s.gdt.base = GDT_GPA;
    s.gdt.limit = 4 * 8 - 1;
    s.cr0 = (s.cr0 | 1) & ~(1ULL << 31); // PE, no paging
    s.cr4 = 0;
    s.efer = 0;
    if (ioctl(vcpu_fd, KVM_SET_SREGS, &s) < 0) die("KVM_SET_SREGS: %s", strerror(errno));

    struct kvm_regs r;
    memset(&r, 0, sizeof r);
    r.rip = entry;
    r.rsi = ZERO_PAGE;
    r.rflags = 0x2;
    if (ioctl(vcpu_fd, KVM_SET_REGS, &r) < 0) die("KVM_SET_REGS: %s", strerror(errno));
}

static long long vcpu_stat(const char *name) { return kvm_vcpu_stat(vcpu_fd, name); }

static long long tsc_offset(int *ok)
{
    uint64_t off = 0;
    struct kvm_device_attr a = {.group = KVM_VCPU_TSC_CTRL,
                                .attr = KVM_VCPU_TSC_OFFSET,
                                .addr = (uint64_t)(uintptr_t)&off};
    *ok = ioctl(vcpu_fd, KVM_GET_DEVICE_ATTR, &a) == 0;
    return (long long)off;
}

// RIPs to be named at the end: the -s samples and where the vCPU stopped.
#define MAX_SAMPLES 64
static struct sample {
    unsigned long sec;
    unsigned long long rip, rflags;
    long long injections;
} samples[MAX_SAMPLES];
static long long vcpu_stat(const char *name);
static unsigned nsamples;

static void take_sample(unsigned long sec)
{
    struct kvm_regs r;
    if (nsamples == MAX_SAMPLES || ioctl(vcpu_fd, KVM_GET_REGS, &r) < 0) return;
    samples[nsamples++] = (struct sample){sec, r.rip, r.rflags, vcpu_stat("irq_injections")};
}

// Names the samples from the L1's /proc/kallsyms in one pass (the L2 runs
// the same kernel with nokaslr, so its addresses are the L1's). One pass
// costs some 100 M instructions in Bochs: only done at the end.
static void print_samples(void)
{
    if (!nsamples) return;
    unsigned long long best[MAX_SAMPLES] = {0};
    static char names[MAX_SAMPLES][96];
    FILE *f = fopen("/proc/kallsyms", "r");
    char l[256];
    while (f && fgets(l, sizeof l, f)) {
        unsigned long long a;
        char type, name[96];
        if (sscanf(l, "%llx %c %95s", &a, &type, name) != 3 || (type != 't' && type != 'T'))
            continue;
        for (unsigned i = 0; i < nsamples; i++)
            if (a <= samples[i].rip && a > best[i]) {
                best[i] = a;
                strcpy(names[i], name);
            }
    }
    if (f) fclose(f);
    for (unsigned i = 0; i < nsamples; i++) {
        if (samples[i].sec == (unsigned long)-1)
            printf("l2boot: where it stopped: rip %#llx", samples[i].rip);
        else
            printf("l2boot: sample at %lu s: rip %#llx", samples[i].sec, samples[i].rip);
        if (best[i] && samples[i].rip - best[i] < 0x100000)
            printf(" %s+%#llx", names[i], samples[i].rip - best[i]);
        printf(" rflags %#llx irq_injections %lld\n", samples[i].rflags, samples[i].injections);
    }
}

static void describe_regs(const char *what)
{
    struct kvm_regs r;
    struct kvm_sregs s;
    if (ioctl(vcpu_fd, KVM_GET_REGS, &r) == 0 && ioctl(vcpu_fd, KVM_GET_SREGS, &s) == 0)
        printf("l2boot: %s: rip %#llx rsp %#llx rflags %#llx cr0 %#llx cr3 %#llx cr4 %#llx "
               "efer %#llx\n",
               what, r.rip, r.rsp, r.rflags, s.cr0, s.cr3, s.cr4, s.efer);
}

// The interrupt controllers as the run left them: an interrupt that KVM
// injected but the L2 never took stays in service (PIC ISR, LAPIC ISR) and
// blocks everything below it.
static void describe_irqs(void)
{
    struct kvm_irqchip pic = {.chip_id = KVM_IRQCHIP_PIC_MASTER};
    if (ioctl(vm_fd, KVM_GET_IRQCHIP, &pic) == 0)
        printf("L2BOOT PIC irr=%#x imr=%#x isr=%#x last_irr=%#x irq_base=%#x\n", pic.chip.pic.irr,
               pic.chip.pic.imr, pic.chip.pic.isr, pic.chip.pic.last_irr, pic.chip.pic.irq_base);
    struct kvm_lapic_state la;
    if (ioctl(vcpu_fd, KVM_GET_LAPIC, &la) == 0) {
        uint32_t *r = (uint32_t *)la.regs;
        printf("L2BOOT LAPIC svr=%#x tpr=%#x lvt0=%#x lvtt=%#x isr=", r[0xf0 / 4], r[0x80 / 4],
               r[0x350 / 4], r[0x320 / 4]);
        for (int v = 0; v < 256; v++)
            if (r[(0x100 + (v / 32) * 16) / 4] & (1u << (v % 32))) printf("%#x,", v);
        printf(" irr=");
        for (int v = 0; v < 256; v++)
            if (r[(0x200 + (v / 32) * 16) / 4] & (1u << (v % 32))) printf("%#x,", v);
        printf("\n");
    }
    struct kvm_vcpu_events ev;
    if (ioctl(vcpu_fd, KVM_GET_VCPU_EVENTS, &ev) == 0)
        printf("L2BOOT EVENTS interrupt injected=%u nr=%#x shadow=%u nmi injected=%u pending=%u "
               "masked=%u exception injected=%u nr=%u\n",
               ev.interrupt.injected, ev.interrupt.nr, ev.interrupt.shadow, ev.nmi.injected,
               ev.nmi.pending, ev.nmi.masked, ev.exception.injected, ev.exception.nr);
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    unsigned long ram_mib = 128, limit = 3600, sample = 0;
    const char *summary = NULL;
    int opt;
    while ((opt = getopt(argc, argv, "m:T:o:s:pvtMP")) != -1) {
        switch (opt) {
        case 'm':
            ram_mib = strtoul(optarg, NULL, 0);
            break;
        case 'T':
            limit = strtoul(optarg, NULL, 0);
            break;
        case 's':
            sample = strtoul(optarg, NULL, 0);
            break;
        case 'o':
            summary = optarg;
            break;
        case 'p':
            small_pages = 1;
            break;
        case 'v':
            verbose = 1;
            break;
        case 't':
            printf("%llu\n", (unsigned long long)rdtsc());
            return 0;
        case 'M': {
            // Inside the L2: print the TSC and report it to the VMM.
            uint64_t t = rdtsc();
            if (iopl(3) == 0) {
                outl((uint32_t)t, MARK_PORT);
                outl((uint32_t)(t >> 32), MARK_PORT + 4);
            }
            printf("%llu\n", (unsigned long long)t);
            return 0;
        }
        case 'P':
            // Inside the L2: the VMM's power-off port.
            if (iopl(3) < 0) {
                perror("l2boot -P: iopl");
                return 1;
            }
            outw(0x2000, POWEROFF_PORT);
            return 0;
        default:
            goto usage;
        }
    }
    if (argc - optind != 3 || ram_mib < 32 || ram_mib > 3072) {
    usage:
        fprintf(stderr, "usage: l2boot [-m RAM_MIB] [-T L1_SECONDS] [-o SUMMARY] [-s SECONDS] [-p] [-v] "
                        "BZIMAGE INITRD CMDLINE\n"
                        "       l2boot -t | -M | -P\n");
        return 2;
    }
    ram_size = ram_mib * MIB;

    setup_vm();
    uint64_t entry = load_linux(argv[optind], argv[optind + 1], argv[optind + 2]);
    setup_vcpu(entry);

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm; // no SA_RESTART: KVM_RUN returns EINTR
    sigaction(SIGALRM, &sa, NULL);
    // One tick a second (the L1's time): the timeout, and with -s the
    // L2's RIP every that many seconds.
    struct itimerval tick = {{1, 0}, {1, 0}};
    setitimer(ITIMER_REAL, &tick, NULL);
    struct timespec start_ts;
    clock_gettime(CLOCK_MONOTONIC, &start_ts);
    unsigned long seconds = 0;

    int ok;
    long long off0 = tsc_offset(&ok);
    uint64_t t0 = run_t0 = rdtsc();
    printf("L2BOOT RUN tsc=%llu tsc_offset=%s%lld\n", (unsigned long long)t0, ok ? "" : "unknown:",
           off0);
    uint64_t runs = 0, intr = 0;
    const char *error = NULL;
    char why[160] = "";
    while (stop == RUNNING) {
        if (ticked) {
            ticked = 0;
            struct timespec now;
            clock_gettime(CLOCK_MONOTONIC, &now);
            unsigned long sec = (unsigned long)(now.tv_sec - start_ts.tv_sec);
            if (sec >= limit) {
                stop = TIMEOUT;
                break;
            }
            if (sample && sec / sample != seconds / sample) take_sample(sec);
            seconds = sec;
        }
        runs++;
        if (ioctl(vcpu_fd, KVM_RUN, 0) < 0) {
            if (errno == EINTR || errno == EAGAIN) {
                intr++;
                continue;
            }
            snprintf(why, sizeof why, "KVM_RUN: %s", strerror(errno));
            error = why;
            break;
        }
        switch (run->exit_reason) {
        case KVM_EXIT_IO:
            handle_io();
            break;
        case KVM_EXIT_MMIO:
            mmio_exits++;
            if (!run->mmio.is_write) memset(run->mmio.data, 0xff, sizeof run->mmio.data);
            if (verbose && mmio_exits <= 8)
                printf("l2boot: MMIO %s %#llx len %u\n", run->mmio.is_write ? "write" : "read",
                       (unsigned long long)run->mmio.phys_addr, run->mmio.len);
            break;
        case KVM_EXIT_INTR:
            intr++;
            break;
        case KVM_EXIT_SHUTDOWN:
            stop = SHUTDOWN;
            break;
        case KVM_EXIT_HLT:
            // Only without an in-kernel LAPIC; count it as the end.
            snprintf(why, sizeof why, "HLT exit");
            error = why;
            break;
        case KVM_EXIT_FAIL_ENTRY:
            snprintf(why, sizeof why, "FAIL_ENTRY hardware reason %#llx",
                     (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
            error = why;
            break;
        case KVM_EXIT_INTERNAL_ERROR:
            snprintf(why, sizeof why, "INTERNAL_ERROR suberror %u", run->internal.suberror);
            error = why;
            break;
        default:
            snprintf(why, sizeof why, "unexpected exit reason %u", run->exit_reason);
            error = why;
            break;
        }
        if (error) break;
    }
    uint64_t t1 = rdtsc();
    struct itimerval off = {{0, 0}, {0, 0}};
    setitimer(ITIMER_REAL, &off, NULL);
    flush_line();
    long long off1 = tsc_offset(&ok);
    if (error || stop == SHUTDOWN || stop == TIMEOUT) {
        describe_regs("stopped");
        take_sample((unsigned long)-1);
        print_samples();
    } else if (verbose) {
        print_samples();
    }
    printf("L2BOOT EXIT %s%s%s tsc=%llu ticks=%llu tsc_offset=%lld\n", error ? "error" : stop_name[stop],
           error ? ": " : "", error ? error : "", (unsigned long long)t1,
           (unsigned long long)(t1 - t0), off1);
    long long exits = vcpu_stat("exits");
    if (summary) {
        FILE *f = fopen(summary, "w");
        if (f) {
            fprintf(f, "end=%s boot_to_init_ticks=%lld run_ticks=%llu kvm_exits=%lld\n",
                    error ? "error" : stop_name[stop], boot_to_init,
                    (unsigned long long)(t1 - t0), exits);
            fclose(f);
        }
    }
    printf("L2BOOT STATS kvm_run=%llu signals=%llu userspace_io=%llu mmio=%llu exits=%lld "
           "io_exits=%lld mmio_exits=%lld irq_exits=%lld halt_exits=%lld irq_injections=%lld "
           "irq_window_exits=%lld insn_emulation=%lld\n",
           (unsigned long long)runs, (unsigned long long)intr, (unsigned long long)io_exits_user,
           (unsigned long long)mmio_exits, exits, vcpu_stat("io_exits"),
           vcpu_stat("mmio_exits"), vcpu_stat("irq_exits"), vcpu_stat("halt_exits"),
           vcpu_stat("irq_injections"), vcpu_stat("irq_window_exits"),
           vcpu_stat("insn_emulation"));
    describe_irqs();
    // How much of the L2's RAM the L1 backed with huge pages.
    FILE *sm = fopen("/proc/self/smaps_rollup", "r");
    char l[160];
    while (sm && fgets(l, sizeof l, sm))
        if (strncmp(l, "AnonHugePages:", 14) == 0) printf("L2BOOT MEMORY %s", l);
    if (sm) fclose(sm);
    // The ports the L2 used, busiest first (up to 12).
    printf("L2BOOT PORTS");
    for (int n = 0; n < 12; n++) {
        unsigned best = 0;
        uint32_t most = 0;
        for (unsigned p = 0; p < NPORTS; p++)
            if (port_reads[p] + port_writes[p] > most) most = port_reads[p] + port_writes[p], best = p;
        if (!most) break;
        printf(" %#x:%ur/%uw", best, port_reads[best], port_writes[best]);
        port_reads[best] = port_writes[best] = 0;
    }
    printf("\n");
    return stop == POWEROFF && !error ? 0 : 1;
}
