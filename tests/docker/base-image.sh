#!/usr/bin/env bash
# base-image.sh -- make localhost/debian:bookworm-slim without a registry.
#
# Base images cannot be pulled on these machines, so debootstrap a minimal
# Debian bookworm and import it under the name the Dockerfile uses.  Skipped
# when the image exists already (it is cached in podman's storage); about a
# minute and ~100 MB of disk otherwise.  Needs root, debootstrap, podman and
# a Debian mirror reachable through apt (the one the host uses).
#
#   CONTAINERS_CONF=tests/docker/containers.conf bash tests/docker/base-image.sh
set -euo pipefail

IMAGE=${BQ_BASE_IMAGE:-localhost/debian:bookworm-slim}
podman() { command podman --runtime runc "$@"; }

if podman image exists "$IMAGE"; then
  echo "base image $IMAGE: present (cached)"
  exit 0
fi

# Use the host's own mirror (the only one reachable here).
mirror=${BQ_DEBIAN_MIRROR:-}
if [ -z "$mirror" ]; then
  mirror=$(sed -n 's/^URIs: *\(http[^ ]*\/debian\/*\)$/\1/p' \
             /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n1)
fi
if [ -z "$mirror" ]; then
  mirror=$(awk '$1 == "deb" && $2 ~ /\/debian\/?$/ { print $2; exit }' \
             /etc/apt/sources.list 2>/dev/null || true)
fi
mirror=${mirror:-http://deb.debian.org/debian}

dir=$(mktemp -d "${TMPDIR:-/tmp}/bq-rootfs.XXXXXX")
trap 'rm -rf "$dir"' EXIT
echo "base image $IMAGE: debootstrap --variant=minbase bookworm from $mirror"
debootstrap --variant=minbase bookworm "$dir" "$mirror" >"$dir.log" 2>&1 || {
  tail -n 30 "$dir.log" >&2
  rm -f "$dir.log"
  echo "debootstrap failed" >&2
  exit 1
}
rm -f "$dir.log"
# Like the official slim image: no documentation, man pages or translations
# (now, and for packages installed later: dpkg path excludes), no apt lists,
# no caches.
cat >"$dir/etc/dpkg/dpkg.cfg.d/docker" <<'CFG'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/locale/*
CFG
find "$dir/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
find "$dir/usr/share/doc" -mindepth 1 -type d -empty -delete
rm -rf "$dir"/usr/share/man/* "$dir"/usr/share/groff/* "$dir"/usr/share/info/* \
       "$dir"/usr/share/lintian/* "$dir"/usr/share/linda/* "$dir"/usr/share/locale/* \
       "$dir"/var/lib/apt/lists/* "$dir"/var/cache/apt/*.bin \
       "$dir"/var/cache/apt/archives/*.deb "$dir"/var/log/*.log
tar -C "$dir" -c . | podman import \
  --change 'CMD ["bash"]' --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  - "$IMAGE" >/dev/null
echo "base image $IMAGE: imported ($(podman image inspect --format '{{.Size}}' "$IMAGE") bytes)"
