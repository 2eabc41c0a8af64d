-- One platform for many institutions (care homes, home-care providers,
-- community centres, canteens), run by an operator and overseen by
-- supervising bodies, each institution isolated from the others.

-- What kind of service an institution is, and the region whose supervising
-- body oversees it. Regions match as exact strings. The institution created
-- before this migration is a care home with no region yet: the operator
-- places it with a PATCH.
alter table institutions add column kind text not null default 'care_home'
    check (kind in ('care_home', 'home_care', 'community_center', 'canteen'));
alter table institutions alter column kind drop default;
alter table institutions add column region text;
create index institutions_region_idx on institutions (region, name);

-- The platform's own accounts belong to no institution: the operator, and
-- supervisors, who belong to a region instead. Every other account belongs
-- to exactly one institution and no region. The check keeps a role and its
-- placement from ever disagreeing, so no query has to guess.
alter table users alter column institution_id drop not null;
alter table users add column region text;
alter table users drop constraint users_role_check;
alter table users add constraint users_role_check
    check (role in ('operator', 'supervisor', 'admin', 'staff', 'caregiver', 'family'));
alter table users add constraint users_placement_check check (
    case role
        when 'operator' then institution_id is null and region is null
        when 'supervisor' then institution_id is null and region is not null
        else institution_id is not null and region is null
    end
);
create index users_institution_idx on users (institution_id, name);

-- The operator's work that concerns no single institution (supervisors, the
-- operator's own account) is chained in the platform's audit trail: the
-- entries of no institution. Work on one institution (creating it, its
-- admins) goes to that institution's chain, where its admins see it.
alter table audit_log alter column institution_id drop not null;
