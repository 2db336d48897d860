#!/usr/bin/env bash
# Installs Debian's Chromium builds when missing and we may (root):
# - chromium-headless-shell for the browser tests and Lighthouse (tests/e2e): the same Blink,
#   without the desktop browser's machinery, at about half the CPU per test;
# - chromium for the benchmarks that drive a whole browser (bench/phone_taps.py, bench-lighthouse).
# Where it cannot, the browser tests skip and say why; CI (.ci/run) then fails on those skips.
set -u
missing=()
[ -x /usr/lib/chromium/chromium-headless-shell ] || missing+=(chromium-headless-shell)
[ -x /usr/bin/chromium ] || missing+=(chromium)
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" != "0" ]; then
  echo "install-browser: ${missing[*]} missing and we are not root; what needs it will skip." >&2
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-browser: no apt-get here; what needs ${missing[*]} will skip." >&2
  exit 0
fi
echo "install-browser: installing Debian's ${missing[*]} (once) ..."
export DEBIAN_FRONTEND=noninteractive
if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}" fonts-dejavu-core >/dev/null; }; then
  echo "install-browser: apt-get failed; what needs ${missing[*]} will skip." >&2
fi
exit 0
