//! Crash injection for fault-injection runs: at named step boundaries a handler can be
//! made to stop as if its process died there. Whatever it wrote before stays written,
//! nothing after happens, and the queue message is neither acknowledged nor released
//! (it comes back after the visibility timeout). Production engines have no injector.

use serde::Serialize;
use std::fmt;

/// The step boundaries where a crash leaves the most interesting half-done state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CrashPoint {
    /// Poll: between two send batches of one poll.
    PollBetweenSends,
    /// Poll: every change enqueued, the watermark (with its seen revisions) not yet saved.
    PollAfterEnqueue,
    /// Transform: the write command is enqueued, the change event not yet acknowledged.
    TransformAfterEnqueue,
    /// Write: the target entity was created or updated, the link and fingerprints not
    /// yet stored.
    WriteAfterTarget,
    /// Write: the link is stored, the back-links and fingerprints are not.
    WriteAfterLink,
    /// Runtimes: between two messages of one received batch.
    BatchMiddle,
    /// Write step 5: an attachment was copied to the target, the pair's collaboration
    /// record not yet stored.
    CollabAfterAttachment,
    /// Write step 5: a comment copy was posted, edited or deleted on the target, the
    /// pair's collaboration record not yet stored.
    CollabAfterComment,
    /// Write step 5: a relation was added to or removed from the target, the pair's
    /// collaboration record not yet stored.
    CollabAfterRelation,
}

impl CrashPoint {
    pub const ALL: [CrashPoint; 9] = [
        CrashPoint::PollBetweenSends,
        CrashPoint::PollAfterEnqueue,
        CrashPoint::TransformAfterEnqueue,
        CrashPoint::WriteAfterTarget,
        CrashPoint::WriteAfterLink,
        CrashPoint::BatchMiddle,
        CrashPoint::CollabAfterAttachment,
        CrashPoint::CollabAfterComment,
        CrashPoint::CollabAfterRelation,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            CrashPoint::PollBetweenSends => "poll_between_sends",
            CrashPoint::PollAfterEnqueue => "poll_after_enqueue",
            CrashPoint::TransformAfterEnqueue => "transform_after_enqueue",
            CrashPoint::WriteAfterTarget => "write_after_target",
            CrashPoint::WriteAfterLink => "write_after_link",
            CrashPoint::BatchMiddle => "batch_middle",
            CrashPoint::CollabAfterAttachment => "collab_after_attachment",
            CrashPoint::CollabAfterComment => "collab_after_comment",
            CrashPoint::CollabAfterRelation => "collab_after_relation",
        }
    }
}

impl fmt::Display for CrashPoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Decides, at each boundary a handler passes, whether it crashes there.
pub trait CrashInjector: Send + Sync {
    fn crash_at(&self, point: CrashPoint) -> bool;
}

/// The error of a handler that "died" at a crash point.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("injected crash at {0}")]
pub struct Crashed(pub CrashPoint);
