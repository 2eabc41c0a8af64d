#!/usr/bin/env bash
# Installs (when missing) and starts the two services eldercare needs, on
# loopback, with their data under .run/ in this checkout:
#   PostgreSQL  127.0.0.1:${PG_PORT:-54329}  (trust auth on loopback: local demo only)
#   Mosquitto   127.0.0.1:${MQTT_PORT:-18830}  (dynamic security, no anonymous access)
# Idempotent: running it again leaves running services alone. A PostgreSQL
# already answering on the port (another checkout's) is used as it is.
# Broker secrets (the dynamic-security admin's password, the backend's ingest
# password, the key device passwords are derived from) are generated once
# into .run/mqtt-secrets (owner-only), and the backend's sealing key (key
# safe codes, gateway and webhook secrets are stored only sealed with keys
# derived from it) into .run/app-secrets; nothing secret is in the
# repository. Writes .run/env (owner-only) with DATABASE_URL, MQTT_URL (the
# ingest account), MQTT_ADMIN_URL, ELDERCARE__MQTT__CREDENTIAL_KEY and
# ELDERCARE__WEBHOOKS__SECRET_KEY for the other scripts to source.
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
fi
# Preload TimescaleDB when this machine has it, so migrations take that path
# (without it the backend runs plain tables and warns at start). Also for a
# cluster made before the extension was installed: it takes effect at the
# server's next start.
if [ -e "$("$pg_bin/pg_config" --pkglibdir)/timescaledb.so" ] \
  && ! grep -q "^shared_preload_libraries.*timescaledb" "$pgdata/postgresql.conf"; then
  echo "shared_preload_libraries = 'timescaledb'" >> "$pgdata/postgresql.conf"
fi
chmod o+x "$root" "$run" 2>/dev/null || true
if ! run_pg "$pg_bin/pg_ctl" -D "$pgdata" status >/dev/null 2>&1; then
  if "$pg_bin/pg_isready" -h 127.0.0.1 -p "$pg_port" -q; then
    echo "a PostgreSQL already answers on 127.0.0.1:$pg_port (another checkout's): using it"
  else
    run_pg "$pg_bin/pg_ctl" -D "$pgdata" -l "$pgdata/server.log" -w -t 60 start >/dev/null
  fi
fi
until "$pg_bin/pg_isready" -h 127.0.0.1 -p "$pg_port" -q; do sleep 0.2; done
if ! psql -h 127.0.0.1 -p "$pg_port" -U postgres -tAc "select 1 from pg_database where datname='eldercare'" | grep -q 1; then
  psql -h 127.0.0.1 -p "$pg_port" -U postgres -qc "create database eldercare"
fi

# Secrets of the local broker, generated once.
secrets="$run/mqtt-secrets"
if [ ! -s "$secrets" ]; then
  random() { od -An -N24 -tx1 /dev/urandom | tr -d ' \n'; }
  (umask 077; cat > "$secrets" <<SECRETS
MQTT_ADMIN_PASSWORD=$(random)
MQTT_INGEST_PASSWORD=$(random)
MQTT_CREDENTIAL_KEY=$(random)
SECRETS
  )
fi
# shellcheck source=/dev/null
source "$secrets"
# The backend's sealing key, generated once and never changed: another key
# cannot open what this one sealed.
app_secrets="$run/app-secrets"
if [ ! -s "$app_secrets" ]; then
  (umask 077; echo "SECRET_KEY=$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')" > "$app_secrets")
fi
# shellcheck source=/dev/null
source "$app_secrets"

mq="$run/mosquitto"
mkdir -p "$mq"
plugin=$(ls /usr/lib/*/mosquitto_dynamic_security.so /usr/lib/mosquitto_dynamic_security.so 2>/dev/null | head -n 1 || true)
[ -n "$plugin" ] || { echo "mosquitto_dynamic_security.so not found (package mosquitto)"; exit 1; }
# The broker's accounts live in this file; eldercare fills it through the
# admin account (MQTT_ADMIN_URL) and rebuilds it from the database if lost.
if [ ! -s "$mq/dynamic-security.json" ]; then
  mosquitto_ctrl dynsec init "$mq/dynamic-security.json" admin "$MQTT_ADMIN_PASSWORD" >/dev/null
fi
sed -e "s#@PORT@#$mqtt_port#" -e "s#@DATA@#$mq/#" -e "s#@DYNSEC_PLUGIN@#$plugin#" \
  "$root/config/mosquitto-dev.conf" > "$mq/mosquitto.conf"
[ "$(id -u)" = 0 ] && chown -R mosquitto:mosquitto "$mq" 2>/dev/null || true
if ! { [ -f "$mq/pid" ] && kill -0 "$(cat "$mq/pid")" 2>/dev/null; }; then
  "$mosquitto_bin" -c "$mq/mosquitto.conf" -d
fi
for _ in $(seq 1 100); do
  (exec 3<>"/dev/tcp/127.0.0.1/$mqtt_port") 2>/dev/null && break
  sleep 0.1
done

(umask 077; cat > "$run/env" <<ENV
export DATABASE_URL=postgres://postgres@127.0.0.1:$pg_port/eldercare
export MQTT_URL=mqtt://eldercare-ingest:$MQTT_INGEST_PASSWORD@127.0.0.1:$mqtt_port?client_id=eldercare-ingest
export MQTT_ADMIN_URL=mqtt://admin:$MQTT_ADMIN_PASSWORD@127.0.0.1:$mqtt_port
export ELDERCARE__MQTT__CREDENTIAL_KEY=$MQTT_CREDENTIAL_KEY
export ELDERCARE__WEBHOOKS__SECRET_KEY=$SECRET_KEY
export MQTT_INGEST_PASSWORD=$MQTT_INGEST_PASSWORD
export PG_PORT=$pg_port
export MQTT_PORT=$mqtt_port
ENV
)
chmod 600 "$run/env"
echo "services up: postgresql 127.0.0.1:$pg_port, mosquitto 127.0.0.1:$mqtt_port (no anonymous access)"
