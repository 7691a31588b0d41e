#!/usr/bin/env bash
# Start the pre-annotation container: JupyterLab with Detection.ipynb and Segmentation.ipynb.
#
# Mounts: the work folder (notebooks and results; the notebooks are copied in on first start) at
# /workspace, optionally a data folder read-only at /data and a checkpoints folder read-only at
# /models. JupyterLab listens on 127.0.0.1:PORT with the token from $JUPYTER_TOKEN, or a generated
# one printed here. The token and the CVAT credentials (CVAT_URL, CVAT_USER, CVAT_PASSWORD,
# CVAT_ACCESS_TOKEN, CVAT_ORG) are passed to docker by name, never on its command line.
set -euo pipefail

usage() {
  cat <<'USAGE'
Usage: dockerPreAnnotation/run.sh [options]
  --work DIR     folder for notebooks and results, mounted at /workspace (default: ./preannotation)
  --data DIR     videos/images to pre-annotate, mounted read-only at /data
  --models DIR   checkpoints (sam2.1_hiera_*.pt, groundingdino_swint_ogc.pth...), read-only at /models
  --port N       host port for JupyterLab (default: $PREANN_PORT or 8890)
  --bind ADDR    host address to publish on (default 127.0.0.1: this machine only)
  --name NAME    container name (default: dl-utils-preannotation)
  --image IMAGE  image (default: dl-utils-preannotation:0.1.0)
  --gpus SPEC    value for docker --gpus (default: all; "none" runs on the CPU)
  --build        (re)build the image first (default: build only when it is missing)
  -h, --help     this help
Environment: JUPYTER_TOKEN (generated when unset); CVAT_URL, CVAT_USER, CVAT_PASSWORD,
CVAT_ACCESS_TOKEN, CVAT_ORG for pushing results to a CVAT server from the notebooks.
USAGE
}

DL_UTILS="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
WORK="$PWD/preannotation"
DATA=""
MODELS=""
PORT="${PREANN_PORT:-8890}"
BIND="127.0.0.1"
NAME="dl-utils-preannotation"
IMAGE="dl-utils-preannotation:0.1.0"
GPUS="all"
BUILD=0

while [ $# -gt 0 ]; do
  case "$1" in
    --work) WORK="${2:?--work needs a value}"; shift 2 ;;
    --data) DATA="${2:?--data needs a value}"; shift 2 ;;
    --models) MODELS="${2:?--models needs a value}"; shift 2 ;;
    --port) PORT="${2:?--port needs a value}"; shift 2 ;;
    --bind) BIND="${2:?--bind needs a value}"; shift 2 ;;
    --name) NAME="${2:?--name needs a value}"; shift 2 ;;
    --image) IMAGE="${2:?--image needs a value}"; shift 2 ;;
    --gpus) GPUS="${2:?--gpus needs a value}"; shift 2 ;;
    --build) BUILD=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "run.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done

case "$PORT" in
  ''|*[!0-9]*) echo "run.sh: --port must be a number, got '$PORT'" >&2; exit 2 ;;
esac
for dir in "$DATA" "$MODELS"; do
  if [ -n "$dir" ] && [ ! -d "$dir" ]; then
    echo "run.sh: $dir is not a folder" >&2
    exit 2
  fi
done
mkdir -p "$WORK"
WORK="$(cd "$WORK" && pwd -P)"

if [ -n "$(docker ps -a -q --filter "name=^/${NAME}\$")" ]; then
  echo "run.sh: a container named $NAME already exists: stop it with dockerPreAnnotation/stop.sh --name $NAME" >&2
  exit 1
fi

if [ "$BUILD" -eq 1 ] || ! docker image inspect "$IMAGE" >/dev/null 2>&1; then
  echo "building $IMAGE from $DL_UTILS/dockerPreAnnotation/Dockerfile" >&2
  docker build -t "$IMAGE" -f "$DL_UTILS/dockerPreAnnotation/Dockerfile" "$DL_UTILS"
fi

GENERATED=0
if [ -z "${JUPYTER_TOKEN:-}" ]; then
  JUPYTER_TOKEN="$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')"
  GENERATED=1
fi
export JUPYTER_TOKEN

args=(--name "$NAME" --shm-size 8g --user "$(id -u):$(id -g)" -p "${BIND}:${PORT}:8888")
if [ "$GPUS" != "none" ]; then
  args+=(--gpus "$GPUS")
fi
args+=(-v "${WORK}:/workspace" -e HOME=/tmp/home -e JUPYTER_TOKEN)
if [ -n "$DATA" ]; then
  args+=(-v "$(cd "$DATA" && pwd -P):/data:ro" -e PREANN_DATA=/data)
fi
if [ -n "$MODELS" ]; then
  args+=(-v "$(cd "$MODELS" && pwd -P):/models:ro")
fi
for var in CVAT_URL CVAT_USER CVAT_PASSWORD CVAT_ACCESS_TOKEN CVAT_ORG; do
  if [ -n "${!var:-}" ]; then
    args+=(-e "$var")
  fi
done

docker run -d --rm "${args[@]}" "$IMAGE" >/dev/null

echo "container $NAME started: notebooks and results in $WORK"
if [ "$GENERATED" -eq 1 ]; then
  echo "JupyterLab: http://${BIND}:${PORT}/lab?token=${JUPYTER_TOKEN}"
else
  echo "JupyterLab: http://${BIND}:${PORT}/lab (token: your \$JUPYTER_TOKEN)"
fi
echo "stop it with: dockerPreAnnotation/stop.sh --name $NAME"
