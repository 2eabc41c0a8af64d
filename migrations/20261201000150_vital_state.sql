-- The vital-sign rules' state per resident and metric (a pending episode, a
-- raised one clearing...), kept here rather than in one process's memory:
-- with several `serve` processes splitting the telemetry (a shared MQTT
-- subscription), consecutive readings of one resident land on different
-- processes, and each must carry on the episode the others saw. The
-- transaction that judges a batch of readings locks its rows (`for update`),
-- applies the alert changes and writes the new state, so two processes
-- judging the same resident take turns.
create table vital_state (
    resident_id uuid not null references residents (id) on delete cascade,
    metric      text not null,
    -- `rules::vitals::VitalMonitor` as JSON; null until first judged.
    state       jsonb,
    updated_at  timestamptz not null default now(),
    primary key (resident_id, metric)
);
