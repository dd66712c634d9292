/* Self-tests selected by "selftest=NAME" on the kernel command line; the
 * Bochs test rig uses them to prove L0's own error paths. */
#ifndef VMM_SELFTEST_H
#define VMM_SELFTEST_H

#include <stdbool.h>

/* Runs the named test if it is one of the early ones (before VMX). Returns
 * true if it ran to completion (the caller powers off); tests that prove a
 * crash path do not return. */
bool selftest_run_early(const char *name);

#endif
