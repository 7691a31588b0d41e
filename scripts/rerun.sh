#!/usr/bin/env bash
# Re-run a command until it succeeds (e.g. a flaky download or a training job that may crash).
set -uo pipefail

usage() {
  cat <<'USAGE'
Usage: rerun.sh [--max N] [--delay S] [--] COMMAND [ARGS...]

Run COMMAND until it exits with status 0.
  --max N     give up after N attempts (default: unlimited); exits with the last status
  --delay S   wait S seconds between attempts (default 1; fractions allowed)
  -h, --help  show this help
Arguments are passed to COMMAND unchanged, spaces and quotes included.
USAGE
}

die() { echo "rerun.sh: $*" >&2; exit 2; }

max=0 delay=1
while [ $# -gt 0 ]; do
  case $1 in
    --max) [ $# -ge 2 ] || die "--max needs a value"; max=$2; shift 2 ;;
    --delay) [ $# -ge 2 ] || die "--delay needs a value"; delay=$2; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    --) shift; break ;;
    *) break ;;
  esac
done
[ $# -gt 0 ] || { usage; exit 2; }
[[ $max =~ ^[0-9]+$ ]] || die "--max must be a non-negative integer, got '$max'"
[[ $delay =~ ^[0-9]+([.][0-9]+)?$ ]] || die "--delay must be a number of seconds, got '$delay'"

attempt=0
while true; do
  attempt=$((attempt + 1))
  "$@"
  status=$?
  if [ "$status" -eq 0 ]; then
    [ "$attempt" -gt 1 ] && echo "rerun.sh: succeeded on attempt $attempt" >&2
    exit 0
  fi
  if [ "$max" -gt 0 ] && [ "$attempt" -ge "$max" ]; then
    echo "rerun.sh: giving up after $attempt attempts (last exit status $status)" >&2
    exit "$status"
  fi
  echo "rerun.sh: attempt $attempt failed with status $status; retrying in ${delay}s" >&2
  sleep "$delay"
done
