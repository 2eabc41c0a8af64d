//! What a responder needs at the door: how to get in, whom to call, what
//! the resident lives with, what they take, what they want done. Checked
//! here, stored whole, shown to care staff on the alert and to the carer on
//! a visit dispatched from one. The key safe code is not part of the sheet:
//! it is sealed apart and handed out only to the carer at the door.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::care::{Location, VisitStatus};
use super::clinical::SheetRecords;
use super::wire;

/// At most this many items in each list.
pub const MAX_ITEMS: usize = 20;
/// At most this many characters in a string of the sheet.
pub const MAX_TEXT: usize = 200;
/// At most this many characters in the access instructions.
pub const MAX_INSTRUCTIONS: usize = 1000;
/// A key safe code is 1 to this many characters.
pub const MAX_CODE: usize = 32;

/// The sheet as an admin writes it: every part optional, the whole replaced.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = ResponderInfo)]
pub struct SheetRequest {
    #[serde(default, deserialize_with = "wire::object")]
    #[schema(inline)]
    pub access: Option<AccessRequest>,
    #[serde(default, deserialize_with = "wire::objects")]
    #[schema(max_items = 20)]
    pub emergency_contacts: Option<Vec<Contact>>,
    #[schema(max_items = 20, schema_with = super::field::texts_or_null::<20, 200>)]
    pub conditions: Option<Vec<String>>,
    #[schema(max_items = 20, schema_with = super::field::texts_or_null::<20, 200>)]
    pub allergies: Option<Vec<String>>,
    #[serde(default, deserialize_with = "wire::objects")]
    #[schema(max_items = 20)]
    pub medications: Option<Vec<Medication>>,
    #[serde(default, deserialize_with = "wire::object")]
    pub directives: Option<Directives>,
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AccessRequest {
    #[schema(max_length = 1000)]
    pub instructions: Option<String>,
    /// Given in clear, then only ever sealed. Write-only, so absent keeps
    /// the stored code (a client that read the sheet back cannot resend
    /// it) and `null` removes it.
    #[serde(default, deserialize_with = "wire::double_option")]
    #[schema(schema_with = super::field::key_safe_code)]
    pub key_safe_code: Option<Option<String>>,
}

/// What a change does to the key safe code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySafe {
    Keep,
    Set(String),
    Remove,
}

impl KeySafe {
    /// How the audit trail names the change: never the code.
    pub fn as_str(&self) -> &'static str {
        match self {
            KeySafe::Keep => "kept",
            KeySafe::Set(_) => "set",
            KeySafe::Remove => "removed",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = EmergencyContact)]
pub struct Contact {
    #[schema(schema_with = super::field::text::<200>)]
    pub name: String,
    #[schema(schema_with = super::field::text::<200>)]
    pub relation: String,
    #[schema(min_length = 1, max_length = 200, pattern = r"^[0-9+().\- ]*[0-9][0-9+().\- ]*$")]
    pub phone: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// 1 is called first
    #[schema(minimum = 1, maximum = 20)]
    pub priority: Option<u8>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Medication {
    #[schema(schema_with = super::field::text::<200>)]
    pub name: String,
    #[serde(default)]
    #[schema(max_length = 200)]
    pub dose: Option<String>,
    #[serde(default)]
    #[schema(max_length = 200)]
    pub schedule: Option<String>,
}

/// Advance directives.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Directives {
    /// do not attempt cardiopulmonary resuscitation
    pub dnacpr: bool,
    #[serde(default)]
    #[schema(max_length = 200)]
    pub note: Option<String>,
}

/// The stored sheet, without the key safe code.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Sheet {
    #[serde(default)]
    pub instructions: Option<String>,
    #[serde(default)]
    pub emergency_contacts: Vec<Contact>,
    #[serde(default)]
    pub conditions: Vec<String>,
    #[serde(default)]
    pub allergies: Vec<String>,
    #[serde(default)]
    pub medications: Vec<Medication>,
    #[serde(default)]
    pub directives: Option<Directives>,
}

/// How to get in, as anyone but the carer at the door reads it: whether
/// there is a key safe, never its code.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[schema(as = ResponderAccess)]
pub struct Access {
    #[schema(required = true)]
    pub instructions: Option<String>,
    pub key_safe: bool,
}

/// The sheet as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[schema(as = ResponderSheet)]
pub struct SheetView {
    pub access: Access,
    pub emergency_contacts: Vec<Contact>,
    pub conditions: Vec<String>,
    pub allergies: Vec<String>,
    pub medications: Vec<Medication>,
    #[schema(required = true)]
    pub directives: Option<Directives>,
    /// What medical partners sent in (conditions, allergies, medication),
    /// each marked with its source: beside what staff wrote, never over it.
    pub from_partners: SheetRecords,
}

/// The sheet on an alert or a dispatched visit: where the door is, too.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Responder {
    #[schema(required = true)]
    pub address: Option<String>,
    #[schema(required = true, schema_with = super::field::location_or_null)]
    pub location: Option<Location>,
    #[serde(flatten)]
    pub sheet: SheetView,
}

impl Sheet {
    pub fn view(self, key_safe: bool) -> SheetView {
        SheetView {
            access: Access { instructions: self.instructions, key_safe },
            emergency_contacts: self.emergency_contacts,
            conditions: self.conditions,
            allergies: self.allergies,
            medications: self.medications,
            directives: self.directives,
            from_partners: SheetRecords::default(),
        }
    }
}

/// A checked request: the sheet to store and what to do with the key safe.
#[derive(Debug, Clone, PartialEq)]
pub struct Checked {
    pub sheet: Sheet,
    pub key_safe: KeySafe,
}

/// A refused field: its path and why.
pub type Refused = (String, String);

/// At most `max` characters as given, not blank; kept trimmed.
fn text(field: &str, value: &str, max: usize) -> Result<String, Refused> {
    if value.chars().count() > max {
        return Err((field.to_owned(), format!("{field} must be at most {max} characters")));
    }
    let value = value.trim();
    if value.is_empty() {
        return Err((field.to_owned(), format!("{field} must not be blank")));
    }
    Ok(value.to_owned())
}

/// As [`text`], blank meaning none.
fn optional(field: &str, value: Option<&str>, max: usize) -> Result<Option<String>, Refused> {
    match value {
        Some(v) if v.chars().count() > max || !v.trim().is_empty() => text(field, v, max).map(Some),
        _ => Ok(None),
    }
}

fn list<T>(field: &str, items: Option<Vec<T>>) -> Result<Vec<T>, Refused> {
    let items = items.unwrap_or_default();
    if items.len() > MAX_ITEMS {
        return Err((field.to_owned(), format!("{field} takes at most {MAX_ITEMS} items")));
    }
    Ok(items)
}

impl SheetRequest {
    /// Trims and bounds every part, or names the first field refused.
    pub fn check(self) -> Result<Checked, Refused> {
        let access = self.access.unwrap_or_default();
        let instructions = optional("access.instructions", access.instructions.as_deref(), MAX_INSTRUCTIONS)?;
        let key_safe = match access.key_safe_code {
            None => KeySafe::Keep,
            Some(None) => KeySafe::Remove,
            Some(Some(code)) => {
                let n = code.chars().count();
                if n == 0 || n > MAX_CODE || code.trim() != code {
                    return Err((
                        "access.key_safe_code".into(),
                        format!("key_safe_code must be 1 to {MAX_CODE} characters, without surrounding spaces"),
                    ));
                }
                KeySafe::Set(code)
            }
        };
        let mut emergency_contacts = Vec::new();
        for (i, c) in list("emergency_contacts", self.emergency_contacts)?.into_iter().enumerate() {
            let at = |f: &str| format!("emergency_contacts[{i}].{f}");
            let phone = text(&at("phone"), &c.phone, MAX_TEXT)?;
            if !phone.chars().any(|ch| ch.is_ascii_digit())
                || !phone.chars().all(|ch| ch.is_ascii_digit() || " +-().".contains(ch))
            {
                return Err((at("phone"), "phone must be digits, with + - ( ) . and spaces".into()));
            }
            if c.priority.is_some_and(|p| !(1..=MAX_ITEMS as u8).contains(&p)) {
                return Err((at("priority"), format!("priority must be from 1 to {MAX_ITEMS}")));
            }
            emergency_contacts.push(Contact {
                name: text(&at("name"), &c.name, MAX_TEXT)?,
                relation: text(&at("relation"), &c.relation, MAX_TEXT)?,
                phone,
                priority: c.priority,
            });
        }
        let strings = |field: &str, items: Option<Vec<String>>| -> Result<Vec<String>, Refused> {
            list(field, items)?.iter().enumerate().map(|(i, s)| text(&format!("{field}[{i}]"), s, MAX_TEXT)).collect()
        };
        let conditions = strings("conditions", self.conditions)?;
        let allergies = strings("allergies", self.allergies)?;
        let mut medications = Vec::new();
        for (i, m) in list("medications", self.medications)?.into_iter().enumerate() {
            let at = |f: &str| format!("medications[{i}].{f}");
            medications.push(Medication {
                name: text(&at("name"), &m.name, MAX_TEXT)?,
                dose: optional(&at("dose"), m.dose.as_deref(), MAX_TEXT)?,
                schedule: optional(&at("schedule"), m.schedule.as_deref(), MAX_TEXT)?,
            });
        }
        let directives = match self.directives {
            None => None,
            Some(d) => {
                Some(Directives { dnacpr: d.dnacpr, note: optional("directives.note", d.note.as_deref(), MAX_TEXT)? })
            }
        };
        Ok(Checked {
            sheet: Sheet { instructions, emergency_contacts, conditions, allergies, medications, directives },
            key_safe,
        })
    }
}

/// How far from a visit's scheduled start its carer may open the key safe.
pub const KEY_SAFE_WINDOW: chrono::Duration = chrono::Duration::hours(12);

/// Whether `caller` may have the key safe code for a visit: only the one
/// assigned to it, while it is assigned, under way or missed (someone must
/// still get in), within [`KEY_SAFE_WINDOW`] of its scheduled start.
pub fn may_open_key_safe(
    status: VisitStatus,
    assigned: Option<Uuid>,
    caller: Uuid,
    scheduled_start: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> bool {
    assigned == Some(caller)
        && matches!(status, VisitStatus::Assigned | VisitStatus::CheckedIn | VisitStatus::Missed)
        && scheduled_start.is_some_and(|at| (at - now).abs() <= KEY_SAFE_WINDOW)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_the_assigned_carer_opens_the_key_safe_around_the_visit() {
        let now = Utc::now();
        let (carer, other) = (Uuid::new_v4(), Uuid::new_v4());
        let may = |status, who, at| may_open_key_safe(status, Some(carer), who, Some(at), now);
        assert!(may(VisitStatus::Assigned, carer, now));
        assert!(may(VisitStatus::CheckedIn, carer, now - chrono::Duration::hours(12)));
        assert!(may(VisitStatus::Missed, carer, now + chrono::Duration::hours(12)));
        assert!(!may(VisitStatus::Assigned, other, now));
        assert!(!may(VisitStatus::Assigned, carer, now - chrono::Duration::hours(13)));
        assert!(!may(VisitStatus::Assigned, carer, now + chrono::Duration::hours(13)));
        for status in [VisitStatus::Scheduled, VisitStatus::Completed, VisitStatus::Cancelled, VisitStatus::Requested] {
            assert!(!may(status, carer, now), "{status}");
        }
        assert!(!may_open_key_safe(VisitStatus::Assigned, None, carer, Some(now), now));
        assert!(!may_open_key_safe(VisitStatus::Assigned, Some(carer), carer, None, now));
    }

    fn request(value: serde_json::Value) -> SheetRequest {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn a_full_sheet_is_trimmed_and_kept() {
        let checked = request(json!({
            "access": {"instructions": " side door ", "key_safe_code": "4711"},
            "emergency_contacts": [{"name": "Li Wei", "relation": "son", "phone": "+86 138 0000 0000", "priority": 1}],
            "conditions": ["type 2 diabetes"], "allergies": ["penicillin"],
            "medications": [{"name": "metformin", "dose": "500 mg", "schedule": ""}],
            "directives": {"dnacpr": true}
        }))
        .check()
        .unwrap();
        assert_eq!(checked.key_safe, KeySafe::Set("4711".into()));
        assert_eq!(checked.sheet.instructions.as_deref(), Some("side door"));
        assert_eq!(checked.sheet.medications[0].schedule, None);
        assert_eq!(checked.sheet.directives, Some(Directives { dnacpr: true, note: None }));
        let view = serde_json::to_value(checked.sheet.view(true)).unwrap();
        assert_eq!(view["access"], json!({"instructions": "side door", "key_safe": true}));
        assert!(!view.to_string().contains("4711"));
    }

    #[test]
    fn an_empty_request_is_an_empty_sheet() {
        let checked = request(json!({})).check().unwrap();
        assert_eq!(checked, Checked { sheet: Sheet::default(), key_safe: KeySafe::Keep });
        let removed = request(json!({"access": {"key_safe_code": null}})).check().unwrap();
        assert_eq!(removed.key_safe, KeySafe::Remove);
    }

    #[test]
    fn bounds_name_the_field() {
        let field = |v: serde_json::Value| request(v).check().unwrap_err().0;
        assert_eq!(field(json!({"access": {"key_safe_code": ""}})), "access.key_safe_code");
        assert_eq!(field(json!({"access": {"key_safe_code": "1".repeat(33)}})), "access.key_safe_code");
        assert_eq!(field(json!({"access": {"instructions": "x".repeat(1001)}})), "access.instructions");
        assert_eq!(field(json!({"conditions": vec!["x"; 21]})), "conditions");
        assert_eq!(field(json!({"allergies": ["x".repeat(201)]})), "allergies[0]");
        assert_eq!(field(json!({"allergies": [" "]})), "allergies[0]");
        let contact = json!({"name": "A", "relation": "son", "phone": "call me"});
        assert_eq!(field(json!({"emergency_contacts": [contact]})), "emergency_contacts[0].phone");
        let contact = json!({"name": "A", "relation": "son", "phone": "123", "priority": 0});
        assert_eq!(field(json!({"emergency_contacts": [contact]})), "emergency_contacts[0].priority");
        assert_eq!(field(json!({"medications": [{"name": ""}]})), "medications[0].name");
        assert_eq!(field(json!({"directives": {"dnacpr": false, "note": "n".repeat(201)}})), "directives.note");
        assert!(serde_json::from_value::<SheetRequest>(json!({"access": {"code": "1"}})).is_err());
    }
}
