#!/usr/bin/env bash
# Installs the Debian libraries the app needs at run time when they are missing and we may
# (root): Pango and HarfBuzz for WeasyPrint (the PDF report), and the DejaVu fonts it embeds.
# `make run` and `make test` call it; without root or apt-get it only says what is missing.
set -u
packages=()
have_lib() { ldconfig -p 2>/dev/null | grep -q "$1"; }
have_lib 'libpango-1.0.so.0' || packages+=(libpango-1.0-0)
have_lib 'libpangoft2-1.0.so.0' || packages+=(libpangoft2-1.0-0)
have_lib 'libharfbuzz.so.0' || packages+=(libharfbuzz0b)
have_lib 'libharfbuzz-subset.so.0' || packages+=(libharfbuzz-subset0)
[ -e /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || packages+=(fonts-dejavu-core)
if [ ${#packages[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "install-system-deps: missing ${packages[*]} (the PDF report needs them); install them as root." >&2
  exit 0
fi
echo "install-system-deps: installing ${packages[*]} (once) ..."
export DEBIAN_FRONTEND=noninteractive
if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null; }; then
  echo "install-system-deps: apt-get failed; the PDF report will not render." >&2
fi
exit 0
