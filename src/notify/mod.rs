//! Telling people: the live stream of alert changes for consoles and apps,
//! signed webhooks delivered from the transactional outbox, and people
//! reached where they are (Web Push, SMS and voice gateways) through the
//! on-call rota and their preferences.

pub mod deliver;
pub mod outbox;
pub mod people;
pub mod stream;
pub mod targets;
pub mod webhooks;
pub mod webpush;
