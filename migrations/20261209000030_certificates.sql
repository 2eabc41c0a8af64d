-- The certificates of those who go through an elder's door: the national
-- care worker level (1 to 5) and a health certificate, each valid until a
-- date. A visit is assigned only to someone with a health certificate
-- valid on the day.
create table carer_certificates (
    user_id      uuid not null references users (id) on delete cascade,
    kind         text not null check (kind in ('care_worker_level', 'health')),
    level        smallint check (level between 1 and 5),
    valid_until  date not null,
    recorded_by  uuid references users (id) on delete set null,
    recorded_at  timestamptz not null default now(),
    primary key (user_id, kind),
    check ((kind = 'care_worker_level') = (level is not null))
);
create index carer_certificates_expiry_idx on carer_certificates (valid_until);
