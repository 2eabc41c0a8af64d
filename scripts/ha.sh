#!/usr/bin/env bash
# A highly available PostgreSQL on loopback, for failover demos and tests:
#   etcd         127.0.0.1:${HA_ETCD_PORT:-12379} (peer ${HA_ETCD_PEER_PORT:-12380})
#   3 × Patroni  PostgreSQL 15 on 127.0.0.1:25401-25403, REST API on 18401-18403
#                (bases HA_PG_PORT_BASE=25400, HA_REST_PORT_BASE=18400)
#   HAProxy      read-write 127.0.0.1:${HA_RW_PORT:-25410} (the leader, by Patroni's
#                GET /primary), read-only 127.0.0.1:${HA_RO_PORT:-25411} (streaming
#                replicas, by GET /replica)
# Data, configs, logs and pids live under ${HA_DIR:-.run/ha} of this checkout.
# Other knobs: HA_SCOPE (the Patroni cluster name; give a second cluster on
# the same etcd another one), HA_START_PATIENCE (seconds start waits, 180),
# HA_CUT_SESSIONS=0 (HAProxy leaves a deposed primary's sessions open).
#
# Usage: scripts/ha.sh start|stop|status   (exit 3: a package cannot be installed)
#   start   idempotent: starts whatever is not running (a node killed by a test
#           comes back and rejoins as a replica, rewound if need be), then waits
#           until there is a leader, both replicas stream, and the read-write
#           port answers `select 1`.
#   status  patronictl list.
#   stop    stops everything start started (pids under the HA directory).
#
# LOCAL DEMO ONLY: every PostgreSQL trusts every connection from 127.0.0.1 and
# the local socket (no passwords), etcd and the REST API have no TLS or auth.
#
# Writes are synchronous (synchronous_mode: true): a commit is acknowledged
# only once the synchronous standby has it, and only that standby may be
# promoted, so a failover loses no acknowledged write. Patroni comes from PyPI
# (>= 3.0.3, into a venv): Debian's 3.0.2 rewrites the leader key
# unconditionally when a frozen leader resumes, so it can keep a second
# primary alive and lose acknowledged writes.
set -Eeuo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
ha=${HA_DIR:-$root/.run/ha}
etcd_port=${HA_ETCD_PORT:-12379}
etcd_peer_port=${HA_ETCD_PEER_PORT:-12380}
# The ports are below Linux's ephemeral range (32768-60999), so no test's
# or client's randomly bound port can take one between the check and the bind.
# Whatever fails says where.
trap 'echo "ha.sh: failed at line $LINENO: $BASH_COMMAND" >&2' ERR
pg_base=${HA_PG_PORT_BASE:-25400}
rest_base=${HA_REST_PORT_BASE:-18400}
rw_port=${HA_RW_PORT:-25410}
ro_port=${HA_RO_PORT:-25411}
scope=${HA_SCOPE:-eldercare-ha}
pg_bin=/usr/lib/postgresql/15/bin
nodes=(1 2 3)

# Timing. Patroni's leader key lives `ttl` seconds unless the leader renews it
# (every `loop_wait`); a leader that cannot reach etcd for `retry_timeout`
# demotes itself. So a dead or frozen leader is replaced about `ttl` seconds
# after its last renewal (a switchover, which hands the key over, takes a few
# seconds), and a healthy leader must never lose its key by accident:
# loop_wait*2 + retry_timeout (2*2 + 4 = 8) < ttl, and Patroni's own rule
# loop_wait + 2*retry_timeout (10) <= ttl, leave it several loops to renew on a
# busy two-core machine. ttl is 20 because that is Patroni's floor: it raises
# a smaller ttl to 20 with only a warning in its log (a ttl of 10 here failed
# over in ~20 s).
# These are bootstrap values: a cluster that exists keeps the ones in etcd
# (`patronictl -c .run/ha/patronictl.yml edit-config` changes them).
ttl=20
loop_wait=2
retry_timeout=4

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
# PostgreSQL refuses to run as root: Patroni (and etcd, and the files) belong
# to the postgres user when we are root.
pg_cmd=() daemon_cmd=()
if [ "$(id -u)" = 0 ]; then
  pg_cmd=(runuser -u postgres --)
  # The long-running ones (Patroni, etcd) get the postgres user by exec, not
  # under runuser: runuser stays as their parent and stops itself whenever
  # its child is stopped (as su does), so a node frozen with SIGSTOP and
  # thawed would leave a stopped runuser behind.
  daemon_cmd=(setpriv --reuid=postgres --regid=postgres --init-groups --reset-env --)
fi
run_pg() { "${pg_cmd[@]}" "$@"; }
# Long-running services: in their own session, holding none of our file
# descriptors (a caller reading our output must see it end).
detach_pg() { setsid "${daemon_cmd[@]}" "$@" </dev/null >/dev/null 2>&1 & }

alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }
listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
# A port something else holds (another checkout's cluster, say) would make
# this one look healthy while its own processes failed to start.
need_free() {
  local port
  for port in "$@"; do
    if listening "$port"; then
      echo "ha.sh: 127.0.0.1:$port is already in use by a process this cluster did not start" >&2
      echo "ha.sh: (another checkout's cluster?) stop it, or move this one with HA_* ports and HA_DIR" >&2
      exit 1
    fi
  done
}

install_missing() {
  local need=()
  command -v etcd >/dev/null 2>&1 || need+=(etcd-server)
  command -v etcdctl >/dev/null 2>&1 || need+=(etcd-client)
  command -v haproxy >/dev/null 2>&1 || [ -x /usr/sbin/haproxy ] || need+=(haproxy)
  [ -x "$pg_bin/initdb" ] || need+=(postgresql-15)
  command -v psql >/dev/null 2>&1 || need+=(postgresql-client)
  /usr/bin/python3 -c 'import venv, ensurepip' 2>/dev/null || need+=(python3-venv)
  if [ ${#need[@]} -gt 0 ]; then
    echo "installing: ${need[*]}"
    if ! { as_root apt-get update -qq \
      && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null; }; then
      echo "ha.sh: cannot install ${need[*]} with apt-get" >&2
      exit 3
    fi
  fi
  # Debian's python, not a per-user one (pyenv's lives under /root, which the
  # postgres user cannot read).
  if [ ! -x "$ha/venv/bin/patroni" ]; then
    echo "installing Patroni from PyPI into $ha/venv"
    rm -rf "$ha/venv"
    /usr/bin/python3 -m venv "$ha/venv"
    if ! "$ha/venv/bin/pip" install -q --disable-pip-version-check \
      'patroni[etcd3]>=3.0.3' psycopg2-binary; then
      rm -rf "$ha/venv"
      echo "ha.sh: cannot install Patroni >= 3.0.3 from PyPI (is PyPI reachable?)." >&2
      echo "ha.sh: Debian's patroni 3.0.2 is not a substitute: it can lose acknowledged writes when a frozen leader resumes." >&2
      exit 3
    fi
  fi
}

write_configs() {
  local n
  for n in "${nodes[@]}"; do
    local dir="$ha/node$n"
    mkdir -p "$dir"
    local preload=""
    if [ -e "$("$pg_bin/pg_config" --pkglibdir)/timescaledb.so" ]; then
      preload="shared_preload_libraries: timescaledb"
    fi
    cat > "$dir/patroni.yml" <<YAML
scope: $scope
namespace: /service/
name: node$n
log:
  level: INFO
  dir: $dir
restapi:
  listen: 127.0.0.1:$((rest_base + n))
  connect_address: 127.0.0.1:$((rest_base + n))
etcd3:
  hosts: 127.0.0.1:$etcd_port
bootstrap:
  dcs:
    ttl: $ttl
    loop_wait: $loop_wait
    retry_timeout: $retry_timeout
    maximum_lag_on_failover: 1048576
    synchronous_mode: true
    postgresql:
      use_pg_rewind: true
      use_slots: true
      parameters:
        wal_level: replica
        hot_standby: "on"
        wal_log_hints: "on"
        max_wal_senders: 10
        max_replication_slots: 10
        max_connections: 200
        wal_keep_size: 256MB
  initdb:
    - encoding: UTF8
    - locale: C.UTF-8
    - data-checksums
postgresql:
  listen: 127.0.0.1:$((pg_base + n))
  connect_address: 127.0.0.1:$((pg_base + n))
  data_dir: $dir/data
  bin_dir: $pg_bin
  pgpass: $dir/pgpass
  # Local demo only: trust on loopback and the socket, no passwords.
  pg_hba:
    - local all all trust
    - host all all 127.0.0.1/32 trust
    - host replication all 127.0.0.1/32 trust
  authentication:
    superuser:
      username: postgres
      password: postgres
    replication:
      username: replicator
      password: replicator
    rewind:
      username: postgres
      password: postgres
  parameters:
    unix_socket_directories: '$dir'
    shared_buffers: 128MB
    $preload
tags:
  nofailover: false
  noloadbalance: false
YAML
  done
  cp "$ha/node1/patroni.yml" "$ha/patronictl.yml"

  local servers_rw="" servers_ro=""
  for n in "${nodes[@]}"; do
    servers_rw+="  server node$n 127.0.0.1:$((pg_base + n)) maxconn 300 check port $((rest_base + n))"$'\n'
    servers_ro+="  server node$n 127.0.0.1:$((pg_base + n)) maxconn 300 check port $((rest_base + n))"$'\n'
  done
  # Checks every second, down after 2 failures, up after 1 success; a server
  # marked down has its sessions cut, so clients of a deposed (or frozen)
  # primary get an error instead of waiting on it (HA_CUT_SESSIONS=0 leaves
  # them open: to see how a client copes with a frozen primary on its own).
  # Idle connections are closed after 30 minutes (the application's pool
  # recycles sooner).
  local cut=" on-marked-down shutdown-sessions"
  [ "${HA_CUT_SESSIONS:-1}" = 0 ] && cut=""
  cat > "$ha/haproxy.cfg" <<CFG
global
  maxconn 2000

defaults
  mode tcp
  retries 2
  timeout connect 2s
  timeout client 30m
  timeout server 30m
  timeout check 1s

listen postgres_rw
  bind 127.0.0.1:$rw_port
  option httpchk GET /primary
  http-check expect status 200
  default-server inter 1s fall 2 rise 1$cut
$servers_rw
listen postgres_ro
  bind 127.0.0.1:$ro_port
  balance roundrobin
  option httpchk GET /replica
  http-check expect status 200
  default-server inter 1s fall 2 rise 1$cut
$servers_ro
CFG
}

start_etcd() {
  alive "$ha/etcd.pid" && return 0
  need_free "$etcd_port" "$etcd_peer_port"
  mkdir -p "$ha/etcd"
  [ "$(id -u)" = 0 ] && chown -R postgres:postgres "$ha/etcd"
  detach_pg sh -c 'echo $$ > "$1"; exec etcd --name ha-etcd --data-dir "$2" \
      --listen-client-urls "http://127.0.0.1:$3" --advertise-client-urls "http://127.0.0.1:$3" \
      --listen-peer-urls "http://127.0.0.1:$4" --initial-advertise-peer-urls "http://127.0.0.1:$4" \
      --initial-cluster "ha-etcd=http://127.0.0.1:$4" --initial-cluster-state new \
      >> "$5" 2>&1' sh "$ha/etcd.pid.tmp" "$ha/etcd/data" "$etcd_port" "$etcd_peer_port" "$ha/etcd/etcd.log"
  for _ in $(seq 1 100); do [ -s "$ha/etcd.pid.tmp" ] && break; sleep 0.1; done
  mv "$ha/etcd.pid.tmp" "$ha/etcd.pid"
  for _ in $(seq 1 100); do
    curl -fsS "http://127.0.0.1:$etcd_port/health" 2>/dev/null | grep -q '"health":"true"' && return 0
    sleep 0.1
  done
  echo "ha.sh: etcd did not become healthy (see $ha/etcd/etcd.log)" >&2
  exit 1
}

start_node() {
  local n=$1 dir="$ha/node$1"
  alive "$dir/patroni.pid" && return 0
  # The postmaster of a killed Patroni may still hold its port: that one is
  # ours, and the new Patroni adopts it.
  local pm="$dir/data/postmaster.pid"
  if ! { [ -f "$pm" ] && kill -0 "$(head -n 1 "$pm")" 2>/dev/null; }; then
    need_free "$((pg_base + n))"
  fi
  need_free "$((rest_base + n))"
  # A postmaster left behind by a killed Patroni is Patroni's to adopt or
  # stop; a pid file of a dead one is harmless.
  rm -f "$dir/patroni.pid.tmp"
  detach_pg sh -c 'echo $$ > "$1"; exec "$2" "$3" >> "$4" 2>&1' sh \
    "$dir/patroni.pid.tmp" "$ha/venv/bin/patroni" "$dir/patroni.yml" "$dir/patroni.out"
  for _ in $(seq 1 100); do [ -s "$dir/patroni.pid.tmp" ] && break; sleep 0.1; done
  mv "$dir/patroni.pid.tmp" "$dir/patroni.pid"
}

start_haproxy() {
  if alive "$ha/haproxy.pid"; then
    return 0
  fi
  need_free "$rw_port" "$ro_port"
  haproxy -c -f "$ha/haproxy.cfg" >"$ha/haproxy.log" 2>&1 || { cat "$ha/haproxy.log" >&2; exit 1; }
  haproxy -D -f "$ha/haproxy.cfg" -p "$ha/haproxy.pid" </dev/null >>"$ha/haproxy.log" 2>&1 \
    || { echo "ha.sh: HAProxy did not start:" >&2; cat "$ha/haproxy.log" >&2; exit 1; }
}

# The cluster as Patroni sees it: a leader running and two replicas streaming.
healthy() {
  local n
  for n in "${nodes[@]}"; do
    if curl -fsS -m 2 "http://127.0.0.1:$((rest_base + n))/cluster" 2>/dev/null | "$ha/venv/bin/python" -c '
import json, sys
try:
    members = json.load(sys.stdin).get("members", [])
except ValueError:
    sys.exit(1)
leaders = [m for m in members if m.get("role") in ("leader", "standby_leader") and m.get("state") == "running"]
streaming = [m for m in members if m.get("role") in ("replica", "sync_standby") and m.get("state") == "streaming"]
sys.exit(0 if len(leaders) == 1 and len(streaming) == 2 else 1)'; then
      return 0
    fi
  done
  return 1
}

wait_healthy() {
  local patience=${HA_START_PATIENCE:-180} start=$SECONDS
  until healthy; do
    if (( SECONDS - start > patience )); then
      echo "ha.sh: the cluster is not healthy after ${patience}s:" >&2
      status >&2 || true
      exit 1
    fi
    sleep 0.5
  done
  until "$pg_bin/psql" -h 127.0.0.1 -p "$rw_port" -U postgres -d postgres -tAc 'select 1' >/dev/null 2>&1; do
    if (( SECONDS - start > patience )); then
      echo "ha.sh: HAProxy's read-write port $rw_port does not answer after ${patience}s" >&2
      exit 1
    fi
    sleep 0.2
  done
}

status() {
  # patronictl retries an unreachable etcd forever.
  if ! alive "$ha/etcd.pid" || [ ! -x "$ha/venv/bin/patronictl" ]; then
    echo "ha: not running (scripts/ha.sh start)"
    return 1
  fi
  timeout 20 "${pg_cmd[@]}" "$ha/venv/bin/patronictl" -c "$ha/patronictl.yml" list
}

start() {
  mkdir -p "$ha"
  install_missing
  write_configs
  chmod o+x "$root" "$root/.run" 2>/dev/null || true
  [ "$(id -u)" = 0 ] && chown -R postgres:postgres "$ha"
  chmod 700 "$ha"/node*/ 2>/dev/null || true
  start_etcd
  for n in "${nodes[@]}"; do start_node "$n"; done
  start_haproxy
  wait_healthy
  echo "ha up: read-write 127.0.0.1:$rw_port, read-only 127.0.0.1:$ro_port (trust auth on loopback: local demo only)"
}

stop_pid() {
  local file=$1 pid
  alive "$file" || { rm -f "$file"; return 0; }
  pid=$(cat "$file")
  kill -TERM "$pid" 2>/dev/null || true
  kill -CONT "$pid" 2>/dev/null || true  # a process a test froze
  for _ in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$file"
}

stop() {
  [ -d "$ha" ] || return 0
  stop_pid "$ha/haproxy.pid"
  local n
  # All nodes at once: a leader stopped alone would hand over to a replica
  # that is about to stop too.
  for n in "${nodes[@]}"; do stop_pid "$ha/node$n/patroni.pid" & done
  wait
  # A postmaster whose Patroni was killed (or that Patroni left behind).
  for n in "${nodes[@]}"; do
    local pm="$ha/node$n/data/postmaster.pid"
    if [ -f "$pm" ]; then
      local pid
      pid=$(head -n 1 "$pm")
      if kill -0 "$pid" 2>/dev/null && grep -q postgres "/proc/$pid/comm" 2>/dev/null; then
        kill -QUIT "$pid" 2>/dev/null || true
        pkill -CONT -P "$pid" 2>/dev/null || true
        kill -CONT "$pid" 2>/dev/null || true
        for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      fi
    fi
  done
  stop_pid "$ha/etcd.pid"
  echo "ha stopped"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
