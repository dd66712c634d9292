/* unit-srcs: vmm/io.c vmm/vcpu.c vmm/l1ram.c vmm/memmap.c tests/unit/fake_vmx.c */
/* vmm/io.c: L1's I/O ports (docs/l1-platform.md, "I/O ports"). The I/O
 * bitmaps: SDM Vol. 3C 25.6.4 (bitmap A ports 0000H-7FFFH, B 8000H-FFFFH,
 * one bit per port) and 26.1.3 (an access exits if the bit of any port it
 * touches is set). The exit qualification of I/O instructions: Table 28-5
 * (bits 2:0 size - 1, bit 3 direction 1 = IN, bit 4 string, bit 5 REP,
 * bit 6 operand encoding 1 = immediate, bits 31:16 port). What the trapped
 * OUTs mean: the Bochs shutdown port (bochs iodev/unmapped.cc: the bytes of
 * "Shutdown" in order), ACPI PM1x_CNT (ACPI 6.4 4.8.3.2.1: SLP_EN is bit 13,
 * the register may be written as bytes), the reset control register at
 * 0CF9H (bit 2 RST_CPU), the keyboard controller's pulse-reset command
 * 0FEH at port 64H and its output port (command 0D1H, then bit 0 of the
 * data byte at 60H: the reset line, active low), port 92H bit 0 (fast
 * reset) and the FADT's RESET_REG/RESET_VALUE (ACPI 6.4 4.8.3.6). IN results follow Vol. 1 3.4.1.1: 8- and 16-bit results
 * keep the rest of RAX, a 32-bit result zero-extends into RAX. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>
#include "vmm/io.h"
#include "vmm/vm.h"
#include "arch/x86/exit_reasons.h"
#include "arch/x86/vmx.h"
#include "arch/x86/vmx_bits.h"
#include "tests/unit/fake_arch.h"
#include "tests/unit/fake_vmx.h"

#define PM1A 0xb004
#define PM1B 0xb008
#define SLP_EN (1U << 13)
#define SLP_TYP_S5 (5U << 10)

struct vm the_vm;
static uint8_t a[4096], b[4096];

static jmp_buf stopped;
static enum power_status stop_status;
static int stops;
void vm_stop(enum power_status status, const char *why)
{
    (void)why;
    stop_status = status;
    stops++;
    longjmp(stopped, 1);
}

static int setup(void **state)
{
    (void)state;
    memset(&the_vm, 0, sizeof(the_vm));
    memset(a, 0, sizeof(a));
    memset(b, 0, sizeof(b));
    stops = 0;
    fake_vmx_reset();
    assert_true(vmx_on(0x1000));
    assert_true(vmcs_load(0x2000));
    fake_vmcs_set(VMCS_GUEST_CS_AR_BYTES, AR_L | AR_P | AR_S | 0xb);
    fake_vmcs_set(VMCS_GUEST_RIP, 0x1000);
    fake_vmcs_set(VMCS_VM_EXIT_INSTRUCTION_LEN, 1);
    return 0;
}

static void test_qualification_decoding(void **state)
{
    (void)state;
    /* out dx, al (port 3F8H in DX): size 0, OUT, DX. */
    uint64_t q = 0x03f80000;
    assert_int_equal(IO_QUAL_SIZE(q), 1);
    assert_int_equal(IO_QUAL_PORT(q), 0x3f8);
    assert_false(q & IO_QUAL_IN);
    assert_false(q & IO_QUAL_IMMEDIATE);
    /* in al, 60h: IN, immediate. */
    q = 0x00600048;
    assert_int_equal(IO_QUAL_SIZE(q), 1);
    assert_int_equal(IO_QUAL_PORT(q), 0x60);
    assert_true(q & IO_QUAL_IN);
    assert_true(q & IO_QUAL_IMMEDIATE);
    /* out dx, ax and in eax, dx: size fields 1 and 3. */
    assert_int_equal(IO_QUAL_SIZE(0xb0040001), 2);
    assert_int_equal(IO_QUAL_PORT(0xb0040001), 0xb004);
    assert_int_equal(IO_QUAL_SIZE(0x0cfc000b), 4);
    assert_int_equal(IO_QUAL_PORT(0x0cfc000b), 0xcfc);
    assert_true(0x0cfc000b & IO_QUAL_IN);
    /* rep outsb to port FFFFH: string and REP; bits 63:32 are not the port. */
    q = 0xffffffffffff0030ULL;
    assert_true(q & IO_QUAL_STRING);
    assert_true(q & IO_QUAL_REP);
    assert_int_equal(IO_QUAL_PORT(q), 0xffff);
}

static void test_bitmap_pages_and_boundaries(void **state)
{
    (void)state;
    io_bitmap_trap(a, b, 0x0000, 1);
    io_bitmap_trap(a, b, 0x7fff, 1);
    io_bitmap_trap(a, b, 0x8000, 1);
    io_bitmap_trap(a, b, 0xffff, 1);
    assert_int_equal(a[0], 0x01);
    assert_int_equal(a[0xfff], 0x80);
    assert_int_equal(b[0], 0x01);
    assert_int_equal(b[0xfff], 0x80);
    assert_true(io_bitmap_exits(a, b, 0x0000));
    assert_true(io_bitmap_exits(a, b, 0x7fff));
    assert_true(io_bitmap_exits(a, b, 0x8000));
    assert_true(io_bitmap_exits(a, b, 0xffff));
    assert_false(io_bitmap_exits(a, b, 0x0001));
    assert_false(io_bitmap_exits(a, b, 0x7ffe));
    assert_false(io_bitmap_exits(a, b, 0x8001));
    assert_false(io_bitmap_exits(a, b, 0xfffe));
    /* A range across the A/B boundary marks both pages. */
    memset(a, 0, sizeof(a));
    memset(b, 0, sizeof(b));
    io_bitmap_trap(a, b, 0x7ffe, 4);
    assert_int_equal(a[0xfff], 0xc0);
    assert_int_equal(b[0], 0x03);
    /* A range running past FFFFH stops there: no wrap to port 0, no write
     * past bitmap B (ASan would see one). */
    io_bitmap_trap(a, b, 0xfffe, 8);
    assert_int_equal(b[0xfff], 0xc0);
    assert_false(io_bitmap_exits(a, b, 0x0000));
    assert_false(io_bitmap_exits(a, b, 0x0005));
}

static unsigned trapped_ports(uint16_t *out, unsigned max)
{
    unsigned n = 0;
    for (uint32_t p = 0; p <= 0xffff; p++)
        if (io_bitmap_exits(a, b, (uint16_t)p)) {
            if (n < max)
                out[n] = (uint16_t)p;
            n++;
        }
    return n;
}

static void test_l1_bitmaps_trap_exactly_the_policy(void **state)
{
    (void)state;
    uint16_t got[16];
    io_bitmaps_build_l1(&the_vm, a, b);
    assert_int_equal(trapped_ports(got, 16), 5);
    uint16_t base[] = {0x60, 0x64, 0x92, 0xcf9, 0x8900};
    assert_memory_equal(got, base, sizeof(base));
    /* With the FADT's PM1a/PM1b control blocks: both bytes of each; its
     * reset register in I/O space. */
    memset(a, 0, sizeof(a));
    memset(b, 0, sizeof(b));
    the_vm.pm1a_cnt = PM1A;
    the_vm.pm1b_cnt = 0x404;
    the_vm.acpi_reset_port = 0xb2;
    io_bitmaps_build_l1(&the_vm, a, b);
    assert_int_equal(trapped_ports(got, 16), 10);
    uint16_t want[] = {0x60, 0x64, 0x92, 0xb2, 0x404, 0x405, 0xcf9, 0x8900, PM1A, PM1A + 1};
    assert_memory_equal(got, want, sizeof(want));
}

static void test_bochs_shutdown_sequence(void **state)
{
    (void)state;
    struct io_sequences st = {0, false};
    const char *seq = "Shutdown";
    for (unsigned i = 0; i < 7; i++)
        assert_int_equal(io_classify_out(&the_vm, 0x8900, 1, (uint8_t)seq[i], &st), IO_EVENT_NONE);
    assert_int_equal(st.shutdown_progress, 7);
    assert_int_equal(io_classify_out(&the_vm, 0x8900, 1, 'n', &st), IO_EVENT_POWER_OFF);
    assert_int_equal(st.shutdown_progress, 0);
    /* A wrong byte starts over; an 'S' starts over at 'S'. */
    const char *retry = "ShuXShutShutdown";
    enum io_event ev = IO_EVENT_NONE;
    for (unsigned i = 0; retry[i]; i++) {
        assert_int_equal(ev, IO_EVENT_NONE);
        ev = io_classify_out(&the_vm, 0x8900, 1, (uint8_t)retry[i], &st);
        if (retry[i] == 'X')
            assert_int_equal(st.shutdown_progress, 0);
        if (i == 7)
            assert_int_equal(st.shutdown_progress, 4); /* "Shut" */
        if (i == 8)
            assert_int_equal(st.shutdown_progress, 1); /* 'S' again */
    }
    assert_int_equal(ev, IO_EVENT_POWER_OFF);
    /* Only byte writes count; other values in EAX's upper bits do not. */
    st.shutdown_progress = 0;
    assert_int_equal(io_classify_out(&the_vm, 0x8900, 2, 'S', &st), IO_EVENT_NONE);
    assert_int_equal(st.shutdown_progress, 0);
    /* "Shutdown" on another port is nothing. */
    for (unsigned i = 0; seq[i]; i++)
        assert_int_equal(io_classify_out(&the_vm, 0x8901, 1, (uint8_t)seq[i], &st), IO_EVENT_NONE);
}

static void test_acpi_sleep_enable(void **state)
{
    (void)state;
    struct io_sequences seq = {0, false};
    /* Unknown PM1 blocks: nothing at those ports means anything. */
    assert_int_equal(io_classify_out(&the_vm, PM1A, 2, SLP_EN | SLP_TYP_S5, &seq), IO_EVENT_NONE);
    assert_int_equal(io_classify_out(&the_vm, 0, 2, SLP_EN, &seq), IO_EVENT_NONE);
    the_vm.pm1a_cnt = PM1A;
    the_vm.pm1b_cnt = PM1B;
    assert_int_equal(io_classify_out(&the_vm, PM1A, 2, SLP_EN | SLP_TYP_S5, &seq), IO_EVENT_POWER_OFF);
    assert_int_equal(io_classify_out(&the_vm, PM1B, 2, SLP_EN | SLP_TYP_S5, &seq), IO_EVENT_POWER_OFF);
    assert_int_equal(io_classify_out(&the_vm, PM1A, 4, SLP_EN | SLP_TYP_S5 | 1, &seq), IO_EVENT_POWER_OFF);
    /* Writing SLP_TYP first and SLP_EN later (as ACPI requires the OS to be
     * able to): only the write with SLP_EN counts. */
    assert_int_equal(io_classify_out(&the_vm, PM1A, 2, SLP_TYP_S5 | 1, &seq), IO_EVENT_NONE);
    /* SCI_EN and other bits alone are not a sleep request. */
    assert_int_equal(io_classify_out(&the_vm, PM1A, 2, 0x1, &seq), IO_EVENT_NONE);
    /* The control block may be written a byte at a time: SLP_EN is bit 5 of
     * the byte at PM1x_CNT + 1. */
    assert_int_equal(io_classify_out(&the_vm, PM1A, 1, 0x01, &seq), IO_EVENT_NONE);
    assert_int_equal(io_classify_out(&the_vm, PM1A + 1, 1, (SLP_EN | SLP_TYP_S5) >> 8, &seq),
                     IO_EVENT_POWER_OFF);
    assert_int_equal(io_classify_out(&the_vm, PM1B + 1, 1, SLP_EN >> 8, &seq), IO_EVENT_POWER_OFF);
    assert_int_equal(io_classify_out(&the_vm, PM1A + 1, 1, SLP_TYP_S5 >> 8, &seq), IO_EVENT_NONE);
}

static void test_reset_requests(void **state)
{
    (void)state;
    struct io_sequences seq = {0, false};
    assert_int_equal(io_classify_out(&the_vm, 0xcf9, 1, 0x06, &seq), IO_EVENT_RESET);
    assert_int_equal(io_classify_out(&the_vm, 0xcf9, 1, 0x0e, &seq), IO_EVENT_RESET);
    assert_int_equal(io_classify_out(&the_vm, 0xcf9, 1, 0x04, &seq), IO_EVENT_RESET);
    /* SYS_RST (bit 1) alone only selects the reset kind. */
    assert_int_equal(io_classify_out(&the_vm, 0xcf9, 1, 0x02, &seq), IO_EVENT_NONE);
    assert_int_equal(io_classify_out(&the_vm, 0xcf9, 1, 0x00, &seq), IO_EVENT_NONE);
    /* The keyboard controller: command 0FEH to port 64H. */
    assert_int_equal(io_classify_out(&the_vm, 0x64, 1, 0xfe, &seq), IO_EVENT_RESET);
    assert_int_equal(io_classify_out(&the_vm, 0x64, 1, 0xff, &seq), IO_EVENT_NONE);
    assert_int_equal(io_classify_out(&the_vm, 0x60, 1, 0xfe, &seq), IO_EVENT_NONE);
    /* Command 0D1H (write output port), then its data byte at 60H: bit 0
     * (the CPU's reset line, active low) clear resets; set only sets A20. */
    assert_int_equal(io_classify_out(&the_vm, 0x64, 1, 0xd1, &seq), IO_EVENT_NONE);
    assert_int_equal(io_classify_out(&the_vm, 0x60, 1, 0xdf, &seq), IO_EVENT_NONE);
    assert_int_equal(io_classify_out(&the_vm, 0x60, 1, 0xde, &seq), IO_EVENT_NONE); /* keyboard data now */
    assert_int_equal(io_classify_out(&the_vm, 0x64, 1, 0xd1, &seq), IO_EVENT_NONE);
    assert_int_equal(io_classify_out(&the_vm, 0x60, 1, 0xde, &seq), IO_EVENT_RESET);
    /* Another command in between cancels it. */
    assert_int_equal(io_classify_out(&the_vm, 0x64, 1, 0xd1, &seq), IO_EVENT_NONE);
    assert_int_equal(io_classify_out(&the_vm, 0x64, 1, 0xad, &seq), IO_EVENT_NONE);
    assert_int_equal(io_classify_out(&the_vm, 0x60, 1, 0x00, &seq), IO_EVENT_NONE);
    /* Port 92H (system control port A): bit 0 is fast reset, bit 1 A20. */
    assert_int_equal(io_classify_out(&the_vm, 0x92, 1, 0x02, &seq), IO_EVENT_NONE);
    assert_int_equal(io_classify_out(&the_vm, 0x92, 1, 0x03, &seq), IO_EVENT_RESET);
    assert_int_equal(io_classify_out(&the_vm, 0x92, 1, 0x01, &seq), IO_EVENT_RESET);
    /* The FADT's reset register: its RESET_VALUE there, nothing else. */
    assert_int_equal(io_classify_out(&the_vm, 0xb2, 1, 0x06, &seq), IO_EVENT_NONE);
    the_vm.acpi_reset_port = 0xb2;
    the_vm.acpi_reset_value = 0x06;
    assert_int_equal(io_classify_out(&the_vm, 0xb2, 1, 0x06, &seq), IO_EVENT_RESET);
    assert_int_equal(io_classify_out(&the_vm, 0xb2, 1, 0x05, &seq), IO_EVENT_NONE);
    /* Other ports: nothing. */
    assert_int_equal(io_classify_out(&the_vm, 0x3f8, 1, 0xfe, &seq), IO_EVENT_NONE);
}

/* ---- handle_io with real qualifications ---- */

static void io_exit(uint64_t qualification)
{
    fake_vmcs_set(VMCS_EXIT_QUALIFICATION, qualification);
    handle_io(&the_vm.vcpus[0]);
}

static void test_handle_out_passes_through(void **state)
{
    (void)state;
    struct vcpu *v = &the_vm.vcpus[0];
    v->regs.rax = 0x1122334455667788ULL;
    io_exit(0x03f80000); /* out dx, al */
    io_exit(0x0cf90040); /* out 0cf9h, al: 88h has no RST bit */
    io_exit(0x0cfc0003); /* out dx, eax */
    io_exit(0x00700041); /* out 70h, ax */
    assert_int_equal(fake_port_count(), 4);
    const struct fake_port_access *p = fake_port_log(0);
    assert_int_equal(p->port, 0x3f8);
    assert_int_equal(p->size, 1);
    assert_false(p->in);
    assert_int_equal(p->value, 0x88);
    assert_int_equal(fake_port_log(1)->port, 0xcf9);
    assert_int_equal(fake_port_log(2)->size, 4);
    assert_int_equal(fake_port_log(2)->value, 0x55667788);
    assert_int_equal(fake_port_log(3)->size, 2);
    assert_int_equal(fake_port_log(3)->value, 0x7788);
    assert_int_equal(fake_vmcs_get(VMCS_GUEST_RIP), 0x1004);
    assert_int_equal(stops, 0);
}

static void test_handle_in_merges_into_rax(void **state)
{
    (void)state;
    struct vcpu *v = &the_vm.vcpus[0];
    fake_port_set_in(0x60, 0xab);
    fake_port_set_in(0x1f0, 0xbeef);
    fake_port_set_in(0xcfc, 0x80861237);
    v->regs.rax = 0x1122334455667788ULL;
    io_exit(0x00600048); /* in al, 60h */
    assert_int_equal(v->regs.rax, 0x11223344556677abULL);
    io_exit(0x01f00009); /* in ax, dx */
    assert_int_equal(v->regs.rax, 0x112233445566beefULL);
    io_exit(0x0cfc000b); /* in eax, dx: a 32-bit result zero-extends */
    assert_int_equal(v->regs.rax, 0x80861237ULL);
    assert_int_equal(fake_port_count(), 3);
    assert_true(fake_port_log(2)->in);
    assert_int_equal(fake_vmcs_get(VMCS_GUEST_RIP), 0x1003);
}

static void test_handle_string_io_is_skipped(void **state)
{
    (void)state;
    fake_console_reset();
    io_exit(0x89000030); /* rep outsb to 8900h */
    assert_int_equal(fake_port_count(), 0);
    assert_int_equal(fake_vmcs_get(VMCS_GUEST_RIP), 0x1001);
    assert_non_null(strstr(fake_console_output(), "string I/O"));
    assert_int_equal(stops, 0);
}

static void test_handle_shutdown_port_powers_off(void **state)
{
    (void)state;
    struct vcpu *v = &the_vm.vcpus[0];
    const char *seq = "Shutdown";
    stop_status = POWER_FAIL;
    if (!setjmp(stopped)) {
        for (unsigned i = 0; seq[i]; i++) {
            v->regs.rax = (uint8_t)seq[i];
            io_exit(0x89000000); /* out dx, al */
        }
    }
    assert_int_equal(stops, 1);
    assert_int_equal(stop_status, POWER_OK);
    /* The bytes stay with L0: none reached the real port. */
    assert_int_equal(fake_port_count(), 0);
    assert_int_equal(fake_vmcs_get(VMCS_GUEST_RIP), 0x1007);
}

static void test_handle_reset_requests_stop_l1(void **state)
{
    (void)state;
    struct vcpu *v = &the_vm.vcpus[0];
    v->regs.rax = 0xfe;
    if (!setjmp(stopped))
        io_exit(0x00640040); /* out 64h, al */
    assert_int_equal(stops, 1);
    assert_int_equal(stop_status, POWER_OK);
    v->regs.rax = 0x06;
    if (!setjmp(stopped))
        io_exit(0x0cf90040);
    assert_int_equal(stops, 2);
    v->regs.rax = 0x03;
    if (!setjmp(stopped))
        io_exit(0x00920040); /* out 92h, al */
    assert_int_equal(stops, 3);
    /* Nothing was forwarded: nestvisor does not let L1 reset the machine. */
    assert_int_equal(fake_port_count(), 0);
    /* A20 alone through port 92H reaches the hardware. */
    v->regs.rax = 0x02;
    io_exit(0x00920040);
    assert_int_equal(stops, 3);
    assert_int_equal(fake_port_count(), 1);
    the_vm.pm1a_cnt = PM1A;
    v->regs.rax = SLP_EN | SLP_TYP_S5;
    if (!setjmp(stopped))
        io_exit(0xb0040001); /* out dx, ax */
    assert_int_equal(stops, 4);
    assert_int_equal(fake_port_count(), 1);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup(f, setup)
    const struct CMUnitTest tests[] = {
        T(test_qualification_decoding),
        T(test_bitmap_pages_and_boundaries),
        T(test_l1_bitmaps_trap_exactly_the_policy),
        T(test_bochs_shutdown_sequence),
        T(test_acpi_sleep_enable),
        T(test_reset_requests),
        T(test_handle_out_passes_through),
        T(test_handle_in_merges_into_rax),
        T(test_handle_string_io_is_skipped),
        T(test_handle_shutdown_port_powers_off),
        T(test_handle_reset_requests_stop_l1),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
