#!/usr/bin/env bash
# Start the dl_utils GPU development container with JupyterLab.
#
# The host project root (the repository that holds dl_utils as a submodule, e.g.
# main_project/3rdparty/dl_utils) is mounted at /workspace; dl_utils is put on PYTHONPATH at its
# submodule path, so `import dl_utils` works in every notebook and edits need no rebuild.
# JupyterLab listens on 127.0.0.1:PORT with the token from $JUPYTER_TOKEN, or a generated one that
# is printed here; the token is passed to docker by name (never on its command line), and is never
# stored in the image or the repository.
set -euo pipefail

usage() {
  cat <<'USAGE'
Usage: docker/run.sh [options]
  --port N       host port for JupyterLab (default: $DL_UTILS_PORT or 8888)
  --bind ADDR    host address to publish on (default 127.0.0.1: this machine only)
  --name NAME    container name (default: dl-utils-dev)
  --image IMAGE  image (default: dl-utils-dev:0.1.0)
  --gpus SPEC    value for docker --gpus (default: all; "none" runs without GPUs)
  --root DIR     project root to mount at /workspace (default: the superproject of this dl_utils)
  --build        (re)build the image first (default: build only when it is missing)
  -h, --help     this help
Environment: JUPYTER_TOKEN (the JupyterLab token; generated when unset).
USAGE
}

DL_UTILS="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
PORT="${DL_UTILS_PORT:-8888}"
BIND="127.0.0.1"
NAME="dl-utils-dev"
IMAGE="dl-utils-dev:0.1.0"
GPUS="all"
ROOT=""
BUILD=0

while [ $# -gt 0 ]; do
  case "$1" in
    --port) PORT="${2:?--port needs a value}"; shift 2 ;;
    --bind) BIND="${2:?--bind needs a value}"; shift 2 ;;
    --name) NAME="${2:?--name needs a value}"; shift 2 ;;
    --image) IMAGE="${2:?--image needs a value}"; shift 2 ;;
    --gpus) GPUS="${2:?--gpus needs a value}"; shift 2 ;;
    --root) ROOT="${2:?--root needs a value}"; shift 2 ;;
    --build) BUILD=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "run.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done

case "$PORT" in
  ''|*[!0-9]*) echo "run.sh: --port must be a number, got '$PORT'" >&2; exit 2 ;;
esac

if [ -z "$ROOT" ]; then
  # dl_utils as a submodule: mount its superproject; a standalone clone mounts itself
  ROOT="$(git -C "$DL_UTILS" rev-parse --show-superproject-working-tree 2>/dev/null || true)"
  ROOT="${ROOT:-$DL_UTILS}"
fi
if [ ! -d "$ROOT" ]; then
  echo "run.sh: project root $ROOT is not a folder" >&2
  exit 2
fi
ROOT="$(cd "$ROOT" && pwd -P)"
case "$DL_UTILS/" in
  "$ROOT"/) REL="." ;;
  "$ROOT"/*) REL="${DL_UTILS#"$ROOT"/}" ;;
  *) echo "run.sh: dl_utils ($DL_UTILS) is not inside the project root $ROOT" >&2; exit 2 ;;
esac
DL_UTILS_IN="/workspace/$REL"
[ "$REL" = "." ] && DL_UTILS_IN="/workspace"

if [ -n "$(docker ps -a -q --filter "name=^/${NAME}\$")" ]; then
  echo "run.sh: a container named $NAME already exists: stop it with docker/stop.sh --name $NAME" >&2
  exit 1
fi

if [ "$BUILD" -eq 1 ] || ! docker image inspect "$IMAGE" >/dev/null 2>&1; then
  echo "building $IMAGE from $DL_UTILS/docker/Dockerfile" >&2
  docker build -t "$IMAGE" -f "$DL_UTILS/docker/Dockerfile" "$DL_UTILS"
fi

GENERATED=0
if [ -z "${JUPYTER_TOKEN:-}" ]; then
  JUPYTER_TOKEN="$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')"
  GENERATED=1
fi
export JUPYTER_TOKEN

gpu_args=()
if [ "$GPUS" != "none" ]; then
  gpu_args=(--gpus "$GPUS")
fi

docker run -d --rm \
  --name "$NAME" \
  "${gpu_args[@]}" \
  --shm-size 8g \
  --user "$(id -u):$(id -g)" \
  -p "${BIND}:${PORT}:8888" \
  -v "${ROOT}:/workspace" \
  -w /workspace \
  -e HOME=/tmp/home \
  -e "PYTHONPATH=${DL_UTILS_IN}" \
  -e "DL_UTILS_DIR=${DL_UTILS_IN}" \
  -e JUPYTER_TOKEN \
  "$IMAGE" >/dev/null

echo "container $NAME started: $ROOT is /workspace, dl_utils is $DL_UTILS_IN"
if [ "$GENERATED" -eq 1 ]; then
  echo "JupyterLab: http://${BIND}:${PORT}/lab?token=${JUPYTER_TOKEN}"
else
  echo "JupyterLab: http://${BIND}:${PORT}/lab (token: your \$JUPYTER_TOKEN)"
fi
echo "stop it with: docker/stop.sh --name $NAME"
