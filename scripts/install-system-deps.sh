#!/usr/bin/env bash
# Installs the Debian packages the app needs at run time when they are missing and we may
# (root): Pango and HarfBuzz for WeasyPrint (the PDF report), and the DejaVu fonts it embeds.
# With --test (from `make test`) also the tools the deployment tests run on deploy/: Caddy
# (`caddy validate`, and a request through the Caddyfile) and systemd (`systemd-analyze`).
# `make run` and `make test` call it; without root or apt-get it only says what is missing.
set -u
packages=()
have_lib() { ldconfig -p 2>/dev/null | grep -q "$1"; }
have_lib 'libpango-1.0.so.0' || packages+=(libpango-1.0-0)
have_lib 'libpangoft2-1.0.so.0' || packages+=(libpangoft2-1.0-0)
have_lib 'libharfbuzz.so.0' || packages+=(libharfbuzz0b)
have_lib 'libharfbuzz-subset.so.0' || packages+=(libharfbuzz-subset0)
[ -e /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || packages+=(fonts-dejavu-core)
new_caddy=no
if [ "${1:-}" = "--test" ]; then
  command -v caddy >/dev/null 2>&1 || { packages+=(caddy); new_caddy=yes; }
  command -v systemd-analyze >/dev/null 2>&1 || packages+=(systemd)
fi
if [ ${#packages[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "install-system-deps: missing ${packages[*]} (the PDF report or the deployment tests need them); install them as root." >&2
  exit 0
fi
echo "install-system-deps: installing ${packages[*]} (once) ..."
export DEBIAN_FRONTEND=noninteractive
if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null; }; then
  echo "install-system-deps: apt-get failed; the PDF report or the deployment tests will not run." >&2
fi
# Debian's caddy package starts a web server on port 80 where systemd runs; the tests only need
# the binary, so a caddy installed here for them is stopped and disabled again.
if [ "$new_caddy" = yes ] && [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
  systemctl disable --now caddy.service >/dev/null 2>&1 || true
fi
exit 0
