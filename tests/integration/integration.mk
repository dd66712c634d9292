# Integration rigs: Bochs (Multiboot2 ISO, VMX) and QEMU + OVMF (UEFI).

# `make run`: nestvisor with the L1 test hypervisor (tests/guests/l1hv) as
# L1, running its own L2 through the cases; override to boot something else,
# e.g. make run RUN_L1="build/guests/cpuid.elf" RUN_L1_ARGS="nested=0".
RUN_CMDLINE ?= vmxcaps
RUN_MODEL   ?= tigerlake
RUN_L1      ?= $(BUILD)/guests/l1hv.elf
RUN_L1_ARGS ?=

$(BUILD)/nestvisor.iso: $(KERNEL) $(RUN_L1) tests/integration/mkiso.sh
	tests/integration/mkiso.sh $@ $(KERNEL) "$(RUN_CMDLINE)" $(RUN_L1) "l1 $(RUN_L1_ARGS)"

iso: $(BUILD)/nestvisor.iso

test-bochs: $(KERNEL) guests
	@tests/integration/rig-selftest.sh $(BUILD) || true
	@tests/integration/bochs-scenarios.sh $(BUILD) tests/integration/bochs.scenarios "$(SCENARIOS)"

# Boots the default ISO in Bochs and shows the serial log live.
run: deps $(BUILD)/nestvisor.iso
	@tests/integration/run-live.sh $(BUILD) $(BUILD)/nestvisor.iso $(RUN_MODEL)

# Every performance figure, as a table and as "BENCH <name> <value>" lines:
# nestvisor's own guests, then Linux as L1 (tests/guests/linux/linux.mk).
bench: deps $(KERNEL) guests
	@status=0; tests/integration/bench.sh $(BUILD) "$(SCENARIOS)" || status=1; \
	$(MAKE) --no-print-directory bench-linux || status=1; exit $$status
