# l1hv: the L1 test hypervisor (tests/guests/l1hv/README.md).
# Included by the top Makefile (after or before tests/guests/guests.mk: the
# names below do not depend on guests.mk's variables at parse time); run
# from the repository root. `make l1hv` builds build/guests/l1hv.elf, which
# `make guests` builds too. Compiled with guests.mk's GUEST_CFLAGS and linked
# with the guest runtime (tests/guests/lib) and its linker script.

L1HV_DIR   := tests/guests/l1hv
L1HV_BUILD := $(BUILD)/guests/l1hv
L1HV_ELF   := $(BUILD)/guests/l1hv.elf

L1HV_C     := $(wildcard $(L1HV_DIR)/*.c)
L1HV_ASM   := $(wildcard $(L1HV_DIR)/*.asm)
L1HV_OBJS  := $(L1HV_C:$(L1HV_DIR)/%.c=$(L1HV_BUILD)/%.o) \
	$(L1HV_ASM:$(L1HV_DIR)/%.asm=$(L1HV_BUILD)/%.asm.o)
# The runtime's objects, as guests.mk builds them.
L1HV_RT_OBJS := $(BUILD)/guests/lib/entry-mb2.o \
	$(patsubst tests/guests/lib/%.c,$(BUILD)/guests/lib/%.o,$(wildcard tests/guests/lib/*.c)) \
	$(BUILD)/guests/lib/isr.asm.o

.PHONY: l1hv
l1hv: $(L1HV_ELF)
guests: $(L1HV_ELF)

$(L1HV_BUILD)/%.o: $(L1HV_DIR)/%.c $(L1HV_DIR)/l1hv.mk
	@mkdir -p $(dir $@)
	$(CC) $(GUEST_CFLAGS) -I$(L1HV_DIR) -c $< -o $@

$(L1HV_BUILD)/%.asm.o: $(L1HV_DIR)/%.asm $(L1HV_DIR)/l1hv.mk
	@mkdir -p $(dir $@)
	$(NASM) -f elf64 -o $@ $<

$(L1HV_ELF): $(L1HV_RT_OBJS) $(L1HV_OBJS) tests/guests/lib/guest.ld $(L1HV_DIR)/l1hv.mk
	$(LD) $(GUEST_LDFLAGS) -o $@ $(L1HV_RT_OBJS) $(L1HV_OBJS)

-include $(wildcard $(L1HV_BUILD)/*.d)

# Boots l1hv directly under GRUB in Bochs (real VT-x, no nestvisor) on each
# model of L1HV_MODELS with the command line L1HV_ARGS; every case must PASS
# or SKIP. `make l1hv-bochs L1HV_ARGS=cases=bench` prints the benchmark.
# `make l1hv-nested` runs the same binary as L1 under nestvisor.
L1HV_MODELS ?= tigerlake corei7_sandy_bridge_2600k
L1HV_ARGS   ?=
.PHONY: l1hv-bochs l1hv-nested
l1hv-bochs: $(L1HV_ELF)
	@$(L1HV_DIR)/run.sh $(BUILD) "$(L1HV_MODELS)" "$(L1HV_ARGS)"

l1hv-nested: $(L1HV_ELF) $(BUILD)/nestvisor.elf
	@L1HV_NESTED=1 $(L1HV_DIR)/run.sh $(BUILD) "$(L1HV_MODELS)" "$(L1HV_ARGS)"
