; VM entry/exit path of the L1 test hypervisor, and the ring-3 trampoline.

bits 64

; struct guest_regs (l1hv.h)
REG_RAX      equ 0
REG_RBX      equ 8
REG_RCX      equ 16
REG_RDX      equ 24
REG_RSI      equ 32
REG_RDI      equ 40
REG_RBP      equ 48
REG_R8       equ 56
REG_R9       equ 64
REG_R10      equ 72
REG_R11      equ 80
REG_R12      equ 88
REG_R13      equ 96
REG_R14      equ 104
REG_R15      equ 112
REG_HOST_RSP equ 120

VMCS_HOST_RSP equ 0x6c14        ; SDM Appendix B.4.4

VMX_OK           equ 0
VMX_FAIL_INVALID equ 1
VMX_FAIL_VALID   equ 2

SEL_KERNEL_DS equ 0x10
SEL_USER_DS   equ 0x2b
SEL_USER_CS   equ 0x33
RFLAGS_RESERVED_1 equ 0x2

section .text

; int vmx_enter(struct guest_regs *regs /* rdi */, int resume /* esi */)
;
; Saves the callee-saved registers, makes HOST_RSP point at this frame (a
; VMWRITE only when it differs from what the VMCS already holds, as real
; hypervisors do), loads the guest GPRs and executes VMLAUNCH or VMRESUME.
; A VM exit lands in vmx_exit_landing with RSP = HOST_RSP, which stores the
; guest GPRs and returns VMX_OK from here. If the instruction fails instead,
; returns VMX_FAIL_INVALID (CF) or VMX_FAIL_VALID (ZF).
global vmx_enter
vmx_enter:
    push rbp
    push rbx
    push r12
    push r13
    push r14
    push r15
    push rdi                    ; [rsp] = regs, found again at the exit
    cmp rsp, [rdi + REG_HOST_RSP]
    je .host_rsp_ok
    mov eax, VMCS_HOST_RSP
    vmwrite rax, rsp
    jbe .host_rsp_ok            ; failed (CF or ZF): keep the cache invalid
    mov [rdi + REG_HOST_RSP], rsp
.host_rsp_ok:
    test esi, esi               ; MOVs below leave the flags alone
    mov rax, [rdi + REG_RAX]
    mov rbx, [rdi + REG_RBX]
    mov rcx, [rdi + REG_RCX]
    mov rdx, [rdi + REG_RDX]
    mov rsi, [rdi + REG_RSI]
    mov rbp, [rdi + REG_RBP]
    mov r8, [rdi + REG_R8]
    mov r9, [rdi + REG_R9]
    mov r10, [rdi + REG_R10]
    mov r11, [rdi + REG_R11]
    mov r12, [rdi + REG_R12]
    mov r13, [rdi + REG_R13]
    mov r14, [rdi + REG_R14]
    mov r15, [rdi + REG_R15]
    mov rdi, [rdi + REG_RDI]
    jnz .resume
    vmlaunch
    jmp .failed
.resume:
    vmresume
.failed:
    mov eax, VMX_FAIL_INVALID
    mov ecx, VMX_FAIL_VALID
    cmovz eax, ecx              ; ZF: VMfailValid, else CF: VMfailInvalid
    add rsp, 8
    pop r15
    pop r14
    pop r13
    pop r12
    pop rbx
    pop rbp
    ret

; HOST_RIP. RSP = HOST_RSP = the frame of vmx_enter; RFLAGS = 0x2.
global vmx_exit_landing
vmx_exit_landing:
    push rdi
    mov rdi, [rsp + 8]
    mov [rdi + REG_RAX], rax
    mov [rdi + REG_RBX], rbx
    mov [rdi + REG_RCX], rcx
    mov [rdi + REG_RDX], rdx
    mov [rdi + REG_RSI], rsi
    mov [rdi + REG_RBP], rbp
    mov [rdi + REG_R8], r8
    mov [rdi + REG_R9], r9
    mov [rdi + REG_R10], r10
    mov [rdi + REG_R11], r11
    mov [rdi + REG_R12], r12
    mov [rdi + REG_R13], r13
    mov [rdi + REG_R14], r14
    mov [rdi + REG_R15], r15
    pop rax
    mov [rdi + REG_RDI], rax
    add rsp, 8
    pop r15
    pop r14
    pop r13
    pop r12
    pop rbx
    pop rbp
    xor eax, eax                ; VMX_OK
    ret

; int cpl3_enter(void (*fn)(void) /* rdi */, uint64_t user_rsp /* rsi */)
;
; IRETQ to fn at CPL 3. Comes back (through one of the cpl3_trap_* gates of
; the temporary IDT that cpl3.c installs) with the vector in EAX, or -1 when
; fn executed INT 0x81 (the return gate, DPL 3).
global cpl3_enter
cpl3_enter:
    push rbp
    push rbx
    push r12
    push r13
    push r14
    push r15
    mov [cpl3_kernel_rsp], rsp
    push SEL_USER_DS            ; SS
    push rsi                    ; RSP
    push RFLAGS_RESERVED_1      ; RFLAGS: IF = 0, IOPL = 0
    push SEL_USER_CS            ; CS
    push rdi                    ; RIP
    iretq

%macro CPL3_TRAP 2              ; name, vector (error code pushed by the CPU?)
global cpl3_trap_%1
cpl3_trap_%1:
%if %2 == 13 || %2 == 14
%else
    push 0
%endif
    push %2
    jmp cpl3_back
%endmacro
CPL3_TRAP ud, 6
CPL3_TRAP gp, 13
CPL3_TRAP pf, 14

global cpl3_trap_return
cpl3_trap_return:
    push 0
    push -1
    ; fall through

; Stack (RSP0 of the TSS): vector, error, RIP, CS, RFLAGS, RSP, SS.
cpl3_back:
    pop rax
    pop rdx
    mov [rel cpl3_fault_error], rdx
    mov rdx, [rsp]
    mov [rel cpl3_fault_rip], rdx
    mov rsp, [rel cpl3_kernel_rsp]
    mov dx, SEL_KERNEL_DS       ; the IRETQ to CPL 3 nulled DS/ES
    mov ds, dx
    mov es, dx
    pop r15
    pop r14
    pop r13
    pop r12
    pop rbx
    pop rbp
    ret                         ; EAX = vector or -1

; Snippets run at CPL 3 by cpl3_run(): each ends with INT 0x81 unless it
; faults first. Memory operands use cpl3_operand (set by the caller).
CPL3_RETURN_VECTOR equ 0x81
VMCS_GUEST_RIP     equ 0x681e       ; SDM Appendix B.4.3

global cpl3_nop, cpl3_vmxon, cpl3_vmread, cpl3_vmread_insn, cpl3_vmptrst
cpl3_nop:
    int CPL3_RETURN_VECTOR
cpl3_vmxon:
    vmxon [rel cpl3_operand]
    int CPL3_RETURN_VECTOR
cpl3_vmread:
    mov eax, VMCS_GUEST_RIP
cpl3_vmread_insn:
    vmread rbx, rax
    int CPL3_RETURN_VECTOR
cpl3_vmptrst:
    vmptrst [rel cpl3_operand]
    int CPL3_RETURN_VECTOR

section .data
align 8
global cpl3_operand
cpl3_operand: dq 0

section .bss
alignb 8
cpl3_kernel_rsp: resq 1
global cpl3_fault_rip, cpl3_fault_error
cpl3_fault_rip:   resq 1
cpl3_fault_error: resq 1
