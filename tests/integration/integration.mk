# Integration rigs: Bochs (Multiboot2 ISO, VMX) and QEMU + OVMF (UEFI).

RUN_CMDLINE ?= vmxcaps
RUN_MODEL   ?= tigerlake

$(BUILD)/nestvisor.iso: $(KERNEL) tests/integration/mkiso.sh
	tests/integration/mkiso.sh $@ $(KERNEL) "$(RUN_CMDLINE)"

iso: $(BUILD)/nestvisor.iso

test-bochs: $(KERNEL) guests
	@tests/integration/bochs-scenarios.sh $(BUILD) tests/integration/bochs.scenarios "$(SCENARIOS)"

# Boots the default ISO in Bochs and shows the serial log live.
run: deps $(BUILD)/nestvisor.iso
	@tests/integration/run-live.sh $(BUILD) $(BUILD)/nestvisor.iso $(RUN_MODEL)

# Every performance figure, as a table and as "BENCH <name> <value>" lines.
bench: deps $(KERNEL) guests
	@tests/integration/bench.sh $(BUILD) "$(SCENARIOS)"
