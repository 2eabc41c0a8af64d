//! Whom to tell, and when: notification preferences with quiet hours, and
//! the on-call rota. Pure: local times in, decisions out.

use chrono::{Datelike, NaiveDateTime, NaiveTime};
use eldercare_domain::names;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::care::Day;
use super::{AlertKind, Role, Severity};

/// The channel a change of whom a user reaches (a family link made or
/// ended) is announced on; the payload is the user's id.
pub const REACH_CHANNEL: &str = "eldercare_reach";

names!(
    /// How a person is reached.
    Channel {
        Push = "push",
        Sms = "sms",
        Voice = "voice",
    }
);

/// A span of local time, possibly across midnight (`22:00`–`07:00`); equal
/// ends are the whole day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = QuietHours)]
pub struct Span {
    #[serde(with = "hhmm")]
    #[schema(value_type = String, pattern = "^[0-2][0-9]:[0-5][0-9]$")]
    pub start: NaiveTime,
    #[serde(with = "hhmm")]
    #[schema(value_type = String, pattern = "^[0-2][0-9]:[0-5][0-9]$")]
    pub end: NaiveTime,
}

impl Span {
    pub fn contains(&self, t: NaiveTime) -> bool {
        if self.start == self.end {
            true
        } else if self.start < self.end {
            self.start <= t && t < self.end
        } else {
            t >= self.start || t < self.end
        }
    }
}

/// What a user wants to be told about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NotificationPreferencesInput)]
pub struct Preferences {
    pub min_severity: Severity,
    /// null or absent: every kind
    #[schema(min_items = 1)]
    pub kinds: Option<Vec<AlertKind>>,
    #[serde(default, deserialize_with = "super::wire::object")]
    pub quiet_hours: Option<Span>,
    /// `push` always works; `sms` and `voice` need a phone number and the
    /// institution's gateway.
    #[serde(default = "push_only")]
    #[schema(default = json!(["push"]))]
    pub channels: Vec<Channel>,
}

fn push_only() -> Vec<Channel> {
    vec![Channel::Push]
}

impl Preferences {
    /// The contract's defaults: staff everything `high` and above (while on
    /// call), family `critical` alerts (and messages).
    pub fn default_for(role: Role) -> Preferences {
        let min_severity = if role == Role::Family { Severity::Critical } else { Severity::High };
        Preferences { min_severity, kinds: None, quiet_hours: None, channels: push_only() }
    }

    /// Whether an alert of this kind and severity is told now (`local`, the
    /// user's institution's time). Quiet hours never hold back a critical
    /// alert.
    pub fn wants_alert(&self, kind: AlertKind, severity: Severity, local: NaiveTime) -> bool {
        severity >= self.min_severity
            && self.kinds.as_ref().is_none_or(|kinds| kinds.contains(&kind))
            && (severity == Severity::Critical || !self.is_quiet(local))
    }

    /// Whether a question about the resident (a presence check) is put to
    /// this person now: whatever the severity they chose, unless they left
    /// its kind out; never in their quiet hours.
    pub fn wants_question(&self, kind: AlertKind, local: NaiveTime) -> bool {
        self.kinds.as_ref().is_none_or(|kinds| kinds.contains(&kind)) && !self.is_quiet(local)
    }

    /// Messages wait for the morning.
    pub fn wants_message(&self, local: NaiveTime) -> bool {
        !self.is_quiet(local)
    }

    fn is_quiet(&self, local: NaiveTime) -> bool {
        self.quiet_hours.is_some_and(|q| q.contains(local))
    }
}

/// One line of the rota: a user on call at a level on some days, from
/// `start` to `end` local time. A shift past midnight belongs to the day it
/// starts on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = OnCallShift)]
pub struct Shift {
    pub user_id: Uuid,
    #[schema(minimum = 1, maximum = 9)]
    pub level: i32,
    pub days: Vec<Day>,
    /// HH:MM, the institution's time
    #[serde(with = "hhmm")]
    #[schema(value_type = String)]
    pub start: NaiveTime,
    /// HH:MM; before start: past midnight; equal: all day
    #[serde(with = "hhmm")]
    #[schema(value_type = String)]
    pub end: NaiveTime,
}

impl Shift {
    pub fn covers(&self, local: NaiveDateTime) -> bool {
        let span = Span { start: self.start, end: self.end };
        if !span.contains(local.time()) {
            return false;
        }
        let today = Day::of(local.weekday());
        let overnight_tail = self.start > self.end && local.time() < self.end;
        let day = if overnight_tail { Day::of(local.weekday().pred()) } else { today };
        self.days.contains(&day)
    }
}

/// Who is on call at `level` at `local` time.
pub fn on_call(shifts: &[Shift], level: i32, local: NaiveDateTime) -> Vec<Uuid> {
    let mut users: Vec<Uuid> =
        shifts.iter().filter(|s| s.level == level && s.covers(local)).map(|s| s.user_id).collect();
    users.dedup();
    users
}

/// `HH:MM` times.
mod hhmm {
    use chrono::NaiveTime;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &NaiveTime, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&t.format("%H:%M").to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<NaiveTime, D::Error> {
        let text = String::deserialize(d)?;
        NaiveTime::parse_from_str(&text, "%H:%M").map_err(|_| serde::de::Error::custom("times are HH:MM"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn t(h: u32, m: u32) -> NaiveTime {
        NaiveTime::from_hms_opt(h, m, 0).unwrap()
    }

    /// 2026-11-30 is a Monday.
    fn at(day: u32, h: u32, m: u32) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(2026, 11, day).unwrap().and_time(t(h, m))
    }

    #[test]
    fn quiet_hours_hold_back_all_but_critical() {
        let prefs = Preferences {
            min_severity: Severity::Medium,
            kinds: None,
            quiet_hours: Some(Span { start: t(22, 0), end: t(7, 0) }),
            channels: push_only(),
        };
        assert!(prefs.wants_alert(AlertKind::Fall, Severity::Critical, t(23, 30)));
        assert!(prefs.wants_alert(AlertKind::Fall, Severity::Critical, t(3, 0)));
        assert!(!prefs.wants_alert(AlertKind::LowBattery, Severity::High, t(23, 30)));
        assert!(!prefs.wants_alert(AlertKind::LowBattery, Severity::High, t(6, 59)));
        assert!(prefs.wants_alert(AlertKind::LowBattery, Severity::High, t(7, 0)));
        assert!(!prefs.wants_alert(AlertKind::LowBattery, Severity::Low, t(12, 0)), "below the minimum");
        assert!(!prefs.wants_message(t(22, 0)));
        assert!(prefs.wants_message(t(21, 59)));
    }

    #[test]
    fn a_question_is_put_below_the_chosen_severity_but_not_in_quiet_hours_or_when_its_kind_is_left_out() {
        let family = Preferences {
            quiet_hours: Some(Span { start: t(22, 0), end: t(7, 0) }),
            ..Preferences::default_for(Role::Family)
        };
        assert!(!family.wants_alert(AlertKind::PresenceCheck, Severity::Low, t(12, 0)));
        assert!(family.wants_question(AlertKind::PresenceCheck, t(12, 0)));
        assert!(!family.wants_question(AlertKind::PresenceCheck, t(23, 0)));
        let sos_only = Preferences { kinds: Some(vec![AlertKind::Sos]), ..family };
        assert!(!sos_only.wants_question(AlertKind::PresenceCheck, t(12, 0)));
    }

    #[test]
    fn kinds_filter_alerts() {
        let prefs = Preferences { kinds: Some(vec![AlertKind::Sos]), ..Preferences::default_for(Role::Staff) };
        assert!(prefs.wants_alert(AlertKind::Sos, Severity::Critical, t(12, 0)));
        assert!(!prefs.wants_alert(AlertKind::Fall, Severity::Critical, t(12, 0)));
    }

    #[test]
    fn role_defaults() {
        let family = Preferences::default_for(Role::Family);
        assert!(family.wants_alert(AlertKind::Fall, Severity::Critical, t(3, 0)));
        assert!(!family.wants_alert(AlertKind::Inactivity, Severity::High, t(12, 0)));
        let staff = Preferences::default_for(Role::Staff);
        assert!(staff.wants_alert(AlertKind::Inactivity, Severity::High, t(12, 0)));
        assert!(!staff.wants_alert(AlertKind::LowBattery, Severity::Medium, t(12, 0)));
        assert_eq!(staff.channels, vec![Channel::Push]);
    }

    #[test]
    fn shifts_cover_their_days_and_hours() {
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let shifts = vec![
            Shift { user_id: a, level: 1, days: vec![Day::Mon, Day::Tue], start: t(8, 0), end: t(20, 0) },
            // Monday night into Tuesday morning.
            Shift { user_id: b, level: 1, days: vec![Day::Mon], start: t(20, 0), end: t(8, 0) },
            Shift { user_id: b, level: 2, days: vec![Day::Mon], start: t(0, 0), end: t(0, 0) },
        ];
        assert_eq!(on_call(&shifts, 1, at(30, 9, 0)), vec![a]);
        assert_eq!(on_call(&shifts, 1, at(30, 21, 0)), vec![b]);
        assert_eq!(on_call(&shifts, 1, at(30, 7, 0)), Vec::<Uuid>::new(), "Sunday night is nobody's");
        // Tuesday 03:00 is still Monday night's shift.
        let tuesday_night = NaiveDate::from_ymd_opt(2026, 12, 1).unwrap().and_time(t(3, 0));
        assert_eq!(on_call(&shifts, 1, tuesday_night), vec![b]);
        assert_eq!(on_call(&shifts, 2, at(30, 23, 59)), vec![b], "equal ends: all day");
        assert_eq!(on_call(&shifts, 2, tuesday_night), Vec::<Uuid>::new());
    }

    #[test]
    fn preferences_speak_json() {
        let prefs: Preferences = serde_json::from_value(serde_json::json!({
            "min_severity": "high", "kinds": ["fall"], "quiet_hours": {"start": "22:00", "end": "07:00"}
        }))
        .unwrap();
        assert_eq!(prefs.channels, vec![Channel::Push]);
        assert_eq!(serde_json::to_value(&prefs).unwrap()["quiet_hours"]["end"], "07:00");
        assert!(
            serde_json::from_value::<Preferences>(serde_json::json!({"min_severity": "high", "kinds": null,
            "quiet_hours": {"start": "25:00", "end": "07:00"}}))
            .is_err()
        );
    }
}

/// The OpenAPI schemas of notification fields a Rust type says less about,
/// for `#[schema(schema_with = ...)]` on the API's and the store's types.
pub mod schema {
    use utoipa::openapi::Object;
    use utoipa::openapi::schema::{ObjectBuilder, Type};

    use super::Channel;

    /// The kind of a gateway: SMS or voice, never push.
    pub fn gateway_kind() -> Object {
        let kinds = [Channel::Sms, Channel::Voice].map(|c| c.to_string());
        ObjectBuilder::new().schema_type(Type::String).enum_values(Some(kinds)).build()
    }
}
