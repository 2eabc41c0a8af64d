-- Failed sign-in attempts, counted in the database rather than in each
-- process's memory: with several `serve` processes behind a balancer a guesser
-- would otherwise get one budget per process, and a restart would give every
-- budget back. A row is one counted attempt under one key (an account's email,
-- a client's address block, a password change); a successful attempt deletes
-- its rows again. Rows older than the window count for nothing and are purged.
create table login_attempts (
    id bigserial primary key,
    key text not null,
    at timestamptz not null default clock_timestamp()
);

create index login_attempts_key_at on login_attempts (key, at);
create index login_attempts_at on login_attempts (at);
