# nestvisor: `make` builds everything, `make run` boots it in Bochs,
# `make check` runs every test, `make bench` prints the figures.

BUILD      := build
CC         := gcc
NASM       := nasm
LD         := ld

WARNINGS   := -Wall -Wextra -Werror
KERNEL_CFLAGS := -std=c11 -ffreestanding -fno-stack-protector -fno-pic -fno-pie \
	-mno-red-zone -mcmodel=kernel -mgeneral-regs-only -fno-asynchronous-unwind-tables \
	-fno-strict-aliasing -fno-builtin -O2 -g $(WARNINGS) -I. -MMD -MP
KERNEL_LDFLAGS := -nostdlib -static -no-pie -T linker.ld -z max-page-size=0x1000 \
	-z noexecstack --no-warn-rwx-segments

KERNEL_DIRS := boot boot/multiboot2 arch/x86 drivers lib vmm vmm/nested
KERNEL_C    := $(foreach d,$(KERNEL_DIRS),$(wildcard $(d)/*.c))
KERNEL_ASM  := $(wildcard boot/multiboot2/*.asm arch/x86/*.asm)
KERNEL_OBJS := $(KERNEL_C:%.c=$(BUILD)/kernel/%.o) $(KERNEL_ASM:%.asm=$(BUILD)/kernel/%.asm.o)
KERNEL      := $(BUILD)/nestvisor.elf

.PHONY: all deps kernel efi iso esp run check test-unit test-fuzz test-bochs test-qemu test-linux test-uefi bench clean format guests
all: $(KERNEL) $(BUILD)/BOOTX64.EFI $(BUILD)/nestvisor.iso $(BUILD)/esp.img

deps:
	@./tools/deps.sh

kernel: $(KERNEL)

$(BUILD)/kernel/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(KERNEL_CFLAGS) -c $< -o $@

$(BUILD)/kernel/%.asm.o: %.asm arch/x86/boot.inc
	@mkdir -p $(dir $@)
	$(NASM) -f elf64 -I. -o $@ $<

$(KERNEL): $(KERNEL_OBJS) linker.ld
	$(LD) $(KERNEL_LDFLAGS) -o $@ $(KERNEL_OBJS)

-include $(KERNEL_OBJS:.o=.d)

include boot/efi/efi.mk
include tests/guests/guests.mk
include tests/guests/l1hv/l1hv.mk
include tests/unit/unit.mk
include tests/integration/integration.mk
include tests/fuzz/fuzz_ept12.mk
include tests/fuzz/fuzz.mk
include tests/guests/linux/linux.mk

# The fuzz targets, each for a fixed number of runs with a fixed seed.
test-fuzz: fuzz-ept12-smoke fuzz-ept02-smoke fuzz-smoke

clean:
	rm -rf $(BUILD)

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

# Every test rig; each appends PASS/FAIL lines to build/results.txt.
check: deps
	@rm -f $(BUILD)/results.txt
	@$(MAKE) --no-print-directory all guests
	@status=0; \
	for t in test-unit test-fuzz test-bochs test-qemu test-linux test-uefi; do \
		echo "== $$t"; \
		$(MAKE) --no-print-directory $$t || status=1; \
	done; \
	tools/summary.sh $(BUILD)/results.txt || status=1; \
	exit $$status
