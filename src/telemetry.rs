//! Structured logs. Quiet by default in tests (set `TEST_LOG=1` to see them).

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

pub fn init<W>(json: bool, default_filter: &str, sink: W)
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(sink);
    // A second init (several tests in one process) is harmless: keep the first.
    let _ = if json { builder.json().try_init() } else { builder.try_init() };
}
