//! `ferry activate ID --since DATE` followed to its end through the real binary: it
//! syncs itself on the embedded store (on AWS it watches the functions, which the test
//! drives as their event sources would), prints a plain progress line every few seconds
//! when stderr is not a terminal, ends with a summary whose numbers are the store's, and
//! a rerun after an interrupt resumes the same backfill without duplicating anything.

use crate::harness::*;
use anyhow::{Context, Result};
use ferry_domain::{FieldValue, Side};
use std::io::{BufRead, BufReader, Read};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// `(done, total)` of each `backfill: N/M done…` line.
fn progress(stderr: &str) -> Vec<(usize, usize)> {
    stderr
        .lines()
        .filter_map(|l| {
            let rest = l.strip_prefix("backfill: ")?;
            let (position, _) = rest.split_once(" done")?;
            let (done, total) = position.split_once('/')?;
            Some((done.parse().ok()?, total.parse().ok()?))
        })
        .collect()
}

fn assert_rising(lines: &[(usize, usize)], total: usize, what: &str) {
    assert!(!lines.is_empty(), "{what}: no progress line");
    assert!(lines.iter().all(|l| l.1 == total), "{what}: the total is the plan's {total}: {lines:?}");
    assert!(lines.windows(2).all(|w| w[0].0 <= w[1].0), "{what}: progress goes back: {lines:?}");
}

/// Runs `ferry` with `args` and sends it SIGINT (Ctrl-C) once a progress line shows more
/// than `after` items done and fewer than all: what it printed.
fn interrupted(mut cmd: std::process::Command, after: usize) -> Result<Ran> {
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().context("starting ferry")?;
    let pid = child.id().to_string();
    let mut stdout = child.stdout.take().context("stdout")?;
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let mut stderr = String::new();
    let mut sent = false;
    for line in BufReader::new(child.stderr.take().context("stderr")?).lines() {
        let line = line?;
        if let Some(&(done, total)) = progress(&line).first() {
            if !sent && done > after && done < total {
                let kill = std::process::Command::new("kill").args(["-INT", &pid]).status()?;
                anyhow::ensure!(kill.success(), "kill -INT {pid} failed");
                sent = true;
            }
        }
        stderr.push_str(&line);
        stderr.push('\n');
    }
    let status = child.wait()?;
    let stdout = out.join().map_err(|_| anyhow::anyhow!("reading stdout"))?;
    Ok(Ran { ok: status.success(), code: status.code(), stdout, stderr })
}

/// On AWS the functions sync: the world drives them (polls and queues) until `done`.
async fn functions_until(w: &World, done: &AtomicBool) {
    if !aws_backend() {
        return;
    }
    while !done.load(Ordering::SeqCst) {
        w.sync().await;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Runs `cmd` (blocking, off the async workers) while the functions sync on AWS.
async fn while_functions_sync<F>(w: &World, f: F) -> Result<Ran>
where
    F: FnOnce() -> Result<Ran> + Send + 'static,
{
    let done = AtomicBool::new(false);
    let ran = async {
        let r = tokio::task::spawn_blocking(f).await;
        done.store(true, Ordering::SeqCst);
        r
    };
    let (ran, ()) = tokio::join!(ran, functions_until(w, &done));
    ran?
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn activate_since_follows_the_backfill_and_a_rerun_after_an_interrupt_resumes_it_without_duplicates() -> Result<()>
{
    const ITEMS: usize = 240;
    const BY_HAND: usize = 20;
    // No default priority: the one issue whose priority has no row in the table parks.
    let w = World::new(Variant { priority_default: None, ..Variant::default() }).await?;
    let since = (chrono::Utc::now() - chrono::Duration::hours(1)).to_rfc3339();
    let (alice, bob) = (w.jira_user("alice").await, w.ado_user("bob").await);
    let (jira_before, ado_before) = (w.jira.issue_keys("APP").len(), w.ado.work_item_ids("App").len());
    let mut keys = Vec::new();
    for n in 0..ITEMS {
        let mut fields = vec![("summary", text(&format!("Existing bug {n}")))];
        if n == ITEMS - 1 {
            fields.push(("priority", FieldValue::Option("Lowest".into())));
        }
        let issue = alice.create(fields).await?;
        if n < BY_HAND {
            // Mirrored by hand before Ferry: the twin names the Jira key in the remote-id field.
            bob.create(vec![
                ("System.Title", text(&format!("Existing bug {n}"))),
                ("Custom.JiraKey", text(&issue.key)),
            ])
            .await?;
        }
        keys.push(issue.key);
    }
    let parked_key = keys[ITEMS - 1].clone();
    let config = w.config.to_str().context("utf-8 path")?;
    assert!(w.ferry(&["apply", config]).await.ok, "apply");
    let id = w.id.as_str();
    if !aws_backend() {
        // Slow enough writes that the interrupt lands while creates are under way.
        w.ado.faults().set_delay(Duration::from_millis(25));
    }

    // The first run: interrupted (Ctrl-C) once creates are under way.
    let cmd = w.ferry_command(&["activate", id, "--since", &since, "--yes"]);
    let first = while_functions_sync(&w, move || interrupted(cmd, BY_HAND)).await?;
    assert_eq!(first.code, Some(130), "an interrupt exits 130:\n{}\n{}", first.stdout, first.stderr);
    assert!(
        first
            .stdout
            .contains(&format!("{} to create, 0 already paired, {BY_HAND} to pair, 0 ambiguous", ITEMS - BY_HAND)),
        "{}",
        first.stdout
    );
    let lines = progress(&first.stderr);
    assert_rising(&lines, ITEMS, "the interrupted run");
    assert!(!first.stderr.contains('\u{1b}'), "no terminal control codes off a terminal:\n{}", first.stderr);
    let summary = first.stdout.lines().find(|l| l.starts_with("backfill interrupted")).context("summary")?;
    let at: usize = summary
        .split_once(" at ")
        .and_then(|(_, r)| r.split_once('/'))
        .and_then(|(d, _)| d.parse().ok())
        .with_context(|| format!("no position in {summary:?}"))?;
    let linked = w.engine.state().count_links(&w.id).await? as usize;
    assert!(at > BY_HAND && at < ITEMS, "interrupted midway: {summary}");
    if !aws_backend() {
        // Nothing syncs once the embedded run stopped: the summary is the store's.
        assert_eq!(at, linked, "{summary}");
        assert!(summary.contains(&format!("{} created, {BY_HAND} paired", at - BY_HAND)), "{summary}");
    }
    for key in &keys {
        assert!(w.ado_items_naming(key) <= 1, "{key} has at most one twin after the interrupt");
    }

    // The rerun resumes the stored backfill and follows it to its end.
    let cmd = w.ferry_command(&["activate", id, "--since", &since, "--yes", "--json"]);
    let rerun = while_functions_sync(&w, move || Ok(run_blocking(cmd))).await?;
    assert_eq!(
        rerun.code,
        Some(4),
        "a backfill that ends with items parked exits 4:\n{}\n{}",
        rerun.stdout,
        rerun.stderr
    );
    let v: serde_json::Value = serde_json::from_str(&rerun.stdout).context("one JSON document on stdout")?;
    assert_eq!(v["resumed"], true, "{v:#}");
    assert_eq!(v["linked"], 0, "the pairs stay linked from the first run: {v:#}");
    let end = &v["backfill"];
    assert_eq!(end["outcome"], "parked", "{v:#}");
    let counts = |e: &serde_json::Value| {
        ["total", "created", "paired", "parked", "waiting"].map(|k| e[k].as_u64().unwrap_or(99))
    };
    assert_eq!(counts(end), [ITEMS as u64, (ITEMS - BY_HAND - 1) as u64, BY_HAND as u64, 1, 0], "{v:#}");
    let lines = progress(&rerun.stderr);
    assert_rising(&lines, ITEMS, "the resumed run");
    // Its log line (the park's warning) is plain text too.
    assert!(!rerun.stderr.contains('\u{1b}'), "no terminal control codes off a terminal:\n{}", rerun.stderr);
    assert!(lines[0].0 >= at, "the resumed run starts where the first stopped: {lines:?}");
    assert_eq!(lines.last(), Some(&(ITEMS - 1, ITEMS)), "{}", rerun.stderr);

    // The numbers are the store's and the target's: every issue but the parked one has
    // exactly one twin, nothing was created twice or back in Jira.
    assert_eq!(w.engine.state().count_links(&w.id).await?, (ITEMS - 1) as u64);
    for key in &keys[..ITEMS - 1] {
        assert_eq!(w.ado_items_naming(key), 1, "{key} has exactly one twin");
    }
    assert_eq!(w.ado_items_naming(&parked_key), 0, "the parked issue was not created");
    assert_eq!(w.ado.work_item_ids("App").len(), ado_before + ITEMS - 1, "one Azure DevOps item per synced issue");
    assert_eq!(w.jira.issue_keys("APP").len(), jira_before + ITEMS, "nothing created back in Jira");
    let failures = w.engine.state().list_failures(Some(&w.id)).await?;
    assert_eq!(failures.iter().map(|f| f.entity_key.as_str()).collect::<Vec<_>>(), vec![parked_key.as_str()]);
    for link in [&keys[0], &keys[BY_HAND]] {
        let issue = w.jira.issue_json(link).context("issue")?;
        let id = ferry_domain::EntityId::new(issue["id"].as_str().context("id")?);
        assert!(w.twin(Side::Left, &id).await.is_some(), "{link} linked");
    }

    // `ferry backfill status` reads the same counts.
    let status = w.ferry(&["backfill", "status", id, "--json"]).await;
    assert!(status.ok, "backfill status: {}", status.stderr);
    let s: serde_json::Value = serde_json::from_str(&status.stdout)?;
    assert_eq!(counts(&s["counts"]), counts(end), "{s:#}");
    Ok(())
}

fn run_blocking(mut cmd: std::process::Command) -> Ran {
    match cmd.output() {
        Ok(out) => Ran {
            ok: out.status.success(),
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        },
        Err(e) => Ran { ok: false, code: None, stdout: String::new(), stderr: format!("running ferry: {e}") },
    }
}

/// Crashes the `nth` pass of one point, once.
struct CrashOnce {
    point: ferry_engine::CrashPoint,
    passes_left: std::sync::atomic::AtomicU32,
    fired: AtomicBool,
}

impl ferry_engine::CrashInjector for CrashOnce {
    fn crash_at(&self, point: ferry_engine::CrashPoint) -> bool {
        if point != self.point || self.fired.load(Ordering::SeqCst) {
            return false;
        }
        let left = self.passes_left.fetch_sub(1, Ordering::SeqCst);
        let hit = left == 1;
        if hit {
            self.fired.store(true, Ordering::SeqCst);
        }
        hit
    }
}

/// A process of its own on the SQLite file `path`: an engine (crashing where `crash`
/// says) and a runner whose received messages stay invisible for `visibility`.
fn process(
    path: &std::path::Path,
    crash: Option<std::sync::Arc<CrashOnce>>,
    visibility: Duration,
) -> Result<(std::sync::Arc<ferry_engine::Engine>, ferry_runtime::Runner)> {
    use ferry_store::sqlite::SqliteStore;
    use std::sync::Arc;
    let store = Arc::new(SqliteStore::open(path, ferry_store::QueueSettings::default())?);
    let connectors = Arc::new(ferry_runtime::Connectors::new(secrets(), Default::default()));
    let mut engine = ferry_engine::Engine::new(
        store.clone(),
        store.clone(),
        store,
        connectors,
        ferry_engine::EngineSettings::default(),
    );
    if let Some(c) = crash {
        engine = engine.with_crash_injector(c);
    }
    let engine = Arc::new(engine);
    let settings =
        ferry_runtime::RunnerSettings { visibility, drain_patience: Duration::from_secs(10), ..Default::default() };
    Ok((engine.clone(), ferry_runtime::Runner::new(engine, settings)))
}

/// A backfill whose process crashes between a create and its link (the target created,
/// the link not stored) and stops there, resumed by a new process on the same store:
/// the resumed run keeps the watermarks, finds the crashed create's twin instead of
/// creating it again, and ends with every issue created once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backfill_resumed_after_a_crash_between_create_and_link_duplicates_nothing() -> Result<()> {
    use ferry_engine::{BackfillProgress, CrashPoint, PairBy};
    use ferry_runtime::backfill::verdict::Verdict;
    use ferry_runtime::backfill::{follow, FollowSettings, Worker};
    const ITEMS: usize = 60;
    let w = World::new(Variant::default()).await?;
    let since = chrono::Utc::now() - chrono::Duration::hours(1);
    let alice = w.jira_user("alice").await;
    let ado_before = w.ado.work_item_ids("App").len();
    let mut keys = Vec::new();
    for n in 0..ITEMS {
        keys.push(alice.create(vec![("summary", text(&format!("Existing bug {n}")))]).await?.key);
    }
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("backfill.sqlite");
    let settings = FollowSettings { every: Duration::from_millis(200), idle_pause: Duration::from_millis(300) };

    // The first process accepts the backfill and dies at its 20th create, after the
    // create and before the link.
    let crash = std::sync::Arc::new(CrashOnce {
        point: CrashPoint::WriteAfterTarget,
        passes_left: std::sync::atomic::AtomicU32::new(20),
        fired: AtomicBool::new(false),
    });
    {
        let (engine, runner) = process(&path, Some(crash.clone()), Duration::from_secs(5))?;
        engine.apply(&w.systems, std::slice::from_ref(&w.integration), true, chrono::Utc::now()).await?;
        let plan = engine.plan_backfill(&w.id, since, &PairBy::RemoteId).await?;
        assert_eq!(plan.to_create.len(), ITEMS, "{plan:?}");
        let started = engine.accept_backfill(&w.id, plan, PairBy::RemoteId, chrono::Utc::now()).await?;
        let mut progress = BackfillProgress::new(started.record);
        let died = tokio::sync::Notify::new();
        let end = follow(&engine, &mut progress, Worker::Drive(&runner), &settings, died.notified(), |_| {
            if crash.fired.load(Ordering::SeqCst) {
                died.notify_one();
            }
        })
        .await?;
        assert_eq!(end.verdict, Verdict::Interrupted, "{end:?}");
        assert!(end.counts.done() < ITEMS, "stopped midway: {end:?}");
    }

    // A new process on the same store resumes the same backfill.
    let (engine, runner) = process(&path, None, Duration::from_secs(5))?;
    let record = engine.stored_backfill(&w.id).await?.context("the accepted backfill is stored")?;
    assert!(record.is_for(since, &PairBy::RemoteId) && record.activated_at.is_some(), "{record:?}");
    let resumed = engine.resume_backfill(record, chrono::Utc::now()).await?;
    assert!(
        resumed.activation.starts.iter().all(|s| s.reason == "kept"),
        "a resume keeps the watermarks: {:?}",
        resumed.activation.starts
    );
    let mut progress = BackfillProgress::new(resumed.record);
    let end = follow(&engine, &mut progress, Worker::Drive(&runner), &settings, std::future::pending(), |_| {}).await?;
    assert_eq!(end.verdict, Verdict::Finished, "{end:?}");
    assert_eq!((end.counts.created, end.counts.total, end.counts.parked), (ITEMS, ITEMS, 0), "{end:?}");
    for key in &keys {
        assert_eq!(w.ado_items_naming(key), 1, "{key} has exactly one twin");
    }
    assert_eq!(w.ado.work_item_ids("App").len(), ado_before + ITEMS);
    assert_eq!(engine.state().count_links(&w.id).await?, ITEMS as u64);
    Ok(())
}
