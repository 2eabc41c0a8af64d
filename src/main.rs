use anyhow::Context;
use clap::{Parser, Subcommand};
use eldercare::app::Application;
use eldercare::config::Settings;
use eldercare::{backtest, import, store, telemetry};
use std::path::PathBuf;

use chrono::NaiveDate;
use uuid::Uuid;

/// Elderly-care monitoring backend.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the backend: MQTT ingestion, rules, HTTP API and console.
    Serve,
    /// Apply the database migrations and exit.
    Migrate,
    /// Replay a resident's stored history through the rules and print what
    /// they would have raised (writes nothing).
    Backtest {
        /// The resident's id.
        #[arg(long)]
        resident: uuid::Uuid,
        /// Start of the window (RFC 3339).
        #[arg(long)]
        from: chrono::DateTime<chrono::Utc>,
        /// End of the window, excluded (RFC 3339).
        #[arg(long)]
        to: chrono::DateTime<chrono::Utc>,
        /// A JSON file: a rule-settings patch, or `{"settings", "meal_windows", "thresholds"}` as the API takes them.
        #[arg(long)]
        settings: Option<std::path::PathBuf>,
    },
    /// Import a sensor log recorded elsewhere as a resident's history.
    #[command(subcommand)]
    Import(Import),
}

#[derive(Subcommand)]
enum Import {
    /// A CASAS smart-home log: lines `YYYY-MM-DD HH:MM:SS[.ffffff] SENSOR VALUE [label...]`.
    Casas {
        /// The log file.
        file: PathBuf,
        /// The resident whose history it is; the log's local time is their timezone.
        #[arg(long)]
        resident: Uuid,
        /// TOML naming each sensor's kind, room, placement or metric:
        /// `M004 = {kind = "motion_sensor", room = "bedroom"}`.
        #[arg(long)]
        map: PathBuf,
        /// Move the log's dates by whole days so that it ends on this date (YYYY-MM-DD).
        #[arg(long)]
        shift_to_end: Option<NaiveDate>,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let settings = Settings::load().context("loading settings")?;
    telemetry::init(settings.log.format == "json", "info,sqlx=warn", std::io::stdout);
    match cli.command {
        Command::Migrate => {
            let pool = store::pool(&settings.database)?;
            let mode = store::migrate(&pool).await.context("migrating")?;
            tracing::info!(?mode, "migrations applied");
        }
        Command::Backtest { resident, from, to, settings: file } => {
            let (settings_patch, meal_windows, thresholds) = match file {
                Some(path) => {
                    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
                    let parts: serde_json::Value =
                        serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))?;
                    if parts.get("settings").is_some() {
                        (
                            parts.get("settings").cloned(),
                            parts.get("meal_windows").cloned(),
                            parts.get("thresholds").cloned(),
                        )
                    } else {
                        (Some(parts), None, None)
                    }
                }
                None => (None, None, None),
            };
            let request = backtest::Request { from, to, settings: settings_patch, meal_windows, thresholds };
            let pool = store::pool(&settings.database)?;
            let tick = chrono::Duration::milliseconds(settings.scheduler.tick_ms.max(1) as i64);
            let cache = store::settings::SettingsCache::default();
            // One backtest, then the process ends: nothing to stop it early
            // but Ctrl-C, and no other backtest to share with.
            let stop = tokio_util::sync::CancellationToken::new();
            // The command line is the operator's own, on the database: no
            // user's scope to ask.
            let resident =
                eldercare::domain::scope::Reached::<eldercare::domain::scope::Monitoring>::for_the_platform(resident);
            let report = backtest::run(&pool, &cache, &resident, &request, tick, stop, backtest::Slot::alone()).await?;
            print!("{}", backtest::table(&report));
        }
        Command::Import(Import::Casas { file, resident, map, shift_to_end }) => {
            let pool = store::pool(&settings.database)?;
            let job = import::CasasImport { file, resident, map, shift_to_end };
            let report = import::casas(&pool, &job).await?;
            print_import(&report);
        }
        Command::Serve => {
            let app = Application::build(settings).await?;
            tracing::info!(addr = %app.addr()?, "listening");
            let token = app.shutdown_token();
            tokio::spawn(async move {
                wait_for_signal().await;
                tracing::info!("shutting down: committing and acknowledging what was received");
                token.cancel();
            });
            app.run_until_stopped().await?;
        }
    }
    Ok(())
}

fn print_import(report: &import::Report) {
    if report.shifted_days != 0 {
        println!("dates moved by {} days", report.shifted_days);
    }
    for (line, why) in &report.examples {
        println!("unreadable line {line}: {why}");
    }
    if !report.unmapped.is_empty() {
        let sensors: Vec<String> = report.unmapped.iter().map(|(s, n)| format!("{s} ({n})")).collect();
        println!("sensors not in the map: {}", sensors.join(", "));
    }
    if report.statuses != 0 {
        println!("device status changes (OFFLINE, ONLINE) stored: {}", report.statuses);
    }
    println!(
        "lines: {}; stored by an earlier import: {}; no data (a sensor going quiet): {}",
        report.lines, report.already_stored, report.no_data
    );
    println!("{}", report.summary());
}

async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
