//! `ferry-bench`: syncs a workload of N changes through the whole pipeline (embedded
//! or AWS backend) for a tuned and a naive configuration, and prints throughput,
//! latency, requests per change and dollars per million changes; `ferry-bench
//! footprint` measures the function binaries.

mod burst;
mod collab;
mod commits;
mod console;
mod counting;
mod footprint;
mod latency;
mod pipeline;
mod prices;
mod report;
mod workload;

use anyhow::{bail, Context, Result};
use chrono::Utc;
use clap::{Parser, Subcommand, ValueEnum};
use counting::Tally;
use ferry_domain::{Flow, Side};
use ferry_engine::EngineSettings;
use ferry_runtime::SecretSource;
use ferry_testsupport::config::{dir_with_sheets, scope, system, with_simulator_urls, write_and_load};
use ferry_testsupport::people::{actor, bot_secrets};
use pipeline::{Invocations, Pipeline};
use report::{RequestBreakdown, Run};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use workload::Workload;

#[derive(Parser)]
#[command(
    name = "ferry-bench",
    about = "Ferry's benchmarks: throughput, latency, requests and AWS cost per synced change"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    sync: SyncArgs,
}

#[derive(clap::Args)]
struct SyncArgs {
    /// Changes to sync (half creates, half updates; both directions).
    #[arg(long, default_value_t = 10_000)]
    changes: usize,
    /// Changes people make between two polls (one poll interval's worth).
    #[arg(long, default_value_t = 500)]
    round: usize,
    #[arg(long, value_enum, default_value_t = BackendKind::Embedded)]
    backend: BackendKind,
    /// The integration's poll overlap window. The benchmark compresses time (a round
    /// takes seconds, not a poll interval), so the default 120 s re-reads many rounds;
    /// scale it to about two rounds' duration to model 60 s polls with a 120 s overlap.
    #[arg(long, default_value = "120s")]
    overlap: String,
    #[command(flatten)]
    cost: crate::prices::CostArgs,
    /// Skip the naive configuration (no batching, no caching).
    #[arg(long)]
    no_naive: bool,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    json: bool,
    /// Skip the collaboration figures (requests per comment and attachment, memory while
    /// a 60 MB file streams).
    #[arg(long)]
    no_collab: bool,
    /// Store each entity's steps as its timeline in the tuned configuration too (off on
    /// AWS by default: `FERRY_RECORD_TIMELINE`), to see what it costs.
    #[arg(long)]
    record_timeline: bool,
}

#[derive(Subcommand)]
enum Command {
    /// Binary size, time to the first handled event and peak memory of each function
    /// binary, run against a local Lambda Runtime API.
    Footprint(footprint::Args),
    /// Both simulators in their own process (the memory run of the collaboration
    /// figures starts it): prints their URLs and serves until stdin closes.
    #[command(hide = true)]
    ServeSims,
    /// Real-time latency of a person's change to the target's write, webhooks on against
    /// polling every minute, with requests and dollars per change.
    Latency(latency::Args),
    /// Console page loads (`ferry serve`) with many integrations and failures: median and
    /// 95th percentile per page.
    Console(console::Args),
    /// Commit polls of a 10,000-commit repository against a 100-commit one (the Git
    /// servers of infra/git-servers.sh): time, Git requests and pack bytes per new commit;
    /// `--backend aws`: DynamoDB requests and the cost per new commit.
    Commits(commits::Args),
    /// A burst of changes against both simulators with their rate limits on, the
    /// rate-limit governor off and on: requests, 429s, time, changes/s, latency.
    Burst(burst::Args),
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum, Debug)]
enum BackendKind {
    Embedded,
    Aws,
}

const JIRA_TOKEN_VAR: &str = "FERRY_BENCH_JIRA_TOKEN";
const ADO_PAT_VAR: &str = "FERRY_BENCH_ADO_PAT";

/// A configuration of the pipeline under test.
struct Variant {
    name: &'static str,
    settings: EngineSettings,
    /// Messages per handler call (the SQS event source's batch size).
    receive_batch: usize,
}

fn variants(naive: bool, record_timeline: bool) -> Vec<Variant> {
    let tuned = EngineSettings { record_timeline, ..EngineSettings::lambda() };
    let mut v = vec![Variant { name: "tuned", settings: tuned, receive_batch: 10 }];
    if naive {
        v.push(Variant {
            name: "naive",
            settings: EngineSettings { send_batch: 1, user_cache_ttl: Duration::ZERO, ..EngineSettings::default() },
            receive_batch: 1,
        });
    }
    v
}

#[tokio::main]
async fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("FERRY_LOG").unwrap_or_else(|_| "error".into()))
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Footprint(args)) => return footprint::run(args).await,
        Some(Command::ServeSims) => return collab::serve_sims().await,
        Some(Command::Console(args)) => return console::run(args).await,
        Some(Command::Latency(args)) => return latency::run(args).await,
        Some(Command::Commits(args)) => return commits::run(args).await,
        Some(Command::Burst(args)) => return burst::run(args).await,
        None => {}
    }
    let args = cli.sync;
    if args.changes == 0 || args.round == 0 {
        bail!("--changes and --round must be at least 1");
    }
    let prices = args.cost.load_prices()?;
    let mut runs = Vec::new();
    for v in variants(!args.no_naive, args.record_timeline) {
        eprintln!("{} backend, {} configuration: {} changes ...", backend_name(args.backend), v.name, args.changes);
        let run = run_variant(&args, &v).await.with_context(|| format!("the {} run", v.name))?;
        eprintln!("  done in {:.1} s", run.wall.as_secs_f64());
        runs.push(run);
    }
    let collab = if args.no_collab {
        None
    } else {
        eprintln!("{} backend, collaboration: comments, attachments, a 60 MB file ...", backend_name(args.backend));
        Some(collab::run(&args).await.context("the collaboration run")?)
    };
    // The field figure the collaboration figures stand next to.
    let field_requests = runs.first().map(|r| {
        let b = if r.steady.synced > 0 { &r.steady } else { &r.all };
        b.per_change(b.requests.total())
    });
    let out = report::Report { backend: backend_name(args.backend), memory_mb: args.cost.memory_mb, prices, runs };
    if args.json {
        let mut v = out.to_json();
        if let (Some(c), Some(o)) = (&collab, v.as_object_mut()) {
            o.insert("collaboration".into(), c.to_json());
        }
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        print!("{}", out.to_text());
        if let Some(c) = &collab {
            print!("{}", c.to_text(field_requests));
        }
    }
    Ok(())
}

fn backend_name(b: BackendKind) -> &'static str {
    match b {
        BackendKind::Embedded => "embedded",
        BackendKind::Aws => "aws",
    }
}

fn secrets() -> Arc<dyn SecretSource> {
    bot_secrets(JIRA_TOKEN_VAR, ADO_PAT_VAR)
}

/// People's tokens are resolved under `FERRY_BENCH_ACTOR_<TOKEN>`.
const PERSON_PREFIX: &str = "FERRY_BENCH_ACTOR_";
/// The people who make the benchmarks' changes, on Jira and on Azure DevOps.
const JIRA_PERSON: &str = "alice@acme.test";
const ADO_PERSON: &str = "bob@acme.test";

/// Alice on Jira and Bob on Azure DevOps, as the people who make a benchmark's changes.
async fn persons(
    set: &ferry_config::ConfigSet,
    integration: &ferry_domain::Integration,
) -> Result<(ferry_runtime::actor::Actor, ferry_runtime::actor::Actor)> {
    let person = |side: Side, email: &'static str, token: &'static str| {
        let system = system(&set.systems, integration, side);
        let scope = scope(integration, side);
        async move { actor(system?, scope, email, token, PERSON_PREFIX).await }
    };
    Ok((
        person(Side::Left, JIRA_PERSON, "jira-alice-token").await?,
        person(Side::Right, ADO_PERSON, "ado-bob-pat").await?,
    ))
}

/// The two people who make a benchmark's changes (Alice on Jira, Bob on Azure DevOps) and
/// a workload of `changes` whose assignees are the demo users Jira knows.
async fn people(
    set: &ferry_config::ConfigSet,
    integration: &ferry_domain::Integration,
    jira: &ferry_sim::JiraSim,
    changes: usize,
) -> Result<(ferry_runtime::actor::Actor, ferry_runtime::actor::Actor, Workload)> {
    let (people_jira, people_ado) = persons(set, integration).await?;
    let assignees = [JIRA_PERSON, ADO_PERSON, "carol@acme.test", "erin@acme.test"]
        .iter()
        .filter_map(|e| jira.user(e).map(|u| u.id))
        .collect::<Vec<_>>();
    Ok((people_jira, people_ado, Workload::new(changes, assignees)))
}

async fn run_variant(args: &SyncArgs, v: &Variant) -> Result<Run> {
    let (jira, ado) = ferry_testsupport::demo_simulators().await?;
    let dir = dir_with_sheets()?;
    // A fresh id per run: runs may share one store (the emulator's tables).
    let id = format!("bench-{}-{}-{}", v.name, std::process::id(), Utc::now().timestamp_millis());
    let template = include_str!("integration.yaml").replace("@ID@", &id).replace("@OVERLAP@", &args.overlap);
    let set = write_and_load(&dir.path().join("ferry.yaml"), &with_simulator_urls(&template, &jira, &ado))?;
    let integration = set.integrations.first().cloned().context("the config has no integration")?;

    let tally = Tally::new();
    let pipe = match args.backend {
        BackendKind::Embedded => {
            Pipeline::embedded(&dir.path().join("ferry.sqlite"), secrets(), v.settings.clone(), tally.clone())?
        }
        BackendKind::Aws => Pipeline::aws(secrets(), v.settings.clone(), tally.clone()).await?,
    };
    let engine = pipe.engine().clone();
    engine.apply(&set.systems, std::slice::from_ref(&integration), true, Utc::now()).await?;
    engine.activate(&integration.id, Utc::now()).await?;

    let (people_jira, people_ado, mut work) = people(&set, &integration, &jira, args.changes).await?;

    // Count only what the pipeline does from here on.
    jira.clear_requests();
    ado.clear_requests();
    let before = tally.snapshot();
    let mut inv = Invocations::default();
    let mut all_latencies = Vec::with_capacity(args.changes);
    let mut unsynced = 0usize;
    // Entities written although nobody changed their source in that round.
    let mut extra_writes = 0usize;
    let mut sync_time = Duration::ZERO;
    let mut synced = 0usize;
    let mut synced_into_jira = 0usize;
    let mut steady = report::Bucket::default();
    let (mut steady_jira, mut steady_ado) = (Vec::new(), Vec::new());
    let started = Instant::now();
    while !work.finished() {
        let steady_round = work.updating();
        let made = work.round(args.round, &people_jira, &people_ado).await?;
        let round_counts = tally.snapshot();
        let round_inv = inv.clone();
        let (jira_seen, ado_seen) = (jira.requests().len(), ado.requests().len());
        let sync_started = Instant::now();
        for flow in integration.flows() {
            pipe.poll(&integration.id, flow, &mut inv).await?;
        }
        let written = pipe.drain(v.receive_batch, &mut inv).await?;
        let took = sync_started.elapsed();
        sync_time += took;
        synced += written.len();
        // The benchmark's integration has Jira on the left.
        let into_jira = written.iter().filter(|w| w.flow.target() == Side::Left).count();
        synced_into_jira += into_jira;
        let mut at: HashMap<(Flow, String), Instant> = HashMap::new();
        let n_written = written.len();
        for w in written {
            at.entry((w.flow, w.source_key)).or_insert(w.at);
        }
        let changed: std::collections::HashSet<(Flow, &str)> =
            made.iter().map(|m| (m.flow, m.source_key.as_str())).collect();
        extra_writes += at.keys().filter(|(f, k)| !changed.contains(&(*f, k.as_str()))).count();
        let mut latencies = Vec::with_capacity(made.len());
        for m in made {
            match at.get(&(m.flow, m.source_key)) {
                Some(t) if *t >= m.at => latencies.push(*t - m.at),
                _ => unsynced += 1,
            }
        }
        if steady_round {
            steady.synced += n_written;
            steady.synced_into_jira += into_jira;
            steady.sync_time += took;
            steady.latencies.extend(latencies.iter().copied());
            steady.counts = steady.counts.plus(&tally.snapshot().minus(&round_counts));
            steady.invocations.add_since(&inv, &round_inv);
            steady_jira.extend(jira.requests().into_iter().skip(jira_seen).filter(bot));
            steady_ado.extend(ado.requests().into_iter().skip(ado_seen).filter(bot));
        }
        all_latencies.extend(latencies);
    }
    let wall = started.elapsed();
    steady.requests = RequestBreakdown::of(&steady_jira, &steady_ado);
    let jira_reqs: Vec<_> = jira.requests().into_iter().filter(bot).collect();
    let ado_reqs: Vec<_> = ado.requests().into_iter().filter(bot).collect();
    Ok(Run {
        name: v.name,
        changes: args.changes,
        round: args.round,
        send_batch: v.settings.send_batch,
        receive_batch: v.receive_batch,
        user_cache_ttl: v.settings.user_cache_ttl,
        wall,
        unsynced,
        extra_writes,
        all: report::Bucket {
            synced,
            synced_into_jira,
            sync_time,
            latencies: all_latencies,
            counts: tally.snapshot().minus(&before),
            invocations: inv,
            requests: RequestBreakdown::of(&jira_reqs, &ado_reqs),
        },
        steady,
    })
}

/// Requests made by Ferry's integration user (not by the people of the workload).
fn bot(r: &ferry_sim::RequestRecord) -> bool {
    r.user.as_deref() == Some("ferry-bot@acme.test")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(changes: usize, round: usize) -> SyncArgs {
        SyncArgs {
            changes,
            round,
            backend: BackendKind::Embedded,
            cost: crate::prices::CostArgs { memory_mb: 256, prices: std::path::PathBuf::from("unused") },
            overlap: "120s".into(),
            no_naive: false,
            json: false,
            no_collab: true,
            record_timeline: false,
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_small_workload_syncs_every_change_once_in_both_configurations() {
        for v in variants(true, false) {
            let run = run_variant(&args(8, 4), &v).await.unwrap();
            assert_eq!(run.unsynced, 0, "{}", v.name);
            // Every write is a change someone made: a stale echo read before Ferry's own
            // later write is skipped, never written back (the engine once reverted these).
            assert_eq!(run.extra_writes, 0, "{}: writes of entities nobody changed", v.name);
            assert_eq!(run.all.synced, 8, "{}", v.name);
            // Round 1 files 4 bugs, round 2 updates them: the steady state.
            assert!(run.steady.synced >= 4, "{}", v.name);
            assert_eq!(run.all.latencies.len(), 8);
            assert!(run.all.counts.sqs_requests() > 0 && run.all.counts.dynamo_requests() > 0);
            assert_eq!(run.all.requests.get("create"), 4, "{:?}", run.all.requests.by_kind);
            assert!(run.all.invocations.poll >= 4, "two polls per round");
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_timeline_is_off_in_the_tuned_configuration_and_costs_a_write_per_step_when_on() {
        let off = run_variant(&args(8, 4), &variants(false, false)[0]).await.unwrap();
        let on = run_variant(&args(8, 4), &variants(false, true)[0]).await.unwrap();
        let steps = |r: &Run| r.all.counts.ops.get("port.record_activity").copied().unwrap_or(0);
        assert_eq!(steps(&off), 0, "no timeline writes by default");
        assert!(steps(&on) >= 3 * 8, "polled, mapped and written for each of 8 changes: {}", steps(&on));
        assert!(on.all.counts.write_units >= off.all.counts.write_units + steps(&on), "each step is billed");
        assert!(off.all.counts.ops.get("port.add_pace").copied().unwrap_or(0) > 0, "the pace is counted either way");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_naive_configuration_sends_and_receives_one_message_per_call() {
        let vs = variants(true, false);
        let tuned = run_variant(&args(8, 8), &vs[0]).await.unwrap();
        let naive = run_variant(&args(8, 8), &vs[1]).await.unwrap();
        assert!(naive.all.counts.sqs_requests() > tuned.all.counts.sqs_requests());
        assert!(naive.all.invocations.total() > tuned.all.invocations.total());
    }
}
