# libFuzzer target for the EPT12 walker (vmm/nested/ept12.c); see
# tests/fuzz/fuzz_ept12.c for the input format and what is checked.
#   make fuzz-ept12         fuzz until stopped (new inputs in build/fuzz/corpus-ept12)
#   make fuzz-ept12-smoke   a fixed seed and run count from the committed
#                           corpus (a few seconds); PASS/FAIL fuzz/ept12 into
#                           build/results.txt, as `make check` counts

FUZZ_EPT12_CC     := clang
FUZZ_EPT12_CFLAGS := -std=c11 -D_DEFAULT_SOURCE -g -O1 -Wall -Wextra -Werror -I. -DUNIT_TEST \
	-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
FUZZ_EPT12_SRCS   := tests/fuzz/fuzz_ept12.c vmm/nested/ept12.c
FUZZ_EPT12_DEPS   := vmm/nested/ept12.h vmm/ept.h arch/x86/vmx_bits.h tests/fuzz/fuzz_ept12.mk
FUZZ_EPT12_BIN    := $(BUILD)/fuzz/fuzz_ept12
FUZZ_EPT12_CORPUS := tests/fuzz/corpus/ept12
FUZZ_EPT12_SEED   ?= 1
FUZZ_EPT12_RUNS   ?= 2000000

.PHONY: fuzz-ept12 fuzz-ept12-smoke

$(FUZZ_EPT12_BIN): $(FUZZ_EPT12_SRCS) $(FUZZ_EPT12_DEPS)
	@mkdir -p $(dir $@)
	$(FUZZ_EPT12_CC) $(FUZZ_EPT12_CFLAGS) $(FUZZ_EPT12_SRCS) -o $@

fuzz-ept12: $(FUZZ_EPT12_BIN)
	@mkdir -p $(BUILD)/fuzz/corpus-ept12
	$(FUZZ_EPT12_BIN) -max_len=4096 $(BUILD)/fuzz/corpus-ept12 $(FUZZ_EPT12_CORPUS)

# New inputs go to a scratch directory, never into the committed corpus.
fuzz-ept12-smoke: $(FUZZ_EPT12_BIN)
	@rm -rf $(BUILD)/fuzz/smoke-ept12 && mkdir -p $(BUILD)/fuzz/smoke-ept12
	@if $(FUZZ_EPT12_BIN) -seed=$(FUZZ_EPT12_SEED) -runs=$(FUZZ_EPT12_RUNS) -max_len=1024 -timeout=5 \
		-max_total_time=25 -artifact_prefix=$(BUILD)/fuzz/ept12- \
		$(BUILD)/fuzz/smoke-ept12 $(FUZZ_EPT12_CORPUS) >$(BUILD)/fuzz/ept12-smoke.log 2>&1; then \
		grep -E '^Done|#[0-9]+.*DONE' $(BUILD)/fuzz/ept12-smoke.log | tail -1; \
		echo "PASS fuzz/ept12" | tee -a $(BUILD)/results.txt; \
	else \
		tail -40 $(BUILD)/fuzz/ept12-smoke.log; \
		echo "FAIL fuzz/ept12" | tee -a $(BUILD)/results.txt; \
		exit 1; \
	fi
