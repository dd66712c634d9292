/* vsnprintf for the guests: integers, strings, characters, pointers. */
#include "guest.h"

struct out {
    char *buf;
    size_t size, len;
};

static void emit(struct out *o, char c)
{
    if (o->len + 1 < o->size)
        o->buf[o->len] = c;
    o->len++;
}

static void emit_pad(struct out *o, char c, int n)
{
    while (n-- > 0)
        emit(o, c);
}

enum { F_LEFT = 1, F_ZERO = 2, F_PLUS = 4, F_SPACE = 8, F_ALT = 16 };

static void emit_number(struct out *o, uint64_t v, bool negative, unsigned base, bool upper,
                        int flags, int width, int precision)
{
    const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
    char tmp[24];
    int n = 0;
    while (v) {
        tmp[n++] = digits[v % base];
        v /= base;
    }
    if (precision < 0)
        precision = 1;
    else
        flags &= ~F_ZERO;
    int zeros = precision > n ? precision - n : 0;
    const char *prefix = "";
    if (negative)
        prefix = "-";
    else if (flags & F_PLUS)
        prefix = "+";
    else if (flags & F_SPACE)
        prefix = " ";
    else if ((flags & F_ALT) && base == 16 && n)
        prefix = upper ? "0X" : "0x";
    else if ((flags & F_ALT) && base == 8 && zeros == 0)
        zeros = 1;
    int plen = (int)strlen(prefix);
    int total = plen + zeros + n;
    if (!(flags & F_LEFT) && !(flags & F_ZERO))
        emit_pad(o, ' ', width - total);
    for (const char *p = prefix; *p; p++)
        emit(o, *p);
    if (!(flags & F_LEFT) && (flags & F_ZERO))
        emit_pad(o, '0', width - total);
    emit_pad(o, '0', zeros);
    while (n)
        emit(o, tmp[--n]);
    if (flags & F_LEFT)
        emit_pad(o, ' ', width - total);
}

int vsnprintf(char *buf, size_t size, const char *fmt, va_list ap)
{
    struct out o = {buf, size, 0};
    for (; *fmt; fmt++) {
        if (*fmt != '%') {
            emit(&o, *fmt);
            continue;
        }
        fmt++;
        int flags = 0;
        for (;; fmt++) {
            if (*fmt == '-')
                flags |= F_LEFT;
            else if (*fmt == '0')
                flags |= F_ZERO;
            else if (*fmt == '+')
                flags |= F_PLUS;
            else if (*fmt == ' ')
                flags |= F_SPACE;
            else if (*fmt == '#')
                flags |= F_ALT;
            else
                break;
        }
        int width = 0;
        if (*fmt == '*') {
            width = va_arg(ap, int);
            if (width < 0) {
                flags |= F_LEFT;
                width = -width;
            }
            fmt++;
        } else {
            while (*fmt >= '0' && *fmt <= '9')
                width = width * 10 + (*fmt++ - '0');
        }
        int precision = -1;
        if (*fmt == '.') {
            fmt++;
            precision = 0;
            if (*fmt == '*') {
                precision = va_arg(ap, int);
                fmt++;
            } else {
                while (*fmt >= '0' && *fmt <= '9')
                    precision = precision * 10 + (*fmt++ - '0');
            }
        }
        int size_mod = 0; /* 0 int, -1 char, -2 short, 1 long, 2 long long/size_t */
        for (;; fmt++) {
            if (*fmt == 'h')
                size_mod--;
            else if (*fmt == 'l')
                size_mod++;
            else if (*fmt == 'z' || *fmt == 'j' || *fmt == 't')
                size_mod = 2;
            else
                break;
        }
        char c = *fmt;
        if (!c)
            break;
        switch (c) {
        case 'd':
        case 'i': {
            int64_t v;
            if (size_mod >= 1)
                v = size_mod == 1 ? va_arg(ap, long) : va_arg(ap, long long);
            else
                v = va_arg(ap, int);
            if (size_mod == -1)
                v = (signed char)v;
            else if (size_mod == -2)
                v = (short)v;
            uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
            emit_number(&o, u, v < 0, 10, false, flags, width, precision);
            break;
        }
        case 'u':
        case 'x':
        case 'X':
        case 'o': {
            uint64_t v;
            if (size_mod >= 1)
                v = size_mod == 1 ? va_arg(ap, unsigned long) : va_arg(ap, unsigned long long);
            else
                v = va_arg(ap, unsigned int);
            if (size_mod == -1)
                v = (unsigned char)v;
            else if (size_mod == -2)
                v = (unsigned short)v;
            unsigned base = c == 'u' ? 10 : c == 'o' ? 8 : 16;
            emit_number(&o, v, false, base, c == 'X', flags & ~(F_PLUS | F_SPACE), width,
                        precision);
            break;
        }
        case 'p':
            emit_number(&o, (uintptr_t)va_arg(ap, void *), false, 16, false, F_ALT, width, -1);
            break;
        case 'c': {
            if (!(flags & F_LEFT))
                emit_pad(&o, ' ', width - 1);
            emit(&o, (char)va_arg(ap, int));
            if (flags & F_LEFT)
                emit_pad(&o, ' ', width - 1);
            break;
        }
        case 's': {
            const char *s = va_arg(ap, const char *);
            if (!s)
                s = "(null)";
            int n = 0;
            while ((precision < 0 || n < precision) && s[n])
                n++;
            if (!(flags & F_LEFT))
                emit_pad(&o, ' ', width - n);
            for (int i = 0; i < n; i++)
                emit(&o, s[i]);
            if (flags & F_LEFT)
                emit_pad(&o, ' ', width - n);
            break;
        }
        case '%':
            emit(&o, '%');
            break;
        default:
            emit(&o, '%');
            emit(&o, c);
            break;
        }
    }
    if (o.size)
        o.buf[o.len < o.size ? o.len : o.size - 1] = '\0';
    return (int)o.len;
}

int snprintf(char *buf, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, size, fmt, ap);
    va_end(ap);
    return n;
}
