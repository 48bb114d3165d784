/* Startup for QEMU mps3-an547 (Cortex-M55): vector table, .data/.bss set-up, FPU and Helium
   enabled, semihosting for output and the exit status. */
#include <stdint.h>
#include "semihosting.h"

extern uint32_t __data_start[], __data_end[], __data_load[], __bss_start[], __bss_end[];
extern uint32_t __stack_top[];
int main(void);
void systick_handler(void);

void reset_handler(void) {
  /* CP10 and CP11 (the FPU, and Helium's vector registers) full access, before any FP code. */
  volatile uint32_t *cpacr = (volatile uint32_t *)0xE000ED88u;
  *cpacr |= (0xFu << 20);
  __asm volatile("dsb\n isb" ::: "memory");
  for (uint32_t *s = __data_load, *d = __data_start; d < __data_end;) *d++ = *s++;
  for (uint32_t *d = __bss_start; d < __bss_end;) *d++ = 0;
  sh_exit(main());
}

static void fault_handler(void) {
  sh_puts("tern-c firmware: fault (HardFault or an internal error in tern)\n");
  sh_exit(3);
}

static void default_handler(void) {
  sh_puts("tern-c firmware: unexpected exception\n");
  sh_exit(4);
}

__attribute__((section(".vectors"), used)) static void (*const vectors[16])(void) = {
    (void (*)(void))(uintptr_t)__stack_top,
    reset_handler,
    default_handler, /* NMI */
    fault_handler,   /* HardFault */
    fault_handler,   /* MemManage */
    fault_handler,   /* BusFault */
    fault_handler,   /* UsageFault */
    fault_handler,   /* SecureFault */
    0, 0, 0,
    default_handler, /* SVCall */
    default_handler, /* DebugMonitor */
    0,
    default_handler, /* PendSV */
    systick_handler,
};
