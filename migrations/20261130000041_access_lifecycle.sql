-- Taking access away: a departed carer or an estranged relative must stop
-- reading health data at once.

-- A disabled account keeps its history (audit entries, messages, alert
-- actions name it) but cannot log in, and its sessions are ended.
alter table users add column disabled_at timestamptz;

-- Sessions get an id, so a user can list and end one without the token ever
-- being shown again, and a kind: a person's login, or a wall screen's
-- read-only display token (with a label saying which screen).
alter table sessions add column id uuid not null default gen_random_uuid();
alter table sessions add constraint sessions_id_key unique (id);
alter table sessions add column kind text not null default 'login' check (kind in ('login', 'display'));
alter table sessions add column label text;

-- Every end of a session (logout, revocation, a disabled account, a reset
-- password) is announced, whoever ends it and in whichever process, so that
-- the live streams opened with it close at once. The payload is the user:
-- each stream of theirs checks whether its own session is still alive.
create function sessions_ended() returns trigger language plpgsql as $$
begin
    perform pg_notify('eldercare_sessions', old.user_id::text);
    return null;
end $$;
create trigger sessions_ended after delete on sessions
    for each row execute function sessions_ended();
