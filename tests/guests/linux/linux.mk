# The Linux + KVM test image (tests/guests/linux/README.md). Included by the
# top Makefile, run from the repository root; uses $(BUILD).
#   make linux-image   build/linux/vmlinuz and build/linux/initramfs.cpio
#                      (busybox, /init, kvm modules, /kvmtest)
#   make linux-direct  boots them on bare Bochs (Bochs's own VT-x, no
#                      nestvisor) and checks every marker; the PASS/FAIL
#                      lines also go to $(BUILD)/results.txt
# The Debian 12 cloud kernel package is downloaded once into cache/linux/
# and unpacked with dpkg-deb (nothing is installed into the host).
# For other rigs: $(LINUX_KERNEL), $(LINUX_INITRD), and $(LINUX_CMDLINE),
# the kernel command line for a Bochs with ips=$(LINUX_IPS).

LINUX_DIR     := tests/guests/linux
LINUX_BUILD   := $(BUILD)/linux
LINUX_CACHE   := cache/linux
LINUX_KERNEL  := $(LINUX_BUILD)/vmlinuz
LINUX_INITRD  := $(LINUX_BUILD)/initramfs.cpio
LINUX_KVMTEST := $(LINUX_BUILD)/kvmtest
LINUX_MODS    := $(LINUX_BUILD)/modules
LINUX_HOSTCC  ?= gcc
# Bochs settings for linux-direct (bochs-direct.sh reads them).
LINUX_MODEL   ?= tigerlake
LINUX_MEGS    ?= 256
LINUX_IPS     ?= 4000000
LINUX_TIMEOUT ?= 300
LINUX_CMDLINE  = $(shell cat $(LINUX_DIR)/cmdline) tsc_early_khz=$(shell echo $$(($(LINUX_IPS) / 1000)))

.PHONY: linux-image linux-direct linux-kernel-fetch
linux-image: $(LINUX_KERNEL) $(LINUX_INITRD)

linux-kernel-fetch: $(LINUX_CACHE)/kernel.deb

$(LINUX_CACHE)/kernel.deb:
	$(LINUX_DIR)/fetch-kernel.sh $(LINUX_CACHE)

$(LINUX_BUILD)/pkg/.unpacked: $(LINUX_CACHE)/kernel.deb
	rm -rf $(LINUX_BUILD)/pkg
	mkdir -p $(LINUX_BUILD)/pkg
	dpkg-deb -x $< $(LINUX_BUILD)/pkg
	dpkg-deb -W --showformat='$${Package} $${Version}\n' $< > $(LINUX_BUILD)/kernel.version
	touch $@

$(LINUX_KERNEL): $(LINUX_BUILD)/pkg/.unpacked
	cp $$(ls $(LINUX_BUILD)/pkg/boot/vmlinuz-* | head -n 1) $@

$(LINUX_MODS)/order: $(LINUX_BUILD)/pkg/.unpacked $(LINUX_DIR)/mkmodules.sh
	$(LINUX_DIR)/mkmodules.sh $(LINUX_BUILD)/pkg $(LINUX_MODS)

$(LINUX_KVMTEST): $(LINUX_DIR)/kvmtest.c $(LINUX_DIR)/linux.mk
	@mkdir -p $(dir $@)
	$(LINUX_HOSTCC) -static -O2 -s -Wall -Wextra -Werror -o $@ $<

$(LINUX_INITRD): $(LINUX_DIR)/init $(LINUX_KVMTEST) $(LINUX_MODS)/order $(LINUX_DIR)/mkinitramfs.sh
	$(LINUX_DIR)/mkinitramfs.sh $@ $(LINUX_BUILD)/initramfs $(LINUX_DIR)/init $(LINUX_KVMTEST) $(LINUX_MODS)

linux-direct: deps linux-image
	@LINUX_KERNEL=$(LINUX_KERNEL) LINUX_INITRD=$(LINUX_INITRD) LINUX_MODEL=$(LINUX_MODEL) \
	    LINUX_MEGS=$(LINUX_MEGS) LINUX_IPS=$(LINUX_IPS) LINUX_TIMEOUT=$(LINUX_TIMEOUT) \
	    $(LINUX_DIR)/bochs-direct.sh $(LINUX_BUILD)/direct; \
	status=$$?; \
	$(LINUX_DIR)/check-log.sh -p linux-direct/ $(LINUX_BUILD)/direct/serial.log \
	    > $(LINUX_BUILD)/direct/results.txt || status=1; \
	tee -a $(BUILD)/results.txt < $(LINUX_BUILD)/direct/results.txt; \
	[ $$status -eq 0 ] || { echo "linux-direct: FAILED (logs in $(LINUX_BUILD)/direct/)"; exit 1; }

# make test-linux (part of make check): the same image as nestvisor's L1 in
# Bochs, twice and in parallel: with nesting (kvm_intel loads and every
# kvmtest case passes) and with nested=off (kvm_intel refuses, Linux goes
# on, nestvisor stops cleanly). Logs in $(LINUX_BUILD)/nested{,-off}/.
LINUX_NESTED_TIMEOUT ?= 120
.PHONY: test-linux
test-linux: deps linux-image $(KERNEL)
	@run() { LINUX_TIMEOUT=$(LINUX_NESTED_TIMEOUT) $(LINUX_DIR)/bochs-nested.sh \
	    $(KERNEL) $(LINUX_BUILD)/$$1 "$$2" > /dev/null || echo "FAIL linux-$$1/bochs: timed out" > $(LINUX_BUILD)/$$1.timeout; }; \
	rm -f $(LINUX_BUILD)/nested.timeout $(LINUX_BUILD)/nested-off.timeout; \
	start=$$(date +%s); \
	run nested "" & run nested-off nested=off & wait; \
	echo "test-linux: both runs took $$(( $$(date +%s) - start )) s"; \
	{ cat $(LINUX_BUILD)/nested.timeout $(LINUX_BUILD)/nested-off.timeout 2>/dev/null; \
	  $(LINUX_DIR)/check-log.sh -p linux/ $(LINUX_BUILD)/nested/serial.log; \
	  $(LINUX_DIR)/check-l0.sh -p linux/l0/ $(LINUX_BUILD)/nested/serial.log on; \
	  $(LINUX_DIR)/check-l0.sh -p linux-nested-off/ $(LINUX_BUILD)/nested-off/serial.log off; \
	} > $(LINUX_BUILD)/results.txt; \
	tee -a $(BUILD)/results.txt < $(LINUX_BUILD)/results.txt; \
	! grep -q '^FAIL ' $(LINUX_BUILD)/results.txt || { echo "test-linux: FAILED (logs in $(LINUX_BUILD)/nested*/)"; exit 1; }

# The Linux figures (bench-linux.sh): boot to /init under nestvisor and
# directly, and what KVM's guests cost in L0 exits. Part of make bench.
.PHONY: bench-linux
bench-linux: deps linux-image $(KERNEL)
	@$(LINUX_DIR)/bench-linux.sh $(KERNEL) $(LINUX_BUILD)/bench
