-- urgency first, and bounded chatter.
--
-- the outbox claims urgent deliveries (alerts of high severity and above)
-- before any other, then by age, so an sos push never waits behind a queue
-- of messages. this index serves that order; the old one (by age alone)
-- would make every claim sort the whole backlog.
create index notification_deliveries_claim_idx
    on notification_deliveries (urgent desc, next_attempt_at)
    where delivered_at is null and failed_at is null;
drop index if exists notification_deliveries_due_idx;

-- the planner turns alert jobs into deliveries before message jobs: a
-- backlog of messages must not delay the planning of an alarm either.
create index notification_jobs_alerts_first_idx on notification_jobs ((alert_id is null), id);

-- what was sent (names, sms text, message text) is kept only for a while
-- after it was delivered or given up; the retention job then nulls it, and
-- the row stays as the record that someone was told.
alter table notification_deliveries alter column payload drop not null;
create index notification_deliveries_purge_idx
    on notification_deliveries (coalesce(delivered_at, failed_at))
    where payload is not null and (delivered_at is not null or failed_at is not null);

-- messages are limited per author over a sliding window, counted here so
-- the limit holds across every serve process and across restarts.
create index messages_author_idx on messages (author_id, created_at desc) where author_id is not null;
