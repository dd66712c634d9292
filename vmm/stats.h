/* Exit statistics: counted on the exit path (one increment and one TSC
 * delta per exit), printed at power-off. */
#ifndef VMM_STATS_H
#define VMM_STATS_H

#include <stdint.h>
#include "vmm/vcpu.h"

const char *exit_reason_name(unsigned reason);
void stats_print(const struct exit_stats *s);
struct vm;
/* Every vCPU's statistics summed (and the exits per CPU when L1 has
 * several); read after the other CPUs stopped (smp_stop_others). */
void stats_print_vm(const struct vm *vm);
/* For NV_HC_EXIT_STATS: reason may be NV_EXIT_REASON_ALL. */
void stats_query(const struct exit_stats *s, unsigned level, unsigned reason, uint64_t *count,
                 uint64_t *ticks);

#endif
