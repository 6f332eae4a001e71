//! The conversation and structure around a pair of work items — comments, attachments,
//! inline images, mentions, the parent and issue links — as pure decisions: what a
//! write step changes on the target, given both sides as read and what Ferry recorded.
//! The write step does the I/O (see the connectors' collaboration calls in
//! `ferry_domain::ports::Connector`).

pub mod comments;
pub mod far_end;
mod leftovers;
pub mod markup;
pub mod peers;
pub mod relation_intents;
pub mod relations;
pub(crate) mod rich_text;
pub(crate) mod sync;
pub mod transfer;

pub use sync::CollabReport;
