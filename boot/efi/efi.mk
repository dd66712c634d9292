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

# Test build for test-qemu: its first ExitBootServices() gets a stale map
# key, so the retry path runs on real firmware.
EFI_STALE_MAIN := $(BUILD)/efi/stale-key/main.o

$(EFI_STALE_MAIN): boot/efi/main.c
	@mkdir -p $(dir $@)
	$(CC) $(EFI_CFLAGS) -DLOADER_TEST_STALE_MAP_KEY -c $< -o $@

$(BUILD)/efi/stale-key/bootx64.so: $(filter-out $(BUILD)/efi/boot/efi/main.o,$(EFI_OBJS)) $(EFI_STALE_MAIN)
	$(EFI_LINK)

$(BUILD)/efi/stale-key/BOOTX64.EFI: $(BUILD)/efi/stale-key/bootx64.so
	$(EFI_TO_PE)

# Test build for test-qemu's la57 case: it sees CR4.LA57 set, so the
# refusal of 5-level paging runs on real firmware.
EFI_LA57_MAIN := $(BUILD)/efi/la57/main.o

$(EFI_LA57_MAIN): boot/efi/main.c
	@mkdir -p $(dir $@)
	$(CC) $(EFI_CFLAGS) -DLOADER_TEST_LA57 -c $< -o $@

$(BUILD)/efi/la57/bootx64.so: $(filter-out $(BUILD)/efi/boot/efi/main.o,$(EFI_OBJS)) $(EFI_LA57_MAIN)
	$(EFI_LINK)

$(BUILD)/efi/la57/BOOTX64.EFI: $(BUILD)/efi/la57/bootx64.so
	$(EFI_TO_PE)

-include $(EFI_OBJS:.o=.d) $(EFI_STALE_MAIN:.o=.d) $(EFI_LA57_MAIN:.o=.d)

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
test-qemu: $(BUILD)/BOOTX64.EFI $(BUILD)/efi/stale-key/BOOTX64.EFI $(BUILD)/efi/la57/BOOTX64.EFI \
	$(KERNEL) linux-image
	@tests/integration/qemu-uefi.sh $(BUILD)
