#!/usr/bin/env bash
# Follow the last lines of several log files at once, refreshing the screen.
set -euo pipefail

usage() {
  cat <<'USAGE'
Usage: show.sh [-n LINES] [-i SECONDS] [--once] FILE...

Show the last LINES lines (default 10) of each FILE under a header, refreshing every
SECONDS (default 2) until Ctrl-C. --once prints one snapshot and exits (for scripts).
Missing files are shown as "(missing)" and picked up when they appear.
USAGE
}

die() { echo "show.sh: $*" >&2; exit 2; }

lines=10 interval=2 once=0
files=()
while [ $# -gt 0 ]; do
  case $1 in
    -n|--lines) [ $# -ge 2 ] || die "$1 needs a value"; lines=$2; shift 2 ;;
    -i|--interval) [ $# -ge 2 ] || die "$1 needs a value"; interval=$2; shift 2 ;;
    --once) once=1; shift ;;
    -h|--help) usage; exit 0 ;;
    --) shift; files+=("$@"); break ;;
    -*) die "unknown option '$1' (see --help)" ;;
    *) files+=("$1"); shift ;;
  esac
done
[ ${#files[@]} -gt 0 ] || { usage; exit 0; }
[[ $lines =~ ^[0-9]+$ ]] && [ "$lines" -gt 0 ] || die "-n must be a positive integer, got '$lines'"
[[ $interval =~ ^[0-9]+([.][0-9]+)?$ ]] || die "-i must be a number of seconds, got '$interval'"

snapshot() {
  local f
  for f in "${files[@]}"; do
    printf '==> %s <==\n' "$f"
    if [ -r "$f" ]; then
      tail -n "$lines" -- "$f"
    else
      echo "(missing)"
    fi
    echo
  done
}

if [ "$once" -eq 1 ]; then
  snapshot
  exit 0
fi
trap 'exit 0' INT TERM
while true; do
  out=$(snapshot)
  if [ -t 1 ]; then printf '\033[H\033[2J'; fi
  printf '%s\n' "$out"
  sleep "$interval"
done
