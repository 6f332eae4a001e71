//! Source-control systems and the integrations that show their commits on work items
//! (the SCM class of systems, next to the ALM class of Jira, Azure DevOps and Redmine).
//!
//! An ALM integration pairs entities of two systems; a commit integration has one source
//! (a repository) and one or more work-item targets: each new commit that names a target's
//! work item becomes a link and/or a comment on it.

use crate::ids::{IntegrationId, SystemId};
use crate::integration::{CaCert, SecretRef};
use crate::model::Flow;
use crate::names::named_enum;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The direction under which a commit integration's position (its watermark's branch
/// tips), lease, counters and failures are kept: source → targets.
pub const COMMIT_FLOW: Flow = Flow::LeftToRight;

/// Seconds between two polls of a commit integration unless its config says otherwise.
pub const DEFAULT_COMMIT_POLL_SECS: u64 = 60;

named_enum! {
    /// The kind of a source-control system.
    pub enum ScmKind("source-control kind") {
        /// A Git repository, fetched over git:// or smart HTTP(S).
        Git = "git",
    }
}

named_enum! {
    /// What a commit that names a work item puts on it.
    pub enum OnCommit("on_commit action") {
        /// A remote link (Jira) or Hyperlink (Azure DevOps) to the commit's web page.
        Link = "link",
        /// A comment with the commit's author, time, message and changed files.
        Comment = "comment",
    }
}

/// A source-control system: one repository.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScmSystem {
    pub id: SystemId,
    pub kind: ScmKind,
    /// `https://git.acme.test/app.git`; `git://` and `http://` only for loopback hosts
    /// with `allow_http_loopback`.
    pub base_url: String,
    /// Where the token lives (sent as the HTTP basic-auth password); `None`: anonymous.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<SecretRef>,
    /// A commit's web page, `{sha}` standing for its full id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub web_url: Option<String>,
    #[serde(default)]
    pub allow_http_loopback: bool,
    /// Extra CA certificates to trust for an https `base_url` (a server whose certificate
    /// a private CA signed), besides the usual roots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_cert: Option<CaCert>,
}

impl ScmSystem {
    /// The web page of commit `sha`, when the system has a `web_url`.
    pub fn commit_url(&self, sha: &str) -> Option<String> {
        self.web_url.as_ref().map(|t| t.replace("{sha}", sha))
    }
}

/// Where a commit integration writes: the work items of one project of an ALM system.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommitTarget {
    pub system: SystemId,
    pub project: String,
    /// A regular expression whose first capture group (or whole match) is a work item's
    /// id or key in that system.
    pub key_pattern: String,
}

/// Commits of a repository's branches shown on the work items they name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommitIntegration {
    pub id: IntegrationId,
    pub source: SystemId,
    /// Branch names or patterns (`*` for any run of characters): `main`, `release/*`.
    pub branches: Vec<String>,
    pub targets: Vec<CommitTarget>,
    pub on_commit: Vec<OnCommit>,
    /// Seconds between two polls by `ferry run`.
    #[serde(default = "default_poll_secs")]
    pub poll_interval_secs: u64,
    /// Keywords that move the work item a commit names to a status
    /// (`Fixes APP-12`: [`crate::scm::CommitTransition`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub transitions: Vec<CommitTransition>,
}

fn default_poll_secs() -> u64 {
    DEFAULT_COMMIT_POLL_SECS
}

/// A commit whose message puts `keyword` right before a work item's key (`Fixes APP-12`)
/// moves that item to the status given for its target system, once: when the commit
/// is first handled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommitTransition {
    /// A word, matched case-insensitively (`fixes`).
    pub keyword: String,
    /// Target system → the status (Jira) or State (Azure DevOps) to reach. A target
    /// system not named here is not moved by this keyword.
    pub to: BTreeMap<SystemId, String>,
}

/// A stored commit integration with its lifecycle state (as [`crate::IntegrationRecord`]
/// for work-item integrations).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommitLinkRecord {
    pub link: CommitIntegration,
    pub active: bool,
    /// Incremented on every change, for optimistic concurrency.
    pub version: u64,
    pub updated_at: DateTime<Utc>,
}

impl CommitIntegration {
    pub fn links(&self) -> bool {
        self.on_commit.contains(&OnCommit::Link)
    }
    pub fn comments(&self) -> bool {
        self.on_commit.contains(&OnCommit::Comment)
    }

    /// The statuses `system`'s items reach by keyword: (keyword, status).
    pub fn transitions_for(&self, system: &SystemId) -> Vec<(String, String)> {
        self.transitions.iter().filter_map(|t| t.to.get(system).map(|s| (t.keyword.clone(), s.clone()))).collect()
    }
}
