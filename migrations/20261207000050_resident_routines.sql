-- Each resident's routine, learned from her own last 28 days by the
-- scheduler's leader once a local day (`rules::routine`), and read by the
-- behaviour rules with the rest of her facts.
create table resident_routines (
    resident_id uuid primary key references residents (id) on delete cascade,
    -- The local day it was learned for: from the 28 days before it.
    learned_for date not null,
    routine     jsonb not null,
    learned_at  timestamptz not null default now()
);
