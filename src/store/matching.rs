//! Matching: a service asked for without naming its provider is offered to
//! the providers serving the elder's division that offer it, in turn: those
//! enrolled with her first, then the least loaded. Each offer lasts until
//! its `accept_by`; a decline or a lapse passes it on, and none left leaves
//! it `unmatched` on the civil-affairs bureau's queue.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{PgConnection, PgPool, QueryBuilder};
use uuid::Uuid;

use crate::domain::care::Category;
use crate::domain::scope::{Identity, Reached};
use crate::domain::{Role, Scope};

/// A request as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Request {
    pub id: Uuid,
    pub resident_id: Uuid,
    pub resident_name: String,
    pub division: Option<String>,
    pub service_code: String,
    pub preferred_start: Option<DateTime<Utc>>,
    pub note: Option<String>,
    pub status: String,
    pub offer_institution_id: Option<Uuid>,
    pub offer_institution_name: Option<String>,
    pub accept_by: Option<DateTime<Utc>>,
    pub provider_institution_id: Option<Uuid>,
    pub provider_institution_name: Option<String>,
    pub visit_id: Option<Uuid>,
    /// The visit's own status, once accepted.
    pub visit_status: Option<String>,
    /// The role of who asked (family, admin, staff, desk).
    pub requested_role: String,
    pub created_at: DateTime<Utc>,
}

const COLUMNS: &str = "q.id, q.resident_id, r.name as resident_name, r.division, q.service_code, q.preferred_start,
    q.note, q.status, q.offer_institution_id, oi.name as offer_institution_name, q.accept_by,
    q.provider_institution_id, pi.name as provider_institution_name, q.visit_id, v.status as visit_status,
    q.requested_role, q.created_at";

const FROM: &str = "from service_requests q join residents r on r.id = q.resident_id
    left join institutions oi on oi.id = q.offer_institution_id
    left join institutions pi on pi.id = q.provider_institution_id
    left join visits v on v.id = q.visit_id";

/// One step of a request's timeline.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
#[schema(as = ServiceRequestStep)]
pub struct Step {
    pub at: DateTime<Utc>,
    pub step: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub institution_id: Option<Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub institution_name: Option<String>,
    /// Who took it (the role), when a person did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

pub struct NewRequest<'a> {
    pub service_code: &'a str,
    /// How long each provider has to accept.
    pub offer_seconds: i32,
    pub preferred_start: Option<DateTime<Utc>>,
    pub note: Option<&'a str>,
}

/// Records a request (`requested`); `offer_next` then offers it.
pub async fn create(
    tx: &mut PgConnection,
    resident: &Reached<Identity>,
    new: &NewRequest<'_>,
    by: &Scope,
) -> Result<Uuid, sqlx::Error> {
    let id = Uuid::new_v4();
    // Offered (or unmatched) before the transaction ends: created as
    // unmatched, the first offer follows at once.
    sqlx::query(
        "insert into service_requests (id, resident_id, service_code, preferred_start, note, requested_by,
                                       requested_role, status, offer_seconds)
         values ($1, $2, $3, $4, $5, $6, $7, 'unmatched', $8)",
    )
    .bind(id)
    .bind(resident.id())
    .bind(new.service_code)
    .bind(new.preferred_start)
    .bind(new.note)
    .bind(by.user)
    .bind(by.role)
    .bind(new.offer_seconds)
    .execute(&mut *tx)
    .await?;
    step(tx, id, "requested", None, Some(by), None).await?;
    Ok(id)
}

async fn step(
    tx: &mut PgConnection,
    request: Uuid,
    step: &str,
    institution: Option<Uuid>,
    by: Option<&Scope>,
    reason: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into service_request_steps (request_id, step, institution_id, by_user, reason) values ($1, $2, $3, $4, $5)",
    )
    .bind(request)
    .bind(step)
    .bind(institution)
    .bind(by.map(|s| s.user))
    .bind(reason)
    .execute(tx)
    .await
    .map(drop)
}

/// The institution `i` serves the division of the elder `r`: its service
/// area covers her division by code prefix.
const SERVES: &str = "exists (select 1 from unnest(i.service_area) a where starts_with(r.division, a))";

/// The order providers `i` serving the elder `r` are offered a request in:
/// enrolled with her first, then the fewest offers and requests waiting on
/// them, then by name.
const IN_TURN: &str = "exists (select 1 from enrolments e where e.resident_id = r.id and e.institution_id = i.id
                          and e.starts_at <= now() and (e.ends_at is null or e.ends_at > now())) desc,
         (select count(*) from service_requests o where o.offer_institution_id = i.id and o.status = 'offered')
         + (select count(*) from visits v where v.institution_id = i.id and v.status = 'requested'),
         i.name, i.id";

/// Offers the request to the next provider: one whose service area covers
/// the elder's division and whose catalogue has the service, not offered it
/// before; enrolled with her first, then the fewest requests waiting on it.
/// `None` when none is left: the request is `unmatched`.
pub async fn offer_next(tx: &mut PgConnection, request: Uuid) -> Result<Option<Uuid>, sqlx::Error> {
    let next: Option<Uuid> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "select i.id from service_requests q join residents r on r.id = q.resident_id
         join institutions i on {SERVES}
         join services s on s.institution_id = i.id and s.code = q.service_code
         where q.id = $1
           and not exists (select 1 from service_request_steps st where st.request_id = q.id and st.step = 'offered'
                           and st.institution_id = i.id)
         order by {IN_TURN}
         limit 1"
    )))
    .bind(request)
    .fetch_optional(&mut *tx)
    .await?;
    match next {
        Some(provider) => {
            sqlx::query(
                "update service_requests set status = 'offered', offer_institution_id = $2,
                     accept_by = now() + make_interval(secs => offer_seconds), updated_at = now() where id = $1",
            )
            .bind(request)
            .bind(provider)
            .execute(&mut *tx)
            .await?;
            step(tx, request, "offered", Some(provider), None, None).await?;
        }
        None => {
            sqlx::query(
                "update service_requests set status = 'unmatched', offer_institution_id = null, accept_by = null,
                     updated_at = now() where id = $1",
            )
            .bind(request)
            .execute(&mut *tx)
            .await?;
            step(tx, request, "unmatched", None, None, None).await?;
        }
    }
    Ok(next)
}

/// Appends ` and (<the request is the scope's to see>)` over
/// `service_requests q` joined to `residents r`: whoever reaches the elder
/// (the scope's own reach, `Placed::RESIDENTS`), and the care staff of the
/// provider it is offered to or that has it.
fn push_visible(query: &mut QueryBuilder<sqlx::Postgres>, scope: &Scope) {
    query.push(" and ((true");
    scope.push_filter(query, crate::domain::scope::Placed::RESIDENTS);
    query.push(")");
    if let (Role::Admin | Role::Staff, Some(own)) = (scope.role, scope.institution) {
        query.push(" or q.offer_institution_id = ").push_bind(own);
        query.push(" or q.provider_institution_id = ").push_bind(own);
    }
    query.push(")");
}

/// A request the scope sees; `lock` holds it for a change.
pub async fn fetch(
    conn: &mut PgConnection,
    scope: &Scope,
    id: Uuid,
    lock: bool,
) -> Result<Option<Request>, sqlx::Error> {
    let mut query = QueryBuilder::new(format!("select {COLUMNS} {FROM} where q.id = "));
    query.push_bind(id);
    push_visible(&mut query, scope);
    if lock {
        query.push(" for update of q");
    }
    query.build_query_as().fetch_optional(conn).await
}

pub async fn timeline(conn: &mut PgConnection, id: Uuid) -> Result<Vec<Step>, sqlx::Error> {
    sqlx::query_as(
        "select s.at, s.step, s.institution_id, i.name as institution_name, u.role as by, s.reason
         from service_request_steps s left join institutions i on i.id = s.institution_id
         left join users u on u.id = s.by_user where s.request_id = $1 order by s.id",
    )
    .bind(id)
    .fetch_all(conn)
    .await
}

/// The offered provider declines: the step, then the next offer.
pub async fn decline(
    tx: &mut PgConnection,
    request: &Request,
    by: &Scope,
    reason: &str,
) -> Result<Option<Uuid>, sqlx::Error> {
    step(tx, request.id, "declined", request.offer_institution_id, Some(by), Some(reason)).await?;
    offer_next(tx, request.id).await
}

/// The offered provider accepts: the request is its, as `visit`.
pub async fn accept(tx: &mut PgConnection, request: &Request, by: &Scope, visit: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update service_requests set status = 'accepted', provider_institution_id = offer_institution_id,
             offer_institution_id = null, accept_by = null, visit_id = $2, updated_at = now() where id = $1",
    )
    .bind(request.id)
    .bind(visit)
    .execute(&mut *tx)
    .await?;
    enrol_provider(tx, request).await?;
    step(tx, request.id, "accepted", request.offer_institution_id, Some(by), None).await
}

/// The provider that accepted serves the elder at home from now on: it is
/// enrolled for `home_care` (added to an enrolment it has, or a new one),
/// so its staff reach her care plan and responder sheet, not only the
/// visit. The consent is the request itself: the family's, given in the
/// app, or the elder's own, given on the phone or to her institution.
async fn enrol_provider(tx: &mut PgConnection, request: &Request) -> Result<(), sqlx::Error> {
    sqlx::query("select 1 from residents where id = $1 for update").bind(request.resident_id).execute(&mut *tx).await?;
    let widened = sqlx::query(
        "update enrolments set services = services || array['home_care']::text[]
         where resident_id = $1 and institution_id = $2 and (ends_at is null or ends_at > now())
            and not 'home_care' = any(services)",
    )
    .bind(request.resident_id)
    .bind(request.offer_institution_id)
    .execute(&mut *tx)
    .await?;
    if widened.rows_affected() == 0 {
        let (by, method) =
            if request.requested_role == "family" { ("family", "electronic") } else { ("resident", "verbal") };
        sqlx::query(
            "insert into enrolments (id, resident_id, institution_id, services, consent_by, consent_method,
                consent_at, origin, created_by)
             select $1, $2, $3, array['home_care'], $4, $5, $6, 'enrolment', q.requested_by
             from service_requests q where q.id = $7
                and not exists (select 1 from enrolments e where e.resident_id = $2 and e.institution_id = $3
                    and (e.ends_at is null or e.ends_at > now()))",
        )
        .bind(Uuid::new_v4())
        .bind(request.resident_id)
        .bind(request.offer_institution_id)
        .bind(by)
        .bind(method)
        .bind(request.created_at)
        .bind(request.id)
        .execute(&mut *tx)
        .await?;
    }
    super::residents::reach_changed(tx, Uuid::nil()).await
}

/// The request withdrawn by who asked for it (or the elder's side) before
/// any provider accepted it.
pub async fn cancel(
    tx: &mut PgConnection,
    request: &Request,
    by: &Scope,
    reason: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update service_requests set status = 'cancelled', offer_institution_id = null, accept_by = null,
             updated_at = now() where id = $1",
    )
    .bind(request.id)
    .execute(&mut *tx)
    .await?;
    step(tx, request.id, "cancelled", request.offer_institution_id, Some(by), reason).await
}

/// Offers past their `accept_by`, locked (skipping those a change holds):
/// each lapses and passes on. How many lapsed.
pub async fn lapse_due(pool: &PgPool, limit: i64) -> Result<usize, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let due: Vec<(Uuid, Option<Uuid>)> = sqlx::query_as(
        "select id, offer_institution_id from service_requests where status = 'offered' and accept_by <= now()
         order by accept_by limit $1 for update skip locked",
    )
    .bind(limit)
    .fetch_all(&mut *tx)
    .await?;
    for (id, provider) in &due {
        step(&mut tx, *id, "lapsed", *provider, None, None).await?;
        offer_next(&mut tx, *id).await?;
    }
    tx.commit().await?;
    Ok(due.len())
}

/// Which requests a listing shows.
#[derive(Debug, Default)]
pub struct Filter {
    pub status: Option<String>,
}

/// The requests the scope sees in a listing: a provider's offers and
/// accepted requests, the bureau's division's; newest first.
pub async fn list(pool: &PgPool, scope: &Scope, filter: &Filter, limit: i64) -> Result<Vec<Request>, sqlx::Error> {
    let mut query = QueryBuilder::new(format!("select {COLUMNS} {FROM} where true"));
    match (scope.role, scope.institution) {
        (Role::Admin | Role::Staff, Some(own)) => {
            query.push(" and (q.offer_institution_id = ").push_bind(own);
            query.push(" or q.provider_institution_id = ").push_bind(own).push(")");
        }
        (Role::CivilAffairs, None) => {
            query.push(" and starts_with(r.division, (select u.division from users u where u.id = ");
            query.push_bind(scope.user).push("))");
        }
        _ => {
            query.push(" and false");
        }
    }
    if let Some(status) = &filter.status {
        query.push(" and q.status = ").push_bind(status.clone());
    }
    query.push(" order by q.created_at desc, q.id limit ").push_bind(limit);
    query.build_query_as().fetch_all(pool).await
}

/// An elder's requests, newest first, for whoever reaches her.
pub async fn of_resident(pool: &PgPool, resident: &Reached<Identity>) -> Result<Vec<Request>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {COLUMNS} {FROM} where q.resident_id = $1 order by q.created_at desc, q.id limit 200"
    )))
    .bind(resident.id())
    .fetch_all(pool)
    .await
}

/// A service as offered to one elder: what a request for its code would be
/// matched on, with the provider first in line for it.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
#[schema(as = OfferedService)]
pub struct Offered {
    pub code: String,
    /// As the provider first in line names it.
    pub name: String,
    pub category: Category,
    pub duration_minutes: i32,
    /// The provider a request would be offered to first.
    pub institution_id: Uuid,
    pub institution_name: String,
    /// How many providers serving her offer it.
    pub providers: i64,
}

/// The services the providers serving the elder's division offer, one per
/// code, each with the provider a request would be offered to first: the
/// catalogue her family orders from (none while she has no division).
pub async fn offered(conn: &mut PgConnection, resident: &Reached<Identity>) -> Result<Vec<Offered>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select distinct on (s.code) s.code, s.name, s.category, s.duration_minutes, i.id as institution_id,
                i.name as institution_name, count(*) over (partition by s.code) as providers
         from residents r join institutions i on {SERVES} join services s on s.institution_id = i.id
         where r.id = $1
         order by s.code, {IN_TURN}"
    )))
    .bind(resident.id())
    .fetch_all(conn)
    .await
}
