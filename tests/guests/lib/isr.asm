; Interrupt entry stubs for all 256 vectors, the common save/restore path,
; and rt_try(): call a function and come back with the vector number if it
; faulted (the trap handler redirects the faulting context to rt_try_recover).

bits 64
extern rt_trap

section .text

; Vectors that push an error code: #DF #TS #NP #SS #GP #PF #AC #CP #VC #SX.
%macro STUB 1
align 16
isr_stub_%1:
%if %1 == 8 || (%1 >= 10 && %1 <= 14) || %1 == 17 || %1 == 21 || %1 == 29 || %1 == 30
%else
    push 0
%endif
    push %1
    jmp isr_common
%endmacro

%assign v 0
%rep 256
STUB v
%assign v v + 1
%endrep

; Stack here: vector, error, RIP, CS, RFLAGS, RSP, SS (the CPU aligned RSP to
; 16 before pushing, so after 15 more pushes the frame is 16-byte aligned).
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
    cld
    mov rdi, rsp                ; struct trap_frame *
    call rt_trap
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
    add rsp, 16                 ; vector, error code
    iretq

section .rodata
align 8
global isr_stub_table
isr_stub_table:
%assign v 0
%rep 256
    dq isr_stub_%+v
%assign v v + 1
%endrep

; int rt_try(void (*fn)(void *), void *arg): -1 if fn returned, else the vector.
section .text
global rt_try, rt_try_recover
rt_try:
    mov [rt_jmp + 0], rbx
    mov [rt_jmp + 8], rbp
    mov [rt_jmp + 16], r12
    mov [rt_jmp + 24], r13
    mov [rt_jmp + 32], r14
    mov [rt_jmp + 40], r15
    mov [rt_jmp + 48], rsp      ; points at our return address
    mov rax, rdi
    mov rdi, rsi
    mov byte [rt_try_active], 1
    sub rsp, 8                  ; keep the ABI's 16-byte alignment at the call
    call rax
    add rsp, 8
    mov byte [rt_try_active], 0
    mov eax, -1
    ret

; Reached by IRETQ from rt_trap with RSP = the value saved above.
rt_try_recover:
    mov rbx, [rt_jmp + 0]
    mov rbp, [rt_jmp + 8]
    mov r12, [rt_jmp + 16]
    mov r13, [rt_jmp + 24]
    mov r14, [rt_jmp + 32]
    mov r15, [rt_jmp + 40]
    mov byte [rt_try_active], 0
    mov eax, [rt_try_vector]
    ret

section .bss
alignb 8
global rt_jmp, rt_try_active, rt_try_vector
rt_jmp:         resq 7
rt_try_vector:  resd 1
rt_try_active:  resb 1
