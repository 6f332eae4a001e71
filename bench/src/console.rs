//! Console page loads: a store with many integrations and parked failures, served by the
//! real `ferry serve`, each page fetched over HTTP again and again; prints the median and
//! the 95th percentile per page against the 200 ms goal.

use anyhow::{bail, Context, Result};
use chrono::{Duration as TimeDelta, Utc};
use ferry_domain::{
    ChangeEvent, EntityId, EntitySnapshot, ErrorCategory, FailureRecord, FieldChange, FieldKey, FieldValue, Flow,
    IntegrationId, PaceBucket, WriteCommand, MESSAGE_SCHEMA,
};
use ferry_runtime::Embedded;
use ferry_testsupport::config::{dir_with_sheets, with_simulator_urls, write_and_load};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, BufReader};

#[derive(clap::Args)]
pub struct Args {
    #[arg(long, default_value_t = 100)]
    integrations: usize,
    #[arg(long, default_value_t = 10_000)]
    failures: usize,
    /// Loads of each page (after two warm-up loads).
    #[arg(long, default_value_t = 40)]
    loads: usize,
    /// The `ferry` binary to serve with (default: target/release/ferry when built, else
    /// target/debug/ferry).
    #[arg(long)]
    ferry: Option<PathBuf>,
}

/// The page-load goal.
const GOAL: Duration = Duration::from_millis(200);

pub async fn run(args: Args) -> Result<()> {
    let ferry = args.ferry.clone().unwrap_or_else(default_ferry);
    anyhow::ensure!(
        ferry.exists(),
        "{} does not exist: build it (cargo build --release -p ferry-cli)",
        ferry.display()
    );
    let dir = dir_with_sheets()?;
    let db = dir.path().join("ferry.sqlite");
    eprintln!("filling {} with {} integrations and {} failures ...", db.display(), args.integrations, args.failures);
    let (first_failure, first_integration) = fill(&dir, &db, &args).await?;

    let mut child = tokio::process::Command::new(&ferry)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("FERRY_DB", &db)
        .env("FERRY_BACKEND", "embedded")
        .env("FERRY_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {}", ferry.display()))?;
    let mut lines = BufReader::new(child.stderr.take().context("stderr")?).lines();
    let base = loop {
        let Some(line) = lines.next_line().await? else { bail!("ferry serve ended without saying where it listens") };
        if let Some(rest) = line.split("console on http://").nth(1) {
            break format!("http://{}", rest.split('/').next().unwrap_or_default());
        }
    };
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });

    let pages = [
        ("integrations", "/".to_string()),
        ("failures, first page", "/failures".to_string()),
        ("failures, last page", format!("/failures?page={}", args.failures / 50)),
        ("failures of one integration", format!("/failures?integration={first_integration}")),
        ("one failure", format!("/failures/{first_failure}")),
        ("timeline", format!("/timeline?integration={first_integration}&side=left&entity=10000")),
    ];
    let http = reqwest::Client::new();
    println!(
        "console page loads: {} integrations, {} failures; {} ({})",
        args.integrations,
        args.failures,
        ferry.display(),
        if ferry.ends_with("release/ferry") { "release" } else { "debug build" }
    );
    println!("{:<30} {:>10} {:>10} {:>8}  goal < {} ms", "page", "median ms", "p95 ms", "KiB", GOAL.as_millis());
    for (name, path) in pages {
        let (median, p95, size) = measure(&http, &format!("{base}{path}"), args.loads).await?;
        let verdict = if p95 < GOAL { "ok" } else { "OVER" };
        println!("{name:<30} {:>10.1} {:>10.1} {:>8}  {verdict}", ms(median), ms(p95), size / 1024);
    }
    let _ = child.kill().await;
    Ok(())
}

fn default_ferry() -> PathBuf {
    let target = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../target"));
    let release = target.join("release/ferry");
    if release.exists() {
        release
    } else {
        target.join("debug/ferry")
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Median and 95th percentile of `loads` loads of `url` (after two warm-up loads), and
/// the page's size.
async fn measure(http: &reqwest::Client, url: &str, loads: usize) -> Result<(Duration, Duration, usize)> {
    let mut times = Vec::with_capacity(loads);
    let mut size = 0;
    for i in 0..loads + 2 {
        let t0 = Instant::now();
        let r = http.get(url).send().await?;
        let status = r.status();
        let body = r.bytes().await?;
        let took = t0.elapsed();
        anyhow::ensure!(status.is_success(), "{url}: HTTP {status}");
        size = body.len();
        if i >= 2 {
            times.push(took);
        }
    }
    times.sort();
    let at = |q: f64| times[((times.len() as f64 * q).ceil() as usize).clamp(1, times.len()) - 1];
    Ok((at(0.5), at(0.95), size))
}

/// Applies and activates the integrations, parks the failures (spread over them) and
/// adds a day of minute buckets per direction. Answers one failure's id and the first
/// integration's id.
async fn fill(dir: &tempfile::TempDir, db: &std::path::Path, args: &Args) -> Result<(String, String)> {
    let (jira, ado) = ferry_testsupport::demo_simulators().await?;
    let template = include_str!("integration.yaml").replace("@ID@", "console").replace("@OVERLAP@", "120s");
    let set = write_and_load(&dir.path().join("ferry.yaml"), &with_simulator_urls(&template, &jira, &ado))?;
    let one = set.integrations.first().cloned().context("the config has no integration")?;
    let rt = Embedded::open(db, super::secrets())?;
    let engine = rt.engine.clone();
    let integrations: Vec<_> = (0..args.integrations.max(1))
        .map(|i| {
            let mut it = one.clone();
            it.id = IntegrationId::parse(format!("bench-{i:03}")).expect("valid id");
            it
        })
        .collect();
    engine.apply(&set.systems, &integrations, false, Utc::now()).await?;
    let now = Utc::now();
    for it in &integrations {
        engine.activate(&it.id, now).await?;
        for flow in Flow::BOTH {
            for m in (0..24 * 60).step_by(10) {
                let minute = PaceBucket::at(now - TimeDelta::minutes(m)).minute;
                let b = PaceBucket { minute, read: 3, written: 2, settled: 3 };
                engine.state().add_pace(&it.id, flow, &b).await?;
            }
        }
    }
    for n in 0..args.failures {
        let it = &integrations[n % integrations.len()];
        engine.state().put_failure(&failure(&it.id, n)).await?;
    }
    Ok((failure(&integrations[0].id, 0).id, integrations[0].id.to_string()))
}

/// A parked write of a Jira bug refused by the target, with its mapping output.
fn failure(integration: &IntegrationId, n: usize) -> FailureRecord {
    let at = Utc::now() - TimeDelta::seconds(n as i64);
    let mut fields = BTreeMap::new();
    fields.insert(FieldKey::new("summary"), FieldValue::Text(format!("Bug number {n} with a longer title")));
    fields.insert(FieldKey::new("priority"), FieldValue::Option("Lowest".into()));
    fields.insert(FieldKey::new("status"), FieldValue::Option("To Do".into()));
    fields.insert(FieldKey::new("description"), FieldValue::Text("Steps: open, click, see it fail. ".repeat(8)));
    let snapshot = EntitySnapshot {
        id: EntityId::new((10_000 + n).to_string()),
        key: format!("APP-{n}"),
        revision: "1".into(),
        updated: at,
        changed_by: None,
        url: String::new(),
        fields,
    };
    let input = ChangeEvent {
        schema: MESSAGE_SCHEMA,
        integration: integration.clone(),
        flow: Flow::LeftToRight,
        snapshot: snapshot.clone(),
        matches_filter: true,
        polled_at: at,
        replay: None,
        winner: None,
    };
    let changes = vec![
        FieldChange { field: FieldKey::new("System.Title"), value: FieldValue::Text(format!("Bug number {n}")) },
        FieldChange { field: FieldKey::new("Microsoft.VSTS.Common.Priority"), value: FieldValue::Option("5".into()) },
    ];
    let output = WriteCommand {
        schema: MESSAGE_SCHEMA,
        integration: integration.clone(),
        flow: Flow::LeftToRight,
        source: snapshot.clone(),
        target: None,
        mapped: changes.iter().map(|c| (c.field.clone(), c.value.clone())).collect(),
        changes,
        replay: None,
        winner: None,
        collab_only: false,
    };
    FailureRecord {
        id: format!("bench-failure-{n:05}"),
        integration: integration.clone(),
        flow: Flow::LeftToRight,
        entity: snapshot.id.clone(),
        entity_key: snapshot.key.clone(),
        category: if n.is_multiple_of(7) { ErrorCategory::FieldConflict } else { ErrorCategory::InvalidRequest },
        cause: "HTTP 400: TF401320: Rule Error for field Priority. Error code: HasValues, LimitedToValues.".into(),
        input,
        mapping_output: Some(output),
        attempts: 1,
        first_failed_at: at,
        last_failed_at: at,
    }
}
