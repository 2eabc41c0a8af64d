#!/usr/bin/env bash
# Installs (when missing) and starts the two services eldercare needs, on
# loopback, with their data under .run/ in this checkout:
#   PostgreSQL  127.0.0.1:${PG_PORT:-54329}  (trust auth on loopback: local demo only)
#   Mosquitto   127.0.0.1:${MQTT_PORT:-18830}
# Idempotent: running it again leaves running services alone.
# Writes .run/env with DATABASE_URL and MQTT_URL for the other scripts to source.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
run="$root/.run"
pg_port=${PG_PORT:-54329}
mqtt_port=${MQTT_PORT:-18830}
mkdir -p "$run"

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

need=()
pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
[ -n "$pg_bin" ] && [ -x "$pg_bin/initdb" ] || need+=(postgresql)
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || need+=(mosquitto)
command -v mosquitto_pub >/dev/null 2>&1 || need+=(mosquitto-clients)
command -v psql >/dev/null 2>&1 || need+=(postgresql-client)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing: ${need[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  pg_bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
fi
mosquitto_bin=$(command -v mosquitto || echo /usr/sbin/mosquitto)

# PostgreSQL refuses to run as root: the cluster belongs to the postgres user
# (or to the invoking user when not root).
pg_user=$(id -un)
run_pg() { "$@"; }
if [ "$(id -u)" = 0 ]; then
  pg_user=postgres
  run_pg() { runuser -u postgres -- "$@"; }
fi

pgdata="$run/pg"
if [ ! -s "$pgdata/PG_VERSION" ]; then
  mkdir -p "$pgdata"
  [ "$(id -u)" = 0 ] && chown -R postgres:postgres "$pgdata"
  run_pg "$pg_bin/initdb" -D "$pgdata" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
  cat >> "$pgdata/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $pg_port
unix_socket_directories = '$pgdata'
max_connections = 200
shared_buffers = 512MB
wal_buffers = 16MB
max_wal_size = 2GB
checkpoint_timeout = 15min
CONF
  # Preload TimescaleDB when this machine has it, so migrations take that path.
  if [ -e "$("$pg_bin/pg_config" --pkglibdir)/timescaledb.so" ]; then
    echo "shared_preload_libraries = 'timescaledb'" >> "$pgdata/postgresql.conf"
  fi
fi
chmod o+x "$root" "$run" 2>/dev/null || true
if ! run_pg "$pg_bin/pg_ctl" -D "$pgdata" status >/dev/null 2>&1; then
  run_pg "$pg_bin/pg_ctl" -D "$pgdata" -l "$pgdata/server.log" -w -t 60 start >/dev/null
fi
until "$pg_bin/pg_isready" -h 127.0.0.1 -p "$pg_port" -q; do sleep 0.2; done
if ! psql -h 127.0.0.1 -p "$pg_port" -U postgres -tAc "select 1 from pg_database where datname='eldercare'" | grep -q 1; then
  psql -h 127.0.0.1 -p "$pg_port" -U postgres -qc "create database eldercare"
fi

mq="$run/mosquitto"
mkdir -p "$mq"
sed -e "s#@PORT@#$mqtt_port#" -e "s#@DATA@#$mq/#" "$root/config/mosquitto-dev.conf" > "$mq/mosquitto.conf"
[ "$(id -u)" = 0 ] && chown -R mosquitto:mosquitto "$mq" 2>/dev/null || true
if ! { [ -f "$mq/pid" ] && kill -0 "$(cat "$mq/pid")" 2>/dev/null; }; then
  "$mosquitto_bin" -c "$mq/mosquitto.conf" -d
fi
for _ in $(seq 1 100); do
  mosquitto_pub -h 127.0.0.1 -p "$mqtt_port" -t eldercare/ping -m ping -q 0 2>/dev/null && break
  sleep 0.1
done

cat > "$run/env" <<ENV
export DATABASE_URL=postgres://postgres@127.0.0.1:$pg_port/eldercare
export MQTT_URL=mqtt://127.0.0.1:$mqtt_port?client_id=eldercare-ingest
export PG_PORT=$pg_port
export MQTT_PORT=$mqtt_port
ENV
echo "services up: postgresql 127.0.0.1:$pg_port, mosquitto 127.0.0.1:$mqtt_port"
