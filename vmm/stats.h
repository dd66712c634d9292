/* Exit statistics: counted on the exit path (one increment and one TSC
 * delta per exit), printed at power-off. */
#ifndef VMM_STATS_H
#define VMM_STATS_H

#include <stdint.h>
#include "vmm/vcpu.h"

const char *exit_reason_name(unsigned reason);
void stats_print(const struct exit_stats *s);
/* For NV_HC_EXIT_STATS: reason may be NV_EXIT_REASON_ALL. */
void stats_query(const struct exit_stats *s, unsigned level, unsigned reason, uint64_t *count,
                 uint64_t *ticks);

#endif
