; The kernel's 64-bit entry, shared by both loaders.
; boot64_efi_entry: from the UEFI loader, long mode with the firmware's
;   identity map, RDI = struct handoff (below 4 GiB).
; boot64_mb2_entry: from boot/multiboot2/entry.asm, EDI = Multiboot2 info.
; Both build the boot page tables (identity 0-4 GiB, kernel in the top
; 2 GiB), then call kmain(loader_data, loader_kind, phys_base).

%include "arch/x86/boot.inc"

extern __kernel_link_start, __kernel_link_end

section .boot.text
bits 64
global boot64_efi_entry, boot64_mb2_entry
boot64_efi_entry:
    cli
    cld
    mov esi, LOADER_UEFI
    jmp boot64_common
boot64_mb2_entry:
    mov edi, edi                ; zero-extend: upper halves are undefined here
    mov esi, LOADER_MULTIBOOT2

boot64_common:
    lea rsp, [rel boot_stack_top]
    mov r12, rdi
    mov r13, rsi
    lea rax, [rel boot_gdt]
    mov [rel boot_gdtr + 2], rax
    lgdt [rel boot_gdtr]
    lea rax, [rel .reload_cs]
    push BOOT_CS64
    push rax
    retfq
.reload_cs:
    mov ax, BOOT_DS
    mov ds, ax
    mov es, ax
    mov ss, ax
    xor eax, eax
    mov fs, ax
    mov gs, ax

    ; The low tables may be live (the 32-bit path uses them) and are
    ; rewritten with the same values below; the high ones are zeroed. The
    ; image's .boot.bss arrives zeroed from either loader.
    lea rdi, [rel boot_pdpt_high]
    xor eax, eax
    mov ecx, 2 * 4096 / 8
    rep stosq

    ; Identity map 0-4 GiB with 2 MiB pages.
    lea rdi, [rel boot_pdpt_low]
    lea rax, [rel boot_pd_low]
    or rax, PTE_P | PTE_W
    mov ecx, 4
.fill_pdpt:
    mov [rdi], rax
    add rax, 4096
    add rdi, 8
    loop .fill_pdpt
    lea rdi, [rel boot_pd_low]
    mov eax, PTE_P | PTE_W | PTE_PS
    mov ecx, 4 * 512
.fill_pd:
    mov [rdi], rax
    add rax, 0x200000
    add rdi, 8
    loop .fill_pd
    lea rdi, [rel boot_pml4]
    lea rax, [rel boot_pdpt_low]
    or rax, PTE_P | PTE_W
    mov [rdi], rax

    ; Kernel: virtual KERNEL_VMA + link address -> runtime physical address.
    ; PML4[511] -> pdpt_high; pdpt_high[510] -> pd_high.
    lea rax, [rel boot_pdpt_high]
    or rax, PTE_P | PTE_W
    mov [rdi + 511 * 8], rax
    lea rdi, [rel boot_pdpt_high]
    lea rax, [rel boot_pd_high]
    or rax, PTE_P | PTE_W
    mov [rdi + 510 * 8], rax
    lea rbx, [rel __kernel_link_start]    ; runtime physical base
    mov rax, __kernel_link_start
    shr rax, 21                           ; first PD index
    lea rdi, [rel boot_pd_high]
    lea rdi, [rdi + rax * 8]
    mov rcx, __kernel_link_end
    sub rcx, __kernel_link_start
    add rcx, KERNEL_PHYS_ALIGN - 1
    shr rcx, 21                           ; 2 MiB pages to map
    mov rax, rbx
    or rax, PTE_P | PTE_W | PTE_PS
.fill_high:
    mov [rdi], rax
    add rax, 0x200000
    add rdi, 8
    loop .fill_high

    lea rax, [rel boot_pml4]
    mov cr3, rax
    mov rdi, r12
    mov rsi, r13
    mov rdx, rbx
    mov rax, kernel_start64
    jmp rax

section .boot.data
align 16
global boot_gdt, boot_gdtr
boot_gdt:
    dq 0
    dq 0x00AF9A000000FFFF       ; 0x08: 64-bit code
    dq 0x00CF92000000FFFF       ; 0x10: data
boot_gdt_end:
align 8
boot_gdtr:
    dw boot_gdt_end - boot_gdt - 1
    dq 0

section .boot.bss progbits alloc noexec write align=4096
global boot_pml4, boot_pdpt_low, boot_pd_low, boot_pdpt_high, boot_pd_high, boot_stack_top
boot_pml4:      times 4096 db 0
boot_pdpt_low:  times 4096 db 0
boot_pd_low:    times 4 * 4096 db 0
boot_pdpt_high: times 4096 db 0
boot_pd_high:   times 4096 db 0
boot_stack:     times 4096 db 0
boot_stack_top:

section .note.nestvisor progbits alloc noexec nowrite align=4
    dd 10                       ; namesz ("nestvisor\0")
    dd 8                        ; descsz
    dd 1                        ; type: NESTVISOR_NOTE_ENTRY64
    db "nestvisor", 0, 0, 0     ; name, padded to 4
    dq boot64_efi_entry         ; physical (link) address of the 64-bit entry

section .text
global kernel_start64
extern kmain
kernel_start64:
    mov rsp, kernel_stack_top
    xor ebp, ebp
    call kmain
.halt:
    cli
    hlt
    jmp .halt

section .bss
align 16
kernel_stack:   resb 16384
kernel_stack_top:
