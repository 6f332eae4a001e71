//! The conversation and structure around a work item: comments, attachments, the
//! parent and issue links, as Ferry sees them in every system.
//!
//! Rich text is HTML here, as for field values, with two neutral forms a connector
//! translates at its edge:
//! - a mention is `<span data-ferry-mention="USER_ID">@Display Name</span>`, `USER_ID`
//!   being the person's id in the system the text was read from;
//! - an inline image is `<img src="ferry-attachment:ATTACHMENT_ID" alt="NAME">`,
//!   `ATTACHMENT_ID` being an attachment of the same entity in that system.
//!
//! The engine rewrites both for the other side (user mapping; the attachment copies) before
//! a connector writes the text.

use crate::ids::EntityId;
use crate::model::{Side, SystemKind, UserRef};
use crate::PortError;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The scheme of an inline image's `src` in neutral HTML.
pub const ATTACHMENT_SCHEME: &str = "ferry-attachment:";
/// The attribute that marks a mention in neutral HTML.
pub const MENTION_ATTRIBUTE: &str = "data-ferry-mention";
/// The URL fragment (`#ferry-origin=MARK`) that carries a copy's origin mark in its
/// attribution link, for systems that keep no mark of their own (the link survives every
/// rich-text conversion). A connector whose people can quote a copy into their own
/// comment drops it from their text, so a person's comment never reads as Ferry's.
pub const ORIGIN_FRAGMENT: &str = "ferry-origin=";

/// What a connector can do beyond fields; the config validator refuses a capability an
/// integration asks of a system that lacks it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Capabilities {
    pub comments: bool,
    pub comment_edits: bool,
    pub attachments: bool,
    pub hierarchy: bool,
    pub links: bool,
    pub deletions: bool,
}

/// What a kind of system can do beyond fields, known without asking a server: the config
/// validator refuses a collaboration key a paired kind cannot do, before anything runs.
/// A connector's [`Capabilities`] claim no less than its kind's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KindAbilities {
    pub capabilities: Capabilities,
    /// The largest file the system ever takes as an attachment, in bytes; `None` when
    /// each server sets its own (the upload's refusal then says so at run time).
    pub max_attachment: Option<u64>,
}

/// Redmine's relation types (`relation_type`), the only link types it has.
pub const REDMINE_RELATIONS: [&str; 9] =
    ["relates", "duplicates", "duplicated", "blocks", "blocked", "precedes", "follows", "copied_to", "copied_from"];

impl SystemKind {
    /// What this kind of system can do beyond fields.
    pub fn abilities(self) -> KindAbilities {
        let all = Capabilities {
            comments: true,
            comment_edits: true,
            attachments: true,
            hierarchy: true,
            links: true,
            deletions: true,
        };
        match self {
            // Jira Cloud: an administrator sets the attachment limit, at most 2 GB a file.
            SystemKind::Jira => KindAbilities { capabilities: all, max_attachment: Some(2 << 30) },
            // Azure DevOps: the organization's limit (130 MB simple uploads, more in chunks).
            SystemKind::AzureDevops => KindAbilities { capabilities: all, max_attachment: None },
            // Redmine: journals (notes), uploads (the server's attachment_max_size),
            // parent_issue_id, relations.
            SystemKind::Redmine => KindAbilities { capabilities: all, max_attachment: None },
        }
    }

    /// Why `name` cannot be a link type of this kind (`links:`), if it cannot.
    pub fn link_type_problem(self, name: &str) -> Option<String> {
        match self {
            // Issue link types are defined per site.
            SystemKind::Jira => None,
            SystemKind::AzureDevops => {
                if let Some(end) = ["-Forward", "-Reverse"].into_iter().find(|e| name.ends_with(e)) {
                    Some(format!("{name} names one end ({end}) of a link type; name the type without it"))
                } else if name == "System.LinkTypes.Hierarchy" {
                    Some("System.LinkTypes.Hierarchy is parent and child: use `hierarchy:`, not `links:`".into())
                } else {
                    None
                }
            }
            SystemKind::Redmine => (!REDMINE_RELATIONS.contains(&name))
                .then(|| format!("Redmine has no relation type {name:?}; it has {}", REDMINE_RELATIONS.join(", "))),
        }
    }
}

/// One comment of a work item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comment {
    /// The system's id of the comment (unique within the entity at least).
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<UserRef>,
    pub created: DateTime<Utc>,
    pub updated: DateTime<Utc>,
    /// Neutral HTML (see the module docs).
    pub body: String,
    /// Where the comment can be seen (a permalink), for the attribution line of a copy.
    #[serde(default)]
    pub url: String,
    /// The mark Ferry left on a comment it wrote ([`CommentWrite::origin`]), when the
    /// system keeps one (a Jira comment property; a marker the connector embeds
    /// elsewhere). `None`: a person's comment, or a system that keeps no mark.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
}

/// A comment Ferry writes.
#[derive(Debug, Clone, PartialEq)]
pub struct CommentWrite {
    /// Neutral HTML, already attributed ("Alice Jones wrote:") and rewritten for this side.
    pub body: String,
    /// A stable mark naming the source comment (integration, side, entity, comment id):
    /// kept with the comment where the system allows, so a retry after a crash finds the
    /// comment it made instead of posting it twice, and a poll knows Ferry's own comments.
    pub origin: String,
}

/// One attachment of a work item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    pub id: String,
    pub name: String,
    /// Bytes, as the system reports them.
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mime_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<UserRef>,
    pub created: DateTime<Utc>,
    /// Where a person downloads it (for the link written instead of a copy over `max_size`).
    #[serde(default)]
    pub url: String,
}

/// What ties a work item to another of the same system.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Relation {
    /// The entity's parent (Jira `parent`; ADO Hierarchy-Reverse; Redmine `parent_issue_id`).
    Parent { parent: EntityId },
    /// A typed link. `link_type` is the system's name of the type (Jira: the issue link
    /// type's name, e.g. `Blocks`; ADO: the reference name without its end, e.g.
    /// `System.LinkTypes.Dependency`; Redmine: the relation type, e.g. `blocks`);
    /// `outward` says which end this entity is (Jira outward issue; ADO `-Forward`).
    Link { link_type: String, outward: bool, other: EntityId },
}

/// Link types without a direction, per system: Jira's `Relates` ("relates to" both
/// ways), Azure DevOps' `System.LinkTypes.Related` (no `-Forward`/`-Reverse` end),
/// Redmine's `relates`. Either end of such a link is the same link.
pub const SYMMETRIC_LINK_TYPES: &[&str] = &["Relates", "System.LinkTypes.Related", "relates"];

/// Whether `link_type` (a system's name of it, any case) has no direction.
pub fn is_symmetric_link_type(link_type: &str) -> bool {
    SYMMETRIC_LINK_TYPES.iter().any(|s| s.eq_ignore_ascii_case(link_type))
}

/// A person's comment and Ferry's copy of it on the other side.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommentPair {
    /// The comment's id on the left side.
    pub left: String,
    pub right: String,
    /// The side the person wrote it on.
    pub original: Side,
    /// Digest ([`crate::text_digest`]) of the original's body when the copy was last written.
    pub digest: String,
}

impl CommentPair {
    pub fn id(&self, side: Side) -> &str {
        match side {
            Side::Left => &self.left,
            Side::Right => &self.right,
        }
    }
}

/// An attachment and Ferry's copy of it (or the link written instead of a copy).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttachmentPair {
    /// The side the person attached it on.
    pub original: Side,
    /// The attachment's id on that side.
    pub id: String,
    /// Its copy's id on the other side; `None` when it was over `max_size` and a link was
    /// written instead.
    pub copy: Option<String>,
}

/// A copy Ferry set out to upload, stored before the upload: a retry after a crash
/// between the upload and the store of its pair knows the file it finds on the target
/// (same name and size) is its own, even when the original is gone by then and nothing on
/// the source names it any more.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CopyIntent {
    /// The side the original is on.
    pub original: Side,
    /// The original's id on that side.
    pub id: String,
    pub name: String,
    pub size: u64,
}

/// A parent or link Ferry set out to write to a pair's target, stored before the write: a
/// crash between the write and the store of the pair's bases would otherwise leave a
/// relation on the target that no record explains, which the other direction takes for a
/// person's and copies back — after the person removed it from the source in between.
/// A link is held by both of its ends, so its intent is stored in the record of the pair
/// at its far end too, in that pair's terms.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RelationIntent {
    /// The side of the source entity whose relation is being written.
    pub source_side: Side,
    /// The relation as the source entity holds it.
    pub in_source_terms: Relation,
    /// The relation as the target entity holds it once written.
    pub in_target_terms: Relation,
}

/// What Ferry recorded of a linked pair's conversation and structure, stored per pair
/// (keyed by its left entity) and written on the condition of the version read.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct CollabState {
    #[serde(default)]
    pub comments: Vec<CommentPair>,
    #[serde(default)]
    pub attachments: Vec<AttachmentPair>,
    /// Copies being uploaded: their pairs are not stored yet.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub copying: Vec<CopyIntent>,
    /// Relations being written: the bases do not record them yet.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub relating: Vec<RelationIntent>,
    /// The left entity's synced relations as last written to the right, in the right's terms.
    #[serde(default)]
    pub relations_left: Vec<Relation>,
    /// The right entity's synced relations as last written to the left, in the left's terms.
    #[serde(default)]
    pub relations_right: Vec<Relation>,
}

/// Bytes of an attachment read a piece at a time: never a whole file in memory.
#[async_trait]
pub trait ByteSource: Send {
    /// The next piece, `None` at the end.
    async fn next_chunk(&mut self) -> Result<Option<Vec<u8>>, PortError>;
}

/// Where a download writes its bytes, a piece at a time.
#[async_trait]
pub trait ByteSink: Send {
    async fn write_chunk(&mut self, chunk: &[u8]) -> Result<(), PortError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relations_serialize_with_their_kind() {
        let r = Relation::Link { link_type: "Blocks".into(), outward: true, other: EntityId::new("APP-2") };
        let json = serde_json::to_string(&r).expect("serializes");
        assert_eq!(json, r#"{"kind":"link","link_type":"Blocks","outward":true,"other":"APP-2"}"#);
        assert_eq!(serde_json::from_str::<Relation>(&json).expect("parses"), r);
    }
}
