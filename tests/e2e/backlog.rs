//! A backlog never stalls a direction: thousands of changes behind the watermark are
//! read and enqueued over several polls, each within its time budget, each saving its
//! progress, none enqueued twice and none left out; a later read over the same
//! changes (the overlap window) enqueues nothing again. Against the simulators over
//! real HTTP, on the backend `FERRY_E2E_BACKEND` names (the embedded store, or DynamoDB
//! and SQS on the emulator).

use crate::harness::{aws_backend, render, secrets, Variant};
use anyhow::{bail, Context, Result};
use async_trait::async_trait;
use chrono::Utc;
use ferry_domain::ports::{Connector, Delivery, OutMessage, PortResult, Queue, QueueName, SendResults, StateStore};
use ferry_domain::{
    FieldChange, FieldKey, FieldValue, Flow, Integration, IntegrationId, ReadToken, Side, SystemConfig, Watermark,
};
use ferry_engine::{Engine, EngineSettings, PollReport};
use ferry_runtime::Connectors;
use ferry_sim::{AdoSim, JiraSim};
use ferry_testsupport::backend::Stores;
use ferry_testsupport::config::{dir_with_sheets, scope, system, write_and_load};
use ferry_testsupport::people::actor;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

/// The queue of the backend, recording every message the engine sent (a second send
/// of one change would be dropped by the queue's deduplication: counted here, it is not).
pub struct RecordingQueue {
    inner: Arc<dyn Queue>,
    pub sent: Mutex<Vec<(QueueName, OutMessage)>>,
}

impl RecordingQueue {
    pub fn new(inner: Arc<dyn Queue>) -> Self {
        Self { inner, sent: Mutex::new(Vec::new()) }
    }
    pub fn sent_changes(&self) -> Vec<OutMessage> {
        let sent = self.sent.lock().expect("lock");
        sent.iter().filter(|(q, _)| *q == QueueName::Changes).map(|(_, m)| m.clone()).collect()
    }
}

#[async_trait]
impl Queue for RecordingQueue {
    async fn send(&self, queue: QueueName, messages: &[OutMessage]) -> PortResult<()> {
        self.inner.send(queue, messages).await?;
        self.sent.lock().expect("lock").extend(messages.iter().map(|m| (queue, m.clone())));
        Ok(())
    }
    async fn send_each(&self, queue: QueueName, messages: &[OutMessage]) -> PortResult<SendResults> {
        let results = self.inner.send_each(queue, messages).await?;
        let mut sent = self.sent.lock().expect("lock");
        for (m, r) in messages.iter().zip(&results) {
            if r.is_none() {
                sent.push((queue, m.clone()));
            }
        }
        Ok(results)
    }
    async fn open_body(&self, queue: QueueName, body: &str) -> PortResult<String> {
        self.inner.open_body(queue, body).await
    }
    fn max_receives(&self) -> Option<u32> {
        self.inner.max_receives()
    }
    async fn dead_letter_retention(&self, queue: QueueName) -> PortResult<Option<Duration>> {
        self.inner.dead_letter_retention(queue).await
    }
    async fn redrive(&self, queue: QueueName) -> PortResult<u64> {
        self.inner.redrive(queue).await
    }
    async fn receive(&self, queue: QueueName, max: usize, visibility: Duration) -> PortResult<Vec<Delivery>> {
        self.inner.receive(queue, max, visibility).await
    }
    async fn ack(&self, queue: QueueName, receipt: &str) -> PortResult<()> {
        self.inner.ack(queue, receipt).await
    }
    async fn release(&self, queue: QueueName, receipt: &str, delay: Duration) -> PortResult<()> {
        self.inner.release(queue, receipt, delay).await
    }
    async fn dead_letters(&self, queue: QueueName) -> PortResult<Vec<Delivery>> {
        self.inner.dead_letters(queue).await
    }
    async fn delete_dead_letter(&self, queue: QueueName, message_id: &str) -> PortResult<()> {
        self.inner.delete_dead_letter(queue, message_id).await
    }
    async fn depth(&self, queue: QueueName) -> PortResult<u64> {
        self.inner.depth(queue).await
    }
}

/// One poll of a backlog run: its report and the watermark before and after.
pub struct Step {
    pub report: PollReport,
    pub before: Watermark,
    pub after: Watermark,
    pub took: Duration,
}

impl Step {
    /// The poll saved progress: its cursor moved or its read continues elsewhere.
    pub fn advanced(&self) -> bool {
        self.after.cursor > self.before.cursor || self.after.read.resume != self.before.read.resume
    }
}

/// One poll with a time budget the way the backend runs it: on AWS through the poll
/// Lambda handler, whose budget comes from the invocation's deadline (two seconds of
/// it are kept in reserve), embedded through the engine.
async fn poll_once(engine: &Engine, id: &IntegrationId, flow: Flow, budget: Duration) -> Result<PollReport> {
    if !aws_backend() {
        return Ok(engine.poll_within(id, flow, Utc::now(), budget).await?);
    }
    let deadline = SystemTime::now() + budget + Duration::from_secs(2);
    let event = serde_json::json!({"integration": id.as_str(), "flow": flow.as_str()});
    Ok(ferry_fn_poll::handle_until(engine, event, Utc::now(), Some(deadline)).await?.report)
}

/// Polls `flow` until a poll reaches the end of its read (at most `max` polls).
pub async fn poll_until_read_ends(
    engine: &Engine,
    state: &dyn StateStore,
    id: &IntegrationId,
    flow: Flow,
    budget: Duration,
    max: usize,
) -> Result<Vec<Step>> {
    poll_and_consume(engine, state, id, flow, budget, max, || async { Ok(()) }).await
}

/// As [`poll_until_read_ends`], calling `consume` after each poll (a consumer taking
/// the poll's messages off the queue).
pub async fn poll_and_consume<F, Fut>(
    engine: &Engine,
    state: &dyn StateStore,
    id: &IntegrationId,
    flow: Flow,
    budget: Duration,
    max: usize,
    mut consume: F,
) -> Result<Vec<Step>>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<()>>,
{
    let mut steps = Vec::new();
    for _ in 0..max {
        let before = state.get_watermark(id, flow).await?.context("watermark")?;
        let started = Instant::now();
        let report = poll_once(engine, id, flow, budget).await?;
        let took = started.elapsed();
        let after = state.get_watermark(id, flow).await?.context("watermark")?;
        consume().await?;
        let more = report.more;
        steps.push(Step { report, before, after, took });
        if !more {
            return Ok(steps);
        }
    }
    bail!("the read did not end within {max} polls")
}

/// Checks that the change events sent name each of `entities` exactly once.
pub fn assert_each_sent_once(sent: &[OutMessage], entities: &BTreeSet<String>) {
    let mut by_entity: BTreeMap<String, usize> = BTreeMap::new();
    let mut dedup = BTreeSet::new();
    for m in sent {
        let v: serde_json::Value = serde_json::from_str(&m.body).expect("change event JSON");
        let id = v["snapshot"]["id"].as_str().expect("snapshot id").to_string();
        *by_entity.entry(id).or_default() += 1;
        assert!(dedup.insert(m.dedup_id.clone()), "sent twice: {}", m.dedup_id);
    }
    let twice: Vec<_> = by_entity.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "entities enqueued more than once: {:?}", &twice[..twice.len().min(10)]);
    let got: BTreeSet<String> = by_entity.into_keys().collect();
    let missing: Vec<_> = entities.difference(&got).take(10).collect();
    assert!(missing.is_empty(), "{} changes never enqueued, e.g. {missing:?}", entities.difference(&got).count());
    let strangers: Vec<_> = got.difference(entities).take(10).collect();
    assert!(strangers.is_empty(), "events of entities nobody changed: {strangers:?}");
}

struct BacklogWorld {
    jira: JiraSim,
    ado: AdoSim,
    engine: Arc<Engine>,
    state: Arc<dyn StateStore>,
    queue: Arc<RecordingQueue>,
    integration: Integration,
    systems: Vec<SystemConfig>,
    _dir: tempfile::TempDir,
}

impl BacklogWorld {
    async fn new(settings: EngineSettings) -> Result<BacklogWorld> {
        let (jira, ado) = ferry_testsupport::demo_simulators().await?;
        let dir = dir_with_sheets()?;
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        // Unique per world in this process (two worlds can start in the same millisecond),
        // and per process on an emulator's tables that outlive it.
        let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let id = format!("backlog-{}-{}-{n}", std::process::id(), Utc::now().timestamp_millis());
        let set = write_and_load(&dir.path().join("ferry.yaml"), &render(&jira, &ado, &Variant::default(), &id))?;
        let stores = if aws_backend() {
            Stores::aws_own_queues(&id).await?
        } else {
            Stores::embedded(&dir.path().join("ferry.sqlite"))?
        };
        let (state, queue) = (stores.state.clone(), Arc::new(RecordingQueue::new(stores.queue)));
        let connectors = Arc::new(Connectors::new(secrets(), Default::default()));
        let engine = Arc::new(Engine::new(stores.config, state.clone(), queue.clone(), connectors, settings));
        let integration = set.integrations[0].clone();
        engine.apply(&set.systems, std::slice::from_ref(&integration), true, Utc::now()).await?;
        engine.activate(&integration.id, Utc::now()).await?;
        Ok(BacklogWorld { jira, ado, engine, state, queue, integration, systems: set.systems, _dir: dir })
    }

    /// Alice's connector on a side (a person, so the changes are not Ferry's echoes).
    async fn alice(&self, side: Side) -> Result<Arc<dyn Connector>> {
        let token = match side {
            Side::Left => "jira-alice-token",
            Side::Right => "ado-alice-pat",
        };
        let system = system(&self.systems, &self.integration, side)?;
        let alice =
            actor(system, scope(&self.integration, side), "alice@acme.test", token, "FERRY_E2E_BACKLOG_").await?;
        Ok(alice.conn)
    }

    /// `n` bugs filed by alice on `side` (16 at a time); their ids.
    async fn file_bugs(&self, side: Side, n: usize) -> Result<BTreeSet<String>> {
        let conn = self.alice(side).await?;
        let title = if side == Side::Left { "summary" } else { "System.Title" };
        let scope = scope(&self.integration, side);
        let mut ids = BTreeSet::new();
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..n {
            if tasks.len() >= 16 {
                ids.insert(tasks.join_next().await.context("task")???);
            }
            let (conn, scope) = (conn.clone(), scope.clone());
            let change = FieldChange { field: FieldKey::new(title), value: FieldValue::Text(format!("bulk {i}")) };
            tasks.spawn(async move { conn.create(&scope, &[change]).await.map(|r| r.id.to_string()) });
        }
        while let Some(r) = tasks.join_next().await {
            ids.insert(r??);
        }
        Ok(ids)
    }

    /// Takes every change event off the queue (receive and acknowledge, as the
    /// transform's event source would) and records whose change each carried: a
    /// consumer keeps the queue short, as in production (moto's FIFO send slows down
    /// with every message a queue holds).
    async fn consume_changes(&self, arrived: &Mutex<Vec<String>>) -> Result<()> {
        let queue = self.engine.queue();
        let mut empty = 0;
        while empty < 2 {
            let batch = queue.receive(QueueName::Changes, 10, Duration::from_secs(60)).await?;
            empty = if batch.is_empty() { empty + 1 } else { 0 };
            for d in batch {
                // Another world's message (a shared emulator) is left to its owner.
                let Ok(v) = serde_json::from_str::<serde_json::Value>(&d.body) else { continue };
                if v["integration"] != self.integration.id.as_str() {
                    continue;
                }
                queue.ack(QueueName::Changes, &d.receipt).await?;
                let id = v["snapshot"]["id"].as_str().context("snapshot id")?.to_string();
                arrived.lock().expect("lock").push(id);
            }
        }
        Ok(())
    }
}

/// Each of `filed` arrived exactly once.
fn assert_arrived_once(arrived: &Mutex<Vec<String>>, filed: &BTreeSet<String>) {
    let arrived = arrived.lock().expect("lock");
    let distinct: BTreeSet<String> = arrived.iter().cloned().collect();
    assert_eq!(arrived.len(), distinct.len(), "a change arrived twice");
    assert_eq!(&distinct, filed, "every change arrived on the queue");
}

/// How fast the backend is: the budget below lets a poll read a few pages of 100.
const BUDGET: Duration = Duration::from_millis(500);

async fn a_backlog_arrives_once_over_polls_that_each_advance(side: Side, n: usize) -> Result<()> {
    let settings = EngineSettings { poll_page_size: 100, ..EngineSettings::default() };
    let w = BacklogWorld::new(settings).await?;
    let flow = Flow::from_source(side);
    let id = w.integration.id.clone();
    let filed = w.file_bugs(side, n).await?;
    assert_eq!(filed.len(), n);

    let arrived = Mutex::new(Vec::new());
    let consume = || w.consume_changes(&arrived);
    let steps = poll_and_consume(&w.engine, w.state.as_ref(), &id, flow, BUDGET, 1000, consume).await?;
    let per_poll: Vec<usize> = steps.iter().map(|s| s.report.enqueued).collect();
    let took: Vec<u128> = steps.iter().map(|s| s.took.as_millis()).collect();
    eprintln!("{n} changes over {} polls, enqueued per poll: {per_poll:?}, ms per poll: {took:?}", steps.len());
    assert!(steps.len() >= 3, "a budget of {BUDGET:?} cannot read {n} changes in one or two polls: {per_poll:?}");
    for (i, s) in steps.iter().enumerate() {
        assert!(s.advanced(), "poll {i} saved no progress: {:?}", s.report);
        // The last poll may only learn that the read ended (a full last page).
        assert!(s.report.enqueued > 0 || i + 1 == steps.len(), "poll {i} enqueued nothing: {:?}", s.report);
        // A page starts only if it would end in time at the slowest page's pace: a poll
        // overruns its budget by at most about one page (measured in this poll's own
        // pages, so a loaded machine's slower pages do not fail it).
        let overrun = s.took.saturating_sub(BUDGET);
        let page = s.took / u32::try_from(s.report.pages.max(1)).unwrap_or(u32::MAX);
        assert!(
            overrun <= page * 2,
            "poll {i} overran its budget by {overrun:?}, more than about a page ({page:?}): {:?}",
            s.report
        );
    }
    assert!(steps.last().is_some_and(|s| s.after.read.resume.is_none()), "the read ended");
    assert_each_sent_once(&w.queue.sent_changes(), &filed);

    // The changes are younger than the overlap window: the next read lists them all
    // again (a lagging search may have hidden some) and must enqueue none of them.
    let consume = || w.consume_changes(&arrived);
    let again = poll_and_consume(&w.engine, w.state.as_ref(), &id, flow, BUDGET, 1000, consume).await?;
    let re_enqueued: usize = again.iter().map(|s| s.report.enqueued).sum();
    let re_read: usize = again.iter().map(|s| s.report.duplicates).sum();
    assert_eq!(re_enqueued, 0, "{:?}", again.iter().map(|s| &s.report).collect::<Vec<_>>());
    assert!(re_read >= n, "the overlap window was listed again ({re_read} duplicates)");
    // What the re-read needed the seen revisions for: the burst, all at once.
    let held = steps.iter().chain(&again).map(|s| s.after.seen.len()).max().unwrap_or(0);
    eprintln!("re-read {re_read} listed changes, none enqueued; seen revisions held at most {held}");

    assert_arrived_once(&arrived, &filed);
    drop((w.jira, w.ado));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_thousand_jira_changes_arrive_once_each_over_polls_that_each_advance() -> Result<()> {
    a_backlog_arrives_once_over_polls_that_each_advance(Side::Left, 5000).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_thousand_azure_devops_changes_arrive_once_each_over_polls_that_each_advance() -> Result<()> {
    a_backlog_arrives_once_over_polls_that_each_advance(Side::Right, 5000).await
}

/// A read position the source refuses (expired, another system's) restarts the read
/// at the cursor. Jira's JQL then lists the cursor's whole minute again: the issues of
/// that minute already enqueued are not enqueued again, and none after the boundary is
/// skipped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_read_position_restarts_at_the_cursor_without_skipping_or_repeating() -> Result<()> {
    let settings = EngineSettings { poll_page_size: 40, ..EngineSettings::default() };
    let w = BacklogWorld::new(settings).await?;
    let id = w.integration.id.clone();
    let flow = Flow::LeftToRight;
    let filed = w.file_bugs(Side::Left, 200).await?;
    // One page per poll: a zero budget admits only the first.
    let arrived = Mutex::new(Vec::new());
    let first = poll_once(&w.engine, &id, flow, Duration::ZERO).await?;
    assert!(first.more && first.enqueued == 40, "{first:?}");
    w.consume_changes(&arrived).await?;
    let mut mark = w.state.get_watermark(&id, flow).await?.context("watermark")?;
    assert!(mark.read.resume.is_some());
    mark.read.resume = Some(ReadToken(r#"{"since":"2000/01/01 00:00","token":"expired"}"#.into()));
    let version = mark.version;
    w.state.put_watermark(&id, flow, &mark, Some(version)).await?;
    let consume = || w.consume_changes(&arrived);
    let steps = poll_and_consume(&w.engine, w.state.as_ref(), &id, flow, Duration::ZERO, 100, consume).await?;
    assert!(steps[0].report.duplicates > 0, "the cursor's minute was listed again: {:?}", steps[0].report);
    assert_each_sent_once(&w.queue.sent_changes(), &filed);
    assert_arrived_once(&arrived, &filed);
    drop((w.jira, w.ado));
    Ok(())
}
