-- Long-range reads from an hourly rollup of the readings.
--
-- On plain PostgreSQL `readings_hourly` is a table the scheduler's leader
-- maintains (store::rollups): every hour before `rollup_state.rolled_until`
-- is summed up there, and hours that received readings after they were
-- rolled up (late data, accepted up to 30 days back) are listed in
-- `rollup_dirty` by a statement-level trigger and summed up again at the next
-- run. On TimescaleDB `store::timescale::setup` replaces the table (and the
-- trigger) with a continuous aggregate of the same name and columns.
--
-- Sums and counts, not averages: hours add up to days, and an hour summed up
-- again after a late reading is exact.

create table if not exists readings_hourly (
    resident_id uuid not null,
    metric      text not null,
    -- The hour's start (UTC, `date_bin('1 hour', ts, '2000-01-01')`).
    bucket      timestamptz not null,
    count       bigint not null,
    sum         double precision not null,
    min         double precision not null,
    max         double precision not null,
    primary key (resident_id, metric, bucket)
);

-- How far the rollup has gone: every hour before `rolled_until` is in
-- readings_hourly (up to the hours in rollup_dirty).
create table rollup_state (
    name         text primary key,
    rolled_until timestamptz not null,
    rolled_at    timestamptz not null default now()
);

-- Hours that received readings, one row per inserting statement and hour,
-- appended without any key so concurrent ingest batches never wait on each
-- other. Rows are written in the readings' own transaction, so a run that
-- sees a row also sees the readings behind it.
create table rollup_dirty (
    hour timestamptz not null
);

create function readings_mark_hours() returns trigger language plpgsql as $$
begin
    insert into rollup_dirty (hour)
    select distinct date_bin('1 hour', ts, timestamptz '2000-01-01 00:00:00+00') from new_readings;
    return null;
end
$$;

-- Hypertables (a database that already took the TimescaleDB path) get no
-- trigger: older TimescaleDB refuses transition tables on them, and the
-- continuous aggregate tracks changes by itself.
do $$
declare
    hypertable boolean := false;
begin
    if to_regclass('_timescaledb_catalog.hypertable') is not null then
        execute 'select exists (select 1 from _timescaledb_catalog.hypertable where table_name = ''readings'')'
            into hypertable;
    end if;
    if not hypertable then
        create trigger readings_mark_hours after insert on readings
            referencing new table as new_readings
            for each statement execute function readings_mark_hours();
        -- The rollup reads readings by time across all residents: a BRIN
        -- index finds an hour's blocks at almost no cost to inserts (ranges
        -- of 32 pages, so a quiet hour is not read with its neighbours).
        create index readings_ts_brin on readings using brin (ts) with (pages_per_range = 32);
    end if;
end
$$;
