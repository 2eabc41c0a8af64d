//! Properties of public money held by the store on a real PostgreSQL, over
//! random sequences of what providers and payers do:
//! - whatever the order of claims, decisions and closings, no bill line is
//!   in two claims that did not reject it, none is claimed more than twice,
//!   and a claim holds only its payer's lines of its provider;
//! - a visit's lines never change once priced, whatever happens to the
//!   entitlement afterwards (its quota, its co-payment, its end), and they
//!   always make the visit's amount.

use chrono::NaiveDate;
use eldercare::domain::billing::{Fen, LineDecision, Payer};
use eldercare::domain::care::Funding;
use eldercare::domain::{Role, Scope};
use eldercare::store::{self, billing, claims};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use sqlx::PgPool;
use uuid::Uuid;

use crate::support::fresh_database;

/// A provider (the bootstrap-free way: one institution row), its admin's
/// scope and one elder, in a freshly migrated database.
async fn world(pool: &PgPool) -> (Scope, Uuid) {
    let institution = Uuid::new_v4();
    sqlx::query("insert into institutions (id, name, kind, timezone) values ($1, 'Harbour Home Care', 'home_care', 'Asia/Shanghai')")
        .bind(institution)
        .execute(pool)
        .await
        .unwrap();
    let admin = Uuid::new_v4();
    sqlx::query(
        "insert into users (id, institution_id, email, name, role, password_hash)
         values ($1, $2, 'admin@harbour.example', 'Admin', 'admin', 'x')",
    )
    .bind(admin)
    .bind(institution)
    .execute(pool)
    .await
    .unwrap();
    let resident = Uuid::new_v4();
    sqlx::query(
        "insert into residents (id, institution_id, name, timezone) values ($1, $2, 'Zhou Lan', 'Asia/Shanghai')",
    )
    .bind(resident)
    .bind(institution)
    .execute(pool)
    .await
    .unwrap();
    (Scope { institution: Some(institution), user: admin, role: Role::Admin, kitchen: None }, resident)
}

/// A freshly migrated database with its provider and elder.
async fn migrated() -> (PgPool, Scope, Uuid) {
    let pool = PgPool::connect(&fresh_database().await).await.unwrap();
    store::migrate(&pool).await.unwrap();
    let (scope, resident) = world(&pool).await;
    (pool, scope, resident)
}

#[derive(Debug, Clone)]
enum Act {
    /// The provider claims month 0, 1 or 2 from a payer.
    Claim(usize, bool),
    /// The payer decides a line (chosen by index among all claim lines).
    Decide(usize, bool),
    /// The payer closes a claim (chosen by index) if every line is decided.
    Close(usize),
}

fn acts() -> impl Strategy<Value = Vec<Act>> {
    prop::collection::vec(
        prop_oneof![
            (0usize..3, any::<bool>()).prop_map(|(m, ltc)| Act::Claim(m, ltc)),
            (0usize..40, any::<bool>()).prop_map(|(l, accept)| Act::Decide(l, accept)),
            (0usize..6).prop_map(Act::Close),
        ],
        1..30,
    )
}

fn month(m: usize) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 9 + m as u32, 1).unwrap()
}

async fn count(pool: &PgPool, sql: &str) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned())).fetch_one(pool).await.unwrap()
}

async fn run_claims(pool: &PgPool, scope: &Scope, resident: Uuid, lines: &[(usize, bool, i64)], acts: &[Act]) {
    sqlx::query("delete from claims").execute(pool).await.unwrap();
    sqlx::query("delete from bill_lines").execute(pool).await.unwrap();
    for (m, ltc, payer_fen) in lines {
        let payer = if *ltc { "ltc_insurance" } else { "civil_affairs" };
        sqlx::query(
            "insert into bill_lines (id, institution_id, resident_id, kind, ref, date, month, service, minutes,
                                     amount_fen, payer, payer_fen, elder_fen, over_quota)
             values (gen_random_uuid(), $1, $2, 'visit', gen_random_uuid(), $3, $3, 'HC-BATH', 58, $4 + 100, $5, $4, 100, false)",
        )
        .bind(scope.institution)
        .bind(resident)
        .bind(month(*m))
        .bind(payer_fen)
        .bind(payer)
        .execute(pool)
        .await
        .unwrap();
    }
    for act in acts {
        match act {
            Act::Claim(m, ltc) => {
                let payer = if *ltc { Payer::LtcInsurance } else { Payer::CivilAffairs };
                let mut tx = pool.begin().await.unwrap();
                // Building a claim never trips over a line claimed already.
                claims::create(&mut tx, scope, payer, month(*m)).await.expect("a claim is built");
                tx.commit().await.unwrap();
            }
            Act::Decide(pick, accept) => {
                let open: Vec<(Uuid, Uuid)> = sqlx::query_as(
                    "select cl.claim_id, cl.id from claim_lines cl join claims c on c.id = cl.claim_id
                     where c.status = 'submitted' order by cl.id",
                )
                .fetch_all(pool)
                .await
                .unwrap();
                if let Some((claim, line)) = open.get(pick % open.len().max(1)) {
                    let (decision, reason) = if *accept {
                        (LineDecision::Accept, None)
                    } else {
                        (LineDecision::Reject, Some("not_entitled"))
                    };
                    let mut tx = pool.begin().await.unwrap();
                    claims::decide_line(&mut tx, *claim, *line, decision, reason, scope.user).await.unwrap();
                    tx.commit().await.unwrap();
                }
            }
            Act::Close(pick) => {
                let ready: Vec<Uuid> = sqlx::query_scalar(
                    "select c.id from claims c where c.status = 'submitted' and not exists
                     (select 1 from claim_lines cl where cl.claim_id = c.id and cl.status = 'pending') order by c.id",
                )
                .fetch_all(pool)
                .await
                .unwrap();
                if let Some(claim) = ready.get(pick % ready.len().max(1)) {
                    let mut tx = pool.begin().await.unwrap();
                    claims::close(&mut tx, *claim, scope.user).await.unwrap();
                    tx.commit().await.unwrap();
                }
            }
        }
        // Never in two claims that did not reject it; never in more than two.
        let twice = "select count(*) from (select bill_line_id from claim_lines where status <> 'rejected'
                     group by 1 having count(*) > 1) x";
        assert_eq!(count(pool, twice).await, 0, "after {act:?}");
        let thrice = "select count(*) from (select bill_line_id from claim_lines group by 1 having count(*) > 2) x";
        assert_eq!(count(pool, thrice).await, 0, "after {act:?}");
        // A claim holds its payer's lines of its provider, with a payer's share, of its month or a re-claim.
        let stray = "select count(*) from claim_lines cl join claims c on c.id = cl.claim_id
                     join bill_lines b on b.id = cl.bill_line_id
                     where b.payer <> c.payer or b.institution_id <> c.institution_id or b.payer_fen = 0
                        or b.month > c.month or (cl.attempt = 1 and b.month <> c.month)";
        assert_eq!(count(pool, stray).await, 0, "after {act:?}");
        // Claimed again only once rejected in a claim since closed.
        let early =
            "select count(*) from claim_lines again join claim_lines first on first.bill_line_id = again.bill_line_id
                     and first.attempt = 1 join claims c on c.id = first.claim_id
                     where again.attempt = 2 and (first.status <> 'rejected' or c.status <> 'closed')";
        assert_eq!(count(pool, early).await, 0, "after {act:?}");
        // What a claim claimed is the sum of its lines' payer shares.
        let totals = "select count(*) from claims c where c.claimed_fen <> (select coalesce(sum(b.payer_fen), 0)
                      from claim_lines cl join bill_lines b on b.id = cl.bill_line_id where cl.claim_id = c.id)";
        assert_eq!(count(pool, totals).await, 0, "after {act:?}");
    }
    // Accepted is never more than owed, line by line.
    let overpaid = "select count(*) from (select bill_line_id from claim_lines where status = 'accepted'
                    group by 1 having count(*) > 1) x";
    assert_eq!(count(pool, overpaid).await, 0);
}

#[test]
fn a_line_is_never_claimed_twice_whatever_providers_and_payers_do() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (pool, scope, resident) = runtime.block_on(migrated());
    let lines = prop::collection::vec((0usize..3, any::<bool>(), 0i64..10_000), 1..12);
    let mut runner = TestRunner::new(Config { cases: 24, failure_persistence: None, ..Config::default() });
    runner
        .run(&(lines, acts()), |(lines, acts)| {
            runtime.block_on(run_claims(&pool, &scope, resident, &lines, &acts));
            Ok(())
        })
        .unwrap();
}

#[derive(Debug, Clone)]
enum Change {
    /// Price visit k (0..4) of `minutes`.
    Price(usize, i64),
    /// The entitlement's quota, co-payment or end changes.
    Quota(i32),
    Copay(i32),
    End,
}

type Snapshot = Vec<(i64, Option<String>, i64, i64, bool, Option<i32>)>;

async fn lines_of(pool: &PgPool, visit: Uuid) -> Snapshot {
    sqlx::query_as(
        "select amount_fen, payer, payer_fen, elder_fen, over_quota, minutes from bill_lines where ref = $1
         order by over_quota",
    )
    .bind(visit)
    .fetch_all(pool)
    .await
    .unwrap()
}

#[test]
fn a_visits_price_never_changes_once_billable_whatever_happens_to_the_entitlement() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (pool, scope, resident) = runtime.block_on(migrated());
    let changes = prop::collection::vec(
        prop_oneof![
            (0usize..4, 1i64..240).prop_map(|(k, m)| Change::Price(k, m)),
            (0i32..600).prop_map(Change::Quota),
            (0i32..=10_000).prop_map(Change::Copay),
            Just(Change::End),
        ],
        1..20,
    );
    let mut runner = TestRunner::new(Config { cases: 24, failure_persistence: None, ..Config::default() });
    runner
        .run(&changes, |changes| {
            runtime.block_on(async {
                sqlx::query("delete from bill_lines").execute(&pool).await.unwrap();
                sqlx::query("delete from entitlements").execute(&pool).await.unwrap();
                sqlx::query("delete from schemes").execute(&pool).await.unwrap();
                sqlx::query(
                    "insert into schemes (code, name, payer, application_kind, grades)
                     values ('ltc', 'LTC', 'ltc_insurance', 'ltc_insurance', '{}')",
                )
                .execute(&pool)
                .await
                .unwrap();
                sqlx::query(
                    "insert into entitlements (id, resident_id, scheme, payer, grade, services, monthly_minutes,
                                               copay_bp, starts_on, ends_on)
                     values (gen_random_uuid(), $1, 'ltc', 'ltc_insurance', 3, '{home_care}', 150, 1000,
                             date '2026-11-01', date '2027-10-31')",
                )
                .bind(resident)
                .execute(&pool)
                .await
                .unwrap();
                let visits: Vec<Uuid> = (0..4).map(|_| Uuid::new_v4()).collect();
                let mut priced: Vec<Option<Snapshot>> = vec![None; 4];
                for change in &changes {
                    match change {
                        Change::Price(k, minutes) => {
                            let visit = billing::BillableVisit {
                                id: visits[*k],
                                institution: scope.institution.unwrap(),
                                resident,
                                date: NaiveDate::from_ymd_opt(2026, 11, 20).unwrap(),
                                service_code: "HC-BATH".into(),
                                funding: Funding::LtcInsurance,
                                amount: eldercare::domain::billing::visit_amount(
                                    eldercare::domain::care::Unit::Hour,
                                    Fen(8000),
                                    *minutes,
                                ),
                                minutes: *minutes,
                            };
                            let mut tx = pool.begin().await.unwrap();
                            billing::price_visit(&mut tx, &visit).await.unwrap();
                            tx.commit().await.unwrap();
                            let now = lines_of(&pool, visits[*k]).await;
                            match &priced[*k] {
                                // Verified again (an amendment, a resolution): the first price stands.
                                Some(before) => assert_eq!(&now, before, "priced once, never again"),
                                None => {
                                    let total: i64 = now.iter().map(|l| l.0).sum();
                                    assert_eq!(Fen(total), visit.amount, "the lines make the visit's amount");
                                    assert!(now.iter().all(|l| l.2 + l.3 == l.0), "shares make each line");
                                    priced[*k] = Some(now);
                                }
                            }
                        }
                        Change::Quota(minutes) => {
                            sqlx::query("update entitlements set monthly_minutes = $1")
                                .bind(minutes)
                                .execute(&pool)
                                .await
                                .unwrap();
                        }
                        Change::Copay(bp) => {
                            sqlx::query("update entitlements set copay_bp = $1").bind(bp).execute(&pool).await.unwrap();
                        }
                        Change::End => {
                            sqlx::query(
                                "update entitlements set ends_on = date '2026-11-10', ended_reason = 'reassessed'",
                            )
                            .execute(&pool)
                            .await
                            .unwrap();
                        }
                    }
                    for (k, before) in priced.iter().enumerate() {
                        if let Some(before) = before {
                            assert_eq!(&lines_of(&pool, visits[k]).await, before, "after {change:?}");
                        }
                    }
                }
            });
            Ok(())
        })
        .unwrap();
}
