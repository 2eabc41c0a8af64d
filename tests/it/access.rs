//! Access control: every documented endpoint against every role, the audit
//! trail, tokens and login limits.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{ADMIN_EMAIL, ADMIN_PASSWORD, OPERATOR_EMAIL, OPERATOR_PASSWORD, TestApp, wait_for};

/// What a role should get from an endpoint.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Expect {
    /// Past the policy: any answer but 401/403/404 (a 409 or 422 on the body is fine).
    Allowed,
    Forbidden,
    NotFound,
}
use Expect::{Allowed as A, Forbidden as F, NotFound as N};

/// Who calls, one column of the policy each. Two institutions side by side:
/// "home" (the bootstrap one) and "other" (created by the operator through
/// the API). Every path names home's records, so the other institution's
/// columns are the cross-institution reads.
const CALLERS: [&str; 9] = [
    "operator",
    "supervisor of home's region",
    "home admin",
    "home staff",
    "home caregiver",
    "family on their own resident",
    "family on someone else's resident",
    "other institution's admin",
    "other institution's staff",
];
const OPERATOR: usize = 0;
/// The district of the world's divisions.
const DISTRICT: &str = "330205";
const OTHER_FAMILY: usize = 6;
/// Admin last: an allowed delete must not hide what the others may do.
const ORDER: [usize; 9] = [8, 7, 6, 5, 4, 3, 1, 0, 2];

/// The policy, one row per documented operation and per route of the FHIR
/// view (not in the document): (method, path, body, and what each of
/// [`CALLERS`] gets). A new documented endpoint without a row here fails
/// the test.
fn policy() -> Vec<(&'static str, &'static str, Value, [Expect; 9])> {
    let resolve = json!({"resolution": "handled"});
    let all = [A; 9];
    // Institution staff only, each in their own institution.
    let staff_only = [F, F, A, A, F, F, F, A, A];
    let admin_only = [F, F, A, F, F, F, F, A, F];
    // Home's admin on a home user; the other institution's admin finds none.
    let admin_only_own = [F, F, A, F, F, F, F, N, F];
    let operator_only = [A, F, F, F, F, F, F, F, F];
    // One of home's residents (or their records): read by home's staff and
    // the linked family, invisible to everyone else.
    let resident_read = [N, N, A, A, N, A, N, N, N];
    let resident_care = [N, N, A, A, N, F, N, N, N];
    // A kitchen of home's (or its orders): home's care staff only.
    let kitchen_read = [N, N, A, A, N, N, N, N, N];
    // A partner's discharge Bundle about home's first resident.
    let discharge = json!({"resourceType": "Bundle", "type": "transaction", "entry": [{
        "resource": {"resourceType": "Condition", "subject": {"reference": "Patient/@RESIDENT"},
                     "code": {"text": "hip fracture"}},
        "request": {"method": "POST", "url": "Condition"}}]});
    vec![
        ("get", "/api/v1/me", Value::Null, all),
        (
            "post",
            "/api/v1/users",
            json!({"email": "@EMAIL", "password": "long enough pw", "role": "staff", "name": "X"}),
            // The operator makes division users here (a staff role is refused past the policy).
            [A, F, A, F, F, F, F, A, F],
        ),
        ("get", "/api/v1/users", Value::Null, admin_only),
        // The operator places division accounts only: a staff member is none.
        ("patch", "/api/v1/users/{id}", json!({"disabled": false}), [N, F, A, F, F, F, F, N, F]),
        ("post", "/api/v1/users/{id}/revoke-sessions", Value::Null, [F, F, A, F, F, F, F, N, F]),
        ("post", "/api/v1/users/{id}/password", json!({"password": "another long pw"}), [F, F, A, F, F, F, F, N, F]),
        ("get", "/api/v1/users/{id}/certificates", Value::Null, admin_only_own),
        (
            "put",
            "/api/v1/users/{id}/certificates",
            json!([{"kind": "health", "valid_until": "2030-01-01"}]),
            admin_only_own,
        ),
        ("get", "/api/v1/certificates/expiring", Value::Null, admin_only),
        ("get", "/api/v1/me/sessions", Value::Null, all),
        // Each caller ends a session of their own (a second login).
        ("delete", "/api/v1/me/sessions/{id}", Value::Null, all),
        ("post", "/api/v1/me/totp", Value::Null, [A, F, A, F, F, F, F, A, F]),
        ("post", "/api/v1/display-tokens", json!({"label": "Hall"}), [F, A, A, F, F, F, F, A, F]),
        (
            "post",
            "/api/v1/institutions",
            json!({"name": "@NAME", "kind": "canteen", "region": "South", "timezone": "Asia/Shanghai"}),
            operator_only,
        ),
        ("get", "/api/v1/institutions", Value::Null, all),
        ("patch", "/api/v1/institutions/{id}", json!({"name": "Home"}), operator_only),
        (
            "post",
            "/api/v1/institutions/{id}/users",
            json!({"email": "@EMAIL", "password": "long enough pw", "role": "admin", "name": "X"}),
            operator_only,
        ),
        (
            "post",
            "/api/v1/supervisors",
            json!({"email": "@EMAIL", "password": "long enough pw", "name": "X", "region": "South"}),
            operator_only,
        ),
        ("post", "/api/v1/divisions", json!({"code": "@STREET", "name": "Street", "level": "street"}), operator_only),
        ("get", "/api/v1/divisions", Value::Null, all),
        (
            "put",
            "/api/v1/divisions/{code}/boundary",
            json!({"type": "Polygon", "coordinates": [[[121.5, 29.8], [121.6, 29.8], [121.6, 29.9], [121.5, 29.8]]]}),
            operator_only,
        ),
        ("post", "/api/v1/residents", json!({"name": "R"}), staff_only),
        // The enrolling institution's admin; an empty list of services is
        // refused past the policy, so no row enrols anyone.
        (
            "post",
            "/api/v1/residents/{id}/enrolments",
            json!({"services": [], "consent": {"by": "family", "method": "written", "at": "2026-12-01T09:00:00Z"}}),
            admin_only,
        ),
        // Staff of an institution enrolled (home), as for its kitchens.
        ("get", "/api/v1/residents/{id}/enrolments", Value::Null, kitchen_read),
        // An end before it began: refused past the policy, so it stays.
        ("patch", "/api/v1/enrolments/{id}", json!({"until": "2000-01-01T00:00:00Z"}), [N, N, A, N, N, N, N, N, N]),
        ("get", "/api/v1/residents", Value::Null, all),
        ("get", "/api/v1/residents/{id}", Value::Null, resident_read),
        ("patch", "/api/v1/residents/{id}", json!({"notes": "x"}), resident_care),
        ("post", "/api/v1/residents/{id}/family", json!({"user_id": "@FAMILY", "relationship": "son"}), resident_care),
        ("get", "/api/v1/residents/{id}/family", Value::Null, resident_care),
        ("put", "/api/v1/residents/{id}/consent", json!({"given": true, "given_by": "resident"}), resident_care),
        // The target is linked again before each of these.
        (
            "put",
            "/api/v1/residents/{id}/family/{user_id}/consent",
            json!({"given": false, "given_by": "guardian", "guardian_name": "G"}),
            resident_care,
        ),
        ("delete", "/api/v1/residents/{id}/family/{user_id}", Value::Null, resident_care),
        ("get", "/api/v1/residents/{id}/readings", Value::Null, resident_read),
        ("get", "/api/v1/residents/{id}/events", Value::Null, resident_read),
        ("get", "/api/v1/residents/{id}/presence", Value::Null, resident_read),
        ("post", "/api/v1/devices", json!({"device_id": "@DEVICE", "kind": "wearable"}), staff_only),
        ("get", "/api/v1/devices", Value::Null, staff_only),
        ("get", "/api/v1/devices/{device_id}", Value::Null, resident_read),
        ("patch", "/api/v1/devices/{device_id}", json!({"room": "hall"}), resident_care),
        ("post", "/api/v1/devices/{device_id}/credentials", Value::Null, resident_care),
        (
            "post",
            "/api/v1/gateways",
            json!({"gateway_id": "@GATEWAY", "base_topic": "zigbee2mqtt/@GATEWAY"}),
            staff_only,
        ),
        ("get", "/api/v1/gateways", Value::Null, staff_only),
        ("get", "/api/v1/gateways/{gateway_id}", Value::Null, [F, F, A, A, F, F, F, N, N]),
        ("post", "/api/v1/gateways/{gateway_id}/credentials", Value::Null, [F, F, A, A, F, F, F, N, N]),
        ("get", "/api/v1/quarantine", Value::Null, [A, F, A, F, F, F, F, A, F]),
        ("get", "/api/v1/rule-settings", Value::Null, staff_only),
        ("patch", "/api/v1/rule-settings", json!({"inactivity": {"hours": 3}}), admin_only),
        ("get", "/api/v1/residents/{id}/rule-settings", Value::Null, resident_read),
        ("patch", "/api/v1/residents/{id}/rule-settings", json!({"away": false}), resident_care),
        (
            "put",
            "/api/v1/residents/{id}/meal-windows",
            json!([{"meal": "lunch", "start": "11:00", "end": "13:00"}]),
            resident_care,
        ),
        ("put", "/api/v1/residents/{id}/thresholds", json!({"heart_rate": {"min": 45, "max": 120}}), resident_care),
        (
            "post",
            "/api/v1/residents/{id}/backtest",
            json!({"from": "2026-11-01T00:00:00Z", "to": "2026-11-02T00:00:00Z"}),
            resident_care,
        ),
        ("get", "/api/v1/alerts", Value::Null, all),
        ("get", "/api/v1/alerts/stream", Value::Null, all),
        ("get", "/api/v1/alerts/{id}", Value::Null, resident_read),
        ("get", "/api/v1/alerts/{id}/timeline", Value::Null, resident_read),
        ("post", "/api/v1/alerts/{id}/acknowledge", Value::Null, resident_care),
        ("post", "/api/v1/alerts/{id}/assign", json!({"user_id": "@STAFF"}), resident_care),
        ("post", "/api/v1/alerts/{id}/comments", json!({"text": "on my way"}), resident_care),
        ("post", "/api/v1/alerts/{id}/resolve", resolve, resident_care),
        (
            "post",
            "/api/v1/webhooks",
            json!({"url": "http://127.0.0.1:9/hook", "secret": "0123456789abcdef"}),
            admin_only,
        ),
        ("get", "/api/v1/webhooks", Value::Null, admin_only),
        ("get", "/api/v1/webhooks/{id}", Value::Null, [F, F, A, F, F, F, F, N, F]),
        (
            "post",
            "/api/v1/me/password",
            json!({"current_password": "not it", "new_password": "some new password"}),
            all,
        ),
        ("get", "/api/v1/audit", Value::Null, [A, F, A, F, F, F, F, A, F]),
        ("get", "/api/v1/audit/verify", Value::Null, [A, F, A, F, F, F, F, A, F]),
        ("get", "/api/v1/me/residents", Value::Null, all),
        ("get", "/api/v1/residents/{id}/summary", Value::Null, resident_read),
        ("get", "/api/v1/residents/{id}/routine", Value::Null, resident_care),
        ("get", "/api/v1/residents/{id}/messages", Value::Null, resident_read),
        ("post", "/api/v1/residents/{id}/messages", json!({"text": "How was lunch?"}), resident_read),
        ("post", "/api/v1/residents/{id}/messages/read", Value::Null, resident_read),
        ("get", "/api/v1/messages/unread", Value::Null, all),
        // Care services.
        (
            "post",
            "/api/v1/services",
            json!({"code": "@CODE", "name": "Bathing", "category": "personal_care",
            "duration_minutes": 60, "unit": "hour", "unit_price": 80, "funding": ["self_pay"]}),
            admin_only,
        ),
        ("get", "/api/v1/services", Value::Null, [F, F, A, A, A, A, A, A, A]),
        ("get", "/api/v1/residents/{id}/care-plan", Value::Null, resident_read),
        ("put", "/api/v1/residents/{id}/care-plan", json!({"items": []}), resident_care),
        ("post", "/api/v1/residents/{id}/tags", json!({"tag": "@TAG", "kind": "qr"}), resident_care),
        (
            "post",
            "/api/v1/visits",
            json!({"resident_id": "@RESIDENT", "service_code": "WELFARE-CHECK", "scheduled_start": "2030-01-01T09:00:00Z",
                   "funding": "institution"}),
            staff_only,
        ),
        ("get", "/api/v1/visits", Value::Null, [F, F, A, A, A, F, F, A, A]),
        ("get", "/api/v1/visits/{id}", Value::Null, resident_read),
        ("post", "/api/v1/visits/{id}/assign", json!({"caregiver_id": "@STAFF"}), resident_care),
        ("post", "/api/v1/visits/{id}/schedule", json!({"scheduled_start": "2030-01-01T10:00:00Z"}), resident_care),
        (
            "post",
            "/api/v1/visits/{id}/check-in",
            json!({"location": {"lat": 29.87, "lon": 121.54}, "method": "gps"}),
            resident_care,
        ),
        (
            "post",
            "/api/v1/visits/{id}/check-out",
            json!({"location": {"lat": 29.87, "lon": 121.54}, "method": "gps"}),
            resident_care,
        ),
        (
            "post",
            "/api/v1/visits/{id}/amend",
            json!({"field": "end", "value": "2026-01-01T10:00:00Z", "reason": "forgot to check out"}),
            resident_care,
        ),
        ("post", "/api/v1/visits/{id}/exceptions/{code}/resolve", json!({"reason": "seen"}), resident_care),
        ("post", "/api/v1/visits/{id}/rating", json!({"stars": 5}), [N, N, F, F, N, A, N, N, N]),
        ("post", "/api/v1/alerts/{id}/dispatch", json!({}), resident_care),
        ("post", "/api/v1/residents/{id}/service-requests", json!({"service_code": "WELFARE-CHECK"}), resident_read),
        ("get", "/api/v1/residents/{id}/visits", Value::Null, resident_read),
        ("get", "/api/v1/me/visits", Value::Null, [F, F, A, A, A, F, F, A, A]),
        ("get", "/api/v1/statements", Value::Null, admin_only),
        // Public money: applications, assessments, entitlements, bills and
        // claims. Paths naming an application or a claim name one of home's
        // residents here, which is no application or claim: 404 for all.
        (
            "post",
            "/api/v1/applications",
            json!({"resident_id": "@RESIDENT", "kind": "home_care_subsidy"}),
            [F, F, A, A, F, A, A, N, N],
        ),
        ("get", "/api/v1/applications", Value::Null, all),
        ("get", "/api/v1/applications/{id}", Value::Null, [N; 9]),
        ("post", "/api/v1/applications/{id}/assign", json!({"assessor_institution_id": "@RESIDENT"}), [N; 9]),
        ("post", "/api/v1/applications/{id}/decide", json!({"decision": "rejected", "reason": "x"}), [N; 9]),
        (
            "put",
            "/api/v1/schemes/{code}",
            json!({"name": "x", "payer": "civil_affairs", "application_kind": "respite", "grades": {}}),
            [F; 9],
        ),
        ("get", "/api/v1/schemes", Value::Null, all),
        ("get", "/api/v1/residents/{id}/entitlements", Value::Null, resident_read),
        (
            "post",
            "/api/v1/residents/{id}/assessments",
            json!({"scale": "barthel", "items": {}, "assessed_at": "2026-12-01T09:00:00Z"}),
            [N, N, F, F, N, F, N, N, N],
        ),
        ("get", "/api/v1/residents/{id}/assessments", Value::Null, resident_read),
        ("get", "/api/v1/residents/{id}/assessments/evidence", Value::Null, [N, N, F, F, N, F, N, N, N]),
        ("get", "/api/v1/residents/{id}/bills", Value::Null, resident_read),
        ("get", "/api/v1/bills", Value::Null, admin_only),
        ("post", "/api/v1/claims", json!({"payer": "ltc_insurance", "month": "2026-12"}), admin_only),
        ("get", "/api/v1/claims", Value::Null, all),
        ("get", "/api/v1/claims/{id}", Value::Null, [N; 9]),
        ("post", "/api/v1/claims/{id}/lines/{line_id}/decision", json!({"decision": "accept"}), [N; 9]),
        ("post", "/api/v1/claims/{id}/close", Value::Null, [N; 9]),
        (
            "put",
            "/api/v1/institutions/{id}/short-stay-beds",
            json!({"from": "2030-01-01", "until": "2030-01-02", "beds": 2}),
            [F, F, A, F, F, F, F, N, F],
        ),
        ("get", "/api/v1/institutions/{id}/short-stay-beds", Value::Null, all),
        (
            "post",
            "/api/v1/residents/{id}/respite-stays",
            json!({"institution_id": "@RESIDENT", "from": "2030-01-01", "until": "2030-01-02"}),
            [N, N, A, A, N, N, N, N, N],
        ),
        ("get", "/api/v1/residents/{id}/respite-stays", Value::Null, resident_read),
        // Orders matched to a provider; paths naming a request name a resident here: 404 for all.
        (
            "post",
            "/api/v1/service-requests",
            json!({"resident_id": "@RESIDENT", "service_code": "WELFARE-CHECK"}),
            [F, F, A, A, F, A, A, N, N],
        ),
        ("get", "/api/v1/service-requests", Value::Null, all),
        ("get", "/api/v1/service-requests/{id}", Value::Null, [N; 9]),
        ("post", "/api/v1/service-requests/{id}/accept", Value::Null, [N; 9]),
        ("post", "/api/v1/service-requests/{id}/decline", json!({"reason": "no carer free"}), [N; 9]),
        ("post", "/api/v1/service-requests/{id}/cancel", json!({"reason": "not needed"}), [N; 9]),
        // The hotline desk's (tests/it/desk.rs has the desk and the grid worker).
        ("get", "/api/v1/desk/lookup", Value::Null, [F; 9]),
        (
            "post",
            "/api/v1/calls",
            json!({"phone": "+8613800000001", "direction": "in", "disposition": "information"}),
            [F; 9],
        ),
        ("get", "/api/v1/desk/check-calls", Value::Null, [F; 9]),
        ("get", "/api/v1/residents/{id}/services", Value::Null, resident_read),
        // The chain of home's first alert: whoever reaches her (insurers and
        // the bureau read its money side only; none of them is a caller here).
        ("get", "/api/v1/trace/{kind}/{id}", Value::Null, resident_read),
        // Complaints (an id names home's resident here: 404 for all).
        (
            "post",
            "/api/v1/complaints",
            json!({"resident_id": "@RESIDENT", "institution_id": "00000000-0000-0000-0000-000000000001",
                   "category": "other", "text": "a complaint"}),
            [F, F, A, A, F, A, A, N, N],
        ),
        ("get", "/api/v1/complaints", Value::Null, all),
        ("get", "/api/v1/complaints/{id}", Value::Null, [N; 9]),
        ("post", "/api/v1/complaints/{id}/response", json!({"text": "we are sorry"}), [N; 9]),
        ("post", "/api/v1/complaints/{id}/close", json!({"outcome": "resolved"}), [N; 9]),
        // Follow-up calls: the desk's and the bureau's only (tests/it/supervision.rs has both).
        ("get", "/api/v1/follow-ups", Value::Null, [F; 9]),
        ("post", "/api/v1/follow-ups/{id}", json!({"reached": false}), [F; 9]),
        // Inspections: the bureau schedules and records (tests/it/supervision.rs);
        // ids here name home's resident: 404, or 403 first for a role never allowed.
        ("post", "/api/v1/inspections", json!({"institution_id": "@RESIDENT", "scheduled_for": "2030-01-01"}), [F; 9]),
        ("get", "/api/v1/inspections", Value::Null, [F, F, A, A, F, F, F, A, A]),
        ("get", "/api/v1/inspections/{id}", Value::Null, [N; 9]),
        ("post", "/api/v1/inspections/{id}/results", json!({"items": [], "findings": []}), [F; 9]),
        ("post", "/api/v1/inspection-findings/{id}/answer", json!({"text": "put right"}), [N; 9]),
        ("post", "/api/v1/inspection-findings/{id}/verify", json!({"accepted": true}), [F; 9]),
        ("get", "/api/v1/providers/scores", Value::Null, [F, A, F, F, F, F, F, F, F]),
        ("post", "/api/v1/visits/{id}/cancel", json!({"reason": "other"}), resident_care),
        // At the door.
        ("put", "/api/v1/residents/{id}/responder-info", json!({"conditions": ["asthma"]}), resident_care),
        ("get", "/api/v1/residents/{id}/responder-info", Value::Null, resident_care),
        // Only the carer assigned to a visit due now: nobody here.
        ("post", "/api/v1/visits/{id}/key-safe", Value::Null, [N; 9]),
        // The resident's status: a stay away far ahead, which changes nothing today.
        (
            "put",
            "/api/v1/residents/{id}/status",
            json!({"status": "away", "from": "2099-01-01T00:00:00Z", "until": "2099-02-01T00:00:00Z"}),
            resident_care,
        ),
        ("get", "/api/v1/residents/{id}/status", Value::Null, resident_care),
        // Consents to medical partners: recorded by the admin of a provider
        // serving her (no such partner here: past the policy, a 422), read by
        // her providers' staff; a consent of nobody's: 404 for all.
        (
            "post",
            "/api/v1/residents/{id}/consents",
            json!({"grantee_institution_id": "00000000-0000-0000-0000-000000000000", "scope": ["fhir_read"],
                   "recorded": {"by": "the elder", "method": "written"}}),
            [N, N, A, F, N, F, N, N, N],
        ),
        ("get", "/api/v1/residents/{id}/consents", Value::Null, resident_care),
        ("delete", "/api/v1/consents/{id}", Value::Null, [N; 9]),
        ("get", "/api/v1/partners", Value::Null, staff_only),
        (
            "put",
            "/api/v1/residents/{id}/family-doctor",
            json!({"institution_id": "00000000-0000-0000-0000-000000000000", "name": "Dr Wu", "phone": "+8613800000001"}),
            resident_care,
        ),
        // Meal services.
        ("post", "/api/v1/kitchens", json!({"name": "@NAME", "cutoff": "09:00", "prices": {"lunch": 12}}), admin_only),
        ("get", "/api/v1/kitchens", Value::Null, staff_only),
        ("get", "/api/v1/kitchens/{id}", Value::Null, kitchen_read),
        ("get", "/api/v1/kitchens/{id}/production", Value::Null, kitchen_read),
        ("get", "/api/v1/kitchens/{id}/routes", Value::Null, kitchen_read),
        (
            "put",
            "/api/v1/residents/{id}/meal-plan",
            json!({"kitchen_id": "@KITCHEN", "delivery": "home", "funding": "subsidy",
                   "days": {"mon": ["lunch"], "tue": ["lunch"], "wed": ["lunch"], "thu": ["lunch"], "fri": ["lunch"], "sat": ["lunch"], "sun": ["lunch"]}}),
            resident_care,
        ),
        ("get", "/api/v1/residents/{id}/meal-plan", Value::Null, resident_read),
        ("get", "/api/v1/meal-orders", Value::Null, staff_only),
        ("post", "/api/v1/meal-orders/{id}/delivery", json!({"outcome": "refused"}), kitchen_read),
        ("post", "/api/v1/residents/{id}/meal-orders/{date}/cancel", json!({"meal": "lunch"}), resident_read),
        ("get", "/api/v1/meal-statements", Value::Null, admin_only),
        // Notifications and on-call. `{id}` names no subscription or
        // gateway of anyone's: 404 wherever the policy lets the call through.
        ("get", "/api/v1/push/vapid-public-key", Value::Null, all),
        (
            "post",
            "/api/v1/me/push-subscriptions",
            json!({"endpoint": "http://127.0.0.1:9/push/x", "keys": {"auth": "BTBZMqHH6r4Tts7J_aSIgg",
                "p256dh": "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4"}}),
            all,
        ),
        ("get", "/api/v1/me/push-subscriptions", Value::Null, all),
        ("get", "/api/v1/me/push-subscriptions/{id}", Value::Null, [N; 9]),
        ("delete", "/api/v1/me/push-subscriptions/{id}", Value::Null, [N; 9]),
        ("get", "/api/v1/me/notification-preferences", Value::Null, all),
        (
            "put",
            "/api/v1/me/notification-preferences",
            json!({"min_severity": "high", "kinds": null, "quiet_hours": null}),
            all,
        ),
        ("patch", "/api/v1/me", json!({"phone": null}), all),
        ("put", "/api/v1/on-call", json!({"shifts": []}), admin_only),
        ("get", "/api/v1/on-call", Value::Null, staff_only),
        ("get", "/api/v1/on-call/now", Value::Null, staff_only),
        (
            "post",
            "/api/v1/channels",
            json!({"kind": "sms", "url": "http://127.0.0.1:9/sms", "secret": "0123456789abcdef"}),
            admin_only,
        ),
        ("get", "/api/v1/channels", Value::Null, admin_only),
        ("delete", "/api/v1/channels/{id}", Value::Null, [F, F, N, F, F, F, F, N, F]),
        ("get", "/api/v1/access-log", Value::Null, admin_only),
        ("get", "/api/v1/residents/{id}/export", Value::Null, resident_care),
        ("get", "/api/v1/cockpit", Value::Null, [F, A, A, F, F, F, F, A, F]),
        // The bureau's and the supervisors' bound to a division: this world's supervisor is placed by
        // a region only (tests/it/district_cockpit.rs has the civil_affairs and the supervisors).
        ("get", "/api/v1/cockpit/district", Value::Null, [F; 9]),
        // The FHIR view's routes, not in the API document. None of the nine
        // is a medical partner's clinician: nobody here sends clinical records
        // in; what partners sent reads as the elder's record in the view.
        ("post", "/fhir/r4", discharge, [N; 9]),
        ("get", "/fhir/r4/Condition/{id}", Value::Null, resident_read),
        ("get", "/fhir/r4/Condition?patient={id}", Value::Null, resident_read),
        ("get", "/fhir/r4/Encounter?patient={id}&class=IMP", Value::Null, resident_read),
        // Last: these remove what the rows above use.
        ("delete", "/api/v1/residents/{id}/meal-plan", Value::Null, resident_care),
        ("delete", "/api/v1/webhooks/{id}", Value::Null, [F, F, A, F, F, F, F, N, F]),
        ("delete", "/api/v1/devices/{device_id}", Value::Null, [N, N, A, F, N, F, N, N, N]),
        ("delete", "/api/v1/gateways/{gateway_id}", Value::Null, [F, F, A, F, F, F, F, N, N]),
        ("post", "/api/v1/residents/{id}/erase", Value::Null, [N, N, A, F, N, F, N, N, N]),
        ("post", "/api/v1/auth/logout", Value::Null, all),
    ]
}

/// Home's records, which every path names, and the other institution's,
/// which none of home's callers may ever be shown.
struct World {
    institution: String,
    resident: [String; 2],
    device: [String; 2],
    alert: [String; 2],
    /// A visit to each institution's first resident.
    visit: [String; 2],
    /// Each institution's kitchen, and a lunch order of its first resident.
    kitchen: [String; 2],
    meal_order: [String; 2],
    /// The local date of home's lunch order.
    meal_date: String,
    /// Each institution's enrolment of its first resident.
    enrolment: [String; 2],
    /// A condition a partner sent about each institution's first resident.
    condition: [String; 2],
    webhook: String,
    family_id: String,
    staff_id: String,
    /// A family user of home that rows change, link and unlink.
    target_id: String,
    /// Ids and names of home's residents, devices, alerts and webhook: no
    /// answer to a caller outside home may contain one.
    home_secrets: Vec<String>,
    /// The same of the other institution: no answer to anyone but its own
    /// callers may contain one.
    other_secrets: Vec<String>,
}

fn fill(template: &str, world: &World, own: bool, n: usize) -> String {
    let i = usize::from(!own);
    let path = template
        .replace("{device_id}", &world.device[i])
        .replace("{gateway_id}", "gw-world")
        .replace("{user_id}", &world.target_id)
        .replace("{code}", if template.starts_with("/api/v1/divisions/") { DISTRICT } else { "late_start" })
        .replace("{date}", &world.meal_date)
        .replace("{kind}", "alert");
    let id = if path.contains("/institutions/") {
        &world.institution
    } else if path.contains("/users/") {
        &world.target_id
    } else if path.contains("/me/sessions/") {
        // The caller's own session, filled in by the caller's row.
        "{id}"
    } else if path.contains("/alerts/") || path.starts_with("/api/v1/trace/alert/") {
        &world.alert[i]
    } else if path.contains("/webhooks/") {
        &world.webhook
    } else if path.contains("/visits/") {
        &world.visit[i]
    } else if path.contains("/kitchens/") {
        &world.kitchen[i]
    } else if path.starts_with("/api/v1/meal-orders/") {
        &world.meal_order[i]
    } else if path.starts_with("/api/v1/enrolments/") {
        &world.enrolment[i]
    } else if path.starts_with("/fhir/r4/Condition/") {
        &world.condition[i]
    } else {
        &world.resident[i]
    };
    path.replace("{id}", id)
        .replace("@EMAIL", &format!("user{n}@test.example"))
        .replace("@NAME", &format!("Canteen {n}"))
        .replace("@DEVICE", &format!("dev-{n}"))
        .replace("@GATEWAY", &format!("gw-{n}"))
        .replace("@FAMILY", &world.family_id)
        .replace("@STAFF", &world.staff_id)
        .replace("@RESIDENT", &world.resident[0])
        .replace("@CODE", &format!("SVC-{n}"))
        .replace("@STREET", &format!("{DISTRICT}{:03}", n % 1000))
        .replace("@TAG", &format!("tag-{n}"))
        .replace("@KITCHEN", &world.kitchen[0])
}

fn id_of(body: &Value) -> String {
    body["id"].as_str().expect("an id").to_owned()
}

/// Two residents with an SOS alert each, and what an institution's admin
/// sets up; answers the residents, devices and alerts.
async fn populate(app: &TestApp, admin: &str, tag: &str) -> ([String; 2], [String; 2], [String; 2]) {
    let mut resident = [String::new(), String::new()];
    let mut device = [String::new(), String::new()];
    for (i, name) in ["Mine", "Theirs"].iter().enumerate() {
        resident[i] = app.resident(admin, &format!("{name} {tag}")).await;
        device[i] = format!("sos-{tag}-{i}");
        app.device(admin, json!({"device_id": device[i], "resident_id": resident[i], "kind": "sos_button"})).await;
        app.broker
            .publish(&format!("eldercare/v1/{}/event", device[i]), json!({"event": "sos_pressed"}).to_string())
            .await;
    }
    let alerts = wait_for("both SOS alerts", || async {
        let list = app.get("/api/v1/alerts", admin).await["alerts"].as_array()?.clone();
        (list.len() == 2).then_some(list)
    })
    .await;
    let alert_of = |rid: &str| id_of(alerts.iter().find(|a| a["resident_id"] == rid).expect("the resident's alert"));
    let alert = [alert_of(&resident[0]), alert_of(&resident[1])];
    (resident, device, alert)
}

#[tokio::test]
async fn every_endpoint_enforces_its_policy_for_every_role_across_two_institutions() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let operator = app.operator_token().await;
    let home = app.get("/api/v1/me", &admin).await["institution_id"].as_str().expect("home").to_owned();
    app.call("PATCH", &format!("/api/v1/institutions/{home}"), Some(&operator), Some(json!({"region": "North"}))).await;
    let other = id_of(
        &app.post(
            "/api/v1/institutions",
            &operator,
            json!({"name": "Riverside Home Care", "kind": "home_care", "region": "North", "timezone": "Asia/Shanghai"}),
        )
        .await,
    );
    let user = |email: &str, role: &str| json!({"email": email, "password": "long enough pw", "role": role, "name": email.split('@').next()});
    app.post(&format!("/api/v1/institutions/{other}/users"), &operator, user("other-admin@test.example", "admin"))
        .await;
    app.post("/api/v1/divisions", &operator, json!({"code": DISTRICT, "name": "Haishu", "level": "district"})).await;
    app.post(
        "/api/v1/supervisors",
        &operator,
        json!({"email": "sup@test.example", "password": "long enough pw", "name": "Sup", "region": "North"}),
    )
    .await;
    let other_admin = app.login("other-admin@test.example", "long enough pw").await;
    app.post("/api/v1/users", &other_admin, user("other-staff@test.example", "staff")).await;

    let (resident, device, alert) = populate(&app, &admin, "home").await;
    let (other_resident, other_device, other_alert) = populate(&app, &other_admin, "other").await;
    let staff_id = id_of(&app.post("/api/v1/users", &admin, user("staff@test.example", "staff")).await);
    app.post("/api/v1/users", &admin, user("carer@test.example", "caregiver")).await;
    let family_id = id_of(&app.post("/api/v1/users", &admin, user("fam@test.example", "family")).await);
    let target_id = id_of(&app.post("/api/v1/users", &admin, user("target@test.example", "family")).await);
    app.post(
        &format!("/api/v1/residents/{}/family", resident[0]),
        &admin,
        json!({"user_id": family_id, "relationship": "son"}),
    )
    .await;
    let hook = json!({"url": "http://127.0.0.1:9/hook", "secret": "0123456789abcdef"});
    let webhook = id_of(&app.post("/api/v1/webhooks", &admin, hook.clone()).await);
    let other_webhook = id_of(&app.post("/api/v1/webhooks", &other_admin, hook).await);
    app.post("/api/v1/gateways", &admin, json!({"gateway_id": "gw-world", "base_topic": "zigbee2mqtt/world"})).await;
    let visit_body = |resident: &str| {
        json!({"resident_id": resident, "service_code": "WELFARE-CHECK", "scheduled_start": "2030-01-01T09:00:00Z",
               "funding": "institution"})
    };
    let visit = [
        id_of(&app.post("/api/v1/visits", &admin, visit_body(&resident[0])).await),
        id_of(&app.post("/api/v1/visits", &other_admin, visit_body(&other_resident[0])).await),
    ];
    let mut kitchen = Vec::new();
    let mut meal_order = Vec::new();
    let mut meal_date = String::new();
    for (token, resident) in [(&admin, &resident[0]), (&other_admin, &other_resident[0])] {
        let k = id_of(&app.post("/api/v1/kitchens", token, json!({"name": "Canteen", "cutoff": "23:59"})).await);
        let every_day = json!({"mon": ["lunch"], "tue": ["lunch"], "wed": ["lunch"], "thu": ["lunch"], "fri": ["lunch"], "sat": ["lunch"], "sun": ["lunch"]});
        let plan = json!({"kitchen_id": k, "delivery": "home", "funding": "subsidy", "days": every_day});
        let (status, body) =
            app.call("PUT", &format!("/api/v1/residents/{resident}/meal-plan"), Some(token), Some(plan)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let orders = app.get(&format!("/api/v1/meal-orders?resident_id={resident}"), token).await;
        let order = &orders["orders"][0];
        meal_order.push(order["id"].as_str().expect("a lunch order from the plan").to_owned());
        if meal_date.is_empty() {
            meal_date = order["date"].as_str().expect("its date").to_owned();
        }
        kitchen.push(k);
    }
    let kitchen: [String; 2] = kitchen.try_into().expect("two kitchens");
    let meal_order: [String; 2] = meal_order.try_into().expect("two orders");
    let secrets = |resident: &[String; 2], device: &[String; 2], alert: &[String; 2], webhook: &str, tag: &str| {
        let mut s: Vec<String> = resident.iter().chain(device).chain(alert).cloned().collect();
        s.extend([webhook.to_owned(), format!("Mine {tag}"), format!("Theirs {tag}")]);
        s
    };
    let mut enrolment = Vec::new();
    for (token, resident) in [(&admin, &resident[0]), (&other_admin, &other_resident[0])] {
        let list = app.get(&format!("/api/v1/residents/{resident}/enrolments"), token).await;
        enrolment.push(id_of(&list["enrolments"][0]));
    }
    let enrolment: [String; 2] = enrolment.try_into().expect("two enrolments");
    let mut condition = Vec::new();
    for resident in [&resident[0], &other_resident[0]] {
        let id: uuid::Uuid = sqlx::query_scalar(
            "insert into clinical_records (id, resident_id, kind, display, resource, source_institution_id, bundle_id)
             select gen_random_uuid(), r.id, 'Condition', 'hip fracture',
                    jsonb_build_object('resourceType', 'Condition', 'subject',
                                       jsonb_build_object('reference', 'Patient/' || r.id), 'code',
                                       jsonb_build_object('text', 'hip fracture')),
                    r.institution_id, gen_random_uuid()
             from residents r where r.id = $1::uuid returning id",
        )
        .bind(resident)
        .fetch_one(&app.pool)
        .await
        .expect("a condition sent in");
        condition.push(id.to_string());
    }
    let condition: [String; 2] = condition.try_into().expect("two conditions");
    let world = World {
        enrolment,
        condition,
        institution: home,
        home_secrets: [secrets(&resident, &device, &alert, &webhook, "home"), vec![visit[0].clone()]].concat(),
        other_secrets: [
            secrets(&other_resident, &other_device, &other_alert, &other_webhook, "other"),
            vec![visit[1].clone()],
        ]
        .concat(),
        visit,
        kitchen,
        meal_order,
        meal_date,
        resident,
        device,
        alert,
        webhook,
        family_id,
        staff_id,
        target_id,
    };

    // Every documented operation has a row, and every row is documented.
    let table = policy();
    let public = ["/healthz", "/readyz", "/metrics", "/api/openapi.json", "/api/v1/auth/login", "/open/v1/aggregates"];
    let operations = eldercare::api::openapi::operations();
    for op in operations.iter().filter(|op| !public.contains(&op.path.as_str())) {
        assert!(
            table.iter().any(|(m, p, _, _)| *m == op.method && *p == op.path),
            "{} {} has no access policy row in this test",
            op.method,
            op.path
        );
    }
    let documented = table.iter().filter(|(_, path, _, _)| !path.starts_with("/fhir/")).count();
    assert_eq!(documented, operations.len() - public.len());

    let logins = [
        (OPERATOR_EMAIL, OPERATOR_PASSWORD),
        ("sup@test.example", "long enough pw"),
        (ADMIN_EMAIL, ADMIN_PASSWORD),
        ("staff@test.example", "long enough pw"),
        ("carer@test.example", "long enough pw"),
        ("fam@test.example", "long enough pw"),
        ("fam@test.example", "long enough pw"),
        ("other-admin@test.example", "long enough pw"),
        ("other-staff@test.example", "long enough pw"),
    ];
    let mut tokens = Vec::new();
    for (email, password) in logins {
        tokens.push(app.login(email, password).await);
    }
    let mut n = 0;
    for (method, template, body, expect) in &table {
        // Unauthenticated: always 401.
        let path = fill(template, &world, true, n);
        let (status, _) = call(&app, method, &path, None, body, &world, n).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {path} without a token");
        for caller in ORDER {
            n += 1;
            let token = if template.ends_with("/logout") {
                let (email, password) = logins[caller];
                app.login(email, password).await
            } else {
                tokens[caller].clone()
            };
            let mut path = fill(template, &world, caller != OTHER_FAMILY, n);
            if template.contains("/family/{user_id}") {
                link(&app, &world.resident, &world.target_id).await;
            }
            if *template == "/api/v1/me/sessions/{id}" {
                let (email, password) = logins[caller];
                let second = app.login(email, password).await;
                let sessions = app.get("/api/v1/me/sessions", &second).await;
                let current = sessions["sessions"].as_array().unwrap().iter().find(|s| s["current"] == true).unwrap();
                path = path.replace("{id}", current["id"].as_str().unwrap());
            }
            let (status, resp) = call(&app, method, &path, Some(&token), body, &world, n).await;
            let who = CALLERS[caller];
            let got = match status {
                StatusCode::FORBIDDEN => F,
                StatusCode::NOT_FOUND => N,
                s if s.is_server_error() || s == StatusCode::UNAUTHORIZED || s == StatusCode::METHOD_NOT_ALLOWED => {
                    panic!("{method} {path} as {who}: {s} {resp}")
                }
                _ => A,
            };
            assert_eq!(got, expect[caller], "{method} {path} as {who} got {status} {resp}");
            // Whatever the answer, it shows nothing of an institution the
            // caller is not in, nor of a resident the family is not linked to.
            let text = resp.to_string();
            let foreign: Vec<&String> = match caller {
                c if c >= 7 => world.home_secrets.iter().collect(),
                OPERATOR | 1 | 4 => world.home_secrets.iter().chain(&world.other_secrets).collect(),
                OTHER_FAMILY | 5 => world
                    .other_secrets
                    .iter()
                    .chain([&world.resident[1], &world.device[1], &world.alert[1], &world.webhook])
                    .collect(),
                _ => world.other_secrets.iter().collect(),
            };
            for secret in foreign {
                assert!(!text.contains(secret.as_str()), "{method} {path} as {who} shows {secret}: {text}");
            }
        }
    }
}

/// Links the target family user to both of home's residents again.
async fn link(app: &TestApp, residents: &[String; 2], user: &str) {
    for resident in residents {
        sqlx::query(
            "insert into family_links (resident_id, user_id, relationship) values ($1::uuid, $2::uuid, 'niece')
             on conflict do nothing",
        )
        .bind(resident)
        .bind(user)
        .execute(&app.pool)
        .await
        .unwrap();
    }
}

async fn call(
    app: &TestApp,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: &Value,
    world: &World,
    n: usize,
) -> (StatusCode, Value) {
    let path = &if path.ends_with("/readings") { format!("{path}?metric=heart_rate") } else { path.to_owned() };
    if path.ends_with("/alerts/stream") {
        // A stream never ends: the status is the answer.
        let mut req = app.http.get(app.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let r = req.send().await.unwrap();
        return (r.status(), Value::Null);
    }
    let body = (!body.is_null()).then(|| serde_json::from_str(&fill(&body.to_string(), world, true, n)).unwrap());
    app.call(&method.to_uppercase(), path, token, body).await
}

#[tokio::test]
async fn the_audit_trail_records_who_changed_what_and_detects_tampering() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let rid = app.resident(&admin, "Audited").await;
    app.call("PATCH", &format!("/api/v1/residents/{rid}"), Some(&admin), Some(json!({"room": "7"}))).await;
    app.call("PUT", &format!("/api/v1/residents/{rid}/thresholds"), Some(&admin), Some(json!({"spo2": {"min": 92}})))
        .await;
    app.device(&admin, json!({"device_id": "aud-1", "resident_id": rid, "kind": "sos_button"})).await;
    app.broker.publish("eldercare/v1/aud-1/event", json!({"event": "sos_pressed"}).to_string()).await;
    let alert = wait_for("the SOS", || async {
        app.get("/api/v1/alerts", &admin).await["alerts"].as_array()?.first().cloned()
    })
    .await;
    let id = alert["id"].as_str().unwrap();
    app.call("POST", &format!("/api/v1/alerts/{id}/acknowledge"), Some(&admin), None).await;

    let trail = app.get("/api/v1/audit", &admin).await;
    let entries = trail["entries"].as_array().unwrap();
    let actions: Vec<&str> =
        entries.iter().map(|e| e["action"].as_str().unwrap()).filter(|a| !a.starts_with("login.")).collect();
    assert_eq!(
        actions,
        vec!["alert.acknowledged", "device.registered", "thresholds.replaced", "resident.updated", "resident.created"]
    );
    let me = app.get("/api/v1/me", &admin).await;
    assert!(entries.iter().all(|e| e["actor_id"] == me["id"]));
    let updated = entries.iter().position(|e| e["action"] == "resident.updated").unwrap();
    assert_eq!(entries[updated]["details"]["room"], "7");
    assert_eq!(entries[updated]["erased"], false);
    let for_resident = app.get(&format!("/api/v1/audit?entity=resident&entity_id={rid}"), &admin).await;
    assert_eq!(for_resident["entries"].as_array().unwrap().len(), 3);
    // Paged two at a time, the trail is the same entries in the same order.
    assert_eq!(trail["next_cursor"], Value::Null, "one page holds it all");
    let (mut paged, mut cursor) = (vec![], String::new());
    loop {
        let page = app.get(&format!("/api/v1/audit?limit=2{cursor}"), &admin).await;
        let page_entries = page["entries"].as_array().unwrap();
        assert!(page_entries.len() <= 2, "{page}");
        paged.extend(page_entries.iter().map(|e| e["id"].clone()));
        match page["next_cursor"].as_str() {
            Some(next) => cursor = format!("&cursor={next}"),
            None => break,
        }
    }
    assert_eq!(paged, entries.iter().map(|e| e["id"].clone()).collect::<Vec<_>>());
    let (status, _) = app.call("GET", "/api/v1/audit?cursor=not-a-cursor", Some(&admin), None).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    let ok = app.get("/api/v1/audit/verify", &admin).await;
    assert_eq!(ok, json!({"valid": true, "entries": entries.len(), "broken_at": null, "reason": null}));

    // The application cannot edit or delete entries...
    let refused = sqlx::query("update audit_log set action = 'nothing' where action = 'resident.updated'")
        .execute(&app.pool)
        .await;
    assert!(refused.unwrap_err().to_string().contains("append-only"));
    assert!(sqlx::query("delete from audit_log").execute(&app.pool).await.is_err());
    // ...and someone who gets around that is found out.
    sqlx::query("alter table audit_log disable trigger audit_log_append_only").execute(&app.pool).await.unwrap();
    // The personal values beside the chain are bound to it by their digest.
    let entry = "entry_id = (select id from audit_log where action = 'resident.updated')";
    let original: String =
        sqlx::query_scalar(sqlx::AssertSqlSafe(format!("select details from audit_personal where {entry}")))
            .fetch_one(&app.pool)
            .await
            .unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "update audit_personal set details = '{{\"room\": \"8\"}}' where {entry}"
    )))
    .execute(&app.pool)
    .await
    .unwrap();
    let broken = app.get("/api/v1/audit/verify", &admin).await;
    assert_eq!(broken["valid"], false);
    assert_eq!(broken["entries"], entries.len() - 1 - updated, "the entries before it are intact, it is not");
    assert!(broken["reason"].as_str().unwrap().contains("personal values differ"), "{broken}");
    sqlx::query(sqlx::AssertSqlSafe(format!("update audit_personal set details = $1 where {entry}")))
        .bind(&original)
        .execute(&app.pool)
        .await
        .unwrap();
    assert_eq!(app.get("/api/v1/audit/verify", &admin).await["valid"], true);
    sqlx::query("update audit_log set action = 'resident.deleted' where action = 'resident.updated'")
        .execute(&app.pool)
        .await
        .unwrap();
    assert_eq!(app.get("/api/v1/audit/verify", &admin).await["valid"], false, "a column changed under the chain");
    sqlx::query("update audit_log set action = 'resident.updated' where action = 'resident.deleted'")
        .execute(&app.pool)
        .await
        .unwrap();
    sqlx::query(
        "delete from audit_personal where entry_id = (select id from audit_log where action = 'thresholds.replaced')",
    )
    .execute(&app.pool)
    .await
    .unwrap();
    sqlx::query("delete from audit_log where action = 'thresholds.replaced'").execute(&app.pool).await.unwrap();
    let removed = app.get("/api/v1/audit/verify", &admin).await;
    assert_eq!(removed["valid"], false);
    assert!(removed["reason"].as_str().unwrap().contains("removed"));
}

#[tokio::test]
async fn changing_the_password_revokes_every_session() {
    let app = TestApp::spawn().await;
    let first = app.admin_token().await;
    let second = app.admin_token().await;
    let (status, body) = app
        .call(
            "POST",
            "/api/v1/me/password",
            Some(&first),
            Some(json!({"current_password": "wrong one", "new_password": "a brand new password"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["error"]["field"], "current_password");
    let (status, body) = app
        .call(
            "POST",
            "/api/v1/me/password",
            Some(&first),
            Some(json!({"current_password": ADMIN_PASSWORD, "new_password": "short"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["error"]["field"], "new_password");
    let (status, _) = app
        .call(
            "POST",
            "/api/v1/me/password",
            Some(&first),
            Some(json!({"current_password": ADMIN_PASSWORD, "new_password": "a brand new password"})),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    for token in [&first, &second] {
        let (status, _) = app.call("GET", "/api/v1/me", Some(token), None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "every old session is revoked");
    }
    let (status, _) = app
        .call("POST", "/api/v1/auth/login", None, Some(json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    app.login(ADMIN_EMAIL, "a brand new password").await;
}

#[tokio::test]
async fn repeated_failed_logins_are_slowed_down() {
    let app = TestApp::spawn().await;
    let wrong = json!({"email": ADMIN_EMAIL, "password": "guess guess guess"});
    for _ in 0..5 {
        let (status, _) = app.call("POST", "/api/v1/auth/login", None, Some(wrong.clone())).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let (status, body) = app.call("POST", "/api/v1/auth/login", None, Some(wrong)).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(body["error"]["code"], "too_many_requests");
    // Even the right password waits out the window: the account is locked.
    let (status, _) = app
        .call("POST", "/api/v1/auth/login", None, Some(json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})))
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
}

/// A list's cursor is the id of its last row; the id of a row the caller does
/// not reach is refused, never used as a position: the page it would start
/// tells where that row sorts, and so its name a letter at a time.
#[tokio::test]
async fn a_cursor_naming_a_row_out_of_reach_is_refused_not_used() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let operator = app.operator_token().await;
    let other = id_of(
        &app.post(
            "/api/v1/institutions",
            &operator,
            json!({"name": "Riverside Home Care", "kind": "home_care", "timezone": "Asia/Shanghai"}),
        )
        .await,
    );
    let user = |email: &str, role: &str| json!({"email": email, "password": "long enough pw", "role": role, "name": email.split('@').next()});
    app.post(&format!("/api/v1/institutions/{other}/users"), &operator, user("other-admin@test.example", "admin"))
        .await;
    let other_admin = app.login("other-admin@test.example", "long enough pw").await;
    let (resident, _, alert) = populate(&app, &admin, "home").await;
    let (other_resident, _, other_alert) = populate(&app, &other_admin, "other").await;
    let family = id_of(&app.post("/api/v1/users", &admin, user("fam@test.example", "family")).await);
    let other_family = id_of(&app.post("/api/v1/users", &other_admin, user("ofam@test.example", "family")).await);
    for (admin, resident, family) in [(&admin, &resident, &family), (&other_admin, &other_resident, &other_family)] {
        app.post(
            &format!("/api/v1/residents/{}/family", resident[0]),
            admin,
            json!({"user_id": family, "relationship": "son"}),
        )
        .await;
    }
    let hook = json!({"url": "http://127.0.0.1:9/hook", "secret": "0123456789abcdef"});
    let webhook = id_of(&app.post("/api/v1/webhooks", &admin, hook.clone()).await);
    let other_webhook = id_of(&app.post("/api/v1/webhooks", &other_admin, hook).await);
    let me = id_of(&app.get("/api/v1/me", &admin).await);
    let home = app.get("/api/v1/me", &admin).await["institution_id"].as_str().unwrap().to_owned();
    let sessions = app.get("/api/v1/me/sessions", &admin).await;
    let session = sessions["sessions"][0]["id"].as_str().unwrap().to_owned();
    let other_sessions = app.get("/api/v1/me/sessions", &other_admin).await;
    let other_session = other_sessions["sessions"][0]["id"].as_str().unwrap().to_owned();
    let other_me = id_of(&app.get("/api/v1/me", &other_admin).await);

    let family_list = format!("/api/v1/residents/{}/family", resident[0]);
    let lists = [
        ("/api/v1/residents", resident[0].clone(), other_resident[0].clone()),
        ("/api/v1/alerts", alert[0].clone(), other_alert[0].clone()),
        ("/api/v1/users", me, other_me),
        ("/api/v1/webhooks", webhook, other_webhook),
        ("/api/v1/institutions", home, other),
        ("/api/v1/me/sessions", session, other_session),
        (family_list.as_str(), family, other_family),
    ];
    for (list, mine, theirs) in lists {
        let (status, body) = app.call("GET", &format!("{list}?cursor={mine}"), Some(&admin), None).await;
        assert_eq!(status, StatusCode::OK, "{list} with a cursor of its own: {body}");
        let (status, body) = app.call("GET", &format!("{list}?cursor={theirs}"), Some(&admin), None).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{list} with another's row as cursor: {body}");
        assert_eq!(body["error"]["field"], "cursor", "{body}");
    }
    // A family member's lists are bounded by their links.
    let son = app.login("fam@test.example", "long enough pw").await;
    let (status, _) = app.call("GET", &format!("/api/v1/me/residents?cursor={}", resident[0]), Some(&son), None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app.call("GET", &format!("/api/v1/me/residents?cursor={}", resident[1]), Some(&son), None).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "a resident of the institution the son is not linked to");
}
