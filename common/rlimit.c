/*
 * rlimit.c -- see rlimit.h.  Main thread, start-up only.  The cgroup
 * files are read as the kernel documents them (cgroup-v1/memory.rst,
 * cgroup-v2.rst, proc(5) for mountinfo); nothing is written.
 */
#include "rlimit.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int bq_nofile_raise(rlim_t want, rlim_t *was, rlim_t *now) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return -errno;
  *was = rl.rlim_cur;
  if (rl.rlim_cur < rl.rlim_max && rl.rlim_cur < want) {
    rl.rlim_cur = rl.rlim_max;
    /* A refusal leaves the old limit, which the re-read reports. */
    (void)setrlimit(RLIMIT_NOFILE, &rl);
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) rl.rlim_cur = *was;
  }
  *now = rl.rlim_cur;
  return 0;
}

int bq_nofile_fits(unsigned long long n, rlim_t lim) {
  return lim == RLIM_INFINITY || n + BQ_NOFILE_RESERVE <= lim;
}

int bq_max_map_count(unsigned long long *n) {
  FILE *f = fopen("/proc/sys/vm/max_map_count", "r");
  unsigned long long v;
  int ok;
  if (f == NULL) return -errno;
  ok = fscanf(f, "%llu", &v) == 1;
  fclose(f);
  if (!ok) return -EINVAL;
  *n = v;
  return 0;
}

/* One cgroup hierarchy: where it is mounted, the mount's root inside the
 * hierarchy, this process's cgroup in it, and the file with the limit. */
struct hier {
  char mnt[PATH_MAX];
  char mroot[PATH_MAX];
  char cg[PATH_MAX];
  const char *file;
  int have_mnt, have_cg;
};

/* 1 if the comma-separated list has the token word. */
static int has_token(const char *list, const char *word) {
  size_t n = strlen(word);
  for (const char *p = list; p != NULL; p = strchr(p, ',')) {
    if (*p == ',') p++;
    if (strncmp(p, word, n) == 0 && (p[n] == ',' || p[n] == '\0'))
      return 1;
  }
  return 0;
}

/* Copy s into dst (size PATH_MAX); 0, or -1 when it does not fit. */
static int put(char *dst, const char *s) {
  size_t n = strlen(s);
  if (n >= PATH_MAX) return -1;
  memcpy(dst, s, n + 1);
  return 0;
}

/* As put(), undoing mountinfo's escapes: space, tab, newline and
 * backslash are written as \ and three octal digits (proc(5)). */
static int put_unescaped(char *dst, const char *s) {
  size_t n = 0;
  while (*s != '\0') {
    if (n + 1 >= PATH_MAX) return -1;
    if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' &&
        s[2] <= '7' && s[3] >= '0' && s[3] <= '7') {
      dst[n++] = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
      s += 4;
    } else {
      dst[n++] = *s++;
    }
  }
  dst[n] = '\0';
  return 0;
}

/* From /proc/self/cgroup: "ID:CONTROLLERS:PATH" lines; v1's memory
 * hierarchy lists "memory" among its controllers, v2's is "0::PATH". */
static void read_cgroups(const char *root, struct hier *v1, struct hier *v2) {
  char path[PATH_MAX], line[PATH_MAX + 256];
  FILE *f;
  snprintf(path, sizeof(path), "%s/proc/self/cgroup", root);
  if ((f = fopen(path, "re")) == NULL) return;
  while (fgets(line, sizeof(line), f) != NULL) {
    char *ctl = strchr(line, ':'), *cg;
    if (ctl == NULL || (cg = strchr(++ctl, ':')) == NULL) continue;
    *cg++ = '\0';
    cg[strcspn(cg, "\n")] = '\0';
    if (strcmp(line, "0:") == 0 && *ctl == '\0') {
      if (put(v2->cg, cg) == 0) v2->have_cg = 1;
    } else if (has_token(ctl, "memory")) {
      if (put(v1->cg, cg) == 0) v1->have_cg = 1;
    }
  }
  fclose(f);
}

/* From /proc/self/mountinfo: "ID PARENT DEV ROOT MOUNTPOINT OPTS [TAGS]
 * - FSTYPE SOURCE SUPEROPTS"; the first cgroup2 mount, and the first
 * cgroup (v1) mount with the memory controller. */
static void read_mounts(const char *root, struct hier *v1, struct hier *v2) {
  char path[PATH_MAX], line[3 * PATH_MAX];
  FILE *f;
  snprintf(path, sizeof(path), "%s/proc/self/mountinfo", root);
  if ((f = fopen(path, "re")) == NULL) return;
  while (fgets(line, sizeof(line), f) != NULL) {
    char *field[5], *sep, *fstype, *super, *save = NULL, *tok;
    int n = 0;
    struct hier *h = NULL;
    if ((sep = strstr(line, " - ")) == NULL) continue;
    *sep = '\0';
    fstype = strtok_r(sep + 3, " \n", &save);
    (void)strtok_r(NULL, " \n", &save); /* source */
    super = strtok_r(NULL, " \n", &save);
    if (fstype == NULL) continue;
    if (strcmp(fstype, "cgroup2") == 0 && !v2->have_mnt)
      h = v2;
    else if (strcmp(fstype, "cgroup") == 0 && !v1->have_mnt &&
             super != NULL && has_token(super, "memory"))
      h = v1;
    if (h == NULL) continue;
    save = NULL;
    for (tok = strtok_r(line, " ", &save); tok != NULL && n < 5;
         tok = strtok_r(NULL, " ", &save))
      field[n++] = tok;
    if (n < 5) continue;
    if (put_unescaped(h->mroot, field[3]) == 0 &&
        put_unescaped(h->mnt, field[4]) == 0)
      h->have_mnt = 1;
  }
  fclose(f);
}

/* Limits at or above this are "none": cgroup v1 reports an unlimited
 * cgroup as the largest page-aligned counter (9223372036854771712 with
 * 4 KiB pages). */
#define UNLIMITED ((uint64_t)1 << 62)

/* Read one limit file: 0 with the bytes, or -1 (absent, unreadable,
 * "max", v1's unlimited). */
static int read_limit(const char *path, uint64_t *v) {
  FILE *f = fopen(path, "re");
  char buf[64], *end;
  unsigned long long n;
  int ok;
  if (f == NULL) return -1;
  ok = fgets(buf, sizeof(buf), f) != NULL;
  fclose(f);
  if (!ok || buf[0] < '0' || buf[0] > '9') return -1;
  errno = 0;
  n = strtoull(buf, &end, 10);
  if (errno != 0 || (*end != '\n' && *end != '\0') || n >= UNLIMITED)
    return -1;
  *v = n;
  return 0;
}

/* The smallest limit from the process's cgroup up to the mount's top:
 * 0 with it in *min (lowered only), or -1 when none was found. */
static int hier_limit(const char *root, const struct hier *h, uint64_t *min) {
  char dir[PATH_MAX], path[PATH_MAX + 32];
  const char *rel = h->cg;
  size_t top, rl = strlen(h->mroot);
  int found = -1;

  if (!h->have_mnt || !h->have_cg) return -1;
  /* The cgroup as seen from the mount: strip the mount's root; a cgroup
   * outside it (another namespace's view, which may climb with "/..") is
   * read at the mount's top. */
  if (strstr(rel, "/..") != NULL)
    rel = "";
  else if (strcmp(h->mroot, "/") == 0)
    ;
  else if (strncmp(rel, h->mroot, rl) == 0 &&
           (rel[rl] == '/' || rel[rl] == '\0'))
    rel += rl;
  else
    rel = "";
  if (snprintf(dir, sizeof(dir), "%s%s", root, h->mnt) >= (int)sizeof(dir))
    return -1;
  top = strlen(dir);
  if (strcmp(rel, "/") != 0 &&
      snprintf(dir + top, sizeof(dir) - top, "%s", rel) >=
          (int)(sizeof(dir) - top))
    return -1;
  for (;;) {
    uint64_t v;
    char *slash;
    snprintf(path, sizeof(path), "%s/%s", dir, h->file);
    if (read_limit(path, &v) == 0 && (found < 0 || v < *min)) {
      *min = v;
      found = 0;
    }
    if (strlen(dir) <= top) break;
    slash = strrchr(dir, '/');
    if (slash == NULL || (size_t)(slash - dir) < top) break;
    *slash = '\0';
  }
  return found;
}

int bq_cgroup_memory_limit(const char *root, uint64_t *bytes) {
  struct hier v1, v2;
  uint64_t a = 0, b = 0;
  int ra, rb;
  memset(&v1, 0, sizeof(v1));
  memset(&v2, 0, sizeof(v2));
  v1.file = "memory.limit_in_bytes";
  v2.file = "memory.max";
  read_cgroups(root, &v1, &v2);
  read_mounts(root, &v1, &v2);
  ra = hier_limit(root, &v1, &a);
  rb = hier_limit(root, &v2, &b);
  if (ra < 0 && rb < 0) return -ENOENT;
  *bytes = ra < 0 ? b : rb < 0 ? a : a < b ? a : b;
  return 0;
}

int bq_memory_limit(uint64_t *bytes, enum bq_mem_bound *bound) {
  long pages = sysconf(_SC_PHYS_PAGES), pagesize = sysconf(_SC_PAGESIZE);
  uint64_t best, cg;
  struct rlimit rl;
  if (pages <= 0 || pagesize <= 0) return -EINVAL;
  best = (uint64_t)pages * (uint64_t)pagesize;
  *bound = BQ_MEM_PHYSICAL;
  if (bq_cgroup_memory_limit("", &cg) == 0 && cg < best) {
    best = cg;
    *bound = BQ_MEM_CGROUP;
  }
  if (getrlimit(RLIMIT_AS, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
      (uint64_t)rl.rlim_cur < best) {
    best = (uint64_t)rl.rlim_cur;
    *bound = BQ_MEM_ADDRESS_SPACE;
  }
  *bytes = best;
  return 0;
}
