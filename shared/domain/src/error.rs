//! Errors that cross a port, classified once at the boundary.

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Why something failed, in the words a failure record and `ferry status` use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCategory {
    Auth,
    Permission,
    NotFound,
    MappingValueMissing,
    UserNotFound,
    TransitionNotReachable,
    RequiredFieldMissing,
    /// The target rejected the values (400 / 422 with field errors).
    InvalidRequest,
    /// Stale revision (ADO 412, Jira 409).
    Conflict,
    /// A field changed on both sides since the last sync and its conflict policy is
    /// `flag`: a person decides (`ferry failures retry ID --winner left|right`).
    FieldConflict,
    /// The linked twin of an entity was deleted in its system and the integration's
    /// `on_target_deleted` policy is `park`: a person decides (restore it, or change
    /// the policy, then `ferry failures retry`).
    TargetDeleted,
    RateLimited,
    Network,
    Server,
    BadResponse,
    BadMessage,
    Config,
    Store,
}

impl ErrorCategory {
    /// Transient categories are retried with backoff; the rest are parked at once.
    pub fn is_retryable(self) -> bool {
        matches!(
            self,
            ErrorCategory::RateLimited
                | ErrorCategory::Network
                | ErrorCategory::Server
                | ErrorCategory::Conflict
                | ErrorCategory::Store
        )
    }
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCategory::Auth => "auth",
            ErrorCategory::Permission => "permission",
            ErrorCategory::NotFound => "not_found",
            ErrorCategory::MappingValueMissing => "mapping_value_missing",
            ErrorCategory::UserNotFound => "user_not_found",
            ErrorCategory::TransitionNotReachable => "transition_not_reachable",
            ErrorCategory::RequiredFieldMissing => "required_field_missing",
            ErrorCategory::InvalidRequest => "invalid_request",
            ErrorCategory::Conflict => "conflict",
            ErrorCategory::FieldConflict => "field_conflict",
            ErrorCategory::TargetDeleted => "target_deleted",
            ErrorCategory::RateLimited => "rate_limited",
            ErrorCategory::Network => "network",
            ErrorCategory::Server => "server",
            ErrorCategory::BadResponse => "bad_response",
            ErrorCategory::BadMessage => "bad_message",
            ErrorCategory::Config => "config",
            ErrorCategory::Store => "store",
        }
    }
}

impl std::fmt::Display for ErrorCategory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error from a connector or a store. The message must never contain a secret.
#[derive(Debug, thiserror::Error)]
#[error("{category}: {message}")]
pub struct PortError {
    pub category: ErrorCategory,
    pub message: String,
    /// Server-requested wait (`Retry-After`), when given.
    pub retry_after: Option<Duration>,
    /// The system did not apply the request, for certain: every attempt was refused with
    /// an answer (a 4xx status) or never reached it (no connection). A failed create that
    /// says so created nothing; one that does not (a timeout, a 5xx, a reset after
    /// sending, a later step of a create) may have.
    pub nothing_applied: bool,
    #[source]
    pub source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

impl PortError {
    pub fn new(category: ErrorCategory, message: impl Into<String>) -> Self {
        Self { category, message: message.into(), retry_after: None, nothing_applied: false, source: None }
    }
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Box::new(source));
        self
    }
    pub fn with_retry_after(mut self, d: Option<Duration>) -> Self {
        self.retry_after = d;
        self
    }
    /// Marks whether the system certainly did not apply the request (see `nothing_applied`).
    pub fn with_nothing_applied(mut self, nothing_applied: bool) -> Self {
        self.nothing_applied = nothing_applied;
        self
    }
    /// The error of a step after the system applied an earlier request (a create's
    /// follow-up): whatever this step's answer was, something was applied.
    pub fn after_applied(self) -> Self {
        self.with_nothing_applied(false)
    }
    pub fn is_retryable(&self) -> bool {
        self.category.is_retryable()
    }
    pub fn store(message: impl Into<String>) -> Self {
        Self::new(ErrorCategory::Store, message)
    }
}
