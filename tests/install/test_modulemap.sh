#!/usr/bin/env bash
# test_modulemap.sh SRC -- docs/architecture.md's module map lists exactly
# the C sources and headers under server/, common/ and client/: each file of
# the tree is in the map, and each file in the map exists.
set -euo pipefail
src=${1:?usage: test_modulemap.sh SRC}
doc=$src/docs/architecture.md
fail=0

# Files named by the map: the first column of the table after
# "## Module map", with name.{h,c} expanded to name.h and name.c.
mapped=$(awk '/^## Module map/{on=1; next} on && /^## /{exit}
              on && /^\| `/{print}' "$doc" |
  sed -n 's/^| `\([^`]*\)`.*/\1/p' |
  while read -r m; do
    case $m in
      *.{h,c}) echo "${m%.\{h,c\}}.h"; echo "${m%.\{h,c\}}.c" ;;
      *) echo "$m" ;;
    esac
  done | sort)
actual=$(cd "$src" && ls server/*.[ch] common/*.[ch] client/*.[ch] | sort)

missing=$(comm -13 <(echo "$mapped") <(echo "$actual"))
stale=$(comm -23 <(echo "$mapped") <(echo "$actual"))
if [ -n "$missing" ]; then
  echo "FAIL: in the tree but not in docs/architecture.md's module map:"
  echo "$missing" | sed 's/^/  /'
  fail=1
fi
if [ -n "$stale" ]; then
  echo "FAIL: in the module map but not in the tree:"
  echo "$stale" | sed 's/^/  /'
  fail=1
fi
[ "$fail" = 0 ] && echo "ok: module map lists the $(echo "$actual" | wc -l) files of the tree"
exit "$fail"
