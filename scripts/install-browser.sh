#!/usr/bin/env bash
# Installs Debian's Chromium for the browser tests when it is missing and we may (root).
# Where it cannot, the browser tests skip and say why; CI (.ci/run) then fails on those skips.
set -u
if [ -x /usr/bin/chromium ]; then
  exit 0
fi
if [ "$(id -u)" != "0" ]; then
  echo "install-browser: /usr/bin/chromium is missing and we are not root; browser tests will skip." >&2
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-browser: no apt-get here; browser tests will skip." >&2
  exit 0
fi
echo "install-browser: installing Debian's chromium (once) ..."
export DEBIAN_FRONTEND=noninteractive
if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null; }; then
  echo "install-browser: apt-get failed; browser tests will skip." >&2
fi
exit 0
