/* Runs on the host, at build time, against the host libtern: asks tern's size query how big the
   firmware's workspace must be for the model and limits, and records the host engine's
   translations of the sentences, which the firmware must reproduce. Writes plan.h.

     plan MODEL.gguf SENTENCES.txt plan.h MAX_SRC MAX_TGT BEAM */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tern.h"

#define MAX_TEXT_BYTES 512
#define MAX_OUT_BYTES 1024

static void die(const char *what, TernStatus s) {
  fprintf(stderr, "plan: %s: %s: %s\n", what, tern_status_name((int)s), tern_last_error_message());
  exit(1);
}

static void c_string(FILE *f, const char *s, size_t n) {
  fputc('"', f);
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '"' || c == '\\' || c < 0x20 || c >= 0x7f)
      fprintf(f, "\\%03o", c);
    else
      fputc(c, f);
  }
  fputc('"', f);
}

int main(int argc, char **argv) {
  if (argc != 7) {
    fprintf(stderr, "usage: plan MODEL.gguf SENTENCES.txt plan.h MAX_SRC MAX_TGT BEAM\n");
    return 2;
  }
  size_t max_src = strtoul(argv[4], NULL, 10), max_tgt = strtoul(argv[5], NULL, 10),
         beam = strtoul(argv[6], NULL, 10);
  FILE *m = fopen(argv[1], "rb");
  if (!m) {
    perror(argv[1]);
    return 1;
  }
  fseek(m, 0, SEEK_END);
  size_t len = (size_t)ftell(m);
  fseek(m, 0, SEEK_SET);
  /* The model read in place, as from flash: on a 32-byte boundary. */
  unsigned char *model = aligned_alloc(32, (len + 31) / 32 * 32);
  if (!model || fread(model, 1, len, m) != len) {
    perror(argv[1]);
    return 1;
  }
  fclose(m);

  size_t workspace_bytes = 0;
  TernStatus s = tern_workspace_bytes(model, len, max_src, max_tgt, beam, MAX_TEXT_BYTES,
                                      &workspace_bytes);
  if (s != TERN_STATUS_OK) die("size query", s);

  static TernEngineStorage storage;
  const TernEngine *engine = NULL;
  if ((s = tern_engine_load(model, len, &storage, &engine)) != TERN_STATUS_OK) die(argv[1], s);
  unsigned char *ws = malloc(workspace_bytes);
  static char out[MAX_OUT_BYTES];

  FILE *in = fopen(argv[2], "r");
  FILE *h = fopen(argv[3], "w");
  if (!in || !h) {
    perror("plan");
    return 1;
  }
  fprintf(h, "/* Written by plan.c from %s: tern's size query and the host engine's translations. */\n", argv[1]);
  fprintf(h, "#define TERN_PLAN_MODEL_BYTES %zu\n", len);
  fprintf(h, "#define TERN_PLAN_MAX_SRC %zu\n#define TERN_PLAN_MAX_TGT %zu\n#define TERN_PLAN_BEAM %zu\n",
          max_src, max_tgt, beam);
  fprintf(h, "#define TERN_PLAN_MAX_TEXT_BYTES %d\n#define TERN_PLAN_MAX_OUT_BYTES %d\n",
          MAX_TEXT_BYTES, MAX_OUT_BYTES);
  fprintf(h, "#define TERN_PLAN_WORKSPACE_BYTES %zu\n", workspace_bytes);
  char line[MAX_TEXT_BYTES + 2];
  char sources[64][MAX_TEXT_BYTES + 1];
  char expected[64][MAX_OUT_BYTES];
  size_t n = 0;
  while (fgets(line, sizeof line, in)) {
    size_t l = strcspn(line, "\r\n");
    line[l] = 0;
    if (l == 0) continue;
    if (n == 64) {
      fprintf(stderr, "plan: at most 64 sentences\n");
      return 1;
    }
    size_t got = 0;
    s = tern_engine_translate(engine, max_src, max_tgt, beam, ws, workspace_bytes, line, l, out,
                              sizeof out, &got);
    if (s != TERN_STATUS_OK) die(line, s);
    memcpy(sources[n], line, l + 1);
    memcpy(expected[n], out, got + 1);
    n++;
  }
  fprintf(h, "#define TERN_PLAN_SENTENCES %zu\n", n);
  fprintf(h, "static const char *const TERN_PLAN_SOURCES[TERN_PLAN_SENTENCES] = {\n");
  for (size_t i = 0; i < n; i++) {
    fputs("    ", h);
    c_string(h, sources[i], strlen(sources[i]));
    fputs(",\n", h);
  }
  fprintf(h, "};\n/* The host engine's translations. */\n");
  fprintf(h, "static const char *const TERN_PLAN_EXPECTED[TERN_PLAN_SENTENCES] = {\n");
  for (size_t i = 0; i < n; i++) {
    fputs("    ", h);
    c_string(h, expected[i], strlen(expected[i]));
    fputs(",\n", h);
  }
  fputs("};\n", h);
  fclose(h);
  fprintf(stderr, "plan: %s: workspace %zu bytes for max source %zu, max target %zu, beam %zu; %zu sentences\n",
          argv[1], workspace_bytes, max_src, max_tgt, beam, n);
  return 0;
}
