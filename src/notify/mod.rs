//! Telling people: the live stream of alert changes for consoles and apps,
//! and signed webhooks delivered from the transactional outbox.

pub mod stream;
pub mod targets;
pub mod webhooks;
