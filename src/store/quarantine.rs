//! Reading the quarantine: device messages refused, and the rejects beyond
//! each sender's cap that were only counted.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{PgPool, Postgres, QueryBuilder};

use crate::domain::scope::Placed;
use crate::domain::{Reason, Scope};

/// Which messages a listing shows; `None` shows all.
#[derive(Debug, Default)]
pub struct Filter {
    pub reason: Option<Reason>,
    pub device_id: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

#[derive(Debug, sqlx::FromRow)]
pub struct Quarantined {
    pub id: i64,
    pub received_at: DateTime<Utc>,
    pub topic: String,
    pub reason: Reason,
    pub detail: String,
    pub device_id: Option<String>,
    pub payload: Vec<u8>,
}

/// Rejects of one sender in one hour beyond its quarantine cap: counted,
/// not kept.
#[derive(Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Overflow {
    pub hour: DateTime<Utc>,
    /// `None` for senders nobody registered, counted per topic prefix.
    pub device_id: Option<String>,
    pub topic_prefix: Option<String>,
    pub reason: Reason,
    pub count: i64,
}

/// The scope's and the filter's conditions but the time window, over `q`.
fn push_filter(query: &mut QueryBuilder<Postgres>, scope: &Scope, filter: &Filter) {
    scope.push_filter(query, Placed::QUARANTINE);
    if let Some(reason) = filter.reason {
        query.push(" and q.reason = ").push_bind(reason);
    }
    if let Some(device) = &filter.device_id {
        query.push(" and q.device_id = ").push_bind(device.clone());
    }
}

/// Messages received within the filter's window.
fn push_received_within(query: &mut QueryBuilder<Postgres>, filter: &Filter) {
    if let Some(from) = filter.from {
        query.push(" and q.received_at >= ").push_bind(from);
    }
    if let Some(to) = filter.to {
        query.push(" and q.received_at <= ").push_bind(to);
    }
}

/// Whether `scope` reaches the quarantined message.
pub async fn visible(pool: &PgPool, scope: &Scope, id: i64) -> Result<bool, sqlx::Error> {
    let mut query = QueryBuilder::new("select exists (select 1 from quarantine q where q.id = ");
    query.push_bind(id);
    scope.push_filter(&mut query, Placed::QUARANTINE);
    query.push(")");
    query.build_query_scalar().fetch_one(pool).await
}

/// How many messages `scope` reaches pass `filter`.
pub async fn count(pool: &PgPool, scope: &Scope, filter: &Filter) -> Result<i64, sqlx::Error> {
    let mut query = QueryBuilder::new("select count(*) from quarantine q where true");
    push_filter(&mut query, scope, filter);
    push_received_within(&mut query, filter);
    query.build_query_scalar().fetch_one(pool).await
}

/// The newest `limit` messages `scope` reaches that pass `filter`, older
/// than the message `before` (the previous page's last).
pub async fn list(
    pool: &PgPool,
    scope: &Scope,
    filter: &Filter,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<Quarantined>, sqlx::Error> {
    let mut query = QueryBuilder::new(
        "select q.id, q.received_at, q.topic, q.reason, q.detail, q.device_id, q.payload from quarantine q where true",
    );
    push_filter(&mut query, scope, filter);
    push_received_within(&mut query, filter);
    if let Some(before) = before {
        query.push(" and (q.received_at, q.id) < (select c.received_at, c.id from quarantine c where c.id = ");
        query.push_bind(before).push(")");
    }
    query.push(" order by q.received_at desc, q.id desc limit ").push_bind(limit);
    query.build_query_as().fetch_all(pool).await
}

/// The counted rejects `scope` reaches that pass `filter`, by hour, newest
/// first; an hour counts when it overlaps the window.
pub async fn overflow(pool: &PgPool, scope: &Scope, filter: &Filter, limit: i64) -> Result<Vec<Overflow>, sqlx::Error> {
    let mut query = QueryBuilder::new(
        "select q.hour, q.device_id, nullif(q.topic_prefix, '') as topic_prefix, q.reason, q.count
         from quarantine_overflow q where true",
    );
    push_filter(&mut query, scope, filter);
    if let Some(from) = filter.from {
        query.push(" and q.hour >= date_trunc('hour', ").push_bind(from).push(")");
    }
    if let Some(to) = filter.to {
        query.push(" and q.hour <= ").push_bind(to);
    }
    query.push(" order by q.hour desc, q.count desc limit ").push_bind(limit);
    query.build_query_as().fetch_all(pool).await
}
