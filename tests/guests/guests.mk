# Freestanding L1 test guests (tests/guests/README.md). Included by the top
# Makefile, run from the repository root. `make guests` builds
# build/guests/<name>.elf for every guest; `make guests-smoke` boots each one
# directly under GRUB in Bochs (no hypervisor) and checks what must work there.

GUEST_DIR     := tests/guests
GUEST_BUILD   := $(BUILD)/guests
# Multiboot2 guests, and the ones built as Multiboot (v1) images.
GUESTS_MB2    := cpuid msr cr io hidden triple bench apsteal
GUESTS_MB1    := hlt
GUESTS        := $(GUESTS_MB2) $(GUESTS_MB1)
GUEST_ELFS    := $(GUESTS:%=$(GUEST_BUILD)/%.elf)

GUEST_CFLAGS  := -std=c11 -ffreestanding -fno-pic -fno-pie -mno-red-zone -mgeneral-regs-only \
	-fno-stack-protector -mcmodel=small -O2 -g -Wall -Wextra -Werror \
	-fno-asynchronous-unwind-tables -fno-tree-loop-distribute-patterns -fno-strict-aliasing \
	-I. -I$(GUEST_DIR)/lib -MMD -MP
GUEST_LDFLAGS := -nostdlib -static -no-pie -T $(GUEST_DIR)/lib/guest.ld -z max-page-size=0x1000 \
	-z noexecstack --no-warn-rwx-segments

GUEST_LIB_C    := $(wildcard $(GUEST_DIR)/lib/*.c)
GUEST_LIB_OBJS := $(GUEST_LIB_C:$(GUEST_DIR)/lib/%.c=$(GUEST_BUILD)/lib/%.o) \
	$(GUEST_BUILD)/lib/isr.asm.o
GUEST_DEPS     := $(GUEST_DIR)/lib/guest.ld $(GUEST_DIR)/guests.mk

.PHONY: guests guests-smoke
guests: $(GUEST_ELFS) $(GUEST_BUILD)/bad/text.bin

# Broken L1 images that nestvisor must refuse (bochs.scenarios bad-image-*).
$(GUEST_BUILD)/bad/text.bin: $(GUEST_DIR)/mkbadimages.sh
	$(GUEST_DIR)/mkbadimages.sh $(GUEST_BUILD)/bad

$(GUEST_BUILD)/lib/%.o: $(GUEST_DIR)/lib/%.c $(GUEST_DIR)/guests.mk
	@mkdir -p $(dir $@)
	$(CC) $(GUEST_CFLAGS) -c $< -o $@

$(GUEST_BUILD)/%.o: $(GUEST_DIR)/%.c $(GUEST_DIR)/guests.mk
	@mkdir -p $(dir $@)
	$(CC) $(GUEST_CFLAGS) -c $< -o $@

$(GUEST_BUILD)/lib/isr.asm.o: $(GUEST_DIR)/lib/isr.asm
	@mkdir -p $(dir $@)
	$(NASM) -f elf64 -o $@ $<

$(GUEST_BUILD)/lib/entry-mb2.o: $(GUEST_DIR)/lib/entry.asm
	@mkdir -p $(dir $@)
	$(NASM) -f elf64 -o $@ $<

$(GUEST_BUILD)/lib/entry-mb1.o: $(GUEST_DIR)/lib/entry.asm
	@mkdir -p $(dir $@)
	$(NASM) -f elf64 -DMULTIBOOT1 -o $@ $<

$(GUESTS_MB2:%=$(GUEST_BUILD)/%.elf): $(GUEST_BUILD)/%.elf: $(GUEST_BUILD)/lib/entry-mb2.o \
		$(GUEST_BUILD)/%.o $(GUEST_LIB_OBJS) $(GUEST_DEPS)
	$(LD) $(GUEST_LDFLAGS) -o $@ $(filter %.o,$^)

$(GUESTS_MB1:%=$(GUEST_BUILD)/%.elf): $(GUEST_BUILD)/%.elf: $(GUEST_BUILD)/lib/entry-mb1.o \
		$(GUEST_BUILD)/%.o $(GUEST_LIB_OBJS) $(GUEST_DEPS)
	$(LD) $(GUEST_LDFLAGS) -o $@ $(filter %.o,$^)

-include $(wildcard $(GUEST_BUILD)/*.d $(GUEST_BUILD)/lib/*.d)

# GUEST_SMOKE=REGEX picks scenarios by name; SMOKE_MODEL=<bochs cpu> (the
# expectations are written for the default, tigerlake).
GUEST_SMOKE ?= [^ |]+
guests-smoke: guests
	@$(GUEST_DIR)/tools/smoke.sh $(BUILD) "$(GUESTS_MB1)" '$(GUEST_SMOKE)'

# The 32-bit Multiboot ELF guest, built with its own flags (mb32/mb32.mk).
include $(GUEST_DIR)/mb32/mb32.mk
