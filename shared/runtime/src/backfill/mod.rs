//! Following a backfill to its end (`ferry activate ID --since DATE`): its progress read
//! off the store at an interval, and on the embedded store the sync driven meanwhile,
//! as `ferry run` drives it, until every item of the plan is done or parked or nothing
//! more happens ([`verdict`]). On AWS the functions sync; following only watches.
//!
//! The sync goes through the runner's usual rounds (poll → transform → write, each
//! message settled by [`crate::settle`]), so a system's rate limits pace it as they pace
//! `ferry run`. The store is read every [`FollowSettings::every`], not in a tight loop.

pub mod pace;
pub mod verdict;

use crate::runner::Runner;
use chrono::Utc;
use ferry_domain::ports::QueueName;
use ferry_domain::IntegrationId;
use ferry_engine::{BackfillCounts, BackfillProgress, Engine, EngineError};
use pace::{Estimate, Pace};
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use verdict::{FlowSeen, Quiet, Verdict};

/// How long the driver waits before polling again after a poll failed.
const POLL_ERROR_PAUSE: Duration = Duration::from_secs(30);

/// Who syncs while a backfill is followed.
pub enum Worker<'a> {
    /// This process (the embedded store): the runner's rounds, until the backfill ends.
    Drive(&'a Runner),
    /// Others (the functions on AWS): following only reads the store.
    Watch,
}

#[derive(Debug, Clone)]
pub struct FollowSettings {
    /// How often the store is read for progress.
    pub every: Duration,
    /// How long the driver waits before polling again after a round that found nothing
    /// to do.
    pub idle_pause: Duration,
}

impl FollowSettings {
    /// For a worker: the embedded store is local and cheap to read; on AWS each reading
    /// costs DynamoDB and SQS requests.
    pub fn for_worker(worker: &Worker<'_>) -> Self {
        let every = match worker {
            Worker::Drive(_) => Duration::from_secs(2),
            Worker::Watch => Duration::from_secs(5),
        };
        Self { every, idle_pause: Duration::from_secs(3) }
    }
}

/// One reading of a followed backfill, for a display.
#[derive(Debug, Clone)]
pub struct Reading {
    pub counts: BackfillCounts,
    pub estimate: Estimate,
    pub elapsed: Duration,
}

/// How following ended.
#[derive(Debug, Clone)]
pub struct FollowEnd {
    pub verdict: Verdict,
    /// The counts at the end (read again after the driver stopped).
    pub counts: BackfillCounts,
    pub elapsed: Duration,
}

/// Follows the backfill of `progress` until it is over or `interrupt` resolves, showing
/// each reading. With [`Worker::Drive`] the sync runs meanwhile and stops with it (after
/// settling the batch in hand: nothing is left half-handled).
pub async fn follow<I, S>(
    engine: &Engine,
    progress: &mut BackfillProgress,
    worker: Worker<'_>,
    settings: &FollowSettings,
    interrupt: I,
    mut show: S,
) -> Result<FollowEnd, EngineError>
where
    I: Future<Output = ()>,
    S: FnMut(&Reading),
{
    let id = progress.record().integration.clone();
    let stop = AtomicBool::new(false);
    let started = Instant::now();
    let drive = async {
        if let Worker::Drive(runner) = worker {
            drive(runner, &id, &stop, settings.idle_pause).await;
        }
    };
    let watch = async {
        let end = watch(engine, progress, settings, interrupt, &mut show, started).await;
        stop.store(true, Ordering::SeqCst);
        end
    };
    let ((), end) = tokio::join!(drive, watch);
    let verdict = end?;
    let counts = progress.read(engine).await?;
    Ok(FollowEnd { verdict, counts, elapsed: started.elapsed() })
}

async fn watch<I, S>(
    engine: &Engine,
    progress: &mut BackfillProgress,
    settings: &FollowSettings,
    interrupt: I,
    show: &mut S,
    started: Instant,
) -> Result<Verdict, EngineError>
where
    I: Future<Output = ()>,
    S: FnMut(&Reading),
{
    tokio::pin!(interrupt);
    let (mut pace, mut quiet) = (Pace::default(), Quiet::default());
    loop {
        let counts = progress.read(engine).await?;
        let elapsed = started.elapsed();
        pace.observe(elapsed, counts.done() + counts.parked);
        let estimate = pace.estimate(counts.waiting);
        show(&Reading { counts: counts.clone(), estimate, elapsed });
        let (flows, queued) = sync_state(engine, &progress.record().integration).await?;
        let is_quiet = quiet.observe((counts.done(), counts.parked), &flows, queued);
        if let Some(v) = verdict::verdict(&counts, is_quiet) {
            return Ok(v);
        }
        tokio::select! {
            _ = &mut interrupt => return Ok(Verdict::Interrupted),
            _ = tokio::time::sleep(settings.every) => {}
        }
    }
}

/// The directions' polls and the messages queued, as the store shows them.
async fn sync_state(engine: &Engine, id: &IntegrationId) -> Result<(Vec<FlowSeen>, u64), EngineError> {
    let record = engine.config_store().get_integration(id).await?;
    let mut flows = Vec::new();
    for flow in record.map(|r| r.integration.flows()).unwrap_or_default() {
        let w = engine.state().get_watermark(id, flow).await?;
        flows.push(FlowSeen {
            flow,
            last_poll: w.as_ref().and_then(|w| w.last_poll),
            reading: w.as_ref().is_some_and(|w| !w.read.is_idle()),
        });
    }
    let queue = engine.queue();
    let queued = queue.depth(QueueName::Changes).await? + queue.depth(QueueName::Writes).await?;
    Ok((flows, queued))
}

/// The embedded sync of one integration, round after round until `stop`: every
/// direction polled at once while the queues are drained (a backlog a poll's time budget
/// left goes on at once), on its interval while messages wait out a retry's delay.
async fn drive(runner: &Runner, id: &IntegrationId, stop: &AtomicBool, idle_pause: Duration) {
    let only = [id.clone()];
    let mut force = true;
    while !stop.load(Ordering::SeqCst) {
        let report = runner.cycle_until(Utc::now(), force, &only, stop).await;
        let worked = !report.handled.is_empty() || report.polls.iter().any(|(_, _, p)| p.enqueued > 0);
        let queue = runner.engine().queue();
        force = matches!((queue.depth(QueueName::Changes).await, queue.depth(QueueName::Writes).await), (Ok(0), Ok(0)));
        if !report.poll_errors.is_empty() {
            // A system that failed a poll is not asked again at once (its error is logged).
            pause(POLL_ERROR_PAUSE, stop).await;
        } else if !worked {
            pause(idle_pause, stop).await;
        }
    }
}

/// Sleeps `d`, or less once `stop` is set.
async fn pause(d: Duration, stop: &AtomicBool) {
    let end = tokio::time::Instant::now() + d;
    while !stop.load(Ordering::SeqCst) && tokio::time::Instant::now() < end {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
