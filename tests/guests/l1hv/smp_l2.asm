; L2 code of the SMP cases (smp_cases.c, smp_bench.c): 64-bit, CPL 0, on
; L2's identity page tables (l2.asm's conventions: entered with the
; registers L1 put in struct guest_regs; results in registers).

bits 64

SMP_L2_BAD     equ 0xbad0c0de   ; R12 when L1's CPUID answer was wrong
PAGE_SIZE      equ 4096
PATTERN_OFFSET equ 0x800        ; smp_cases.c: L1's pattern in each window page
SLOT_SHIFT     equ 3            ; one qword per CPU from offset 0
CPU_SHIFT      equ 32           ; a CPU's value: cpu << 32 | page index
; report block of the reader (smp_cases.c struct reader_report)
R_LAST         equ 0
R_ITER         equ 8
R_EXPECT       equ 16
R_STALE        equ 24

section .text.l2 progbits alloc exec nowrite align=16

; smp_migrate: R13 = the context's id, RBX = a qword counter in L1 memory.
; Starts from zero (a restart at the entry would be seen), then for ever:
; R15 += 1, [RBX] += 1, CPUID leaf R13 (an exit; L1 answers RAX = R15).
; A wrong answer ends it with a VMCALL and R12 = SMP_L2_BAD.
global smp_l2_count, smp_l2_count_cpuid
smp_l2_count:
    xor r15d, r15d
    mov qword [rbx], 0
.next:
    inc r15
    inc qword [rbx]
    mov eax, r13d
    xor ecx, ecx
smp_l2_count_cpuid:
    cpuid
    cmp rax, r15
    je smp_l2_count.next
    mov r12d, SMP_L2_BAD
.stop:
    vmcall
    jmp .stop

; smp_ept_shared, pass 1: RBX = the window (guest-physical = linear), RCX =
; pages, RSI = this CPU's slot offset, RDI = this CPU's value (cpu << 32),
; R9 = L1's pattern base. For each page i: the qword at PATTERN_OFFSET must
; be R9 ^ i; [slot] <- RDI | i and read back. R8 = mismatches; VMCALL.
global smp_l2_touch
smp_l2_touch:
    xor r8d, r8d
    xor r10d, r10d              ; page index
.page:
    mov rax, r9
    xor rax, r10
    cmp [rbx + PATTERN_OFFSET], rax
    je .pattern_ok
    inc r8
.pattern_ok:
    mov rax, rdi
    or rax, r10
    mov [rbx + rsi], rax
    cmp [rbx + rsi], rax
    je .slot_ok
    inc r8
.slot_ok:
    add rbx, PAGE_SIZE
    inc r10
    cmp r10, rcx
    jb .page
.stop:
    vmcall
    jmp .stop

; smp_ept_shared, pass 2: RBX = the window, RCX = pages, RDX = CPUs. Every
; CPU's slot of every page must hold cpu << 32 | page. R8 = mismatches.
global smp_l2_check
smp_l2_check:
    xor r8d, r8d
    xor r10d, r10d              ; page index
.page:
    xor r11d, r11d              ; cpu
.cpu:
    mov rax, r11
    shl rax, CPU_SHIFT
    or rax, r10
    mov r12, r11
    shl r12, SLOT_SHIFT
    cmp [rbx + r12], rax
    je .ok
    inc r8
.ok:
    inc r11
    cmp r11, rdx
    jb .cpu
    add rbx, PAGE_SIZE
    inc r10
    cmp r10, rcx
    jb .page
.stop:
    vmcall
    jmp .stop

; smp_invept, reader: RBX = the address to read, RDI = its report block.
; For ever: R8 <- [RBX]; report it and count the iteration; if L1 had
; armed the check (R_EXPECT != 0) before the read, another value is
; counted in R_STALE. L1 arms only after its flush, so a read begun before
; the flush is never judged. Leaves only by VM exits (interrupts,
; preemption timer).
global smp_l2_reader
smp_l2_reader:
    mov rax, [rdi + R_EXPECT]
    mov r8, [rbx]
    mov [rdi + R_LAST], r8
    inc qword [rdi + R_ITER]
    test rax, rax
    jz .next
    cmp r8, rax
    je .next
    inc qword [rdi + R_STALE]
.next:
    pause
    jmp smp_l2_reader

; smp_invept, writer: RBX = the address to write, RDI = its report block.
; For ever: R15 += 1, R_ITER <- R15, [RBX] <- R15 (smp_l2_writer_store).
global smp_l2_writer, smp_l2_writer_store
smp_l2_writer:
    inc r15
    mov [rdi + R_ITER], r15
smp_l2_writer_store:
    mov [rbx], r15
    pause
    jmp smp_l2_writer

; bench_smp: CPUID for ever (each one an exit that L1 resumes past).
global smp_l2_cpuid_loop
smp_l2_cpuid_loop:
    xor eax, eax
    xor ecx, ecx
    cpuid
    jmp smp_l2_cpuid_loop
