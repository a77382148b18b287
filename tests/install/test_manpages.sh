#!/usr/bin/env bash
# test_manpages.sh MANDIR BURSTQD [BURSTQ] -- every long option that
# `burstqd --help` (and `burstq --help` and `burstq help COMMAND` for each
# command it lists) prints is documented in burstqd.8 (burstq.1), every
# option a page documents (the tag of a .TP entry) is in that help, and
# both pages render without warnings.  burstqd's --help is generated from
# its option table (server/config.c), so this compares the page with the
# table both ways.
set -u -o pipefail
mandir=$1 burstqd=$2 burstq=${3:-}
fails=0
fail() { fails=$((fails + 1)); echo "FAIL [man]: $*" >&2; }

# Long options in help text: "--name" at the start of a help line or after
# "-x, " (not those inside prose).
options_in_help() {
  sed -n 's/^ *\(-[A-Za-z0-9], \)\{0,1\}\(--[a-z][a-z0-9-]*\).*/\2/p' | sort -u
}
# Options documented in a page: roff escapes "-" as "\-".
page_text() { sed 's/\\-/-/g; s/\\f[BIRP]//g' "$1"; }
# Options a page describes: the first long option in the tag (the line
# after .TP) of each entry.
options_in_page() {
  page_text "$1" | awk '/^\.TP/ { getline
    if (match($0, /--[a-z][a-z0-9-]*/)) print substr($0, RSTART, RLENGTH) }' |
    sort -u
}
# Options PAGE describes that none of the HELP-FILEs lists.
check_page_options() { # PAGE WHAT HELP-FILE...
  local page=$1 what=$2 opt n=0 before=$fails
  shift 2
  cat "$@" | options_in_help >"$page.help-options"
  for opt in $(options_in_page "$page"); do
    n=$((n + 1))
    grep -qx -- "$opt" "$page.help-options" ||
      fail "$(basename "$page") documents $opt, which $what does not list"
  done
  [ "$n" -ge 1 ] || fail "$(basename "$page"): no options found (parser broken?)"
  [ "$fails" = "$before" ] && echo "ok: $(basename "$page"): $n options, all in $what"
  return 0
}

check_page() { # PAGE HELP-FILE WHAT [MIN-OPTIONS]
  local opt n=0 before=$fails
  page_text "$1" >"$1.txt"
  for opt in $(options_in_help <"$2"); do
    n=$((n + 1))
    grep -q -- "$opt\\b" "$1.txt" || fail "$3 option $opt is not in $(basename "$1")"
  done
  [ "$n" -ge "${4:-1}" ] || fail "$3: no options found in its help (parser broken?)"
  [ "$fails" = "$before" ] && echo "ok: $3: $n long options, all in $(basename "$1")"
  return 0
}

T=$(mktemp -d "${TMPDIR:-/tmp}/bq-man.XXXXXX")
trap 'rm -rf "$T"' EXIT
"$burstqd" --help >"$T/burstqd.help" || fail "burstqd --help failed"
cp "$mandir/burstqd.8" "$mandir/burstq.1" "$T/"
check_page "$T/burstqd.8" "$T/burstqd.help" "burstqd --help"
check_page_options "$T/burstqd.8" "burstqd --help" "$T/burstqd.help"
if [ -n "$burstq" ]; then
  "$burstq" --help >"$T/burstq.help" || fail "burstq --help failed"
  # The top-level help lists commands, not options.
  check_page "$T/burstq.1" "$T/burstq.help" "burstq --help" 0
  # Commands: the indented words under "Commands:".
  for cmd in $(sed -n '/^Commands:/,/^$/s/^  \([a-z][a-z-]*\) .*/\1/p' "$T/burstq.help"); do
    grep -q "burstq $cmd\|^\.B $cmd$" "$T/burstq.1.txt" ||
      fail "burstq command $cmd is not in burstq.1"
    "$burstq" help "$cmd" >"$T/$cmd.help" 2>&1 || fail "burstq help $cmd failed"
    check_page "$T/burstq.1" "$T/$cmd.help" "burstq help $cmd"
  done
  check_page_options "$T/burstq.1" "burstq's help" "$T"/*.help
else
  echo "note: burstq client not built; burstq.1 checked for rendering only"
fi
for p in "$mandir/burstqd.8" "$mandir/burstq.1"; do
  w=$(MANWIDTH=80 man --warnings -l "$p" 2>&1 >/dev/null)
  [ -z "$w" ] || fail "$(basename "$p") renders with warnings: $w"
done
[ "$fails" = 0 ] || { echo "test_manpages: $fails failure(s)" >&2; exit 1; }
echo "test_manpages: PASS"
