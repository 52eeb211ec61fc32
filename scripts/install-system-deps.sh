#!/usr/bin/env bash
# Installs the Debian packages the tests run for real, only where they are missing.
# Needs root (CI runs as root); elsewhere it says what to install and leaves it to you.
set -euo pipefail
need=()
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1 || need+=(postgresql)
# WeasyPrint (report.pdf) loads Pango through ctypes/cffi at import: no command to look for, only libraries.
ldconfig -p 2>/dev/null | grep -q 'libpango-1\.0\.so\.0' || need+=(libpango-1.0-0)
ldconfig -p 2>/dev/null | grep -q 'libpangoft2-1\.0\.so\.0' || need+=(libpangoft2-1.0-0)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "Missing system packages: ${need[*]} (install them with apt-get as root; the tests that need them will fail in CI and skip locally)." >&2
  exit 0
fi
echo "Installing ${need[*]} ..."
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
