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

# make test-uefi (part of make check): the real boot path in one run,
# BOOTX64.EFI -> kernel -> VMX root -> L1, on upstream Bochs + OVMF (built
# once into a cache by tools/upstream-bochs.sh): every scenario of the
# Bochs table through the ESP, then Linux + KVM as L1 from the ESP on one
# CPU and on two. Upstream Bochs loses interrupts that KVM delivers with
# APICv (docs/bochs.md: kvmtest apic and ipi fail on bare upstream Bochs
# too), so the one-CPU run, with APICv, leaves out kvmtest's apic case, and
# the two-CPU run (IPIs, vCPU migration) offers L1 no APICv (apicv=off).
# Four CPUs are too slow there to reach /init in minutes.
UEFI_LINUX_TIMEOUT ?= 150
UEFI_LINUX_CASES   := realmode,longmode,io,mmio,hlt,cpuid,pages,timer,dirtylog,nestedvmx,ipi,migrate,allcpus
UEFI_SMP_CASES     := realmode,timer,apic,ipi,migrate,allcpus
.PHONY: test-uefi
test-uefi: deps $(KERNEL) $(BUILD)/BOOTX64.EFI guests linux-image
	@tools/upstream-bochs.sh > /dev/null
	@status=0; \
	BOCHS_UEFI=1 tests/integration/bochs-scenarios.sh $(BUILD) tests/integration/bochs.scenarios "$(SCENARIOS)" || status=1; \
	BOCHS_UEFI=1 LINUX_TIMEOUT=$(UEFI_LINUX_TIMEOUT) LINUX_APPEND=KVMTEST_ARGS=$(UEFI_LINUX_CASES) \
	    tests/guests/linux/bochs-nested.sh $(KERNEL) $(BUILD)/uefi-linux > /dev/null; \
	BOCHS_UEFI=1 BOCHS_CPUS=2 LINUX_TIMEOUT=$(UEFI_LINUX_TIMEOUT) LINUX_APPEND=KVMTEST_ARGS=$(UEFI_SMP_CASES) \
	    tests/guests/linux/bochs-nested.sh $(KERNEL) $(BUILD)/uefi-linux-smp2 apicv=off > /dev/null; \
	{ tests/guests/linux/check-log.sh -p uefi-linux/ $(BUILD)/uefi-linux/serial.log open $$(echo $(UEFI_LINUX_CASES) | tr , ' '); \
	  tests/guests/linux/check-l0.sh -p uefi-linux/l0/ $(BUILD)/uefi-linux/serial.log on; \
	  tests/guests/linux/check-log.sh -p uefi-linux-smp2/ -c 2 $(BUILD)/uefi-linux-smp2/serial.log open $$(echo $(UEFI_SMP_CASES) | tr , ' '); \
	  tests/guests/linux/check-l0.sh -p uefi-linux-smp2/l0/ -c 2/2 $(BUILD)/uefi-linux-smp2/serial.log on; \
	} > $(BUILD)/uefi-linux/results.txt || status=1; \
	tee -a $(BUILD)/results.txt < $(BUILD)/uefi-linux/results.txt; \
	exit $$status

# Boots the default ISO in Bochs and shows the serial log live.
run: deps $(BUILD)/nestvisor.iso
	@tests/integration/run-live.sh $(BUILD) $(BUILD)/nestvisor.iso $(RUN_MODEL)

# Every performance figure, as a table and as "BENCH <name> <value>" lines:
# nestvisor's own guests, then Linux as L1 (tests/guests/linux/linux.mk).
bench: deps $(KERNEL) guests
	@status=0; tests/integration/bench.sh $(BUILD) "$(SCENARIOS)" || status=1; \
	$(MAKE) --no-print-directory bench-linux || status=1; exit $$status
