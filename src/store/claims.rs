//! Claims: a provider's month of what a payer owes, line by line, and the
//! payer's decision on each. The schema holds the rules that money rests
//! on: a bill line is in at most one claim that has not rejected it, and in
//! two claims at most (once, and once more after a rejection).

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use sqlx::{PgConnection, PgPool, QueryBuilder};
use uuid::Uuid;

use crate::domain::billing::{ClaimLineStatus, ClaimStatus, Fen, LineDecision, LineKind, Payer};
use crate::domain::{Role, Scope};

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ClaimLine {
    pub id: Uuid,
    pub kind: LineKind,
    #[serde(rename = "ref")]
    pub reference: Uuid,
    pub resident_id: Uuid,
    pub date: NaiveDate,
    pub service: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub minutes: Option<i64>,
    pub amount: Fen,
    pub payer_amount: Fen,
    /// 1, or 2 for a line claimed again after a rejection.
    pub attempt: i16,
    pub status: ClaimLineStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Claim {
    pub id: Uuid,
    pub institution_id: Uuid,
    pub institution_name: String,
    pub payer: Payer,
    /// `YYYY-MM`.
    pub month: String,
    pub status: ClaimStatus,
    pub total_claimed: Fen,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_accepted: Option<Fen>,
    pub created_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub closed_at: Option<DateTime<Utc>>,
    pub lines: Vec<ClaimLine>,
}

type ClaimRow =
    (Uuid, Uuid, String, Payer, NaiveDate, ClaimStatus, i64, Option<i64>, DateTime<Utc>, Option<DateTime<Utc>>);

const CLAIM_COLUMNS: &str = "c.id, c.institution_id, i.name, c.payer, c.month, c.status, c.claimed_fen, c.accepted_fen,
    c.created_at, c.closed_at";

fn claim(r: ClaimRow) -> Claim {
    Claim {
        id: r.0,
        institution_id: r.1,
        institution_name: r.2,
        payer: r.3,
        month: r.4.format("%Y-%m").to_string(),
        status: r.5,
        total_claimed: Fen(r.6),
        total_accepted: r.7.map(Fen),
        created_at: r.8,
        closed_at: r.9,
        lines: Vec::new(),
    }
}

/// Builds the claim of `institution` to `payer` for `month`: every line
/// of the month the payer owes and nobody has claimed, and every line of
/// that month or earlier rejected once, in a claim since closed (the
/// rejection final), and not yet claimed again. `None` when there is
/// nothing to claim.
pub async fn create(
    tx: &mut PgConnection,
    scope: &Scope,
    payer: Payer,
    month: NaiveDate,
) -> Result<Option<Uuid>, sqlx::Error> {
    let (Some(institution), true) = (scope.institution, scope.may_administer()) else { return Ok(None) };
    let by = scope.user;
    // One claim built at a time per provider and payer: two at once would
    // race for the same lines (the unique index would refuse the second).
    sqlx::query("select pg_advisory_xact_lock(hashtextextended($1::text || $2, 0))")
        .bind(institution)
        .bind(payer)
        .execute(&mut *tx)
        .await?;
    // The selection's estimated cost (a probe per line) is high enough to
    // make PostgreSQL compile it, which costs more than it saves: a tenth
    // of a 60,000-line claim's time.
    sqlx::query("set local jit = off").execute(&mut *tx).await?;
    let id = Uuid::new_v4();
    sqlx::query(
        "insert into claims (id, institution_id, payer, month, status, claimed_fen, created_by)
         values ($1, $2, $3, $4, 'submitted', 0, $5)",
    )
    .bind(id)
    .bind(institution)
    .bind(payer)
    .bind(month)
    .bind(by)
    .execute(&mut *tx)
    .await?;
    let added = sqlx::query(
        "insert into claim_lines (id, claim_id, bill_line_id, attempt)
         select gen_random_uuid(), $1, b.id, coalesce(prior.tries, 0) + 1
         from bill_lines b
         left join lateral (select count(*)::smallint as tries,
                                   bool_and(cl.status = 'rejected' and pc.status = 'closed') as all_rejected
                            from claim_lines cl join claims pc on pc.id = cl.claim_id
                            where cl.bill_line_id = b.id) prior on true
         where b.institution_id = $2 and b.payer = $3 and b.payer_fen > 0 and b.month <= $4
           and ((prior.tries = 0 and b.month = $4) or (prior.tries = 1 and prior.all_rejected))
           -- A visit no longer verified (a dispute open on it) waits out of claims.
           and not exists (select 1 from visits v where b.kind = 'visit' and v.id = b.ref and not v.verified)",
    )
    .bind(id)
    .bind(institution)
    .bind(payer)
    .bind(month)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if added == 0 {
        sqlx::query("delete from claims where id = $1").bind(id).execute(&mut *tx).await?;
        return Ok(None);
    }
    sqlx::query(
        "update claims set claimed_fen = (select coalesce(sum(b.payer_fen), 0) from claim_lines cl
                                          join bill_lines b on b.id = cl.bill_line_id where cl.claim_id = $1)
         where id = $1",
    )
    .bind(id)
    .execute(tx)
    .await?;
    Ok(Some(id))
}

/// Appends ` and <the claim is the scope's>` over `claims c` joined to its
/// provider `institutions i`: the provider's own; the fund's insurer the
/// LTC claims of providers in the fund's division; the bureau the subsidy
/// claims of providers in its division.
pub(super) fn push_visible(query: &mut QueryBuilder<sqlx::Postgres>, scope: &Scope) {
    match (scope.role, scope.institution) {
        (Role::Insurer, Some(fund)) => {
            query.push(
                " and c.payer = 'ltc_insurance' and starts_with(i.division, (select f.division from institutions f",
            );
            query.push(" where f.id = ").push_bind(fund).push(" and f.kind = 'ltc_fund'))");
        }
        (Role::CivilAffairs, None) => {
            query.push(" and c.payer = 'civil_affairs' and starts_with(i.division, (select u.division from users u");
            query.push(" where u.id = ").push_bind(scope.user).push("))");
        }
        (Role::Admin | Role::Staff, Some(own)) => {
            query.push(" and c.institution_id = ").push_bind(own);
        }
        _ => {
            query.push(" and false");
        }
    }
}

/// Whether the scope decides this claim's lines (the payer's side).
pub fn decides(scope: &Scope, payer: Payer) -> bool {
    matches!((scope.role, payer), (Role::Insurer, Payer::LtcInsurance) | (Role::CivilAffairs, Payer::CivilAffairs))
}

pub async fn list(
    pool: &PgPool,
    scope: &Scope,
    status: Option<ClaimStatus>,
    month: Option<NaiveDate>,
    limit: i64,
) -> Result<Vec<Claim>, sqlx::Error> {
    let mut query = QueryBuilder::new(format!(
        "select {CLAIM_COLUMNS} from claims c join institutions i on i.id = c.institution_id where true"
    ));
    push_visible(&mut query, scope);
    if let Some(status) = status {
        query.push(" and c.status = ").push_bind(status);
    }
    if let Some(month) = month {
        query.push(" and c.month = ").push_bind(month);
    }
    query.push(" order by c.created_at desc, c.id limit ").push_bind(limit);
    let rows: Vec<ClaimRow> = query.build_query_as().fetch_all(pool).await?;
    Ok(rows.into_iter().map(claim).collect())
}

/// A claim the scope sees, with its lines; `lock` holds it for a change.
pub async fn fetch(conn: &mut PgConnection, scope: &Scope, id: Uuid, lock: bool) -> Result<Option<Claim>, sqlx::Error> {
    let mut query = QueryBuilder::new(format!(
        "select {CLAIM_COLUMNS} from claims c join institutions i on i.id = c.institution_id where c.id = "
    ));
    query.push_bind(id);
    push_visible(&mut query, scope);
    if lock {
        query.push(" for update of c");
    }
    let Some(row) = query.build_query_as::<ClaimRow>().fetch_optional(&mut *conn).await? else { return Ok(None) };
    let mut found = claim(row);
    found.lines = lines(conn, id).await?;
    Ok(Some(found))
}

type LineRow =
    (Uuid, LineKind, Uuid, Uuid, NaiveDate, String, Option<i32>, i64, i64, i16, ClaimLineStatus, Option<String>);

async fn lines(conn: &mut PgConnection, claim: Uuid) -> Result<Vec<ClaimLine>, sqlx::Error> {
    let rows: Vec<LineRow> = sqlx::query_as(
        "select cl.id, b.kind, b.ref, b.resident_id, b.date, b.service, b.minutes, b.amount_fen, b.payer_fen,
                cl.attempt, cl.status, cl.reason
         from claim_lines cl join bill_lines b on b.id = cl.bill_line_id
         where cl.claim_id = $1 order by b.date, b.resident_id, b.kind, b.ref",
    )
    .bind(claim)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| ClaimLine {
            id: r.0,
            kind: r.1,
            reference: r.2,
            resident_id: r.3,
            date: r.4,
            service: r.5,
            minutes: r.6.map(i64::from),
            amount: Fen(r.7),
            payer_amount: Fen(r.8),
            attempt: r.9,
            status: r.10,
            reason: r.11,
        })
        .collect())
}

/// Records the payer's decision on one line of a claim still open.
/// `false` when the claim has no such line.
pub async fn decide_line(
    tx: &mut PgConnection,
    claim: Uuid,
    line: Uuid,
    decision: LineDecision,
    reason: Option<&str>,
    by: Uuid,
) -> Result<bool, sqlx::Error> {
    let status = match decision {
        LineDecision::Accept => ClaimLineStatus::Accepted,
        LineDecision::Reject => ClaimLineStatus::Rejected,
    };
    let done = sqlx::query(
        "update claim_lines set status = $3, reason = $4, decided_by = $5, decided_at = now()
         where claim_id = $1 and id = $2",
    )
    .bind(claim)
    .bind(line)
    .bind(status)
    .bind(reason)
    .bind(by)
    .execute(tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Closes a claim whose every line is decided: the accepted total.
pub async fn close(tx: &mut PgConnection, claim: Uuid, by: Uuid) -> Result<Fen, sqlx::Error> {
    let accepted: i64 = sqlx::query_scalar(
        "update claims set status = 'closed', closed_by = $2, closed_at = now(),
             accepted_fen = (select coalesce(sum(b.payer_fen), 0) from claim_lines cl
                             join bill_lines b on b.id = cl.bill_line_id
                             where cl.claim_id = $1 and cl.status = 'accepted')
         where id = $1 returning accepted_fen",
    )
    .bind(claim)
    .bind(by)
    .fetch_one(tx)
    .await?;
    Ok(Fen(accepted))
}

/// One row of a claim's export, in the columns a fund's system imports.
#[derive(Debug, sqlx::FromRow)]
pub struct ExportRow {
    pub line_id: Uuid,
    pub provider_id: Uuid,
    pub provider_name: String,
    pub resident_id: Uuid,
    pub resident_name: String,
    pub id_number_masked: Option<String>,
    pub kind: String,
    pub reference: Uuid,
    pub date: NaiveDate,
    pub service: String,
    pub minutes: Option<i32>,
    pub amount_fen: i64,
    pub payer_fen: i64,
    pub elder_fen: i64,
    pub attempt: i16,
    pub status: String,
    pub reason: Option<String>,
}

pub async fn export(conn: &mut PgConnection, claim: Uuid) -> Result<Vec<ExportRow>, sqlx::Error> {
    sqlx::query_as(
        "select cl.id as line_id, c.institution_id as provider_id, i.name as provider_name, b.resident_id,
                r.name as resident_name, r.id_number_masked, b.kind, b.ref as reference, b.date, b.service, b.minutes,
                b.amount_fen, b.payer_fen, b.elder_fen, cl.attempt, cl.status, cl.reason
         from claim_lines cl join claims c on c.id = cl.claim_id join bill_lines b on b.id = cl.bill_line_id
         join institutions i on i.id = c.institution_id join residents r on r.id = b.resident_id
         where cl.claim_id = $1 order by b.date, b.resident_id, b.kind, b.ref",
    )
    .bind(claim)
    .fetch_all(conn)
    .await
}
