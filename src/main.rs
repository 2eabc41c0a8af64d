use anyhow::Context;
use clap::{Parser, Subcommand};
use eldercare::app::Application;
use eldercare::config::Settings;
use eldercare::{import, store, telemetry};
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
