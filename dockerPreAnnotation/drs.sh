#!/usr/bin/env bash
# Docker Restart: stop the pre-annotation container, rebuild the image, start it again.
# Takes run.sh's options (see dockerPreAnnotation/run.sh --help); --name also picks what to stop.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
NAME="dl-utils-preannotation"
prev=""
for arg in "$@"; do
  case "$arg" in
    -h|--help) echo "Usage: dockerPreAnnotation/drs.sh [run.sh options]   (stop + rebuild + start)"; exit 0 ;;
  esac
  if [ "$prev" = "--name" ]; then
    NAME="$arg"
  fi
  prev="$arg"
done

"$HERE/stop.sh" --name "$NAME"
exec "$HERE/run.sh" --build "$@"
