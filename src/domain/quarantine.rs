//! What the quarantine says about a refused message.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Why a device message was refused, as the quarantine and the metrics name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, sqlx::Type)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum Reason {
    Malformed,
    UnknownDevice,
    UnknownMetric,
    ImplausibleValue,
    TimestampOutOfBounds,
    Oversized,
    BadTopic,
    /// Well-formed, but holding what PostgreSQL cannot store (a NUL
    /// character, an unpaired surrogate, a number beyond its types): found by
    /// the decoder, or by the database refusing the message on its own.
    Unstorable,
}

impl Reason {
    pub const ALL: [Reason; 8] = [
        Reason::Malformed,
        Reason::UnknownDevice,
        Reason::UnknownMetric,
        Reason::ImplausibleValue,
        Reason::TimestampOutOfBounds,
        Reason::Oversized,
        Reason::BadTopic,
        Reason::Unstorable,
    ];

    pub fn parse(name: &str) -> Option<Reason> {
        Reason::ALL.into_iter().find(|r| r.as_str() == name)
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            Reason::Malformed => "malformed",
            Reason::UnknownDevice => "unknown_device",
            Reason::UnknownMetric => "unknown_metric",
            Reason::ImplausibleValue => "implausible_value",
            Reason::TimestampOutOfBounds => "timestamp_out_of_bounds",
            Reason::Oversized => "oversized",
            Reason::BadTopic => "bad_topic",
            Reason::Unstorable => "unstorable",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
