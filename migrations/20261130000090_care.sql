-- Care services: the offline half. What is offered (the service
-- catalogue), what each resident is authorised (care plans), what was
-- delivered at the door (visits, with their electronic visit verification),
-- and who pays for it.

-- Where the resident lives: carers go there, and check-ins are measured
-- against it. WGS 84; both coordinates or neither.
alter table residents add column address text;
alter table residents add column lat double precision check (lat between -90 and 90);
alter table residents add column lon double precision check (lon between -180 and 180);
alter table residents add constraint residents_location_check check ((lat is null) = (lon is null));

-- The QR codes and NFC tags fixed in a resident's home: a check-in by tag
-- proves the carer stood at that door.
create table resident_tags (
    resident_id uuid not null references residents (id) on delete cascade,
    tag         text not null,
    kind        text not null check (kind in ('qr', 'nfc')),
    created_at  timestamptz not null default now(),
    primary key (resident_id, tag)
);

-- What an institution offers, by its own codes.
create table services (
    id               uuid primary key,
    institution_id   uuid not null references institutions (id),
    code             text not null,
    name             text not null,
    category         text not null check (category in ('personal_care', 'domestic', 'meal', 'medical',
                         'companionship', 'welfare_check', 'respite', 'rehabilitation')),
    duration_minutes integer not null check (duration_minutes > 0),
    unit             text not null check (unit in ('visit', 'hour')),
    unit_price       double precision not null check (unit_price >= 0),
    currency         text not null,
    -- Who may pay for it.
    funding          text[] not null,
    evv_required     boolean not null,
    tasks            jsonb not null default '[]',
    created_at       timestamptz not null default now(),
    constraint services_code_key unique (institution_id, code)
);

-- Every institution has a welfare check, which an alert dispatches: those
-- that exist now, and (by trigger, whichever way it is created) every new one.
create function add_welfare_check() returns trigger language plpgsql as $$
begin
    insert into services (id, institution_id, code, name, category, duration_minutes, unit, unit_price, currency,
                          funding, evv_required)
    values (gen_random_uuid(), new.id, 'WELFARE-CHECK', 'Welfare check', 'welfare_check', 30, 'visit', 0, 'CNY',
            '{institution}', true)
    on conflict (institution_id, code) do nothing;
    return null;
end $$;
create trigger institutions_welfare_check after insert on institutions
    for each row execute function add_welfare_check();
insert into services (id, institution_id, code, name, category, duration_minutes, unit, unit_price, currency,
                      funding, evv_required)
select gen_random_uuid(), id, 'WELFARE-CHECK', 'Welfare check', 'welfare_check', 30, 'visit', 0, 'CNY',
       '{institution}', true
from institutions
on conflict (institution_id, code) do nothing;

-- A resident's care plan, as last put: its items name services by code and
-- are read whole (to generate visits, to authorise hours in statements).
create table care_plans (
    resident_id    uuid primary key references residents (id) on delete cascade,
    institution_id uuid not null references institutions (id),
    items          jsonb not null,
    updated_at     timestamptz not null default now(),
    updated_by     uuid references users (id)
);

-- One service delivered (or to be) to one resident: FHIR Encounter, class HH.
create table visits (
    id               uuid primary key,
    institution_id   uuid not null references institutions (id),
    resident_id      uuid not null references residents (id) on delete cascade,
    service_id       uuid not null references services (id),
    funding          text not null,
    origin           text not null check (origin in ('plan', 'manual', 'request', 'alert')),
    status           text not null check (status in ('requested', 'scheduled', 'assigned', 'checked_in',
                         'completed', 'cancelled', 'missed')),
    -- Null only while a request waits for a coordinator.
    scheduled_start  timestamptz,
    preferred_start  timestamptz,
    caregiver_id     uuid references users (id),
    alert_id         uuid references alerts (id) on delete set null,
    note             text,
    cancel_reason    text,
    requested_by     uuid references users (id),
    -- The EVV record as it was made at the door: the time used (the
    -- backend's clock, or an offline phone's own), and the location, method
    -- and distance from home, each as recorded.
    check_in_at      timestamptz,
    check_in         jsonb,
    check_out_at     timestamptz,
    check_out        jsonb,
    tasks            jsonb not null default '[]',
    visit_note       text,
    exceptions       text[] not null default '{}',
    -- [{code, reason, by, at}]
    resolved         jsonb not null default '[]',
    -- [{field, original, value, reason, by, at}]; the corrected times below
    -- are what statements use, the EVV times above stay as recorded.
    amendments       jsonb not null default '[]',
    start_corrected  timestamptz,
    end_corrected    timestamptz,
    -- Completed with every exception resolved, as the visit's code judged
    -- it when it last saved the visit: statements and figures read it.
    verified         boolean not null default false,
    -- One lateness alert and one missed alert per visit, ever.
    late_alerted_at  timestamptz,
    missed_alerted_at timestamptz,
    rating_stars     integer check (rating_stars between 1 and 5),
    rating_comment   text,
    rated_by         uuid references users (id),
    rated_at         timestamptz,
    created_at       timestamptz not null default now(),
    updated_at       timestamptz not null default now(),
    check (scheduled_start is not null or status in ('requested', 'cancelled'))
);
-- A plan's slot is generated once: regenerating the plan finds it.
create unique index visits_plan_slot_key on visits (resident_id, service_id, scheduled_start)
    where origin = 'plan' and status <> 'cancelled';
create index visits_institution_start_idx on visits (institution_id, scheduled_start, id);
create index visits_resident_start_idx on visits (resident_id, scheduled_start);
create index visits_caregiver_start_idx on visits (caregiver_id, scheduled_start) where caregiver_id is not null;
-- The scheduler's lateness sweep.
create index visits_due_idx on visits (scheduled_start) where status in ('scheduled', 'assigned');
create index visits_alert_idx on visits (alert_id) where alert_id is not null;
-- Statements: an institution's verified and unverified completed visits of a funder.
create index visits_statement_idx on visits (institution_id, funding, check_in_at) where status = 'completed';
