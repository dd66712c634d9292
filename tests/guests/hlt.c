/* hlt: HLT is woken by the timer interrupt, which L1 takes directly.
 * PIT channel 0 (~10 ms) through the remapped 8259 PIC, then the local APIC
 * timer in one-shot mode. Built as a Multiboot (v1) image so that the
 * loader's v1 path is exercised. Options: rounds=N (default 5). */
#include "guest.h"

const char guest_name[] = "hlt";

#define PIT_VECTOR (PIC_BASE_VECTOR + 0)
#define SPIN_LIMIT 5000000u

static volatile uint64_t pit_ticks, lapic_ticks;
static volatile uint64_t pit_vector_seen, lapic_vector_seen;

static void pit_handler(struct trap_frame *f)
{
    pit_ticks++;
    pit_vector_seen = f->vector;
    pic_eoi(0);
}

static void lapic_handler(struct trap_frame *f)
{
    lapic_ticks++;
    lapic_vector_seen = f->vector;
    lapic_eoi();
}

/* Waits with interrupts on (no HLT) for *ticks to move: proves delivery
 * works before a HLT could hang the guest. */
static bool spin_for_tick(volatile uint64_t *ticks)
{
    uint64_t t0 = *ticks;
    sti();
    for (unsigned i = 0; i < SPIN_LIMIT && *ticks == t0; i++)
        pause();
    cli();
    return *ticks != t0;
}

/* One HLT per round; each must return with exactly one more tick. */
static void hlt_rounds(const char *name, volatile uint64_t *ticks, unsigned rounds,
                       void (*arm)(void))
{
    unsigned woken = 0;
    uint64_t min_tsc = ~0ULL, max_tsc = 0;
    for (unsigned r = 0; r < rounds; r++) {
        cli();
        if (arm)
            arm();
        uint64_t t0 = *ticks, tsc0 = rdtsc();
        sti_hlt(); /* STI's shadow: the interrupt cannot slip in before HLT */
        cli();
        uint64_t dt = rdtsc() - tsc0;
        if (*ticks == t0 + 1) {
            woken++;
            min_tsc = dt < min_tsc ? dt : min_tsc;
            max_tsc = dt > max_tsc ? dt : max_tsc;
        } else {
            printf("hlt: %s round %u: ticks %lu -> %lu\n", name, r, t0, *ticks);
        }
    }
    if (woken)
        printf("hlt: %s: %u/%u HLTs woken by the timer, TSC per HLT %lu..%lu\n", name, woken,
               rounds, min_tsc, max_tsc);
    check(woken == rounds, name, "%u of %u HLTs returned after exactly one timer interrupt", woken,
          rounds);
}

static void arm_lapic(void)
{
    lapic_timer_oneshot(LAPIC_TIMER_VECTOR, 20000);
}

void guest_main(uint32_t magic, uint32_t info)
{
    (void)info;
    unsigned rounds = (unsigned)cmdline_u64("rounds", 5);
    if (!rounds)
        rounds = 1;

    check(magic == MB1_BOOTLOADER_MAGIC && boot.version == 1, "multiboot1",
          "entered with magic %#x, expected the Multiboot v1 magic %#x", magic,
          MB1_BOOTLOADER_MAGIC);
    check(boot.n_mmap > 0 && boot.mem_upper_kb > 0, "multiboot1_info",
          "v1 information: %u memory-map entries, mem_upper %u KiB", boot.n_mmap,
          boot.mem_upper_kb);

    /* PIT through the 8259. */
    cli();
    pic_remap();
    irq_set_handler(PIT_VECTOR, pit_handler);
    pit_periodic(100);
    pic_unmask(0);
    if (check(spin_for_tick(&pit_ticks), "pit_interrupt",
              "no PIT interrupt within %u spins with IF=1", SPIN_LIMIT)) {
        check(pit_vector_seen == PIT_VECTOR, "pit_vector", "handler saw vector %#lx, expected %#x",
              pit_vector_seen, PIT_VECTOR);
        hlt_rounds("pit_hlt_wake", &pit_ticks, rounds, NULL);
    }
    pit_stop();
    pic_mask_all();
    cli();

    /* Local APIC timer, one-shot. */
    if (!lapic_present()) {
        skip("lapic_hlt_wake", "no local APIC");
    } else {
        lapic_enable();
        irq_set_handler(LAPIC_TIMER_VECTOR, lapic_handler);
        arm_lapic();
        if (check(spin_for_tick(&lapic_ticks), "lapic_interrupt",
                  "no LAPIC timer interrupt within %u spins with IF=1", SPIN_LIMIT)) {
            check(lapic_vector_seen == LAPIC_TIMER_VECTOR, "lapic_vector",
                  "handler saw vector %#lx, expected %#x", lapic_vector_seen, LAPIC_TIMER_VECTOR);
            hlt_rounds("lapic_hlt_wake", &lapic_ticks, rounds, arm_lapic);
        }
    }
    if (spurious_interrupts)
        printf("hlt: %lu unexpected interrupt(s) seen\n", spurious_interrupts);
}
