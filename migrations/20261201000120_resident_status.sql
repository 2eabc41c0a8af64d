-- The resident's life beyond their devices (issue 15): what a responder
-- needs at the door, and where the resident is (home, in hospital, away,
-- discharged, deceased), which rules, visits and meals follow.

-- One sheet per resident, replaced whole. The key safe code is kept apart
-- from the rest: sealed with a key derived from webhooks.secret_key when it
-- is set (bound to the resident), as given otherwise, and never read back
-- except by the carer assigned to a visit at that door.
create table responder_info (
    resident_id      uuid primary key references residents (id) on delete cascade,
    -- Access instructions, emergency contacts, conditions, allergies,
    -- medications and advance directives, as the API shows them.
    sheet            jsonb not null default '{}',
    key_safe_code    text,
    key_safe_sealed  boolean not null default false,
    updated_by       uuid references users (id) on delete set null,
    updated_at       timestamptz not null default now()
);

-- Periods of a resident's status, newest last. A period without an end
-- lasts until the next one starts; an in_hospital or away period with an
-- end is over at its end (the resident is active again).
create table resident_status (
    id           bigint generated always as identity primary key,
    resident_id  uuid not null references residents (id) on delete cascade,
    status       text not null
                 check (status in ('active', 'in_hospital', 'away', 'discharged', 'deceased')),
    from_at      timestamptz not null,
    until_at     timestamptz,
    note         text,
    recorded_by  uuid references users (id) on delete set null,
    recorded_at  timestamptz not null default now(),
    check (until_at is null or until_at > from_at),
    check (until_at is null or status in ('in_hospital', 'away'))
);
create index resident_status_resident_idx on resident_status (resident_id, from_at, id);
