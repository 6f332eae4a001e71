//! Azure DevOps wire shapes and their conversion to and from Ferry's neutral values.
//!
//! Lists arrive as `{count, value}` on the wire even though the spec declares bare
//! arrays (docs/system-apis.md §5, item 3); work item field values are strings, numbers and IdentityRefs
//! although the spec declares objects (§5, item 5).

use chrono::{DateTime, SecondsFormat, Utc};
use ferry_domain::{ErrorCategory, FieldType, FieldValue, PortError, UserRef};
use serde::Deserialize;
use serde_json::{Map, Value};
use std::collections::HashMap;

pub(crate) const TAGS: &str = "System.Tags";

/// `{count, value}` list wrapper. `value` is required: a body without it is a bad
/// response, not an empty list (an empty search reads as "no such item").
#[derive(Debug, Deserialize)]
pub(crate) struct ListOf<T> {
    pub value: Vec<T>,
}

/// One entry of `workItems/{id}/updates`: who made revision `rev` and the fields it set.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WorkItemUpdate {
    #[serde(default)]
    pub rev: Option<u64>,
    #[serde(default)]
    pub revised_by: Option<Value>,
    #[serde(default)]
    pub fields: Option<std::collections::BTreeMap<String, FieldUpdate>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct FieldUpdate {
    #[serde(default)]
    pub new_value: Option<Value>,
}

/// A flat WIQL result; `workItems` is required for the same reason.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WiqlResult {
    #[serde(default)]
    pub as_of: Option<String>,
    pub work_items: Vec<WiqlRef>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct WiqlRef {
    pub id: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct WorkItem {
    pub id: u64,
    #[serde(default)]
    pub rev: Option<u64>,
    #[serde(default)]
    pub fields: Map<String, Value>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct FieldDef {
    pub reference_name: String,
    #[serde(default)]
    pub name: String,
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    #[serde(default)]
    pub is_identity: bool,
    #[serde(default)]
    pub is_picklist: bool,
    /// Set by the system only (`System.Id`, `System.CreatedDate`, ...).
    #[serde(default)]
    pub read_only: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TypeFieldDef {
    pub reference_name: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub always_required: bool,
    #[serde(default)]
    pub allowed_values: Vec<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WorkItemTypeDto {
    pub name: String,
    #[serde(default)]
    pub is_disabled: bool,
    #[serde(default)]
    pub states: Option<Vec<StateDto>>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct StateDto {
    pub name: String,
}

#[derive(Debug, Deserialize)]
pub(crate) struct ProjectDto {
    pub id: String,
    pub name: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Identity {
    pub id: String,
    #[serde(default)]
    pub provider_display_name: Option<String>,
    #[serde(default)]
    pub custom_display_name: Option<String>,
    #[serde(default)]
    pub is_active: Option<bool>,
    #[serde(default)]
    pub is_container: Option<bool>,
    #[serde(default)]
    pub properties: Map<String, Value>,
}

impl Identity {
    fn property(&self, name: &str) -> Option<&str> {
        self.properties.get(name)?.get("$value")?.as_str().filter(|s| !s.is_empty())
    }

    /// Whether this identity is the user with `email` (Mail or Account property).
    pub fn matches_email(&self, email: &str) -> bool {
        ["Mail", "Account"].iter().filter_map(|p| self.property(p)).any(|v| v.eq_ignore_ascii_case(email))
    }

    pub fn is_user(&self) -> bool {
        self.is_container != Some(true) && self.is_active != Some(false)
    }

    pub fn to_user(&self) -> UserRef {
        let email =
            self.property("Mail").or_else(|| self.property("Account").filter(|a| a.contains('@'))).map(str::to_string);
        let display_name =
            self.custom_display_name.clone().filter(|s| !s.is_empty()).or_else(|| self.provider_display_name.clone());
        UserRef { id: self.id.clone(), email, display_name }
    }
}

/// A work item field's native type, from `GET _apis/wit/fields`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AdoType {
    Html,
    Text,
    Integer,
    Double,
    DateTime,
    Boolean,
    Identity,
    Other,
}

impl AdoType {
    pub fn of(def: &FieldDef) -> AdoType {
        // Real services report identity fields as `type: string` with `isIdentity: true`.
        if def.is_identity {
            return AdoType::Identity;
        }
        match def.kind.as_deref().unwrap_or("") {
            "html" | "history" => AdoType::Html,
            "string" | "plainText" | "picklistString" | "treePath" | "guid" => AdoType::Text,
            "integer" | "picklistInteger" => AdoType::Integer,
            "double" | "picklistDouble" => AdoType::Double,
            "dateTime" => AdoType::DateTime,
            "boolean" => AdoType::Boolean,
            "identity" => AdoType::Identity,
            _ => AdoType::Other,
        }
    }
}

/// Field types of one project, keyed by lower-cased reference name (ADO field names
/// are case-insensitive).
#[derive(Debug, Default)]
pub(crate) struct FieldCatalog {
    defs: HashMap<String, (FieldDef, AdoType)>,
}

impl FieldCatalog {
    pub fn new(defs: Vec<FieldDef>) -> Self {
        let defs = defs
            .into_iter()
            .map(|d| {
                let t = AdoType::of(&d);
                (d.reference_name.to_ascii_lowercase(), (d, t))
            })
            .collect();
        Self { defs }
    }
    pub fn kind(&self, field: &str) -> Option<AdoType> {
        self.defs.get(&field.to_ascii_lowercase()).map(|(_, t)| *t)
    }
    pub fn def(&self, field: &str) -> Option<&FieldDef> {
        self.defs.get(&field.to_ascii_lowercase()).map(|(d, _)| d)
    }
}

/// The neutral type discovery reports for a field.
pub(crate) fn field_type(field: &str, kind: Option<AdoType>, has_allowed: bool) -> FieldType {
    if field.eq_ignore_ascii_case(TAGS) {
        return FieldType::List;
    }
    match kind {
        Some(AdoType::Html) => FieldType::RichText,
        Some(AdoType::Text) if has_allowed => FieldType::Option,
        Some(AdoType::Text) => FieldType::Text,
        Some(AdoType::Integer | AdoType::Double) => FieldType::Number,
        Some(AdoType::DateTime) => FieldType::DateTime,
        Some(AdoType::Boolean) => FieldType::Bool,
        Some(AdoType::Identity) => FieldType::User,
        Some(AdoType::Other) | None => FieldType::Other,
    }
}

pub(crate) fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s).ok().map(|d| d.with_timezone(&Utc))
}

/// ISO UTC with milliseconds, as WIQL literals and dateTime fields take it.
pub(crate) fn format_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// An IdentityRef object, or the legacy `"Display Name <email>"` string.
pub(crate) fn identity_ref(v: &Value) -> Option<UserRef> {
    match v {
        Value::Object(o) => {
            let s = |k: &str| o.get(k).and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_string);
            let unique = s("uniqueName");
            let email = unique.clone().filter(|u| u.contains('@'));
            let id = s("id").or_else(|| s("descriptor")).or(unique)?;
            Some(UserRef { id, email, display_name: s("displayName") })
        }
        Value::String(text) if !text.trim().is_empty() => {
            let text = text.trim();
            let (name, email) = match (text.rfind('<'), text.ends_with('>')) {
                (Some(i), true) => (text[..i].trim().to_string(), Some(text[i + 1..text.len() - 1].trim().to_string())),
                _ if text.contains('@') => (String::new(), Some(text.to_string())),
                _ => (text.to_string(), None),
            };
            let id = email.clone().unwrap_or_else(|| name.clone());
            Some(UserRef { id, email, display_name: Some(name).filter(|n| !n.is_empty()) })
        }
        _ => None,
    }
}

/// Converts a wire field value by the field's type; `None` for an absent value.
pub(crate) fn read_value(field: &str, kind: Option<AdoType>, v: &Value) -> Option<FieldValue> {
    if v.is_null() {
        return None;
    }
    if field.eq_ignore_ascii_case(TAGS) {
        if let Some(s) = v.as_str() {
            return Some(FieldValue::List(split_tags(s)));
        }
    }
    let as_text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let converted = match kind {
        Some(AdoType::Identity) => identity_ref(v).map(FieldValue::User),
        Some(AdoType::Html) => Some(FieldValue::RichText(as_text(v))),
        Some(AdoType::Text) => Some(FieldValue::Text(as_text(v))),
        Some(AdoType::Integer | AdoType::Double) => match v {
            Value::Number(n) => n.as_f64().map(FieldValue::Number),
            Value::String(s) => s.trim().parse::<f64>().ok().map(FieldValue::Number),
            _ => None,
        },
        Some(AdoType::DateTime) => v.as_str().and_then(parse_time).map(FieldValue::DateTime),
        Some(AdoType::Boolean) => match v {
            Value::Bool(b) => Some(FieldValue::Bool(*b)),
            Value::String(s) => s.parse::<bool>().ok().map(FieldValue::Bool),
            _ => None,
        },
        Some(AdoType::Other) | None => None,
    };
    // A value that does not fit its declared type is still reported by its JSON shape.
    converted.or_else(|| Some(infer_value(v)))
}

fn infer_value(v: &Value) -> FieldValue {
    match v {
        Value::Null => FieldValue::Null,
        Value::Bool(b) => FieldValue::Bool(*b),
        Value::Number(n) => n.as_f64().map(FieldValue::Number).unwrap_or_else(|| FieldValue::Text(n.to_string())),
        Value::String(s) => FieldValue::Text(s.clone()),
        Value::Array(a) => FieldValue::List(
            a.iter().map(|x| x.as_str().map(str::to_string).unwrap_or_else(|| x.to_string())).collect(),
        ),
        Value::Object(_) => match identity_ref(v) {
            Some(u) => FieldValue::User(u),
            None => FieldValue::Text(v.to_string()),
        },
    }
}

pub(crate) fn split_tags(s: &str) -> Vec<String> {
    s.split(';').map(str::trim).filter(|t| !t.is_empty()).map(str::to_string).collect()
}

/// Converts a neutral value into the JSON a json-patch `add` writes into `field`.
/// The caller handles null values (a `remove` op, or nothing on create).
pub(crate) fn write_value(field: &str, kind: Option<AdoType>, value: &FieldValue) -> Result<Value, PortError> {
    let invalid = |what: &str| PortError::new(ErrorCategory::InvalidRequest, format!("field {field}: {what}"));
    if field.eq_ignore_ascii_case(TAGS) {
        if let FieldValue::List(items) = value {
            return Ok(Value::String(items.join("; ")));
        }
    }
    let plain = || -> Option<String> {
        Some(match value {
            FieldValue::Null => String::new(),
            FieldValue::Text(s) | FieldValue::Option(s) => s.clone(),
            FieldValue::RichText(h) => crate::html::to_text(h),
            FieldValue::Number(n) => ferry_domain::format_number(*n),
            FieldValue::Bool(b) => b.to_string(),
            FieldValue::DateTime(d) => format_time(*d),
            FieldValue::List(v) => v.join("; "),
            FieldValue::User(u) => user_write_string(u)?,
        })
    };
    match kind {
        Some(AdoType::Identity) => match value {
            FieldValue::User(u) => user_write_string(u)
                .map(Value::String)
                .ok_or_else(|| invalid("the user has neither an e-mail nor a display name")),
            FieldValue::Text(s) | FieldValue::Option(s) => Ok(Value::String(s.clone())),
            _ => Err(invalid("an identity field takes a user or an e-mail")),
        },
        Some(AdoType::Html) => Ok(Value::String(match value {
            FieldValue::RichText(h) => h.clone(),
            _ => escape_html(&plain().unwrap_or_default()),
        })),
        Some(AdoType::Integer | AdoType::Double) => {
            let n = match value {
                FieldValue::Number(n) => *n,
                FieldValue::Text(s) | FieldValue::Option(s) => {
                    s.trim().parse::<f64>().map_err(|_| invalid(&format!("{s:?} is not a number")))?
                }
                _ => return Err(invalid("a numeric field takes a number")),
            };
            if !n.is_finite() {
                return Err(invalid("the number is not finite"));
            }
            if kind == Some(AdoType::Integer) {
                if n.fract() != 0.0 {
                    return Err(invalid(&format!("{n} is not an integer")));
                }
                Ok(Value::from(n as i64))
            } else {
                Ok(serde_json::Number::from_f64(n).map(Value::Number).unwrap_or(Value::Null))
            }
        }
        Some(AdoType::DateTime) => match value {
            FieldValue::DateTime(d) => Ok(Value::String(format_time(*d))),
            FieldValue::Text(s) | FieldValue::Option(s) => parse_time(s)
                .map(|d| Value::String(format_time(d)))
                .ok_or_else(|| invalid(&format!("{s:?} is not an ISO date-time"))),
            _ => Err(invalid("a date-time field takes a date-time")),
        },
        Some(AdoType::Boolean) => match value {
            FieldValue::Bool(b) => Ok(Value::Bool(*b)),
            FieldValue::Text(s) | FieldValue::Option(s) => s
                .trim()
                .to_ascii_lowercase()
                .parse::<bool>()
                .map(Value::Bool)
                .map_err(|_| invalid(&format!("{s:?} is not true or false"))),
            _ => Err(invalid("a boolean field takes true or false")),
        },
        Some(AdoType::Text) => {
            plain().map(Value::String).ok_or_else(|| invalid("the user has neither an e-mail nor a display name"))
        }
        // Unknown to the catalog: write the natural JSON and let the server judge.
        Some(AdoType::Other) | None => Ok(match value {
            FieldValue::Number(n) => serde_json::Number::from_f64(*n).map(Value::Number).unwrap_or(Value::Null),
            FieldValue::Bool(b) => Value::Bool(*b),
            _ => Value::String(plain().unwrap_or_default()),
        }),
    }
}

/// Azure DevOps' limit on `string` fields (single-line text, string picklists), in characters.
pub(crate) const MAX_STRING_CHARS: usize = 255;

/// Rejects a value too long for a single-line field before sending it: a clear,
/// permanent error naming the field rather than a silent truncation. Long-text fields
/// (`html`, `plainText`) are left to the server, whose 400 message is surfaced.
pub(crate) fn check_length(field: &str, def: Option<&FieldDef>, value: &Value) -> Result<(), PortError> {
    let Some(def) = def else { return Ok(()) };
    if def.is_identity || !matches!(def.kind.as_deref(), Some("string" | "picklistString")) {
        return Ok(());
    }
    let n = value.as_str().map_or(0, |s| s.chars().count());
    if n > MAX_STRING_CHARS {
        return Err(PortError::new(
            ErrorCategory::InvalidRequest,
            format!(
                "field {field}: the value has {n} characters; Azure DevOps accepts at most {MAX_STRING_CHARS} in a string field, and Ferry does not truncate"
            ),
        ));
    }
    Ok(())
}

/// Identity fields accept an e-mail or a unique display name (docs/system-apis.md §3.7).
fn user_write_string(u: &UserRef) -> Option<String> {
    u.email.clone().filter(|e| !e.is_empty()).or_else(|| u.display_name.clone().filter(|n| !n.is_empty()))
}

pub(crate) fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    ferry_domain::html::escape_html_into(s, &mut out, true);
    out
}

/// ADO error bodies are `{"message": "...", "typeKey": "...", ...}`.
pub fn error_text(body: &[u8]) -> Option<String> {
    let v: Value = serde_json::from_slice(body).ok()?;
    let msg = v.get("message")?.as_str()?.trim();
    if msg.is_empty() {
        None
    } else {
        Some(msg.chars().take(500).collect())
    }
}
