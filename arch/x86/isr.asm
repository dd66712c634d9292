; Exception and interrupt entry stubs: push a uniform frame (see
; struct trap_frame in arch/x86/traps.h) and call trap_dispatch.

extern trap_dispatch
global isr_stub_table

; Vectors that push an error code (SDM 6.3.1).
%define HAS_ERROR(v) ((v) == 8 || ((v) >= 10 && (v) <= 14) || (v) == 17 || (v) == 21 || (v) == 29 || (v) == 30)

section .text
%assign vec 0
%rep 256
isr_stub_ %+ vec:
%if HAS_ERROR(vec) == 0
    push 0
%endif
    push vec
    jmp isr_common
%assign vec vec + 1
%endrep

isr_common:
    push rax
    push rbx
    push rcx
    push rdx
    push rsi
    push rdi
    push rbp
    push r8
    push r9
    push r10
    push r11
    push r12
    push r13
    push r14
    push r15
    mov rdi, rsp
    mov rbx, rsp
    and rsp, -16
    cld
    call trap_dispatch
    mov rsp, rbx
    pop r15
    pop r14
    pop r13
    pop r12
    pop r11
    pop r10
    pop r9
    pop r8
    pop rbp
    pop rdi
    pop rsi
    pop rdx
    pop rcx
    pop rbx
    pop rax
    add rsp, 16                 ; vector and error code
    iretq

section .rodata
align 8
isr_stub_table:
%assign vec 0
%rep 256
    dq isr_stub_ %+ vec
%assign vec vec + 1
%endrep
