; L2's code for vshadow.c: VMREAD and VMWRITE in VMX non-root operation,
; under L1's VMCS shadowing (SDM 25.10). 64-bit, CPL 0.

bits 64

VSHADOW_DISP equ 16             ; vshadow.c: the memory operand is [RBX + 16]

section .text.l2 progbits alloc exec nowrite align=16

; One VMREAD/VMWRITE per VMCALL, chosen by R12:
;   0  VMREAD  RAX <- field RCX         2  VMREAD  [RBX+16] <- field RCX
;   1  VMWRITE field RCX <- RAX         3  VMWRITE field RCX <- [RBX+16]
; then RFLAGS in R11 and VMCALL. L1 skips the VMCALL and sets the next
; operation; if the instruction itself exited, L1 skips it too.
global l2_vmx_op
l2_vmx_op:
    cmp r12, 1
    je .write_reg
    cmp r12, 2
    je .read_mem
    cmp r12, 3
    je .write_mem
    vmread rax, rcx
    jmp .done
.write_reg:
    vmwrite rcx, rax
    jmp .done
.read_mem:
    vmread [rbx + VSHADOW_DISP], rcx
    jmp .done
.write_mem:
    vmwrite rcx, [rbx + VSHADOW_DISP]
.done:
    pushfq
    pop r11
    vmcall
    jmp l2_vmx_op

; R14 rounds of VMREAD RAX <- field R12 and VMWRITE field R13 <- RAX,
; timed with RDTSC: R8 = ticks, R9 = instructions that failed (CF or ZF).
global l2_vshadow_bench
l2_vshadow_bench:
    rdtsc
    shl rdx, 32
    or rax, rdx
    mov r10, rax
    xor r9d, r9d
    mov rsi, r14
.loop:
    vmread rax, r12
    jbe .read_failed
.read_ok:
    vmwrite r13, rax
    jbe .write_failed
.write_ok:
    dec rsi
    jnz .loop
    rdtsc
    shl rdx, 32
    or rax, rdx
    sub rax, r10
    mov r8, rax
.stop:
    vmcall
    jmp .stop
.read_failed:
    inc r9
    jmp .read_ok
.write_failed:
    inc r9
    jmp .write_ok
