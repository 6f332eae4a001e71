//! Pure pieces of the Jira connector: timestamps, JQL, field schemas and value
//! conversion between Jira's wire shapes and Ferry's [`FieldValue`].

use crate::{adf, html};
use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use ferry_domain::filter_scope::QueryLanguage;
use ferry_domain::ports::QueryFilter;
use ferry_domain::{format_number, ErrorCategory, FieldType, FieldValue, PortError, UserRef};
use jiff::tz::{AmbiguousOffset, TimeZone as Zone};
use serde_json::{json, Value};

// ---------------------------------------------------------------- timestamps

/// Parses a Jira timestamp: `2026-11-26T19:24:50.123+0100` (offset without a colon),
/// RFC 3339, or an epoch number (seconds or milliseconds; the bulk changelog example).
pub fn parse_time(v: &Value) -> Option<DateTime<Utc>> {
    match v {
        Value::String(s) => parse_time_str(s),
        Value::Number(n) => n.as_i64().and_then(epoch).or_else(|| n.as_f64().and_then(|f| epoch(f as i64))),
        _ => None,
    }
}

pub fn parse_time_str(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if let Ok(d) = DateTime::parse_from_rfc3339(s) {
        return Some(d.with_timezone(&Utc));
    }
    for f in ["%Y-%m-%dT%H:%M:%S%.f%z", "%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M%z"] {
        if let Ok(d) = DateTime::parse_from_str(s, f) {
            return Some(d.with_timezone(&Utc));
        }
    }
    if let Ok(n) = s.parse::<i64>() {
        return epoch(n);
    }
    None
}

/// Epoch seconds or milliseconds (values beyond year 5138 in seconds are read as ms).
fn epoch(n: i64) -> Option<DateTime<Utc>> {
    if n.abs() >= 100_000_000_000 {
        Utc.timestamp_millis_opt(n).single()
    } else {
        Utc.timestamp_opt(n, 0).single()
    }
}

/// A date-only value (`2026-11-26`) as midnight UTC.
pub fn parse_date_str(s: &str) -> Option<DateTime<Utc>> {
    NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|n| Utc.from_utc_datetime(&n))
}

/// The wire form Jira accepts for datetime fields.
pub fn format_time(d: &DateTime<Utc>) -> String {
    d.format("%Y-%m-%dT%H:%M:%S%.3f+0000").to_string()
}

/// The JQL date literal (`yyyy/MM/dd HH:mm`, read in the searcher's profile zone) for
/// `since`, floored to the minute. If the local minute is ambiguous or skipped (DST),
/// it steps back an hour at a time so the window never narrows.
pub fn jql_since_literal(since: DateTime<Utc>, tz: &Zone) -> String {
    let since_s = since.timestamp();
    let not_after = |offset: jiff::tz::Offset, local: jiff::civil::DateTime| {
        offset.to_timestamp(local).is_ok_and(|t| t.as_second() <= since_s)
    };
    let mut at = since_s;
    for _ in 0..4 {
        let Some(local) = local_minute(at, tz) else { break };
        let ok = match tz.to_ambiguous_timestamp(local).offset() {
            AmbiguousOffset::Unambiguous { offset } => not_after(offset, local),
            AmbiguousOffset::Fold { before, after } => not_after(before, local) && not_after(after, local),
            AmbiguousOffset::Gap { .. } => false,
        };
        if ok {
            return jql_minute(local);
        }
        at -= 3600;
    }
    match local_minute(at, tz) {
        Some(local) => jql_minute(local),
        // Outside jiff's years -9999..=9999: no real watermark is.
        None => since.format("%Y/%m/%d %H:%M").to_string(),
    }
}

/// The civil minute (seconds dropped) of a UTC second in `tz`.
fn local_minute(secs: i64, tz: &Zone) -> Option<jiff::civil::DateTime> {
    let local = tz.to_datetime(jiff::Timestamp::from_second(secs).ok()?);
    local.with().second(0).subsec_nanosecond(0).build().ok()
}

fn jql_minute(d: jiff::civil::DateTime) -> String {
    format!("{:04}/{:02}/{:02} {:02}:{:02}", d.year(), d.month(), d.day(), d.hour(), d.minute())
}

// ---------------------------------------------------------------- JQL

/// A JQL string literal: `"…"` with `"` and `\` escaped.
pub fn jql_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The JQL clause name of a field: `cf[10050]` for custom fields, the id otherwise.
pub fn jql_field(key: &str) -> String {
    match key.strip_prefix("customfield_") {
        Some(n) if !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()) => format!("cf[{n}]"),
        _ => key.to_string(),
    }
}

pub fn changed_since_jql(
    project: &str,
    issue_type: &str,
    since_literal: &str,
    filter: Option<&QueryFilter>,
) -> Result<String, PortError> {
    let mut jql = format!(
        "project = {} AND issuetype = {} AND updated >= {}",
        jql_str(project),
        jql_str(issue_type),
        jql_str(since_literal)
    );
    jql.push_str(&crate::filter::clause(QueryLanguage::Jql, filter)?);
    jql.push_str(" ORDER BY updated ASC, key ASC");
    Ok(jql)
}

// ---------------------------------------------------------------- errors

/// Jira `ErrorCollection` (`{errorMessages:[…], errors:{field: msg}}`) as one line.
pub fn error_text(body: &[u8]) -> Option<String> {
    let v: Value = serde_json::from_slice(body).ok()?;
    let mut parts: Vec<String> = Vec::new();
    if let Some(msgs) = v.get("errorMessages").and_then(Value::as_array) {
        parts.extend(msgs.iter().filter_map(Value::as_str).map(str::to_string));
    }
    if let Some(errs) = v.get("errors").and_then(Value::as_object) {
        for (field, msg) in errs {
            let msg = msg.as_str().map(str::to_string).unwrap_or_else(|| msg.to_string());
            parts.push(format!("{field}: {msg}"));
        }
    }
    if parts.is_empty() {
        v.get("message").and_then(Value::as_str).map(str::to_string)
    } else {
        Some(parts.join("; "))
    }
}

/// Refines a 400/422 whose messages say a field is required.
pub fn refine_write_error(e: PortError) -> PortError {
    if e.category == ErrorCategory::InvalidRequest
        && ["required", "must specify"].iter().any(|w| e.message.to_ascii_lowercase().contains(w))
    {
        PortError { category: ErrorCategory::RequiredFieldMissing, ..e }
    } else {
        e
    }
}

pub fn bad_response(what: &str, detail: impl std::fmt::Display) -> PortError {
    PortError::new(ErrorCategory::BadResponse, format!("jira {what}: {detail}"))
}

// ---------------------------------------------------------------- field schemas

/// How a field's values are shaped, from its `/field` schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// ADF document (description, environment, textarea custom fields).
    RichText,
    Text,
    Number,
    DateTime,
    Date,
    /// A look-up addressed by `name` (priority, status, resolution, issuetype, ...).
    Named,
    /// A custom select addressed by `value`.
    OptionValue,
    User,
    Project,
    StringArray,
    /// Array of options / components / versions.
    NamedArray,
    OptionArray,
    UserArray,
    Bool,
    Other,
}

#[derive(Debug, Clone, PartialEq)]
pub struct FieldMeta {
    pub id: String,
    pub name: String,
    pub kind: Kind,
    pub schema_type: String,
}

impl FieldMeta {
    /// Reads one `FieldDetails` (or createmeta `FieldCreateMetadata`) entry.
    pub fn from_json(v: &Value) -> Option<FieldMeta> {
        let id = v.get("id").or_else(|| v.get("fieldId")).or_else(|| v.get("key")).and_then(Value::as_str)?.to_string();
        let name = v.get("name").and_then(Value::as_str).unwrap_or(&id).to_string();
        let schema = v.get("schema").cloned().unwrap_or(Value::Null);
        let schema_type = schema.get("type").and_then(Value::as_str).unwrap_or("").to_string();
        Some(FieldMeta { kind: kind_of(&id, &schema), id, name, schema_type })
    }

    pub fn field_type(&self) -> FieldType {
        match self.kind {
            Kind::RichText => FieldType::RichText,
            Kind::Text => FieldType::Text,
            Kind::Number => FieldType::Number,
            Kind::DateTime | Kind::Date => FieldType::DateTime,
            Kind::Named | Kind::OptionValue | Kind::Project => FieldType::Option,
            Kind::User => FieldType::User,
            Kind::StringArray | Kind::NamedArray | Kind::OptionArray | Kind::UserArray => FieldType::List,
            Kind::Bool => FieldType::Bool,
            Kind::Other => FieldType::Other,
        }
    }
}

pub fn kind_of(id: &str, schema: &Value) -> Kind {
    let ty = schema.get("type").and_then(Value::as_str).unwrap_or("");
    let system = schema.get("system").and_then(Value::as_str).unwrap_or("");
    let custom = schema.get("custom").and_then(Value::as_str).unwrap_or("");
    let items = schema.get("items").and_then(Value::as_str).unwrap_or("");
    if ty == "doc"
        || matches!(system, "description" | "environment")
        || matches!(id, "description" | "environment")
        || custom.ends_with(":textarea")
    {
        return Kind::RichText;
    }
    match ty {
        "string" => Kind::Text,
        "number" => Kind::Number,
        "datetime" => Kind::DateTime,
        "date" => Kind::Date,
        "boolean" => Kind::Bool,
        "user" => Kind::User,
        "project" => Kind::Project,
        "option" | "option-with-child" => Kind::OptionValue,
        "priority" | "status" | "resolution" | "issuetype" | "securitylevel" | "version" | "component" => Kind::Named,
        "array" => match items {
            "string" => Kind::StringArray,
            "option" => Kind::OptionArray,
            "user" => Kind::UserArray,
            "component" | "version" => Kind::NamedArray,
            _ => Kind::Other,
        },
        _ => Kind::Other,
    }
}

// ---------------------------------------------------------------- read

pub fn user_ref(v: &Value) -> Option<UserRef> {
    let id = v.get("accountId").and_then(Value::as_str)?;
    Some(UserRef {
        id: id.to_string(),
        email: v.get("emailAddress").and_then(Value::as_str).filter(|e| !e.is_empty()).map(str::to_string),
        display_name: v.get("displayName").and_then(Value::as_str).map(str::to_string),
    })
}

fn lookup_name(v: &Value) -> Option<String> {
    ["value", "name", "key", "id"].iter().find_map(|k| v.get(*k).and_then(Value::as_str)).map(str::to_string)
}

/// Converts a field's wire value into Ferry's neutral form. Unknown fields (no
/// schema) are converted by the value's own shape.
pub fn to_field_value(v: &Value, kind: Option<Kind>) -> Result<FieldValue, String> {
    let kind = kind.unwrap_or(Kind::Other);
    Ok(match v {
        Value::Null => FieldValue::Null,
        Value::Bool(b) => FieldValue::Bool(*b),
        Value::Number(n) => match kind {
            Kind::DateTime => parse_time(v).map(FieldValue::DateTime).unwrap_or(FieldValue::Null),
            Kind::Text => FieldValue::Text(n.to_string()),
            _ => FieldValue::Number(n.as_f64().unwrap_or(0.0)),
        },
        Value::String(s) => match kind {
            Kind::DateTime => {
                FieldValue::DateTime(parse_time_str(s).ok_or_else(|| format!("timestamp {s:?} is not readable"))?)
            }
            Kind::Date => FieldValue::DateTime(
                parse_date_str(s).or_else(|| parse_time_str(s)).ok_or_else(|| format!("date {s:?} is not readable"))?,
            ),
            // v2-style plain text in a rich field.
            Kind::RichText if s.is_empty() => FieldValue::Null,
            Kind::RichText => FieldValue::RichText(format!("<p>{}</p>", html::escape(s))),
            Kind::Number => {
                s.trim().parse::<f64>().map(FieldValue::Number).unwrap_or_else(|_| FieldValue::Text(s.clone()))
            }
            Kind::Named | Kind::OptionValue => FieldValue::Option(s.clone()),
            Kind::User => FieldValue::User(UserRef { id: s.clone(), email: None, display_name: None }),
            _ => FieldValue::Text(s.clone()),
        },
        Value::Object(o) => {
            if o.get("type").and_then(Value::as_str) == Some("doc") {
                FieldValue::RichText(adf::adf_to_html(v).map_err(|e| e.to_string())?)
            } else if let Some(u) = user_ref(v) {
                FieldValue::User(u)
            } else if kind == Kind::Project {
                FieldValue::Option(
                    o.get("key").or_else(|| o.get("name")).and_then(Value::as_str).unwrap_or("").to_string(),
                )
            } else if let Some(n) = lookup_name(v) {
                FieldValue::Option(n)
            } else {
                return Err("object value has no value, name or accountId".into());
            }
        }
        Value::Array(items) => FieldValue::List(
            items
                .iter()
                .filter_map(|i| match i {
                    Value::String(s) => Some(s.clone()),
                    Value::Number(n) => Some(n.to_string()),
                    Value::Object(_) => user_ref(i).map(|u| u.id).or_else(|| lookup_name(i)),
                    _ => None,
                })
                .collect(),
        ),
    })
}

// ---------------------------------------------------------------- write

/// Jira Cloud's limit on the summary (and single-line text), in characters.
pub const MAX_SUMMARY_CHARS: usize = 255;
/// Jira Cloud's limit on other text fields (description, multi-line text), in characters.
pub const MAX_TEXT_CHARS: usize = 32_767;

/// Rejects a value Jira would refuse for its length, before sending it: a clear,
/// permanent error naming the field, rather than a silent truncation or a bare 400.
/// Rich text counts its plain text, a lower bound of what Jira counts, so a document
/// that passes may still be refused (that 400 carries Jira's own message).
fn check_length(meta: &FieldMeta, text: &str) -> Result<(), PortError> {
    let limit = if meta.id == "summary" { MAX_SUMMARY_CHARS } else { MAX_TEXT_CHARS };
    let n = text.chars().count();
    if n > limit {
        return Err(PortError::new(
            ErrorCategory::InvalidRequest,
            format!(
                "field {} ({}): the value has {n} characters; Jira accepts at most {limit}, and Ferry does not truncate",
                meta.id, meta.name
            ),
        ));
    }
    Ok(())
}

/// Coerces a neutral value into the native shape of `meta`'s field.
pub fn to_wire(value: &FieldValue, meta: &FieldMeta) -> Result<Value, PortError> {
    let invalid = |what: &str| {
        PortError::new(ErrorCategory::InvalidRequest, format!("field {} ({}): {what}", meta.id, meta.name))
    };
    if value.is_null() {
        return Ok(match meta.kind {
            Kind::StringArray | Kind::NamedArray | Kind::OptionArray | Kind::UserArray => json!([]),
            _ => Value::Null,
        });
    }
    let as_text = |v: &FieldValue| -> String {
        match v {
            FieldValue::RichText(h) => html::to_text(h),
            FieldValue::User(u) => u.display_name.clone().or_else(|| u.email.clone()).unwrap_or_else(|| u.id.clone()),
            FieldValue::List(l) => l.join(", "),
            other => other.key_string().unwrap_or_default(),
        }
    };
    Ok(match meta.kind {
        Kind::RichText => {
            let doc = match value {
                FieldValue::RichText(h) => adf::html_to_adf(h),
                other => adf::text_to_adf(&as_text(other)),
            };
            check_length(meta, &adf::adf_to_text(&doc))?;
            doc
        }
        Kind::Text => {
            let s = as_text(value);
            check_length(meta, &s)?;
            Value::String(s)
        }
        Kind::Number => match value {
            FieldValue::Number(n) => json!(n),
            other => {
                let s = as_text(other);
                let n: f64 = s.trim().parse().map_err(|_| invalid(&format!("{s:?} is not a number")))?;
                json!(n)
            }
        },
        Kind::Bool => match value {
            FieldValue::Bool(b) => json!(b),
            other => match as_text(other).trim().to_ascii_lowercase().as_str() {
                "true" | "yes" | "1" => json!(true),
                "false" | "no" | "0" => json!(false),
                s => return Err(invalid(&format!("{s:?} is not a boolean"))),
            },
        },
        Kind::DateTime | Kind::Date => {
            let d = match value {
                FieldValue::DateTime(d) => *d,
                other => {
                    let s = as_text(other);
                    parse_time_str(&s)
                        .or_else(|| parse_date_str(&s))
                        .ok_or_else(|| invalid(&format!("{s:?} is not a date/time")))?
                }
            };
            if meta.kind == Kind::Date {
                json!(d.format("%Y-%m-%d").to_string())
            } else {
                json!(format_time(&d))
            }
        }
        Kind::Named => json!({"name": as_text(value)}),
        Kind::OptionValue => json!({"value": as_text(value)}),
        Kind::Project => json!({"key": as_text(value)}),
        Kind::User => match value {
            FieldValue::User(u) => json!({"accountId": u.id}),
            other => json!({"accountId": as_text(other)}),
        },
        Kind::StringArray | Kind::NamedArray | Kind::OptionArray | Kind::UserArray => {
            let items: Vec<String> = match value {
                FieldValue::List(l) => l.clone(),
                FieldValue::User(u) => vec![u.id.clone()],
                other => vec![as_text(other)],
            };
            let wrap = |s: String| match meta.kind {
                Kind::NamedArray => json!({"name": s}),
                Kind::OptionArray => json!({"value": s}),
                Kind::UserArray => json!({"accountId": s}),
                _ => json!(s),
            };
            Value::Array(items.into_iter().map(wrap).collect())
        }
        Kind::Other => match value {
            FieldValue::Text(s) | FieldValue::Option(s) => json!(s),
            FieldValue::RichText(h) => adf::html_to_adf(h),
            FieldValue::Number(n) => json!(n),
            FieldValue::Bool(b) => json!(b),
            FieldValue::DateTime(d) => json!(format_time(d)),
            FieldValue::List(l) => json!(l),
            FieldValue::User(u) => json!({"accountId": u.id}),
            FieldValue::Null => Value::Null,
        },
    })
}

/// The value a search hit is compared against in `find_by_field`.
pub fn search_key(v: &FieldValue) -> Option<String> {
    match v {
        FieldValue::Number(n) => Some(format_number(*n)),
        FieldValue::RichText(h) => Some(adf::adf_to_text(&adf::html_to_adf(h))),
        FieldValue::User(u) => Some(u.id.clone()),
        other => other.key_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn timestamps_parse_in_every_wire_form() {
        let cases: Vec<(Value, Option<&str>)> = vec![
            (json!("2026-11-26T19:24:50.123+0100"), Some("2026-11-26T18:24:50.123Z")),
            (json!("2023-06-24T19:24:50.000+0000"), Some("2023-06-24T19:24:50Z")),
            (json!("2026-11-26T19:24:50+0100"), Some("2026-11-26T18:24:50Z")),
            (json!("2026-11-26T19:24:50.5+01:00"), Some("2026-11-26T18:24:50.5Z")),
            (json!("2026-11-26T18:24:50Z"), Some("2026-11-26T18:24:50Z")),
            (json!(1492070429), Some("2017-04-13T08:00:29Z")),
            (json!(1492070429123i64), Some("2017-04-13T08:00:29.123Z")),
            (json!("1492070429123"), Some("2017-04-13T08:00:29.123Z")),
            (json!("yesterday"), None),
            (json!(null), None),
            (json!({"a": 1}), None),
        ];
        for (input, want) in cases {
            assert_eq!(parse_time(&input), want.map(utc), "{input}");
        }
    }

    #[test]
    fn jql_since_is_local_to_the_user_and_floored_to_the_minute() {
        let berlin = Zone::get("Europe/Berlin").unwrap();
        let ny = Zone::get("America/New_York").unwrap();
        let cases = [
            ("2026-11-26T18:24:50.9Z", &berlin, "2026/11/26 19:24"),
            ("2026-11-26T18:24:00Z", &berlin, "2026/11/26 19:24"),
            ("2026-07-01T00:00:59Z", &berlin, "2026/07/01 02:00"),
            ("2026-11-26T03:10:00Z", &ny, "2026/11/25 22:10"),
            ("2026-11-26T23:59:59Z", &Zone::UTC, "2026/11/26 23:59"),
            // 02:30 local on 2026-10-25 exists twice in Berlin: step back an hour so
            // the later reading cannot narrow the window.
            ("2026-10-25T00:30:30Z", &berlin, "2026/10/25 01:30"),
            ("2026-10-25T01:30:30Z", &berlin, "2026/10/25 02:30"),
        ];
        for (since, tz, want) in cases {
            assert_eq!(jql_since_literal(utc(since), tz), want, "{since} in {tz:?}");
        }
    }

    #[test]
    fn changed_since_jql_quotes_and_applies_filters() {
        let filter = |c: &str, negate: bool| QueryFilter { condition: c.into(), negate };
        assert_eq!(
            changed_since_jql("APP", "Bug", "2026/11/26 19:24", None).unwrap(),
            "project = \"APP\" AND issuetype = \"Bug\" AND updated >= \"2026/11/26 19:24\" ORDER BY updated ASC, key ASC"
        );
        assert_eq!(
            changed_since_jql("A\"B", "Bug", "x", Some(&filter("labels = sync", true))).unwrap(),
            "project = \"A\\\"B\" AND issuetype = \"Bug\" AND updated >= \"x\" AND NOT (labels = sync) ORDER BY updated ASC, key ASC"
        );
        assert!(changed_since_jql("A", "B", "x", Some(&filter("priority = High", false)))
            .unwrap()
            .contains(" AND (priority = High) "));
        let e =
            changed_since_jql("APP", "Bug", "x", Some(&filter("labels = sync) OR (project = HR", false))).unwrap_err();
        assert_eq!(e.category, ErrorCategory::Config);
        assert!(e.message.contains("closes a parenthesis"), "{e}");
        assert_eq!(jql_field("customfield_10050"), "cf[10050]");
        assert_eq!(jql_field("summary"), "summary");
    }

    #[test]
    fn error_collection_becomes_one_line() {
        let body = br#"{"errorMessages":["Issue does not exist"],"errors":{"resolution":"Resolution is required."},"status":400}"#;
        assert_eq!(error_text(body).as_deref(), Some("Issue does not exist; resolution: Resolution is required."));
        assert_eq!(error_text(b"<html>"), None);
        let e = PortError::new(ErrorCategory::InvalidRequest, "x: resolution: Resolution is required.");
        assert_eq!(refine_write_error(e).category, ErrorCategory::RequiredFieldMissing);
        let e = PortError::new(ErrorCategory::InvalidRequest, "x: summary: too long");
        assert_eq!(refine_write_error(e).category, ErrorCategory::InvalidRequest);
    }

    fn meta(id: &str, schema: Value) -> FieldMeta {
        FieldMeta::from_json(&json!({"id": id, "name": id, "schema": schema})).unwrap()
    }

    #[test]
    fn oversized_text_is_a_permanent_error_naming_the_field_not_a_truncation() {
        let summary = meta("summary", json!({"type": "string", "system": "summary"}));
        let description = meta("description", json!({"type": "string", "system": "description"}));
        let ok = "x".repeat(MAX_SUMMARY_CHARS);
        assert_eq!(to_wire(&FieldValue::Text(ok.clone()), &summary).unwrap(), json!(ok));
        // Characters, not bytes: 255 two-byte characters still fit.
        assert!(to_wire(&FieldValue::Text("é".repeat(MAX_SUMMARY_CHARS)), &summary).is_ok());
        let e = to_wire(&FieldValue::Text("x".repeat(MAX_SUMMARY_CHARS + 1)), &summary).unwrap_err();
        assert_eq!(e.category, ErrorCategory::InvalidRequest);
        assert!(!e.is_retryable());
        assert!(
            e.message.contains("field summary (summary): the value has 256 characters; Jira accepts at most 255"),
            "{e}"
        );
        let long = format!("<p>{}</p>", "y".repeat(MAX_TEXT_CHARS + 1));
        let e = to_wire(&FieldValue::RichText(long), &description).unwrap_err();
        assert_eq!(e.category, ErrorCategory::InvalidRequest);
        assert!(e.message.contains("field description (description): the value has 32768 characters"), "{e}");
        // Markup does not count: only the text Jira stores.
        let fits = format!("<p><b>{}</b></p>", "y".repeat(MAX_TEXT_CHARS));
        assert!(to_wire(&FieldValue::RichText(fits), &description).is_ok());
        let e = to_wire(&FieldValue::Text("z".repeat(MAX_TEXT_CHARS + 1)), &description).unwrap_err();
        assert!(e.message.contains("32767"), "{e}");
    }

    #[test]
    fn schemas_classify_into_kinds() {
        let cases = [
            (json!({"type": "string", "system": "description"}), "description", Kind::RichText),
            (
                json!({"type": "string", "custom": "com.atlassian.jira.plugin.system.customfieldtypes:textarea", "customId": 1}),
                "customfield_1",
                Kind::RichText,
            ),
            (
                json!({"type": "string", "custom": "com.atlassian.jira.plugin.system.customfieldtypes:textfield"}),
                "customfield_2",
                Kind::Text,
            ),
            (json!({"type": "number"}), "customfield_3", Kind::Number),
            (json!({"type": "option"}), "customfield_4", Kind::OptionValue),
            (json!({"type": "priority", "system": "priority"}), "priority", Kind::Named),
            (json!({"type": "user"}), "assignee", Kind::User),
            (json!({"type": "array", "items": "string", "system": "labels"}), "labels", Kind::StringArray),
            (json!({"type": "datetime"}), "updated", Kind::DateTime),
            (json!({"type": "date"}), "duedate", Kind::Date),
            (json!({"type": "any"}), "x", Kind::Other),
        ];
        for (schema, id, want) in cases {
            assert_eq!(meta(id, schema.clone()).kind, want, "{schema}");
        }
    }

    #[test]
    fn wire_values_convert_by_schema() {
        let alice = json!({"accountId": "5b1", "emailAddress": "alice@acme.test", "displayName": "Alice Jones", "accountType": "atlassian"});
        let adf = json!({"type": "doc", "version": 1, "content": [{"type": "paragraph", "content": [{"type": "text", "text": "Order entry fails"}]}]});
        let cases: Vec<(Value, Option<Kind>, FieldValue)> = vec![
            (adf, Some(Kind::RichText), FieldValue::RichText("<p>Order entry fails</p>".into())),
            (json!("plain"), Some(Kind::RichText), FieldValue::RichText("<p>plain</p>".into())),
            (json!("Main flow"), Some(Kind::Text), FieldValue::Text("Main flow".into())),
            (json!(5.5), Some(Kind::Number), FieldValue::Number(5.5)),
            (
                json!("2026-11-26T19:24:50.000+0100"),
                Some(Kind::DateTime),
                FieldValue::DateTime(utc("2026-11-26T18:24:50Z")),
            ),
            (json!("2026-11-26"), Some(Kind::Date), FieldValue::DateTime(utc("2026-11-26T00:00:00Z"))),
            (json!({"id": "3", "name": "Medium"}), Some(Kind::Named), FieldValue::Option("Medium".into())),
            (
                json!({"id": "1", "value": "Major", "self": "x"}),
                Some(Kind::OptionValue),
                FieldValue::Option("Major".into()),
            ),
            (
                json!({"id": "10001", "name": "Done", "statusCategory": {}}),
                Some(Kind::Named),
                FieldValue::Option("Done".into()),
            ),
            (
                alice,
                Some(Kind::User),
                FieldValue::User(UserRef {
                    id: "5b1".into(),
                    email: Some("alice@acme.test".into()),
                    display_name: Some("Alice Jones".into()),
                }),
            ),
            (
                json!({"accountId": "5b5", "displayName": "Dave Hidden"}),
                Some(Kind::User),
                FieldValue::User(UserRef { id: "5b5".into(), email: None, display_name: Some("Dave Hidden".into()) }),
            ),
            (json!(["a", "b"]), Some(Kind::StringArray), FieldValue::List(vec!["a".into(), "b".into()])),
            (json!(null), Some(Kind::User), FieldValue::Null),
            (
                json!({"id": "10000", "key": "APP", "name": "Application"}),
                Some(Kind::Project),
                FieldValue::Option("APP".into()),
            ),
        ];
        for (wire, kind, want) in cases {
            assert_eq!(to_field_value(&wire, kind).unwrap(), want, "{wire}");
        }
        assert!(to_field_value(&json!("soon"), Some(Kind::DateTime)).is_err());
        assert!(to_field_value(&json!({"type": "doc", "version": 7}), Some(Kind::RichText)).is_err());
    }

    #[test]
    fn neutral_values_coerce_to_native_shapes() {
        let desc = meta("description", json!({"type": "string", "system": "description"}));
        let summary = meta("summary", json!({"type": "string", "system": "summary"}));
        let priority = meta("priority", json!({"type": "priority", "system": "priority"}));
        let severity = meta("customfield_10051", json!({"type": "option", "custom": "x:select"}));
        let points = meta("customfield_10052", json!({"type": "number"}));
        let assignee = meta("assignee", json!({"type": "user"}));
        let labels = meta("labels", json!({"type": "array", "items": "string"}));
        let due = meta("duedate", json!({"type": "date"}));
        let user = UserRef { id: "5b2".into(), email: None, display_name: None };
        let cases: Vec<(FieldValue, &FieldMeta, Value)> = vec![
            (
                FieldValue::RichText("<p><b>x</b></p>".into()),
                &desc,
                json!({"type": "doc", "version": 1, "content": [{"type": "paragraph", "content": [{"type": "text", "text": "x", "marks": [{"type": "strong"}]}]}]}),
            ),
            (
                FieldValue::Text("line".into()),
                &desc,
                json!({"type": "doc", "version": 1, "content": [{"type": "paragraph", "content": [{"type": "text", "text": "line"}]}]}),
            ),
            (FieldValue::RichText("<p>a &amp; b</p>".into()), &summary, json!("a & b")),
            (FieldValue::Option("High".into()), &priority, json!({"name": "High"})),
            (FieldValue::Option("Major".into()), &severity, json!({"value": "Major"})),
            (FieldValue::Text("3".into()), &points, json!(3.0)),
            (FieldValue::Number(2.0), &points, json!(2.0)),
            (FieldValue::User(user), &assignee, json!({"accountId": "5b2"})),
            (FieldValue::Null, &assignee, Value::Null),
            (FieldValue::List(vec!["a".into()]), &labels, json!(["a"])),
            (FieldValue::Null, &labels, json!([])),
            (FieldValue::DateTime(utc("2026-11-26T18:00:00Z")), &due, json!("2026-11-26")),
        ];
        for (value, m, want) in cases {
            assert_eq!(to_wire(&value, m).unwrap(), want, "{value:?} -> {}", m.id);
        }
        let err = to_wire(&FieldValue::Text("many".into()), &points).unwrap_err();
        assert_eq!(err.category, ErrorCategory::InvalidRequest);
        assert!(err.message.contains("customfield_10052"));
    }
}
