-- An institution that registered an id number already on the registry was
-- answered `already_registered` with the elder's id: that answer is its
-- claim to enrol the elder, for a while. An admin enrols only an elder its
-- institution has such a claim on, so knowing an elder's id is not enough
-- to reach their records.
create table registry_claims (
    institution_id uuid not null references institutions (id) on delete cascade,
    resident_id    uuid not null references residents (id) on delete cascade,
    claimed_by     uuid references users (id) on delete set null,
    claimed_at     timestamptz not null default now(),
    primary key (institution_id, resident_id)
);
