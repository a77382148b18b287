# burstqd in a container: built on Debian bookworm, run as a non-root user,
# database on the /data volume.
#   docker build -t burstq . && docker run -p 7070:7070 -v burstq:/data burstq
FROM debian:bookworm-slim AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential cmake pkg-config \
      libuv1-dev libsqlite3-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF \
 && cmake --build build -j"$(nproc)"

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends libuv1 libsqlite3-0 \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --home-dir /data burstq \
 && mkdir -p /data && chown burstq:burstq /data
COPY --from=build /src/build/burstqd /usr/local/bin/burstqd
USER burstq
VOLUME /data
EXPOSE 7070
# SIGTERM drains the queue into the database before exiting.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/burstqd", "--listen", "0.0.0.0:7070", "--db", "/data/burstq.db"]
