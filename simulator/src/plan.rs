//! A resident's day as a timeline: where they are and what they do, the
//! discrete things they do with devices, and the device-level conditions
//! (abnormal vitals, outages, hazards) that incidents add. The routine writes
//! it, incidents edit it, the renderer turns it into messages.

use chrono::{DateTime, Duration, Utc};

use crate::model::{DeviceRole, HazardDetector, Meal, Room};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Place {
    Bed,
    Room(Room),
    Away,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Activity {
    Sleep,
    /// Lying or sitting quietly, awake or dozing (naps).
    Rest,
    /// Not moving at all for a long time (the inactivity incident).
    Still,
    /// Reading, watching TV, eating: a movement every few minutes.
    Seated,
    /// Washing, dressing, cooking: moving all the time.
    Active,
    /// Walking from one room to the next.
    Transit,
    /// Walking outside.
    Walk,
    /// On the floor after a fall.
    Fallen,
}

impl Activity {
    /// Seconds between two PIR detections, or `None` when a PIR sees nothing.
    pub(crate) fn detection_gap(self) -> Option<(i64, i64)> {
        match self {
            Activity::Active | Activity::Transit => Some((15, 60)),
            Activity::Seated => Some((120, 720)),
            Activity::Sleep | Activity::Rest | Activity::Still | Activity::Walk | Activity::Fallen => None,
        }
    }

    /// Steps per minute, before the resident's mobility factor.
    pub(crate) fn steps(self) -> (f64, f64) {
        match self {
            Activity::Sleep | Activity::Rest | Activity::Still | Activity::Fallen => (0.0, 0.0),
            Activity::Seated => (0.0, 4.0),
            Activity::Active => (8.0, 35.0),
            Activity::Transit => (15.0, 40.0),
            Activity::Walk => (60.0, 105.0),
        }
    }

    /// Heart-rate offset from the resting baseline.
    pub(crate) fn heart_rate_delta(self) -> f64 {
        match self {
            Activity::Sleep => -7.0,
            Activity::Rest | Activity::Still => -3.0,
            Activity::Seated => 0.0,
            Activity::Active => 9.0,
            Activity::Transit => 12.0,
            Activity::Walk => 24.0,
            Activity::Fallen => 18.0,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Segment {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub place: Place,
    pub activity: Activity,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Action {
    FridgeOpen {
        open_secs: i64,
    },
    Kettle {
        on_secs: i64,
    },
    /// The entrance door opened by someone coming or going (a visitor)
    /// while the resident stays in.
    EntranceDoor {
        open_secs: i64,
    },
    Medication {
        slot: &'static str,
    },
    MealServed(Meal),
    MealEaten(Meal),
    /// A blood-pressure measurement (cuff or FHIR gateway).
    BloodPressure,
    /// The morning weigh-in (and glucose) via the FHIR gateway.
    MorningVitals,
    Fall {
        room: Option<Room>,
        confidence: f64,
        cancel_after: Option<Duration>,
    },
    Sos,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TimedAction {
    pub at: DateTime<Utc>,
    pub action: Action,
    /// Routine actions give way when an incident rewrites their time span.
    pub routine: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum VitalKind {
    Tachycardia,
    LowSpo2,
    Fever,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct VitalEpisode {
    pub kind: VitalKind,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// Heart rate, SpO2 or temperature at the episode's worst.
    pub peak: f64,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Outage {
    pub role: DeviceRole,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct LowBattery {
    pub role: DeviceRole,
    pub from: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Hazard {
    pub kind: HazardDetector,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

/// Something in the day worth naming to whoever scores the rules against
/// it: a confounder (a long nap, a visitor, a holiday away) or an incident
/// that is no device event (a long lie, a sensor dying).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Label {
    pub kind: &'static str,
    pub from: DateTime<Utc>,
    pub until: DateTime<Utc>,
    pub detail: String,
    /// An incident the rules should catch, rather than ordinary life.
    pub incident: bool,
    /// A holiday: whether the family recorded it as "away".
    pub recorded: Option<bool>,
}

/// One local calendar day of one resident.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct DayPlan {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// Contiguous, sorted, covering `start..end`.
    pub segments: Vec<Segment>,
    pub actions: Vec<TimedAction>,
    pub vitals: Vec<VitalEpisode>,
    pub outages: Vec<Outage>,
    pub low_batteries: Vec<LowBattery>,
    pub hazards: Vec<Hazard>,
    /// Named spans that start this day (see [`Label`]).
    pub labels: Vec<Label>,
}

impl DayPlan {
    pub(crate) fn new(start: DateTime<Utc>, end: DateTime<Utc>, segments: Vec<Segment>) -> Self {
        DayPlan {
            start,
            end,
            segments,
            actions: Vec::new(),
            vitals: Vec::new(),
            outages: Vec::new(),
            low_batteries: Vec::new(),
            hazards: Vec::new(),
            labels: Vec::new(),
        }
    }

    pub(crate) fn segment_at(&self, at: DateTime<Utc>) -> Option<&Segment> {
        let i = self.segments.partition_point(|s| s.end <= at);
        self.segments.get(i).filter(|s| s.start <= at)
    }

    pub(crate) fn routine_action(&mut self, at: DateTime<Utc>, action: Action) {
        self.actions.push(TimedAction { at, action, routine: true });
    }

    pub(crate) fn incident_action(&mut self, at: DateTime<Utc>, action: Action) {
        self.actions.push(TimedAction { at, action, routine: false });
    }

    /// Replaces the timeline under `new` (contiguous segments) with it, and
    /// drops the routine actions it covers. Parts outside the day are cut.
    pub(crate) fn overlay(&mut self, new: Vec<Segment>) {
        let new: Vec<Segment> = new
            .into_iter()
            .map(|s| Segment { start: s.start.max(self.start), end: s.end.min(self.end), ..s })
            .filter(|s| s.start < s.end)
            .collect();
        let (Some(first), Some(last)) = (new.first(), new.last()) else {
            return;
        };
        let (from, to) = (first.start, last.end);
        let mut out: Vec<Segment> =
            self.segments.iter().filter(|s| s.start < from).map(|s| Segment { end: s.end.min(from), ..*s }).collect();
        out.extend(new);
        out.extend(self.segments.iter().filter(|s| s.end > to).map(|s| Segment { start: s.start.max(to), ..*s }));
        self.segments = out;
        self.actions.retain(|a| !(a.routine && a.at >= from && a.at < to));
    }

    /// Within `from..to`, moves whoever was in `room` to `place` doing
    /// `activity` (or what they were doing, if `None`).
    pub(crate) fn relocate(
        &mut self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        room: Room,
        place: Place,
        activity: Option<Activity>,
    ) {
        let mut out: Vec<Segment> = Vec::with_capacity(self.segments.len() + 2);
        for s in &self.segments {
            let cuts = [s.start, from.clamp(s.start, s.end), to.clamp(s.start, s.end), s.end];
            for w in cuts.windows(2) {
                if w[0] >= w[1] {
                    continue;
                }
                let inside = w[0] >= from && w[1] <= to;
                let mut part = Segment { start: w[0], end: w[1], ..*s };
                if inside && s.place == Place::Room(room) {
                    part.place = place;
                    part.activity = activity.unwrap_or(s.activity);
                }
                match out.last_mut() {
                    Some(last) if last.place == part.place && last.activity == part.activity => {
                        last.end = part.end;
                    }
                    _ => out.push(part),
                }
            }
        }
        self.segments = out;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, h, m, 0).unwrap()
    }

    fn seg(a: DateTime<Utc>, b: DateTime<Utc>, place: Place) -> Segment {
        Segment { start: a, end: b, place, activity: Activity::Seated }
    }

    #[test]
    fn overlay_splits_and_drops_covered_routine_actions() {
        let mut plan = DayPlan::new(
            t(0, 0),
            t(23, 0),
            vec![seg(t(0, 0), t(10, 0), Place::Bed), seg(t(10, 0), t(23, 0), Place::Room(Room::Kitchen))],
        );
        plan.routine_action(t(11, 0), Action::Sos);
        plan.incident_action(t(11, 30), Action::Sos);
        plan.overlay(vec![seg(t(9, 0), t(12, 0), Place::Away)]);
        let places: Vec<_> = plan.segments.iter().map(|s| (s.start, s.end, s.place)).collect();
        assert_eq!(
            places,
            vec![
                (t(0, 0), t(9, 0), Place::Bed),
                (t(9, 0), t(12, 0), Place::Away),
                (t(12, 0), t(23, 0), Place::Room(Room::Kitchen)),
            ]
        );
        assert_eq!(plan.actions.len(), 1);
        assert!(!plan.actions[0].routine);
        assert_eq!(plan.segment_at(t(9, 0)).map(|s| s.place), Some(Place::Away));
    }

    #[test]
    fn relocate_only_touches_the_room_inside_the_span() {
        let mut plan = DayPlan::new(
            t(0, 0),
            t(23, 0),
            vec![seg(t(0, 0), t(10, 0), Place::Room(Room::Kitchen)), seg(t(10, 0), t(23, 0), Place::Room(Room::Hall))],
        );
        plan.relocate(t(8, 0), t(12, 0), Room::Kitchen, Place::Room(Room::LivingRoom), Some(Activity::Seated));
        let places: Vec<_> = plan.segments.iter().map(|s| (s.start, s.place)).collect();
        assert_eq!(
            places,
            vec![
                (t(0, 0), Place::Room(Room::Kitchen)),
                (t(8, 0), Place::Room(Room::LivingRoom)),
                (t(10, 0), Place::Room(Room::Hall)),
            ]
        );
    }
}
