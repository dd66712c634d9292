# The mb32 test guest (mb32.c): a 32-bit Multiboot ELF kernel with no a.out
# address fields, as i686-elf and -m32 toolchains build them, in a Multiboot
# build (build/guests/mb32.elf) and a Multiboot2 one (mb32-mb2.elf). Built
# with the host gcc in 32-bit mode and ld's elf_i386 emulation; included by
# guests.mk, so `make guests` builds it.

MB32_DIR     := $(GUEST_DIR)/mb32
MB32_BUILD   := $(GUEST_BUILD)/mb32
MB32_ELFS    := $(GUEST_BUILD)/mb32.elf $(GUEST_BUILD)/mb32-mb2.elf
MB32_CFLAGS  := -m32 -march=i686 -std=c11 -ffreestanding -fno-pic -fno-pie -mgeneral-regs-only \
	-fno-stack-protector -O2 -g -Wall -Wextra -Werror -fno-asynchronous-unwind-tables \
	-fno-tree-loop-distribute-patterns -fno-strict-aliasing -I. -MMD -MP
MB32_LDFLAGS := -m elf_i386 -nostdlib -static -no-pie -T $(MB32_DIR)/mb32.ld \
	-z max-page-size=0x1000 -z noexecstack --no-warn-rwx-segments
MB32_DEPS    := $(MB32_DIR)/mb32.ld $(MB32_DIR)/mb32.mk

guests: $(MB32_ELFS)

$(MB32_BUILD)/mb32.o: $(MB32_DIR)/mb32.c $(MB32_DIR)/mb32.mk
	@mkdir -p $(dir $@)
	$(CC) $(MB32_CFLAGS) -c $< -o $@

$(MB32_BUILD)/entry-mb1.o: $(MB32_DIR)/entry.asm $(MB32_DIR)/mb32.mk
	@mkdir -p $(dir $@)
	$(NASM) -f elf32 -o $@ $<

$(MB32_BUILD)/entry-mb2.o: $(MB32_DIR)/entry.asm $(MB32_DIR)/mb32.mk
	@mkdir -p $(dir $@)
	$(NASM) -f elf32 -DMULTIBOOT2 -o $@ $<

$(GUEST_BUILD)/mb32.elf: $(MB32_BUILD)/entry-mb1.o $(MB32_BUILD)/mb32.o $(MB32_DEPS)
	$(LD) $(MB32_LDFLAGS) -o $@ $(filter %.o,$^)

$(GUEST_BUILD)/mb32-mb2.elf: $(MB32_BUILD)/entry-mb2.o $(MB32_BUILD)/mb32.o $(MB32_DEPS)
	$(LD) $(MB32_LDFLAGS) -o $@ $(filter %.o,$^)

-include $(wildcard $(MB32_BUILD)/*.d)
