//! What a read of a resident's health data was, as the access log names it.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, sqlx::Type)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum AccessKind {
    Readings,
    Events,
    Summary,
    Export,
    /// A read of the FHIR view.
    Fhir,
    /// A key safe code handed to the carer at the door.
    KeySafe,
    /// The responder sheet (contacts, conditions, medication, directives).
    ResponderSheet,
    /// Not a read: the resident's records were erased. Kept so the log
    /// shows that an erasure happened and who made it.
    Erase,
    /// A rule backtest, which replays the resident's stored history.
    Backtest,
}

impl AccessKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AccessKind::Readings => "readings",
            AccessKind::Events => "events",
            AccessKind::Summary => "summary",
            AccessKind::Export => "export",
            AccessKind::Fhir => "fhir",
            AccessKind::KeySafe => "key_safe",
            AccessKind::ResponderSheet => "responder_sheet",
            AccessKind::Erase => "erase",
            AccessKind::Backtest => "backtest",
        }
    }
}
