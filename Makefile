# Thin wrapper around CMake.  The two commands a newcomer needs:
#   make run    install what is missing, build, start burstqd on its defaults
#   make test   install what is missing, build, run every test (ctest)
# Every target:
#   deps           install the Debian packages in DEPS (apt-get, as root;
#                  otherwise print the apt-get line and fail)
#   build          deps, configure (RelWithDebInfo) and build in $(BUILD)
#   run            build, then ./$(BUILD)/burstqd $(RUN_ARGS)
#   test           build, then ctest $(CTEST_ARGS)
#   test-asan      the suite under ASan+UBSan (build-asan)
#   test-tsan      the suite under TSan (build-tsan)
#   test-sanitize  test-asan, then test-tsan
#   bench          Release build (build-bench), docs/benchmarks.md's table
#   fuzz           each libFuzzer target for FUZZ_SECONDS (clang, build-fuzz)
#   soak           the long fault tests (ctest configuration "soak")
#   test-docker    build and run the container image with podman
#   package        the .deb in $(BUILD)/pkg
#   clean          remove every build directory

BUILD     ?= build
JOBS      ?= $(shell nproc 2>/dev/null || echo 2)
RUN_ARGS  ?=
CTEST_ARGS ?=
FUZZ_SECONDS ?= 60

# Debian packages the build and the tests need (checked with dpkg).
DEPS := build-essential cmake pkg-config libuv1-dev libsqlite3-dev \
        libcmocka-dev sqlite3 netcat-openbsd procps \
        libhttp-parser-dev libsystemd-dev curl python3 \
        stunnel4 openssl \
        clang

.PHONY: all deps build run test test-sanitize test-asan test-tsan bench clean \
        soak fuzz

all: build

deps:
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

$(BUILD)/CMakeCache.txt: | deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo

build: deps $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

run: build
	./$(BUILD)/burstqd $(RUN_ARGS)

test: build
	ctest --test-dir $(BUILD) --output-on-failure -j $(JOBS) $(CTEST_ARGS)

# Sanitizer builds run the same suite.  A report makes the test fail.
test-asan: deps
	cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DBQ_SANITIZE=address,undefined
	cmake --build build-asan -j $(JOBS)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --test-dir build-asan --output-on-failure -j $(JOBS) $(CTEST_ARGS)

test-tsan: deps
	cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=Debug -DBQ_SANITIZE=thread
	cmake --build build-tsan -j $(JOBS)
	TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
	  ctest --test-dir build-tsan --output-on-failure -j $(JOBS) $(CTEST_ARGS)

test-sanitize: test-asan test-tsan

clean:
	rm -rf $(BUILD) build-asan build-tsan build-bench build-fuzz

# Benchmarks (not tests): a Release build, fresh daemons, a table on stdout.
bench: deps
	cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release
	cmake --build build-bench -j $(JOBS)
	BENCH_CMD="make bench" tests/bench/pipeline.sh build-bench

# The long fault tests, registered for the ctest
# configuration "soak" only, so make test never runs them (tests/soak/).
# Prints each test's SUMMARY line; the whole output is in $(BUILD)/soak.log.
soak: build
	@rc=0; echo "soak: running (full log: $(BUILD)/soak.log)"; \
	ctest --test-dir $(BUILD) -V -C soak -L soak $(CTEST_ARGS) \
	  >$(BUILD)/soak.log 2>&1 || rc=$$?; \
	grep -E 'SUMMARY|FAIL|tests passed|tests failed' $(BUILD)/soak.log; \
	if [ $$rc != 0 ]; then tail -n 100 $(BUILD)/soak.log; fi; exit $$rc

# Each libFuzzer target (tests/fuzz/) for FUZZ_SECONDS,
# built with clang, ASan and UBSan in build-fuzz.  Failing inputs land in
# build-fuzz/fuzz-artifacts/.
fuzz: deps
	cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DBQ_FUZZ=ON \
	  -DCMAKE_BUILD_TYPE=RelWithDebInfo
	cmake --build build-fuzz -j $(JOBS) --target fuzz_frame fuzz_config fuzz_addr
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
test-docker:
	@$(MAKE) --no-print-directory deps DEPS="$(DOCKER_DEPS)"
	bash tests/docker/test_docker.sh

# The Debian package: $(BUILD)/pkg/burstq_VERSION_ARCH.deb.
package: build
	cpack --config $(BUILD)/CPackConfig.cmake -B $(BUILD)/pkg -G DEB
