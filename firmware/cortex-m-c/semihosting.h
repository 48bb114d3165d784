/* Arm semihosting: text to the host's console, and ending the run with a status (QEMU exits
   with it). */
#ifndef SEMIHOSTING_H
#define SEMIHOSTING_H
#include <stdint.h>

static inline uint32_t sh_call(uint32_t op, const void *arg) {
  register uint32_t r0 __asm__("r0") = op;
  register const void *r1 __asm__("r1") = arg;
  __asm volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
  return r0;
}

/* SYS_WRITE0: a NUL-terminated string. */
static inline void sh_puts(const char *s) { sh_call(0x04, s); }

/* SYS_EXIT_EXTENDED: ADP_Stopped_ApplicationExit with `code` as the exit status. */
__attribute__((noreturn)) static inline void sh_exit(int code) {
  uint32_t block[2] = {0x20026u, (uint32_t)code};
  sh_call(0x20, block);
  for (;;) __asm volatile("wfi");
}
#endif
