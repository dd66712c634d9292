/* unit-srcs: vmm/nested/vmx_insn.c vmm/nested/operand.c vmm/nested/shadow.c vmm/nested/fieldsets.c vmm/nested/vmcs12.c vmm/nested/vmx_msrs.c vmm/nested/vmcs02.c vmm/nested/entry.c vmm/nested/checks.c vmm/nested/checks_guest.c vmm/nested/msrlist.c vmm/nested/vmexit.c vmm/nested/nested.c vmm/nested/eptfeat.c vmm/nested/reflect.c vmm/nested/shadow12.c vmm/nested/ept02.c vmm/nested/ept12.c vmm/nested/bitmaps.c vmm/ept.c vmm/pmm.c vmm/msr.c vmm/mtrr.c vmm/memmap.c vmm/vcpu.c vmm/l1ram.c vmm/io.c vmm/gva.c vmm/l1view.c arch/x86/vmx_root.c arch/x86/vmx_caps.c tests/unit/fake_vmx.c tests/unit/fake_ipi.c */
/* vmcs12 migration between vCPUs: what KVM (L1) does whenever its
 * scheduler moves a vCPU thread to another CPU: VMCLEAR of vmcs12 X on
 * CPU A, then VMPTRLD X and VMLAUNCH (later VMRESUME) on CPU B. Each vCPU
 * has its own nested state (current vmcs12 and its L0-side cache, shadow
 * VMCS, vmcs02), so X's data must travel through X's region in L1 memory
 * exactly as the SDM describes for a real CPU:
 *   25.11.1  "No VMCS should ever be active on more than one logical
 *            processor. If a VMCS is to be migrated from one logical
 *            processor to another, the first logical processor should
 *            execute VMCLEAR for the VMCS (to make it inactive on that
 *            logical processor and to ensure that all VMCS data are in
 *            memory) before the other logical processor executes VMPTRLD".
 *            A VMCS active on two processors "may become corrupted": the
 *            data are undefined, but L0's own state must not be.
 *   25.11.3  VMLAUNCH needs launch state "clear", VMRESUME "launched";
 *            a successful VMLAUNCH makes it "launched"; VMCLEAR X makes it
 *            "clear" (and nothing else changes it).
 *   ch. 31   VMCLEAR: "ensure that data for VMCS referenced by the operand
 *            is in memory; ... launch state := clear; IF operand addr =
 *            current-VMCS pointer THEN current-VMCS pointer := FFFFFFFF_
 *            FFFFFFFFH". VMPTRST stores the (per-processor) current-VMCS
 *            pointer. VMLAUNCH with a non-clear VMCS: VMfailValid(4);
 *            VMRESUME with a non-launched VMCS: VMfailValid(5). VMREAD/
 *            VMWRITE without a current VMCS: VMfailInvalid.
 * Every test runs twice: with hardware VMCS shadowing backing L1's
 * VMREAD/VMWRITE of the hot fields (the CPU's part played by the fixture
 * from vmcs01's bitmaps and link pointer) and without. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "vmm/nested/nested.h"
#include "vmm/vm.h"

struct vm the_vm;
#include "tests/unit/nested_smp_fixture.h"

#define CPU_A 0
#define CPU_B 1
#define CPU_C 2
#define NCPUS 3
#define X L1_VMCS12(0)
#define Y L1_VMCS12(1)
#define Z L1_VMCS12(2)
#define NO_CURRENT (~0ULL) /* what VMPTRST stores without a current VMCS */
#define MIGRATIONS 48
#define L2_RIP_1  0xffffffff80002000ULL /* where L2 stands when it exits */
#define L2_RIP_2  0xffffffff80003000ULL
#define L2_ES_SEL 0x28 /* an L2 selector (RPL 0 = the data segment's DPL, SDM 26.3.1.2) */
#define WRITE_SKIP_EVERY 3 /* migrations rewrite all but every third field */
#define PATTERN_MUL 0x9e3779b97f4a7c15ULL
#define PATTERN_ROUND_SHIFT 40

struct mode {
    bool shadow;
};
static const struct mode with_shadowing = {true}, without_shadowing = {false};
static uint64_t expect_x[VMCS_FIELD_COUNT], expect_y[VMCS_FIELD_COUNT];

static int setup(void **state)
{
    const struct mode *m = *state;
    smp_machine_init(NCPUS, m->shadow);
    uint32_t rev = nested_vmx_caps()->revision_id;
    for (unsigned c = 0; c < NCPUS; c++) {
        *(uint32_t *)phys_to_virt(L1_VMXON(c)) = rev;
        assert_int_equal(l1_ptr_insn(c, EXIT_REASON_VMXON, L1_VMXON(c)), VMX_OK);
        assert_int_equal(VCPU(c)->nested->shadow_enabled, m->shadow);
    }
    /* L1 writes the revision identifier before VMPTRLD (SDM 25.2). */
    *(uint32_t *)phys_to_virt(X) = rev;
    *(uint32_t *)phys_to_virt(Y) = rev;
    *(uint32_t *)phys_to_virt(Z) = rev;
    memset(expect_x, 0, sizeof(expect_x));
    memset(expect_y, 0, sizeof(expect_y));
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    nested_bitmaps_unprotect_all();
    return 0;
}

static uint64_t stored(unsigned i, uint64_t value) { return value & vmcs_width_mask(vmcs12_fields[i].encoding); }
/* A value per field and round, all bits in play. */
static uint64_t pattern(unsigned i, unsigned round)
{
    return PATTERN_MUL * (i + 1) ^ ((uint64_t)round << PATTERN_ROUND_SHIFT | round);
}

/* Every field L1 can read has the value expected. */
static void expect_fields(unsigned c, const uint64_t *expect, const char *when)
{
    for (unsigned i = 0; i < VMCS_FIELD_COUNT; i++) {
        if (!l1_readable(i))
            continue;
        uint64_t v = 0;
        assert_int_equal(l1_vmread(c, vmcs12_fields[i].encoding, &v), VMX_OK);
        if (v != expect[i])
            fail_msg("%s: cpu%u reads field 0x%04x as 0x%llx, expected 0x%llx", when, c, vmcs12_fields[i].encoding,
                     (unsigned long long)v, (unsigned long long)expect[i]);
    }
}

/* L1 writes pattern round into the writable fields picked by `every`
 * (0: all) on CPU c, and the expectation follows. */
static void write_fields(unsigned c, uint64_t *expect, unsigned round, unsigned every)
{
    for (unsigned i = 0; i < VMCS_FIELD_COUNT; i++) {
        if (!l1_writable(i) || (every && (i + round) % every == 0))
            continue;
        assert_int_equal(l1_vmwrite(c, vmcs12_fields[i].encoding, pattern(i, round)), VMX_OK);
        expect[i] = stored(i, pattern(i, round));
    }
}

static void expect_vmfail_valid(unsigned c, enum l1_result r, uint64_t error)
{
    assert_int_equal(r, VMX_FAIL_VALID);
    assert_int_equal(l1_vm_error(c), error);
}

/* ---- VMCLEAR on A puts everything in memory; VMPTRLD on B finds it ---- */

static void test_vmclear_then_vmptrld_on_another_cpu(void **state)
{
    const struct mode *m = *state;
    /* KVM's vmcs12 life: VMCLEAR of a fresh region, VMPTRLD, VMWRITEs. */
    assert_int_equal(l1_ptr_insn(CPU_A, EXIT_REASON_VMCLEAR, X), VMX_OK);
    assert_int_equal(l1_ptr_insn(CPU_A, EXIT_REASON_VMPTRLD, X), VMX_OK);
    write_fields(CPU_A, expect_x, 1, 0);
    /* With shadowing, the hot fields went to A's shadow VMCS and nowhere
     * else: VMCLEAR is what must bring them into memory. */
    assert_int_equal(smp_l1.shadow_writes > 0, m->shadow);
    assert_int_equal(l1_vmptrst(CPU_A), X);
    assert_int_equal(l1_vmptrst(CPU_B), NO_CURRENT);

    /* VMCLEAR: data in memory (in nestvisor's layout of the region,
     * vmcs12.h), launch state clear, no current VMCS on A (VMREAD then
     * fails invalid, SDM ch. 31 VMREAD). */
    assert_int_equal(l1_ptr_insn(CPU_A, EXIT_REASON_VMCLEAR, X), VMX_OK);
    assert_int_equal(l1_vmptrst(CPU_A), NO_CURRENT);
    uint64_t v;
    assert_int_equal(l1_vmread(CPU_A, VMCS_GUEST_RIP, &v), VMX_FAIL_INVALID);
    assert_int_equal(l1_vmread(CPU_A, VMCS_GUEST_ES_BASE, &v), VMX_FAIL_INVALID);
    const struct vmcs12 *r = phys_to_virt(X);
    assert_int_equal(r->launch_state, VMCS12_CLEAR);
    for (unsigned i = 0; i < VMCS_FIELD_COUNT; i++)
        if (l1_writable(i) && r->field[i] != expect_x[i])
            fail_msg("field 0x%04x is 0x%llx in X's region after VMCLEAR, expected 0x%llx",
                     vmcs12_fields[i].encoding, (unsigned long long)r->field[i], (unsigned long long)expect_x[i]);

    /* B: VMPTRLD sees all of it; B's current pointer is X, A's none. */
    assert_int_equal(l1_ptr_insn(CPU_B, EXIT_REASON_VMPTRLD, X), VMX_OK);
    assert_int_equal(l1_vmptrst(CPU_B), X);
    assert_int_equal(l1_vmptrst(CPU_A), NO_CURRENT);
    expect_fields(CPU_B, expect_x, "after migration A->B");
}

/* ---- the launch state travels with the VMCS (SDM 25.11.3) ---- */

static void launch_and_exit(unsigned c, unsigned reason)
{
    assert_int_equal(l1_exec(c, reason, 0), VMX_ENTERED);
    l2_exit_to_l1(c, EXIT_REASON_HLT);
}

static void test_launch_state_follows_the_vmcs(void **state)
{
    (void)state;
    struct vmcs12 img;
    smp_vmcs12_image(&img, L1_EPT12);
    assert_int_equal(l1_ptr_insn(CPU_A, EXIT_REASON_VMCLEAR, X), VMX_OK);
    assert_int_equal(l1_ptr_insn(CPU_A, EXIT_REASON_VMPTRLD, X), VMX_OK);
    l1_vmwrite_image(CPU_A, &img);
    /* Clear after VMCLEAR: VMRESUME fails with error 5, VMLAUNCH enters. */
    expect_vmfail_valid(CPU_A, l1_exec(CPU_A, EXIT_REASON_VMRESUME, 0), VMXERR_VMRESUME_NONLAUNCHED_VMCS);
    launch_and_exit(CPU_A, EXIT_REASON_VMLAUNCH);
    /* Launched: VMLAUNCH fails with error 4, VMRESUME enters. L2 moves on
     * (RIP, hot) and changes ES (a field L0 copies back only on demand). */
    expect_vmfail_valid(CPU_A, l1_exec(CPU_A, EXIT_REASON_VMLAUNCH, 0), VMXERR_VMLAUNCH_NONCLEAR_VMCS);
    assert_int_equal(l1_exec(CPU_A, EXIT_REASON_VMRESUME, 0), VMX_ENTERED);
    vmcs_write(VMCS_GUEST_RIP, L2_RIP_1);
    vmcs_write(VMCS_GUEST_ES_SELECTOR, L2_ES_SEL);
    l2_exit_to_l1(CPU_A, EXIT_REASON_HLT);
    assert_int_equal(l1_ptr_insn(CPU_A, EXIT_REASON_VMCLEAR, X), VMX_OK);

    /* B: L2's state as the exit left it; launch state clear again. */
    assert_int_equal(l1_ptr_insn(CPU_B, EXIT_REASON_VMPTRLD, X), VMX_OK);
    uint64_t v;
    assert_int_equal(l1_vmread(CPU_B, VMCS_GUEST_RIP, &v), VMX_OK);
    assert_int_equal(v, L2_RIP_1);
    assert_int_equal(l1_vmread(CPU_B, VMCS_GUEST_ES_SELECTOR, &v), VMX_OK);
    assert_int_equal(v, L2_ES_SEL);
    assert_int_equal(l1_vmread(CPU_B, VMCS_VM_EXIT_REASON, &v), VMX_OK);
    assert_int_equal(v, EXIT_REASON_HLT);
    expect_vmfail_valid(CPU_B, l1_exec(CPU_B, EXIT_REASON_VMRESUME, 0), VMXERR_VMRESUME_NONLAUNCHED_VMCS);
    launch_and_exit(CPU_B, EXIT_REASON_VMLAUNCH);
    assert_int_equal(l1_exec(CPU_B, EXIT_REASON_VMRESUME, 0), VMX_ENTERED);
    vmcs_write(VMCS_GUEST_RIP, L2_RIP_2);
    l2_exit_to_l1(CPU_B, EXIT_REASON_HLT);
    assert_int_equal(l1_ptr_insn(CPU_B, EXIT_REASON_VMCLEAR, X), VMX_OK);

    /* Back on A: VMCLEAR on B made it clear (not "launched" as A last saw
     * it), so VMRESUME fails and VMLAUNCH enters L2 where B left it. */
    assert_int_equal(l1_ptr_insn(CPU_A, EXIT_REASON_VMPTRLD, X), VMX_OK);
    expect_vmfail_valid(CPU_A, l1_exec(CPU_A, EXIT_REASON_VMRESUME, 0), VMXERR_VMRESUME_NONLAUNCHED_VMCS);
    assert_int_equal(l1_exec(CPU_A, EXIT_REASON_VMLAUNCH, 0), VMX_ENTERED);
    assert_int_equal(vmcs_read(VMCS_GUEST_RIP), L2_RIP_2); /* vmcs02 of A runs L2 from there */
    l2_exit_to_l1(CPU_A, EXIT_REASON_HLT);
    /* Without VMCLEAR the launch state stays: A's VMRESUME enters. */
    assert_int_equal(l1_ptr_insn(CPU_A, EXIT_REASON_VMPTRLD, Y), VMX_OK);
    assert_int_equal(l1_ptr_insn(CPU_A, EXIT_REASON_VMPTRLD, X), VMX_OK);
    assert_int_equal(l1_exec(CPU_A, EXIT_REASON_VMRESUME, 0), VMX_ENTERED);
    l2_exit_to_l1(CPU_A, EXIT_REASON_HLT);
}

/* ---- VMPTRST is per processor ---- */

static void test_vmptrst_reports_each_cpus_own_pointer(void **state)
{
    (void)state;
    assert_int_equal(l1_ptr_insn(CPU_A, EXIT_REASON_VMPTRLD, X), VMX_OK);
    assert_int_equal(l1_ptr_insn(CPU_B, EXIT_REASON_VMPTRLD, Y), VMX_OK);
    assert_int_equal(l1_vmptrst(CPU_A), X);
    assert_int_equal(l1_vmptrst(CPU_B), Y);
    assert_int_equal(l1_vmptrst(CPU_C), NO_CURRENT);
    /* Swap them the proper way. */
    assert_int_equal(l1_ptr_insn(CPU_A, EXIT_REASON_VMCLEAR, X), VMX_OK);
    assert_int_equal(l1_ptr_insn(CPU_B, EXIT_REASON_VMCLEAR, Y), VMX_OK);
    assert_int_equal(l1_vmptrst(CPU_A), NO_CURRENT);
    assert_int_equal(l1_vmptrst(CPU_B), NO_CURRENT);
    assert_int_equal(l1_ptr_insn(CPU_A, EXIT_REASON_VMPTRLD, Y), VMX_OK);
    assert_int_equal(l1_ptr_insn(CPU_B, EXIT_REASON_VMPTRLD, X), VMX_OK);
    assert_int_equal(l1_vmptrst(CPU_A), Y);
    assert_int_equal(l1_vmptrst(CPU_B), X);
    /* VMCLEAR resets only the executing processor's pointer, and only
     * "IF operand addr = current-VMCS pointer": C's VMCLEAR of X leaves
     * C's Z and B's X. */
    assert_int_equal(l1_ptr_insn(CPU_C, EXIT_REASON_VMPTRLD, Z), VMX_OK);
    assert_int_equal(l1_ptr_insn(CPU_C, EXIT_REASON_VMCLEAR, X), VMX_OK);
    assert_int_equal(l1_vmptrst(CPU_C), Z);
    assert_int_equal(l1_vmptrst(CPU_B), X);
    assert_int_equal(l1_vmptrst(CPU_A), Y);
}

/* ---- X current on two CPUs at once (no VMCLEAR on A) ---- */

/* Everything L0 keeps for CPU c's vCPU: its nested state, vmcs12 cache
 * and shadow-EPT bookkeeping, and the VMCSs it owns (vmcs01, shadow VMCS,
 * vmcs02), field by field. */
struct cpu_snapshot {
    struct nested_vmx n;
    struct ept02 e2;
    uint8_t cache[VMCS12_SIZE];
    uint64_t vmcs[3][VMCS_FIELD_COUNT];
};

static const uint32_t field_encodings[VMCS_FIELD_COUNT] = {
#define ENC(name, enc, flags) (enc),
    VMCS_FIELD_LIST(ENC)
#undef ENC
};

static void snapshot(unsigned c, struct cpu_snapshot *s)
{
    const struct nested_vmx *n = VCPU(c)->nested;
    uint64_t regions[3] = {VCPU(c)->vmcs01, n->shadow_enabled ? n->shadow_vmcs : VCPU(c)->vmcs01, n->vmcs02};
    memcpy(&s->n, n, sizeof(*n));
    memcpy(&s->e2, n->ept02, sizeof(s->e2));
    memcpy(s->cache, n->cache, VMCS12_SIZE);
    for (unsigned k = 0; k < 3; k++)
        for (unsigned i = 0; i < VMCS_FIELD_COUNT; i++)
            s->vmcs[k][i] = fake_vmcs_get_at(regions[k], (enum vmcs_field)field_encodings[i]);
}

static void test_current_on_two_cpus_keeps_l0_state(void **state)
{
    (void)state;
    static struct cpu_snapshot before, after;
    static uint8_t l1_before[L1_RAM_END - L1_RAM_BASE];
    static uint64_t expect_b[VMCS_FIELD_COUNT];
    assert_int_equal(l1_ptr_insn(CPU_A, EXIT_REASON_VMCLEAR, X), VMX_OK);
    assert_int_equal(l1_ptr_insn(CPU_A, EXIT_REASON_VMPTRLD, X), VMX_OK);
    write_fields(CPU_A, expect_x, 1, 0);
    snapshot(CPU_A, &before);
    uint64_t free_pages = pmm_free_pages();
    memcpy(l1_before, phys_to_virt(L1_RAM_BASE), sizeof(l1_before));

    /* B loads X too. VMPTRLD checks only the address, the VMXON pointer
     * and the revision (SDM ch. 31): it succeeds. The data B sees are
     * undefined (25.11.1); B writes its own and VMCLEARs X twice. */
    assert_int_equal(l1_ptr_insn(CPU_B, EXIT_REASON_VMPTRLD, X), VMX_OK);
    assert_int_equal(l1_vmptrst(CPU_B), X);
    write_fields(CPU_B, expect_b, 2, 0);
    assert_int_equal(l1_ptr_insn(CPU_B, EXIT_REASON_VMCLEAR, X), VMX_OK);
    assert_int_equal(l1_ptr_insn(CPU_B, EXIT_REASON_VMPTRLD, X), VMX_OK);
    expect_fields(CPU_B, expect_b, "B after its own VMCLEAR and VMPTRLD");
    assert_int_equal(l1_ptr_insn(CPU_B, EXIT_REASON_VMCLEAR, X), VMX_OK);

    /* A's vCPU is untouched: nested state, cache, VMCSs, shadow EPTs; L0
     * allocated nothing; L1 memory changed only in X and B's operand. */
    snapshot(CPU_A, &after);
    assert_memory_equal(&before.n, &after.n, sizeof(before.n));
    assert_memory_equal(&before.e2, &after.e2, sizeof(before.e2));
    assert_memory_equal(before.cache, after.cache, sizeof(before.cache));
    assert_memory_equal(before.vmcs, after.vmcs, sizeof(before.vmcs));
    assert_int_equal(pmm_free_pages(), free_pages);
    const uint8_t *l1_now = phys_to_virt(L1_RAM_BASE);
    for (uint64_t pa = L1_RAM_BASE; pa < L1_RAM_END; pa += 4 * KiB)
        if (pa != X && pa != L1_OPERAND(CPU_B) &&
            memcmp(l1_now + (pa - L1_RAM_BASE), l1_before + (pa - L1_RAM_BASE), 4 * KiB))
            fail_msg("L1 page 0x%llx changed", (unsigned long long)pa);
    /* A still reads its own values and names X its current VMCS. */
    expect_fields(CPU_A, expect_x, "A after B's use of X");
    assert_int_equal(l1_vmptrst(CPU_A), X);

    /* Order restored: VMCLEAR on A; X is clear (its data are undefined)
     * and migrates on as usual. */
    assert_int_equal(l1_ptr_insn(CPU_A, EXIT_REASON_VMCLEAR, X), VMX_OK);
    assert_int_equal(l1_ptr_insn(CPU_C, EXIT_REASON_VMPTRLD, X), VMX_OK);
    assert_int_equal(l1_vmptrst(CPU_C), X);
    expect_vmfail_valid(CPU_C, l1_exec(CPU_C, EXIT_REASON_VMRESUME, 0), VMXERR_VMRESUME_NONLAUNCHED_VMCS);
}

/* ---- many migrations, two vmcs12s going opposite ways ---- */

static void test_many_migrations_keep_values_exact(void **state)
{
    (void)state;
    for (unsigned c = 0; c < 2; c++)
        assert_int_equal(l1_ptr_insn(CPU_A, EXIT_REASON_VMCLEAR, c ? Y : X), VMX_OK);
    for (unsigned k = 0; k < MIGRATIONS; k++) {
        unsigned cx = k % NCPUS, cy = (NCPUS - 1) - k % NCPUS;
        if (cy == cx)
            cy = (cx + 1) % NCPUS;
        assert_int_equal(l1_ptr_insn(cx, EXIT_REASON_VMPTRLD, X), VMX_OK);
        assert_int_equal(l1_ptr_insn(cy, EXIT_REASON_VMPTRLD, Y), VMX_OK);
        expect_fields(cx, expect_x, "X after a migration");
        expect_fields(cy, expect_y, "Y after a migration");
        write_fields(cx, expect_x, 2 * k + 1, WRITE_SKIP_EVERY);
        write_fields(cy, expect_y, 2 * k + 2, WRITE_SKIP_EVERY);
        assert_int_equal(l1_vmptrst(cx), X);
        assert_int_equal(l1_vmptrst(cy), Y);
        assert_int_equal(l1_ptr_insn(cx, EXIT_REASON_VMCLEAR, X), VMX_OK);
        assert_int_equal(l1_ptr_insn(cy, EXIT_REASON_VMCLEAR, Y), VMX_OK);
    }
    assert_int_equal(l1_ptr_insn(CPU_B, EXIT_REASON_VMPTRLD, X), VMX_OK);
    expect_fields(CPU_B, expect_x, "X at the end");
}

int main(void)
{
#define T(f, m, how) {#f " (" how ")", f, setup, teardown, (void *)&m}
#define BOTH(f) T(f, with_shadowing, "shadowing"), T(f, without_shadowing, "no shadowing")
    const struct CMUnitTest tests[] = {
        BOTH(test_vmclear_then_vmptrld_on_another_cpu),
        BOTH(test_launch_state_follows_the_vmcs),
        BOTH(test_vmptrst_reports_each_cpus_own_pointer),
        BOTH(test_current_on_two_cpus_keeps_l0_state),
        BOTH(test_many_migrations_keep_values_exact),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
