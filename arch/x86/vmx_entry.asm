; VM-exit entry and VM-entry (launch/resume) paths.
; HOST_RSP points at a slot holding the struct guest_regs pointer of the
; vCPU (vmm/vcpu.h); offsets below mirror that struct.

%define REG_RAX 0
%define REG_RCX 8
%define REG_RDX 16
%define REG_RBX 24
%define REG_RBP 40
%define REG_RSI 48
%define REG_RDI 56
%define REG_R8  64
%define REG_R9  72
%define REG_R10 80
%define REG_R11 88
%define REG_R12 96
%define REG_R13 104
%define REG_R14 112
%define REG_R15 120
%define REG_EXIT_TSC 128
%define REG_TICKS_SLOT 136
%define REG_LAUNCH 144
; struct percpu (vmm/percpu.h), through GS
%define PERCPU_ATTENTION 32

extern vmexit_dispatch, vmx_entry_failed, vmexit_late_attention
global vmx_exit_stub, vmx_launch, vmx_entry_window, vmx_entry_window_end

%macro LOAD_GUEST_GPRS 0
    mov rcx, [rax + REG_RCX]
    mov rdx, [rax + REG_RDX]
    mov rbx, [rax + REG_RBX]
    mov rbp, [rax + REG_RBP]
    mov rsi, [rax + REG_RSI]
    mov rdi, [rax + REG_RDI]
    mov r8,  [rax + REG_R8]
    mov r9,  [rax + REG_R9]
    mov r10, [rax + REG_R10]
    mov r11, [rax + REG_R11]
    mov r12, [rax + REG_R12]
    mov r13, [rax + REG_R13]
    mov r14, [rax + REG_R14]
    mov r15, [rax + REG_R15]
    mov rax, [rax + REG_RAX]
%endmacro

section .text
; The hot path: save GPRs, timestamp, dispatch, account, resume.
vmx_exit_stub:
    push rax
    mov rax, [rsp + 8]          ; struct guest_regs *
    mov [rax + REG_RCX], rcx
    mov [rax + REG_RDX], rdx
    pop qword [rax + REG_RAX]
    mov rcx, rax
    rdtsc
    shl rdx, 32
    or rax, rdx
    mov [rcx + REG_EXIT_TSC], rax
    mov [rcx + REG_RBX], rbx
    mov [rcx + REG_RBP], rbp
    mov [rcx + REG_RSI], rsi
    mov [rcx + REG_RDI], rdi
    mov [rcx + REG_R8], r8
    mov [rcx + REG_R9], r9
    mov [rcx + REG_R10], r10
    mov [rcx + REG_R11], r11
    mov [rcx + REG_R12], r12
    mov [rcx + REG_R13], r13
    mov [rcx + REG_R14], r14
    mov [rcx + REG_R15], r15
    mov qword [rcx + REG_LAUNCH], 0 ; an exit: the VMCS is launched
    mov rbx, rcx
    mov rdi, rcx
    call vmexit_dispatch
    ; L0's share of this exit, up to here.
    rdtsc
    shl rdx, 32
    or rax, rdx
    sub rax, [rbx + REG_EXIT_TSC]
    mov rdx, [rbx + REG_TICKS_SLOT]
    add [rdx], rax
vmx_enter:
; The entry window: an NMI that arrives in it (another CPU's nudge, or one of
; L1's taken in L0) restarts it from here (traps.c), so its request is seen
; before the guest runs instead of at some later exit. Nothing in it writes
; memory, and it keeps the regs pointer at [rsp].
vmx_entry_window:
    mov rbx, [rsp]
    cmp dword [gs:PERCPU_ATTENTION], 0
    jne vmx_enter_attention
    mov rax, rbx
    cmp qword [rbx + REG_LAUNCH], 0
    LOAD_GUEST_GPRS                 ; MOVs only: the flags stay
    jne vmx_enter_launch
    vmresume
    jmp vmx_enter_failed
vmx_enter_launch:
vmx_entry_window_end:
    vmlaunch
vmx_enter_failed:
    ; The entry failed and the current VMCS is intact (SDM 31.3). C decides:
    ; it returns after switching to a VMCS that can be entered, or stops.
    mov rbx, [rsp]
    mov rdi, rbx
    call vmx_entry_failed
    jmp vmx_enter
vmx_enter_attention:
    mov rdi, rbx
    call vmexit_late_attention
    jmp vmx_enter

; bool vmx_launch(struct guest_regs *regs): first entry with the current
; VMCS. Returns only if VMLAUNCH fails (false); exits arrive at
; vmx_exit_stub on the stack HOST_RSP names.
vmx_launch:
    push rbx
    push rbp
    push r12
    push r13
    push r14
    push r15
    mov rax, rdi
    LOAD_GUEST_GPRS
    vmlaunch
    pop r15
    pop r14
    pop r13
    pop r12
    pop rbp
    pop rbx
    xor eax, eax
    ret
