-- The cockpit counts an institution's alerts by when they opened, over a
-- period: a range on (institution, opened_at) rather than the console's
-- (institution, status, ...) index.
create index alerts_institution_opened_idx on alerts (institution_id, opened_at);

-- /metrics answers, at every scrape, how fast each institution answered its
-- critical and high alerts over the last 30 days: only those alerts, by time.
create index alerts_answerable_opened_idx on alerts (opened_at) where severity in ('critical', 'high');
