-- The district's registry: one record per elder, served by several
-- institutions at once, each for the services it is enrolled for.

-- Where an institution is, and the divisions it serves.
alter table institutions add column division text references divisions (code);
alter table institutions add column service_area text[] not null default '{}';
create index institutions_division_idx on institutions (division text_pattern_ops);

-- Accounts bound to a division: supervisors (their region becomes a
-- division), the civil-affairs bureau (a division and everything under
-- it) and grid workers (one grid). A supervisor placed only by a region
-- keeps it until the operator names the division.
alter table users add column division text references divisions (code);
alter table users drop constraint users_role_check;
alter table users add constraint users_role_check check (role in
    ('operator', 'supervisor', 'admin', 'staff', 'caregiver', 'family', 'kitchen', 'civil_affairs', 'grid_worker'));
alter table users drop constraint users_placement_check;
alter table users add constraint users_placement_check check (
    case role
        when 'operator' then institution_id is null and region is null and division is null
        when 'supervisor' then institution_id is null and (region is not null or division is not null)
        when 'civil_affairs' then institution_id is null and region is null and division is not null
        when 'grid_worker' then institution_id is null and region is null and length(division) = 15
        else institution_id is not null and region is null and division is null
    end
);

-- A supervisor of a region whose institutions all sit in one division is
-- placed there.
update users s set division = placed.division
from (select i.region, min(i.division) as division
      from institutions i where i.region is not null and i.division is not null
      group by i.region having count(distinct i.division) = 1) placed
where s.role = 'supervisor' and s.region = placed.region and s.division is null;

-- The registry's fields. The id number is personal data of the highest
-- kind: stored sealed (`id_number_sealed`, bound to the resident), found by
-- a keyed hash of it (`id_number_key`, unique across the platform), and
-- shown masked (`id_number_masked`, e.g. 330205********1234).
alter table residents add column id_number_sealed text;
alter table residents add column id_number_key bytea unique;
alter table residents add column id_number_masked text;
alter table residents add constraint residents_id_number_whole check (
    (id_number_sealed is null) = (id_number_key is null) and (id_number_key is null) = (id_number_masked is null));
alter table residents add column gender text check (gender in ('female', 'male'));
alter table residents add column birth_date date;
alter table residents add column phone text;
alter table residents add column division text references divisions (code);
alter table residents add column household text check (household in ('alone', 'with_spouse', 'with_family', 'other'));
alter table residents add column economic_status text check (economic_status in ('none', 'low_income', 'dibao', 'tekun'));
create index residents_division_idx on residents (division text_pattern_ops);
create index residents_phone_idx on residents (phone) where phone is not null;

-- Which institutions serve an elder, for which services, since when and
-- until when, and the consent it rests on. An enrolment in force
-- (`starts_at <= now() < coalesce(ends_at, infinity)`) is what lets an
-- institution reach the elder's records of each area its services grant.
create table enrolments (
    id              uuid primary key,
    resident_id     uuid not null references residents (id) on delete cascade,
    institution_id  uuid not null references institutions (id),
    services        text[] not null check (cardinality(services) > 0 and services <@
                        array['monitoring', 'home_care', 'meals', 'day_care', 'residential']::text[]),
    -- Who consented and how: required of an enrolment made for an elder
    -- already registered (`enrolment`); the institution registering an
    -- elder records the monitoring consent on the resident, and the
    -- residents registered before enrolments existed have none here.
    consent_by      text check (consent_by in ('resident', 'family', 'guardian')),
    consent_method  text check (consent_method in ('written', 'verbal', 'electronic')),
    consent_at      timestamptz,
    origin          text not null check (origin in ('migrated', 'registration', 'enrolment')),
    starts_at       timestamptz not null default now(),
    ends_at         timestamptz,
    created_by      uuid references users (id),
    created_at      timestamptz not null default now(),
    constraint enrolments_consent_whole check ((consent_by is null) = (consent_method is null)
        and (consent_by is null) = (consent_at is null) and (origin <> 'enrolment' or consent_by is not null)),
    constraint enrolments_period check (ends_at is null or ends_at >= starts_at)
);
create index enrolments_resident_idx on enrolments (resident_id, institution_id);
create index enrolments_institution_idx on enrolments (institution_id, resident_id);

-- Nothing anyone sees changes: every resident registered so far is
-- enrolled, for every service, at the institution that registered them.
insert into enrolments (id, resident_id, institution_id, services, origin, starts_at)
select gen_random_uuid(), r.id, r.institution_id,
       array['monitoring', 'home_care', 'meals', 'day_care', 'residential'], 'migrated', r.created_at
from residents r;
