-- Each time a device went offline or came back online: when, and why (silent
-- past its heartbeat timeout, its own status report, a message from it that
-- brought it back, or a status line of an imported log). The live system
-- writes a row where it raises or clears `device_offline`, in the same
-- transaction; the rule backtest replays them, so a sensor that died in the
-- history shows as it did live. One row per change, never one per judgement.
-- A plain table (a few rows per device a year), the same on PostgreSQL and
-- TimescaleDB.
create table device_status_history (
    id          bigint generated always as identity primary key,
    device_id   text not null references devices (device_id) on delete cascade,
    -- Whose the device was when it changed (null: a shared device): the
    -- backtest reads a resident's devices' history by it, as it reads
    -- their events.
    resident_id uuid references residents (id) on delete cascade,
    at          timestamptz not null,
    online      boolean not null,
    reason      text not null
                check (reason in ('heartbeat_timeout', 'reported', 'heard_from', 'imported')),
    recorded_at timestamptz not null default now(),
    -- An imported log imported again stores each status line once.
    unique (device_id, at, online)
);
create index device_status_history_resident_idx on device_status_history (resident_id, at);
