-- Alert identity. An alert is about a resident, or (for a device with no
-- resident, such as a corridor smoke detector) about that device, or about
-- the institution itself (the platform watching its own health). Keying
-- active alerts on the resident alone merged every shared device of every
-- institution into one alert; the subject names exactly what the alert is
-- about, and the key includes the institution.
alter table alerts add column subject text generated always as (
    case when resident_id is not null then 'resident:' || resident_id::text
         when device_id is not null then 'device:' || device_id
         else 'institution' end
) stored;

drop index alerts_one_active_key;
create unique index alerts_one_active_key on alerts (institution_id, subject, kind, cause)
    where status <> 'resolved';
drop index alerts_cause_idx;
create index alerts_cause_idx on alerts (institution_id, subject, kind, cause, condition_at);

-- Existing alerts of shared devices say where the device is, as new ones do.
update alerts a set details = a.details || jsonb_build_object('room', d.room)
from devices d
where a.resident_id is null and a.device_id = d.device_id and d.room is not null
  and jsonb_typeof(a.details) = 'object' and a.details->'room' is null;

-- Durable evaluation. A stored alarm event (fall, SOS, hazard, cancel) is
-- written here in the same transaction as the event itself, and deleted in
-- the same transaction as the alert change it caused. Whatever dies in
-- between (the process, the connection, a decision that failed), the row
-- stays until some process has judged the event: the engine sweeps it at
-- start and every few seconds.
create table rule_inbox (
    id          bigint generated always as identity primary key,
    device_id   text not null,
    kind        text not null,
    ts          timestamptz not null,
    seq         bigint,
    data        jsonb not null default '{}',
    -- Receipt by the backend: the fall-cancel window runs on our clock, not
    -- on the device's, so a device cannot backdate a cancel.
    received_at timestamptz not null,
    enqueued_at timestamptz not null default now()
);
create index rule_inbox_enqueued_idx on rule_inbox (enqueued_at);

-- The scheduler reads new activity by the transaction that wrote it, not by
-- a clock: a row committed late by another lane or process has an older
-- transaction id than the scheduler's snapshot horizon only once it is
-- visible, so reading "txid between the last horizon and this one" can never
-- skip a row. Rows from before this column existed have none; the scheduler
-- reads its whole look-back by event time when it takes over.
alter table events add column txid xid8;
alter table events alter column txid set default pg_current_xact_id();
create index events_txid_idx on events (txid);

-- The scheduler's leader stamps each tick here, so every process can see
-- when time-driven rules (missed meals, inactivity, offline devices,
-- escalation) have stopped being judged.
create table scheduler_heartbeat (
    id        boolean primary key default true check (id),
    leader    text not null,
    ticked_at timestamptz not null
);
