#!/usr/bin/env bash
# Installs Debian's chromium for the report test (headless rendering of results/report.html).
# Does nothing when chromium is already there; says so and succeeds when it cannot install
# (not root, no apt), so `make test` still runs everything else.
set -uo pipefail
if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "install_chromium: no apt-get here; install Chromium yourself for the report test" >&2
  exit 0
fi
SUDO=""
if [ "$(id -u)" != 0 ]; then
  if sudo -n true 2>/dev/null; then SUDO="sudo -n"; else
    echo "install_chromium: not root; run 'sudo apt-get install chromium' for the report test" >&2
    exit 0
  fi
fi
echo "install_chromium: installing Debian's chromium (for the HTML report test)" >&2
$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
