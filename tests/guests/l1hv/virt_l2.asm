; L2 code of the APIC-virtualization and later-control cases (apicv.c,
; ctrls.c; virt.h says what each routine expects). 64-bit, CPL 0, on L2's
; identity map; every routine ends with VMCALL. Labels mark instructions
; whose exits give no instruction length (APIC accesses) or whose RIP the
; cases check (trap-like exits, the monitor trap flag).

bits 64

X2APIC_EOI_MSR  equ 0x80b       ; Vol. 3A 11.12.1.2: 0x800 + (0xb0 >> 4)
L2_INTR_LOG_MAX equ 16          ; virt.h
L2_EOI_MMIO     equ 1
L2_EOI_X2APIC   equ 2

section .text.l2 progbits alloc exec nowrite align=16

%macro L2_DONE 0
%%stop:
    vmcall
    jmp %%stop
%endmacro

; One APIC access per step: EDX = 0 reads the dword at RBX into R8,
; EDX = 1 writes ECX there; VMCALL after each, then the next step.
global l2_apic_access, l2_apic_read_insn, l2_apic_read_next
global l2_apic_write_insn, l2_apic_write_next
l2_apic_access:
    cmp edx, 1
    je l2_apic_access_write
l2_apic_read_insn:
    mov eax, [rbx]
l2_apic_read_next:
    mov r8, rax
    vmcall
    jmp l2_apic_access
l2_apic_access_write:
l2_apic_write_insn:
    mov [rbx], ecx
l2_apic_write_next:
    vmcall
    jmp l2_apic_access

; One MSR access per step: R10 = 0: RDMSR ECX into R8 (EDX:EAX);
; R10 = 1: WRMSR ECX from EDX:EAX. VMCALL after each.
global l2_msr_step, l2_msr_rd_insn, l2_msr_rd_next, l2_msr_wr_insn, l2_msr_wr_next
l2_msr_step:
    test r10, r10
    jnz l2_msr_step_write
l2_msr_rd_insn:
    rdmsr
l2_msr_rd_next:
    shl rdx, 32
    or rax, rdx
    mov r8, rax
    vmcall
    jmp l2_msr_step
l2_msr_step_write:
l2_msr_wr_insn:
    wrmsr
l2_msr_wr_next:
    vmcall
    jmp l2_msr_step

; TPR shadow: R8 <- CR8; CR8 <- RBX; CR8 <- RCX; R9 <- CR8.
global l2_cr8, l2_cr8_first_write_next, l2_cr8_second_write_next
l2_cr8:
    mov rax, cr8
    mov r8, rax
    mov cr8, rbx
l2_cr8_first_write_next:
    mov cr8, rcx
l2_cr8_second_write_next:
    mov rax, cr8
    mov r9, rax
    L2_DONE

; STI, then RCX iterations of a loop (virtual interrupts arrive here);
; R8 = the number of interrupts L2's handlers logged.
global l2_sti_spin
l2_sti_spin:
    sti
    nop
.loop:
    dec rcx
    jnz .loop
    cli
    mov r8d, [rel l2_intr_count]
    L2_DONE

; The monitor trap flag: three single steps, then the l2_spin loop.
global l2_steps, l2_steps_1, l2_steps_2, l2_steps_3, l2_steps_loop
l2_steps:
l2_steps_1:
    mov r8d, 1
l2_steps_2:
    mov r9d, 2
l2_steps_3:
    nop
l2_steps_loop:
    pause
    dec rcx
    jnz l2_steps_loop
    mov r10d, 1
    L2_DONE

; A locked store (into a page L0 may complete itself), a NOP, VMCALL.
global l2_store_steps, l2_store_next, l2_store_nop_next
l2_store_steps:
    lock bts dword [rdi], esi
l2_store_next:
    nop
l2_store_nop_next:
    L2_DONE

; IN AL, DX (a port L0 may complete itself), a NOP, VMCALL.
global l2_in_steps, l2_in_next, l2_in_nop_next
l2_in_steps:
    in al, dx
l2_in_next:
    nop
l2_in_nop_next:
    L2_DONE

; PAUSE-loop exiting: R12 <- TSC, then RCX iterations of PAUSE; R8 = 1
; when the loop ran out.
global l2_pause_loop, l2_pause_insn
l2_pause_loop:
    rdtsc
    shl rdx, 32
    or rax, rdx
    mov r12, rax
l2_pause_insn:
    pause
    dec rcx
    jnz l2_pause_insn
    mov r8d, 1
    L2_DONE

; RDRAND / RDSEED into a 64-, a 32- and a 16-bit register; after each,
; the register and RFLAGS go to R10/R11, R12/R13, R14/R15. The sites
; tables give each instruction's address and the next one's.
global l2_rdrand, l2_rdrand_sites
l2_rdrand:
.i1: rdrand rax
.n1: mov r10, rax
    pushfq
    pop r11
.i2: rdrand r9d
.n2: mov r12, r9
    pushfq
    pop r13
.i3: rdrand dx
.n3: mov r14, rdx
    pushfq
    pop r15
    L2_DONE

global l2_rdseed, l2_rdseed_sites
l2_rdseed:
.i1: rdseed rbx
.n1: mov r10, rbx
    pushfq
    pop r11
.i2: rdseed r12d
.n2: pushfq
    pop r13
.i3: rdseed si
.n3: mov r14, rsi
    pushfq
    pop r15
    L2_DONE

; XSAVES [RBX + XSAVES_DISP] then XRSTORS [RBX + XSAVES_DISP] with
; EDX:EAX = R8; VMCALL after each (R9 = 1, then 2).
XSAVES_DISP equ 0x40            ; ctrls.c
global l2_xsaves, l2_xsaves_insn, l2_xsaves_next, l2_xrstors_insn, l2_xrstors_next
l2_xsaves:
    mov eax, r8d
    mov rdx, r8
    shr rdx, 32
l2_xsaves_insn:
    xsaves [rbx + XSAVES_DISP]
l2_xsaves_next:
    mov r9d, 1
    vmcall
    mov eax, r8d
    mov rdx, r8
    shr rdx, 32
l2_xrstors_insn:
    xrstors [rbx + XSAVES_DISP]
l2_xrstors_next:
    mov r9d, 2
    L2_DONE

; Vectors 32-255 of L2's IDT: log the vector, EOI as l2_eoi_mode says,
; IRETQ. Registers are preserved.
%macro L2_VEC 1
l2_vec_%1:
    push %1
    jmp l2_vec_common
%endmacro

%assign v 32
%rep 224
L2_VEC v
%assign v v + 1
%endrep

global l2_eoi_mmio_next, l2_eoi_msr_next
l2_vec_common:
    push rax
    push rcx
    push rdx
    mov rax, [rsp + 24]             ; the vector
    mov ecx, [rel l2_intr_count]
    cmp ecx, L2_INTR_LOG_MAX
    jae .logged
    lea rdx, [rel l2_intr_log]
    mov [rdx + rcx * 8], rax
.logged:
    inc dword [rel l2_intr_count]
    mov ecx, [rel l2_eoi_mode]
    cmp ecx, L2_EOI_MMIO
    je l2_vec_eoi_mmio
    cmp ecx, L2_EOI_X2APIC
    je l2_vec_eoi_msr
    jmp l2_vec_done
l2_vec_eoi_mmio:
    mov rdx, [rel l2_eoi_addr]
    mov dword [rdx], 0
l2_eoi_mmio_next:
    jmp l2_vec_done
l2_vec_eoi_msr:
    mov ecx, X2APIC_EOI_MSR
    xor eax, eax
    xor edx, edx
    wrmsr
l2_eoi_msr_next:
l2_vec_done:
    pop rdx
    pop rcx
    pop rax
    add rsp, 8
    iretq

section .rodata
align 8
global l2_vec_stubs
l2_vec_stubs:
%assign v 32
%rep 224
    dq l2_vec_%+v
%assign v v + 1
%endrep

l2_rdrand_sites:
    dq l2_rdrand.i1, l2_rdrand.n1, l2_rdrand.i2, l2_rdrand.n2, l2_rdrand.i3, l2_rdrand.n3
l2_rdseed_sites:
    dq l2_rdseed.i1, l2_rdseed.n1, l2_rdseed.i2, l2_rdseed.n2, l2_rdseed.i3, l2_rdseed.n3

section .data
align 8
global l2_intr_log, l2_intr_count, l2_eoi_mode, l2_eoi_addr
l2_intr_log:   times L2_INTR_LOG_MAX dq 0
l2_eoi_addr:   dq 0
l2_intr_count: dd 0
l2_eoi_mode:   dd 0
