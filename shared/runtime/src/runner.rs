//! The local runner: drives poll → transform → write on each integration's
//! interval, as the schedule and the SQS event sources do on AWS.

use chrono::{DateTime, Utc};
use ferry_domain::ports::QueueName;
use ferry_domain::{Flow, IntegrationId};
use ferry_engine::{Batch, CrashPoint, Engine, HandleError, PollReport, TransformOutcome, WriteOutcome};
use rand::Rng;
use serde::Serialize;
use std::sync::Arc;
use std::time::Duration;
use tracing::{error, warn};

#[derive(Debug, Clone)]
pub struct RunnerSettings {
    /// Messages per receive (SQS returns at most 10).
    pub batch_size: usize,
    /// Visibility timeout of a received message (6× a handler's time budget).
    pub visibility: Duration,
    /// Base of the jittered backoff for a retry without `Retry-After`.
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

    /// Polls every active integration's directions that are due (all of them with
    /// `force`), then drains both queues.
    pub async fn cycle(&self, now: DateTime<Utc>, force: bool) -> CycleReport {
        self.cycle_for(now, force, &[]).await
    }

    /// As [`Runner::cycle`], polling only the named integrations (all when empty).
    pub async fn cycle_for(&self, now: DateTime<Utc>, force: bool, only: &[IntegrationId]) -> CycleReport {
        let mut report = CycleReport::default();
        self.poll_due(now, force, only, &mut report).await;
        self.drain(&mut report).await;
        report
    }

    async fn poll_due(&self, now: DateTime<Utc>, force: bool, only: &[IntegrationId], report: &mut CycleReport) {
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
                if !force {
                    let due = match self.engine.state().get_watermark(&i.id, flow).await {
                        Ok(Some(w)) => {
                            w.last_poll.is_none_or(|t| (now - t).num_seconds() >= i.poll_interval_secs as i64)
                        }
                        Ok(None) => false,
                        Err(e) => {
                            report.poll_errors.push(format!("{} {flow}: {e}", i.id));
                            false
                        }
                    };
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
        let queue = self.engine.queue().clone();
        let deadline = tokio::time::Instant::now() + self.settings.drain_patience;
        loop {
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

    async fn process(&self, name: QueueName, report: &mut CycleReport) -> usize {
        let queue = self.engine.queue().clone();
        let deliveries = match queue.receive(name, self.settings.batch_size, self.settings.visibility).await {
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
        let mut deliveries = deliveries;
        let mut unopened = Vec::new();
        for d in deliveries.iter_mut() {
            // The body a claim check stands for, as the Lambda handlers open it.
            match queue.open_body(name, &d.body).await {
                Ok(body) => d.body = body,
                Err(e) => unopened.push((d.message_id.clone(), e)),
            }
        }
        let bodies: Vec<&str> = deliveries.iter().map(|d| d.body.as_str()).collect();
        self.engine.prefetch(&batch, name, &bodies).await;
        let mut results = Vec::with_capacity(n);
        for (i, d) in deliveries.into_iter().enumerate() {
            if i > 0 {
                if let Err(c) = self.engine.crash_point(CrashPoint::BatchMiddle) {
                    report.handled.push(HandledEvent::Crashed { queue: name.as_str(), point: c.0.as_str() });
                    return n;
                }
            }
            batch.begin(&d.message_id);
            if let Some(pos) = unopened.iter().position(|(id, _)| id == &d.message_id) {
                let (_, e) = unopened.swap_remove(pos);
                let error =
                    if e.is_retryable() { HandleError::retry(e) } else { HandleError::BadMessage(e.to_string()) };
                results.push((d, Err(error)));
                continue;
            }
            let result = match name {
                QueueName::Changes => self
                    .engine
                    .transform_change(&d.body, d.receive_count, &batch)
                    .await
                    .map(|o| HandledEvent::Transform { outcome: o }),
                QueueName::Writes => self
                    .engine
                    .write_command(&d.body, d.receive_count, &batch)
                    .await
                    .map(|o| HandledEvent::Write { outcome: o }),
            };
            if let Err(HandleError::Crashed(c)) = &result {
                // As if the process died: no ack, no release; this message and the rest
                // of the batch come back after the visibility timeout.
                warn!(queue = name.as_str(), message_id = %d.message_id, "{c}");
                report.handled.push(HandledEvent::Crashed { queue: name.as_str(), point: c.0.as_str() });
                return n;
            }
            results.push((d, result));
        }
        let unsent = match self.engine.flush_each(&batch).await {
            Ok(flushed) => flushed,
            Err(HandleError::Crashed(c)) => {
                report.handled.push(HandledEvent::Crashed { queue: name.as_str(), point: c.0.as_str() });
                return n;
            }
            Err(e) => {
                let (category, message) = match &e {
                    HandleError::Retry { error, .. } => (error.category, error.message.clone()),
                    other => (other.category(), other.to_string()),
                };
                ferry_engine::Flushed { sent: 0, unsent: vec![(None, ferry_domain::PortError::new(category, message))] }
            }
        };
        // A transformed event whose command is not on the queue is retried (a command
        // that did reach it dedupes when sent again).
        for (d, r) in results.iter_mut() {
            let why = unsent.unsent.iter().find(|(o, _)| o.as_deref().is_none_or(|o| o == d.message_id));
            if let (true, Some((_, e))) = (r.is_ok(), why) {
                *r = Err(HandleError::retry(ferry_domain::PortError::new(
                    e.category,
                    format!("sending the batch's write commands: {}", e.message),
                )));
            }
        }
        for (d, result) in results {
            let settle = match result {
                Ok(event) => {
                    report.handled.push(event);
                    queue.ack(name, &d.receipt).await
                }
                Err(HandleError::Retry { error, after }) => {
                    let delay = after.unwrap_or_else(|| self.backoff(d.receive_count));
                    warn!(
                        queue = name.as_str(),
                        attempt = d.receive_count,
                        delay_ms = delay.as_millis() as u64,
                        "{error}"
                    );
                    report.handled.push(HandledEvent::Retry { queue: name.as_str(), error: error.to_string() });
                    queue.release(name, &d.receipt, delay).await
                }
                // Crashes returned above; neither ack nor release if one got here.
                Err(HandleError::Crashed(c)) => {
                    report.handled.push(HandledEvent::Crashed { queue: name.as_str(), point: c.0.as_str() });
                    continue;
                }
                Err(HandleError::BadMessage(msg)) => {
                    // Redelivered until the queue's receive limit moves it to the DLQ.
                    error!(queue = name.as_str(), message_id = %d.message_id, "{msg}");
                    report.handled.push(HandledEvent::BadMessage { queue: name.as_str(), error: msg });
                    queue.release(name, &d.receipt, Duration::ZERO).await
                }
            };
            if let Err(e) = settle {
                error!(queue = name.as_str(), "settling message {}: {e}", d.message_id);
            }
        }
        n
    }

    fn backoff(&self, attempt: u32) -> Duration {
        let max = self.settings.retry_base.saturating_mul(1u32 << attempt.min(6)).as_millis() as u64;
        Duration::from_millis(rand::thread_rng().gen_range(max / 2..=max.max(1)))
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
