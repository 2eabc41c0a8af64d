-- Consent, as care law expects: whether a resident (or their guardian, for
-- someone who can no longer decide) agreed to being monitored, and to each
-- family member seeing their data; when, and who recorded it. Kept as a
-- history (one row per decision, never changed): the latest row of a
-- subject is its current state, and the earlier ones show what was known
-- when.
create table consents (
    id             bigint generated always as identity primary key,
    resident_id    uuid not null references residents (id) on delete cascade,
    -- 'monitoring': the devices and the data they send; 'family_link': one
    -- family member's access, named by family_user_id.
    subject        text not null check (subject in ('monitoring', 'family_link')),
    family_user_id uuid references users (id) on delete cascade,
    given          boolean not null,
    -- Who decided: the resident, or their guardian (named).
    given_by       text not null check (given_by in ('resident', 'guardian')),
    guardian_name  text,
    -- When they decided (a paper form may be recorded days later).
    decided_at     timestamptz not null,
    recorded_by    uuid references users (id),
    recorded_at    timestamptz not null default now(),
    check ((subject = 'family_link') = (family_user_id is not null)),
    check ((given_by = 'guardian') = (guardian_name is not null))
);
create index consents_resident_idx on consents (resident_id, subject, family_user_id, id desc);
