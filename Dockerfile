# burstqd in a container: built and unit-tested with the same make targets
# as CI, run as a non-root user with only the runtime libraries.
#
#   docker build -t burstq .
#   docker run -d --name burstq -p 7070:7070 -p 127.0.0.1:9070:9070 \
#     -v burstq-data:/data --stop-timeout 120 burstq
#
# Inside the container burstqd listens on 0.0.0.0:7070 (messages) and
# 0.0.0.0:9070 (HTTP: /metrics, /healthz, /readyz); the database is
# /data/burstq.db on the /data volume.  Arguments after the image name are
# appended to burstqd's (e.g. `--sync normal --log-format json`; later
# flags override earlier ones).  See docs/operations.md.
# PostgreSQL instead of the SQLite file on /data: append
# `--db 'postgresql://burstq@db1:5432,db2:5432/burstq?target_session_attrs=read-write'`
# with -e PGPASSFILE=/run/secrets/pgpass (a mounted file, mode 0600,
# readable by uid 10070); see docs/scale-out.md.  libpq5 comes with the
# runtime packages.
#
# Without a registry (as in tests/docker/test_docker.sh) pass the base
# image: --build-arg BASE=localhost/debian:bookworm-slim.
ARG BASE=debian:bookworm-slim

# --- build: the CI targets (make deps, make test with the unit tests) ------
FROM ${BASE} AS build
# tests/docker/test_docker.sh prunes old untagged images by this label.
LABEL io.burstq.image="build"
ARG CTEST_ARGS="-L unit"
ENV DEBIAN_FRONTEND=noninteractive
# No recommended packages in the build stage (make deps does not ask for
# them, and the suite does not need them): half the size of the cached stage.
RUN echo 'APT::Install-Recommends "false";' >/etc/apt/apt.conf.d/99no-recommends \
 && apt-get update -qq \
 && apt-get install -y -qq make \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# The Makefile first: `make deps` installs the Debian packages it lists, and
# this layer is cached until the Makefile changes.
COPY Makefile ./
RUN make deps && rm -rf /var/lib/apt/lists/*
COPY . .
# make test's output is kept in the image as /stage/unit-tests.log (build
# stage only), after a line naming the ctest selection: a rebuild of the same
# tree takes this layer from the cache and prints nothing, so a check of the
# unit tests (tests/docker/test_docker.sh) reads the log back from the image,
# not from the build's output.  The layer exists only if make test passed.
RUN mkdir -p /stage \
 && echo "ctest selection: $CTEST_ARGS" >/stage/unit-tests.log \
 && { make test CTEST_ARGS="$CTEST_ARGS" JOBS="$(nproc)" >>/stage/unit-tests.log 2>&1 \
      || { cat /stage/unit-tests.log; exit 1; }; } \
 && cat /stage/unit-tests.log \
 && cmake --install build --prefix /stage/usr --strip \
 && mkdir -p /stage/usr/bin \
 && sh docker/runtime-packages.sh /stage/usr/sbin/burstqd \
      $(ls /stage/usr/bin/burstq 2>/dev/null) >/stage/runtime-packages \
 && echo "runtime packages:" $(cat /stage/runtime-packages)

# --- runtime: the binaries, their libraries, a non-root user ----------------
FROM ${BASE}
LABEL io.burstq.image="runtime" \
      org.opencontainers.image.title="burstq" \
      org.opencontainers.image.description="burstqd: newline messages over TCP into SQLite or PostgreSQL"
ENV DEBIAN_FRONTEND=noninteractive
COPY --from=build /stage/runtime-packages /tmp/runtime-packages
RUN apt-get update -qq \
 && apt-get install -y -qq --no-install-recommends $(cat /tmp/runtime-packages) \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /tmp/runtime-packages \
 && groupadd --system --gid 10070 burstq \
 && useradd --system --uid 10070 --gid burstq --home-dir /data \
      --no-create-home --shell /usr/sbin/nologin burstq \
 && mkdir -p /data && chown burstq:burstq /data && chmod 0750 /data
COPY --from=build /stage/usr/sbin/ /usr/sbin/
COPY --from=build /stage/usr/bin/ /usr/bin/
COPY docker/healthcheck.sh /usr/bin/burstq-healthcheck
# Fails the build if a library is missing (ldd prints "not found").
RUN ! ldd /usr/sbin/burstqd $(ls /usr/bin/burstq 2>/dev/null) | grep 'not found' \
 && burstqd --version
USER 10070:10070
WORKDIR /data
VOLUME /data
EXPOSE 7070 9070
ENV BQ_METRICS_PORT=9070
HEALTHCHECK --interval=15s --timeout=10s --start-period=10s --retries=3 \
  CMD ["/usr/bin/burstq-healthcheck"]
# burstqd is PID 1 and handles SIGTERM itself (libuv signal handler): stop
# intake, write everything received, final acks, exit 0.  Give it time:
# docker stop -t 120 / --stop-timeout 120 (the default 10 s may cut a
# large drain short; SIGKILL loses nothing acknowledged).
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/sbin/burstqd", "--listen", "0.0.0.0:7070", \
            "--metrics", "0.0.0.0:9070", "--db", "/data/burstq.db"]
CMD []
