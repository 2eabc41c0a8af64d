-- Reaching people, not only screens: Web Push subscriptions, each user's
-- notification preferences, an on-call rota per institution, SMS and voice
-- gateways, and the durable outbox that delivers to all of them.

-- For the SMS and voice gateways; set by the user or their admin.
alter table users add column phone text check (phone ~ '^\+[0-9]{6,15}$');

-- The VAPID key pair (RFC 8292) push services know this backend by. One row,
-- made at first start (or given in settings instead); every process signs
-- with the same key, so a browser's subscription works with all of them.
create table vapid_keys (
    id          boolean primary key default true check (id),
    -- The P-256 private scalar, base64url.
    private_key text not null,
    created_at  timestamptz not null default now()
);

-- A browser's PushSubscription: where its push service takes messages for
-- it, and the keys (RFC 8291) they are encrypted to.
create table push_subscriptions (
    id         uuid primary key,
    user_id    uuid not null references users (id) on delete cascade,
    endpoint   text not null,
    p256dh     text not null,
    auth       text not null,
    created_at timestamptz not null default now(),
    -- Subscribing again from the same browser replaces its keys.
    unique (user_id, endpoint)
);

-- What a user wants to be told, and how. No row: the defaults of their role.
create table notification_preferences (
    user_id      uuid primary key references users (id) on delete cascade,
    min_severity text not null,
    -- null: every kind.
    kinds        text[],
    -- Local time of the user's institution; a critical alert passes anyway.
    quiet_start  time,
    quiet_end    time,
    channels     text[] not null default '{push}',
    updated_at   timestamptz not null default now()
);

-- Who answers alarms when: a new alert goes to level 1, each step of the
-- escalation ladder to the next level. Times are the institution's.
create table on_call_shifts (
    id             bigint generated always as identity primary key,
    institution_id uuid not null references institutions (id) on delete cascade,
    user_id        uuid not null references users (id) on delete cascade,
    level          int not null check (level between 1 and 9),
    days           text[] not null,
    start_time     time not null,
    end_time       time not null
);
create index on_call_shifts_institution_idx on on_call_shifts (institution_id);

-- SMS and voice gateways: a signed POST of {"to", "text"} each.
create table notification_channels (
    id             uuid primary key,
    institution_id uuid not null references institutions (id) on delete cascade,
    kind           text not null check (kind in ('sms', 'voice')),
    url            text not null,
    -- HMAC key shared with the gateway; never read back.
    secret         text not null,
    created_by     uuid references users (id) on delete set null,
    created_at     timestamptz not null default now()
);

-- Something that may need telling, queued in the same transaction as the
-- alert change or the message, so a crash cannot lose it; who is told is
-- worked out after the commit, off the alert path.
create table notification_jobs (
    id         bigint generated always as identity primary key,
    alert_id   uuid references alerts (id) on delete cascade,
    message_id uuid references messages (id) on delete cascade,
    -- alert.opened, alert.escalated, alert.resolved, or message.
    change     text not null,
    -- For an escalation: the level the alert reached.
    level      int not null default 0,
    created_at timestamptz not null default now(),
    check ((alert_id is null) <> (message_id is null))
);

-- One notification to one person on one channel: retried with backoff until
-- it is accepted, given up after a day's worth of tries.
create table notification_deliveries (
    id              uuid primary key,
    user_id         uuid not null references users (id) on delete cascade,
    alert_id        uuid references alerts (id) on delete cascade,
    channel         text not null check (channel in ('push', 'sms', 'voice')),
    -- push: the subscription (removed with it when its endpoint is gone).
    subscription_id uuid references push_subscriptions (id) on delete cascade,
    -- sms/voice: the gateway, and the number.
    gateway_id      uuid references notification_channels (id) on delete cascade,
    phone           text,
    -- The push payload, or the gateway's {"to", "text"}.
    payload         jsonb not null,
    urgent          boolean not null default false,
    attempts        int not null default 0,
    next_attempt_at timestamptz not null default now(),
    delivered_at    timestamptz,
    failed_at       timestamptz,
    last_status     int,
    last_error      text,
    created_at      timestamptz not null default now()
);
create index notification_deliveries_due_idx on notification_deliveries (next_attempt_at)
    where delivered_at is null and failed_at is null;
