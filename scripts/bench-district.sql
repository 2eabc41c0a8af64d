-- The district cockpit benchmark's district: 330205 with 5 streets of 12
-- communities of 4 grids, 50,000 elders (`-v elders=50000`) registered
-- across them (most in a grid, some in a community), 40 providers placed in
-- communities (800 caregivers, 20 kitchens), a year of service requests
-- (`-v requests=30000`, half in the last 30 days) and of accepted and
-- rejected claim lines (`-v claim_lines=100000`), and 2,000 complaints.
-- Run on a migrated database.
\set ON_ERROR_STOP on
select setseed(0.42) \g /dev/null

insert into divisions (code, name, level, parent)
values ('330205', 'Bench district', 'district', null);
insert into divisions (code, name, level, parent)
select '330205' || lpad(s::text, 3, '0'), 'Street ' || s, 'street', '330205'
from generate_series(1, 5) s;
insert into divisions (code, name, level, parent)
select d.code || lpad(c::text, 3, '0'), d.name || ' community ' || c, 'community', d.code
from divisions d, generate_series(1, 12) c where d.level = 'street';
insert into divisions (code, name, level, parent)
select d.code || lpad(g::text, 3, '0'), d.name || ' grid ' || g, 'grid', d.code
from divisions d, generate_series(1, 4) g where d.level = 'community';

-- Each street a square of a 5 x 1 row around 121.5 E, 29.85 N.
update divisions set boundary = jsonb_build_object('type', 'Polygon', 'coordinates', jsonb_build_array(jsonb_build_array(
    jsonb_build_array(121.40 + x * 0.04, 29.83 + y * 0.04), jsonb_build_array(121.44 + x * 0.04, 29.83 + y * 0.04),
    jsonb_build_array(121.44 + x * 0.04, 29.87 + y * 0.04), jsonb_build_array(121.40 + x * 0.04, 29.87 + y * 0.04),
    jsonb_build_array(121.40 + x * 0.04, 29.83 + y * 0.04))))
from (select code as street, (substr(code, 7)::int - 1) % 5 as x, (substr(code, 7)::int - 1) / 5 as y
      from divisions where level = 'street') placed
where divisions.code = placed.street;

-- Providers placed in a community each (two of every three communities),
-- serving its street.
insert into institutions (id, name, kind, region, timezone, division, service_area)
select gen_random_uuid(), 'District provider ' || lpad(n::text, 2, '0'), 'home_care', 'District bench', 'Asia/Shanghai',
       c.code, array[left(c.code, 9)]
from generate_series(1, 40) n
join lateral (select code from divisions where level = 'community' order by code offset (n - 1) * 3 / 2 + 1 limit 1) c on true;
insert into users (id, institution_id, email, name, role, password_hash)
select gen_random_uuid(), i.id, 'carer-' || n || '-' || i.id || '@bench.local', 'Bench carer', 'caregiver', 'not a hash'
from institutions i, generate_series(1, 20) n where i.region = 'District bench';
insert into kitchens (id, institution_id, name, timezone)
select gen_random_uuid(), i.id, 'Canteen of ' || i.name, 'Asia/Shanghai'
from (select id, name, row_number() over (order by name) as n from institutions where region = 'District bench') i
where i.n % 2 = 0;

create temporary table bench_places as
select code, row_number() over (order by code) - 1 as n from divisions where level in ('community', 'grid');
create temporary table bench_providers as
select id, row_number() over (order by name) - 1 as n from institutions where region = 'District bench';

insert into residents (id, institution_id, name, timezone, division, household, economic_status, birth_date)
select gen_random_uuid(), p.id, 'Elder ' || e.n, 'Asia/Shanghai', d.code,
       (array['alone', 'alone', 'with_spouse', 'with_family', 'other'])[1 + floor(random() * 5)::int],
       (array['none', 'none', 'none', 'low_income', 'dibao', 'tekun', null])[1 + floor(random() * 7)::int],
       (current_date - make_interval(days => (55 * 365 + random() * 45 * 365)::int))::date
from (select n, floor(random() * (select count(*) from bench_places))::int as place,
             floor(random() * 40)::int as provider
      from generate_series(1, :elders) n) e
join bench_places d on d.n = e.place
join bench_providers p on p.n = e.provider;

insert into enrolments (id, resident_id, institution_id, services, origin)
select gen_random_uuid(), r.id, r.institution_id,
       case floor(random() * 4)::int when 0 then array['monitoring'] when 1 then array['home_care', 'meals']
            when 2 then array['meals'] else array['home_care'] end,
       'registration'
from residents r join institutions i on i.id = r.institution_id where i.region = 'District bench';

insert into assessments (id, resident_id, scale, items, total, grade, grade_label, assessed_at, valid_until)
select gen_random_uuid(), r.id, 'barthel', '{}', 50, floor(random() * 5)::int, 'bench',
       now() - random() * interval '300 days', current_date + 400
from residents r join institutions i on i.id = r.institution_id
where i.region = 'District bench' and random() < 0.6;

-- Requests over 60 days: most accepted (and most of those done), some left
-- with no provider, some still offered or cancelled.
create temporary table bench_requests as
select gen_random_uuid() as id, r.id as resident_id, r.institution_id,
       (array['HC-BATH', 'HC-CLEAN', 'HC-COMPANY', 'MEAL-DELIVERY', 'NURSING', 'RESPITE'])[1 + floor(random() * 6)::int] as code,
       now() - random() * interval '60 days' as at, random() as roll
from (select floor(random() * :elders)::int as n from generate_series(1, :requests)) pick
join (select id, institution_id, row_number() over () - 1 as n
      from residents where name like 'Elder %') r on r.n = pick.n;

insert into visits (id, institution_id, resident_id, service_id, funding, origin, status, scheduled_start,
                    check_in_at, check_out_at)
select q.id, q.institution_id, q.resident_id, s.id, 'self_pay', 'request',
       case when q.roll < 0.5 then 'completed' else 'scheduled' end,
       q.at + interval '20 hours',
       case when q.roll < 0.5 then q.at + interval '20 hours' end,
       case when q.roll < 0.5 then q.at + make_interval(hours => 21 + (random() * 48)::int) end
from bench_requests q join services s on s.institution_id = q.institution_id and s.code = 'WELFARE-CHECK'
where q.roll < 0.6;

insert into service_requests (id, resident_id, service_code, requested_role, status, offer_institution_id, accept_by,
                              offer_seconds, provider_institution_id, visit_id, created_at)
select gen_random_uuid(), q.resident_id, q.code, 'family',
       case when q.roll < 0.6 then 'accepted' when q.roll < 0.75 then 'unmatched'
            when q.roll < 0.85 then 'offered' else 'cancelled' end,
       case when q.roll >= 0.75 and q.roll < 0.85 then q.institution_id end,
       case when q.roll >= 0.75 and q.roll < 0.85 then now() + interval '30 minutes' end,
       1800,
       case when q.roll < 0.6 then q.institution_id end,
       case when q.roll < 0.6 then q.id end,
       q.at
from bench_requests q;

-- A year of claims: a claim per provider, payer and month, its lines
-- mostly accepted.
insert into claims (id, institution_id, payer, month, status, claimed_fen)
select gen_random_uuid(), i.id, payer, (date_trunc('month', now()) - make_interval(months => m))::date, 'closed', 0
from institutions i, unnest(array['ltc_insurance', 'civil_affairs']) payer, generate_series(0, 11) m
where i.region = 'District bench';

create temporary table bench_lines as
select gen_random_uuid() as id, r.id as resident_id, r.institution_id,
       (array['ltc_insurance', 'civil_affairs'])[1 + floor(random() * 2)::int] as payer,
       floor(random() * 12)::int as months_ago, (1000 + random() * 9000)::bigint as fen, random() as roll
from (select floor(random() * :elders)::int as n from generate_series(1, :claim_lines)) pick
join (select id, institution_id, row_number() over () - 1 as n
      from residents where name like 'Elder %') r on r.n = pick.n;

insert into bill_lines (id, institution_id, resident_id, kind, ref, date, month, service, minutes, amount_fen, payer,
                        payer_fen, elder_fen, over_quota)
select l.id, l.institution_id, l.resident_id, 'visit', gen_random_uuid(),
       (date_trunc('month', now()) - make_interval(months => l.months_ago))::date,
       (date_trunc('month', now()) - make_interval(months => l.months_ago))::date,
       'HC-BATH', 60, l.fen + 500, l.payer, l.fen, 500, false
from bench_lines l;

insert into claim_lines (id, claim_id, bill_line_id, attempt, status, reason)
select gen_random_uuid(), c.id, l.id, 1,
       case when l.roll < 0.85 then 'accepted' when l.roll < 0.95 then 'rejected' else 'pending' end,
       case when l.roll >= 0.85 and l.roll < 0.95 then 'not verified' end
from bench_lines l
join claims c on c.institution_id = l.institution_id and c.payer = l.payer
    and c.month = (date_trunc('month', now()) - make_interval(months => l.months_ago))::date;

insert into complaints (id, resident_id, institution_id, category, text, status, respond_by, filed_role, outcome,
                        closed_at, created_at)
select gen_random_uuid(), r.id, r.institution_id, 'no_show', 'nobody came',
       case when roll < 0.3 then 'open' when roll < 0.4 then 'overdue' else 'closed' end,
       at + interval '3 days', 'family',
       case when roll >= 0.4 then (array['upheld', 'not_upheld', 'resolved'])[1 + floor(random() * 3)::int] end,
       case when roll >= 0.4 then at + interval '2 days' end, at
from (select r.id, r.institution_id, random() as roll, now() - random() * interval '90 days' as at
      from residents r join institutions i on i.id = r.institution_id
      where i.region = 'District bench' order by random() limit 2000) r;

-- Vacuumed as autovacuum would leave a table: a bulk load straight after its
-- insert has no visibility map and no hint bits, which a running district
-- never has.
vacuum analyze;
