/* Spinlocks for L0's shared state (docs/smp.md lists what each protects).
 * L0 runs with interrupts off, so a holder is never interrupted by code
 * that wants the same lock on its own CPU. */
#ifndef LIB_SPINLOCK_H
#define LIB_SPINLOCK_H

#include <stdbool.h>
#include <stdint.h>

struct spinlock {
    volatile uint32_t locked;
};

static inline bool spin_trylock(struct spinlock *l)
{
    return !__atomic_exchange_n(&l->locked, 1, __ATOMIC_ACQUIRE);
}

static inline void spin_lock(struct spinlock *l)
{
    while (!spin_trylock(l))
        while (__atomic_load_n(&l->locked, __ATOMIC_RELAXED))
            __builtin_ia32_pause();
}

/* Gives up after about `spins` tries: for paths that must make progress
 * even if a holder died (a fault while logging). True if taken. */
static inline bool spin_lock_bounded(struct spinlock *l, uint64_t spins)
{
    while (!spin_trylock(l)) {
        if (!spins--)
            return false;
        __builtin_ia32_pause();
    }
    return true;
}

static inline void spin_unlock(struct spinlock *l) { __atomic_store_n(&l->locked, 0, __ATOMIC_RELEASE); }

#endif
