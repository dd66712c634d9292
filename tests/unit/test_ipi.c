/* unit-srcs: vmm/ipi.c vmm/store.c vmm/mmio_decode.c vmm/vcpu.c vmm/l1ram.c vmm/memmap.c tests/unit/fake_vmx.c */
/* vmm/ipi.c: L1's INIT and SIPI, seen at its interrupt command register.
 * The ICR's addressing (SDM Vol. 3A 11.6.1, 11.6.2; x2APIC 11.12.9,
 * 11.12.10): shorthands, physical IDs, broadcast, x2APIC logical clusters;
 * the watch (x2APIC ICR write exits, the xAPIC page read-only in EPT01,
 * every CPU flushed) exactly while a vCPU waits for a SIPI; xAPIC writes
 * emulated from the decoded store; INIT and SIPI posted to their targets,
 * everything else passed to the hardware. sipi.c, EPT01 and the other CPUs
 * are recorded fakes here. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>
#include "vmm/gva.h"
#include "vmm/ipi.h"
#include "vmm/msr.h"
#include "vmm/sipi.h"
#include "vmm/smp.h"
#include "vmm/vm.h"
#include "vmm/nested/bitmaps.h"
#include "arch/x86/apic.h"
#include "arch/x86/cpu_bits.h"
#include "arch/x86/msr_index.h"
#include "arch/x86/physmem.h"
#include "arch/x86/vmx.h"
#include "arch/x86/vmx_bits.h"
#include "tests/unit/fake_arch.h"
#include "tests/unit/fake_vmx.h"
#include "tests/unit/fake_code.h"

#define APIC_PAGE   0x3f00000ULL
#define MSR_BITMAP  0x100000ULL

struct vm the_vm;
static struct percpu cpus[4];

/* ---- collaborators, recorded ---- */
static jmp_buf stopped;
static int stops;
void vm_stop(enum power_status status, const char *why)
{
    (void)status;
    (void)why;
    stops++;
    longjmp(stopped, 1);
}

#define POSTS_MAX 16
static struct post {
    unsigned vcpu;
    bool init;
    uint8_t vector;
} posts[POSTS_MAX];
static unsigned nposts;
bool sipi_post_init(struct vcpu *target)
{
    posts[nposts++] = (struct post){target->id, true, 0};
    return true;
}
bool sipi_post_start(struct vcpu *target, uint8_t vector)
{
    posts[nposts++] = (struct post){target->id, false, vector};
    return true;
}

static unsigned flushes, l0_bitmap_changes, x2apic_icr_exits, apic_access_writes;
/* apic_access.c, recorded (test_apic_access has the real one): the page
 * that is L2's APIC-access page in this test, if any. */
static uint64_t apic_access_page = ~0ULL;
bool nested_is_apic_access_page(const struct vcpu *v, uint64_t l1_gpa)
{
    return v->in_l2 && (l1_gpa & ~0xfffULL) == apic_access_page;
}
bool nested_apic_access_write(struct vcpu *v, uint64_t l1_gpa)
{
    (void)v;
    (void)l1_gpa;
    apic_access_writes++;
    return true;
}
void smp_invept01_everywhere(void) { flushes++; }
void nested_bitmaps_l0_changed(void) { l0_bitmap_changes++; }
void msr_bitmap_set(uint8_t *bitmap, uint32_t msr, bool read_exits, bool write_exits)
{
    assert_ptr_equal(bitmap, phys_to_virt(MSR_BITMAP));
    assert_int_equal(msr, MSR_X2APIC_ICR);
    assert_false(read_exits);
    x2apic_icr_exits = write_exits;
}

static uint64_t readonly_page = ~0ULL;
static unsigned permission_changes;
bool ept_set_writable(struct ept *e, uint64_t pa, bool writable)
{
    assert_ptr_equal(e, &the_vm.ept01);
    permission_changes++;
    if (!writable)
        readonly_page = pa;
    else if (readonly_page == pa)
        readonly_page = ~0ULL;
    return true;
}

static volatile uint32_t *apic_reg(unsigned offset) { return phys_to_virt(APIC_PAGE + offset); }

static void add_vcpu(unsigned id, uint32_t apic_id)
{
    struct vcpu *v = &the_vm.vcpus[id];
    cpus[id].id = id;
    cpus[id].apic_id = apic_id;
    v->id = id;
    v->cpu = &cpus[id];
    v->role = VCPU_L1;
    the_vm.vcpu_count = id + 1;
}

static int setup(void **state)
{
    (void)state;
    memset(&the_vm, 0, sizeof(the_vm));
    memset(cpus, 0, sizeof(cpus));
    fake_phys_reset();
    fake_vmx_reset();
    fake_console_reset();
    fake_msr_clear();
    nposts = stops = apic_access_writes = 0;
    apic_access_page = ~0ULL;
    flushes = l0_bitmap_changes = permission_changes = 0;
    the_vm.msr_bitmap = MSR_BITMAP;
    add_vcpu(0, 0);
    add_vcpu(1, 2);
    add_vcpu(2, 4);
    add_vcpu(3, 0x13);
    fake_msr_set(MSR_IA32_APIC_BASE, APIC_PAGE | APIC_BASE_ENABLE);
    assert_true(vmx_on(0x1000));
    assert_true(vmcs_load(0x2000));
    fake_vmcs_set(VMCS_GUEST_CS_AR_BYTES, AR_L | AR_P | AR_S | 0xb);
    fake_vmcs_set(VMCS_GUEST_IA32_EFER, EFER_LMA | EFER_LME);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    /* The watch is shared state: leave it off for the next test. */
    memset(&the_vm.vcpus, 0, sizeof(the_vm.vcpus));
    the_vm.cfg.icr_watch_always = false;
    ipi_update_watch(&the_vm);
    return 0;
}

static void start_watch(void)
{
    the_vm.vcpus[1].wait_for_sipi = true;
    ipi_update_watch(&the_vm);
}

/* ---- the ICR's addressing ---- */
static void test_shorthands(void **state)
{
    (void)state;
    uint32_t init = ICR_DELIVERY_INIT | ICR_LEVEL_ASSERT;
    assert_true(ipi_reaches(init | ICR_SHORTHAND_SELF, 9, false, 2, 2));
    assert_false(ipi_reaches(init | ICR_SHORTHAND_SELF, 2, false, 2, 4));
    assert_true(ipi_reaches(init | ICR_SHORTHAND_ALL, 9, true, 2, 2));
    assert_true(ipi_reaches(init | ICR_SHORTHAND_ALL, 9, true, 2, 4));
    assert_false(ipi_reaches(init | ICR_SHORTHAND_OTHERS, 2, false, 2, 2));
    assert_true(ipi_reaches(init | ICR_SHORTHAND_OTHERS, 2, false, 2, 4));
}

static void test_physical_destinations(void **state)
{
    (void)state;
    uint32_t sipi = ICR_DELIVERY_SIPI | 0x10;
    assert_true(ipi_reaches(sipi, 4, false, 0, 4));
    assert_false(ipi_reaches(sipi, 4, false, 0, 5));
    assert_true(ipi_reaches(sipi, XAPIC_BROADCAST, false, 0, 7)); /* 0xff: everyone */
    assert_false(ipi_reaches(sipi, 0x104, true, 0, 4));          /* x2APIC: all 32 bits */
    assert_true(ipi_reaches(sipi, 0x104, true, 0, 0x104));
    assert_true(ipi_reaches(sipi, X2APIC_BROADCAST, true, 0, 0x104));
    assert_false(ipi_reaches(sipi, XAPIC_BROADCAST, true, 0, 4)); /* 0xff is an ID there */
}

/* x2APIC logical ID: cluster = ID >> 4 in 31:16, bit ID & 15 (11.12.10.2). */
static void test_x2apic_logical_destinations(void **state)
{
    (void)state;
    uint32_t init = ICR_DELIVERY_INIT | ICR_LEVEL_ASSERT | ICR_DEST_LOGICAL;
    assert_true(ipi_reaches(init, 0x00010008, true, 0, 0x13));  /* cluster 1, bit 3 */
    assert_false(ipi_reaches(init, 0x00010004, true, 0, 0x13)); /* other bit */
    assert_false(ipi_reaches(init, 0x00000008, true, 0, 0x13)); /* other cluster */
    assert_true(ipi_reaches(init, 0x00000005, true, 0, 0x00)); /* bits 0 and 2 */
    assert_false(ipi_reaches(init, 0x00000005, true, 0, 0x01));
    assert_true(ipi_reaches(init, 0x00000005, true, 0, 0x02));
    assert_true(ipi_reaches(init, X2APIC_BROADCAST, true, 0, 0x13));
    /* xAPIC logical needs the target's LDR/DFR: never resolved here. */
    assert_false(ipi_reaches(init, 0x01, false, 0, 0));
}

/* ---- the watch ---- */
static void test_watch_follows_waiting_vcpus(void **state)
{
    (void)state;
    ipi_update_watch(&the_vm); /* nobody waits: nothing to do */
    assert_int_equal(permission_changes, 0);
    assert_int_equal(flushes, 0);
    start_watch();
    assert_true(x2apic_icr_exits);
    assert_int_equal(readonly_page, APIC_PAGE);
    assert_int_equal(flushes, 1); /* a permission was taken: every CPU flushes */
    assert_int_equal(l0_bitmap_changes, 1);
    the_vm.vcpus[2].wait_for_sipi = true;
    ipi_update_watch(&the_vm); /* already on */
    assert_int_equal(flushes, 1);
    the_vm.vcpus[1].wait_for_sipi = false;
    the_vm.vcpus[2].wait_for_sipi = false;
    ipi_update_watch(&the_vm);
    assert_false(x2apic_icr_exits);
    assert_int_equal(readonly_page, ~0ULL);
    assert_int_equal(flushes, 1); /* giving back needs no flush */
    assert_int_equal(l0_bitmap_changes, 2);
    /* icrwatch=always */
    the_vm.cfg.icr_watch_always = true;
    ipi_update_watch(&the_vm);
    assert_true(x2apic_icr_exits);
}

/* L1 moves its APIC while watched: the new page is protected instead. */
static void test_watch_follows_the_apic_base(void **state)
{
    (void)state;
    ipi_apic_base_changed(&the_vm, 0x2000000 | APIC_BASE_ENABLE); /* not watched: ignored */
    assert_int_equal(permission_changes, 0);
    start_watch();
    ipi_apic_base_changed(&the_vm, 0x2000000 | APIC_BASE_ENABLE);
    assert_int_equal(readonly_page, 0x2000000);
    assert_int_equal(flushes, 2);
    /* A write to the old page is not the APIC's any more. */
    set_code(2, 0x89, 0x0a);
    assert_false(ipi_apic_write(&the_vm.vcpus[0], APIC_PAGE + XAPIC_ICR_LOW));
}

/* ---- x2APIC ---- */
static void test_x2apic_icr(void **state)
{
    (void)state;
    struct vcpu *v = &the_vm.vcpus[0];
    /* In xAPIC mode the x2APIC MSRs #GP. */
    assert_false(ipi_x2apic_icr_write(v, ICR_DELIVERY_INIT | ICR_LEVEL_ASSERT | 2ULL << 32));
    fake_msr_set(MSR_IA32_APIC_BASE, APIC_PAGE | APIC_BASE_ENABLE | APIC_BASE_X2APIC);
    fake_msr_set(MSR_X2APIC_ICR, 0);
    assert_true(ipi_x2apic_icr_write(v, ICR_DELIVERY_INIT | ICR_LEVEL_ASSERT | 2ULL << 32));
    assert_true(ipi_x2apic_icr_write(v, ICR_DELIVERY_SIPI | 0x9a | 2ULL << 32));
    assert_int_equal(nposts, 2);
    assert_true(posts[0].init && posts[0].vcpu == 1);
    assert_true(!posts[1].init && posts[1].vcpu == 1 && posts[1].vector == 0x9a);
    uint64_t hw;
    assert_true(rdmsr_safe(MSR_X2APIC_ICR, &hw));
    assert_int_equal(hw, 0); /* neither reached the hardware */
    /* Reserved bits: #GP, nothing sent. */
    assert_false(ipi_x2apic_icr_write(v, ICR_DELIVERY_SIPI | 0x9a | 1ULL << 16 | 2ULL << 32));
    assert_int_equal(nposts, 2);
    /* A fixed IPI goes to the hardware as written. */
    assert_true(ipi_x2apic_icr_write(v, ICR_DELIVERY_FIXED | 0xf2 | 0x13ULL << 32));
    assert_true(rdmsr_safe(MSR_X2APIC_ICR, &hw));
    assert_int_equal(hw, 0x13000000f2ULL);
    /* All excluding self, to a logical cluster. */
    nposts = 0;
    assert_true(ipi_x2apic_icr_write(v, ICR_DELIVERY_INIT | ICR_LEVEL_ASSERT | ICR_SHORTHAND_OTHERS));
    assert_int_equal(nposts, 3);
    nposts = 0;
    assert_true(ipi_x2apic_icr_write(v, ICR_DELIVERY_SIPI | ICR_DEST_LOGICAL | 0x08 | 0x00010008ULL << 32));
    assert_int_equal(nposts, 1);
    assert_int_equal(posts[0].vcpu, 3);
}

/* ---- xAPIC writes, emulated from the instruction ---- */

/* mov [rdx], ecx (89 0a) to ICR_LOW, after L1 wrote ICR_HIGH: INIT, then
 * SIPI to APIC 4; the hardware ICR_LOW never sees them; RIP moves on. */
static void test_xapic_init_sipi(void **state)
{
    (void)state;
    struct vcpu *v = &the_vm.vcpus[0];
    start_watch();
    *apic_reg(XAPIC_ICR_HIGH) = 4U << XAPIC_DEST_SHIFT;
    set_code(2, 0x89, 0x0a);
    v->regs.rdx = APIC_PAGE + XAPIC_ICR_LOW;
    v->regs.rcx = ICR_DELIVERY_INIT | ICR_LEVEL_ASSERT | ICR_TRIGGER_LEVEL;
    assert_true(ipi_apic_write(v, APIC_PAGE + XAPIC_ICR_LOW));
    assert_int_equal(fake_vmcs_get(VMCS_GUEST_RIP), CODE_GLA + 2);
    set_code(2, 0x89, 0x0a);
    v->regs.rcx = ICR_DELIVERY_SIPI | 0x9a;
    assert_true(ipi_apic_write(v, APIC_PAGE + XAPIC_ICR_LOW));
    assert_int_equal(nposts, 2);
    assert_true(posts[0].init && posts[0].vcpu == 2);
    assert_true(!posts[1].init && posts[1].vcpu == 2 && posts[1].vector == 0x9a);
    assert_int_equal(*apic_reg(XAPIC_ICR_LOW), 0);
    /* INIT level de-assert: nothing (11.6.1). */
    set_code(2, 0x89, 0x0a);
    v->regs.rcx = ICR_DELIVERY_INIT | ICR_TRIGGER_LEVEL;
    assert_true(ipi_apic_write(v, APIC_PAGE + XAPIC_ICR_LOW));
    assert_int_equal(nposts, 2);
    assert_int_equal(stops, 0);
}

/* Every other write reaches the APIC as the instruction would have done
 * it: a fixed IPI's ICR_LOW, EOI (C7 /0 with an immediate), a byte from AH,
 * XCHG (the register gets the old value). */
static void test_xapic_other_writes_reach_the_hardware(void **state)
{
    (void)state;
    struct vcpu *v = &the_vm.vcpus[0];
    start_watch();
    set_code(2, 0x89, 0x0a); /* mov [rdx], ecx */
    v->regs.rdx = APIC_PAGE + XAPIC_ICR_LOW;
    v->regs.rcx = 0xffffffff00000000ULL | ICR_DELIVERY_FIXED | 0xf2;
    assert_true(ipi_apic_write(v, APIC_PAGE + XAPIC_ICR_LOW));
    assert_int_equal(*apic_reg(XAPIC_ICR_LOW), 0xf2);
    assert_int_equal(nposts, 0);
    /* mov dword [rax+0xb0], 0 (EOI) */
    set_code(10, 0xc7, 0x80, 0xb0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00);
    *apic_reg(0xb0) = 0x55;
    assert_true(ipi_apic_write(v, APIC_PAGE + 0xb0));
    assert_int_equal(*apic_reg(0xb0), 0);
    assert_int_equal(fake_vmcs_get(VMCS_GUEST_RIP), CODE_GLA + 10);
    /* mov [rbx], ah (88 23) */
    set_code(2, 0x88, 0x23);
    v->regs.rax = 0x7f00;
    assert_true(ipi_apic_write(v, APIC_PAGE + 0x80));
    assert_int_equal(*(volatile uint8_t *)phys_to_virt(APIC_PAGE + 0x80), 0x7f);
    /* xchg [rsi], edi (87 3e): EDI gets the old value, bits 63:32 cleared */
    set_code(2, 0x87, 0x3e);
    *apic_reg(0x80) = 0x11;
    v->regs.rdi = 0xaaaaaaaa00000022ULL;
    assert_true(ipi_apic_write(v, APIC_PAGE + 0x80));
    assert_int_equal(*apic_reg(0x80), 0x22);
    assert_int_equal(v->regs.rdi, 0x11);
    /* From RSP, which lives in the VMCS: mov [rcx], esp (89 21) */
    set_code(2, 0x89, 0x21);
    fake_vmcs_set(VMCS_GUEST_RSP, 0x12345678);
    assert_true(ipi_apic_write(v, APIC_PAGE + 0x380));
    assert_int_equal(*apic_reg(0x380), 0x12345678);
    assert_int_equal(stops, 0);
}

/* 32-bit code: CS base + EIP, and MOV moffs32 (A3), what GCC emits. */
static void test_xapic_write_from_32_bit_code(void **state)
{
    (void)state;
    struct vcpu *v = &the_vm.vcpus[0];
    start_watch();
    fake_vmcs_set(VMCS_GUEST_CS_AR_BYTES, AR_DB | AR_P | AR_S | 0xb);
    fake_vmcs_set(VMCS_GUEST_IA32_EFER, 0);
    fake_vmcs_set(VMCS_GUEST_CS_BASE, 0x1000);
    set_code(5, 0xa3, 0x00, 0x03, 0xf0, 0x03); /* mov [0x3f00300], eax */
    fake_vmcs_set(VMCS_GUEST_RIP, CODE_GLA - 0x1000);
    *apic_reg(XAPIC_ICR_HIGH) = 0x13U << XAPIC_DEST_SHIFT;
    v->regs.rax = ICR_DELIVERY_SIPI | 0x20;
    assert_true(ipi_apic_write(v, APIC_PAGE + XAPIC_ICR_LOW));
    assert_int_equal(nposts, 1);
    assert_true(posts[0].vcpu == 3 && posts[0].vector == 0x20);
    assert_int_equal(fake_vmcs_get(VMCS_GUEST_RIP), CODE_GLA - 0x1000 + 5);
}

/* Destinations nobody has, and xAPIC logical ones: dropped and reported. */
static void test_unreachable_destinations_are_reported(void **state)
{
    (void)state;
    struct vcpu *v = &the_vm.vcpus[0];
    ipi_route_init_sipi(v, ICR_DELIVERY_SIPI | 0x10, 0x77, false);
    assert_int_equal(nposts, 0);
    assert_non_null(strstr(fake_console_output(), "cpu0: L1 sent SIPI to APIC ID 0x77: no such CPU, dropped"));
    ipi_route_init_sipi(v, ICR_DELIVERY_INIT | ICR_LEVEL_ASSERT | ICR_DEST_LOGICAL, 0x01, false);
    assert_int_equal(nposts, 0);
    assert_non_null(strstr(fake_console_output(), "logical destination 0x1 in xAPIC mode"));
    /* A storm: a few lines, not one per IPI. */
    for (int i = 0; i < 1000; i++)
        ipi_route_init_sipi(v, ICR_DELIVERY_INIT | ICR_LEVEL_ASSERT, 0x77, false);
    const char *log = fake_console_output();
    unsigned lines = 0;
    for (const char *p = log; (p = strstr(p, "dropped")); p++)
        lines++;
    assert_true(lines <= 4);
}

/* What L0 cannot emulate stops L1 with the reason (saying whose write it
 * was): an instruction that is not a decoded store, a store across the
 * end of the page. Writes elsewhere are not the watch's. */
static void test_what_cannot_be_emulated_stops_l1(void **state)
{
    (void)state;
    struct vcpu *v = &the_vm.vcpus[0];
    assert_false(ipi_apic_write(v, APIC_PAGE + XAPIC_ICR_LOW)); /* not watched */
    start_watch();
    assert_false(ipi_apic_write(v, APIC_PAGE + 0x1000));
    set_code(3, 0x0f, 0xae, 0x38); /* clflush [rax] */
    if (!setjmp(stopped))
        ipi_apic_write(v, APIC_PAGE + 0x300);
    assert_int_equal(stops, 1);
    assert_non_null(strstr(fake_console_output(), "not a store nestvisor decodes"));
    set_code(3, 0x48, 0x89, 0x0a); /* mov [rdx], rcx: 8 bytes at 0xffc */
    if (!setjmp(stopped))
        ipi_apic_write(v, APIC_PAGE + 0xffc);
    assert_int_equal(stops, 2);
    assert_non_null(strstr(fake_console_output(), "crosses the end of the page"));
    v->in_l2 = true;
    set_code(3, 0x0f, 0xae, 0x38); /* clflush [rax], by L2 */
    if (!setjmp(stopped))
        ipi_apic_write(v, APIC_PAGE + 0x300);
    assert_int_equal(stops, 3);
    assert_non_null(strstr(fake_console_output(), "L2 wrote L1's local APIC"));
    assert_int_equal(nposts, 0);
    /* A store L2 makes (L1 gave it its APIC page) is done like L1's. */
    set_code(2, 0x89, 0x0a);
    v->regs.rdx = APIC_PAGE + 0x80;
    v->regs.rcx = 0x20;
    assert_true(ipi_apic_write(v, APIC_PAGE + 0x80));
    assert_int_equal(*apic_reg(0x80), 0x20);
    assert_int_equal(stops, 3);
    /* ... and what follows an instruction of L2's is L1's to see (MTF:
     * exit.c reads the mark vcpu_skip_bytes leaves). */
    assert_true(v->l2_insn_completed);
    /* L1 made this page L2's APIC-access page: L2's store is L1's to
     * virtualize (apic_access.c), not a write to L1's local APIC. */
    apic_access_page = APIC_PAGE;
    *apic_reg(0x80) = 0;
    assert_true(ipi_apic_write(v, APIC_PAGE + 0x80));
    assert_int_equal(apic_access_writes, 1);
    assert_int_equal(*apic_reg(0x80), 0);
    v->in_l2 = false; /* L1's own store is still L1's */
    fake_vmcs_set(VMCS_GUEST_RIP, CODE_GLA);
    assert_true(ipi_apic_write(v, APIC_PAGE + 0x80));
    assert_int_equal(apic_access_writes, 1);
    assert_int_equal(*apic_reg(0x80), 0x20);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_shorthands),
        T(test_physical_destinations),
        T(test_x2apic_logical_destinations),
        T(test_watch_follows_waiting_vcpus),
        T(test_watch_follows_the_apic_base),
        T(test_x2apic_icr),
        T(test_xapic_init_sipi),
        T(test_xapic_other_writes_reach_the_hardware),
        T(test_xapic_write_from_32_bit_code),
        T(test_unreachable_destinations_are_reported),
        T(test_what_cannot_be_emulated_stops_l1),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
