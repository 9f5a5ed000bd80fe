#!/usr/bin/env bash
# The whole test suite. Installs what it needs (node modules, Debian chromium for browser tests,
# PostgreSQL for the Postgres pass) and starts what it needs; safe to run on a fresh machine.
set -euo pipefail
cd "$(dirname "$0")/.."

[ -x node_modules/.bin/vitest ] || npm ci --no-audit --no-fund
echo "== dependency audit (npm audit --omit=dev; exceptions in SECURITY.md)"
node scripts/audit-deps.mjs
npm run build --silent
echo "== typecheck"
npx tsc -p tsconfig.json --noEmit
if [ -f scripts/ensure-chromium.sh ]; then bash scripts/ensure-chromium.sh; fi
bash scripts/ensure-python-authlib.sh

echo "== tests on SQLite"
npx vitest run "$@"

if [ -f scripts/with-postgres.sh ] && [ "${LATCHKEY_SKIP_POSTGRES:-0}" != "1" ]; then
  echo "== tests on PostgreSQL"
  bash scripts/with-postgres.sh npx vitest run "$@"
fi
