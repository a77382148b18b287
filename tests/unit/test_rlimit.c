/*
 * test_rlimit.c -- unit tests of common/rlimit.h.  The process raises its
 * own soft open-file limit to its hard one, which any process may do, and
 * lowers its own soft RLIMIT_AS for a moment; the cgroup reader runs on
 * directories laid out like /proc and /sys in a temporary directory.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "rlimit.h"
#include "tmpdir.h"

static void test_fits(void **state) {
  (void)state;
  assert_true(bq_nofile_fits(0, BQ_NOFILE_RESERVE));
  assert_true(bq_nofile_fits(100, 100 + BQ_NOFILE_RESERVE));
  assert_false(bq_nofile_fits(101, 100 + BQ_NOFILE_RESERVE));
  assert_false(bq_nofile_fits(1, BQ_NOFILE_RESERVE));
  assert_true(bq_nofile_fits(1000000000ULL, RLIM_INFINITY));
}

static void test_raise(void **state) {
  struct rlimit rl;
  rlim_t was = 1, now = 1;
  (void)state;
  assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);

  /* Already enough: nothing changes. */
  assert_int_equal(bq_nofile_raise(0, &was, &now), 0);
  assert_true(was == rl.rlim_cur);
  assert_true(now == rl.rlim_cur);

  /* As high as allowed: the soft limit becomes the hard one (raising up to
   * the hard limit needs no privilege), and the report says so. */
  assert_int_equal(bq_nofile_raise(RLIM_INFINITY, &was, &now), 0);
  assert_true(was == rl.rlim_cur);
  {
    struct rlimit after;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &after), 0);
    assert_true(now == after.rlim_cur);
    assert_true(after.rlim_max == rl.rlim_max);
    if (rl.rlim_max != RLIM_INFINITY) assert_true(now == rl.rlim_max);
  }

  /* Again: at the hard limit, nothing more to do. */
  {
    rlim_t before = now;
    assert_int_equal(bq_nofile_raise(RLIM_INFINITY, &was, &now), 0);
    assert_true(was == before && now == before);
  }
}

/* bq_max_map_count reads what /proc/sys/vm/max_map_count says. */
static void test_max_map_count(void **state) {
  unsigned long long n = 0, want = 0;
  FILE *f = fopen("/proc/sys/vm/max_map_count", "r");
  (void)state;
  if (f == NULL) {
    assert_int_equal(bq_max_map_count(&n), -errno);
    assert_true(n == 0);
    return;
  }
  assert_int_equal(fscanf(f, "%llu", &want), 1);
  fclose(f);
  assert_int_equal(bq_max_map_count(&n), 0);
  assert_true(n == want && n > 0);
}

/* ---- the cgroup's memory limit, on a made-up tree ---------------------- */

static char tree[256];

/* Write text to tree/rel (tmpdir_put), making the directories on the
 * way. */
static void put_file(const char *rel, const char *text) {
  char path[512];
  assert_true((size_t)snprintf(path, sizeof(path), "%s/%s", tree, rel) <
              sizeof(path));
  for (char *p = path + strlen(tree) + 1; (p = strchr(p, '/')) != NULL; p++) {
    *p = '\0';
    (void)mkdir(path, 0755);
    *p = '/';
  }
  (void)tmpdir_put(tree, rel, text, strlen(text), 0644);
}

static int tree_setup(void **state) {
  (void)state;
  return tmpdir_make(tree, sizeof(tree), "cgroup");
}

static int tree_teardown(void **state) {
  (void)state;
  return tmpdir_remove(tree);
}

/* bq_cgroup_memory_limit on the tree finds want. */
static void expect_limit(uint64_t want) {
  uint64_t b = 0;
  assert_int_equal(bq_cgroup_memory_limit(tree, &b), 0);
  assert_true(b == want);
}

#define MOUNT_V1 "30 22 0:28 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
#define MOUNT_CPU "31 22 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n"
#define MOUNT_V2 "32 22 0:30 / /sys/fs/cgroup/unified rw shared:5 - cgroup2 cgroup2 rw,nsdelegate\n"
#define UNLIMITED_V1 "9223372036854771712\n"

/* bq_cgroup_memory_limit on the tree finds no limit (and leaves its
 * output alone). */
static void expect_none(const char *root) {
  uint64_t b = 3;
  assert_int_equal(bq_cgroup_memory_limit(root, &b), -ENOENT);
  assert_true(b == 3);
}

/* cgroup v1: the smallest limit on the way up wins; v1's "unlimited" is
 * none; other controllers' hierarchies and an unlimited v2 beside it do
 * not count. */
static void test_cgroup_v1(void **state) {
  (void)state;
  put_file("proc/self/cgroup", "5:cpu,cpuacct:/elsewhere\n4:memory:/a/b\n0::/\n");
  put_file("proc/self/mountinfo", "25 1 8:1 / / rw - ext4 /dev/vda1 rw\n" MOUNT_CPU MOUNT_V1 MOUNT_V2);
  put_file("sys/fs/cgroup/memory/memory.limit_in_bytes", UNLIMITED_V1);
  put_file("sys/fs/cgroup/memory/a/b/memory.limit_in_bytes", UNLIMITED_V1);
  expect_none(tree);
  put_file("sys/fs/cgroup/memory/a/memory.limit_in_bytes", "536870912\n");
  put_file("sys/fs/cgroup/cpu/elsewhere/memory.limit_in_bytes", "4096\n");
  expect_limit(536870912);
  put_file("sys/fs/cgroup/memory/a/b/memory.limit_in_bytes", "268435456\n");
  expect_limit(268435456);

  /* memory in a hierarchy with other controllers, mounted where the path
   * has a space (mountinfo writes it as \040). */
  put_file("proc/self/cgroup", "3:cpu,memory,pids:/job\n");
  put_file("proc/self/mountinfo", "33 22 0:31 / /sys/fs/cg\\040v1 rw - cgroup cgroup rw,cpu,memory,pids\n");
  put_file("sys/fs/cg v1/job/memory.limit_in_bytes", "999999488\n");
  expect_limit(999999488);
  /* A path that climbs out of the mount (another namespace's view) is
   * read at the mount's top, never above it. */
  put_file("proc/self/cgroup", "3:cpu,memory,pids:/../sibling\n");
  put_file("sys/fs/memory.limit_in_bytes", "4096\n");
  put_file("sys/fs/cg v1/memory.limit_in_bytes", "888888320\n");
  expect_limit(888888320);
}

/* cgroup v2: "max" is no limit; the smallest set one up the tree wins; a
 * mount whose root is the process's own cgroup (a container's view)
 * strips it; with no limit anywhere the answer is -ENOENT. */
static void test_cgroup_v2(void **state) {
  (void)state;
  put_file("proc/self/cgroup", "0::/system.slice/burstqd.service\n");
  put_file("proc/self/mountinfo", "32 22 0:30 / /sys/fs/cgroup rw shared:5 - cgroup2 cgroup2 rw\n");
  put_file("sys/fs/cgroup/system.slice/burstqd.service/memory.max", "max\n");
  put_file("sys/fs/cgroup/system.slice/memory.max", "max\n");
  expect_none(tree);
  put_file("sys/fs/cgroup/system.slice/memory.max", "2147483648\n");
  expect_limit(2147483648ULL);
  put_file("sys/fs/cgroup/system.slice/burstqd.service/memory.max", "1073741824\n");
  expect_limit(1073741824);

  /* A container: its cgroup is the mount's root, so the limit is at the
   * mount's top; the host's files above it are out of sight. */
  put_file("proc/self/cgroup", "0::/docker/abc/app\n");
  put_file("proc/self/mountinfo", "40 30 0:30 /docker/abc /c/cg ro - cgroup2 cgroup2 rw\n");
  put_file("c/cg/memory.max", "805306368\n");
  put_file("c/cg/app/memory.max", "max\n");
  expect_limit(805306368);
  /* The process's cgroup outside the mount's root (another namespace's
   * view): the mount's top is read. */
  put_file("proc/self/cgroup", "0::/\n");
  put_file("c/cg/memory.max", "805306369\n");
  expect_limit(805306369);

  /* Garbage is no limit. */
  put_file("c/cg/memory.max", "lots\n");
  expect_none(tree);
  put_file("c/cg/memory.max", "12x\n");
  expect_none(tree);
}

/* Both hierarchies limit (a hybrid host): the smaller wins.  Without
 * /proc files, or with no cgroup mount, there is no limit. */
static void test_cgroup_both_and_none(void **state) {
  char missing[sizeof(tree) + 16];
  (void)state;
  put_file("proc/self/cgroup", "4:memory:/m\n0::/u\n");
  put_file("proc/self/mountinfo", MOUNT_V1 MOUNT_V2);
  put_file("sys/fs/cgroup/memory/m/memory.limit_in_bytes", "3000000000\n");
  put_file("sys/fs/cgroup/unified/u/memory.max", "2000000000\n");
  expect_limit(2000000000);
  put_file("sys/fs/cgroup/unified/u/memory.max", "4000000000\n");
  expect_limit(3000000000ULL);

  put_file("proc/self/mountinfo", "25 1 8:1 / / rw - ext4 /dev/vda1 rw\n" MOUNT_CPU);
  expect_none(tree);
  snprintf(missing, sizeof(missing), "%s/nothing-here", tree);
  expect_none(missing);
}

/* This process's address space (VmSize), in bytes, or 0. */
static size_t vm_size(void) {
  FILE *f = fopen("/proc/self/status", "r");
  char line[256];
  size_t kb = 0;
  if (f == NULL) return 0;
  while (fgets(line, sizeof(line), f) != NULL)
    if (sscanf(line, "VmSize: %zu kB", &kb) == 1) break;
  fclose(f);
  return kb * 1024;
}

/* bq_memory_limit: never above the machine's memory; a soft RLIMIT_AS
 * below everything else is the bound while it is set. */
static void test_memory_limit(void **state) {
  uint64_t b = 0, phys = (uint64_t)sysconf(_SC_PHYS_PAGES) *
                         (uint64_t)sysconf(_SC_PAGESIZE);
  enum bq_mem_bound bound = BQ_MEM_ADDRESS_SPACE;
  struct rlimit old, lim;
  (void)state;
  assert_int_equal(getrlimit(RLIMIT_AS, &old), 0);
  assert_int_equal(bq_memory_limit(&b, &bound), 0);
  assert_true(b > 0 && b <= phys);
  if (old.rlim_cur == RLIM_INFINITY)
    assert_true(bound == BQ_MEM_PHYSICAL || bound == BQ_MEM_CGROUP);
  if (bound == BQ_MEM_PHYSICAL) assert_true(b == phys);

  /* A soft limit just under the rest, yet far above what this process
   * maps, so that nothing fails while it is set (sanitized builds reserve
   * terabytes of address space and are left out). */
  lim = old;
  lim.rlim_cur = (rlim_t)(b - 4096);
  if (vm_size() + ((size_t)64 << 20) > lim.rlim_cur ||
      (old.rlim_cur != RLIM_INFINITY && old.rlim_cur <= lim.rlim_cur) ||
      (old.rlim_max != RLIM_INFINITY && old.rlim_max < lim.rlim_cur))
    return; /* cannot be made the smallest here */
  assert_int_equal(setrlimit(RLIMIT_AS, &lim), 0);
  assert_int_equal(bq_memory_limit(&b, &bound), 0);
  assert_int_equal(setrlimit(RLIMIT_AS, &old), 0);
  assert_true(bound == BQ_MEM_ADDRESS_SPACE);
  assert_true(b == (uint64_t)lim.rlim_cur);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_fits),
      cmocka_unit_test(test_raise),
      cmocka_unit_test(test_max_map_count),
      cmocka_unit_test_setup_teardown(test_cgroup_v1, tree_setup,
                                      tree_teardown),
      cmocka_unit_test_setup_teardown(test_cgroup_v2, tree_setup,
                                      tree_teardown),
      cmocka_unit_test_setup_teardown(test_cgroup_both_and_none, tree_setup,
                                      tree_teardown),
      cmocka_unit_test(test_memory_limit),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
