-- The tenants of the service: a care home, or a home-care provider whose
-- residents live in their own homes. Everything a person can see hangs off one.
create table institutions (
    id          uuid primary key,
    name        text not null,
    -- Default IANA zone for residents created without one.
    timezone    text not null default 'UTC',
    created_at  timestamptz not null default now()
);

-- People who log in. Institution staff and admins, and family members (who
-- belong to the institution caring for their relative, and see only what
-- their links allow).
create table users (
    id             uuid primary key,
    institution_id uuid not null references institutions (id),
    email          text not null,
    name           text not null,
    role           text not null check (role in ('admin', 'staff', 'family')),
    -- argon2id PHC string; the password itself is never stored.
    password_hash  text not null,
    created_at     timestamptz not null default now(),
    updated_at     timestamptz not null default now()
);
-- Emails are case-insensitive identities, unique across the service so that
-- login needs no institution.
create unique index users_email_key on users (lower(email));

-- Bearer tokens. Only a SHA-256 of the token is stored, so a leaked database
-- dump cannot be replayed as logins; revoking is deleting.
create table sessions (
    token_hash   bytea primary key,
    user_id      uuid not null references users (id) on delete cascade,
    created_at   timestamptz not null default now(),
    expires_at   timestamptz not null,
    last_used_at timestamptz not null default now()
);
create index sessions_user_idx on sessions (user_id);

create table residents (
    id             uuid primary key,
    institution_id uuid not null references institutions (id),
    name           text not null,
    -- IANA name; every time-of-day rule is judged in the resident's own zone.
    timezone       text not null,
    room           text,
    notes          text,
    created_at     timestamptz not null default now(),
    updated_at     timestamptz not null default now()
);
create index residents_institution_idx on residents (institution_id, name);

-- Which family users may see which resident.
create table family_links (
    resident_id  uuid not null references residents (id) on delete cascade,
    user_id      uuid not null references users (id) on delete cascade,
    relationship text not null,
    created_at   timestamptz not null default now(),
    primary key (resident_id, user_id)
);
create index family_links_user_idx on family_links (user_id);

-- Registered devices. device_id is the id in the MQTT topic, so it is unique
-- across the whole service, not per institution.
create table devices (
    device_id      text primary key check (device_id ~ '^[A-Za-z0-9_.-]{1,64}$'),
    institution_id uuid not null references institutions (id),
    -- Null for a shared device of the institution (a corridor sensor).
    resident_id    uuid references residents (id) on delete set null,
    kind           text not null,
    room           text,
    placement      text,
    source         text not null default 'native' check (source in ('native', 'zigbee2mqtt')),
    -- The Zigbee2MQTT friendly name for zigbee devices.
    external_id    text,
    -- Watts at which a smart plug's appliance counts as switched on.
    power_on_threshold_w double precision not null default 20,
    created_at     timestamptz not null default now(),
    updated_at     timestamptz not null default now(),
    check (source = 'native' or external_id is not null)
);
create unique index devices_external_key on devices (source, external_id) where external_id is not null;
create index devices_resident_idx on devices (resident_id);
create index devices_institution_idx on devices (institution_id);

-- What the devices last told us about themselves. Kept apart from devices so
-- that the ingest path updates a narrow row and never races an admin's edit.
create table device_state (
    device_id     text primary key references devices (device_id) on delete cascade,
    last_seen_at  timestamptz,
    online        boolean,
    -- When the message that set `online` happened (its ts, or its receipt
    -- when it has none). Events and telemetry arrive over separate sessions
    -- and commit in separate lanes, so an older message can commit after a
    -- newer Last Will: it must not bring the device back online.
    online_at     timestamptz,
    battery       double precision,
    rssi          integer,
    firmware      text,
    -- Last known Zigbee2MQTT fields, so that events are derived on edges even
    -- across a restart.
    zigbee_state  jsonb,
    updated_at    timestamptz not null default now()
);

-- Measured values, one row per reading. A time-series table: a hypertable on
-- TimescaleDB, a plain indexed table elsewhere.
create table readings (
    ts          timestamptz not null,
    device_id   text not null,
    resident_id uuid,
    metric      text not null,
    value       double precision not null,
    seq         bigint,
    received_at timestamptz not null default now()
);
-- The device contract's idempotency key: a redelivered message is the same
-- device and seq, or, without a seq, the same device, metric and time. Two
-- different messages may share a millisecond (their seqs differ): both are
-- kept. A redelivery has the same ts too (a message without ts is given the
-- stamp of its first delivery, see ingest_seq), so ts is in the key, which
-- also makes the index legal on a hypertable.
create unique index readings_dedup_key on readings (device_id, metric, ts, seq) nulls not distinct;
create index readings_resident_metric_ts_idx on readings (resident_id, metric, ts desc);

-- Discrete events (falls, doors, meals...). Unknown event names are kept too.
create table events (
    ts          timestamptz not null,
    device_id   text not null,
    resident_id uuid,
    kind        text not null,
    data        jsonb not null default '{}',
    seq         bigint,
    received_at timestamptz not null default now()
);
create unique index events_dedup_key on events (device_id, kind, ts, seq) nulls not distinct;
create index events_resident_ts_idx on events (resident_id, ts desc);

-- A message that carried a sequence number but no timestamp is stamped with
-- its time of receipt; a redelivery must get the same stamp, or it would be
-- stored twice. This remembers the stamp given to each (device, seq).
create table ingest_seq (
    device_id   text not null,
    seq         bigint not null,
    ts          timestamptz not null,
    received_at timestamptz not null default now(),
    primary key (device_id, seq)
);
create index ingest_seq_received_idx on ingest_seq (received_at);

-- Rejected MQTT messages, kept with their reason and raw bytes so an operator
-- can see what a device sends wrong. Nothing here is ever treated as data.
create table quarantine (
    id          bigint generated always as identity primary key,
    received_at timestamptz not null default now(),
    topic       text not null,
    reason      text not null,
    detail      text not null,
    device_id   text,
    institution_id uuid,
    payload     bytea not null
);
create index quarantine_received_idx on quarantine (received_at desc);
create index quarantine_reason_idx on quarantine (reason, received_at desc);
create index quarantine_device_idx on quarantine (device_id, received_at desc);
