/* io: the serial port passes through without I/O exits (reason 30). */
#include "guest.h"

const char guest_name[] = "io";

#define COM1_LSR (COM1_PORT + 5)
#define COM1_SCR (COM1_PORT + 7)

static bool io_exits(uint64_t *count)
{
    return nv_exit_stats(EXIT_REASON_IO, NV_LEVEL_L1, count, NULL);
}

void guest_main(uint32_t magic, uint32_t info)
{
    (void)magic, (void)info;
    uint64_t before = 0, after = 0;

    /* A whole line written with OUT instructions, not through the console. */
    console_flush();
    bool have = io_exits(&before);
    static const char msg[] = "io: this line was written to COM1 with port I/O\n";
    com1_write(msg, sizeof msg - 1);
    com1_drain();
    have = have && io_exits(&after);
    if (!have)
        fail("com1_write_no_exits", "no exit statistics (nestvisor absent)");
    else
        check(after == before, "com1_write_no_exits",
              "I/O exit count went from %lu to %lu over %zu bytes", before, after,
              sizeof msg - 1);

    /* LSR and the scratch register: real device state, no exits. */
    console_flush();
    com1_drain(); /* nothing in flight: THRE and TEMT must both be set */
    have = io_exits(&before);
    uint8_t lsr = inb(COM1_LSR);
    uint8_t saved = inb(COM1_SCR);
    outb(COM1_SCR, 0x5a);
    uint8_t r1 = inb(COM1_SCR);
    outb(COM1_SCR, 0xa5);
    uint8_t r2 = inb(COM1_SCR);
    outb(COM1_SCR, saved);
    have = have && io_exits(&after);

    check(lsr != 0xff && (lsr & 0x60) == 0x60, "lsr",
          "LSR %#x after draining: expected THRE and TEMT set, not 0xff", lsr);
    check(r1 == 0x5a && r2 == 0xa5, "scratch", "scratch register read back %#x, %#x (wrote 0x5a, 0xa5)",
          r1, r2);
    if (!have)
        fail("registers_no_exits", "no exit statistics (nestvisor absent)");
    else
        check(after == before, "registers_no_exits", "I/O exit count went from %lu to %lu", before,
              after);
}
