#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# infra/services.sh — install and run the project's local services (Redis, PostgreSQL, Kafka)
# on this machine, without Docker. Every service binds to 127.0.0.1 and keeps its files under
# DATA_DIR, so several clones can run side by side with different DATA_DIR and ports.
#
# Usage: bash infra/services.sh COMMAND
#   up        install what is missing, start all services (reusing ones already running from
#             this DATA_DIR), wait until each answers, write DATA_DIR/services.env and print
#             its `export` lines on stdout (progress goes to stderr), so this works:
#               eval "$(bash infra/services.sh up)"
#   down      stop all services of this DATA_DIR (SIGTERM — SIGINT for postgres — wait, SIGKILL)
#   status    print up/down per service; exit 0 only when every local service is up
#   env       print the export lines (REDIS_URL, DATABASE_URL, KAFKA_BROKERS) without starting
#   Per service, for fault tests (same environment knobs):
#   kafka-stop | kafka-start | kafka-kill | kafka-pause | kafka-resume
#   redis-stop | redis-start | pg-stop | pg-start
#   (kafka-start and the other *-start commands wait until the service answers again;
#    kafka-kill is SIGKILL; kafka-pause/resume are SIGSTOP/SIGCONT.)
#
# Environment knobs (defaults in brackets):
#   DATA_DIR [<repo>/.data]  REDIS_PORT [6390]  PG_PORT [5440]
#   KAFKA_PORT [9093]  (the KRaft controller listens on KAFKA_PORT+1000)
#   REDIS_URL / DATABASE_URL / KAFKA_BROKERS: when set, that service is external: `up` does not
#     start it and services.env keeps the given value.
#   KAFKA_VERSION [4.3.1] (4.x line; the log config is log4j2), KAFKA_HEAP_OPTS [-Xms256m -Xmx512m],
#   FLASHSALE_CACHE [$HOME/.cache/flashsale] (Kafka jars, shared by all clones),
#   REDIS_START_TIMEOUT [30] PG_START_TIMEOUT [60] KAFKA_START_TIMEOUT [120] (seconds),
#   STOP_TIMEOUT [30] KAFKA_STOP_TIMEOUT [60] (seconds before SIGKILL).
#
# Layout: DATA_DIR/{redis,postgres,kafka}/ with each service's config, pidfile and logs
# (kafka: broker.log = JVM stdout/stderr, server.log = broker log); DATA_DIR/services.env.
set -euo pipefail

INFRA_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$INFRA_DIR/.." && pwd)

DATA_DIR=${DATA_DIR:-$REPO_DIR/.data}
mkdir -p "$DATA_DIR"
DATA_DIR=$(cd "$DATA_DIR" && pwd -P)          # absolute, symlinks resolved (pid ownership checks)
REDIS_PORT=${REDIS_PORT:-6390}
PG_PORT=${PG_PORT:-5440}
KAFKA_PORT=${KAFKA_PORT:-9093}
KAFKA_CONTROLLER_PORT=$((KAFKA_PORT + 1000))
CACHE_ROOT=${FLASHSALE_CACHE:-${XDG_CACHE_HOME:-${HOME:-/root}/.cache}/flashsale}

# shellcheck source=lib/common.sh
source "$INFRA_DIR/lib/common.sh"
# shellcheck source=lib/redis.sh
source "$INFRA_DIR/lib/redis.sh"
# shellcheck source=lib/postgres.sh
source "$INFRA_DIR/lib/postgres.sh"
# shellcheck source=lib/kafka.sh
source "$INFRA_DIR/lib/kafka.sh"

usage() { sed -n '3,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//' >&2; }

# Serialise commands that change this DATA_DIR (e.g. two `up` at once). fd 9 is closed for
# every daemon started, so the lock is released when the command ends.
lock_data_dir() {
  exec 9> "$DATA_DIR/.services.lock"
  flock -w 600 9 || die "timed out waiting for $DATA_DIR/.services.lock"
}

env_lines() {
  echo "export REDIS_URL=${REDIS_URL:-redis://127.0.0.1:$REDIS_PORT}"
  echo "export DATABASE_URL=${DATABASE_URL:-postgres://postgres@127.0.0.1:$PG_PORT/flashsale}"
  echo "export KAFKA_BROKERS=${KAFKA_BROKERS:-127.0.0.1:$KAFKA_PORT}"
}

cmd_up() {
  local t0
  t0=$(now_ms)
  log "DATA_DIR=$DATA_DIR"
  if [[ -n ${REDIS_URL:-} ]]; then log "redis: skipped, REDIS_URL is given ($REDIS_URL)"; else redis_start; fi
  if [[ -n ${DATABASE_URL:-} ]]; then log "postgres: skipped, DATABASE_URL is given ($DATABASE_URL)"; else pg_start; fi
  if [[ -n ${KAFKA_BROKERS:-} ]]; then log "kafka: skipped, KAFKA_BROKERS is given ($KAFKA_BROKERS)"; else kafka_start; fi
  env_lines > "$DATA_DIR/services.env.tmp"
  mv "$DATA_DIR/services.env.tmp" "$DATA_DIR/services.env"
  log "all services ready in $(since_ms "$t0"); environment in $DATA_DIR/services.env:"
  cat "$DATA_DIR/services.env"
}

cmd_down() {
  # Everything this DATA_DIR started, whatever the *_URL variables say.
  kafka_stop
  redis_stop
  pg_stop
}

cmd_status() {
  local rc=0
  echo "DATA_DIR=$DATA_DIR"
  if [[ -n ${REDIS_URL:-} ]]; then echo "redis: external ($REDIS_URL)"; else redis_status || rc=1; fi
  if [[ -n ${DATABASE_URL:-} ]]; then echo "postgres: external ($DATABASE_URL)"; else pg_status || rc=1; fi
  if [[ -n ${KAFKA_BROKERS:-} ]]; then echo "kafka: external ($KAFKA_BROKERS)"; else kafka_status || rc=1; fi
  return "$rc"
}

main() {
  local cmd=${1:-}
  case $cmd in
    up)           lock_data_dir; cmd_up ;;
    down)         lock_data_dir; cmd_down ;;
    status)       cmd_status ;;
    env)          env_lines ;;
    kafka-start)  lock_data_dir; kafka_start ;;
    kafka-stop)   lock_data_dir; kafka_stop ;;
    kafka-kill)   lock_data_dir; kafka_kill ;;
    kafka-pause)  kafka_pause ;;
    kafka-resume) kafka_resume ;;
    redis-start)  lock_data_dir; redis_start ;;
    redis-stop)   lock_data_dir; redis_stop ;;
    pg-start)     lock_data_dir; pg_start ;;
    pg-stop)      lock_data_dir; pg_stop ;;
    -h|--help|help) usage ;;
    *) usage; exit 2 ;;
  esac
}

main "$@"
