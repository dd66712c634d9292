/* One vCPU's shadow EPTs and bitmap cache, for the tests that drive
 * vmm/nested/ept02.c and bitmaps.c directly (per vCPU in the kernel, in
 * struct nested_vmx), and smp.c's EPT01 flush as one CPU does it: INVEPT
 * of EPT01 and dropping its shadows. Include after `struct vm the_vm;`. */
#ifndef TESTS_UNIT_EPT02_FIXTURE_H
#define TESTS_UNIT_EPT02_FIXTURE_H

#include "vmm/nested/bitmaps.h"
#include "vmm/nested/ept02.h"
#include "vmm/smp.h"
#include "arch/x86/vmx.h"
#include "arch/x86/vmx_bits.h"

/* A fuzzer that counts INVEPTs names its wrapper here. */
#ifndef EPT02_FIXTURE_INVEPT
#define EPT02_FIXTURE_INVEPT invept
#endif

static struct ept02 E2;
static __attribute__((unused)) struct nested_bitmaps BM;
static unsigned smp_flushes; /* smp_invept01_everywhere calls */

void smp_invept01_everywhere(void)
{
    smp_flushes++;
    EPT02_FIXTURE_INVEPT(INVEPT_SINGLE_CONTEXT, the_vm.eptp01);
    ept02_flush_all(&E2);
}

/* One CPU: no other runs L2. */
void smp_nudge_l2_cpus(const struct vcpu *self) { (void)self; }

#endif
