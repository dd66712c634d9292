/* l1hv's SMP mode: finding the CPUs (ACPI MADT), starting the APs with
 * INIT-SIPI-SIPI through a trampoline below 1 MiB (smp_trampoline.asm),
 * each AP's own GDT/TSS/stack/VMXON region, and the job mailboxes the BSP
 * drives them with. The cases are in smp_cases.c, smp_bad.c and
 * smp_bench.c; README.md, "SMP", describes them. */
#include "smp.h"

struct smp_state smp;

#define ALIGNED_PAGE __attribute__((aligned(PAGE_SIZE)))
#define AP_STACK_SIZE 32768
#define L2_STACK_SIZE 8192
static uint8_t smp_vmxon_regions[SMP_MAX_CPUS][PAGE_SIZE] ALIGNED_PAGE;
static uint8_t smp_vmcs_regions[SMP_MAX_CPUS][SMP_VCPUS_PER_CPU][PAGE_SIZE] ALIGNED_PAGE;
static uint8_t smp_l2_stacks[SMP_MAX_CPUS][SMP_VCPUS_PER_CPU][L2_STACK_SIZE] ALIGNED_PAGE;
static uint8_t smp_ap_stacks[SMP_MAX_CPUS][AP_STACK_SIZE] ALIGNED_PAGE;

/* Each AP's GDT: a copy of L1's (same selectors) with its own TSS. */
#define GDT_ENTRIES 8
struct tss64 {
    uint32_t reserved0;
    uint64_t rsp[3];
    uint64_t reserved1;
    uint64_t ist[7];
    uint64_t reserved2;
    uint16_t reserved3, iomap_base;
} __attribute__((packed));
static uint64_t ap_gdt[SMP_MAX_CPUS][GDT_ENTRIES] __attribute__((aligned(16)));
static struct tss64 ap_tss[SMP_MAX_CPUS] __attribute__((aligned(16)));
static struct desc_ptr bsp_idtr;

/* ---- time ---- */
#define PIT_CH2       0x42
#define PIT_CMD       0x43
#define PIT_CH2_MODE0 0xb0 /* channel 2, lobyte/hibyte, mode 0, binary */
#define PORT_61       0x61
#define P61_GATE2     0x01
#define P61_SPEAKER   0x02
#define P61_OUT2      0x20
#define PIT_MAX_US    50000
#define PIT_MIN_COUNT 2
#define US_PER_S      1000000
#define POLL_LIMIT    100000000ULL
#define CALIBRATE_MS  10
#define US_PER_MS     1000

/* Polls PIT channel 2 in mode 0 (its output on port 0x61 bit 5), as
 * apsteal.c does: the BSP's delays for INIT and SIPI. */
void pit_wait_us(uint64_t us)
{
    while (us) {
        uint64_t chunk = us > PIT_MAX_US ? PIT_MAX_US : us;
        uint32_t count = (uint32_t)(chunk * PIT_HZ / US_PER_S);
        if (count < PIT_MIN_COUNT)
            count = PIT_MIN_COUNT;
        uint8_t p61 = inb(PORT_61) & (uint8_t)~(P61_GATE2 | P61_SPEAKER);
        outb(PORT_61, p61);
        outb(PIT_CMD, PIT_CH2_MODE0);
        outb(PIT_CH2, (uint8_t)count);
        outb(PIT_CH2, (uint8_t)(count >> 8));
        outb(PORT_61, p61 | P61_GATE2);
        for (uint64_t n = 0; !(inb(PORT_61) & P61_OUT2) && n < POLL_LIMIT; n++)
            pause();
        outb(PORT_61, p61);
        us -= chunk;
    }
}

uint64_t smp_ms_to_tsc(uint64_t ms)
{
    return ms * smp.tsc_per_ms;
}

bool smp_timed_out(uint64_t start_tsc, uint64_t ms)
{
    return rdtsc() - start_tsc > smp_ms_to_tsc(ms);
}

/* ---- local APIC ---- */
#define APIC_BASE_X2APIC  (1ULL << 10)
#define APIC_BASE_ENABLE_BIT (1ULL << 11)
#define APIC_BASE_ADDR    0xfffff000ULL
#define XAPIC_ID          0x020
#define XAPIC_ICR_LOW     0x300
#define XAPIC_ICR_HIGH    0x310
#define XAPIC_ID_SHIFT    24
#define XAPIC_DEST_SHIFT  24
#define ICR_PENDING       (1u << 12)
#define MSR_X2APIC_ID     0x802
#define MSR_X2APIC_ICR    0x830
#define X2APIC_DEST_SHIFT 32

/* The APIC's mode and base, read once at start-up as an OS does (a RDMSR
 * of IA32_APIC_BASE is an exit under nestvisor: not on the IPI path). The
 * APs are put in the BSP's mode. */
static bool x2_mode;
static uintptr_t xapic_base;

static void apic_mode_read(void)
{
    uint64_t base = rdmsr(MSR_APIC_BASE);
    x2_mode = base & APIC_BASE_X2APIC;
    xapic_base = (uintptr_t)(base & APIC_BASE_ADDR);
}

static bool apic_x2(void)
{
    return x2_mode;
}

static volatile uint32_t *xapic_reg(uint32_t off)
{
    return (volatile uint32_t *)(xapic_base + off);
}

uint32_t smp_apic_id(void)
{
    if (apic_x2())
        return (uint32_t)rdmsr(MSR_X2APIC_ID);
    return *xapic_reg(XAPIC_ID) >> XAPIC_ID_SHIFT;
}

struct smp_cpu *smp_self(void)
{
    uint32_t id = smp_apic_id();
    for (unsigned i = 0; i < smp.n; i++)
        if (smp.cpu[i].apic_id == id)
            return &smp.cpu[i];
    return NULL;
}

bool smp_send_ipi(uint32_t apic_id, uint32_t icr_low)
{
    if (apic_x2()) {
        wrmsr(MSR_X2APIC_ICR, ((uint64_t)apic_id << X2APIC_DEST_SHIFT) | icr_low);
        return true;
    }
    volatile uint32_t *low = xapic_reg(XAPIC_ICR_LOW), *high = xapic_reg(XAPIC_ICR_HIGH);
    for (uint64_t n = 0; *low & ICR_PENDING; n++)
        if (n > POLL_LIMIT)
            return false;
    *high = apic_id << XAPIC_DEST_SHIFT;
    *low = icr_low;
    for (uint64_t n = 0; *low & ICR_PENDING; n++)
        if (n > POLL_LIMIT)
            return false;
    return true;
}

/* ---- locks and failures ---- */
void smp_lock(struct smp_lock *l)
{
    while (__atomic_exchange_n(&l->v, 1, __ATOMIC_ACQUIRE))
        while (__atomic_load_n(&l->v, __ATOMIC_RELAXED))
            pause();
}

void smp_unlock(struct smp_lock *l)
{
    __atomic_store_n(&l->v, 0, __ATOMIC_RELEASE);
}

void cpu_fail(struct smp_cpu *c, const char *fmt, ...)
{
    if (c->nfail++)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->first, sizeof c->first, fmt, ap);
    va_end(ap);
}

void smp_collect(void)
{
    for (unsigned i = 0; i < smp.n; i++) {
        struct smp_cpu *c = &smp.cpu[i];
        unsigned n = __atomic_load_n(&c->nfail, __ATOMIC_ACQUIRE);
        if (!n)
            continue;
        if (n > 1)
            expect(false, "cpu%u (APIC %u): %s (+%u more on it)", i, c->apic_id, c->first, n - 1);
        else
            expect(false, "cpu%u (APIC %u): %s", i, c->apic_id, c->first);
        c->nfail = 0;
    }
}

/* ---- ACPI: the enabled local APICs of the MADT (lib/acpi.c) ---- */
struct cpu_list {
    uint32_t *ids;
    unsigned n, max, total;
};

static void list_cpu(uint32_t id, uint32_t flags, void *arg)
{
    struct cpu_list *l = arg;
    if (!(flags & MADT_CPU_ENABLED))
        return;
    l->total++;
    if (l->n < l->max)
        l->ids[l->n++] = id;
}

/* The enabled local APIC IDs (xAPIC and x2APIC entries), up to max. */
static unsigned madt_cpus(uint32_t *ids, unsigned max, unsigned *total)
{
    const struct acpi_rsdp *r = acpi_find_rsdp(NULL);
    *total = 0;
    if (!r)
        return 0;
    const struct acpi_sdt_header *madt =
        r->revision >= ACPI_REVISION_2 ? acpi_madt_of(acpi_table(r->xsdt), ACPI_XSDT_ENTRY) : NULL;
    if (!madt)
        madt = acpi_madt_of(acpi_table(r->rsdt), ACPI_RSDT_ENTRY);
    if (!madt)
        return 0;
    struct cpu_list l = {.ids = ids, .max = max};
    acpi_madt_cpus(madt, list_cpu, &l);
    *total = l.total;
    return l.n;
}

/* ---- the trampoline ---- */
extern const char smp_trampoline[], smp_trampoline_end[];
extern const char smp_tramp_pm32[], smp_tramp_lm64[], smp_tramp_gdt[];
extern const uint32_t smp_tramp_gdt_size;

struct __attribute__((packed)) tramp_params {
    uint16_t gdt_limit;
    uint32_t gdt_base;
    uint16_t pad0;
    uint32_t pm32_offset;
    uint16_t pm32_sel;
    uint16_t pad1;
    uint32_t lm64_offset;
    uint16_t lm64_sel;
    uint16_t pad2;
    uint32_t cr3, cr4, efer, cr0;
    uint64_t entry, stack, cpu;
};
#define TRAMP_PARAMS     8 /* smp_trampoline.asm */
#define TRAMP_SEL_CODE32 0x08
#define TRAMP_SEL_CODE64 0x18
_Static_assert(sizeof(struct tramp_params) == 64, "smp_trampoline.asm's P_* offsets");

#define LOW_MEMORY_END   0x100000ULL
#define FIRST_TRAMP_PAGE 0x8000ULL /* clear of the IVT, BDA and boot sector */
#define SIPI_SHIFT       12        /* the SIPI vector is the page number */
#define EFER_LMA_BIT     (1ULL << 10)

static bool page_free(uint64_t pa)
{
    bool usable = false;
    for (unsigned i = 0; i < boot.n_mmap; i++) {
        const struct mem_range *m = &boot.mmap[i];
        if (m->type == MEM_USABLE && pa >= m->base && pa + PAGE_SIZE <= m->base + m->len)
            usable = true;
    }
    uint64_t info_end = boot.info ? boot.info + *(const volatile uint32_t *)(uintptr_t)boot.info : 0;
    return usable && !(boot.info && pa < info_end && boot.info < pa + PAGE_SIZE);
}

noreturn void smp_ap_entry(uint64_t index);

static struct tramp_params *tramp_params(void)
{
    return (struct tramp_params *)(uintptr_t)(smp.tramp_page + TRAMP_PARAMS);
}

static bool tramp_install(void)
{
    uint64_t page = FIRST_TRAMP_PAGE;
    while (page < LOW_MEMORY_END && !page_free(page))
        page += PAGE_SIZE;
    if (page >= LOW_MEMORY_END)
        return false;
    smp.tramp_page = page;
    size_t size = (size_t)(smp_trampoline_end - smp_trampoline);
    memcpy((void *)(uintptr_t)page, smp_trampoline, size);
    struct tramp_params *p = tramp_params();
    p->gdt_limit = (uint16_t)(smp_tramp_gdt_size - 1);
    p->gdt_base = (uint32_t)(page + (uint64_t)(smp_tramp_gdt - smp_trampoline));
    p->pm32_offset = (uint32_t)(page + (uint64_t)(smp_tramp_pm32 - smp_trampoline));
    p->pm32_sel = TRAMP_SEL_CODE32;
    p->lm64_offset = (uint32_t)(page + (uint64_t)(smp_tramp_lm64 - smp_trampoline));
    p->lm64_sel = TRAMP_SEL_CODE64;
    p->cr3 = (uint32_t)read_cr3();
    p->cr4 = (uint32_t)(read_cr4() & ~CR4_VMXE);
    p->efer = (uint32_t)(rdmsr(MSR_EFER) & ~EFER_LMA_BIT);
    p->cr0 = (uint32_t)read_cr0();
    p->entry = (uintptr_t)smp_ap_entry;
    return true;
}

/* ---- per-CPU set-up ---- */
static void gdt_load(struct smp_cpu *c)
{
    struct desc_ptr gdtr = {sizeof ap_gdt[0] - 1, c->gdt_base};
    __asm__ volatile("lgdt %0\n\t"
                     "pushq %1\n\t"
                     "leaq 1f(%%rip), %%rax\n\t"
                     "pushq %%rax\n\t"
                     "lretq\n"
                     "1:\n\t"
                     "movl %2, %%eax\n\t"
                     "movl %%eax, %%ds\n\t"
                     "movl %%eax, %%es\n\t"
                     "movl %%eax, %%ss\n\t"
                     "movl %%eax, %%fs\n\t"
                     "movl %%eax, %%gs\n\t"
                     "movl %3, %%eax\n\t"
                     "ltr %%ax"
                     :
                     : "m"(gdtr), "i"(SEL_KERNEL_CS), "i"(SEL_KERNEL_DS), "i"(SEL_TSS)
                     : "rax", "memory");
}

/* The AP's GDT (L1's, with its own TSS, available again for LTR). */
static void ap_tables(struct smp_cpu *c)
{
    unsigned i = c->index;
    memcpy(ap_gdt[i], (const void *)(uintptr_t)l1_gdt_base, sizeof ap_gdt[i]);
    memset(&ap_tss[i], 0, sizeof ap_tss[i]);
    ap_tss[i].rsp[0] = (uintptr_t)c->stack_top;
    ap_tss[i].iomap_base = sizeof ap_tss[i];
    tss_descriptor(&ap_gdt[i][SEL_TSS / 8], (uintptr_t)&ap_tss[i], sizeof ap_tss[i] - 1,
                   AR_TYPE_TSS64_AVAILABLE);
    c->gdt_base = (uintptr_t)ap_gdt[i];
    c->tss_base = (uintptr_t)&ap_tss[i];
}

static void wake_handler(struct trap_frame *f)
{
    (void)f;
    struct smp_cpu *c = smp_self();
    if (c)
        __atomic_add_fetch(&c->wakes_seen, 1, __ATOMIC_RELEASE);
    lapic_eoi();
}

static int vmx_on_here(struct smp_cpu *c)
{
    uint64_t fc = rdmsr(MSR_FEATURE_CONTROL);
    if (!(fc & FEATURE_CONTROL_LOCK))
        wrmsr(MSR_FEATURE_CONTROL, fc | FEATURE_CONTROL_VMX_OUTSIDE_SMX | FEATURE_CONTROL_LOCK);
    /* CR0/CR4 bits fixed in VMX operation (A.7, A.8) and CR4.VMXE (24.7). */
    write_cr0((read_cr0() | caps.cr0_fixed0) & caps.cr0_fixed1);
    write_cr4((read_cr4() | CR4_VMXE | caps.cr4_fixed0) & caps.cr4_fixed1);
    memset(c->vmxon, 0, PAGE_SIZE);
    *(uint32_t *)c->vmxon = caps.revision;
    return vmxon((uintptr_t)c->vmxon);
}

#define WAKE_WAIT_MS 1000

/* Runs the posted jobs; idles in HLT between them (a job comes with a
 * wake-up IPI). Before a job runs, the wake-up has been taken, so that it
 * cannot turn up as an external interrupt in the job's L2. */
static noreturn void ap_loop(struct smp_cpu *c)
{
    for (;;) {
        cli();
        uint32_t req = __atomic_load_n(&c->req, __ATOMIC_ACQUIRE);
        if (req == c->ack) {
            sti_hlt();
            continue;
        }
        uint64_t t0 = rdtsc();
        sti();
        while (__atomic_load_n(&c->wakes_seen, __ATOMIC_ACQUIRE) != c->wakes_sent &&
               !smp_timed_out(t0, WAKE_WAIT_MS))
            pause();
        cli();
        c->fn(c, c->arg);
        cli();
        __atomic_store_n(&c->ack, req, __ATOMIC_RELEASE);
    }
}

noreturn void smp_ap_entry(uint64_t index)
{
    struct smp_cpu *c = &smp.cpu[index];
    gdt_load(c);
    lidt(&bsp_idtr);
    if (x2_mode) /* INIT left it in xAPIC mode (Vol. 3A 11.12.5) */
        wrmsr(MSR_APIC_BASE, rdmsr(MSR_APIC_BASE) | APIC_BASE_ENABLE_BIT | APIC_BASE_X2APIC);
    lapic_enable();
    c->vmxon_result = vmx_on_here(c);
    c->parked = false;
    __atomic_add_fetch(&c->boots, 1, __ATOMIC_RELEASE);
    ap_loop(c);
}

void smp_job_park(struct smp_cpu *c, void *arg)
{
    (void)arg;
    for (unsigned i = 0; i < SMP_VCPUS_PER_CPU; i++)
        vmclear(vmcs_pa(&c->vc[i]));
    int r = vmxoff();
    if (r != VMX_OK)
        cpu_fail(c, "VMXOFF before parking: %s", vmx_result_name(r));
    write_cr4(read_cr4() & ~CR4_VMXE);
    c->vmxon_result = VMX_FAIL_INVALID; /* not in VMX operation any more */
    __atomic_store_n(&c->ack, c->req, __ATOMIC_RELEASE);
    __atomic_store_n(&c->parked, true, __ATOMIC_RELEASE);
    for (;;)
        __asm__ volatile("cli; hlt" : : : "memory");
}

/* ---- jobs ---- */
void smp_post(struct smp_cpu *c, smp_job_fn fn, void *arg)
{
    c->fn = fn;
    c->arg = arg;
    c->wakes_sent++;
    __atomic_store_n(&c->req, c->req + 1, __ATOMIC_RELEASE);
    smp_send_ipi(c->apic_id, ICR_FIXED | ICR_LEVEL_ASSERT | SMP_WAKE_VECTOR);
}

bool smp_wait(struct smp_cpu *c, uint64_t timeout_ms)
{
    uint64_t t0 = rdtsc();
    while (__atomic_load_n(&c->ack, __ATOMIC_ACQUIRE) != c->req) {
        if (smp_timed_out(t0, timeout_ms))
            return expect(false, "cpu%u (APIC %u) did not finish its job in %lu ms", c->index,
                          c->apic_id, timeout_ms);
        pause();
    }
    return true;
}

bool smp_run(struct smp_cpu *c, smp_job_fn fn, void *arg, uint64_t timeout_ms)
{
    if (!c->index) {
        fn(c, arg);
        return true;
    }
    smp_post(c, fn, arg);
    return smp_wait(c, timeout_ms);
}

bool smp_run_all(smp_job_fn fn, void *arg, bool with_bsp, uint64_t timeout_ms)
{
    for (unsigned i = 1; i < smp.n; i++)
        smp_post(&smp.cpu[i], fn, arg);
    if (with_bsp)
        fn(&smp.cpu[0], arg);
    bool ok = true;
    for (unsigned i = 1; i < smp.n; i++)
        ok &= smp_wait(&smp.cpu[i], timeout_ms);
    return ok;
}

static void job_clear(struct smp_cpu *c, void *arg)
{
    (void)arg;
    for (unsigned i = 0; i < SMP_VCPUS_PER_CPU; i++) {
        vmclear(vmcs_pa(&c->vc[i]));
        c->vc[i].launched = false;
    }
}

#define CLEAR_TIMEOUT_MS 1000
void smp_clear_all(void)
{
    for (unsigned i = 0; i < smp.n; i++)
        if (smp.cpu[i].vmxon_result == VMX_OK && !smp.cpu[i].parked)
            smp_run(&smp.cpu[i], job_clear, NULL, CLEAR_TIMEOUT_MS);
}

/* ---- VMX helpers ---- */
void smp_host_fixup(struct smp_cpu *c)
{
    vmwrite_r(VMCS_HOST_GDTR_BASE, c->gdt_base);
    vmwrite_r(VMCS_HOST_TR_BASE, c->tss_base);
    vmwrite_r(VMCS_HOST_FS_BASE, rdmsr(MSR_FS_BASE));
    vmwrite_r(VMCS_HOST_GS_BASE, rdmsr(MSR_GS_BASE));
    vmwrite_r(VMCS_HOST_SYSENTER_CS, rdmsr(MSR_SYSENTER_CS));
    vmwrite_r(VMCS_HOST_SYSENTER_ESP, rdmsr(MSR_SYSENTER_ESP));
    vmwrite_r(VMCS_HOST_SYSENTER_EIP, rdmsr(MSR_SYSENTER_EIP));
}

bool smp_vcpu_setup(struct smp_cpu *c, struct vcpu *v, void (*entry)(void))
{
    if (!vcpu_setup(v, entry))
        return false;
    smp_host_fixup(c);
    v->regs.host_rsp = 0; /* another CPU's stack: rewrite HOST_RSP */
    return true;
}

/* ---- bring-up ---- */
#define INIT_WAIT_US    10000 /* INIT to SIPI (Vol. 3A 9.4.4.1) */
#define SIPI_WAIT_US    200
#define ALIVE_WAIT_MS   200
#define SIPIS           2

bool smp_start_ap(struct smp_cpu *c)
{
    struct tramp_params *p = tramp_params();
    __atomic_store_n(&c->ack, c->req, __ATOMIC_RELEASE); /* a job it was doing is gone */
    p->stack = (uintptr_t)c->stack_top;
    p->cpu = c->index;
    ap_tables(c);
    uint32_t boots = c->boots;
    uint8_t vector = (uint8_t)(smp.tramp_page >> SIPI_SHIFT);
    if (!smp_send_ipi(c->apic_id, ICR_INIT | ICR_LEVEL_ASSERT))
        return false;
    pit_wait_us(INIT_WAIT_US);
    for (int i = 0; i < SIPIS && __atomic_load_n(&c->boots, __ATOMIC_ACQUIRE) == boots; i++) {
        if (!smp_send_ipi(c->apic_id, ICR_STARTUP | ICR_LEVEL_ASSERT | vector))
            return false;
        pit_wait_us(SIPI_WAIT_US);
    }
    uint64_t t0 = rdtsc();
    while (__atomic_load_n(&c->boots, __ATOMIC_ACQUIRE) == boots && !smp_timed_out(t0, ALIVE_WAIT_MS))
        pause();
    return c->boots != boots;
}

static void cpu_init(unsigned i, uint32_t apic_id)
{
    struct smp_cpu *c = &smp.cpu[i];
    c->index = i;
    c->apic_id = apic_id;
    c->vmxon = smp_vmxon_regions[i];
    c->stack_top = smp_ap_stacks[i] + AP_STACK_SIZE;
    static const char *const names[SMP_MAX_CPUS][SMP_VCPUS_PER_CPU] = {
        {"cpu0-A", "cpu0-B"}, {"cpu1-A", "cpu1-B"}, {"cpu2-A", "cpu2-B"}, {"cpu3-A", "cpu3-B"},
        {"cpu4-A", "cpu4-B"}, {"cpu5-A", "cpu5-B"}, {"cpu6-A", "cpu6-B"}, {"cpu7-A", "cpu7-B"},
    };
    for (unsigned k = 0; k < SMP_VCPUS_PER_CPU; k++) {
        c->vc[k].vmcs = smp_vmcs_regions[i][k];
        c->vc[k].stack_top = smp_l2_stacks[i][k] + L2_STACK_SIZE;
        c->vc[k].name = names[i][k];
    }
}

/* Finds the CPUs, starts every AP (once per run). */
static void smp_probe(void)
{
    smp.probed = true;
    apic_mode_read();
    uint32_t ids[SMP_MAX_CPUS * 2];
    unsigned total = 0, n = madt_cpus(ids, ARRAY_SIZE(ids), &total);
    smp.madt_cpus = total;
    uint32_t self = smp_apic_id();
    cpu_init(0, self);
    smp.cpu[0].gdt_base = l1_gdt_base;
    smp.cpu[0].tss_base = l1_tss_base;
    smp.cpu[0].vmxon_result = VMX_OK; /* main.c's VMXON */
    smp.n = 1;
    for (unsigned i = 0; i < n && smp.n < SMP_MAX_CPUS; i++)
        if (ids[i] != self)
            cpu_init(smp.n++, ids[i]);
    printf("l1hv: smp: the MADT lists %u enabled local APIC(s); this CPU is APIC %u (%s); using %u CPU(s)\n",
           total, self, apic_x2() ? "x2APIC" : "xAPIC", smp.n);
    if (smp.n < SMP_MIN_CPUS)
        return;

    /* Interrupts: the 8259s remapped and masked (the BIOS leaves them at
     * vector 8), the wake-up vector handled, this CPU's APIC enabled. */
    pic_remap();
    lapic_enable();
    irq_set_handler(SMP_WAKE_VECTOR, wake_handler);
    sidt(&bsp_idtr);
    uint64_t t0 = rdtsc();
    pit_wait_us(CALIBRATE_MS * US_PER_MS);
    smp.tsc_per_ms = (rdtsc() - t0) / CALIBRATE_MS;
    if (!smp.tsc_per_ms)
        smp.tsc_per_ms = 1;
    if (!tramp_install()) {
        fail("smp", "no free page below 1 MiB for the AP trampoline");
        return;
    }
    printf("l1hv: smp: trampoline at %#lx (SIPI vector %#lx), TSC %lu ticks/ms\n", smp.tramp_page,
           smp.tramp_page >> SIPI_SHIFT, smp.tsc_per_ms);
    console_flush();
    bool ok = true;
    for (unsigned i = 1; i < smp.n; i++) {
        struct smp_cpu *c = &smp.cpu[i];
        if (!smp_start_ap(c)) {
            fail("smp", "cpu%u (APIC %u) did not come up after INIT-SIPI-SIPI", i, c->apic_id);
            ok = false;
        } else if (c->vmxon_result != VMX_OK) {
            fail("smp", "cpu%u (APIC %u): VMXON with its own region: %s", i, c->apic_id,
                 vmx_result_name(c->vmxon_result));
            ok = false;
        }
    }
    smp.usable = ok;
    if (ok)
        printf("l1hv: smp: %u APs up, each in VMX operation with its own VMXON region\n", smp.n - 1);
}

bool smp_ready(void)
{
    if (!smp.probed)
        smp_probe();
    if (smp.n < SMP_MIN_CPUS) {
        case_skip("%u CPU(s) in the MADT: SMP needs %u", smp.n, SMP_MIN_CPUS);
        return false;
    }
    if (!smp.usable)
        return expect(false, "the APs did not all come up (see the smp lines above)");
    for (unsigned i = 1; i < smp.n; i++)
        if (smp.cpu[i].parked || smp.cpu[i].vmxon_result != VMX_OK)
            return expect(false, "cpu%u (APIC %u) is not available any more (parked or out of VMX operation)",
                          i, smp.cpu[i].apic_id);
    return true;
}
