-- Public money: an elder applies, an assessment body grades her capability,
-- the bureau (or the LTC fund) decides, the grade's entitlement prices what
-- providers deliver, and providers claim the payer's share. Money is held
-- in whole fen (bigint): nothing rounds twice, lines sum to totals exactly.

alter table institutions drop constraint institutions_kind_check;
alter table institutions add constraint institutions_kind_check
    check (kind in ('care_home', 'home_care', 'community_center', 'canteen', 'assessment', 'ltc_fund'));

-- Assessors belong to an assessment body, insurers to a fund office: both
-- are an institution's users, placed by their institution.
alter table users drop constraint users_role_check;
alter table users add constraint users_role_check check (role in
    ('operator', 'supervisor', 'admin', 'staff', 'caregiver', 'family', 'kitchen', 'civil_affairs', 'grid_worker',
     'assessor', 'insurer'));

-- A respite stay at a care home is a status of its own: home rules pause as
-- for `away`, device alarms still come.
alter table resident_status drop constraint resident_status_status_check;
alter table resident_status add constraint resident_status_status_check
    check (status in ('active', 'in_hospital', 'away', 'discharged', 'deceased', 'respite'));
alter table resident_status drop constraint resident_status_check1;
alter table resident_status add constraint resident_status_check1
    check (until_at is null or status in ('in_hospital', 'away', 'respite'));

-- A payer's scheme: what each grade is entitled to. `grades` maps "1".."4"
-- to {monthly_minutes?, monthly_amount_fen?, copay_bp, services,
-- per_meal_subsidy_fen?, respite_days_per_year?, valid_months}; a grade
-- absent is not entitled.
create table schemes (
    code             text primary key check (code ~ '^[a-z0-9][a-z0-9_-]{0,39}$'),
    name             text not null,
    payer            text not null check (payer in ('ltc_insurance', 'civil_affairs')),
    application_kind text not null check (application_kind in ('ltc_insurance', 'home_care_subsidy', 'meal_subsidy', 'respite')),
    grades           jsonb not null,
    updated_by       uuid references users (id),
    updated_at       timestamptz not null default now()
);

create table applications (
    id                      uuid primary key,
    resident_id             uuid not null references residents (id) on delete cascade,
    kind                    text not null check (kind in ('ltc_insurance', 'home_care_subsidy', 'meal_subsidy', 'respite')),
    status                  text not null check (status in ('submitted', 'assessing', 'approved', 'rejected')),
    note                    text,
    applied_by              uuid references users (id),
    assessor_institution_id uuid references institutions (id),
    scheme                  text references schemes (code),
    reason                  text,
    entitlement_id          uuid,
    created_at              timestamptz not null default now(),
    updated_at              timestamptz not null default now()
);
create index applications_resident_idx on applications (resident_id, created_at desc);
create index applications_assessing_idx on applications (assessor_institution_id, resident_id) where status = 'assessing';
-- One open application per elder and kind.
create unique index applications_open_once on applications (resident_id, kind) where status in ('submitted', 'assessing');

-- Each step of an application, with who and when: the family's timeline.
create table application_steps (
    id             bigint generated always as identity primary key,
    application_id uuid not null references applications (id) on delete cascade,
    step           text not null check (step in ('submitted', 'assigned', 'assessed', 'approved', 'rejected')),
    by_user        uuid references users (id) on delete set null,
    by_role        text not null,
    at             timestamptz not null default now(),
    note           text,
    details        jsonb not null default '{}'
);
create index application_steps_application_idx on application_steps (application_id, id);

create table assessments (
    id             uuid primary key,
    resident_id    uuid not null references residents (id) on delete cascade,
    scale          text not null check (scale in ('barthel', 'gbt42195_2022')),
    items          jsonb not null,
    -- The grade-change facts (coma, diagnoses) and the care-risk events
    -- the assessor confirmed, each with the monitored alert it came from.
    factors        jsonb not null default '{}',
    risk_events    jsonb not null default '[]',
    total          integer not null,
    grade          integer not null check (grade between 0 and 4),
    grade_label    text not null,
    domains        jsonb not null default '{}',
    raised_by      text[] not null default '{}',
    assessed_at    timestamptz not null,
    valid_until    date not null,
    notes          text,
    assessor_id    uuid references users (id) on delete set null,
    institution_id uuid references institutions (id),
    application_id uuid references applications (id) on delete set null,
    -- A reminder to re-assess was sent (once, ahead of `valid_until`).
    reminded_at    timestamptz,
    created_at     timestamptz not null default now()
);
create index assessments_resident_idx on assessments (resident_id, assessed_at desc);
create index assessments_expiring_idx on assessments (valid_until) where reminded_at is null;

-- What an approval gives, from one date to another (both included).
-- Re-assessment or expiry ends it (`ends_on` moved, `ended_reason`).
create table entitlements (
    id                    uuid primary key,
    resident_id           uuid not null references residents (id) on delete cascade,
    application_id        uuid references applications (id) on delete set null,
    assessment_id         uuid references assessments (id) on delete set null,
    scheme                text not null references schemes (code),
    payer                 text not null check (payer in ('ltc_insurance', 'civil_affairs')),
    grade                 integer not null,
    services              text[] not null,
    monthly_minutes       integer check (monthly_minutes >= 0),
    monthly_amount_fen    bigint check (monthly_amount_fen >= 0),
    copay_bp              integer not null check (copay_bp between 0 and 10000),
    per_meal_subsidy_fen  bigint check (per_meal_subsidy_fen >= 0),
    respite_days_per_year integer check (respite_days_per_year >= 0),
    starts_on             date not null,
    ends_on               date not null,
    ended_reason          text,
    decided_by            uuid references users (id) on delete set null,
    created_at            timestamptz not null default now(),
    check (ends_on >= starts_on - 1)
);
create index entitlements_resident_idx on entitlements (resident_id, starts_on);
alter table applications add constraint applications_entitlement_fkey
    foreign key (entitlement_id) references entitlements (id) on delete set null;

-- Each verified visit and delivered meal, priced once when it became
-- billable by the entitlements in force that day. A visit crossing the
-- quota is two lines (the second `over_quota`). `payer` null: nobody but
-- the elder pays.
create table bill_lines (
    id             uuid primary key,
    institution_id uuid not null references institutions (id),
    resident_id    uuid not null references residents (id) on delete cascade,
    kind           text not null check (kind in ('visit', 'meal')),
    ref            uuid not null,
    date           date not null,
    month          date not null check (extract(day from month) = 1),
    service        text not null,
    minutes        integer,
    amount_fen     bigint not null check (amount_fen >= 0),
    payer          text check (payer in ('ltc_insurance', 'civil_affairs')),
    entitlement_id uuid references entitlements (id) on delete set null,
    payer_fen      bigint not null check (payer_fen >= 0),
    elder_fen      bigint not null check (elder_fen >= 0),
    over_quota     boolean not null,
    created_at     timestamptz not null default now(),
    check (payer_fen + elder_fen = amount_fen),
    check (payer is not null or payer_fen = 0),
    constraint bill_lines_once unique (kind, ref, over_quota)
);
create index bill_lines_resident_month_idx on bill_lines (resident_id, month);
create index bill_lines_claimable_idx on bill_lines (institution_id, payer, month) where payer_fen > 0;
create index bill_lines_entitlement_month_idx on bill_lines (entitlement_id, month) where not over_quota;

-- A provider's monthly claim to a payer, and its lines. A bill line is in
-- at most one claim that has not rejected it (`claim_lines_once`), and in
-- at most two claims ever (`attempt` 1, then once more after a rejection).
create table claims (
    id              uuid primary key,
    institution_id  uuid not null references institutions (id),
    payer           text not null check (payer in ('ltc_insurance', 'civil_affairs')),
    month           date not null check (extract(day from month) = 1),
    status          text not null check (status in ('submitted', 'closed')),
    claimed_fen     bigint not null,
    accepted_fen    bigint,
    created_by      uuid references users (id) on delete set null,
    created_at      timestamptz not null default now(),
    closed_by       uuid references users (id) on delete set null,
    closed_at       timestamptz
);
create index claims_institution_idx on claims (institution_id, month desc);
create index claims_payer_idx on claims (payer, month desc);

create table claim_lines (
    id           uuid primary key,
    claim_id     uuid not null references claims (id) on delete cascade,
    bill_line_id uuid not null references bill_lines (id) on delete cascade,
    attempt      smallint not null check (attempt in (1, 2)),
    status       text not null default 'pending' check (status in ('pending', 'accepted', 'rejected')),
    reason       text,
    decided_by   uuid references users (id) on delete set null,
    decided_at   timestamptz,
    check (status <> 'rejected' or reason is not null),
    constraint claim_lines_attempt unique (bill_line_id, attempt)
);
create unique index claim_lines_once on claim_lines (bill_line_id) where status <> 'rejected';
create index claim_lines_claim_idx on claim_lines (claim_id, id);

-- Short-stay (respite) beds: a count per care home and date, and the stays
-- booked on them.
create table short_stay_beds (
    institution_id uuid not null references institutions (id),
    date           date not null,
    beds           integer not null check (beds >= 0),
    primary key (institution_id, date)
);

create table respite_stays (
    id             uuid primary key,
    resident_id    uuid not null references residents (id) on delete cascade,
    institution_id uuid not null references institutions (id),
    entitlement_id uuid not null references entitlements (id),
    starts_on      date not null,
    ends_on        date not null,
    status         text not null default 'booked' check (status in ('booked', 'cancelled')),
    created_by     uuid references users (id) on delete set null,
    created_at     timestamptz not null default now(),
    check (ends_on >= starts_on)
);
create index respite_stays_institution_idx on respite_stays (institution_id, starts_on) where status = 'booked';
create index respite_stays_resident_idx on respite_stays (resident_id, starts_on);

-- A notice to the elder's family (an application's step, a re-assessment
-- due): planned like a message, push only.
alter table notification_jobs add column notice jsonb;
alter table notification_jobs drop constraint notification_jobs_check;
alter table notification_jobs add constraint notification_jobs_check
    check (num_nonnulls(alert_id, message_id, notice) = 1);
