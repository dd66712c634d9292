/* L1's MSRs: the bitmap of what passes through, and the emulation of the
 * rest (docs/l1-platform.md). */
#ifndef VMM_MSR_H
#define VMM_MSR_H

#include <stdbool.h>
#include <stdint.h>

struct vm;
struct vcpu;

#define MSR_BITMAP_READ_LOW   0
#define MSR_BITMAP_READ_HIGH  1024
#define MSR_BITMAP_WRITE_LOW  2048
#define MSR_BITMAP_WRITE_HIGH 3072
#define MSR_HIGH_BASE         0xc0000000U
#define MSR_BITMAP_RANGE      0x2000U

/* Sets (exit) or clears (pass) the read and write bits of msr in a 4 KiB
 * bitmap (SDM 25.6.9). MSRs outside both ranges always exit. */
void msr_bitmap_set(uint8_t *bitmap, uint32_t msr, bool read_exits, bool write_exits);
bool msr_bitmap_exits(const uint8_t *bitmap, uint32_t msr, bool write);
/* Fills L1's bitmap: everything exits except the pass-through list. */
void msr_bitmap_build_l1(uint8_t *bitmap);
bool msr_is_passthrough(uint32_t msr);

/* The emulation behind RDMSR/WRMSR exits. False means #GP. */
bool msr_emulate_read(struct vm *vm, uint32_t msr, uint64_t *value);
bool msr_emulate_write(struct vm *vm, uint32_t msr, uint64_t value);

void handle_rdmsr(struct vcpu *v);
void handle_wrmsr(struct vcpu *v);

#endif
