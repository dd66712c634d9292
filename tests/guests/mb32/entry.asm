; Entry of the mb32 test guest (mb32.c): the Multiboot header and the first
; instructions of a 32-bit kernel the way i686-elf toolchains lay one out.
;
; Assembled twice: without defines it has a Multiboot (v1) header whose flags
; leave bit 16 clear, so there are no a.out address fields (Multiboot 0.6.96
; 3.1.2-3.1.3) and a loader must read the ELF program headers; with
; -DMULTIBOOT2 a Multiboot2 header with no address tag (Multiboot2 3.1.5).
;
; _start is linked at 3 GiB and loaded at its physical address (mb32.ld), so
; e_entry is a virtual address that the loader must translate through the
; segment's p_vaddr/p_paddr. Entered with paging off it may use only
; position-independent code and absolute references to low (identity-linked)
; symbols. The loader's state (Multiboot 3.2): 32-bit protected mode, EAX =
; magic, EBX = information structure, ESP undefined.

MB1_MAGIC         equ 0x1BADB002
MB1_FLAGS         equ (1 << 0) | (1 << 1) ; page-aligned modules, memory info; no bit 16
MB2_MAGIC         equ 0xE85250D6
MB2_ARCH_I386     equ 0
MB2_TAG_END       equ 0
HIGH_PATTERN_SIZE equ 256                 ; mb32.c checks (i * 7 + 3) & 0xff
HIGH_BSS_SIZE     equ 8192
STACK_SIZE        equ 8192

extern mb32_main
global _start, mb32_header_version, high_pattern, high_bss, high_bss_end

section .multiboot progbits alloc noexec nowrite align=8
%ifdef MULTIBOOT2
mb2_header:
    dd MB2_MAGIC
    dd MB2_ARCH_I386
    dd mb2_header_end - mb2_header
    dd -(MB2_MAGIC + MB2_ARCH_I386 + (mb2_header_end - mb2_header))
    align 8
    dw MB2_TAG_END, 0
    dd 8
mb2_header_end:
%else
    dd MB1_MAGIC
    dd MB1_FLAGS
    dd -(MB1_MAGIC + MB1_FLAGS)
%endif

section .rodata
mb32_header_version:
%ifdef MULTIBOOT2
    dd 2
%else
    dd 1
%endif

section .bss
alignb 16
    resb STACK_SIZE
stack_top:

section .high.text progbits alloc exec nowrite align=16
bits 32
_start:
    mov esp, stack_top          ; low: its absolute address is physical
    pushfd                      ; EFLAGS as the loader left it
    pop edx
    call .here                  ; where this code really runs
.here:
    pop ecx
    push edx                    ; mb32_main(magic, info, linked, actual, eflags)
    push ecx
    push dword .here            ; where it is linked (3 GiB up)
    push ebx
    push eax
    mov eax, mb32_main          ; low: an absolute call, not a relative one
    call eax
.halt:
    cli
    hlt
    jmp .halt

section .high.data progbits alloc noexec write align=16
high_pattern:
%assign i 0
%rep HIGH_PATTERN_SIZE
    db (i * 7 + 3) & 0xff
%assign i i + 1
%endrep

section .high.bss nobits alloc noexec write align=16
high_bss:
    resb HIGH_BSS_SIZE
high_bss_end:
