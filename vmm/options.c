#include "vmm/options.h"
#include "vmm/hostmem.h"
#include "drivers/uart.h"
#include "lib/cmdline.h"
#include "lib/format.h"
#include "lib/string.h"

static void note_bad(struct nv_options *o, const char *key, const char *val)
{
    size_t n = strlen(o->bad);
    format(o->bad + n, sizeof(o->bad) - n, "%s%s=%s", n ? " " : "", key, val);
}

/* An on/off option: "key", "key=on", "key=off" ... */
static void parse_switch(const char *cmdline, const char *key, bool *out, struct nv_options *o)
{
    char v[OPTION_VALUE_MAX];
    bool b;
    if (!cmdline_get(cmdline, key, v, sizeof(v)))
        return;
    if (parse_bool(v, &b))
        *out = b;
    else
        note_bad(o, key, v);
}

void options_parse(const char *cmdline, struct nv_options *o)
{
    char v[OPTION_VALUE_MAX];
    uint64_t n;
    bool b;
    *o = (struct nv_options){
        .serial_port = UART_COM1,
        .baud = UART_DEFAULT_BAUD,
        .e9 = true,
        .log_level = LOG_INFO,
        .l0mem = HOSTMEM_DEFAULT_POOL,
        .nested = true,
        .shadow = true,
        .apicv = true,
    };
    if (cmdline_get(cmdline, "serial", v, sizeof(v))) {
        if (!strcmp(v, "off"))
            o->serial_port = 0;
        else if (parse_u64(v, &n) && n && n <= 0xffff - UART_PORT_COUNT)
            o->serial_port = (uint16_t)n;
        else
            note_bad(o, "serial", v);
    }
    if (cmdline_get(cmdline, "baud", v, sizeof(v))) {
        if (parse_u64(v, &n) && n >= 50 && n <= 115200)
            o->baud = (uint32_t)n;
        else
            note_bad(o, "baud", v);
    }
    if (cmdline_get(cmdline, "e9", v, sizeof(v))) {
        if (parse_bool(v, &b))
            o->e9 = b;
        else
            note_bad(o, "e9", v);
    }
    if (cmdline_get(cmdline, "loglevel", v, sizeof(v)) && !log_level_parse(v, &o->log_level))
        note_bad(o, "loglevel", v);
    if (cmdline_get(cmdline, "vmxcaps", v, sizeof(v))) {
        if (parse_bool(v, &b))
            o->vmxcaps = b;
        else
            note_bad(o, "vmxcaps", v);
    }
    if (cmdline_get(cmdline, "l0mem", v, sizeof(v))) {
        if (parse_u64(v, &n) && n >= (4ULL << 20) && n <= (512ULL << 20))
            o->l0mem = n;
        else
            note_bad(o, "l0mem", v);
    }
    if (cmdline_get(cmdline, "power", v, sizeof(v))) {
        if (!strcmp(v, "halt"))
            o->power_halt = true;
        else if (strcmp(v, "off"))
            note_bad(o, "power", v);
    }
    cmdline_get(cmdline, "selftest", o->selftest, sizeof(o->selftest));
    parse_switch(cmdline, "nested", &o->nested, o);
    parse_switch(cmdline, "shadow", &o->shadow, o);
    parse_switch(cmdline, "apicv", &o->apicv, o);
    parse_switch(cmdline, "hlt_exit", &o->hlt_exit, o);
    if (cmdline_get(cmdline, "cpus", v, sizeof(v))) {
        if (parse_u64(v, &n) && n >= 1 && n <= 4096)
            o->cpus = (unsigned)n;
        else
            note_bad(o, "cpus", v);
    }
    if (cmdline_get(cmdline, "hidden", v, sizeof(v))) {
        if (!strcmp(v, "stop"))
            o->hidden_stop = true;
        else if (strcmp(v, "discard"))
            note_bad(o, "hidden", v);
    }
    if (cmdline_get(cmdline, "icrwatch", v, sizeof(v))) {
        if (!strcmp(v, "always"))
            o->icr_watch_always = true;
        else if (strcmp(v, "needed"))
            note_bad(o, "icrwatch", v);
    }
}
