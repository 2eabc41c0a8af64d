-- Follow-up calls: each month, a sample of every provider's verified visits
-- goes to the hotline desk, which asks the elder whether the visit happened
-- and how it went. The sample is drawn once the month is over, by a keyed
-- hash the provider cannot compute; each draw is kept, so an auditor holding
-- the key recomputes the sample.
create table follow_up_draws (
    month      date primary key check (extract(day from month) = 1),
    drawn_at   timestamptz not null default now(),
    -- Verified visits of the month, and how many were sampled.
    visits     integer not null,
    sampled    integer not null
);

create table follow_ups (
    id              uuid primary key,
    month           date not null references follow_up_draws (month),
    visit_id        uuid not null unique references visits (id) on delete cascade,
    institution_id  uuid not null references institutions (id),
    resident_id     uuid not null references residents (id) on delete cascade,
    draw            bytea not null,
    attempts        integer not null default 0,
    reached         boolean,
    visit_happened  boolean,
    satisfaction    integer check (satisfaction between 1 and 5),
    note            text check (char_length(note) <= 2000),
    called_by       uuid references users (id) on delete set null,
    called_at       timestamptz,
    created_at      timestamptz not null default now(),
    check (reached or (visit_happened is null and satisfaction is null))
);
create index follow_ups_month_idx on follow_ups (month, institution_id);
create index follow_ups_institution_idx on follow_ups (institution_id, month);
