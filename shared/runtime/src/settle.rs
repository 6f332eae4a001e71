//! What becomes of a received queue message once its handler is done with it: the one
//! rule for the embedded runner ([`crate::runner`]) and the Lambda batch handler
//! ([`crate::aws::sqs_batch`]).
//!
//! | what happened to the message                           | settlement                               |
//! |--------------------------------------------------------|------------------------------------------|
//! | handled (a failure the engine parked counts as handled) | [`Settle::Ack`]                          |
//! | a transient failure                                     | [`Settle::RetryAfter`] the server's `Retry-After`, else the [`Backoff`] for its receive count; never longer than the cap |
//! | unusable (no body, corrupt JSON, unknown schema)        | [`Settle::DeadLetter`]: visible again at once, so the queue's receive limit moves it to the dead-letter queue without waiting out the visibility timeout each time |
//! | the handler crashed (fault injection)                  | [`Settle::Abandon`]: the batch acknowledges and releases nothing more |
//! | not started: too close to the invocation's deadline     | handed back at once ([`Settle::RetryAfter`] zero), or [`Settle::Park`] on its last delivery, which would otherwise reach the dead-letter queue unrecorded |
//! | not started: an earlier message of its FIFO group failed in this batch | handed back at once, to be handled after that one |
//!
//! A message that keeps failing transiently is parked by the engine itself on its last
//! attempt (`ferry_engine::last_attempt`, the earlier of the integration's `max_attempts`
//! and the queue's receive limit): the engine holds the failure's context for the
//! failure record. Here the receive limit matters only for a message never handled.

use ferry_domain::Backoff;
use ferry_engine::HandleError;
use std::time::Duration;

/// Longest delay Ferry asks of a queue before a message is retried: 15 minutes (SQS's
/// longest message delay). It bounds both the backoff and a server's `Retry-After`: a
/// longer rate-limit window is simply asked about again when the message returns.
pub const RETRY_CAP: Duration = Duration::from_secs(900);

/// What happened to one received message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The handler finished with it (including parking it as a failure).
    Handled,
    /// A transient failure; `after` is the wait the failing system asked for.
    Failed { after: Option<Duration> },
    /// The message itself cannot be handled, now or later.
    Unusable,
    /// Fault injection: the handler stopped as if its process died.
    Crashed,
    /// Not started: the invocation's deadline is too near.
    NotStarted,
    /// Not started: an earlier message of its FIFO group failed in this batch.
    Blocked,
}

impl Outcome {
    /// The outcome of a handler's result.
    pub fn of<T>(result: &Result<T, HandleError>) -> Self {
        match result {
            Ok(_) => Outcome::Handled,
            Err(HandleError::Retry { after, .. }) => Outcome::Failed { after: *after },
            Err(HandleError::BadMessage(_)) => Outcome::Unusable,
            Err(HandleError::Crashed(_)) => Outcome::Crashed,
        }
    }
}

/// The limits a settlement respects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The wait before a transient failure's retry when the system gave none; its cap
    /// bounds every delay asked of the queue.
    pub retry: Backoff,
    /// Deliveries before the queue moves a message to its dead-letter queue (`None`:
    /// the queue never does).
    pub max_receives: Option<u32>,
}

/// What to do with the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settle {
    /// Done: delete it from the queue.
    Ack,
    /// Make it visible again after the delay.
    RetryAfter(Duration),
    /// Make it visible again at once; the queue's receive limit moves it to the
    /// dead-letter queue.
    DeadLetter,
    /// Record it as a failure (`ferry failures list`) and delete it from the queue.
    Park,
    /// Neither acknowledge nor release: it returns after the visibility timeout, as
    /// after a process that died.
    Abandon,
}

/// The settlement of a message with `outcome` on delivery `receive_count` (1 on the
/// first). `jitter` (0 to 1) places a backoff between half its ceiling and the ceiling.
pub fn settle(outcome: Outcome, receive_count: u32, limits: &Limits, jitter: f64) -> Settle {
    match outcome {
        Outcome::Handled => Settle::Ack,
        Outcome::Failed { after } => {
            let wait = after.unwrap_or_else(|| limits.retry.delay(receive_count, jitter));
            Settle::RetryAfter(wait.min(limits.retry.cap))
        }
        Outcome::Unusable => Settle::DeadLetter,
        Outcome::Crashed => Settle::Abandon,
        Outcome::NotStarted if limits.max_receives.is_some_and(|max| receive_count >= max) => Settle::Park,
        Outcome::NotStarted | Outcome::Blocked => Settle::RetryAfter(Duration::ZERO),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_domain::{ErrorCategory, PortError};

    const S: fn(u64) -> Duration = Duration::from_secs;

    fn limits(max_receives: Option<u32>) -> Limits {
        Limits { retry: Backoff::new(S(2), RETRY_CAP), max_receives }
    }

    #[test]
    fn each_outcome_settles_by_one_rule() {
        use Outcome::*;
        let retry_after = |s| Failed { after: Some(S(s)) };
        // (behaviour, outcome, receive count, queue's receive limit, settlement); jitter 1,
        // so a backoff is its ceiling: 2 s × 2^receive count.
        let table = [
            ("a handled message is acknowledged", Handled, 1, Some(5), Settle::Ack),
            ("a handled message on its last delivery too", Handled, 5, Some(5), Settle::Ack),
            ("a transient failure waits out Retry-After", retry_after(7), 1, Some(5), Settle::RetryAfter(S(7))),
            ("a Retry-After beyond the cap is cut to it", retry_after(3600), 1, Some(5), Settle::RetryAfter(S(900))),
            ("without Retry-After it backs off", Failed { after: None }, 1, Some(5), Settle::RetryAfter(S(4))),
            ("the backoff doubles per delivery", Failed { after: None }, 3, Some(5), Settle::RetryAfter(S(16))),
            ("the backoff stops at the cap", Failed { after: None }, 12, None, Settle::RetryAfter(S(900))),
            ("an unusable message goes to the dead-letter queue", Unusable, 1, Some(5), Settle::DeadLetter),
            ("on its last delivery too (never parked)", Unusable, 5, Some(5), Settle::DeadLetter),
            ("a crash settles nothing", Crashed, 2, Some(5), Settle::Abandon),
            ("a message not started is handed back", NotStarted, 4, Some(5), Settle::RetryAfter(Duration::ZERO)),
            ("on its last delivery it is parked", NotStarted, 5, Some(5), Settle::Park),
            ("past the limit as well", NotStarted, 6, Some(5), Settle::Park),
            ("a queue without a limit never parks it", NotStarted, 50, None, Settle::RetryAfter(Duration::ZERO)),
            ("a blocked message is handed back", Blocked, 1, Some(5), Settle::RetryAfter(Duration::ZERO)),
            ("even on its last delivery", Blocked, 5, Some(5), Settle::RetryAfter(Duration::ZERO)),
        ];
        for (behaviour, outcome, count, max_receives, want) in table {
            assert_eq!(settle(outcome, count, &limits(max_receives), 1.0), want, "{behaviour}");
        }
    }

    #[test]
    fn a_backoff_is_jittered_within_the_upper_half_of_its_ceiling() {
        let failed = Outcome::Failed { after: None };
        assert_eq!(settle(failed, 2, &limits(None), 0.0), Settle::RetryAfter(S(4)));
        assert_eq!(settle(failed, 2, &limits(None), 0.5), Settle::RetryAfter(S(6)));
        let retry_after = Outcome::Failed { after: Some(S(3)) };
        assert_eq!(settle(retry_after, 2, &limits(None), 0.0), Settle::RetryAfter(S(3)), "Retry-After is exact");
    }

    #[test]
    fn a_handler_result_maps_to_its_outcome() {
        let transient = PortError::new(ErrorCategory::RateLimited, "429").with_retry_after(Some(S(9)));
        let table: [(Result<(), HandleError>, Outcome); 4] = [
            (Ok(()), Outcome::Handled),
            (Err(HandleError::retry(transient)), Outcome::Failed { after: Some(S(9)) }),
            (Err(HandleError::BadMessage("not JSON".into())), Outcome::Unusable),
            (Err(HandleError::Crashed(ferry_engine::Crashed(ferry_engine::CrashPoint::BatchMiddle))), Outcome::Crashed),
        ];
        for (result, want) in table {
            assert_eq!(Outcome::of(&result), want, "{result:?}");
        }
    }
}
