//! Crash recovery at step boundaries, deterministic (the fault-injection suite covers
//! the same ground at random): an engine on the world's simulators whose handlers
//! "die" once at a chosen point, on its own SQLite file.

use crate::harness::*;
use anyhow::{Context, Result};
use chrono::Utc;
use ferry_domain::ports::QueueName;
use ferry_domain::{EntityId, FieldValue, Flow, Relation, Side};
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
    crashing_engine_with(w, point, settings, Duration::from_secs(1)).await
}

/// As [`crashing_engine`], with the visibility timeout after which a crashed message
/// comes back.
async fn crashing_engine_with(
    w: &World,
    point: CrashPoint,
    settings: EngineSettings,
    visibility: Duration,
) -> Result<Crashing> {
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
        RunnerSettings { visibility, drain_patience: Duration::from_secs(20), ..RunnerSettings::default() },
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

/// Handles the waiting messages of one flow in the engine's queues (changes, then
/// writes); messages of the other flow are put back. A crashed write stays in flight.
async fn handle_flow(c: &Crashing, flow: Flow, visibility: Duration) -> Result<()> {
    let q = c.engine.queue();
    for name in [QueueName::Changes, QueueName::Writes] {
        for d in q.receive(name, 10, visibility).await? {
            let of_flow = serde_json::from_str::<serde_json::Value>(&d.body)?["flow"] == flow.as_str();
            if !of_flow {
                q.release(name, &d.receipt, Duration::ZERO).await?;
                continue;
            }
            let done = match name {
                QueueName::Changes => transform_one(&c.engine, &d.body, d.receive_count).await.map(|_| ()),
                QueueName::Writes => write_one(&c.engine, &d.body, d.receive_count).await.map(|_| ()),
            };
            match done {
                Ok(()) => q.ack(name, &d.receipt).await?,
                Err(ferry_engine::HandleError::Crashed(_)) => {}
                Err(e) => anyhow::bail!("{name:?} of {flow}: {e}"),
            }
        }
    }
    Ok(())
}

/// A create that crashed after making the twin and before linking it leaves the twin
/// unlinked; a person edits the twin, and its direction runs before the create's retry.
/// The twin names its original in its remote-id field: it is adopted, never created
/// back, and the person's edit reaches the original.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unlinked_twin_a_person_edited_is_adopted_before_the_crashed_create_retries() -> Result<()> {
    let w = World::new(Variant::default()).await?;
    let visibility = Duration::from_secs(6);
    let c = crashing_engine_with(&w, CrashPoint::WriteAfterTarget, EngineSettings::default(), visibility).await?;
    let bug = w
        .jira_user("alice")
        .await
        .create(vec![("summary", text("Crash, then an edit")), ("priority", FieldValue::Option("Medium".into()))])
        .await?;
    c.engine.poll(&w.id, Flow::LeftToRight, Utc::now()).await?;
    handle_flow(&c, Flow::LeftToRight, visibility).await?;
    assert_eq!(c.crash.fired.load(Ordering::SeqCst), 1, "the create crashed after making the twin");
    let twin = w.ado.work_item_ids("App").into_iter().max().context("the twin exists")?;
    let twin = EntityId::new(twin.to_string());
    assert!(c.engine.state().get_link(&w.id, Side::Left, &bug.id).await?.is_none(), "not linked");

    // A person edits the twin, another the original; the twin's direction runs while
    // the crashed create is in flight.
    w.ado_user("bob").await.update(&twin, vec![("Microsoft.VSTS.Common.Priority", FieldValue::Number(1.0))]).await?;
    w.jira_user("alice").await.update(&bug.id, vec![("summary", text("Retitled in Jira meanwhile"))]).await?;
    c.engine.poll(&w.id, Flow::RightToLeft, Utc::now()).await?;
    handle_flow(&c, Flow::RightToLeft, visibility).await?;
    assert_eq!(w.jira.issue_keys("APP"), vec![bug.key.clone()], "no second Jira issue");
    let link = c.engine.state().get_link(&w.id, Side::Right, &twin).await?.context("the twin was adopted")?;
    assert_eq!(link.left.id, bug.id);
    // The adoption carried each side's change to the other: the person's edit of the twin
    // to the original, and what the original holds that the twin does not to the twin.
    let issue = w.reader(Side::Left).await.get(&bug.id).await?.context("issue")?;
    assert_eq!(field_str(&issue, "priority"), "Highest");
    assert_eq!(field_str(&issue, "summary"), "Retitled in Jira meanwhile", "the original's own edit stays");
    let item = w.reader(Side::Right).await.get(&twin).await?.context("item")?;
    assert_eq!(field_str(&item, "System.Title"), "Retitled in Jira meanwhile");

    // The create's retry comes back and finds the pair linked; then everything settles.
    tokio::time::sleep(visibility).await;
    c.sync(&w).await;
    c.sync(&w).await;
    assert_eq!(w.jira.issue_keys("APP").len(), 1, "one Jira issue");
    assert_eq!(w.ado.work_item_ids("App").len(), 1, "one work item");
    let issue = w.reader(Side::Left).await.get(&bug.id).await?.context("issue")?;
    assert_eq!(field_str(&issue, "priority"), "Highest", "bob's edit reached Jira");
    assert_eq!(field_str(&issue, "customfield_10050"), twin.to_string(), "the original knows its twin");
    let item = w.reader(Side::Right).await.get(&twin).await?.context("item")?;
    assert_eq!(field(&item, "Microsoft.VSTS.Common.Priority"), FieldValue::Number(1.0), "bob's edit stays");
    assert_eq!(field_str(&item, "System.Title"), "Retitled in Jira meanwhile", "alice's edit stays");
    assert!(c.engine.state().list_failures(Some(&w.id)).await?.is_empty(), "nothing parked");
    Ok(())
}

/// A remote-id field a person filled with something that names no entity of the other
/// side (free text, an id that does not exist) is no twin to adopt: the entity is
/// created as usual.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remote_id_that_names_nothing_on_the_other_side_still_creates() -> Result<()> {
    let w = World::new(Variant::default()).await?;
    w.activate().await?;
    let alice = w.jira_user("alice").await;
    let typed =
        alice.create(vec![("summary", text("Typed text")), ("customfield_10050", text("see ticket 12"))]).await?;
    let unknown = alice.create(vec![("summary", text("Unknown id")), ("customfield_10050", text("987654"))]).await?;
    w.sync().await;
    for bug in [&typed, &unknown] {
        let twin = w.twin(Side::Left, &bug.id).await.with_context(|| format!("{} has a twin", bug.key))?;
        let item = w.reader(Side::Right).await.get(&twin).await?.context("item")?;
        assert_eq!(field_str(&item, "Custom.JiraKey"), bug.key);
    }
    assert!(w.engine.state().list_failures(Some(&w.id)).await?.is_empty(), "nothing parked");
    Ok(())
}

/// A crash after an attachment's copy reached Azure DevOps, before its pair was stored:
/// Azure DevOps names no attachment's author, so the copy is known by its name and
/// size — neither copied back to Jira nor uploaded a second time by the retry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_after_an_attachment_copy_neither_echoes_nor_duplicates_it() -> Result<()> {
    let w = World::new(Variant { collaboration: true, ..Variant::default() }).await?;
    let c = crashing_engine(&w, CrashPoint::CollabAfterAttachment, EngineSettings::default()).await?;
    let alice = w.jira_user("alice").await;
    let bug = alice.create(vec![("summary", text("Crash after a copy"))]).await?;
    c.sync(&w).await;
    let item = c.engine.state().get_link(&w.id, Side::Left, &bug.id).await?.context("linked")?.right.id;
    let mut bytes = bytes_of(2048);
    alice.conn.upload(&alice.scope, &bug.id, "trace.log", 2048, &mut bytes).await?;
    c.sync(&w).await;
    assert_eq!(c.crash.fired.load(Ordering::SeqCst), 1, "the write crashed once after the copy");
    // A person's change of the twin runs the Azure DevOps direction over it.
    let bob = w.ado_user("bob").await;
    bob.update(&item, vec![("System.Title", text("Crash after a copy (seen)"))]).await?;
    c.sync(&w).await;
    c.sync(&w).await;

    let jira = w.reader(Side::Left).await;
    let on_jira = jira.conn.attachments(&jira.scope, &bug.id).await?;
    assert_eq!(on_jira.len(), 1, "not copied back: {on_jira:#?}");
    let ado = w.reader(Side::Right).await;
    let on_ado = ado.conn.attachments(&ado.scope, &item).await?;
    assert_eq!(on_ado.len(), 1, "copied once: {on_ado:#?}");
    Ok(())
}

/// A crash after an attachment's copy reached the target, before its pair was stored, and
/// then the person deletes the original before the retry: the copy goes too, in both
/// directions (Jira names the copy's author; Azure DevOps names none, and the copy is
/// known by the intent Ferry stored before uploading it), and nothing is copied back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copy_whose_original_is_deleted_before_the_retry_after_a_crash_is_deleted_too() -> Result<()> {
    for original in [Side::Left, Side::Right] {
        let w = World::new(Variant { collaboration: true, ..Variant::default() }).await?;
        // The crashed message stays away long enough for the person's deletion.
        let visibility = Duration::from_secs(10);
        let c =
            crashing_engine_with(&w, CrashPoint::CollabAfterAttachment, EngineSettings::default(), visibility).await?;
        let alice = w.jira_user("alice").await;
        let bug = alice.create(vec![("summary", text("Deleted before the retry"))]).await?;
        c.sync(&w).await;
        let item = c.engine.state().get_link(&w.id, Side::Left, &bug.id).await?.context("linked")?.right.id;
        let (person, on) = match original {
            Side::Left => (alice, bug.id.clone()),
            Side::Right => (w.ado_user("bob").await, item.clone()),
        };
        let copy_on = if original == Side::Left { &item } else { &bug.id };
        let mut bytes = bytes_of(2048);
        let file = person.conn.upload(&person.scope, &on, "trace.log", 2048, &mut bytes).await?;
        // The write that copies it crashes after the upload; the message waits for its
        // visibility timeout, and the person deletes the original meanwhile.
        for flow in [Flow::LeftToRight, Flow::RightToLeft] {
            c.engine.poll(&w.id, flow, Utc::now()).await?;
        }
        let mut report = CycleReport::default();
        let _ = tokio::time::timeout(Duration::from_secs(5), c.runner.drain(&mut report)).await;
        assert_eq!(c.crash.fired.load(Ordering::SeqCst), 1, "{original:?}: the write crashed once after the copy");
        let other = w.reader(original.other()).await;
        assert_eq!(other.conn.attachments(&other.scope, copy_on).await?.len(), 1, "{original:?}: the copy arrived");
        person.conn.delete_attachment(&person.scope, &on, &file.id).await?;
        c.sync(&w).await;
        c.sync(&w).await;

        let left = other.conn.attachments(&other.scope, copy_on).await?;
        assert!(left.is_empty(), "{original:?}: the copy went the way of its original: {left:#?}");
        let own = w.reader(original).await;
        let back = own.conn.attachments(&own.scope, &on).await?;
        assert!(back.is_empty(), "{original:?}: nothing copied back: {back:#?}");
        assert!(c.engine.state().list_failures(Some(&w.id)).await?.is_empty(), "{original:?}: nothing parked");
    }
    Ok(())
}

/// A crash after Ferry wrote a link to Azure DevOps, before the pair's record said so, and
/// then the person removes the link in Jira before the retry, while a change in Azure
/// DevOps runs the other direction first: that direction does not take Ferry's unconfirmed
/// link for a person's and copy it back, and the retry removes it from Azure DevOps.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_removed_before_the_retry_after_a_crash_is_removed_and_never_copied_back() -> Result<()> {
    let w = World::new(Variant { collaboration: true, ..Variant::default() }).await?;
    let visibility = Duration::from_secs(10);
    let c = crashing_engine_with(&w, CrashPoint::CollabAfterRelation, EngineSettings::default(), visibility).await?;
    let alice = w.jira_user("alice").await;
    let blocker = alice.create(vec![("summary", text("Blocker"))]).await?;
    let blocked = alice.create(vec![("summary", text("Blocked"))]).await?;
    c.sync(&w).await;
    let state = c.engine.state();
    let blocker_twin = state.get_link(&w.id, Side::Left, &blocker.id).await?.context("blocker linked")?.right.id;
    let blocked_twin = state.get_link(&w.id, Side::Left, &blocked.id).await?.context("blocked linked")?.right.id;
    let link = Relation::Link { link_type: "Blocks".into(), outward: true, other: blocked.id.clone() };
    alice.conn.add_relation(&alice.scope, &blocker.id, &link).await?;
    for flow in [Flow::LeftToRight, Flow::RightToLeft] {
        c.engine.poll(&w.id, flow, Utc::now()).await?;
    }
    let mut report = CycleReport::default();
    let _ = tokio::time::timeout(Duration::from_secs(5), c.runner.drain(&mut report)).await;
    assert_eq!(c.crash.fired.load(Ordering::SeqCst), 1, "the write crashed once after the link");
    let ado = w.reader(Side::Right).await;
    let links = |rel: Vec<Relation>| rel.into_iter().filter(|r| matches!(r, Relation::Link { .. })).count();
    assert_eq!(links(ado.conn.relations(&ado.scope, &blocker_twin).await?), 1, "the link reached Azure DevOps");

    alice.conn.remove_relation(&alice.scope, &blocker.id, &link).await?;
    let bob = w.ado_user("bob").await;
    bob.update(&blocker_twin, vec![("System.Title", text("Blocker (seen)"))]).await?;
    c.sync(&w).await;
    c.sync(&w).await;

    let jira = w.reader(Side::Left).await;
    for (id, name) in [(&blocker.id, "blocker"), (&blocked.id, "blocked")] {
        let rel = jira.conn.relations(&jira.scope, id).await?;
        assert_eq!(links(rel.clone()), 0, "{name}: not copied back to Jira: {rel:#?}");
    }
    for (id, name) in [(&blocker_twin, "blocker"), (&blocked_twin, "blocked")] {
        let rel = ado.conn.relations(&ado.scope, id).await?;
        assert_eq!(links(rel.clone()), 0, "{name}'s twin: removed from Azure DevOps: {rel:#?}");
    }
    assert!(c.engine.state().list_failures(Some(&w.id)).await?.is_empty(), "nothing parked");
    Ok(())
}

/// `n` bytes for an upload.
fn bytes_of(n: usize) -> Bytes {
    Bytes(Some(vec![7u8; n]))
}

struct Bytes(Option<Vec<u8>>);

#[async_trait::async_trait]
impl ferry_domain::ByteSource for Bytes {
    async fn next_chunk(&mut self) -> Result<Option<Vec<u8>>, ferry_domain::PortError> {
        Ok(self.0.take())
    }
}

/// One create command handled twice at once (a redelivery after the visibility timeout
/// while the first attempt still runs): the create intent is a claim, so one attempt
/// creates the twin and the other backs off, and after both the issue has one twin.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_attempts_at_the_same_create_running_at_once_make_one_twin() -> Result<()> {
    let w = World::new(Variant::default()).await?;
    w.activate().await?;
    let bug = w
        .jira_user("alice")
        .await
        .create(vec![("summary", text("Raced create")), ("priority", FieldValue::Option("High".into()))])
        .await?;
    w.engine.poll(&w.id, Flow::LeftToRight, Utc::now()).await?;
    let (change, receipt) = w.next_message(QueueName::Changes).await?;
    transform_one(&w.engine, &change, 1).await?;
    w.engine.queue().ack(QueueName::Changes, &receipt).await?;
    let (command, receipt) = w.next_message(QueueName::Writes).await?;
    // Each Azure DevOps request takes a while, as under load: both attempts have read the
    // source's fingerprint before either creates.
    w.ado.faults().set_delay(Duration::from_millis(300));
    let (a, b) = tokio::join!(write_one(&w.engine, &command, 1), write_one(&w.engine, &command, 2));
    w.ado.faults().set_delay(Duration::ZERO);
    let results = [a, b];
    w.engine.queue().ack(QueueName::Writes, &receipt).await?;
    assert_eq!(w.ado_items_naming(&bug.key), 1, "one twin of {}: {results:?}", bug.key);
    let created = results.iter().filter(|r| matches!(r, Ok(ferry_engine::WriteOutcome::Created { .. }))).count();
    let later = results.iter().filter(|r| matches!(r, Err(ferry_engine::HandleError::Retry { .. }))).count();
    assert_eq!((created, later), (1, 1), "one attempt creates, the other comes back later: {results:?}");
    w.sync().await;
    assert_eq!(w.ado_items_naming(&bug.key), 1);
    assert!(w.twin(Side::Left, &bug.id).await.is_some(), "{} is linked", bug.key);
    Ok(())
}

/// A create applied whose answer is lost (Azure DevOps made the work item, a gateway
/// answered 504): the connector does not send it again in the call, and the write's
/// retry finds the twin by its remote id instead of creating a second one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_create_whose_answer_is_lost_makes_one_twin() -> Result<()> {
    let w = World::new(Variant::default()).await?;
    w.activate().await?;
    let bug = w
        .jira_user("alice")
        .await
        .create(vec![("summary", text("Answer lost")), ("priority", FieldValue::Option("High".into()))])
        .await?;
    w.ado.faults().lose_answer_next(1, "POST", "/_apis/wit/workitems/$Bug");
    w.sync().await;
    let creates = |w: &World| {
        let made = w.ado.requests();
        let made: Vec<u16> = made
            .iter()
            .filter(|r| r.method == "POST" && r.path.ends_with("/_apis/wit/workitems/$Bug"))
            .map(|r| r.status)
            .collect();
        made
    };
    assert_eq!(creates(&w), [504], "the create whose answer was lost was sent once");
    assert_eq!(w.ado_items_naming(&bug.key), 1, "one twin of {}", bug.key);
    w.sync().await;
    assert_eq!(w.ado_items_naming(&bug.key), 1);
    assert_eq!(creates(&w), [504], "the retry adopted the twin instead of creating again");
    let twin = w.twin(Side::Left, &bug.id).await.context("the twin is linked")?;
    assert!(w.ado.work_item_ids("App").contains(&twin.as_str().parse()?));
    Ok(())
}
