//! Sending what a poll or a handler batch produced, message by message: a message the
//! queue never takes (it reports the message's own fault) is parked as a failure with
//! its snapshot, so it neither holds back its batch-mates nor is retried forever; one
//! the queue may take later fails only the received message it came from.

use crate::batch::Batch;
use crate::crash::CrashPoint;
use crate::engine::Engine;
use crate::error::HandleError;
use crate::failures::{command_event, Parkable};
use crate::outcome::TransformOutcome;
use ferry_domain::ports::{OutMessage, QueueName};
use ferry_domain::{ChangeEvent, ErrorCategory, PortError, WriteCommand};
use tracing::warn;

/// What [`Engine::flush_each`] sent.
#[derive(Debug, Default)]
pub struct Flushed {
    pub sent: usize,
    /// Commands to send again, by the received message they came from (`None`: not
    /// known, so every message of the batch must be retried).
    pub unsent: Vec<(Option<String>, PortError)>,
}

impl Flushed {
    /// Whether the received message `origin` must be retried.
    pub fn must_retry(&self, origin: &str) -> bool {
        self.unsent.iter().any(|(o, _)| o.as_deref().is_none_or(|o| o == origin))
    }
}

/// Whether the queue refused a message for what it is (its content, its size), so that
/// sending it again can never succeed. Anything else (a passing fault, a missing
/// permission) is not the message's doing: it is sent again later.
fn never_taken(e: &PortError) -> bool {
    matches!(e.category, ErrorCategory::BadMessage | ErrorCategory::InvalidRequest)
}

/// A copy of a port error for a second owner (its source is not kept).
fn copied(e: &PortError) -> PortError {
    PortError::new(e.category, e.message.clone()).with_retry_after(e.retry_after)
}

impl Engine {
    /// Sends `messages` (a poll's change events); each the queue rejects for good is
    /// parked. Fails on the first one it did not take for another reason (the poll then
    /// keeps its watermark, and the next one sends it again).
    pub(crate) async fn send_or_park(&self, queue: QueueName, messages: &[OutMessage]) -> Result<usize, PortError> {
        let results = self.queue.send_each(queue, messages).await?;
        let batch = Batch::default();
        let mut retry = None;
        let mut sent = 0;
        for (m, result) in messages.iter().zip(results) {
            match result {
                None => sent += 1,
                Some(e) if never_taken(&e) => self.park_unsendable(queue, &m.body, e, &batch).await?,
                Some(e) => retry = retry.or(Some(e)),
            }
        }
        self.flush_counters(&batch).await;
        match retry {
            Some(e) => Err(e),
            None => Ok(sent),
        }
    }

    /// Ends a handler batch ([`Engine::flush_each`]); fails when any command must be
    /// sent again. The change events the commands came from may be acknowledged only
    /// after this succeeded.
    pub async fn flush(&self, batch: &Batch) -> Result<usize, HandleError> {
        let flushed = self.flush_each(batch).await?;
        match flushed.unsent.into_iter().next() {
            Some((_, e)) => Err(HandleError::retry(e)),
            None => Ok(flushed.sent),
        }
    }

    /// Ends a handler batch: sends the write commands its transforms produced, in their
    /// order, in as few queue calls as `send_batch` allows, parks each the queue never
    /// takes, then writes its counters. The received messages named in `unsent` must be
    /// retried; the others may be acknowledged.
    pub async fn flush_each(&self, batch: &Batch) -> Result<Flushed, HandleError> {
        let outbox = batch.take();
        let mut flushed = Flushed::default();
        for chunk in outbox.chunks(self.settings.send_batch.max(1)) {
            let messages: Vec<OutMessage> = chunk.iter().map(|(_, m)| m.clone()).collect();
            let results = match self.queue.send_each(QueueName::Writes, &messages).await {
                Ok(r) => r,
                Err(e) => messages.iter().map(|_| Some(copied(&e))).collect(),
            };
            for ((origin, m), result) in chunk.iter().zip(results) {
                let error = match result {
                    None => {
                        flushed.sent += 1;
                        continue;
                    }
                    Some(e) if never_taken(&e) => {
                        match self.park_unsendable(QueueName::Writes, &m.body, e, batch).await {
                            Ok(()) => continue,
                            Err(e) => e,
                        }
                    }
                    Some(e) => e,
                };
                flushed.unsent.push((origin.clone(), error));
            }
        }
        if !outbox.is_empty() {
            self.crash_point(CrashPoint::TransformAfterEnqueue)?;
        }
        self.flush_counters(batch).await;
        Ok(flushed)
    }

    /// Parks the event a message the queue will never take stands for (its body is a
    /// change event on `changes`, a write command on `writes`).
    async fn park_unsendable(
        &self,
        queue: QueueName,
        body: &str,
        error: PortError,
        batch: &Batch,
    ) -> Result<(), PortError> {
        warn!(queue = queue.as_str(), "the queue does not take a message; parking its event: {error}");
        let cause = PortError::new(
            ErrorCategory::BadMessage,
            format!("the {} queue does not take this message: {}", queue.as_str(), error.message),
        );
        self.park_body(queue, body, cause, 1, batch).await
    }

    /// Parks a received message this handler will not get to before its deadline, on
    /// its last delivery: the next one would go to the dead-letter queue unrecorded.
    /// `body` is the message as delivered (a claim check is opened here).
    pub async fn park_unhandled(&self, queue: QueueName, body: &str, receive_count: u32) -> Result<(), PortError> {
        let body = self.queue.open_body(queue, body).await?;
        let cause = PortError::new(
            ErrorCategory::Network,
            format!(
                "not handled before the function's deadline on delivery {receive_count}, the last before the \
                 dead-letter queue; `ferry failures retry` replays it"
            ),
        );
        let batch = Batch::default();
        self.park_body(queue, &body, cause, receive_count, &batch).await?;
        self.flush_counters(&batch).await;
        Ok(())
    }

    async fn park_body(
        &self,
        queue: QueueName,
        body: &str,
        cause: PortError,
        attempts: u32,
        batch: &Batch,
    ) -> Result<(), PortError> {
        let unreadable = |e: serde_json::Error| {
            PortError::new(
                ErrorCategory::BadMessage,
                format!("a message of the {} queue is unreadable: {e}", queue.as_str()),
            )
        };
        let (event, command) = match queue {
            QueueName::Changes => (serde_json::from_str::<ChangeEvent>(body).map_err(unreadable)?, None),
            QueueName::Writes => {
                let c = serde_json::from_str::<WriteCommand>(body).map_err(unreadable)?;
                (command_event(&c), Some(c))
            }
        };
        let parked: Result<TransformOutcome, Parkable> = Err(Parkable::Permanent(cause, None));
        match self.settle(&event, command.as_ref(), parked, attempts, batch).await {
            Ok(_) => Ok(()),
            Err(HandleError::Retry { error, .. }) => Err(error),
            Err(other) => Err(PortError::new(other.category(), other.to_string())),
        }
    }
}
