#!/usr/bin/env bash
# Make sure Debian's chromium and chromium-driver exist for the browser test of the notebook widget:
# install them with apt when running as root. Never fails: without them the browser test skips and
# says why (this script prints the command to run).
set -uo pipefail

have() { command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; }

if have; then
  exit 0
fi
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "chromium/chromedriver not found: installing them with apt-get (for the browser test)" >&2
  export DEBIAN_FRONTEND=noninteractive
  if apt-get update -qq && apt-get install -y -qq chromium chromium-driver >/dev/null; then
    exit 0
  fi
  echo "warning: apt-get could not install chromium chromium-driver; the browser test will skip" >&2
  exit 0
fi
echo "note: chromium and chromedriver are missing, so the browser test will skip." >&2
echo "Install them, e.g.: sudo apt-get install -y chromium chromium-driver" >&2
exit 0
