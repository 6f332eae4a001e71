//! The SQS event-source contract of the transform and write functions: each record
//! is handled on its own and only failed message ids are reported
//! (`ReportBatchItemFailures`), so one bad record never fails the batch.
//!
//! A batch works within the invocation's deadline: no record is started with less than
//! the safety margin (plus the slowest record so far) left, and the records not started
//! are handed back at once, unhandled, for the next invocation; the completed ones
//! succeed. A record on its last delivery before the dead-letter queue is parked as a
//! failure instead of handed back, so it never reaches the dead-letter queue unrecorded.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use ferry_domain::ports::QueueName;
use ferry_engine::{Batch, CrashPoint, Engine, HandleError};
use rand::Rng;
use std::collections::HashSet;
use std::time::{Duration, Instant, SystemTime};
use tracing::{error, info, warn};

/// Which pipeline step consumes the batch (and so which queue it came from).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Consumes the changes queue.
    Transform,
    /// Consumes the writes queue.
    Write,
}

impl Step {
    pub fn queue(self) -> QueueName {
        match self {
            Step::Transform => QueueName::Changes,
            Step::Write => QueueName::Writes,
        }
    }
}

/// Retry timing for failed records, and the deadline the batch works within.
#[derive(Debug, Clone, Copy)]
pub struct BatchSettings {
    /// Base of the jittered exponential backoff when the error gave no `Retry-After`.
    pub retry_base: Duration,
    /// Longest delay asked of the queue (SQS allows up to 12 hours).
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
            retry_cap: Duration::from_secs(900),
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
/// A failed record is made visible again through the engine's queue (SQS
/// `ChangeMessageVisibility` with the record's receipt handle): after `Retry-After` or a
/// jittered backoff for a transient error, at once for a bad message (so it reaches
/// the dead-letter queue after `maxReceiveCount` receives without waiting out the
/// visibility timeout each time) and for a record not started before the deadline.
/// Later records of a failed record's FIFO message group are not handled and are
/// reported failed too, so an entity's changes keep their order.
pub async fn handle_sqs_batch(
    engine: &Engine,
    step: Step,
    event: SqsEvent,
    settings: BatchSettings,
) -> SqsBatchResponse {
    let queue = step.queue();
    let mut response = SqsBatchResponse::default();
    let mut blocked_groups: HashSet<String> = HashSet::new();
    // Write commands of the batch's transforms, sent together after it; the records
    // that produced them succeed only if their command was sent.
    let batch = Batch::default();
    let bodies = open_bodies(engine, queue, &event).await;
    let readable: Vec<&str> = bodies.iter().filter_map(|b| b.as_ref().ok().map(String::as_str)).collect();
    engine.prefetch(&batch, queue, &readable).await;
    let mut handled: Vec<&SqsMessage> = Vec::new();
    let mut slowest = Duration::ZERO;
    for (i, (record, body)) in event.records.iter().zip(bodies).enumerate() {
        if i > 0 && engine.crash_point(CrashPoint::BatchMiddle).is_err() {
            return whole_batch_failed(&event);
        }
        if !settings.may_start(Instant::now(), slowest) {
            hand_back(engine, queue, &event.records[i..], &mut response).await;
            break;
        }
        let message_id = record.message_id.clone().unwrap_or_default();
        let group = record.attributes.get("MessageGroupId").cloned();
        if let Some(g) = group.as_ref().filter(|g| blocked_groups.contains(*g)) {
            info!(queue = queue.as_str(), message_id = %message_id, group = %g, "an earlier message of this group failed; handled after it");
            release(engine, queue, record, Duration::ZERO).await;
            fail(&mut response, message_id);
            continue;
        }
        let attempt = receive_count(record);
        batch.begin(&message_id);
        let started = Instant::now();
        let result = match body {
            Err(e) => Err(e),
            Ok(body) => match step {
                Step::Transform => engine.transform_change(&body, attempt, &batch).await.map(|o| format!("{o:?}")),
                Step::Write => engine.write_command(&body, attempt, &batch).await.map(|o| format!("{o:?}")),
            },
        };
        slowest = slowest.max(started.elapsed());
        let delay = match result {
            Ok(outcome) => {
                info!(queue = queue.as_str(), message_id = %message_id, attempt, outcome = %outcome, "handled");
                handled.push(record);
                continue;
            }
            Err(HandleError::Retry { error, after }) => {
                let delay = after.unwrap_or_else(|| backoff(settings, attempt)).min(settings.retry_cap);
                warn!(queue = queue.as_str(), message_id = %message_id, attempt, delay_s = delay.as_secs(), "will retry: {error}");
                delay
            }
            Err(HandleError::Crashed(c)) => {
                warn!(queue = queue.as_str(), message_id = %message_id, "{c}");
                return whole_batch_failed(&event);
            }
            Err(HandleError::BadMessage(msg)) => {
                error!(queue = queue.as_str(), message_id = %message_id, attempt, "bad message (dead-lettered after the queue's receive limit): {msg}");
                Duration::ZERO
            }
        };
        release(engine, queue, record, delay).await;
        if let Some(g) = group {
            blocked_groups.insert(g);
        }
        fail(&mut response, message_id);
    }
    if flush(engine, queue, &batch, &handled, settings, &mut response).await.is_err() {
        return whole_batch_failed(&event);
    }
    response
}

/// The bodies the records stand for (a claim check's payload fetched), or why a record
/// cannot be handled: a transient fetch error retries it, any other is a bad message.
async fn open_bodies(engine: &Engine, queue: QueueName, event: &SqsEvent) -> Vec<Result<String, HandleError>> {
    let mut out = Vec::with_capacity(event.records.len());
    for record in &event.records {
        out.push(match record.body.as_deref() {
            None => Err(HandleError::BadMessage("the SQS record has no body".into())),
            Some(body) => match engine.queue().open_body(queue, body).await {
                Ok(b) => Ok(b),
                Err(e) if e.is_retryable() => Err(HandleError::retry(e)),
                Err(e) => Err(HandleError::BadMessage(e.to_string())),
            },
        });
    }
    out
}

/// Hands back records not started before the deadline: visible again at once and
/// reported failed, except a record on its last delivery, which is parked (and so
/// succeeds) rather than dead-lettered unrecorded.
async fn hand_back(engine: &Engine, queue: QueueName, records: &[SqsMessage], response: &mut SqsBatchResponse) {
    warn!(
        queue = queue.as_str(),
        records = records.len(),
        "the deadline is near: handing back the records not started"
    );
    let last = engine.queue().max_receives();
    for record in records {
        let attempt = receive_count(record);
        if last.is_some_and(|max| attempt >= max) {
            if let Some(body) = record.body.as_deref() {
                match engine.park_unhandled(queue, body, attempt).await {
                    Ok(()) => continue,
                    Err(e) => warn!(queue = queue.as_str(), "parking a record on its last delivery failed: {e}"),
                }
            }
        }
        release(engine, queue, record, Duration::ZERO).await;
        fail(response, record.message_id.clone().unwrap_or_default());
    }
}

/// Sends the batch's write commands; a handled record whose command was not sent is
/// retried. `Err` when the invocation crashed (fault injection).
async fn flush(
    engine: &Engine,
    queue: QueueName,
    batch: &Batch,
    handled: &[&SqsMessage],
    settings: BatchSettings,
    response: &mut SqsBatchResponse,
) -> Result<(), ()> {
    let retry: Vec<&SqsMessage> = match engine.flush_each(batch).await {
        Ok(flushed) => handled
            .iter()
            .copied()
            .filter(|r| flushed.must_retry(r.message_id.as_deref().unwrap_or_default()))
            .collect(),
        Err(HandleError::Crashed(_)) => return Err(()),
        Err(e) => {
            warn!(queue = queue.as_str(), "writing the batch's outcomes failed: {e}");
            handled.to_vec()
        }
    };
    if !retry.is_empty() {
        // Commands that did reach the queue dedupe when the retry sends them again.
        warn!(
            queue = queue.as_str(),
            records = retry.len(),
            "some write commands were not sent; retrying their change events"
        );
    }
    for record in retry {
        release(engine, queue, record, backoff(settings, receive_count(record))).await;
        fail(response, record.message_id.clone().unwrap_or_default());
    }
    Ok(())
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

/// Asks the queue to show the record again after `delay`. Best effort: without it the
/// record still comes back after the queue's visibility timeout.
async fn release(engine: &Engine, queue: QueueName, record: &SqsMessage, delay: Duration) {
    let Some(receipt) = record.receipt_handle.as_deref().filter(|r| !r.is_empty()) else {
        return;
    };
    if let Err(e) = engine.queue().release(queue, receipt, delay).await {
        warn!(
            queue = queue.as_str(),
            "could not change the message's visibility (it returns after the visibility timeout): {e}"
        );
    }
}

fn backoff(settings: BatchSettings, attempt: u32) -> Duration {
    let max = settings.retry_base.saturating_mul(1u32 << attempt.min(8)).min(settings.retry_cap).as_millis() as u64;
    Duration::from_millis(rand::thread_rng().gen_range(max / 2..=max.max(1)))
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
    fn backoff_grows_with_the_attempt_and_stays_under_the_cap() {
        let s = BatchSettings {
            retry_base: Duration::from_secs(2),
            retry_cap: Duration::from_secs(60),
            ..BatchSettings::default()
        };
        for attempt in 1..20 {
            let d = backoff(s, attempt);
            let max = (2u64 << attempt.min(8)).min(60);
            assert!(d <= Duration::from_secs(max) && d >= Duration::from_millis(max * 500), "{attempt}: {d:?}");
        }
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
        assert_eq!(Step::Transform.queue(), QueueName::Changes);
        assert_eq!(Step::Write.queue(), QueueName::Writes);
    }
}
