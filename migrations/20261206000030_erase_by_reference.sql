-- Which residents each audit entry concerns, recorded when the entry is
-- written. An erasure blanks the personal values of exactly these entries:
-- found by reference, never by searching the values for the resident's name
-- (a resident named like a word the trail itself uses, "wrong_password" or
-- "disabled", took every failed login's or access change's details with
-- them).
-- An index of the entries, not part of them: it follows its entry, should
-- one ever be removed (only by tampering, which verification then reports).
create table audit_residents (
    resident_id uuid   not null references residents (id) on delete cascade,
    entry_id    bigint not null references audit_log (id) on delete cascade,
    primary key (resident_id, entry_id)
);

-- Entries written before: the same references the application records,
-- found by id. An entry about a resident; about one of their visits, alerts,
-- messages or meal orders; about a device (its owner now: the best that is
-- known of an old entry); or whose values name a resident by `resident_id`
-- at any depth. The join on the text form skips what is not a resident's id.
insert into audit_residents (resident_id, entry_id)
select distinct r.id, s.entry_id
from (
    select a.id as entry_id, a.entity_id as ref from audit_log a where a.entity = 'resident'
    union all
    select a.id, v.resident_id::text from audit_log a join visits v on v.id::text = a.entity_id
    where a.entity = 'visit'
    union all
    select a.id, x.resident_id::text from audit_log a join alerts x on x.id::text = a.entity_id
    where a.entity = 'alert'
    union all
    select a.id, m.resident_id::text from audit_log a join messages m on m.id::text = a.entity_id
    where a.entity = 'message'
    union all
    select a.id, o.resident_id::text from audit_log a join meal_orders o on o.id::text = a.entity_id
    where a.entity = 'meal_order'
    union all
    select a.id, d.resident_id::text from audit_log a join devices d on d.device_id = a.entity_id
    where a.entity = 'device' and d.resident_id is not null
    union all
    select p.entry_id,
           jsonb_path_query(p.details::jsonb, 'lax $.**.resident_id.** ? (@.type() == "string")', '{}', true) #>> '{}'
    from audit_personal p where p.details is not null
) s
join residents r on r.id::text = s.ref;

-- SMS and voice gateways' secrets are stored sealed from now on (encrypted
-- and authenticated with a key derived from ELDERCARE__WEBHOOKS__SECRET_KEY,
-- bound to the channel's id), as key safe codes and webhook secrets are: a
-- copy of the database alone cannot sign messages to the gateway. Rows
-- stored before are sealed by the application at its next start with a key
-- (sql cannot seal); this column says which a row is until then.
alter table notification_channels add column secret_sealed boolean not null default false;
