//! Redmine REST (JSON) shapes and the conversions between them and Ferry's values.

use chrono::{DateTime, NaiveDate, Utc};
use ferry_domain::{ErrorCategory, FieldValue, PortError, UserRef};
use serde::Deserialize;
use serde_json::Value;

/// Core issue fields Ferry reads and writes, by their Ferry key.
pub const CORE_FIELDS: [&str; 11] = [
    "subject",
    "description",
    "status",
    "priority",
    "tracker",
    "assigned_to",
    "author",
    "start_date",
    "due_date",
    "done_ratio",
    "estimated_hours",
];

/// The prefix of the journal note that stands in for a remote link.
pub const LINK_NOTE_PREFIX: &str = "Linked:";

#[derive(Debug, Clone, Deserialize)]
pub struct IdName {
    pub id: u64,
    #[serde(default)]
    pub name: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct CustomValue {
    pub id: u64,
    #[serde(default)]
    pub name: String,
    /// A string, an array of strings (multiple) or null.
    #[serde(default)]
    pub value: Value,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Journal {
    pub id: u64,
    pub user: Option<IdName>,
    #[serde(default)]
    pub notes: Option<String>,
    #[serde(default)]
    pub created_on: Option<String>,
    /// Seen only by users allowed to see private notes; never copied.
    #[serde(default)]
    pub private_notes: bool,
    /// What the journal changed: `{property: attr|cf|..., name, old_value, new_value}`.
    #[serde(default)]
    pub details: Vec<JournalDetail>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct JournalDetail {
    #[serde(default)]
    pub property: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub new_value: Option<Value>,
}

/// The journal id a revision token names (0: the issue had no journal yet).
pub fn revision_journal(revision: &str) -> Option<u64> {
    match revision.rsplit_once('#') {
        Some((_, id)) => id.trim().parse().ok(),
        None => Some(0),
    }
}

/// The Ferry key of a journal detail's field (`attr` names are wire names such as
/// `status_id`; custom fields are `cf_<id>`), and its new value as text.
pub fn detail_field(d: &JournalDetail) -> (String, Option<String>) {
    let key = match (d.property.as_str(), d.name.as_str()) {
        ("attr", name) => name.strip_suffix("_id").filter(|n| CORE_FIELDS.contains(n)).unwrap_or(name).to_string(),
        ("cf", id) => format!("cf_{id}"),
        (property, name) => format!("{property}:{name}"),
    };
    let value = match &d.new_value {
        Some(Value::String(s)) => Some(lf(s)),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    (key, value)
}

#[derive(Debug, Clone, Deserialize)]
pub struct Issue {
    pub id: u64,
    pub tracker: Option<IdName>,
    pub status: Option<IdName>,
    pub priority: Option<IdName>,
    pub author: Option<IdName>,
    pub assigned_to: Option<IdName>,
    #[serde(default)]
    pub subject: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub start_date: Option<String>,
    #[serde(default)]
    pub due_date: Option<String>,
    #[serde(default)]
    pub done_ratio: Option<f64>,
    #[serde(default)]
    pub estimated_hours: Option<f64>,
    #[serde(default)]
    pub custom_fields: Vec<CustomValue>,
    pub updated_on: String,
    #[serde(default)]
    pub journals: Vec<Journal>,
    /// `{id}` of the parent issue, if any.
    #[serde(default)]
    pub parent: Option<IdOnly>,
    /// With `include=attachments`.
    #[serde(default)]
    pub attachments: Vec<AttachmentDto>,
    /// With `include=relations`: every relation the issue is at either end of.
    #[serde(default)]
    pub relations: Vec<RelationDto>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct IdOnly {
    pub id: u64,
}

/// An attachment (`/attachments/{id}.json`, `include=attachments`).
#[derive(Debug, Clone, Deserialize)]
pub struct AttachmentDto {
    pub id: u64,
    #[serde(default)]
    pub filename: String,
    #[serde(default)]
    pub filesize: u64,
    #[serde(default)]
    pub content_type: Option<String>,
    #[serde(default)]
    pub content_url: Option<String>,
    #[serde(default)]
    pub author: Option<IdName>,
    #[serde(default)]
    pub created_on: Option<String>,
}

/// `{"upload": {"id": 7, "token": "7.<sha256 hex>"}}` of `POST /uploads.json`.
#[derive(Debug, Deserialize)]
pub struct UploadEnvelope {
    pub upload: Upload,
}

#[derive(Debug, Deserialize)]
pub struct Upload {
    /// The attachment the upload becomes (Redmine 4.1 and later).
    #[serde(default)]
    pub id: Option<u64>,
    pub token: String,
}

/// An issue relation, stored in one direction: `relates`, `duplicates`, `blocks`,
/// `precedes`, `copied_to` from `issue_id` to `issue_to_id`.
#[derive(Debug, Clone, Deserialize)]
pub struct RelationDto {
    pub id: u64,
    pub issue_id: u64,
    pub issue_to_id: u64,
    pub relation_type: String,
}

#[derive(Debug, Deserialize)]
pub struct IssueEnvelope {
    pub issue: Issue,
}

#[derive(Debug, Deserialize)]
pub struct IssueList {
    #[serde(default)]
    pub issues: Vec<Issue>,
    #[serde(default)]
    pub total_count: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct UserDto {
    pub id: u64,
    #[serde(default)]
    pub login: String,
    #[serde(default)]
    pub firstname: String,
    #[serde(default)]
    pub lastname: String,
    #[serde(default)]
    pub mail: Option<String>,
}

impl UserDto {
    pub fn to_user(&self) -> UserRef {
        let name = format!("{} {}", self.firstname, self.lastname).trim().to_string();
        UserRef {
            id: self.id.to_string(),
            email: self.mail.clone().filter(|m| !m.is_empty()),
            display_name: Some(if name.is_empty() { self.login.clone() } else { name }),
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct UserEnvelope {
    pub user: UserDto,
}

#[derive(Debug, Deserialize)]
pub struct UserList {
    #[serde(default)]
    pub users: Vec<UserDto>,
}

#[derive(Debug, Deserialize)]
pub struct StatusList {
    #[serde(default)]
    pub issue_statuses: Vec<IdName>,
}

#[derive(Debug, Deserialize)]
pub struct PriorityList {
    #[serde(default)]
    pub issue_priorities: Vec<IdName>,
}

#[derive(Debug, Deserialize)]
pub struct TrackerList {
    #[serde(default)]
    pub trackers: Vec<IdName>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ProjectDto {
    pub id: u64,
    #[serde(default)]
    pub identifier: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub trackers: Vec<IdName>,
}

#[derive(Debug, Deserialize)]
pub struct ProjectEnvelope {
    pub project: ProjectDto,
}

#[derive(Debug, Deserialize)]
pub struct ProjectList {
    #[serde(default)]
    pub projects: Vec<ProjectDto>,
    #[serde(default)]
    pub total_count: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct CustomFieldDef {
    pub id: u64,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub customized_type: String,
    #[serde(default)]
    pub field_format: String,
    #[serde(default)]
    pub is_required: bool,
    #[serde(default)]
    pub multiple: bool,
    #[serde(default)]
    pub trackers: Vec<IdName>,
    #[serde(default)]
    pub possible_values: Vec<PossibleValue>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct PossibleValue {
    #[serde(default)]
    pub value: String,
}

#[derive(Debug, Deserialize)]
pub struct CustomFieldList {
    #[serde(default)]
    pub custom_fields: Vec<CustomFieldDef>,
}

#[derive(Debug, Deserialize)]
pub struct Membership {
    pub user: Option<IdName>,
}

#[derive(Debug, Deserialize)]
pub struct MembershipList {
    #[serde(default)]
    pub memberships: Vec<Membership>,
    #[serde(default)]
    pub total_count: u64,
}

/// Redmine's `{"errors": ["Subject cannot be blank", ...]}` (422) as one line.
pub fn error_text(body: &[u8]) -> Option<String> {
    let v: Value = serde_json::from_slice(body).ok()?;
    let errors = v.get("errors")?;
    let parts: Vec<String> = match errors {
        Value::Array(items) => items
            .iter()
            .map(|e| match e {
                Value::String(s) => s.clone(),
                // Some plugins answer [["field", "message"]].
                Value::Array(pair) => pair.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(" "),
                other => other.to_string(),
            })
            .collect(),
        Value::String(s) => vec![s.clone()],
        _ => return None,
    };
    (!parts.is_empty()).then(|| parts.join("; "))
}

pub fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s.trim()).ok().map(|d| d.with_timezone(&Utc))
}

/// A Redmine date (`2024-03-01`) as midnight UTC, as the Jira connector reads dates.
pub fn parse_date(s: &str) -> Option<DateTime<Utc>> {
    NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").ok().and_then(|d| d.and_hms_opt(0, 0, 0)).map(|d| d.and_utc())
}

/// Rich text (HTML) as Redmine plain text: blocks and list items on their own lines.
pub fn html_to_text(html: &str) -> String {
    crate::html::to_text(html)
}

/// `cf_12` → 12.
pub fn custom_field_id(key: &str) -> Option<u64> {
    key.strip_prefix("cf_").and_then(|n| n.parse().ok())
}

/// The journal a revision and changed-by come from: the newest one.
pub fn newest_journal(issue: &Issue) -> Option<&Journal> {
    issue.journals.iter().max_by_key(|j| j.id)
}

/// Revision token: `updated_on` plus the newest journal id, so two changes within one
/// second still differ.
pub fn revision(issue: &Issue) -> String {
    match newest_journal(issue) {
        Some(j) => format!("{}#{}", issue.updated_on, j.id),
        None => issue.updated_on.clone(),
    }
}

/// Who made the newest change: the newest journal's author, else the issue's author.
pub fn changed_by(issue: &Issue) -> Option<&IdName> {
    match newest_journal(issue) {
        Some(j) => j.user.as_ref(),
        None => issue.author.as_ref(),
    }
}

pub fn user_ref(n: &IdName, email: Option<String>) -> UserRef {
    UserRef { id: n.id.to_string(), email, display_name: (!n.name.is_empty()).then(|| n.name.clone()) }
}

fn opt_name(v: &Option<IdName>) -> FieldValue {
    match v {
        Some(n) if !n.name.is_empty() => FieldValue::Option(n.name.clone()),
        _ => FieldValue::Null,
    }
}

/// Redmine stores text with CRLF line ends; Ferry's text uses `\n`.
fn lf(s: &str) -> String {
    s.replace("\r\n", "\n")
}

fn opt_text(v: &Option<String>) -> FieldValue {
    match v {
        Some(s) if !s.is_empty() => FieldValue::Text(lf(s)),
        _ => FieldValue::Null,
    }
}

/// A core field's value (users without e-mail: the connector fills it in).
pub fn core_value(issue: &Issue, key: &str) -> Option<FieldValue> {
    Some(match key {
        "subject" => FieldValue::Text(issue.subject.clone()),
        "description" => opt_text(&issue.description),
        "status" => opt_name(&issue.status),
        "priority" => opt_name(&issue.priority),
        "tracker" => opt_name(&issue.tracker),
        "assigned_to" => issue.assigned_to.as_ref().map_or(FieldValue::Null, |u| FieldValue::User(user_ref(u, None))),
        "author" => issue.author.as_ref().map_or(FieldValue::Null, |u| FieldValue::User(user_ref(u, None))),
        "start_date" => issue.start_date.as_deref().and_then(parse_date).map_or(FieldValue::Null, FieldValue::DateTime),
        "due_date" => issue.due_date.as_deref().and_then(parse_date).map_or(FieldValue::Null, FieldValue::DateTime),
        "done_ratio" => issue.done_ratio.map_or(FieldValue::Null, FieldValue::Number),
        "estimated_hours" => issue.estimated_hours.map_or(FieldValue::Null, FieldValue::Number),
        _ => return None,
    })
}

/// A custom value: text, or a list for multi-valued fields.
pub fn custom_value(v: &CustomValue) -> FieldValue {
    match &v.value {
        Value::String(s) if !s.is_empty() => FieldValue::Text(lf(s)),
        Value::Array(items) => {
            let list: Vec<String> = items.iter().filter_map(Value::as_str).map(str::to_string).collect();
            if list.is_empty() {
                FieldValue::Null
            } else {
                FieldValue::List(list)
            }
        }
        Value::Number(n) => FieldValue::Text(n.to_string()),
        _ => FieldValue::Null,
    }
}

fn invalid(msg: String) -> PortError {
    PortError::new(ErrorCategory::InvalidRequest, msg)
}

/// A value as the text Redmine stores: rich text becomes plain text.
pub fn text_of(v: &FieldValue) -> String {
    match v {
        FieldValue::RichText(html) => html_to_text(html),
        other => other.key_string().unwrap_or_default(),
    }
}

/// `YYYY-MM-DD` for a date field.
pub fn date_of(field: &str, v: &FieldValue) -> Result<Value, PortError> {
    match v {
        FieldValue::Null => Ok(Value::Null),
        FieldValue::DateTime(d) => Ok(Value::String(d.format("%Y-%m-%d").to_string())),
        other => {
            let s = other.key_string().unwrap_or_default();
            let d = parse_date(&s)
                .or_else(|| parse_time(&s))
                .ok_or_else(|| invalid(format!("Redmine field {field}: {s:?} is not a date (use YYYY-MM-DD)")))?;
            Ok(Value::String(d.format("%Y-%m-%d").to_string()))
        }
    }
}

/// A number for `done_ratio` / `estimated_hours`.
pub fn number_of(field: &str, v: &FieldValue) -> Result<Value, PortError> {
    let n = match v {
        FieldValue::Null => return Ok(Value::Null),
        FieldValue::Number(n) => *n,
        other => {
            let s = other.key_string().unwrap_or_default();
            s.trim().parse::<f64>().map_err(|_| invalid(format!("Redmine field {field}: {s:?} is not a number")))?
        }
    };
    if !n.is_finite() {
        return Err(invalid(format!("Redmine field {field}: {n} is not a number")));
    }
    if field == "done_ratio" {
        if !(0.0..=100.0).contains(&n) {
            return Err(invalid(format!("Redmine field done_ratio: {n} is not between 0 and 100")));
        }
        return Ok(Value::from(n.round() as u64));
    }
    Ok(serde_json::Number::from_f64(n).map(Value::Number).unwrap_or(Value::Null))
}

/// A custom field's value: a list becomes an array, anything else its text.
pub fn custom_write_value(v: &FieldValue) -> Value {
    match v {
        FieldValue::Null => Value::String(String::new()),
        FieldValue::List(items) => Value::Array(items.iter().cloned().map(Value::String).collect()),
        other => Value::String(text_of(other)),
    }
}

/// A look-up value (status, priority, tracker) by name, case-insensitively, or by id.
pub fn lookup_id(list: &[IdName], what: &str, v: &FieldValue) -> Result<u64, PortError> {
    let name = v.key_string().unwrap_or_default();
    let name = name.trim();
    if let Some(hit) = list.iter().find(|i| i.name.eq_ignore_ascii_case(name)) {
        return Ok(hit.id);
    }
    if let Ok(id) = name.parse::<u64>() {
        if list.iter().any(|i| i.id == id) {
            return Ok(id);
        }
    }
    let known: Vec<&str> = list.iter().map(|i| i.name.as_str()).collect();
    Err(invalid(format!("Redmine has no {what} {name:?} (known: {})", known.join(", "))))
}

/// The query-string pairs of a filter condition (`priority_id=4&cf_5=x`). Keys Ferry
/// sets itself are refused, so a filter cannot widen the scope.
pub fn filter_pairs(condition: &str) -> Result<Vec<(String, String)>, PortError> {
    const RESERVED: [&str; 8] =
        ["project_id", "tracker_id", "updated_on", "issue_id", "sort", "offset", "limit", "key"];
    let c = condition.trim().trim_start_matches('?');
    let mut out = Vec::new();
    for (k, v) in url::form_urlencoded::parse(c.as_bytes()) {
        let k = k.trim().to_string();
        if k.is_empty() {
            continue;
        }
        if RESERVED.contains(&k.as_str()) || k == "subproject_id" {
            return Err(PortError::new(
                ErrorCategory::Config,
                format!("Redmine filter {condition:?}: {k} is set by Ferry and cannot be part of a filter"),
            ));
        }
        if !k.chars().all(|ch| ch.is_ascii_alphanumeric() || matches!(ch, '_' | '[' | ']' | '.')) {
            return Err(PortError::new(
                ErrorCategory::Config,
                format!("Redmine filter {condition:?}: {k:?} is not a Redmine filter name"),
            ));
        }
        out.push((k, v.to_string()));
    }
    if out.is_empty() {
        return Err(PortError::new(
            ErrorCategory::Config,
            format!("Redmine filter {condition:?} is empty: give query-string conditions such as priority_id=4&cf_5=x"),
        ));
    }
    Ok(out)
}
