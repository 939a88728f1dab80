#!/usr/bin/env bash
# `npm start`: the product on this machine, services included.
#
# Installs what is missing, starts Redis, PostgreSQL and Kafka under .data/ (or uses
# REDIS_URL / DATABASE_URL / KAFKA_BROKERS when set), builds, runs the edge, the order
# writer and the reconciler, seeds a small demo catalog with one live flash sale, and
# stops everything cleanly on Ctrl-C.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

[ -d node_modules ] || npm ci --no-audit --no-fund
eval "$(bash infra/services.sh up)"

# Secrets come from the environment; for a local demo, generate them once and keep them.
secrets=${DATA_DIR:-.data}/secrets.env
if [ ! -f "$secrets" ]; then
  umask 077
  printf 'export JWT_SECRET=%s\nexport DEMO_ADMIN_PASSWORD=%s\n' "$(openssl rand -hex 32)" "$(openssl rand -hex 8)" > "$secrets"
fi
# shellcheck disable=SC1090
source "$secrets"
export JWT_SECRET=${JWT_SECRET}
export ADMIN_EMAIL=${ADMIN_EMAIL:-admin@example.com}
export ADMIN_PASSWORD=${ADMIN_PASSWORD:-$DEMO_ADMIN_PASSWORD}
export PORT=${PORT:-8080}

# Payments: with no STRIPE_SECRET_KEY, the project's payment sandbox (sandbox/) stands in for
# Stripe; the same code talks to Stripe itself when the key is set and STRIPE_API_BASE is not.
if [ -z "${STRIPE_SECRET_KEY:-}" ]; then
  sandbox_port=${SANDBOX_PORT:-12111}
  export STRIPE_SECRET_KEY=sk_test_sandbox STRIPE_API_BASE=http://127.0.0.1:${sandbox_port}
  export STRIPE_WEBHOOK_SECRET=${STRIPE_WEBHOOK_SECRET:-whsec_sandbox_$(openssl rand -hex 16)}
fi

pids=()
stop() {
  local status=$?
  trap - INT TERM EXIT
  echo "[start] stopping the edge, workers and reconciler…" >&2
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait "${pids[@]}" 2>/dev/null || true
  echo "[start] stopping services…" >&2
  bash infra/services.sh down >&2 || true
  exit "$status"
}
trap stop EXIT          # also when a step fails (set -e): the exit status is kept
trap 'exit 0' INT TERM  # Ctrl-C is the normal way to stop

npm run build --silent   # after the trap: a failed build stops the services it found started

logs=${DATA_DIR:-.data}/logs
mkdir -p "$logs"
node dist/edge/main.js > >(tee -a "$logs/edge.log") 2>&1 & pids+=($!)
node dist/workers/main.js order-writer >> "$logs/order-writer.log" 2>&1 & pids+=($!)
node dist/reconciler/main.js >> "$logs/reconciler.log" 2>&1 & pids+=($!)
if [ -n "${sandbox_port:-}" ]; then
  SANDBOX_PORT=$sandbox_port SANDBOX_LATENCY_MS=${SANDBOX_LATENCY_MS:-100-300} SANDBOX_WEBHOOK_URL=http://127.0.0.1:${PORT}/v1/payments/webhook \
    node dist/sandbox/payments-server.js >> "$logs/payment-sandbox.log" 2>&1 & pids+=($!)
fi
node dist/workers/main.js payment-settler >> "$logs/payment-settler.log" 2>&1 & pids+=($!)
node dist/workers/main.js notifier >> "$logs/notifier.log" 2>&1 & pids+=($!)
node dist/workers/main.js analytics >> "$logs/analytics.log" 2>&1 & pids+=($!)

node dist/infra/demo-seed.js
if [ "${RATE_LIMIT_PER_IP:-120}" = 0 ]; then
  sign_in='Sign-in is not throttled (RATE_LIMIT_PER_IP=0): ready for npm run loadtest -- flash-spike.'
else
  sign_in="Sign-in is limited to ${RATE_LIMIT_PER_IP:-120} a minute per address; for load tests start with RATE_LIMIT_PER_IP=0 npm start."
fi
cat >&2 <<INFO

[start] The shop is up: http://localhost:${PORT}  (readiness: http://localhost:${PORT}/readyz)
[start] Admin: ${ADMIN_EMAIL} / ${ADMIN_PASSWORD}
[start] Operations dashboard: http://localhost:${PORT}/ops
[start] ${sign_in}
[start] Logs of the workers and reconciler: ${logs}/. Press Ctrl-C to stop everything.
INFO
wait -n "${pids[@]}" || true
echo "[start] a process exited; shutting down" >&2
exit 1
