; L2 code for the attack cases (attack.c), in the conventions of l2.asm:
; entered with registers chosen by L1, results in R8-R11, ended by VMCALL.

bits 64

section .text.l2 progbits alloc exec nowrite align=16

; One MOVSQ from [RSI] to [RDI] (DF = 0), then VMCALL; resumed, it stops
; at the VMCALL again.
global l2_movsq
l2_movsq:
    movsq
.stop:
    vmcall
    jmp .stop

; RDMSR of ECX into R8 (EDX:EAX), VMCALL, and again from the start when
; resumed: each VMRESUME after the VMCALL is one more RDMSR.
global l2_rdmsr_loop
l2_rdmsr_loop:
    mov ecx, ebp
    rdmsr
    shl rdx, 32
    or rax, rdx
    mov r8, rax
    vmcall
    jmp l2_rdmsr_loop

; IN AL, DX (port in EBP) then VMCALL, again from the start when resumed.
global l2_in_loop
l2_in_loop:
    mov edx, ebp
    in al, dx
    vmcall
    jmp l2_in_loop

; R8 = XOR of RCX qwords read from RBX, RBX + RDX, RBX + 2 * RDX, ...,
; each rotated by its index (so that order and position matter); R9 = the
; count read. Then VMCALL.
global l2_sum
l2_sum:
    xor r8, r8
    xor r9, r9
    test rcx, rcx
    jz .done
.loop:
    mov rax, [rbx]
    push rcx
    mov ecx, r9d
    rol rax, cl
    pop rcx
    xor r8, rax
    add rbx, rdx
    inc r9
    dec rcx
    jnz .loop
.done:
.stop:
    vmcall
    jmp .stop

; [RBX] <- RSI (8 bytes, any alignment), then R8 <- [RBX]; VMCALL.
global l2_write_then_read
l2_write_then_read:
    mov [rbx], rsi
    mov r8, [rbx]
.stop:
    vmcall
    jmp .stop
