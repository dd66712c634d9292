; The AP trampoline of l1hv's SMP cases (smp.c): an AP that gets a SIPI
; with vector V starts here in real mode at V:0000, i.e. linear V << 12
; (SDM Vol. 3A 9.4.4 "MP Initialization Example"). smp.c copies this code
; into a free page below 1 MiB and fills the parameter block at
; TRAMP_PARAMS; the code is position independent (EBX = the page's base).
; Real mode -> 32-bit protected mode (GDT in the page) -> long mode with
; the runtime's page tables (CR3/CR4/EFER/CR0 as the BSP has them) ->
; smp_ap_entry(cpu index) on the AP's own stack (Vol. 3A 10.8.5
; "Initializing IA-32e Mode").

bits 16

TRAMP_PARAMS  equ 8             ; struct tramp_params in smp.c
P_GDT_LIMIT   equ TRAMP_PARAMS + 0
P_PM32        equ TRAMP_PARAMS + 8  ; m16:32 far pointer
P_LM64        equ TRAMP_PARAMS + 16 ; m16:32 far pointer
P_CR3         equ TRAMP_PARAMS + 24
P_CR4         equ TRAMP_PARAMS + 28
P_EFER        equ TRAMP_PARAMS + 32
P_CR0         equ TRAMP_PARAMS + 36
P_ENTRY       equ TRAMP_PARAMS + 40
P_STACK       equ TRAMP_PARAMS + 48
P_CPU         equ TRAMP_PARAMS + 56
P_END         equ TRAMP_PARAMS + 64

SEL_CODE32    equ 0x08
SEL_DATA      equ 0x10
SEL_CODE64    equ 0x18
CR0_PE        equ 1
MSR_EFER      equ 0xc0000080
PARA_SHIFT    equ 4             ; real-mode segment -> linear base

section .rodata
align 16
global smp_trampoline, smp_trampoline_end
global smp_tramp_pm32, smp_tramp_lm64, smp_tramp_gdt
smp_trampoline:
    cli
    jmp short .real
    times TRAMP_PARAMS - ($ - smp_trampoline) db 0
    times P_END - TRAMP_PARAMS db 0     ; the parameters (filled by smp.c)
.real:
    cld
    mov ax, cs
    mov ds, ax
    xor ebx, ebx
    mov bx, ax
    shl ebx, PARA_SHIFT         ; EBX = this page's linear address
    o32 lgdt [P_GDT_LIMIT]      ; 32-bit base (a 16-bit LGDT takes 24 bits)
    mov eax, cr0
    or eax, CR0_PE
    mov cr0, eax
    jmp dword far [P_PM32]

bits 32
align 16
smp_tramp_pm32:
    mov ax, SEL_DATA
    mov ds, ax
    mov es, ax
    mov ss, ax
    mov eax, [ebx + P_CR4]      ; PAE (and the BSP's other CR4 bits)
    mov cr4, eax
    mov eax, [ebx + P_CR3]      ; the runtime's PML4 (below 4 GiB)
    mov cr3, eax
    mov ecx, MSR_EFER           ; LME (and NXE if the BSP has it)
    mov eax, [ebx + P_EFER]
    xor edx, edx
    wrmsr
    mov eax, [ebx + P_CR0]      ; PG: IA-32e mode becomes active
    mov cr0, eax
    jmp far [ebx + P_LM64]

bits 64
align 16
smp_tramp_lm64:
    mov rsp, [rbx + P_STACK]
    mov rdi, [rbx + P_CPU]
    mov rax, [rbx + P_ENTRY]
    call rax                    ; smp_ap_entry() does not return
.hang:
    cli
    hlt
    jmp .hang

align 16
smp_tramp_gdt:
    dq 0
    dq 0x00cf9a000000ffff       ; 0x08: 32-bit code, flat
    dq 0x00cf92000000ffff       ; 0x10: data, flat
    dq 0x00209a0000000000       ; 0x18: 64-bit code
smp_tramp_gdt_end:
smp_trampoline_end:

global smp_tramp_gdt_size
smp_tramp_gdt_size: dd smp_tramp_gdt_end - smp_tramp_gdt
