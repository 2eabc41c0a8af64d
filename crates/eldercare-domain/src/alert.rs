//! What an alert is about: the kinds the backend raises, which consoles and
//! the simulator's reports name.

crate::names!(
    /// An alert's kind.
    AlertKind {
        Fall = "fall",
        Sos = "sos",
        Smoke = "smoke",
        Gas = "gas",
        WaterLeak = "water_leak",
        VitalAbnormal = "vital_abnormal",
        MissedMeal = "missed_meal",
        Inactivity = "inactivity",
        NoMorningActivity = "no_morning_activity",
        NightWandering = "night_wandering",
        BedExitNoReturn = "bed_exit_no_return",
        /// Out of the house and not back by the evening's bound.
        NotReturned = "not_returned",
        /// The entrance door closed and nothing since, in a home that cannot
        /// see her walk out, at a time she does not usually go out: the family
        /// and her phone are asked whether she went out.
        PresenceCheck = "presence_check",
        DeviceOffline = "device_offline",
        LowBattery = "low_battery",
        /// The platform watching itself: messages wait and none is committed.
        IngestStalled = "ingest_stalled",
        /// A write lane keeps failing on data it should be able to store (a
        /// fault of ours, not of a device).
        IngestFailing = "ingest_failing",
        /// No scheduler leader has judged the time-driven rules for a while.
        SchedulerStalled = "scheduler_stalled",
        /// An institution whose devices were sending data has gone quiet.
        InstitutionSilent = "institution_silent",
        /// A device or gateway held a name reserved for the backend's own broker
        /// sessions; its credential was revoked at start.
        IdentityRevoked = "identity_revoked",
        /// A care visit nobody has checked in to 15 minutes after its start.
        VisitLate = "visit_late",
        /// A care visit nobody checked in to within the institution's grace.
        VisitMissed = "visit_missed",
        /// The meal courier found no one answering the door.
        MealNoAnswer = "meal_no_answer",
    }
);

impl AlertKind {
    /// The kinds away mode suppresses. SOS, falls and hazards are never
    /// suppressed by away mode: a visitor or an intruder may be the one in
    /// danger, and a fire does not care who is home.
    pub fn is_behaviour(&self) -> bool {
        matches!(
            self,
            AlertKind::MissedMeal
                | AlertKind::Inactivity
                | AlertKind::NoMorningActivity
                | AlertKind::NightWandering
                | AlertKind::BedExitNoReturn
                | AlertKind::NotReturned
                | AlertKind::PresenceCheck
        )
    }
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;

    #[test]
    fn kind_names_round_trip_and_match_serde() {
        for kind in AlertKind::ALL {
            assert_eq!(AlertKind::parse(kind.as_str()), Some(kind));
            assert_eq!(serde_json::to_value(kind).unwrap(), Value::String(kind.as_str().into()));
        }
        assert_eq!(AlertKind::parse("Fall"), None);
        let behaviour: Vec<_> = AlertKind::ALL.into_iter().filter(AlertKind::is_behaviour).collect();
        assert_eq!(
            behaviour,
            [
                AlertKind::MissedMeal,
                AlertKind::Inactivity,
                AlertKind::NoMorningActivity,
                AlertKind::NightWandering,
                AlertKind::BedExitNoReturn,
                AlertKind::NotReturned,
                AlertKind::PresenceCheck
            ]
        );
    }
}
