#!/usr/bin/env bash
# `npm test`: the whole test suite against real services.
#
# Starts Redis, PostgreSQL and Kafka from a clean data folder on test ports (so a running
# demo is untouched), builds the project, runs vitest (extra arguments go to vitest),
# and stops the services again. Installs npm packages and Chromium first on a fresh machine.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

export DATA_DIR=${TEST_DATA_DIR:-$PWD/.data/test}
export REDIS_PORT=${TEST_REDIS_PORT:-6391} PG_PORT=${TEST_PG_PORT:-5441} KAFKA_PORT=${TEST_KAFKA_PORT:-9094}

[ -d node_modules ] || npm ci --no-audit --no-fund
# Browser tests drive Debian's Chromium through playwright-core (no browser download).
if [ ! -x /usr/bin/chromium ]; then
  echo "[test] installing chromium from Debian's packages…" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi

# The stripe-mock contract test (test/payments-contract.test.ts) installs stripe-mock with Go.
command -v go >/dev/null || { echo "[test] go is not on PATH: install Go 1.22 or newer (https://go.dev/dl/) for the stripe-mock contract test" >&2; exit 1; }

bash infra/services.sh down >/dev/null 2>&1 || true
rm -rf "$DATA_DIR"
eval "$(bash infra/services.sh up)"
trap 'bash infra/services.sh down >/dev/null 2>&1 || true' EXIT

# Type errors fail CI in `npm run typecheck`; here tsc still emits, so tests of other parts can run.
npm run build --silent || echo "[test] tsc reported errors (see above); running the tests on what it emitted" >&2
npx vitest run "$@"
