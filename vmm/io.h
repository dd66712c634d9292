/* L1's I/O ports: all pass through except the few nestvisor must see
 * (docs/l1-platform.md). */
#ifndef VMM_IO_H
#define VMM_IO_H

#include <stdbool.h>
#include <stdint.h>

struct vm;
struct vcpu;

#define IO_BITMAP_PORTS_PER_PAGE 0x8000U

/* Marks a port range as exiting in bitmaps A (0-0x7fff) and B (0x8000-). */
void io_bitmap_trap(uint8_t *a, uint8_t *b, uint16_t port, unsigned count);
bool io_bitmap_exits(const uint8_t *a, const uint8_t *b, uint16_t port);
void io_bitmaps_build_l1(struct vm *vm, uint8_t *a, uint8_t *b);

/* What an OUT to a trapped port means for L1's life. */
enum io_event { IO_EVENT_NONE, IO_EVENT_POWER_OFF, IO_EVENT_RESET };

/* The multi-write sequences in flight: the bytes of "Shutdown" at the Bochs
 * port, and the keyboard controller's "write output port" command (0D1H at
 * 64H) whose data byte at 60H comes next. */
struct io_sequences {
    unsigned shutdown_progress;
    bool kbc_output_port_next;
};

enum io_event io_classify_out(const struct vm *vm, uint16_t port, unsigned size, uint32_t value,
                              struct io_sequences *seq);

void handle_io(struct vcpu *v);

#endif
