//! Enrolments: which institutions serve an elder, for which services, from
//! when until when, on whose consent. An enrolment in force is what lets an
//! institution reach the areas of the elder its services grant
//! (`domain::scope`).

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::domain::Scope;
use crate::domain::registry::{ConsentBy, ConsentMethod, Service};
use crate::domain::scope::{Identity, Reached};

#[derive(Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Enrolment {
    pub id: Uuid,
    pub resident_id: Uuid,
    pub institution_id: Uuid,
    pub institution_name: String,
    #[sqlx(json)]
    pub services: Vec<Service>,
    /// When it took effect.
    #[sqlx(rename = "starts_at")]
    pub from: DateTime<Utc>,
    /// When it ended (or ends); null while open-ended.
    #[sqlx(rename = "ends_at")]
    pub until: Option<DateTime<Utc>>,
    /// Who consented and how; null for an elder's first enrolment, made
    /// when the institution registered them (their consent to being
    /// monitored is on the resident).
    pub consent_by: Option<ConsentBy>,
    pub consent_method: Option<ConsentMethod>,
    pub consent_at: Option<DateTime<Utc>>,
    /// Whether it is in force now.
    pub active: bool,
}

const COLUMNS: &str = "e.id, e.resident_id, e.institution_id, i.name as institution_name,
    to_jsonb(e.services) as services,
    e.starts_at, e.ends_at, e.consent_by, e.consent_method, e.consent_at,
    (e.starts_at <= now() and (e.ends_at is null or e.ends_at > now())) as active";

pub struct NewEnrolment {
    pub resident: Uuid,
    pub institution: Uuid,
    pub services: Vec<Service>,
    pub consent_by: ConsentBy,
    pub consent_method: ConsentMethod,
    pub consent_at: DateTime<Utc>,
    pub by: Uuid,
}

/// Why an enrolment was not made.
#[derive(Debug)]
pub enum Refused {
    /// The institution is enrolled for the elder already (an enrolment in
    /// force, or one that starts later).
    AlreadyEnrolled(Uuid),
    Db(sqlx::Error),
}

impl From<sqlx::Error> for Refused {
    fn from(e: sqlx::Error) -> Self {
        Refused::Db(e)
    }
}

/// Enrols the elder (who exists: the caller checked) with the institution.
pub async fn create(tx: &mut PgConnection, new: &NewEnrolment) -> Result<Enrolment, Refused> {
    // One enrolment per elder and institution at a time: concurrent
    // enrolments queue on the elder's row.
    sqlx::query("select 1 from residents where id = $1 for update").bind(new.resident).execute(&mut *tx).await?;
    let open: Option<Uuid> = sqlx::query_scalar(
        "select id from enrolments where resident_id = $1 and institution_id = $2
            and (ends_at is null or ends_at > now())",
    )
    .bind(new.resident)
    .bind(new.institution)
    .fetch_optional(&mut *tx)
    .await?;
    if let Some(open) = open {
        return Err(Refused::AlreadyEnrolled(open));
    }
    let id = Uuid::new_v4();
    let services: Vec<&str> = new.services.iter().map(|s| s.as_str()).collect();
    sqlx::query(
        "insert into enrolments (id, resident_id, institution_id, services, consent_by, consent_method,
            consent_at, origin, created_by)
         values ($1, $2, $3, $4, $5, $6, $7, 'enrolment', $8)",
    )
    .bind(id)
    .bind(new.resident)
    .bind(new.institution)
    .bind(services)
    .bind(new.consent_by)
    .bind(new.consent_method)
    .bind(new.consent_at)
    .bind(new.by)
    .execute(&mut *tx)
    .await?;
    super::residents::reach_changed(tx, Uuid::nil()).await?;
    Ok(fetch(tx, id).await?.expect("just inserted"))
}

async fn fetch(conn: &mut PgConnection, id: Uuid) -> Result<Option<Enrolment>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {COLUMNS} from enrolments e join institutions i on i.id = e.institution_id where e.id = $1"
    )))
    .bind(id)
    .fetch_optional(conn)
    .await
}

/// The elder's enrolments, current and past, newest first.
pub async fn of_resident(pool: &PgPool, resident: &Reached<Identity>) -> Result<Vec<Enrolment>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {COLUMNS} from enrolments e join institutions i on i.id = e.institution_id
         where e.resident_id = $1 order by e.starts_at desc, e.id"
    )))
    .bind(resident.id())
    .fetch_all(pool)
    .await
}

/// An enrolment the scope may end, locked: its institution's admin's, or,
/// for the civil-affairs bureau, one of an elder in its division.
pub async fn for_change(tx: &mut PgConnection, scope: &Scope, id: Uuid) -> Result<Option<Enrolment>, sqlx::Error> {
    let Some(enrolment) = fetch(tx, id).await? else { return Ok(None) };
    let mine = scope.may_administer() && scope.institution == Some(enrolment.institution_id);
    let in_division = scope.role == crate::domain::Role::CivilAffairs
        && sqlx::query_scalar::<_, bool>(
            "select exists (select 1 from residents r join users u on u.id = $2
                where r.id = $1 and starts_with(r.division, u.division))",
        )
        .bind(enrolment.resident_id)
        .bind(scope.user)
        .fetch_one(&mut *tx)
        .await?;
    if !(mine || in_division) {
        return Ok(None);
    }
    sqlx::query("select 1 from enrolments where id = $1 for update").bind(id).execute(&mut *tx).await?;
    fetch(tx, id).await
}

/// Ends an enrolment at `until`, or now (`None`; at its start, if that is
/// still to come).
pub async fn set_until(
    tx: &mut PgConnection,
    id: Uuid,
    until: Option<DateTime<Utc>>,
) -> Result<Enrolment, sqlx::Error> {
    sqlx::query("update enrolments set ends_at = greatest(coalesce($2, now()), starts_at) where id = $1")
        .bind(id)
        .bind(until)
        .execute(&mut *tx)
        .await?;
    // Whoever reached the elder through it: their streams judge again.
    super::residents::reach_changed(tx, Uuid::nil()).await?;
    let ended = fetch(tx, id).await?.expect("locked by for_change");
    if until.is_none() {
        // Its kitchen cooks for her no more: the plan naming it ends and the
        // orders not yet past their cut-off are cancelled; what it delivered
        // stays its record.
        let dropped = sqlx::query(
            "delete from meal_plans p using kitchens k
             where p.resident_id = $1 and k.id = p.kitchen_id and k.institution_id = $2",
        )
        .bind(ended.resident_id)
        .bind(ended.institution_id)
        .execute(&mut *tx)
        .await?;
        if dropped.rows_affected() > 0 {
            let resident = Reached::<crate::domain::scope::Meals>::for_the_platform(ended.resident_id);
            super::meals::sync_orders(tx, &resident, Utc::now()).await?;
        }
    }
    Ok(ended)
}

/// Whether the civil-affairs bureau of `scope` reaches the institution: it
/// sits in (or serves) the bureau's division.
pub async fn institution_in_division(pool: &PgPool, scope: &Scope, institution: Uuid) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "select exists (select 1 from institutions i join users u on u.id = $2
            where i.id = $1 and (starts_with(i.division, u.division)
                or exists (select 1 from unnest(i.service_area) a where starts_with(a, u.division))))",
    )
    .bind(institution)
    .bind(scope.user)
    .fetch_one(pool)
    .await
}

/// How long the answer `already_registered` lets the institution enrol the
/// elder: long enough to record the elder's consent, short enough that a
/// stale answer reaches nobody.
pub const CLAIM_VALID: chrono::Duration = chrono::Duration::days(7);

/// Records that the scope's institution was answered `already_registered`
/// for `resident`: its claim to enrol them, for [`CLAIM_VALID`].
pub async fn claim(pool: &PgPool, scope: &Scope, resident: Uuid) -> Result<(), sqlx::Error> {
    let Some(institution) = scope.institution else { return Ok(()) };
    sqlx::query(
        "insert into registry_claims (institution_id, resident_id, claimed_by) values ($1, $2, $3)
         on conflict (institution_id, resident_id) do update set claimed_by = excluded.claimed_by, claimed_at = now()",
    )
    .bind(institution)
    .bind(resident)
    .bind(scope.user)
    .execute(pool)
    .await?;
    Ok(())
}

/// Takes the scope's institution's claim on `resident`, if one is in force:
/// an admin enrols only an elder whose id number their institution
/// registered (and was answered `already_registered`), never one it knows
/// only by id. Gone once taken; an enrolment refused later rolls it back.
pub async fn take_claim(tx: &mut PgConnection, scope: &Scope, resident: Uuid) -> Result<bool, sqlx::Error> {
    let Some(institution) = scope.institution else { return Ok(false) };
    sqlx::query_scalar(
        "with taken as (delete from registry_claims c using residents r
            where c.institution_id = $1 and c.resident_id = $2 and r.id = c.resident_id and r.erased_at is null
              and c.claimed_at > now() - $3::interval returning 1)
         select exists (select 1 from taken)",
    )
    .bind(institution)
    .bind(resident)
    .bind(CLAIM_VALID)
    .fetch_one(tx)
    .await
}
