-- Medical partners (医养结合): hospitals and family doctor teams, whose
-- clinicians reach an elder only through her consent in force; the records
-- they send in on discharge, kept beside what staff entered and never over
-- it; the family doctor named on the elder.
alter table institutions drop constraint institutions_kind_check;
alter table institutions add constraint institutions_kind_check
    check (kind in ('care_home', 'home_care', 'community_center', 'canteen', 'assessment', 'ltc_fund',
                    'hospital', 'family_doctor_team'));

alter table users drop constraint users_role_check;
alter table users add constraint users_role_check check (role in
    ('operator', 'supervisor', 'admin', 'staff', 'caregiver', 'family', 'kitchen', 'civil_affairs', 'grid_worker',
     'assessor', 'insurer', 'desk', 'clinician'));

-- A consent: the elder (or who speaks for her) lets a partner institution
-- read her record (fhir_read), be told of her abnormal vital signs
-- (alerts), or send clinical records in (clinical_write), from a date,
-- until one or for good, until it is withdrawn. How it was given is kept.
create table partner_consents (
    id                     uuid primary key,
    resident_id            uuid not null references residents (id) on delete cascade,
    grantee_institution_id uuid not null references institutions (id),
    scope                  text[] not null check (cardinality(scope) > 0
                               and scope <@ array['fhir_read', 'alerts', 'clinical_write']),
    from_at                timestamptz not null,
    until_at               timestamptz check (until_at is null or until_at > from_at),
    -- Who gave it (the elder, a guardian, ...) and how (written, verbal, ...).
    recorded_by_name       text not null,
    recorded_method        text not null check (recorded_method in ('written', 'verbal', 'electronic')),
    created_by             uuid references users (id) on delete set null,
    created_at             timestamptz not null default now(),
    withdrawn_at           timestamptz,
    withdrawn_by           uuid references users (id) on delete set null
);
create index partner_consents_grantee_idx on partner_consents (grantee_institution_id, resident_id) where withdrawn_at is null;
create index partner_consents_resident_idx on partner_consents (resident_id);

-- Which consent a clinician's read relied on.
alter table access_log add column consent_id uuid references partner_consents (id) on delete set null;

-- What a partner sent in: a condition, an allergy, a medication, a hospital
-- stay, as the FHIR resource it came in (codes stored as given), with its
-- source and the Bundle it came in.
create table clinical_records (
    id             uuid primary key,
    resident_id    uuid not null references residents (id) on delete cascade,
    kind           text not null check (kind in ('Condition', 'AllergyIntolerance', 'MedicationStatement', 'Encounter')),
    -- The coding shown on the responder sheet: the first coding given.
    code_system    text,
    code           text,
    display        text not null,
    resource       jsonb not null,
    source_institution_id uuid not null references institutions (id),
    source_user_id uuid references users (id) on delete set null,
    consent_id     uuid references partner_consents (id) on delete set null,
    bundle_id      uuid not null,
    received_at    timestamptz not null default now()
);
create index clinical_records_resident_idx on clinical_records (resident_id, kind, received_at);

-- A hospital stay that came in as an Encounter: the status period it set,
-- so the discharge follow-up is planned once.
alter table resident_status add column clinical_record_id uuid references clinical_records (id) on delete set null;

-- The family doctor (a family_doctor_team) named on the elder, with the
-- doctor's name and phone as the responder sheet shows them.
alter table residents add column family_doctor_institution_id uuid references institutions (id);
alter table residents add column family_doctor_name text;
alter table residents add column family_doctor_phone text;
-- After a discharge, her vital-sign thresholds are to be reviewed until
-- this date: the console shows the flag.
alter table residents add column vitals_review_until date;

-- A visit planned because she came home from hospital.
alter table visits drop constraint visits_origin_check;
alter table visits add constraint visits_origin_check
    check (origin in ('plan', 'manual', 'request', 'alert', 'discharge'));
