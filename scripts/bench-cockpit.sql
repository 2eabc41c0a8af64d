-- The cockpit benchmark's region: 20 institutions of 1,000 residents, two
-- devices each, a month of alerts (half an alert per resident and day:
-- 300,000), answered as a busy service answers them, and of visits (two a
-- week each: 160,000) under a care plan each. Run on a migrated database;
-- `psql -v days=30 -v per_day=0.5 -v visits=8`.
\set ON_ERROR_STOP on

insert into institutions (id, name, kind, region, timezone)
select gen_random_uuid(), 'Bench home ' || lpad(n::text, 2, '0'), 'home_care', 'Bench', 'Asia/Shanghai'
from generate_series(1, 20) n;

-- One member of staff per institution answers its alerts.
insert into users (id, institution_id, email, name, role, password_hash)
select gen_random_uuid(), i.id, 'staff-' || i.id || '@bench.local', 'Bench staff', 'staff', 'not a hash'
from institutions i where i.region = 'Bench';

insert into residents (id, institution_id, name, timezone)
select gen_random_uuid(), i.id, 'Resident ' || n, 'Asia/Shanghai'
from institutions i, generate_series(1, 1000) n where i.region = 'Bench';
-- Registered residents are enrolled where they were registered (on a
-- version with enrolments).
do $$ begin
  if to_regclass('enrolments') is not null then
    insert into enrolments (id, resident_id, institution_id, services, origin)
    select gen_random_uuid(), r.id, r.institution_id,
           array['monitoring', 'home_care', 'meals', 'day_care', 'residential'], 'registration'
    from residents r where not exists (select 1 from enrolments e where e.resident_id = r.id);
  end if;
end $$;

insert into devices (device_id, institution_id, resident_id, kind)
select 'b' || replace(r.id::text, '-', '') || '-' || k, r.institution_id, r.id, k
from residents r join institutions i on i.id = r.institution_id, unnest(array['wearable', 'motion_sensor']) k
where i.region = 'Bench';

insert into device_state (device_id, last_seen_at, online, online_at, battery)
select d.device_id, now() - random() * interval '3 hours', random() > 0.03, now() - interval '3 hours', random() * 100
from devices d join institutions i on i.id = d.institution_id where i.region = 'Bench';

-- Alerts: most answered within a minute, some within three, a few late or
-- never; a share cleared by themselves.
insert into alerts (id, institution_id, resident_id, kind, cause, severity, status, resolution, opened_at,
                    condition_at, acknowledged_at, acknowledged_by, resolved_at, resolved_by, escalation_level)
select id, institution_id, resident_id, kind, id::text, severity,
       case when opened_at > now() - interval '1 hour' and roll < 0.3 then 'open' else 'resolved' end,
       case when opened_at > now() - interval '1 hour' and roll < 0.3 then null
            when roll < 0.1 then 'auto_cleared' when roll < 0.15 then 'false_alarm' else 'handled' end,
       opened_at, opened_at,
       case when roll >= 0.1 and not (opened_at > now() - interval '1 hour' and roll < 0.3)
            then opened_at + make_interval(secs => case when roll < 0.95 then 5 + roll * 50 else 90 + roll * 200 end) end,
       case when roll >= 0.1 and not (opened_at > now() - interval '1 hour' and roll < 0.3) then staff end,
       case when not (opened_at > now() - interval '1 hour' and roll < 0.3) then opened_at + interval '20 minutes' end,
       case when roll >= 0.1 and not (opened_at > now() - interval '1 hour' and roll < 0.3) then staff end,
       case when roll > 0.99 then 1 else 0 end
from (
    select gen_random_uuid() as id, r.institution_id, r.id as resident_id,
           (array['fall', 'sos', 'vital_abnormal', 'missed_meal', 'inactivity', 'device_offline'])[1 + (random() * 5)::int] as kind,
           (array['critical', 'critical', 'high', 'medium'])[1 + (random() * 3)::int] as severity,
           now() - random() * make_interval(days => :days) as opened_at,
           random() as roll,
           (select u.id from users u where u.institution_id = r.institution_id limit 1) as staff
    from residents r join institutions i on i.id = r.institution_id,
         generate_series(1, greatest(1, round(:days * :per_day)::int)) n
    where i.region = 'Bench'
) a;

-- Visits: most completed and verified, some missed (and already alerted,
-- as the lateness sweep leaves them), late or cancelled; those still to come
-- lie ahead, so the sweep has nothing to judge while the benchmark runs.
insert into visits (id, institution_id, resident_id, service_id, funding, origin, status, scheduled_start,
                    check_in_at, check_out_at, verified, exceptions, rating_stars, late_alerted_at, missed_alerted_at)
select gen_random_uuid(), v.institution_id, v.resident_id, s.id, 'self_pay', 'manual',
       case when roll < 0.85 then 'completed' when roll < 0.9 then 'missed' when roll < 0.95 then 'cancelled'
            else 'scheduled' end,
       case when roll < 0.95 then at else now() + (now() - at) end,
       case when roll < 0.85 then at + interval '5 minutes' end,
       case when roll < 0.85 then at + interval '35 minutes' end,
       roll < 0.8, case when roll < 0.05 then '{late_start}'::text[] else '{}' end,
       case when roll < 0.3 then 3 + (roll * 100)::int % 3 end,
       case when roll >= 0.85 and roll < 0.9 then at + interval '15 minutes' end,
       case when roll >= 0.85 and roll < 0.9 then at + interval '30 minutes' end
from (
    select r.institution_id, r.id as resident_id, now() - random() * make_interval(days => :days) as at,
           random() as roll
    from residents r join institutions i on i.id = r.institution_id, generate_series(1, :visits) n
    where i.region = 'Bench'
) v
join services s on s.institution_id = v.institution_id and s.code = 'WELFARE-CHECK';

insert into care_plans (resident_id, institution_id, items)
select r.id, r.institution_id,
       '[{"service_code": "WELFARE-CHECK", "funding": "self_pay", "schedule": {"days": ["tue", "fri"], "start": "09:00"},
          "hours_per_month": 4}]'
from residents r join institutions i on i.id = r.institution_id where i.region = 'Bench';

analyze;
