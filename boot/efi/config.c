/* The loader's configuration file parser; the format is in config.h. Pure C:
 * no libc string functions (the loader has none), only lib/format.c. */
#include "boot/efi/config.h"
#include "lib/format.h"

#define QUOTE_MAX 40 /* characters of a bad value quoted in a message */

/* The UTF-8 encoding of U+FEFF, which some editors put first in a file. */
#define UTF8_BOM_LEN 3
#define UTF8_BOM_0   0xef
#define UTF8_BOM_1   0xbb
#define UTF8_BOM_2   0xbf

struct span {
    const char *p;
    size_t len;
};

#define KEY_COUNT 6

struct parser {
    struct config *c;
    unsigned line;
    unsigned first_line[KEY_COUNT]; /* where each key was first seen; 0: not yet */
    char *err;
    size_t errsz;
};

typedef bool (*key_handler)(struct parser *ps, struct span value);

static size_t str_len(const char *s)
{
    size_t n = 0;
    while (s[n])
        n++;
    return n;
}

static bool span_is(struct span s, const char *word)
{
    size_t n = str_len(word);
    if (s.len != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (s.p[i] != word[i])
            return false;
    return true;
}

static bool is_blank(char ch)
{
    return ch == ' ' || ch == '\t';
}

static struct span trim(struct span s)
{
    while (s.len && is_blank(s.p[0]))
        s.p++, s.len--;
    while (s.len && is_blank(s.p[s.len - 1]))
        s.len--;
    return s;
}

/* Splits off the first blank-separated word; *rest gets the trimmed rest. */
static struct span first_word(struct span s, struct span *rest)
{
    size_t n = 0;
    while (n < s.len && !is_blank(s.p[n]))
        n++;
    *rest = trim((struct span){s.p + n, s.len - n});
    return (struct span){s.p, n};
}

/* Copies s into dst (size bytes with the NUL); false if it does not fit. */
static bool copy_span(char *dst, size_t size, struct span s)
{
    if (s.len >= size)
        return false;
    for (size_t i = 0; i < s.len; i++)
        dst[i] = s.p[i];
    dst[s.len] = 0;
    return true;
}

static bool fail(struct parser *ps, const char *what, struct span value)
{
    format(ps->err, ps->errsz, "line %u: %s \"%.*s%s\"", ps->line, what,
           (int)(value.len < QUOTE_MAX ? value.len : QUOTE_MAX), value.p,
           value.len > QUOTE_MAX ? "..." : "");
    return false;
}

static bool fail_long(struct parser *ps, const char *what, size_t limit)
{
    format(ps->err, ps->errsz, "line %u: %s%slonger than %zu characters", ps->line, what,
           what[0] ? " " : "", limit);
    return false;
}

static bool fail_plain(struct parser *ps, const char *what)
{
    format(ps->err, ps->errsz, "line %u: %s", ps->line, what);
    return false;
}

/* Decimal or 0x-prefixed hexadecimal, no sign, no suffix, at most max. */
static bool parse_number(struct span s, uint32_t max, uint32_t *out)
{
    unsigned base = 10;
    if (s.len > 2 && s.p[0] == '0' && (s.p[1] == 'x' || s.p[1] == 'X'))
        base = 16, s.p += 2, s.len -= 2;
    if (!s.len)
        return false;
    uint64_t v = 0;
    for (size_t i = 0; i < s.len; i++) {
        char ch = s.p[i];
        unsigned d;
        if (ch >= '0' && ch <= '9')
            d = (unsigned)(ch - '0');
        else if (base == 16 && ch >= 'a' && ch <= 'f')
            d = (unsigned)(ch - 'a' + 10);
        else if (base == 16 && ch >= 'A' && ch <= 'F')
            d = (unsigned)(ch - 'A' + 10);
        else
            return false;
        v = v * base + d;
        if (v > max)
            return false;
    }
    *out = (uint32_t)v;
    return true;
}

static bool key_kernel(struct parser *ps, struct span v)
{
    if (!v.len)
        return fail_plain(ps, "kernel= needs a path");
    if (!copy_span(ps->c->kernel, sizeof(ps->c->kernel), v))
        return fail_long(ps, "kernel path", sizeof(ps->c->kernel) - 1);
    return true;
}

static bool key_cmdline(struct parser *ps, struct span v)
{
    if (!copy_span(ps->c->cmdline, sizeof(ps->c->cmdline), v))
        return fail_long(ps, "command line", sizeof(ps->c->cmdline) - 1);
    return true;
}

/* module=<path> <name> [arguments]: the module string is "<name> [arguments]",
 * as with GRUB's module2 line. */
static bool key_module(struct parser *ps, struct span v)
{
    struct config *c = ps->c;
    if (c->module_count >= CONFIG_MAX_MODULES) {
        format(ps->err, ps->errsz, "line %u: more than %d modules", ps->line, CONFIG_MAX_MODULES);
        return false;
    }
    struct span args, rest;
    struct span path = first_word(v, &rest);
    struct span name = first_word(rest, &args);
    if (!path.len || !name.len)
        return fail(ps, "module needs a path and a name (module=<path> <name> [args]), got", v);
    struct config_module *m = &c->modules[c->module_count];
    if (!copy_span(m->path, sizeof(m->path), path))
        return fail_long(ps, "module path", sizeof(m->path) - 1);
    if (!copy_span(m->name, sizeof(m->name), name))
        return fail_long(ps, "module name", sizeof(m->name) - 1);
    if (!copy_span(m->args, sizeof(m->args), args))
        return fail_long(ps, "module arguments", sizeof(m->args) - 1);
    c->module_count++;
    return true;
}

static bool key_serial(struct parser *ps, struct span v)
{
    uint32_t port = 0;
    if (!span_is(v, "off") && !(parse_number(v, CONFIG_SERIAL_MAX, &port) && port >= CONFIG_SERIAL_MIN))
        return fail(ps, "bad serial port (want off or a port number), got", v);
    if (!copy_span(ps->c->serial_text, sizeof(ps->c->serial_text), v))
        return fail(ps, "bad serial port (want off or a port number), got", v);
    ps->c->has_serial = true;
    ps->c->serial_port = (uint16_t)port;
    return true;
}

static bool key_baud(struct parser *ps, struct span v)
{
    uint32_t baud;
    if (!parse_number(v, CONFIG_BAUD_MAX, &baud) || baud < CONFIG_BAUD_MIN)
        return fail(ps, "bad baud rate (want 50-115200), got", v);
    ps->c->has_baud = true;
    ps->c->baud = baud;
    return true;
}

static bool key_loglevel(struct parser *ps, struct span v)
{
    static const char *const levels[] = {"error", "warn", "info", "debug"};
    for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++)
        if (span_is(v, levels[i]))
            return copy_span(ps->c->loglevel, sizeof(ps->c->loglevel), v);
    return fail(ps, "bad log level (want error, warn, info or debug), got", v);
}

static const struct {
    const char *name;
    key_handler handle;
    bool repeatable;
} keys[KEY_COUNT] = {
    {"kernel", key_kernel, false}, {"cmdline", key_cmdline, false},
    {"module", key_module, true},  {"serial", key_serial, false},
    {"baud", key_baud, false},     {"loglevel", key_loglevel, false},
};

/* A key given twice is more likely a mistake than an override. */
static bool dispatch(struct parser *ps, size_t k, struct span value)
{
    if (!keys[k].repeatable && ps->first_line[k]) {
        format(ps->err, ps->errsz, "line %u: %s= already given on line %u", ps->line,
               keys[k].name, ps->first_line[k]);
        return false;
    }
    if (!ps->first_line[k])
        ps->first_line[k] = ps->line;
    return keys[k].handle(ps, value);
}

/* Printable ASCII and tabs only: catches binary files and NUL bytes early. */
static bool check_bytes(struct parser *ps, struct span s)
{
    for (size_t i = 0; i < s.len; i++) {
        unsigned char ch = (unsigned char)s.p[i];
        if (ch == 0)
            return fail_plain(ps, "NUL byte (not a text file?)");
        if ((ch < ' ' && ch != '\t') || ch >= 0x7f) {
            format(ps->err, ps->errsz, "line %u: byte 0x%02x is not printable ASCII", ps->line,
                   ch);
            return false;
        }
    }
    return true;
}

static bool parse_line(struct parser *ps, struct span line)
{
    if (!check_bytes(ps, line))
        return false;
    if (line.len > CONFIG_LINE_MAX)
        return fail_long(ps, "", CONFIG_LINE_MAX);
    line = trim(line);
    if (!line.len || line.p[0] == '#')
        return true;
    size_t eq = 0;
    while (eq < line.len && line.p[eq] != '=')
        eq++;
    if (eq == line.len)
        return fail(ps, "missing '=' (want key=value) in", line);
    struct span key = trim((struct span){line.p, eq});
    struct span value = trim((struct span){line.p + eq + 1, line.len - eq - 1});
    if (!key.len)
        return fail(ps, "missing key before '=' in", line);
    for (size_t k = 0; k < KEY_COUNT; k++)
        if (span_is(key, keys[k].name))
            return dispatch(ps, k, value);
    return fail(ps, "unknown key", key);
}

/* The kernel command line: cmdline=, then the loader-level keys the kernel
 * understands too (vmm/options.c). */
static bool compose_cmdline(struct config *c, char *err, size_t errsz)
{
    char baud[16] = "";
    if (c->has_baud)
        format(baud, sizeof(baud), "%u", c->baud);
    const struct {
        const char *key, *value;
    } extra[] = {
        {"serial=", c->has_serial ? c->serial_text : ""},
        {"baud=", baud},
        {"loglevel=", c->loglevel},
    };
    int n = format(c->kernel_cmdline, sizeof(c->kernel_cmdline), "%s", c->cmdline);
    for (size_t i = 0; i < sizeof(extra) / sizeof(extra[0]); i++) {
        if (!extra[i].value[0])
            continue;
        size_t at = (size_t)n < sizeof(c->kernel_cmdline) ? (size_t)n : sizeof(c->kernel_cmdline);
        n += format(c->kernel_cmdline + at, sizeof(c->kernel_cmdline) - at, "%s%s%s",
                    n ? " " : "", extra[i].key, extra[i].value);
    }
    if ((size_t)n >= sizeof(c->kernel_cmdline)) {
        format(err, errsz, "kernel command line with serial=, baud= and loglevel= is %d characters "
               "(limit %zu)", n, sizeof(c->kernel_cmdline) - 1);
        return false;
    }
    return true;
}

void config_defaults(struct config *c)
{
    *c = (struct config){
        .serial_port = CONFIG_SERIAL_DEFAULT,
        .baud = CONFIG_BAUD_DEFAULT,
    };
    copy_span(c->kernel, sizeof(c->kernel),
              (struct span){CONFIG_DEFAULT_KERNEL, sizeof(CONFIG_DEFAULT_KERNEL) - 1});
}

bool config_parse(const char *text, size_t len, struct config *c, char *err, size_t errsz)
{
    struct parser ps = {.c = c, .err = err, .errsz = errsz};
    config_defaults(c);
    size_t pos = 0;
    if (len >= UTF8_BOM_LEN && (unsigned char)text[0] == UTF8_BOM_0 &&
        (unsigned char)text[1] == UTF8_BOM_1 && (unsigned char)text[2] == UTF8_BOM_2)
        pos = UTF8_BOM_LEN; /* as Windows editors write it */
    while (pos < len) {
        size_t end = pos;
        while (end < len && text[end] != '\n')
            end++;
        struct span line = {text + pos, end - pos};
        if (line.len && line.p[line.len - 1] == '\r') /* CRLF */
            line.len--;
        ps.line++;
        if (!parse_line(&ps, line))
            return false;
        pos = end + 1;
    }
    return compose_cmdline(c, err, errsz);
}
