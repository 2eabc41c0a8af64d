//! The names the backend and the broker use, which no device or gateway may
//! take. A device's id is its MQTT username and its client id: a device
//! named after one of the backend's sessions (`<client_id>-events`) would
//! kick that session off the broker each time it connects, and receive the
//! alarms queued for it. The rule is here, pure; the names of every process
//! that shares the database are kept in `mqtt_reserved_names`, so each
//! process refuses the others' names too.

use std::collections::HashSet;

/// Every name beginning with this (in any case) is the backend's: its
/// defaults (`eldercare-ingest`), its roles on Mosquitto
/// (`eldercare-device-...`) and whatever sessions a later release opens.
pub const PREFIX: &str = "eldercare-";

/// The suffixes of the sessions a process opens under its `client_id`: the
/// two ingest lanes and the broker admin connection.
const SESSION_SUFFIXES: [&str; 3] = ["-events", "-telemetry", "-admin"];

/// Why a name may not be a device's or a gateway's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reserved {
    /// It begins with [`PREFIX`].
    Prefix,
    /// It is a client id or username one of the backend's processes uses.
    Backend,
}

impl Reserved {
    /// Says why, for the 409 and the audit trail.
    pub fn reason(self) -> &'static str {
        match self {
            Reserved::Prefix => {
                "names beginning with \"eldercare-\" are reserved for the backend's own broker sessions"
            }
            Reserved::Backend => "this name is reserved for the backend's own broker sessions and accounts",
        }
    }

    /// The short form kept in the audit entry and the alert's details.
    pub fn as_str(self) -> &'static str {
        match self {
            Reserved::Prefix => "reserved_prefix",
            Reserved::Backend => "backend_name",
        }
    }
}

/// The names one process uses on the broker, lowercased: its client id and
/// the sessions opened under it, its ingest username and, when it manages
/// Mosquitto, the admin username.
pub fn process_names(client_id: &str, ingest_username: Option<&str>, admin_username: Option<&str>) -> Vec<String> {
    let mut names: Vec<String> = std::iter::once(client_id.to_owned())
        .chain(SESSION_SUFFIXES.iter().map(|s| format!("{client_id}{s}")))
        .chain(ingest_username.map(str::to_owned))
        .chain(admin_username.map(str::to_owned))
        .map(|n| n.to_lowercase())
        .collect();
    names.sort();
    names.dedup();
    names
}

/// Whether `name` (a device or gateway id, so also a username and client
/// id) is reserved, given the lowercased names of the backend's processes.
/// Compared without case: a broker may fold case, and `Eldercare-Ingest` is
/// meant as the backend whatever a broker makes of it.
pub fn reserved(name: &str, backend: &HashSet<String>) -> Option<Reserved> {
    let lower = name.to_lowercase();
    if lower.starts_with(PREFIX) {
        Some(Reserved::Prefix)
    } else if backend.contains(&lower) {
        Some(Reserved::Backend)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backend() -> HashSet<String> {
        let mut names: HashSet<String> =
            process_names("eldercare-ingest", Some("eldercare-ingest"), Some("admin")).into_iter().collect();
        names.extend(process_names("Worker-2", Some("ingest"), None));
        names
    }

    #[test]
    fn a_process_reserves_its_sessions_and_accounts() {
        assert_eq!(
            process_names("Worker-2", Some("ingest"), Some("admin")),
            ["admin", "ingest", "worker-2", "worker-2-admin", "worker-2-events", "worker-2-telemetry"]
        );
        assert_eq!(process_names("w", Some("w"), None), ["w", "w-admin", "w-events", "w-telemetry"], "once each");
    }

    #[test]
    fn the_backends_names_and_the_prefix_are_refused_in_any_case() {
        let b = backend();
        for name in ["worker-2", "WORKER-2-events", "worker-2-telemetry", "worker-2-admin", "ingest", "Admin"] {
            assert_eq!(reserved(name, &b), Some(Reserved::Backend), "{name}");
        }
        for name in [
            "eldercare-ingest",
            "eldercare-ingest-events",
            "eldercare-ingest-telemetry",
            "eldercare-ingest-admin",
            "Eldercare-anything",
            "ELDERCARE-",
            "eldercare-device-w-1",
        ] {
            assert_eq!(reserved(name, &b), Some(Reserved::Prefix), "{name}");
        }
    }

    #[test]
    fn ordinary_names_are_free() {
        let b = backend();
        for name in
            ["w-1", "eldercare", "eldercare_ingest", "my-eldercare-watch", "worker-2-event", "worker-3", "gw-17"]
        {
            assert_eq!(reserved(name, &b), None, "{name}");
        }
        assert_eq!(reserved("worker-2", &HashSet::new()), None, "only the names recorded are the backend's");
    }
}
