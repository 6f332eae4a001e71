//! Ferry's use cases, generic over the ports: apply, activate, deactivate, poll,
//! transform, write, retry and status. Both runtimes (the embedded local runner and
//! the Lambda functions) call these and nothing else.
//!
//! One module per use case, and one per rule a use case applies:
//! - `lifecycle.rs`: apply, activate, deactivate; `status.rs`: `ferry status`;
//!   `commit_links.rs`: the same for commit integrations (their polls are in ferry-scm).
//! - `poll.rs`: one direction's changes onto the changes queue; `watermark.rs`: where a
//!   read starts, which entities of a page are new, when the watermark advances.
//! - `transform.rs`: a change event through the mapping to a write command.
//! - `write.rs`: a write command to the target, in steps: `adopt.rs` (an unlinked twin),
//!   `create.rs` (the create intent), `update_plan.rs` (the three-way comparison and
//!   conflict policy), `link.rs` (linking a new pair; `backfill.rs`: the target's
//!   defaults copied back), `fingerprints.rs` (what a write records of both sides).
//! - `stale.rs`: when a snapshot must not be applied; `foreign.rs` / `history.rs`: whether
//!   the revision Ferry recorded holds someone else's edit (not an echo).
//! - `preview.rs`: `ferry preview`, the poll, transform and write's planning without
//!   their writes.
//! - `failures.rs`: retry later or park, a change waiting behind a parked one, and the
//!   operator's retry and discard; `attempts.rs`: which delivery is the last.
//! - `batch.rs`: a handler batch's state read ahead; `outbox.rs`: sending what it produced.
//! - `pairing.rs`: `activate --since`'s plan and the pairs it links; `backfill_record.rs`:
//!   the accepted plan stored, started and resumed; `backfill_progress.rs`: how far it is.

mod activity;
mod adopt;
mod attempts;
mod backfill;
mod backfill_progress;
mod backfill_record;
mod batch;
mod cache;
pub mod collab;
mod commit_links;
mod crash;
mod create;
mod decode;
mod engine;
mod error;
mod failures;
mod fingerprints;
mod foreign;
mod history;
mod last_change;
mod lifecycle;
mod link;
mod missing;
mod outbox;
mod outcome;
mod pairing;
mod poll;
mod poll_request;
mod preview;
mod stale;
mod status;
mod target_deleted;
mod target_reads;
#[cfg(test)]
mod testkit;
mod transform;
mod update_plan;
mod watermark;
mod webhook;
mod write;

pub use activity::PACE_WINDOW_HOURS;
pub use attempts::{attempts_note, effective_attempts, last_attempt};
pub use backfill_progress::{BackfillCounts, BackfillProgress, WAITING_SHOWN};
pub use backfill_record::BackfillStarted;
pub use batch::Batch;
pub use commit_links::{plan_commit_apply, CommitApplyPlan, Stored};
pub use crash::{CrashInjector, CrashPoint, Crashed};
pub use engine::{Engine, EngineSettings};
pub use error::{EngineError, HandleError};
pub use failures::Discarded;
pub use ferry_mapping::SkipReason;
pub use lifecycle::{ActivationReport, ApplyReport, StartPoint};
pub use outbox::Flushed;
pub use outcome::{Skip, TransformOutcome, WriteOutcome};
pub use pairing::{Ambiguous, BackfillPlan, PairBy};
pub use poll::PollReport;
pub use preview::{FieldDiff, PreviewAction, PreviewConflict, PreviewEntity, PreviewSelect};
pub use status::{CommitLinkStatus, FlowStatus, IntegrationStatus, ReportedMention, StatusWithPace};
pub use watermark::budget_before_deadline;
pub use webhook::{HookAccepted, HookStatus};
