; Application processors: from the start-up IPI to the kernel.
; ap_trampoline is copied to a page below 1 MiB (arch/x86/smp.h); a SIPI
; with that page's number starts the AP there in real mode, CS = page << 8,
; IP = 0. It goes straight to long mode (PAE, LME, then PE and PG at once)
; on a small page table that maps the first 2 MiB and the kernel, and jumps
; to ap_entry64 in the kernel, which takes the kernel's own page tables and
; the CPU's stack and calls ap_main(percpu). The parameter block at a fixed
; offset is filled for each AP by smp.c.

%include "arch/x86/boot.inc"

%define CR0_PE       (1 << 0)
%define CR0_PG       (1 << 31)
%define CR4_PAE      (1 << 5)
%define MSR_EFER     0xc0000080
%define AP_PARAMS_OFFSET 8

extern ap_main
global ap_trampoline, ap_trampoline_end, ap_entry64

section .rodata
align 16
bits 16
ap_trampoline:
    cli
    cld
    jmp short .real
    times AP_PARAMS_OFFSET - ($ - ap_trampoline) db 0x90
; The parameter block (struct ap_params in smp.c, at AP_PARAMS_OFFSET).
.params:
.p_boot_cr3:    dq 0            ; the small page table (below 4 GiB)
.p_efer:        dq 0            ; EFER bits to set: LME, NXE
.p_entry:       dq 0            ; ap_entry64
.p_kernel_cr3:  dq 0            ; the kernel's page tables
.p_stack:       dq 0            ; top of the AP's boot stack
.p_percpu:      dq 0            ; its struct percpu
.p_far64:       dd .long - ap_trampoline  ; + the page's address: .long
                dw BOOT_CS64
.gdtr:          dw .gdt_end - .gdt - 1
                dd .gdt - ap_trampoline   ; + the page's address: .gdt
    align 8
.gdt:
    dq 0
    dq 0x00AF9A000000FFFF       ; 0x08: 64-bit code
    dq 0x00CF92000000FFFF       ; 0x10: data
.gdt_end:
.real:
    mov ax, cs
    mov ds, ax
    o32 lgdt [.gdtr - ap_trampoline]
    mov eax, cr4
    or eax, CR4_PAE
    mov cr4, eax
    mov eax, [.p_boot_cr3 - ap_trampoline]
    mov cr3, eax
    mov ecx, MSR_EFER
    rdmsr
    or eax, [.p_efer - ap_trampoline]
    wrmsr
    mov eax, cr0
    or eax, CR0_PE | CR0_PG
    mov cr0, eax
    o32 jmp far [.p_far64 - ap_trampoline]
bits 64
.long:
    mov ax, BOOT_DS
    mov ds, ax
    mov es, ax
    mov ss, ax
    xor eax, eax
    mov fs, ax
    mov gs, ax
    mov rdi, [rel .p_percpu]
    mov rsi, [rel .p_kernel_cr3]
    mov rdx, [rel .p_stack]
    mov rax, [rel .p_entry]
    jmp rax
ap_trampoline_end:

; In the kernel's text, mapped by both page tables.
section .text
ap_entry64:
    mov cr3, rsi
    mov rsp, rdx
    xor ebp, ebp
    call ap_main
.halt:
    cli
    hlt
    jmp .halt
