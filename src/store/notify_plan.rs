//! Planning notifications: the queued jobs (an alert changed, a message
//! posted), whom they concern (on call, family, their channels) and the
//! deliveries they become. Read and written in the planner's transaction,
//! which deletes the jobs with the deliveries' insertion.

use crate::domain::scope::{Alerts, Reached, Served};
use serde_json::Value;
use sqlx::{PgConnection, QueryBuilder};
use uuid::Uuid;

use crate::domain::Role;
use crate::domain::notify::Channel;

/// A queued notification job: an alert's change, or a message.
#[derive(sqlx::FromRow)]
pub struct Job {
    pub id: i64,
    pub alert_id: Option<Uuid>,
    pub message_id: Option<Uuid>,
    /// A notice to the elder's family (an application's step, a
    /// re-assessment due), as queued.
    pub notice: Option<Value>,
    pub change: String,
    pub level: i32,
}

/// Up to `limit` queued jobs, alerts before messages (a backlog of messages
/// never delays the planning of an alarm), locked to the end of the
/// caller's transaction; those another planner holds are skipped.
pub async fn due_jobs(tx: &mut PgConnection, limit: i64) -> Result<Vec<Job>, sqlx::Error> {
    sqlx::query_as(
        "select id, alert_id, message_id, notice, change, level from notification_jobs
         order by (alert_id is null), id limit $1 for update skip locked",
    )
    .bind(limit)
    .fetch_all(tx)
    .await
}

/// Deletes a planned job.
pub async fn delete_job(tx: &mut PgConnection, id: i64) -> Result<(), sqlx::Error> {
    sqlx::query("delete from notification_jobs where id = $1").bind(id).execute(tx).await.map(drop)
}

/// One notification to one person on one channel.
pub struct Delivery {
    /// To a user, or (an SMS to her own phone) to the resident.
    pub user_id: Option<Uuid>,
    pub resident_id: Option<Uuid>,
    pub alert_id: Option<Uuid>,
    pub channel: Channel,
    pub subscription_id: Option<Uuid>,
    pub gateway_id: Option<Uuid>,
    pub phone: Option<String>,
    pub payload: Value,
    pub urgent: bool,
}

/// Writes the deliveries, in one statement.
pub async fn insert_deliveries(tx: &mut PgConnection, deliveries: &[Delivery]) -> Result<(), sqlx::Error> {
    if deliveries.is_empty() {
        return Ok(());
    }
    let mut query = QueryBuilder::new(
        "insert into notification_deliveries
             (id, user_id, resident_id, alert_id, channel, subscription_id, gateway_id, phone, payload, urgent) ",
    );
    query.push_values(deliveries, |mut row, d| {
        row.push_bind(Uuid::new_v4())
            .push_bind(d.user_id)
            .push_bind(d.resident_id)
            .push_bind(d.alert_id)
            .push_bind(d.channel)
            .push_bind(d.subscription_id)
            .push_bind(d.gateway_id)
            .push_bind(&d.phone)
            .push_bind(&d.payload)
            .push_bind(d.urgent);
    });
    query.build().execute(tx).await.map(drop)
}

/// The institution's time zone name, if there is such an institution.
pub async fn timezone(tx: &mut PgConnection, institution: &Served) -> Result<Option<String>, sqlx::Error> {
    let institution = institution.id();
    sqlx::query_scalar("select timezone from institutions where id = $1").bind(institution).fetch_optional(tx).await
}

/// The institution's admins and staff (a medical partner's: its admins and
/// clinicians) who are not disabled: level 1 of an institution without a
/// rota.
pub async fn care_team(tx: &mut PgConnection, institution: &Served) -> Result<Vec<Uuid>, sqlx::Error> {
    let institution = institution.id();
    sqlx::query_scalar(
        "select id from users where institution_id = $1 and role in ('admin', 'staff', 'clinician')
           and disabled_at is null",
    )
    .bind(institution)
    .fetch_all(tx)
    .await
}

/// The family members linked to the resident.
pub async fn family(tx: &mut PgConnection, resident: &Reached<Alerts>) -> Result<Vec<Uuid>, sqlx::Error> {
    let resident = resident.id();
    sqlx::query_scalar("select user_id from family_links where resident_id = $1").bind(resident).fetch_all(tx).await
}

/// Someone to tell.
#[derive(sqlx::FromRow)]
pub struct Person {
    pub id: Uuid,
    pub role: Role,
    pub phone: Option<String>,
}

/// These people, but not the disabled.
pub async fn people(tx: &mut PgConnection, ids: &[Uuid]) -> Result<Vec<Person>, sqlx::Error> {
    sqlx::query_as("select id, role, phone from users where id = any($1) and disabled_at is null")
        .bind(ids)
        .fetch_all(tx)
        .await
}

/// The resident's room: `None` when there is no such resident, `Some(None)`
/// when they have none.
pub async fn room(tx: &mut PgConnection, resident: &Reached<Alerts>) -> Result<Option<Option<String>>, sqlx::Error> {
    let resident = resident.id();
    sqlx::query_scalar("select room from residents where id = $1").bind(resident).fetch_optional(tx).await
}

/// The person's push subscriptions.
pub async fn push_subscriptions(tx: &mut PgConnection, user: Uuid) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar("select id from push_subscriptions where user_id = $1").bind(user).fetch_all(tx).await
}

/// The institution's first gateway of `channel` (SMS, voice), if it has one.
pub async fn gateway(
    tx: &mut PgConnection,
    institution: &Served,
    channel: Channel,
) -> Result<Option<Uuid>, sqlx::Error> {
    let institution = institution.id();
    sqlx::query_scalar(
        "select id from notification_channels where institution_id = $1 and kind = $2 order by created_at limit 1",
    )
    .bind(institution)
    .bind(channel)
    .fetch_optional(tx)
    .await
}

/// A message, with what its recipients are told of its author.
#[derive(sqlx::FromRow)]
pub struct Message {
    pub institution_id: Uuid,
    pub resident_id: Uuid,
    pub author_id: Option<Uuid>,
    pub author_name: Option<String>,
    pub author_role: Option<Role>,
    pub body: String,
}

pub async fn message(tx: &mut PgConnection, id: Uuid) -> Result<Option<Message>, sqlx::Error> {
    sqlx::query_as(
        "select m.institution_id, m.resident_id, m.author_id, u.name as author_name, u.role as author_role, m.body
         from messages m left join users u on u.id = m.author_id where m.id = $1",
    )
    .bind(id)
    .fetch_optional(tx)
    .await
}

/// The institutions an alert about the resident is routed to: those
/// enrolled for her monitoring now (every one, when two are). An elder with
/// no monitoring enrolment in force is still some institution's: the one
/// whose device raised it (`fallback`), so an alarm always reaches someone.
pub async fn routed_to(
    tx: &mut PgConnection,
    resident: &Reached<Alerts>,
    fallback: &Served,
) -> Result<Vec<Served>, sqlx::Error> {
    let monitoring = crate::domain::scope::Area::Monitoring.services();
    let found: Vec<Uuid> = sqlx::query_scalar(
        "select distinct institution_id from enrolments
         where resident_id = $1 and services && $2 and starts_at <= now() and (ends_at is null or ends_at > now())
         order by institution_id",
    )
    .bind(resident.id())
    .bind(&monitoring)
    .fetch_all(tx)
    .await?;
    if found.is_empty() {
        return Ok(vec![Served::for_the_platform(fallback.id())]);
    }
    Ok(found.into_iter().map(Served::for_the_platform).collect())
}

/// The medical partners the resident lets be told of her abnormal vital
/// signs: a consent with `alerts` in force now.
pub async fn told_partners(tx: &mut PgConnection, resident: &Reached<Alerts>) -> Result<Vec<Served>, sqlx::Error> {
    let found: Vec<Uuid> = sqlx::query_scalar(
        "select distinct grantee_institution_id from partner_consents
         where resident_id = $1 and 'alerts' = any(scope) and withdrawn_at is null and from_at <= now()
           and (until_at is null or until_at > now())
         order by grantee_institution_id",
    )
    .bind(resident.id())
    .fetch_all(tx)
    .await?;
    Ok(found.into_iter().map(Served::for_the_platform).collect())
}

/// The resident's own phone (the registry's number), if recorded.
pub async fn resident_phone(tx: &mut PgConnection, resident: &Reached<Alerts>) -> Result<Option<String>, sqlx::Error> {
    let phone: Option<Option<String>> =
        sqlx::query_scalar("select phone from residents where id = $1").bind(resident.id()).fetch_optional(tx).await?;
    Ok(phone.flatten().filter(|p| !p.trim().is_empty()))
}
