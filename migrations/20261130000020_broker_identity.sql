-- Device identity on the broker (device contract version 2): a device is who
-- its MQTT credential says it is, not whichever topic it writes to.

-- Zigbee2MQTT bridges. A bridge publishes its devices under its own base
-- topic, and its credential may write and read under that topic only.
create table gateways (
    gateway_id     text primary key check (gateway_id ~ '^[A-Za-z0-9_.-]{1,64}$'),
    institution_id uuid not null references institutions (id),
    -- Kept under zigbee2mqtt/ so the ingest subscription covers every bridge.
    base_topic     text not null unique check (base_topic ~ '^zigbee2mqtt(/[A-Za-z0-9_.-]+)+$'),
    created_at     timestamptz not null default now(),
    updated_at     timestamptz not null default now()
);
create index gateways_institution_idx on gateways (institution_id, gateway_id);

-- A Zigbee2MQTT device behind a gateway is `{base_topic}/{external_id}`; one
-- without keeps version 1's `zigbee2mqtt/{external_id}`. A gateway with
-- devices cannot be removed from under them.
alter table devices add column gateway_id text references gateways (gateway_id);
alter table devices add check (gateway_id is null or source = 'zigbee2mqtt');
-- Friendly names are unique per bridge, not across the service.
drop index devices_external_key;
create unique index devices_external_key on devices (source, coalesce(gateway_id, ''), external_id)
    where external_id is not null;

-- Every MQTT account eldercare manages, one row each: the credential store.
-- Mosquitto gets these accounts through its dynamic-security plugin; EMQX
-- reads this table directly (its PostgreSQL authentication and authorisation
-- sources, see the README). No password is stored: a device's password is
-- derived from the credential key (a setting, not in the database) and
-- `nonce`, so the broker's accounts can be rebuilt from here alone;
-- `password_hash` is `sha256(password || salt)` in hex, the form EMQX checks.
create table mqtt_accounts (
    username         text primary key,
    kind             text not null check (kind in ('device', 'gateway', 'ingest')),
    -- The account goes with its device or gateway.
    device_id        text unique references devices (device_id) on delete cascade,
    gateway_id       text unique references gateways (gateway_id) on delete cascade,
    -- The only client id the account may connect with, so no device can
    -- take over the backend's sessions; null for the ingest account, which
    -- opens one session per lane.
    client_id        text,
    -- Which issue of the password is current; null for the ingest account,
    -- whose password is MQTT_URL's.
    nonce            text,
    password_hash    text not null,
    salt             text not null,
    -- Topic filters the account may publish to and subscribe to.
    publish_topics   text[] not null default '{}',
    subscribe_topics text[] not null default '{}',
    issued_at        timestamptz not null default now(),
    check ((kind = 'device') = (device_id is not null)),
    check ((kind = 'gateway') = (gateway_id is not null)),
    check ((kind = 'ingest') = (nonce is null))
);
