#!/usr/bin/env bash
# Browser tests drive Debian's chromium through playwright-core (npx playwright install cannot work here).
set -euo pipefail
if [ -x /usr/bin/chromium ]; then exit 0; fi
echo "== installing Debian chromium for the browser tests"
export DEBIAN_FRONTEND=noninteractive
if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
$SUDO apt-get install -y -qq chromium >/dev/null 2>&1 || { $SUDO apt-get update -qq && $SUDO apt-get install -y -qq chromium; }
[ -x /usr/bin/chromium ] || { echo "chromium could not be installed" >&2; exit 1; }
