# libFuzzer target for the shadow EPT state machine (vmm/nested/ept02.c with
# EPT01, the sink, the EPT12 walker and the bitmap protection); see
# tests/fuzz/fuzz_ept02.c for the input format and what is checked, and
# docs/fuzzing.md for all the targets.
#   make fuzz-ept02         fuzz until stopped (new inputs in build/fuzz/corpus-ept02)
#   make fuzz-ept02-smoke   a fixed seed and run count from the committed
#                           corpus (a few seconds); PASS/FAIL fuzz/ept02 into
#                           build/results.txt
#   make fuzz-long [FUZZ_SECONDS=600] [FUZZ_RUNS=n] [FUZZ_TARGETS="ept12 vmcs12 ept02"]
#                           every target for that long (or that many runs),
#                           one after the other at nice $(FUZZ_NICE); a summary
#                           per target in build/fuzz/long-summary.txt. Not part
#                           of make check.
#
# The vmm/ sources are compiled here with a few -D seams (names redirected to
# wrappers in fuzz_ept02.c that call the real functions): ept02.c's
# ept_init/ept_destroy (to mirror the EPT02 pool's allocations), invept,
# vm_l1_ram and ept02_init's pmm_alloc; ept.c's pmm_alloc/pmm_free; bitmaps.c's
# invept. The objects live apart from the other targets' ($(BUILD)/fuzz/ept02-obj).

FUZZ_EPT02_CC      := clang
FUZZ_EPT02_CFLAGS  := -std=c11 -D_DEFAULT_SOURCE -g -O1 -Wall -Wextra -I. -DUNIT_TEST \
	-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all -MMD -MP
FUZZ_EPT02_LDFLAGS := -fsanitize=fuzzer,address,undefined
FUZZ_EPT02_SRCS    := tests/fuzz/fuzz_ept02.c vmm/nested/ept02.c vmm/nested/ept12.c vmm/nested/bitmaps.c \
	vmm/ept.c vmm/ept01.c vmm/pmm.c vmm/memmap.c vmm/mtrr.c vmm/l1ram.c vmm/l1view.c \
	tests/unit/fake_arch.c tests/unit/fake_vmx.c
FUZZ_EPT02_OBJDIR  := $(BUILD)/fuzz/ept02-obj
FUZZ_EPT02_OBJS    := $(FUZZ_EPT02_SRCS:%.c=$(FUZZ_EPT02_OBJDIR)/%.o)
FUZZ_EPT02_BIN     := $(BUILD)/fuzz/fuzz_ept02
FUZZ_EPT02_CORPUS  := tests/fuzz/corpus/ept02
FUZZ_EPT02_MAXLEN  := 512
FUZZ_EPT02_SEED    ?= 1
FUZZ_EPT02_RUNS    ?= 6000

.PHONY: fuzz-ept02 fuzz-ept02-smoke fuzz-long

$(FUZZ_EPT02_OBJDIR)/%.o: %.c tests/fuzz/fuzz_ept02.mk
	@mkdir -p $(dir $@)
	$(FUZZ_EPT02_CC) $(FUZZ_EPT02_CFLAGS) $(FUZZ_EPT02_SEAMS) -c $< -o $@

$(FUZZ_EPT02_OBJDIR)/tests/fuzz/fuzz_ept02.o: FUZZ_EPT02_SEAMS := -Werror
$(FUZZ_EPT02_OBJDIR)/vmm/nested/ept02.o: FUZZ_EPT02_SEAMS := -Dept_init=fuzz_ept_init \
	-Dept_destroy=fuzz_ept_destroy -Dinvept=fuzz_invept -Dvm_l1_ram=fuzz_vm_l1_ram \
	-Dvm_l1_view=fuzz_vm_l1_view -Dpmm_alloc=fuzz_ept02_pmm_alloc
$(FUZZ_EPT02_OBJDIR)/vmm/ept.o: FUZZ_EPT02_SEAMS := -Dpmm_alloc=fuzz_pmm_alloc -Dpmm_free=fuzz_pmm_free
$(FUZZ_EPT02_OBJDIR)/vmm/nested/bitmaps.o: FUZZ_EPT02_SEAMS := -Dinvept=fuzz_invept

$(FUZZ_EPT02_BIN): $(FUZZ_EPT02_OBJS)
	$(FUZZ_EPT02_CC) -o $@ $^ $(FUZZ_EPT02_LDFLAGS)

-include $(shell find $(FUZZ_EPT02_OBJDIR) -name '*.d' 2>/dev/null)

fuzz: $(FUZZ_EPT02_BIN)

fuzz-ept02: $(FUZZ_EPT02_BIN)
	@mkdir -p $(BUILD)/fuzz/corpus-ept02
	$(FUZZ_EPT02_BIN) -max_len=$(FUZZ_EPT02_MAXLEN) -timeout=10 -artifact_prefix=$(BUILD)/fuzz/ept02- \
		$(FUZZ_ARGS) $(BUILD)/fuzz/corpus-ept02 $(FUZZ_EPT02_CORPUS)

# New inputs go to a scratch directory, never into the committed corpus.
fuzz-ept02-smoke: $(FUZZ_EPT02_BIN)
	@rm -rf $(BUILD)/fuzz/smoke-ept02 && mkdir -p $(BUILD)/fuzz/smoke-ept02
	@if $(FUZZ_EPT02_BIN) -seed=$(FUZZ_EPT02_SEED) -runs=$(FUZZ_EPT02_RUNS) -max_len=$(FUZZ_EPT02_MAXLEN) \
		-timeout=10 -max_total_time=30 -artifact_prefix=$(BUILD)/fuzz/ept02- -print_final_stats=1 \
		$(BUILD)/fuzz/smoke-ept02 $(FUZZ_EPT02_CORPUS) >$(BUILD)/fuzz/ept02-smoke.log 2>&1; then \
		grep -E '^Done|#[0-9]+.*DONE' $(BUILD)/fuzz/ept02-smoke.log | tail -1; \
		echo "PASS fuzz/ept02" | tee -a $(BUILD)/results.txt; \
	else \
		grep -E -A12 'FINDING|ERROR|SUMMARY' $(BUILD)/fuzz/ept02-smoke.log | head -40; \
		grep -E 'artifact' $(BUILD)/fuzz/ept02-smoke.log | tail -2; \
		echo "FAIL fuzz/ept02" | tee -a $(BUILD)/results.txt; \
		exit 1; \
	fi

# ---- every target, for a long time (not part of make check) ----

FUZZ_SECONDS ?= 600
FUZZ_RUNS    ?=
FUZZ_NICE    ?= 10
FUZZ_TARGETS ?= ept12 vmcs12 ept02
FUZZ_COMMIT  ?=

fuzz-long: $(FUZZ_EPT12_BIN) $(FUZZ_VMCS12) $(FUZZ_EPT02_BIN)
	@FUZZ_SECONDS=$(FUZZ_SECONDS) FUZZ_RUNS=$(FUZZ_RUNS) FUZZ_NICE=$(FUZZ_NICE) FUZZ_COMMIT=$(FUZZ_COMMIT) \
		tests/fuzz/fuzz-long.sh $(BUILD)/fuzz "$(FUZZ_TARGETS)" \
		"ept12 $(FUZZ_EPT12_BIN) $(FUZZ_EPT12_CORPUS) 1024" \
		"vmcs12 $(FUZZ_VMCS12) tests/fuzz/corpus/vmcs12 2048" \
		"ept02 $(FUZZ_EPT02_BIN) $(FUZZ_EPT02_CORPUS) $(FUZZ_EPT02_MAXLEN)"
