#!/usr/bin/env bash
# Makes sure PostgreSQL and Redis answer for the test suite.
#   - DATABASE_URL / REDIS_URL, when set, name the servers; otherwise 127.0.0.1.
#   - A local server that is installed but stopped is started.
#   - A local server that is missing is installed from Debian's packages.
# Remote servers named in the environment are only waited for, never installed.
set -euo pipefail

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo -n "$@"; fi; }

apt_updated=""
apt_install() {
  if [ -z "$apt_updated" ]; then as_root apt-get update -qq; apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "$@" >/dev/null
}

url_host() { python3 -c 'import sys,urllib.parse as u; p=u.urlparse(sys.argv[1]); print(p.hostname or "127.0.0.1")' "$1"; }
url_port() { python3 -c 'import sys,urllib.parse as u; p=u.urlparse(sys.argv[1]); print(p.port or sys.argv[2])' "$1" "$2"; }
is_local() { case "$1" in 127.*|localhost|::1) return 0;; *) return 1;; esac; }

wait_for() {  # wait_for NAME COMMAND...
  local name=$1; shift
  for _ in $(seq 1 60); do "$@" >/dev/null 2>&1 && return 0; sleep 0.5; done
  echo "services: $name did not come up" >&2; return 1
}

pg_up() { pg_isready -q -h "$PG_HOST" -p "$PG_PORT" 2>/dev/null || python3 - "$PG_HOST" "$PG_PORT" <<'PY'
import socket, sys
socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=1).close()
PY
}

ensure_postgres() {
  PG_HOST=$(url_host "${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/seatwise}")
  PG_PORT=$(url_port "${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/seatwise}" 5432)
  if pg_up; then return 0; fi
  if ! is_local "$PG_HOST"; then wait_for "PostgreSQL at $PG_HOST:$PG_PORT" pg_up; return; fi
  local fresh=""
  if ! command -v pg_ctlcluster >/dev/null 2>&1 || [ -z "$(ls /etc/postgresql 2>/dev/null)" ]; then
    echo "services: installing PostgreSQL from Debian's packages"
    apt_install postgresql postgresql-contrib
    fresh=1
  fi
  local version; version=$(ls /etc/postgresql | sort -V | tail -1)
  if [ -n "$fresh" ]; then
    # A throwaway test server: trust loopback connections, as the CI machines do.
    local hba="/etc/postgresql/$version/main/pg_hba.conf"
    as_root sed -i -E 's/^(host\s+all\s+all\s+(127\.0\.0\.1\/32|::1\/128)\s+)\S+/\1trust/' "$hba"
    as_root sed -i -E 's/^(local\s+all\s+postgres\s+)\S+/\1trust/' "$hba"
  fi
  echo "services: starting PostgreSQL $version"
  as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  # The package may have started the cluster before pg_hba.conf was edited.
  [ -n "$fresh" ] && as_root pg_ctlcluster --skip-systemctl-redirect "$version" main reload || true
  wait_for "PostgreSQL" pg_up
}

redis_up() { python3 - "$RD_HOST" "$RD_PORT" <<'PY'
import socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=1)
s.sendall(b"PING\r\n"); assert s.recv(16).startswith(b"+PONG")
PY
}

ensure_redis() {
  RD_HOST=$(url_host "${REDIS_URL:-redis://127.0.0.1:6379/0}")
  RD_PORT=$(url_port "${REDIS_URL:-redis://127.0.0.1:6379/0}" 6379)
  if redis_up 2>/dev/null; then return 0; fi
  if ! is_local "$RD_HOST"; then wait_for "Redis at $RD_HOST:$RD_PORT" redis_up; return; fi
  if ! command -v redis-server >/dev/null 2>&1; then
    echo "services: installing Redis from Debian's packages"
    apt_install redis-server
  fi
  echo "services: starting Redis"
  as_root mkdir -p /var/lib/redis /var/log/redis
  as_root redis-server --daemonize yes --bind 127.0.0.1 --port "$RD_PORT" --save "" \
    --appendonly no --dir /var/lib/redis --logfile /var/log/redis/seatwise.log
  wait_for "Redis" redis_up
}

ensure_postgres
ensure_redis
