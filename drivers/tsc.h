/* TSC frequency: CPUID 0x15/0x16 where present, else PIT calibration. */
#ifndef DRIVERS_TSC_H
#define DRIVERS_TSC_H

#include <stdint.h>

struct tsc_info {
    uint64_t hz;
    const char *source;
};

void tsc_init(struct tsc_info *out);
/* Busy-waits using the TSC (needs tsc_init). */
void tsc_delay_us(uint64_t us);

#endif
