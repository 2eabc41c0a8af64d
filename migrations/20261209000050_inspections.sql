-- Inspections: the civil-affairs bureau inspects a provider against a
-- checklist, records each item and its findings, each with a deadline to
-- put it right; the provider answers each finding, and the bureau verifies
-- the answer or reopens the finding.
create table inspections (
    id              uuid primary key,
    institution_id  uuid not null references institutions (id),
    scheduled_for   date not null,
    status          text not null default 'scheduled' check (status in ('scheduled', 'recorded')),
    -- [{code, text}]: the items inspected, as scheduled.
    checklist       jsonb not null,
    -- [{code, passed, note}]: each item as found.
    results         jsonb,
    scheduled_by    uuid references users (id) on delete set null,
    recorded_by     uuid references users (id) on delete set null,
    recorded_at     timestamptz,
    created_at      timestamptz not null default now(),
    check ((status = 'recorded') = (recorded_at is not null))
);
create index inspections_institution_idx on inspections (institution_id, scheduled_for desc);

create table inspection_findings (
    id              uuid primary key,
    inspection_id   uuid not null references inspections (id) on delete cascade,
    institution_id  uuid not null references institutions (id),
    item            text not null,
    severity        text not null check (severity in ('minor', 'major', 'critical')),
    text            text not null check (char_length(text) between 1 and 2000),
    rectify_by      date not null,
    status          text not null default 'open' check (status in ('open', 'answered', 'verified')),
    answer          text check (char_length(answer) <= 2000),
    answered_by     uuid references users (id) on delete set null,
    answered_at     timestamptz,
    verified_by     uuid references users (id) on delete set null,
    verified_at     timestamptz,
    -- Answers the bureau did not accept.
    reopened        integer not null default 0,
    created_at      timestamptz not null default now()
);
create index inspection_findings_inspection_idx on inspection_findings (inspection_id);
create index inspection_findings_institution_idx on inspection_findings (institution_id, created_at);
