-- The hotline desk (81890-style): the platform's people answering elders
-- and families by phone. A desk account belongs to no institution and no
-- division: it answers for every elder.
alter table users drop constraint users_role_check;
alter table users add constraint users_role_check check (role in
    ('operator', 'supervisor', 'admin', 'staff', 'caregiver', 'family', 'kitchen', 'civil_affairs', 'grid_worker',
     'assessor', 'insurer', 'desk'));
alter table users drop constraint users_placement_check;
alter table users add constraint users_placement_check check (
    case role
        when 'operator' then institution_id is null and region is null and division is null
        when 'desk' then institution_id is null and region is null and division is null
        when 'supervisor' then institution_id is null and (region is not null or division is not null)
        when 'civil_affairs' then institution_id is null and region is null and division is not null
        when 'grid_worker' then institution_id is null and region is null and length(division) = 15
        else institution_id is not null and region is null and division is null
    end
);
create index users_phone_idx on users (phone) where phone is not null;

-- Every call the desk takes or makes, with what came of it: the alert it
-- raised, the service request it filed, a welfare check it set off.
create table calls (
    id                 uuid primary key,
    at                 timestamptz not null default now(),
    by_user            uuid references users (id) on delete set null,
    by_role            text not null,
    phone              text not null check (phone ~ '^\+[0-9]{6,15}$'),
    direction          text not null check (direction in ('in', 'out')),
    resident_id        uuid references residents (id) on delete cascade,
    disposition        text not null check (disposition in
                           ('service_request', 'alert', 'information', 'complaint', 'wellbeing', 'no_answer')),
    note               text check (char_length(note) <= 2000),
    alert_id           uuid references alerts (id) on delete set null,
    -- The welfare check two unanswered calls set off.
    service_request_id uuid references service_requests (id) on delete set null
);
create index calls_resident_idx on calls (resident_id, at desc);
create index calls_phone_idx on calls (phone, at desc);

-- Elders living alone, found by the check-call list without a scan of all.
create index residents_alone_idx on residents (id) where household = 'alone';
