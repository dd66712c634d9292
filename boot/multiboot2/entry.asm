; Multiboot2 header and 32-bit entry.
; GRUB enters here in 32-bit protected mode, paging off, EAX = magic,
; EBX = information structure, ESP undefined (Multiboot2 spec 3.3). The
; kernel is relocatable (header tag 10), so everything here is
; position-independent: EBP holds (runtime - link) address.

%include "arch/x86/boot.inc"

MB2_HEADER_MAGIC    equ 0xE85250D6
MB2_ARCH_I386       equ 0
MB2_BOOTLOADER_MAGIC equ 0x36D76289
MB2_TAG_END         equ 0
MB2_TAG_RELOCATABLE equ 10
MB2_RELOC_PREFER_HIGH equ 2

EFER_MSR    equ 0xC0000080
EFER_LME    equ (1 << 8)
CR0_PE      equ (1 << 0)
CR0_PG      equ (1 << 31)
CR4_PAE     equ (1 << 5)
CPUID_EXT_LM equ (1 << 29)

section .multiboot2 progbits alloc noexec nowrite align=8
mb2_header:
    dd MB2_HEADER_MAGIC
    dd MB2_ARCH_I386
    dd mb2_header_end - mb2_header
    dd -(MB2_HEADER_MAGIC + MB2_ARCH_I386 + (mb2_header_end - mb2_header))
    align 8
    dw MB2_TAG_RELOCATABLE, 0
    dd 24
    dd 0x00100000               ; min_addr
    dd 0xFFFFFFFF               ; max_addr (below 4 GiB: we start in 32-bit mode)
    dd KERNEL_PHYS_ALIGN        ; align: the high mapping uses 2 MiB pages
    dd MB2_RELOC_PREFER_HIGH    ; keep low memory free for L1
    align 8
    dw MB2_TAG_END, 0
    dd 8
mb2_header_end:

section .boot.text progbits alloc exec nowrite align=16
bits 32
global mb2_entry32
extern boot64_mb2_entry
extern boot_pml4, boot_pdpt_low, boot_pd_low, boot_gdt, boot_gdtr, boot_stack_top
mb2_entry32:
    cli
    cld
    ; No stack yet: borrow the reserved dword of the boot information
    ; (EBX + 4) for the one CALL that tells us where we run.
    lea esp, [ebx + 8]
    call .here
.here:
    pop ebp
    sub ebp, .here              ; EBP = relocation delta
    lea esp, [boot_stack_top + ebp]
    mov esi, ebx                ; ESI = boot information

    cmp eax, MB2_BOOTLOADER_MAGIC
    jne .no_multiboot2
    mov eax, 0x80000000
    cpuid
    cmp eax, 0x80000001
    jb .no_long_mode
    mov eax, 0x80000001
    cpuid
    test edx, CPUID_EXT_LM
    jz .no_long_mode

    ; Identity-map the first 4 GiB with 2 MiB pages: enough to reach the
    ; 64-bit code, which builds the real boot tables.
    lea edi, [boot_pml4 + ebp]
    xor eax, eax
    mov ecx, (BOOT_TABLE_PAGES * 4096) / 4
    rep stosd
    lea edi, [boot_pml4 + ebp]
    lea eax, [boot_pdpt_low + ebp]
    or eax, PTE_P | PTE_W
    mov [edi], eax
    lea edi, [boot_pdpt_low + ebp]
    lea eax, [boot_pd_low + ebp]
    or eax, PTE_P | PTE_W
    mov ecx, 4
.fill_pdpt:
    mov [edi], eax
    add eax, 4096
    add edi, 8
    loop .fill_pdpt
    lea edi, [boot_pd_low + ebp]
    mov eax, PTE_P | PTE_W | PTE_PS
    mov ecx, 4 * 512
.fill_pd:
    mov [edi], eax
    add eax, 0x200000
    add edi, 8
    loop .fill_pd

    mov eax, cr4
    or eax, CR4_PAE
    mov cr4, eax
    lea eax, [boot_pml4 + ebp]
    mov cr3, eax
    mov ecx, EFER_MSR
    rdmsr
    or eax, EFER_LME
    wrmsr
    mov eax, cr0
    or eax, CR0_PG | CR0_PE
    mov cr0, eax

    lea eax, [boot_gdt + ebp]
    mov [boot_gdtr + 2 + ebp], eax
    mov dword [boot_gdtr + 6 + ebp], 0
    lgdt [boot_gdtr + ebp]
    mov edi, esi                ; first argument: boot information
    push dword BOOT_CS64
    lea eax, [boot64_mb2_entry + ebp]
    push eax
    retf

.no_multiboot2:
    lea esi, [msg_no_mb2 + ebp]
    jmp .fail
.no_long_mode:
    lea esi, [msg_no_lm + ebp]
.fail:
    ; Print on COM1 and the 0xE9 console, then stop.
    mov dx, 0x3F8
.print:
    lodsb
    test al, al
    jz .halt
    out dx, al
    out 0xE9, al
    jmp .print
.halt:
    hlt
    jmp .halt

section .boot.data progbits alloc noexec write align=8
msg_no_mb2: db "nestvisor: not started by a Multiboot2 loader", 13, 10, 0
msg_no_lm:  db "nestvisor: this CPU has no long mode (64-bit); cannot run", 13, 10, 0
