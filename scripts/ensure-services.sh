#!/usr/bin/env bash
# Makes sure PostgreSQL (127.0.0.1:5432) and Redis (127.0.0.1:6379) answer.
# If one does not, starts it: with docker compose where a Docker engine runs,
# else with the locally installed server. Fails with a message naming what
# to start when neither works.
set -euo pipefail
cd "$(dirname "$0")/.."

pg_host=127.0.0.1 pg_port=5432 redis_host=127.0.0.1 redis_port=6379

up() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }
wait_up() {
  for _ in $(seq 1 60); do up "$1" "$2" && return 0; sleep 0.5; done
  return 1
}

start_with_docker() {
  command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1 || return 1
  echo "starting $1 with docker compose"
  docker compose up -d "$1"
}

start_postgres_locally() {
  command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ] || return 1
  local v; v=$(ls /etc/postgresql | sort -V | tail -n1)
  echo "starting the local PostgreSQL $v cluster"
  pg_ctlcluster --skip-systemctl-redirect "$v" main start
}

start_redis_locally() {
  command -v redis-server >/dev/null 2>&1 || return 1
  echo "starting the local redis-server"
  mkdir -p /var/lib/redis /var/log/redis 2>/dev/null || true
  redis-server --daemonize yes --bind 127.0.0.1 --port "$redis_port" --save "" --appendonly no \
    --dir "${TMPDIR:-/tmp}" --logfile "${TMPDIR:-/tmp}/vayva-redis.log"
}

if ! up "$pg_host" "$pg_port"; then
  start_with_docker postgres || start_postgres_locally || true
  wait_up "$pg_host" "$pg_port" || {
    echo "PostgreSQL is not reachable at $pg_host:$pg_port and could not be started." >&2
    echo "Start PostgreSQL 15 there with trust auth for user postgres (e.g. 'docker compose up -d postgres')." >&2
    exit 1
  }
fi
if ! up "$redis_host" "$redis_port"; then
  start_with_docker redis || start_redis_locally || true
  wait_up "$redis_host" "$redis_port" || {
    echo "Redis is not reachable at $redis_host:$redis_port and could not be started." >&2
    echo "Start Redis 7 there (e.g. 'docker compose up -d redis')." >&2
    exit 1
  }
fi
