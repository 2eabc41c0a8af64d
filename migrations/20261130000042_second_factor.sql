-- A second factor for the accounts that can do the most harm (the operator,
-- admins): a time-based one-time password (RFC 6238) from an authenticator
-- app, asked at login once turned on.

-- The shared secret, set when the user asks to turn the factor on and
-- confirmed by their first code (`totp_enabled_at`): until then a login
-- does not ask for it, so a half-finished set-up locks nobody out. The
-- secret is read only to check codes and is never returned again.
alter table users add column totp_secret bytea;
alter table users add column totp_enabled_at timestamptz;
-- The last time step a code was accepted for: a code is good once, so one
-- seen over a shoulder cannot be replayed within its 90 seconds.
alter table users add column totp_last_step bigint;
