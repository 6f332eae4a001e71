use crate::crash::Crashed;
use ferry_domain::{ErrorCategory, PortError};
use std::time::Duration;

/// An error of a use case that the caller reports to the operator.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("integration {0:?} does not exist (apply a config that defines it)")]
    UnknownIntegration(String),
    #[error("system {0:?} does not exist (apply a config that defines it)")]
    UnknownSystem(String),
    #[error("integration {0:?} is active and cannot be edited: run `ferry deactivate {0}`, apply, then `ferry activate {0}` (watermarks are kept)")]
    ActiveIntegration(String),
    #[error(
        "system {system:?} is used by active integration {integration:?} and cannot be edited: deactivate it first"
    )]
    SystemInUse { system: String, integration: String },
    #[error("integration {integration:?}: the {flow} filter cannot be used: {message}")]
    InvalidFilter { integration: String, flow: ferry_domain::Flow, message: String },
    #[error(
        "integration id {0:?} is already a work-item integration or a commit link: ids are unique across both kinds"
    )]
    IdTaken(String),
    #[error("failure {0:?} does not exist")]
    UnknownFailure(String),
    #[error("{0}")]
    Port(#[from] PortError),
    #[error(transparent)]
    Crashed(#[from] Crashed),
}

/// The outcome of handling one queue message that did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum HandleError {
    /// Try the message again later (transient: network, rate limit, stale revision).
    #[error("retry later: {error}")]
    Retry { error: PortError, after: Option<Duration> },
    /// The message itself is unusable (corrupt JSON, unknown schema): it goes to the
    /// dead-letter queue, where `ferry failures list` shows it.
    #[error("bad message: {0}")]
    BadMessage(String),
    /// Fault injection: the handler stopped as if its process died. The message is
    /// neither acknowledged nor released; it returns after the visibility timeout.
    #[error(transparent)]
    Crashed(#[from] Crashed),
}

impl HandleError {
    pub fn retry(error: PortError) -> Self {
        let after = error.retry_after;
        HandleError::Retry { error, after }
    }
    pub fn category(&self) -> ErrorCategory {
        match self {
            HandleError::Retry { error, .. } => error.category,
            HandleError::BadMessage(_) => ErrorCategory::BadMessage,
            HandleError::Crashed(_) => ErrorCategory::Network,
        }
    }
}
