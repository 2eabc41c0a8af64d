//! Complaints against institutions, as the scope sees them: its own filed,
//! a family's about its elder, an institution's against it, the bureau's
//! about the institutions (or the elders) of its division, the desk's
//! filed by the desk.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{PgConnection, PgPool, QueryBuilder};
use uuid::Uuid;

use crate::domain::scope::{Identity, Reached};
use crate::domain::{Role, Scope};

/// A complaint as stored, with its status as of now.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Complaint {
    pub id: Uuid,
    #[schema(required = true)]
    pub resident_id: Option<Uuid>,
    pub institution_id: Uuid,
    pub institution_name: String,
    /// service_quality, no_show, staff_conduct, billing, meals or other.
    pub category: String,
    pub text: String,
    /// open, responded, overdue (open past respond_by) or closed.
    pub status: String,
    pub respond_by: DateTime<Utc>,
    /// The role of who filed it (family, desk, admin, staff).
    pub filed_role: String,
    #[schema(required = true)]
    pub response: Option<String>,
    #[schema(required = true)]
    pub responded_at: Option<DateTime<Utc>>,
    /// upheld, not_upheld or resolved, once closed.
    #[schema(required = true)]
    pub outcome: Option<String>,
    #[schema(required = true)]
    pub closed_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

const SELECT: &str = "select c.id, c.resident_id, c.institution_id, i.name as institution_name, c.category, c.text,
    case when c.status = 'open' and c.respond_by <= now() then 'overdue' else c.status end as status,
    c.respond_by, c.filed_role, c.response, c.responded_at, c.outcome, c.closed_at, c.created_at
    from complaints c join institutions i on i.id = c.institution_id
    left join residents r on r.id = c.resident_id where true";

/// Appends ` and <the complaint is the scope's to see>` over `complaints c`
/// joined to `institutions i` and (left) `residents r`.
fn push_visible(query: &mut QueryBuilder<sqlx::Postgres>, scope: &Scope) {
    query.push(" and (c.filed_by = ").push_bind(scope.user);
    match (scope.role, scope.institution) {
        (Role::Family, Some(_)) => {
            query.push(
                " or exists (select 1 from family_links fl where fl.resident_id = c.resident_id and fl.user_id = ",
            );
            query.push_bind(scope.user).push(")");
        }
        (Role::Admin | Role::Staff, Some(institution)) => {
            query.push(" or c.institution_id = ").push_bind(institution);
        }
        (Role::CivilAffairs, None) => {
            query.push(" or exists (select 1 from users u where u.id = ").push_bind(scope.user);
            query.push(" and (starts_with(i.division, u.division) or starts_with(r.division, u.division)))");
        }
        (Role::Desk, None) => {
            query.push(" or c.filed_role = 'desk'");
        }
        _ => {}
    }
    query.push(")");
}

/// One complaint, if the scope sees it; locked for a change with `lock`.
pub async fn fetch(
    conn: &mut PgConnection,
    scope: &Scope,
    id: Uuid,
    lock: bool,
) -> Result<Option<Complaint>, sqlx::Error> {
    let mut query = QueryBuilder::new(SELECT);
    query.push(" and c.id = ").push_bind(id);
    push_visible(&mut query, scope);
    if lock {
        query.push(" for update of c");
    }
    query.build_query_as().fetch_optional(conn).await
}

/// The complaints the scope sees, newest first; by status as of now.
pub async fn list(
    pool: &PgPool,
    scope: &Scope,
    status: Option<&str>,
    limit: i64,
) -> Result<Vec<Complaint>, sqlx::Error> {
    let mut query = QueryBuilder::new(format!("select * from ({SELECT}"));
    push_visible(&mut query, scope);
    query.push(") seen where true");
    if let Some(status) = status {
        query.push(" and status = ").push_bind(status.to_owned());
    }
    query.push(" order by created_at desc, id limit ").push_bind(limit);
    query.build_query_as().fetch_all(pool).await
}

pub struct NewComplaint<'a> {
    pub category: &'a str,
    pub text: &'a str,
    pub respond_seconds: i64,
}

/// Files a complaint against an institution that exists (a provider of any
/// kind), about an elder in reach or no one; `None` when there is no such
/// institution.
pub async fn insert(
    tx: &mut PgConnection,
    scope: &Scope,
    about: Option<&Reached<Identity>>,
    against: Uuid,
    new: &NewComplaint<'_>,
) -> Result<Option<Uuid>, sqlx::Error> {
    let id = Uuid::new_v4();
    let inserted = sqlx::query(
        "insert into complaints (id, resident_id, institution_id, category, text, respond_by, filed_by, filed_role)
         select $1, $2, i.id, $4, $5, now() + make_interval(secs => $6), $7, $8 from institutions i
         where i.id = $3 and i.kind in ('care_home', 'home_care', 'community_center', 'canteen')",
    )
    .bind(id)
    .bind(about.map(Reached::id))
    .bind(against)
    .bind(new.category)
    .bind(new.text)
    .bind(new.respond_seconds as f64)
    .bind(scope.user)
    .bind(scope.role.as_str())
    .execute(tx)
    .await?;
    Ok((inserted.rows_affected() == 1).then_some(id))
}

/// The institution's response: the complaint is `responded`.
pub async fn respond(tx: &mut PgConnection, id: Uuid, by: &Scope, text: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update complaints set status = 'responded', response = $2, responded_at = now(), responded_by = $3
         where id = $1",
    )
    .bind(id)
    .bind(text)
    .bind(by.user)
    .execute(tx)
    .await
    .map(drop)
}

/// Closed with its outcome.
pub async fn close(tx: &mut PgConnection, id: Uuid, by: &Scope, outcome: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update complaints set status = 'closed', outcome = $2, closed_at = now(), closed_by = $3 where id = $1",
    )
    .bind(id)
    .bind(outcome)
    .bind(by.user)
    .execute(tx)
    .await
    .map(drop)
}

/// Whether the scope may close the complaint: who filed it, the elder's
/// family, or the bureau of the division of its institution or elder.
pub async fn may_close(conn: &mut PgConnection, scope: &Scope, id: Uuid) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "select exists (select 1 from complaints c join institutions i on i.id = c.institution_id
            left join residents r on r.id = c.resident_id join users u on u.id = $2
            where c.id = $1 and (c.filed_by = u.id
                or (u.role = 'family' and exists (select 1 from family_links fl
                    where fl.resident_id = c.resident_id and fl.user_id = u.id))
                or (u.role = 'civil_affairs' and (starts_with(i.division, u.division)
                    or starts_with(r.division, u.division)))))",
    )
    .bind(id)
    .bind(scope.user)
    .fetch_one(conn)
    .await
}

/// Marks the complaints past `respond_by` unanswered as overdue, at most
/// `limit` a call, and tells the bureau of the institution's division and
/// the institution's admins (a notice each): how many it marked.
pub async fn overdue_due(pool: &PgPool, limit: i64) -> Result<u64, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let marked = sqlx::query(
        "with due as (
            select id from complaints where status = 'open' and respond_by <= now()
            order by respond_by limit $1 for update skip locked),
         marked as (
            update complaints c set status = 'overdue', overdue_at = now() from due where c.id = due.id
            returning c.id, c.institution_id, c.resident_id, c.category)
         insert into notification_jobs (notice, change)
         select jsonb_build_object('type', 'complaint', 'complaint_id', m.id, 'institution_id', m.institution_id,
                    'resident_id', m.resident_id, 'category', m.category, 'step', 'overdue',
                    'to', coalesce((select jsonb_agg(u.id) from users u where u.disabled_at is null
                        and ((u.role = 'civil_affairs' and starts_with(i.division, u.division))
                            or (u.role = 'admin' and u.institution_id = m.institution_id))), '[]'::jsonb)),
                'complaint.overdue'
         from marked m join institutions i on i.id = m.institution_id",
    )
    .bind(limit)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(marked.rows_affected())
}
