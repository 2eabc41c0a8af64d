//! The chain a record belongs to, read step by step, each step only as far
//! as the caller's scope reaches it: alert → visit → EVV record → bill
//! line → claim line → decision, with the audit entries of each.
//!
//! Two readers. Those who reach the elder (her institutions' staff, her
//! family) read the care side and the money side their scope grants; the
//! payers (the fund's insurer, the bureau) reach no elder's care and read
//! only the lines claimed from them, as `GET /claims/{id}` shows them.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use sqlx::{PgPool, Postgres, QueryBuilder};
use uuid::Uuid;

use crate::domain::scope::{Identity, Placed, Reached};
use crate::domain::trace::{Belongs, TraceKind, TraceStepKind, belongs};
use crate::domain::{Role, Scope};

/// The records a chain is made of, found from the one asked about before
/// anyone's reach is judged (a 404 follows when the caller reaches none of
/// it): its resident, the alert, the visits sent for it (or the one visit),
/// and a meal's bill line, which has no visit above it.
#[derive(Debug, Clone)]
pub struct Links {
    /// Whose chain it is: the caller must reach her to read its care side.
    pub resident: Uuid,
    alert: Option<Uuid>,
    visits: Vec<Uuid>,
    meal_lines: Vec<Uuid>,
}

type LinkRow = (Uuid, Option<Uuid>, Vec<Uuid>, Vec<Uuid>);

/// Finds the chain of the record `id` of `kind`. An alert's chain holds
/// every visit sent for it; a visit's, bill line's or claim line's holds
/// its one visit and the alert it was sent for. `None` when the record does
/// not exist or is about no resident.
pub async fn links(pool: &PgPool, kind: TraceKind, id: Uuid) -> Result<Option<Links>, sqlx::Error> {
    let sql = match kind {
        TraceKind::Alert => {
            "select a.resident_id, a.id,
                    coalesce(array_agg(v.id order by v.created_at, v.id) filter (where v.id is not null), '{}'),
                    '{}'::uuid[]
             from alerts a left join visits v on v.alert_id = a.id
             where a.id = $1 and a.resident_id is not null group by a.id"
        }
        TraceKind::Visit => "select v.resident_id, v.alert_id, array[v.id], '{}'::uuid[] from visits v where v.id = $1",
        TraceKind::BillLine => {
            "select b.resident_id, v.alert_id, case when v.id is null then '{}' else array[v.id] end,
                    case when b.kind = 'meal' then array[b.id] else '{}' end
             from bill_lines b left join visits v on b.kind = 'visit' and v.id = b.ref where b.id = $1"
        }
        TraceKind::ClaimLine => {
            "select b.resident_id, v.alert_id, case when v.id is null then '{}' else array[v.id] end,
                    case when b.kind = 'meal' then array[b.id] else '{}' end
             from claim_lines cl join bill_lines b on b.id = cl.bill_line_id
             left join visits v on b.kind = 'visit' and v.id = b.ref where cl.id = $1"
        }
    };
    let row: Option<LinkRow> = sqlx::query_as(sql).bind(id).fetch_optional(pool).await?;
    Ok(row.map(|(resident, alert, visits, meal_lines)| Links { resident, alert, visits, meal_lines }))
}

/// A person who did a step, or made an audit entry.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = TracePerson)]
pub struct Person {
    pub id: Uuid,
    pub name: String,
    pub role: Role,
}

/// An audit entry of a step: enough to find it in the trail and check it
/// against the chain (`GET /audit/verify`), none of its personal values.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = TraceAudit)]
pub struct AuditRef {
    /// The entry's id: its place in its institution's chain.
    pub id: i64,
    pub action: String,
    pub at: DateTime<Utc>,
    /// `null` for the platform's own work.
    pub actor: Option<Person>,
    /// The entry's chained hash, hex.
    pub hash: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = TraceStep)]
pub struct Step {
    pub kind: TraceStepKind,
    /// The record's id; the EVV record is its visit's, a decision is its
    /// claim line's.
    pub id: Uuid,
    /// When the step happened: the alert opened, the visit made, the
    /// check-in, the line priced, the claim submitted, the line decided.
    pub at: DateTime<Utc>,
    /// Who did it; absent for the platform's own work (an alert a device
    /// raised, a line priced when its visit was verified).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub by: Option<Person>,
    /// What the step was, by kind (see the operation's description).
    #[schema(value_type = Object)]
    pub summary: Value,
    /// Oldest first.
    pub audit: Vec<AuditRef>,
}

fn person(id: Option<Uuid>, name: Option<String>, role: Option<Role>) -> Option<Person> {
    Some(Person { id: id?, name: name?, role: role? })
}

fn step(kind: TraceStepKind, id: Uuid, at: DateTime<Utc>, by: Option<Person>, summary: Value) -> Step {
    Step { kind, id, at, by, summary, audit: Vec::new() }
}

/// The chain as a caller who reaches its elder reads it: the alert as
/// their scope reaches alerts, their visits (and their EVV records), bill
/// lines (an institution its own, the family every provider's) and the
/// claims their scope sees (an institution's own; the family none).
pub async fn chain(
    pool: &PgPool,
    scope: &Scope,
    resident: &Reached<Identity>,
    links: &Links,
) -> Result<Vec<Step>, sqlx::Error> {
    let resident = resident.id();
    let alert = match links.alert {
        Some(id) => alert_step(pool, scope, resident, id).await?,
        None => None,
    };
    let visits = visit_steps(pool, scope, resident, &links.visits).await?;
    let mut lines = QueryBuilder::new(format!("{LINE_SELECT} where b.resident_id = "));
    lines.push_bind(resident);
    push_lines_of(&mut lines, links);
    match (scope.role, scope.institution) {
        (Role::Admin | Role::Staff, Some(own)) => {
            lines.push(" and b.institution_id = ").push_bind(own);
        }
        // Her family reads her whole bill, every provider's lines.
        (Role::Family, _) => {}
        _ => {
            lines.push(" and false");
        }
    }
    let lines = line_steps(pool, lines).await?;
    assemble(pool, scope, alert, visits, lines).await
}

/// The money side of the chain as a payer reads it: the lines claimed from
/// it (the claims `GET /claims` shows it), their claim lines and decisions.
pub async fn money_chain(pool: &PgPool, scope: &Scope, links: &Links) -> Result<Vec<Step>, sqlx::Error> {
    let mut lines = QueryBuilder::new(format!("{LINE_SELECT} where true"));
    push_lines_of(&mut lines, links);
    lines.push(
        " and exists (select 1 from claim_lines cl join claims c on c.id = cl.claim_id
                      join institutions i on i.id = c.institution_id where cl.bill_line_id = b.id",
    );
    super::claims::push_visible(&mut lines, scope);
    lines.push(")");
    let lines = line_steps(pool, lines).await?;
    assemble(pool, scope, None, Vec::new(), lines).await
}

async fn alert_step(pool: &PgPool, scope: &Scope, resident: Uuid, id: Uuid) -> Result<Option<Step>, sqlx::Error> {
    let mut query = QueryBuilder::new(
        "select a.id, a.opened_at,
                jsonb_build_object('kind', a.kind, 'severity', a.severity, 'status', a.status,
                    'resolution', a.resolution, 'device_id', a.device_id, 'acknowledged_at', a.acknowledged_at,
                    'acknowledged_by', a.acknowledged_by, 'resolved_at', a.resolved_at, 'resolved_by', a.resolved_by)
         from alerts a where a.id = ",
    );
    query.push_bind(id).push(" and a.resident_id = ").push_bind(resident);
    scope.push_filter(&mut query, Placed::ALERTS);
    let row: Option<(Uuid, DateTime<Utc>, Value)> = query.build_query_as().fetch_optional(pool).await?;
    Ok(row.map(|(id, at, summary)| step(TraceStepKind::Alert, id, at, None, summary)))
}

type VisitRow = (
    Uuid,
    DateTime<Utc>,
    Option<Uuid>,
    Option<String>,
    Option<Role>,
    Value,
    Option<DateTime<Utc>>,
    Option<Uuid>,
    Option<String>,
    Option<Role>,
    Value,
);

/// A visit and, once someone checked in, its EVV record.
async fn visit_steps(
    pool: &PgPool,
    scope: &Scope,
    resident: Uuid,
    ids: &[Uuid],
) -> Result<Vec<(Step, Option<Step>)>, sqlx::Error> {
    let mut query = QueryBuilder::new(
        "select v.id, v.created_at, ru.id, ru.name, ru.role,
                jsonb_build_object('service_code', s.code, 'service_name', s.name, 'origin', v.origin,
                    'status', v.status, 'funding', v.funding, 'scheduled_start', v.scheduled_start,
                    'caregiver_id', v.caregiver_id, 'alert_id', v.alert_id),
                v.check_in_at, cu.id, cu.name, cu.role,
                jsonb_build_object('check_in_at', v.check_in_at, 'check_out_at', v.check_out_at,
                    'start', coalesce(v.start_corrected, v.check_in_at),
                    'end', coalesce(v.end_corrected, v.check_out_at),
                    'minutes', (greatest(0, trunc(extract(epoch from coalesce(v.end_corrected, v.check_out_at)
                                  - coalesce(v.start_corrected, v.check_in_at))))::bigint + 30) / 60,
                    'method', v.check_in->'method', 'distance_m', v.check_in->'distance_m',
                    'exceptions', to_jsonb(v.exceptions),
                    'resolved', (select coalesce(jsonb_agg(x->'code'), '[]') from jsonb_array_elements(v.resolved) x),
                    'amended', jsonb_array_length(v.amendments) > 0, 'verified', v.verified)
         from visits v join services s on s.id = v.service_id
         left join users ru on ru.id = v.requested_by left join users cu on cu.id = v.caregiver_id
         where v.id = any(",
    );
    query.push_bind(ids.to_vec()).push(") and v.resident_id = ").push_bind(resident);
    scope.push_visits_filter(&mut query);
    query.push(" order by v.created_at, v.id");
    let rows: Vec<VisitRow> = query.build_query_as().fetch_all(pool).await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let visit = step(TraceStepKind::Visit, r.0, r.1, person(r.2, r.3, r.4), r.5);
            let evv = r.6.map(|at| step(TraceStepKind::Evv, r.0, at, person(r.7, r.8, r.9), r.10));
            (visit, evv)
        })
        .collect())
}

const LINE_SELECT: &str = "select b.id, b.ref, b.created_at,
        jsonb_build_object('kind', b.kind, 'ref', b.ref, 'date', b.date, 'month', to_char(b.month, 'YYYY-MM'),
            'service', b.service, 'minutes', b.minutes, 'amount', round(b.amount_fen / 100.0, 2),
            'payer', b.payer, 'payer_amount', round(b.payer_fen / 100.0, 2),
            'elder_amount', round(b.elder_fen / 100.0, 2), 'over_quota', b.over_quota)
    from bill_lines b";

/// ` and <the line is one of the chain's>`: its visits' lines, or its meal's.
fn push_lines_of(query: &mut QueryBuilder<Postgres>, links: &Links) {
    query.push(" and ((b.kind = 'visit' and b.ref = any(").push_bind(links.visits.clone());
    query.push(")) or b.id = any(").push_bind(links.meal_lines.clone()).push("))");
}

/// A bill line: the record it prices (a visit's id for a visit) and its step.
struct Line {
    reference: Uuid,
    step: Step,
}

async fn line_steps(pool: &PgPool, mut query: QueryBuilder<Postgres>) -> Result<Vec<Line>, sqlx::Error> {
    // Within the quota first: the order a visit crossing it was priced in.
    query.push(" order by b.over_quota, b.created_at, b.id");
    let rows: Vec<(Uuid, Uuid, DateTime<Utc>, Value)> = query.build_query_as().fetch_all(pool).await?;
    Ok(rows
        .into_iter()
        .map(|(id, reference, at, summary)| Line {
            reference,
            step: step(TraceStepKind::BillLine, id, at, None, summary),
        })
        .collect())
}

type ClaimRow = (
    Uuid,
    Uuid,
    Uuid,
    DateTime<Utc>,
    Option<Uuid>,
    Option<String>,
    Option<Role>,
    Value,
    Option<DateTime<Utc>>,
    Option<Uuid>,
    Option<String>,
    Option<Role>,
    Value,
);

/// A claim line of one of `lines`: which bill line and claim, its step, and
/// once decided the decision's.
struct Claimed {
    bill_line: Uuid,
    claim: Uuid,
    step: Step,
    decision: Option<Step>,
}

async fn claim_steps(pool: &PgPool, scope: &Scope, lines: &[Uuid]) -> Result<Vec<Claimed>, sqlx::Error> {
    let mut query = QueryBuilder::new(
        "select cl.id, cl.bill_line_id, c.id, c.created_at, cu.id, cu.name, cu.role,
                jsonb_build_object('claim_id', c.id, 'payer', c.payer, 'month', to_char(c.month, 'YYYY-MM'),
                    'claim_status', c.status, 'attempt', cl.attempt, 'status', cl.status,
                    'payer_amount', round(b.payer_fen / 100.0, 2)),
                cl.decided_at, du.id, du.name, du.role,
                jsonb_build_object('decision', cl.status, 'reason', cl.reason)
         from claim_lines cl join claims c on c.id = cl.claim_id join institutions i on i.id = c.institution_id
         join bill_lines b on b.id = cl.bill_line_id
         left join users cu on cu.id = c.created_by left join users du on du.id = cl.decided_by
         where cl.bill_line_id = any(",
    );
    query.push_bind(lines.to_vec()).push(")");
    super::claims::push_visible(&mut query, scope);
    query.push(" order by cl.attempt, c.created_at, cl.id");
    let rows: Vec<ClaimRow> = query.build_query_as().fetch_all(pool).await?;
    Ok(rows
        .into_iter()
        .map(|r| Claimed {
            bill_line: r.1,
            claim: r.2,
            step: step(TraceStepKind::ClaimLine, r.0, r.3, person(r.4, r.5, r.6), r.7),
            decision: r.8.map(|at| step(TraceStepKind::Decision, r.0, at, person(r.9, r.10, r.11), r.12)),
        })
        .collect())
}

/// Puts the steps in the order the work went, depth first (each visit, its
/// record, its lines, each line's claims and decisions), and gives each
/// its audit entries.
async fn assemble(
    pool: &PgPool,
    scope: &Scope,
    alert: Option<Step>,
    visits: Vec<(Step, Option<Step>)>,
    lines: Vec<Line>,
) -> Result<Vec<Step>, sqlx::Error> {
    let line_ids: Vec<Uuid> = lines.iter().map(|l| l.step.id).collect();
    let claimed = if line_ids.is_empty() { Vec::new() } else { claim_steps(pool, scope, &line_ids).await? };
    // Each step with the claim it is of, for the claims' audit entries.
    let mut ordered: Vec<(Step, Option<Uuid>)> = alert.into_iter().map(|a| (a, None)).collect();
    let push_line = |ordered: &mut Vec<(Step, Option<Uuid>)>, line: &Line| {
        ordered.push((line.step.clone(), None));
        for c in claimed.iter().filter(|c| c.bill_line == line.step.id) {
            ordered.push((c.step.clone(), Some(c.claim)));
            ordered.extend(c.decision.clone().map(|d| (d, Some(c.claim))));
        }
    };
    let mut placed = vec![false; lines.len()];
    for (visit, evv) in visits {
        let visit_id = visit.id;
        ordered.push((visit, None));
        ordered.extend(evv.map(|e| (e, None)));
        for (i, line) in lines.iter().enumerate() {
            if line.reference == visit_id {
                placed[i] = true;
                push_line(&mut ordered, line);
            }
        }
    }
    // Lines whose visit the caller does not see (a payer's), and meals'.
    for (line, _) in lines.iter().zip(&placed).filter(|(_, placed)| !**placed) {
        push_line(&mut ordered, line);
    }
    attach_audit(pool, &mut ordered).await?;
    Ok(ordered.into_iter().map(|(s, _)| s).collect())
}

type AuditRow = (
    i64,
    String,
    DateTime<Utc>,
    String,
    Option<String>,
    Vec<u8>,
    Option<Uuid>,
    Option<String>,
    Option<Role>,
    Option<String>,
);

/// Gives each step the audit entries that speak for it (see
/// [`belongs`]); `steps` carry the claim each claim step is of.
async fn attach_audit(pool: &PgPool, steps: &mut [(Step, Option<Uuid>)]) -> Result<(), sqlx::Error> {
    let ids = |kind: TraceStepKind| -> Vec<String> {
        steps.iter().filter(|(s, _)| s.kind == kind).map(|(s, _)| s.id.to_string()).collect()
    };
    let alerts = ids(TraceStepKind::Alert);
    let visits = ids(TraceStepKind::Visit);
    let mut claims: Vec<String> = steps.iter().filter_map(|(_, c)| c.map(|c| c.to_string())).collect();
    claims.sort_unstable();
    claims.dedup();
    if alerts.is_empty() && visits.is_empty() && claims.is_empty() {
        return Ok(());
    }
    let rows: Vec<AuditRow> = sqlx::query_as(
        "select a.id, a.action, a.at, a.entity, a.entity_id, a.hash, u.id, u.name, u.role,
                p.details::jsonb->>'line_id'
         from audit_log a left join users u on u.id = a.actor_id left join audit_personal p on p.entry_id = a.id
         where (a.entity = 'alert' and a.entity_id = any($1)) or (a.entity = 'visit' and a.entity_id = any($2))
            or (a.entity = 'claim' and a.entity_id = any($3))
         order by a.id",
    )
    .bind(&alerts)
    .bind(&visits)
    .bind(&claims)
    .fetch_all(pool)
    .await?;
    for r in rows {
        let line = r.9.as_deref().and_then(|l| Uuid::parse_str(l).ok());
        let to = belongs(&r.3, r.4.as_deref().unwrap_or_default(), &r.1, line);
        let entry = AuditRef { id: r.0, action: r.1, at: r.2, actor: person(r.6, r.7, r.8), hash: hex::encode(&r.5) };
        for (step, claim) in steps.iter_mut() {
            let here = match to {
                Belongs::Step(kind, id) => step.kind == kind && step.id == id,
                Belongs::ClaimLines(c) => step.kind == TraceStepKind::ClaimLine && *claim == Some(c),
                Belongs::Decision(line) => step.kind == TraceStepKind::Decision && step.id == line,
                Belongs::Decisions(c) => step.kind == TraceStepKind::Decision && *claim == Some(c),
                Belongs::Nowhere => false,
            };
            if here {
                step.audit.push(entry.clone());
            }
        }
    }
    Ok(())
}
