#!/usr/bin/env bash
# Restart a command whenever files under the watched paths change (--watch), or re-run a
# command until it succeeds (--retry: a flaky download, a training job that may crash).
set -uo pipefail

usage() {
  cat <<'USAGE'
Usage: rerun.sh --watch PATH [PATH...] [--poll] [--interval S] [--debounce S] [--grace S] -- COMMAND [ARGS...]
       rerun.sh [--retry] [--max N] [--delay S] [--] COMMAND [ARGS...]

Watch mode (--watch): start COMMAND, and restart it every time a file under one of the PATHs
is created, changed, moved or deleted. The old run is stopped with its whole process group
(SIGTERM, then SIGKILL after --grace seconds). A burst of changes (an editor saving, a git
checkout) restarts it once: the restart waits until nothing changed for --debounce seconds.
Uses inotifywait (inotify-tools) when present, otherwise polls every --interval seconds.
COMMAND exiting on its own does not end the watch; Ctrl-C (or SIGTERM) stops both.
  --watch PATH...  files or folders to watch (folders recursively); several allowed
  --poll           poll even when inotifywait is installed (network or FUSE file systems)
  --interval S     polling interval (default 1)
  --debounce S     quiet time before restarting (default 0.5)
  --grace S        time COMMAND gets to exit after SIGTERM before SIGKILL (default 5)

Retry mode (--retry, also the default without --watch): run COMMAND until it exits 0.
  --max N     give up after N attempts (default: unlimited); exits with the last status
  --delay S   wait S seconds between attempts (default 1)

  -h, --help  show this help
Seconds may be fractions. Arguments reach COMMAND unchanged, spaces and quotes included.
USAGE
}

die() { echo "rerun.sh: $*" >&2; exit 2; }
is_seconds() { [[ $1 =~ ^[0-9]+([.][0-9]+)?$ ]]; }

mode=retry max=0 delay=1 poll=0 interval=1 debounce=0.5 grace=5
paths=()
while [ $# -gt 0 ]; do
  case $1 in
    --watch)
      mode=watch; shift
      while [ $# -gt 0 ] && [[ $1 != -* ]]; do paths+=("$1"); shift; done
      ;;
    --retry) mode=retry; shift ;;
    --max) [ $# -ge 2 ] || die "--max needs a value"; max=$2; shift 2 ;;
    --delay) [ $# -ge 2 ] || die "--delay needs a value"; delay=$2; shift 2 ;;
    --poll) poll=1; shift ;;
    --interval) [ $# -ge 2 ] || die "--interval needs a value"; interval=$2; shift 2 ;;
    --debounce) [ $# -ge 2 ] || die "--debounce needs a value"; debounce=$2; shift 2 ;;
    --grace) [ $# -ge 2 ] || die "--grace needs a value"; grace=$2; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    --) shift; break ;;
    -*) die "unknown option '$1' (see --help)" ;;
    *) break ;;
  esac
done
[ $# -gt 0 ] || { usage >&2; exit 2; }
[[ $max =~ ^[0-9]+$ ]] || die "--max must be a non-negative integer, got '$max'"
is_seconds "$delay" || die "--delay must be a number of seconds, got '$delay'"
is_seconds "$interval" || die "--interval must be a number of seconds, got '$interval'"
is_seconds "$debounce" || die "--debounce must be a number of seconds, got '$debounce'"
is_seconds "$grace" || die "--grace must be a number of seconds, got '$grace'"

# ---------------------------------------------------------------------------------------------
# retry mode

retry() {
  local attempt=0 status
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
}

[ "$mode" = retry ] && retry "$@"

# ---------------------------------------------------------------------------------------------
# watch mode

[ ${#paths[@]} -gt 0 ] || die "--watch needs at least one PATH"
for p in "${paths[@]}"; do
  [ -e "$p" ] || die "watched path does not exist: $p"
done

child=""      # pid of the running COMMAND, also its process group id
watcher=""    # pid of the change source (inotifywait or the polling loop)

start_cmd() {
  # a process group of its own, so that everything COMMAND starts can be stopped together
  if command -v setsid >/dev/null 2>&1; then
    setsid "$@" &
  else
    set -m
    "$@" &
    set +m
  fi
  child=$!
  echo "rerun.sh: started (pid $child): $*" >&2
}

group_alive() {
  # a process of group $1 that is still running (zombies waiting to be reaped do not count)
  if command -v ps >/dev/null 2>&1; then
    ps -e -o pgid= -o stat= | awk -v g="$1" '$1 == g && $2 !~ /^Z/ { found = 1 } END { exit !found }'
  else
    kill -0 -- "-$1" 2>/dev/null
  fi
}

stop_cmd() {
  [ -n "$child" ] || return 0
  local tries status
  tries=$(awk -v g="$grace" 'BEGIN { print int(g * 10) }')
  if group_alive "$child"; then
    kill -TERM -- "-$child" 2>/dev/null
    while group_alive "$child"; do
      if [ "$tries" -le 0 ]; then
        echo "rerun.sh: process group $child still running after ${grace}s; sending SIGKILL" >&2
        kill -KILL -- "-$child" 2>/dev/null
        break
      fi
      sleep 0.1
      tries=$((tries - 1))
    done
  fi
  wait "$child" 2>/dev/null
  status=$?
  echo "rerun.sh: stopped pid $child (exit status $status)" >&2
  child=""
}

signature() {
  # every file under the watched paths with its modification time and size
  find "${paths[@]}" -printf '%p\t%y\t%T@\t%s\n' 2>/dev/null | LC_ALL=C sort | cksum
}

poll_changes() {
  local last current
  last=$(signature)
  while sleep "$interval"; do
    current=$(signature)
    if [ "$current" != "$last" ]; then
      echo "change"
      last=$current
    fi
  done
}

# shellcheck disable=SC2329  # called from the EXIT trap
cleanup() {
  trap - EXIT INT TERM
  stop_cmd
  [ -n "$watcher" ] && kill "$watcher" 2>/dev/null
  wait 2>/dev/null
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [ "$poll" -eq 0 ] && command -v inotifywait >/dev/null 2>&1; then
  how="inotify"
  exec 3< <(exec inotifywait -m -r -q -e modify,attrib,close_write,move,create,delete \
    --format '%w%f' -- "${paths[@]}")
else
  how="polling every ${interval}s"
  exec 3< <(poll_changes)
fi
watcher=$!
echo "rerun.sh: watching ${paths[*]} ($how)" >&2

start_cmd "$@"
while read -r -u 3 what; do
  # debounce: wait for a quiet period, then restart once
  while read -r -t "$debounce" -u 3 _; do :; done
  echo "rerun.sh: change detected (${what}); restarting" >&2
  stop_cmd
  start_cmd "$@"
done
echo "rerun.sh: the file watcher stopped" >&2
exit 1
