; The code L2 runs: 64-bit, CPL 0, on the identity map of L2's own page
; tables. Each routine is entered at its label with the registers L1 put in
; struct guest_regs, and ends with VMCALL (exit reason 18), after which L1
; never resumes it (if it did, the routine would just VMCALL again).
; Results come back to L1 in registers (R8-R11 by convention).

bits 64

CR0_TS_BIT   equ 3
CR4_VMXE_BIT equ 13
L2_EXC_MARK  equ 0xe8ce97105     ; l1hv.h

section .text.l2 progbits alloc exec nowrite align=16

; VMCALL, and again if resumed.
%macro L2_DONE 0
%%stop:
    vmcall
    jmp %%stop
%endmacro

; R8 <- 1; VMCALL; R9 <- 2 (proves the resume continued after the VMCALL).
global l2_vmcall
l2_vmcall:
    mov r8d, 1
    vmcall
    mov r9d, 2
    L2_DONE

; CPUID with EAX/ECX from L1; the results L2 saw go to R8-R11.
global l2_cpuid
l2_cpuid:
    cpuid
    mov r8, rax
    mov r9, rbx
    mov r10, rcx
    mov r11, rdx
    L2_DONE

; HLT (1 byte), then VMCALL.
global l2_hlt
l2_hlt:
    hlt
    L2_DONE

; I/O: DX = a port the bitmap makes exit (OUT, 1 byte, DX form),
; ESI = another (IN, 4 bytes, DX form, from I/O bitmap B),
; EDI = a port that passes through (IN then OUT, 1 byte),
; then OUT to port L2_IO_IMM_PORT (immediate form, exits).
; R8 = the dword L1 returned for the IN, R9 = the byte read from EDI's port.
L2_IO_IMM_PORT equ 0x99         ; l1hv exits.c
global l2_io
l2_io:
    mov al, 0x5a
    out dx, al
    mov edx, esi
    in eax, dx
    mov r8, rax
    mov edx, edi
    xor eax, eax
    in al, dx
    mov r9, rax
    mov al, 0xa5
    out dx, al
    out L2_IO_IMM_PORT, al
    L2_DONE

; MSRs: R12 = read passes through, R13 = read exits (low range),
; R14 = read exits (high range), R15 = write exits (value RBX),
; RBP = MSR written with no exit (value RSI).
; R8/R9/R10 = the values read (EDX:EAX).
global l2_msr
l2_msr:
    mov ecx, r12d
    rdmsr
    shl rdx, 32
    or rax, rdx
    mov r8, rax
    mov ecx, r13d
    rdmsr
    shl rdx, 32
    or rax, rdx
    mov r9, rax
    mov ecx, r14d
    rdmsr
    shl rdx, 32
    or rax, rdx
    mov r10, rax
    mov ecx, r15d
    mov eax, ebx
    mov rdx, rbx
    shr rdx, 32
    wrmsr
    mov ecx, ebp
    mov eax, esi
    mov rdx, rsi
    shr rdx, 32
    wrmsr
    L2_DONE

; Control registers under guest/host masks (L1 masks CR0.TS with shadow
; TS = 1 and CR4.VMXE with shadow VMXE = 0):
;   R8 = CR0 as read, R9 = CR4 as read;
;   MOV CR4 <- R9 (masked bit equals the shadow: no exit);
;   MOV CR4 <- RBX = R9 | VMXE (differs: exit, GPR 3);
;   CLTS (shadow TS = 1: exit, access type 2);
;   MOV CR0 <- RCX = R8 (TS = 1 = shadow: no exit);
;   MOV CR0 <- RCX with TS clear (differs: exit, GPR 1).
global l2_cr
l2_cr:
    mov rax, cr0
    mov r8, rax
    mov rax, cr4
    mov r9, rax
    mov cr4, rax
    mov rbx, r9
    bts rbx, CR4_VMXE_BIT
    mov cr4, rbx
    clts
    mov rcx, r8
    mov cr0, rcx
    btr rcx, CR0_TS_BIT
    mov cr0, rcx
    L2_DONE

; UD2 (2 bytes), then VMCALL.
global l2_ud
l2_ud:
    ud2
    L2_DONE

; Reads the qword at RBX into R8.
global l2_read
l2_read:
    mov r8, [rbx]
    L2_DONE

; RDTSC into R8 (EDX:EAX).
global l2_rdtsc
l2_rdtsc:
    rdtsc
    shl rdx, 32
    or rax, rdx
    mov r8, rax
    L2_DONE

; Spins RCX times (PAUSE), then VMCALL with R8 = 1 (ran out).
global l2_spin
l2_spin:
    pause
    dec rcx
    jnz l2_spin
    mov r8d, 1
    L2_DONE

; Empty IDT + UD2: #UD -> #GP -> #DF -> triple fault.
global l2_triple
l2_triple:
    lidt [rel l2_null_idtr]
    ud2
    L2_DONE

; MOV RAX <- DR7 (R8 = what L1 made it), MOV DR0 <- RBX.
global l2_movdr
l2_movdr:
    mov rax, dr7
    mov r8, rax
    mov dr0, rbx
    L2_DONE

; INVLPG [RBX].
global l2_invlpg
l2_invlpg:
    invlpg [rbx]
    L2_DONE

; RDPMC of counter ECX = 0.
global l2_rdpmc
l2_rdpmc:
    xor ecx, ecx
    rdpmc
    L2_DONE

; RDTSCP.
global l2_rdtscp
l2_rdtscp:
    rdtscp
    L2_DONE

; Counts in R15 up to R14, one CPUID per step (CPUID clobbers RAX-RDX only).
; R13 identifies the context; L1 checks it at every exit.
global l2_count
l2_count:
    inc r15
    mov eax, r13d
    xor ecx, ecx
    cpuid
    cmp r15, r14
    jb l2_count
    L2_DONE

; R14 CPUIDs (leaf 0), timed with RDTSC: R8 = ticks for the whole loop.
global l2_bench
l2_bench:
    rdtsc
    shl rdx, 32
    or rax, rdx
    mov r12, rax
    mov rsi, r14
.loop:
    xor eax, eax
    xor ecx, ecx
    cpuid
    dec rsi
    jnz .loop
    rdtsc
    shl rdx, 32
    or rax, rdx
    sub rax, r12
    mov r8, rax
    L2_DONE

; ---- EPT12 cases (ept_cases.c) and bench_ept (bench.c) ----

; Writes RSI to the qword at RBX.
global l2_write
l2_write:
    mov [rbx], rsi
    L2_DONE

; Calls the code at RBX (L1 copied l2_exec_stub there): R8 = what it set.
global l2_exec
l2_exec:
    call rbx
    L2_DONE

; Position-independent code L1 copies into a test page: R8 <- L2_EXEC_MARK.
L2_EXEC_MARK equ 0xec5eed           ; l1hv.h
global l2_exec_stub, l2_exec_stub_end
l2_exec_stub:
    mov r8d, L2_EXEC_MARK
    ret
l2_exec_stub_end:

; R8 <- [RBX]; [RBX] <- RSI; R9 <- [RBX] (read, write, read back).
global l2_write_read
l2_write_read:
    mov r8, [rbx]
    mov [rbx], rsi
    mov r9, [rbx]
    L2_DONE

; Under an identity EPT12: CPUID leaf 0 (R8 = the EAX L1 gave), HLT,
; [RBX] <- RSI and R9 <- [RBX], R10 <- [RDI], then UD2 (L2's own #UD
; handler VMCALLs with L2_EXC_MARK in R15).
global l2_ept_basic
l2_ept_basic:
    xor eax, eax
    xor ecx, ecx
    cpuid
    mov r8, rax
    hlt
    mov [rbx], rsi
    mov r9, [rbx]
    mov r10, [rdi]
    ud2
    L2_DONE

; One step per VMCALL: R8 <- [RBX], then [RBX] += 1. Resumed after the
; VMCALL, it loops.
global l2_ept_counter
l2_ept_counter:
    mov r8, [rbx]
    inc qword [rbx]
    vmcall
    jmp l2_ept_counter

; Writes one byte every 4 KiB over RCX pages from RBX, timed with RDTSC:
; R8 = ticks for the whole loop.
global l2_touch, l2_touch_store
l2_touch:
    rdtsc
    shl rdx, 32
    or rax, rdx
    mov r12, rax
.loop:
l2_touch_store:
    mov [rbx], al
    add rbx, 4096
    dec rcx
    jnz l2_touch.loop
    rdtsc
    shl rdx, 32
    or rax, rdx
    sub rax, r12
    mov r8, rax
    L2_DONE

; VMFUNC (0F 01 D4; spelled out for assemblers without it).
%macro VMFUNC 0
    db 0x0f, 0x01, 0xd4
%endmacro

; EPTP switching without exits (ept_feat.c): R8 <- [RBX] under the EPTP L2
; was entered with; VMFUNC(0, 1); R9 <- [RBX]; VMFUNC(0, 0); R10 <- [RBX];
; VMFUNC(0, 1); R11 <- [RBX]; then VMFUNC(0, R12D), which L1 makes fail
; (an exit); resumed past it, VMCALL.
global l2_vmfunc_switch, l2_vmfunc_switch_last
l2_vmfunc_switch:
    mov r8, [rbx]
    xor eax, eax
    mov ecx, 1
    VMFUNC
    mov r9, [rbx]
    xor eax, eax
    xor ecx, ecx
    VMFUNC
    mov r10, [rbx]
    xor eax, eax
    mov ecx, 1
    VMFUNC
    mov r11, [rbx]
    xor eax, eax
    mov ecx, r12d
l2_vmfunc_switch_last:
    VMFUNC
    L2_DONE

; VMFUNC with EAX = ESI, ECX = EDI; then R8 <- [RBX].
global l2_vmfunc_read, l2_vmfunc_read_insn
l2_vmfunc_read:
    mov eax, esi
    mov ecx, edi
l2_vmfunc_read_insn:
    VMFUNC
    mov r8, [rbx]
    L2_DONE

; Real mode (unrestricted guest; L1 points CS.base here, IP = 0):
; AX = 0x1234 + BX; CX <- the word at DS:SI; DI -> the word at DS:SI+2;
; OUT DX, AL (an I/O exit); then VMCALL.
L2_REAL_AX equ 0x1234           ; l1hv ept_cases.c
align 16
global l2_real
bits 16
l2_real:
    mov ax, L2_REAL_AX
    add ax, bx
    mov cx, [si]
    mov [si + 2], di
    out dx, al
    L2_DONE
bits 64

; L2's exception handlers (IDT vectors 0-31): R15 = L2_EXC_MARK,
; R14 = vector, R13 = error code (0 if none), R12 = CR2, then VMCALL.
%macro L2_EXC 1
l2_exc_%1:
%if %1 == 8 || (%1 >= 10 && %1 <= 14) || %1 == 17 || %1 == 21 || %1 == 29 || %1 == 30
    pop r13
%else
    xor r13d, r13d
%endif
    mov r14d, %1
    jmp l2_exc_common
%endmacro

%assign v 0
%rep 32
L2_EXC v
%assign v v + 1
%endrep

l2_exc_common:
    mov r12, cr2
    mov r15, L2_EXC_MARK
    L2_DONE

section .rodata
align 8
global l2_exc_stubs
l2_exc_stubs:
%assign v 0
%rep 32
    dq l2_exc_%+v
%assign v v + 1
%endrep

align 8
l2_null_idtr:
    dw 0
    dq 0

; Bitmaps that L2 itself changes between accesses, with no exit in between
; (l1hv live.c): RDI = the dword of an I/O bitmap page holding port DX's
; bit, ESI = that bit's offset in the dword; RBX = the dword of the MSR
; bitmap (read-low) holding MSR ECX's bit, R10D = its offset.
; Sets the port's bit, IN AL (exits), OUT (exits), IN EAX from DX - 3
; (4 ports, only the last one's bit set: exits); clears it, IN AL (no exit,
; R8 = what it read); sets the MSR's bit, RDMSR (exits); clears it, RDMSR
; (no exit, R9 = EDX:EAX).
global l2_bitmap_live
l2_bitmap_live:
    lock bts dword [rdi], esi
    in al, dx
    out dx, al
    sub dx, 3
    in eax, dx
    add dx, 3
    lock btr dword [rdi], esi
    xor eax, eax
    in al, dx
    mov r8, rax
    lock bts dword [rbx], r10d
    rdmsr
    lock btr dword [rbx], r10d
    rdmsr
    shl rdx, 32
    or rax, rdx
    mov r9, rax
    L2_DONE
