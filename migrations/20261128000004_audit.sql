-- The audit trail: every change a person makes (residents, devices, rule
-- settings, alert actions, users, family links, webhooks), with who and when.
-- Append-only, and hash-chained per institution: each entry stores the exact
-- text that was hashed (`record`) and the hash of the entry before it, so
-- removing, reordering or editing any entry breaks the chain where it
-- happened, and `GET /api/v1/audit/verify` says so.
create table audit_log (
    id             bigint generated always as identity primary key,
    institution_id uuid not null references institutions (id),
    at             timestamptz not null,
    actor_id       uuid references users (id),
    action         text not null,
    entity         text not null,
    entity_id      text,
    details        jsonb not null default '{}',
    record         text not null,
    prev_hash      bytea,
    hash           bytea not null
);
create index audit_log_institution_idx on audit_log (institution_id, id);
create index audit_log_entity_idx on audit_log (entity, entity_id, id);

-- Refuse edits and deletes even from the application's own role: the trail
-- is only ever appended to.
create function audit_log_append_only() returns trigger language plpgsql as $$
begin
    raise exception 'audit_log is append-only';
end $$;
create trigger audit_log_append_only before update or delete on audit_log
    for each row execute function audit_log_append_only();
create trigger audit_log_no_truncate before truncate on audit_log
    for each statement execute function audit_log_append_only();
