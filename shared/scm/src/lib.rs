//! Source-control systems (the SCM class; Git first): a local mirror fetched with
//! gitoxide, the commit-graph position of a repository (its branch tips), the work items
//! a commit message names and the statuses its keywords move them to, the sync that
//! links and comments each new commit on them, and when `ferry run` polls.
//!
//! Only the poll of a source-control integration links this crate: the transform and
//! write functions of work-item integrations never see Git.

pub mod checkpoint;
mod error;
pub mod git;
pub mod keywords;
pub mod lease;
pub mod mentions;
pub mod render;
pub mod schedule;
pub mod start;
pub mod sync;
pub mod tips;

pub use error::ScmError;
pub use git::{CommitInfo, GitRemote, Mirror};
pub use mentions::KeyPattern;
pub use start::Start;
pub use sync::{Activation, CommitSync, PollReport, SyncError, Target, COMMIT_FLOW};
pub use tips::{branch_matches, plan, select, Tips, WalkPlan};
