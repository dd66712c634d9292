#include "drivers/tsc.h"
#include "arch/x86/cpu.h"
#include "arch/x86/cpu_bits.h"

#define PIT_HZ           1193182ULL
#define PIT_CH2_DATA     0x42
#define PIT_COMMAND      0x43
#define PIT_CH2_GATE     0x61
#define PIT_GATE_ON      0x01
#define PIT_SPEAKER      0x02
#define PIT_OUT2         0x20
#define PIT_CH2_MODE0_LOHI 0xb0
#define CALIBRATE_MS     10
#define CALIBRATE_SPIN_LIMIT 100000000ULL

static uint64_t tsc_hz_value;

static uint64_t from_cpuid(const char **source)
{
    struct cpuid_regs r;
    cpuid_query(CPUID_LEAF_BASIC, 0, &r);
    uint32_t max_leaf = r.eax;
    if (max_leaf >= CPUID_LEAF_TSC) {
        cpuid_query(CPUID_LEAF_TSC, 0, &r);
        if (r.eax && r.ebx && r.ecx) {
            *source = "CPUID 0x15";
            return (uint64_t)r.ecx * r.ebx / r.eax;
        }
    }
    if (max_leaf >= CPUID_LEAF_FREQ) {
        cpuid_query(CPUID_LEAF_FREQ, 0, &r);
        if (r.eax & 0xffff) {
            *source = "CPUID 0x16";
            return (uint64_t)(r.eax & 0xffff) * 1000000ULL;
        }
    }
    return 0;
}

/* PIT channel 2, one-shot mode 0, gate from port 0x61 (speaker off). */
static uint64_t from_pit(void)
{
    uint64_t count = PIT_HZ * CALIBRATE_MS / 1000;
    uint8_t gate = inb(PIT_CH2_GATE);
    outb(PIT_CH2_GATE, (uint8_t)((gate & ~PIT_SPEAKER) & ~PIT_GATE_ON));
    outb(PIT_COMMAND, PIT_CH2_MODE0_LOHI);
    outb(PIT_CH2_DATA, (uint8_t)count);
    outb(PIT_CH2_DATA, (uint8_t)(count >> 8));
    outb(PIT_CH2_GATE, (uint8_t)((gate & ~PIT_SPEAKER) | PIT_GATE_ON));
    uint64_t start = rdtsc();
    uint64_t spins = 0;
    while (!(inb(PIT_CH2_GATE) & PIT_OUT2) && ++spins < CALIBRATE_SPIN_LIMIT)
        ;
    uint64_t end = rdtsc();
    outb(PIT_CH2_GATE, gate);
    if (spins >= CALIBRATE_SPIN_LIMIT)
        return 0;
    return (end - start) * 1000 / CALIBRATE_MS;
}

void tsc_init(struct tsc_info *out)
{
    const char *source = 0;
    uint64_t hz = from_cpuid(&source);
    if (!hz) {
        hz = from_pit();
        source = hz ? "PIT calibration" : "unknown (assumed 1 GHz)";
        if (!hz)
            hz = 1000000000ULL;
    }
    tsc_hz_value = hz;
    out->hz = hz;
    out->source = source;
}

void tsc_delay_us(uint64_t us)
{
    uint64_t end = rdtsc() + tsc_hz_value / 1000000 * us;
    while (rdtsc() < end)
        cpu_relax();
}
