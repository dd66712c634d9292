// kvmtest: runs small L2 guests through Linux's /dev/kvm and checks what
// comes back. It runs as an ordinary static process in the test initramfs
// (tests/guests/linux/README.md), where Linux is L1 and its kvm_intel drives
// whatever VT-x it sees: Bochs's own, or nestvisor's emulated one.
//
// Output, one line per case: "PASS kvm.<case>" or "FAIL kvm.<case>: <why>",
// an "INFO kvm.<case>: ..." line with the case's cost (RDTSC ticks in L1; in
// Bochs one tick is one emulated instruction) and KVM's exit counters, and
// at the end "KVMTEST DONE <n> passed <m> failed <k> skipped". The SMP
// cases (ipi, migrate, allcpus) run threads pinned to the CPUs kvmtest may
// use; with fewer than two they print "SKIP kvm.<case>: <why>" instead.
//
// usage: kvmtest [-m PAGES_MIB] [-n TIMER_LOOPS] [-i] [case[,case...]...]
//        kvmtest -t      prints the TSC and exits (tests/guests/linux/init)
// -i runs the timer case's guest with RFLAGS.IF=0 (see README.md: Bochs 2.7
// then never delivers the host's interrupts as VM exits).
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#include "kvm_stats.h"
// VMX encodings, capability MSRs and exit reasons, one copy for the test
// hypervisors (SDM appendices A-C).
#include "../l1hv/vmx_defs.h"

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
// Guests of the SMP cases (ipi, migrate, allcpus). Their constants are plain
// numbers because the guest code uses them too (XSTR pastes them in).

#define STR(x)  #x
#define XSTR(x) STR(x)

#define APIC_GPA        0xfee00000 // the xAPIC's default base, identity-mapped
#define APIC_SVR        0xf0       // spurious-interrupt vector register
#define APIC_SVR_ENABLE 0x100      // APIC software enable
#define APIC_EOI        0xb0
#define APIC_ICR_LOW    0x300      // writing it sends the IPI
#define APIC_ICR_HIGH   0x310      // destination APIC ID in bits 31:24
#define APIC_DEST_SHIFT 24
#define SPURIOUS_VECTOR 0xff
#define IPI_VECTOR      0x40       // fixed delivery, physical destination
#define IPI_DONE_PORT   0xe0       // OUT: this vCPU sent and received all
#define IPI_BAD_PORT    0xe1       // OUT: an interrupt or exception nobody expected
#define VDATA_COUNT     0          // per-vCPU data: IPIs its handler counted
#define VDATA_READY     8          //   set once its APIC and IDT are up
#define SUM_PORT        0xe2       // OUT: one checksum pass is done
#define SUM_MUL         0x9e3779b97f4a7c15
#define SUM_ROL         5
#define GUEST_PAGE      4096
#define FILL_PER_PAGE_SH 3         // 8 qwords the fill guest writes per page,
#define FILL_PER_PAGE   (1 << FILL_PER_PAGE_SH)
#define FILL_STRIDE_SH  9          //   512 bytes apart
#define FILL_ROL        7

// Two vCPUs send each other IPIs through the in-kernel xAPIC. In: rdi = own
// data (VDATA_*), rsi = the peer's, r9d = the peer's APIC ID << 24, r8 = 1
// to send first, r12 = IPIs per direction. Each IPI waits until the peer's
// handler has counted it (IPIs of one vector pending together would merge).
// rdi stays fixed: the interrupt handler counts through it.
GUEST_BLOB(g_ipi, ".code64",
           "mov eax, " XSTR(APIC_GPA) "\n"
           "mov dword ptr [rax + " XSTR(APIC_SVR) "], " XSTR(APIC_SVR_ENABLE + SPURIOUS_VECTOR) "\n"
           "mov qword ptr [rdi + " XSTR(VDATA_READY) "], 1\n"
           "1: pause\n"
           "cmp qword ptr [rsi + " XSTR(VDATA_READY) "], 0\n"
           "je 1b\n"
           "sti\n"
           "test r8, r8\n"
           "jz 2f\n"
           "call g_ipi_send\n"
           "call g_ipi_wait\n"
           "jmp 3f\n"
           "2: call g_ipi_wait\n"
           "call g_ipi_send\n"
           "3: out " XSTR(IPI_DONE_PORT) ", al\n"
           "g_ipi_after_done:\n"
           "cli\n"
           "hlt\n"
           "jmp g_ipi_after_done\n"
           // Sends r12 IPIs to the peer, each after the previous one was counted.
           "g_ipi_send:\n"
           "xor ecx, ecx\n"
           "4: mov eax, " XSTR(APIC_GPA) "\n"
           "mov dword ptr [rax + " XSTR(APIC_ICR_HIGH) "], r9d\n"
           "mov dword ptr [rax + " XSTR(APIC_ICR_LOW) "], " XSTR(IPI_VECTOR) "\n"
           "inc rcx\n"
           "5: pause\n"
           "cmp qword ptr [rsi + " XSTR(VDATA_COUNT) "], rcx\n"
           "jb 5b\n"
           "cmp rcx, r12\n"
           "jb 4b\n"
           "ret\n"
           // Halts until the own handler has counted r12 IPIs (STI; HLT: no
           // interrupt slips in between the check and the HLT).
           "g_ipi_wait:\n"
           "6: cli\n"
           "cmp qword ptr [rdi + " XSTR(VDATA_COUNT) "], r12\n"
           "jae 7f\n"
           "sti\n"
           "hlt\n"
           "jmp 6b\n"
           "7: sti\n"
           "ret\n"
           "g_ipi_handler:\n"
           "push rax\n"
           "inc qword ptr [rdi + " XSTR(VDATA_COUNT) "]\n"
           "mov eax, " XSTR(APIC_GPA) "\n"
           "mov dword ptr [rax + " XSTR(APIC_EOI) "], 0\n"
           "pop rax\n"
           "iretq\n"
           // Every other vector: rbx, rcx = the top two stack slots (error
           // code or RIP first), then OUT; the host reports it.
           "g_ipi_unexpected:\n"
           "mov rbx, qword ptr [rsp]\n"
           "mov rcx, qword ptr [rsp + 8]\n"
           "out " XSTR(IPI_BAD_PORT) ", al\n"
           "cli\n"
           "hlt\n");
extern const uint8_t g_ipi_handler[], g_ipi_unexpected[];

// Checksum passes for ever, an OUT after each (KVM reports it with RIP at
// the OUT and skips it at the next KVM_RUN). In: rsi = buffer, rcx =
// qwords, r8 = seed. Pass p (counted in rbx, from 1 at the OUT): every qword
// x = x * SUM_MUL + (seed ^ p'), p' = p - 1, stored back; rax = rol(rax,
// SUM_ROL) ^ x runs on over all passes. The state lives in registers and in
// memory across every exit and every move to another CPU.
GUEST_BLOB(g_sum, ".code64",
           "xor eax, eax\n"
           "xor ebx, ebx\n"
           "mov r15, " XSTR(SUM_MUL) "\n"
           "1: mov rdi, rsi\n"
           "mov rdx, rcx\n"
           "mov r9, r8\n"
           "xor r9, rbx\n"
           "2: mov r10, qword ptr [rdi]\n"
           "imul r10, r15\n"
           "add r10, r9\n"
           "mov qword ptr [rdi], r10\n"
           "rol rax, " XSTR(SUM_ROL) "\n"
           "xor rax, r10\n"
           "add rdi, 8\n"
           "dec rdx\n"
           "jnz 2b\n"
           "inc rbx\n"
           "g_sum_out:\n"
           "out " XSTR(SUM_PORT) ", al\n"
           "jmp 1b\n");
extern const uint8_t g_sum_out[];
_Static_assert((FILL_PER_PAGE << FILL_STRIDE_SH) <= GUEST_PAGE, "fill stride leaves the page");

// Writes FILL_PER_PAGE qwords, FILL_STRIDE apart, into each 4 KiB page of
// [rsi, rsi + rcx pages): qword k of page p = (p * FILL_PER_PAGE + k) *
// SUM_MUL ^ r8; then reads them all back: rax = rol(rax, FILL_ROL) ^ value
// over all, rbx = values that differ from what was written. HLT.
GUEST_BLOB(g_fill, ".code64",
           "mov r11, rsi\n"
           "mov r15, " XSTR(SUM_MUL) "\n"
           "xor edx, edx\n"
           "1: xor r9d, r9d\n"
           "2: mov r10, rdx\n"
           "shl r10, " XSTR(FILL_PER_PAGE_SH) "\n"
           "or r10, r9\n"
           "imul r10, r15\n"
           "xor r10, r8\n"
           "mov r12, r9\n"
           "shl r12, " XSTR(FILL_STRIDE_SH) "\n"
           "mov qword ptr [rsi + r12], r10\n"
           "inc r9\n"
           "cmp r9, " XSTR(FILL_PER_PAGE) "\n"
           "jb 2b\n"
           "add rsi, " XSTR(GUEST_PAGE) "\n"
           "inc rdx\n"
           "cmp rdx, rcx\n"
           "jb 1b\n"
           "mov rsi, r11\n"
           "xor edx, edx\n"
           "xor eax, eax\n"
           "xor ebx, ebx\n"
           "3: xor r9d, r9d\n"
           "4: mov r10, rdx\n"
           "shl r10, " XSTR(FILL_PER_PAGE_SH) "\n"
           "or r10, r9\n"
           "imul r10, r15\n"
           "xor r10, r8\n"
           "mov r12, r9\n"
           "shl r12, " XSTR(FILL_STRIDE_SH) "\n"
           "mov r13, qword ptr [rsi + r12]\n"
           "cmp r13, r10\n"
           "je 5f\n"
           "inc rbx\n"
           "5: rol rax, " XSTR(FILL_ROL) "\n"
           "xor rax, r13\n"
           "inc r9\n"
           "cmp r9, " XSTR(FILL_PER_PAGE) "\n"
           "jb 4b\n"
           "add rsi, " XSTR(GUEST_PAGE) "\n"
           "inc rdx\n"
           "cmp rdx, rcx\n"
           "jb 3b\n"
           "hlt\n");

// ---------------------------------------------------------------------------
// Guests of the apic, dirtylog and nestedvmx cases; their constants too are
// plain numbers the guest code pastes in.

// apic: an interpreter of a script the host writes (AOP_* ops of two qwords,
// op and argument), so that the host knows exactly what the guest did and
// what its log must hold. APIC registers go through g_apic_rd/g_apic_wr:
// MMIO in xAPIC mode, RDMSR/WRMSR after AOP_X2APIC. The log (AP_LOG, AP_LOG_COUNT entries) takes one
// qword per event: kind << LOG_KIND_SHIFT | value.
#define APIC_TPR          0x80  // task-priority register (SDM 10.8.3.1)
#define APIC_ISR          0x100 // in-service register, 8 x 32 bits
#define APIC_IRR          0x200 // interrupt request register, 8 x 32 bits
#define APIC_REG_STRIDE   0x10  // ISR/IRR: one 32-bit register per 16 bytes
#define APIC_VEC_REGS     8     //   of APIC_VECS_PER_REG vectors each
#define APIC_VEC_SHIFT    5
#define APIC_VECS_PER_REG 32
#define APIC_ICR_ASSERT   0x4000
#define APIC_ICR_SELF     0x40000 // destination shorthand 01b: self (SDM 10.6.1)
#define AOP_END           0
#define AOP_IPI           1  // write the argument to ICR low
#define AOP_TPR           2  // write the argument to TPR (MMIO)
#define AOP_CR8           3  // MOV to CR8 (TPR bits 7:4, SDM 10.8.6.1)
#define AOP_STI           4
#define AOP_CLI           5
#define AOP_MARK          6  // log LOG_MARK | argument
#define AOP_WAIT          7  // spin until the log has `argument` entries
#define AOP_DELAY         8  // spin `argument` PAUSEs
#define AOP_READ          9  // log LOG_VALUE | the APIC register at offset `argument`
#define AOP_READ_CR8      10 // log LOG_VALUE | CR8
#define AOP_X2APIC        11 // switch to x2APIC mode: registers are MSRs from now on
#define AOP_SIZE          16
#define LOG_KIND_SHIFT    32
#define LOG_IRQ           1  // the handler ran for this vector (highest ISR bit)
#define LOG_MARK          2
#define LOG_VALUE         3
#define LOG_TIMEOUT       4  // AOP_WAIT gave up at this many entries
#define LOG_NOISR         5  // the handler ran with no ISR bit set
#define AP_WAIT_SPINS     200000
#define AP_LOG_COUNT      0xb000  // qword
#define AP_X2APIC         0xb008  // qword: 0 xAPIC (MMIO), 1 x2APIC (MSRs)
#define MSR_APIC_BASE     0x1b
#define APIC_BASE_EXTD    0x400   // x2APIC mode enable (SDM 10.12.1)
#define X2APIC_MSR_BASE   0x800   // MSR 0x800 + offset / 16 (SDM 10.12.1.2)
#define APIC_REG_SHIFT    4
#define AP_LOG_MAX        512
#define AP_COUNTS         0xc000  // qword per vector: times the handler ran
#define AP_HSCRIPT        0xd000  // qword per vector: a script its handler runs, or 0
#define AP_LOG            0xe000  // AP_LOG_MAX qwords
#define AP_SCRIPT         0x10000 // the main script
#define AP_SCRIPT_MAX     0x800   //   ops, then the handlers' scripts
#define AP_DONE_PORT      0xe4    // OUT: the main script ended (rax = log entries)
#define AP_BAD_PORT       0xe5    // OUT: an exception (rbx, rcx = top of stack)

GUEST_BLOB(g_apic, ".code64",
           "mov eax, " XSTR(APIC_GPA) "\n"
           "mov dword ptr [rax + " XSTR(APIC_SVR) "], " XSTR(APIC_SVR_ENABLE + SPURIOUS_VECTOR) "\n"
           "mov esi, " XSTR(AP_SCRIPT) "\n"
           "call g_apic_run\n"
           "mov rax, qword ptr ds:" XSTR(AP_LOG_COUNT) "\n"
           "out " XSTR(AP_DONE_PORT) ", al\n"
           "1: cli\n"
           "hlt\n"
           "jmp 1b\n"
           // Appends rdx to the log with interrupts off; keeps all but rcx.
           "g_apic_log:\n"
           "pushfq\n"
           "cli\n"
           "mov rcx, qword ptr ds:" XSTR(AP_LOG_COUNT) "\n"
           "cmp rcx, " XSTR(AP_LOG_MAX) "\n"
           "jae 1f\n"
           "mov qword ptr [" XSTR(AP_LOG) " + rcx * 8], rdx\n"
           "inc rcx\n"
           "mov qword ptr ds:" XSTR(AP_LOG_COUNT) ", rcx\n"
           "1: popfq\n"
           "ret\n"
           // Runs the script at rsi; clobbers rax, rcx, rdx, rsi.
           "g_apic_run:\n"
           "10: mov rax, qword ptr [rsi]\n"
           "mov rdx, qword ptr [rsi + 8]\n"
           "add rsi, " XSTR(AOP_SIZE) "\n"
           "cmp rax, " XSTR(AOP_END) "\n"
           "jne 11f\n"
           "ret\n"
           "11: cmp rax, " XSTR(AOP_IPI) "\n"
           "jne 12f\n"
           "mov ecx, " XSTR(APIC_ICR_LOW) "\n" // x2APIC: the 64-bit ICR, MSR 0x830
           "call g_apic_wr\n"
           "jmp 10b\n"
           "12: cmp rax, " XSTR(AOP_TPR) "\n"
           "jne 13f\n"
           "mov ecx, " XSTR(APIC_TPR) "\n"
           "call g_apic_wr\n"
           "jmp 10b\n"
           "13: cmp rax, " XSTR(AOP_CR8) "\n"
           "jne 14f\n"
           "mov cr8, rdx\n"
           "jmp 10b\n"
           "14: cmp rax, " XSTR(AOP_STI) "\n"
           "jne 15f\n"
           "sti\n"
           "jmp 10b\n"
           "15: cmp rax, " XSTR(AOP_CLI) "\n"
           "jne 16f\n"
           "cli\n"
           "jmp 10b\n"
           "16: cmp rax, " XSTR(AOP_MARK) "\n"
           "jne 17f\n"
           "mov rcx, " XSTR(LOG_MARK) " << " XSTR(LOG_KIND_SHIFT) "\n"
           "or rdx, rcx\n"
           "call g_apic_log\n"
           "jmp 10b\n"
           "17: cmp rax, " XSTR(AOP_WAIT) "\n"
           "jne 18f\n"
           "mov ecx, " XSTR(AP_WAIT_SPINS) "\n"
           "20: cmp qword ptr ds:" XSTR(AP_LOG_COUNT) ", rdx\n"
           "jae 10b\n"
           "pause\n"
           "dec ecx\n"
           "jnz 20b\n"
           "mov rcx, " XSTR(LOG_TIMEOUT) " << " XSTR(LOG_KIND_SHIFT) "\n"
           "or rdx, rcx\n"
           "call g_apic_log\n"
           "jmp 10b\n"
           "18: cmp rax, " XSTR(AOP_DELAY) "\n"
           "jne 19f\n"
           "21: test rdx, rdx\n"
           "jz 10b\n"
           "pause\n"
           "dec rdx\n"
           "jmp 21b\n"
           "19: cmp rax, " XSTR(AOP_READ) "\n"
           "jne 22f\n"
           "call g_apic_rd\n"
           "jmp 23f\n"
           "22: cmp rax, " XSTR(AOP_READ_CR8) "\n"
           "jne 24f\n"
           "mov rdx, cr8\n"
           "23: mov rcx, " XSTR(LOG_VALUE) " << " XSTR(LOG_KIND_SHIFT) "\n"
           "or rdx, rcx\n"
           "call g_apic_log\n"
           "jmp 10b\n"
           // xAPIC to x2APIC: EXTD with EN set (SDM 10.12.5).
           "24: cmp rax, " XSTR(AOP_X2APIC) "\n"
           "jne 25f\n"
           "mov ecx, " XSTR(MSR_APIC_BASE) "\n"
           "rdmsr\n"
           "or eax, " XSTR(APIC_BASE_EXTD) "\n"
           "wrmsr\n"
           "mov qword ptr ds:" XSTR(AP_X2APIC) ", 1\n"
           "jmp 10b\n"
           "25: ud2\n" // an op the host never writes
           // edx = the APIC register at offset rdx; clobbers rax, rcx.
           "g_apic_rd:\n"
           "cmp qword ptr ds:" XSTR(AP_X2APIC) ", 0\n"
           "jne 40f\n"
           "mov ecx, " XSTR(APIC_GPA) "\n"
           "add rcx, rdx\n"
           "mov edx, dword ptr [rcx]\n"
           "ret\n"
           "40: mov ecx, edx\n"
           "shr ecx, " XSTR(APIC_REG_SHIFT) "\n"
           "add ecx, " XSTR(X2APIC_MSR_BASE) "\n"
           "rdmsr\n"
           "mov edx, eax\n"
           "ret\n"
           // The APIC register at offset rcx = edx; clobbers rax, rcx, rdx.
           "g_apic_wr:\n"
           "cmp qword ptr ds:" XSTR(AP_X2APIC) ", 0\n"
           "jne 41f\n"
           "mov eax, " XSTR(APIC_GPA) "\n"
           "add rcx, rax\n"
           "mov dword ptr [rcx], edx\n"
           "ret\n"
           "41: shr ecx, " XSTR(APIC_REG_SHIFT) "\n"
           "add ecx, " XSTR(X2APIC_MSR_BASE) "\n"
           "mov eax, edx\n"
           "xor edx, edx\n"
           "wrmsr\n"
           "ret\n"
           // Every vector from 32 up: the vector is the highest ISR bit (SDM
           // 10.8.4: the one being serviced); log it, count it, run its
           // script if it has one, EOI.
           "g_apic_handler:\n"
           "push rax\n"
           "push rcx\n"
           "push rdx\n"
           "push rsi\n"
           "push rdi\n"
           // edi: the first vector of the ISR register looked at, from the top.
           "mov edi, (" XSTR(APIC_VEC_REGS) " - 1) * " XSTR(APIC_VECS_PER_REG) "\n"
           "30: mov edx, edi\n"
           "shr edx, " XSTR(APIC_VEC_SHIFT) "\n"
           "shl edx, " XSTR(APIC_REG_SHIFT) "\n"
           "add edx, " XSTR(APIC_ISR) "\n"
           "call g_apic_rd\n"
           "test edx, edx\n"
           "jnz 31f\n"
           "sub edi, " XSTR(APIC_VECS_PER_REG) "\n"
           "jns 30b\n"
           "mov rdx, " XSTR(LOG_NOISR) " << " XSTR(LOG_KIND_SHIFT) "\n"
           "call g_apic_log\n"
           "jmp 32f\n"
           "31: bsr edx, edx\n"
           "add edi, edx\n"
           "mov rdx, " XSTR(LOG_IRQ) " << " XSTR(LOG_KIND_SHIFT) "\n"
           "or rdx, rdi\n"
           "call g_apic_log\n"
           "inc qword ptr [" XSTR(AP_COUNTS) " + rdi * 8]\n"
           "mov rsi, qword ptr [" XSTR(AP_HSCRIPT) " + rdi * 8]\n"
           "test rsi, rsi\n"
           "jz 32f\n"
           "call g_apic_run\n"
           "32: mov ecx, " XSTR(APIC_EOI) "\n"
           "xor edx, edx\n" // x2APIC: a non-zero EOI write is #GP (SDM 10.12.1.2)
           "call g_apic_wr\n"
           "pop rdi\n"
           "pop rsi\n"
           "pop rdx\n"
           "pop rcx\n"
           "pop rax\n"
           "iretq\n"
           "g_apic_unexpected:\n"
           "mov rbx, qword ptr [rsp]\n"
           "mov rcx, qword ptr [rsp + 8]\n"
           "out " XSTR(AP_BAD_PORT) ", al\n"
           "cli\n"
           "hlt\n");
extern const uint8_t g_apic_handler[], g_apic_unexpected[];

// dirtylog: rounds of page accesses from a list at rsi (qwords: page << 1 |
// write, DL_END ends a round): a write stores the entry ^ DL_SALT ^ round
// << DL_ROUND_SHIFT at offset (page % 512) * 8 of page `page` of the slot at
// rdi; a read adds that qword to r10. OUT DL_PORT after each round (rbx =
// rounds done); HLT after two DL_ENDs in a row.
#define DL_END         0xffffffffffffffff
#define DL_SALT        0x6a09e667f3bcc908
#define DL_ROUND_SHIFT 48
#define DL_PORT        0xe6
#define DL_QWORDS_MASK 0x1ff // qword offset of a page's slot: page % 512

GUEST_BLOB(g_dirty, ".code64",
           "xor ebx, ebx\n"
           "xor r10d, r10d\n"
           "mov r9, " XSTR(DL_SALT) "\n"
           "1: mov rax, qword ptr [rsi]\n"
           "add rsi, 8\n"
           "cmp rax, " XSTR(DL_END) "\n"
           "je 3f\n"
           "mov rdx, rax\n"
           "shr rdx, 1\n"
           "mov rcx, rdx\n"
           "and ecx, " XSTR(DL_QWORDS_MASK) "\n"
           "shl rdx, 12\n"
           "add rdx, rdi\n"
           "test al, 1\n"
           "jz 2f\n"
           "mov r8, rbx\n"
           "shl r8, " XSTR(DL_ROUND_SHIFT) "\n"
           "xor r8, rax\n"
           "xor r8, r9\n"
           "mov qword ptr [rdx + rcx * 8], r8\n"
           "jmp 1b\n"
           "2: add r10, qword ptr [rdx + rcx * 8]\n"
           "jmp 1b\n"
           "3: inc rbx\n"
           "out " XSTR(DL_PORT) ", al\n"
           "cmp qword ptr [rsi], " XSTR(DL_END) "\n"
           "jne 1b\n"
           "hlt\n");

// nestedvmx: the guest is itself a VMM (SDM chapters 24-27). It reads
// IA32_VMX_BASIC, sets CR4.VMXE within the CR0/CR4 fixed bits, VMXON,
// VMCLEAR and VMPTRLD, VMWRITEs the fields of a table the host wrote (NV_TABLE:
// field, value, how: 0 = the value, NV_FROM_MEM = the qword at GPA value,
// else a capability MSR whose low half are the bits that must be 1 and
// whose high half those that may be 1, SDM A.3-A.5), VMLAUNCHes a 64-bit
// L3 that executes CPUID and then VMCALL, logs each exit reason (VMREAD),
// steps over CPUID and VMRESUMEs, and after VMCALL does VMXOFF and OUT
// NV_DONE_PORT. A failed VMX instruction (CF or ZF, SDM 30.2) is an OUT
// NV_FAIL_PORT with rbx = the step and rcx = the VM-instruction error (r9 =
// the field of a VMWRITE from the table).
#define MSR_FEATURE_CONTROL   0x3a
#define CR4_VMXE              0x2000
#define NV_FROM_MEM           1
#define NV_VMXON              0x10000 // the VMXON region
#define NV_VMCS               0x11000
#define NV_PTRS               0x12000 // qwords: NV_VMXON, NV_VMCS (VMX operands)
#define NV_STATE              0x12100 // qwords the guest stores: CR0, CR3, CR4, VMX_BASIC
#define NV_STATE_CR0          0
#define NV_STATE_CR3          8
#define NV_STATE_CR4          16
#define NV_STATE_BASIC        24
#define NV_EXITS              0x12200 // qword count, then the exit reasons
#define NV_EXITS_MAX          8
#define NV_TABLE              0x13000 // entries of 3 qwords, field ~0 ends
#define NV_TABLE_END          0xffffffffffffffff
#define NV_ENTRY_SIZE         24
#define NV_HOST_STACK         0x20000 // the exit handler's stack top
#define NV_L3_STACK           0x1e000
#define NV_DONE_PORT          0xe7    // OUT: VMXOFF done
#define NV_FAIL_PORT          0xe8    // OUT: a VMX instruction failed
#define NV_BAD_PORT           0xe9    // OUT: an exit reason nobody expected
#define NV_STEP_VMXON         1
#define NV_STEP_VMCLEAR       2
#define NV_STEP_VMPTRLD       3
#define NV_STEP_VMWRITE       4
#define NV_STEP_VMLAUNCH      5
#define NV_STEP_VMRESUME      6
#define NV_STEP_VMXOFF        7
#define NV_STEP_VMREAD        8

GUEST_BLOB(g_nvmx, ".code64",
           // CR0 and CR4 within the fixed bits, CR4.VMXE set (SDM 23.8).
           "mov ecx, " XSTR(MSR_IA32_VMX_CR0_FIXED0) "\n"
           "call g_nvmx_rdmsr\n"
           "mov rbx, cr0\n"
           "or rbx, rax\n"
           "mov ecx, " XSTR(MSR_IA32_VMX_CR0_FIXED1) "\n"
           "call g_nvmx_rdmsr\n"
           "and rbx, rax\n"
           "mov cr0, rbx\n"
           "mov ecx, " XSTR(MSR_IA32_VMX_CR4_FIXED0) "\n"
           "call g_nvmx_rdmsr\n"
           "mov rbx, cr4\n"
           "or rbx, rax\n"
           "or rbx, " XSTR(CR4_VMXE) "\n"
           "mov ecx, " XSTR(MSR_IA32_VMX_CR4_FIXED1) "\n"
           "call g_nvmx_rdmsr\n"
           "and rbx, rax\n"
           "mov cr4, rbx\n"
           "mov rax, cr0\n"
           "mov qword ptr ds:" XSTR(NV_STATE) " + " XSTR(NV_STATE_CR0) ", rax\n"
           "mov rax, cr3\n"
           "mov qword ptr ds:" XSTR(NV_STATE) " + " XSTR(NV_STATE_CR3) ", rax\n"
           "mov rax, cr4\n"
           "mov qword ptr ds:" XSTR(NV_STATE) " + " XSTR(NV_STATE_CR4) ", rax\n"
           // The VMCS revision identifier heads the VMXON region and the VMCS (SDM 24.2, 24.11.5).
           "mov ecx, " XSTR(MSR_IA32_VMX_BASIC) "\n"
           "call g_nvmx_rdmsr\n"
           "mov qword ptr ds:" XSTR(NV_STATE) " + " XSTR(NV_STATE_BASIC) ", rax\n"
           "and eax, " XSTR(VMX_BASIC_REVISION_MASK) "\n"
           "mov dword ptr ds:" XSTR(NV_VMXON) ", eax\n"
           "mov dword ptr ds:" XSTR(NV_VMCS) ", eax\n"
           "mov ebx, " XSTR(NV_STEP_VMXON) "\n"
           "vmxon qword ptr ds:" XSTR(NV_PTRS) "\n"
           "jbe g_nvmx_fail\n"
           "mov ebx, " XSTR(NV_STEP_VMCLEAR) "\n"
           "vmclear qword ptr ds:" XSTR(NV_PTRS) " + 8\n"
           "jbe g_nvmx_fail\n"
           "mov ebx, " XSTR(NV_STEP_VMPTRLD) "\n"
           "vmptrld qword ptr ds:" XSTR(NV_PTRS) " + 8\n"
           "jbe g_nvmx_fail\n"
           "mov esi, " XSTR(NV_TABLE) "\n"
           "1: mov r9, qword ptr [rsi]\n"
           "cmp r9, " XSTR(NV_TABLE_END) "\n"
           "je 4f\n"
           "mov rbx, qword ptr [rsi + 8]\n"
           "mov rcx, qword ptr [rsi + 16]\n"
           "test rcx, rcx\n"
           "jz 3f\n"
           "cmp rcx, " XSTR(NV_FROM_MEM) "\n"
           "jne 2f\n"
           "mov rbx, qword ptr [rbx]\n"
           "jmp 3f\n"
           // Allowed settings: low half must be 1, high half may be 1 (SDM A.3.1).
           "2: call g_nvmx_rdmsr\n"
           "or ebx, eax\n"
           "shr rax, 32\n"
           "and ebx, eax\n"
           "3: mov r8, rbx\n"
           "mov ebx, " XSTR(NV_STEP_VMWRITE) "\n"
           "vmwrite r9, r8\n"
           "jbe g_nvmx_fail\n"
           "add rsi, " XSTR(NV_ENTRY_SIZE) "\n"
           "jmp 1b\n"
           "4: mov ebx, " XSTR(NV_STEP_VMLAUNCH) "\n"
           "vmlaunch\n"
           "jmp g_nvmx_fail\n" // VMLAUNCH falls through only when it failed
           // L3: 64-bit code on the guest's page tables.
           "g_nvmx_l3:\n"
           "xor eax, eax\n"
           "cpuid\n"
           "vmcall\n"
           "ud2\n"
           // HOST_RIP: log the exit reason; CPUID: step over, VMRESUME;
           // VMCALL: VMXOFF and report.
           "g_nvmx_exit:\n"
           "mov ebx, " XSTR(NV_STEP_VMREAD) "\n"
           "mov edx, " XSTR(VMCS_EXIT_REASON) "\n"
           "vmread rax, rdx\n"
           "jbe g_nvmx_fail\n"
           "mov rcx, qword ptr ds:" XSTR(NV_EXITS) "\n"
           "cmp rcx, " XSTR(NV_EXITS_MAX) "\n"
           "jae 5f\n"
           "mov qword ptr [" XSTR(NV_EXITS) " + 8 + rcx * 8], rax\n"
           "inc rcx\n"
           "mov qword ptr ds:" XSTR(NV_EXITS) ", rcx\n"
           "5: cmp eax, " XSTR(EXIT_CPUID) "\n"
           "jne 6f\n"
           "mov edx, " XSTR(VMCS_GUEST_RIP) "\n"
           "vmread rax, rdx\n"
           "jbe g_nvmx_fail\n"
           "mov edx, " XSTR(VMCS_EXIT_INSTR_LEN) "\n"
           "vmread rcx, rdx\n"
           "jbe g_nvmx_fail\n"
           "add rax, rcx\n"
           "mov edx, " XSTR(VMCS_GUEST_RIP) "\n"
           "mov ebx, " XSTR(NV_STEP_VMWRITE) "\n"
           "vmwrite rdx, rax\n"
           "jbe g_nvmx_fail\n"
           "mov ebx, " XSTR(NV_STEP_VMRESUME) "\n"
           "vmresume\n"
           "jmp g_nvmx_fail\n"
           "6: cmp eax, " XSTR(EXIT_VMCALL) "\n"
           "jne 7f\n"
           "mov ebx, " XSTR(NV_STEP_VMXOFF) "\n"
           "vmxoff\n"
           "jbe g_nvmx_fail\n"
           "out " XSTR(NV_DONE_PORT) ", al\n"
           "hlt\n"
           "7: out " XSTR(NV_BAD_PORT) ", al\n"
           "hlt\n"
           // rbx = the step: rcx = the VM-instruction error when there is a
           // current VMCS (ZF, VMfailValid), else ~0 (CF, VMfailInvalid).
           "g_nvmx_fail:\n"
           "mov rcx, -1\n"
           "jc 8f\n"
           "mov eax, " XSTR(VMCS_VM_INSTRUCTION_ERROR) "\n"
           "vmread rcx, rax\n"
           "8: out " XSTR(NV_FAIL_PORT) ", al\n"
           "hlt\n"
           // rax = MSR ecx, all 64 bits; clobbers rdx.
           "g_nvmx_rdmsr:\n"
           "rdmsr\n"
           "shl rdx, 32\n"
           "or rax, rdx\n"
           "ret\n");
extern const uint8_t g_nvmx_l3[], g_nvmx_exit[];

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
static int passed, failed, skipped;
// More for a case's INFO line (timer, SMP cases).
static char case_info[256];
// Set when an SMP case gives up (timeout, or one of its threads failed):
// its threads stop at the next exit instead of running on.
static volatile int smp_stop;
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

// KVM_RUN until an exit other than a signal (or smp_stop).
static int vm_run_to_exit(struct vm *vm)
{
    do {
        if (vm_run(vm)) return -1;
        if (vm->run->exit_reason == KVM_EXIT_INTR && smp_stop)
            return fail(vm, "stopped while running (timeout, or another thread failed)");
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
// at 1 GiB, the blob at LM_CODE. Written once per VM (lm_vcpu per vCPU).
static void lm_tables(uint8_t *m, const uint8_t *start, const uint8_t *end)
{
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
}

// One vCPU in 64-bit mode at LM_CODE with its stack under `rsp`. The CPUID
// the guest sees is KVM's supported set (as a VMM would give), unless `cpuid`.
static int lm_vcpu(struct vm *vm, struct kvm_cpuid2 *cpuid, uint64_t rsp)
{
    if (set_cpuid(vm, cpuid ? cpuid : supported)) return -1;
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
    struct kvm_regs regs = {.rip = LM_CODE, .rsp = rsp, .rflags = 2};
    CHECK(ioctl(vm->vcpu, KVM_SET_REGS, &regs) == 0, "KVM_SET_REGS: %s", strerror(errno));
    return 0;
}

// The single-vCPU cases' long mode: tables, blob, vCPU, stack under LM_STACK.
static int vm_long_mode(struct vm *vm, const uint8_t *start, const uint8_t *end,
                        struct kvm_cpuid2 *cpuid)
{
    lm_tables(vm->mem, start, end);
    return lm_vcpu(vm, cpuid, LM_STACK);
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
    snprintf(case_info, sizeof case_info,
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
// SMP cases: several vCPUs or VMs at once, one thread each, pinned to L1's
// CPUs. They need at least SMP_MIN_CPUS CPUs and print SKIP with fewer.

#define SMP_MIN_CPUS      2
#define MAX_THREADS       64
#define WHY_SIZE          256
#define LM_PD_APIC        0x9000UL // page directory of the 4th GiB (the xAPIC)
#define LM_IDT            0xa000UL // IDT_VECTORS gates of IDT_GATE_SIZE bytes
#define LM_VDATA          0xb000UL // per-vCPU data (VDATA_*), VDATA_STRIDE apart
#define LM_CODE_MAX       (LM_PD_APIC - LM_CODE)
#define VDATA_STRIDE      0x100
#define SMP_STACK_SIZE    0x4000UL // vCPU i's stack is under LM_STACK - i * this
#define IDT_VECTORS       256
#define IDT_GATE_SIZE     16
#define IDT_FIRST_EXTERNAL 32     // vectors 0-31 are exceptions (SDM 6.2)
#define IDT_GATE_INTR     0x8eULL // present, DPL 0, 64-bit interrupt gate
#define LM_CODE_SEL       0x08ULL
#define PDPT_APIC_INDEX   3       // the 4th GiB
#define PDE_TABLE         0x3ULL  // present, writable
#define PDE_2M            0x83ULL // present, writable, 2 MiB page
#define PDE_PCD           0x10ULL
#define PDE_2M_SHIFT      21
#define PD_ENTRIES        512
#define LAPIC_ID_REG      0x20    // in struct kvm_lapic_state's register page
#define STAT_FIELD_CPU    39      // /proc/<pid>/stat: the CPU the task last ran on
#define NS_PER_MS         1000000L
#define NS_PER_S          1000000000L
#define JOIN_POLL_MS      100     // join_all looks at smp_stop this often
#define KICK_TRIES        50      // then gives a stuck thread this many polls

#define IPI_COUNT               64     // IPIs per direction
#define IPI_TIMEOUT_S           120    // of L1's time (Bochs: ~5 per wall second on 4 CPUs)
#define MIGRATE_BUF_KIB         32     // each vCPU's checksum buffer
#define MIGRATE_SEED            0x5eed5eed12345678ULL
#define MIGRATE_MOVES_PER_VCPU  8
#define MIGRATE_INTERVAL_US     50000  // between two moves: several passes
#define MIGRATE_MIN_PASSES      2
#define MIGRATE_TIMEOUT_S       180
#define ALLCPUS_MIB             4      // each VM's memory, in 4 KiB EPT pages
#define ALLCPUS_SEED            0xa11c9a5a11c9a5a1ULL
#define ALLCPUS_TIMEOUT_S       180

static int cpus[MAX_THREADS], ncpus; // the CPUs kvmtest may run on
static pthread_barrier_t barrier;
static volatile int migrate_done;
static long long smp_exits;           // KVM's exits of all the case's vCPUs

// One thread of an SMP case: a vCPU of a shared VM (vm.fd and memory are
// the VM's) or, in allcpus, a VM of its own.
struct thr {
    struct vm vm;
    char why[WHY_SIZE];
    pthread_t th;
    int running;     // created and not joined yet
    volatile pid_t tid;
    int cpu;         // where it starts (pinned)
    unsigned index;
    long long exits; // KVM's statistics, read before the vCPU goes
    uint64_t ticks;
    // migrate: the host's copy of the guest's buffer and checksum
    uint64_t seed, passes, sum, *shadow;
    size_t qwords;
    uint8_t *buf;
    unsigned seen; // CPU changes the thread saw between two passes
};
static struct thr thr[MAX_THREADS];

static void on_kick(int sig) { (void)sig; } // only to end KVM_RUN with EINTR

static uint64_t rol64(uint64_t x, unsigned n) { return (x << n) | (x >> (64 - n)); }

static int pin(pid_t tid, int cpu)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return sched_setaffinity(tid, sizeof set, &set);
}

// The CPU a thread of this process is on or last ran on (/proc), or -1.
static int task_cpu(pid_t tid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/self/task/%d/stat", (int)tid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) return -1;
    buf[n] = 0;
    char *p = strrchr(buf, ')'); // the command name may hold spaces
    if (!p) return -1;
    int field = 2;
    for (; *p && field < STAT_FIELD_CPU; p++)
        if (*p == ' ') field++;
    return field == STAT_FIELD_CPU ? atoi(p) : -1;
}

static void deadline_in(struct timespec *t, long ms)
{
    clock_gettime(CLOCK_REALTIME, t);
    t->tv_sec += ms / 1000;
    t->tv_nsec += (ms % 1000) * NS_PER_MS;
    if (t->tv_nsec >= NS_PER_S) {
        t->tv_sec++;
        t->tv_nsec -= NS_PER_S;
    }
}

// Waits for threads [0, n). After timeout_s, or as soon as one sets
// smp_stop, stops the rest: smp_stop and SIGUSR1, which ends KVM_RUN.
// Returns the number of threads that could not be joined (left running).
static unsigned join_all(unsigned n, unsigned timeout_s)
{
    struct timespec end;
    deadline_in(&end, timeout_s * 1000L);
    unsigned tries = 0, left;
    for (;;) {
        left = 0;
        for (unsigned i = 0; i < n; i++) {
            if (!thr[i].running) continue;
            struct timespec w;
            deadline_in(&w, JOIN_POLL_MS);
            if (pthread_timedjoin_np(thr[i].th, NULL, &w) == 0)
                thr[i].running = 0;
            else
                left++;
        }
        if (!left) return 0;
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        if (now.tv_sec > end.tv_sec || (now.tv_sec == end.tv_sec && now.tv_nsec >= end.tv_nsec))
            smp_stop = 1;
        if (smp_stop) {
            if (tries++ == KICK_TRIES) return left;
            for (unsigned i = 0; i < n; i++)
                if (thr[i].running) pthread_kill(thr[i].th, SIGUSR1);
        }
    }
}

// Starts fn on threads [0, n) (thr[] filled in); 0 or -1 (vm->why).
static int start_all(struct vm *vm, unsigned n, void *(*fn)(void *))
{
    for (unsigned i = 0; i < n; i++) {
        int e = pthread_create(&thr[i].th, NULL, fn, &thr[i]);
        if (e) {
            smp_stop = 1;
            join_all(i, 0);
            return fail(vm, "pthread_create: %s", strerror(e));
        }
        thr[i].running = 1;
    }
    return 0;
}

// The first failing thread's reason, into the case's.
static int threads_failed(struct vm *vm, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        if (thr[i].why[0]) return fail(vm, "thread %u (CPU %d): %s", i, thr[i].cpu, thr[i].why);
    return 0;
}

// A VM with n vCPUs (thr[i].vm views of it) and, if mem2, slot 1 of that size.
static int mvm_create(struct vm *vm, unsigned n, int irqchip, size_t mem2)
{
    vm->fd = ioctl(kvm_fd, KVM_CREATE_VM, 0);
    CHECK(vm->fd >= 0, "KVM_CREATE_VM: %s", strerror(errno));
    CHECK(ioctl(vm->fd, KVM_SET_TSS_ADDR, 0xfffbd000UL) == 0, "KVM_SET_TSS_ADDR: %s",
          strerror(errno));
    // Before any vCPU: their local APICs are made with the VM's irqchip.
    if (irqchip)
        CHECK(ioctl(vm->fd, KVM_CREATE_IRQCHIP, 0) == 0, "KVM_CREATE_IRQCHIP: %s", strerror(errno));
    vm->mem_size = BASE_MEM;
    if (add_slot(vm, 0, 0, vm->mem_size, &vm->mem, 0)) return -1;
    if (mem2) {
        vm->mem2_size = mem2;
        if (add_slot(vm, 1, EXTRA_GPA, mem2, &vm->mem2, 1)) return -1;
    }
    for (unsigned i = 0; i < n; i++) {
        struct vm *v = &thr[i].vm;
        *v = (struct vm){.fd = vm->fd, .vcpu = -1, .mem = vm->mem, .mem_size = vm->mem_size,
                         .mem2 = vm->mem2, .mem2_size = vm->mem2_size, .why = thr[i].why};
        v->vcpu = ioctl(vm->fd, KVM_CREATE_VCPU, i);
        CHECK(v->vcpu >= 0, "KVM_CREATE_VCPU %u: %s", i, strerror(errno));
        v->run = mmap(NULL, run_size, PROT_READ | PROT_WRITE, MAP_SHARED, v->vcpu, 0);
        CHECK(v->run != MAP_FAILED, "mmap kvm_run of vCPU %u: %s", i, strerror(errno));
    }
    return 0;
}

// Sums the vCPUs' exits and closes them; the caller's vm_destroy does the
// rest. A thread that could not be stopped keeps its VM (leaked).
static void mvm_release(struct vm *vm, unsigned n, unsigned stuck)
{
    smp_exits = 0;
    for (unsigned i = 0; i < n; i++)
        if (thr[i].vm.vcpu >= 0) smp_exits += vcpu_stat(&thr[i].vm, "exits");
    if (stuck) {
        *vm = (struct vm){.fd = -1, .vcpu = -1, .why = vm->why};
        return;
    }
    for (unsigned i = 0; i < n; i++) {
        if (thr[i].vm.run && thr[i].vm.run != MAP_FAILED) munmap(thr[i].vm.run, run_size);
        if (thr[i].vm.vcpu >= 0) close(thr[i].vm.vcpu);
    }
}

// ---- ipi: a 2-vCPU guest whose vCPUs send each other IPIs (in-kernel xAPIC)

static void idt_gate(uint8_t *idt, unsigned vector, uint64_t handler)
{
    uint64_t lo = (handler & 0xffff) | LM_CODE_SEL << 16 | IDT_GATE_INTR << 40 |
                  ((handler >> 16) & 0xffff) << 48;
    uint64_t hi = handler >> 32;
    memcpy(idt + vector * IDT_GATE_SIZE, &lo, 8);
    memcpy(idt + vector * IDT_GATE_SIZE + 8, &hi, 8);
}

static uint64_t vdata(unsigned i) { return LM_VDATA + i * VDATA_STRIDE; }

static uint64_t ipi_count(struct vm *vm, unsigned i)
{
    uint64_t c;
    memcpy(&c, vm->mem + vdata(i) + VDATA_COUNT, 8);
    return c;
}

static void *ipi_thread(void *arg)
{
    struct thr *t = arg;
    struct vm *vm = &t->vm;
    struct kvm_run *r = vm->run;
    if (pin(0, t->cpu)) {
        fail(vm, "sched_setaffinity to CPU %d: %s", t->cpu, strerror(errno));
        smp_stop = 1;
        return NULL;
    }
    for (;;) {
        if (vm_run_to_exit(vm)) break;
        if (r->exit_reason == KVM_EXIT_IO && r->io.port == IPI_DONE_PORT) return NULL;
        struct kvm_regs regs;
        if (r->exit_reason == KVM_EXIT_IO && r->io.port == IPI_BAD_PORT && get_regs(vm, &regs) == 0)
            fail(vm, "unexpected interrupt or exception (stack: 0x%llx 0x%llx)", regs.rbx, regs.rcx);
        else
            unexpected(vm, "IPI guest");
        break;
    }
    smp_stop = 1;
    return NULL;
}

static int case_ipi(struct vm *vm)
{
    enum { VCPUS = 2 };
    if (mvm_create(vm, VCPUS, 1, 0)) return -1;
    uint8_t *m = vm->mem;
    CHECK(g_ipi_end - g_ipi_start <= (long)LM_CODE_MAX, "IPI guest too big");
    lm_tables(m, g_ipi_start, g_ipi_end);
    uint64_t *pdpt = (uint64_t *)(m + LM_PDPT), *pd = (uint64_t *)(m + LM_PD_APIC);
    pdpt[PDPT_APIC_INDEX] = LM_PD_APIC | PDE_TABLE;
    pd[(APIC_GPA >> PDE_2M_SHIFT) % PD_ENTRIES] = APIC_GPA | PDE_2M | PDE_PCD;
    for (unsigned v = 0; v < IDT_VECTORS; v++)
        idt_gate(m + LM_IDT, v,
                 LM_CODE + (v == IPI_VECTOR ? g_ipi_handler : g_ipi_unexpected) - g_ipi_start);
    for (unsigned i = 0; i < VCPUS; i++) {
        struct thr *t = &thr[i];
        struct vm *v = &t->vm;
        unsigned peer = VCPUS - 1 - i;
        t->cpu = cpus[i];
        if (lm_vcpu(v, NULL, LM_STACK - i * SMP_STACK_SIZE)) return threads_failed(vm, VCPUS);
        struct kvm_sregs sregs;
        CHECK(ioctl(v->vcpu, KVM_GET_SREGS, &sregs) == 0, "KVM_GET_SREGS: %s", strerror(errno));
        sregs.idt.base = LM_IDT;
        sregs.idt.limit = IDT_VECTORS * IDT_GATE_SIZE - 1;
        CHECK(ioctl(v->vcpu, KVM_SET_SREGS, &sregs) == 0, "KVM_SET_SREGS: %s", strerror(errno));
        // KVM numbers a vCPU's xAPIC ID after the vCPU; the guest relies on it.
        struct kvm_lapic_state lapic;
        CHECK(ioctl(v->vcpu, KVM_GET_LAPIC, &lapic) == 0, "KVM_GET_LAPIC: %s", strerror(errno));
        uint32_t id;
        memcpy(&id, lapic.regs + LAPIC_ID_REG, 4);
        CHECK(id >> APIC_DEST_SHIFT == i, "vCPU %u has APIC ID %u", i, id >> APIC_DEST_SHIFT);
        struct kvm_regs regs;
        if (get_regs(v, &regs)) return threads_failed(vm, VCPUS);
        regs.rdi = vdata(i);
        regs.rsi = vdata(peer);
        regs.r9 = (uint64_t)peer << APIC_DEST_SHIFT;
        regs.r8 = i == 0;
        regs.r12 = IPI_COUNT;
        CHECK(ioctl(v->vcpu, KVM_SET_REGS, &regs) == 0, "KVM_SET_REGS: %s", strerror(errno));
        // With an in-kernel irqchip only vCPU 0 starts; the other waits for
        // INIT-SIPI unless made runnable.
        struct kvm_mp_state mp = {.mp_state = KVM_MP_STATE_RUNNABLE};
        CHECK(ioctl(v->vcpu, KVM_SET_MP_STATE, &mp) == 0, "KVM_SET_MP_STATE: %s", strerror(errno));
    }
    if (start_all(vm, VCPUS, ipi_thread)) return -1;
    unsigned stuck = join_all(VCPUS, IPI_TIMEOUT_S);
    uint64_t c0 = ipi_count(vm, 0), c1 = ipi_count(vm, 1);
    snprintf(case_info, sizeof case_info, "vCPUs on CPUs %d and %d, IPIs counted %llu and %llu",
             cpus[0], cpus[1], (unsigned long long)c0, (unsigned long long)c1);
    mvm_release(vm, VCPUS, stuck);
    CHECK(!stuck, "%u vCPU threads did not stop", stuck);
    if (threads_failed(vm, VCPUS)) return -1;
    CHECK(c0 == IPI_COUNT && c1 == IPI_COUNT,
          "vCPU 0 counted %llu IPIs, vCPU 1 %llu, want %d each", (unsigned long long)c0,
          (unsigned long long)c1, IPI_COUNT);
    return 0;
}

// ---- apic: one vCPU with the in-kernel local APIC (KVM_CREATE_IRQCHIP),
// self-IPIs under TPR (MMIO and CR8), priority order and nested EOI

#define AP_HSCRIPT_BASE (AP_SCRIPT + AP_SCRIPT_MAX * AOP_SIZE) // handlers' scripts
#define AP_HSCRIPT_END  (AP_HSCRIPT_BASE + AP_SCRIPT_MAX * AOP_SIZE)
#define AP_ROUNDS       4    // of the delivery scenario, over ap_vectors
#define AP_DELAY        2000 // PAUSEs before a mark: time for a wrong delivery
#define AP_NEST_XAPIC   0x58 // their handlers run a script (not in ap_vectors),
#define AP_NEST_X2APIC  0x56 //   one per pass (the script's waits count the log)
#define CPUID1_ECX_X2APIC (1u << 21)
#define TPR_CLASS_SHIFT 4    // TPR bits 7:4 are the priority class (SDM 10.8.3.1)
#define NUM_VECTORS     256

// Delivered at once with TPR 0: one of each priority class 2-15.
static const uint8_t ap_vectors[] = {0x21, 0x3c, 0x40, 0x5f, 0x66, 0x7e, 0x81, 0x9a,
                                     0xa7, 0xbb, 0xc2, 0xd9, 0xe3, 0xf0, 0xfe};

struct ap_plan {
    uint8_t *mem;
    uint64_t main_at, handler_at; // where the next op of each script goes
    uint64_t want[AP_LOG_MAX];    // the log the guest must write
    unsigned nwant, ipis;
    int overflow;
};

static void ap_op(struct ap_plan *p, uint64_t *at, uint64_t op, uint64_t arg)
{
    uint64_t end = at == &p->main_at ? AP_HSCRIPT_BASE : AP_HSCRIPT_END;
    if (*at + AOP_SIZE > end) {
        p->overflow = 1;
        return;
    }
    memcpy(p->mem + *at, &op, 8);
    memcpy(p->mem + *at + 8, &arg, 8);
    *at += AOP_SIZE;
}

static void ap_want(struct ap_plan *p, uint64_t kind, uint64_t value)
{
    if (p->nwant == AP_LOG_MAX) {
        p->overflow = 1;
        return;
    }
    p->want[p->nwant++] = kind << LOG_KIND_SHIFT | value;
}

static void ap_ipi(struct ap_plan *p, uint64_t *at, unsigned vector)
{
    ap_op(p, at, AOP_IPI, vector | APIC_ICR_ASSERT | APIC_ICR_SELF);
    p->ipis++;
}

// The ISR/IRR register holding a vector, and its bit there.
static uint64_t vec_reg(unsigned base, unsigned vector)
{
    return base + vector / APIC_VECS_PER_REG * APIC_REG_STRIDE;
}
static uint32_t vec_bit(unsigned vector) { return 1u << vector % APIC_VECS_PER_REG; }

// A mark after a delay: whatever is held must still be held there.
static void ap_mark(struct ap_plan *p, uint64_t *at, unsigned mark)
{
    ap_op(p, at, AOP_DELAY, AP_DELAY);
    ap_op(p, at, AOP_MARK, mark);
    ap_want(p, LOG_MARK, mark);
}

static void ap_wait(struct ap_plan *p, uint64_t *at) { ap_op(p, at, AOP_WAIT, p->nwant); }

// One pass of the scenarios; `nest` is the nesting vector (section 4).
static void ap_build(struct ap_plan *p, unsigned nest, unsigned *markp)
{
    uint64_t *m = &p->main_at, *h = &p->handler_at;
    unsigned mark = *markp;
    // 1. Delivery: TPR 0, IF 1; each self-IPI is taken once.
    ap_op(p, m, AOP_TPR, 0);
    ap_op(p, m, AOP_STI, 0);
    for (unsigned r = 0; r < AP_ROUNDS; r++)
        for (unsigned i = 0; i < sizeof ap_vectors; i++) {
            ap_ipi(p, m, ap_vectors[i]);
            ap_want(p, LOG_IRQ, ap_vectors[i]);
            ap_wait(p, m);
        }
    // 2. TPR: an interrupt is taken only if its class is above PPR's (SDM
    // 10.8.3.1), the rest wait in IRR until TPR drops.
    ap_op(p, m, AOP_TPR, 0x50);
    ap_op(p, m, AOP_READ_CR8, 0); // CR8 is TPR[7:4] (SDM 10.8.6.1)
    ap_want(p, LOG_VALUE, 0x50 >> TPR_CLASS_SHIFT);
    ap_ipi(p, m, 0x45); // class 4: held
    ap_ipi(p, m, 0x5b); // class 5 = TPR's: held
    ap_ipi(p, m, 0x69); // class 6: taken
    ap_want(p, LOG_IRQ, 0x69);
    ap_wait(p, m);
    ap_mark(p, m, ++mark);
    ap_op(p, m, AOP_READ, vec_reg(APIC_IRR, 0x45));
    ap_want(p, LOG_VALUE, vec_bit(0x45) | vec_bit(0x5b));
    ap_op(p, m, AOP_CR8, 0x4); // TPR 0x40: 0x5b is taken, 0x45 still held
    ap_want(p, LOG_IRQ, 0x5b);
    ap_wait(p, m);
    ap_mark(p, m, ++mark);
    ap_op(p, m, AOP_READ, APIC_TPR);
    ap_want(p, LOG_VALUE, 0x4 << TPR_CLASS_SHIFT);
    ap_op(p, m, AOP_CR8, 0);
    ap_want(p, LOG_IRQ, 0x45);
    ap_wait(p, m);
    ap_mark(p, m, ++mark);
    // The sub-class (TPR bits 3:0) does not count.
    ap_op(p, m, AOP_TPR, 0x6f);
    ap_ipi(p, m, 0x6a); // held
    ap_ipi(p, m, 0x7a); // taken
    ap_want(p, LOG_IRQ, 0x7a);
    ap_wait(p, m);
    ap_mark(p, m, ++mark);
    ap_op(p, m, AOP_TPR, 0x5f);
    ap_want(p, LOG_IRQ, 0x6a);
    ap_wait(p, m);
    ap_op(p, m, AOP_TPR, 0);
    // 3. Priority: several pending with IF 0 are taken highest first, one
    // at a time (each handler EOIs before IRET).
    static const uint8_t pending[] = {0x52, 0x94, 0x73, 0x61, 0xe8};
    ap_op(p, m, AOP_CLI, 0);
    for (unsigned i = 0; i < sizeof pending; i++)
        ap_ipi(p, m, pending[i]);
    ap_mark(p, m, ++mark);
    ap_op(p, m, AOP_READ, vec_reg(APIC_IRR, 0x61));
    ap_want(p, LOG_VALUE, vec_bit(0x61) | vec_bit(0x73));
    ap_op(p, m, AOP_STI, 0);
    static const uint8_t order[] = {0xe8, 0x94, 0x73, 0x61, 0x52};
    for (unsigned i = 0; i < sizeof order; i++)
        ap_want(p, LOG_IRQ, order[i]);
    ap_wait(p, m);
    // 4. Nesting and EOI order: nest's handler sends a higher vector and
    // takes it with IF 1 (its class is above the in-service one); that
    // handler's EOI must clear the highest ISR bit, its own (SDM 10.8.5),
    // so a lower vector sent next stays held (PPR is still nest's class)
    // until nest's own EOI.
    uint64_t nest_at = p->handler_at;
    ap_ipi(p, m, nest);
    ap_want(p, LOG_IRQ, nest);
    ap_ipi(p, h, 0xb3);
    ap_op(p, h, AOP_STI, 0);
    ap_want(p, LOG_IRQ, 0xb3);
    ap_wait(p, h);
    ap_op(p, h, AOP_CLI, 0);
    ap_ipi(p, h, 0x47);
    ap_op(p, h, AOP_STI, 0);
    ap_mark(p, h, ++mark);
    ap_op(p, h, AOP_READ, vec_reg(APIC_ISR, nest));
    ap_want(p, LOG_VALUE, vec_bit(nest));
    ap_op(p, h, AOP_READ, vec_reg(APIC_IRR, 0x47));
    ap_want(p, LOG_VALUE, vec_bit(0x47));
    ap_op(p, h, AOP_CLI, 0);
    ap_op(p, h, AOP_END, 0);
    memcpy(p->mem + AP_HSCRIPT + nest * 8, &nest_at, 8);
    ap_want(p, LOG_IRQ, 0x47);
    ap_wait(p, m);
    // 5. Nothing left in service or pending.
    ap_op(p, m, AOP_CLI, 0);
    ap_mark(p, m, ++mark);
    for (unsigned r = 0; r < APIC_VEC_REGS; r++) {
        ap_op(p, m, AOP_READ, APIC_ISR + r * APIC_REG_STRIDE);
        ap_want(p, LOG_VALUE, 0);
        ap_op(p, m, AOP_READ, APIC_IRR + r * APIC_REG_STRIDE);
        ap_want(p, LOG_VALUE, 0);
    }
    *markp = mark;
}

// The xAPIC page mapped (uncached, 2 MiB page) at its GPA, and an IDT of
// `handler` for every vector from 32 up and `other` for the exceptions.
static void lm_apic_idt(uint8_t *m, uint64_t handler, uint64_t other, unsigned first_handled)
{
    uint64_t *pdpt = (uint64_t *)(m + LM_PDPT), *pd = (uint64_t *)(m + LM_PD_APIC);
    pdpt[PDPT_APIC_INDEX] = LM_PD_APIC | PDE_TABLE;
    pd[(APIC_GPA >> PDE_2M_SHIFT) % PD_ENTRIES] = APIC_GPA | PDE_2M | PDE_PCD;
    for (unsigned v = 0; v < IDT_VECTORS; v++)
        idt_gate(m + LM_IDT, v, v >= first_handled ? handler : other);
}

static int set_idt(struct vm *vm)
{
    struct kvm_sregs sregs;
    CHECK(ioctl(vm->vcpu, KVM_GET_SREGS, &sregs) == 0, "KVM_GET_SREGS: %s", strerror(errno));
    sregs.idt.base = LM_IDT;
    sregs.idt.limit = IDT_VECTORS * IDT_GATE_SIZE - 1;
    CHECK(ioctl(vm->vcpu, KVM_SET_SREGS, &sregs) == 0, "KVM_SET_SREGS: %s", strerror(errno));
    return 0;
}

static int case_apic(struct vm *vm)
{
    // The in-kernel irqchip before the vCPU: its local APIC is made with it.
    if (mvm_create(vm, 1, 1, 0)) return -1;
    // mvm_create's vCPU becomes this VM's own (main reads and closes it).
    vm->vcpu = thr[0].vm.vcpu;
    vm->run = thr[0].vm.run;
    thr[0].vm.vcpu = -1;
    thr[0].vm.run = NULL;
    CHECK(g_apic_end - g_apic_start <= (long)LM_CODE_MAX, "apic guest too big");
    lm_tables(vm->mem, g_apic_start, g_apic_end);
    lm_apic_idt(vm->mem, LM_CODE + (g_apic_handler - g_apic_start),
                LM_CODE + (g_apic_unexpected - g_apic_start), IDT_FIRST_EXTERNAL);
    struct kvm_cpuid_entry2 *l1 = cpuid_find(supported, 1, 0);
    CHECK(l1 && (l1->ecx & CPUID1_ECX_X2APIC), "KVM_GET_SUPPORTED_CPUID offers no x2APIC");
    if (lm_vcpu(vm, NULL, LM_STACK) || set_idt(vm)) return -1;
    static struct ap_plan plan;
    memset(&plan, 0, sizeof plan);
    plan.mem = vm->mem;
    plan.main_at = AP_SCRIPT;
    plan.handler_at = AP_HSCRIPT_BASE;
    // The scenarios in xAPIC mode (MMIO), then again in x2APIC mode (MSRs).
    unsigned mark = 0;
    ap_build(&plan, AP_NEST_XAPIC, &mark);
    ap_op(&plan, &plan.main_at, AOP_X2APIC, 0);
    ap_build(&plan, AP_NEST_X2APIC, &mark);
    ap_op(&plan, &plan.main_at, AOP_END, 0);
    CHECK(!plan.overflow, "apic script or log too long");
    if (vm_run_to_exit(vm)) return -1;
    struct kvm_run *r = vm->run;
    struct kvm_regs regs;
    if (r->exit_reason == KVM_EXIT_IO && r->io.port == AP_BAD_PORT && get_regs(vm, &regs) == 0)
        return fail(vm, "exception in the guest (stack: 0x%llx 0x%llx)", regs.rbx, regs.rcx);
    if (r->exit_reason != KVM_EXIT_IO || r->io.port != AP_DONE_PORT)
        return unexpected(vm, "apic guest");
    uint64_t n, got[AP_LOG_MAX];
    memcpy(&n, vm->mem + AP_LOG_COUNT, 8);
    memcpy(got, vm->mem + AP_LOG, sizeof got);
    snprintf(case_info, sizeof case_info, "%u self-IPIs, %llu log entries (want %u)", plan.ipis,
             (unsigned long long)n, plan.nwant);
    for (unsigned i = 0; i < plan.nwant && i < n; i++)
        CHECK(got[i] == plan.want[i],
              "log entry %u is kind %llu value 0x%llx, want kind %llu value 0x%llx (kinds: 1 "
              "interrupt, 2 mark, 3 value read, 4 wait timed out, 5 no ISR bit)",
              i, (unsigned long long)(got[i] >> LOG_KIND_SHIFT),
              (unsigned long long)(uint32_t)got[i],
              (unsigned long long)(plan.want[i] >> LOG_KIND_SHIFT),
              (unsigned long long)(uint32_t)plan.want[i]);
    CHECK(n == plan.nwant, "the guest logged %llu entries, want %u", (unsigned long long)n,
          plan.nwant);
    // Every IPI taken exactly once: the handler's own counts.
    unsigned total = 0;
    for (unsigned v = 0; v < NUM_VECTORS; v++) {
        uint64_t c, want = 0;
        memcpy(&c, vm->mem + AP_COUNTS + v * 8, 8);
        for (unsigned i = 0; i < plan.nwant; i++)
            want += plan.want[i] == ((uint64_t)LOG_IRQ << LOG_KIND_SHIFT | v);
        CHECK(c == want, "vector 0x%x taken %llu times, want %llu", v, (unsigned long long)c,
              (unsigned long long)want);
        total += c;
    }
    CHECK(total == plan.ipis, "%u interrupts taken for %u IPIs sent", total, plan.ipis);
    return 0;
}

// ---- dirtylog: a slot with KVM_MEM_LOG_DIRTY_PAGES; after each round of
// writes and reads KVM_GET_DIRTY_LOG must name exactly the pages written

#define DL_PAGES       128
#define DL_WORDS       (DL_PAGES / 64)
#define DL_ROUNDS      5 // the first writes every page (all mapped, then logged by PML)
#define DL_LIST        0x10000
#define DL_LIST_END    0x30000
#define DL_FILL        0x0123456789abcdefULL // the slot's first contents, per page ^ page
#define DL_HASH_MUL    0x9e3779b97f4a7c15ULL
#define DL_HASH_SHIFT  59
#define DL_STRIDE      37 // pages visited in the order p * DL_STRIDE % DL_PAGES
#define DL_ACCESS_KINDS 5

enum { DL_NONE, DL_READ, DL_WRITE, DL_READ_WRITE, DL_WRITE_TWICE };

static int case_dirtylog(struct vm *vm)
{
    vm->mem2_size = DL_PAGES * GUEST_PAGE;
    void *p = mmap(NULL, vm->mem2_size, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    CHECK(p != MAP_FAILED, "mmap: %s", strerror(errno));
    vm->mem2 = p;
    madvise(p, vm->mem2_size, MADV_NOHUGEPAGE);
    // The host's own stores are not logged: the first contents go in now.
    uint64_t shadow[DL_PAGES];
    for (unsigned pg = 0; pg < DL_PAGES; pg++) {
        shadow[pg] = DL_FILL ^ pg;
        memcpy(vm->mem2 + pg * GUEST_PAGE + (pg & DL_QWORDS_MASK) * 8, &shadow[pg], 8);
    }
    struct kvm_userspace_memory_region region = {
        .slot = 1,
        .flags = KVM_MEM_LOG_DIRTY_PAGES,
        .guest_phys_addr = EXTRA_GPA,
        .memory_size = vm->mem2_size,
        .userspace_addr = (uintptr_t)p,
    };
    uint64_t t0 = rdtsc();
    CHECK(ioctl(vm->fd, KVM_SET_USER_MEMORY_REGION, &region) == 0,
          "KVM_SET_USER_MEMORY_REGION (dirty logging): %s", strerror(errno));
    uint64_t slot_ticks = rdtsc() - t0, log_ticks = 0, run_ticks[DL_ROUNDS + 1];
    // The rounds' lists, and what each must leave dirty.
    uint64_t want[DL_ROUNDS][DL_WORDS], at = DL_LIST, reads_sum = 0;
    unsigned writes = 0, reads = 0;
    memset(want, 0, sizeof want);
    for (unsigned r = 0; r < DL_ROUNDS; r++) {
        for (unsigned i = 0; i < DL_PAGES; i++) {
            unsigned pg = i * DL_STRIDE % DL_PAGES;
            unsigned kind = r == 0 ? DL_WRITE
                                   : ((pg + 1) * DL_HASH_MUL * (r + 1) >> DL_HASH_SHIFT) %
                                         DL_ACCESS_KINDS;
            uint64_t seq[2];
            unsigned n = 0;
            if (kind == DL_READ || kind == DL_READ_WRITE) seq[n++] = (uint64_t)pg << 1;
            if (kind == DL_WRITE || kind == DL_READ_WRITE || kind == DL_WRITE_TWICE)
                seq[n++] = (uint64_t)pg << 1 | 1;
            if (kind == DL_WRITE_TWICE) seq[n++] = (uint64_t)pg << 1 | 1;
            for (unsigned k = 0; k < n; k++) {
                CHECK(at + 8 <= DL_LIST_END, "dirtylog list too long");
                memcpy(vm->mem + at, &seq[k], 8);
                at += 8;
                if (seq[k] & 1) {
                    shadow[pg] = seq[k] ^ DL_SALT ^ (uint64_t)r << DL_ROUND_SHIFT;
                    want[r][pg / 64] |= 1ULL << pg % 64;
                    writes++;
                } else {
                    reads_sum += shadow[pg];
                    reads++;
                }
            }
        }
        uint64_t end = DL_END;
        CHECK(at + 16 <= DL_LIST_END, "dirtylog list too long");
        memcpy(vm->mem + at, &end, 8);
        at += 8;
    }
    uint64_t end = DL_END;
    memcpy(vm->mem + at, &end, 8); // two in a row: the guest halts
    if (vm_long_mode(vm, g_dirty_start, g_dirty_end, NULL)) return -1;
    struct kvm_regs regs;
    if (get_regs(vm, &regs)) return -1;
    regs.rsi = DL_LIST;
    regs.rdi = EXTRA_GPA;
    CHECK(ioctl(vm->vcpu, KVM_SET_REGS, &regs) == 0, "KVM_SET_REGS: %s", strerror(errno));
    uint64_t bitmap[DL_WORDS];
    struct kvm_dirty_log log = {.slot = 1, .dirty_bitmap = bitmap};
    unsigned dirty_total = 0;
    for (unsigned r = 0; r <= DL_ROUNDS; r++) {
        t0 = rdtsc();
        if (vm_run_to_exit(vm)) return -1;
        run_ticks[r] = rdtsc() - t0;
        struct kvm_run *run = vm->run;
        if (r < DL_ROUNDS) {
            if (run->exit_reason != KVM_EXIT_IO || run->io.port != DL_PORT)
                return unexpected(vm, "end of a dirtylog round");
        } else if (run->exit_reason != KVM_EXIT_HLT) {
            return unexpected(vm, "dirtylog HLT");
        }
        memset(bitmap, 0, sizeof bitmap);
        t0 = rdtsc();
        CHECK(ioctl(vm->fd, KVM_GET_DIRTY_LOG, &log) == 0, "KVM_GET_DIRTY_LOG: %s",
              strerror(errno));
        log_ticks += rdtsc() - t0;
        // After the last round's log was taken nothing may be dirty.
        const uint64_t *w = r < DL_ROUNDS ? want[r] : (const uint64_t[DL_WORDS]){0};
        for (unsigned k = 0; k < DL_WORDS; k++) {
            dirty_total += __builtin_popcountll(bitmap[k]);
            uint64_t extra = bitmap[k] & ~w[k], missing = w[k] & ~bitmap[k];
            CHECK(!extra && !missing,
                  "round %u: pages %u-%u dirty 0x%016llx, want 0x%016llx (%s page %u)", r, k * 64,
                  k * 64 + 63, (unsigned long long)bitmap[k], (unsigned long long)w[k],
                  extra ? "not written: dirty" : "written: not dirty",
                  k * 64 + __builtin_ctzll(extra ? extra : missing));
        }
    }
    if (get_regs(vm, &regs)) return -1;
    // Where the time goes: making the slot, each KVM_RUN, KVM_GET_DIRTY_LOG.
    int len = snprintf(case_info, sizeof case_info,
                       "%u rounds of %u pages, %u writes, %u reads, %u dirty; ticks: slot %llu, "
                       "dirty logs %llu, runs",
                       DL_ROUNDS, DL_PAGES, writes, reads, dirty_total,
                       (unsigned long long)slot_ticks, (unsigned long long)log_ticks);
    for (unsigned r = 0; r <= DL_ROUNDS && len < (int)sizeof case_info; r++)
        len += snprintf(case_info + len, sizeof case_info - len, "%s%llu", r ? "/" : " ",
                        (unsigned long long)run_ticks[r]);
    CHECK(regs.rbx == DL_ROUNDS && regs.r10 == reads_sum,
          "guest did %llu rounds, read sum 0x%llx, want %u and 0x%llx", regs.rbx, regs.r10,
          DL_ROUNDS, (unsigned long long)reads_sum);
    for (unsigned pg = 0; pg < DL_PAGES; pg++) {
        uint64_t got;
        memcpy(&got, vm->mem2 + pg * GUEST_PAGE + (pg & DL_QWORDS_MASK) * 8, 8);
        CHECK(got == shadow[pg], "page %u holds 0x%llx, want 0x%llx", pg,
              (unsigned long long)got, (unsigned long long)shadow[pg]);
    }
    return 0;
}

// ---- nestedvmx: the guest runs an L3 of its own through the VMX KVM
// (nested=1) emulates for it

// VMCS field encodings (SDM appendix B).
#define VMCS_GUEST_SEL(i)      (VMCS_GUEST_ES_SEL + 2 * (i)) // ES CS SS DS FS GS LDTR TR
#define VMCS_GUEST_LIMIT(i)    (VMCS_GUEST_ES_LIMIT + 2 * (i))
#define VMCS_GUEST_AR(i)       (VMCS_GUEST_ES_AR + 2 * (i))
#define VMCS_GUEST_BASE(i)     (VMCS_GUEST_ES_BASE + 2 * (i))
#define VMCS_HOST_SEL(i)       (VMCS_HOST_ES_SEL + 2 * (i)) // ES CS SS DS FS GS TR
enum { SEG_ES, SEG_CS, SEG_SS, SEG_DS, SEG_FS, SEG_GS, SEG_LDTR, SEG_TR, SEG_COUNT };
#define HOST_SEG_TR            6 // the host fields have no LDTR
#define LM_DATA_SEL            0x10
#define LM_TR_SEL              0x18    // no descriptor needed: VM entry and exit load TR from the VMCS
#define AR_CODE64              0xa09b  // G L P S, execute/read accessed
#define AR_DATA                0xc093  // G D/B P S, read/write accessed
#define AR_TSS64_BUSY          0x8b
#define TSS_LIMIT              0x67
#define SEG_LIMIT_4G           0xffffffffULL
#define RFLAGS_FIXED           0x2
#define CPUID1_ECX_VMX         (1u << 5)
#define NV_WANT_EXITS          2

struct nv_entry {
    uint64_t field, value, how;
};

static int case_nestedvmx(struct vm *vm)
{
    struct kvm_cpuid_entry2 *l1 = cpuid_find(supported, 1, 0);
    CHECK(l1 && (l1->ecx & CPUID1_ECX_VMX),
          "KVM_GET_SUPPORTED_CPUID offers no VMX (kvm_intel nested=0?)");
    CHECK(g_nvmx_end - g_nvmx_start <= (long)LM_CODE_MAX, "nestedvmx guest too big");
    // The supported CPUID, VMX bit included: KVM then gives the vCPU its
    // VMX capability MSRs.
    if (vm_long_mode(vm, g_nvmx_start, g_nvmx_end, NULL)) return -1;
    // The BIOS's part: IA32_FEATURE_CONTROL locked with VMXON allowed (SDM 23.7).
    struct {
        struct kvm_msrs h;
        struct kvm_msr_entry e[6];
    } msrs = {.h.nmsrs = 1};
    msrs.e[0].index = MSR_FEATURE_CONTROL;
    msrs.e[0].data = FEATURE_CONTROL_LOCK | FEATURE_CONTROL_VMX_OUTSIDE_SMX;
    CHECK(ioctl(vm->vcpu, KVM_SET_MSRS, &msrs) == 1, "KVM_SET_MSRS IA32_FEATURE_CONTROL: %s",
          strerror(errno));
    static const uint32_t caps[] = {MSR_IA32_VMX_BASIC, MSR_IA32_VMX_PINBASED_CTLS, MSR_IA32_VMX_PROCBASED_CTLS,
                                    MSR_IA32_VMX_EXIT_CTLS, MSR_IA32_VMX_ENTRY_CTLS};
    msrs.h.nmsrs = sizeof caps / sizeof caps[0];
    for (unsigned i = 0; i < msrs.h.nmsrs; i++)
        msrs.e[i] = (struct kvm_msr_entry){.index = caps[i]};
    int got = ioctl(vm->vcpu, KVM_GET_MSRS, &msrs);
    CHECK(got == (int)msrs.h.nmsrs, "KVM_GET_MSRS of the VMX capability MSRs: %d of %u read (%s)",
          got, msrs.h.nmsrs, strerror(errno));
    uint64_t basic = msrs.e[0].data;
    uint64_t ptrs[2] = {NV_VMXON, NV_VMCS};
    memcpy(vm->mem + NV_PTRS, ptrs, sizeof ptrs);
    const uint64_t l3_rip = LM_CODE + (g_nvmx_l3 - g_nvmx_start);
    const uint64_t exit_rip = LM_CODE + (g_nvmx_exit - g_nvmx_start);
    // L3 runs on the guest's own CR0/CR3/CR4, GDT and page tables; the
    // guest stores its control registers at NV_STATE after setting VMXE.
    struct nv_entry table[] = {
        {VMCS_PIN_CONTROLS, 0, MSR_IA32_VMX_PINBASED_CTLS},
        {VMCS_PROC_CONTROLS, 0, MSR_IA32_VMX_PROCBASED_CTLS},
        {VMCS_EXIT_CONTROLS, EXIT_HOST_ADDR_SPACE_SIZE, MSR_IA32_VMX_EXIT_CTLS},
        {VMCS_ENTRY_CONTROLS, ENTRY_IA32E_MODE_GUEST, MSR_IA32_VMX_ENTRY_CTLS},
        {VMCS_EXCEPTION_BITMAP, 0, 0},
        {VMCS_PF_ERROR_MASK, 0, 0},
        {VMCS_PF_ERROR_MATCH, 0, 0},
        {VMCS_CR3_TARGET_COUNT, 0, 0},
        {VMCS_EXIT_MSR_STORE_COUNT, 0, 0},
        {VMCS_EXIT_MSR_LOAD_COUNT, 0, 0},
        {VMCS_ENTRY_MSR_LOAD_COUNT, 0, 0},
        {VMCS_ENTRY_INTR_INFO, 0, 0},
        {VMCS_CR0_GUEST_HOST_MASK, 0, 0},
        {VMCS_CR4_GUEST_HOST_MASK, 0, 0},
        {VMCS_CR0_READ_SHADOW, 0, 0},
        {VMCS_CR4_READ_SHADOW, 0, 0},
        {VMCS_LINK_POINTER, ~0ULL, 0}, // none (SDM 26.3.1.5)
        {VMCS_GUEST_DEBUGCTL, 0, 0},
        {VMCS_HOST_CR0, NV_STATE + NV_STATE_CR0, NV_FROM_MEM},
        {VMCS_HOST_CR3, NV_STATE + NV_STATE_CR3, NV_FROM_MEM},
        {VMCS_HOST_CR4, NV_STATE + NV_STATE_CR4, NV_FROM_MEM},
        {VMCS_HOST_SEL(SEG_ES), LM_DATA_SEL, 0},
        {VMCS_HOST_SEL(SEG_CS), LM_CODE_SEL, 0},
        {VMCS_HOST_SEL(SEG_SS), LM_DATA_SEL, 0},
        {VMCS_HOST_SEL(SEG_DS), LM_DATA_SEL, 0},
        {VMCS_HOST_SEL(SEG_FS), LM_DATA_SEL, 0},
        {VMCS_HOST_SEL(SEG_GS), LM_DATA_SEL, 0},
        {VMCS_HOST_SEL(HOST_SEG_TR), LM_TR_SEL, 0}, // may not be 0 (SDM 26.2.3)
        {VMCS_HOST_FS_BASE, 0, 0},
        {VMCS_HOST_GS_BASE, 0, 0},
        {VMCS_HOST_TR_BASE, 0, 0},
        {VMCS_HOST_GDTR_BASE, LM_GDT, 0},
        {VMCS_HOST_IDTR_BASE, 0, 0},
        {VMCS_HOST_SYSENTER_CS, 0, 0},
        {VMCS_HOST_SYSENTER_ESP, 0, 0},
        {VMCS_HOST_SYSENTER_EIP, 0, 0},
        {VMCS_HOST_RSP, NV_HOST_STACK, 0},
        {VMCS_HOST_RIP, exit_rip, 0},
        {VMCS_GUEST_CR0, NV_STATE + NV_STATE_CR0, NV_FROM_MEM},
        {VMCS_GUEST_CR3, NV_STATE + NV_STATE_CR3, NV_FROM_MEM},
        {VMCS_GUEST_CR4, NV_STATE + NV_STATE_CR4, NV_FROM_MEM},
        {VMCS_GUEST_GDTR_BASE, LM_GDT, 0},
        {VMCS_GUEST_GDTR_LIMIT, 3 * 8 - 1, 0},
        {VMCS_GUEST_IDTR_BASE, 0, 0},
        {VMCS_GUEST_IDTR_LIMIT, 0, 0},
        {VMCS_GUEST_DR7, DR7_INIT, 0},
        {VMCS_GUEST_RSP, NV_L3_STACK, 0},
        {VMCS_GUEST_RIP, l3_rip, 0},
        {VMCS_GUEST_RFLAGS, RFLAGS_FIXED, 0},
        {VMCS_GUEST_PENDING_DBG, 0, 0},
        {VMCS_GUEST_SYSENTER_CS, 0, 0},
        {VMCS_GUEST_SYSENTER_ESP, 0, 0},
        {VMCS_GUEST_SYSENTER_EIP, 0, 0},
        {VMCS_GUEST_INTERRUPTIBILITY, 0, 0},
        {VMCS_GUEST_ACTIVITY_STATE, 0, 0},
    };
    size_t n = sizeof table / sizeof table[0];
    CHECK((n + SEG_COUNT * 4 + 1) * NV_ENTRY_SIZE <= NV_HOST_STACK - NV_TABLE - GUEST_PAGE,
          "nestedvmx table too long");
    uint8_t *t = vm->mem + NV_TABLE;
    memcpy(t, table, sizeof table);
    t += sizeof table;
    for (unsigned s = 0; s < SEG_COUNT; s++) {
        uint64_t sel = s == SEG_CS ? LM_CODE_SEL : s == SEG_LDTR ? 0 : s == SEG_TR ? LM_TR_SEL : LM_DATA_SEL;
        uint64_t ar = s == SEG_CS ? AR_CODE64 : s == SEG_LDTR ? AR_UNUSABLE : s == SEG_TR ? AR_TSS64_BUSY : AR_DATA;
        uint64_t limit = s == SEG_LDTR ? 0 : s == SEG_TR ? TSS_LIMIT : SEG_LIMIT_4G;
        struct nv_entry seg_fields[4] = {
            {VMCS_GUEST_SEL(s), sel, 0},
            {VMCS_GUEST_AR(s), ar, 0},
            {VMCS_GUEST_LIMIT(s), limit, 0},
            {VMCS_GUEST_BASE(s), 0, 0},
        };
        memcpy(t, seg_fields, sizeof seg_fields);
        t += sizeof seg_fields;
    }
    uint64_t table_end = NV_TABLE_END;
    memcpy(t, &table_end, 8);
    if (vm_run_to_exit(vm)) return -1;
    struct kvm_run *r = vm->run;
    struct kvm_regs regs;
    if (get_regs(vm, &regs)) return -1;
    uint64_t exits[1 + NV_EXITS_MAX], state_basic;
    memcpy(exits, vm->mem + NV_EXITS, sizeof exits);
    memcpy(&state_basic, vm->mem + NV_STATE + NV_STATE_BASIC, 8);
    snprintf(case_info, sizeof case_info,
             "IA32_VMX_BASIC 0x%llx, procbased 0x%llx, %llu L3 exits: %llu %llu",
             (unsigned long long)basic, (unsigned long long)msrs.e[2].data,
             (unsigned long long)exits[0], (unsigned long long)exits[1],
             (unsigned long long)exits[2]);
    if (r->exit_reason == KVM_EXIT_IO && r->io.port == NV_FAIL_PORT)
        return fail(vm,
                    "VMX instruction failed at step %llu (1 VMXON 2 VMCLEAR 3 VMPTRLD 4 VMWRITE "
                    "5 VMLAUNCH 6 VMRESUME 7 VMXOFF 8 VMREAD), VM-instruction error %lld, field "
                    "0x%llx",
                    regs.rbx, (long long)regs.rcx, regs.r9);
    if (r->exit_reason == KVM_EXIT_IO && r->io.port == NV_BAD_PORT)
        return fail(vm, "L3 exit reason %llu nobody expected", regs.rax);
    if (r->exit_reason != KVM_EXIT_IO || r->io.port != NV_DONE_PORT)
        return unexpected(vm, "nestedvmx guest");
    CHECK(state_basic == basic, "IA32_VMX_BASIC: guest RDMSR 0x%llx, KVM_GET_MSRS 0x%llx",
          (unsigned long long)state_basic, (unsigned long long)basic);
    CHECK(exits[0] == NV_WANT_EXITS && exits[1] == EXIT_CPUID &&
              exits[2] == EXIT_VMCALL,
          "L3 exit reasons: %llu of them, %llu then %llu; want CPUID (%d) then VMCALL (%d)",
          (unsigned long long)exits[0], (unsigned long long)exits[1],
          (unsigned long long)exits[2], EXIT_CPUID, EXIT_VMCALL);
    return 0;
}

// ---- migrate: vCPU threads moved between CPUs while their guests compute
// (and each vCPU's set-up ioctls done on three CPUs before its first run)

// The host's copy of one checksum pass of g_sum.
static void sum_pass(struct thr *t)
{
    uint64_t add = t->seed ^ t->passes;
    for (size_t j = 0; j < t->qwords; j++) {
        uint64_t x = t->shadow[j] * SUM_MUL + add;
        t->shadow[j] = x;
        t->sum = rol64(t->sum, SUM_ROL) ^ x;
    }
    t->passes++;
}

static void *migrate_thread(void *arg)
{
    struct thr *t = arg;
    struct vm *vm = &t->vm;
    struct kvm_run *r = vm->run;
    t->tid = gettid();
    if (pin(0, t->cpu)) {
        fail(vm, "sched_setaffinity to CPU %d: %s", t->cpu, strerror(errno));
        smp_stop = 1;
    }
    pthread_barrier_wait(&barrier); // the controller knows every tid now
    int last = sched_getcpu();
    uint64_t stack = LM_STACK - t->index * SMP_STACK_SIZE;
    while (!vm->why[0]) {
        if (vm_run_to_exit(vm)) break;
        if (r->exit_reason != KVM_EXIT_IO || r->io.port != SUM_PORT) {
            unexpected(vm, "checksum guest");
            break;
        }
        struct kvm_regs regs;
        if (get_regs(vm, &regs)) break;
        sum_pass(t);
        if (regs.rax != t->sum || regs.rbx != t->passes ||
            regs.rip != LM_CODE + (g_sum_out - g_sum_start) || regs.rsp != stack) {
            fail(vm, "after pass %llu: checksum 0x%llx pass %llu rip 0x%llx rsp 0x%llx, want "
                     "0x%llx %llu 0x%llx 0x%llx",
                 (unsigned long long)t->passes, regs.rax, regs.rbx, regs.rip, regs.rsp,
                 (unsigned long long)t->sum, (unsigned long long)t->passes,
                 (unsigned long long)(LM_CODE + (g_sum_out - g_sum_start)),
                 (unsigned long long)stack);
            break;
        }
        int cpu = sched_getcpu();
        t->seen += cpu != last;
        last = cpu;
        if (migrate_done && t->passes >= MIGRATE_MIN_PASSES) break;
    }
    if (!vm->why[0])
        for (size_t j = 0; j < t->qwords; j++) {
            uint64_t got;
            memcpy(&got, t->buf + j * 8, 8);
            if (got != t->shadow[j]) {
                fail(vm, "buffer qword %zu is 0x%llx, want 0x%llx", j, (unsigned long long)got,
                     (unsigned long long)t->shadow[j]);
                break;
            }
        }
    if (vm->why[0]) smp_stop = 1;
    return NULL;
}

static int case_migrate(struct vm *vm)
{
    unsigned n = ncpus;
    size_t buf = MIGRATE_BUF_KIB * 1024UL;
    if (mvm_create(vm, n, 0, n * buf)) return -1;
    lm_tables(vm->mem, g_sum_start, g_sum_end);
    for (unsigned i = 0; i < n; i++) {
        struct thr *t = &thr[i];
        t->index = i;
        t->cpu = cpus[i];
        t->seed = MIGRATE_SEED + i;
        t->qwords = buf / 8;
        t->buf = vm->mem2 + i * buf;
        t->shadow = malloc(buf);
        CHECK(t->shadow, "malloc: %s", strerror(errno));
        for (size_t j = 0; j < t->qwords; j++)
            t->shadow[j] = t->seed * (j + 1);
        memcpy(t->buf, t->shadow, buf);
        // The set-up ioctls hop from CPU to CPU as well: each loads the
        // vCPU's VMCS where it runs, so it moves before its first launch.
        unsigned hop = i;
        CHECK(!pin(0, cpus[++hop % ncpus]), "sched_setaffinity: %s", strerror(errno));
        if (lm_vcpu(&t->vm, NULL, LM_STACK - i * SMP_STACK_SIZE)) return threads_failed(vm, n);
        CHECK(!pin(0, cpus[++hop % ncpus]), "sched_setaffinity: %s", strerror(errno));
        struct kvm_regs regs;
        if (get_regs(&t->vm, &regs)) return threads_failed(vm, n);
        regs.rsi = EXTRA_GPA + i * buf;
        regs.rcx = t->qwords;
        regs.r8 = t->seed;
        CHECK(!pin(0, cpus[++hop % ncpus]), "sched_setaffinity: %s", strerror(errno));
        CHECK(ioctl(t->vm.vcpu, KVM_SET_REGS, &regs) == 0, "KVM_SET_REGS: %s", strerror(errno));
    }
    migrate_done = 0;
    pthread_barrier_init(&barrier, NULL, n + 1);
    if (start_all(vm, n, migrate_thread)) return -1; // (threads block in the barrier: none started)
    pthread_barrier_wait(&barrier);
    // Move vCPU k = m % n to the next CPU of its own, every interval, while
    // the guests run: KVM then VMCLEARs its VMCS on the old CPU (an IPI
    // there) and VMPTRLDs it on the new one.
    unsigned planned = n * MIGRATE_MOVES_PER_VCPU, moves = 0, landed = 0, pos[MAX_THREADS];
    for (unsigned i = 0; i < n; i++)
        pos[i] = i;
    int move_err = 0;
    for (unsigned k = 0; moves < planned && !smp_stop; k = (k + 1) % n) {
        pos[k] = (pos[k] + 1) % ncpus;
        if (pin(thr[k].tid, cpus[pos[k]])) {
            move_err = errno;
            break;
        }
        moves++;
        landed += task_cpu(thr[k].tid) == cpus[pos[k]];
        usleep(MIGRATE_INTERVAL_US);
    }
    migrate_done = 1;
    unsigned stuck = join_all(n, MIGRATE_TIMEOUT_S);
    pthread_barrier_destroy(&barrier);
    unsigned seen = 0, least_seen = ~0u;
    uint64_t passes = 0;
    for (unsigned i = 0; i < n; i++) {
        seen += thr[i].seen;
        passes += thr[i].passes;
        if (thr[i].seen < least_seen) least_seen = thr[i].seen;
        free(thr[i].shadow);
    }
    snprintf(case_info, sizeof case_info,
             "%u vCPUs, %u moves (%u landed on the target CPU), %u CPU changes seen between "
             "passes, %llu passes",
             n, moves, landed, seen, (unsigned long long)passes);
    mvm_release(vm, n, stuck);
    CHECK(!stuck, "%u vCPU threads did not stop", stuck);
    if (threads_failed(vm, n)) return -1;
    CHECK(!move_err, "sched_setaffinity of a vCPU thread: %s", strerror(move_err));
    CHECK(moves == planned && landed == moves, "%u of %u moves done, %u landed", moves, planned,
          landed);
    CHECK(least_seen >= 1, "a vCPU thread never saw itself on another CPU (%u changes in all)",
          seen);
    return 0;
}

// ---- allcpus: a VM on every CPU at once, each filling and checking its memory

static void *allcpus_thread(void *arg)
{
    struct thr *t = arg;
    struct vm *vm = &t->vm;
    uint64_t pages = ALLCPUS_MIB * MIB / GUEST_PAGE, seed = ALLCPUS_SEED + t->index;
    int ok = 1;
    if (pin(0, t->cpu)) ok = !fail(vm, "sched_setaffinity to CPU %d: %s", t->cpu, strerror(errno));
    if (ok) ok = sched_getcpu() == t->cpu || !fail(vm, "runs on CPU %d", sched_getcpu());
    if (ok) ok = !vm_create(vm);
    if (ok) ok = !add_slot(vm, 1, EXTRA_GPA, ALLCPUS_MIB * MIB, &vm->mem2, 1);
    if (ok) vm->mem2_size = ALLCPUS_MIB * MIB;
    if (ok) ok = !vm_long_mode(vm, g_fill_start, g_fill_end, NULL);
    struct kvm_regs regs;
    if (ok) ok = !get_regs(vm, &regs);
    if (ok) {
        regs.rsi = EXTRA_GPA;
        regs.rcx = pages;
        regs.r8 = seed;
        ok = ioctl(vm->vcpu, KVM_SET_REGS, &regs) == 0 ||
             !fail(vm, "KVM_SET_REGS: %s", strerror(errno));
    }
    if (!ok) smp_stop = 1;
    pthread_barrier_wait(&barrier); // every VM is made: they all run at once
    uint64_t t0 = rdtsc();
    if (ok) ok = !expect_hlt(vm, LM_CODE + (g_fill_end - g_fill_start), "fill HLT");
    t->ticks = rdtsc() - t0;
    if (ok) ok = !get_regs(vm, &regs);
    uint64_t sum = 0;
    for (uint64_t p = 0; ok && p < pages; p++)
        for (uint64_t k = 0; ok && k < FILL_PER_PAGE; k++) {
            uint64_t want = ((p << FILL_PER_PAGE_SH | k) * SUM_MUL) ^ seed, got;
            memcpy(&got, vm->mem2 + p * GUEST_PAGE + (k << FILL_STRIDE_SH), 8);
            sum = rol64(sum, FILL_ROL) ^ want;
            if (got != want)
                ok = !fail(vm, "page %llu qword %llu: host sees 0x%llx, want 0x%llx",
                           (unsigned long long)p, (unsigned long long)k, (unsigned long long)got,
                           (unsigned long long)want);
        }
    if (ok && (regs.rbx != 0 || regs.rax != sum))
        ok = !fail(vm, "guest read back %llu wrong values, checksum 0x%llx, want 0 and 0x%llx",
                   regs.rbx, regs.rax, (unsigned long long)sum);
    if (ok && sched_getcpu() != t->cpu)
        ok = !fail(vm, "ended on CPU %d, pinned to %d", sched_getcpu(), t->cpu);
    t->exits = vm->vcpu >= 0 ? vcpu_stat(vm, "exits") : -1;
    vm_destroy(vm);
    if (!ok) smp_stop = 1;
    return NULL;
}

static int case_allcpus(struct vm *vm)
{
    unsigned n = ncpus;
    for (unsigned i = 0; i < n; i++) {
        struct thr *t = &thr[i];
        t->index = i;
        t->cpu = cpus[i];
        t->vm = (struct vm){.fd = -1, .vcpu = -1, .why = t->why};
    }
    pthread_barrier_init(&barrier, NULL, n);
    if (start_all(vm, n, allcpus_thread)) return -1;
    unsigned stuck = join_all(n, ALLCPUS_TIMEOUT_S);
    if (!stuck) pthread_barrier_destroy(&barrier);
    smp_exits = 0;
    int len = snprintf(case_info, sizeof case_info, "%u VMs of %lu MiB, ticks per VM", n,
                       (unsigned long)ALLCPUS_MIB);
    for (unsigned i = 0; i < n; i++) {
        smp_exits += thr[i].exits > 0 ? thr[i].exits : 0;
        if (len < (int)sizeof case_info)
            len += snprintf(case_info + len, sizeof case_info - len, "%s%llu", i ? "/" : " ",
                            (unsigned long long)thr[i].ticks);
    }
    CHECK(!stuck, "%u VM threads did not stop", stuck);
    return threads_failed(vm, n);
}

// ---------------------------------------------------------------------------

// own_vm: the case makes its VMs itself (main's vm holds only the reason).
static const struct {
    const char *name;
    int (*fn)(struct vm *);
    int own_vm;
    int min_cpus;
} cases[] = {
    {"realmode", case_realmode, 0, 1}, {"longmode", case_longmode, 0, 1},
    {"io", case_io, 0, 1},             {"mmio", case_mmio, 0, 1},
    {"hlt", case_hlt, 0, 1},           {"cpuid", case_cpuid, 0, 1},
    {"pages", case_pages, 0, 1},       {"timer", case_timer, 0, 1},
    {"apic", case_apic, 1, 1},         {"dirtylog", case_dirtylog, 0, 1},
    {"nestedvmx", case_nestedvmx, 0, 1},
    {"ipi", case_ipi, 1, SMP_MIN_CPUS},
    {"migrate", case_migrate, 1, SMP_MIN_CPUS},
    {"allcpus", case_allcpus, 1, SMP_MIN_CPUS},
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
        if (ioctl(kvm_fd, KVM_GET_SUPPORTED_CPUID, supported) == 0) break;
        int e = errno;
        free(supported);
        supported = NULL;
        if (e != E2BIG) {
            snprintf(why, 256, "KVM_GET_SUPPORTED_CPUID: %s", strerror(e));
            return -1;
        }
    }
    if (!supported) {
        snprintf(why, 256, "KVM_GET_SUPPORTED_CPUID: too many entries");
        return -1;
    }
    // Linux 6.1 turns VMX on in every online CPU when the first VM is made,
    // and KVM_CREATE_VM fails if one CPU refuses: make one and drop it.
    int vmfd = ioctl(kvm_fd, KVM_CREATE_VM, 0);
    if (vmfd < 0) {
        snprintf(why, 256, "KVM_CREATE_VM: %s (VMX not enabled on every CPU?)", strerror(errno));
        return -1;
    }
    close(vmfd);
    return 0;
}

// Whether a case argument names the case: "ipi", or a list "ipi,migrate"
// (one word survives boot loaders' quoting on a kernel command line).
static int named(const char *arg, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = arg; p; p = strchr(p, ',')) {
        if (*p == ',') p++;
        if (strncmp(p, name, n) == 0 && (p[n] == 0 || p[n] == ',')) return 1;
    }
    return 0;
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
    // The CPUs this process may use: the SMP cases pin threads to them.
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0)
        for (int c = 0; c < CPU_SETSIZE && ncpus < MAX_THREADS; c++)
            if (CPU_ISSET(c, &set)) cpus[ncpus++] = c;
    printf("INFO kvmtest: %d CPUs to run on\n", ncpus);
    struct sigaction kick = {.sa_handler = on_kick}; // no SA_RESTART: KVM_RUN returns EINTR
    sigemptyset(&kick.sa_mask);
    sigaction(SIGUSR1, &kick, NULL);
    int leaked = 0; // an SMP case left threads running: thr[] is not free
    char why[WHY_SIZE] = "";
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
                chosen |= named(argv[a], cases[i].name);
            if (!chosen) continue;
        }
        if (kvm_fd < 0) {
            printf("FAIL kvm.%s: no usable /dev/kvm\n", cases[i].name);
            failed++;
            continue;
        }
        if (ncpus < cases[i].min_cpus) {
            printf("SKIP kvm.%s: L1 gives kvmtest %d CPU(s), the case needs %d\n", cases[i].name,
                   ncpus, cases[i].min_cpus);
            skipped++;
            continue;
        }
        struct vm vm = {.fd = -1, .vcpu = -1, .why = why};
        why[0] = 0;
        case_info[0] = 0;
        smp_stop = 0;
        smp_exits = -1;
        t0 = rdtsc();
        int r;
        if (!cases[i].own_vm) {
            r = vm_create(&vm);
            if (r == 0) r = cases[i].fn(&vm);
        } else if (leaked) {
            r = fail(&vm, "an earlier case left threads running");
        } else {
            memset(thr, 0, sizeof thr);
            r = cases[i].fn(&vm);
            sched_setaffinity(0, sizeof set, &set); // a case may have pinned this thread
            for (unsigned k = 0; k < MAX_THREADS; k++)
                leaked |= thr[k].running;
        }
        uint64_t ticks = rdtsc() - t0;
        long long exits = vm.vcpu >= 0 ? vcpu_stat(&vm, "exits") : smp_exits;
        vm_destroy(&vm);
        if (r == 0) {
            printf("PASS kvm.%s\n", cases[i].name);
            passed++;
        } else {
            printf("FAIL kvm.%s: %s\n", cases[i].name, why[0] ? why : "(no reason recorded)");
            failed++;
        }
        printf("INFO kvm.%s: %llu TSC ticks, %lld exits%s%s\n", cases[i].name,
               (unsigned long long)ticks, exits, case_info[0] ? ", " : "", case_info);
    }
    printf("KVMTEST DONE %d passed %d failed %d skipped\n", passed, failed, skipped);
    return failed ? 1 : 0;
}
