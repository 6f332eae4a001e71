//! The SQS event-source contract of the transform and write functions: each record
//! is handled on its own and only failed message ids are reported
//! (`ReportBatchItemFailures`), so one bad record never fails the batch.
//!
//! A batch works within the invocation's deadline: no record is started with less than
//! the safety margin (plus the slowest record so far) left, and the records not started
//! are handed back at once, unhandled, for the next invocation; the completed ones
//! succeed. A record on its last delivery before the dead-letter queue is parked as a
//! failure instead of handed back, so it never reaches the dead-letter queue unrecorded.

use super::metrics::BatchMetrics;
use crate::handling::{self, AckBy, Received, StepOutcome};
use crate::settle::{settle, Limits, Outcome, Settle, RETRY_CAP};
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use ferry_domain::ports::QueueName;
use ferry_domain::Backoff;
use ferry_engine::{Batch, CrashPoint, Engine, Flushed, HandleError};
use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant, SystemTime};
use tracing::{error, info, warn};

/// Which pipeline step consumes the batch: the queue it came from and the engine step run
/// for each message. A function names its step as a constant, so its binary links that
/// step's code only (a step picked by a value at run time linked both steps into both
/// binaries).
#[derive(Clone, Copy)]
pub struct Step {
    queue: QueueName,
    run: RunStep,
}

/// One message through the step's engine call.
type RunStep = for<'a> fn(&'a Engine, &'a str, u32, &'a Batch) -> StepFuture<'a>;
type StepFuture<'a> = Pin<Box<dyn Future<Output = Result<StepOutcome, HandleError>> + Send + 'a>>;

impl Step {
    /// Consumes the changes queue.
    pub const TRANSFORM: Step = Step { queue: QueueName::Changes, run: transform };
    /// Consumes the writes queue.
    pub const WRITE: Step = Step { queue: QueueName::Writes, run: write };

    pub fn queue(self) -> QueueName {
        self.queue
    }
}

impl std::fmt::Debug for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Step").field("queue", &self.queue).finish()
    }
}

fn transform<'a>(engine: &'a Engine, body: &'a str, receive_count: u32, batch: &'a Batch) -> StepFuture<'a> {
    Box::pin(async move { engine.transform_change(body, receive_count, batch).await.map(StepOutcome::Transform) })
}

fn write<'a>(engine: &'a Engine, body: &'a str, receive_count: u32, batch: &'a Batch) -> StepFuture<'a> {
    Box::pin(async move { engine.write_command(body, receive_count, batch).await.map(StepOutcome::Write) })
}

/// Retry timing for failed records, and the deadline the batch works within.
#[derive(Debug, Clone, Copy)]
pub struct BatchSettings {
    /// Base of the jittered exponential backoff when the error gave no `Retry-After`.
    pub retry_base: Duration,
    /// Longest delay asked of the queue, for a backoff or a `Retry-After` (SQS allows
    /// up to 12 hours; [`RETRY_CAP`] by default).
    pub retry_cap: Duration,
    /// When the invocation is stopped (Lambda's deadline); `None`: no limit.
    pub deadline: Option<Instant>,
    /// Time kept free before the deadline for the batch's final sends and answers.
    pub deadline_margin: Duration,
}

impl Default for BatchSettings {
    fn default() -> Self {
        Self {
            retry_base: Duration::from_secs(2),
            retry_cap: RETRY_CAP,
            deadline: None,
            deadline_margin: Duration::from_secs(3),
        }
    }
}

impl BatchSettings {
    /// These settings with Lambda's deadline (the context's wall-clock deadline).
    pub fn until(self, deadline: SystemTime) -> Self {
        let left = deadline.duration_since(SystemTime::now()).unwrap_or_default();
        Self { deadline: Some(Instant::now() + left), ..self }
    }

    /// The limits the batch's records are settled within ([`settle`]), on a queue that
    /// dead-letters after `max_receives` deliveries.
    pub fn limits(&self, max_receives: Option<u32>) -> Limits {
        Limits { retry: Backoff::new(self.retry_base, self.retry_cap), max_receives }
    }

    /// Whether a record may start at `now`, with the slowest one so far having taken
    /// `slowest`: it needs that long again, and the margin must be left after it.
    pub fn may_start(&self, now: Instant, slowest: Duration) -> bool {
        self.deadline.is_none_or(|d| d.saturating_duration_since(now) >= self.deadline_margin + slowest)
    }
}

/// The attempt number SQS reports (`ApproximateReceiveCount`, 1 on first delivery).
pub fn receive_count(record: &SqsMessage) -> u32 {
    record.attributes.get("ApproximateReceiveCount").and_then(|v| v.trim().parse::<u32>().ok()).unwrap_or(1).max(1)
}

/// Handles every record of `event` with `step` and returns the ids of the failed ones.
///
/// Each record is settled by [`crate::settle`]: a failed one is made visible again
/// through the engine's queue (SQS `ChangeMessageVisibility` with the record's receipt
/// handle) after `Retry-After` or a jittered backoff for a transient error, at once for a
/// bad message (so it reaches the dead-letter queue after `maxReceiveCount` receives
/// without waiting out the visibility timeout each time) and for a record not started
/// before the deadline. Later records of a failed record's FIFO message group are not
/// handled and are reported failed too, so an entity's changes keep their order.
pub async fn handle_sqs_batch(
    engine: &Engine,
    step: Step,
    event: SqsEvent,
    settings: BatchSettings,
) -> SqsBatchResponse {
    let queue = step.queue();
    let limits = settings.limits(engine.queue().max_receives());
    let mut response = SqsBatchResponse::default();
    let mut blocked_groups: HashSet<String> = HashSet::new();
    // Write commands of the batch's transforms, sent together after it; the records
    // that produced them succeed only if their command was sent.
    let batch = Batch::default();
    let bodies = open_bodies(engine, queue, &event).await;
    let readable: Vec<&str> = bodies.iter().filter_map(|b| b.as_deref().ok()).collect();
    engine.prefetch(&batch, queue, &readable).await;
    let mut metrics = BatchMetrics::default();
    let mut handled: Vec<&SqsMessage> = Vec::new();
    let mut slowest = Duration::ZERO;
    for (i, (record, body)) in event.records.iter().zip(bodies).enumerate() {
        if i > 0 && engine.crash_point(CrashPoint::BatchMiddle).is_err() {
            return whole_batch_failed(&event);
        }
        if !settings.may_start(Instant::now(), slowest) {
            hand_back(engine, queue, &event.records[i..], &limits, &mut response).await;
            break;
        }
        let message = received(queue, record);
        let group = record.attributes.get("MessageGroupId").cloned();
        if let Some(g) = group.as_ref().filter(|g| blocked_groups.contains(*g)) {
            info!(queue = queue.as_str(), message_id = %message.message_id, group = %g, "an earlier message of this group failed; handled after it");
            carry_out(engine, message, settle(Outcome::Blocked, message.receive_count, &limits, 0.0), &mut response)
                .await;
            continue;
        }
        batch.begin(message.message_id);
        let started = Instant::now();
        let result = match body {
            Err(e) => Err(e),
            Ok(body) => {
                // No rate-limit wait inside the step may eat the margin kept before the deadline.
                let until = settings.deadline.map(|d| d.checked_sub(settings.deadline_margin).unwrap_or(d));
                let step = (step.run)(engine, &body, message.receive_count, &batch);
                let result = ferry_connectors::governor::within_deadline(until, step).await;
                if let Ok(outcome) = &result {
                    metrics.record(&body, outcome, chrono::Utc::now());
                }
                result
            }
        };
        slowest = slowest.max(started.elapsed());
        let outcome = Outcome::of(&result);
        match result {
            Ok(outcome) => {
                info!(queue = queue.as_str(), message_id = %message.message_id, attempt = message.receive_count, outcome = %outcome, "handled");
                handled.push(record);
            }
            Err(HandleError::Crashed(c)) => {
                warn!(queue = queue.as_str(), message_id = %message.message_id, "{c}");
                return whole_batch_failed(&event);
            }
            Err(error) => {
                let decision = settle(outcome, message.receive_count, &limits, rand::random());
                handling::log_failure(message, &error, decision);
                carry_out(engine, message, decision, &mut response).await;
                if let Some(g) = group {
                    blocked_groups.insert(g);
                }
            }
        }
    }
    print_metrics(&metrics);
    let Ok(flushed) = handling::flush(engine, queue, &batch).await else {
        return whole_batch_failed(&event);
    };
    settle_handled(engine, queue, &handled, &flushed, &limits, &mut response).await;
    response
}

/// The batch's metrics as EMF records on stdout, the function's log stream.
fn print_metrics(metrics: &BatchMetrics) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    for line in metrics.emf_lines(chrono::Utc::now()) {
        let _ = writeln!(out, "{line}");
    }
}

/// The bodies the records stand for (a claim check's payload fetched), or why a record
/// cannot be handled ([`handling::open_body`]).
async fn open_bodies(engine: &Engine, queue: QueueName, event: &SqsEvent) -> Vec<Result<String, HandleError>> {
    let mut out = Vec::with_capacity(event.records.len());
    for record in &event.records {
        out.push(match record.body.as_deref() {
            None => Err(HandleError::BadMessage("the SQS record has no body".into())),
            Some(body) => handling::open_body(engine, queue, body).await,
        });
    }
    out
}

/// A record as settling it needs.
fn received(queue: QueueName, record: &SqsMessage) -> Received<'_> {
    Received {
        queue,
        message_id: record.message_id.as_deref().unwrap_or_default(),
        receipt: record.receipt_handle.as_deref().unwrap_or_default(),
        body: record.body.as_deref(),
        receive_count: receive_count(record),
    }
}

/// Hands back the records not started before the deadline (a record on its last
/// delivery is parked rather than dead-lettered unrecorded).
async fn hand_back(
    engine: &Engine,
    queue: QueueName,
    records: &[SqsMessage],
    limits: &Limits,
    response: &mut SqsBatchResponse,
) {
    warn!(
        queue = queue.as_str(),
        records = records.len(),
        "the deadline is near: handing back the records not started"
    );
    for record in records {
        let message = received(queue, record);
        carry_out(engine, message, settle(Outcome::NotStarted, message.receive_count, limits, 0.0), response).await;
    }
}

/// Settles the handled records once the batch's write commands were sent: a record
/// whose command was not sent is retried ([`handling::unless_unsent`]).
async fn settle_handled(
    engine: &Engine,
    queue: QueueName,
    handled: &[&SqsMessage],
    flushed: &Flushed,
    limits: &Limits,
    response: &mut SqsBatchResponse,
) {
    for record in handled {
        let message = received(queue, record);
        let result = handling::unless_unsent(Ok(()), flushed, message.message_id);
        let decision = settle(Outcome::of(&result), message.receive_count, limits, rand::random());
        if let Err(error) = &result {
            handling::log_failure(message, error, decision);
        }
        carry_out(engine, message, decision, response).await;
    }
}

/// Carries out a record's settlement; a record not done is reported failed.
async fn carry_out(engine: &Engine, message: Received<'_>, decision: Settle, response: &mut SqsBatchResponse) {
    if !handling::carry_out(engine, message, decision, AckBy::Response).await {
        fail(response, message.message_id.to_string());
    }
}

/// A crashed invocation (fault injection) acknowledges nothing: like a Lambda that died,
/// every record of the batch returns after the visibility timeout.
fn whole_batch_failed(event: &SqsEvent) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    for record in &event.records {
        fail(&mut response, record.message_id.clone().unwrap_or_default());
    }
    response
}

fn fail(response: &mut SqsBatchResponse, message_id: String) {
    if message_id.is_empty() {
        // Lambda treats an empty identifier as a failure of the whole batch: the safe
        // choice when the failed record cannot be named.
        error!("a failed SQS record has no message id: the whole batch will be retried");
    }
    response.add_failure(message_id);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(attrs: &[(&str, &str)]) -> SqsMessage {
        let mut m = SqsMessage::default();
        m.attributes = attrs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        m
    }

    #[test]
    fn receive_count_reads_the_sqs_attribute_and_defaults_to_first_delivery() {
        for (attrs, want) in [
            (vec![("ApproximateReceiveCount", "3")], 3),
            (vec![("ApproximateReceiveCount", "0")], 1),
            (vec![("ApproximateReceiveCount", "many")], 1),
            (vec![], 1),
        ] {
            assert_eq!(receive_count(&record(&attrs)), want, "{attrs:?}");
        }
    }

    #[test]
    fn the_batch_backs_off_from_its_base_up_to_its_cap() {
        let limits = BatchSettings::default().limits(Some(5));
        assert_eq!(limits.retry, Backoff::new(Duration::from_secs(2), RETRY_CAP));
        assert_eq!(limits.max_receives, Some(5));
    }

    #[test]
    fn a_record_starts_only_with_its_expected_time_and_the_margin_left() {
        let now = Instant::now();
        let s = BatchSettings {
            deadline: Some(now + Duration::from_secs(10)),
            deadline_margin: Duration::from_secs(3),
            ..BatchSettings::default()
        };
        let table = [(0, true), (7, true), (8, false), (30, false)];
        for (slowest, want) in table {
            assert_eq!(s.may_start(now, Duration::from_secs(slowest)), want, "slowest {slowest} s");
        }
        assert!(!s.may_start(now + Duration::from_secs(8), Duration::ZERO), "2 s left is under the margin");
        assert!(BatchSettings::default().may_start(now, Duration::from_secs(3600)), "no deadline");
    }

    #[test]
    fn each_step_reads_its_own_queue() {
        assert_eq!(Step::TRANSFORM.queue(), QueueName::Changes);
        assert_eq!(Step::WRITE.queue(), QueueName::Writes);
    }
}
