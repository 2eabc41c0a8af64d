-- The vital readings a telemetry batch stored and the rules have not judged
-- yet: one row per batch, written in the transaction that stores the
-- readings and deleted once the engine has judged them. A process killed
-- between the two leaves its row, and the engine's sweep (any process's)
-- judges those readings: a run of out-of-range readings is never left
-- unjudged because the process that stored it died. Judging a reading twice
-- changes nothing (the vital state ignores readings not newer than its last).
-- The readings are parallel arrays, one element per reading.
create table vital_inbox (
    id          bigserial primary key,
    device_ids  text[] not null,
    metrics     text[] not null,
    ts          timestamptz[] not null,
    vals        float8[] not null,
    received_at timestamptz[] not null,
    enqueued_at timestamptz not null default now()
);
