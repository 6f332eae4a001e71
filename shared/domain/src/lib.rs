//! Ferry's domain: the model every other crate speaks.
//!
//! Nothing here performs I/O. Vendor shapes (Jira ADF, ADO json-patch, DynamoDB
//! attribute values) never appear in this crate: connectors and stores translate at
//! their edge into these types.

pub mod activity;
pub mod backfill;
pub mod backoff;
pub mod changes;
pub mod collab;
pub mod error;
pub mod failure_counts;
pub mod failure_listing;
pub mod filter_scope;
pub mod html;
pub mod ids;
pub mod integration;
pub mod limit_meaning;
pub mod message;
pub mod model;
pub mod names;
pub mod overview;
pub mod ports;
pub mod rate_limit;
pub mod scm;
pub mod value_map;
pub mod webhook;

pub use activity::{Activity, ActivityKind, FlowPace, PaceBucket, PaceWindow};
pub use backfill::{Ambiguous, BackfillPlan, BackfillRecord, Followed, PairBy, PlannedItem};
pub use backoff::Backoff;
pub use changes::{ChangePage, ChangeQuery, ReadToken};
pub use collab::{
    is_symmetric_link_type, Attachment, AttachmentPair, ByteSink, ByteSource, Capabilities, CollabState, Comment,
    CommentPair, CommentWrite, CopyIntent, KindAbilities, Relation, RelationIntent, REDMINE_RELATIONS,
};
pub use error::{ErrorCategory, PortError};
pub use failure_counts::FailureCount;
pub use failure_listing::{ListedFailure, UnreadableFailure};
pub use ids::*;
pub use integration::*;
pub use message::*;
pub use model::*;
pub use names::{EnumNames, Named};
pub use overview::StateOverview;
pub use rate_limit::{Grant, LimitSignal, RateLimit, RateLimitSetting};
pub use scm::{
    CommitIntegration, CommitLinkRecord, CommitTarget, CommitTransition, OnCommit, ScmKind, ScmSystem, COMMIT_FLOW,
    DEFAULT_COMMIT_POLL_SECS,
};
