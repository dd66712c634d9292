/* triple: load an empty IDT and execute UD2. #UD cannot be delivered (IDT
 * limit 0) -> #GP -> #DF -> triple fault. nestvisor must report it, stop L1
 * and power off (docs/l1-platform.md: status 4); the guest prints nothing
 * after the announcement. */
#include "guest.h"

const char guest_name[] = "triple";

void guest_main(uint32_t magic, uint32_t info)
{
    (void)magic, (void)info;
    printf("triple: about to triple fault\n");
    console_flush();
    if (!nv_present)
        com1_drain(); /* the last bytes must leave the UART first */
    struct desc_ptr empty = {0, 0};
    cli();
    lidt(&empty);
    __asm__ volatile("ud2");
    /* Not reached: the line below only shows up if the CPU survived. */
    fail("triple_fault", "UD2 with an empty IDT returned");
}
