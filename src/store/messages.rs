//! One message thread per resident, between the family and the care team,
//! and how far each reader has read it.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{PgConnection, PgPool, Postgres, QueryBuilder};
use uuid::Uuid;

use crate::domain::activity::ROUTINE_EVENTS;
use crate::domain::scope::{Monitoring, Placed, Reached};
use crate::domain::{Role, Scope};

/// Appends how many messages of resident `r` by others `reader` has not read
/// yet.
fn push_unread(query: &mut QueryBuilder<Postgres>, reader: Uuid) {
    query.push("(select count(*) from messages m where m.resident_id = r.id and m.author_id is distinct from ");
    query.push_bind(reader);
    query.push(
        " and m.created_at > coalesce((select mr.last_read_at from message_reads mr
                                       where mr.resident_id = r.id and mr.user_id = ",
    );
    query.push_bind(reader);
    query.push("), '-infinity'))");
}

/// A resident on the family app's home screen.
#[derive(Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
#[schema(as = MyResident)]
pub struct Overview {
    pub id: Uuid,
    pub name: String,
    pub timezone: String,
    pub room: Option<String>,
    /// How a family user is related to the resident ("daughter"); null for staff.
    pub relationship: Option<String>,
    /// Alerts not resolved yet (open or acknowledged), whenever they opened.
    pub open_alerts: i64,
    /// Alerts opened since midnight in the resident's timezone, whatever their status.
    pub alerts_today: i64,
    pub unread_messages: i64,
    pub last_message_at: Option<DateTime<Utc>>,
    /// Falls and SOS are not activity here: they reach the family as alerts,
    /// and "last active: fall detected" would read wrong.
    pub last_activity_at: Option<DateTime<Utc>>,
}

/// The residents `scope` reaches, each with what needs attention: by name,
/// after the resident `after` (the previous page's last).
pub async fn overview(
    pool: &PgPool,
    scope: &Scope,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<Overview>, sqlx::Error> {
    let mut query = QueryBuilder::new(
        "select r.id, r.name, r.timezone, r.room,
                (select fl.relationship from family_links fl where fl.resident_id = r.id and fl.user_id = ",
    );
    query.push_bind(scope.user);
    query.push(
        ") as relationship,
                (select count(*) from alerts a where a.resident_id = r.id and a.status <> 'resolved') as open_alerts,
                (select count(*) from alerts a where a.resident_id = r.id
                    and a.opened_at >= date_trunc('day', now() at time zone r.timezone) at time zone r.timezone)
                    as alerts_today, ",
    );
    push_unread(&mut query, scope.user);
    query.push(
        " as unread_messages,
                (select max(m.created_at) from messages m where m.resident_id = r.id) as last_message_at,
                (select e.ts from events e where e.resident_id = r.id and e.kind = any(",
    );
    query.push_bind(ROUTINE_EVENTS);
    query.push(") order by e.ts desc limit 1) as last_activity_at from residents r where true");
    scope.push_filter(&mut query, Placed::RESIDENTS);
    if let Some(after) = after {
        query.push(" and (r.name, r.id) > (select c.name, c.id from residents c where c.id = ").push_bind(after);
        query.push(")");
    }
    query.push(" order by r.name, r.id limit ").push_bind(limit);
    query.build_query_as().fetch_all(pool).await
}

#[derive(Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct UnreadThread {
    pub resident_id: Uuid,
    pub resident_name: String,
    pub unread: i64,
    pub last_message_at: Option<DateTime<Utc>>,
}

/// The threads `scope` reaches, with what its user has not read: by
/// resident name, after the resident `after` (the previous page's last).
pub async fn unread(
    pool: &PgPool,
    scope: &Scope,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<UnreadThread>, sqlx::Error> {
    let mut query = QueryBuilder::new("select r.id as resident_id, r.name as resident_name, ");
    push_unread(&mut query, scope.user);
    query.push(
        " as unread, (select max(m.created_at) from messages m where m.resident_id = r.id) as last_message_at
         from residents r where true",
    );
    scope.push_filter(&mut query, Placed::RESIDENTS);
    if let Some(after) = after {
        query.push(" and (r.name, r.id) > (select c.name, c.id from residents c where c.id = ").push_bind(after);
        query.push(")");
    }
    query.push(" order by r.name, r.id limit ").push_bind(limit);
    query.build_query_as().fetch_all(pool).await
}

/// What `scope`'s user has not read, over every thread they reach.
pub async fn unread_total(pool: &PgPool, scope: &Scope) -> Result<i64, sqlx::Error> {
    let mut query = QueryBuilder::new("select coalesce(sum(");
    push_unread(&mut query, scope.user);
    query.push("), 0)::bigint from residents r where true");
    scope.push_filter(&mut query, Placed::RESIDENTS);
    query.build_query_scalar().fetch_one(pool).await
}

/// Selects messages `m` with their authors; `$2` is the reader.
const SELECT: &str = "select m.id, m.resident_id, m.author_id, u.name as author_name, u.role as author_role,
        fl.relationship as author_relationship, m.body as text, m.created_at,
        coalesce(m.author_id = $2, false) as mine
    from messages m
    left join users u on u.id = m.author_id
    left join family_links fl on fl.resident_id = m.resident_id and fl.user_id = m.author_id";

#[derive(Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Message {
    pub id: Uuid,
    pub resident_id: Uuid,
    /// Null once the author's account is gone.
    pub author_id: Option<Uuid>,
    pub author_name: Option<String>,
    #[schema(value_type = Option<String>, schema_with = author_role)]
    pub author_role: Option<Role>,
    /// How a family author is related to the resident ("daughter"); null for the care team.
    pub author_relationship: Option<String>,
    pub text: String,
    pub created_at: DateTime<Utc>,
    /// Written by the reader, so the app can draw it on the right.
    pub mine: bool,
}

/// Where a page of a thread starts: the messages before this one.
pub type Cursor = (DateTime<Utc>, Uuid);

/// The page cursor of a message of the resident's thread.
pub async fn cursor(
    pool: &PgPool,
    resident_id: &Reached<Monitoring>,
    message_id: Uuid,
) -> Result<Option<Cursor>, sqlx::Error> {
    let resident_id = resident_id.id();
    sqlx::query_as("select created_at, id from messages where id = $1 and resident_id = $2")
        .bind(message_id)
        .bind(resident_id)
        .fetch_optional(pool)
        .await
}

/// Up to `limit` messages of a thread before `before`, newest first. Paged
/// by (created_at, id), not by time alone: two messages may share a
/// timestamp, and a page boundary between them must not lose one.
pub async fn page(
    pool: &PgPool,
    resident_id: &Reached<Monitoring>,
    reader: Uuid,
    before: Option<Cursor>,
    limit: i64,
) -> Result<Vec<Message>, sqlx::Error> {
    let resident_id = resident_id.id();
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{SELECT}
         where m.resident_id = $1 and ($3::timestamptz is null or (m.created_at, m.id) < ($3, $4))
         order by m.created_at desc, m.id desc limit $5"
    )))
    .bind(resident_id)
    .bind(reader)
    .bind(before.map(|c| c.0))
    .bind(before.map(|c| c.1))
    .bind(limit)
    .fetch_all(pool)
    .await
}

pub async fn fetch(pool: &PgPool, id: Uuid, reader: Uuid) -> Result<Option<Message>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!("{SELECT} where m.id = $1")))
        .bind(id)
        .bind(reader)
        .fetch_optional(pool)
        .await
}

/// How long `author` must wait before posting again: `None` while they have
/// posted fewer than `limit` messages in the last `window_minutes`, else
/// until the oldest of those leaves the window. Counted from the messages
/// themselves, so the limit holds across processes and restarts; the
/// author's lock (to the end of `tx`) makes concurrent posts count one
/// after another, so a burst in parallel gets no more than a sequence.
pub async fn wait_before_posting(
    tx: &mut PgConnection,
    author: Uuid,
    limit: u32,
    window_minutes: u32,
) -> Result<Option<std::time::Duration>, sqlx::Error> {
    sqlx::query("select pg_advisory_xact_lock(hashtextextended('messages:' || $1::text, 0))")
        .bind(author)
        .execute(&mut *tx)
        .await?;
    let window = i32::try_from(window_minutes).unwrap_or(i32::MAX);
    // The limit-th newest message in the window: when it leaves, a slot frees.
    let seconds: Option<f64> = sqlx::query_scalar(
        "select extract(epoch from created_at + make_interval(mins => $3) - now())::float8 from messages
         where author_id = $1 and created_at > now() - make_interval(mins => $3)
         order by created_at desc offset $2 - 1 limit 1",
    )
    .bind(author)
    .bind(i64::from(limit.max(1)))
    .bind(window)
    .fetch_optional(&mut *tx)
    .await?;
    Ok(seconds.map(|s| std::time::Duration::from_secs_f64(s.max(0.0).ceil())))
}

/// Adds a message to the resident's thread; answers its id.
pub async fn post(
    tx: &mut PgConnection,
    resident_id: &Reached<Monitoring>,
    author: Uuid,
    text: &str,
) -> Result<Uuid, sqlx::Error> {
    let resident_id = resident_id.id();
    let id = Uuid::new_v4();
    sqlx::query(
        "insert into messages (id, institution_id, resident_id, author_id, body)
         select $1, r.institution_id, r.id, $3, $4 from residents r where r.id = $2",
    )
    .bind(id)
    .bind(resident_id)
    .bind(author)
    .bind(text)
    .execute(tx)
    .await?;
    Ok(id)
}

/// How far `reader` has read the resident's thread.
pub async fn last_read_at(
    pool: &PgPool,
    reader: Uuid,
    resident_id: &Reached<Monitoring>,
) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
    let resident_id = resident_id.id();
    sqlx::query_scalar("select last_read_at from message_reads where user_id = $1 and resident_id = $2")
        .bind(reader)
        .bind(resident_id)
        .fetch_optional(pool)
        .await
}

/// Marks the thread read up to its newest message, not up to the clock: a
/// message posted meanwhile is newer and stays unread. Never moves back.
pub async fn mark_read(pool: &PgPool, reader: Uuid, resident_id: &Reached<Monitoring>) -> Result<(), sqlx::Error> {
    let resident_id = resident_id.id();
    sqlx::query(
        "insert into message_reads (user_id, resident_id, last_read_at)
         select $1, $2, max(created_at) from messages where resident_id = $2 having count(*) > 0
         on conflict (user_id, resident_id)
         do update set last_read_at = greatest(message_reads.last_read_at, excluded.last_read_at)",
    )
    .bind(reader)
    .bind(resident_id)
    .execute(pool)
    .await
    .map(drop)
}

/// How far `reader` has read the resident's thread, and how many messages
/// by others are newer.
pub async fn read_state(
    pool: &PgPool,
    reader: Uuid,
    resident_id: &Reached<Monitoring>,
) -> Result<(Option<DateTime<Utc>>, i64), sqlx::Error> {
    let resident_id = resident_id.id();
    let mut query = QueryBuilder::new("select (select last_read_at from message_reads where user_id = ");
    query.push_bind(reader);
    query.push(" and resident_id = r.id), ");
    push_unread(&mut query, reader);
    query.push(" from residents r where r.id = ");
    query.push_bind(resident_id);
    query.build_query_as().fetch_one(pool).await
}

/// The roles a message's author may have; null once the account is gone.
fn author_role() -> utoipa::openapi::Object {
    use utoipa::openapi::schema::{ObjectBuilder, SchemaType, Type};
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
        .enum_values(Some([Some("admin"), Some("staff"), Some("family"), None]))
        .build()
}
