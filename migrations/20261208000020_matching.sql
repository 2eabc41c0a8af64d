-- Orders matched to a provider: a service an elder (or her family) asks for
-- without naming who delivers it is offered to the providers serving her
-- division in turn, each for a while; the one that accepts schedules it as
-- a visit, and none left leaves it with the civil-affairs bureau.
create table service_requests (
    id                      uuid primary key,
    resident_id             uuid not null references residents (id) on delete cascade,
    service_code            text not null,
    preferred_start         timestamptz,
    note                    text,
    requested_by            uuid references users (id) on delete set null,
    requested_role          text not null,
    status                  text not null check (status in ('offered', 'accepted', 'unmatched', 'cancelled')),
    -- The provider it is offered to now, and until when.
    offer_institution_id    uuid references institutions (id),
    accept_by               timestamptz,
    -- How long each provider has to accept (the setting when it was asked).
    offer_seconds           integer not null check (offer_seconds > 0),
    -- The provider that accepted it, and the visit it became.
    provider_institution_id uuid references institutions (id),
    visit_id                uuid references visits (id) on delete set null,
    created_at              timestamptz not null default now(),
    updated_at              timestamptz not null default now(),
    check ((status = 'offered') = (offer_institution_id is not null and accept_by is not null)),
    check ((status = 'accepted') = (provider_institution_id is not null))
);
create index service_requests_resident_idx on service_requests (resident_id, created_at desc);
create index service_requests_lapse_idx on service_requests (accept_by) where status = 'offered';
create index service_requests_offer_idx on service_requests (offer_institution_id) where status = 'offered';
create index service_requests_unmatched_idx on service_requests (created_at) where status = 'unmatched';

-- The request's timeline, which the family follows.
create table service_request_steps (
    id             bigint generated always as identity primary key,
    request_id     uuid not null references service_requests (id) on delete cascade,
    step           text not null check (step in ('requested', 'offered', 'declined', 'lapsed', 'accepted', 'unmatched',
                                                 'cancelled')),
    institution_id uuid references institutions (id),
    by_user        uuid references users (id) on delete set null,
    reason         text,
    at             timestamptz not null default now()
);
create index service_request_steps_request_idx on service_request_steps (request_id, id);
