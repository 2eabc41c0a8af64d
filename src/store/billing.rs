//! Bills: each verified visit and delivered meal priced once, in the
//! transaction that made it billable, by the entitlements in force that
//! day (`domain::billing` decides the shares). A line once written is never
//! repriced: an entitlement changed afterwards changes later lines only.

use chrono::{Datelike, NaiveDate};
use serde::Serialize;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::applications::{self, Entitlement};
use crate::domain::Scope;
use crate::domain::billing::{self, Fen, LineKind, Payer, Priced, Used};
use crate::domain::care::Funding;
use crate::domain::registry::Service;
use crate::domain::scope::{Identity, Reached};

/// The first day of `date`'s month.
pub fn month_of(date: NaiveDate) -> NaiveDate {
    date.with_day(1).unwrap_or(date)
}

/// The service an institution's visit is, in the enrolment vocabulary
/// entitlements speak: a care home's is residential care, a community
/// centre's day care, anyone else's care at home.
async fn visit_service(conn: &mut PgConnection, institution: Uuid) -> Result<Service, sqlx::Error> {
    let kind: Option<String> = sqlx::query_scalar("select kind from institutions where id = $1")
        .bind(institution)
        .fetch_optional(conn)
        .await?;
    Ok(match kind.as_deref() {
        Some("care_home") => Service::Residential,
        Some("community_center") => Service::DayCare,
        _ => Service::HomeCare,
    })
}

/// The entitlement a service is priced by: one covering it, of the payer
/// its funding names if there is one, else any.
fn pick(entitlements: &[Entitlement], service: Service, funding: Funding) -> Option<&Entitlement> {
    let preferred = match funding {
        Funding::LtcInsurance => Some(Payer::LtcInsurance),
        Funding::Subsidy => Some(Payer::CivilAffairs),
        Funding::SelfPay | Funding::Institution => None,
    };
    let covering = || entitlements.iter().filter(move |e| e.services.contains(&service));
    covering().find(|e| Some(e.payer) == preferred).or_else(|| covering().next())
}

/// What a visit needs to be priced.
pub struct BillableVisit {
    pub id: Uuid,
    pub institution: Uuid,
    pub resident: Uuid,
    pub date: NaiveDate,
    pub service_code: String,
    pub funding: Funding,
    pub amount: Fen,
    pub minutes: i64,
}

/// Prices a verified visit, once: nothing if it has lines already, or if
/// it is the provider's own cost (`institution` funding).
pub async fn price_visit(tx: &mut PgConnection, visit: &BillableVisit) -> Result<usize, sqlx::Error> {
    if visit.funding == Funding::Institution || priced(tx, LineKind::Visit, visit.id).await? {
        return Ok(0);
    }
    let month = month_of(visit.date);
    let service = visit_service(tx, visit.institution).await?;
    let resident = Reached::<Identity>::for_the_platform(visit.resident);
    let entitlements = applications::in_force_locked(tx, &resident, visit.date, month).await?;
    let chosen = pick(&entitlements, service, visit.funding);
    let lines = lines_under(chosen, visit.amount, visit.minutes);
    for line in &lines {
        let entitlement = chosen.filter(|_| !line.over_quota).map(|e| e.id);
        insert_line(
            tx,
            LineKind::Visit,
            visit.id,
            visit.institution,
            visit.resident,
            visit.date,
            &visit.service_code,
            line,
            entitlement,
        )
        .await?;
    }
    Ok(lines.len())
}

/// A visit's lines under the entitlement chosen for it (none: the elder's).
fn lines_under(chosen: Option<&Entitlement>, amount: Fen, minutes: i64) -> Vec<Priced> {
    let terms = chosen.map(Entitlement::terms);
    let used = chosen
        .map_or(Used::default(), |e| Used { minutes: e.used_this_month.minutes, amount: e.used_this_month.amount });
    billing::price_visit(amount, minutes, terms.as_ref(), used)
}

/// What one visit of `service_code` at `institution` on `date` would cost,
/// and the elder's part of it, priced as it will be when it is verified
/// (its catalogue price and duration, the entitlements in force and what
/// the month has used of them): `None` when the institution does not offer it.
pub async fn quote(
    conn: &mut PgConnection,
    resident: &Reached<Identity>,
    institution: Uuid,
    service_code: &str,
    date: NaiveDate,
) -> Result<Option<(Fen, Fen)>, sqlx::Error> {
    let found: Option<(crate::domain::care::Unit, f64, i32, Vec<String>)> = sqlx::query_as(
        "select unit, unit_price, duration_minutes, funding from services where institution_id = $1 and code = $2",
    )
    .bind(institution)
    .bind(service_code)
    .fetch_optional(&mut *conn)
    .await?;
    let Some((unit, unit_price, duration, funding)) = found else { return Ok(None) };
    let funding: Vec<Funding> = funding.iter().filter_map(|f| Funding::parse(f)).collect();
    let funding = crate::domain::care::requested_funding(None, &funding);
    let minutes = i64::from(duration);
    let amount = billing::visit_amount(unit, Fen::from_yuan_f64(unit_price), minutes);
    if funding == Funding::Institution {
        return Ok(Some((amount, Fen::ZERO)));
    }
    let service = visit_service(conn, institution).await?;
    let entitlements = applications::entitlements(conn, resident, month_of(date)).await?;
    let in_force: Vec<Entitlement> = entitlements.into_iter().filter(|e| e.from <= date && e.until >= date).collect();
    let lines = lines_under(pick(&in_force, service, funding), amount, minutes);
    Ok(Some((amount, Fen::sum(lines.iter().map(|l| l.elder_amount)))))
}

/// Prices a delivered meal order, once.
pub async fn price_meal(tx: &mut PgConnection, order: Uuid) -> Result<usize, sqlx::Error> {
    let found: Option<(Uuid, Uuid, NaiveDate, String, f64, String)> =
        sqlx::query_as("select institution_id, resident_id, date, meal, price, status from meal_orders where id = $1")
            .bind(order)
            .fetch_optional(&mut *tx)
            .await?;
    let Some((institution, resident, date, meal, price, status)) = found else { return Ok(0) };
    if status != "delivered" || priced(tx, LineKind::Meal, order).await? {
        return Ok(0);
    }
    let reached = Reached::<Identity>::for_the_platform(resident);
    let entitlements = applications::in_force_locked(tx, &reached, date, month_of(date)).await?;
    let subsidy = entitlements
        .iter()
        .filter(|e| e.services.contains(&Service::Meals))
        .find_map(|e| e.per_meal_subsidy.filter(|s| s.0 > 0).map(|s| (e, s)));
    let line = billing::price_meal(Fen::from_yuan_f64(price), subsidy.map(|(e, s)| (e.payer, s)));
    let entitlement = subsidy.filter(|_| line.payer.is_some()).map(|(e, _)| e.id);
    insert_line(tx, LineKind::Meal, order, institution, resident, date, &meal, &line, entitlement).await?;
    Ok(1)
}

async fn priced(conn: &mut PgConnection, kind: LineKind, reference: Uuid) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("select exists (select 1 from bill_lines where kind = $1 and ref = $2)")
        .bind(kind)
        .bind(reference)
        .fetch_one(conn)
        .await
}

#[allow(clippy::too_many_arguments)]
async fn insert_line(
    tx: &mut PgConnection,
    kind: LineKind,
    reference: Uuid,
    institution: Uuid,
    resident: Uuid,
    date: NaiveDate,
    service: &str,
    line: &Priced,
    entitlement: Option<Uuid>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into bill_lines (id, institution_id, resident_id, kind, ref, date, month, service, minutes, amount_fen,
             payer, entitlement_id, payer_fen, elder_fen, over_quota)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
         on conflict on constraint bill_lines_once do nothing",
    )
    .bind(Uuid::new_v4())
    .bind(institution)
    .bind(resident)
    .bind(kind)
    .bind(reference)
    .bind(date)
    .bind(month_of(date))
    .bind(service)
    .bind(line.minutes.map(|m| m as i32))
    .bind(line.amount.0)
    .bind(line.payer)
    .bind(entitlement)
    .bind(line.payer_amount.0)
    .bind(line.elder_amount.0)
    .bind(line.over_quota)
    .execute(tx)
    .await
    .map(drop)
}

/// One line of a bill, as the contract shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct BillLine {
    pub kind: LineKind,
    /// The visit's or meal order's id.
    #[serde(rename = "ref")]
    pub reference: Uuid,
    pub date: NaiveDate,
    /// The service's code, or the meal.
    pub service: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub minutes: Option<i64>,
    pub amount: Fen,
    #[schema(required = true)]
    pub payer: Option<Payer>,
    pub payer_amount: Fen,
    pub elder_amount: Fen,
    pub over_quota: bool,
    /// The provider that delivered it.
    pub institution_id: Uuid,
    pub institution_name: String,
}

#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct Totals {
    pub amount: Fen,
    pub payer_amount: Fen,
    pub elder_amount: Fen,
}

impl Totals {
    pub fn of<'a>(lines: impl IntoIterator<Item = (&'a Fen, &'a Fen, &'a Fen)>) -> Totals {
        let mut totals = Totals::default();
        for (amount, payer, elder) in lines {
            totals.amount = totals.amount + *amount;
            totals.payer_amount = totals.payer_amount + *payer;
            totals.elder_amount = totals.elder_amount + *elder;
        }
        totals
    }
}

type LineRow = (LineKind, Uuid, NaiveDate, String, Option<i32>, i64, Option<Payer>, i64, i64, bool, Uuid, String);

fn bill_line(r: LineRow) -> BillLine {
    BillLine {
        kind: r.0,
        reference: r.1,
        date: r.2,
        service: r.3,
        minutes: r.4.map(i64::from),
        amount: Fen(r.5),
        payer: r.6,
        payer_amount: Fen(r.7),
        elder_amount: Fen(r.8),
        over_quota: r.9,
        institution_id: r.10,
        institution_name: r.11,
    }
}

/// The elder's bill lines of a month, by date; `institutions` limits them
/// to those providers' (`None`: all, for the family).
pub async fn bill(
    pool: &PgPool,
    resident: &Reached<Identity>,
    month: NaiveDate,
    institutions: Option<&[Uuid]>,
) -> Result<Vec<BillLine>, sqlx::Error> {
    let rows: Vec<LineRow> = sqlx::query_as(
        "select b.kind, b.ref, b.date, b.service, b.minutes, b.amount_fen, b.payer, b.payer_fen, b.elder_fen,
                b.over_quota, b.institution_id, i.name
         from bill_lines b join institutions i on i.id = b.institution_id
         where b.resident_id = $1 and b.month = $2 and ($3::uuid[] is null or b.institution_id = any($3))
         order by b.date, b.kind, b.ref, b.over_quota",
    )
    .bind(resident.id())
    .bind(month)
    .bind(institutions)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(bill_line).collect())
}

#[derive(sqlx::FromRow)]
struct ResidentLineRow {
    resident_id: Uuid,
    kind: LineKind,
    #[sqlx(rename = "ref")]
    reference: Uuid,
    date: NaiveDate,
    service: String,
    minutes: Option<i32>,
    amount_fen: i64,
    payer: Option<Payer>,
    payer_fen: i64,
    elder_fen: i64,
    over_quota: bool,
    institution_id: Uuid,
    name: String,
}

/// The month-end bills of every elder an institution billed in a month,
/// in one pass (the benchmark's, and a provider's statement run).
pub async fn bills_of_institution(
    pool: &PgPool,
    scope: &Scope,
    month: NaiveDate,
) -> Result<Vec<(Uuid, Vec<BillLine>)>, sqlx::Error> {
    let Some(institution) = scope.institution.filter(|_| scope.may_care()) else { return Ok(Vec::new()) };
    let rows: Vec<ResidentLineRow> = sqlx::query_as(
        "select b.resident_id, b.kind, b.ref, b.date, b.service, b.minutes, b.amount_fen, b.payer, b.payer_fen,
                    b.elder_fen, b.over_quota, b.institution_id, i.name
             from bill_lines b join institutions i on i.id = b.institution_id
             where b.institution_id = $1 and b.month = $2
             order by b.resident_id, b.date, b.kind, b.ref, b.over_quota",
    )
    .bind(institution)
    .bind(month)
    .fetch_all(pool)
    .await?;
    let mut out: Vec<(Uuid, Vec<BillLine>)> = Vec::new();
    for r in rows {
        let resident_id = r.resident_id;
        let line = bill_line((
            r.kind,
            r.reference,
            r.date,
            r.service,
            r.minutes,
            r.amount_fen,
            r.payer,
            r.payer_fen,
            r.elder_fen,
            r.over_quota,
            r.institution_id,
            r.name,
        ));
        match out.last_mut() {
            Some((resident, lines)) if *resident == resident_id => lines.push(line),
            _ => out.push((resident_id, vec![line])),
        }
    }
    Ok(out)
}
