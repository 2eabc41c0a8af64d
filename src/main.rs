use anyhow::Context;
use clap::{Parser, Subcommand};
use eldercare::app::Application;
use eldercare::config::Settings;
use eldercare::{store, telemetry};

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
