# Thin wrapper around CMake.  `make help` lists the targets: the "## "
# note on each target's line below is its entry there.  A newcomer needs
# two: `make run` and `make test`.

BUILD     ?= build
JOBS      ?= $(shell nproc 2>/dev/null || echo 2)
RUN_ARGS  ?=
CTEST_ARGS ?=
FUZZ_SECONDS ?= 60

# Debian packages the build and the tests need (checked with dpkg).
DEPS := build-essential cmake pkg-config libuv1-dev libsqlite3-dev \
        libcmocka-dev sqlite3 netcat-openbsd procps \
        libhttp-parser-dev libsystemd-dev curl python3 \
        stunnel4 openssl socat libssl-dev rsyslog rsyslog-openssl bsdutils \
        clang
# The syslog tests' third-party senders: rsyslogd (rsyslog), logger
# (bsdutils), and the libraries loggen needs (see `loggen` below).
DEPS += rsyslog bsdutils libglib2.0-0 libpcre2-8-0 libssl3
# The PostgreSQL backend (--db postgresql://...): libpq to build, and the
# server (initdb, postgres, pg_ctl, pg_basebackup) for the tests' private
# clusters (tests/pg/lib.sh; no system-wide cluster is used).
DEPS += libpq-dev postgresql
# strace: test_durable_ack.sh traces the order of flushes and acks,
# test_writeback.sh the writeback hints on the WAL.
DEPS += strace
# iproute2 (ss): test_emfile.sh waits for a listener's backlog to empty.
DEPS += iproute2

.PHONY: all help deps build run stop test test-sanitize test-asan test-tsan \
        bench clean soak fuzz loggen

all: build ## the default: the same as build

help: ## list the targets, one line each
	@awk '/^[a-z][a-z-]*:.*## / { t = $$0; sub(/:.*/, "", t); d = $$0; \
	  sub(/^[^#]*## /, "", d); printf "  make %-14s %s\n", t, d }' $(MAKEFILE_LIST)

deps: ## install the missing Debian packages (as root; else print the apt-get line)
	@missing=""; \
	for p in $(DEPS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	  else \
	    echo "missing packages:$$missing"; \
	    echo "run: sudo apt-get install -y$$missing"; \
	    exit 1; \
	  fi; \
	fi
	@$(MAKE) -s --no-print-directory $(BUILD)/$(LOGGEN)

# loggen, syslog-ng's load generator, for the syslog tests.  It ships in
# syslog-ng-core, which conflicts with rsyslog (both provide
# system-log-daemon), so the package is never installed: apt-get download
# fetches the .deb and dpkg -x unpacks it into DIR/thirdparty/syslog-ng
# (one per build directory; ctest passes it to the tests as BQ_SYSLOGNG).
# loggen itself needs only libglib2.0-0, libpcre2-8-0 and libssl3 (in DEPS)
# besides the libraries of the package; run it with
#   SYSLOGNG_PREFIX=DIR/usr LD_LIBRARY_PATH=DIR/usr/lib/syslog-ng DIR/usr/bin/loggen
# Idempotent: nothing happens once it is unpacked and runs.
LOGGEN := thirdparty/syslog-ng/usr/bin/loggen
loggen: $(BUILD)/$(LOGGEN) ## fetch and unpack loggen (syslog-ng-core, not installed) into build/thirdparty/
%/$(LOGGEN):
	@set -e; d=$*/thirdparty/syslog-ng; rm -rf "$$d.tmp"; mkdir -p "$$d.tmp/debs"; \
	sandbox=; [ "$$(id -u)" != 0 ] || sandbox="-o APT::Sandbox::User=root"; \
	echo "fetching loggen: apt-get download syslog-ng-core into $$d"; \
	( cd "$$d.tmp/debs" && { apt-get download $$sandbox -qq syslog-ng-core 2>/dev/null || \
	  { [ "$$(id -u)" = 0 ] && apt-get update -qq && apt-get download $$sandbox -qq syslog-ng-core; }; } ) || \
	  { echo "cannot download syslog-ng-core (apt-get download; as root, apt-get update first)" >&2; exit 1; }; \
	for deb in "$$d.tmp"/debs/*.deb; do dpkg -x "$$deb" "$$d.tmp"; done; \
	SYSLOGNG_PREFIX="$$d.tmp/usr" LD_LIBRARY_PATH="$$d.tmp/usr/lib/syslog-ng" \
	  "$$d.tmp/usr/bin/loggen" --help >/dev/null || \
	  { echo "the unpacked loggen does not run (missing libraries? see DEPS)" >&2; exit 1; }; \
	rm -rf "$$d" "$$d.tmp/debs"; mv "$$d.tmp" "$$d"

$(BUILD)/CMakeCache.txt: | deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo

build: deps $(BUILD)/CMakeCache.txt ## deps, then build burstqd and burstq into build/ (BUILD=DIR elsewhere)
	cmake --build $(BUILD) -j $(JOBS)

# make run records the daemon's PID in $(PIDFILE) (its shell execs burstqd,
# so the shell's PID is the daemon's) for make stop.  OUR_PID sets pid and
# succeeds only while that process is still $(BUILD)/burstqd: the file
# outlives a daemon stopped by Ctrl-C or a crash, and its PID may since
# name another process, perhaps another user's burstqd.
PIDFILE = $(BUILD)/burstqd.pid
OUR_PID = pid=$$(cat $(PIDFILE) 2>/dev/null) && [ -n "$$pid" ] && \
  exe=$$(readlink /proc/$$pid/exe 2>/dev/null) && \
  [ "$${exe% (deleted)}" = "$$(realpath $(BUILD)/burstqd)" ]

run: build ## build, then burstqd in the foreground: 127.0.0.1:7070, ./burstq.db (RUN_ARGS= flags)
	@if $(OUR_PID); then \
	  echo "make run: burstqd is already running (pid $$pid); make stop stops it" >&2; \
	  exit 1; \
	fi; \
	echo $$$$ >$(PIDFILE) && exec $(BUILD)/burstqd $(RUN_ARGS)

stop: ## stop the burstqd of make run (it drains, exits 0) and wait until it is gone
	@if ! { $(OUR_PID); }; then \
	  rm -f $(PIDFILE); \
	  echo "make stop: no burstqd started by make run is running" >&2; \
	  exit 1; \
	fi; \
	kill -TERM $$pid && \
	while readlink /proc/$$pid/exe >/dev/null 2>&1; do sleep 0.1; done; \
	rm -f $(PIDFILE)

test: build ## build, then every test (ctest; CTEST_ARGS= adds flags)
	ctest --test-dir $(BUILD) --output-on-failure -j $(JOBS) $(CTEST_ARGS)

# Sanitizer builds run the same suite.  A report makes the test fail.
test-asan: deps build-asan/$(LOGGEN) ## the suite under ASan+UBSan (build-asan/)
	cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DBQ_SANITIZE=address,undefined
	cmake --build build-asan -j $(JOBS)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --test-dir build-asan --output-on-failure -j $(JOBS) $(CTEST_ARGS)

test-tsan: deps build-tsan/$(LOGGEN) ## the suite under TSan (build-tsan/)
	cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=Debug -DBQ_SANITIZE=thread
	cmake --build build-tsan -j $(JOBS)
	TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
	  ctest --test-dir build-tsan --output-on-failure -j $(JOBS) $(CTEST_ARGS)

test-sanitize: test-asan test-tsan ## test-asan, then test-tsan (as CI does)

clean: ## remove every build directory
	rm -rf $(BUILD) build-asan build-tsan build-bench build-fuzz

# Benchmarks (not tests): a Release build, fresh daemons, a table on stdout.
bench: deps ## Release build in build-bench/, docs/benchmarks.md's table (minutes)
	cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release
	cmake --build build-bench -j $(JOBS)
	BENCH_CMD="make bench" tests/bench/pipeline.sh build-bench

# The long fault tests, registered for the ctest
# configuration "soak" only, so make test never runs them (tests/soak/).
# Prints each test's SUMMARY line; the whole output is in $(BUILD)/soak.log.
soak: build ## the long fault tests (ctest configuration "soak"; a few minutes)
	@rc=0; echo "soak: running (full log: $(BUILD)/soak.log)"; \
	ctest --test-dir $(BUILD) -V -C soak -L soak $(CTEST_ARGS) \
	  >$(BUILD)/soak.log 2>&1 || rc=$$?; \
	grep -E 'SUMMARY|FAIL|tests passed|tests failed' $(BUILD)/soak.log; \
	if [ $$rc != 0 ]; then tail -n 100 $(BUILD)/soak.log; fi; exit $$rc

# Each libFuzzer target (tests/fuzz/) for FUZZ_SECONDS,
# built with clang, ASan and UBSan in build-fuzz.  Failing inputs land in
# build-fuzz/fuzz-artifacts/.
fuzz: deps ## each libFuzzer target for FUZZ_SECONDS (60; clang, build-fuzz/)
	cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DBQ_FUZZ=ON \
	  -DCMAKE_BUILD_TYPE=RelWithDebInfo
	cmake --build build-fuzz -j $(JOBS) --target fuzz_frame fuzz_config fuzz_addr fuzz_proto fuzz_syslog fuzz_tls
	tests/fuzz/run.sh build-fuzz $(FUZZ_SECONDS)

# --- ops: packaging and the container image ---------------------------------
# dpkg-shlibdeps (dpkg-dev) and file, which CPack's SHLIBDEPS needs, for the
# .deb's Depends (install.deb); man for the man-page tests; systemd for
# systemd-analyze (install.unit).  Installing systemd alone does not make it
# the init system (that is systemd-sysv), so this is harmless in containers.
DEPS += dpkg-dev file man-db
DEPS += systemd
# make test-docker only (not make test): podman, its runtime, a base image.
DOCKER_DEPS := podman runc debootstrap curl sqlite3 netcat-openbsd python3

.PHONY: test-docker package

# The container image, built and run for real with podman (see
# tests/docker/test_docker.sh); skips only where podman cannot run at all.
test-docker: ## build and run the container image with podman
	@$(MAKE) --no-print-directory deps DEPS="$(DOCKER_DEPS)"
	bash tests/docker/test_docker.sh

# The Debian package: $(BUILD)/pkg/burstq_VERSION_ARCH.deb.
package: build ## the .deb in build/pkg/
	cpack --config $(BUILD)/CPackConfig.cmake -B $(BUILD)/pkg -G DEB
