-- One message thread per resident, shared by the resident's family and the
-- care team: the place to pass on "she seemed tired after lunch" or "I'll
-- visit Sunday" without a phone call. Messages are never edited or deleted,
-- so the thread is its own record of who said what, and when.
create table messages (
    id             uuid primary key,
    -- Copied from the resident, so tenant-wide queries need no join.
    institution_id uuid not null references institutions (id),
    resident_id    uuid not null references residents (id) on delete cascade,
    -- A removed account leaves its messages in the thread, unattributed.
    author_id      uuid references users (id) on delete set null,
    body           text not null check (char_length(body) between 1 and 4000),
    created_at     timestamptz not null default now()
);
-- The thread newest first, paged by (created_at, id); also serves the unread
-- counts, which look at one resident's messages after a point in time.
create index messages_thread_idx on messages (resident_id, created_at desc, id desc);

-- How far each person has read each thread. A missing row is "read nothing":
-- a newly linked daughter sees the whole thread as unread. Only a time is
-- kept, not a row per message, so reading a long thread is one write.
create table message_reads (
    user_id      uuid not null references users (id) on delete cascade,
    resident_id  uuid not null references residents (id) on delete cascade,
    last_read_at timestamptz not null,
    primary key (user_id, resident_id)
);
