#include "lib/log.h"
#include "lib/format.h"
#include "lib/string.h"
#include "lib/spinlock.h"
#include "drivers/console.h"

#define LOG_LINE_MAX 256
/* A CPU that faulted while holding the lock must not silence the others
 * (or itself, reporting the fault) forever. */
#define LOG_LOCK_SPINS (1ULL << 26)

/* Whole lines from several CPUs do not interleave. */
static struct spinlock console_lock;

static enum log_level threshold = LOG_INFO;
static const char *const level_names[] = {"error", "warn", "info", "debug"};

static unsigned (*cpu_source)(void);

void log_set_level(enum log_level level) { threshold = level; }
void log_set_cpu_source(unsigned (*cpu_id)(void)) { cpu_source = cpu_id; }
enum log_level log_get_level(void) { return threshold; }

bool log_level_parse(const char *name, enum log_level *out)
{
    for (unsigned i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
        if (!strcmp(name, level_names[i])) {
            *out = (enum log_level)i;
            return true;
        }
    }
    return false;
}

static void emit(const char *prefix, const char *fmt, va_list ap)
{
    char line[LOG_LINE_MAX];
    size_t n = 0;
    unsigned cpu = prefix && cpu_source ? cpu_source() : 0;
    if (prefix && cpu)
        n = (size_t)format(line, sizeof(line), "[%s/cpu%u] ", prefix, cpu);
    else if (prefix)
        n = (size_t)format(line, sizeof(line), "[%s] ", prefix);
    int len = format_v(line + n, sizeof(line) - n, fmt, ap);
    if ((size_t)len < sizeof(line) - n) {
        n += (size_t)len;
    } else {
        /* Cut: say so, and keep the line ending so the next line stays whole. */
        n = sizeof(line) - 1;
        size_t fl = strlen(fmt);
        const char *mark = fl && fmt[fl - 1] == '\n' ? "...\n" : "...";
        memcpy(line + n - strlen(mark), mark, strlen(mark));
    }
    bool locked = spin_lock_bounded(&console_lock, LOG_LOCK_SPINS);
    console_write(line, n);
    if (locked)
        spin_unlock(&console_lock);
}

void log_msg(enum log_level level, const char *fmt, ...)
{
    if (level > threshold)
        return;
    va_list ap;
    va_start(ap, fmt);
    emit(level_names[level], fmt, ap);
    va_end(ap);
}

void log_raw(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    emit(0, fmt, ap);
    va_end(ap);
}
