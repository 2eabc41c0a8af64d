//! What a read of a resident's health data was, as the access log names it.

use eldercare_domain::names;

names!(
    /// A kind of read, as the access log names it.
    AccessKind {
        Readings = "readings",
        Events = "events",
        Summary = "summary",
        Export = "export",
        /// A read of the FHIR view.
        Fhir = "fhir",
        /// A key safe code handed to the carer at the door.
        KeySafe = "key_safe",
        /// The responder sheet (contacts, conditions, medication, directives).
        ResponderSheet = "responder_sheet",
        /// Not a read: the resident's records were erased. Kept so the log
        /// shows that an erasure happened and who made it.
        Erase = "erase",
        /// A rule backtest, which replays the resident's stored history.
        Backtest = "backtest",
    }
);
