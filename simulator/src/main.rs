//! `eldercare-sim`: the command line over the simulator library.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result};
use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use clap::{Args, Parser, Subcommand};
use eldercare_sim::casas;
use eldercare_sim::clock::{self, Speed};
use eldercare_sim::confounders::Confounders;
use eldercare_sim::dispatch;
use eldercare_sim::latency;
use eldercare_sim::load::{self, LoadOptions};
use eldercare_sim::mqtt::Broker;
use eldercare_sim::orders;
use eldercare_sim::provision::{self, Api};
use eldercare_sim::publish::{self, RunOptions};
use eldercare_sim::rounds::{self, RoundsOptions};
use eldercare_sim::scenario::Scenario;
use eldercare_sim::{Qos, SimConfig, generate_with_incidents};

/// Seed used when none is given, so two plain runs are the same.
const DEFAULT_SEED: u64 = 42;

#[derive(Parser)]
#[command(
    name = "eldercare-sim",
    version,
    about = "Plays residents' days, scripted incidents and load over MQTT, as eldercare devices do"
)]
struct Cli {
    /// MQTT broker (a client_id in the URL is ignored: the simulator names its connections).
    #[arg(long, env = "MQTT_URL", default_value = "mqtt://127.0.0.1:1883", global = true)]
    mqtt_url: String,
    /// Random seed: the same seed plays the same days [default: 42].
    #[arg(long, global = true)]
    seed: Option<u64>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Register residents, devices and meal windows through the backend's API.
    Provision {
        #[command(flatten)]
        residents: ResidentArgs,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// Play N residents' days, in real time or accelerated, with random incidents.
    Run(RunArgs),
    /// Play a scenario file of residents and scripted incidents.
    Scenario(ScenarioArgs),
    /// Benchmark load: N devices publishing telemetry at a target rate.
    Load(LoadArgs),
    /// Print generated messages as JSON lines, without a broker.
    Print(PrintArgs),
    /// Write N residents' days as CASAS logs (one per resident), the sensor
    /// map and the incidents' labels, for `eldercare import casas` and the
    /// detection-quality benchmark.
    Casas(CasasArgs),
    /// Alert latency benchmark: SOS publish to alert on the live stream,
    /// with telemetry load in the background.
    Latency(LatencyArgs),
    /// Caregivers doing their rounds through the API: visits due assigned,
    /// checked in at the door with GPS jitter (the odd one late or far from
    /// home), checked out once the service's time has passed.
    Rounds(RoundsArgs),
    /// The district's orders and calls: a family ordering from the app, the
    /// hotline desk taking calls, two providers' coordinators accepting or
    /// declining the offers matched to them.
    Orders(OrdersArgs),
}

#[derive(Args)]
struct OrdersArgs {
    /// The operator's login (divisions, the second provider, the desk's account).
    #[arg(long, env = "ELDERCARE_OPERATOR_EMAIL")]
    operator_email: String,
    #[arg(long, env = "ELDERCARE_OPERATOR_PASSWORD", hide_env_values = true)]
    operator_password: String,
    /// Seconds between passes (0: one pass).
    #[arg(long, default_value_t = 90)]
    every: u64,
    #[command(flatten)]
    api: ApiArgs,
}

#[derive(Args)]
struct CarerArgs {
    /// The simulated carer's account, created if missing.
    #[arg(long, default_value = "carer@sim.eldercare.local")]
    carer_email: String,
    #[arg(
        long,
        env = "ELDERCARE_SIM_CARER_PASSWORD",
        default_value = "simulated carer password",
        hide_env_values = true
    )]
    carer_password: String,
}

#[derive(Args)]
struct RoundsArgs {
    #[command(flatten)]
    carer: CarerArgs,
    /// Share of visits checked in 40 minutes late.
    #[arg(long, default_value_t = 0.1)]
    late_share: f64,
    /// Share of check-ins a kilometre from home.
    #[arg(long, default_value_t = 0.05)]
    far_share: f64,
    /// Seconds between passes (0: one pass).
    #[arg(long, default_value_t = 60)]
    every: u64,
    #[command(flatten)]
    api: ApiArgs,
}

#[derive(Args)]
struct LatencyArgs {
    /// SOS presses to time.
    #[arg(long, default_value_t = 300)]
    samples: usize,
    /// Pause between presses, in milliseconds.
    #[arg(long, default_value_t = 100)]
    interval_ms: u64,
    /// Background telemetry, messages per second (0: none).
    #[arg(long, default_value_t = 5_000.0)]
    background_rate: f64,
    /// Devices sending the background telemetry (registered first, each
    /// worn by a resident of its own, so their vital signs are judged).
    #[arg(long, default_value_t = 500)]
    background_devices: u32,
    #[command(flatten)]
    api: ApiArgs,
}

#[derive(Args)]
struct ResidentArgs {
    /// Number of simulated residents.
    #[arg(long, default_value_t = 10)]
    residents: usize,
    /// IANA timezone of the residents.
    #[arg(long, default_value = "Asia/Shanghai")]
    timezone: String,
}

#[derive(Args)]
struct ApiArgs {
    /// Backend base URL.
    #[arg(long = "url", env = "ELDERCARE_URL", default_value = "http://127.0.0.1:8080")]
    url: String,
    #[arg(long, env = "ELDERCARE_ADMIN_EMAIL")]
    admin_email: Option<String>,
    #[arg(long, env = "ELDERCARE_ADMIN_PASSWORD", hide_env_values = true)]
    admin_password: Option<String>,
    /// Where the simulated-key -> backend-id mapping and each device's MQTT
    /// credential are kept.
    #[arg(long, default_value = "eldercare-sim-state.json")]
    state: PathBuf,
}

#[derive(Args)]
struct PaceArgs {
    /// Simulated seconds per real second (1 = real time, 60 = an hour a minute), or "max".
    #[arg(long)]
    speed: Option<String>,
    /// Simulated time to play (e.g. 90m, 1d) [default: until stopped in real time, 1d accelerated].
    #[arg(long)]
    duration: Option<String>,
    /// Simulated start (RFC 3339) [default: chosen so no timestamp is ever ahead of the wall clock].
    #[arg(long)]
    start: Option<String>,
}

#[derive(Args)]
struct RunArgs {
    #[command(flatten)]
    residents: ResidentArgs,
    #[command(flatten)]
    pace: PaceArgs,
    /// Expected random incidents per resident per day.
    #[arg(long, default_value_t = 0.3)]
    incident_rate: f64,
    /// Provision residents and devices first.
    #[arg(long)]
    provision: bool,
    #[command(flatten)]
    api: ApiArgs,
}

#[derive(Args)]
struct ScenarioArgs {
    /// Scenario file (TOML), e.g. simulator/scenarios/demo.toml.
    file: PathBuf,
    #[command(flatten)]
    pace: PaceArgs,
    /// Provision the scenario's residents and devices first.
    #[arg(long)]
    provision: bool,
    #[command(flatten)]
    api: ApiArgs,
    /// The carer sent to incidents with a `dispatch`.
    #[command(flatten)]
    carer: CarerArgs,
}

#[derive(Args)]
struct LoadArgs {
    /// Number of devices (load-00001, ...).
    #[arg(long, default_value_t = 1000)]
    devices: u32,
    /// Target messages per second.
    #[arg(long, default_value_t = 20_000.0)]
    rate: f64,
    /// Stop after this long [default: 10s unless --count is given].
    #[arg(long)]
    duration: Option<String>,
    /// Stop after this many messages.
    #[arg(long)]
    count: Option<u64>,
    /// MQTT connections to spread the devices over [default: one per
    /// device, each with its own credential, as the broker requires when the
    /// backend manages credentials].
    #[arg(long)]
    connections: Option<usize>,
    /// QoS of the publishes (0 or 1).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(0..=1))]
    qos: u8,
    /// Unacknowledged QoS 1 publishes allowed per connection.
    #[arg(long, default_value_t = 1000)]
    inflight: u16,
    /// Register the load devices (no resident) first.
    #[arg(long)]
    provision: bool,
    /// With --provision: each device worn by a resident of its own, so its
    /// heart rate and SpO2 are judged by the vital-sign rules.
    #[arg(long, requires = "provision")]
    worn: bool,
    #[command(flatten)]
    api: ApiArgs,
}

#[derive(Args)]
struct PrintArgs {
    #[command(flatten)]
    residents: ResidentArgs,
    /// A scenario file instead of generated residents.
    #[arg(long)]
    scenario: Option<PathBuf>,
    /// Simulated start (RFC 3339) [default: 24 h ago, to the second].
    #[arg(long)]
    from: Option<String>,
    #[arg(long, default_value = "1d")]
    duration: String,
    #[arg(long, default_value_t = 0.3)]
    incident_rate: f64,
}

#[derive(Args)]
struct CasasArgs {
    #[command(flatten)]
    residents: ResidentArgs,
    /// Simulated start (RFC 3339).
    #[arg(long)]
    from: String,
    #[arg(long, default_value = "28d")]
    duration: String,
    #[arg(long, default_value_t = 0.3)]
    incident_rate: f64,
    /// Chance, each day a resident naps, that the nap lasts two to three hours.
    #[arg(long, default_value_t = 0.0)]
    long_naps: f64,
    /// Chance, each day a resident walks out, that they stay out two to four hours.
    #[arg(long, default_value_t = 0.0)]
    long_outings: f64,
    /// Chance that a day has a visitor for the afternoon or the evening.
    #[arg(long, default_value_t = 0.0)]
    visitors: f64,
    /// Chance that a fortnight holds a holiday away (two to seven nights).
    #[arg(long, default_value_t = 0.0)]
    holidays: f64,
    /// Share of holidays nobody records as "away" (labelled `recorded: false`).
    #[arg(long, default_value_t = 0.2)]
    unrecorded_holidays: f64,
    /// Chance that a fortnight holds a stopped kettle (three to ten days).
    #[arg(long, default_value_t = 0.0)]
    stopped_kettles: f64,
    /// Chance that a fortnight holds a motion sensor dying (two to seven days silent).
    #[arg(long, default_value_t = 0.0)]
    sensor_deaths: f64,
    /// Chance that a day holds a long lie on the floor with no alarm.
    #[arg(long, default_value_t = 0.0)]
    long_lies: f64,
    /// Irregular outings: the mean share of days a resident goes out (each
    /// resident's habit is drawn within ±0.2 of it), once or twice, leaving
    /// between 08:30 and 16:00 for one to six hours, lunch eaten out when an
    /// outing spans it (labelled `outing`). 0: the old afternoon walk.
    #[arg(long, default_value_t = 0.0)]
    outings: f64,
    /// Chance that a day's meals are cold food, no cooking (`skipped_cooking`).
    #[arg(long, default_value_t = 0.0)]
    skipped_cooking: f64,
    /// Chance that a day's rising and bedtime shift by one to two hours (`shifted_sleep`).
    #[arg(long, default_value_t = 0.0)]
    shifted_sleep: f64,
    /// Share of visits that are evening visits staying late, to 22:45-23:30.
    #[arg(long, default_value_t = 0.0)]
    late_visitors: f64,
    /// Chance that a fortnight holds the living room unused two to six days (`room_unused`).
    #[arg(long, default_value_t = 0.0)]
    unused_rooms: f64,
    /// Share of homes with a hall motion sensor (`motion-hall`); the others have none.
    #[arg(long, default_value_t = 1.0)]
    hall_sensors: f64,
    /// Look-alike incident: chance that a day holds a collapse in the hall
    /// right after closing the front door from inside (`hall_collapse`).
    #[arg(long, default_value_t = 0.0)]
    hall_collapses: f64,
    /// Look-alike incident: chance, on a day she comes back from an outing,
    /// of a fall in the hall on the way in (`fall_on_return`).
    #[arg(long, default_value_t = 0.0)]
    falls_on_return: f64,
    /// Look-alike incident: chance that a day holds an evening out she is not
    /// back from by 22:00 (`not_returned`).
    #[arg(long, default_value_t = 0.0)]
    not_returned: f64,
    /// Directory for `{resident}.txt`, `map.toml`, `labels.json` and `residents.json`.
    #[arg(long)]
    out: PathBuf,
}

fn parse_time(s: &str) -> Result<DateTime<Utc>> {
    Ok(DateTime::parse_from_rfc3339(s).with_context(|| format!("{s:?} is not an RFC 3339 time"))?.with_timezone(&Utc))
}

fn parse_tz(s: &str) -> Result<Tz> {
    s.parse::<Tz>().map_err(|_| anyhow::anyhow!("unknown IANA timezone {s:?}"))
}

/// Resolves when Ctrl-C or SIGTERM arrives.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
    tracing::info!("stopping: finishing in-flight publishes");
}

async fn login(api: &ApiArgs) -> Result<Api> {
    let (Some(email), Some(password)) = (&api.admin_email, &api.admin_password) else {
        return Err(provision::ProvisionError::MissingCredentials.into());
    };
    Api::login(&api.url, email, password).await.with_context(|| format!("logging in to {}", api.url))
}

async fn provision_config(api: &ApiArgs, config: &SimConfig) -> Result<()> {
    let session = login(api).await?;
    let (_, summary) = provision::provision(&session, config, &api.state).await?;
    println!("provisioned: {summary}");
    Ok(())
}

/// The MQTT credentials provisioning kept (none when the backend does not
/// manage them, or nothing was provisioned).
fn credentials(api: &ApiArgs) -> Result<BTreeMap<String, String>> {
    Ok(provision::State::load(&api.state)?.mqtt)
}

/// The simulated carer's account (made if missing) and its session.
async fn carer_session(admin: &Api, api: &ApiArgs, carer: &CarerArgs) -> Result<(String, Api)> {
    let id = rounds::ensure_carer(admin, &carer.carer_email, &carer.carer_password).await?;
    let session = Api::login(&api.url, &carer.carer_email, &carer.carer_password)
        .await
        .context("logging in as the simulated carer")?;
    Ok((id, session))
}

/// The coordinator of a scenario's dispatches, as a loop to run beside the
/// play: every few seconds, open alerts of scripted incidents get their
/// welfare check and the carer moves on. The carer's delay is simulated
/// time, so it shrinks with the speed. A pass that fails (the backend
/// restarting) is logged and tried again.
async fn coordinate(
    api: &ApiArgs,
    carer: &CarerArgs,
    mut scripted: Vec<dispatch::Scripted>,
    speed: Speed,
    seed: u64,
) -> Result<impl std::future::Future<Output = ()>> {
    let admin = login(api).await.context("the scenario dispatches welfare checks: it needs the admin's login")?;
    let (carer_id, carer) = carer_session(&admin, api, carer).await?;
    let residents = provision::State::load(&api.state)?.residents;
    for s in &mut scripted {
        s.arrive_after = Duration::from_std(speed.real(s.arrive_after)).unwrap_or_default();
    }
    Ok(async move {
        loop {
            match dispatch::pass(&admin, &carer, &carer_id, &residents, &scripted, Utc::now(), seed).await {
                Ok(done) if !done.is_empty() => println!("dispatch: {done}"),
                Ok(_) => {}
                Err(err) => tracing::warn!(cause = %err, "dispatch pass failed; trying again"),
            }
            tokio::time::sleep(std::time::Duration::from_secs(5)).await;
        }
    })
}

/// Start and duration of a paced run.
fn window(pace: &PaceArgs, speed: Speed, default: Option<Duration>) -> Result<(DateTime<Utc>, Option<Duration>)> {
    let duration = match &pace.duration {
        Some(d) => Some(clock::parse_duration(d)?),
        None if speed.is_real_time() => default,
        None => Some(default.unwrap_or(Duration::days(1))),
    };
    let now = Utc::now();
    // The latest start that never stamps a message ahead of the wall clock.
    let latest = clock::window_start(now, duration.unwrap_or_default(), speed);
    let start = match &pace.start {
        Some(s) => parse_time(s)?,
        None => latest,
    };
    if start > latest + Duration::minutes(5) {
        tracing::warn!(
            "at this start and speed, timestamps run more than 5 minutes ahead of the wall clock: the backend rejects them"
        );
    }
    if start < now - Duration::days(30) {
        tracing::warn!("the run starts more than 30 days ago: the backend rejects such timestamps");
    }
    Ok((start, duration))
}

async fn play(
    config: &SimConfig,
    broker: Broker,
    speed: Speed,
    start: DateTime<Utc>,
    duration: Option<Duration>,
    credentials: BTreeMap<String, String>,
) -> Result<()> {
    tracing::info!(
        residents = config.residents.len(),
        %speed,
        start = %start,
        duration = %duration.map_or("until stopped".to_owned(), eldercare_sim::report::human),
        "playing"
    );
    let opts = RunOptions { broker, speed, start, duration, credentials };
    let summary = publish::run(config, &opts, shutdown_signal()).await?;
    print!("{summary}");
    Ok(())
}

async fn run(cli: Cli) -> Result<()> {
    let seed = cli.seed.unwrap_or(DEFAULT_SEED);
    let broker = || cli.mqtt_url.parse::<Broker>();
    match &cli.command {
        Command::Provision { residents, api } => {
            let config = SimConfig::generated(residents.residents, seed, parse_tz(&residents.timezone)?);
            provision_config(api, &config).await
        }
        Command::Run(args) => {
            let broker = broker()?;
            let mut config = SimConfig::generated(args.residents.residents, seed, parse_tz(&args.residents.timezone)?);
            config.incident_rate = args.incident_rate;
            config.validate()?;
            let speed: Speed = args.pace.speed.as_deref().unwrap_or("1").parse()?;
            let (start, duration) = window(&args.pace, speed, None)?;
            if args.provision {
                provision_config(&args.api, &config).await?;
            }
            play(&config, broker, speed, start, duration, credentials(&args.api)?).await
        }
        Command::Scenario(args) => {
            let broker = broker()?;
            let scenario = Scenario::load(&args.file)?;
            let speed = match &args.pace.speed {
                Some(s) => s.parse()?,
                None => scenario.speed.unwrap_or(Speed::Factor(1.0)),
            };
            let pace = PaceArgs {
                speed: None,
                duration: args.pace.duration.clone(),
                start: args.pace.start.clone().or_else(|| scenario.start.map(|s| s.to_rfc3339())),
            };
            let (start, duration) = window(&pace, speed, Some(scenario.duration))?;
            let seed = cli.seed.or(scenario.seed).unwrap_or(DEFAULT_SEED);
            let config = scenario.config(start, seed)?;
            if args.provision {
                provision_config(&args.api, &config).await?;
            }
            let playing = play(&config, broker, speed, start, duration, credentials(&args.api)?);
            let scripted = scenario.dispatches();
            if scripted.is_empty() {
                return playing.await;
            }
            match coordinate(&args.api, &args.carer, scripted, speed, seed).await {
                Ok(coordinator) => tokio::select! {
                    played = playing => played,
                    () = coordinator => Ok(()),
                },
                Err(err) => {
                    tracing::warn!("playing without the scripted dispatches: {err:#}");
                    playing.await
                }
            }
        }
        Command::Load(args) => {
            let duration = match (&args.duration, args.count) {
                (Some(d), _) => Some(clock::parse_duration(d)?),
                (None, Some(_)) => None,
                (None, None) => Some(Duration::seconds(10)),
            };
            if args.provision {
                let session = login(&args.api).await?;
                let summary = provision::provision_load_devices(
                    &session,
                    (1..=args.devices).map(load::device_id),
                    args.worn,
                    &args.api.state,
                )
                .await?;
                println!("provisioned: {summary}");
            }
            let opts = LoadOptions {
                broker: broker()?,
                devices: args.devices,
                rate: args.rate,
                duration: duration.map(|d| d.to_std()).transpose().context("negative duration")?,
                count: args.count,
                connections: args.connections.unwrap_or(args.devices as usize),
                qos: if args.qos == 0 { Qos::AtMostOnce } else { Qos::AtLeastOnce },
                inflight: args.inflight,
                client_prefix: "eldercare-sim-load".into(),
                credentials: credentials(&args.api)?,
            };
            let summary = load::run(&opts, shutdown_signal()).await?;
            print!("{summary}");
            Ok(())
        }
        Command::Latency(args) => {
            let broker = broker()?;
            let session = login(&args.api).await?;
            let background = if args.background_rate > 0.0 {
                let summary = provision::provision_load_devices(
                    &session,
                    (1..=args.background_devices).map(load::device_id),
                    // Worn, as in a home: their vital signs are judged
                    // beside the alarm being timed.
                    true,
                    &args.api.state,
                )
                .await?;
                println!("background devices: {summary}");
                Some(LoadOptions {
                    broker: broker.clone(),
                    devices: args.background_devices,
                    rate: args.background_rate,
                    duration: Some(std::time::Duration::from_secs(24 * 3600)),
                    count: None,
                    connections: args.background_devices as usize,
                    qos: Qos::AtLeastOnce,
                    inflight: 100,
                    client_prefix: "eldercare-sim-latency-load".into(),
                    credentials: credentials(&args.api)?,
                })
            } else {
                None
            };
            let opts = latency::LatencyOptions {
                broker,
                samples: args.samples,
                interval: std::time::Duration::from_millis(args.interval_ms),
                background,
            };
            let summary = latency::run(&session, &opts).await?;
            print!("{summary}");
            Ok(())
        }
        Command::Rounds(args) => {
            let admin = login(&args.api).await?;
            let (carer_id, carer) = carer_session(&admin, &args.api, &args.carer).await?;
            let options = RoundsOptions { late_share: args.late_share, far_share: args.far_share, seed };
            loop {
                let done = rounds::pass(&admin, &carer, &carer_id, Utc::now(), &options).await?;
                println!("rounds: {done}");
                if args.every == 0 {
                    return Ok(());
                }
                tokio::time::sleep(std::time::Duration::from_secs(args.every)).await;
            }
        }
        Command::Orders(args) => {
            let admin = login(&args.api).await?;
            let operator = Api::login(&args.api.url, &args.operator_email, &args.operator_password)
                .await
                .context("the district's orders need the operator's login")?;
            let mut district = orders::setup(&args.api.url, admin, &operator, seed).await?;
            loop {
                let result = orders::pass(&mut district, Utc::now()).await;
                if args.every == 0 {
                    println!("orders: {}", result?);
                    return Ok(());
                }
                // A pass that fails (the backend restarting) is told and tried again.
                match result {
                    Ok(done) => println!("orders: {done}"),
                    Err(err) => eprintln!("orders: {err}"),
                }
                tokio::time::sleep(std::time::Duration::from_secs(args.every)).await;
            }
        }
        Command::Casas(args) => {
            let from = parse_time(&args.from)?;
            let duration = clock::parse_duration(&args.duration)?;
            let mut config = SimConfig::generated(args.residents.residents, seed, parse_tz(&args.residents.timezone)?);
            config.incident_rate = args.incident_rate;
            for r in &mut config.residents {
                r.habits.long_nap_probability = args.long_naps;
                r.habits.long_outing_probability = args.long_outings;
            }
            for (name, p) in [
                ("--outings", args.outings),
                ("--skipped-cooking", args.skipped_cooking),
                ("--shifted-sleep", args.shifted_sleep),
                ("--hall-sensors", args.hall_sensors),
            ] {
                anyhow::ensure!((0.0..=1.0).contains(&p), "{name} must be a share between 0 and 1, got {p}");
            }
            config.daily_life(args.outings, args.skipped_cooking, args.shifted_sleep);
            config.hall_sensors(args.hall_sensors);
            config.confounders = Confounders {
                visitors: args.visitors,
                holidays: args.holidays,
                unrecorded_holidays: args.unrecorded_holidays,
                stopped_kettles: args.stopped_kettles,
                sensor_deaths: args.sensor_deaths,
                long_lies: args.long_lies,
                late_visitors: args.late_visitors,
                unused_rooms: args.unused_rooms,
                hall_collapses: args.hall_collapses,
                falls_on_return: args.falls_on_return,
                not_returned: args.not_returned,
            };
            config.validate()?;
            let generated = generate_with_incidents(&config, from, from + duration);
            std::fs::create_dir_all(&args.out).with_context(|| format!("creating {}", args.out.display()))?;
            let write = |name: &str, text: String| {
                let path = args.out.join(name);
                std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))
            };
            for (key, log) in casas::logs(&config, &generated) {
                write(&format!("{key}.txt"), log)?;
            }
            write("map.toml", casas::map())?;
            write("labels.json", casas::labels(&generated).to_string())?;
            let residents: Vec<serde_json::Value> = config
                .residents
                .iter()
                .map(|r| {
                    let meals: Vec<serde_json::Value> = r
                        .meal_windows
                        .iter()
                        .map(|w| {
                            serde_json::json!({"meal": w.meal.as_str(), "start": w.start.format("%H:%M").to_string(),
                                               "end": w.end.format("%H:%M").to_string()})
                        })
                        .collect();
                    serde_json::json!({"key": r.key, "name": r.name, "timezone": r.timezone.name(), "meal_windows": meals,
                                       "hall_sensor": r.hall_sensor})
                })
                .collect();
            write("residents.json", serde_json::Value::Array(residents).to_string())?;
            println!("{} residents, {} incidents", config.residents.len(), generated.incidents.len());
            Ok(())
        }
        Command::Print(args) => {
            let duration = clock::parse_duration(&args.duration)?;
            let from = match &args.from {
                Some(s) => parse_time(s)?,
                None => clock::truncate_to_second(Utc::now() - duration),
            };
            let config = match &args.scenario {
                Some(path) => Scenario::load(path)?.config(from, seed)?,
                None => {
                    let mut c =
                        SimConfig::generated(args.residents.residents, seed, parse_tz(&args.residents.timezone)?);
                    c.incident_rate = args.incident_rate;
                    c
                }
            };
            config.validate()?;
            let generated = generate_with_incidents(&config, from, from + duration);
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            for m in &generated.messages {
                let payload = String::from_utf8_lossy(&m.payload);
                let line = serde_json::json!({
                    "at": m.at.to_rfc3339(), "topic": m.topic, "qos": m.qos.level(),
                    "retain": m.retain, "kind": m.kind.to_string(), "payload": payload,
                });
                writeln!(out, "{line}")?;
            }
            for r in &generated.incidents {
                eprintln!("incident {} {} at {}: {}", r.resident, r.label(), r.at.to_rfc3339(), r.detail);
            }
            out.flush()?;
            Ok(())
        }
    }
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    match run(Cli::parse()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
