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
# kvm_intel's parameters on bare Bochs with LINUX_MODEL: test-linux wants them under
# nestvisor (check-log.sh -k).
LINUX_PARAMS  ?= $(LINUX_DIR)/kvm_intel.$(LINUX_MODEL)
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

$(LINUX_KVMTEST): $(LINUX_DIR)/kvmtest.c $(LINUX_DIR)/kvm_stats.h tests/guests/l1hv/vmx_defs.h $(LINUX_DIR)/linux.mk
	@mkdir -p $(dir $@)
	$(LINUX_HOSTCC) -static -O2 -s -Wall -Wextra -Werror -pthread -o $@ $<

$(LINUX_INITRD): $(LINUX_DIR)/init $(LINUX_KVMTEST) $(LINUX_MODS)/order $(LINUX_DIR)/mkinitramfs.sh
	$(LINUX_DIR)/mkinitramfs.sh $@ $(LINUX_BUILD)/initramfs $(LINUX_DIR)/init $(LINUX_KVMTEST) $(LINUX_MODS)

linux-direct: deps linux-image
	@LINUX_KERNEL=$(LINUX_KERNEL) LINUX_INITRD=$(LINUX_INITRD) LINUX_MODEL=$(LINUX_MODEL) \
	    LINUX_MEGS=$(LINUX_MEGS) LINUX_IPS=$(LINUX_IPS) LINUX_TIMEOUT=$(LINUX_TIMEOUT) \
	    $(LINUX_DIR)/bochs-direct.sh $(LINUX_BUILD)/direct; \
	status=$$?; \
	$(LINUX_DIR)/check-log.sh -p linux-direct/ -k $(LINUX_PARAMS) $(LINUX_BUILD)/direct/serial.log \
	    > $(LINUX_BUILD)/direct/results.txt || status=1; \
	tee -a $(BUILD)/results.txt < $(LINUX_BUILD)/direct/results.txt; \
	[ $$status -eq 0 ] || { echo "linux-direct: FAILED (logs in $(LINUX_BUILD)/direct/)"; exit 1; }

# make test-linux (part of make check): the same image as nestvisor's L1 in
# Bochs, five runs at once (README.md "Under nestvisor"; logs in
# $(LINUX_BUILD)/<run>/):
#   nested      1 CPU: kvm_intel loads, every kvmtest case passes (the SMP
#               cases say SKIP: they need two CPUs)
#   nested-off  1 CPU, nested=off: kvm_intel refuses, Linux goes on,
#               nestvisor stops cleanly
#   smp2, smp4  2 and 4 CPUs: all online in L1 (INIT-SIPI-SIPI), every case
#               but pages (LINUX_SMP_CASES) passes, the SMP ones (ipi,
#               migrate, allcpus) included
#   cpus1       2 CPUs with cpus=1: L1 sees one, the other stays hidden
# Timeouts only catch hangs: five Bochs share the machine's cores.
LINUX_NESTED_TIMEOUT ?= 600
LINUX_SMP_TIMEOUT    ?= 900
# pages (32 MiB of EPT faults on one CPU, ~12% of a run) runs in the 1-CPU
# run only; allcpus touches memory on every CPU at once.
LINUX_SMP_CASES      ?= realmode,longmode,io,mmio,hlt,cpuid,timer,ipi,migrate,allcpus
LINUX_TEST_RUNS      := nested nested-off smp2 smp4 cpus1
.PHONY: test-linux
test-linux: deps linux-image $(KERNEL)
	@run() { name=$$1 cpus=$$2 limit=$$3 opts=$$4 append=$$5; t0=$$(date +%s); \
	    rm -f $(LINUX_BUILD)/$$name/serial.log; \
	    BOCHS_CPUS=$$cpus LINUX_TIMEOUT=$$limit LINUX_APPEND="$$append" $(LINUX_DIR)/bochs-nested.sh \
	        $(KERNEL) $(LINUX_BUILD)/$$name "$$opts" > /dev/null; st=$$?; \
	    [ $$st -eq 0 ] || echo "FAIL linux-$$name/bochs: bochs-nested.sh status $$st$$([ $$st -ne 124 ] || echo ": timed out after $$limit s")" \
	        > $(LINUX_BUILD)/$$name.timeout; \
	    times > $(LINUX_BUILD)/$$name.times; \
	    cpu=$$(tail -n 1 $(LINUX_BUILD)/$$name.times | awk '{ split($$1, u, "m"); split($$2, s, "m"); printf "%.0f", u[1] * 60 + u[2] + s[1] * 60 + s[2] }'); \
	    echo "test-linux: $$name ($$cpus CPUs) took $$(( $$(date +%s) - t0 )) s, $$cpu s of CPU"; }; \
	mkdir -p $(LINUX_BUILD); \
	for r in $(LINUX_TEST_RUNS); do rm -f $(LINUX_BUILD)/$$r.timeout; done; \
	start=$$(date +%s); \
	run smp4 4 $(LINUX_SMP_TIMEOUT) "" KVMTEST_ARGS=$(LINUX_SMP_CASES) & \
	run smp2 2 $(LINUX_SMP_TIMEOUT) "" KVMTEST_ARGS=$(LINUX_SMP_CASES) & \
	run nested 1 $(LINUX_NESTED_TIMEOUT) "" "" & \
	run nested-off 1 $(LINUX_NESTED_TIMEOUT) nested=off "" & \
	run cpus1 2 $(LINUX_NESTED_TIMEOUT) cpus=1 KVMTEST_ARGS=realmode,timer,ipi,migrate,allcpus & \
	wait; \
	echo "test-linux: all runs took $$(( $$(date +%s) - start )) s"; \
	{ for r in $(LINUX_TEST_RUNS); do cat $(LINUX_BUILD)/$$r.timeout 2>/dev/null; done; \
	  $(LINUX_DIR)/check-log.sh -p linux/ -k $(LINUX_PARAMS) $(LINUX_BUILD)/nested/serial.log; \
	  $(LINUX_DIR)/check-l0.sh -p linux/l0/ $(LINUX_BUILD)/nested/serial.log on; \
	  $(LINUX_DIR)/check-l0.sh -p linux-nested-off/ $(LINUX_BUILD)/nested-off/serial.log off; \
	  for n in 2 4; do \
	    $(LINUX_DIR)/check-log.sh -p linux-smp$$n/ -c $$n $(LINUX_BUILD)/smp$$n/serial.log open $$(echo $(LINUX_SMP_CASES) | tr , ' '); \
	    $(LINUX_DIR)/check-l0.sh -p linux-smp$$n/l0/ -c $$n/$$n $(LINUX_BUILD)/smp$$n/serial.log on; \
	  done; \
	  $(LINUX_DIR)/check-log.sh -p linux-cpus1/ -c 1 $(LINUX_BUILD)/cpus1/serial.log open realmode timer ipi migrate allcpus; \
	  $(LINUX_DIR)/check-l0.sh -p linux-cpus1/l0/ -c 1/2 $(LINUX_BUILD)/cpus1/serial.log on; \
	} > $(LINUX_BUILD)/results.txt; \
	tee -a $(BUILD)/results.txt < $(LINUX_BUILD)/results.txt; \
	! grep -q '^FAIL ' $(LINUX_BUILD)/results.txt || { echo "test-linux: FAILED (logs in $(LINUX_BUILD)/<run>/)"; exit 1; }

# The Linux figures (bench-linux.sh): boot to /init under nestvisor and
# directly, with 1 and with 4 CPUs, what KVM's guests cost in L0 exits (the
# single-CPU cases, and the SMP ones on 4 CPUs) and nestvisor's memory per
# CPU. Part of make bench.
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
