/* cpuid: the CPUID filter of docs/l1-platform.md, the hypervisor leaves of
 * docs/hypercalls.md, and the CPUID exit count (exit reason 10).
 * Options: nested=0|1 (default 0). */
#include "guest.h"

const char guest_name[] = "cpuid";

static bool nested;

static bool all_zero(struct cpuid_regs r)
{
    return !(r.eax | r.ebx | r.ecx | r.edx);
}

#define REGS_FMT "eax %#x ebx %#x ecx %#x edx %#x"
#define REGS(r) (r).eax, (r).ebx, (r).ecx, (r).edx

static void leaf1(void)
{
    uint32_t ecx = cpuid(1).ecx;
    check(ecx & CPUID1_ECX_HYPERVISOR, "hypervisor_bit", "CPUID.1:ECX %#x: bit 31 clear", ecx);
    check(!!(ecx & CPUID1_ECX_VMX) == nested, "vmx_bit", "CPUID.1:ECX.VMX = %d with nested=%d",
          !!(ecx & CPUID1_ECX_VMX), nested);
    check(!(ecx & CPUID1_ECX_SMX), "smx_clear", "CPUID.1:ECX.SMX set");
}

static bool osxsave_matches(const char *when)
{
    bool bit = cpuid(1).ecx & CPUID1_ECX_OSXSAVE;
    bool cr4 = read_cr4() & CR4_OSXSAVE;
    if (bit != cr4)
        printf("cpuid: %s: CPUID.1:ECX.OSXSAVE=%d but CR4.OSXSAVE=%d\n", when, bit, cr4);
    return bit == cr4;
}

static void osxsave(void)
{
    bool ok = osxsave_matches("initially");
    if (!(cpuid(1).ecx & CPUID1_ECX_XSAVE)) {
        check(ok, "osxsave_mirror", "OSXSAVE does not mirror CR4 (no XSAVE: not toggled)");
        return;
    }
    uint64_t cr4 = read_cr4();
    int v = write_cr4_safe(cr4 | CR4_OSXSAVE);
    if (v != NO_FAULT) {
        fail("osxsave_mirror", "setting CR4.OSXSAVE raised %s", vector_name(v));
        return;
    }
    ok &= osxsave_matches("after setting CR4.OSXSAVE");
    ok &= (cpuid(1).ecx & CPUID1_ECX_OSXSAVE) != 0;
    v = write_cr4_safe(cr4 & ~CR4_OSXSAVE);
    ok &= v == NO_FAULT && osxsave_matches("after clearing CR4.OSXSAVE");
    ok &= (cpuid(1).ecx & CPUID1_ECX_OSXSAVE) == 0;
    write_cr4(cr4);
    ok &= osxsave_matches("restored");
    check(ok, "osxsave_mirror", "CPUID.1:ECX.OSXSAVE does not follow CR4.OSXSAVE");
}

static void filtered_leaves(uint32_t max_basic)
{
    if (max_basic < 7) {
        skip("waitpkg_clear", "max basic leaf %#x < 7", max_basic);
    } else {
        uint32_t ecx = cpuid2(7, 0).ecx;
        check(!(ecx & CPUID7_ECX_WAITPKG), "waitpkg_clear", "CPUID.7.0:ECX %#x has WAITPKG", ecx);
    }
    if (max_basic < 0xa) {
        skip("leaf_0a_zero", "max basic leaf %#x < 0xa", max_basic);
    } else {
        struct cpuid_regs r = cpuid(0xa);
        check(all_zero(r), "leaf_0a_zero", "CPUID.0xA: " REGS_FMT, REGS(r));
    }
    if (max_basic < 0x14) {
        skip("leaf_14_zero", "max basic leaf %#x < 0x14", max_basic);
    } else {
        struct cpuid_regs r0 = cpuid2(0x14, 0), r1 = cpuid2(0x14, 1);
        check(all_zero(r0) && all_zero(r1), "leaf_14_zero",
              "CPUID.0x14.0: " REGS_FMT "; .1: " REGS_FMT, REGS(r0), REGS(r1));
    }
}

static void hypervisor_leaves(void)
{
    struct cpuid_regs r = cpuid(0x40000000);
    bool sig = check(r.eax == 0x40000001 && r.ebx == NV_CPUID_SIGNATURE_EBX &&
              r.ecx == NV_CPUID_SIGNATURE_ECX && r.edx == NV_CPUID_SIGNATURE_EDX,
          "hv_signature", "CPUID.0x40000000: " REGS_FMT " (expected max leaf 0x40000001, \"nestvisor\")",
          REGS(r));

    struct cpuid_regs f = cpuid(0x40000001);
    uint32_t known = NV_FEATURE_NESTED | NV_FEATURE_SHADOW;
    check(f.eax == NV_ABI_VERSION, "hv_abi_version", "CPUID.0x40000001:EAX %#x, expected %#x",
          f.eax, NV_ABI_VERSION);
    check(sig && !!(f.ebx & NV_FEATURE_NESTED) == nested && !(f.ebx & ~known) &&
              (nested || !(f.ebx & NV_FEATURE_SHADOW)),
          "hv_features", "CPUID.0x40000001:EBX %#x with nested=%d%s", f.ebx, nested,
          sig ? "" : " (no nestvisor signature)");

    uint32_t bad = 0, n_bad = 0;
    struct cpuid_regs first_bad = {0, 0, 0, 0};
    for (uint32_t leaf = 0x40000002; leaf <= 0x400000ff; leaf++) {
        struct cpuid_regs x = cpuid(leaf);
        if (!all_zero(x)) {
            if (!n_bad++) {
                bad = leaf;
                first_bad = x;
            }
        }
    }
    check(!n_bad, "hv_range_zero", "%u leaves in 0x40000002-0x400000ff not zero, first %#x: " REGS_FMT,
          n_bad, bad, REGS(first_bad));

    if (!nv_present) {
        fail("hv_version_hypercall", "nestvisor absent");
        fail("hv_unknown_hypercall", "nestvisor absent");
        return;
    }
    uint64_t b = 0, c = 0;
    int64_t st = nv_hypercall(NV_HC_VERSION, &b, &c, 0);
    check(st == NV_OK && b == NV_ABI_VERSION && c == f.ebx, "hv_version_hypercall",
          "NV_HC_VERSION: status %ld, RBX %#lx, RCX %#lx (CPUID says ABI %#x, features %#x)", st, b,
          c, f.eax, f.ebx);
    b = c = 0;
    st = nv_hypercall(0x7fff1234, &b, &c, 0);
    check(st == NV_EUNKNOWN, "hv_unknown_hypercall", "unknown function returned %ld, expected %d",
          st, NV_EUNKNOWN);
}

static bool printable(const char *s, size_t n)
{
    size_t len = strnlen(s, n);
    if (!len)
        return false;
    for (size_t i = 0; i < len; i++)
        if (s[i] < 0x20 || s[i] > 0x7e)
            return false;
    return true;
}

/* Passed-through leaves: the host's values are unknown, so only check that
 * they are plausible for the Intel CPU VMX needs. */
static void passthrough(uint32_t max_basic)
{
    struct cpuid_regs r = cpuid(0);
    char vendor[13];
    memcpy(vendor, &r.ebx, 4);
    memcpy(vendor + 4, &r.edx, 4);
    memcpy(vendor + 8, &r.ecx, 4);
    vendor[12] = 0;
    check(!strcmp(vendor, "GenuineIntel") && max_basic >= 0xb, "vendor",
          "CPUID.0: vendor \"%s\", max basic leaf %#x", vendor, max_basic);

    uint32_t max_ext = cpuid(0x80000000).eax;
    if (max_ext < 0x80000004) {
        fail("brand_string", "max extended leaf %#x < 0x80000004", max_ext);
        return;
    }
    char brand[49];
    for (uint32_t i = 0; i < 3; i++) {
        struct cpuid_regs b = cpuid(0x80000002 + i);
        memcpy(brand + 16 * i, &b, 16);
    }
    brand[48] = 0;
    const char *p = brand;
    while (*p == ' ')
        p++;
    if (check(printable(p, 48), "brand_string", "brand string not printable ASCII"))
        printf("cpuid: brand \"%s\", max ext leaf %#x\n", p, max_ext);
}

/* CPUID always exits: the L1 CPUID exit count must go up by exactly the
 * number executed in between. */
static void exit_count(void)
{
    enum { N = 64 };
    uint64_t c0, c1, t0, t1;
    console_flush();
    if (!nv_exit_stats(EXIT_REASON_CPUID, NV_LEVEL_L1, &c0, &t0)) {
        fail("exit_count", "no exit statistics (nestvisor absent)");
        return;
    }
    for (uint32_t i = 0; i < N; i++)
        (void)cpuid(i & 7 ? i & 7 : 0x40000000); /* volatile asm: each one executes */
    if (!nv_exit_stats(EXIT_REASON_CPUID, NV_LEVEL_L1, &c1, &t1)) {
        fail("exit_count", "NV_HC_EXIT_STATS failed");
        return;
    }
    check(c1 - c0 == N && t1 > t0, "exit_count",
          "CPUID exits went from %lu to %lu (+%lu) for %d CPUIDs; L0 ticks %lu -> %lu", c0, c1,
          c1 - c0, N, t0, t1);
    printf("cpuid: %d CPUID exits cost L0 %lu ticks (%lu per exit)\n", N, t1 - t0,
           (t1 - t0) / N);
}

void guest_main(uint32_t magic, uint32_t info)
{
    (void)magic, (void)info;
    nested = opt_nested();
    uint32_t max_basic = cpuid(0).eax;
    leaf1();
    osxsave();
    filtered_leaves(max_basic);
    hypervisor_leaves();
    passthrough(max_basic);
    exit_count();
}
