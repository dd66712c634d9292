# The UEFI loader BOOTX64.EFI (gnu-efi 3.0.15) and the ESP image that boots
# it. Compile and link flags as measured for QEMU + OVMF + gnu-efi: a
# position-independent SysV-ABI ELF shared object turned into a PE32+ EFI
# application by objcopy; firmware calls go through uefi_call_wrapper.
# gnu11, not c11: gnu-efi's uefi_call_wrapper relies on GNU comma elision.

EFI_INC    := /usr/include/efi
EFI_LIBDIR := /usr/lib
EFI_CFLAGS := -std=gnu11 -fpic -fshort-wchar -mno-red-zone -ffreestanding -fno-stack-protector \
	-maccumulate-outgoing-args -fno-strict-aliasing -fno-asynchronous-unwind-tables -O2 -g \
	$(WARNINGS) -I. -I$(EFI_INC) -I$(EFI_INC)/x86_64 -MMD -MP
EFI_LDFLAGS := -nostdlib -znocombreloc -shared -Bsymbolic -T $(EFI_LIBDIR)/elf_x86_64_efi.lds
EFI_SECTIONS := .text .sdata .data .rodata .dynamic .dynsym .rel .rela .rel.* .rela.* .reloc
# The loader's own sources plus the pure shared ones.
EFI_SRCS   := $(wildcard boot/efi/*.c) lib/elf.c lib/format.c drivers/uart.c
EFI_OBJS   := $(EFI_SRCS:%.c=$(BUILD)/efi/%.o)
ESP_TREE   := $(BUILD)/esp

$(BUILD)/efi/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(EFI_CFLAGS) -c $< -o $@

EFI_LINK = $(LD) $(EFI_LDFLAGS) $(EFI_LIBDIR)/crt0-efi-x86_64.o $^ -o $@ \
	-L$(EFI_LIBDIR) -lefi -lgnuefi
EFI_TO_PE = objcopy $(addprefix -j ,$(EFI_SECTIONS)) --target efi-app-x86_64 --subsystem=10 $< $@

$(BUILD)/efi/bootx64.so: $(EFI_OBJS)
	$(EFI_LINK)

$(BUILD)/BOOTX64.EFI: $(BUILD)/efi/bootx64.so
	$(EFI_TO_PE)

# Test builds for test-qemu, each the loader with one source compiled with
# a define: $(call EFI_VARIANT,name,source,define) makes
# $(BUILD)/efi/<name>/BOOTX64.EFI.
define EFI_VARIANT
$(BUILD)/efi/$(1)/$(notdir $(2:.c=.o)): $(2)
	@mkdir -p $$(dir $$@)
	$$(CC) $$(EFI_CFLAGS) $(3) -c $$< -o $$@

$(BUILD)/efi/$(1)/bootx64.so: $$(filter-out $(BUILD)/efi/$(2:.c=.o),$$(EFI_OBJS)) \
		$(BUILD)/efi/$(1)/$(notdir $(2:.c=.o))
	$$(EFI_LINK)

$(BUILD)/efi/$(1)/BOOTX64.EFI: $(BUILD)/efi/$(1)/bootx64.so
	$$(EFI_TO_PE)

-include $(BUILD)/efi/$(1)/$(notdir $(2:.c=.d))
EFI_VARIANTS += $(BUILD)/efi/$(1)/BOOTX64.EFI
endef

# stale-key: the first ExitBootServices() gets a stale map key, so the
# retry runs on real firmware.
$(eval $(call EFI_VARIANT,stale-key,boot/efi/main.c,-DLOADER_TEST_STALE_MAP_KEY))
# la57: CR4 reads with LA57 set, so the refusal of 5-level paging runs on
# real firmware (OVMF never enables it).
$(eval $(call EFI_VARIANT,la57,boot/efi/main.c,-DLOADER_TEST_LA57))
# memattr, memattr-stuck: OVMF has no memory attribute protocol, so these
# bring their own (boot/efi/kernel.c), called like firmware's, saying the
# kernel's range is XP; in memattr-stuck clearing changes nothing.
$(eval $(call EFI_VARIANT,memattr,boot/efi/kernel.c,-DLOADER_TEST_MEMATTR=1))
$(eval $(call EFI_VARIANT,memattr-stuck,boot/efi/kernel.c,-DLOADER_TEST_MEMATTR=2))

-include $(EFI_OBJS:.o=.d)

efi: $(BUILD)/BOOTX64.EFI

# The default ESP: loader, kernel and boot/efi/nestvisor.cfg (cmdline=vmxcaps).
$(BUILD)/esp.img: $(BUILD)/BOOTX64.EFI $(KERNEL) boot/efi/nestvisor.cfg boot/efi/mkesp.sh
	rm -rf $(ESP_TREE)
	mkdir -p $(ESP_TREE)/EFI/BOOT $(ESP_TREE)/EFI/nestvisor
	cp $(BUILD)/BOOTX64.EFI $(ESP_TREE)/EFI/BOOT/BOOTX64.EFI
	cp $(KERNEL) $(ESP_TREE)/EFI/nestvisor/nestvisor.elf
	cp boot/efi/nestvisor.cfg $(ESP_TREE)/EFI/nestvisor/nestvisor.cfg
	boot/efi/mkesp.sh $@ $(ESP_TREE)

esp: $(BUILD)/esp.img

# Boots ESP images under QEMU + OVMF: the good path and every loader error.
test-qemu: $(BUILD)/BOOTX64.EFI $(EFI_VARIANTS) $(KERNEL) linux-image
	@tests/integration/qemu-uefi.sh $(BUILD)
