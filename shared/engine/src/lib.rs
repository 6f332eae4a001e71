//! Ferry's use cases, generic over the ports: apply, activate, deactivate, poll,
//! transform, write, retry and status. Both runtimes (the embedded local runner and
//! the Lambda functions) call these and nothing else.

mod adopt;
mod batch;
mod cache;
mod crash;
mod engine;
mod error;
mod foreign;
mod history;
mod lifecycle;
mod pipeline;
mod status;

pub use batch::Batch;
pub use crash::{CrashInjector, CrashPoint, Crashed};
pub use engine::{Engine, EngineSettings};
pub use error::{EngineError, HandleError};
pub use lifecycle::{ActivationReport, ApplyReport, StartPoint};
pub use pipeline::{PollReport, TransformOutcome, WriteOutcome};
pub use status::{FlowStatus, IntegrationStatus};
