# Unit tests: cmocka on the host, linking the kernel's pure logic against
# the fake arch layer (tests/unit/fake_arch.c). Each test_NAME.c names the
# kernel sources it needs in a comment line of its own:
#     /* unit-srcs: vmm/memmap.c vmm/pmm.c */

UNIT_CC     := gcc
UNIT_CFLAGS := -std=c11 -D_DEFAULT_SOURCE -g -O1 -Wall -Wextra -Werror -I. -DUNIT_TEST \
	-fsanitize=address,undefined -fno-sanitize-recover=all -fno-builtin-memcpy -MMD -MP
UNIT_LIBS   := -lcmocka -fsanitize=address,undefined
UNIT_COMMON := tests/unit/fake_arch.c lib/format.c lib/log.c lib/cmdline.c lib/strutil.c

unit_srcs = $(shell sed -n 's|^/\* *unit-srcs: *\(.*\) *\*/|\1|p' tests/unit/test_$(1).c)

UNIT_TESTS := $(patsubst tests/unit/test_%.c,%,$(wildcard tests/unit/test_*.c))
UNIT_BINS  := $(UNIT_TESTS:%=$(BUILD)/unit/test_%)

$(BUILD)/unit/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(UNIT_CC) $(UNIT_CFLAGS) -c $< -o $@

unit_objs = $(patsubst %.c,$(BUILD)/unit/obj/%.o,$(1))

.SECONDEXPANSION:
$(BUILD)/unit/test_%: $$(call unit_objs,tests/unit/test_$$*.c $$(call unit_srcs,$$*) $(UNIT_COMMON))
	@mkdir -p $(dir $@)
	$(UNIT_CC) -o $@ $^ $(UNIT_LIBS)

-include $(shell find $(BUILD)/unit/obj -name '*.d' 2>/dev/null)

test-unit: $(UNIT_BINS)
	@tests/unit/run.sh $(BUILD) $(UNIT_BINS)
