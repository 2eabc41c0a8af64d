-- the names the backend uses on the broker, which no device or gateway may
-- take. a device's id is its mqtt username and client id: named after one of
-- the backend's sessions (`<client_id>-events`), it would kick that session
-- off the broker each time it connects and receive the alarms queued for it.
-- several `serve` processes share one database, each with its own client id:
-- each records its names here at start, so every process (and emqx, which
-- reads this table in its authentication and authorisation queries) refuses
-- the names of all of them. names are kept lowercased and compared without
-- case. a process that is gone keeps its names: it may come back.
create table mqtt_reserved_names (
    name        text primary key check (name = lower(name)),
    -- the client id (from mqtt_url) of the process that uses the name.
    process     text not null,
    recorded_at timestamptz not null default now()
);

-- the watchdog of every process shows on /readyz, each second, whether an
-- account was revoked for holding a reserved name and nobody has resolved
-- the alert yet: a partial index keeps that look cheap however many alerts
-- there are.
create index alerts_identity_revoked_idx on alerts (institution_id)
    where kind = 'identity_revoked' and status <> 'resolved';
