-- The administrative ladder a district is supervised down: district (6
-- digits, GB/T 2260), street (9), community (12), grid (the community's
-- code and 3 digits). Codes nest by prefix, so "everything under a
-- division" is `code like '<prefix>%'`, which the text_pattern_ops index
-- answers as a range scan whatever the database's collation.
create table divisions (
    code text primary key,
    name text not null check (length(btrim(name)) between 1 and 200),
    level text not null check (level in ('district', 'street', 'community', 'grid')),
    -- The division it sits in; a district sits in none. Its code is the
    -- child's first digits (checked by the API, and by `parent_prefix`).
    parent text references divisions (code),
    -- A GeoJSON Polygon or MultiPolygon, for the cockpit's map.
    boundary jsonb,
    created_at timestamptz not null default now(),
    constraint divisions_code_shape check (code ~ '^[0-9]+$' and length(code) = case level
        when 'district' then 6 when 'street' then 9 when 'community' then 12 else 15 end),
    constraint divisions_parent_prefix check ((parent is null) = (level = 'district')
        and (parent is null or starts_with(code, parent)))
);

create index divisions_code_prefix on divisions (code text_pattern_ops);
create index divisions_parent on divisions (parent, code);
