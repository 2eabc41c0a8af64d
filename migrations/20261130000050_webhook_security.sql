-- Signature version 2 signs "<t>.<body>" with a timestamp, so a receiver can
-- refuse a captured delivery replayed later. Receivers verify one format, so
-- webhooks that existed before the upgrade keep version 1 (their receivers
-- were written against it) until an admin registers them again; new
-- webhooks get version 2 unless they ask for "v1".
alter table webhooks add column signature text not null default 'v1'
    check (signature in ('v1', 'v2'));
alter table webhooks alter column signature set default 'v2';
