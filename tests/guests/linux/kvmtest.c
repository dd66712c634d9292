// kvmtest: runs small L2 guests through Linux's /dev/kvm and checks what
// comes back. It runs as an ordinary static process in the test initramfs
// (tests/guests/linux/README.md), where Linux is L1 and its kvm_intel drives
// whatever VT-x it sees: Bochs's own, or nestvisor's emulated one.
//
// Output, one line per case: "PASS kvm.<case>" or "FAIL kvm.<case>: <why>",
// an "INFO kvm.<case>: ..." line with the case's cost (RDTSC ticks in L1; in
// Bochs one tick is one emulated instruction) and KVM's exit counters, and
// at the end "KVMTEST DONE <n> passed <m> failed".
//
// usage: kvmtest [-m PAGES_MIB] [-n TIMER_LOOPS] [-i] [case...]
//        kvmtest -t      prints the TSC and exits (tests/guests/linux/init)
// -i runs the timer case's guest with RFLAGS.IF=0 (see README.md: Bochs 2.7
// then never delivers the host's interrupts as VM exits).
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/time.h>
#include <unistd.h>
#include "kvm_stats.h"

// ---------------------------------------------------------------------------
// Guest code. Each blob is position-dependent machine code copied to a fixed
// guest-physical address (real mode: 0x1000, long mode: 0x8000); it refers
// to data by absolute addresses only.

#define GUEST_BLOB(name, mode, body)                                                               \
    extern const uint8_t name##_start[], name##_end[];                                             \
    __asm__(".pushsection .rodata.guest,\"a\"\n" mode "\n.intel_syntax noprefix\n" #name           \
            "_start:\n" body "\n" #name "_end:\n.att_syntax prefix\n.code64\n.popsection\n")

// Real mode: two OUTs to port 0x10 (0x34, then 0x13), a store, HLT.
GUEST_BLOB(g_realmode, ".code16",
           "mov ax, 0x1234\n"
           "mov dx, 0x10\n"
           "out dx, al\n"
           "mov al, ah\n"
           "inc al\n"
           "out 0x10, al\n"
           "mov word ptr ds:0x500, 0xbeef\n"
           "hlt\n");

// Long mode with paging: reads back CR0/CR4/EFER, writes through an alias
// mapping (VA 1 GiB + x maps GPA x), uses the stack (call/push/pop), HLT.
GUEST_BLOB(g_longmode, ".code64",
           "mov rax, cr0\n"
           "mov qword ptr ds:0x6000, rax\n"
           "mov rax, cr4\n"
           "mov qword ptr ds:0x6008, rax\n"
           "mov ecx, 0xc0000080\n"
           "rdmsr\n"
           "mov dword ptr ds:0x6010, eax\n"
           "mov rax, 0x1122334455667788\n"
           "mov rdi, 0x40007000\n"
           "mov qword ptr [rdi], rax\n"
           "mov rbx, qword ptr ds:0x7000\n"
           "push rbx\n"
           "call 1f\n"
           "pop rdx\n"
           "hlt\n"
           "g_longmode_after_hlt:\n"
           "1: mov rcx, rbx\n"
           "not rcx\n"
           "ret\n");
extern const uint8_t g_longmode_after_hlt[];

// Port I/O: OUT byte/word/dword, IN byte/word/dword (results in r8-r10),
// then REP OUTSB of 4 bytes from 0x7100 and REP INSB of 4 bytes to 0x7200.
GUEST_BLOB(g_io, ".code64",
           "mov dx, 0x3f0\n"
           "mov al, 0x11\n"
           "out dx, al\n"
           "mov ax, 0x2233\n"
           "out dx, ax\n"
           "mov eax, 0x44556677\n"
           "out dx, eax\n"
           "in al, dx\n"
           "movzx r8d, al\n"
           "in ax, dx\n"
           "movzx r9d, ax\n"
           "in eax, dx\n"
           "mov r10d, eax\n"
           "cld\n"
           "mov esi, 0x7100\n"
           "mov ecx, 4\n"
           "rep outsb\n"
           "mov edi, 0x7200\n"
           "mov ecx, 4\n"
           "rep insb\n"
           "hlt\n");

// MMIO to 0x10000000 (no memslot there): writes of 4, 8 and 1 bytes, reads
// of 4 and 8 bytes (results in rbx, rcx).
GUEST_BLOB(g_mmio, ".code64",
           "mov rdi, 0x10000000\n"
           "mov dword ptr [rdi], 0x12345678\n"
           "mov rax, 0x1122334455667788\n"
           "mov qword ptr [rdi + 8], rax\n"
           "mov eax, dword ptr [rdi + 0x10]\n"
           "mov ebx, eax\n"
           "mov rcx, qword ptr [rdi + 0x18]\n"
           "mov byte ptr [rdi + 0x20], 0x5a\n"
           "hlt\n");

// Two HLTs, with rax = 1 and then 2.
GUEST_BLOB(g_hlt, ".code64",
           "mov eax, 1\n"
           "hlt\n"
           "mov eax, 2\n"
           "hlt\n");

// CPUID leaves 0, 1, 0x40000000, 0x80000000 stored at 0x6000 + 16 * i.
GUEST_BLOB(g_cpuid, ".code64",
           "mov r8d, 0x6000\n"
           "xor eax, eax\n"
           "call 1f\n"
           "mov eax, 1\n"
           "call 1f\n"
           "mov eax, 0x40000000\n"
           "call 1f\n"
           "mov eax, 0x80000000\n"
           "call 1f\n"
           "hlt\n"
           "1: xor ecx, ecx\n"
           "cpuid\n"
           "mov dword ptr [r8], eax\n"
           "mov dword ptr [r8 + 4], ebx\n"
           "mov dword ptr [r8 + 8], ecx\n"
           "mov dword ptr [r8 + 12], edx\n"
           "add r8, 16\n"
           "ret\n");

// One 8-byte write per 4 KiB page of [rsi, rsi + rcx pages) at offset
// (i * 8) % 4096, value i * 0x9e3779b97f4a7c15 ^ 0x5a5a5a5a5a5a5a5a; then
// a second pass reads them back into an order-sensitive checksum in r10.
GUEST_BLOB(g_pages, ".code64",
           "mov r11, rsi\n"
           "mov rax, 0x9e3779b97f4a7c15\n"
           "mov rbx, 0x5a5a5a5a5a5a5a5a\n"
           "xor edx, edx\n"
           "1: mov r8, rdx\n"
           "imul r8, rax\n"
           "xor r8, rbx\n"
           "mov r9, rdx\n"
           "and r9, 0x1ff\n"
           "mov qword ptr [rsi + r9 * 8], r8\n"
           "add rsi, 4096\n"
           "inc rdx\n"
           "cmp rdx, rcx\n"
           "jb 1b\n"
           "mov rsi, r11\n"
           "xor edx, edx\n"
           "xor r10d, r10d\n"
           "2: mov r9, rdx\n"
           "and r9, 0x1ff\n"
           "mov r8, qword ptr [rsi + r9 * 8]\n"
           "rol r10, 7\n"
           "xor r10, r8\n"
           "add rsi, 4096\n"
           "inc rdx\n"
           "cmp rdx, rcx\n"
           "jb 2b\n"
           "hlt\n");

// Busy loop of rcx iterations counting in the qword at 0x7000, then HLT.
GUEST_BLOB(g_timer, ".code64",
           "mov edi, 0x7000\n"
           "1: inc qword ptr [rdi]\n"
           "dec rcx\n"
           "jnz 1b\n"
           "hlt\n");

// ---------------------------------------------------------------------------
// Host side.

#define MIB       (1024UL * 1024UL)
#define BASE_MEM  (2 * MIB)    // slot 0 at GPA 0: tables, code, data, stack
#define EXTRA_GPA (2 * MIB)    // slot 1 (pages case) starts right after it
#define MMIO_GPA  0x10000000UL // no memslot there
#define RM_CODE   0x1000UL
#define LM_GDT    0x1000UL
#define LM_PML4   0x2000UL
#define LM_PDPT   0x3000UL
#define LM_PD     0x4000UL
#define LM_PT     0x5000UL
#define LM_CODE   0x8000UL
#define LM_STACK  0x1ff000UL

struct vm {
    int fd, vcpu;
    struct kvm_run *run;
    uint8_t *mem; // slot 0
    size_t mem_size;
    uint8_t *mem2; // slot 1, optional
    size_t mem2_size;
    char *why; // where a failing check explains itself
};

static int kvm_fd = -1;
static int run_size;
static struct kvm_cpuid2 *supported;
static int passed, failed;
static unsigned long pages_mib = 32;
static unsigned long timer_loops = 2000000;
static int timer_if0;

static inline uint64_t rdtsc(void)
{
    uint32_t lo, hi;
    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return ((uint64_t)hi << 32) | lo;
}

// Records why a case failed (the first reason wins) and returns -1.
static int fail(struct vm *vm, const char *fmt, ...)
{
    if (vm->why[0] == 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(vm->why, 256, fmt, ap);
        va_end(ap);
    }
    return -1;
}

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) return fail(vm, __VA_ARGS__);                                                 \
    } while (0)

static const char *exit_name(uint32_t r)
{
    static char buf[32];
    switch (r) {
    case KVM_EXIT_UNKNOWN:
        return "UNKNOWN";
    case KVM_EXIT_EXCEPTION:
        return "EXCEPTION";
    case KVM_EXIT_IO:
        return "IO";
    case KVM_EXIT_HLT:
        return "HLT";
    case KVM_EXIT_MMIO:
        return "MMIO";
    case KVM_EXIT_SHUTDOWN:
        return "SHUTDOWN";
    case KVM_EXIT_FAIL_ENTRY:
        return "FAIL_ENTRY";
    case KVM_EXIT_INTR:
        return "INTR";
    case KVM_EXIT_INTERNAL_ERROR:
        return "INTERNAL_ERROR";
    }
    snprintf(buf, sizeof buf, "%u", r);
    return buf;
}

// Describes an exit nobody expected.
static int unexpected(struct vm *vm, const char *what)
{
    struct kvm_run *r = vm->run;
    struct kvm_regs regs;
    unsigned long long rip = 0;
    if (ioctl(vm->vcpu, KVM_GET_REGS, &regs) == 0) rip = regs.rip;
    switch (r->exit_reason) {
    case KVM_EXIT_FAIL_ENTRY:
        return fail(vm, "%s: FAIL_ENTRY hardware reason 0x%llx", what,
                    (unsigned long long)r->fail_entry.hardware_entry_failure_reason);
    case KVM_EXIT_INTERNAL_ERROR:
        return fail(vm, "%s: INTERNAL_ERROR suberror %u rip 0x%llx", what, r->internal.suberror,
                    rip);
    case KVM_EXIT_IO:
        return fail(vm, "%s: unexpected IO %s port 0x%x size %u rip 0x%llx", what,
                    r->io.direction == KVM_EXIT_IO_OUT ? "out" : "in", r->io.port, r->io.size, rip);
    case KVM_EXIT_MMIO:
        return fail(vm, "%s: unexpected MMIO %s 0x%llx len %u rip 0x%llx", what,
                    r->mmio.is_write ? "write" : "read", (unsigned long long)r->mmio.phys_addr,
                    r->mmio.len, rip);
    }
    return fail(vm, "%s: unexpected exit %s rip 0x%llx", what, exit_name(r->exit_reason), rip);
}

// KVM_RUN once; a signal (KVM_EXIT_INTR) is returned as such.
static int vm_run(struct vm *vm)
{
    if (ioctl(vm->vcpu, KVM_RUN, 0) < 0) {
        if (errno == EINTR) {
            vm->run->exit_reason = KVM_EXIT_INTR;
            return 0;
        }
        return fail(vm, "KVM_RUN: %s", strerror(errno));
    }
    return 0;
}

// KVM_RUN until an exit other than a signal.
static int vm_run_to_exit(struct vm *vm)
{
    do {
        if (vm_run(vm)) return -1;
    } while (vm->run->exit_reason == KVM_EXIT_INTR);
    return 0;
}

static void vm_destroy(struct vm *vm)
{
    if (vm->run) munmap(vm->run, run_size);
    if (vm->vcpu >= 0) close(vm->vcpu);
    if (vm->fd >= 0) close(vm->fd);
    if (vm->mem) munmap(vm->mem, vm->mem_size);
    if (vm->mem2) munmap(vm->mem2, vm->mem2_size);
}

static int add_slot(struct vm *vm, uint32_t slot, uint64_t gpa, size_t size, uint8_t **mem,
                    int no_thp)
{
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                   -1, 0);
    CHECK(p != MAP_FAILED, "mmap %zu bytes: %s", size, strerror(errno));
    *mem = p;
    if (no_thp) madvise(p, size, MADV_NOHUGEPAGE); // one EPT fault per 4 KiB, not per 2 MiB
    struct kvm_userspace_memory_region region = {
        .slot = slot,
        .guest_phys_addr = gpa,
        .memory_size = size,
        .userspace_addr = (uintptr_t)p,
    };
    CHECK(ioctl(vm->fd, KVM_SET_USER_MEMORY_REGION, &region) == 0, "KVM_SET_USER_MEMORY_REGION: %s",
          strerror(errno));
    return 0;
}

static int vm_create(struct vm *vm)
{
    vm->fd = ioctl(kvm_fd, KVM_CREATE_VM, 0);
    CHECK(vm->fd >= 0, "KVM_CREATE_VM: %s", strerror(errno));
    // Needed only without unrestricted guest; harmless with it.
    CHECK(ioctl(vm->fd, KVM_SET_TSS_ADDR, 0xfffbd000UL) == 0, "KVM_SET_TSS_ADDR: %s",
          strerror(errno));
    vm->mem_size = BASE_MEM;
    if (add_slot(vm, 0, 0, vm->mem_size, &vm->mem, 0)) return -1;
    vm->vcpu = ioctl(vm->fd, KVM_CREATE_VCPU, 0);
    CHECK(vm->vcpu >= 0, "KVM_CREATE_VCPU: %s", strerror(errno));
    vm->run = mmap(NULL, run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vm->vcpu, 0);
    CHECK(vm->run != MAP_FAILED, "mmap kvm_run: %s", strerror(errno));
    return 0;
}

static int set_cpuid(struct vm *vm, struct kvm_cpuid2 *c)
{
    CHECK(ioctl(vm->vcpu, KVM_SET_CPUID2, c) == 0, "KVM_SET_CPUID2: %s", strerror(errno));
    return 0;
}

static struct kvm_cpuid2 *cpuid_copy(void)
{
    size_t sz = sizeof(*supported) + supported->nent * sizeof(supported->entries[0]);
    struct kvm_cpuid2 *c = malloc(sz + sizeof(supported->entries[0]));
    if (!c) {
        perror("kvmtest: malloc");
        exit(2);
    }
    memcpy(c, supported, sz);
    return c;
}

static struct kvm_cpuid_entry2 *cpuid_find(struct kvm_cpuid2 *c, uint32_t fn, uint32_t idx)
{
    for (uint32_t i = 0; i < c->nent; i++)
        if (c->entries[i].function == fn && c->entries[i].index == idx) return &c->entries[i];
    return NULL;
}

static void seg(struct kvm_segment *s, uint16_t sel, uint8_t type, int code64)
{
    memset(s, 0, sizeof *s);
    s->base = 0;
    s->limit = 0xffffffff;
    s->selector = sel;
    s->type = type;
    s->present = 1;
    s->s = 1;
    s->g = 1;
    s->l = code64;
    s->db = !code64;
}

// 64-bit mode with paging: GDT, 4-level tables identity-mapping the first
// GiB (first 2 MiB in 4 KiB pages, the rest in 2 MiB pages) and aliasing it
// at 1 GiB, the blob at LM_CODE, the stack under LM_STACK. The CPUID the
// guest sees is KVM's supported set (as a VMM would give), unless `cpuid`.
static int vm_long_mode(struct vm *vm, const uint8_t *start, const uint8_t *end,
                        struct kvm_cpuid2 *cpuid)
{
    uint8_t *m = vm->mem;
    if (set_cpuid(vm, cpuid ? cpuid : supported)) return -1;
    uint64_t *gdt = (uint64_t *)(m + LM_GDT);
    gdt[0] = 0;
    gdt[1] = 0x00af9b000000ffffULL; // 0x08: 64-bit code, accessed
    gdt[2] = 0x00cf93000000ffffULL; // 0x10: data, accessed
    uint64_t *pml4 = (uint64_t *)(m + LM_PML4), *pdpt = (uint64_t *)(m + LM_PDPT);
    uint64_t *pd = (uint64_t *)(m + LM_PD), *pt = (uint64_t *)(m + LM_PT);
    pml4[0] = LM_PDPT | 3;
    pdpt[0] = LM_PD | 3;
    pdpt[1] = LM_PD | 3; // VA 1 GiB + x -> GPA x
    pd[0] = LM_PT | 3;
    for (int i = 1; i < 512; i++)
        pd[i] = ((uint64_t)i << 21) | 0x83;
    for (int i = 0; i < 512; i++)
        pt[i] = ((uint64_t)i << 12) | 3;
    memcpy(m + LM_CODE, start, end - start);

    struct kvm_sregs sregs;
    CHECK(ioctl(vm->vcpu, KVM_GET_SREGS, &sregs) == 0, "KVM_GET_SREGS: %s", strerror(errno));
    seg(&sregs.cs, 0x08, 11, 1);
    seg(&sregs.ds, 0x10, 3, 0);
    sregs.es = sregs.fs = sregs.gs = sregs.ss = sregs.ds;
    sregs.gdt.base = LM_GDT;
    sregs.gdt.limit = 3 * 8 - 1;
    sregs.cr0 = 0x80050033; // PG WP NE ET MP PE
    sregs.cr3 = LM_PML4;
    sregs.cr4 = 0x6a0;  // OSXMMEXCPT OSFXSR PGE PAE
    sregs.efer = 0x500; // LMA LME
    CHECK(ioctl(vm->vcpu, KVM_SET_SREGS, &sregs) == 0, "KVM_SET_SREGS (long mode): %s",
          strerror(errno));
    struct kvm_regs regs = {.rip = LM_CODE, .rsp = LM_STACK, .rflags = 2};
    CHECK(ioctl(vm->vcpu, KVM_SET_REGS, &regs) == 0, "KVM_SET_REGS: %s", strerror(errno));
    return 0;
}

static int get_regs(struct vm *vm, struct kvm_regs *regs)
{
    CHECK(ioctl(vm->vcpu, KVM_GET_REGS, regs) == 0, "KVM_GET_REGS: %s", strerror(errno));
    return 0;
}

// Runs to the next exit and requires it to be HLT with RIP right after the
// HLT at guest address `after`.
static int expect_hlt(struct vm *vm, uint64_t after, const char *what)
{
    if (vm_run_to_exit(vm)) return -1;
    if (vm->run->exit_reason != KVM_EXIT_HLT) return unexpected(vm, what);
    struct kvm_regs regs;
    if (get_regs(vm, &regs)) return -1;
    CHECK(regs.rip == after, "%s: HLT exit with rip 0x%llx, want 0x%llx", what, regs.rip,
          (unsigned long long)after);
    return 0;
}

static long long vcpu_stat(struct vm *vm, const char *name) { return kvm_vcpu_stat(vm->vcpu, name); }

// Sum of the "LOC:" (local APIC timer) line of /proc/interrupts, or -1.
static long long local_timer_irqs(void)
{
    FILE *f = fopen("/proc/interrupts", "r");
    char line[1024];
    long long sum = -1;
    if (!f) return -1;
    while (fgets(line, sizeof line, f)) {
        char *p = line;
        while (*p == ' ')
            p++;
        if (strncmp(p, "LOC:", 4) != 0) continue;
        p += 4;
        sum = 0;
        for (;;) {
            char *e;
            long long v = strtoll(p, &e, 10);
            if (e == p) break;
            sum += v;
            p = e;
        }
    }
    fclose(f);
    return sum;
}

// ---------------------------------------------------------------------------
// The cases.

static int case_realmode(struct vm *vm)
{
    memcpy(vm->mem + RM_CODE, g_realmode_start, g_realmode_end - g_realmode_start);
    struct kvm_sregs sregs;
    CHECK(ioctl(vm->vcpu, KVM_GET_SREGS, &sregs) == 0, "KVM_GET_SREGS: %s", strerror(errno));
    CHECK(!(sregs.cr0 & 1), "vCPU does not start in real mode (cr0 0x%llx)", sregs.cr0);
    sregs.cs.base = 0;
    sregs.cs.selector = 0;
    sregs.ds.base = sregs.es.base = sregs.ss.base = 0;
    sregs.ds.selector = sregs.es.selector = sregs.ss.selector = 0;
    CHECK(ioctl(vm->vcpu, KVM_SET_SREGS, &sregs) == 0, "KVM_SET_SREGS: %s", strerror(errno));
    struct kvm_regs regs = {.rip = RM_CODE, .rsp = 0x7000, .rflags = 2};
    CHECK(ioctl(vm->vcpu, KVM_SET_REGS, &regs) == 0, "KVM_SET_REGS: %s", strerror(errno));
    const uint8_t want[2] = {0x34, 0x13};
    for (int i = 0; i < 2; i++) {
        if (vm_run_to_exit(vm)) return -1;
        struct kvm_run *r = vm->run;
        if (r->exit_reason != KVM_EXIT_IO) return unexpected(vm, i ? "second OUT" : "first OUT");
        uint8_t v = *((uint8_t *)r + r->io.data_offset);
        CHECK(
            r->io.direction == KVM_EXIT_IO_OUT && r->io.port == 0x10 && r->io.size == 1 &&
                r->io.count == 1 && v == want[i],
            "OUT %d: dir %u port 0x%x size %u count %u value 0x%x, want out 0x10 size 1 value 0x%x",
            i, r->io.direction, r->io.port, r->io.size, r->io.count, v, want[i]);
    }
    if (expect_hlt(vm, RM_CODE + (g_realmode_end - g_realmode_start), "real-mode HLT")) return -1;
    uint16_t stored;
    memcpy(&stored, vm->mem + 0x500, 2);
    CHECK(stored == 0xbeef, "real-mode store: 0x%x at 0x500, want 0xbeef", stored);
    return 0;
}

static int case_longmode(struct vm *vm)
{
    if (vm_long_mode(vm, g_longmode_start, g_longmode_end, NULL)) return -1;
    if (expect_hlt(vm, LM_CODE + (g_longmode_after_hlt - g_longmode_start), "long-mode HLT"))
        return -1;
    uint64_t cr0, cr4, efer = 0, alias;
    memcpy(&cr0, vm->mem + 0x6000, 8);
    memcpy(&cr4, vm->mem + 0x6008, 8);
    memcpy(&efer, vm->mem + 0x6010, 4);
    memcpy(&alias, vm->mem + 0x7000, 8);
    CHECK((cr0 & 0x80000001) == 0x80000001, "guest CR0 0x%llx lacks PG/PE",
          (unsigned long long)cr0);
    CHECK(cr4 & 0x20, "guest CR4 0x%llx lacks PAE", (unsigned long long)cr4);
    CHECK((efer & 0x500) == 0x500, "guest EFER 0x%llx lacks LME/LMA", (unsigned long long)efer);
    CHECK(alias == 0x1122334455667788ULL,
          "write through the 1 GiB alias landed as 0x%llx at GPA 0x7000",
          (unsigned long long)alias);
    struct kvm_regs regs;
    if (get_regs(vm, &regs)) return -1;
    CHECK(regs.rbx == 0x1122334455667788ULL && regs.rdx == regs.rbx && regs.rcx == ~regs.rbx,
          "registers after call/push/pop: rbx 0x%llx rcx 0x%llx rdx 0x%llx", regs.rbx, regs.rcx,
          regs.rdx);
    CHECK(regs.rsp == LM_STACK, "rsp 0x%llx after balanced stack use, want 0x%lx", regs.rsp,
          LM_STACK);
    struct kvm_sregs sregs;
    CHECK(ioctl(vm->vcpu, KVM_GET_SREGS, &sregs) == 0, "KVM_GET_SREGS: %s", strerror(errno));
    CHECK(sregs.cs.l == 1 && (sregs.efer & 0x400),
          "vCPU not in 64-bit mode at exit (cs.l %u efer 0x%llx)", sregs.cs.l, sregs.efer);
    return 0;
}

static int case_io(struct vm *vm)
{
    if (vm_long_mode(vm, g_io_start, g_io_end, NULL)) return -1;
    memcpy(vm->mem + 0x7100, "nvio", 4);
    static const struct {
        uint8_t dir, size;
        uint32_t value; // OUT: expected; IN: supplied
    } steps[] = {
        {KVM_EXIT_IO_OUT, 1, 0x11}, {KVM_EXIT_IO_OUT, 2, 0x2233}, {KVM_EXIT_IO_OUT, 4, 0x44556677},
        {KVM_EXIT_IO_IN, 1, 0xa5},  {KVM_EXIT_IO_IN, 2, 0xbeef},  {KVM_EXIT_IO_IN, 4, 0xdeadbeef},
    };
    struct kvm_run *r = vm->run;
    for (unsigned i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        if (vm_run_to_exit(vm)) return -1;
        if (r->exit_reason != KVM_EXIT_IO) return unexpected(vm, "single I/O");
        uint8_t *data = (uint8_t *)r + r->io.data_offset;
        CHECK(r->io.direction == steps[i].dir && r->io.size == steps[i].size &&
                  r->io.port == 0x3f0 && r->io.count == 1,
              "I/O %u: dir %u size %u port 0x%x count %u, want dir %u size %u port 0x3f0 count 1",
              i, r->io.direction, r->io.size, r->io.port, r->io.count, steps[i].dir, steps[i].size);
        if (steps[i].dir == KVM_EXIT_IO_OUT) {
            uint32_t v = 0;
            memcpy(&v, data, steps[i].size);
            CHECK(v == steps[i].value, "OUT size %u: value 0x%x, want 0x%x", steps[i].size, v,
                  steps[i].value);
        } else {
            memcpy(data, &steps[i].value, steps[i].size);
        }
    }
    // REP OUTSB / REP INSB: KVM may split them over several exits.
    char out[8] = {0};
    unsigned n = 0;
    while (n < 4) {
        if (vm_run_to_exit(vm)) return -1;
        if (r->exit_reason != KVM_EXIT_IO) return unexpected(vm, "REP OUTSB");
        CHECK(r->io.direction == KVM_EXIT_IO_OUT && r->io.size == 1 && r->io.port == 0x3f0 &&
                  r->io.count >= 1 && n + r->io.count <= 4,
              "REP OUTSB: dir %u size %u port 0x%x count %u after %u bytes", r->io.direction,
              r->io.size, r->io.port, r->io.count, n);
        memcpy(out + n, (uint8_t *)r + r->io.data_offset, r->io.count);
        n += r->io.count;
    }
    CHECK(memcmp(out, "nvio", 4) == 0, "REP OUTSB delivered \"%.4s\", want \"nvio\"", out);
    const char *in = "KVM!";
    n = 0;
    while (n < 4) {
        if (vm_run_to_exit(vm)) return -1;
        if (r->exit_reason != KVM_EXIT_IO) return unexpected(vm, "REP INSB");
        CHECK(r->io.direction == KVM_EXIT_IO_IN && r->io.size == 1 && r->io.port == 0x3f0 &&
                  r->io.count >= 1 && n + r->io.count <= 4,
              "REP INSB: dir %u size %u port 0x%x count %u after %u bytes", r->io.direction,
              r->io.size, r->io.port, r->io.count, n);
        memcpy((uint8_t *)r + r->io.data_offset, in + n, r->io.count);
        n += r->io.count;
    }
    if (expect_hlt(vm, LM_CODE + (g_io_end - g_io_start), "I/O HLT")) return -1;
    struct kvm_regs regs;
    if (get_regs(vm, &regs)) return -1;
    CHECK(regs.r8 == 0xa5 && regs.r9 == 0xbeef && regs.r10 == 0xdeadbeef,
          "IN results r8 0x%llx r9 0x%llx r10 0x%llx, want 0xa5 0xbeef 0xdeadbeef", regs.r8,
          regs.r9, regs.r10);
    CHECK(memcmp(vm->mem + 0x7200, "KVM!", 4) == 0, "REP INSB stored \"%.4s\", want \"KVM!\"",
          (char *)vm->mem + 0x7200);
    return 0;
}

static int case_mmio(struct vm *vm)
{
    if (vm_long_mode(vm, g_mmio_start, g_mmio_end, NULL)) return -1;
    static const struct {
        uint8_t write, len, off;
        uint64_t value; // write: expected; read: supplied
    } steps[] = {
        {1, 4, 0x00, 0x12345678}, {1, 8, 0x08, 0x1122334455667788ULL},
        {0, 4, 0x10, 0xcafef00d}, {0, 8, 0x18, 0x0123456789abcdefULL},
        {1, 1, 0x20, 0x5a},
    };
    struct kvm_run *r = vm->run;
    for (unsigned i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        if (vm_run_to_exit(vm)) return -1;
        if (r->exit_reason != KVM_EXIT_MMIO) return unexpected(vm, "MMIO access");
        CHECK(r->mmio.is_write == steps[i].write && r->mmio.len == steps[i].len &&
                  r->mmio.phys_addr == MMIO_GPA + steps[i].off,
              "MMIO %u: %s 0x%llx len %u, want %s 0x%lx len %u", i,
              r->mmio.is_write ? "write" : "read", (unsigned long long)r->mmio.phys_addr,
              r->mmio.len, steps[i].write ? "write" : "read", MMIO_GPA + steps[i].off,
              steps[i].len);
        if (steps[i].write) {
            uint64_t v = 0;
            memcpy(&v, r->mmio.data, steps[i].len);
            CHECK(v == steps[i].value, "MMIO write len %u: value 0x%llx, want 0x%llx", steps[i].len,
                  (unsigned long long)v, (unsigned long long)steps[i].value);
        } else {
            memcpy(r->mmio.data, &steps[i].value, steps[i].len);
        }
    }
    if (expect_hlt(vm, LM_CODE + (g_mmio_end - g_mmio_start), "MMIO HLT")) return -1;
    struct kvm_regs regs;
    if (get_regs(vm, &regs)) return -1;
    CHECK(regs.rbx == 0xcafef00d && regs.rcx == 0x0123456789abcdefULL,
          "MMIO reads gave rbx 0x%llx rcx 0x%llx, want 0xcafef00d 0x123456789abcdef", regs.rbx,
          regs.rcx);
    return 0;
}

static int case_hlt(struct vm *vm)
{
    if (vm_long_mode(vm, g_hlt_start, g_hlt_end, NULL)) return -1;
    // mov eax, imm32 is 5 bytes, hlt 1.
    struct kvm_regs regs;
    if (expect_hlt(vm, LM_CODE + 6, "first HLT") || get_regs(vm, &regs)) return -1;
    CHECK(regs.rax == 1, "rax 0x%llx at the first HLT, want 1", regs.rax);
    if (expect_hlt(vm, LM_CODE + 12, "second HLT") || get_regs(vm, &regs)) return -1;
    CHECK(regs.rax == 2, "rax 0x%llx at the second HLT, want 2", regs.rax);
    return 0;
}

static int case_cpuid(struct vm *vm)
{
    struct kvm_cpuid2 *c = cpuid_copy();
    struct kvm_cpuid_entry2 *l0 = cpuid_find(c, 0, 0), *l1 = cpuid_find(c, 1, 0);
    struct kvm_cpuid_entry2 *lh = cpuid_find(c, 0x40000000, 0), *le = cpuid_find(c, 0x80000000, 0);
    if (!l0 || !l1 || !le) {
        free(c);
        return fail(vm, "KVM_GET_SUPPORTED_CPUID lacks leaf 0, 1 or 0x80000000");
    }
    if (!lh) {
        lh = &c->entries[c->nent++];
        memset(lh, 0, sizeof *lh);
        lh->function = 0x40000000;
    }
    l1->eax = 0x000906ed; // a family/model/stepping the host does not have
    lh->eax = 0x40000001;
    memcpy(&lh->ebx, "NestVisorKVM", 4);
    memcpy(&lh->ecx, "NestVisorKVM" + 4, 4);
    memcpy(&lh->edx, "NestVisorKVM" + 8, 4);
    uint32_t want[4][4] = {
        {l0->eax, l0->ebx, l0->ecx, l0->edx},
        {l1->eax, 0, 0, 0},
        {lh->eax, lh->ebx, lh->ecx, lh->edx},
        {le->eax, le->ebx, le->ecx, le->edx},
    };
    int r = vm_long_mode(vm, g_cpuid_start, g_cpuid_end, c);
    free(c);
    if (r) return -1;
    if (vm_run_to_exit(vm)) return -1;
    if (vm->run->exit_reason != KVM_EXIT_HLT) return unexpected(vm, "CPUID HLT");
    static const uint32_t leaves[4] = {0, 1, 0x40000000, 0x80000000};
    for (int i = 0; i < 4; i++) {
        uint32_t got[4];
        memcpy(got, vm->mem + 0x6000 + 16 * i, 16);
        int n = i == 1 ? 1 : 4; // leaf 1: only EAX is ours alone (KVM adjusts bits of EBX-EDX)
        for (int j = 0; j < n; j++)
            CHECK(got[j] == want[i][j], "CPUID 0x%x: %s = 0x%08x, want 0x%08x", leaves[i],
                  (const char *[]){"eax", "ebx", "ecx", "edx"}[j], got[j], want[i][j]);
    }
    return 0;
}

static int case_pages(struct vm *vm)
{
    uint64_t npages = pages_mib * MIB / 4096;
    vm->mem2_size = pages_mib * MIB;
    if (add_slot(vm, 1, EXTRA_GPA, vm->mem2_size, &vm->mem2, 1)) return -1;
    if (vm_long_mode(vm, g_pages_start, g_pages_end, NULL)) return -1;
    struct kvm_regs regs;
    if (get_regs(vm, &regs)) return -1;
    regs.rsi = EXTRA_GPA;
    regs.rcx = npages;
    CHECK(ioctl(vm->vcpu, KVM_SET_REGS, &regs) == 0, "KVM_SET_REGS: %s", strerror(errno));
    if (expect_hlt(vm, LM_CODE + (g_pages_end - g_pages_start), "pages HLT") || get_regs(vm, &regs))
        return -1;
    uint64_t sum = 0;
    for (uint64_t i = 0; i < npages; i++) {
        uint64_t v = (i * 0x9e3779b97f4a7c15ULL) ^ 0x5a5a5a5a5a5a5a5aULL, got;
        memcpy(&got, vm->mem2 + i * 4096 + (i & 0x1ff) * 8, 8);
        CHECK(got == v, "page %llu (GPA 0x%llx): host sees 0x%llx, want 0x%llx",
              (unsigned long long)i, (unsigned long long)(EXTRA_GPA + i * 4096 + (i & 0x1ff) * 8),
              (unsigned long long)got, (unsigned long long)v);
        sum = ((sum << 7) | (sum >> 57)) ^ v;
    }
    CHECK(regs.r10 == sum, "guest checksum 0x%llx, want 0x%llx", regs.r10, (unsigned long long)sum);
    return 0;
}

static volatile sig_atomic_t alarms;
static void on_alarm(int sig)
{
    (void)sig;
    alarms++;
}

static char timer_info[160];

static int case_timer(struct vm *vm)
{
    if (vm_long_mode(vm, g_timer_start, g_timer_end, NULL)) return -1;
    struct kvm_regs regs;
    if (get_regs(vm, &regs)) return -1;
    regs.rcx = timer_loops;
    // With external-interrupt exiting (KVM always sets it) the guest's IF
    // does not matter to the host's interrupts; Bochs 2.7 gets that wrong
    // (README.md), so the guest runs with IF=1 unless -i asks otherwise.
    regs.rflags = timer_if0 ? 0x2 : 0x202;
    CHECK(ioctl(vm->vcpu, KVM_SET_REGS, &regs) == 0, "KVM_SET_REGS: %s", strerror(errno));
    struct sigaction sa = {.sa_handler = on_alarm}; // no SA_RESTART: KVM_RUN returns EINTR
    sigemptyset(&sa.sa_mask);
    sigaction(SIGALRM, &sa, NULL);
    struct itimerval it = {.it_interval = {0, 50000}, .it_value = {0, 50000}};
    long long loc0 = local_timer_irqs();
    uint64_t last = 0, seen_midway = 0;
    unsigned intr = 0;
    setitimer(ITIMER_REAL, &it, NULL);
    int r = 0;
    for (;;) {
        if ((r = vm_run(vm))) break;
        if (vm->run->exit_reason != KVM_EXIT_INTR) break;
        intr++;
        uint64_t count;
        memcpy(&count, vm->mem + 0x7000, 8);
        if (count < last) {
            r = fail(vm, "loop counter went back from %llu to %llu", (unsigned long long)last,
                     (unsigned long long)count);
            break;
        }
        if (count > last && count < timer_loops) seen_midway++;
        last = count;
    }
    struct itimerval off = {{0, 0}, {0, 0}};
    setitimer(ITIMER_REAL, &off, NULL);
    long long loc1 = local_timer_irqs();
    if (r) return -1;
    if (vm->run->exit_reason != KVM_EXIT_HLT) return unexpected(vm, "end of the busy loop");
    uint64_t count;
    memcpy(&count, vm->mem + 0x7000, 8);
    long long irq_exits = vcpu_stat(vm, "irq_exits"), exits = vcpu_stat(vm, "exits");
    snprintf(timer_info, sizeof timer_info,
             "%u signal returns (%llu mid-loop), LOC +%lld, irq_exits %lld", intr,
             (unsigned long long)seen_midway, loc1 - loc0, irq_exits);
    CHECK(count == timer_loops, "guest counted %llu, want %lu", (unsigned long long)count,
          timer_loops);
    CHECK(seen_midway >= 1, "KVM_RUN never returned with the loop under way (%u signal returns)",
          intr);
    CHECK(loc0 < 0 || loc1 - loc0 >= 1,
          "no local timer interrupt during the run (LOC %lld -> %lld)", loc0, loc1);
    CHECK(irq_exits < 0 || irq_exits >= 1,
          "irq_exits %lld (exits %lld): no external-interrupt exit", irq_exits, exits);
    return 0;
}

// ---------------------------------------------------------------------------

static const struct {
    const char *name;
    int (*fn)(struct vm *);
} cases[] = {
    {"realmode", case_realmode}, {"longmode", case_longmode}, {"io", case_io},
    {"mmio", case_mmio},         {"hlt", case_hlt},           {"cpuid", case_cpuid},
    {"pages", case_pages},       {"timer", case_timer},
};

static int kvm_open(char *why)
{
    kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (kvm_fd < 0) {
        snprintf(why, 256, "open /dev/kvm: %s", strerror(errno));
        return -1;
    }
    int api = ioctl(kvm_fd, KVM_GET_API_VERSION, 0);
    if (api != KVM_API_VERSION) {
        snprintf(why, 256, "KVM_GET_API_VERSION %d, want %d", api, KVM_API_VERSION);
        return -1;
    }
    run_size = ioctl(kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
    if (run_size < (int)sizeof(struct kvm_run)) {
        snprintf(why, 256, "KVM_GET_VCPU_MMAP_SIZE %d", run_size);
        return -1;
    }
    for (int n = 64; n <= 4096; n *= 2) {
        supported = calloc(1, sizeof(*supported) + n * sizeof(supported->entries[0]));
        if (!supported) {
            snprintf(why, 256, "calloc: %s", strerror(errno));
            return -1;
        }
        supported->nent = n;
        if (ioctl(kvm_fd, KVM_GET_SUPPORTED_CPUID, supported) == 0) return 0;
        int e = errno;
        free(supported);
        supported = NULL;
        if (e != E2BIG) {
            snprintf(why, 256, "KVM_GET_SUPPORTED_CPUID: %s", strerror(e));
            return -1;
        }
    }
    snprintf(why, 256, "KVM_GET_SUPPORTED_CPUID: too many entries");
    return -1;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    int opt;
    while ((opt = getopt(argc, argv, "m:n:it")) != -1) {
        if (opt == 'm')
            pages_mib = strtoul(optarg, NULL, 0);
        else if (opt == 'n')
            timer_loops = strtoul(optarg, NULL, 0);
        else if (opt == 'i')
            timer_if0 = 1;
        else if (opt == 't') {
            printf("%llu\n", (unsigned long long)rdtsc());
            return 0;
        } else {
            fprintf(stderr,
                    "usage: kvmtest [-m PAGES_MIB] [-n TIMER_LOOPS] [-i] [case...] | kvmtest -t\n");
            return 2;
        }
    }
    char why[256] = "";
    uint64_t t0 = rdtsc();
    if (kvm_open(why)) {
        printf("FAIL kvm.open: %s\n", why);
        failed++;
    } else {
        printf("PASS kvm.open\n");
        passed++;
    }
    printf("INFO kvm.open: %llu TSC ticks, %u CPUID entries supported, pages %lu MiB, timer %lu "
           "loops\n",
           (unsigned long long)(rdtsc() - t0), supported ? supported->nent : 0, pages_mib,
           timer_loops);
    for (unsigned i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (optind < argc) {
            int chosen = 0;
            for (int a = optind; a < argc; a++)
                chosen |= strcmp(argv[a], cases[i].name) == 0;
            if (!chosen) continue;
        }
        if (kvm_fd < 0) {
            printf("FAIL kvm.%s: no usable /dev/kvm\n", cases[i].name);
            failed++;
            continue;
        }
        struct vm vm = {.fd = -1, .vcpu = -1, .why = why};
        why[0] = 0;
        timer_info[0] = 0;
        t0 = rdtsc();
        int r = vm_create(&vm);
        if (r == 0) r = cases[i].fn(&vm);
        uint64_t ticks = rdtsc() - t0;
        long long exits = vm.vcpu >= 0 ? vcpu_stat(&vm, "exits") : -1;
        vm_destroy(&vm);
        if (r == 0) {
            printf("PASS kvm.%s\n", cases[i].name);
            passed++;
        } else {
            printf("FAIL kvm.%s: %s\n", cases[i].name, why[0] ? why : "(no reason recorded)");
            failed++;
        }
        printf("INFO kvm.%s: %llu TSC ticks, %lld exits%s%s\n", cases[i].name,
               (unsigned long long)ticks, exits, timer_info[0] ? ", " : "", timer_info);
    }
    printf("KVMTEST DONE %d passed %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
