//! ferry-store: adapters for the [`ConfigStore`](ferry_domain::ports::ConfigStore),
//! [`StateStore`](ferry_domain::ports::StateStore) and [`Queue`](ferry_domain::ports::Queue)
//! ports.
//!
//! - [`sqlite`]: one SQLite file holding configs, sync state and a durable FIFO queue
//!   (the local runtime).
//! - [`aws`]: DynamoDB (configs and sync state), SQS FIFO queues and EventBridge
//!   Scheduler (the AWS runtime).
//! - `contract` (feature `contract`, on for this crate's tests only): the behaviour
//!   every backend must show, written against the traits only, so the same suite runs
//!   against SQLite and DynamoDB/SQS.

pub mod aws;
#[cfg(feature = "contract")]
pub mod commit_link_contract;
#[cfg(feature = "contract")]
pub mod contract;
#[cfg(feature = "contract")]
pub mod rate_limit_contract;
pub mod sqlite;
#[cfg(feature = "contract")]
pub mod webhook_contract;

use std::time::Duration;

/// The `Conflict` of a create intent that another attempt claimed (`stored`: the
/// intent the store holds now), the same on every store.
pub(crate) fn create_claimed(what: &str, stored: Option<chrono::DateTime<chrono::Utc>>) -> ferry_domain::PortError {
    let now = stored.map_or("none".to_string(), |t| t.to_rfc3339());
    ferry_domain::PortError::new(
        ferry_domain::ErrorCategory::Conflict,
        format!("{what}: another attempt claimed this create meanwhile (the stored intent is {now}); read it again"),
    )
}

/// A create claimed for an entity that is linked: an attempt that read the entity
/// unlinked (before another attempt's create linked it) must not create a second twin.
pub(crate) fn create_linked(what: &str) -> ferry_domain::PortError {
    ferry_domain::PortError::new(
        ferry_domain::ErrorCategory::Conflict,
        format!("{what}: the entity was linked meanwhile (another attempt created or adopted its twin); read it again"),
    )
}

/// How a queue backend dead-letters and deduplicates (SQS FIFO semantics).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueSettings {
    /// A message already received this many times is moved to the dead-letter queue on
    /// its next receive instead of being delivered (SQS `maxReceiveCount`). At least 1.
    pub max_receives: u32,
    /// A second send with the same dedup id within this window after the first one is
    /// accepted and dropped (SQS FIFO: 5 minutes).
    pub dedup_window: Duration,
}

impl Default for QueueSettings {
    fn default() -> Self {
        Self { max_receives: 5, dedup_window: Duration::from_secs(300) }
    }
}
