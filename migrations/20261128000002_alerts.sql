-- Rule settings are stored as JSON merge patches over the built-in defaults:
-- the institution's patch, then the resident's. Only what someone changed is
-- stored, so a better default later reaches everyone who did not override it.
alter table institutions add column rule_settings jsonb not null default '{}';
alter table residents add column rule_settings jsonb not null default '{}';
-- When away mode was last switched off: behaviour rules do not judge the
-- time the resident was away (meals eaten elsewhere are not missed).
alter table residents add column away_ended_at timestamptz;

-- The scheduler reads recent activity by arrival, so that late uploads are
-- seen too.
create index events_received_idx on events (received_at);

-- Alerts: what needs a human. One active (open or acknowledged) alert per
-- resident, kind and cause; repeats are counted on it.
create table alerts (
    id               uuid primary key,
    institution_id   uuid not null references institutions (id),
    resident_id      uuid references residents (id) on delete cascade,
    device_id        text,
    kind             text not null,
    -- The dedup key within resident and kind: '' for falls, the metric for
    -- vitals, the device for device health, an episode for behaviour rules.
    cause            text not null default '',
    severity         text not null check (severity in ('low', 'medium', 'high', 'critical')),
    status           text not null default 'open' check (status in ('open', 'acknowledged', 'resolved')),
    resolution       text check (resolution in ('handled', 'false_alarm', 'cancelled_by_resident', 'auto_cleared')),
    -- When the backend opened it, and when the condition itself happened
    -- (event time: a late upload has condition_at well before opened_at).
    opened_at        timestamptz not null default now(),
    condition_at     timestamptz not null,
    late             boolean not null default false,
    acknowledged_at  timestamptz,
    acknowledged_by  uuid references users (id),
    resolved_at      timestamptz,
    resolved_by      uuid references users (id),
    assigned_to      uuid references users (id),
    escalation_level integer not null default 0,
    escalated_at     timestamptz,
    occurrences      integer not null default 1,
    last_seen_at     timestamptz not null default now(),
    details          jsonb not null default '{}',
    updated_at       timestamptz not null default now(),
    check ((status = 'resolved') = (resolved_at is not null))
);
create unique index alerts_one_active_key on alerts (resident_id, kind, cause) nulls not distinct
    where status <> 'resolved';
create index alerts_institution_status_idx on alerts (institution_id, status, opened_at desc);
create index alerts_resident_idx on alerts (resident_id, opened_at desc);
-- Episodic rules look up whether an episode was ever raised.
create index alerts_cause_idx on alerts (resident_id, kind, cause);

-- Every change to an alert, with who made it (null: the system). The
-- console's timeline and the SLA figures come from here.
create table alert_events (
    id         bigint generated always as identity primary key,
    alert_id   uuid not null references alerts (id) on delete cascade,
    at         timestamptz not null default now(),
    actor_id   uuid references users (id),
    action     text not null,
    details    jsonb not null default '{}'
);
create index alert_events_alert_idx on alert_events (alert_id, id);

create table webhooks (
    id             uuid primary key,
    institution_id uuid not null references institutions (id),
    url            text not null,
    -- HMAC key shared with the receiver; returned only when created.
    secret         text not null,
    created_by     uuid references users (id),
    created_at     timestamptz not null default now()
);
create index webhooks_institution_idx on webhooks (institution_id);

-- The transactional outbox: a delivery row is written in the same
-- transaction as the alert change it reports, so a crash can neither lose it
-- nor send it for a change that did not happen. The id is the
-- X-Eldercare-Delivery header, the same on every retry.
create table webhook_deliveries (
    id              uuid primary key,
    webhook_id      uuid not null references webhooks (id) on delete cascade,
    event           text not null,
    payload         jsonb not null,
    created_at      timestamptz not null default now(),
    attempts        integer not null default 0,
    next_attempt_at timestamptz not null default now(),
    delivered_at    timestamptz,
    last_status     integer,
    last_error      text
);
create index webhook_deliveries_due_idx on webhook_deliveries (next_attempt_at) where delivered_at is null;
