/* msr: the MSR policy of docs/l1-platform.md. Pass-through MSRs cost no
 * RDMSR/WRMSR exits (reasons 31/32); FEATURE_CONTROL and the VMX MSRs follow
 * nested=; unknown MSRs #GP; MTRR writes land in an emulated copy.
 * Options: nested=0|1 (default 0). */
#include "guest.h"

const char guest_name[] = "msr";

static bool nested;

struct pt_msr {
    const char *name;
    uint32_t msr;
    uint64_t test;   /* value written (and expected back) */
    bool write;      /* false: read only */
    /* results */
    bool skipped;
    int fault;
    uint64_t orig, got;
};

static struct pt_msr pt[] = {
    {.name = "fs_base", .msr = MSR_FS_BASE, .test = 0x0000123456789000ULL, .write = true},
    {.name = "gs_base", .msr = MSR_GS_BASE, .test = 0x0000234567891000ULL, .write = true},
    {.name = "kernel_gs_base", .msr = MSR_KERNEL_GS_BASE, .test = 0xffff800012345000ULL, .write = true},
    {.name = "star", .msr = MSR_STAR, .test = 0x0023001000000000ULL, .write = true},
    {.name = "lstar", .msr = MSR_LSTAR, .test = 0xffffffff81000000ULL, .write = true},
    {.name = "cstar", .msr = MSR_CSTAR, .test = 0xffffffff81000100ULL, .write = true},
    {.name = "fmask", .msr = MSR_FMASK, .test = 0x0000000000047700ULL, .write = true},
    {.name = "sysenter_cs", .msr = MSR_SYSENTER_CS, .test = 0x10, .write = true},
    {.name = "sysenter_esp", .msr = MSR_SYSENTER_ESP, .test = 0xffff880000001000ULL, .write = true},
    {.name = "sysenter_eip", .msr = MSR_SYSENTER_EIP, .test = 0xffffffff81000200ULL, .write = true},
    {.name = "tsc_aux", .msr = MSR_TSC_AUX, .test = 0x12345, .write = true},
    {.name = "pat", .msr = MSR_PAT, .test = 0x0007010600070406ULL, .write = true},
    {.name = "efer", .msr = MSR_EFER, .test = 0, .write = false},
    {.name = "tsc", .msr = MSR_TSC, .test = 0, .write = false},
};

static bool stats(uint64_t *rd, uint64_t *wr)
{
    return nv_exit_stats(EXIT_REASON_RDMSR, NV_LEVEL_L1, rd, NULL) &&
           nv_exit_stats(EXIT_REASON_WRMSR, NV_LEVEL_L1, wr, NULL);
}

static void passthrough(void)
{
    bool rdtscp = cpu_has_rdtscp;
    uint64_t rd0 = 0, wr0 = 0, rd1 = 0, wr1 = 0;
    console_flush();
    bool have = stats(&rd0, &wr0);
    /* The measured block: only pass-through MSR accesses, no output. */
    for (size_t i = 0; i < ARRAY_SIZE(pt); i++) {
        struct pt_msr *m = &pt[i];
        if (m->msr == MSR_TSC_AUX && !rdtscp) {
            m->skipped = true;
            continue;
        }
        m->fault = rdmsr_safe(m->msr, &m->orig);
        if (m->fault != NO_FAULT)
            continue;
        if (!m->write) {
            m->got = m->orig;
            continue;
        }
        m->fault = wrmsr_safe(m->msr, m->test);
        if (m->fault == NO_FAULT)
            m->fault = rdmsr_safe(m->msr, &m->got);
        wrmsr_safe(m->msr, m->orig);
    }
    have = have && stats(&rd1, &wr1);

    for (size_t i = 0; i < ARRAY_SIZE(pt); i++) {
        struct pt_msr *m = &pt[i];
        char name[40];
        snprintf(name, sizeof name, "%s_%s", m->name, m->write ? "rw" : "read");
        if (m->skipped) {
            skip(name, "not supported by this CPU");
        } else if (m->fault != NO_FAULT) {
            fail(name, "MSR %#x: %s", m->msr, vector_name(m->fault));
        } else if (m->msr == MSR_EFER) {
            /* LME (8) and LMA (10): we are in long mode. */
            check((m->got & 0x500) == 0x500, name, "EFER %#lx lacks LME/LMA", m->got);
        } else if (m->write) {
            check(m->got == m->test, name, "MSR %#x: wrote %#lx, read back %#lx", m->msr, m->test,
                  m->got);
        } else {
            pass(name);
        }
    }
    if (!have)
        fail("passthrough_no_exits", "no exit statistics (nestvisor absent)");
    else
        check(rd1 == rd0 && wr1 == wr0, "passthrough_no_exits",
              "RDMSR exits %lu -> %lu, WRMSR exits %lu -> %lu", rd0, rd1, wr0, wr1);
}

static void feature_control(void)
{
    uint64_t v = 0;
    int f = rdmsr_safe(MSR_FEATURE_CONTROL, &v);
    if (f != NO_FAULT) {
        fail("feature_control_read", "RDMSR 0x3a: %s", vector_name(f));
        return;
    }
    check((v & 1) && !!(v & 4) == nested, "feature_control_read",
          "IA32_FEATURE_CONTROL %#lx: want lock (bit 0) set and VMX-outside-SMX (bit 2) = %d", v,
          nested);
    f = wrmsr_safe(MSR_FEATURE_CONTROL, v);
    check(f == VEC_GP, "feature_control_write_gp", "WRMSR 0x3a (same value %#lx): %s", v,
          vector_name(f));
}

static void vmx_msrs(void)
{
    uint64_t v = 0;
    int f = rdmsr_safe(MSR_VMX_BASIC, &v);
    if (!nested) {
        check(f == VEC_GP, "vmx_basic", "RDMSR IA32_VMX_BASIC with nested=0: %s (value %#lx)",
              vector_name(f), v);
        unsigned readable = 0;
        uint32_t first = 0;
        for (uint32_t m = 0x480; m <= 0x492; m++) {
            if (rdmsr_safe(m, &v) != VEC_GP && !readable++)
                first = m;
        }
        check(!readable, "vmx_msrs_gp", "%u of the VMX MSRs 0x480-0x492 readable, first %#x",
              readable, first);
    } else {
        uint32_t rev = (uint32_t)v & 0x7fffffff;
        check(f == NO_FAULT && rev && !(v & (1ULL << 31)), "vmx_basic",
              "RDMSR IA32_VMX_BASIC with nested=1: %s, value %#lx", vector_name(f), v);
        f = wrmsr_safe(MSR_VMX_BASIC, v);
        check(f == VEC_GP, "vmx_basic_write_gp", "WRMSR IA32_VMX_BASIC: %s", vector_name(f));
    }
}

static void nonexistent(void)
{
    static const uint32_t bogus[] = {0x12345678, 0xc0001234};
    for (size_t i = 0; i < ARRAY_SIZE(bogus); i++) {
        uint64_t v = 0;
        char name[40];
        int f = rdmsr_safe(bogus[i], &v);
        snprintf(name, sizeof name, "bogus_%x_read_gp", bogus[i]);
        check(f == VEC_GP, name, "RDMSR %#x: %s (value %#lx)", bogus[i], vector_name(f), v);
        f = wrmsr_safe(bogus[i], 0);
        snprintf(name, sizeof name, "bogus_%x_write_gp", bogus[i]);
        check(f == VEC_GP, name, "WRMSR %#x: %s", bogus[i], vector_name(f));
    }
}

static void mtrr(void)
{
    uint64_t cap = 0, def = 0, got = 0;
    int f = rdmsr_safe(MSR_MTRRCAP, &cap);
    check(f == NO_FAULT, "mtrrcap_read", "RDMSR MTRRCAP: %s", vector_name(f));
    if (f == NO_FAULT)
        printf("msr: MTRRCAP %#lx (%lu variable ranges)\n", cap, cap & 0xff);

    f = rdmsr_safe(MSR_MTRR_DEF_TYPE, &def);
    if (f != NO_FAULT) {
        fail("mtrr_def_type_rw", "RDMSR MTRR_DEF_TYPE: %s", vector_name(f));
    } else {
        uint64_t want = def ^ (1 << 10); /* toggle FE (fixed ranges enable) */
        f = wrmsr_safe(MSR_MTRR_DEF_TYPE, want);
        if (f == NO_FAULT)
            f = rdmsr_safe(MSR_MTRR_DEF_TYPE, &got);
        wrmsr_safe(MSR_MTRR_DEF_TYPE, def);
        check(f == NO_FAULT && got == want, "mtrr_def_type_rw",
              "MTRR_DEF_TYPE %#lx: wrote %#lx, got %#lx (%s)", def, want, got, vector_name(f));
    }

    /* A variable range that is not in use (PHYSMASK.V clear), so that even on
     * bare metal the write changes no memory type. */
    unsigned n = (unsigned)(cap & 0xff);
    for (unsigned i = 0; i < n; i++) {
        uint64_t base = 0, mask = 0;
        if (rdmsr_safe(0x200 + 2 * i, &base) != NO_FAULT ||
            rdmsr_safe(0x201 + 2 * i, &mask) != NO_FAULT || (mask & (1 << 11)))
            continue;
        uint64_t want = 0x10000006; /* 256 MiB, WB */
        f = wrmsr_safe(0x200 + 2 * i, want);
        got = 0;
        if (f == NO_FAULT)
            f = rdmsr_safe(0x200 + 2 * i, &got);
        wrmsr_safe(0x200 + 2 * i, base);
        check(f == NO_FAULT && got == want, "mtrr_physbase_rw",
              "MTRR_PHYSBASE%u: wrote %#lx, got %#lx (%s)", i, want, got, vector_name(f));
        return;
    }
    skip("mtrr_physbase_rw", "no unused variable MTRR");
}

/* An MSR outside every list: readable (the hardware has it), not writable. */
static void unknown_readable(void)
{
    static const uint32_t candidates[] = {
        0x179 /* MCG_CAP */, 0xce /* PLATFORM_INFO */, 0x1a2 /* TEMPERATURE_TARGET */,
        0x35 /* CORE_THREAD_COUNT */,
    };
    for (size_t i = 0; i < ARRAY_SIZE(candidates); i++) {
        uint64_t v;
        if (rdmsr_safe(candidates[i], &v) != NO_FAULT)
            continue;
        int f = wrmsr_safe(candidates[i], v); /* same value: harmless if it is accepted */
        check(f == VEC_GP, "unlisted_write_gp", "WRMSR %#x (readable, value %#lx): %s",
              candidates[i], v, vector_name(f));
        return;
    }
    skip("unlisted_write_gp", "none of the candidate MSRs is readable");
}

void guest_main(uint32_t magic, uint32_t info)
{
    (void)magic, (void)info;
    nested = opt_nested();
    passthrough();
    feature_control();
    vmx_msrs();
    nonexistent();
    mtrr();
    unknown_readable();
}
