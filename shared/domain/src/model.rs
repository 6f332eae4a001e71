//! Work items as Ferry sees them, independent of any vendor's wire format.

use crate::ids::{EntityId, FieldKey};
use crate::names::named_enum;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

named_enum! {
    /// The kinds of system Ferry connects.
    pub enum SystemKind("system kind") {
        /// Jira Cloud.
        Jira = "jira",
        /// Azure DevOps Services.
        AzureDevops = "azure_devops",
        /// Redmine.
        Redmine = "redmine",
    }
}

/// One side of an integration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    Left,
    Right,
}

impl Side {
    pub fn other(self) -> Side {
        match self {
            Side::Left => Side::Right,
            Side::Right => Side::Left,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Left => "left",
            Side::Right => "right",
        }
    }
}

named_enum! {
    /// The direction one change travels: from its source side to the other side.
    pub enum Flow("flow") {
        /// From the left entity to the right one.
        LeftToRight = "left_to_right",
        /// From the right entity to the left one.
        RightToLeft = "right_to_left",
    }
}

impl Flow {
    pub const BOTH: [Flow; 2] = [Flow::LeftToRight, Flow::RightToLeft];
    pub fn source(self) -> Side {
        match self {
            Flow::LeftToRight => Side::Left,
            Flow::RightToLeft => Side::Right,
        }
    }
    pub fn target(self) -> Side {
        self.source().other()
    }
    pub fn reverse(self) -> Flow {
        match self {
            Flow::LeftToRight => Flow::RightToLeft,
            Flow::RightToLeft => Flow::LeftToRight,
        }
    }
    pub fn from_source(side: Side) -> Flow {
        match side {
            Side::Left => Flow::LeftToRight,
            Side::Right => Flow::RightToLeft,
        }
    }
}

/// A person in one system. `id` is the system's stable key (Jira accountId, ADO VSID);
/// `email` may be hidden by privacy settings.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct UserRef {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
}

/// A field value in Ferry's neutral form.
///
/// Rich text is always HTML here: the Jira connector converts ADF at its edge, so a
/// mapping never sees a vendor's document format.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "value", rename_all = "snake_case")]
pub enum FieldValue {
    Null,
    Text(String),
    /// Sanitised HTML.
    RichText(String),
    Number(f64),
    Bool(bool),
    DateTime(DateTime<Utc>),
    /// A look-up value (priority, status, select option) by its name.
    Option(String),
    /// Multi-valued strings (labels, tags).
    List(Vec<String>),
    User(UserRef),
}

/// Marks a fingerprint value that is a digest of a long text (see
/// [`FieldValue::fingerprint_form`]). Starts with NUL, which no system's text holds.
const DIGEST_PREFIX: &str = "\u{0}sha256:";
/// Texts longer than this (bytes) are kept in fingerprints as a digest.
pub const FINGERPRINT_TEXT_MAX: usize = 64;

impl FieldValue {
    /// The form a fingerprint keeps: a text or rich text longer than
    /// [`FINGERPRINT_TEXT_MAX`] becomes a digest of itself (same variant). Fingerprints
    /// are only compared, never written to a system, so a digest tells as much as the
    /// text, and a fingerprint stays small however long the description it covers.
    pub fn fingerprint_form(&self) -> FieldValue {
        match self {
            FieldValue::Text(s) if s.len() > FINGERPRINT_TEXT_MAX && !s.starts_with(DIGEST_PREFIX) => {
                FieldValue::Text(digest_form(s))
            }
            FieldValue::RichText(s) if s.len() > FINGERPRINT_TEXT_MAX && !s.starts_with(DIGEST_PREFIX) => {
                FieldValue::RichText(digest_form(s))
            }
            other => other.clone(),
        }
    }

    /// The digest of a fingerprint value kept as one, `None` for a whole value.
    pub fn fingerprint_digest(&self) -> Option<&str> {
        match self {
            FieldValue::Text(s) | FieldValue::RichText(s) => s.strip_prefix(DIGEST_PREFIX),
            _ => None,
        }
    }

    pub fn is_null(&self) -> bool {
        match self {
            FieldValue::Null => true,
            FieldValue::Text(s) | FieldValue::RichText(s) | FieldValue::Option(s) => s.is_empty(),
            FieldValue::List(v) => v.is_empty(),
            _ => false,
        }
    }

    /// The value as the string a value map or a comparison keys on.
    pub fn key_string(&self) -> Option<String> {
        match self {
            FieldValue::Null => None,
            FieldValue::Text(s) | FieldValue::RichText(s) | FieldValue::Option(s) => Some(s.clone()),
            FieldValue::Number(n) => Some(format_number(*n)),
            FieldValue::Bool(b) => Some(b.to_string()),
            FieldValue::DateTime(d) => Some(d.to_rfc3339()),
            FieldValue::List(v) => Some(v.join(";")),
            FieldValue::User(u) => u.email.clone().or_else(|| Some(u.id.clone())),
        }
    }
}

/// Formats integral numbers without a trailing `.0`, so `2.0` maps like `"2"`.
pub fn format_number(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        n.to_string()
    }
}

/// Where an entity lives: system project and entity type.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Scope {
    pub project: String,
    pub entity_type: String,
}

/// A full read of one entity at one revision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EntitySnapshot {
    pub id: EntityId,
    /// Human key (`APP-12`); equals the id where the system has none.
    pub key: String,
    /// Revision token: ADO `rev`, Jira the `updated` timestamp in milliseconds.
    pub revision: String,
    pub updated: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changed_by: Option<UserRef>,
    /// Browser URL of the entity.
    #[serde(default)]
    pub url: String,
    pub fields: BTreeMap<FieldKey, FieldValue>,
}

impl EntitySnapshot {
    pub fn field(&self, key: &FieldKey) -> Option<&FieldValue> {
        self.fields.get(key)
    }
}

/// What a write reports back about the entity it touched.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EntityRef {
    pub id: EntityId,
    pub key: String,
    pub url: String,
    /// Revision after the write (see [`EntitySnapshot::revision`]).
    pub revision: String,
    pub updated: DateTime<Utc>,
}

/// What an update answered: where the entity is now and, where the system's own
/// response told it, the entity as written and its history since the expected revision.
/// A part left `None` is read with [`crate::ports::Connector::get`] or
/// [`crate::ports::Connector::history`] when the writer needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct Updated {
    pub target: EntityRef,
    /// The entity at `target.revision`, with the fields the update was asked to return.
    pub read: Option<EntitySnapshot>,
    /// Its history after the expected revision through `target.revision`, oldest first
    /// (as [`crate::ports::Connector::history`] reports it); `None` without an expected
    /// revision.
    pub history: Option<Vec<HistoryEntry>>,
}

impl Updated {
    /// An update whose response told nothing beyond the entity's new revision.
    pub fn bare(target: EntityRef) -> Self {
        Self { target, read: None, history: None }
    }
}

/// One field to set on the target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldChange {
    pub field: FieldKey,
    pub value: FieldValue,
}

/// One change in an entity's history as the system records it: a Jira changelog entry,
/// an Azure DevOps work item update, a Redmine journal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryEntry {
    /// Who made the change; `None` when the history does not say.
    pub author: Option<UserRef>,
    /// The entity's creation (the first entry).
    pub created: bool,
    /// When the change was made; `None` when the history does not say.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<DateTime<Utc>>,
    /// The fields the change set, keyed as the caller asked for them, each with its new
    /// value where the history gives it in the form Ferry writes (`None`: it changed, to
    /// a value the history does not show comparably, e.g. a rich text).
    pub fields: Vec<(FieldKey, Option<FieldValue>)>,
}

/// A link to the peer entity, written as a Jira remote link or an ADO Hyperlink relation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoteLink {
    /// Stable id of the peer, used for idempotent upserts (`ferry:app-bugs:right:42`).
    pub global_id: String,
    pub url: String,
    pub title: String,
}

/// Metadata from discovery.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProjectInfo {
    pub id: String,
    pub key: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EntityTypeInfo {
    pub id: String,
    pub name: String,
    /// Workflow states of the type, when the system exposes them.
    #[serde(default)]
    pub states: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldType {
    Text,
    RichText,
    Number,
    Bool,
    DateTime,
    Option,
    List,
    User,
    Other,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldInfo {
    pub key: FieldKey,
    pub name: String,
    pub field_type: FieldType,
    pub required: bool,
    #[serde(default)]
    pub allowed_values: Vec<String>,
    /// The system refuses writes to it (Azure DevOps' `readOnly`; Jira: neither on the
    /// create screen nor the status, which moves by transitions).
    #[serde(default)]
    pub read_only: bool,
}

/// The digest [`FieldValue::fingerprint_form`] keeps of a text: 128 bits of SHA-256, hex.
pub fn text_digest(s: &str) -> String {
    use sha2::Digest;
    let d = sha2::Sha256::digest(s.as_bytes());
    d[..16].iter().map(|b| format!("{b:02x}")).collect()
}

fn digest_form(s: &str) -> String {
    format!("{DIGEST_PREFIX}{}", text_digest(s))
}

#[cfg(test)]
mod fingerprint_form_tests {
    use super::*;

    #[test]
    fn long_texts_become_digests_and_short_values_stay_whole() {
        let long = "x".repeat(FINGERPRINT_TEXT_MAX + 1);
        let d = FieldValue::RichText(long.clone()).fingerprint_form();
        assert!(matches!(&d, FieldValue::RichText(s) if s.len() < 50), "{d:?}");
        assert_eq!(d.fingerprint_digest(), Some(text_digest(&long).as_str()));
        assert_eq!(d.fingerprint_form(), d, "a digest is not digested again");
        let short = FieldValue::Text("x".repeat(FINGERPRINT_TEXT_MAX));
        assert_eq!(short.fingerprint_form(), short);
        assert_eq!(short.fingerprint_digest(), None);
        assert_eq!(FieldValue::Number(2.0).fingerprint_form(), FieldValue::Number(2.0));
        assert_ne!(text_digest("a"), text_digest("b"));
    }
}
