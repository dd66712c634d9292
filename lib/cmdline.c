#include "lib/cmdline.h"
#include "lib/string.h"

static bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

bool cmdline_get(const char *cmdline, const char *key, char *val, size_t size)
{
    size_t klen = strlen(key);
    const char *p = cmdline;
    while (*p) {
        while (is_space(*p))
            p++;
        const char *word = p;
        while (*p && !is_space(*p))
            p++;
        size_t wlen = (size_t)(p - word);
        if (wlen < klen || strncmp(word, key, klen))
            continue;
        if (wlen == klen) {
            if (size)
                val[0] = 0;
            return true;
        }
        if (word[klen] != '=')
            continue;
        size_t vlen = wlen - klen - 1;
        if (size) {
            size_t n = vlen < size - 1 ? vlen : size - 1;
            memcpy(val, word + klen + 1, n);
            val[n] = 0;
        }
        return true;
    }
    return false;
}

bool cmdline_has(const char *cmdline, const char *key) { return cmdline_get(cmdline, key, 0, 0); }

bool parse_u64(const char *s, uint64_t *out)
{
    unsigned base = 10;
    uint64_t v = 0;
    if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        base = 16;
        s += 2;
    }
    const char *digits = s;
    for (; *s; s++) {
        unsigned d;
        if (*s >= '0' && *s <= '9')
            d = (unsigned)(*s - '0');
        else if (base == 16 && *s >= 'a' && *s <= 'f')
            d = (unsigned)(*s - 'a' + 10);
        else if (base == 16 && *s >= 'A' && *s <= 'F')
            d = (unsigned)(*s - 'A' + 10);
        else
            break;
        if (v > (UINT64_MAX - d) / base)
            return false;
        v = v * base + d;
    }
    if (s == digits)
        return false;
    unsigned shift = 0;
    if (*s == 'K' || *s == 'k')
        shift = 10;
    else if (*s == 'M' || *s == 'm')
        shift = 20;
    else if (*s == 'G' || *s == 'g')
        shift = 30;
    if (shift) {
        if (v > (UINT64_MAX >> shift))
            return false;
        v <<= shift;
        s++;
    }
    if (*s)
        return false;
    *out = v;
    return true;
}

bool parse_bool(const char *s, bool *out)
{
    static const char *const yes[] = {"", "on", "1", "yes", "true"};
    static const char *const no[] = {"off", "0", "no", "false"};
    for (unsigned i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
        if (!strcmp(s, yes[i]))
            return *out = true, true;
    for (unsigned i = 0; i < sizeof(no) / sizeof(no[0]); i++)
        if (!strcmp(s, no[i]))
            return *out = false, true;
    return false;
}
