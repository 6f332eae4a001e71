//! The SQS event-source contract of the transform and write functions: each record
//! is handled on its own and only failed message ids are reported
//! (`ReportBatchItemFailures`), so one bad record never fails the batch.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use ferry_domain::ports::QueueName;
use ferry_engine::{Batch, CrashPoint, Engine, HandleError};
use rand::Rng;
use std::collections::HashSet;
use std::time::Duration;
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

/// Retry timing for failed records.
#[derive(Debug, Clone, Copy)]
pub struct BatchSettings {
    /// Base of the jittered exponential backoff when the error gave no `Retry-After`.
    pub retry_base: Duration,
    /// Longest delay asked of the queue (SQS allows up to 12 hours).
    pub retry_cap: Duration,
}

impl Default for BatchSettings {
    fn default() -> Self {
        Self { retry_base: Duration::from_secs(2), retry_cap: Duration::from_secs(900) }
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
/// visibility timeout each time). Later records of a failed record's FIFO message
/// group are not handled and are reported failed too, so an entity's changes keep
/// their order.
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
    // that produced them succeed only if that send does.
    let batch = Batch::default();
    let bodies: Vec<&str> = event.records.iter().filter_map(|r| r.body.as_deref()).collect();
    engine.prefetch(&batch, queue, &bodies).await;
    let mut handled: Vec<&SqsMessage> = Vec::new();
    for (i, record) in event.records.iter().enumerate() {
        if i > 0 && engine.crash_point(CrashPoint::BatchMiddle).is_err() {
            return whole_batch_failed(&event);
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
        let result = match record.body.as_deref() {
            None => Err(HandleError::BadMessage("the SQS record has no body".into())),
            Some(body) => match step {
                Step::Transform => engine.transform_to(body, attempt, &batch).await.map(|o| format!("{o:?}")),
                Step::Write => engine.write_in(body, attempt, &batch).await.map(|o| format!("{o:?}")),
            },
        };
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
    match engine.flush(&batch).await {
        Ok(_) => {}
        Err(HandleError::Crashed(_)) => return whole_batch_failed(&event),
        Err(e) => {
            // Some commands may be on the queue: every handled record is retried, and
            // the commands' dedup ids absorb what is sent twice.
            warn!(
                queue = queue.as_str(),
                records = handled.len(),
                "sending the batch's write commands failed, retrying them: {e}"
            );
            for record in handled {
                release(engine, queue, record, backoff(settings, receive_count(record))).await;
                fail(&mut response, record.message_id.clone().unwrap_or_default());
            }
        }
    }
    response
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
        let s = BatchSettings { retry_base: Duration::from_secs(2), retry_cap: Duration::from_secs(60) };
        for attempt in 1..20 {
            let d = backoff(s, attempt);
            let max = (2u64 << attempt.min(8)).min(60);
            assert!(d <= Duration::from_secs(max) && d >= Duration::from_millis(max * 500), "{attempt}: {d:?}");
        }
    }

    #[test]
    fn each_step_reads_its_own_queue() {
        assert_eq!(Step::Transform.queue(), QueueName::Changes);
        assert_eq!(Step::Write.queue(), QueueName::Writes);
    }
}
