//! Field values between Jira's wire shapes and Ferry's [`FieldValue`], by the field's
//! [`Kind`]: reading a value as Jira returns it, writing one as Jira takes it, and the
//! length limits Jira enforces.

use super::schema::{FieldMeta, Kind};
use super::time::{format_time, parse_date_str, parse_time, parse_time_str};
use super::wire::User;
use crate::{adf, html};
use ferry_domain::{format_number, ErrorCategory, FieldValue, PortError, UserRef};
use serde::Deserialize;
use serde_json::{json, Value};

// ---------------------------------------------------------------- read

/// A user object in a field value; `None` for any other shape.
pub fn user_in(v: &Value) -> Option<UserRef> {
    User::deserialize(v).ok()?.to_ref()
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
        Value::String(s) => string_value(s, kind)?,
        Value::Object(o) => {
            if o.get("type").and_then(Value::as_str) == Some("doc") {
                FieldValue::RichText(adf::adf_to_html(v).map_err(|e| e.to_string())?)
            } else if let Some(u) = user_in(v) {
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
                    Value::Object(_) => user_in(i).map(|u| u.id).or_else(|| lookup_name(i)),
                    _ => None,
                })
                .collect(),
        ),
    })
}

fn string_value(s: &str, kind: Kind) -> Result<FieldValue, String> {
    Ok(match kind {
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
            s.trim().parse::<f64>().map(FieldValue::Number).unwrap_or_else(|_| FieldValue::Text(s.to_string()))
        }
        Kind::Named | Kind::OptionValue => FieldValue::Option(s.to_string()),
        Kind::User => FieldValue::User(UserRef { id: s.to_string(), email: None, display_name: None }),
        _ => FieldValue::Text(s.to_string()),
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

fn invalid(meta: &FieldMeta, what: &str) -> PortError {
    PortError::new(ErrorCategory::InvalidRequest, format!("field {} ({}): {what}", meta.id, meta.name))
}

/// A value as text, for fields that take text.
fn as_text(v: &FieldValue) -> String {
    match v {
        FieldValue::RichText(h) => html::to_text(h),
        FieldValue::User(u) => u.display_name.clone().or_else(|| u.email.clone()).unwrap_or_else(|| u.id.clone()),
        FieldValue::List(l) => l.join(", "),
        other => other.key_string().unwrap_or_default(),
    }
}

/// Coerces a neutral value into the native shape of `meta`'s field; inline images
/// stay text labels (see [`to_wire_with`]).
pub fn to_wire(value: &FieldValue, meta: &FieldMeta) -> Result<Value, PortError> {
    to_wire_with(value, meta, &adf::NoMedia)
}

/// Coerces a neutral value into the native shape of `meta`'s field; a rich text's inline
/// images that `media` shows become media nodes.
pub fn to_wire_with(value: &FieldValue, meta: &FieldMeta, media: &dyn adf::Media) -> Result<Value, PortError> {
    if value.is_null() {
        return Ok(match meta.kind {
            Kind::StringArray | Kind::NamedArray | Kind::OptionArray | Kind::UserArray => json!([]),
            _ => Value::Null,
        });
    }
    Ok(match meta.kind {
        Kind::RichText => {
            let doc = match value {
                FieldValue::RichText(h) => adf::html_to_adf_with(h, media),
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
        Kind::Number => number_wire(value, meta)?,
        Kind::Bool => bool_wire(value, meta)?,
        Kind::DateTime | Kind::Date => date_wire(value, meta)?,
        Kind::Named => json!({"name": as_text(value)}),
        Kind::OptionValue => json!({"value": as_text(value)}),
        Kind::Project => json!({"key": as_text(value)}),
        Kind::User => match value {
            FieldValue::User(u) => json!({"accountId": u.id}),
            other => json!({"accountId": as_text(other)}),
        },
        Kind::StringArray | Kind::NamedArray | Kind::OptionArray | Kind::UserArray => list_wire(value, meta.kind),
        Kind::Other => natural_wire(value),
    })
}

fn number_wire(value: &FieldValue, meta: &FieldMeta) -> Result<Value, PortError> {
    Ok(match value {
        FieldValue::Number(n) => json!(n),
        other => {
            let s = as_text(other);
            let n: f64 = s.trim().parse().map_err(|_| invalid(meta, &format!("{s:?} is not a number")))?;
            json!(n)
        }
    })
}

fn bool_wire(value: &FieldValue, meta: &FieldMeta) -> Result<Value, PortError> {
    Ok(match value {
        FieldValue::Bool(b) => json!(b),
        other => match as_text(other).trim().to_ascii_lowercase().as_str() {
            "true" | "yes" | "1" => json!(true),
            "false" | "no" | "0" => json!(false),
            s => return Err(invalid(meta, &format!("{s:?} is not a boolean"))),
        },
    })
}

fn date_wire(value: &FieldValue, meta: &FieldMeta) -> Result<Value, PortError> {
    let d = match value {
        FieldValue::DateTime(d) => *d,
        other => {
            let s = as_text(other);
            parse_time_str(&s)
                .or_else(|| parse_date_str(&s))
                .ok_or_else(|| invalid(meta, &format!("{s:?} is not a date/time")))?
        }
    };
    Ok(if meta.kind == Kind::Date { json!(d.format("%Y-%m-%d").to_string()) } else { json!(format_time(&d)) })
}

fn list_wire(value: &FieldValue, kind: Kind) -> Value {
    let items: Vec<String> = match value {
        FieldValue::List(l) => l.clone(),
        FieldValue::User(u) => vec![u.id.clone()],
        other => vec![as_text(other)],
    };
    let wrap = |s: String| match kind {
        Kind::NamedArray => json!({"name": s}),
        Kind::OptionArray => json!({"value": s}),
        Kind::UserArray => json!({"accountId": s}),
        _ => json!(s),
    };
    Value::Array(items.into_iter().map(wrap).collect())
}

/// A field of unknown schema: the value's natural JSON.
fn natural_wire(value: &FieldValue) -> Value {
    match value {
        FieldValue::Text(s) | FieldValue::Option(s) => json!(s),
        FieldValue::RichText(h) => adf::html_to_adf(h),
        FieldValue::Number(n) => json!(n),
        FieldValue::Bool(b) => json!(b),
        FieldValue::DateTime(d) => json!(format_time(d)),
        FieldValue::List(l) => json!(l),
        FieldValue::User(u) => json!({"accountId": u.id}),
        FieldValue::Null => Value::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jira::schema::meta;
    use chrono::{DateTime, Utc};

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
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
