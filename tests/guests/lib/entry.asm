; Entry stub of every test guest: the Multiboot header(s), the 32-bit entry,
; identity paging of the first 4 GiB and the switch to long mode.
;
; Assembled twice: without defines it carries only a Multiboot2 header; with
; -DMULTIBOOT1 only a Multiboot (v1) header, using the a.out-kludge address
; fields (flag bit 16) so that the 64-bit ELF is a valid v1 image. A guest
; has exactly one of the two, so a loader that knows both must take the path
; the guest was built for.
;
; The loader enters in 32-bit protected mode, paging off, interrupts off,
; EAX = magic, EBX = physical address of the information structure, ESP
; undefined. The image is linked and run at 1 MiB, physical = virtual.

MB1_MAGIC       equ 0x1BADB002
MB1_FLAGS       equ (1 << 0) | (1 << 1) | (1 << 16) ; page-align modules, memory info, address fields
MB2_MAGIC       equ 0xE85250D6
MB2_ARCH_I386   equ 0

CR0_PE          equ (1 << 0)
CR0_PG          equ (1 << 31)
CR4_PAE         equ (1 << 5)
EFER_MSR        equ 0xC0000080
EFER_LME        equ (1 << 8)
PTE_P           equ (1 << 0)
PTE_W           equ (1 << 1)
PTE_PS          equ (1 << 7)

SEL_CODE64      equ 0x08
SEL_DATA        equ 0x10
SEL_TSS         equ 0x18
STACK_SIZE      equ 32768

extern __image_start, __data_end, __bss_start, __bss_end
extern rt_entry

section .multiboot progbits alloc noexec nowrite align=8
%ifdef MULTIBOOT1
mb1_header:
    dd MB1_MAGIC
    dd MB1_FLAGS
    dd -(MB1_MAGIC + MB1_FLAGS)
    dd mb1_header               ; header_addr
    dd __image_start            ; load_addr
    dd __data_end               ; load_end_addr
    dd __bss_end                ; bss_end_addr
    dd guest_entry32            ; entry_addr
%else
mb2_header:
    dd MB2_MAGIC
    dd MB2_ARCH_I386
    dd mb2_header_end - mb2_header
    dd -(MB2_MAGIC + MB2_ARCH_I386 + (mb2_header_end - mb2_header))
    align 8
    dw 0, 0                     ; end tag
    dd 8
mb2_header_end:
%endif

section .text.entry progbits alloc exec nowrite align=16
bits 32
global guest_entry32
guest_entry32:
    cli
    cld
    mov ebp, eax                ; magic and information structure: kept in
    mov esi, ebx                ; EBP and ESI (CPUID clobbers EBX)
    mov edi, __bss_start        ; the loader should have zeroed .bss; do not rely on it
    mov ecx, __bss_end
    sub ecx, edi
    shr ecx, 2
    xor eax, eax
    rep stosd
    mov esp, stack_top

    pushfd                      ; CPUID present? (EFLAGS.ID toggles)
    pop eax
    mov ecx, eax
    xor eax, 1 << 21
    push eax
    popfd
    pushfd
    pop eax
    push ecx
    popfd
    xor eax, ecx
    jz .no_long_mode
    mov eax, 0x80000000
    cpuid
    cmp eax, 0x80000001
    jb .no_long_mode
    mov eax, 0x80000001
    cpuid
    test edx, 1 << 29
    jz .no_long_mode

    ; PML4[0] -> PDPT; PDPT[0..3] -> 4 page directories of 2 MiB pages.
    mov dword [pml4], pdpt + (PTE_P | PTE_W)
    mov edi, pdpt
    mov eax, pd + (PTE_P | PTE_W)
    mov ecx, 4
.fill_pdpt:
    mov [edi], eax
    add eax, 4096
    add edi, 8
    loop .fill_pdpt
    mov edi, pd
    mov eax, PTE_P | PTE_W | PTE_PS
    xor edx, edx                ; high half of the entry (addresses >= 4 GiB: none)
    mov ecx, 4 * 512
.fill_pd:
    mov [edi], eax
    mov [edi + 4], edx
    add eax, 0x200000
    add edi, 8
    loop .fill_pd

    mov eax, cr4
    or eax, CR4_PAE
    mov cr4, eax
    mov eax, pml4
    mov cr3, eax
    mov ecx, EFER_MSR
    rdmsr
    or eax, EFER_LME
    wrmsr
    lgdt [gdtr]
    mov eax, cr0
    or eax, CR0_PG | CR0_PE
    mov cr0, eax
    jmp SEL_CODE64:long_mode

.no_long_mode:
    mov esi, msg_no_lm
    mov dx, 0x3F8
.print:
    lodsb
    test al, al
    jz .off
    out dx, al
    jmp .print
.off:
    mov dx, 0x3FD               ; wait for the transmitter to drain (LSR.TEMT)
.drain:
    in al, dx
    test al, 0x40
    jz .drain
    mov esi, msg_shutdown
    mov dx, 0x8900
    mov ecx, 8
    rep outsb
.halt:
    hlt
    jmp .halt

bits 64
long_mode:
    mov ax, SEL_DATA
    mov ds, ax
    mov es, ax
    mov ss, ax
    mov fs, ax
    mov gs, ax
    mov rsp, stack_top

    ; A 64-bit TSS (busy after LTR), so TR is what a long-mode OS has.
    mov rax, tss
    mov word [gdt + SEL_TSS + 2], ax
    shr rax, 16
    mov byte [gdt + SEL_TSS + 4], al
    mov byte [gdt + SEL_TSS + 7], ah
    shr rax, 16
    mov dword [gdt + SEL_TSS + 8], eax
    mov ax, SEL_TSS
    ltr ax

    mov edi, ebp                ; rt_entry(magic, info); the upper halves
    mov esi, esi                ; are undefined after the mode switch
    xor ebp, ebp
    call rt_entry
.hang:
    cli
    hlt
    jmp .hang

section .rodata
msg_no_lm:    db "FAIL guest: no long mode on this CPU", 13, 10, 0
msg_shutdown: db "Shutdown"

section .data
align 16
global gdt
gdt:
    dq 0
    dq 0x00209A0000000000       ; 0x08: 64-bit code, DPL 0
    dq 0x00CF92000000FFFF       ; 0x10: flat data
    dw 104 - 1, 0               ; 0x18: 64-bit TSS (available), base filled in at run time
    db 0, 0x89, 0, 0
    dq 0
gdt_end:
align 8
gdtr:
    dw gdt_end - gdt - 1
    dq gdt

section .bss
alignb 4096
pml4:   resb 4096
pdpt:   resb 4096
pd:     resb 4 * 4096
alignb 16
tss:    resb 104
alignb 16
global stack_bottom, stack_top
stack_bottom:
    resb STACK_SIZE
stack_top:
