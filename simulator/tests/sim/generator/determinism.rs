//! Same seed, same bytes; and generating in pieces equals generating at once.

use chrono::Duration;
use eldercare_sim::{generate, generate_with_incidents};

use crate::generator::{config, utc};

#[test]
fn same_seed_gives_identical_bytes() {
    let mut a = config(5, 77);
    a.incident_rate = 2.0;
    let b = a.clone();
    let (from, to) = (utc(2026, 2, 1, 0), utc(2026, 2, 2, 12));
    let (x, y) = (generate_with_incidents(&a, from, to), generate_with_incidents(&b, from, to));
    assert!(!x.messages.is_empty());
    assert_eq!(x, y);
}

#[test]
fn another_seed_gives_another_day() {
    let (from, to) = (utc(2026, 2, 1, 0), utc(2026, 2, 2, 0));
    let a = generate(&config(2, 1), from, to);
    let b = generate(&config(2, 2), from, to);
    assert_ne!(a, b);
}

#[test]
fn hourly_chunks_equal_one_generation() {
    let mut c = config(4, 8);
    c.incident_rate = 3.0;
    let from = utc(2026, 3, 28, 6);
    let to = from + Duration::hours(30);
    let whole = generate_with_incidents(&c, from, to);
    let mut pieces = Vec::new();
    let mut incidents = Vec::new();
    let mut t = from;
    while t < to {
        let g = generate_with_incidents(&c, t, t + Duration::hours(1));
        pieces.extend(g.messages);
        incidents.extend(g.incidents);
        t += Duration::hours(1);
    }
    assert_eq!(pieces.len(), whole.messages.len());
    assert!(pieces == whole.messages, "chunked generation differs");
    assert_eq!(incidents, whole.incidents);
}
