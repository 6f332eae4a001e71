//! A linked target deleted by a person, under each `on_target_deleted` policy: what
//! `ferry status` and the failures show, and what later edits of the source do. On both
//! backends; the crash of a recreate runs on the embedded one (its crash injector).

use crate::harness::*;
use anyhow::{ensure, Context, Result};
use chrono::Utc;
use ferry_domain::{CommentWrite, EntityId, EntityRef, ErrorCategory, FieldValue, Flow, OnTargetDeleted, Side};
use ferry_engine::{CrashInjector, CrashPoint, Engine, EngineSettings};
use ferry_runtime::{Connectors, CycleReport, Runner, RunnerSettings};
use ferry_store::sqlite::SqliteStore;
use ferry_store::QueueSettings;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A world whose integration has `policy`, activated.
async fn world(policy: OnTargetDeleted) -> Result<World> {
    let mut w = World::new(Variant::default()).await?;
    w.integration.collaboration.on_target_deleted = policy;
    w.activate().await?;
    Ok(w)
}

/// A Jira bug synced to Azure DevOps; returns it and its twin.
async fn synced_bug(w: &World, summary: &str) -> Result<(EntityRef, EntityId)> {
    let bug = w.jira_user("alice").await.create(vec![("summary", text(summary))]).await?;
    w.sync().await;
    let twin = w.twin(Side::Left, &bug.id).await.context("the bug has no Azure DevOps twin")?;
    Ok((bug, twin))
}

/// A person deletes the work item (to the recycle bin), as Azure DevOps' REST API does.
async fn delete_work_item(w: &World, id: &EntityId) -> Result<()> {
    let url = format!("{}/App/_apis/wit/workitems/{id}?api-version=7.1", w.ado.base_url());
    let resp = reqwest::Client::new().delete(url).basic_auth("", Some(ADO_BOT_PAT)).send().await?;
    ensure!(resp.status().is_success(), "DELETE work item {id}: {}", resp.status());
    ensure!(w.ado.work_item_json(id.as_str().parse()?).is_none(), "work item {id} still readable");
    Ok(())
}

async fn edit(w: &World, bug: &EntityRef, summary: &str) -> Result<()> {
    w.jira_user("alice").await.update(&bug.id, vec![("summary", text(summary))]).await?;
    w.sync().await;
    Ok(())
}

/// The Azure DevOps work items that name `key` as their Jira twin.
fn twins_of(w: &World, key: &str) -> Vec<u64> {
    w.ado
        .work_item_ids("App")
        .into_iter()
        .filter(|id| w.ado.work_item_json(*id).is_some_and(|j| j["fields"]["Custom.JiraKey"].as_str() == Some(key)))
        .collect()
}

/// `ferry status --json`: this integration's left-to-right direction.
async fn status_left_to_right(w: &World) -> Result<serde_json::Value> {
    let status = w.ferry(&["status", "--json"]).await;
    // Exit 4 is status's "unhealthy" (a failure parked under `park`); the report is printed either way.
    ensure!(status.ok || status.code == Some(4), "ferry status: {}", status.stderr);
    let all: serde_json::Value = serde_json::from_str(&status.stdout)?;
    let mine = all
        .as_array()
        .and_then(|a| a.iter().find(|i| i["integration"] == w.id.as_str()))
        .context("ferry status lists the integration")?;
    mine["flows"]
        .as_array()
        .and_then(|f| f.iter().find(|f| f["flow"] == "left_to_right"))
        .cloned()
        .context("the left-to-right direction")
}

/// A comment on the source (a change of no mapped field: the write step syncs the
/// conversation only) meets the deleted twin just as a field edit does: the policy
/// decides, nothing parks behind a `not_found`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_comment_on_a_source_whose_twin_was_deleted_follows_the_policy_too() -> Result<()> {
    for policy in [OnTargetDeleted::Unlink, OnTargetDeleted::Recreate] {
        let mut w = World::new(Variant { collaboration: true, ..Variant::default() }).await?;
        w.integration.collaboration.on_target_deleted = policy;
        w.activate().await?;
        let (bug, twin) = synced_bug(&w, "Commented after the deletion").await?;
        delete_work_item(&w, &twin).await?;
        let alice = w.jira_user("alice").await;
        let said = CommentWrite { body: "<p>Still broken?</p>".into(), origin: String::new() };
        alice.conn.add_comment(&alice.scope, &bug.id, &said).await?;
        w.sync().await;

        let failures = w.engine.state().list_failures(Some(&w.id)).await?;
        assert!(failures.is_empty(), "{policy}: nothing parks behind the deleted twin: {failures:?}");
        let flow = status_left_to_right(&w).await?;
        match policy {
            OnTargetDeleted::Recreate => {
                let new = w.twin(Side::Left, &bug.id).await.context("recreate: a new twin")?;
                assert_ne!(new, twin, "recreate: a new twin");
                let ado = w.reader(Side::Right).await;
                let comments = ado.conn.comments(&ado.scope, &new).await?;
                assert!(
                    comments.iter().any(|c| c.body.contains("Still broken?")),
                    "the comment came along: {comments:#?}"
                );
            }
            _ => {
                assert_eq!(w.twin(Side::Left, &bug.id).await, None, "{policy}: the pair is dropped");
                assert_eq!(flow["counts"]["unlinked"], 1, "{policy}: ferry status reports it: {flow}");
            }
        }
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleted_target_under_unlink_drops_the_pair_reports_it_and_creates_nothing_later() -> Result<()> {
    let w = world(OnTargetDeleted::Unlink).await?;
    let (bug, twin) = synced_bug(&w, "Unlinked when deleted").await?;
    delete_work_item(&w, &twin).await?;
    edit(&w, &bug, "Edited after the deletion").await?;

    assert_eq!(w.twin(Side::Left, &bug.id).await, None, "the pair is dropped");
    assert_eq!(twins_of(&w, &bug.key), Vec::<u64>::new(), "nothing is created in its place");
    let failures = w.engine.state().list_failures(Some(&w.id)).await?;
    assert!(failures.is_empty(), "no failure parks the pair: {failures:?}");
    let flow = status_left_to_right(&w).await?;
    assert_eq!(flow["counts"]["unlinked"], 1, "ferry status reports the dropped pair: {flow}");
    assert_eq!(flow["targets_deleted"], 0, "{flow}");

    // Later edits are skipped, not created again, and not counted again.
    edit(&w, &bug, "Edited once more").await?;
    assert_eq!(twins_of(&w, &bug.key), Vec::<u64>::new(), "a later edit creates nothing");
    let flow = status_left_to_right(&w).await?;
    assert_eq!(flow["counts"]["unlinked"], 1, "{flow}");
    assert!(flow["counts"]["skipped"].as_u64() >= Some(1), "the later edit is skipped: {flow}");
    let jira = w.reader(Side::Left).await.get(&bug.id).await?.context("bug")?;
    assert_eq!(field_str(&jira, "summary"), "Edited once more", "the source itself is never touched");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleted_target_under_recreate_gets_a_new_twin_linked_with_its_remote_id() -> Result<()> {
    let w = world(OnTargetDeleted::Recreate).await?;
    let (bug, old) = synced_bug(&w, "Recreated when deleted").await?;
    delete_work_item(&w, &old).await?;
    edit(&w, &bug, "Edited after the deletion").await?;

    let new = w.twin(Side::Left, &bug.id).await.context("the bug is linked again")?;
    assert_ne!(new, old, "a new twin");
    assert_eq!(twins_of(&w, &bug.key), vec![new.as_str().parse::<u64>()?], "exactly one twin");
    let item = w.reader(Side::Right).await.get(&new).await?.context("new twin")?;
    assert_eq!(field_str(&item, "System.Title"), "Edited after the deletion");
    let jira = w.reader(Side::Left).await.get(&bug.id).await?.context("bug")?;
    assert_eq!(field_str(&jira, "customfield_10050"), new.to_string(), "the new remote id is written back");
    assert!(w.engine.state().list_failures(Some(&w.id)).await?.is_empty());

    // The new pair syncs both ways like any other.
    edit(&w, &bug, "And edited again").await?;
    let item = w.reader(Side::Right).await.get(&new).await?.context("new twin")?;
    assert_eq!(field_str(&item, "System.Title"), "And edited again");
    w.ado_user("dave").await.update(&new, vec![("System.Title", text("Edited in Azure DevOps"))]).await?;
    w.sync().await;
    let jira = w.reader(Side::Left).await.get(&bug.id).await?.context("bug")?;
    assert_eq!(field_str(&jira, "summary"), "Edited in Azure DevOps");
    assert_eq!(twins_of(&w, &bug.key).len(), 1);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleted_target_under_park_is_one_failure_for_the_pair_whatever_the_later_edits() -> Result<()> {
    let w = world(OnTargetDeleted::Park).await?;
    let (bug, twin) = synced_bug(&w, "Parked when deleted").await?;
    delete_work_item(&w, &twin).await?;
    edit(&w, &bug, "Edited after the deletion").await?;
    edit(&w, &bug, "Edited once more").await?;

    let failures = w.engine.state().list_failures(Some(&w.id)).await?;
    assert_eq!(failures.len(), 1, "one failure for the pair: {failures:?}");
    let f = &failures[0];
    assert_eq!((f.category, f.flow, &f.entity), (ErrorCategory::TargetDeleted, Flow::LeftToRight, &bug.id));
    assert!(f.cause.contains("deleted") && f.cause.contains(&bug.key), "{}", f.cause);
    assert_eq!(f.input.snapshot.fields.get("summary"), Some(&text("Edited once more")), "the newest edit waits");
    assert_eq!(w.twin(Side::Left, &bug.id).await, Some(twin), "the pair is kept");
    assert_eq!(twins_of(&w, &bug.key), Vec::<u64>::new(), "nothing is created");
    let flow = status_left_to_right(&w).await?;
    assert_eq!(flow["targets_deleted"], 1, "ferry status shows the parked deletion: {flow}");
    assert_eq!(flow["counts"]["unlinked"], 0, "{flow}");
    let listed = w.ferry(&["failures", "list"]).await;
    assert!(listed.ok && listed.stdout.contains("[target_deleted]"), "{}{}", listed.stdout, listed.stderr);
    Ok(())
}

/// Crashes the first `left` passes of one point.
struct CrashAt {
    point: CrashPoint,
    left: AtomicU32,
    fired: AtomicU32,
}

impl CrashInjector for CrashAt {
    fn crash_at(&self, point: CrashPoint) -> bool {
        let hit = point == self.point
            && self.left.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok();
        if hit {
            self.fired.fetch_add(1, Ordering::SeqCst);
        }
        hit
    }
}

/// The recreate's create, then a crash before the new pair is linked: the retry finds
/// the new twin by its remote id and links it; no second one is created.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recreate_that_crashes_after_the_create_links_the_new_twin_once() -> Result<()> {
    if aws_backend() {
        // The crash injector is an engine setting of the embedded runtime.
        return Ok(());
    }
    let mut w = World::new(Variant::default()).await?;
    w.integration.collaboration.on_target_deleted = OnTargetDeleted::Recreate;
    let dir = tempfile::tempdir()?;
    let store = Arc::new(SqliteStore::open(&dir.path().join("crash.sqlite"), QueueSettings::default())?);
    let connectors = Arc::new(Connectors::new(secrets(), Default::default()));
    let crash = Arc::new(CrashAt { point: CrashPoint::WriteAfterTarget, left: AtomicU32::new(0), fired: 0.into() });
    let engine = Arc::new(
        Engine::new(store.clone(), store.clone(), store, connectors, EngineSettings::default())
            .with_crash_injector(crash.clone()),
    );
    engine.apply(&w.systems, std::slice::from_ref(&w.integration), true, Utc::now()).await?;
    engine.activate(&w.id, Utc::now()).await?;
    let runner = Runner::new(
        engine.clone(),
        RunnerSettings {
            visibility: Duration::from_secs(1),
            drain_patience: Duration::from_secs(20),
            ..RunnerSettings::default()
        },
    );
    let sync = || async {
        for flow in [Flow::LeftToRight, Flow::RightToLeft] {
            let _ = engine.poll(&w.id, flow, Utc::now()).await;
        }
        runner.drain(&mut CycleReport::default()).await;
    };

    let bug = w.jira_user("alice").await.create(vec![("summary", text("Recreated through a crash"))]).await?;
    sync().await;
    let old = engine.state().get_link(&w.id, Side::Left, &bug.id).await?.context("linked")?.right.id;
    delete_work_item(&w, &old).await?;
    crash.left.store(1, Ordering::SeqCst);
    w.jira_user("alice").await.update(&bug.id, vec![("summary", text("Edited after the deletion"))]).await?;
    sync().await;
    assert_eq!(crash.fired.load(Ordering::SeqCst), 1, "the recreate crashed once after creating");
    sync().await;

    let twins = twins_of(&w, &bug.key);
    assert_eq!(twins.len(), 1, "exactly one new twin: {twins:?}");
    let link = engine.state().get_link(&w.id, Side::Left, &bug.id).await?.context("linked again")?;
    assert_eq!(link.right.id.to_string(), twins[0].to_string());
    let jira = w.reader(Side::Left).await.get(&bug.id).await?.context("bug")?;
    assert_eq!(field_str(&jira, "customfield_10050"), twins[0].to_string());
    assert_eq!(jira.fields.get("summary"), Some(&FieldValue::Text("Edited after the deletion".into())));
    assert!(engine.state().list_failures(Some(&w.id)).await?.is_empty());
    Ok(())
}
