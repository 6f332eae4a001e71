//! `ferry-bench burst`: a burst of changes synced on the embedded runtime against both
//! simulators with their rate limits on, once with the governor off (today's way: a 429
//! slows only the call that met it) and once on (`rate_limit:` on both systems), in one
//! invocation. Per system it counts Ferry's requests and the 429s among them; per mode the
//! time until every change landed, changes per second and each change's latency.
//!
//! People (Alice in Jira, Bob in Azure DevOps) make the sync benchmark's workload (half
//! creates, then updates of those bugs, both directions) as fast as the simulators take
//! it, while the runtime runs as `ferry run` does ([`crate::latency::runtime`]): a cycle a
//! second, each direction polled on its interval, the queues drained. The limits apply to
//! Ferry's integration user only: the people are the load, not what is measured.

mod landing;
mod report;

use crate::counting::Tally;
use crate::latency::runtime;
use crate::latency::stamps::Stamps;
use crate::pipeline::Pipeline;
use crate::report::RequestBreakdown;
use crate::workload::Made;
use anyhow::{bail, Context, Result};
use chrono::Utc;
use ferry_engine::EngineSettings;
use ferry_sim::{AdoRateLimit, JiraIssueWriteLimit, JiraQuota, JiraRateLimit, RequestRecord};
use ferry_testsupport::config::{dir_with_sheets, with_simulator_urls, write_and_load};
use landing::Written;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(clap::Args, Clone)]
pub struct Args {
    /// Changes people make at once (half creates, half updates; both directions).
    #[arg(long, default_value_t = 2_000)]
    pub changes: usize,
    /// Jira's burst limit for Ferry's user: requests a second / bucket size.
    #[arg(long, default_value = "20/40", value_parser = parse_pace)]
    pub jira_limit: (f64, u32),
    /// Azure DevOps' consumption limit for Ferry's user: TSTUs (one a request) per window.
    #[arg(long, default_value = "200/10s", value_parser = parse_window)]
    pub ado_limit: (u32, Duration),
    /// Jira's per-issue write limit for Ferry's user: writes to one issue per window
    /// (`3/2s`); off when not given.
    #[arg(long, value_parser = parse_window)]
    pub jira_issue_writes: Option<(u32, Duration)>,
    /// Jira's points-based quota for Ferry's user: points per window (`3000/30s`); off when
    /// not given.
    #[arg(long, value_parser = parse_window)]
    pub jira_quota: Option<(u32, Duration)>,
    /// The governor's `rate_limit` on both systems in the governed mode: per second / burst.
    #[arg(long, default_value = "17/20", value_parser = parse_pace)]
    pub governor: (f64, u32),
    /// The integration's poll interval.
    #[arg(long, default_value = "10s")]
    pub poll_interval: String,
    /// The integration's poll overlap window.
    #[arg(long, default_value = "120s")]
    pub overlap: String,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    pub json: bool,
}

/// `40/80`: a pace per second (a fraction allowed) and a whole burst.
fn parse_pace(text: &str) -> Result<(f64, u32), String> {
    let (rate, burst) = text.split_once('/').ok_or("expected PER_SECOND/BURST, e.g. 40/80")?;
    let rate: f64 =
        rate.trim().parse().ok().filter(|r: &f64| r.is_finite() && *r > 0.0).ok_or("the pace is a number above 0")?;
    let burst: u32 = burst.trim().parse().ok().filter(|b| *b > 0).ok_or("the burst is a whole number above 0")?;
    Ok((rate, burst))
}

/// `400/10s`: a count (TSTUs, writes, points) per window (a duration: `10s`, `5m`).
fn parse_window(text: &str) -> Result<(u32, Duration), String> {
    let (limit, window) = text.split_once('/').ok_or("expected COUNT/WINDOW, e.g. 400/10s")?;
    let limit: u32 = limit.trim().parse().ok().filter(|l| *l > 0).ok_or("the count is a whole number above 0")?;
    let secs =
        ferry_config::duration_secs(window.trim()).filter(|s| *s > 0).ok_or("the window is a duration, e.g. 10s")?;
    Ok((limit, Duration::from_secs(secs)))
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Mode {
    /// No governor: requests go out as fast as the runtime makes them.
    Off,
    /// The governor paces both systems.
    On,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::Off => "governor off",
            Mode::On => "governor on",
        }
    }
}

/// Ferry's requests to one system and the 429s among them.
#[derive(Debug, Clone, Copy, Default)]
pub struct Requests {
    pub sent: usize,
    pub refused: usize,
}

impl Requests {
    fn of(records: &[RequestRecord]) -> Self {
        let bot: Vec<&RequestRecord> = records.iter().filter(|r| r.user.as_deref() == Some(BOT)).collect();
        Requests { sent: bot.len(), refused: bot.iter().filter(|r| r.status == 429).count() }
    }
    pub fn rate(&self) -> f64 {
        if self.sent == 0 {
            0.0
        } else {
            self.refused as f64 / self.sent as f64 * 100.0
        }
    }
    pub fn plus(self, o: Requests) -> Requests {
        Requests { sent: self.sent + o.sent, refused: self.refused + o.refused }
    }
}

/// What one mode measured.
pub struct ModeRun {
    pub mode: Mode,
    pub changes: usize,
    pub jira: Requests,
    pub ado: Requests,
    /// From the first change made to the last one landed (or the end of the wait).
    pub total: Duration,
    /// How long the people took to make the changes.
    pub making: Duration,
    /// Latencies of the landed changes, sorted.
    pub latencies: Vec<Duration>,
    pub unlanded: usize,
    /// Failures parked at the end (a change that failed on every attempt).
    pub parked: usize,
    /// Jira's 429s by the limit they name (`RateLimit-Reason`).
    pub jira_reasons: BTreeMap<String, usize>,
    /// The governor's store requests: leases taken, pauses written.
    pub leases: u64,
    /// Takes the store answered "wait" (no tokens, no request).
    pub lease_waits: u64,
    pub pauses: u64,
    /// Ferry's requests to both systems by kind (the 429s counted with their kind).
    pub kinds: RequestBreakdown,
}

impl ModeRun {
    pub fn changes_per_second(&self) -> f64 {
        (self.changes - self.unlanded) as f64 / self.total.as_secs_f64().max(1e-9)
    }
}

const JIRA_TOKEN_VAR: &str = "FERRY_BENCH_JIRA_TOKEN";
const ADO_PAT_VAR: &str = "FERRY_BENCH_ADO_PAT";
const BOT: &str = "ferry-bot@acme.test";

pub async fn run(args: Args) -> Result<()> {
    if args.changes == 0 {
        bail!("--changes must be at least 1");
    }
    let mut runs = Vec::new();
    for mode in [Mode::Off, Mode::On] {
        eprintln!("embedded backend, burst of {} changes, {} ...", args.changes, mode.name());
        let run = run_mode(&args, mode).await.with_context(|| format!("the {} run", mode.name()))?;
        eprintln!("  done in {:.1} s", run.total.as_secs_f64());
        runs.push(run);
    }
    let out = report::Report { args: &args, runs };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&out.to_json())?);
    } else {
        print!("{}", out.to_text());
    }
    Ok(())
}

/// The benchmark's integration, with `rate_limit:` on both systems.
fn config_text(id: &str, args: &Args, mode: Mode) -> String {
    let rate_limit = match mode {
        Mode::Off => "off".to_string(),
        Mode::On => format!("{{ per_second: {}, burst: {} }}", args.governor.0, args.governor.1),
    };
    include_str!("../integration.yaml")
        .replace("@ID@", id)
        .replace("@OVERLAP@", &args.overlap)
        .replace("poll_interval: 60s", &format!("poll_interval: {}", args.poll_interval))
        .replace("allow_http_loopback: true\n", &format!("allow_http_loopback: true\n    rate_limit: {rate_limit}\n"))
}

pub async fn run_mode(args: &Args, mode: Mode) -> Result<ModeRun> {
    let (jira, ado) = ferry_testsupport::demo_simulators().await?;
    let dir = dir_with_sheets()?;
    let id = format!("burst-{}-{}-{}", mode == Mode::On, std::process::id(), Utc::now().timestamp_millis());
    let set = write_and_load(
        &dir.path().join("ferry.yaml"),
        &with_simulator_urls(&config_text(&id, args, mode), &jira, &ado),
    )?;
    let integration = set.integrations.first().cloned().context("the config has no integration")?;
    let interval = Duration::from_secs(integration.poll_interval_secs);

    let tally = Tally::new();
    let secrets = ferry_testsupport::people::bot_secrets(JIRA_TOKEN_VAR, ADO_PAT_VAR);
    let pipe = Arc::new(Pipeline::embedded(
        &dir.path().join("ferry.sqlite"),
        secrets,
        EngineSettings::default(),
        tally.clone(),
    )?);
    let engine = pipe.engine().clone();
    engine.apply(&set.systems, std::slice::from_ref(&integration), true, Utc::now()).await?;
    engine.activate(&integration.id, Utc::now()).await?;

    let (people_jira, people_ado, mut work) = crate::people(&set, &integration, &jira, args.changes).await?;

    // The limits start full, for Ferry's user only, as the runtime starts.
    jira.set_rate_limit(Some(JiraRateLimit {
        per_second: args.jira_limit.0,
        burst: args.jira_limit.1,
        users: vec![BOT.into()],
    }));
    ado.set_rate_limit(Some(AdoRateLimit {
        limit: args.ado_limit.0,
        window: args.ado_limit.1,
        users: vec![BOT.into()],
    }));
    jira.set_issue_write_limit(args.jira_issue_writes.map(|(writes, window)| JiraIssueWriteLimit {
        writes,
        window,
        users: vec![BOT.into()],
    }));
    jira.set_quota(args.jira_quota.map(|(points, window)| JiraQuota {
        points: u64::from(points),
        window,
        users: vec![BOT.into()],
    }));
    let (jira_stamps, ado_stamps) = (Stamps::watch(jira.hooks()), Stamps::watch(ado.hooks()));
    jira.clear_requests();
    ado.clear_requests();
    let before = tally.snapshot();
    let running = runtime::start(pipe.clone(), &integration.id, interval, None).await?;

    let started = Instant::now();
    let made: Vec<Made> = work.round(args.changes, &people_jira, &people_ado).await?;
    let making = started.elapsed();

    // Until every change landed, or nothing more landed for three poll intervals (two minutes at least).
    let patience = (interval * 3).max(Duration::from_secs(120));
    let (mut into_jira, mut into_ado) = (Written::default(), Written::default());
    let (mut landed_count, mut last_progress) = (0, Instant::now());
    let latencies = loop {
        into_jira.catch_up(&jira_stamps, BOT);
        into_ado.catch_up(&ado_stamps, BOT);
        let latencies = landing::latencies(&made, &into_jira, &into_ado);
        let landed = latencies.iter().filter(|l| l.is_some()).count();
        if landed > landed_count {
            (landed_count, last_progress) = (landed, Instant::now());
        }
        if landed == made.len() || last_progress.elapsed() > patience {
            break latencies;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    let total = latencies.iter().zip(&made).filter_map(|(l, m)| l.map(|l| (m.at + l) - started)).max();
    let _ = running.stop().await;
    let counts = tally.snapshot().minus(&before);
    let op = |name: &str| counts.ops.get(name).copied().unwrap_or(0);
    let mut landed: Vec<Duration> = latencies.iter().flatten().copied().collect();
    landed.sort();
    let bot = |records: Vec<RequestRecord>| -> Vec<RequestRecord> {
        records.into_iter().filter(|r| r.user.as_deref() == Some(BOT)).collect()
    };
    let (jira_requests, ado_requests) = (bot(jira.requests()), bot(ado.requests()));
    Ok(ModeRun {
        mode,
        changes: made.len(),
        jira: Requests::of(&jira_requests),
        ado: Requests::of(&ado_requests),
        jira_reasons: jira_requests.iter().filter(|r| r.status == 429).fold(BTreeMap::new(), |mut by, r| {
            *by.entry(r.limit_reason.clone().unwrap_or_else(|| "none".into())).or_insert(0) += 1;
            by
        }),
        kinds: RequestBreakdown::of(&jira_requests, &ado_requests),
        total: total.filter(|_| landed.len() == made.len()).unwrap_or_else(|| started.elapsed()),
        making,
        unlanded: made.len() - landed.len(),
        latencies: landed,
        parked: engine.state().list_failures(Some(&integration.id)).await?.len(),
        leases: op("port.take_tokens"),
        lease_waits: op("port.take_tokens_wait"),
        pauses: op("port.pause_tokens"),
    })
}

#[cfg(test)]
mod tests;
