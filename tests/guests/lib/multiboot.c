/* Multiboot (v1) and Multiboot2 information parsing, and the command line. */
#include "guest.h"

struct boot_info boot;

static void add_range(uint64_t base, uint64_t len, uint32_t type)
{
    if (boot.n_mmap == BOOT_MAX_MMAP)
        return;
    unsigned i = boot.n_mmap++;
    while (i && boot.mmap[i - 1].base > base) { /* keep sorted by base */
        boot.mmap[i] = boot.mmap[i - 1];
        i--;
    }
    boot.mmap[i] = (struct mem_range){base, len, type};
}

static void add_module(uint64_t start, uint64_t end, const char *string)
{
    if (boot.n_mods < BOOT_MAX_MODS)
        boot.mods[boot.n_mods++] = (struct boot_module){start, end, string ? string : ""};
}

static uint32_t rd32(uintptr_t a)
{
    return *(const volatile uint32_t *)a;
}

static uint64_t rd64(uintptr_t a)
{
    return *(const volatile uint64_t *)a;
}

static void parse_mb1(uintptr_t mbi)
{
    uint32_t flags = rd32(mbi);
    if (flags & (1 << 0)) {
        boot.mem_lower_kb = rd32(mbi + 4);
        boot.mem_upper_kb = rd32(mbi + 8);
    }
    if (flags & (1 << 2))
        boot.cmdline = (const char *)(uintptr_t)rd32(mbi + 16);
    if (flags & (1 << 3)) {
        uint32_t count = rd32(mbi + 20);
        uintptr_t m = rd32(mbi + 24);
        for (uint32_t i = 0; i < count; i++, m += 16)
            add_module(rd32(m), rd32(m + 4), (const char *)(uintptr_t)rd32(m + 8));
    }
    if (flags & (1 << 6)) {
        uintptr_t p = rd32(mbi + 48), end = p + rd32(mbi + 44);
        while (p + 24 <= end) {
            uint32_t size = rd32(p);
            add_range(rd64(p + 4), rd64(p + 12), rd32(p + 20));
            p += size + 4;
        }
    }
    if (flags & (1 << 9))
        boot.loader = (const char *)(uintptr_t)rd32(mbi + 64);
}

static void parse_mb2(uintptr_t mbi)
{
    uint32_t total = rd32(mbi);
    uintptr_t p = mbi + 8, end = mbi + total;
    while (p + 8 <= end) {
        uint32_t type = rd32(p), size = rd32(p + 4);
        if (type == 0 || size < 8)
            break;
        switch (type) {
        case 1:
            boot.cmdline = (const char *)(p + 8);
            break;
        case 2:
            boot.loader = (const char *)(p + 8);
            break;
        case 3:
            add_module(rd32(p + 8), rd32(p + 12), (const char *)(p + 16));
            break;
        case 4:
            boot.mem_lower_kb = rd32(p + 8);
            boot.mem_upper_kb = rd32(p + 12);
            break;
        case 6: {
            uint32_t esize = rd32(p + 8);
            if (esize < 24)
                break;
            for (uintptr_t e = p + 16; e + esize <= p + size; e += esize)
                add_range(rd64(e), rd64(e + 8), rd32(e + 16));
            break;
        }
        default:
            break;
        }
        p += (size + 7) & ~7u;
    }
}

void boot_parse(uint32_t magic, uint32_t info)
{
    boot.magic = magic;
    boot.info = info;
    boot.cmdline = "";
    boot.loader = "";
    if (magic == MB1_BOOTLOADER_MAGIC) {
        boot.version = 1;
        parse_mb1(info);
    } else if (magic == MB2_BOOTLOADER_MAGIC) {
        boot.version = 2;
        parse_mb2(info);
    }
    if (!boot.cmdline)
        boot.cmdline = "";
    if (!boot.loader)
        boot.loader = "";
}

const char *mem_type_name(uint32_t type)
{
    switch (type) {
    case MEM_USABLE:
        return "usable";
    case MEM_RESERVED:
        return "reserved";
    case MEM_ACPI:
        return "ACPI";
    case MEM_NVS:
        return "NVS";
    case MEM_BAD:
        return "bad";
    default:
        return "other";
    }
}

void boot_print_mmap(void)
{
    printf("memory map (%u entries):\n", boot.n_mmap);
    for (unsigned i = 0; i < boot.n_mmap; i++) {
        const struct mem_range *r = &boot.mmap[i];
        printf("  0x%012lx-0x%012lx %s (%u)\n", r->base, r->base + r->len - 1,
               mem_type_name(r->type), r->type);
    }
}

const char *cmdline_get(const char *key)
{
    size_t klen = strlen(key);
    const char *s = boot.cmdline;
    while (*s) {
        while (*s == ' ')
            s++;
        const char *w = s;
        while (*s && *s != ' ')
            s++;
        if ((size_t)(s - w) >= klen && !strncmp(w, key, klen)) {
            if (w[klen] == '=')
                return w + klen + 1;
            if (w + klen == s)
                return s; /* bare key: empty value */
        }
    }
    return NULL;
}

uint64_t cmdline_u64(const char *key, uint64_t def)
{
    const char *v = cmdline_get(key);
    if (!v || *v < '0' || *v > '9')
        return def;
    return strtou64(v, NULL);
}

bool opt_nested(void)
{
    return cmdline_u64("nested", 0) != 0;
}
