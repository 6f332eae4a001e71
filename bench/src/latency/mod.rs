//! `ferry-bench latency`: real-time latency of a person's change, hooks on against
//! polling. People edit bugs on both sides at a steady rate (`--rate` per second, the
//! throughput benchmark's workload: half creates, then updates, both directions) on the
//! simulators over HTTP, while the runtime runs in real time ([`runtime`]). A change's
//! latency is from the simulator answering the person's write to the simulator
//! answering Ferry's write of it on the other side ([`stamps`]).
//!
//! The two modes run one after the other in one invocation, each with its own
//! simulators and store: run together on this 2-core machine, the polling mode's bursts
//! (a minute's changes at once) would slow the hooks mode's handlers and skew its tail.
//! Hooks: both systems' webhooks registered and delivered, polling relaxed to
//! `--hooks-poll-interval` as the safety net. Polling: no webhooks, `--poll-interval`.

mod function_url;
mod report;
pub(crate) mod runtime;
pub(crate) mod stamps;

use crate::counting::{Tally, BATCH_PREFIX};
use crate::pipeline::Pipeline;
use crate::report::{Bucket, RequestBreakdown};
use crate::workload::Made;
use crate::{BackendKind, ADO_PERSON, JIRA_PERSON};
use anyhow::{bail, Context, Result};
use chrono::Utc;
use ferry_domain::{Flow, IntegrationId, SecretRef};
use ferry_engine::EngineSettings;
use ferry_runtime::{EnvSecrets, SecretSource, StaticSecrets};
use ferry_sim::{AdoSim, JiraSim};
use ferry_testsupport::config::{dir_with_sheets, with_simulator_urls, write_and_load};
use ferry_testsupport::people::{ADO_BOT_PAT, JIRA_BOT_TOKEN};
use serde_json::json;
use stamps::Stamps;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(clap::Args)]
pub struct Args {
    /// Changes people make in each mode (half creates, half updates; both directions).
    #[arg(long, default_value_t = 500)]
    changes: usize,
    /// Changes per second, spread evenly over time.
    #[arg(long, default_value_t = 4.0)]
    rate: f64,
    #[arg(long, value_enum, default_value_t = BackendKind::Embedded)]
    backend: BackendKind,
    /// The poll interval with webhooks on (polling as the safety net).
    #[arg(long, default_value = "300s")]
    hooks_poll_interval: String,
    /// The poll interval of the polling mode.
    #[arg(long, default_value = "60s")]
    poll_interval: String,
    /// The integration's poll overlap window (each poll re-reads what changed this long
    /// before its watermark; the product's default).
    #[arg(long, default_value = "120s")]
    overlap: String,
    #[command(flatten)]
    cost: crate::prices::CostArgs,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    json: bool,
    /// The modes to run, in order (the first is the one the others are compared with).
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = [Mode::Hooks, Mode::HooksRescanEachPoll, Mode::Polling])]
    modes: Vec<Mode>,
    /// Also write every change's figures to this CSV file (mode, direction, create or
    /// update, seconds into the run, latency in seconds; empty when it never landed).
    #[arg(long)]
    changes_csv: Option<PathBuf>,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug, clap::ValueEnum)]
pub enum Mode {
    /// Webhooks on: a poll that answers a delivery reads from the watermark's cursor and
    /// goes back over the overlap window at most every 30 s (the product's default).
    Hooks,
    /// Webhooks on, every poll going back over the overlap window (the engine's rule
    /// before the quick reads; `EngineSettings::rescan_every` zero).
    HooksRescanEachPoll,
    /// Webhooks off: scheduled polls only.
    Polling,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::Hooks => "hooks",
            Mode::HooksRescanEachPoll => "hooks-rescan-each-poll",
            Mode::Polling => "polling",
        }
    }

    fn hooks(self) -> bool {
        self != Mode::Polling
    }
}

/// What one mode measured.
pub struct ModeRun {
    pub mode: Mode,
    pub poll_interval: String,
    pub changes: usize,
    /// Changes with no target write carrying them when the run ended.
    pub unlanded: usize,
    pub wall: Duration,
    /// Webhook deliveries the simulators sent and got an answer to.
    pub deliveries: usize,
    /// Latencies, the system requests and the AWS work of the landed changes.
    pub bucket: Bucket,
    /// Each change: direction, whether it was a create, seconds into the run, latency.
    pub each: Vec<(Flow, bool, f64, Option<Duration>)>,
}

const JIRA_TOKEN_VAR: &str = "FERRY_BENCH_JIRA_TOKEN";
const ADO_PAT_VAR: &str = "FERRY_BENCH_ADO_PAT";
const JIRA_HOOK_VAR: &str = "FERRY_BENCH_JIRA_HOOK_SECRET";
const ADO_HOOK_PASSWORD_VAR: &str = "FERRY_BENCH_ADO_HOOK_PASSWORD";
const ADO_HOOK_HEADER_VAR: &str = "FERRY_BENCH_ADO_HOOK_HEADER";
const BOT: &str = "ferry-bot@acme.test";
/// Test values of the webhook secrets (the simulators sign with them).
const JIRA_HOOK_SECRET: &str = "bench-jira-hook-secret";
const ADO_HOOK_PASSWORD: &str = "bench-ado-hook-password";
const ADO_HOOK_HEADER: &str = "bench-ado-hook-header";

pub async fn run(args: Args) -> Result<()> {
    if args.changes == 0 || !(args.rate > 0.0 && args.rate.is_finite()) {
        bail!("--changes must be at least 1 and --rate a positive number");
    }
    let prices = args.cost.load_prices()?;
    let mut runs = Vec::new();
    if args.modes.is_empty() {
        bail!("--modes names no mode");
    }
    for mode in args.modes.iter().copied() {
        eprintln!(
            "{} backend, {}: {} changes at {}/s ...",
            crate::backend_name(args.backend),
            mode.name(),
            args.changes,
            args.rate
        );
        let run = run_mode(&args, mode).await.with_context(|| format!("the {} run", mode.name()))?;
        eprintln!("  done in {:.1} s", run.wall.as_secs_f64());
        runs.push(run);
    }
    if let Some(path) = &args.changes_csv {
        std::fs::write(path, report::changes_csv(&runs)).with_context(|| format!("writing {}", path.display()))?;
    }
    let out = report::Report {
        backend: crate::backend_name(args.backend),
        rate: args.rate,
        memory_mb: args.cost.memory_mb,
        prices,
        runs,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&out.to_json())?);
    } else {
        print!("{}", out.to_text());
    }
    Ok(())
}

/// The bot's and the people's tokens, and the webhook secrets, by reference.
fn secrets() -> Arc<dyn SecretSource> {
    Arc::new(
        StaticSecrets::new(EnvSecrets)
            .with(SecretRef::Env(JIRA_TOKEN_VAR.into()), JIRA_BOT_TOKEN)
            .with(SecretRef::Env(ADO_PAT_VAR.into()), ADO_BOT_PAT)
            .with(SecretRef::Env(JIRA_HOOK_VAR.into()), JIRA_HOOK_SECRET)
            .with(SecretRef::Env(ADO_HOOK_PASSWORD_VAR.into()), ADO_HOOK_PASSWORD)
            .with(SecretRef::Env(ADO_HOOK_HEADER_VAR.into()), ADO_HOOK_HEADER),
    )
}

/// The benchmark's integration with `poll_interval`, and with hooks, a `webhook:` block
/// on each system.
fn config_text(id: &str, poll_interval: &str, overlap: &str, hooks: bool) -> String {
    let text = include_str!("../integration.yaml")
        .replace("@ID@", id)
        .replace("@OVERLAP@", overlap)
        .replace("poll_interval: 60s", &format!("poll_interval: {poll_interval}"));
    if !hooks {
        return text;
    }
    let jira_hook = format!("    webhook: {{ secret: {{ env: {JIRA_HOOK_VAR} }} }}\n");
    let ado_hook = format!(
        "    webhook:\n      basic: {{ username: ferry, password: {{ env: {ADO_HOOK_PASSWORD_VAR} }} }}\n      \
         header: {{ name: X-Ferry-Hook, value: {{ env: {ADO_HOOK_HEADER_VAR} }} }}\n"
    );
    let mut parts = text.splitn(3, "allow_http_loopback: true\n");
    let (jira, ado, rest) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    format!("{jira}allow_http_loopback: true\n{jira_hook}{ado}allow_http_loopback: true\n{ado_hook}{rest}")
}

async fn run_mode(args: &Args, mode: Mode) -> Result<ModeRun> {
    let hooks = mode.hooks();
    let interval_text = if hooks { &args.hooks_poll_interval } else { &args.poll_interval };
    let (jira, ado) = ferry_testsupport::demo_simulators().await?;
    let dir = dir_with_sheets()?;
    let id = format!("latency-{}-{}-{}", mode.name(), std::process::id(), Utc::now().timestamp_millis());
    let set = write_and_load(
        &dir.path().join("ferry.yaml"),
        &with_simulator_urls(&config_text(&id, interval_text, &args.overlap, hooks), &jira, &ado),
    )?;
    let integration = set.integrations.first().cloned().context("the config has no integration")?;
    let interval = Duration::from_secs(integration.poll_interval_secs);

    let tally = Tally::new();
    let settings = match mode {
        Mode::HooksRescanEachPoll => EngineSettings { rescan_every: Duration::ZERO, ..EngineSettings::lambda() },
        _ => EngineSettings::lambda(),
    };
    let pipe = Arc::new(match args.backend {
        BackendKind::Embedded => {
            Pipeline::embedded(&dir.path().join("ferry.sqlite"), secrets(), settings, tally.clone())?
        }
        BackendKind::Aws => Pipeline::aws(secrets(), settings, tally.clone()).await?,
    });
    let stale = pipe.discard_queued().await?;
    if stale > 0 {
        eprintln!("  deleted {stale} messages earlier runs left in the emulator's queues");
    }
    let engine = pipe.engine().clone();
    engine.apply(&set.systems, std::slice::from_ref(&integration), true, Utc::now()).await?;
    engine.activate(&integration.id, Utc::now()).await?;

    let (people_jira, people_ado, mut work) = crate::people(&set, &integration, &jira, args.changes).await?;

    let running = runtime::start(pipe.clone(), &integration.id, interval, hooks.then(secrets)).await?;
    if let Some(base) = &running.hooks_base {
        subscribe(&jira, &ado, &integration.id, base).await?;
    }
    // The first scheduled polls read the (empty) projects; count from here on.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (jira_stamps, ado_stamps) = (Stamps::watch(jira.hooks()), Stamps::watch(ado.hooks()));
    jira.clear_requests();
    ado.clear_requests();
    let before = tally.snapshot();

    let started = Instant::now();
    let period = Duration::from_secs_f64(1.0 / args.rate);
    let mut made = Vec::with_capacity(args.changes);
    for i in 0..args.changes {
        tokio::time::sleep_until((started + period * i as u32).into()).await;
        made.extend(work.round(1, &people_jira, &people_ado).await?);
    }
    // Every change lands within a poll interval (plus the time to sync a burst), or
    // it counts as not landed.
    let deadline = Instant::now() + interval + Duration::from_secs(120);
    let measure = || latencies(&made, &jira_stamps.snapshot(), &ado_stamps.snapshot());
    let mut latencies = measure();
    while latencies.iter().any(Option::is_none) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(500)).await;
        latencies = measure();
    }
    let wall = started.elapsed();
    let mut inv = running.stop().await;
    let counts = tally.snapshot().minus(&before);
    let delivered = |sent: Vec<ferry_sim::Sent>| sent.iter().filter(|s| s.status.is_some()).count();
    let deliveries = delivered(jira.webhooks().sent()) + delivered(ado.service_hooks().sent());
    if args.backend == BackendKind::Embedded {
        // The listener's deliveries, and the runner's batches (what Lambda would invoke).
        inv.hook = deliveries as u64;
        inv.transform = counts.ops.get(&format!("{BATCH_PREFIX}changes")).copied().unwrap_or(0);
        inv.write = counts.ops.get(&format!("{BATCH_PREFIX}writes")).copied().unwrap_or(0);
    }
    let bot_only = |reqs: Vec<ferry_sim::RequestRecord>| -> Vec<_> {
        reqs.into_iter().filter(|r| r.user.as_deref() == Some(BOT)).collect()
    };
    let landed: Vec<Duration> = latencies.iter().flatten().copied().collect();
    let landed_in_jira =
        made.iter().zip(&latencies).filter(|(m, l)| m.flow == Flow::RightToLeft && l.is_some()).count();
    let each = made
        .iter()
        .zip(&latencies)
        .map(|(m, l)| (m.flow, !m.title.ends_with("(edited)"), (m.at - started).as_secs_f64(), *l))
        .collect();
    Ok(ModeRun {
        mode,
        poll_interval: interval_text.clone(),
        changes: args.changes,
        unlanded: latencies.len() - landed.len(),
        wall,
        deliveries,
        each,
        bucket: Bucket {
            synced: landed.len(),
            synced_into_jira: landed_in_jira,
            sync_time: wall,
            latencies: landed,
            counts,
            invocations: inv,
            requests: RequestBreakdown::of(&bot_only(jira.requests()), &bot_only(ado.requests())),
        },
    })
}

/// Each change's latency so far (`None`: not landed yet), from both simulators' stamps.
fn latencies(made: &[Made], jira: &[stamps::Stamp], ado: &[stamps::Stamp]) -> Vec<Option<Duration>> {
    made.iter()
        .enumerate()
        .map(|(i, m)| {
            // This change's title, then those of later changes of the same entity.
            let titles: Vec<&str> = made[i..]
                .iter()
                .filter(|l| l.flow == m.flow && l.source_key == m.source_key)
                .map(|l| l.title.as_str())
                .collect();
            match m.flow {
                Flow::LeftToRight => stamps::latency(jira, JIRA_PERSON, ado, BOT, &titles, m.at),
                Flow::RightToLeft => stamps::latency(ado, ADO_PERSON, jira, BOT, &titles, m.at),
            }
        })
        .collect()
}

/// Registers a Jira admin webhook and Azure DevOps service hooks (created, updated)
/// delivering to the runtime at `base`, as `ferry activate` or an operator does.
async fn subscribe(jira: &JiraSim, ado: &AdoSim, id: &IntegrationId, base: &str) -> Result<()> {
    let http = reqwest::Client::new();
    let hook = |side: &str| format!("{base}/hooks/{id}-{side}");
    let body = json!({
        "name": "ferry", "url": hook("jira"),
        "events": ["jira:issue_created", "jira:issue_updated", "jira:issue_deleted", "comment_created"],
        "filters": {"issue-related-events-section": "project = APP"},
        "secret": JIRA_HOOK_SECRET,
    });
    let r = http
        .post(format!("{}/rest/webhooks/1.0/webhook", jira.base_url()))
        .basic_auth(BOT, Some(JIRA_BOT_TOKEN))
        .json(&body)
        .send()
        .await?;
    anyhow::ensure!(r.status().as_u16() == 201, "jira webhook: {}", r.text().await?);
    for event in ["workitem.created", "workitem.updated"] {
        let body = json!({
            "publisherId": "tfs", "eventType": event, "resourceVersion": "1.0",
            "consumerId": "webHooks", "consumerActionId": "httpRequest",
            "consumerInputs": {
                "url": hook("ado"),
                "basicAuthUsername": "ferry", "basicAuthPassword": ADO_HOOK_PASSWORD,
                "httpHeaders": format!("X-Ferry-Hook:{ADO_HOOK_HEADER}"),
            },
        });
        let r = http
            .post(format!("{}/_apis/hooks/subscriptions?api-version=7.1", ado.base_url()))
            .basic_auth("", Some(ADO_BOT_PAT))
            .json(&body)
            .send()
            .await?;
        anyhow::ensure!(r.status().is_success(), "ado subscription: {}", r.text().await?);
    }
    Ok(())
}

#[cfg(test)]
mod tests;
