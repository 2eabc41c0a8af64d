//! What medical partners send in and read back: their `transaction`
//! Bundle of discharge records, and the searches of what they sent.

use axum::body::Bytes;
use serde_json::{Value, json};

use super::*;
use crate::domain::scope::Monitoring;
use crate::domain::settings::RuleSettings;
use crate::domain::status::ResidentStatus;
use crate::fhir::intake;
use crate::store::clinical::{NewRecord, Provenance};

/// A search of what medical partners sent, by patient: `Condition`,
/// `AllergyIntolerance`, `MedicationStatement`, and `Encounter` by class
/// (the hospital stays; visits are in `$everything`).
pub(super) async fn search(
    State(ctx): State<ApiContext>,
    user: std::result::Result<AuthUser, Error>,
    headers: HeaderMap,
    Path(kind): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Fhir<Resource>> {
    let user = caller(user)?;
    let Some(kind) = ClinicalKind::parse(&kind) else {
        return Err(Outcome::new(StatusCode::NOT_FOUND, "not-supported", format!("no search of {kind:?} here")));
    };
    let params = params(query);
    let subject = if kind == ClinicalKind::AllergyIntolerance { "patient" } else { "subject" };
    let known: &[&str] = match kind {
        ClinicalKind::Encounter => &["patient", "subject", "class", "_count", "_offset"],
        _ => &["patient", subject, "_count", "_offset"],
    };
    only(&params, known)?;
    let (mut resident, mut classes) = (None, Vec::new());
    let (mut count, mut offset) = (DEFAULT_COUNT, 0);
    for (name, value) in &params {
        match name.as_str() {
            "class" => classes.extend(class_param(value)?),
            "_count" => count = count_param(value)?,
            "_offset" => offset = offset_param(value)?,
            _ => resident = Some(patient_param(value)?),
        }
    }
    let resident = resident.ok_or_else(|| Outcome::invalid(format!("a {kind} search needs patient")))?;
    if kind == ClinicalKind::Encounter && classes.is_empty() {
        return Err(Outcome::invalid(
            "an Encounter search is of the hospital stays partners sent: class IMP, ACUTE or NONAC (visits are in \
             Patient/$everything)",
        ));
    }
    // The FHIR view's question: the elder in the monitoring area.
    let reached = reach::<Monitoring>(&ctx, &user, resident).await?;
    let search = records::Search { kind, classes: &classes };
    let total = records::count(&ctx.pool, &reached, &search).await?;
    let found = records::page(&ctx.pool, &reached, &search, offset, count).await?;
    access_log(&ctx, &user, resident, &format!("{kind}?patient")).await?;
    let base = base(&headers);
    let resources = found.iter().map(|r| Resource::Clinical(map::clinical(&base, r))).collect();
    let pinned: Vec<(&str, String)> = params
        .iter()
        .filter(|(n, _)| !matches!(n.as_str(), "_count" | "_offset"))
        .map(|(n, v)| (n.as_str(), v.clone()))
        .collect();
    let next = next_link(format!("{}/{kind}", base.0), &pinned, count, offset.saturating_add(count), total);
    Ok(ok(searchset(&base, resources, total, next)))
}

/// A `class` search value (`code` or `system|code`, comma for "or"): the
/// stay classes it names.
fn class_param(value: &str) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for token in value.split(',') {
        let code = match token.split_once('|') {
            Some((system, code)) if system.is_empty() || system == map::ACT_CODE => code,
            Some(_) => continue,
            None => token,
        };
        if !intake::STAY_CLASSES.contains(&code) {
            return Err(Outcome::invalid(format!(
                "class {code:?}: the hospital stays are IMP, ACUTE or NONAC (visits are in Patient/$everything)"
            )));
        }
        out.push(code.to_owned());
    }
    Ok(out)
}

/// A medical partner's `transaction` Bundle (`crate::fhir::intake`), from
/// a clinician whose institution holds the elder's consent in force with
/// `clinical_write` (else 404, as for an elder that does not exist). All
/// or nothing, in one transaction: the records with their provenance, a
/// hospital stay's `in_hospital` period, and for a stay that has ended its
/// follow-up (`crate::care::discharge`). A refused Bundle is a 422 naming
/// every refused element and why, and leaves nothing behind.
pub(super) async fn transaction(
    State(ctx): State<ApiContext>,
    user: std::result::Result<AuthUser, Error>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Fhir<Resource>> {
    let user = caller(user)?;
    let media = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
    let media = media.and_then(|v| v.split(';').next()).map(|m| m.trim().to_ascii_lowercase());
    if !matches!(media.as_deref(), Some(CONTENT_TYPE | "application/json")) {
        return Err(Outcome::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "not-supported",
            "send the Bundle as application/fhir+json",
        ));
    }
    let bundle: Value = serde_json::from_slice(&body)
        .map_err(|err| Outcome::new(StatusCode::BAD_REQUEST, "structure", format!("the body is not JSON: {err}")))?;
    let now = Utc::now();
    let intake = intake::read(&bundle, now).map_err(Outcome::refused)?;
    let (reached, consent) =
        crate::store::residents::consented(&ctx.pool, &user.scope, intake.patient, "clinical_write")
            .await?
            .ok_or_else(Outcome::not_found)?;
    let partner = user.scope.institution.ok_or_else(Outcome::not_found)?;
    let within = match ctx.rule_settings.resident(&ctx.pool, reached.id()).await? {
        Some(settings) => settings.visits.post_discharge_check(),
        None => RuleSettings::default().visits.post_discharge_check(),
    };
    let provenance = Provenance { partner, user: user.scope.user, consent, bundle: Uuid::new_v4() };

    let mut tx = ctx.pool.begin().await?;
    // One change of her status at a time.
    crate::store::status::lock_resident(&mut tx, &reached).await?;
    let history = crate::store::status::periods(&mut tx, &reached).await?;
    if history.iter().any(|p| p.status == ResidentStatus::Deceased) {
        let stays: Vec<Refusal> = intake
            .entries
            .iter()
            .enumerate()
            .filter(|(_, e)| e.stay.is_some())
            .map(|(i, _)| Refusal {
                expression: format!("Bundle.entry[{i}].resource"),
                code: "business-rule",
                message: "she is recorded as deceased: no hospital stay is recorded for her now".into(),
            })
            .collect();
        if !stays.is_empty() {
            return Err(Outcome::refused(stays));
        }
    }
    let mut created = Vec::new();
    for entry in &intake.entries {
        let record = NewRecord {
            id: entry.id,
            kind: entry.kind,
            coding: entry.coding.as_ref().map(|(system, code)| (system.as_str(), code.as_str())),
            display: &entry.display,
            resource: &entry.resource,
        };
        let received = records::insert(&mut tx, &reached, &record, provenance).await?;
        if let Some(stay) = entry.stay {
            let stay = crate::store::status::Stay {
                encounter: entry.id,
                from: stay.start,
                until: stay.end,
                note: &entry.display,
                by: user.scope.user,
            };
            let period = crate::care::discharge::record_stay(&mut tx, &reached, &stay, now).await?;
            crate::care::discharge::follow_up(&mut tx, &reached, period, within, now).await?;
        }
        created.push((entry.kind, entry.id, received));
    }
    let records: Vec<Value> = created.iter().map(|(kind, id, _)| json!({"kind": kind, "id": id})).collect();
    let details = json!({"bundle_id": provenance.bundle, "consent_id": consent, "records": records});
    crate::audit::record(&mut tx, user.actor(), "fhir.transaction", "resident", reached.id(), details).await?;
    tx.commit().await?;
    tracing::info!(
        resident = %reached.id(), bundle = %provenance.bundle, records = created.len(), "clinical records received"
    );

    let base = base(&headers);
    let entry = created
        .into_iter()
        .map(|(kind, id, received)| BundleEntry {
            full_url: format!("{}/{kind}/{id}", base.0),
            resource: None,
            search: None,
            response: Some(BundleResponse {
                status: "201 Created",
                location: format!("{kind}/{id}"),
                last_modified: map::instant(received),
            }),
        })
        .collect();
    let response =
        Bundle { kind: "transaction-response", timestamp: Some(map::instant(now)), total: None, link: vec![], entry };
    Ok(ok(Resource::Bundle(response)))
}
