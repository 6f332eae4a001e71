//! Commit polls stay incremental: a repository with a long history (10,000 commits, made
//! with the real `git fast-import`) and one with a short one (100), both served by the
//! real smart HTTP server of `infra/git-servers.sh` (git http-backend), each applied and
//! activated as a commit link on the embedded runtime, then polled after each round of N
//! new commits that name a Jira issue (the simulator). Per poll: time, Git HTTP requests
//! (the server's own log), pack bytes received (what the mirror stored), Jira requests;
//! and the Git part alone (fetch + walk, on a second mirror kept in step). The activation's
//! full fetch is the naive cost every poll would pay without the mirror.
//!
//! `--backend aws`: the store is DynamoDB on the emulator (`AWS_ENDPOINT_URL`), every
//! DynamoDB request counted by an SDK interceptor, and each poll is an invocation of the
//! commits function's real handler; the cost per new commit is priced from the counted
//! requests and units, the Lambda request and Scheduler tick, and the poll's duration
//! (measured on this machine, at `--memory-mb`).

use crate::counting::{CountingInterceptor, Counts, Tally};
use crate::prices::{CostArgs, Prices};
use anyhow::{bail, Context, Result};
use chrono::Utc;
use ferry_domain::ports::ConnectorFactory;
use ferry_domain::{FieldValue, IntegrationId, Scope};
use ferry_engine::{Engine, EngineSettings};
use ferry_runtime::commits::CommitRunner;
use ferry_runtime::{Connectors, Embedded, StaticSecrets};
use ferry_scm::{plan, GitRemote, Mirror, Tips};
use ferry_sim::{JiraSeed, JiraSim};
use ferry_store::aws::{DynamoStore, SqsQueue};
use ferry_testsupport::config::write_and_load;
use ferry_testsupport::git::{git, GitServers};
use ferry_testsupport::people::JIRA_BOT_TOKEN;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Instant;

#[derive(clap::Args)]
pub struct Args {
    /// History sizes to compare, side by side.
    #[arg(long, value_delimiter = ',', default_value = "100,10000")]
    history: Vec<usize>,
    /// New commits per poll.
    #[arg(long, default_value_t = 10)]
    new: usize,
    /// Polls measured per history (medians are printed).
    #[arg(long, default_value_t = 5)]
    rounds: usize,
    /// Where the link's records live and what polls: the embedded runtime, or DynamoDB on
    /// the emulator with the commits function's handler.
    #[arg(long, value_enum, default_value_t = Backend::Embedded)]
    backend: Backend,
    #[command(flatten)]
    cost: CostArgs,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Backend {
    Embedded,
    Aws,
}

const TOKEN_VAR: &str = "FERRY_BENCH_JIRA_TOKEN";

/// One history's figures.
#[derive(Debug, Default)]
struct Figures {
    history: usize,
    activation_secs: f64,
    activation_pack_bytes: u64,
    activation_requests: usize,
    poll_secs: Vec<f64>,
    git_secs: Vec<f64>,
    requests: Vec<f64>,
    pack_bytes: Vec<f64>,
    jira_requests: Vec<f64>,
    comments: usize,
    /// AWS: what each poll asked of DynamoDB.
    dynamo: Vec<Counts>,
}

pub async fn run(args: Args) -> Result<()> {
    if args.history.is_empty() || args.new == 0 || args.rounds == 0 {
        bail!("--history, --new and --rounds must be at least 1");
    }
    let servers = GitServers::from_env_file()?;
    let prices = match args.backend {
        Backend::Aws => Some(args.cost.load_prices()?),
        Backend::Embedded => None,
    };
    let mut all = Vec::new();
    for &history in &args.history {
        eprintln!("history of {history} commits: {} poll(s) of {} new commit(s) ...", args.rounds, args.new);
        all.push(one_history(&servers, history, &args).await.with_context(|| format!("the {history}-commit run"))?);
    }
    print(&all, &args, prices.as_ref());
    Ok(())
}

async fn one_history(servers: &GitServers, history: usize, args: &Args) -> Result<Figures> {
    let jira = JiraSim::start(JiraSeed::demo()).await?;
    let dir = tempfile::tempdir()?;
    let name = format!("bench-history-{history}-{}-{}", std::process::id(), Utc::now().timestamp_millis());
    let bare = servers.root.join(format!("{name}.git"));
    git(&servers.root, &["init", "-q", "--bare", "-b", "main", bare.to_str().context("path")?])?;
    let started = Instant::now();
    fast_import(&bare, 0, history, |i| format!("Commit {i} of the history"))?;
    eprintln!("  {history} commits made with git fast-import in {:.1} s", started.elapsed().as_secs_f64());
    let url = format!("{}/{name}.git", servers.http_url);

    let config = format!(
        "systems:
  - id: {name}-jira
    kind: jira
    base_url: {}
    allow_http_loopback: true
    auth: {{ kind: basic, username: ferry-bot@acme.test, token: {{ env: {TOKEN_VAR} }} }}
source_control:
  - {{ id: {name}-repo, kind: git, base_url: '{url}', allow_http_loopback: true, web_url: 'https://git.example.test/c/{{sha}}' }}
commit_links:
  - id: {name}
    source: {{ system: {name}-repo, branches: [main] }}
    targets: [{{ system: {name}-jira, project: APP, key_pattern: '\\b(APP-\\d+)\\b' }}]
",
        jira.base_url()
    );
    let set = write_and_load(&dir.path().join("ferry.yaml"), &config)?;
    let secrets = Arc::new(
        StaticSecrets::new(ferry_runtime::EnvSecrets)
            .with(ferry_domain::SecretRef::Env(TOKEN_VAR.into()), JIRA_BOT_TOKEN),
    );
    let tally = Tally::new();
    let (engine, connectors) = match args.backend {
        Backend::Embedded => {
            let db = dir.path().join("ferry.sqlite");
            let rt = Embedded::open_with(&db, secrets, Default::default(), Default::default(), Default::default())?;
            (rt.engine, rt.connectors)
        }
        Backend::Aws => aws_engine(secrets, tally.clone()).await?,
    };
    let commits = engine.plan_commit_links(&set.source_control, &set.commit_links, &[]).await?;
    let mut report = engine.apply(&set.systems, &[], false, Utc::now()).await?;
    engine.write_commit_links(commits, Utc::now(), &mut report).await?;
    let mirrors = dir.path().join("mirrors");
    let runner = CommitRunner::new(engine.clone(), connectors.clone(), mirrors.clone());
    let id = IntegrationId::parse(name.as_str())?;

    let issue = {
        let system = set.systems.first().context("jira")?;
        let bot = connectors.connector(system).await?;
        let scope = Scope { project: "APP".into(), entity_type: "Bug".into() };
        let summary = ferry_domain::FieldChange {
            field: ferry_domain::FieldKey::new("summary"),
            value: FieldValue::Text("Commits land here".into()),
        };
        bot.create(&scope, &[summary]).await?.key
    };

    let mut f = Figures { history, ..Figures::default() };
    let log = servers.root.parent().context("servers dir")?.join("http.log");
    let mirror_dir = mirrors.join(format!("{name}-repo"));
    let (requests, started) = (log_lines(&log, &name)?, Instant::now());
    runner.activate(&id, &ferry_scm::Start::Newest, Utc::now()).await?;
    f.activation_secs = started.elapsed().as_secs_f64();
    f.activation_requests = log_lines(&log, &name)? - requests;
    f.activation_pack_bytes = pack_bytes(&mirror_dir)?;

    // The Git part alone, on a mirror of its own kept in step with the poll's.
    let probe = Mirror::open(&dir.path().join("probe"))?;
    let remote = GitRemote::anonymous(url.clone());
    let mut probe_tips: Tips = probe.fetch(&remote)?;

    let record = engine.commit_link(&id).await?.context("the commit link")?;
    for round in 0..args.rounds {
        let first = history + round * args.new;
        fast_import(&bare, first, args.new, |i| format!("{issue}: change {i}"))?;

        let (requests, bytes, jira_before) = (log_lines(&log, &name)?, pack_bytes(&mirror_dir)?, jira.requests().len());
        let dynamo_before = tally.snapshot();
        let started = Instant::now();
        let (commits, comments) = match args.backend {
            Backend::Embedded => {
                let polled = runner.sync_for(&record).await?.poll().await?;
                (polled.commits, polled.comments)
            }
            Backend::Aws => {
                // An invocation of the commits function, as its schedule makes it.
                let event = serde_json::json!({ "integration": id.as_str() });
                let deadline = std::time::SystemTime::now() + std::time::Duration::from_secs(300);
                let polled = ferry_fn_commits::handle_until(&runner, event, Some(deadline)).await?;
                (polled.poll.commits, polled.poll.comments)
            }
        };
        f.poll_secs.push(started.elapsed().as_secs_f64());
        f.dynamo.push(tally.snapshot().minus(&dynamo_before));
        if commits != args.new {
            bail!("the poll walked {commits} commit(s), not the {} new ones", args.new);
        }
        f.comments += comments;
        f.requests.push((log_lines(&log, &name)? - requests) as f64);
        f.pack_bytes.push((pack_bytes(&mirror_dir)? - bytes) as f64);
        f.jira_requests.push((jira.requests().len() - jira_before) as f64);

        let started = Instant::now();
        let tips = probe.fetch(&remote)?;
        let walk = plan(&probe_tips, &tips);
        let walked = probe.commits_between(&walk.hide, &walk.from)?;
        f.git_secs.push(started.elapsed().as_secs_f64());
        if walked.len() != args.new {
            bail!("the probe walked {} commit(s), not {}", walked.len(), args.new);
        }
        probe_tips = tips;
    }
    std::fs::remove_dir_all(&bare).ok();
    Ok(f)
}

/// An engine over DynamoDB on the emulator (the `FERRY_*` names of `infra/moto.sh env`)
/// that keeps commit links, every DynamoDB request counted in `tally`.
async fn aws_engine(
    secrets: Arc<dyn ferry_runtime::SecretSource>,
    tally: Arc<Tally>,
) -> Result<(Arc<Engine>, Arc<Connectors>)> {
    let (sdk, names) = ferry_testsupport::backend::emulator().await?;
    let ddb = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&sdk).interceptor(CountingInterceptor { tally }).build(),
    );
    let payloads = ferry_runtime::aws::payload_store(&sdk, &names.payload_bucket)?;
    let store = Arc::new(DynamoStore::new(ddb, &names).with_payloads(payloads.clone()));
    let queue = Arc::new(SqsQueue::new(aws_sdk_sqs::Client::new(&sdk), &names).with_payloads(payloads));
    let connectors = Arc::new(Connectors::new(secrets, Default::default()).with_governors(store.clone()));
    let engine = Engine::new(store.clone(), store.clone(), queue, connectors.clone(), EngineSettings::lambda())
        .with_commit_links(store);
    Ok((Arc::new(engine), connectors))
}

/// Adds `count` commits to `main` of the bare repository `bare` with `git fast-import`,
/// numbered from `first` (each changes one of 100 files), `message(i)` each.
fn fast_import(bare: &Path, first: usize, count: usize, message: impl Fn(usize) -> String) -> Result<()> {
    let mut stream = Vec::new();
    for i in first..first + count {
        let when = 1_700_000_000 + i * 60;
        let msg = message(i);
        let content = format!("line written by commit {i}\n");
        writeln!(stream, "commit refs/heads/main")?;
        writeln!(stream, "author Dana Dev <dana@example.test> {when} +0000")?;
        writeln!(stream, "committer Dana Dev <dana@example.test> {when} +0000")?;
        writeln!(stream, "data {}\n{msg}", msg.len())?;
        if i == first && first > 0 {
            writeln!(stream, "from refs/heads/main^0")?;
        }
        writeln!(stream, "M 644 inline src/f{}.txt\ndata {}\n{content}", i % 100, content.len())?;
    }
    let mut child = Command::new("git")
        .args(["fast-import", "--quiet"])
        .env("GIT_DIR", bare)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("running git fast-import")?;
    child.stdin.take().context("stdin")?.write_all(&stream)?;
    let out = child.wait_with_output()?;
    if !out.status.success() {
        bail!("git fast-import failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(())
}

/// Requests the smart HTTP server logged for repository `name`.
fn log_lines(log: &PathBuf, name: &str) -> Result<usize> {
    let text = std::fs::read_to_string(log).with_context(|| format!("reading {}", log.display()))?;
    let needle = format!("/{name}.git/");
    Ok(text.lines().filter(|l| l.contains(&needle)).count())
}

/// Bytes of the packs a mirror holds: what its fetches received.
fn pack_bytes(mirror: &Path) -> Result<u64> {
    let dir = mirror.join("objects/pack");
    let mut total = 0;
    for entry in std::fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))? {
        let entry = entry?;
        if entry.path().extension().is_some_and(|e| e == "pack") {
            total += entry.metadata()?.len();
        }
    }
    Ok(total)
}

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    match v.len() {
        0 => 0.0,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

fn print(all: &[Figures], args: &Args, prices: Option<&Prices>) {
    let n = args.new as f64;
    let runtime = match args.backend {
        Backend::Embedded => "embedded runtime",
        Backend::Aws => "AWS backend (DynamoDB on the emulator, the commits function's handler)",
    };
    println!(
        "\ncommit polls over smart HTTP (git http-backend on 127.0.0.1), {runtime}, {} new commits per poll \
         naming a Jira issue (simulator), medians of {} polls",
        args.new, args.rounds
    );
    let head: Vec<String> = all.iter().map(|f| format!("{:>18}", format!("{} commits", f.history))).collect();
    println!("{:<52}{}", "history", head.join(""));
    let row = |label: &str, value: &dyn Fn(&Figures) -> String| {
        let cells: Vec<String> = all.iter().map(|f| format!("{:>18}", value(f))).collect();
        println!("{label:<52}{}", cells.join(""));
    };
    row("activation (full fetch): time", &|f| format!("{:.2} s", f.activation_secs));
    row("activation: pack bytes received", &|f| format!("{}", f.activation_pack_bytes));
    row("activation: Git HTTP requests", &|f| format!("{}", f.activation_requests));
    row("poll: time (fetch, walk, link + comment)", &|f| format!("{:.0} ms", median(&f.poll_secs) * 1000.0));
    row("poll: time per new commit", &|f| format!("{:.1} ms", median(&f.poll_secs) * 1000.0 / n));
    row("poll, Git part alone (fetch + walk): time", &|f| format!("{:.0} ms", median(&f.git_secs) * 1000.0));
    row("poll: Git HTTP requests", &|f| format!("{:.0}", median(&f.requests)));
    row("poll: Git HTTP requests per new commit", &|f| format!("{:.2}", median(&f.requests) / n));
    row("poll: pack bytes received", &|f| format!("{:.0}", median(&f.pack_bytes)));
    row("poll: pack bytes per new commit", &|f| format!("{:.0}", median(&f.pack_bytes) / n));
    row("poll: Jira requests per new commit", &|f| format!("{:.1}", median(&f.jira_requests) / n));
    row("comments written (all polls)", &|f| format!("{}", f.comments));
    if let Some(p) = prices {
        let med = |f: &Figures, g: &dyn Fn(&Counts) -> f64| median(&f.dynamo.iter().map(g).collect::<Vec<_>>());
        row("poll: DynamoDB requests", &|f| format!("{:.0}", med(f, &|c| c.dynamo_requests() as f64)));
        row("poll: DynamoDB write units", &|f| format!("{:.0}", med(f, &|c| c.write_units as f64)));
        row("poll: DynamoDB read units", &|f| format!("{:.1}", med(f, &|c| c.read_units())));
        let gb = f64::from(args.cost.memory_mb) / 1024.0;
        let cost = move |f: &Figures| {
            let dynamo =
                med(f, &|c| c.write_units as f64 * p.dynamodb_write_unit + c.read_units() * p.dynamodb_read_unit);
            let lambda = p.lambda_request + median(&f.poll_secs) * gb * p.lambda_arm64_gb_second;
            (dynamo, lambda + p.scheduler_invocation)
        };
        row("poll: DynamoDB cost per new commit (USD)", &|f| format!("{:.9}", cost(f).0 / n));
        row("poll: Lambda + Scheduler cost per new commit (USD)", &|f| format!("{:.9}", cost(f).1 / n));
        row("poll: cost per new commit (USD)", &|f| format!("{:.9}", (cost(f).0 + cost(f).1) / n));
        row("  per million new commits (USD)", &|f| format!("{:.2}", (cost(f).0 + cost(f).1) / n * 1e6));
        println!(
            "prices of {} ({}); Lambda duration as measured here at {} MB; DynamoDB ops per poll: {}",
            p.date,
            p.source,
            args.cost.memory_mb,
            all.last().and_then(|f| f.dynamo.last()).map(|c| format!("{:?}", c.ops)).unwrap_or_default()
        );
    }
    if let (Some(small), Some(big)) = (all.first(), all.last()) {
        if all.len() > 1 {
            println!(
                "ratio {} / {} commits: poll time {:.2}x, Git part {:.2}x, pack bytes {:.2}x; activation time {:.1}x",
                big.history,
                small.history,
                median(&big.poll_secs) / median(&small.poll_secs),
                median(&big.git_secs) / median(&small.git_secs),
                median(&big.pack_bytes) / median(&small.pack_bytes).max(1.0),
                big.activation_secs / small.activation_secs
            );
        }
    }
}
