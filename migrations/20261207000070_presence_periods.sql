-- Whether each elder was in, out, or unsure, as the scheduler's leader judged
-- it (`rules::presence`): periods like resident status, the last one open.
create table presence_periods (
    resident_id uuid not null references residents (id) on delete cascade,
    presence    text not null check (presence in ('in', 'out', 'unsure')),
    started_at  timestamptz not null,
    ended_at    timestamptz,
    primary key (resident_id, started_at),
    check (ended_at is null or ended_at > started_at)
);
create index presence_periods_open_idx on presence_periods (resident_id) where ended_at is null;
