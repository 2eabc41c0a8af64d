//! The access log: who read which resident's health data, and when. A table
//! of its own, not the audit chain: a read is one insert and never waits on
//! the chain's lock.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{PgPool, Postgres, QueryBuilder};
use uuid::Uuid;

use crate::domain::{AccessKind, Role, Scope};
use crate::store::sessions::Kind;

/// Records that `scope`'s user read `kind` of the resident's data (or, for
/// [`AccessKind::Erase`], erased it), through a session of `session` kind.
/// The resident was found in the caller's reach by the read itself. On the
/// pool for a read; in the change's transaction for an erasure, so the log
/// keeps every erasure that happened and only those.
pub async fn record(
    executor: impl sqlx::PgExecutor<'_>,
    scope: &Scope,
    session: Kind,
    kind: AccessKind,
    resident: Uuid,
) -> Result<(), sqlx::Error> {
    // A partner's clinician reads through a consent: the one in force that
    // let this read through is kept with it.
    sqlx::query(
        "insert into access_log (institution_id, user_id, role, session_kind, kind, resident_id, consent_id)
         select r.institution_id, $1, $2, $3, $4, r.id,
                case when $2 = 'clinician' then (
                    select c.id from partner_consents c join users u on u.id = $1
                    where c.resident_id = r.id and c.grantee_institution_id = u.institution_id
                      and 'fhir_read' = any(c.scope) and c.withdrawn_at is null and c.from_at <= now()
                      and (c.until_at is null or c.until_at > now())
                    order by c.from_at desc, c.id limit 1) end
         from residents r where r.id = $5",
    )
    .bind(scope.user)
    .bind(scope.role)
    .bind(session)
    .bind(kind)
    .bind(resident)
    .execute(executor)
    .await?;
    Ok(())
}

#[derive(Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Access {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub user_id: Option<Uuid>,
    pub user_name: Option<String>,
    pub role: Role,
    /// `display` when a wall screen's token read it.
    pub session_kind: Kind,
    pub kind: AccessKind,
    pub resident_id: Uuid,
    /// The consent a medical partner's clinician read through.
    #[schema(required = true)]
    pub consent_id: Option<Uuid>,
}

#[derive(Debug, Default)]
pub struct Filter {
    pub resident: Option<Uuid>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    /// Entries older than this id (the previous page's cursor).
    pub before: Option<i64>,
}

/// One institution's reads, newest first; `limit` rows at most.
pub async fn list(pool: &PgPool, scope: &Scope, filter: Filter, limit: i64) -> Result<Vec<Access>, sqlx::Error> {
    let institution = scope.institution;
    let mut q = QueryBuilder::<Postgres>::new(
        "select l.id, l.at, l.user_id, u.name as user_name, l.role, l.session_kind, l.kind, l.resident_id, l.consent_id
         from access_log l left join users u on u.id = l.user_id where l.institution_id = ",
    );
    q.push_bind(institution);
    if let Some(resident) = filter.resident {
        q.push(" and l.resident_id = ").push_bind(resident);
    }
    if let Some(from) = filter.from {
        q.push(" and l.at >= ").push_bind(from);
    }
    if let Some(to) = filter.to {
        q.push(" and l.at <= ").push_bind(to);
    }
    if let Some(before) = filter.before {
        q.push(" and l.id < ").push_bind(before);
    }
    q.push(" order by l.id desc limit ").push_bind(limit);
    q.build_query_as().fetch_all(pool).await
}
