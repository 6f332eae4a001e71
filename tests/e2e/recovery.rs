//! Crash recovery at step boundaries, deterministic (the fault-injection suite covers
//! the same ground at random): an engine on the world's simulators whose handlers
//! "die" once at a chosen point, on its own SQLite file.

use crate::harness::*;
use anyhow::{Context, Result};
use chrono::Utc;
use ferry_domain::{FieldValue, Flow, Side};
use ferry_engine::{CrashInjector, CrashPoint, Engine, EngineSettings};
use ferry_runtime::{Connectors, CycleReport, Runner, RunnerSettings};
use ferry_store::sqlite::SqliteStore;
use ferry_store::QueueSettings;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Crashes the first `times` passes of one point.
struct CrashAt {
    point: CrashPoint,
    left: AtomicU32,
    fired: AtomicU32,
}

impl CrashInjector for CrashAt {
    fn crash_at(&self, point: CrashPoint) -> bool {
        if point != self.point {
            return false;
        }
        let hit = self.left.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok();
        if hit {
            self.fired.fetch_add(1, Ordering::SeqCst);
        }
        hit
    }
}

struct Crashing {
    engine: Arc<Engine>,
    runner: Runner,
    crash: Arc<CrashAt>,
    _dir: tempfile::TempDir,
}

async fn crashing_engine(w: &World, point: CrashPoint, settings: EngineSettings) -> Result<Crashing> {
    let dir = tempfile::tempdir()?;
    let store = Arc::new(SqliteStore::open(&dir.path().join("crash.sqlite"), QueueSettings::default())?);
    let connectors = Arc::new(Connectors::new(secrets(), Default::default()));
    let crash = Arc::new(CrashAt { point, left: AtomicU32::new(1), fired: AtomicU32::new(0) });
    let engine = Arc::new(
        Engine::new(store.clone(), store.clone(), store, connectors, settings).with_crash_injector(crash.clone()),
    );
    engine.apply(&w.systems, std::slice::from_ref(&w.integration), true, Utc::now()).await?;
    engine.activate(&w.id, Utc::now()).await?;
    // A crashed message comes back after its visibility timeout: keep it short.
    let runner = Runner::new(
        engine.clone(),
        RunnerSettings {
            visibility: Duration::from_secs(1),
            drain_patience: Duration::from_secs(20),
            ..RunnerSettings::default()
        },
    );
    Ok(Crashing { engine, runner, crash, _dir: dir })
}

impl Crashing {
    async fn sync(&self, w: &World) {
        for flow in [Flow::LeftToRight, Flow::RightToLeft] {
            // A crashed poll is an error by design; the next one picks up.
            let _ = self.engine.poll(&w.id, flow, Utc::now()).await;
        }
        let mut report = CycleReport::default();
        self.runner.drain(&mut report).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_between_create_and_link_adopts_the_twin_even_while_search_lags() -> Result<()> {
    let w = World::new(Variant::default()).await?;
    let settings = EngineSettings { search_settle: Duration::from_secs(6), ..EngineSettings::default() };
    let c = crashing_engine(&w, CrashPoint::WriteAfterTarget, settings).await?;
    // The created work item stays out of WIQL results for 3 s: a retry that trusted
    // one search would create a second one.
    w.ado.faults().set_search_lag(Duration::from_secs(3));
    let bug = w
        .jira_user("alice")
        .await
        .create(vec![("summary", text("Crash after create")), ("priority", FieldValue::Option("High".into()))])
        .await?;
    c.sync(&w).await;
    assert_eq!(c.crash.fired.load(Ordering::SeqCst), 1, "the write crashed once after creating");
    c.sync(&w).await;

    let items = w.ado.work_item_ids("App");
    let twins: Vec<u64> = items
        .iter()
        .copied()
        .filter(|id| {
            w.ado.work_item_json(*id).is_some_and(|j| j["fields"]["Custom.JiraKey"].as_str() == Some(bug.key.as_str()))
        })
        .collect();
    assert_eq!(twins.len(), 1, "exactly one twin of {} in Azure DevOps: {twins:?}", bug.key);
    let link = c.engine.state().get_link(&w.id, Side::Left, &bug.id).await?.context("the link was stored")?;
    assert_eq!(link.right.id.to_string(), twins[0].to_string());
    let fp = c.engine.state().get_fingerprint(&w.id, Side::Left, &bug.id).await?.context("fingerprint")?;
    assert_eq!(fp.create_started, None, "the create intent is cleared once the link exists");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_after_enqueue_before_the_watermark_loses_and_duplicates_nothing() -> Result<()> {
    let w = World::new(Variant::default()).await?;
    let c = crashing_engine(
        &w,
        CrashPoint::PollAfterEnqueue,
        EngineSettings { poll_lease: Duration::from_secs(1), ..EngineSettings::default() },
    )
    .await?;
    let bug = w.jira_user("alice").await.create(vec![("summary", text("Crash in the poll"))]).await?;
    c.sync(&w).await;
    assert_eq!(c.crash.fired.load(Ordering::SeqCst), 1, "the poll crashed once after enqueueing");
    // The crashed poll still holds its lease until it expires.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    c.sync(&w).await;
    c.sync(&w).await;
    let twin = c.engine.state().get_link(&w.id, Side::Left, &bug.id).await?.context("linked")?;
    let twins = w
        .ado
        .work_item_ids("App")
        .into_iter()
        .filter(|id| {
            w.ado.work_item_json(*id).is_some_and(|j| j["fields"]["Custom.JiraKey"].as_str() == Some(bug.key.as_str()))
        })
        .count();
    assert_eq!(twins, 1, "one twin, {}", twin.right.key);
    Ok(())
}
