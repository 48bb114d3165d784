/* tern on a Cortex-M55, from C: translates fixed sentences with the model linked into QSPI flash
   (read in place) in a `static` workspace sized at build time by tern's size query (plan.h,
   written on the host by plan.c), and exits 0 only if every translation equals the host
   engine's. Prints through semihosting. Costs are SysTick ticks converted to instructions
   (QEMU with -icount shift=0 counts one instruction per nanosecond). */
#include <stddef.h>
#include <stdint.h>

#include "plan.h"
#include "semihosting.h"
#include "tern.h"

extern const uint8_t tern_model[], tern_model_end[];

/* Everything tern uses while translating: its size is the memory plan's, known at build time. */
static uint8_t workspace[TERN_PLAN_WORKSPACE_BYTES] __attribute__((aligned(32)));
/* The loaded engine: views into the model, no copies. */
static TernEngineStorage engine_storage;
static char text[TERN_PLAN_MAX_OUT_BYTES];

/* QEMU's mps3-an547 core clock, which SysTick counts. */
#define CPU_HZ 32000000u
static volatile uint32_t wraps;

void systick_handler(void) { wraps++; }

static uint64_t ticks(void) {
  volatile uint32_t *cvr = (volatile uint32_t *)0xE000E018u;
  for (;;) {
    uint32_t w = wraps;
    uint32_t below = 0x00FFFFFFu - *cvr;
    if (wraps == w) return ((uint64_t)w << 24) | below;
  }
}

static uint64_t instructions(uint64_t t) { return t * 1000000000ull / CPU_HZ; }

static void start_systick(void) {
  volatile uint32_t *csr = (volatile uint32_t *)0xE000E010u;
  volatile uint32_t *rvr = (volatile uint32_t *)0xE000E014u;
  volatile uint32_t *cvr = (volatile uint32_t *)0xE000E018u;
  *rvr = 0x00FFFFFFu;
  *cvr = 0;
  *csr = 7; /* core clock, interrupt, enable */
  while (*cvr == 0) {
  }
}

static void put_u64(uint64_t v) {
  char buf[24];
  char *p = buf + sizeof buf - 1;
  *p = 0;
  do {
    *--p = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  sh_puts(p);
}

static int same(const char *a, const char *b) {
  while (*a && *a == *b) a++, b++;
  return *a == *b;
}

static size_t length(const char *s) {
  size_t n = 0;
  while (s[n]) n++;
  return n;
}

static void fail_with(const char *what, TernStatus status) {
  sh_puts("tern-c firmware: ");
  sh_puts(what);
  sh_puts(": ");
  sh_puts(tern_status_name((int)status));
  sh_puts(": ");
  sh_puts(tern_last_error_message());
  sh_puts("\n");
}

int main(void) {
  start_systick();
  size_t model_len = (size_t)(tern_model_end - tern_model);
  sh_puts("tern-c firmware on mps3-an547 (C, libtern no_std): model ");
  put_u64(model_len);
  sh_puts(" bytes in QSPI, workspace ");
  put_u64(sizeof workspace);
  sh_puts(" bytes, engine ");
  put_u64(tern_engine_size());
  sh_puts(" bytes\n");
  if (model_len != TERN_PLAN_MODEL_BYTES) {
    sh_puts("tern-c firmware: the linked model is not the one plan.h was made for\n");
    return 1;
  }

  const TernEngine *engine = NULL;
  uint64_t t0 = ticks();
  TernStatus status = tern_engine_load(tern_model, model_len, &engine_storage, &engine);
  uint64_t load = instructions(ticks() - t0);
  if (status != TERN_STATUS_OK) {
    fail_with("loading the model", status);
    return 1;
  }
  sh_puts("loaded in ");
  put_u64(load);
  sh_puts(" instructions\n");

  /* The plan made on the host (64-bit) must cover what this core needs (32-bit pointers and
     alignments can only make it smaller). */
  size_t need = 0;
  status = tern_engine_workspace_bytes(engine, TERN_PLAN_MAX_SRC, TERN_PLAN_MAX_TGT,
                                       TERN_PLAN_BEAM, TERN_PLAN_MAX_TEXT_BYTES, &need);
  if (status != TERN_STATUS_OK || need > sizeof workspace) {
    sh_puts("tern-c firmware: the workspace from plan.h is smaller than the size query on the "
            "target asks for\n");
    return 1;
  }
  sh_puts("size query on the target: ");
  put_u64(need);
  sh_puts(" bytes\n");

  int all_same = 1;
  uint64_t all = 0, tokens_out = 0;
  for (size_t i = 0; i < TERN_PLAN_SENTENCES; i++) {
    const char *source = TERN_PLAN_SOURCES[i];
    size_t len = 0;
    t0 = ticks();
    status = tern_engine_translate(engine, TERN_PLAN_MAX_SRC, TERN_PLAN_MAX_TGT, TERN_PLAN_BEAM,
                                   workspace, sizeof workspace, source, length(source), text,
                                   sizeof text, &len);
    uint64_t cost = instructions(ticks() - t0);
    if (status != TERN_STATUS_OK) {
      fail_with(source, status);
      all_same = 0;
      continue;
    }
    int ok = same(text, TERN_PLAN_EXPECTED[i]) && len == length(TERN_PLAN_EXPECTED[i]);
    all_same &= ok;
    all += cost;
    tokens_out += len;
    put_u64(i + 1);
    sh_puts(": ");
    sh_puts(source);
    sh_puts(" -> ");
    sh_puts(text);
    sh_puts(" [");
    put_u64(cost);
    sh_puts(" instructions]");
    sh_puts(ok ? "\n" : " DIFFERS from the host engine\n");
    if (!ok) {
      sh_puts("host engine: ");
      sh_puts(TERN_PLAN_EXPECTED[i]);
      sh_puts("\n");
    }
  }

  /* A workspace one byte short is refused with a status and the size needed, not a crash. */
  size_t len = 0;
  const char *probe = TERN_PLAN_SOURCES[0];
  size_t exact = 0;
  tern_engine_workspace_bytes(engine, TERN_PLAN_MAX_SRC, TERN_PLAN_MAX_TGT, TERN_PLAN_BEAM,
                              length(probe), &exact);
  status = tern_engine_translate(engine, TERN_PLAN_MAX_SRC, TERN_PLAN_MAX_TGT, TERN_PLAN_BEAM,
                                 workspace, exact - 1, probe, length(probe), text, sizeof text,
                                 &len);
  if (status != TERN_STATUS_WORKSPACE_TOO_SMALL) {
    sh_puts("tern-c firmware: a too-small workspace was not refused\n");
    all_same = 0;
  } else {
    sh_puts("a workspace of ");
    put_u64(exact - 1);
    sh_puts(" bytes is refused: ");
    sh_puts(tern_last_error_message());
    sh_puts("\n");
  }
  /* Invalid UTF-8 too. */
  status = tern_engine_translate(engine, TERN_PLAN_MAX_SRC, TERN_PLAN_MAX_TGT, TERN_PLAN_BEAM,
                                 workspace, sizeof workspace, "caf\xe9", 4, text, sizeof text,
                                 &len);
  if (status != TERN_STATUS_INVALID_UTF8) {
    sh_puts("tern-c firmware: invalid UTF-8 was not refused\n");
    all_same = 0;
  }

  put_u64(TERN_PLAN_SENTENCES);
  sh_puts(" sentences, ");
  put_u64(all);
  sh_puts(" instructions in all (model load: ");
  put_u64(load);
  sh_puts("); ");
  sh_puts(all_same ? "all equal to the host engine\n" : "MISMATCH\n");
  (void)tokens_out;
  return all_same ? 0 : 1;
}
