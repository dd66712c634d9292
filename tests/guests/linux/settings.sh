# shellcheck shell=bash disable=SC2034,SC2154 # here comes from, the rest goes to, the caller
# Sourced by bochs-direct.sh and bochs-nested.sh (with here= set): the
# image, the Bochs machine and Linux's command line, from the LINUX_*
# environment variables or their defaults.
kernel=${LINUX_KERNEL:-build/linux/vmlinuz}
initrd=${LINUX_INITRD:-build/linux/initramfs.cpio}
model=${LINUX_MODEL:-tigerlake}
megs=${LINUX_MEGS:-256}
ips=${LINUX_IPS:-4000000}
limit=${LINUX_TIMEOUT:-300}
# tests/guests/linux/cmdline (README.md says why each option is there) and
# LINUX_APPEND. Under nestvisor Linux takes the TSC's rate from CPUID
# 0x15/0x16, which nestvisor makes match the rate it measured; on bare
# Bochs (bochs-direct.sh) CPUID claims the modelled CPU's 2.4 GHz, so
# that rig adds tsc_early_khz (the rate Bochs's ips amounts to).
cmdline="$(cat "$here/cmdline") ${LINUX_APPEND:-}"
