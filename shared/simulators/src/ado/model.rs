//! Seed types, the in-memory store and the wire renderings shared by the handlers.

use crate::common::SimUser;
use base64::Engine as _;
use chrono::{DateTime, SecondsFormat, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// A team project.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdoProject {
    /// GUID string.
    pub id: String,
    pub name: String,
    pub description: String,
}

/// State category as the service reports it (`Proposed`, `InProgress`, `Resolved`, `Completed`, `Removed`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdoState {
    pub name: String,
    pub category: String,
    pub color: String,
}

/// A work item type; every project of the organization has the same types.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdoWorkItemType {
    pub name: String,
    pub reference_name: String,
    pub description: String,
    pub color: String,
    pub icon: String,
    /// The first state is where new work items start.
    pub states: Vec<AdoState>,
}

/// Data type of a field (`WorkItemField2.type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum FieldKind {
    String,
    Integer,
    Double,
    DateTime,
    PlainText,
    Html,
    TreePath,
    History,
    /// Rendered as `type: "string"` with `isIdentity: true`, as the service does.
    Identity,
    Boolean,
}

impl FieldKind {
    pub fn wire_name(self) -> &'static str {
        match self {
            FieldKind::String | FieldKind::Identity => "string",
            FieldKind::Integer => "integer",
            FieldKind::Double => "double",
            FieldKind::DateTime => "dateTime",
            FieldKind::PlainText => "plainText",
            FieldKind::Html => "html",
            FieldKind::TreePath => "treePath",
            FieldKind::History => "history",
            FieldKind::Boolean => "boolean",
        }
    }
}

/// A work item field, valid on every work item type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AdoField {
    pub reference_name: String,
    pub name: String,
    pub kind: FieldKind,
    /// Set by the service only (System.Id, System.ChangedDate, ...).
    pub read_only: bool,
    /// Allowed values (a picklist or rule); empty = free. `System.State` uses the type's states instead.
    pub allowed_values: Vec<Value>,
    pub default_value: Option<Value>,
    pub help_text: Option<String>,
}

impl AdoField {
    pub fn new(reference_name: &str, name: &str, kind: FieldKind) -> Self {
        Self {
            reference_name: reference_name.into(),
            name: name.into(),
            kind,
            read_only: false,
            allowed_values: Vec::new(),
            default_value: None,
            help_text: None,
        }
    }
    fn read_only(mut self) -> Self {
        self.read_only = true;
        self
    }
}

/// A work item present when the simulator starts. Fields are given as a json-patch would
/// write them (identities as e-mail), and go through the same validation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AdoSeedWorkItem {
    /// Project name or id.
    pub project: String,
    pub work_item_type: String,
    pub fields: Map<String, Value>,
    /// E-mail of the creator.
    pub created_by: String,
    /// Creation (= last change) time; `None` = when the simulator starts.
    pub created_at: Option<DateTime<Utc>>,
}

/// Everything an [`super::AdoSim`] starts with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AdoSeed {
    pub organization: String,
    pub users: Vec<SimUser>,
    pub projects: Vec<AdoProject>,
    pub work_item_types: Vec<AdoWorkItemType>,
    pub fields: Vec<AdoField>,
    pub work_items: Vec<AdoSeedWorkItem>,
    /// The organization's attachment size limit, in bytes: a file over it is refused with
    /// TF237082, whichever way it is uploaded.
    pub attachment_max_bytes: u64,
    /// Largest body a simple (one-request) upload takes; bigger files need a chunked upload.
    pub simple_upload_max_bytes: u64,
    /// Most `AttachedFile` relations one work item holds (VS403313).
    pub max_attachments_per_item: usize,
}

fn state(name: &str, category: &str, color: &str) -> AdoState {
    AdoState { name: name.into(), category: category.into(), color: color.into() }
}

impl AdoSeed {
    /// The demo organization (docs/demo-data.md).
    pub fn demo() -> AdoSeed {
        let users = vec![
            SimUser::new("8c2a0000-0000-4000-8000-000000000001", "ferry-bot@acme.test", "Ferry Bot", "ado-bot-pat"),
            SimUser::new("8c2a0000-0000-4000-8000-000000000002", "alice@acme.test", "Alice Jones", "ado-alice-pat"),
            SimUser::new("8c2a0000-0000-4000-8000-000000000003", "bob@acme.test", "Bob Smith", "ado-bob-pat"),
            SimUser::new("8c2a0000-0000-4000-8000-000000000004", "carol.w@acme.test", "Carol White", "ado-carol-pat"),
            SimUser::new("8c2a0000-0000-4000-8000-000000000005", "dave@acme.test", "Dave Hidden", "ado-dave-pat"),
        ];
        let projects = vec![
            AdoProject {
                id: "6ce954b1-ce1f-45d1-b94d-e6bf2464ba2c".into(),
                name: "App".into(),
                description: "Application".into(),
            },
            AdoProject {
                id: "a7573007-bbb3-4341-b726-0c4148a07853".into(),
                name: "Ops".into(),
                description: "Operations".into(),
            },
        ];
        let agile = |name: &str, icon: &str, color: &str, description: &str| AdoWorkItemType {
            name: name.into(),
            reference_name: format!("Microsoft.VSTS.WorkItemTypes.{}", name.replace(' ', "")),
            description: description.into(),
            color: color.into(),
            icon: icon.into(),
            states: vec![
                state("New", "Proposed", "b2b2b2"),
                state("Active", "InProgress", "007acc"),
                state("Resolved", "Resolved", "ff9d00"),
                state("Closed", "Completed", "339933"),
            ],
        };
        let work_item_types = vec![
            AdoWorkItemType {
                name: "Bug".into(),
                reference_name: "Microsoft.VSTS.WorkItemTypes.Bug".into(),
                description: "Describes a divergence between required and actual behavior.".into(),
                color: "CC293D".into(),
                icon: "icon_insect".into(),
                states: vec![
                    state("New", "Proposed", "b2b2b2"),
                    state("Active", "InProgress", "007acc"),
                    state("Resolved", "Resolved", "ff9d00"),
                    state("Closed", "Completed", "339933"),
                ],
            },
            AdoWorkItemType {
                name: "Task".into(),
                reference_name: "Microsoft.VSTS.WorkItemTypes.Task".into(),
                description: "Tracks work that needs to be done.".into(),
                color: "F2CB1D".into(),
                icon: "icon_clipboard".into(),
                states: vec![
                    state("New", "Proposed", "b2b2b2"),
                    state("Active", "InProgress", "007acc"),
                    state("Closed", "Completed", "339933"),
                ],
            },
            agile(
                "Epic",
                "icon_crown",
                "FF7B00",
                "Epics help teams effectively manage and groom their product backlog.",
            ),
            agile("Feature", "icon_trophy", "773B93", "Tracks a feature that will be released with the product."),
            agile(
                "User Story",
                "icon_book",
                "009CCC",
                "Tracks an activity the user will be able to perform with the product.",
            ),
        ];
        let mut priority = AdoField::new("Microsoft.VSTS.Common.Priority", "Priority", FieldKind::Integer);
        priority.allowed_values = (1..=4).map(|n| json!(n)).collect();
        priority.default_value = Some(json!(2));
        priority.help_text = Some("Business importance. 1=must fix; 4=unimportant.".into());
        let mut severity = AdoField::new("Microsoft.VSTS.Common.Severity", "Severity", FieldKind::String);
        severity.allowed_values =
            ["1 - Critical", "2 - High", "3 - Medium", "4 - Low"].iter().map(|s| json!(s)).collect();
        severity.default_value = Some(json!("3 - Medium"));
        severity.help_text = Some("Assessment of the effect of the bug on the project".into());
        let fields = vec![
            AdoField::new("System.Id", "ID", FieldKind::Integer).read_only(),
            AdoField::new("System.Rev", "Rev", FieldKind::Integer).read_only(),
            AdoField::new("System.Title", "Title", FieldKind::String),
            AdoField::new("System.Description", "Description", FieldKind::Html),
            AdoField::new("System.State", "State", FieldKind::String),
            AdoField::new("System.Reason", "Reason", FieldKind::String),
            AdoField::new("System.AssignedTo", "Assigned To", FieldKind::Identity),
            AdoField::new("System.CreatedBy", "Created By", FieldKind::Identity).read_only(),
            AdoField::new("System.ChangedBy", "Changed By", FieldKind::Identity).read_only(),
            AdoField::new("System.CreatedDate", "Created Date", FieldKind::DateTime).read_only(),
            AdoField::new("System.ChangedDate", "Changed Date", FieldKind::DateTime).read_only(),
            AdoField::new("System.WorkItemType", "Work Item Type", FieldKind::String).read_only(),
            AdoField::new("System.TeamProject", "Team Project", FieldKind::String).read_only(),
            AdoField::new("System.AreaPath", "Area Path", FieldKind::TreePath),
            AdoField::new("System.IterationPath", "Iteration Path", FieldKind::TreePath),
            AdoField::new("System.Tags", "Tags", FieldKind::PlainText),
            AdoField::new("System.History", "History", FieldKind::History),
            priority,
            severity,
            AdoField::new("Microsoft.VSTS.Scheduling.StoryPoints", "Story Points", FieldKind::Double),
            AdoField::new("Custom.JiraKey", "Jira Key", FieldKind::String),
            AdoField::new("System.Parent", "Parent", FieldKind::Integer).read_only(),
            AdoField::new("System.CommentCount", "Comment Count", FieldKind::Integer).read_only(),
        ];
        AdoSeed {
            organization: "acme".into(),
            users,
            projects,
            work_item_types,
            fields,
            work_items: Vec::new(),
            attachment_max_bytes: 130 << 20,
            simple_upload_max_bytes: 130 << 20,
            max_attachments_per_item: 100,
        }
    }
}

/// One revision of a work item: the full field set and relations after that change.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub rev: u64,
    pub fields: BTreeMap<String, Value>,
    pub relations: Vec<Value>,
    pub changed: DateTime<Utc>,
}

/// What one change did (`WorkItemUpdate`): a new revision, or (for the far end of a
/// work item link added or removed from the other item) a relation change that keeps the
/// revision, as the service records it.
#[derive(Debug, Clone)]
pub struct UpdateRec {
    pub rev: u64,
    pub by_user: String,
    pub fields: Map<String, Value>,
    pub relations: Option<Value>,
    pub at: DateTime<Utc>,
}

/// One version of a comment's text.
#[derive(Debug, Clone)]
pub struct CommentText {
    pub text: String,
    /// `html` or `markdown`.
    pub format: String,
    /// VSID of the author of this version.
    pub by_user: String,
    pub at: DateTime<Utc>,
    /// Whether this version is the deletion.
    pub deleted: bool,
}

/// A work item comment: a discussion entry written by a revision's `System.History`,
/// then edited (new versions) or deleted.
#[derive(Debug, Clone)]
pub struct CommentRec {
    pub id: u64,
    /// The revision that wrote it.
    pub rev: u64,
    /// Oldest first; the last is the current text.
    pub versions: Vec<CommentText>,
}

impl CommentRec {
    pub fn current(&self) -> &CommentText {
        // A comment is created with its first version.
        &self.versions[self.versions.len() - 1]
    }
    pub fn is_deleted(&self) -> bool {
        self.current().deleted
    }
}

/// An uploaded file (`AttachmentReference` id), complete or still receiving chunks.
#[derive(Debug, Clone)]
pub struct AttachmentRec {
    pub id: String,
    /// The number the service gives the file in `AttachedFile` relation attributes.
    pub file_id: u64,
    pub name: String,
    pub data: Vec<u8>,
    /// Registered for a chunked upload (`uploadType=Chunked`).
    pub chunked: bool,
    /// Chunked upload: the total size the chunks announce (`Content-Range: …/total`),
    /// once the first chunk arrived.
    pub expected: Option<u64>,
    pub created: DateTime<Utc>,
}

impl AttachmentRec {
    /// A simple upload, or a chunked one whose chunks all arrived.
    pub fn complete(&self) -> bool {
        !self.chunked || self.expected == Some(self.data.len() as u64)
    }
}

/// A work item in the recycle bin.
#[derive(Debug, Clone)]
pub struct DeletedItem {
    pub item: Item,
    pub by_user: String,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct Item {
    pub id: u64,
    pub project_id: String,
    pub type_name: String,
    /// `revisions[i].rev == i + 1`; the last one is the current state.
    pub revisions: Vec<Snapshot>,
    pub updates: Vec<UpdateRec>,
    /// Every discussion entry, oldest first.
    pub comments: Vec<CommentRec>,
}

impl Item {
    pub fn current(&self) -> &Snapshot {
        // An item is only ever stored with its first revision.
        &self.revisions[self.revisions.len() - 1]
    }
    pub fn rev(&self) -> u64 {
        self.current().rev
    }
    pub fn changed(&self) -> DateTime<Utc> {
        self.current().changed
    }
    /// Snapshot as of a time (the latest revision changed at or before it).
    pub fn as_of(&self, t: DateTime<Utc>) -> Option<&Snapshot> {
        self.revisions.iter().rev().find(|s| s.changed <= t)
    }
}

#[derive(Debug, Default)]
pub struct Store {
    pub items: BTreeMap<u64, Item>,
    pub next_id: u64,
    pub next_comment_id: u64,
    pub last_ts: Option<DateTime<Utc>>,
    /// Uploaded files by id (lower-case GUID).
    pub attachments: BTreeMap<String, AttachmentRec>,
    pub next_file_id: u64,
    /// The recycle bin.
    pub deleted: BTreeMap<u64, DeletedItem>,
}

impl Store {
    /// A change timestamp: now at millisecond precision, strictly after every earlier one.
    pub fn next_ts(&mut self) -> DateTime<Utc> {
        let now = Utc::now();
        let ms = now.timestamp_millis();
        let mut t = Utc.timestamp_millis_opt(ms).single().unwrap_or(now);
        if let Some(last) = self.last_ts {
            if t <= last {
                t = last + chrono::Duration::milliseconds(1);
            }
        }
        self.last_ts = Some(t);
        t
    }
}

/// `2026-11-26T18:24:50.103Z`, with 0-3 fractional digits as the service writes them.
pub fn fmt_date(t: DateTime<Utc>) -> String {
    let base = t.to_rfc3339_opts(SecondsFormat::Secs, true);
    let ms = t.timestamp_subsec_millis();
    if ms == 0 {
        return base;
    }
    let frac = format!("{ms:03}");
    let frac = frac.trim_end_matches('0');
    format!("{}.{}Z", base.trim_end_matches('Z'), frac)
}

pub const FAR_FUTURE: &str = "9999-01-01T00:00:00Z";

pub fn descriptor(user: &SimUser) -> String {
    format!("aad.{}", base64::engine::general_purpose::STANDARD_NO_PAD.encode(user.id.as_bytes()))
}

/// `IdentityRef` as work item fields carry it.
pub fn identity_ref(base: &str, user: &SimUser) -> Value {
    let d = descriptor(user);
    json!({
        "displayName": user.display_name,
        "url": format!("{base}/_apis/Identities/{}", user.id),
        "_links": {"avatar": {"href": format!("{base}/_apis/GraphProfile/MemberAvatars/{d}")}},
        "id": user.id,
        "uniqueName": user.email,
        "imageUrl": format!("{base}/_api/_common/identityImage?id={}", user.id),
        "descriptor": d,
    })
}

/// `IdentityReference` of `revisedBy`, with the legacy `name`.
pub fn identity_reference(base: &str, user: &SimUser) -> Value {
    let mut v = identity_ref(base, user);
    if let Some(o) = v.as_object_mut() {
        o.insert("name".into(), json!(format!("{} <{}>", user.display_name, user.email)));
    }
    v
}

/// `ims` `Identity`.
pub fn identity(user: &SimUser, domain: &str) -> Value {
    let s = |v: &str| json!({"$type": "System.String", "$value": v});
    let alias = user.email.split('@').next().unwrap_or_default();
    json!({
        "id": user.id,
        "descriptor": format!("Microsoft.IdentityModel.Claims.ClaimsIdentity;{domain}\\{}", user.email),
        "subjectDescriptor": descriptor(user),
        "providerDisplayName": user.display_name,
        "isActive": user.active,
        "isContainer": false,
        "members": [],
        "memberOf": [],
        "memberIds": [],
        "properties": {
            "SchemaClassName": s("User"),
            "Description": s(""),
            "Domain": s(domain),
            "Account": s(&user.email),
            "DN": s(""),
            "Mail": s(&user.email),
            "SpecialType": s("Generic"),
            "Alias": s(alias),
        },
        "resourceVersion": 2,
        "metaTypeId": 0,
    })
}

pub fn field_ref(base: &str, f: &AdoField) -> Value {
    json!({
        "referenceName": f.reference_name,
        "name": f.name,
        "url": format!("{base}/_apis/wit/fields/{}", f.reference_name),
    })
}

fn supported_operations(kind: FieldKind) -> Vec<Value> {
    let ops: &[(&str, &str)] = match kind {
        FieldKind::History | FieldKind::PlainText | FieldKind::Html => &[
            ("SupportedOperations.ContainsWords", "Contains Words"),
            ("SupportedOperations.NotContainsWords", "Does Not Contain Words"),
        ],
        FieldKind::TreePath => &[
            ("SupportedOperations.Under", "Under"),
            ("SupportedOperations.NotUnder", "Not Under"),
            ("SupportedOperations.Equals", "="),
            ("SupportedOperations.NotEquals", "<>"),
            ("SupportedOperations.In", "In"),
        ],
        FieldKind::String | FieldKind::Identity => &[
            ("SupportedOperations.Equals", "="),
            ("SupportedOperations.NotEquals", "<>"),
            ("SupportedOperations.GreaterThan", ">"),
            ("SupportedOperations.LessThan", "<"),
            ("SupportedOperations.GreaterThanEquals", ">="),
            ("SupportedOperations.LessThanEquals", "<="),
            ("SupportedOperations.Contains", "Contains"),
            ("SupportedOperations.NotContains", "Does Not Contain"),
            ("SupportedOperations.In", "In"),
        ],
        _ => &[
            ("SupportedOperations.Equals", "="),
            ("SupportedOperations.NotEquals", "<>"),
            ("SupportedOperations.GreaterThan", ">"),
            ("SupportedOperations.LessThan", "<"),
            ("SupportedOperations.GreaterThanEquals", ">="),
            ("SupportedOperations.LessThanEquals", "<="),
            ("SupportedOperations.In", "In"),
        ],
    };
    ops.iter().map(|(r, n)| json!({"referenceName": r, "name": n})).collect()
}

/// `WorkItemField2`.
pub fn field_json(base: &str, f: &AdoField) -> Value {
    let mut v = json!({
        "name": f.name,
        "referenceName": f.reference_name,
        "type": f.kind.wire_name(),
        "usage": "workItem",
        "readOnly": f.read_only,
        "canSortBy": !matches!(f.kind, FieldKind::History | FieldKind::Html | FieldKind::PlainText),
        "isQueryable": true,
        "supportedOperations": supported_operations(f.kind),
        "isIdentity": f.kind == FieldKind::Identity,
        "isPicklist": !f.allowed_values.is_empty() && f.kind == FieldKind::String,
        "isPicklistSuggested": false,
        "isLocked": false,
        "url": format!("{base}/_apis/wit/fields/{}", f.reference_name),
    });
    if let (Some(o), Some(h)) = (v.as_object_mut(), &f.help_text) {
        o.insert("description".into(), json!(h));
    }
    v
}

/// Allowed values as `workitemtypes/{type}/fields?$expand=allowedValues` lists them (strings).
pub fn allowed_values_wire(f: &AdoField, ty: &AdoWorkItemType) -> Vec<Value> {
    if f.reference_name == "System.State" {
        let mut v: Vec<String> = ty.states.iter().map(|s| s.name.clone()).collect();
        v.sort();
        return v.into_iter().map(Value::String).collect();
    }
    if f.reference_name == "System.WorkItemType" {
        return vec![json!(ty.name)];
    }
    f.allowed_values.iter().map(|v| json!(value_text(v))).collect()
}

/// A scalar as text (numbers without quotes).
pub fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_carry_zero_to_three_fraction_digits() {
        let cases = [
            (1_764_181_490_103_i64, "2025-11-26T18:24:50.103Z"),
            (1_764_181_490_570, "2025-11-26T18:24:50.57Z"),
            (1_764_181_490_000, "2025-11-26T18:24:50Z"),
        ];
        for (ms, want) in cases {
            let t = Utc.timestamp_millis_opt(ms).single().expect("valid");
            assert_eq!(fmt_date(t), want);
        }
    }

    #[test]
    fn change_timestamps_strictly_increase() {
        let mut s = Store::default();
        let a = s.next_ts();
        let b = s.next_ts();
        let c = s.next_ts();
        assert!(a < b && b < c);
    }
}
