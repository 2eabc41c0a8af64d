-- The rules read carers' check-ins as signs of the elder at home: every
-- resident's recent ones each scheduler tick, one resident's for a replay.
create index visits_check_in_idx on visits (check_in_at) where check_in_at is not null;
create index visits_resident_check_in_idx on visits (resident_id, check_in_at) where check_in_at is not null;
