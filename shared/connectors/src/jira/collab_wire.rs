//! The response shapes the collaboration methods read (Jira v3 spec: `PageOfComments`,
//! `Comment`, `EntityProperty`, `Attachment`, `IssueLink`, the issue's `parent`), and the
//! few conversions they share.

use ferry_domain::ports::PortResult;
use serde::Deserialize;
use serde_json::Value;

pub(super) use super::errors::bad_response;
/// Ids and users read the same here as in the field reads.
pub(super) use super::wire::{Id, User};

/// A Jira timestamp (`2026-11-26T19:24:50.123+0100`); a missing or unreadable one is a
/// bad response naming `what`.
pub(super) fn time(s: &str, what: &str, field: &str) -> PortResult<chrono::DateTime<chrono::Utc>> {
    super::time::parse_time_str(s).ok_or_else(|| bad_response(what, format!("`{field}` {s:?} is not a time")))
}

// ---------------------------------------------------------------- comments

/// `PageOfComments` (`GET /issue/{id}/comment`).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct CommentPage {
    pub total: u64,
    pub comments: Vec<Comment>,
}

/// `Comment`.
#[derive(Debug, Deserialize)]
pub(super) struct Comment {
    pub id: Id,
    #[serde(default)]
    pub author: Option<User>,
    /// ADF.
    pub body: Value,
    pub created: String,
    pub updated: String,
    /// Present when the read expanded `properties`.
    #[serde(default)]
    pub properties: Option<Vec<Property>>,
}

/// `EntityProperty`.
#[derive(Debug, Deserialize)]
pub(super) struct Property {
    pub key: String,
    #[serde(default)]
    pub value: Value,
}

// ---------------------------------------------------------------- attachments

/// An issue read with `fields=attachment`.
#[derive(Debug, Deserialize)]
pub(super) struct IssueFiles {
    pub key: String,
    pub fields: FilesFields,
}

#[derive(Debug, Deserialize)]
pub(super) struct FilesFields {
    /// Absent when attachments are off on the site.
    #[serde(default)]
    pub attachment: Vec<Attachment>,
}

/// `Attachment` (upload answer, issue `attachment` field).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Attachment {
    pub id: Id,
    pub filename: String,
    pub size: u64,
    #[serde(default)]
    pub mime_type: Option<String>,
    #[serde(default)]
    pub author: Option<User>,
    pub created: String,
    /// The REST URL of its bytes.
    #[serde(default)]
    pub content: Option<String>,
}

// ---------------------------------------------------------------- parent and links

/// An issue read with `fields=parent,issuelinks`.
#[derive(Debug, Deserialize)]
pub(super) struct IssueRelations {
    pub key: String,
    pub fields: RelationFields,
}

#[derive(Debug, Deserialize)]
pub(super) struct RelationFields {
    /// Absent without a parent.
    #[serde(default)]
    pub parent: Option<IssueRef>,
    /// Absent when issue linking is off on the site.
    #[serde(default)]
    pub issuelinks: Vec<IssueLink>,
}

/// An issue as another issue refers to it.
#[derive(Debug, Clone, Deserialize)]
pub(super) struct IssueRef {
    pub id: Id,
    #[serde(default)]
    pub key: Option<String>,
}

impl IssueRef {
    /// Whether this is the issue `id_or_key` names.
    pub fn is(&self, id_or_key: &str) -> bool {
        self.id.0 == id_or_key || self.key.as_deref() == Some(id_or_key)
    }
}

/// `IssueLink` in an issue's `issuelinks`: the other issue is `outwardIssue` when this
/// one is the link's source (it shows the outward phrase, "blocks"), else `inwardIssue`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct IssueLink {
    pub id: Id,
    #[serde(rename = "type")]
    pub link_type: LinkType,
    #[serde(default)]
    pub inward_issue: Option<IssueRef>,
    #[serde(default)]
    pub outward_issue: Option<IssueRef>,
}

/// `IssueLinkType` (its `name`, e.g. `Blocks`).
#[derive(Debug, Deserialize)]
pub(super) struct LinkType {
    pub name: String,
}
