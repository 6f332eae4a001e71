//! An issue's history in a revision window, from its changelog. A Jira revision is the
//! issue's `updated` in milliseconds, and every changelog entry's `created` is the
//! `updated` it gave the issue, so the window is a range of entry times.

use super::convert::{self, FieldMeta, Kind};
use ferry_domain::ports::PortResult;
use ferry_domain::{ErrorCategory, FieldKey, FieldValue, HistoryEntry, PortError, UserRef};
use serde_json::Value;
use std::collections::HashMap;

/// A revision as milliseconds.
pub(super) fn revision_millis(r: &str) -> PortResult<i64> {
    r.trim().parse::<i64>().map_err(|_| {
        PortError::new(
            ErrorCategory::InvalidRequest,
            format!("{r:?} is not a Jira revision (the issue's updated time in milliseconds)"),
        )
    })
}

/// When a changelog entry was made, in milliseconds; `None` when unreadable.
pub(super) fn entry_millis(h: &Value) -> Option<i64> {
    h.get("created").and_then(convert::parse_time).map(|t| t.timestamp_millis())
}

/// Whether entry `h` is inside the window `(after, through]`. An entry whose time is
/// unreadable counts as inside: it may be someone else's change.
pub(super) fn in_window(h: &Value, after: Option<i64>, through: i64) -> bool {
    entry_millis(h).is_none_or(|t| after.is_none_or(|a| t > a) && t <= through)
}

/// One changelog entry as a history entry: each item's field under the requested key
/// that names it, with its new value where the changelog gives it comparably.
pub(super) fn entry(h: &Value, requested: &[FieldKey], metas: &HashMap<String, FieldMeta>) -> HistoryEntry {
    let fields = h
        .get("items")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|item| {
            let id = item
                .get("fieldId")
                .and_then(Value::as_str)
                .or_else(|| item.get("field").and_then(Value::as_str))
                .unwrap_or_default();
            let key = requested
                .iter()
                .find(|k| k.as_str().eq_ignore_ascii_case(id))
                .cloned()
                .unwrap_or_else(|| FieldKey::new(id));
            let value = new_value(item, metas.get(id).map(|m| m.kind));
            (key, value)
        })
        .collect();
    HistoryEntry { author: h.get("author").and_then(convert::user_ref), created: false, fields }
}

/// The creation, by the issue's creator (Jira writes no changelog entry for it).
pub(super) fn creation(issue: &Value) -> HistoryEntry {
    let f = issue.get("fields");
    let author: Option<UserRef> = f.and_then(|f| {
        f.get("creator").and_then(convert::user_ref).or_else(|| f.get("reporter").and_then(convert::user_ref))
    });
    HistoryEntry { author, created: true, fields: Vec::new() }
}

/// A changelog item's new value in the form Ferry writes, for the kinds whose
/// `to` / `toString` say it unambiguously; `None` otherwise (rich text, lists, dates).
fn new_value(item: &Value, kind: Option<Kind>) -> Option<FieldValue> {
    let to_string = item.get("toString").and_then(Value::as_str);
    let to = item.get("to").and_then(Value::as_str);
    let empty = to_string.is_none_or(str::is_empty) && to.is_none_or(str::is_empty);
    match kind? {
        _ if empty => Some(FieldValue::Null),
        Kind::Text => to_string.map(|s| FieldValue::Text(s.to_string())),
        Kind::Number => to_string.and_then(|s| s.trim().parse::<f64>().ok()).map(FieldValue::Number),
        Kind::Named | Kind::OptionValue => to_string.map(|s| FieldValue::Option(s.to_string())),
        Kind::User => to.map(|id| FieldValue::User(UserRef { id: id.to_string(), email: None, display_name: None })),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn metas() -> HashMap<String, FieldMeta> {
        [("summary", Kind::Text), ("priority", Kind::Named), ("assignee", Kind::User), ("description", Kind::RichText)]
            .into_iter()
            .map(|(id, kind)| {
                (id.to_string(), FieldMeta { id: id.into(), name: id.into(), kind, schema_type: String::new() })
            })
            .collect()
    }

    #[test]
    fn changelog_items_become_fields_with_comparable_values() {
        let h = json!({
            "id": "10001", "created": "2026-11-26T19:24:50.123+0100",
            "author": {"accountId": "acc-1", "emailAddress": "alice@acme.test"},
            "items": [
                {"field": "summary", "fieldId": "summary", "toString": "New title"},
                {"field": "priority", "fieldId": "priority", "to": "2", "toString": "High"},
                {"field": "assignee", "fieldId": "assignee", "to": "acc-2", "toString": "Bob"},
                {"field": "description", "fieldId": "description", "toString": "text"},
                {"field": "Story Points", "fieldId": "customfield_10052", "toString": "5"},
                {"field": "assignee", "fieldId": "assignee", "to": null, "toString": null}
            ]
        });
        let requested = [FieldKey::new("customfield_10052")];
        let e = entry(&h, &requested, &metas());
        assert_eq!(e.author.map(|a| a.id), Some("acc-1".to_string()));
        assert!(!e.created);
        let user = |id: &str| FieldValue::User(UserRef { id: id.into(), email: None, display_name: None });
        assert_eq!(
            e.fields,
            vec![
                (FieldKey::new("summary"), Some(FieldValue::Text("New title".into()))),
                (FieldKey::new("priority"), Some(FieldValue::Option("High".into()))),
                (FieldKey::new("assignee"), Some(user("acc-2"))),
                (FieldKey::new("description"), None),
                (FieldKey::new("customfield_10052"), None),
                (FieldKey::new("assignee"), Some(FieldValue::Null)),
            ]
        );
    }

    #[test]
    fn the_window_is_exclusive_below_and_inclusive_above() {
        let at = |ms: i64| {
            let t = chrono::DateTime::from_timestamp_millis(ms).expect("time");
            json!({"created": convert::format_time(&t)})
        };
        let base = 1_795_000_000_000;
        assert!(!in_window(&at(base), Some(base), base + 10));
        assert!(in_window(&at(base + 1), Some(base), base + 10));
        assert!(in_window(&at(base + 10), Some(base), base + 10));
        assert!(!in_window(&at(base + 11), Some(base), base + 10));
        assert!(in_window(&at(base), None, base + 10), "from the creation");
        assert!(in_window(&json!({"created": "soon"}), Some(base), base + 10), "unreadable: counted");
        assert_eq!(revision_millis(" 1795000000123 ").ok(), Some(1_795_000_000_123));
        assert!(revision_millis("12#3").is_err());
    }
}
