#include "vmm/io.h"
#include "vmm/vm.h"
#include "arch/x86/cpu.h"
#include "arch/x86/exit_reasons.h"
#include "arch/x86/vmx.h"
#include "lib/log.h"
#include "lib/spinlock.h"

#define BOCHS_SHUTDOWN_PORT 0x8900
#define RESET_CONTROL_PORT  0xcf9
#define RESET_CONTROL_RST   (1U << 2)
#define KBC_DATA_PORT       0x60
#define KBC_COMMAND_PORT    0x64
#define KBC_PULSE_RESET     0xfe
#define KBC_WRITE_OUTPUT    0xd1
#define KBC_OUTPUT_RESET_N  (1U << 0)  /* output port bit 0 low resets the CPU */
#define SYSTEM_CONTROL_A    0x92
#define FAST_RESET          (1U << 0)  /* port 92H bit 0: "fast reset" */
#define ACPI_SLP_EN         (1U << 13)
#define ACPI_CNT_PORT_SIZE  2

static const char shutdown_magic[] = "Shutdown";

void io_bitmap_trap(uint8_t *a, uint8_t *b, uint16_t port, unsigned count)
{
    for (unsigned i = 0; i < count && port + i <= 0xffff; i++) {
        unsigned p = port + i;
        uint8_t *map = p < IO_BITMAP_PORTS_PER_PAGE ? a : b;
        p %= IO_BITMAP_PORTS_PER_PAGE;
        map[p / 8] |= (uint8_t)(1U << (p % 8));
    }
}

bool io_bitmap_exits(const uint8_t *a, const uint8_t *b, uint16_t port)
{
    const uint8_t *map = port < IO_BITMAP_PORTS_PER_PAGE ? a : b;
    unsigned p = port % IO_BITMAP_PORTS_PER_PAGE;
    return map[p / 8] >> (p % 8) & 1;
}

void io_bitmaps_build_l1(struct vm *vm, uint8_t *a, uint8_t *b)
{
    io_bitmap_trap(a, b, BOCHS_SHUTDOWN_PORT, 1);
    io_bitmap_trap(a, b, RESET_CONTROL_PORT, 1);
    io_bitmap_trap(a, b, KBC_DATA_PORT, 1);
    io_bitmap_trap(a, b, KBC_COMMAND_PORT, 1);
    io_bitmap_trap(a, b, SYSTEM_CONTROL_A, 1);
    if (vm->acpi_reset_port)
        io_bitmap_trap(a, b, vm->acpi_reset_port, 1);
    if (vm->pm1a_cnt)
        io_bitmap_trap(a, b, vm->pm1a_cnt, ACPI_CNT_PORT_SIZE);
    if (vm->pm1b_cnt)
        io_bitmap_trap(a, b, vm->pm1b_cnt, ACPI_CNT_PORT_SIZE);
}

/* True if an OUT of 'size' bytes at 'port' sets SLP_EN in the PM1 control
 * register at 'cnt' (0: unknown). The register may be written a byte at a
 * time: SLP_EN is bit 5 of the byte at cnt + 1. */
static bool slp_en_written(uint16_t cnt, uint16_t port, unsigned size, uint32_t value)
{
    unsigned hi = cnt + 1u; /* the byte holding SLP_EN */
    if (!cnt || hi < port || hi >= (unsigned)port + size)
        return false;
    return (value >> (8 * (hi - port))) & (ACPI_SLP_EN >> 8);
}

enum io_event io_classify_out(const struct vm *vm, uint16_t port, unsigned size, uint32_t value,
                              struct io_sequences *seq)
{
    if (port == BOCHS_SHUTDOWN_PORT && size == 1) {
        /* The Bochs shutdown port acts on the bytes of "Shutdown" in order. */
        unsigned *progress = &seq->shutdown_progress;
        if ((char)value == shutdown_magic[*progress])
            (*progress)++;
        else
            *progress = (char)value == shutdown_magic[0];
        if (!shutdown_magic[*progress]) {
            *progress = 0;
            return IO_EVENT_POWER_OFF;
        }
        return IO_EVENT_NONE;
    }
    if (slp_en_written(vm->pm1a_cnt, port, size, value) || slp_en_written(vm->pm1b_cnt, port, size, value))
        return IO_EVENT_POWER_OFF;
    /* The ACPI reset register (FADT RESET_REG, I/O space) with RESET_VALUE. */
    if (vm->acpi_reset_port && port == vm->acpi_reset_port && (value & 0xff) == vm->acpi_reset_value)
        return IO_EVENT_RESET;
    if (port == RESET_CONTROL_PORT && (value & RESET_CONTROL_RST))
        return IO_EVENT_RESET;
    if (port == SYSTEM_CONTROL_A && (value & FAST_RESET))
        return IO_EVENT_RESET;
    if (port == KBC_COMMAND_PORT) {
        seq->kbc_output_port_next = (value & 0xff) == KBC_WRITE_OUTPUT;
        if ((value & 0xff) == KBC_PULSE_RESET)
            return IO_EVENT_RESET;
    } else if (port == KBC_DATA_PORT && seq->kbc_output_port_next) {
        seq->kbc_output_port_next = false;
        if (!(value & KBC_OUTPUT_RESET_N))
            return IO_EVENT_RESET;
    }
    return IO_EVENT_NONE;
}

static void port_out(uint16_t port, unsigned size, uint32_t v)
{
    if (size == 1)
        outb(port, (uint8_t)v);
    else if (size == 2)
        outw(port, (uint16_t)v);
    else
        outl(port, v);
}

static uint32_t port_in(uint16_t port, unsigned size)
{
    return size == 1 ? inb(port) : size == 2 ? inw(port) : inl(port);
}

/* Platform devices are one per machine: one set of sequences, shared by
 * the CPUs, and the trapped ports (power and reset only) are driven under
 * this lock so that a sequence of OUTs is judged in the order the device
 * saw it. */
static struct io_sequences seq;
static struct spinlock io_lock;

void handle_io(struct vcpu *v)
{
    uint64_t q = vmcs_read(VMCS_EXIT_QUALIFICATION);
    uint16_t port = (uint16_t)IO_QUAL_PORT(q);
    unsigned size = IO_QUAL_SIZE(q);
    if (q & IO_QUAL_STRING) {
        /* Nobody drives these ports with INS/OUTS; refuse rather than guess. */
        log_warn("io: string I/O to trapped port 0x%x ignored\n", port);
        vcpu_skip_instruction(v);
        return;
    }
    uint32_t mask = size == 4 ? 0xffffffffU : (1U << (8 * size)) - 1;
    if (q & IO_QUAL_IN) {
        /* A 32-bit result zero-extends into RAX; AL and AX keep the rest. */
        uint64_t keep = size == 4 ? 0 : v->regs.rax & ~(uint64_t)mask;
        v->regs.rax = keep | (port_in(port, size) & mask);
        vcpu_skip_instruction(v);
        return;
    }
    uint32_t value = (uint32_t)v->regs.rax & mask;
    spin_lock(&io_lock);
    enum io_event event = io_classify_out(&the_vm, port, size, value, &seq);
    /* The shutdown port's bytes stay with L0, which ends the run itself. */
    if (event == IO_EVENT_NONE && port != BOCHS_SHUTDOWN_PORT)
        port_out(port, size, value);
    spin_unlock(&io_lock);
    switch (event) {
    case IO_EVENT_POWER_OFF:
        log_info("L1 powered the machine off (port 0x%x)\n", port);
        vm_stop(POWER_OK, "L1 power-off request");
    case IO_EVENT_RESET:
        log_info("L1 reset the machine (port 0x%x, value 0x%x); nestvisor does not reboot L1: it stops\n",
                 port, value);
        vm_stop(POWER_OK, "L1 reset request");
    case IO_EVENT_NONE:
        break;
    }
    vcpu_skip_instruction(v);
}
