#include "vmm/hypercall.h"
#include "vmm/hypercall_abi.h"
#include "vmm/stats.h"
#include "vmm/vm.h"
#include "vmm/nested/ept02.h"
#include "vmm/nested/nested.h"
#include "lib/log.h"
#include "lib/string.h"

/* L1's console output, re-cut into whole lines prefixed with "[L1] ".
 * Each vCPU has its own line (per-CPU state), so that lines of CPUs that
 * write at once do not mix. */
static void console_write_l1(struct vcpu *v, const char *s, uint64_t len)
{
    char *line = v->console.line;
    for (uint64_t i = 0; i < len; i++) {
        char c = s[i];
        if (c == '\n' || v->console.used == NV_CONSOLE_LINE_MAX) {
            line[v->console.used] = 0;
            log_raw("[L1] %s\n", line);
            v->console.used = 0;
            if (c == '\n')
                continue;
        }
        if (c != '\r')
            line[v->console.used++] = c;
    }
}

static int64_t hc_console_write(struct vcpu *v)
{
    struct guest_regs *r = &v->regs;
    uint64_t gpa = r->rbx, len = r->rcx;
    if (len > NV_CONSOLE_MAX)
        return NV_EINVAL;
    const char *buf = vm_l1_ram(gpa, len);
    if (!buf && len)
        return NV_EFAULT;
    console_write_l1(v, buf, len);
    r->rbx = len;
    return NV_OK;
}

static int64_t hc_exit_stats(struct vcpu *v)
{
    struct guest_regs *r = &v->regs;
    if (r->rcx >= NV_LEVEL_COUNT || (r->rbx >= EXIT_REASON_COUNT && r->rbx != NV_EXIT_REASON_ALL))
        return NV_EINVAL;
    uint64_t count, ticks;
    stats_query(&v->stats, (unsigned)r->rcx, (unsigned)r->rbx, &count, &ticks);
    r->rbx = count;
    r->rcx = ticks;
    return NV_OK;
}

/* The index-th range of the host map that is nestvisor's. */
static int64_t hc_l0_memory(struct guest_regs *r)
{
    const struct memmap *m = &the_vm.host->map;
    uint64_t n = 0;
    for (unsigned i = 0; i < m->count; i++) {
        if (m->r[i].type != MEM_HV && m->r[i].type != MEM_IMAGE)
            continue;
        if (n++ == r->rbx) {
            r->rbx = m->r[i].base;
            r->rcx = m->r[i].size;
            return NV_OK;
        }
    }
    return NV_EINVAL;
}

void handle_vmcall(struct vcpu *v)
{
    struct guest_regs *r = &v->regs;
    /* VMCALL outside CPL 0 gets #UD from a VMM that does not serve it. */
    if (vcpu_cpl() != 0) {
        vcpu_inject_ud(v);
        return;
    }
    int64_t status;
    switch (r->rax) {
    case NV_HC_VERSION:
        r->rbx = NV_ABI_VERSION;
        r->rcx = (the_vm.cfg.nested ? NV_FEATURE_NESTED : 0) |
                 (the_vm.cfg.nested && the_vm.cfg.shadow ? NV_FEATURE_SHADOW : 0);
        status = NV_OK;
        break;
    case NV_HC_CONSOLE_WRITE:
        status = hc_console_write(v);
        break;
    case NV_HC_EXIT_STATS:
        status = hc_exit_stats(v);
        break;
    case NV_HC_POWER_OFF:
        log_info("L1 requested power-off with status %llu\n", (unsigned long long)r->rbx);
        vm_stop(r->rbx ? POWER_FAIL : POWER_OK, "L1 power-off hypercall");
    case NV_HC_SHADOW_STATS:
        if (!the_vm.cfg.nested) {
            status = NV_EINVAL;
            break;
        }
        r->rbx = v->nested ? ept02_table_pages(v->nested->ept02, r->rbx) : 0;
        r->rcx = v->nested ? v->nested->ept02->stats.fills : 0;
        status = NV_OK;
        break;
    case NV_HC_L0_MEMORY:
        status = hc_l0_memory(r);
        break;
    case NV_HC_CANARY:
        r->rbx = the_vm.canary_page;
        r->rcx = vm_canary_check(&the_vm) < 0;
        status = NV_OK;
        break;
    case NV_HC_STATS_RESET:
        memset(&v->stats, 0, sizeof(v->stats));
        status = NV_OK;
        break;
    default:
        status = NV_EUNKNOWN;
        break;
    }
    r->rax = (uint64_t)status;
    vcpu_skip_instruction(v);
}
