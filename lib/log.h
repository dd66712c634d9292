/* The leveled logger. Every line goes to the console sinks (drivers/console).
 * Never call it on the VM-exit fast path. */
#ifndef LIB_LOG_H
#define LIB_LOG_H

#include <stdbool.h>

enum log_level { LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG };

void log_set_level(enum log_level level);
/* Where the calling CPU's number comes from (0: the boot CPU). Lines of
 * other CPUs are tagged with it: "[info/cpu2] ...". Unset: no tags. */
void log_set_cpu_source(unsigned (*cpu_id)(void));
enum log_level log_get_level(void);
bool log_level_parse(const char *name, enum log_level *out);

void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Unconditional output with no prefix: test markers, tables, banners. */
void log_raw(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

#endif
