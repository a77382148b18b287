#!/bin/sh
# runtime-packages.sh BINARY... -- print the Debian packages that hold the
# shared libraries BINARY... need, one per line (for the runtime image).
#
# Run in the build stage of the Dockerfile, where the binaries were built,
# and by tests/install/test_deb.sh: readelf names the libraries each binary
# links directly (NEEDED), ldd where they are, dpkg -S the package that
# installed them.  Their own dependencies come with those packages.  So the
# runtime image gets exactly what the build linked (libuv1, libsqlite3-0,
# libsystemd0 when built with it, ...) and no list can go stale.  Fails if a
# library is missing or belongs to no package.
set -eu
[ $# -gt 0 ] || { echo "usage: runtime-packages.sh BINARY..." >&2; exit 2; }

libs=$(for bin in "$@"; do
  out=$(ldd "$bin") || { echo "ldd $bin failed" >&2; exit 1; }
  if echo "$out" | grep -q 'not found'; then
    echo "$bin: $(echo "$out" | grep 'not found')" >&2
    exit 1
  fi
  needed=$(readelf -d "$bin" | sed -n 's/.*(NEEDED).*\[\(.*\)\]$/\1/p')
  [ -n "$needed" ] || { echo "$bin: no NEEDED entries" >&2; exit 1; }
  # "libuv.so.1 => /lib/x86_64-linux-gnu/libuv.so.1 (0x...)" for each NEEDED
  # soname, and the dynamic loader's "/lib64/ld-linux-x86-64.so.2 (0x...)".
  echo "$out" | awk -v needed=" $(echo $needed) " '
    $2 == "=>" && $3 ~ /^\// && index(needed, " " $1 " ") { print $3 }
    $1 ~ /^\// { print $1 }'
done | sort -u)

for lib in $libs; do
  # With merged /usr, ldd may name /lib/... while dpkg recorded /usr/lib/...
  # (or the other way round), and the path may be a symlink.
  pkg=
  for p in "$lib" "/usr$lib" "${lib#/usr}" "$(readlink -f "$lib")"; do
    pkg=$(dpkg-query -S "$p" 2>/dev/null | head -n1 | cut -d: -f1) && [ -n "$pkg" ] && break
  done
  if [ -z "$pkg" ]; then
    echo "no package owns $lib" >&2
    exit 1
  fi
  echo "$pkg"
done | sort -u
