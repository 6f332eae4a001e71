//! The response shapes the collaboration methods read (Jira v3 spec: `PageOfComments`,
//! `Comment`, `EntityProperty`, `Attachment`, `IssueLink`, the issue's `parent`), and the
//! few conversions they share.

use ferry_domain::ports::PortResult;
use ferry_domain::{PortError, UserRef};
use serde::de::{self, Deserializer};
use serde::Deserialize;
use serde_json::Value;
use std::fmt;

/// A response Ferry cannot use, naming the request.
pub(super) fn bad_response(what: &str, detail: impl fmt::Display) -> PortError {
    super::errors::bad_response(what, detail)
}

/// A Jira timestamp (`2026-11-26T19:24:50.123+0100`); a missing or unreadable one is a
/// bad response naming `what`.
pub(super) fn time(s: &str, what: &str, field: &str) -> PortResult<chrono::DateTime<chrono::Utc>> {
    super::time::parse_time_str(s).ok_or_else(|| bad_response(what, format!("`{field}` {s:?} is not a time")))
}

/// An id: a string in the spec; a number is read as its decimal text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Id(pub String);

impl<'de> Deserialize<'de> for Id {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl de::Visitor<'_> for V {
            type Value = Id;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an id (a string or a number)")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Id, E> {
                Ok(Id(s.to_string()))
            }
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<Id, E> {
                Ok(Id(n.to_string()))
            }
            fn visit_i64<E: de::Error>(self, n: i64) -> Result<Id, E> {
                Ok(Id(n.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

/// `UserDetails` of a comment or attachment author.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct User {
    #[serde(default)]
    pub account_id: Option<String>,
    #[serde(default)]
    pub display_name: Option<String>,
    /// Hidden (absent or null) under the user's privacy settings.
    #[serde(default)]
    pub email_address: Option<String>,
}

impl User {
    /// The user as Ferry knows users; `None` without an account id.
    pub fn to_ref(&self) -> Option<UserRef> {
        Some(UserRef {
            id: self.account_id.clone()?,
            email: self.email_address.clone().filter(|e| !e.is_empty()),
            display_name: self.display_name.clone(),
        })
    }
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
