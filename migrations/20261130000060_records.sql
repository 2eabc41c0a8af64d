-- Records (issue 13): the audit chain made pseudonymisable, an access log of
-- health-data reads, and what retention needs.

-- The personal values of each audit entry (its details: names, emails,
-- notes, message text), kept beside the chain rather than in it. The chain
-- hashes a salted digest of them (sha256(salt || details)), so an erasure
-- can blank the values and the salt here while every hash of the chain still
-- holds; without the salt, the digest confirms no guess of what was erased.
create table audit_personal (
    entry_id  bigint primary key references audit_log (id),
    -- 16 random bytes, one per entry.
    salt      bytea,
    -- The exact text that was digested (JSON).
    details   text,
    -- Set when an erasure blanked this entry's values.
    erased_at timestamptz,
    check ((erased_at is null) = (salt is not null and details is not null))
);

insert into audit_personal (entry_id, salt, details)
select id, decode(replace(gen_random_uuid()::text, '-', ''), 'hex'), details::text from audit_log;

-- Re-chain every existing entry once over the digests, chain by chain (each
-- institution's, and the platform's), in the order they were written. The
-- record is the JSON the application writes: the entry's columns, with
-- `details` replaced by the hex digest; `v` 2 marks the form.
alter table audit_log disable trigger audit_log_append_only;
do $$
declare
    r     record;
    chain text := '';
    prev  bytea;
    rec   text;
begin
    for r in
        select a.id, a.institution_id, a.at, a.actor_id, a.action, a.entity, a.entity_id, p.salt, p.details
        from audit_log a join audit_personal p on p.entry_id = a.id
        order by a.institution_id nulls first, a.id
    loop
        if chain is distinct from coalesce(r.institution_id::text, 'platform') then
            chain := coalesce(r.institution_id::text, 'platform');
            prev := null;
        end if;
        rec := jsonb_build_object(
            'v', 2,
            'institution_id', r.institution_id,
            'at', to_char(r.at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
            'actor_id', r.actor_id,
            'action', r.action,
            'entity', r.entity,
            'entity_id', r.entity_id,
            'details', encode(sha256(r.salt || convert_to(r.details, 'UTF8')), 'hex'))::text;
        update audit_log
        set record = rec, prev_hash = prev, hash = sha256(coalesce(prev, ''::bytea) || convert_to(rec, 'UTF8'))
        where id = r.id;
        prev := sha256(coalesce(prev, ''::bytea) || convert_to(rec, 'UTF8'));
    end loop;
end $$;
-- The personal values now live only in audit_personal.
alter table audit_log drop column details;
alter table audit_log enable trigger audit_log_append_only;

-- Who read a resident's health data (readings, events, daily summary,
-- exports): one row per read, written beside the read, never through the
-- audit chain's lock. Kept for retention.access_log_days.
create table access_log (
    id             bigint generated always as identity primary key,
    at             timestamptz not null default now(),
    institution_id uuid not null references institutions (id),
    user_id        uuid references users (id) on delete set null,
    role           text not null,
    -- What was read: readings, events, summary, export, ...
    kind           text not null,
    -- Through a person's login, or a wall screen's display token (made by
    -- user_id).
    session_kind   text not null default 'login',
    resident_id    uuid not null references residents (id) on delete cascade
);
create index access_log_institution_idx on access_log (institution_id, id desc);
create index access_log_resident_idx on access_log (resident_id, id desc);
create index access_log_at_idx on access_log (at);

-- When a resident's personal values were erased; an erased resident is
-- answered as a pseudonym and cannot be erased again.
alter table residents add column erased_at timestamptz;

-- Retention of webhook deliveries and sessions goes oldest first.
create index webhook_deliveries_created_idx on webhook_deliveries (created_at);
create index sessions_expires_idx on sessions (expires_at);
