//! What the quarantine says about a refused message.

use eldercare_domain::names;

names!(
    /// Why a device message was refused, as the quarantine and the metrics name it.
    Reason {
        Malformed = "malformed",
        UnknownDevice = "unknown_device",
        UnknownMetric = "unknown_metric",
        ImplausibleValue = "implausible_value",
        TimestampOutOfBounds = "timestamp_out_of_bounds",
        Oversized = "oversized",
        BadTopic = "bad_topic",
        /// Well-formed, but holding what PostgreSQL cannot store (a NUL
        /// character, an unpaired surrogate, a number beyond its types): found by
        /// the decoder, or by the database refusing the message on its own.
        Unstorable = "unstorable",
    }
);
