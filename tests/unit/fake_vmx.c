#include "tests/unit/fake_vmx.h"
#include "arch/x86/vmx.h"
#include "arch/x86/cpu.h"
#include "arch/x86/gdt.h"
#include "arch/x86/physmem.h"
#include "arch/x86/exit_reasons.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* vmcs01.c names the exit stub's address for HOST_RIP. */
char vmx_exit_stub[16];

static const uint32_t encodings[VMCS_FIELD_COUNT] = {
#define FAKE_ENC(name, enc, flags) (enc),
    VMCS_FIELD_LIST(FAKE_ENC)
#undef FAKE_ENC
};

struct region {
    bool used;
    uint64_t pa;
    uint64_t field[VMCS_FIELD_COUNT];
    bool written[VMCS_FIELD_COUNT];
};

static struct region regions[FAKE_VMCS_SLOTS];
static struct region *current;
static bool vmx_on_state;
static uint64_t vmxon_region;
static uint32_t required_revision;
static bool vmwrite_any = true;
static unsigned invept_calls, invvpid_calls;
static uint64_t invept_type, invept_eptp, invvpid_type, invvpid_gla;
static uint16_t invvpid_vpid;

static struct fake_port_access port_log[FAKE_PORT_LOG];
static unsigned port_count;
static struct {
    uint16_t port;
    uint32_t value;
} port_in_values[32];
static unsigned port_in_count;
static uint64_t crs[5];
static struct descriptor_table_ptr gdtr, idtr;
static unsigned wbinvd_calls, xsetbv_calls;
static uint64_t xcr0 = 1;

static __attribute__((noreturn)) void die(const char *what, uint64_t arg)
{
    fprintf(stderr, "fake_vmx: %s (0x%llx)\n", what, (unsigned long long)arg);
    abort();
}

void fake_vmx_reset(void)
{
    memset(regions, 0, sizeof(regions));
    current = 0;
    vmx_on_state = false;
    vmxon_region = 0;
    required_revision = 0;
    vmwrite_any = true;
    invept_calls = invvpid_calls = 0;
    invept_type = invept_eptp = invvpid_type = invvpid_gla = 0;
    invvpid_vpid = 0;
    port_count = port_in_count = 0;
    memset(crs, 0, sizeof(crs));
    memset(&gdtr, 0, sizeof(gdtr));
    memset(&idtr, 0, sizeof(idtr));
    wbinvd_calls = xsetbv_calls = 0;
    xcr0 = 1;
}

static int index_of(uint32_t enc)
{
    for (int i = 0; i < VMCS_FIELD_COUNT; i++)
        if (encodings[i] == enc)
            return i;
    return -1;
}

/* The value as the field stores it (SDM 25.11.2: width from bits 14:13). */
static uint64_t fit(uint32_t enc, uint64_t v)
{
    switch (vmcs_enc_width(enc)) {
    case VMCS_WIDTH_16: return v & 0xffff;
    case VMCS_WIDTH_32: return v & 0xffffffffULL;
    default: return v;
    }
}

static struct region *region_at(uint64_t pa, bool create)
{
    for (unsigned i = 0; i < FAKE_VMCS_SLOTS; i++)
        if (regions[i].used && regions[i].pa == pa)
            return &regions[i];
    if (!create)
        return 0;
    for (unsigned i = 0; i < FAKE_VMCS_SLOTS; i++)
        if (!regions[i].used) {
            regions[i].used = true;
            regions[i].pa = pa;
            return &regions[i];
        }
    die("more VMCS regions than FAKE_VMCS_SLOTS", pa);
}

/* VMfailValid(err) with a current VMCS, else VMfailInvalid (SDM 31.2). */
static bool fail(unsigned err)
{
    if (current)
        current->field[index_of(VMCS_VM_INSTRUCTION_ERROR)] = err;
    return false;
}

static struct region *need_current(const char *what, uint32_t enc)
{
    if (!current)
        die(what, enc);
    return current;
}

bool vmcs_try_read(uint32_t enc, uint64_t *v)
{
    if (!vmx_on_state || !current)
        return false;
    int i = index_of(enc);
    if (i < 0)
        return fail(VMXERR_UNSUPPORTED_VMCS_COMPONENT);
    *v = current->field[i];
    return true;
}

bool vmcs_try_write(uint32_t enc, uint64_t v)
{
    if (!vmx_on_state || !current)
        return false;
    int i = index_of(enc);
    if (i < 0)
        return fail(VMXERR_UNSUPPORTED_VMCS_COMPONENT);
    if (vmcs_enc_type(enc) == VMCS_TYPE_READONLY && !vmwrite_any)
        return fail(VMXERR_VMWRITE_READ_ONLY_COMPONENT);
    current->field[i] = fit(enc, v);
    current->written[i] = true;
    return true;
}

uint64_t vmcs_read(enum vmcs_field f)
{
    uint64_t v;
    if (!vmcs_try_read(f, &v))
        die(current ? "VMREAD failed" : "VMREAD without a current VMCS", f);
    return v;
}

void vmcs_write(enum vmcs_field f, uint64_t v)
{
    if (!vmcs_try_write(f, v))
        die(current ? "VMWRITE failed" : "VMWRITE without a current VMCS", f);
}

static bool revision_ok(uint64_t pa)
{
    if (!required_revision)
        return true;
    uint32_t rev;
    memcpy(&rev, phys_to_virt(pa), 4);
    return (rev & 0x7fffffffU) == required_revision;
}

bool vmx_on(uint64_t pa)
{
    if (vmx_on_state)
        return fail(VMXERR_VMXON_IN_VMX_ROOT);
    if ((pa & 0xfff) || !revision_ok(pa))
        return false; /* VMfailInvalid */
    vmx_on_state = true;
    vmxon_region = pa;
    return true;
}

void vmx_off(void)
{
    vmx_on_state = false;
    current = 0;
}

bool vmcs_clear(uint64_t pa)
{
    if (!vmx_on_state)
        return false;
    if (pa & 0xfff)
        return fail(VMXERR_VMCLEAR_INVALID_ADDRESS);
    if (pa == vmxon_region)
        return fail(VMXERR_VMCLEAR_VMXON_POINTER);
    struct region *r = region_at(pa, true);
    if (current == r)
        current = 0;
    return true;
}

bool vmcs_load(uint64_t pa)
{
    if (!vmx_on_state)
        return false;
    if (pa & 0xfff)
        return fail(VMXERR_VMPTRLD_INVALID_ADDRESS);
    if (pa == vmxon_region)
        return fail(VMXERR_VMPTRLD_VMXON_POINTER);
    if (!revision_ok(pa))
        return fail(VMXERR_VMPTRLD_INCORRECT_REVISION);
    current = region_at(pa, true);
    return true;
}

uint64_t vmcs_current(void) { return current ? current->pa : FAKE_NO_VMCS; }

bool invept(uint64_t type, uint64_t eptp)
{
    if (!vmx_on_state)
        return false;
    invept_calls++;
    invept_type = type;
    invept_eptp = eptp;
    return true;
}

bool invvpid(uint64_t type, uint16_t vpid, uint64_t gla)
{
    if (!vmx_on_state)
        return false;
    invvpid_calls++;
    invvpid_type = type;
    invvpid_vpid = vpid;
    invvpid_gla = gla;
    return true;
}

/* ---- test-side access ---- */

static int index_or_die(enum vmcs_field f)
{
    int i = index_of(f);
    if (i < 0)
        die("not a VMCS field", f);
    return i;
}

uint64_t fake_vmcs_get(enum vmcs_field f) { return need_current("no current VMCS", f)->field[index_or_die(f)]; }

void fake_vmcs_set(enum vmcs_field f, uint64_t v)
{
    need_current("no current VMCS", f)->field[index_or_die(f)] = fit(f, v);
}

bool fake_vmcs_written(enum vmcs_field f) { return need_current("no current VMCS", f)->written[index_or_die(f)]; }

uint64_t fake_vmcs_get_at(uint64_t pa, enum vmcs_field f)
{
    struct region *r = region_at(pa, false);
    if (!r)
        die("no VMCS region at this address", pa);
    return r->field[index_or_die(f)];
}

unsigned fake_vmcs_regions(void)
{
    unsigned n = 0;
    for (unsigned i = 0; i < FAKE_VMCS_SLOTS; i++)
        n += regions[i].used;
    return n;
}

bool fake_vmx_is_on(void) { return vmx_on_state; }
uint64_t fake_vmxon_pa(void) { return vmxon_region; }
void fake_vmx_require_revision(uint32_t rev) { required_revision = rev; }
void fake_vmx_set_vmwrite_any(bool on) { vmwrite_any = on; }

unsigned fake_invept_count(void) { return invept_calls; }
unsigned fake_invvpid_count(void) { return invvpid_calls; }

void fake_invept_last(uint64_t *type, uint64_t *eptp)
{
    *type = invept_type;
    *eptp = invept_eptp;
}

void fake_invvpid_last(uint64_t *type, uint16_t *vpid, uint64_t *gla)
{
    *type = invvpid_type;
    *vpid = invvpid_vpid;
    *gla = invvpid_gla;
}

/* ---- privileged instructions ---- */

static void port_record(uint16_t port, unsigned size, bool in, uint32_t value)
{
    if (port_count == FAKE_PORT_LOG)
        die("port log full", port);
    port_log[port_count++] = (struct fake_port_access){port, (uint8_t)size, in, value};
}

static uint32_t port_value(uint16_t port)
{
    for (unsigned i = 0; i < port_in_count; i++)
        if (port_in_values[i].port == port)
            return port_in_values[i].value;
    return 0xffffffffU;
}

unsigned fake_port_count(void) { return port_count; }
const struct fake_port_access *fake_port_log(unsigned i) { return i < port_count ? &port_log[i] : 0; }

void fake_port_set_in(uint16_t port, uint32_t value)
{
    for (unsigned i = 0; i < port_in_count; i++)
        if (port_in_values[i].port == port) {
            port_in_values[i].value = value;
            return;
        }
    if (port_in_count == sizeof(port_in_values) / sizeof(port_in_values[0]))
        die("too many port values", port);
    port_in_values[port_in_count].port = port;
    port_in_values[port_in_count++].value = value;
}

void outb(uint16_t port, uint8_t v) { port_record(port, 1, false, v); }
void outw(uint16_t port, uint16_t v) { port_record(port, 2, false, v); }
void outl(uint16_t port, uint32_t v) { port_record(port, 4, false, v); }

uint8_t inb(uint16_t port)
{
    uint8_t v = (uint8_t)port_value(port);
    port_record(port, 1, true, v);
    return v;
}

uint16_t inw(uint16_t port)
{
    uint16_t v = (uint16_t)port_value(port);
    port_record(port, 2, true, v);
    return v;
}

uint32_t inl(uint16_t port)
{
    uint32_t v = port_value(port);
    port_record(port, 4, true, v);
    return v;
}

void fake_cr_set(unsigned n, uint64_t v)
{
    if (n != 0 && n != 3 && n != 4)
        die("no such control register here (CR2 is fake_arch's)", n);
    crs[n] = v;
}

uint64_t fake_cr_get(unsigned n)
{
    if (n != 0 && n != 3 && n != 4)
        die("no such control register here (CR2 is fake_arch's)", n);
    return crs[n];
}

uint64_t read_cr0(void) { return crs[0]; }
uint64_t read_cr3(void) { return crs[3]; }
uint64_t read_cr4(void) { return crs[4]; }
void write_cr0(uint64_t v) { crs[0] = v; }
void write_cr3(uint64_t v) { crs[3] = v; }
void write_cr4(uint64_t v) { crs[4] = v; }

void fake_gdtr_set(uint64_t base, uint16_t limit)
{
    gdtr.base = base;
    gdtr.limit = limit;
}

void fake_idtr_set(uint64_t base, uint16_t limit)
{
    idtr.base = base;
    idtr.limit = limit;
}

void read_gdtr(struct descriptor_table_ptr *p) { *p = gdtr; }
void read_idtr(struct descriptor_table_ptr *p) { *p = idtr; }

void wbinvd(void) { wbinvd_calls++; }

void xsetbv(uint32_t index, uint64_t value)
{
    if (index != 0)
        die("XSETBV of an XCR other than XCR0", index);
    xsetbv_calls++;
    xcr0 = value;
}

unsigned fake_wbinvd_count(void) { return wbinvd_calls; }
unsigned fake_xsetbv_count(void) { return xsetbv_calls; }
uint64_t fake_xcr0(void) { return xcr0; }
