#!/usr/bin/env bash
# Make sure the ffmpeg and ffprobe programs exist: install them with apt when running as root,
# otherwise say exactly what to run.
set -euo pipefail

if command -v ffmpeg >/dev/null 2>&1 && command -v ffprobe >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "ffmpeg not found: installing it with apt-get" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq ffmpeg >/dev/null
  exit 0
fi
echo "ffmpeg is required but not installed, and this is not a root shell with apt-get." >&2
echo "Install it, e.g.: sudo apt-get install -y ffmpeg   (or: conda install -c conda-forge ffmpeg)" >&2
exit 1
