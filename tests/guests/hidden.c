/* hidden: nestvisor's own memory is marked reserved in L1's memory map and
 * is not mapped; with the default policy (hidden=discard) reads return all
 * ones and writes are lost, and L1 keeps running. The guest looks for a run
 * of reserved entries above 1 MiB that sits exactly between two usable RAM
 * ranges (where nestvisor carves out its kernel and pool).
 * Options: hidden_addr=ADDR tests that address instead of searching. */
#include "guest.h"

const char guest_name[] = "hidden";

#define MAX_HIDDEN 4
#define PATTERN ((uint64_t)0x5a5aa5a5c3c33c3cULL)

struct range {
    uint64_t base, end;
};

static unsigned find_hidden(struct range *out, unsigned max)
{
    unsigned n = 0;
    for (unsigned i = 1; i + 1 < boot.n_mmap && n < max; i++) {
        const struct mem_range *prev = &boot.mmap[i - 1];
        if (boot.mmap[i].type != MEM_RESERVED || boot.mmap[i].base < 0x100000 ||
            prev->type != MEM_USABLE || prev->base + prev->len != boot.mmap[i].base)
            continue;
        /* Extend over contiguous reserved entries to the next usable one. */
        unsigned j = i;
        while (j + 1 < boot.n_mmap && boot.mmap[j + 1].type == MEM_RESERVED &&
               boot.mmap[j].base + boot.mmap[j].len == boot.mmap[j + 1].base)
            j++;
        const struct mem_range *last = &boot.mmap[j];
        if (j + 1 < boot.n_mmap && boot.mmap[j + 1].type == MEM_USABLE &&
            last->base + last->len == boot.mmap[j + 1].base)
            out[n++] = (struct range){boot.mmap[i].base, last->base + last->len};
        i = j;
    }
    return n;
}

static void probe(const char *name, struct range r)
{
    volatile uint64_t *first = (volatile uint64_t *)(uintptr_t)r.base;
    volatile uint64_t *last = (volatile uint64_t *)(uintptr_t)((r.end - 8) & ~7ULL);
    printf("hidden: trying %#lx (range %#lx-%#lx)\n", r.base, r.base, r.end - 1);
    console_flush();
    uint64_t before = *first;
    *first = PATTERN;
    uint64_t after = *first;
    uint64_t end = *last;
    printf("hidden: %#lx read %#lx, after writing %#lx read %#lx; %#lx read %#lx\n", r.base, before,
           PATTERN, after, (uint64_t)(uintptr_t)last, end);
    check(before == ~0ULL && after == ~0ULL, name,
          "at %#lx: read %#lx before and %#lx after writing %#lx (want all ones: write discarded)",
          r.base, before, after, PATTERN);
    char n2[48];
    snprintf(n2, sizeof n2, "%s_end", name);
    check(end == ~0ULL, n2, "last qword %#lx of the range read %#lx", (uint64_t)(uintptr_t)last,
          end);
}

/* IA32_APIC_BASE may not move the APIC onto nestvisor's memory. */
static void apic_onto_hidden(struct range r)
{
    uint64_t orig;
    if (rdmsr_safe(MSR_APIC_BASE, &orig) != NO_FAULT) {
        fail("apic_base_onto_hidden_gp", "cannot read IA32_APIC_BASE");
        return;
    }
    int f = wrmsr_safe(MSR_APIC_BASE, orig); /* same value: allowed */
    check(f == NO_FAULT, "apic_base_rewrite", "rewriting IA32_APIC_BASE %#lx: %s", orig,
          vector_name(f));
    uint64_t moved = (orig & 0xfffULL) | (r.base & ~0xfffULL);
    f = wrmsr_safe(MSR_APIC_BASE, moved);
    if (f == NO_FAULT)
        wrmsr(MSR_APIC_BASE, orig);
    check(f == VEC_GP, "apic_base_onto_hidden_gp", "moving the APIC base to %#lx: %s",
          moved & ~(uint64_t)0xfff, vector_name(f));
}

void guest_main(uint32_t magic, uint32_t info)
{
    (void)magic, (void)info;
    boot_print_mmap();
    struct range found[MAX_HIDDEN];
    unsigned n;
    const char *opt = cmdline_get("hidden_addr");
    if (opt && *opt) {
        uint64_t a = strtou64(opt, NULL) & ~7ULL;
        found[0] = (struct range){a, a + 8};
        n = 1;
    } else {
        n = find_hidden(found, MAX_HIDDEN);
    }
    if (!n) {
        if (nv_present)
            fail("write", "nestvisor present but no reserved range between two usable ones "
                 "above 1 MiB");
        else
            skip("write", "no hidden range");
        return;
    }
    for (unsigned i = 0; i < n; i++) {
        char name[24];
        if (i)
            snprintf(name, sizeof name, "write_%u", i);
        else
            snprintf(name, sizeof name, "write");
        probe(name, found[i]);
    }
    apic_onto_hidden(found[0]);
    pass("still_running");
}
