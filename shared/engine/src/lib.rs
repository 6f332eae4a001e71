//! Ferry's use cases, generic over the ports: apply, activate, deactivate, poll,
//! transform, write, retry and status. Both runtimes (the embedded local runner and
//! the Lambda functions) call these and nothing else.

mod adopt;
mod attempts;
mod backfill;
mod batch;
mod cache;
mod crash;
mod create;
mod engine;
mod error;
mod failures;
mod fingerprints;
mod foreign;
mod history;
mod lifecycle;
mod link;
mod missing;
mod outbox;
mod outcome;
mod poll;
mod stale;
mod status;
#[cfg(test)]
mod testkit;
mod transform;
mod update_plan;
mod watermark;
mod write;

pub use attempts::{attempts_note, effective_attempts, last_attempt};
pub use batch::Batch;
pub use crash::{CrashInjector, CrashPoint, Crashed};
pub use engine::{Engine, EngineSettings};
pub use error::{EngineError, HandleError};
pub use ferry_mapping::SkipReason;
pub use lifecycle::{ActivationReport, ApplyReport, StartPoint};
pub use outbox::Flushed;
pub use outcome::{Skip, TransformOutcome, WriteOutcome};
pub use poll::PollReport;
pub use status::{FlowStatus, IntegrationStatus};
pub use watermark::budget_before_deadline;
