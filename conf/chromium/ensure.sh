#!/usr/bin/env bash
# Debian's chromium and chromium-driver for the registry's browser tests (tests/e2e/test_ui.py).
#
#   conf/chromium/ensure.sh    install both packages when /usr/bin/chromium or
#                              /usr/bin/chromedriver is missing; prints nothing when both exist
#
# No browser is downloaded at run time: selenium is pointed at these two binaries.
set -euo pipefail

say() { echo "chromium: $*" >&2; }

[[ -x /usr/bin/chromium && -x /usr/bin/chromedriver ]] && exit 0

say "installing chromium and chromium-driver (Debian packages)"
sudo=""
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null 2>&1 || { say "chromium is not installed and this user cannot install it: apt-get install chromium chromium-driver"; exit 1; }
  sudo="sudo"
fi
$sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null \
  || { say "could not install chromium and chromium-driver with apt-get"; exit 1; }
