-- What a discharge plans: one check at home after a hospital stay a
-- partner sent in, never two for one stay.

-- The stay a post-discharge check was planned for. One check per stay:
-- the database holds to it, whichever process plans it.
alter table visits add column clinical_record_id uuid references clinical_records (id) on delete set null;
create unique index visits_discharge_once_idx on visits (clinical_record_id) where origin = 'discharge';

-- When the end of a stay was acted on (its check planned, or found too
-- late to plan, or the same stay already followed up): the scheduler
-- looks only at the stays that ended and were not.
alter table resident_status add column discharge_handled_at timestamptz;
create index resident_status_discharge_due_idx on resident_status (until_at)
    where clinical_record_id is not null and discharge_handled_at is null;
