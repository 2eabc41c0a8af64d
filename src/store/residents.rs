//! Residents, the people cared for, and the family members linked to them.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgPool, QueryBuilder};
use uuid::Uuid;

use crate::domain::Scope;
use crate::domain::care::Location;
use crate::domain::registry::{EconomicStatus, Gender, Household, SealedIdNumber, Service};
use crate::domain::scope::{Area, AreaOf, Identity, InReach, Monitoring, Placed, Reach, Reached};

#[derive(Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Resident {
    pub id: Uuid,
    pub name: String,
    pub timezone: String,
    pub room: Option<String>,
    pub notes: Option<String>,
    /// Where the resident lives: carers go there.
    pub address: Option<String>,
    /// The home's WGS 84 location, which check-ins are measured against.
    #[schema(value_type = Option<Location>)]
    pub location: Option<sqlx::types::Json<Location>>,
    /// The latest decision on being monitored; null until one is recorded.
    #[schema(value_type = Option<Consent>)]
    pub monitoring_consent: Option<sqlx::types::Json<Consent>>,
    /// The resident identity number, masked (`330205********1234`); it is
    /// never answered whole.
    pub id_number: Option<String>,
    pub gender: Option<Gender>,
    pub birth_date: Option<NaiveDate>,
    /// Whole years, from the birth date.
    pub age: Option<i32>,
    pub phone: Option<String>,
    /// The community or grid the elder is registered in.
    pub division: Option<String>,
    pub household: Option<Household>,
    pub economic_status: Option<EconomicStatus>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Where the resident is now, from their status periods (filled in by
    /// the API, which reads the periods).
    #[sqlx(default)]
    pub status: crate::domain::status::ResidentStatus,
    /// The capability grade of the latest valid assessment (filled in by
    /// the API); null without one.
    #[sqlx(skip)]
    #[schema(required = true)]
    pub grade: Option<Grade>,
}

/// An elder's capability grade and the scale it was assessed on.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = CapabilityGrade)]
pub struct Grade {
    pub grade: i32,
    pub label: String,
    pub scale: String,
}

/// One recorded decision on consent.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Consent {
    pub given: bool,
    pub given_by: ConsentBy,
    pub guardian_name: Option<String>,
    pub decided_at: DateTime<Utc>,
    pub recorded_by: Option<Uuid>,
    pub recorded_at: DateTime<Utc>,
}

/// Who decided: the resident, or their guardian.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, sqlx::Type, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
#[sqlx(type_name = "text", rename_all = "lowercase")]
#[schema(as = DecidedBy)]
pub enum ConsentBy {
    Resident,
    Guardian,
}

/// The latest consent row of a subject, as JSON, over `consents c`; a
/// macro so that queries can `concat!` it.
macro_rules! latest_consent {
    () => {
        "select jsonb_build_object('given', c.given, 'given_by', c.given_by, 'guardian_name', c.guardian_name,
                'decided_at', c.decided_at, 'recorded_by', c.recorded_by, 'recorded_at', c.recorded_at)
         from consents c"
    };
}

const COLUMNS: &str = concat!(
    "r.id, r.name, r.timezone, r.room, r.notes, r.address,
    case when r.lat is null then null else jsonb_build_object('lat', r.lat, 'lon', r.lon) end as location, (",
    latest_consent!(),
    " where c.resident_id = r.id and c.subject = 'monitoring' order by c.id desc limit 1) as monitoring_consent,
    r.id_number_masked as id_number, r.gender, r.birth_date, extract(year from age((now() at time zone r.timezone)::date, r.birth_date))::int as age,
    r.phone, r.division, r.household, r.economic_status, r.created_at, r.updated_at"
);

/// The resident, if `scope` reaches them at all (their identity).
pub async fn visible(pool: &PgPool, scope: &Scope, id: Uuid) -> Result<Option<Uuid>, sqlx::Error> {
    Ok(reach::<Identity>(pool, scope, id).await?.map(|r| r.id()))
}

/// Proof that `scope` reaches area `A` of the resident, if it does: the one
/// place such proof is made.
pub async fn reach<A: AreaOf>(pool: &PgPool, scope: &Scope, id: Uuid) -> Result<Option<Reached<A>>, sqlx::Error> {
    let mut query = QueryBuilder::new("select r.id from residents r where r.id = ");
    query.push_bind(id);
    scope.push_filter(&mut query, Placed::RESIDENTS.in_area(A::AREA));
    let found: Option<Uuid> = query.build_query_scalar().fetch_optional(pool).await?;
    Ok(found.map(proof))
}

/// The proof of reach, once the database said so: made here alone, by the
/// reach checks of this file.
fn proof<A: AreaOf>(id: Uuid) -> Reached<A> {
    Reached::vouched(id)
}

/// A medical partner's clinician's reach for one grant of a consent
/// (`alerts`, `clinical_write`; `fhir_read` is [`reach`]'s): the elder and
/// the consent in force now that grants it, the latest if several. `None`
/// for anyone but a clinician, and for an elder without such a consent.
pub async fn consented(
    pool: &PgPool,
    scope: &Scope,
    id: Uuid,
    grant: &'static str,
) -> Result<Option<(Reached<Identity>, Uuid)>, sqlx::Error> {
    let Reach::Consented(partner) = scope.reach() else { return Ok(None) };
    let found: Option<Uuid> = sqlx::query_scalar(
        "select id from partner_consents where resident_id = $1 and grantee_institution_id = $2 and $3 = any(scope)
           and withdrawn_at is null and from_at <= now() and (until_at is null or until_at > now())
         order by from_at desc, id limit 1",
    )
    .bind(id)
    .bind(partner)
    .bind(grant)
    .fetch_optional(pool)
    .await?;
    Ok(found.map(|consent| (proof(id), consent)))
}

/// Whether a row already in hand, of `institution` and about `resident`
/// (`None` for the institution's own), of `area`, is in `scope`'s reach.
pub async fn reaches(
    pool: &PgPool,
    scope: &Scope,
    institution: Uuid,
    resident: Option<Uuid>,
    area: Area,
) -> Result<bool, sqlx::Error> {
    match scope.reaches(institution, resident) {
        InReach::Yes => Ok(true),
        InReach::No => Ok(false),
        InReach::IfResident(resident) => {
            let mut query = QueryBuilder::new("select r.id from residents r where r.id = ");
            query.push_bind(resident);
            scope.push_filter(&mut query, Placed::RESIDENTS.in_area(area));
            Ok(query.build_query_scalar::<Uuid>().fetch_optional(pool).await?.is_some())
        }
    }
}

/// A search of the registry: by the id number (its lookup hash, or its
/// masked form), by phone, or by name.
#[derive(Debug)]
pub enum Search {
    IdNumber(Vec<u8>),
    Masked(String),
    Phone(String),
    Name(String),
}

/// The residents `scope` reaches, by name, those `search` finds if given.
pub async fn list(
    pool: &PgPool,
    scope: &Scope,
    search: Option<&Search>,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<Resident>, sqlx::Error> {
    let mut query = QueryBuilder::new(format!("select {COLUMNS} from residents r where true"));
    scope.push_filter(&mut query, Placed::RESIDENTS);
    match search {
        Some(Search::IdNumber(lookup)) => query.push(" and r.id_number_key = ").push_bind(lookup.clone()),
        Some(Search::Masked(masked)) => query.push(" and r.id_number_masked = ").push_bind(masked.clone()),
        Some(Search::Phone(digits)) => query.push(" and strpos(r.phone, ").push_bind(digits.clone()).push(") > 0"),
        Some(Search::Name(name)) => {
            query.push(" and strpos(lower(r.name), lower(").push_bind(name.clone()).push(")) > 0")
        }
        None => &mut query,
    };
    if let Some(after) = after {
        query.push(" and (r.name, r.id) > (select c.name, c.id from residents c where c.id = ").push_bind(after);
        query.push(")");
    }
    query.push(" order by r.name, r.id limit ").push_bind(limit);
    query.build_query_as().fetch_all(pool).await
}

/// The resident, if `scope` reaches them.
pub async fn fetch(pool: &PgPool, scope: &Scope, id: Uuid) -> Result<Option<Resident>, sqlx::Error> {
    let mut query = QueryBuilder::new(format!("select {COLUMNS} from residents r where r.id = "));
    query.push_bind(id);
    scope.push_filter(&mut query, Placed::RESIDENTS);
    query.build_query_as().fetch_optional(pool).await
}

/// Where a new resident lives when the request does not say.
pub async fn default_timezone(pool: &PgPool, scope: &Scope) -> Result<String, sqlx::Error> {
    sqlx::query_scalar("select timezone from institutions where id = $1").bind(scope.institution).fetch_one(pool).await
}

pub struct NewResident<'a> {
    pub name: &'a str,
    pub timezone: &'a str,
    pub room: Option<String>,
    pub notes: Option<String>,
    pub registry: Registry,
    /// What the registering institution is enrolled for.
    pub services: Vec<Service>,
}

/// The registry's fields of a new resident.
#[derive(Debug, Default)]
pub struct Registry {
    pub id_number: Option<SealedIdNumber>,
    pub gender: Option<Gender>,
    pub birth_date: Option<NaiveDate>,
    pub phone: Option<String>,
    pub division: Option<String>,
    pub household: Option<Household>,
    pub economic_status: Option<EconomicStatus>,
}

/// Why a resident was not registered.
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    /// The id number is registered already, for this resident.
    #[error("this id number is registered already")]
    AlreadyRegistered(Uuid),
    /// No such division.
    #[error("no such division")]
    NoDivision,
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// The resident registered under the id number whose lookup hash is `key`.
pub async fn by_id_number(conn: &mut PgConnection, key: &[u8]) -> Result<Option<Uuid>, sqlx::Error> {
    sqlx::query_scalar("select id from residents where id_number_key = $1").bind(key).fetch_optional(conn).await
}

/// Registers a resident with the scope's institution, enrolled there for
/// `new.services`. `id` is chosen by the caller, which seals the id number
/// bound to it.
pub async fn create(tx: &mut PgConnection, scope: &Scope, id: Uuid, new: NewResident<'_>) -> Result<Resident, Refused> {
    let registry = &new.registry;
    if let Some(key) = registry.id_number.as_ref().map(|n| &n.lookup)
        && let Some(existing) = by_id_number(tx, key).await?
    {
        return Err(Refused::AlreadyRegistered(existing));
    }
    let resident = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "insert into residents as r (id, institution_id, name, timezone, room, notes, id_number_sealed,
            id_number_key, id_number_masked, gender, birth_date, phone, division, household, economic_status)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) returning {COLUMNS}"
    )))
    .bind(id)
    .bind(scope.institution)
    .bind(new.name)
    .bind(new.timezone)
    .bind(new.room)
    .bind(new.notes)
    .bind(registry.id_number.as_ref().map(|n| &n.sealed))
    .bind(registry.id_number.as_ref().map(|n| &n.lookup))
    .bind(registry.id_number.as_ref().map(|n| &n.masked))
    .bind(registry.gender)
    .bind(registry.birth_date)
    .bind(&registry.phone)
    .bind(&registry.division)
    .bind(registry.household)
    .bind(registry.economic_status)
    .fetch_one(&mut *tx)
    .await
    .map_err(|e| match &e {
        sqlx::Error::Database(d) if d.constraint() == Some("residents_id_number_key_key") => {
            Refused::AlreadyRegistered(Uuid::nil())
        }
        sqlx::Error::Database(d) if d.constraint() == Some("residents_division_fkey") => Refused::NoDivision,
        _ => Refused::Db(e),
    })?;
    let services: Vec<&str> = new.services.iter().map(|s| s.as_str()).collect();
    sqlx::query(
        "insert into enrolments (id, resident_id, institution_id, services, origin, created_by)
         values ($1, $2, $3, $4, 'registration', $5)",
    )
    .bind(Uuid::new_v4())
    .bind(id)
    .bind(scope.institution)
    .bind(services)
    .bind(scope.user)
    .execute(&mut *tx)
    .await?;
    Ok(resident)
}

/// A change to a resident: `None` leaves a field alone; for the optional
/// ones, `Some(None)` clears it.
pub struct ResidentChange {
    pub name: Option<String>,
    pub timezone: Option<String>,
    pub room: Option<Option<String>>,
    pub notes: Option<Option<String>>,
    pub address: Option<Option<String>>,
    pub location: Option<Option<Location>>,
}

/// Changes a resident the caller has already found in reach.
pub async fn update(tx: &mut PgConnection, id: Uuid, change: ResidentChange) -> Result<Resident, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "update residents r set
            name = coalesce($2, r.name),
            timezone = coalesce($3, r.timezone),
            room = case when $4 then $5 else r.room end,
            notes = case when $6 then $7 else r.notes end,
            address = case when $8 then $9 else r.address end,
            lat = case when $10 then $11 else r.lat end,
            lon = case when $10 then $12 else r.lon end,
            updated_at = now()
         where r.id = $1 returning {COLUMNS}"
    )))
    .bind(id)
    .bind(change.name)
    .bind(change.timezone)
    .bind(change.room.is_some())
    .bind(change.room.flatten())
    .bind(change.notes.is_some())
    .bind(change.notes.flatten())
    .bind(change.address.is_some())
    .bind(change.address.flatten())
    .bind(change.location.is_some())
    .bind(change.location.flatten().map(|l| l.lat))
    .bind(change.location.flatten().map(|l| l.lon))
    .fetch_one(tx)
    .await
}

#[derive(Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct FamilyMember {
    pub user_id: Uuid,
    pub name: String,
    pub email: String,
    pub relationship: String,
    /// The latest decision on this link; null until one is recorded.
    #[schema(value_type = Option<Consent>)]
    pub consent: Option<sqlx::types::Json<Consent>>,
    pub created_at: DateTime<Utc>,
}

/// Links a family user to a resident. Fails on `family_links_pkey` when
/// they are linked already.
pub async fn link_family(
    tx: &mut PgConnection,
    resident_id: &Reached<Monitoring>,
    user_id: Uuid,
    relationship: &str,
) -> Result<(), sqlx::Error> {
    let resident_id = resident_id.id();
    sqlx::query("insert into family_links (resident_id, user_id, relationship) values ($1, $2, $3)")
        .bind(resident_id)
        .bind(user_id)
        .bind(relationship)
        .execute(&mut *tx)
        .await?;
    reach_changed(tx, user_id).await
}

/// Tells every process, at commit, that `user` (the nil id: everyone) now
/// reaches other residents: their live streams forget what they judged
/// visible.
pub async fn reach_changed(tx: &mut PgConnection, user: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query("select pg_notify($1, $2)")
        .bind(crate::domain::notify::REACH_CHANNEL)
        .bind(user.to_string())
        .execute(tx)
        .await
        .map(drop)
}

/// Ends a family link; false when there was none.
pub async fn unlink_family(
    tx: &mut PgConnection,
    resident_id: &Reached<Monitoring>,
    user_id: Uuid,
) -> Result<bool, sqlx::Error> {
    let resident_id = resident_id.id();
    let gone = sqlx::query("delete from family_links where resident_id = $1 and user_id = $2")
        .bind(resident_id)
        .bind(user_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    if gone > 0 {
        reach_changed(tx, user_id).await?;
    }
    Ok(gone > 0)
}

/// The family members linked to a resident, by name.
/// Which of a resident's family links to read: by name, after the user
/// `after` (the previous page's last), or only `user`'s.
#[derive(Debug, Clone, Copy)]
pub struct FamilyPage {
    pub after: Option<Uuid>,
    pub user: Option<Uuid>,
    pub limit: i64,
}

pub async fn family(
    pool: &PgPool,
    resident_id: &Reached<Monitoring>,
    page: FamilyPage,
) -> Result<Vec<FamilyMember>, sqlx::Error> {
    let resident_id = resident_id.id();
    sqlx::query_as(concat!(
        "select u.id as user_id, u.name, u.email, fl.relationship, (",
        latest_consent!(),
        " where c.resident_id = fl.resident_id and c.subject = 'family_link' and c.family_user_id = fl.user_id
            order by c.id desc limit 1) as consent,
            fl.created_at
         from family_links fl join users u on u.id = fl.user_id
         where fl.resident_id = $1
           and ($2::uuid is null or (u.name, u.id) > (select c.name, c.id from users c where c.id = $2))
           and ($3::uuid is null or fl.user_id = $3)
         order by u.name, u.id limit $4"
    ))
    .bind(resident_id)
    .bind(page.after)
    .bind(page.user)
    .bind(page.limit)
    .fetch_all(pool)
    .await
}

/// A resident as the behaviour rules watch them.
#[derive(Debug, sqlx::FromRow)]
pub struct Watched {
    pub id: Uuid,
    pub institution_id: Uuid,
    pub timezone: String,
    /// From when behaviour is judged: creation, or the end of the last away
    /// spell.
    pub since: DateTime<Utc>,
}

/// Every resident, of every institution.
pub async fn watched(pool: &PgPool) -> Result<Vec<Watched>, sqlx::Error> {
    sqlx::query_as(
        "select r.id, r.institution_id, r.timezone, greatest(r.created_at, r.away_ended_at) as since from residents r",
    )
    .fetch_all(pool)
    .await
}

/// A decision to record: on being monitored (`family_user` `None`) or on
/// one family member's access.
pub struct NewConsent<'a> {
    pub family_user: Option<Uuid>,
    pub given: bool,
    pub given_by: ConsentBy,
    pub guardian_name: Option<&'a str>,
    pub decided_at: DateTime<Utc>,
    pub recorded_by: Uuid,
}

/// Appends a decision to the resident's consent history.
pub async fn record_consent(
    tx: &mut PgConnection,
    resident_id: &Reached<Monitoring>,
    new: NewConsent<'_>,
) -> Result<(), sqlx::Error> {
    let resident_id = resident_id.id();
    let subject = if new.family_user.is_some() { "family_link" } else { "monitoring" };
    sqlx::query(
        "insert into consents (resident_id, subject, family_user_id, given, given_by, guardian_name, decided_at,
                               recorded_by)
         values ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(resident_id)
    .bind(subject)
    .bind(new.family_user)
    .bind(new.given)
    .bind(new.given_by)
    .bind(new.guardian_name)
    .bind(new.decided_at)
    .bind(new.recorded_by)
    .execute(tx)
    .await
    .map(drop)
}

/// Whether the family user is linked to the resident.
pub async fn is_linked(
    tx: &mut PgConnection,
    resident_id: &Reached<Monitoring>,
    user_id: Uuid,
) -> Result<bool, sqlx::Error> {
    let resident_id = resident_id.id();
    sqlx::query_scalar("select exists (select 1 from family_links where resident_id = $1 and user_id = $2)")
        .bind(resident_id)
        .bind(user_id)
        .fetch_one(tx)
        .await
}

/// What a caregiver reads of a resident they have a visit with: name,
/// address, location and care notes, nothing else.
#[derive(Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
#[schema(as = CarerResident)]
pub struct ForCarer {
    pub id: Uuid,
    pub name: String,
    pub address: Option<String>,
    #[schema(value_type = Option<Location>)]
    pub location: Option<sqlx::types::Json<Location>>,
    pub notes: Option<String>,
}

/// The resident, if the caregiver of `scope` has a visit with them that is
/// not cancelled.
pub async fn for_carer(pool: &PgPool, scope: &Scope, id: Uuid) -> Result<Option<ForCarer>, sqlx::Error> {
    let mut query = QueryBuilder::new(
        "select r.id, r.name, r.address,
                case when r.lat is null then null else jsonb_build_object('lat', r.lat, 'lon', r.lon) end as location,
                r.notes
         from residents r where r.id = ",
    );
    query.push_bind(id);
    query.push(" and exists (select 1 from visits v where v.resident_id = r.id and v.status <> 'cancelled'");
    scope.push_visits_filter(&mut query);
    query.push(")");
    query.build_query_as().fetch_optional(pool).await
}

/// The names of these residents of an institution.
pub async fn names(pool: &PgPool, scope: &Scope, ids: &[Uuid]) -> Result<Vec<(Uuid, String)>, sqlx::Error> {
    let institution = scope.institution;
    sqlx::query_as("select id, name from residents where institution_id = $1 and id = any($2)")
        .bind(institution)
        .bind(ids)
        .fetch_all(pool)
        .await
}

/// A resident's institution and timezone, whoever may see them: for the
/// system's own work on their care plan.
pub async fn placed(conn: &mut PgConnection, id: Uuid) -> Result<Option<(Uuid, String)>, sqlx::Error> {
    sqlx::query_as("select institution_id, timezone from residents where id = $1").bind(id).fetch_optional(conn).await
}

/// Where a reached resident is registered: their institution (whose
/// catalogue their plan names) and their timezone, as their row says. Only
/// [`home`] makes one, from proof of reach.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Home {
    institution: Uuid,
    pub timezone: String,
}

impl Home {
    pub fn institution(&self) -> Uuid {
        self.institution
    }
}

/// The home of a reached resident (see [`placed`]).
pub async fn home<A: AreaOf>(conn: &mut PgConnection, resident: &Reached<A>) -> Result<Option<Home>, sqlx::Error> {
    Ok(placed(conn, resident.id()).await?.map(|(institution, timezone)| Home { institution, timezone }))
}
