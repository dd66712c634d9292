/* TSC frequency: measured against a timer of known rate (the ACPI PM timer,
 * else the PIT) and compared with what CPUID 0x15/0x16 claims. Emulators
 * claim what the modelled CPU would have (Bochs tigerlake: 2.4 GHz) while
 * their TSC counts instructions; the measurement wins when they disagree. */
#ifndef DRIVERS_TSC_H
#define DRIVERS_TSC_H

#include <stdbool.h>
#include <stdint.h>

#define TSC_AGREEMENT_PERCENT 2 /* CPUID within this of the measurement: trusted */

struct tsc_info {
    uint64_t hz;          /* the frequency nestvisor uses */
    uint64_t cpuid_hz;    /* what CPUID 0x15 (else 0x16) says; 0: nothing */
    uint64_t measured_hz; /* 0: no timer to measure against */
    const char *source;   /* where hz came from */
    const char *timer;    /* what measured_hz was measured against */
    bool cpuid_trusted;   /* CPUID agrees with the measurement */
};

/* pm_timer_port: the FADT's PM_TMR_BLK (0: none), 32 bits wide or 24. */
void tsc_init(struct tsc_info *out, uint16_t pm_timer_port, bool pm_timer_32bit);
/* The pure decision, for tests: which frequency to use given both. */
void tsc_choose(struct tsc_info *t);
uint64_t tsc_hz(void);
/* Busy-waits using the TSC (needs tsc_init). */
void tsc_delay_us(uint64_t us);

#endif
