//! Composition root: builds the real adapters from settings (secrets, connectors,
//! stores) and the embedded runtime's local runner.

pub mod actor;
pub mod aws;
pub mod backfill;
#[cfg(feature = "scm")]
pub mod commits;
pub mod connectors;
pub mod embedded;
mod error;
mod handling;
pub mod hooks;
#[cfg(feature = "listener")]
pub mod listen;
pub mod logging;
mod refreshing;
pub mod runner;
pub mod secrets;
pub mod settle;
pub mod subscriptions;

pub use connectors::Connectors;
pub use embedded::Embedded;
pub use error::RuntimeError;
/// Bounds every rate-limit wait inside a handler by its invocation's deadline.
pub use ferry_connectors::governor::within_deadline;
pub use runner::{CycleReport, HandledEvent, Runner, RunnerSettings};
pub use secrets::{EnvSecrets, SecretSource, StaticSecrets};
