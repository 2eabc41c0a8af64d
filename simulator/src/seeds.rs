//! Independent, reproducible random streams.
//!
//! Every random choice draws from a stream keyed by (seed, resident, day,
//! purpose), so a day of one resident is the same whatever range is
//! generated around it, and adding an incident does not reshuffle the rest.

use rand::SeedableRng;
use rand::rngs::StdRng;

/// What a stream is used for; each purpose gets its own sequence.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Stream {
    Profile = 1,
    Routine = 2,
    Incidents = 3,
    Incident = 4,
    Render = 5,
    Device = 6,
    /// Spans of several days (holidays, a stopped kettle, a dead sensor), by fortnight.
    Fortnight = 7,
    /// A day's confounders (a visitor, a long lie).
    Confounders = 8,
    /// A day's dangerous look-alikes (a collapse in the hall, a fall on the
    /// way in, not back at night).
    LookAlikes = 9,
    /// What a household is fitted with (a hall motion sensor or not).
    Equipment = 10,
}

pub(crate) fn rng(seed: u64, resident: &str, day: i64, stream: Stream) -> StdRng {
    StdRng::seed_from_u64(mix(seed, resident, day, stream as u64))
}

/// A stable 64-bit value for one device, used for phases and battery cycles.
pub(crate) fn device_hash(seed: u64, device_id: &str) -> u64 {
    mix(seed, device_id, 0, Stream::Device as u64)
}

fn mix(seed: u64, key: &str, day: i64, stream: u64) -> u64 {
    let mut h = splitmix(seed ^ 0x9e37_79b9_7f4a_7c15);
    h = splitmix(h ^ fnv1a(key));
    h = splitmix(h ^ day as u64);
    splitmix(h ^ stream)
}

fn fnv1a(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

fn splitmix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}
