#!/usr/bin/env bash
# Stop the pre-annotation container started by dockerPreAnnotation/run.sh (it is removed on stop).
set -euo pipefail

NAME="dl-utils-preannotation"
while [ $# -gt 0 ]; do
  case "$1" in
    --name) NAME="${2:?--name needs a value}"; shift 2 ;;
    -h|--help) echo "Usage: dockerPreAnnotation/stop.sh [--name NAME]   (default: dl-utils-preannotation)"; exit 0 ;;
    *) echo "stop.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done

if [ -z "$(docker ps -a -q --filter "name=^/${NAME}\$")" ]; then
  echo "no container named $NAME"
  exit 0
fi
docker stop "$NAME" >/dev/null
echo "stopped $NAME"
