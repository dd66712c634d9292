# libFuzzer targets (clang, ASan+UBSan), linking the kernel's nested-VMX
# logic against the unit-test fakes (tests/unit/fake_arch.c, fake_vmx.c).
#
#   make fuzz          builds every target into $(BUILD)/fuzz/
#   make fuzz-smoke    runs each for a fixed number of runs from a fixed seed
#                      (deterministic, well under a minute); PASS/FAIL lines
#                      go to $(BUILD)/results.txt like the other rigs'
#   make fuzz-vmcs12   fuzzes until stopped, growing tests/fuzz/corpus/vmcs12
#                      (FUZZ_ARGS="-max_total_time=600" etc.)
#
# A crash is a finding: the input is written to $(BUILD)/fuzz/ and replays
# with `$(BUILD)/fuzz/fuzz_vmcs12 <file>`.

FUZZ_CC      := clang
FUZZ_CFLAGS  := -std=c11 -D_DEFAULT_SOURCE -g -O1 -Wall -Wextra -I. -DUNIT_TEST \
	-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all -MMD -MP
FUZZ_LDFLAGS := -fsanitize=fuzzer,address,undefined
FUZZ_SMOKE_RUNS := 100000
FUZZ_ARGS    ?=

FUZZ_VMCS12_SRCS := tests/fuzz/fuzz_vmcs12.c \
	vmm/nested/checks.c vmm/nested/checks_guest.c vmm/nested/vmx_msrs.c vmm/nested/vmcs12.c \
	vmm/nested/vmcs02.c vmm/nested/msrlist.c vmm/nested/fieldsets.c vmm/nested/bitmaps.c vmm/nested/ept02.c \
	vmm/nested/ept12.c vmm/l1view.c vmm/ept.c vmm/pmm.c vmm/msr.c vmm/mtrr.c vmm/memmap.c vmm/vcpu.c \
	vmm/l1ram.c vmm/io.c arch/x86/vmx_root.c arch/x86/vmx_caps.c \
	tests/unit/fake_arch.c tests/unit/fake_vmx.c tests/unit/fake_ipi.c lib/format.c lib/log.c lib/cmdline.c lib/strutil.c
FUZZ_VMCS12_OBJS := $(FUZZ_VMCS12_SRCS:%.c=$(BUILD)/fuzz/obj/%.o)
FUZZ_VMCS12      := $(BUILD)/fuzz/fuzz_vmcs12

.PHONY: fuzz fuzz-smoke fuzz-vmcs12

$(BUILD)/fuzz/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(FUZZ_EXTRA) -c $< -o $@

# The checks of a vmcs02 run against the hardware's capabilities: the
# target supplies nested_vmx_caps() itself and reaches the offered ones
# under another name.
$(BUILD)/fuzz/obj/vmm/nested/vmx_msrs.o: FUZZ_EXTRA := -Dnested_vmx_caps=nested_vmx_caps_offered

$(FUZZ_VMCS12): $(FUZZ_VMCS12_OBJS)
	$(FUZZ_CC) -o $@ $^ $(FUZZ_LDFLAGS)

-include $(shell find $(BUILD)/fuzz/obj -name '*.d' 2>/dev/null)

fuzz: $(FUZZ_VMCS12)

fuzz-smoke: $(FUZZ_VMCS12)
	@rm -rf $(BUILD)/fuzz/smoke-vmcs12 && mkdir -p $(BUILD)/fuzz/smoke-vmcs12
	@if $(FUZZ_VMCS12) -runs=$(FUZZ_SMOKE_RUNS) -seed=1 -max_len=2048 -timeout=10 \
		-artifact_prefix=$(BUILD)/fuzz/ -print_final_stats=1 \
		$(BUILD)/fuzz/smoke-vmcs12 tests/fuzz/corpus/vmcs12 > $(BUILD)/fuzz/vmcs12.log 2>&1; then \
		echo "PASS fuzz/vmcs12" | tee -a $(BUILD)/results.txt; \
	else \
		echo "FAIL fuzz/vmcs12" | tee -a $(BUILD)/results.txt; \
		grep -E "FINDING|fuzz_vmcs12:|ERROR|SUMMARY|artifact" $(BUILD)/fuzz/vmcs12.log | head -20; \
		exit 1; \
	fi

fuzz-vmcs12: $(FUZZ_VMCS12)
	$(FUZZ_VMCS12) -max_len=2048 -timeout=10 -artifact_prefix=$(BUILD)/fuzz/ $(FUZZ_ARGS) tests/fuzz/corpus/vmcs12

# The shadow-EPT target and make fuzz-long.
include tests/fuzz/fuzz_ept02.mk
