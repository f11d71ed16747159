#!/usr/bin/env bash
# Makes sure the browser tests have a Chromium: Debian's `chromium` package, never a
# Playwright download (`playwright install` is not used anywhere).
#   bash scripts/browser.sh        install it when missing
#   source it and call ensure_chromium from another script.
set -euo pipefail

CHROMIUM=${SEATWISE_CHROMIUM:-/usr/bin/chromium}

ensure_chromium() {
  if [ -x "$CHROMIUM" ]; then return 0; fi
  echo "browser: installing chromium from Debian's packages"
  local sudo=""
  if [ "$(id -u)" != 0 ]; then sudo="sudo -n"; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null
  "$CHROMIUM" --version
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  ensure_chromium
fi
