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
#define PM_TIMER_HZ      3579545ULL /* ACPI 6.4 4.8.3.3 */
#define PM_TIMER_24BIT   0xffffffULL
#define PM_TIMER_32BIT   0xffffffffULL
#define FALLBACK_HZ      1000000000ULL

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

/* TSC ticks over CALIBRATE_MS of the ACPI PM timer (it may wrap once). */
static uint64_t from_pm_timer(uint16_t port, bool wide)
{
    uint64_t mask = wide ? PM_TIMER_32BIT : PM_TIMER_24BIT;
    uint64_t want = PM_TIMER_HZ * CALIBRATE_MS / 1000;
    uint64_t start = inl(port) & mask;
    uint64_t t0 = rdtsc(), t1 = t0, spins = 0, elapsed = 0;
    while (elapsed < want && ++spins < CALIBRATE_SPIN_LIMIT) {
        elapsed = ((inl(port) & mask) - start) & mask;
        t1 = rdtsc();
    }
    if (spins >= CALIBRATE_SPIN_LIMIT || !elapsed)
        return 0; /* a port that does not count is no timer */
    return (t1 - t0) * PM_TIMER_HZ / elapsed;
}

static bool agree(uint64_t a, uint64_t b)
{
    uint64_t diff = a > b ? a - b : b - a;
    return diff * 100 <= b * TSC_AGREEMENT_PERCENT;
}

void tsc_choose(struct tsc_info *t)
{
    t->cpuid_trusted = t->cpuid_hz && (!t->measured_hz || agree(t->cpuid_hz, t->measured_hz));
    if (t->cpuid_trusted) {
        t->hz = t->cpuid_hz;
    } else if (t->measured_hz) {
        t->hz = t->measured_hz;
        t->source = t->timer;
    } else {
        t->hz = FALLBACK_HZ;
        t->source = "unknown (assumed 1 GHz)";
    }
}

void tsc_init(struct tsc_info *out, uint16_t pm_timer_port, bool pm_timer_32bit)
{
    out->source = 0;
    out->cpuid_hz = from_cpuid(&out->source);
    out->measured_hz = pm_timer_port ? from_pm_timer(pm_timer_port, pm_timer_32bit) : 0;
    out->timer = "the ACPI PM timer";
    if (!out->measured_hz) {
        out->measured_hz = from_pit();
        out->timer = "the PIT";
    }
    tsc_choose(out);
    tsc_hz_value = out->hz;
}

uint64_t tsc_hz(void) { return tsc_hz_value; }

void tsc_delay_us(uint64_t us)
{
    uint64_t end = rdtsc() + tsc_hz_value / 1000000 * us;
    while (rdtsc() < end)
        cpu_relax();
}
