#!/usr/bin/env bash
# Stop the dl_utils development container started by docker/run.sh (it is removed on stop).
set -euo pipefail

NAME="dl-utils-dev"
while [ $# -gt 0 ]; do
  case "$1" in
    --name) NAME="${2:?--name needs a value}"; shift 2 ;;
    -h|--help) echo "Usage: docker/stop.sh [--name NAME]   (default name: dl-utils-dev)"; exit 0 ;;
    *) echo "stop.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done

if [ -z "$(docker ps -a -q --filter "name=^/${NAME}\$")" ]; then
  echo "no container named $NAME"
  exit 0
fi
docker stop "$NAME" >/dev/null
echo "stopped $NAME"
