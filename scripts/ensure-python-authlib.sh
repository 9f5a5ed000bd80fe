#!/usr/bin/env bash
# The interoperability tests (test/interop) drive Latchkey with Python's authlib, from Debian's packages:
# /usr/bin/python3 is Debian's python (a `python3` earlier on PATH may be another one without them).
set -euo pipefail
if /usr/bin/python3 -c 'import authlib, requests' >/dev/null 2>&1; then exit 0; fi
echo "== installing Debian python3-authlib for the interoperability tests"
export DEBIAN_FRONTEND=noninteractive
if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
install() { $SUDO apt-get install -y -qq -o DPkg::Lock::Timeout=300 --no-install-recommends python3-authlib python3-requests </dev/null >/dev/null 2>&1; }
install || { $SUDO apt-get update -qq -o DPkg::Lock::Timeout=300 </dev/null && install; }
/usr/bin/python3 -c 'import authlib, requests' || { echo "python3-authlib could not be installed" >&2; exit 1; }
