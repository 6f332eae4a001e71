//! HTTP simulators of Jira Cloud REST v3 and Azure DevOps REST 7.1.
//!
//! They serve on 127.0.0.1 (an ephemeral port) inside the caller's tokio runtime and
//! follow the official specs (copies in infra/contract/specs) on everything Ferry's connectors use,
//! including the quirks listed in docs/system-apis.md §5. Tests, the demo and the benchmarks drive
//! them as a person would: over REST, authenticated as a seeded user.

pub mod ado;
pub mod common;
pub mod hooks;
pub mod jira;
pub mod limits;
pub mod multipart;
pub mod webhooks;

pub use ado::{AdoSeed, AdoSim};
pub use common::{Exchange, Faults, Injected, RequestRecord, Revision, SimUser, TrafficLog, CONTRACT_DIR_VAR};
pub use hooks::{HookRequest, HookWhen, Hooks};
pub use jira::{JiraSeed, JiraSim};
pub use limits::{AdoRateLimit, JiraIssueWriteLimit, JiraQuota, JiraRateLimit};
pub use webhooks::{DeliveryFault, Sent};
