//! Inspections of providers and their findings, as the scope sees them:
//! the civil-affairs bureau those of the providers in its division, a
//! provider's staff its own, nobody else any.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use sqlx::types::Json;
use sqlx::{PgConnection, PgPool, QueryBuilder};
use uuid::Uuid;

use crate::domain::{Role, Scope};

/// One item of a checklist.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChecklistItem {
    #[schema(pattern = "^[a-z0-9_]{1,40}$")]
    pub code: String,
    #[schema(min_length = 1, max_length = 200)]
    pub text: String,
}

/// One item as the inspector found it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ItemResult {
    pub code: String,
    pub passed: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, max_length = 2000)]
    pub note: Option<String>,
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Finding {
    pub id: Uuid,
    pub inspection_id: Uuid,
    pub institution_id: Uuid,
    /// The checklist item it is about.
    pub item: String,
    /// minor, major or critical.
    pub severity: String,
    pub text: String,
    /// The day it must be put right by.
    pub rectify_by: NaiveDate,
    /// open, answered, verified, or overdue (open past rectify_by).
    pub status: String,
    #[schema(required = true)]
    pub answer: Option<String>,
    #[schema(required = true)]
    pub answered_at: Option<DateTime<Utc>>,
    #[schema(required = true)]
    pub verified_at: Option<DateTime<Utc>>,
    /// Answers the bureau did not accept.
    pub reopened: i32,
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Inspection {
    pub id: Uuid,
    pub institution_id: Uuid,
    pub institution_name: String,
    pub scheduled_for: NaiveDate,
    /// scheduled or recorded.
    pub status: String,
    #[schema(value_type = Vec<ChecklistItem>)]
    pub checklist: Json<Vec<ChecklistItem>>,
    #[schema(value_type = Option<Vec<ItemResult>>, required = true)]
    pub results: Option<Json<Vec<ItemResult>>>,
    #[schema(required = true)]
    pub recorded_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    #[sqlx(skip)]
    pub findings: Vec<Finding>,
}

const SELECT: &str = "select n.id, n.institution_id, i.name as institution_name, n.scheduled_for, n.status,
    n.checklist, n.results, n.recorded_at, n.created_at
    from inspections n join institutions i on i.id = n.institution_id where true";

const FINDINGS: &str = "select f.id, f.inspection_id, f.institution_id, f.item, f.severity, f.text, f.rectify_by,
    case when f.status = 'open' and f.rectify_by < current_date then 'overdue' else f.status end as status,
    f.answer, f.answered_at, f.verified_at, f.reopened
    from inspection_findings f join institutions i on i.id = f.institution_id where true";

/// Appends ` and <the institution i is the scope's to see inspected>`.
fn push_visible(query: &mut QueryBuilder<sqlx::Postgres>, scope: &Scope) {
    match (scope.role, scope.institution) {
        (Role::CivilAffairs, None) => {
            query.push(" and starts_with(i.division, (select u.division from users u where u.id = ");
            query.push_bind(scope.user).push("))")
        }
        (Role::Admin | Role::Staff, Some(own)) => query.push(" and i.id = ").push_bind(own),
        _ => query.push(" and false"),
    };
}

/// Whether the bureau's division holds the institution.
pub async fn in_division(conn: &mut PgConnection, scope: &Scope, institution: Uuid) -> Result<bool, sqlx::Error> {
    let mut query = QueryBuilder::new("select exists (select 1 from institutions i where i.id = ");
    query.push_bind(institution);
    push_visible(&mut query, scope);
    query.push(")");
    query.build_query_scalar().fetch_one(conn).await
}

pub async fn insert(
    tx: &mut PgConnection,
    institution: Uuid,
    on: NaiveDate,
    checklist: &[ChecklistItem],
    by: Uuid,
) -> Result<Uuid, sqlx::Error> {
    let id = Uuid::new_v4();
    sqlx::query(
        "insert into inspections (id, institution_id, scheduled_for, checklist, scheduled_by)
         values ($1, $2, $3, $4, $5)",
    )
    .bind(id)
    .bind(institution)
    .bind(on)
    .bind(Json(checklist))
    .bind(by)
    .execute(tx)
    .await?;
    Ok(id)
}

/// One inspection with its findings, if the scope sees it; locked with `lock`.
pub async fn fetch(
    conn: &mut PgConnection,
    scope: &Scope,
    id: Uuid,
    lock: bool,
) -> Result<Option<Inspection>, sqlx::Error> {
    let mut query = QueryBuilder::new(SELECT);
    query.push(" and n.id = ").push_bind(id);
    push_visible(&mut query, scope);
    if lock {
        query.push(" for update of n");
    }
    let Some(mut inspection): Option<Inspection> = query.build_query_as().fetch_optional(&mut *conn).await? else {
        return Ok(None);
    };
    inspection.findings =
        sqlx::query_as(sqlx::AssertSqlSafe(format!("{FINDINGS} and f.inspection_id = $1 order by f.created_at, f.id")))
            .bind(id)
            .fetch_all(conn)
            .await?;
    Ok(Some(inspection))
}

/// The inspections the scope sees, latest first (findings not included).
pub async fn list(pool: &PgPool, scope: &Scope, institution: Option<Uuid>) -> Result<Vec<Inspection>, sqlx::Error> {
    let mut query = QueryBuilder::new(SELECT);
    if let Some(institution) = institution {
        query.push(" and n.institution_id = ").push_bind(institution);
    }
    push_visible(&mut query, scope);
    query.push(" order by n.scheduled_for desc, n.id limit 500");
    query.build_query_as().fetch_all(pool).await
}

/// A finding to record.
pub struct NewFinding<'a> {
    pub item: &'a str,
    pub severity: &'a str,
    pub text: &'a str,
    pub rectify_by: NaiveDate,
}

/// Records what the inspection found: its items and its findings.
pub async fn record(
    tx: &mut PgConnection,
    inspection: &Inspection,
    results: &[ItemResult],
    findings: &[NewFinding<'_>],
    by: Uuid,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update inspections set status = 'recorded', results = $2, recorded_by = $3, recorded_at = now()
         where id = $1",
    )
    .bind(inspection.id)
    .bind(Json(results))
    .bind(by)
    .execute(&mut *tx)
    .await?;
    for f in findings {
        sqlx::query(
            "insert into inspection_findings (id, inspection_id, institution_id, item, severity, text, rectify_by)
             values ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(Uuid::new_v4())
        .bind(inspection.id)
        .bind(inspection.institution_id)
        .bind(f.item)
        .bind(f.severity)
        .bind(f.text)
        .bind(f.rectify_by)
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}

/// One finding, if the scope sees it, locked for a change.
pub async fn finding(conn: &mut PgConnection, scope: &Scope, id: Uuid) -> Result<Option<Finding>, sqlx::Error> {
    let mut query = QueryBuilder::new(FINDINGS);
    query.push(" and f.id = ").push_bind(id);
    push_visible(&mut query, scope);
    query.push(" for update of f");
    query.build_query_as().fetch_optional(conn).await
}

/// The provider's answer to a finding.
pub async fn answer(tx: &mut PgConnection, id: Uuid, text: &str, by: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update inspection_findings set status = 'answered', answer = $2, answered_by = $3, answered_at = now()
         where id = $1",
    )
    .bind(id)
    .bind(text)
    .bind(by)
    .execute(tx)
    .await
    .map(drop)
}

/// The bureau verifies the answer, or reopens the finding.
pub async fn verify(tx: &mut PgConnection, id: Uuid, accepted: bool, by: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update inspection_findings set
             status = case when $2 then 'verified' else 'open' end,
             verified_by = case when $2 then $3 end, verified_at = case when $2 then now() end,
             reopened = reopened + case when $2 then 0 else 1 end
         where id = $1",
    )
    .bind(id)
    .bind(accepted)
    .bind(by)
    .execute(tx)
    .await
    .map(drop)
}
