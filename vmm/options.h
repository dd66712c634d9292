/* nestvisor's kernel command-line options (docs/config.md lists them). */
#ifndef VMM_OPTIONS_H
#define VMM_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "lib/log.h"

#define OPTION_VALUE_MAX 64

struct nv_options {
    uint16_t serial_port; /* 0: off */
    uint32_t baud;
    bool e9;
    enum log_level log_level;
    bool vmxcaps;         /* print the capability table */
    uint64_t l0mem;       /* nestvisor's pool besides guest images */
    bool power_halt;      /* stop without powering off */
    char selftest[OPTION_VALUE_MAX];
    /* L1 (docs/l1-platform.md). */
    bool nested;          /* expose VMX to L1 */
    bool shadow;          /* VMCS shadowing for L1's VMREAD/VMWRITE */
    bool apicv;           /* offer L1 APIC virtualization for L2 */
    bool hlt_exit;        /* HLT exits instead of halting natively */
    bool hidden_stop;     /* stop L1 on access to nestvisor memory (else discard) */
    unsigned cpus;        /* CPUs L1 gets (0: all); the rest nestvisor holds */
    bool icr_watch_always; /* icrwatch=always: see L1's INIT/SIPI at all times */
    /* Set for each option whose value could not be parsed (reported, then
     * the default is kept). */
    char bad[OPTION_VALUE_MAX * 2];
};

void options_parse(const char *cmdline, struct nv_options *o);

#endif
