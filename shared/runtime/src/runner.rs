//! The local runner: drives poll → transform → write on each integration's
//! interval, as the schedule and the SQS event sources do on AWS.

use crate::handling::{self, AckBy, Received, StepOutcome};
use crate::settle::{settle, Limits, Outcome, RETRY_CAP};
use chrono::{DateTime, Utc};
use ferry_domain::ports::QueueName;
use ferry_domain::Backoff;
use ferry_domain::{Flow, IntegrationId};
use ferry_engine::{Batch, CrashPoint, Crashed, Engine, HandleError, PollReport, TransformOutcome, WriteOutcome};
use serde::Serialize;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tracing::{error, warn};

#[derive(Debug, Clone)]
pub struct RunnerSettings {
    /// Messages per receive (SQS returns at most 10).
    pub batch_size: usize,
    /// Visibility timeout of a received message (6× a handler's time budget).
    pub visibility: Duration,
    /// Base of the jittered backoff for a retry without `Retry-After` ([`Backoff`],
    /// capped at [`RETRY_CAP`] like the Lambda handlers').
    pub retry_base: Duration,
    /// How long `drain` waits for delayed (backing-off) messages before returning.
    pub drain_patience: Duration,
}

impl Default for RunnerSettings {
    fn default() -> Self {
        Self {
            batch_size: 10,
            visibility: Duration::from_secs(180),
            retry_base: Duration::from_millis(500),
            drain_patience: Duration::from_secs(30),
        }
    }
}

/// One handled queue message, for reports and the demo.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum HandledEvent {
    Transform {
        outcome: TransformOutcome,
    },
    Write {
        outcome: WriteOutcome,
    },
    Retry {
        queue: &'static str,
        error: String,
    },
    BadMessage {
        queue: &'static str,
        error: String,
    },
    /// Fault injection: the handler stopped at a crash point.
    Crashed {
        queue: &'static str,
        point: &'static str,
    },
}

impl HandledEvent {
    fn crashed(queue: QueueName, c: &Crashed) -> Self {
        HandledEvent::Crashed { queue: queue.as_str(), point: c.0.as_str() }
    }

    fn failed(queue: QueueName, error: HandleError) -> Self {
        let queue = queue.as_str();
        match error {
            HandleError::Retry { error, .. } => HandledEvent::Retry { queue, error: error.to_string() },
            HandleError::BadMessage(error) => HandledEvent::BadMessage { queue, error },
            HandleError::Crashed(c) => HandledEvent::Crashed { queue, point: c.0.as_str() },
        }
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct CycleReport {
    pub polls: Vec<(String, Flow, PollReport)>,
    pub poll_errors: Vec<String>,
    pub handled: Vec<HandledEvent>,
}

impl CycleReport {
    pub fn writes(&self) -> impl Iterator<Item = &WriteOutcome> {
        self.handled.iter().filter_map(|h| match h {
            HandledEvent::Write { outcome } => Some(outcome),
            _ => None,
        })
    }
    /// Target writes performed (creates and updates that changed something).
    pub fn write_count(&self) -> usize {
        self.writes().filter(|w| matches!(w, WriteOutcome::Created { .. } | WriteOutcome::Updated { .. })).count()
    }
}

pub struct Runner {
    engine: Arc<Engine>,
    settings: RunnerSettings,
}

impl Runner {
    pub fn new(engine: Arc<Engine>, settings: RunnerSettings) -> Self {
        Self { engine, settings }
    }

    pub fn engine(&self) -> &Arc<Engine> {
        &self.engine
    }

    /// Polls every active integration's directions that are due (all of them with
    /// `force`), then drains both queues.
    pub async fn cycle(&self, now: DateTime<Utc>, force: bool) -> CycleReport {
        self.cycle_for(now, force, &[]).await
    }

    /// As [`Runner::cycle`], polling only the named integrations (all when empty).
    pub async fn cycle_for(&self, now: DateTime<Utc>, force: bool, only: &[IntegrationId]) -> CycleReport {
        self.cycle_until(now, force, only, &AtomicBool::new(false)).await
    }

    /// As [`Runner::cycle_for`], ending early once `stop` is set: before the next poll,
    /// or after the received batch in hand is settled (the rest stays on the queues, to
    /// be handled by the next cycle, in this process or another).
    pub async fn cycle_until(
        &self,
        now: DateTime<Utc>,
        force: bool,
        only: &[IntegrationId],
        stop: &AtomicBool,
    ) -> CycleReport {
        let mut report = CycleReport::default();
        self.poll_due(now, force, only, stop, &mut report).await;
        self.drain_until(&mut report, stop).await;
        report
    }

    async fn poll_due(
        &self,
        now: DateTime<Utc>,
        force: bool,
        only: &[IntegrationId],
        stop: &AtomicBool,
        report: &mut CycleReport,
    ) {
        let records = match self.engine.config_store().list_integrations().await {
            Ok(r) => r,
            Err(e) => {
                report.poll_errors.push(format!("listing integrations: {e}"));
                return;
            }
        };
        for record in records.into_iter().filter(|r| r.active && (only.is_empty() || only.contains(&r.integration.id)))
        {
            let i = &record.integration;
            for flow in i.flows() {
                if stop.load(Ordering::SeqCst) {
                    return;
                }
                if !force {
                    // Due on its interval, or sooner when a webhook asked for a poll that
                    // has not run yet (its own poll failed, or the listener is elsewhere).
                    let state = self.engine.state();
                    let due = match state.get_watermark(&i.id, flow).await {
                        Ok(Some(w))
                            if w.last_poll.is_none_or(|t| (now - t).num_seconds() >= i.poll_interval_secs as i64) =>
                        {
                            Ok(true)
                        }
                        Ok(Some(_)) => state.poll_requested(&i.id, flow).await,
                        Ok(None) => Ok(false),
                        Err(e) => Err(e),
                    };
                    let due = due.unwrap_or_else(|e| {
                        report.poll_errors.push(format!("{} {flow}: {e}", i.id));
                        false
                    });
                    if !due {
                        continue;
                    }
                }
                // One integration's failure never stops the others.
                match self.engine.poll(&i.id, flow, now).await {
                    Ok(p) => report.polls.push((i.id.to_string(), flow, p)),
                    Err(e) => {
                        error!(integration = %i.id, %flow, "poll failed: {e}");
                        report.poll_errors.push(format!("{} {flow}: {e}", i.id));
                    }
                }
            }
        }
    }

    /// Processes both queues until they are empty (waiting up to `drain_patience`
    /// for messages that are backing off).
    pub async fn drain(&self, report: &mut CycleReport) {
        self.drain_until(report, &AtomicBool::new(false)).await
    }

    /// As [`Runner::drain`], returning between two received batches once `stop` is set.
    pub async fn drain_until(&self, report: &mut CycleReport, stop: &AtomicBool) {
        let queue = self.engine.queue().clone();
        let deadline = tokio::time::Instant::now() + self.settings.drain_patience;
        loop {
            if stop.load(Ordering::SeqCst) {
                return;
            }
            let a = self.process(QueueName::Changes, report).await;
            let b = self.process(QueueName::Writes, report).await;
            if a + b > 0 {
                continue;
            }
            let depth = match (queue.depth(QueueName::Changes).await, queue.depth(QueueName::Writes).await) {
                (Ok(x), Ok(y)) => x + y,
                (Err(e), _) | (_, Err(e)) => {
                    error!("queue depth: {e}");
                    return;
                }
            };
            if depth == 0 || tokio::time::Instant::now() >= deadline {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Receives one batch from `name`, handles each message and settles it
    /// ([`crate::settle`]); returns how many messages it received.
    async fn process(&self, name: QueueName, report: &mut CycleReport) -> usize {
        let engine = &*self.engine;
        let deliveries = match engine.queue().receive(name, self.settings.batch_size, self.settings.visibility).await {
            Ok(d) => d,
            Err(e) => {
                error!(queue = name.as_str(), "receive failed: {e}");
                return 0;
            }
        };
        let n = deliveries.len();
        // Transforms put their write commands in one outbox, sent together after the
        // batch; a change event is acknowledged only once its command is on the queue.
        let batch = Batch::default();
        let mut bodies = Vec::with_capacity(n);
        for d in &deliveries {
            bodies.push(handling::open_body(engine, name, &d.body).await);
        }
        let readable: Vec<&str> = bodies.iter().filter_map(|b| b.as_deref().ok()).collect();
        engine.prefetch(&batch, name, &readable).await;
        let mut results = Vec::with_capacity(n);
        for (i, (d, body)) in deliveries.iter().zip(bodies).enumerate() {
            if i > 0 {
                if let Err(c) = engine.crash_point(CrashPoint::BatchMiddle) {
                    report.handled.push(HandledEvent::crashed(name, &c));
                    return n;
                }
            }
            batch.begin(&d.message_id);
            let result = match body {
                Ok(body) => handling::run_step(engine, name, &body, d.receive_count, &batch).await,
                Err(e) => Err(e),
            };
            if let Err(HandleError::Crashed(c)) = &result {
                // As if the process died: no ack, no release; this message and the rest
                // of the batch come back after the visibility timeout.
                warn!(queue = name.as_str(), message_id = %d.message_id, "{c}");
                report.handled.push(HandledEvent::crashed(name, c));
                return n;
            }
            results.push(result);
        }
        let flushed = match handling::flush(engine, name, &batch).await {
            Ok(flushed) => flushed,
            Err(c) => {
                report.handled.push(HandledEvent::crashed(name, &c));
                return n;
            }
        };
        let limits = Limits {
            retry: Backoff::new(self.settings.retry_base, RETRY_CAP),
            max_receives: engine.queue().max_receives(),
        };
        for (d, result) in deliveries.iter().zip(results) {
            let result = handling::unless_unsent(result, &flushed, &d.message_id);
            let message = Received {
                queue: name,
                message_id: &d.message_id,
                receipt: &d.receipt,
                body: Some(&d.body),
                receive_count: d.receive_count,
            };
            let decision = settle(Outcome::of(&result), d.receive_count, &limits, rand::random());
            report.handled.push(match result {
                Ok(StepOutcome::Transform(outcome)) => HandledEvent::Transform { outcome },
                Ok(StepOutcome::Write(outcome)) => HandledEvent::Write { outcome },
                Err(e) => {
                    handling::log_failure(message, &e, decision);
                    HandledEvent::failed(name, e)
                }
            });
            handling::carry_out(engine, message, decision, AckBy::Queue).await;
        }
        n
    }

    /// Runs until `stop` resolves: polls when due, drains, sleeps a second between ticks.
    pub async fn run_until<F: std::future::Future<Output = ()>>(&self, only: &[IntegrationId], stop: F) {
        tokio::pin!(stop);
        loop {
            let report = self.cycle_for(Utc::now(), false, only).await;
            for (i, flow, p) in &report.polls {
                if p.enqueued > 0 {
                    tracing::info!(integration = %i, %flow, enqueued = p.enqueued, "changes enqueued");
                }
            }
            tokio::select! {
                _ = &mut stop => return,
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
        }
    }
}
