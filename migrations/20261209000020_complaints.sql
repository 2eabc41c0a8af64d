-- Complaints against an institution, filed by a family, the hotline desk or
-- staff, with a deadline to respond; past it unanswered, overdue and on the
-- civil-affairs bureau's queue. Every step is also on the audit trail.
create table complaints (
    id              uuid primary key,
    resident_id     uuid references residents (id) on delete set null,
    institution_id  uuid not null references institutions (id),
    category        text not null check (category in
                        ('service_quality', 'no_show', 'staff_conduct', 'billing', 'meals', 'other')),
    text            text not null check (char_length(text) between 1 and 4000),
    status          text not null default 'open' check (status in ('open', 'responded', 'overdue', 'closed')),
    respond_by      timestamptz not null,
    filed_by        uuid references users (id) on delete set null,
    filed_role      text not null,
    response        text check (char_length(response) <= 4000),
    responded_at    timestamptz,
    responded_by    uuid references users (id) on delete set null,
    outcome         text check (outcome in ('upheld', 'not_upheld', 'resolved')),
    closed_at       timestamptz,
    closed_by       uuid references users (id) on delete set null,
    overdue_at      timestamptz,
    created_at      timestamptz not null default now(),
    check ((status = 'closed') = (outcome is not null)),
    check ((response is null) = (responded_at is null))
);
create index complaints_institution_idx on complaints (institution_id, created_at desc);
create index complaints_resident_idx on complaints (resident_id, created_at desc);
create index complaints_due_idx on complaints (respond_by) where status = 'open';
