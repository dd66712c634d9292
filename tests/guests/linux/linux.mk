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

$(LINUX_KVMTEST): $(LINUX_DIR)/kvmtest.c $(LINUX_DIR)/kvm_stats.h $(LINUX_DIR)/linux.mk
	@mkdir -p $(dir $@)
	$(LINUX_HOSTCC) -static -O2 -s -Wall -Wextra -Werror -pthread -o $@ $<

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

# make linux-l2 (not part of make check; README.md "Linux as L2"): the same
# image as nestvisor's L1, whose /init (L2BOOT=1) boots a second Linux - the
# same bzImage with a tiny initramfs - as L2 through /l2boot, a minimal KVM
# VMM, and checks and measures it. make linux-l2-direct: the same on bare
# Bochs (Bochs's own VT-x), the reference. Logs and figures in
# $(LINUX_BUILD)/l2{,-direct}/.
LINUX_L2BOOT      := $(LINUX_BUILD)/l2boot
LINUX_L2_INITRD   := $(LINUX_BUILD)/initramfs-l2.cpio
LINUX_L2_GUEST    := $(LINUX_BUILD)/l2-guest.cpio
LINUX_L2_MEGS     ?= 512
LINUX_L2_TIMEOUT  ?= 600
# Bochs's ips for these runs (README.md "Linux as L2": at 4 M the 250 Hz
# ticks of L1 and L2, each a VM exit or several, leave the L2 almost no
# instructions in between).
LINUX_L2_IPS      ?= 40000000
# The L2 kernel's command line: the L1's options, tsc_early_khz as the L1's
# (KVM gives the L2 the L1's TSC frequency), plus LINUX_L2_EXTRA:
# panic=-1 reboot=t turn an L2 panic into a triple fault that ends l2boot
# at once instead of a hang.
LINUX_L2_EXTRA    ?= panic=-1 reboot=t
LINUX_L2_CMDLINE   = $(shell cat $(LINUX_DIR)/cmdline) tsc_early_khz=$(shell echo $$(($(LINUX_L2_IPS) / 1000))) $(LINUX_L2_EXTRA)
# l2boot's options: give up after 360 s of the L1's time (at ips 40 M,
# ~7 min of wall time), sample the L2's RIP every 10 s for the report.
LINUX_L2_VMM_ARGS ?= -T 360 -s 10
# More L1 kernel arguments, e.g. L2BOOT_APPEND=L2_DMESG=1.
LINUX_L2_APPEND   ?=

$(LINUX_L2BOOT): $(LINUX_DIR)/l2boot.c $(LINUX_DIR)/kvm_stats.h $(LINUX_DIR)/linux.mk
	@mkdir -p $(dir $@)
	$(LINUX_HOSTCC) -static -O2 -s -Wall -Wextra -Werror -o $@ $<

# The L2 command line as a file that changes only when the line does.
.PHONY: linux-l2-cmdline-check
$(LINUX_BUILD)/l2-cmdline: linux-l2-cmdline-check
	@mkdir -p $(dir $@)
	@echo '$(LINUX_L2_CMDLINE)' > $@.tmp; cmp -s $@.tmp $@ && rm -f $@.tmp || mv $@.tmp $@

$(LINUX_L2_INITRD): $(LINUX_INITRD) $(LINUX_L2BOOT) $(LINUX_KERNEL) $(LINUX_DIR)/l2init \
		$(LINUX_DIR)/mkinitramfs-l2.sh $(LINUX_BUILD)/l2-cmdline
	$(LINUX_DIR)/mkinitramfs-l2.sh $@ $(LINUX_L2_GUEST) $(LINUX_BUILD)/initramfs-l2 \
	    $(LINUX_INITRD) $(LINUX_L2BOOT) $(LINUX_DIR)/l2init $(LINUX_KERNEL) "$$(cat $(LINUX_BUILD)/l2-cmdline)"

.PHONY: linux-l2-image linux-l2 linux-l2-direct
linux-l2-image: $(LINUX_KERNEL) $(LINUX_L2_INITRD)

linux-l2: deps linux-l2-image $(KERNEL)
	@LINUX_KERNEL=$(LINUX_KERNEL) LINUX_INITRD=$(LINUX_L2_INITRD) LINUX_MODEL=$(LINUX_MODEL) \
	    LINUX_MEGS=$(LINUX_L2_MEGS) LINUX_IPS=$(LINUX_L2_IPS) LINUX_TIMEOUT=$(LINUX_L2_TIMEOUT) \
	    LINUX_APPEND='L2BOOT=1 L2BOOT_ARGS="$(LINUX_L2_VMM_ARGS)" $(LINUX_L2_APPEND)' \
	    $(LINUX_DIR)/l2-run.sh nested $(LINUX_BUILD)/l2 $(KERNEL)

linux-l2-direct: deps linux-l2-image
	@LINUX_KERNEL=$(LINUX_KERNEL) LINUX_INITRD=$(LINUX_L2_INITRD) LINUX_MODEL=$(LINUX_MODEL) \
	    LINUX_MEGS=$(LINUX_L2_MEGS) LINUX_IPS=$(LINUX_L2_IPS) LINUX_TIMEOUT=$(LINUX_L2_TIMEOUT) \
	    LINUX_APPEND='L2BOOT=1 L2BOOT_ARGS="$(LINUX_L2_VMM_ARGS)" $(LINUX_L2_APPEND)' \
	    $(LINUX_DIR)/l2-run.sh direct $(LINUX_BUILD)/l2-direct
