/* Translates standard input, one line at a time, with tern's C API: one output line per input
   line, in order, as `tern translate -m MODEL` prints them.

     cc translate.c $(pkg-config --cflags --libs tern) -o translate
     ./translate MODEL.gguf [--beam N] [--max-len N] [--max-src-len N] [--batch N]
                 [--threads N] [--source-lang CODE] [--target-lang CODE]
                 [--stream | --html | --alignment] < in.txt > out.txt

   Lines go to tern_translate_batch in chunks (threads and batches as given); a line that fails
   gives an empty line and a message on stderr, as with the CLI. With --stream, each line goes
   to tern_translate_stream and its text is printed as it is decoded. With --html, each line is
   an HTML fragment translated with tern_translate_html (markup kept); with --alignment, each
   line goes to tern_translate_aligned and prints "translation ||| word alignment" (Pharaoh), as
   `tern translate --html` / `--alignment` do. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tern.h>

#define CHUNK 256

static int fail(const char *what, TernStatus s) {
  fprintf(stderr, "translate: %s: %s\n", what, tern_last_error_message());
  return s == TERN_STATUS_INVALID_ARGUMENT ? 2 : 1;
}

/* Reads one line of any length (without its newline); NULL at the end of input. */
static char *read_line(FILE *in) {
  size_t cap = 256, len = 0;
  char *buf = malloc(cap);
  int c;
  while (buf && (c = fgetc(in)) != EOF && c != '\n') {
    if (len + 1 == cap) buf = realloc(buf, cap *= 2);
    if (buf) buf[len++] = (char)c;
  }
  if (!buf || (len == 0 && c == EOF)) {
    free(buf);
    return NULL;
  }
  if (len > 0 && buf[len - 1] == '\r') len--;
  buf[len] = 0;
  return buf;
}

static int flush(TernSession *session, char **lines, size_t n, size_t *done) {
  char *outs[CHUNK];
  TernStatus statuses[CHUNK];
  tern_translate_batch(session, (const char *const *)lines, n, outs, statuses);
  for (size_t i = 0; i < n; i++) {
    if (statuses[i] != TERN_STATUS_OK)
      fprintf(stderr, "translate: line %zu: %s; wrote an empty line\n", *done + i + 1,
              tern_status_name((int)statuses[i]));
    /* One output line per input line, whatever the text holds. */
    for (char *p = outs[i]; p && *p; p++)
      if (*p == '\n' || *p == '\r') *p = ' ';
    printf("%s\n", outs[i] ? outs[i] : "");
    tern_string_free(outs[i]);
    free(lines[i]);
  }
  *done += n;
  return 0;
}

static void print_piece(const char *piece, size_t len, void *user_data) {
  (void)user_data;
  for (size_t i = 0; i < len; i++) putchar(piece[i] == '\n' || piece[i] == '\r' ? ' ' : piece[i]);
  fflush(stdout);
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: translate MODEL.gguf [--beam N] [--max-len N] [--max-src-len N] "
                    "[--batch N] [--threads N] [--source-lang CODE] [--target-lang CODE] "
                    "[--stream | --html | --alignment]\n");
    return 2;
  }
  TernSettings settings = tern_settings_default();
  int stream = 0, html = 0, alignment = 0;
  for (int i = 2; i < argc; i += 2) {
    int *flag = !strcmp(argv[i], "--stream")      ? &stream
                : !strcmp(argv[i], "--html")      ? &html
                : !strcmp(argv[i], "--alignment") ? &alignment
                                                  : NULL;
    if (flag) {
      *flag = 1;
      i--;
      continue;
    }
    if (i + 1 == argc) {
      fprintf(stderr, "translate: %s needs a value\n", argv[i]);
      return 2;
    }
    const char *k = argv[i], *v = argv[i + 1];
    size_t n = strtoul(v, NULL, 10);
    if (!strcmp(k, "--beam")) settings.beam = n;
    else if (!strcmp(k, "--max-len")) settings.max_len = n;
    else if (!strcmp(k, "--max-src-len")) settings.max_src_len = n;
    else if (!strcmp(k, "--batch")) settings.batch = n;
    else if (!strcmp(k, "--threads")) settings.threads = n;
    else if (!strcmp(k, "--source-lang")) settings.source_lang = v;
    else if (!strcmp(k, "--target-lang")) settings.target_lang = v;
    else {
      fprintf(stderr, "translate: unknown option %s\n", k);
      return 2;
    }
  }

  TernModel *model = NULL;
  TernStatus s = tern_model_open(argv[1], &model);
  if (s != TERN_STATUS_OK) return fail(argv[1], s);
  TernSession *session = NULL;
  s = tern_session_new(model, &settings, &session);
  if (s != TERN_STATUS_OK) {
    tern_model_free(model);
    return fail("settings", s);
  }

  char *lines[CHUNK];
  size_t n = 0, done = 0;
  char *line;
  while (stream && (line = read_line(stdin)) != NULL) {
    /* Text as it is decoded: each piece printed (and flushed) as it comes. */
    s = tern_translate_stream(session, line, print_piece, NULL);
    if (s != TERN_STATUS_OK)
      fprintf(stderr, "translate: line %zu: %s; wrote what was decoded\n", done + 1,
              tern_last_error_message());
    putchar('\n');
    fflush(stdout);
    free(line);
    done++;
  }
  while ((html || alignment) && !stream && (line = read_line(stdin)) != NULL) {
    /* One line at a time: an HTML fragment, or a line and its word alignment. */
    char *out = NULL, *align = NULL;
    s = html ? tern_translate_html(session, line, &out)
             : tern_translate_aligned(session, line, &out, &align);
    if (s != TERN_STATUS_OK)
      fprintf(stderr, "translate: line %zu: %s; wrote an empty line\n", done + 1,
              tern_last_error_message());
    for (char *p = out; p && *p; p++)
      if (*p == '\n' || *p == '\r') *p = ' ';
    if (alignment)
      printf("%s ||| %s\n", out ? out : "", align ? align : "");
    else
      printf("%s\n", out ? out : "");
    tern_string_free(out);
    tern_string_free(align);
    free(line);
    done++;
  }
  while (!stream && !html && !alignment && (line = read_line(stdin)) != NULL) {
    lines[n++] = line;
    if (n == CHUNK) {
      flush(session, lines, n, &done);
      n = 0;
    }
  }
  if (n) flush(session, lines, n, &done);

  tern_session_free(session);
  tern_model_free(model);
  return 0;
}
