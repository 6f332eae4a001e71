//! One received message through its pipeline step, the same for the embedded runner
//! and the Lambda batch handler: its body opened, the step run, the batch's write
//! commands sent, and its settlement ([`crate::settle`]) carried out on the queue.

use crate::settle::Settle;
use ferry_domain::ports::QueueName;
use ferry_domain::PortError;
use ferry_engine::{Batch, Crashed, Engine, Flushed, HandleError, TransformOutcome, WriteOutcome};
use std::fmt;
use std::time::Duration;
use tracing::{error, warn};

/// What a step made of a message.
#[derive(Debug, Clone)]
pub enum StepOutcome {
    /// The changes queue's step: a change event mapped (or skipped, or parked).
    Transform(TransformOutcome),
    /// The writes queue's step: a write command applied (or skipped, or parked).
    Write(WriteOutcome),
}

impl fmt::Display for StepOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StepOutcome::Transform(o) => write!(f, "{o:?}"),
            StepOutcome::Write(o) => write!(f, "{o:?}"),
        }
    }
}

/// The body a delivered message stands for (a claim check's payload fetched). A
/// transient fetch error retries the message; any other makes it unusable.
pub async fn open_body(engine: &Engine, queue: QueueName, body: &str) -> Result<String, HandleError> {
    engine.queue().open_body(queue, body).await.map_err(|e| {
        if e.is_retryable() {
            HandleError::retry(e)
        } else {
            HandleError::BadMessage(e.to_string())
        }
    })
}

/// Runs the step that consumes `queue` on one opened message body, delivery number
/// `receive_count`, its write commands kept in `batch` until [`flush`].
pub async fn run_step(
    engine: &Engine,
    queue: QueueName,
    body: &str,
    receive_count: u32,
    batch: &Batch,
) -> Result<StepOutcome, HandleError> {
    match queue {
        QueueName::Changes => engine.transform_change(body, receive_count, batch).await.map(StepOutcome::Transform),
        QueueName::Writes => engine.write_command(body, receive_count, batch).await.map(StepOutcome::Write),
    }
}

/// Sends the write commands the batch's transforms produced. A failure to send
/// counts as every command unsent, for a reason no message of the batch knows
/// (`Flushed::must_retry` is then true for all). `Err` when the handler crashed.
pub async fn flush(engine: &Engine, queue: QueueName, batch: &Batch) -> Result<Flushed, Crashed> {
    match engine.flush_each(batch).await {
        Ok(flushed) => Ok(flushed),
        Err(HandleError::Crashed(c)) => Err(c),
        Err(e) => {
            warn!(queue = queue.as_str(), "writing the batch's outcomes failed: {e}");
            let error = match e {
                HandleError::Retry { error, .. } => PortError::new(error.category, error.message),
                other => PortError::new(other.category(), other.to_string()),
            };
            Ok(Flushed { sent: 0, unsent: vec![(None, error)] })
        }
    }
}

/// A handled message whose write command did not reach the queue is retried (a command
/// that did reach it dedupes when sent again), after a backoff.
pub fn unless_unsent<T>(result: Result<T, HandleError>, flushed: &Flushed, message_id: &str) -> Result<T, HandleError> {
    let unsent = flushed.unsent.iter().find(|(origin, _)| origin.as_deref().is_none_or(|o| o == message_id));
    match (result, unsent) {
        (Ok(_), Some((_, e))) => Err(HandleError::Retry {
            error: PortError::new(e.category, format!("sending the batch's write commands: {}", e.message)),
            after: None,
        }),
        (result, _) => result,
    }
}

/// How an acknowledgement reaches the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckBy {
    /// Deleting the message through the queue (the embedded runner).
    Queue,
    /// Leaving it out of the batch's failures (Lambda deletes the others).
    Response,
}

/// One received message, as settling it needs.
#[derive(Debug, Clone, Copy)]
pub struct Received<'a> {
    pub queue: QueueName,
    pub message_id: &'a str,
    /// Empty when the delivery carried none (then the message is not released, and
    /// returns after the visibility timeout).
    pub receipt: &'a str,
    /// The body as delivered (a claim check, not opened), to park it.
    pub body: Option<&'a str>,
    pub receive_count: u32,
}

/// Carries out `settle` for `message` through the engine's queue. Returns whether the
/// message is done (acknowledged or parked); otherwise it comes back, and a Lambda
/// reports it failed. Releasing is best effort: without it the message still returns
/// after the visibility timeout.
pub async fn carry_out(engine: &Engine, message: Received<'_>, settle: Settle, ack: AckBy) -> bool {
    match settle {
        Settle::Ack => acknowledge(engine, message, ack).await,
        Settle::RetryAfter(delay) => release(engine, message, delay).await,
        Settle::DeadLetter => release(engine, message, Duration::ZERO).await,
        Settle::Park => {
            let parked = match message.body {
                Some(body) => engine.park_unhandled(message.queue, body, message.receive_count).await,
                None => Err(PortError::new(ferry_domain::ErrorCategory::BadMessage, "the message has no body")),
            };
            match parked {
                Ok(()) => acknowledge(engine, message, ack).await,
                Err(e) => {
                    warn!(queue = message.queue.as_str(), message_id = %message.message_id, "parking a message on its last delivery failed: {e}");
                    release(engine, message, Duration::ZERO).await
                }
            }
        }
        Settle::Abandon => false,
    }
}

async fn acknowledge(engine: &Engine, message: Received<'_>, ack: AckBy) -> bool {
    if ack == AckBy::Queue {
        if let Err(e) = engine.queue().ack(message.queue, message.receipt).await {
            // Not deleted: it returns after the visibility timeout and is handled again.
            error!(queue = message.queue.as_str(), message_id = %message.message_id, "acknowledging the message: {e}");
        }
    }
    true
}

async fn release(engine: &Engine, message: Received<'_>, delay: Duration) -> bool {
    if message.receipt.is_empty() {
        return false;
    }
    if let Err(e) = engine.queue().release(message.queue, message.receipt, delay).await {
        warn!(
            queue = message.queue.as_str(),
            message_id = %message.message_id,
            "could not change the message's visibility (it returns after the visibility timeout): {e}"
        );
    }
    false
}

/// Logs why a message was not done: a retry with its delay, an unusable message, a crash.
pub fn log_failure(message: Received<'_>, error: &HandleError, settle: Settle) {
    let (queue, message_id, attempt) = (message.queue.as_str(), message.message_id, message.receive_count);
    match (error, settle) {
        (HandleError::Retry { error, .. }, Settle::RetryAfter(delay)) => {
            warn!(queue, message_id, attempt, delay_ms = delay.as_millis() as u64, "will retry: {error}")
        }
        (HandleError::BadMessage(msg), _) => {
            error!(queue, message_id, attempt, "bad message (dead-lettered after the queue's receive limit): {msg}")
        }
        (error, _) => warn!(queue, message_id, attempt, "{error}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_domain::ErrorCategory;

    fn flushed(unsent: &[Option<&str>]) -> Flushed {
        Flushed {
            sent: 0,
            unsent: unsent
                .iter()
                .map(|o| (o.map(String::from), PortError::new(ErrorCategory::Network, "queue unreachable")))
                .collect(),
        }
    }

    #[test]
    fn a_handled_message_whose_command_was_not_sent_is_retried_after_a_backoff() {
        // (behaviour, unsent origins, message, retried?)
        let table: [(&str, &[Option<&str>], &str, bool); 4] = [
            ("everything sent", &[], "m1", false),
            ("its own command unsent", &[Some("m1")], "m1", true),
            ("another message's command unsent", &[Some("m2")], "m1", false),
            ("the send failed for the whole batch", &[None], "m1", true),
        ];
        for (behaviour, unsent, id, retried) in table {
            match unless_unsent(Ok::<_, HandleError>(()), &flushed(unsent), id) {
                Ok(()) => assert!(!retried, "{behaviour}"),
                Err(HandleError::Retry { error, after }) => {
                    assert!(retried, "{behaviour}");
                    assert_eq!(after, None, "{behaviour}: a backoff, not a server's wait");
                    assert!(error.message.starts_with("sending the batch's write commands: "), "{behaviour}");
                }
                Err(e) => panic!("{behaviour}: {e}"),
            }
        }
        let bad = unless_unsent(Err::<(), _>(HandleError::BadMessage("x".into())), &flushed(&[None]), "m1");
        assert!(matches!(bad, Err(HandleError::BadMessage(_))), "a failed message keeps its own failure");
    }
}
