//! Consents: an elder lets a medical partner read her record, be told of
//! her abnormal vital signs, or send clinical records in. A consent is in
//! force from its start until its end or its withdrawal, whichever comes
//! first; the reach of a partner's clinicians is read from here on every
//! request (`domain::scope::push_consented`), never cached.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::domain::scope::{Identity, Reached};

/// What a consent grants.
pub const GRANTS: [&str; 3] = ["fhir_read", "alerts", "clinical_write"];
/// How a consent was given.
pub const METHODS: [&str; 3] = ["written", "verbal", "electronic"];

#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
#[schema(as = ConsentRecord)]
pub struct Consent {
    pub id: Uuid,
    pub resident_id: Uuid,
    pub grantee_institution_id: Uuid,
    /// The grantee's name.
    pub grantee_name: String,
    /// hospital or family_doctor_team.
    pub grantee_kind: String,
    /// fhir_read, alerts, clinical_write.
    pub scope: Vec<String>,
    pub from: DateTime<Utc>,
    #[schema(required = true)]
    pub until: Option<DateTime<Utc>>,
    /// Who gave it (the elder, her guardian, ...).
    pub recorded_by: String,
    /// written, verbal or electronic.
    pub recorded_method: String,
    pub created_at: DateTime<Utc>,
    #[schema(required = true)]
    pub withdrawn_at: Option<DateTime<Utc>>,
    /// Whether it is in force now.
    pub active: bool,
}

const COLUMNS: &str = "c.id, c.resident_id, c.grantee_institution_id, i.name as grantee_name, i.kind as grantee_kind,
    c.scope, c.from_at as \"from\", c.until_at as until, c.recorded_by_name as recorded_by, c.recorded_method,
    c.created_at, c.withdrawn_at,
    (c.withdrawn_at is null and c.from_at <= now() and (c.until_at is null or c.until_at > now())) as active";

/// A new consent, as its maker gave it.
pub struct NewConsent<'a> {
    pub grantee: Uuid,
    pub scope: &'a [String],
    pub from: DateTime<Utc>,
    pub until: Option<DateTime<Utc>>,
    pub recorded_by: &'a str,
    pub method: &'a str,
    pub created_by: Uuid,
}

/// Records a consent of the elder; answers it.
pub async fn insert(
    tx: &mut PgConnection,
    resident: &Reached<Identity>,
    consent: &NewConsent<'_>,
) -> Result<Consent, sqlx::Error> {
    let id = Uuid::new_v4();
    sqlx::query(
        "insert into partner_consents (id, resident_id, grantee_institution_id, scope, from_at, until_at, recorded_by_name,
                               recorded_method, created_by)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(id)
    .bind(resident.id())
    .bind(consent.grantee)
    .bind(consent.scope)
    .bind(consent.from)
    .bind(consent.until)
    .bind(consent.recorded_by)
    .bind(consent.method)
    .bind(consent.created_by)
    .execute(&mut *tx)
    .await?;
    fetch(&mut *tx, resident, id).await.map(|c| c.expect("the consent just recorded"))
}

/// One consent of the elder by its id.
pub async fn fetch(
    conn: &mut PgConnection,
    resident: &Reached<Identity>,
    id: Uuid,
) -> Result<Option<Consent>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {COLUMNS} from partner_consents c join institutions i on i.id = c.grantee_institution_id
         where c.id = $1 and c.resident_id = $2"
    )))
    .bind(id)
    .bind(resident.id())
    .fetch_optional(conn)
    .await
}

/// The kind of a medical partner (hospital or family_doctor_team); `None`
/// for any other institution, or none.
pub async fn partner(pool: &PgPool, id: Uuid) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("select kind from institutions where id = $1 and kind in ('hospital', 'family_doctor_team')")
        .bind(id)
        .fetch_optional(pool)
        .await
}

/// A medical partner, as the directory lists it.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
#[schema(as = MedicalPartner)]
pub struct Partner {
    pub id: Uuid,
    pub name: String,
    /// hospital or family_doctor_team.
    pub kind: String,
}

/// Every medical partner, by name.
pub async fn partners(pool: &PgPool) -> Result<Vec<Partner>, sqlx::Error> {
    sqlx::query_as(
        "select id, name, kind from institutions where kind in ('hospital', 'family_doctor_team') order by name, id",
    )
    .fetch_all(pool)
    .await
}

/// Whether the elder has a consent in force, of any grant, for `partner`.
pub async fn consented_to(pool: &PgPool, resident: &Reached<Identity>, partner: Uuid) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "select exists (select 1 from partner_consents where resident_id = $1 and grantee_institution_id = $2
           and withdrawn_at is null and from_at <= now() and (until_at is null or until_at > now()))",
    )
    .bind(resident.id())
    .bind(partner)
    .fetch_one(pool)
    .await
}

/// The family doctor named on an elder.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
#[schema(as = NamedFamilyDoctor)]
pub struct FamilyDoctor {
    pub institution_id: Uuid,
    /// The team's name.
    pub institution_name: String,
    pub name: String,
    pub phone: String,
}

pub async fn family_doctor(pool: &PgPool, resident: &Reached<Identity>) -> Result<Option<FamilyDoctor>, sqlx::Error> {
    sqlx::query_as(
        "select r.family_doctor_institution_id as institution_id, i.name as institution_name,
                r.family_doctor_name as name, r.family_doctor_phone as phone
         from residents r join institutions i on i.id = r.family_doctor_institution_id where r.id = $1",
    )
    .bind(resident.id())
    .fetch_optional(pool)
    .await
}

/// Names the elder's family doctor.
pub async fn set_family_doctor(
    tx: &mut PgConnection,
    resident: &Reached<Identity>,
    partner: Uuid,
    name: &str,
    phone: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update residents set family_doctor_institution_id = $2, family_doctor_name = $3, family_doctor_phone = $4
         where id = $1",
    )
    .bind(resident.id())
    .bind(partner)
    .bind(name)
    .bind(phone)
    .execute(tx)
    .await
    .map(drop)
}

/// Whose consent `id` is: for the reach check that comes before reading it.
pub async fn resident_of(pool: &PgPool, id: Uuid) -> Result<Option<Uuid>, sqlx::Error> {
    sqlx::query_scalar("select resident_id from partner_consents where id = $1").bind(id).fetch_optional(pool).await
}

/// The elder's consents, newest first; only those granted to `grantee` when
/// it is given (a partner sees its own, never another partner's).
pub async fn of_resident(
    pool: &PgPool,
    resident: &Reached<Identity>,
    grantee: Option<Uuid>,
) -> Result<Vec<Consent>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {COLUMNS} from partner_consents c join institutions i on i.id = c.grantee_institution_id
         where c.resident_id = $1 and ($2::uuid is null or c.grantee_institution_id = $2)
         order by c.created_at desc, c.id"
    )))
    .bind(resident.id())
    .bind(grantee)
    .fetch_all(pool)
    .await
}

/// Withdraws a consent of the elder at once; false when it was withdrawn
/// already.
pub async fn withdraw(
    tx: &mut PgConnection,
    resident: &Reached<Identity>,
    id: Uuid,
    by: Uuid,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "update partner_consents set withdrawn_at = now(), withdrawn_by = $3
         where id = $1 and resident_id = $2 and withdrawn_at is null",
    )
    .bind(id)
    .bind(resident.id())
    .bind(by)
    .execute(tx)
    .await?;
    Ok(done.rows_affected() == 1)
}
