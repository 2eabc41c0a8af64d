-- The quarantine is bounded: a device stuck sending garbage must not fill
-- the disk. Beyond a cap of rows per sender and hour, a rejected message is
-- not stored but counted here, so an operator still sees how much was
-- refused, from whom and why (GET /api/v1/quarantine, "overflow").
--
-- device_id is null for senders nobody registered: their claimed ids are free
-- to vary, so they are counted together per topic prefix (the topic's first
-- level: eldercare, zigbee2mqtt, other); for a registered device the prefix
-- is ''. A plain table with a unique key, on PostgreSQL and TimescaleDB alike.
create table quarantine_overflow (
    hour           timestamptz not null,
    device_id      text,
    topic_prefix   text not null,
    reason         text not null,
    institution_id uuid,
    count          bigint not null
);
-- The upsert's conflict target; null device ids are one sender, not many.
create unique index quarantine_overflow_key
    on quarantine_overflow (hour, device_id, topic_prefix, reason) nulls not distinct;
-- Retention deletes by hour.
create index quarantine_overflow_hour_idx on quarantine_overflow (hour);
