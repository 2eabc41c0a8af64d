-- The cockpit benchmark's region: 20 institutions of 1,000 residents, two
-- devices each, and a month of alerts (half an alert per resident and day:
-- 300,000), answered as a busy service answers them. Run on a migrated
-- database; `psql -v days=30 -v per_day=0.5`.
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

analyze;
