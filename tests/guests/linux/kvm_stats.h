// The binary statistics of a KVM vCPU (Documentation/virt/kvm/api.rst,
// KVM_GET_STATS_FD), shared by kvmtest.c and l2boot.c.
#ifndef KVM_STATS_H
#define KVM_STATS_H

#include <linux/kvm.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

// One value of the statistics of the vCPU behind vcpu_fd, or -1.
static inline long long kvm_vcpu_stat(int vcpu_fd, const char *name)
{
    int fd = ioctl(vcpu_fd, KVM_GET_STATS_FD, NULL);
    long long value = -1;
    if (fd < 0) return -1;
    struct kvm_stats_header h;
    if (pread(fd, &h, sizeof h, 0) == sizeof h) {
        size_t dsz = sizeof(struct kvm_stats_desc) + h.name_size;
        char *descs = malloc(dsz * h.num_desc);
        if (descs &&
            pread(fd, descs, dsz * h.num_desc, h.desc_offset) == (ssize_t)(dsz * h.num_desc)) {
            for (uint32_t i = 0; i < h.num_desc; i++) {
                struct kvm_stats_desc *d = (struct kvm_stats_desc *)(descs + i * dsz);
                uint64_t v;
                if (strcmp(d->name, name) == 0 &&
                    pread(fd, &v, sizeof v, h.data_offset + d->offset) == sizeof v) {
                    value = (long long)v;
                    break;
                }
            }
        }
        free(descs);
    }
    close(fd);
    return value;
}

#endif
