/*
 * replay.c -- runs inputs through a fuzz target without libFuzzer, so the
 * corpus (tests/fuzz/corpus/NAME, every crash ever found included) is a
 * regression test in `make test` (ctest: fuzz.replay.NAME), built with the
 * normal compiler and under the sanitizer builds too.
 *
 * usage: fuzz_replay_NAME PATH...   (files, or directories of files)
 * Exits 0 after running every input (a failed property aborts), 1 when an
 * input cannot be read or no input was found at all.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path) {
  FILE *f = fopen(path, "rb");
  uint8_t *buf = NULL;
  size_t len = 0, cap = 0, n;
  if (f == NULL) {
    perror(path);
    return -1;
  }
  do {
    if (len == cap) {
      cap = cap ? cap * 2 : 4096;
      buf = realloc(buf, cap);
      if (buf == NULL) abort();
    }
    n = fread(buf + len, 1, cap - len, f);
    len += n;
  } while (n > 0);
  fclose(f);
  LLVMFuzzerTestOneInput(buf, len);
  free(buf);
  return 0;
}

int main(int argc, char **argv) {
  long count = 0;
  for (int i = 1; i < argc; i++) {
    struct stat st;
    if (stat(argv[i], &st) != 0) {
      perror(argv[i]);
      return 1;
    }
    if (S_ISDIR(st.st_mode)) {
      struct dirent **names;
      int n = scandir(argv[i], &names, NULL, alphasort);
      if (n < 0) {
        perror(argv[i]);
        return 1;
      }
      for (int j = 0; j < n; j++) {
        char path[4096];
        if (names[j]->d_name[0] != '.') {
          snprintf(path, sizeof(path), "%s/%s", argv[i], names[j]->d_name);
          if (run_file(path) != 0) return 1;
          count++;
        }
        free(names[j]);
      }
      free(names);
    } else {
      if (run_file(argv[i]) != 0) return 1;
      count++;
    }
  }
  printf("replayed %ld inputs\n", count);
  return count > 0 ? 0 : 1;
}
